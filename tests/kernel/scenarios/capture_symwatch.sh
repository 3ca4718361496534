#!/bin/sh
# vmon-capture --watch PID:SYMBOL>THRESHOLD against the device: globalvar (a
# program that knows nothing of vmon) raises its global vmon_queue_len to
# 200..204, five times; vmon-capture resolves the symbol from the process's
# binary and load address, registers the watch and captures the five
# breaches (dump_reset_sec 0, so each edge dumps). Checked here from the
# summary and the -v breach lines; tests/e2e/check.sh checks the .vmt
# (5 breaches with values 200..204 under watch vmon_queue_len > 100).
# Then the same as `vmon-capture --watch 'vmon_queue_len>100' -- globalvar
# ...`: vmon-capture starts the program itself (stopped at its exec until the
# watch is in place), and the capture ends when the program exits. Last, the
# trigger option for=N, through vmon-capture into the module.
#   tests/kernel/run.sh --kernels 6.1 --scenario capture_symwatch
# vmon-rust: vmon-capture
# vmon-timeout: 240
fail() { echo "FAIL: $*"; kill $gv 2>/dev/null; rmmod variable_monitor 2>/dev/null; exit 1; }
[ -x "$VMON_BIN/vmon-capture" ] || exit 77

insmod "$VMON_KO" || fail "insmod"
echo 0 > /proc/variable_monitor/dump_reset_sec
"$VMON_BIN/globalvar" 5 300 120000 > /tmp/gv.out 2>&1 &
gv=$!
i=0
until grep -q '^globalvar pid' /tmp/gv.out || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done
pid=$(sed -n 's/^globalvar pid \([0-9]*\)$/\1/p' /tmp/gv.out)
[ "$pid" = "$gv" ] || fail "globalvar pid '$pid' (started as $gv)"
"$VMON_BIN/vmon-capture" -o "$VMON_OUT/symwatch.vmt" --watch "$pid:vmon_queue_len>100" \
	--interval 1ms --breaches 5 --duration 150s -v 2> "$VMON_OUT/capture.log"
rc=$?
wait $gv
grc=$?
cat /tmp/gv.out "$VMON_OUT/capture.log"
[ $rc = 0 ] || fail "vmon-capture exit $rc"
[ $grc = 0 ] || fail "globalvar exit $grc"
grep -q "^vmon-capture: watching vmon_queue_len" "$VMON_OUT/capture.log" || fail "no 'watching' line"
grep -q '^vmon-capture: 5 breaches' "$VMON_OUT/capture.log" || fail "summary does not report 5 breaches"
grep -q 'dropped 0 ' "$VMON_OUT/capture.log" || fail "drops reported"
vals=$(sed -n 's/^vmon-capture: breach of vmon_queue_len (value \([0-9]*\), threshold 100).*/\1/p' \
	"$VMON_OUT/capture.log" | tr '\n' ' ')
echo "breach values: $vals"
[ "$vals" = "200 201 202 203 204 " ] || fail "breach values '$vals', want 200..204"
printf 'breaches 5\nvalues 200 201 202 203 204\n' > "$VMON_OUT/expected.txt"
cp "$VMON_BIN/globalvar" "$VMON_OUT/"

# -- PROGRAM: no pid, no --breaches or --duration: the program's exit ends it
timeout 150 "$VMON_BIN/vmon-capture" -o "$VMON_OUT/launch.vmt" --watch "vmon_queue_len>100" \
	--interval 1ms -v -- "$VMON_BIN/globalvar" 5 300 120000 > /tmp/gv2.out 2> "$VMON_OUT/launch.log"
rc=$?
cat /tmp/gv2.out "$VMON_OUT/launch.log"
[ $rc = 0 ] || fail "vmon-capture -- globalvar: exit $rc"
grep -q '^globalvar pid' /tmp/gv2.out || fail "the program did not run"
grep -q "(the program exited)" "$VMON_OUT/launch.log" || fail "not ended by the program's exit"
grep -q "^vmon-capture: .*globalvar exited with status 0" "$VMON_OUT/launch.log" ||
	fail "no exit status line"
grep -q '^vmon-capture: 5 breaches' "$VMON_OUT/launch.log" || fail "launch: not 5 breaches"
vals=$(sed -n 's/^vmon-capture: breach of vmon_queue_len (value \([0-9]*\), threshold 100).*/\1/p' \
	"$VMON_OUT/launch.log" | tr '\n' ' ')
[ "$vals" = "200 201 202 203 204 " ] || fail "launch: breach values '$vals', want 200..204"
grep -q vmon_queue_len /proc/variable_monitor/watches && fail "the program's watch outlived it"

# trigger options reach the module: each 300 ms hold is ~300 ticks of 1 ms
# (fewer under TCG, never more), so for=20000 never breaches and for=20
# breaches once per hold
for t in 20000:0 20:5; do
	timeout 150 "$VMON_BIN/vmon-capture" -o /tmp/trig.vmt --watch "vmon_queue_len>100,for=${t%:*}" \
		--interval 1ms -- "$VMON_BIN/globalvar" 5 300 120000 > /tmp/gv3.out 2> /tmp/trig.log
	rc=$?
	cat /tmp/trig.log
	[ $rc = 0 ] || fail "vmon-capture --watch ...,for=${t%:*}: exit $rc"
	grep -q "^vmon-capture: ${t#*:} breaches" /tmp/trig.log ||
		fail "for=${t%:*}: not ${t#*:} breaches"
done
cp /tmp/trig.vmt "$VMON_OUT/trigger.vmt"	# for=20: tests/e2e/check.sh reads its watch
rmmod variable_monitor || fail "rmmod"
echo PASS
