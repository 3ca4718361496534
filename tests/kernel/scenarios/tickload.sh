#!/bin/sh
# Issue 11, finding 1: unprivileged watches cannot slow privileged ones or
# take more than user_cpu_pct of a CPU in timer work.  uids 1000 and 1001
# each put 8 processes x 1024 watches on CPU 1 at the interval a privileged
# watch (also on CPU 1) polls with.  The privileged timer's tick rate, relative
# to a control privileged timer on CPU 0 (TCG's speed follows the host's
# load, so only the ratio means something), and its dumps must stay at
# >= 80% of a run without the abuse, and the timer work the abuse adds on
# CPU 1 (ns_total of the 1 ms timers in /proc/variable_monitor/timers,
# minus the run without it) must stay under user_cpu_pct (+3 points).
# vmon-timeout: 300
fail() { echo "FAIL: $*"; touch /tmp/h3; rmmod variable_monitor 2>/dev/null; exit 1; }
waitfor() {	# waitfor FILE REGEX TENTHS
	i=0
	until grep -q "$2" "$1" 2>/dev/null || [ $i -ge "$3" ]; do sleep 0.1; i=$((i+1)); done
	grep -q "$2" "$1" 2>/dev/null
}
up() { cut -d' ' -f1 /proc/uptime; }
# ticks of the privileged 1 ms timer (the only one on main, which has no class column)
priv_ticks() { awk -v i=$1 '$1==i && ($10=="priv" || NF==9) {print $3}' /proc/variable_monitor/timers; }
# timer work at the abused interval, every class (main shares one timer)
user_ns() { awk '$1==1000000 {s+=$5} END {printf "%d", s}' /proc/variable_monitor/timers; }
Q="$VMON_BIN/quota"
[ "$(nproc)" -ge 2 ] || exit 77
rm -f /tmp/h3
insmod "$VMON_KO" || fail "insmod"
echo 0 > /proc/variable_monitor/dump_reset_sec
pct=$(cat /proc/variable_monitor/user_cpu_pct 2>/dev/null || echo 5)

# measure RUN: privileged watch on CPU 1, breaching 5 times a second
measure() {
	rm -f /tmp/$1.raw
	"$VMON_BIN/vmon_read" drain -o /tmp/$1.raw -t 60 -i 4 > /dev/null 2>&1 &
	rd=$!
	taskset -c 1 "$Q" flood 7 1 prio 200 > /tmp/$1.fl 2>&1 &
	fl=$!
	taskset -c 0 "$Q" flood 7 1 ctrl 1000 1000001 > /tmp/$1.fc 2>&1 &
	fc=$!
	sleep 1.5
	a=$(priv_ticks 1000000); c=$(priv_ticks 1000001); ua=$(user_ns); ta=$(up)
	sleep 4
	b=$(priv_ticks 1000000); d=$(priv_ticks 1000001); ub=$(user_ns); tb=$(up)
	wait $fl $fc
	sleep 1
	kill $rd 2>/dev/null; wait $rd
	eval "$1_rate=$(awk -v a="$a" -v b="$b" -v s="$ta" -v e="$tb" 'BEGIN{printf "%d", (b-a)/(e-s)}')"
	eval "$1_ctrl=$(awk -v a="$c" -v b="$d" -v s="$ta" -v e="$tb" 'BEGIN{printf "%d", (b-a)/(e-s)}')"
	eval "$1_pm=$(awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN{printf "%d", (d > c ? 1000*(b-a)/(d-c) : 0)}')"
	eval "$1_duty=$(awk -v a="$ua" -v b="$ub" -v s="$ta" -v e="$tb" 'BEGIN{printf "%.1f", (b-a)/(e-s)/1e7}')"
	eval "$1_dumps=$("$VMON_BIN/vmon_read" parse /tmp/$1.raw 2>/dev/null | grep -c '^BREACH .* name=prio ')"
}

measure base
echo "alone: privileged 1 ms timer $base_rate ticks/s (control on CPU 0: $base_ctrl/s, ratio $base_pm per mille), $base_dumps dumps"
for u in 1000 1001; do
	taskset -c 1 runas $u "$Q" watches 1024 8 /tmp/h3 1000000 > /tmp/ab$u.out 2>&1 &
	waitfor /tmp/ab$u.out '^watches' 1800 || fail "abuse setup: $(cat /tmp/ab$u.out)"
	echo "uid $u: $(cat /tmp/ab$u.out) at 1 ms, on CPU 1"
done
measure abuse
cat /proc/variable_monitor/timers
extra=$(awk -v a="$abuse_duty" -v b="$base_duty" 'BEGIN{printf "%.1f", a-b}')
echo "with abuse: privileged $abuse_rate ticks/s (control $abuse_ctrl/s, ratio $abuse_pm per mille), $abuse_dumps dumps; timer work at 1 ms ${base_duty}% -> ${abuse_duty}% of CPU 1: +${extra}% (bound ${pct}%)"
touch /tmp/h3
wait
[ "$base_rate" -gt 0 ] || fail "no baseline ticks"
[ "$base_pm" -gt 0 ] || fail "no control ticks"
[ $((abuse_pm * 10)) -ge $((base_pm * 8)) ] || fail "the privileged timer slowed relative to its control: $base_pm -> $abuse_pm per mille"
[ $((abuse_dumps * 10)) -ge $((base_dumps * 8)) ] || fail "the privileged watch lost dumps: $base_dumps alone, $abuse_dumps with abuse"
awk -v d="$extra" -v p="$pct" 'BEGIN{exit !(d <= p + 3)}' || fail "the abuse added ${extra}% of CPU 1 in timer work, over ${pct}%"
rmmod variable_monitor || fail "rmmod"
echo PASS
