#!/bin/sh
# vmon-capture with the module's defaults names JIT frames: jitstack calls
# a trampoline it generated (listed in /tmp/perf-PID.map) and sleeps below
# it while its watch breaches; vmon-capture reads the perf map while the
# process lives and embeds the function. tests/e2e/check.sh checks the
# chain main -> jit_trampoline -> jit_callee on the host, without the binary.
# vmon-rust: vmon-capture
# vmon-timeout: 180
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }

insmod "$VMON_KO" || fail "insmod"
# It sleeps in the JIT frame for longer than the capture can take to start
# and convert under a loaded TCG host (its perf map is read through
# /proc/PID/root while it lives), and is ended once the capture is done.
"$VMON_BIN/jitstack" 60 > /tmp/j.out 2>&1 &
pid=$!
"$VMON_BIN/vmon-capture" -o "$VMON_OUT/jit.vmt" --breaches 1 --duration 60s -v 2> /tmp/c.err
rc=$?
kill $pid 2>/dev/null
wait $pid
grep -q '^jit_trampoline=' /tmp/j.out || { cat /tmp/j.out; fail "jitstack did not start"; }
cat /tmp/j.out /tmp/c.err
[ $rc = 0 ] || fail "vmon-capture exit $rc"
grep -q '1 breaches' /tmp/c.err || fail "summary does not report the breach"
cp /tmp/c.err "$VMON_OUT/capture.log"
cp /tmp/j.out "$VMON_OUT/output.log"
echo "breaches 1" > "$VMON_OUT/expected.txt"
rmmod variable_monitor || fail "rmmod"
echo PASS
