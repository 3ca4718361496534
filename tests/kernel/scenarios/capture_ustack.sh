#!/bin/sh
# User stacks with the defaults (issue 10): each tests/programs program (C with
# and without frame pointers, C++, Rust, Go; all but Go dynamically linked
# against the libraries run.sh copied from the host) puts its threads in known
# states (asleep in glibc, blocked on a futex/pipe/epoll, spinning) and sets
# its global ustack_ready = 1; vmon-capture watches that symbol
# (--watch PID:SYMBOL>0, breaching at the first tick) with the module's and
# its own defaults. tests/e2e/ustack_check.py asserts each thread's chain on
# the host from the .vmt, the binaries copied here and expected.txt
# ("program NAME PID" and "thread NAME COMM TID" lines).
#   tests/kernel/run.sh --kernels 6.1 --scenario 'capture_ustack*'
# vmon-rust: vmon-capture
# vmon-timeout: 900
progs=${VMON_USTACK_PROGS:-ustack_fp ustack_nofp ustack_cxx ustack_rs ustack_go}
fail() { echo "FAIL: $*"; kill -KILL $pp 2>/dev/null; rmmod variable_monitor 2>/dev/null; exit 1; }
[ -x "$VMON_BIN/vmon-capture" ] || exit 77

insmod "$VMON_KO" || fail "insmod"   # no parameters: the defaults are what is tested
echo "raw_stack_bytes (default): $(cat /proc/variable_monitor/raw_stack_bytes)"
# run_prog PROGRAM DIR: start it, wait for its threads, capture one breach
# into DIR/PROGRAM.vmt; its pids and tids go to DIR/expected.txt.
run_prog() {
	p=$1 dir=$2
	[ -x "$VMON_BIN/$p" ] || fail "$p was not built into \$VMON_BIN"
	sym=ustack_ready
	[ $p = ustack_go ] && sym=main.ustackReady
	"$VMON_BIN/$p" > /tmp/$p.out 2>&1 &
	pp=$!
	i=0
	until grep -q '^ready' /tmp/$p.out || [ $i -ge 600 ]; do
		kill -0 $pp 2>/dev/null || { cat /tmp/$p.out; fail "$p exited before it was ready"; }
		sleep 0.2; i=$((i+1))
	done
	grep -q '^ready' /tmp/$p.out || { cat /tmp/$p.out; fail "$p not ready after 120 s"; }
	# The main thread prints "ready" just before it blocks: wait until it is in
	# its syscall (a number in /proc/PID/syscall; Go's main goroutine is locked
	# to it, so it parks in futex), then a little longer for Go's scheduler.
	i=0
	while [ $i -lt 300 ]; do
		case "$(cut -d' ' -f1 /proc/$pp/syscall)" in [0-9]*) break ;; esac
		sleep 0.1; i=$((i+1))
	done
	[ $p = ustack_go ] && sleep 1
	cat /tmp/$p.out
	for t in /proc/$pp/task/*; do
		echo "  task ${t##*/} $(cat $t/comm): $(cut -d' ' -f1 $t/syscall) $(cut -d' ' -f3 $t/stat)"
	done
	"$VMON_BIN/vmon-capture" -o "$dir/$p.vmt" --watch "$pp:$sym>0" --interval 1ms \
		--breaches 1 --duration 120s -v 2> "$dir/$p.capture.log"
	rc=$?
	cat "$dir/$p.capture.log"
	kill -KILL $pp; wait $pp 2>/dev/null
	[ $rc = 0 ] || fail "$p: vmon-capture exit $rc"
	grep -q '^vmon-capture: 1 breaches' "$dir/$p.capture.log" || fail "$p: summary does not report 1 breach"
	grep -q 'dropped 0 ' "$dir/$p.capture.log" || fail "$p: drops reported"
	[ -s "$dir/$p.vmt" ] || fail "$p: no capture file"
	echo "program $p $pp" >> "$dir/expected.txt"
	echo "thread $p $p $pp" >> "$dir/expected.txt"
	sed -n "s/^thread \([^ ]*\) \([0-9]*\)$/thread $p \1 \2/p" /tmp/$p.out >> "$dir/expected.txt"
	cp "$VMON_BIN/$p" "$dir/"   # for the host check "with the binaries present"
	ls -l "$dir/$p.vmt"
}

: > "$VMON_OUT/expected.txt"
for p in $progs; do run_prog $p "$VMON_OUT"; done
cat "$VMON_OUT/expected.txt"
cp /proc/variable_monitor/raw_stack_bytes "$VMON_OUT/raw_stack_bytes.txt"
# --env VMON_USTACK_WINDOWS="256 512 ...": the same captures again with each of
# these raw_stack_bytes, into w<BYTES>/ (the window benchmark: from which size
# on does each chain come out complete; ustack_check.py DIR ANALYZER tells)
for w in ${VMON_USTACK_WINDOWS:-}; do
	echo $w > /proc/variable_monitor/raw_stack_bytes || fail "raw_stack_bytes $w"
	mkdir -p "$VMON_OUT/w$w"
	: > "$VMON_OUT/w$w/expected.txt"
	for p in $progs; do run_prog $p "$VMON_OUT/w$w"; done
done
rmmod variable_monitor || fail "rmmod"
echo PASS
