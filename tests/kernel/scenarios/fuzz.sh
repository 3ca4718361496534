#!/bin/sh
# Issue 11: 10^5 random and structure-aware ioctls from an unprivileged
# user (4 workers), with concurrent fork, exec, exit, close, munmap and
# breaches, while a privileged reader drains.  The harness's splat
# detector judges the kernel; afterwards the module must still work and
# unload, with no watch and no charge left.
# vmon-timeout: 900
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }
stat_of() { awk -v k="$1" '$1==k {print $2}' /proc/variable_monitor/stats; }
OPS=${VMON_FUZZ_OPS:-100000}
insmod "$VMON_KO" || fail "insmod"
"$VMON_BIN/vmon_read" drain -o /tmp/fz.raw -t 800 -i 30 > /tmp/fzd.out 2>&1 &
rd=$!
t0=$(cut -d' ' -f1 /proc/uptime)
runas 1000 "$VMON_BIN/fuzz" $OPS 4 ${VMON_FUZZ_SEED:-1} > /tmp/fz.out 2>&1 || { tail /tmp/fz.out; fail "fuzz exit status"; }
t1=$(cut -d' ' -f1 /proc/uptime)
cat /tmp/fz.out
grep -q "^fuzz done ops=$OPS" /tmp/fz.out || fail "fuzz did not finish its $OPS ops"
echo "fuzz took $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", b-a}') s; breaches $(stat_of breaches) dumps $(stat_of dumps) dumps_no_reader $(stat_of dumps_no_reader) rate_limited $(stat_of dumps_rate_limited)"
kill $rd 2>/dev/null; wait $rd
"$VMON_BIN/vmon_read" parse /tmp/fz.raw > /tmp/fzp.txt 2>&1 || { tail -3 /tmp/fzp.txt; fail "records malformed after fuzzing"; }
tail -1 /tmp/fzp.txt
i=0
until [ "$(stat_of watches)" = 0 ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done
[ "$(stat_of watches)" = 0 ] || fail "$(stat_of watches) watches left after every fuzz process exited"
[ "$(stat_of pinned_pages)" = 0 ] || fail "$(stat_of pinned_pages) pages still charged"
rmmod variable_monitor || fail "rmmod"
echo PASS
