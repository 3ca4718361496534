#!/bin/sh
# vmon-capture in the booted kernel while helloworld makes its 2049 watches
# breach in turn. All of them share one timer, and a timer dumps at most once
# per dump_reset_sec (kept at its default, 5 s), so the ~1-2 s of breaching
# is expected to give 1 dump (more only if TCG stretches it past 5 s). The
# module's own counters (breaches = edges, dumps = captured breaches) go to
# expected.txt; tests/e2e/check.sh compares them with the .vmt.
# vmon-rust: vmon-capture
# vmon-timeout: 240
fail() { echo "FAIL: $*"; kill $cap 2>/dev/null; rmmod variable_monitor 2>/dev/null; exit 1; }
stat_of() { awk -v k="$1" '$1==k{print $2}' /proc/variable_monitor/stats; }
[ -x "$VMON_BIN/vmon-capture" ] || exit 77

insmod "$VMON_KO" || fail "insmod"
echo 1000000 > /proc/variable_monitor/def_interval_ns   # TCG: 1 ms ticks
# raw user stack bytes: helloworld sleeps in libc, whose frames have no frame
# pointers, so the analyzer unwinds up to main from these
echo 4096 > /proc/variable_monitor/raw_stack_bytes
cat /proc/variable_monitor/dump_reset_sec
"$VMON_BIN/vmon-capture" -o "$VMON_OUT/helloworld.vmt" --duration 150s -v 2> "$VMON_OUT/capture.log" &
cap=$!
# helloworld holds its watches (and stays alive for the symbol reading) 5 s
"$VMON_BIN/helloworld" 2049 5 > /tmp/hw.out 2>&1 || { cat /tmp/hw.out; fail "helloworld"; }
cat /tmp/hw.out
grep -q '^breached 2049' /tmp/hw.out || fail "not every watch breached"
b=$(stat_of breaches); d=$(stat_of dumps); s=$(stat_of dumps_skipped)
echo "stats: breaches $b dumps $d dumps_skipped $s"
[ "$b" -ge 2049 ] || fail "stats breaches $b < 2049"
[ "$d" -ge 1 ] || fail "no dump"
# let the capture read and flush the last event, then stop it (SIGTERM = clean finish)
i=0
until grep -q "^vmon-capture: breach" "$VMON_OUT/capture.log" && \
	[ "$(grep -c '^vmon-capture: breach' "$VMON_OUT/capture.log")" -ge "$d" ] || [ $i -ge 60 ]; do
	sleep 0.5; i=$((i+1))
done
sleep 2
kill -TERM $cap
wait $cap
rc=$?
cat "$VMON_OUT/capture.log"
[ $rc = 0 ] || fail "vmon-capture exit $rc"
grep -q "vmon-capture: $d breaches" "$VMON_OUT/capture.log" || fail "summary does not report $d breaches"
grep -q 'dropped 0 ' "$VMON_OUT/capture.log" || fail "drops reported"
grep -q '^cancelled' /tmp/hw.out || fail "helloworld did not cancel"
sum=$(sed -n 's/^breached [0-9]* sum \([0-9]*\).*/\1/p' /tmp/hw.out)
printf 'watches 2049\nedges %s\nbreaches %s\nwatch_breaches_sum %s\n' "$b" "$d" "$sum" > "$VMON_OUT/expected.txt"
cat "$VMON_OUT/expected.txt"
cp "$VMON_BIN/helloworld" "$VMON_OUT/"   # the binary the capture references (samples/regen.sh)
rmmod variable_monitor || fail "rmmod"
echo PASS
