#!/bin/sh
# Issue 11, finding 3: a dump never faults or waits on another process's
# mm.  An unprivileged process has two threads stuck in the kernel on a
# frozen ext2 filesystem (a write fault waiting in sb_start_pagefault()
# and an mprotect() behind or holding its mmap_lock), so every
# mmap_read_lock() of its mm waits until the thaw.  It breaches its own
# watch: the dump must end within its budget with the stuck threads
# flagged (TASK VMON_TASK_USER_NOWAIT, MAPS VMON_LIST_BUSY); a second
# user's breach must still be dumped; rmmod must complete while the
# threads are still stuck.
# vmon-timeout: 240
# vmon-kmods: loop crc32c_generic ext4
BUDGET_MS=${VMON_STALL_BUDGET_MS:-2000}
frozen=""
fail() {
	echo "FAIL: $*"
	[ -n "$frozen" ] && fsfreeze --unfreeze /mnt/stall
	sleep 1
	rmmod variable_monitor 2>/dev/null
	umount /mnt/stall 2>/dev/null
	losetup -d /dev/loop0 2>/dev/null
	exit 1
}
waitfor() {	# waitfor FILE REGEX TENTHS
	i=0
	until grep -q "$2" "$1" 2>/dev/null || [ $i -ge "$3" ]; do sleep 0.1; i=$((i+1)); done
	grep -q "$2" "$1" 2>/dev/null
}

for m in $(cat /vmon/kmods/order); do insmod "/vmon/kmods/$m.ko" || fail "insmod $m"; done
dd if=/dev/zero of=/tmp/stall.img bs=1M count=8 2>/dev/null
losetup /dev/loop0 /tmp/stall.img || fail "losetup"
mke2fs -q /dev/loop0 >/dev/null 2>&1 || mke2fs /dev/loop0 >/dev/null || fail "mke2fs"
mkdir -p /mnt/stall
mount -t ext2 /dev/loop0 /mnt/stall || fail "mount ext2"
dd if=/dev/zero of=/mnt/stall/f bs=4096 count=1 2>/dev/null
chown 1000:1000 /mnt/stall/f
rm -f /tmp/go /tmp/close

insmod "$VMON_KO" || fail "insmod"
echo 0 > /proc/variable_monitor/dump_reset_sec
"$VMON_BIN/vmon_read" drain -o "$VMON_OUT/stall.raw" -t 60 -e 2 > /tmp/drain.out 2>&1 &
reader=$!
runas 1000 "$VMON_BIN/mmstall" /mnt/stall/f /tmp/go /tmp/close > /tmp/ms.out 2>&1 &
ms=$!
waitfor /tmp/ms.out '^ready' 100 || { cat /tmp/ms.out; fail "mmstall not ready"; }
pid=$(sed -n 's/^ready pid=//p' /tmp/ms.out)
fsfreeze --freeze /mnt/stall || fail "fsfreeze"
frozen=1
t0=$(cut -d' ' -f1 /proc/uptime)
touch /tmp/go
waitfor /tmp/ms.out '^breached' 100 || { cat /tmp/ms.out; fail "mmstall did not breach"; }
cat /tmp/ms.out
tids=$(sed -n 's/^breached tids=//p' /tmp/ms.out)
for t in $(echo "$tids" | tr , ' '); do
	echo "thread $t: $(cat /proc/$pid/task/$t/stat 2>/dev/null | cut -d' ' -f2,3) wchan=$(cat /proc/$pid/task/$t/wchan 2>/dev/null)"
done

# event 1: the stuck process's own breach
i=0
until "$VMON_BIN/vmon_read" parse "$VMON_OUT/stall.raw" 2>/dev/null | grep -q '^END ev=1 ' || [ $i -ge 150 ]; do
	sleep 0.1; i=$((i+1))
done
t1=$(cut -d' ' -f1 /proc/uptime)
"$VMON_BIN/vmon_read" parse "$VMON_OUT/stall.raw" > /tmp/p1.txt 2>&1
grep -q '^END ev=1 ' /tmp/p1.txt || { grep -E '^(BREACH|END)' /tmp/p1.txt; fail "no EVENT_END for the stuck process's breach within 15 s: the dump worker is stuck"; }
echo "event 1 ended $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s after GO: $(grep '^END ev=1 ' /tmp/p1.txt)"

# event 2: another user's breach is still dumped
runas 1000 "$VMON_BIN/breachgen" 2 1 0 1000000 > /tmp/bg.out 2>&1 || { cat /tmp/bg.out; fail "breachgen"; }
i=0
until [ $i -ge 150 ] || ! kill -0 $reader 2>/dev/null; do sleep 0.1; i=$((i+1)); done
kill $reader 2>/dev/null; wait $reader
cat /tmp/drain.out
"$VMON_BIN/vmon_read" parse "$VMON_OUT/stall.raw" > /tmp/p.txt 2>&1 || { tail -5 /tmp/p.txt; fail "records malformed"; }
grep -E '^(BREACH|END|MAPS ev=1 tgid='"$pid"')' /tmp/p.txt | cut -c1-200
grep -q '^END ev=2 ' /tmp/p.txt || fail "the second user's breach was not dumped"

# the bound and the flags
dur=$(sed -n 's/^END ev=1 .*duration_ns=\([0-9]*\).*/\1/p' /tmp/p.txt)
echo "event 1 dump took $((dur / 1000)) us (budget $BUDGET_MS ms)"
[ "$dur" -le $((BUDGET_MS * 1000000)) ] || fail "dump of event 1 took $dur ns, over $BUDGET_MS ms"
for t in $(echo "$tids" | tr , ' '); do
	line=$(grep "^TASK ev=1 pid=$t " /tmp/p.txt)
	[ -n "$line" ] || fail "stuck thread $t not sampled"
	echo "$line" | cut -c1-160
	fl=$(echo "$line" | sed -n 's/.* flags=\(0x[0-9a-f]*\) .*/\1/p')
	[ $(( ${fl:-0} & 0x80 )) -ne 0 ] || fail "stuck thread $t not flagged USER_NOWAIT (flags=$fl)"
done
mf=$(sed -n 's/^MAPS ev=1 tgid='"$pid"' nr=[0-9]* flags=\(0x[0-9a-f]*\).*/\1/p' /tmp/p.txt)
[ $(( ${mf:-0} & 0x2 )) -ne 0 ] || fail "MAPS of the stuck process not flagged BUSY (flags=$mf)"

# rmmod while the threads are still stuck
touch /tmp/close
waitfor /tmp/ms.out '^closed' 100 || fail "mmstall did not close the device"
rmmod variable_monitor &
rm_pid=$!
i=0
while kill -0 $rm_pid 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
kill -0 $rm_pid 2>/dev/null && fail "rmmod still running after 20 s with the mm stuck"
wait $rm_pid || fail "rmmod failed"
grep -q "^variable_monitor " /proc/modules && fail "module still loaded"
echo "rmmod completed with the threads still stuck"
fsfreeze --unfreeze /mnt/stall
frozen=""
i=0
while kill -0 $ms 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
wait $ms || { cat /tmp/ms.out; fail "mmstall exit status after thaw"; }
umount /mnt/stall || fail "umount"
losetup -d /dev/loop0
echo PASS
