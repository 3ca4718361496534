#!/bin/sh
# An unprivileged user may watch its own memory (default interval raised to
# the floor, explicit ones below it refused) and nothing else: no other
# process, no kernel variable, no read(), no watch list.
# vmon-timeout: 120
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }

insmod "$VMON_KO" || fail "insmod"
floor=$(cat /proc/variable_monitor/min_interval_ns)
runas 1000 "$VMON_BIN/vmtest" unpriv > /tmp/u.out 2>&1 &
u=$!
i=0
until grep -q '^ok unpriv' /tmp/u.out || [ $i -ge 1200 ]; do sleep 0.05; i=$((i+1)); done
cat /tmp/u.out
pid=$(sed -n 's/^ok unpriv pid=\([0-9]*\)/\1/p' /tmp/u.out)
[ -n "$pid" ] || fail "vmtest unpriv"
def=$(awk -v p="$pid" '$2==p && $4=="unpriv_def" {print $8}' /proc/variable_monitor/watches)
[ "$def" = "$floor" ] || fail "default interval for unprivileged is '$def', want the floor $floor"
slow=$(awk -v p="$pid" '$2==p && $4=="unpriv_slow" {print $8}' /proc/variable_monitor/watches)
[ "$slow" = 10000000 ] || fail "explicit 10 ms interval became '$slow'"
wait $u || fail "vmtest unpriv exit status"
# CAP_PERFMON (38) alone is enough to read records
runas -c 38 1000 "$VMON_BIN/vmon_read" drain -o /tmp/u.raw -t 1 || fail "read with CAP_PERFMON"
"$VMON_BIN/vmon_read" parse /tmp/u.raw | grep -q '^HELLO' || fail "CAP_PERFMON reader got no HELLO"
runas 1000 sh -c 'echo 1 > /proc/variable_monitor/dump_reset_sec' 2>/dev/null && fail "unprivileged write to a tunable"
rmmod variable_monitor || fail "rmmod"
echo PASS
