#!/bin/sh
# Issue 11 (L10): an exit anywhere in the system must not walk every remote
# watch.  uid 1000 holds 8000 remote watches on its own child; the exit
# probe's cost (function_graph on vmon_probe_exit) for 300 unrelated exits
# must stay near its cost with a single remote watch.
# vmon-timeout: 240
fail() { echo "FAIL: $*"; touch /tmp/rh.stop; echo nop > $T/current_tracer; rmmod variable_monitor 2>/dev/null; exit 1; }
T=/sys/kernel/tracing
avg_us() { awk '/vmon_probe_exit/ && match($0, /[0-9]+\.[0-9]+ us/) {s += substr($0, RSTART, RLENGTH - 3); n++} END {if (n) printf "%d %.2f\n", n, s / n; else print "0 0"}' "$1"; }
measure() {	# measure N_WATCHES OUT
	rm -f /tmp/rh.stop
	runas 1000 "$VMON_BIN/lowfix" remote "$1" /tmp/rh.stop > /tmp/rh.out 2>&1 &
	i=0
	until grep -q '^ready' /tmp/rh.out || [ $i -ge 1200 ]; do sleep 0.1; i=$((i+1)); done
	grep -q '^ready' /tmp/rh.out || fail "lowfix remote $1: $(cat /tmp/rh.out)"
	echo vmon_probe_exit > $T/set_ftrace_filter || fail "vmon_probe_exit is not traceable"
	echo > $T/trace
	echo function_graph > $T/current_tracer
	echo 1 > $T/tracing_on
	"$VMON_BIN/lowfix" exits 300
	echo 0 > $T/tracing_on
	cp $T/trace "$2"	# before the tracer changes: that empties the buffer
	cp $T/trace "$VMON_OUT/trace.$1"
	echo nop > $T/current_tracer
	echo 1 > $T/tracing_on
	touch /tmp/rh.stop
	wait
}
[ -w $T/current_tracer ] && grep -q function_graph $T/available_tracers || { echo "no function_graph tracer"; exit 77; }
insmod "$VMON_KO" || fail "insmod"
measure 1 /tmp/rh.1
sleep 1
measure 8000 /tmp/rh.8000
echo > $T/set_ftrace_filter
set -- $(avg_us /tmp/rh.1); n1=$1; a1=$2
set -- $(avg_us /tmp/rh.8000); n8=$1; a8=$2
echo "vmon_probe_exit: 1 remote watch: $n1 calls, $a1 us avg; 8000 remote watches: $n8 calls, $a8 us avg"
[ "$n1" -ge 100 ] && [ "$n8" -ge 100 ] || fail "too few traced calls"
awk -v a="$a1" -v b="$a8" 'BEGIN {exit !(b <= 2 * a + 5)}' || fail "an exit costs $a8 us with 8000 remote watches, $a1 us with one"
sleep 1
rmmod variable_monitor || fail "rmmod"
echo PASS
