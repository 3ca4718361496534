#!/usr/bin/env bash
# Host side of the end-to-end test: analyze the .vmt files that the capture_*
# kernel scenarios wrote (tests/kernel/scenarios/capture_*.sh) and check them
# against what the programs did in the guest (each scenario's expected.txt).
#
#   tests/e2e/check.sh [OUTDIR | KERNEL]
#
# OUTDIR: a kernel's output directory of tests/kernel/run.sh; KERNEL (6.1,
# rt, 6.12, 5.10, 5.10-rt, sid, sid-rt; default 6.1): the newest
# tests/kernel/out/KERNEL or KERNEL-N holding results.txt (the harness writes
# to out/6.1-2, -3, ... when another run holds out/6.1). vmon-analyze is
# $VMON_ANALYZE, or built with cargo into $CARGO_TARGET_DIR. capture_ustack's
# chains are checked by tests/e2e/ustack_check.py (python3, binutils, libc6-dbg
# and unshare: installed when missing), capture_ustack_size's bytes per task
# sample are printed by tests/e2e/vmt_sizes.py.
# The JSON summary is read with python3 (schema analyze/JSON.md); the
# analyzer's stderr is shown whenever a run of it fails.
# Exit status: 0 when every check passed, 1 when one failed, 2 on a setup error.
set -uo pipefail
cd "$(dirname "$0")/../.."

out=${1:-6.1}
if [ ! -d "$out" ]; then
	k=$out
	# out/K-N only (N a number): out/5.10-rt is another kernel than out/5.10.
	out=$(ls -td "tests/kernel/out/$k" "tests/kernel/out/$k"-[0-9]* 2>/dev/null |
		while read -r d; do [ -f "$d/results.txt" ] && { echo "$d"; break; }; done)
	[ -n "$out" ] || { echo "check.sh: no tests/kernel/out/$k*/results.txt; run tests/kernel/run.sh --kernels $k first" >&2; exit 2; }
fi
[ -d "$out" ] || { echo "check.sh: $out is not a directory" >&2; exit 2; }
echo "checking captures in $out"

if [ -z "${VMON_ANALYZE:-}" ]; then
	export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vmon-target}"
	cargo build --release -p vmon-analyze --locked -q || { echo "check.sh: cannot build vmon-analyze" >&2; exit 2; }
	VMON_ANALYZE=$CARGO_TARGET_DIR/release/vmon-analyze
fi

