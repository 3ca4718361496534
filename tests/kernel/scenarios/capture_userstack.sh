#!/bin/sh
# vmon-capture in the booted kernel: userstack breaches once, vmon-capture
# drains the device into a .vmt (plus the raw stream and kallsyms, so the host
# can check and re-convert them). The breach count the program caused (one:
# userstack flips its watch once) goes to expected.txt for tests/e2e/check.sh.
#   tests/kernel/run.sh --scenario 'capture_*'
# vmon-rust: vmon-capture
# vmon-timeout: 180
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }

insmod "$VMON_KO" || fail "insmod"
echo 1000000 > /proc/variable_monitor/def_interval_ns
echo 4096 > /proc/variable_monitor/raw_stack_bytes
"$VMON_BIN/userstack" 3 3 > /tmp/u.out 2>&1 || { cat /tmp/u.out; fail "userstack"; }
cat /tmp/u.out
"$VMON_BIN/vmon-capture" -o "$VMON_OUT/userstack.vmt" --dump-raw "$VMON_OUT/userstack.raw" \
	--breaches 1 --duration 60s -v 2> /tmp/c.err
rc=$?
cat /tmp/c.err
[ $rc = 0 ] || fail "vmon-capture exit $rc"
grep -q '1 breaches' /tmp/c.err || fail "summary does not report the breach"
grep -q 'dropped 0 ' /tmp/c.err || fail "drops reported"
cp /proc/kallsyms "$VMON_OUT/kallsyms.txt"
cp /tmp/c.err "$VMON_OUT/capture.log"
echo "breaches 1" > "$VMON_OUT/expected.txt"
[ -s "$VMON_OUT/userstack.vmt" ] || fail "no capture file"
cp "$VMON_BIN/userstack" "$VMON_OUT/"   # the binary the capture references (samples/regen.sh)
rmmod variable_monitor || fail "rmmod"
"$VMON_BIN/vmon-capture" -o /tmp/x.vmt 2> /tmp/c2.err
rc=$?
cat /tmp/c2.err
[ $rc = 3 ] || fail "without the module: exit $rc, want 3"
grep -q 'not loaded' /tmp/c2.err || fail "no 'not loaded' message"
echo PASS
