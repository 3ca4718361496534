#!/bin/sh
# The trigger extension (consecutive ticks, hysteresis, rate of change),
# each against a plain watch that sees the same values (kmod/tests/trigger.c),
# and the malformed extensions it refuses; the module's /proc view shows them.
# vmon-timeout: 180
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }

insmod "$VMON_KO" || fail "insmod"
head -1 /proc/variable_monitor/watches | grep -q 'consecutive rearm rate_window_ns$' ||
	fail "the watches view has no trigger columns"
"$VMON_BIN/trigger" all || fail "trigger"
# the refusals do not depend on privilege
runas 1000 "$VMON_BIN/trigger" refused 2>&1 | tee /tmp/trig_user.out
grep -q '^PASS trigger refused' /tmp/trig_user.out || fail "trigger refused as uid 1000"
rmmod variable_monitor || fail "rmmod"
echo PASS
