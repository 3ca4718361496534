#!/bin/sh
# The original's helloworld: 2049 watched ints in one process, breaching in
# turn; every watch must breach, dumps must come out as well-formed records.
# Saves the raw record stream as $VMON_OUT/helloworld.raw.
# vmon-timeout: 240
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }
stat_of() { awk -v k="$1" '$1==k{print $2}' /proc/variable_monitor/stats; }

insmod "$VMON_KO" || fail "insmod"
echo 1000000 > /proc/variable_monitor/def_interval_ns   # TCG: 1 ms ticks
echo 1 > /proc/variable_monitor/dump_reset_sec
T=/sys/kernel/tracing
[ -d $T/events ] || T=/sys/kernel/debug/tracing
[ -d $T/events/variable_monitor/breach ] || fail "no trace event variable_monitor:breach"
echo 1 > $T/events/variable_monitor/breach/enable || fail "cannot enable the trace event"
"$VMON_BIN/helloworld" 2049 2 > /tmp/hw.out 2>&1 &
hw=$!
i=0
until grep -q '^breached' /tmp/hw.out || [ $i -ge 600 ]; do sleep 0.2; i=$((i+1)); done
grep -q '^breached 2049' /tmp/hw.out || { cat /tmp/hw.out; fail "helloworld did not see all 2049 watches breach"; }
[ "$(stat_of watches)" = 2049 ] || fail "stats watches $(stat_of watches), want 2049"
[ "$(stat_of timers)" = 1 ] || fail "2049 watches of one interval should share 1 timer, got $(stat_of timers)"
cat /proc/variable_monitor/timers
wait $hw || { cat /tmp/hw.out; fail "helloworld exit status"; }
cat /tmp/hw.out
[ "$(stat_of watches)" = 0 ] || fail "watches left after cancel_watch"
echo 0 > $T/events/variable_monitor/breach/enable
nt=$(grep -c 'breach: id=[0-9]* pid=[0-9]* name=hw[0-9]* value=[0-9]* threshold=100' $T/trace)
[ "$nt" -ge 2049 ] || fail "trace holds $nt variable_monitor:breach events, want >= 2049"
b=$(stat_of breaches)
[ "$b" -ge 2049 ] || fail "stats breaches $b < 2049"
d=$(stat_of dumps)
[ "$d" -ge 1 ] || fail "no dump"
dmesg | grep -q 'variable_monitor: breach pid=[0-9]* watch=hw[0-9]* value=[0-9]* threshold=100 addr=' || fail "no breach line in dmesg"
dmesg | grep 'variable_monitor: breach' | grep -q 'addr=0x[0-9a-f]\{16\}' || true
"$VMON_BIN/vmon_read" drain -o "$VMON_OUT/helloworld.raw" -t 30 -i 1 || fail "drain"
"$VMON_BIN/vmon_read" parse "$VMON_OUT/helloworld.raw" > /tmp/hw.txt || { tail /tmp/hw.txt; fail "malformed records"; }
tail -1 /tmp/hw.txt
grep -q '^HELLO abi=1 ' /tmp/hw.txt || fail "no HELLO first"
head -1 /tmp/hw.txt | grep -q '^HELLO' || fail "HELLO not first"
nb=$(grep -c '^BREACH .*name=hw' /tmp/hw.txt)
ne=$(grep -c '^END ' /tmp/hw.txt)
[ "$nb" -ge 1 ] && [ "$nb" = "$ne" ] || fail "BREACH ($nb) and END ($ne) records do not pair"
[ "$nb" = "$d" ] || fail "records hold $nb events, stats say $d dumps"
grep '^TASK' /tmp/hw.txt | grep -q 'comm=helloworld' || fail "no TASK record of helloworld"
grep -q '^MAPS .*helloworld' /tmp/hw.txt || fail "no MAPS record naming the helloworld binary"
grep -q '^CHAIN .*helloworld' /tmp/hw.txt || fail "no CHAIN record of helloworld"
grep -q 'seq_gaps=0 lost=0 bad=0' /tmp/hw.txt || fail "records lost or malformed"
rmmod variable_monitor || fail "rmmod"
echo PASS
