#!/bin/sh
# A reader far slower than the producer, reading 4 KiB pieces (smaller than
# a TASK record): the kernel drops, never stalls; drops are counted in stats
# and reported by LOST records; every delivered record is intact.
# vmon-timeout: 240
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }
stat_of() { awk -v k="$1" '$1==k{print $2}' /proc/variable_monitor/stats; }

insmod "$VMON_KO" ring_kb=128 || fail "insmod"
echo 0 > /proc/variable_monitor/dump_reset_sec
echo 4096 > /proc/variable_monitor/raw_stack_bytes
"$VMON_BIN/vmon_read" drain -o "$VMON_OUT/slow.raw" -t 25 -i 5 -b 4096 -d 100 > /tmp/s.out &
r=$!
"$VMON_BIN/vmtest" toggle 3000 || fail "producer"
wait $r || fail "reader"
cat /tmp/s.out
cat /proc/variable_monitor/stats
lost=$(stat_of lost_records)
[ "$lost" -gt 0 ] || fail "no drops counted (ring too large for the test?)"
"$VMON_BIN/vmon_read" parse "$VMON_OUT/slow.raw" > /tmp/s.txt || { grep BAD /tmp/s.txt | head; fail "malformed record delivered"; }
tail -1 /tmp/s.txt
grep -q '^LOST ' /tmp/s.txt || fail "no LOST record in the stream"
grep -q 'bad=0' /tmp/s.txt || fail "bad records"
gaps=$(sed -n 's/.*seq_gaps=\([0-9]*\).*/\1/p' /tmp/s.txt)
[ "$gaps" -gt 0 ] || fail "drops did not show as seq gaps"
last=$(grep '^LOST ' /tmp/s.txt | tail -1 | sed 's/LOST records=\([0-9]*\).*/\1/')
[ "$last" -le "$lost" ] || fail "LOST says $last, stats $lost"
grep -q 'flags=0x4' /tmp/s.txt || grep -q 'flags=0x[0-9a-f]*[4567cdef] ' /tmp/s.txt || echo "note: no END record carries VMON_EVENT_DROPPED"
rm -f "$VMON_OUT/slow.raw"
rmmod variable_monitor || fail "rmmod"
echo PASS
