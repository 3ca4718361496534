#!/bin/sh
# /proc/variable_monitor/control: "deactivate" stops every timer (no tick,
# no breach counted) and keeps the watches; a watch registered meanwhile
# does not start its timer; "activate" resumes them all; only a privileged
# writer may change it, and reading it says the state and since when.
# vmon-timeout: 180
fail() { echo "FAIL: $*"; kill $p1 $p2 2>/dev/null; rmmod variable_monitor 2>/dev/null; exit 1; }
stat_of() { awk -v k="$1" '$1==k{print $2}' /proc/variable_monitor/stats; }
ctl=/proc/variable_monitor/control

insmod "$VMON_KO" || fail "insmod"
grep -q '^active since load$' $ctl || fail "initial state: $(cat $ctl)"
"$VMON_BIN/trigger" pulse ctla 1 60 > /tmp/p1 2>&1 &
p1=$!
i=0
until grep -q ready /tmp/p1 || [ $i -ge 200 ]; do sleep 0.05; i=$((i+1)); done
sleep 1
b0=$(stat_of breaches)
[ "$b0" -ge 2 ] || fail "active: $b0 breaches of a watch toggled every 50 ms"

echo deactivate > $ctl || fail "deactivate"
grep -q '^deactivated since [0-9]*\.[0-9]* s (CLOCK_BOOTTIME)$' $ctl || fail "state: $(cat $ctl)"
t1=$(stat_of ticks) b1=$(stat_of breaches)
# a new watch on a new interval while deactivated: its timer must not start
"$VMON_BIN/trigger" pulse ctlb 2 60 > /tmp/p2 2>&1 &
p2=$!
i=0
until grep -q ready /tmp/p2 || [ $i -ge 200 ]; do sleep 0.05; i=$((i+1)); done
grep -q ready /tmp/p2 || fail "no watch registered while deactivated: $(cat /tmp/p2)"
sleep 2
t2=$(stat_of ticks) b2=$(stat_of breaches)
echo "deactivated: ticks $t1 -> $t2, breaches $b1 -> $b2"
[ "$t2" = "$t1" ] || fail "ticks ran while deactivated ($t1 -> $t2)"
[ "$b2" = "$b1" ] || fail "breaches counted while deactivated ($b1 -> $b2)"
[ "$(stat_of watches)" = 2 ] || fail "watches while deactivated: $(stat_of watches), want 2"
[ "$(stat_of timers)" = 2 ] || fail "timers while deactivated: $(stat_of timers), want 2"

runas 1000 sh -c "echo activate > $ctl" 2>/dev/null && fail "uid 1000 could activate"
grep -q '^deactivated' $ctl || fail "uid 1000 changed the state: $(cat $ctl)"
echo bogus > $ctl 2>/dev/null && fail "'bogus' accepted"

echo activate > $ctl || fail "activate"
grep -q '^active since ' $ctl || fail "state: $(cat $ctl)"
sleep 1
t3=$(stat_of ticks) b3=$(stat_of breaches)
echo "activated: ticks $t2 -> $t3, breaches $b2 -> $b3"
[ "$t3" -gt "$t2" ] || fail "no tick after activate"
# both watches breach again: the one registered while deactivated too
awk 'NR>1 && ($4=="ctla" || $4=="ctlb") && $9>0 {n++} END{exit n==2?0:1}' \
	/proc/variable_monitor/watches || { cat /proc/variable_monitor/watches; fail "not both watches breached after activate"; }
kill $p1 $p2; wait $p1 $p2 2>/dev/null
rmmod variable_monitor || fail "rmmod"
dmesg | grep -q 'variable_monitor: deactivated by uid 0' || fail "no dmesg line for deactivate"
echo PASS