passed=0 failed=0
ok() { echo "PASS $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
check() { # NAME COMMAND...: PASS when the command succeeds
	local name=$1; shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}
# vmon-analyze ARGS...: its stdout passes through; its stderr (warnings, the
# quality line) is shown only when it fails, with the command and status
analyze() {
	local err rc
	err=$(mktemp) || return 2
	"$VMON_ANALYZE" "$@" 2>"$err"
	rc=$?
	if [ "$rc" != 0 ]; then
		echo "  vmon-analyze $* failed (exit $rc):" >&2
		sed 's/^/    /' "$err" >&2
	fi
	rm -f "$err"
	return "$rc"
}
# json EXPR FILE ARGS...: EXPR (python, over the document `d` of
# analyze/JSON.md, schema version 1, with the environment as `env`)
# evaluated on `vmon-analyze FILE ARGS --json`; a list prints an item a line
json() {
	local expr=$1; shift
	analyze "$@" --json | python3 -c '
import json, os, sys
d = json.load(sys.stdin)
if d.get("schema") != "vmon-summary" or d.get("schema_version") != 1:
    sys.exit("check.sh: not a vmon-summary version 1 document (analyze/JSON.md)")
v = eval(sys.argv[1], {"env": os.environ}, {"d": d})
print("\n".join(map(str, v)) if isinstance(v, list) else v)
' "$expr"
}
# expected.txt: "key value" lines written by the scenario
expect() { awk -v k="$1" '$1==k{print $2}' "$2/expected.txt" 2>/dev/null; }
# the breaches kept, from the JSON summary
json_breaches() { json 'd["breaches"]' "$@"; }
# sum of the counts of folded lines matching an extended regex
folded_count() { # REGEX FILE ARGS...
	local re=$1; shift
	analyze "$@" --folded | grep -E -- "$re" | awk '{n+=$NF} END{print n+0}'
}
scenario_ok() { grep -q "^$1 PASS" "$out/results.txt" 2>/dev/null; }
# the .vmt $f holds the breach count the scenario in $d expected; sets
# want and got for the checks that follow
check_breaches() { # NAME WHAT
	want=$(expect breaches "$d")
	got=$(json_breaches "$f")
	check "$1: breaches in the .vmt ($got) = $2 (${want:-?})" test -n "$want" -a "$got" = "$want"
}
# FILE's JSON summary has a watch shown as COMPARISON (`name > threshold`)
# of KIND (user, kernel:SYMBOL) with N breaches
watch_has() { # FILE COMPARISON KIND N
	[ "$(W_CMP=$2 W_KIND=$3 json '[w["breaches"] for w in d["watches"] if w["comparison"] == env["W_CMP"] and w["kind"] == env["W_KIND"]]' "$1")" = "$4" ]
}

# --- userstack: one breach; the main thread sleeps at the bottom of the recursion
d=$out/capture_userstack f=$d/userstack.vmt
if scenario_ok capture_userstack && [ -s "$f" ]; then
	check_breaches userstack "breaches the program caused"
	chain='main;customFunction1;customFunction2;customFunction3;customFunction1;customFunction2;customFunction3;customFunction1;customFunction2;customFunction3;customFunction1;customFunction2;customFunction3;bottom_sleep'
	n=$(folded_count "$chain" "$f" --watch userstack)
	check "userstack: folded (watch userstack) has the user chain main;customFunction1;2;3;... once per breach ($n)" \
		test "$n" = "${want:-x}"
	n=$(folded_count "$chain;.*__x64_sys_nanosleep_\[k\];hrtimer_nanosleep_\[k\];do_nanosleep_\[k\];schedule_\[k\]" "$f" --watch userstack)
	check "userstack: the chain ends in the kernel nanosleep path ($n)" test "$n" = "${want:-x}"
	# the program printed its pid: the chain is its main thread's (pid = tgid)
	pid=$(sed -n 's/.* pid=\([0-9]*\)$/\1/p' "$d/output.log" | head -1)
	n=$(folded_count "$chain" "$f" --watch userstack --pid "${pid:-0}")
	check "userstack: the chain is the one of userstack's main thread (pid ${pid:-?}: $n)" test "$n" = "${want:-x}"
	check "userstack: the summary has watch 'userstack > 0' with $want breaches" \
		watch_has "$f" "userstack > 0" user "$want"
else
	bad "userstack: scenario capture_userstack did not pass or left no $f"
fi

# --- helloworld: 2049 watches, each breaches once; the timer dumps at most
# once per dump_reset_sec, so the .vmt holds the module's dump count
d=$out/capture_helloworld f=$d/helloworld.vmt
if scenario_ok capture_helloworld && [ -s "$f" ]; then
	check_breaches helloworld "the module's dumps"
	check "helloworld: every watch breached once ($(expect edges "$d") edges, per-watch sum $(expect watch_breaches_sum "$d"), 2049 watches)" \
		test "$(expect edges "$d")" = 2049 -a "$(expect watch_breaches_sum "$d")" = 2049
	# one line per captured watch: "hwN > 100 (user): K breaches"
	heads=$(json '["%s (%s): %d breaches" % (w["comparison"], w["kind"], w["breaches"]) for w in d["watches"]]' "$f")
	echo "$heads" | sed 's/^/  /'
	nw=$(echo "$heads" | grep -c '^hw[0-9]* > 100 (user): 1 breaches$')
	check "helloworld: each captured watch is an hwN > 100 with exactly 1 breach ($nw of $got)" \
		test "$nw" = "$got" -a "$(echo "$heads" | grep -c .)" = "$got"
	idx_ok=$(echo "$heads" | sed -n 's/^hw\([0-9]*\) .*/\1/p' | awk '$1>=2049{bad=1} END{print bad?0:1}')
	check "helloworld: captured watch names are hw0..hw2048" test "$idx_ok" = 1
	# helloworld is static: its libc frames have no frame pointers, and the
	# raw stack is unwound with the CFI of the binary the scenario copied out
	# The dump may catch the thread on its way into the sleep (on a CPU:
	# no kernel stack, flagged ON_CPU; or preempted in user mode by the tick:
	# the IRQ's return to user mode in schedule), so kernel frames are
	# optional; when there are any, they must be one of those paths.
	asleep='( [0-9]+$|;.*do_nanosleep_\[k\]|;.*irqentry_exit_to_user_mode_\[k\];.*schedule_\[k\])'
	# The dump runs when its worker does: it finds main asleep between
	# batches (main;nanosleep;clock_nanosleep) or, when it runs at once,
	# still writing the first batch (main itself, preempted by the tick).
	n=$(folded_count ";main(;nanosleep;clock_nanosleep)?$asleep" "$f" --comm helloworld --debug-dir "$d")
	check "helloworld: helloworld sampled in main, asleep in nanosleep;clock_nanosleep or preempted, then the nanosleep or preemption path if a kernel stack was taken ($n)" test "$n" -ge 1
	# vmon-capture unwound the raw window in the guest, where the binary
	# was: without it here, the capture alone gives the same chain, from
	# _start (its embedded symbols name the frames).
	n=$(folded_count "^_start;__libc_start_main(_impl)?;__libc_start_call_main;main(;nanosleep;clock_nanosleep)?$asleep" "$f" --comm helloworld)
	check "helloworld: without the binary, the capture alone gives the whole chain from _start, unwound in the guest ($n)" test "$n" -ge 1
	[ "$n" -ge 1 ] || { echo "  helloworld's stacks in the capture:"; analyze "$f" --comm helloworld --folded | sed 's/^/    /'; }
else
	bad "helloworld: scenario capture_helloworld did not pass or left no $f"
fi

# --- loadmon: vmon-capture --load-above under loadgen's R and D tasks
d=$out/capture_loadmon f=$d/loadmon.vmt
if scenario_ok capture_loadmon && [ -s "$f" ]; then
	check_breaches loadmon "the breaches the scenario saw"
	n=$(json '[w["breaches"] for w in d["watches"] if w["name"].startswith("load1") and w["kind"] == "kernel:avenrun"]' "$f")
	check "loadmon: the breach is the kernel watch load1 ($n breaches)" test "$n" = "${want:-x}"
	n=$(folded_count . "$f" --state R --comm vmon_busy)
	check "loadmon: running (R) loadgen tasks (comm vmon_busy) sampled ($n)" test "$n" -ge 1
	n=$(folded_count . "$f" --state D --comm vmon_dwait)
	check "loadmon: uninterruptible (D) loadgen tasks (comm vmon_dwait) sampled ($n)" test "$n" -ge 1
	n=$(folded_count '_\[k\]' "$f" --state D --comm vmon_dwait)
	check "loadmon: the D tasks have kernel stacks ($n)" test "$n" -ge 1
else
	bad "loadmon: scenario capture_loadmon did not pass or left no $f"
fi

# --- symwatch: vmon-capture --watch PID:vmon_queue_len>100 on globalvar, by symbol
d=$out/capture_symwatch f=$d/symwatch.vmt
if scenario_ok capture_symwatch && [ -s "$f" ]; then
	check_breaches symwatch "breaches the program caused"
	vals=$(json '"".join("%d " % e["value"] for w in d["watches"] for e in w["events"])' "$f")
	wantv="$(sed -n 's/^values //p' "$d/expected.txt" 2>/dev/null) "
	check "symwatch: breach values in the .vmt ($vals) = the values globalvar set ($wantv)" \
		test "$vals" = "$wantv"
	check "symwatch: the summary has watch 'vmon_queue_len > 100' with $want breaches" \
		watch_has "$f" "vmon_queue_len > 100" user "$want"
	n=$(folded_count . "$f" --comm globalvar --watch vmon_queue_len)
	check "symwatch: the watched process is sampled in every breach ($n >= ${want:-?})" \
		test "$n" -ge "${want:-1}"
	# --watch 'vmon_queue_len>100,for=20': the trigger went into the module,
	# came back in its BREACH records and is in the .vmt
	check "symwatch: the for=20 capture's watch is 'vmon_queue_len > 100 for 20 ticks' with 5 breaches" \
		watch_has "$d/trigger.vmt" "vmon_queue_len > 100 for 20 ticks" user 5
else
	bad "symwatch: scenario capture_symwatch did not pass or left no $f"
fi

# --- jit: a frame in generated code, named from the process's perf map
d=$out/capture_jit f=$d/jit.vmt
if scenario_ok capture_jit && [ -s "$f" ]; then
	check_breaches jit "breaches the program caused"
	n=$(folded_count ';main;jit_trampoline;jit_callee;' "$f" --comm jitstack)
	check "jit: the JIT frame is named from the perf map, between main and jit_callee, without the binary here ($n)" \
		test "$n" -ge 1
else
	bad "jit: scenario capture_jit did not pass or left no $f"
fi

# --- ustack: every thread of the tests/programs programs has its exact user
# chain, with the binaries and again without them (tests/e2e/ustack_check.py
# says how the chains are derived and proved against the binaries)
d=$out/capture_ustack
if scenario_ok capture_ustack && [ -s "$d/expected.txt" ]; then
	# the expectations need objdump/readelf/c++filt and glibc's symbols for its
	# internal functions (start_thread, clone3 ...): libc6-dbg
	need=()
	command -v objdump >/dev/null || need+=(binutils)
	command -v unshare >/dev/null || need+=(util-linux)
	[ "$(dpkg-query -W -f='${Status}' libc6-dbg 2>/dev/null)" = "install ok installed" ] || need+=(libc6-dbg)
	if [ ${#need[@]} -gt 0 ]; then
		apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 ||
			{ echo "check.sh: cannot install ${need[*]}" >&2; exit 2; }
	fi
	res=$(python3 tests/e2e/ustack_check.py "$d" "$VMON_ANALYZE")
	echo "$res" | grep -v '^[0-9]* passed, [0-9]* failed$'
	p=$(echo "$res" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
	f=$(echo "$res" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-1}))
else
	bad "ustack: scenario capture_ustack did not pass or left no $d/expected.txt"
fi

# --- ustack_size: bytes per task sample (numbers for BENCHMARKS.md, not asserted)
d=$out/capture_ustack_size
if scenario_ok capture_ustack_size && [ -s "$d/size.txt" ]; then
	samples() { json 'd["inputs"][0]["task_samples"]' "$1"; }
	while read -r what file bytes n; do
		case $what in
		vmon-*) echo "  size: $what $file: $(python3 tests/e2e/vmt_sizes.py "$d/$file" "$(samples "$d/$file")")" ;;
		*) echo "  size: $what $file: $bytes B, $n samples, $((bytes / ${n:-1})) B per sample (whole file)" ;;
		esac
	done < "$d/size.txt"
	check "ustack_size: every capture decodes with its task samples" \
		test -z "$(while read -r what file bytes n; do case $what in vmon-*) [ "$(samples "$d/$file")" -gt 0 ] 2>/dev/null || echo x ;; esac; done < "$d/size.txt")"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
