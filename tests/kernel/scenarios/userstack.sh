#!/bin/sh
# The original's userstack: the captured user chain of the sleeping thread
# must be customFunction3 2 1 3 2 1 ... down to main (frame pointers), and
# the -fomit-frame-pointer build must still get its raw stack bytes.
# Saves $VMON_OUT/userstack.raw and $VMON_OUT/userstack_nofp.raw.
# vmon-timeout: 180
fail() { echo "FAIL: $*"; rmmod variable_monitor 2>/dev/null; exit 1; }

insmod "$VMON_KO" || fail "insmod"
echo 1000000 > /proc/variable_monitor/def_interval_ns
echo 4096 > /proc/variable_monitor/raw_stack_bytes
for prog in userstack userstack_nofp; do
	"$VMON_BIN/$prog" 3 3 > /tmp/$prog.out 2>&1 || { cat /tmp/$prog.out; fail "$prog failed"; }
	cat /tmp/$prog.out
	pid=$(sed -n 's/.* pid=\([0-9]*\).*/\1/p' /tmp/$prog.out)
	"$VMON_BIN/vmon_read" drain -o "$VMON_OUT/$prog.raw" -t 20 -i 1 -e 1 || fail "drain"
	"$VMON_BIN/vmon_read" parse -x "$VMON_BIN/$prog" "$VMON_OUT/$prog.raw" > /tmp/$prog.txt ||
		{ cat /tmp/$prog.txt; fail "malformed records"; }
	grep -q "^BREACH .*name=userstack .*owner=$pid target=$pid" /tmp/$prog.txt || fail "$prog: no BREACH record"
	# the main thread (pid == tgid) was asleep at the bottom of the recursion
	line=$(grep "^TASK .* pid=$pid tgid=$pid " /tmp/$prog.txt | head -1)
	[ -n "$line" ] || { cat /tmp/$prog.txt; fail "$prog: no TASK record of the sleeping main thread"; }
	echo "$line"
	echo "$line" | grep -q 'nk=[1-9]' || fail "$prog: no kernel stack"
	echo "$line" | grep -q 'raw=[1-9]' || fail "$prog: no raw stack bytes"
	chain=${line#* u: }
	case $prog in
	userstack)
		want="bottom_sleep customFunction3 customFunction2 customFunction1 customFunction3 customFunction2 customFunction1 customFunction3 customFunction2 customFunction1 customFunction3 customFunction2 customFunction1 main"
		case "$chain" in
		"$want"*) ;;
		*) fail "user chain is '$chain', want '$want ...'" ;;
		esac ;;
	userstack_nofp)
		case "$chain" in
		bottom_sleep*) ;;
		*) fail "nofp: user ip not in bottom_sleep: '$chain'" ;;
		esac ;;
	esac
	grep -q "^MAPS .*tgid=$pid .*/vmon/bin/$prog" /tmp/$prog.txt || fail "$prog: MAPS lacks the binary"
	grep -q "^CHAIN .*tgid=$pid nr=[1-9].* $pid($prog:.*$prog 3 3" /tmp/$prog.txt || fail "$prog: CHAIN lacks the command line"
	grep "^CHAIN .*tgid=$pid" /tmp/$prog.txt | grep -q ' 1(' || fail "$prog: CHAIN does not reach pid 1"
done
echo 0 > /proc/variable_monitor/raw_stack_bytes
rmmod variable_monitor || fail "rmmod"
echo PASS
