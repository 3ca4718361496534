#!/bin/sh
# /init of the test guest (busybox sh). Mounts what scenarios need, mounts the host's
# 9p share at /out/$VMON_KERNEL, runs every /vmon/scenarios/*.sh with a timeout, checks
# the kernel log after each for splats, and powers off. Results go to the console as
# "VMON-SCENARIO <name> <PASS|FAIL|TIMEOUT|SKIP>" and to /out/$VMON_KERNEL/results.txt.
export PATH=/vmon/bin:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/hugepages
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t hugetlbfs -o mode=1777 hugetlbfs /dev/hugepages
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
hostname vmon-guest

. /vmon/config   # VMON_KERNEL, VMON_TIMEOUT

harness() { echo "VMON-HARNESS $*"; }

for m in $(cat /vmon/modules/order 2>/dev/null); do
	insmod "/vmon/modules/$m.ko" || harness "insmod $m failed"
done
OUT=/out/$VMON_KERNEL
mkdir -p "$OUT"
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmonout "$OUT"; then
	harness "9p mount failed: artifacts stay in the guest"
fi
chmod 0755 "$OUT"
RESULTS=$OUT/results.txt
: >"$RESULTS"

# The brief's list plus the spellings the kernel really uses for hung tasks, RCU stalls,
# BUG_ON() and page/list corruption.
SPLATS='BUG:|WARNING:|Oops|general protection|lockdep|sleeping function called from invalid context|refcount_t|list_del corruption|list_add corruption|soft lockup|hung task|blocked for more than|detected stall|kernel BUG at|Bad page|UBSAN:|Call Trace'

dmesg -c >"$OUT/dmesg.txt"
harness "booted $(uname -r) in $(cut -d' ' -f1 /proc/uptime)s"

# Loads that a scenario left behind are removed so the next scenario starts clean.
unload_new_modules() {
	for m in $(cut -d' ' -f1 /proc/modules); do
		grep -qx "$m" /tmp/vmon-modules-before && continue
		harness "$1 left module $m loaded; removing it"
		rmmod "$m" &
		rp=$!
		( sleep 30; kill -KILL $rp 2>/dev/null ) &
		wait $rp || harness "rmmod $m failed"
	done
}

mkfifo /tmp/vmon-fifo
for script in /vmon/scenarios/*.sh; do
	[ -f "$script" ] || continue
	name=$(basename "$script" .sh)
	dir=$OUT/$name
	mkdir -p "$dir"
	chmod 0777 "$dir"
	limit=$(sed -n 's/^# *vmon-timeout: *\([0-9][0-9]*\).*/\1/p' "$script" | head -n1)
	limit=${limit:-$VMON_TIMEOUT}
	cut -d' ' -f1 /proc/modules >/tmp/vmon-modules-before
	rm -f /tmp/vmon-timedout
	# Through printk: a panic flushes the kernel log to the console, not the tty's buffer,
	# so the host can tell which scenario was running when the guest died.
	echo "<3>VMON-BEGIN $name timeout=${limit}s" >/dev/kmsg
	start=$(cut -d. -f1 /proc/uptime)

	tee "$dir/output.log" </tmp/vmon-fifo &
	teepid=$!
	# setsid: the scenario leads its own process group, so a timeout kills all of it.
	cd /tmp
	setsid env VMON_KO=/vmon/$VMON_KO_NAME VMON_BIN=/vmon/bin VMON_OUT="$dir" \
		VMON_KERNEL="$VMON_KERNEL" VMON_SCENARIO="$name" \
		sh "$script" </dev/null >/tmp/vmon-fifo 2>&1 &
	pid=$!
	# The watchdog kills its own sleep when stopped, so no sleeper outlives it.
	(
		trap 'kill $s; exit 0' TERM
		sleep "$limit" &
		s=$!
		wait $s && touch /tmp/vmon-timedout && kill -KILL -"$pid"
	) 2>/dev/null &
	watchdog=$!
	wait $pid
	rc=$?
	kill $watchdog 2>/dev/null
	wait $watchdog 2>/dev/null
	kill -KILL -"$pid" 2>/dev/null   # strays the scenario left running
	( sleep 5; kill $teepid ) 2>/dev/null &
	wait $teepid
	cd /
	elapsed=$(( $(cut -d. -f1 /proc/uptime) - start ))

	reason="exit $rc"
	if [ -e /tmp/vmon-timedout ]; then
		verdict=TIMEOUT
		reason="killed after ${limit}s"
	elif [ $rc = 0 ]; then
		verdict=PASS
	elif [ $rc = 77 ]; then
		verdict=SKIP
	else
		verdict=FAIL
	fi
	unload_new_modules "$name"

	dmesg -c >"$dir/dmesg.txt"
	cat "$dir/dmesg.txt" >>"$OUT/dmesg.txt"
	if grep -E "$SPLATS" "$dir/dmesg.txt" >"$dir/splats.txt"; then
		echo "VMON-SPLAT $name:"
		sed 's/^/VMON-SPLAT   /' "$dir/splats.txt" | head -n 40
		if [ $verdict = PASS ] || [ $verdict = SKIP ]; then
			verdict=FAIL
		fi
		reason="$reason; kernel splat: $(head -n1 "$dir/splats.txt" | cut -c1-150)"
	else
		rm -f "$dir/splats.txt"
	fi
	echo "$name $verdict ${elapsed}s $reason" >>"$RESULTS"
	sync
	echo "VMON-SCENARIO $name $verdict (${elapsed}s, $reason)"
done

dmesg -c >>"$OUT/dmesg.txt"
echo "VMON-DONE $(cut -d' ' -f1 /proc/uptime)" | tee -a "$RESULTS"
sync
umount "$OUT" 2>/dev/null
poweroff -f
