#!/bin/sh
# Watches across the life of their process: exit without cancel, SIGKILL,
# fork (COW), exec, munmap, a watch on another process that exits, and two
# processes that cannot see or cancel each other's watches; 8 processes
# with 300 watches each at once.
# vmon-timeout: 180
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }
stat_of() { awk -v k="$1" '$1==k{print $2}' /proc/variable_monitor/stats; }
wait_zero() {
	i=0
	while [ "$(stat_of watches)" != 0 ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
	[ "$(stat_of watches)" = 0 ] || fail "$1: $(stat_of watches) watches left"
	[ "$(stat_of timers)" = 0 ] || fail "$1: $(stat_of timers) timers left"
}

insmod "$VMON_KO" || fail "insmod"
for m in exit fork exec munmap remote isolate; do
	"$VMON_BIN/vmtest" $m || fail "vmtest $m"
	wait_zero $m
done
# SIGKILL with 100 watches on two intervals
"$VMON_BIN/vmtest" hold 60 100 1000000 > /tmp/h1 2>&1 &
p1=$!
"$VMON_BIN/vmtest" hold 40 100 2000000 > /tmp/h2 2>&1 &
p2=$!
i=0
until grep -q ready /tmp/h1 && grep -q ready /tmp/h2 || [ $i -ge 1200 ]; do sleep 0.05; i=$((i+1)); done
[ "$(stat_of watches)" = 100 ] || fail "kill: $(stat_of watches) watches, want 100"
[ "$(stat_of timers)" = 2 ] || fail "kill: $(stat_of timers) timers, want 2"
kill -9 $p1 $p2
wait $p1 $p2 2>/dev/null
wait_zero kill
# many processes at once: 8 x 300 watches on 3 intervals
pids=
for k in 1 2 3 4 5 6 7 8; do
	"$VMON_BIN/vmtest" hold 300 100 $(( (k % 3 + 1) * 1000000 )) > /tmp/m$k 2>&1 &
	pids="$pids $!"
done
i=0
until [ "$(cat /tmp/m? | grep -c ready)" = 8 ] || [ $i -ge 2400 ]; do sleep 0.05; i=$((i+1)); done
[ "$(stat_of watches)" = 2400 ] || fail "many: $(stat_of watches) watches, want 2400"
[ "$(stat_of timers)" = 3 ] || fail "many: $(stat_of timers) timers, want 3"
kill -9 $pids
wait $pids 2>/dev/null
wait_zero many
rmmod variable_monitor || fail "rmmod"
echo PASS
