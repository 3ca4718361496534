#!/bin/sh
# vmon-capture's load monitor in the booted kernel: --load-above (a kernel
# watch on avenrun[0]) fires under loadgen's R (vmon_busy) and D (vmon_dwait)
# tasks, and the one breach captured holds both kinds.
# vmon-rust: vmon-capture
# vmon-timeout: 240
fail() { echo "FAIL: $*"; kill -9 $lg 2>/dev/null; killall -9 loadgen vmon_busy vmon_dwait 2>/dev/null; rmmod variable_monitor 2>/dev/null; exit 1; }
[ -x "$VMON_BIN/vmon-capture" ] || exit 77

insmod "$VMON_KO" || fail "insmod"
cat /proc/loadavg
cur=$(cut -d' ' -f1 /proc/loadavg)
thr=$(awk -v l="$cur" 'BEGIN { printf "%.2f", l + 1.5 }')
echo "load-above $thr (load $cur + 1.5)"
"$VMON_BIN/loadgen" 4 4 200 &
lg=$!
"$VMON_BIN/vmon-capture" -o "$VMON_OUT/loadmon.vmt" --load-above "$thr" --breaches 1 \
	--duration 180s -v 2> "$VMON_OUT/capture.log"
rc=$?
cat /proc/loadavg
kill -9 $lg; killall -9 loadgen vmon_busy vmon_dwait 2>/dev/null
wait $lg 2>/dev/null
cat "$VMON_OUT/capture.log"
[ $rc = 0 ] || fail "vmon-capture exit $rc"
grep -q 'vmon-capture: 1 breaches' "$VMON_OUT/capture.log" || fail "summary does not report the breach"
grep -q 'dropped 0 ' "$VMON_OUT/capture.log" || fail "drops reported"
echo "breaches 1" > "$VMON_OUT/expected.txt"
cp "$VMON_BIN/loadgen" "$VMON_OUT/"   # the binary the capture references (samples/regen.sh)
rmmod variable_monitor || fail "rmmod"
echo PASS
