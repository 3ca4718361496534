#!/bin/sh
# Size of the default capture per task sample, against perf (issue 10; the
# numbers go to BENCHMARKS.md, nothing here asserts a size or a time). For
# the frame-pointer (ustack_fp) and the no-frame-pointer (ustack_nofp)
# workload, with USTACK_TOGGLE set (a "toggler" thread flips ustack_ready
# every 50 ms, so each flip to 1 is a breach): vmon-capture with the module's
# and its own defaults (only dump_reset_sec 0, so that every breach dumps)
# for 1 and for $VMON_SIZE_BREACHES breaches (the difference is what a task
# sample costs, without the file's fixed part: kallsyms, symbol tables);
# then, on the same processes, perf record -g and --call-graph dwarf of the
# toggler's context switches (sched:sched_switch: a sleeping thread's stack,
# what vmon samples too). size.txt gets one line per file:
# "NAME FILE BYTES SAMPLES" (vmon's samples are counted on the host).
# vmon-rust: vmon-capture
# vmon-host-bin: perf
# vmon-timeout: 900
n=${VMON_SIZE_BREACHES:-40}
fail() { echo "FAIL: $*"; kill -KILL $pp 2>/dev/null; rmmod variable_monitor 2>/dev/null; exit 1; }
[ -x "$VMON_BIN/vmon-capture" ] || exit 77

insmod "$VMON_KO" || fail "insmod"
echo 0 > /proc/variable_monitor/dump_reset_sec
: > "$VMON_OUT/size.txt"
for p in ustack_fp ustack_nofp; do
	USTACK_TOGGLE=1 "$VMON_BIN/$p" > /tmp/$p.out 2>&1 &
	pp=$!
	i=0
	until grep -q '^ready' /tmp/$p.out || [ $i -ge 600 ]; do sleep 0.2; i=$((i+1)); done
	grep -q '^ready' /tmp/$p.out || { cat /tmp/$p.out; fail "$p not ready"; }
	cat /tmp/$p.out
	for b in 1 $n; do
		# The toggler keeps breaching the previous capture's watch until that
		# capture closes the device; drain what those events left in the ring,
		# or this capture counts their records (without their BREACH) as lost.
		timeout 2 cat /dev/variable_monitor > /dev/null
		"$VMON_BIN/vmon-capture" -o "$VMON_OUT/$p-$b.vmt" --watch "$pp:ustack_ready>0" \
			--interval 1ms --breaches $b --duration 300s 2> /tmp/c.err
		rc=$?
		cat /tmp/c.err
		[ $rc = 0 ] || fail "$p: vmon-capture exit $rc"
		# with the toggler running, one read can bring more breaches than asked for
		grep -q "^vmon-capture: [0-9]* breaches" /tmp/c.err || fail "$p: no summary"
		grep -q 'dropped 0 ' /tmp/c.err || fail "$p: drops reported"
		echo "vmon-$b $p-$b.vmt $(wc -c < "$VMON_OUT/$p-$b.vmt") ?" >> "$VMON_OUT/size.txt"
	done
	if command -v perf >/dev/null; then
		for mode in fp dwarf; do
			cg=fp; [ $mode = dwarf ] && cg=dwarf
			perf record -e sched:sched_switch --call-graph $cg -p $pp \
				-o /tmp/perf-$mode.data -- sleep 5 > /tmp/perf.err 2>&1
			rc=$?
			cat /tmp/perf.err
			[ $rc = 0 ] || { echo "perf record --call-graph $cg: exit $rc"; continue; }
			s=$(sed -n "s/.*Captured and wrote .* (\([0-9]*\) samples).*/\1/p" /tmp/perf.err)
			echo "perf-$mode $p.perf-$mode.data $(wc -c < /tmp/perf-$mode.data) ${s:-?}" >> "$VMON_OUT/size.txt"
			cp /tmp/perf-$mode.data "$VMON_OUT/$p.perf-$mode.data"
		done
	else
		echo "no perf in the guest"
	fi
	kill -KILL $pp; wait $pp 2>/dev/null
	cp "$VMON_BIN/$p" "$VMON_OUT/"
done
cat "$VMON_OUT/size.txt"
rmmod variable_monitor || fail "rmmod"
echo PASS
