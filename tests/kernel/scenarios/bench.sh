#!/bin/sh
# Benchmark (not a pass/fail on numbers): cost of a timer tick against the
# number of watches on it (1..4096), and cost of one dump against the
# number of tasks it describes.  Writes $VMON_OUT/bench.txt.  QEMU TCG
# times are only meaningful as ratios to the 1-watch tick of the same run.
# vmon-timeout: 600
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }
stat_of() { awk -v k="$1" '$1==k{print $2}' /proc/variable_monitor/stats; }
out=$VMON_OUT/bench.txt

insmod "$VMON_KO" || fail "insmod"
echo "# kernel $(uname -r), QEMU TCG; timer interval 1 ms, 3 s per point" > "$out"
echo "# watches ticks ns_per_tick ns_per_check tick_ratio_to_1_watch marginal_ns_per_watch" >> "$out"
base=
for n in 1 4 16 64 256 1024 2048 4096; do
	bo=/tmp/bench.$n.out
	rm -f $bo
	"$VMON_BIN/vmtest" hold $n 100 1000000 > $bo 2>&1 &
	h=$!
	w=0
	until grep -q ready $bo || [ $w -ge 3000 ]; do sleep 0.05; w=$((w+1)); done
	grep -q ready $bo || fail "vmtest hold $n (waited $w): $(cat $bo) $(cat /proc/variable_monitor/stats)"
	sleep 3
	line=$(awk -v n=$n '$2==n {print $3, $6, $7}' /proc/variable_monitor/timers)
	kill -9 $h; wait $h 2>/dev/null
	[ -n "$line" ] || fail "no timer line for $n watches"
	set -- $line
	ticks=$1 tick=$2 check=$3
	[ "$ticks" -gt 0 ] || fail "timer with $n watches never ticked"
	[ -z "$base" ] && base=$tick
	awk -v n=$n -v t=$ticks -v k=$tick -v c=$check -v b=$base 'BEGIN {
		m = n > 1 ? (k - b) / (n - 1) : 0
		printf "%d %d %d %d %.2f %.2f\n", n, t, k, c, k / b, m }' >> "$out"
	w=0
	while [ "$(stat_of watches)" != 0 ] && [ $w -lt 1200 ]; do sleep 0.05; w=$((w+1)); done
done
echo "# dump (best of 3): extra_threads tasks_described duration_ns ns_per_task ratio_to_first" >> "$out"
first=
for k in 0 16 64 256; do
	best=
	for rep in 1 2 3; do
		"$VMON_BIN/vmtest" dumpbench $k > /dev/null || fail "dumpbench $k"
		"$VMON_BIN/vmon_read" drain -o /tmp/d.raw -t 20 -i 1 > /dev/null || fail "drain"
		endl=$("$VMON_BIN/vmon_read" parse /tmp/d.raw | grep '^END' | tail -1)
		tasks=$(echo "$endl" | sed 's/.*tasks=\([0-9]*\).*/\1/')
		dur=$(echo "$endl" | sed 's/.*duration_ns=\([0-9]*\).*/\1/')
		[ -n "$tasks" ] && [ -n "$dur" ] || fail "no END record for dumpbench $k"
		[ "$tasks" -gt "$k" ] || fail "dump of $k extra threads described only $tasks tasks"
		if [ -z "$best" ] || [ "$dur" -lt "$best" ]; then best=$dur; bt=$tasks; fi
	done
	[ -z "$first" ] && first=$best
	awk -v k=$k -v t=$bt -v d=$best -v f=$first 'BEGIN {
		printf "%d %d %d %d %.2f\n", k, t, d, d / t, d / f }' >> "$out"
done
cat "$out"
rmmod variable_monitor || fail "rmmod"
echo PASS
