#!/bin/sh
# Issue 11 (L5): a BREACH record carries the time of the breach, not the
# time the dump worker got to it.  Watch a's dump describes 500 threads;
# watch b breaches 5 ms later and its dump waits behind a's: b's BREACH
# time must be near b's write, while its TASK records (written by the
# worker) come much later.
# vmon-timeout: 180
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }
insmod "$VMON_KO" || fail "insmod"
echo 0 > /proc/variable_monitor/dump_reset_sec
echo 8192 > /proc/variable_monitor/raw_stack_bytes
"$VMON_BIN/vmon_read" drain -o /tmp/bt.raw -t 60 -i 5 -e 2 > /tmp/bt.rd &
rd=$!
sleep 0.5
"$VMON_BIN/lowfix" breachtime 500 > /tmp/bt.out || fail "lowfix breachtime: $(cat /tmp/bt.out)"
wait $rd || fail "reader"
"$VMON_BIN/vmon_read" parse /tmp/bt.raw > /tmp/bt.txt || fail "malformed stream"
tb=$(sed -n 's/^b_time=//p' /tmp/bt.out)
grep -E '^(BREACH|END)' /tmp/bt.txt
evb=$(sed -n 's/^BREACH ev=\([0-9]*\) .*name=bt_b .*/\1/p' /tmp/bt.txt)
[ -n "$evb" ] || fail "no BREACH of watch b"
bb=$(sed -n 's/^BREACH .*name=bt_b .* time=\([0-9]*\)$/\1/p' /tmp/bt.txt)
tk=$(grep "^TASK ev=$evb " /tmp/bt.txt | head -1 | sed 's/.* time=\([0-9]*\).*/\1/')
[ -n "$tk" ] || fail "no TASK record of b's event"
d_breach=$(( (bb - tb) / 1000 ))
d_worker=$(( (tk - tb) / 1000 ))
echo "b written at $tb; BREACH time +$d_breach us; first TASK (worker) +$d_worker us"
[ "$d_worker" -ge 10000 ] || fail "b's dump was not delayed (+$d_worker us): the test proves nothing; more threads?"
[ "$d_breach" -ge -2000 ] || fail "BREACH time is before the write"
[ "$d_breach" -lt $((d_worker / 2)) ] || fail "BREACH carries the worker's time (+$d_breach us), not the breach's"
rmmod variable_monitor || fail "rmmod"
echo PASS
