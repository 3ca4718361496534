#!/bin/sh
# The load monitor: a kernel watch on avenrun[0] fires under a synthetic load
# of running and uninterruptible tasks, and the dump holds both kinds.
# vmon-timeout: 300
fail() { echo "FAIL: $*"; kill $lg 2>/dev/null; rmmod variable_monitor 2>/dev/null; exit 1; }

insmod "$VMON_KO" || fail "insmod"
dmesg | grep variable_monitor: | tail -3
cat /proc/loadavg
# threshold: current load1 + 1.5, as FIXED_1 (2048) fixed point
cur=$(cut -d' ' -f1 /proc/loadavg)
thr=$(awk -v l="$cur" 'BEGIN { printf "%d", (l + 1.5) * 2048 }')
echo "threshold $thr (load $cur + 1.5)"
"$VMON_BIN/loadgen" 4 4 200 &
lg=$!
"$VMON_BIN/vmtest" kwatch avenrun "$thr" 180 || fail "avenrun watch never breached"
cat /proc/loadavg
"$VMON_BIN/vmon_read" drain -o /tmp/load.raw -t 30 -i 2 -e 1 || fail "drain"
kill -9 $lg; killall -9 loadgen vmon_busy vmon_dwait 2>/dev/null
wait $lg 2>/dev/null
"$VMON_BIN/vmon_read" parse /tmp/load.raw > /tmp/load.txt || fail "malformed records"
grep '^BREACH\|^END' /tmp/load.txt
grep -q '^BREACH .*name=load1 .*target=0 .*ksym=avenrun' /tmp/load.txt || fail "no BREACH for avenrun"
grep -q '^TASK .*state=1 .*comm=vmon_busy' /tmp/load.txt || fail "no running (R) loadgen task in the dump"
grep -q '^TASK .*state=2 .*comm=vmon_dwait' /tmp/load.txt || fail "no uninterruptible (D) loadgen task in the dump"
# a kernel watch's line names the symbol, never the kernel's value (issue 11)
dmesg | grep -q 'variable_monitor: breach kernel watch=load1 ksym=avenrun' || fail "no dmesg line"
dmesg | grep 'watch=load1' | grep -q 'value=' && fail "a kernel value went to dmesg"
rmmod variable_monitor || fail "rmmod"
echo PASS
