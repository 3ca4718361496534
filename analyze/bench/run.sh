#!/usr/bin/env bash
# The analyzer benchmarks, in one command, with the peer tools measured in
# the same run:
#
#   analyze/bench/run.sh            # everything (about 10 minutes on 2 cores)
#   analyze/bench/run.sh --quick    # skip the 10^7 point and repeat runs once
#
# 1. End to end: vmon-gen writes 10^6 task samples; `vmon-analyze FILE
#    --flamegraph --csv DIR` is timed against the same samples as symbolized
#    `perf script` text through `inferno-collapse-perf --kernel | inferno-flamegraph`.
#    The folded stacks of both are compared.
# 2. Peak memory, 1 vs 2 rayon threads, and 10^5 / 10^6 / 10^7 samples.
# 3. Symbolization of 100,000 unique addresses of ripgrep built with full
#    debug info, against binutils addr2line, llvm-symbolizer and gimli's
#    addr2line; the frames they print are compared.
#
# Peer tools are installed on first use under $VMON_BENCH_ROOT (default
# ~/.cache/vmon-bench), never in the repository: inferno and addr2line with
# `cargo install`, ripgrep with CARGO_PROFILE_RELEASE_DEBUG=true. binutils'
# addr2line and llvm-symbolizer come from Debian (packages binutils, llvm).
# Results: analyze/bench/results.md (copied into BENCHMARKS.md by hand).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vmon-target}
PEERS=${VMON_BENCH_ROOT:-$HOME/.cache/vmon-bench}
WORK=${VMON_BENCH_WORK:-$PEERS/work}
OUT=${VMON_BENCH_OUT:-$ROOT/analyze/bench/results.md}
REPEAT=3
BIG=1
if [ "${1:-}" = "--quick" ]; then REPEAT=1; BIG=0; fi
mkdir -p "$WORK" "$PEERS"
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(loadavg)

log() { printf '\n== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools
need_cargo_tool() { # binary crate [cargo install args...]
    local bin=$1; shift
    if [ ! -x "$PEERS/bin/$bin" ]; then
        log "installing $* into $PEERS (once)"
        nice cargo install --locked --root "$PEERS" "$@"
    fi
}
need_cargo_tool inferno-flamegraph inferno
need_cargo_tool addr2line addr2line --features bin
if [ ! -x "$PEERS/bin/rg" ]; then
    log "building ripgrep with full debug info (once)"
    CARGO_PROFILE_RELEASE_DEBUG=true nice cargo install --locked --root "$PEERS" ripgrep
fi
for t in addr2line llvm-symbolizer nm python3; do
    command -v "$t" >/dev/null || { echo "missing $t: apt-get install binutils llvm python3" >&2; exit 1; }
done

log "building vmon-analyze, vmon-gen and the perf-script converter"
# VMON_BENCH_FEATURES=--no-default-features measures the build without
# polars (CSV through the built-in writer).
# shellcheck disable=SC2086
(cd "$ROOT" && cargo build --release -q -p vmon-analyze -p vmon-gen ${VMON_BENCH_FEATURES:-} \
    && cargo build --release -q -p vmon-analyze --example perf_script --example symbolize_addrs ${VMON_BENCH_FEATURES:-})
BIN=$CARGO_TARGET_DIR/release
ANALYZE=$BIN/vmon-analyze
GEN=$BIN/vmon-gen
PERF_SCRIPT=$BIN/examples/perf_script
SYMBOLIZE=$BIN/examples/symbolize_addrs
INFERNO_COLLAPSE=$PEERS/bin/inferno-collapse-perf
INFERNO_FLAME=$PEERS/bin/inferno-flamegraph
GIMLI=$PEERS/bin/addr2line
RG=$PEERS/bin/rg

# ---------------------------------------------------------------- timing
# timed NAME CMD...: runs CMD $REPEAT times (stdout to /dev/null unless the
# command redirects itself), keeps the median wall time and the largest
# peak RSS; sets T_<NAME> (seconds) and M_<NAME> (MiB).
timed() {
    local name=$1; shift
    local walls=() mem=0 i
    for ((i = 0; i < REPEAT; i++)); do
        /usr/bin/time -f '%e %M' -o "$WORK/time.out" "$@" >/dev/null
        read -r w m <"$WORK/time.out"
        walls+=("$w")
        [ "$m" -gt "$mem" ] && mem=$m
    done
    local med
    med=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf -v "T_$name" '%s' "$med"
    printf -v "M_$name" '%s' "$((mem / 1024))"
    printf '%-28s %8ss  %6s MiB\n' "$name" "$med" "$((mem / 1024))" >&2
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
per_us() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.2f", t * 1e6 / n }'; }
rate() { awk -v t="$1" -v n="$2" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print "-" }'; }

# ---------------------------------------------------------------- inputs
gen() { # N FILE
    if [ ! -s "$2" ]; then
        log "generating $1 task samples -> $2"
        "$GEN" --samples "$1" --seed 7 --output "$2" >&2
    fi
}
F5=$WORK/s1e5.vmt; F6=$WORK/s1e6.vmt; F7=$WORK/s1e7.vmt
gen 100000 "$F5"
gen 1000000 "$F6"
[ "$BIG" = 1 ] && gen 10000000 "$F7"

# ---------------------------------------------------------------- end to end
log "end to end, 10^6 samples"
rm -rf "$WORK/csv"
timed vmon_1e6 "$ANALYZE" "$F6" --flamegraph "$WORK/vmon.svg" --csv "$WORK/csv"
RAYON_NUM_THREADS=1 timed vmon_1e6_t1 "$ANALYZE" "$F6" --flamegraph "$WORK/vmon.svg" --csv "$WORK/csv"
timed vmon_1e6_noinline "$ANALYZE" "$F6" --flamegraph "$WORK/vmon.svg" --csv "$WORK/csv" --no-inlines
timed vmon_1e5 "$ANALYZE" "$F5" --flamegraph "$WORK/vmon5.svg" --csv "$WORK/csv5"
if [ "$BIG" = 1 ]; then
    REPEAT_SAVED=$REPEAT; REPEAT=1
    timed vmon_1e7 "$ANALYZE" "$F7" --flamegraph "$WORK/vmon7.svg" --csv "$WORK/csv7"
    REPEAT=$REPEAT_SAVED
fi

# perf script text is large (about 15 GB for 10^6 samples of the
# generator's C++/Rust names), so VMON_BENCH_INFERNO_SAMPLES=100000 runs the
# inferno side on the 10^5 file; the ratio is then per sample.
NI=${VMON_BENCH_INFERNO_SAMPLES:-1000000}
case $NI in
    100000) FI=$F5; T_vmon_ni_ref=T_vmon_1e5 ;;
    *) NI=1000000; FI=$F6; T_vmon_ni_ref=T_vmon_1e6 ;;
esac
log "the same $NI samples as perf script text"
"$PERF_SCRIPT" "$FI" >"$WORK/perf.txt"
PERF_MB=$(du -m "$WORK/perf.txt" | cut -f1)
REPEAT_SAVED=$REPEAT; REPEAT=1
timed inferno sh -c "'$INFERNO_COLLAPSE' --kernel <'$WORK/perf.txt' | '$INFERNO_FLAME' >'$WORK/inferno.svg'"
timed inferno_collapse sh -c "'$INFERNO_COLLAPSE' --kernel <'$WORK/perf.txt' >'$WORK/inferno.folded'"
REPEAT=$REPEAT_SAVED
rm -f "$WORK/perf.txt"
# Per-sample cost of each side, and vmon's speedup over inferno.
US_vmon=$(per_us "${!T_vmon_ni_ref}" "$NI")
US_vmon6=$(per_us "$T_vmon_1e6" 1000000)
US_inferno=$(per_us "$T_inferno" "$NI")
SPEEDUP=$(ratio "$US_inferno" "$US_vmon6")

log "comparing folded stacks"
"$ANALYZE" "$FI" --folded "$WORK/vmon.folded" >/dev/null
FOLD_CMP=$(python3 - "$WORK/vmon.folded" "$WORK/inferno.folded" <<'EOF'
import sys, collections
def load(p, drop_root):
    c = collections.Counter()
    for line in open(p, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if not line:
            continue
        stack, n = line.rsplit(" ", 1)
        if drop_root:  # inferno puts the process name first
            stack = stack.split(";", 1)[1] if ";" in stack else "[no stack]"
        else:  # perf script has no inline marker: inferno's inlined frames lack _[i]
            stack = ";".join(f[:-4] if f.endswith("_[i]") else f for f in stack.split(";"))
        c[stack] += int(n)
    return c
v, i = load(sys.argv[1], False), load(sys.argv[2], True)
same = sum(min(v[k], i[k]) for k in v)
print(f"{len(v)} vmon stacks / {len(i)} inferno stacks; {same} of {sum(v.values())} samples on identical stacks")
EOF
)
echo "$FOLD_CMP" >&2

# ---------------------------------------------------------------- symbolization
log "symbolization: 100,000 addresses of ripgrep"
RG_MB=$(du -m "$RG" | cut -f1)
python3 "$ROOT/analyze/bench/pick_addrs.py" "$RG" 100000 42 >"$WORK/addrs.txt"
NADDR=$(wc -l <"$WORK/addrs.txt")
REPEAT_SAVED=$REPEAT; REPEAT=1
timed sym_binutils sh -c "addr2line -a -f -i -C -e '$RG' <'$WORK/addrs.txt' >'$WORK/sym.binutils'"
timed sym_llvm sh -c "llvm-symbolizer --obj='$RG' --inlining --demangle --output-style=GNU --print-address <'$WORK/addrs.txt' >'$WORK/sym.llvm'"
timed sym_gimli sh -c "'$GIMLI' -a -f -i -C -e '$RG' <'$WORK/addrs.txt' >'$WORK/sym.gimli'"
REPEAT=$REPEAT_SAVED
timed sym_vmon sh -c "'$SYMBOLIZE' '$WORK/addrs.txt' '$RG' >'$WORK/sym.vmon'"
RAYON_NUM_THREADS=1 timed sym_vmon_t1 sh -c "'$SYMBOLIZE' '$WORK/addrs.txt' '$RG' >'$WORK/sym.vmon1'"
SYM_CMP=$(python3 "$ROOT/analyze/bench/compare_frames.py" vmon:"$WORK/sym.vmon" \
    gimli:"$WORK/sym.gimli" binutils:"$WORK/sym.binutils" llvm-symbolizer:"$WORK/sym.llvm" vmon-1-thread:"$WORK/sym.vmon1")
echo "$SYM_CMP" >&2

# ---------------------------------------------------------------- report
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
{
    echo "Build: vmon-analyze ${VMON_BENCH_FEATURES:-with default features (polars)}."
    echo "Load average (1, 5, 15 min) at the start: $LOAD_START; at the end: $(loadavg)."
    echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($CPU), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); median of $REPEAT runs for vmon, one run for the peers. Rerun: \`analyze/bench/run.sh\`."
    echo
    echo "### End to end: capture to flamegraph + CSV tables"
    echo
    echo "| run | samples | wall | µs/sample | peak RSS | vs inferno (per sample) |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    echo "| vmon-analyze --flamegraph --csv (2 threads) | 10^6 | ${T_vmon_1e6} s | ${US_vmon6} | ${M_vmon_1e6} MiB | **${SPEEDUP}x faster** |"
    echo "| same, RAYON_NUM_THREADS=1 | 10^6 | ${T_vmon_1e6_t1} s | $(per_us "$T_vmon_1e6_t1" 1000000) | ${M_vmon_1e6_t1} MiB | $(ratio "$US_inferno" "$(per_us "$T_vmon_1e6_t1" 1000000)")x |"
    echo "| same, --no-inlines | 10^6 | ${T_vmon_1e6_noinline} s | $(per_us "$T_vmon_1e6_noinline" 1000000) | ${M_vmon_1e6_noinline} MiB | $(ratio "$US_inferno" "$(per_us "$T_vmon_1e6_noinline" 1000000)")x |"
    echo "| vmon-analyze on the inferno input | $NI | ${!T_vmon_ni_ref} s | ${US_vmon} | | $(ratio "$US_inferno" "$US_vmon")x |"
    echo "| inferno-collapse-perf \\| inferno-flamegraph on perf script text (${PERF_MB} MB) | $NI | ${T_inferno} s | ${US_inferno} | ${M_inferno} MiB (largest stage) | 1x |"
    echo "| inferno-collapse-perf alone | $NI | ${T_inferno_collapse} s | $(per_us "$T_inferno_collapse" "$NI") | ${M_inferno_collapse} MiB | |"
    echo
    echo "Folded stacks, vmon vs inferno: $FOLD_CMP."
    echo
    echo "### Scaling with input size"
    echo
    echo "| samples | wall | µs/sample | peak RSS |"
    echo "| ---: | ---: | ---: | ---: |"
    echo "| 10^5 | ${T_vmon_1e5} s | $(per_us "$T_vmon_1e5" 100000) | ${M_vmon_1e5} MiB |"
    echo "| 10^6 | ${T_vmon_1e6} s | $(per_us "$T_vmon_1e6" 1000000) | ${M_vmon_1e6} MiB |"
    if [ "$BIG" = 1 ]; then
        echo "| 10^7 | ${T_vmon_1e7} s | $(per_us "$T_vmon_1e7" 10000000) | ${M_vmon_1e7} MiB |"
    fi
    echo
    echo "### Symbolization: $NADDR unique addresses of ripgrep (${RG_MB} MB, full debug info), with inlined frames"
    echo
    echo "| tool | wall | addresses/s | peak RSS | vmon is |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    echo "| vmon-analyze's symbolizer (examples/symbolize_addrs, 2 threads) | ${T_sym_vmon} s | $(rate "$T_sym_vmon" "$NADDR") | ${M_sym_vmon} MiB | |"
    echo "| same, RAYON_NUM_THREADS=1 | ${T_sym_vmon_t1} s | $(rate "$T_sym_vmon_t1" "$NADDR") | ${M_sym_vmon_t1} MiB | |"
    echo "| binutils addr2line -a -f -i -C | ${T_sym_binutils} s | $(rate "$T_sym_binutils" "$NADDR") | ${M_sym_binutils} MiB | **$(ratio "$T_sym_binutils" "$T_sym_vmon")x faster** |"
    echo "| llvm-symbolizer --inlining | ${T_sym_llvm} s | $(rate "$T_sym_llvm" "$NADDR") | ${M_sym_llvm} MiB | **$(ratio "$T_sym_llvm" "$T_sym_vmon")x faster** |"
    echo "| gimli addr2line -a -f -i -C | ${T_sym_gimli} s | $(rate "$T_sym_gimli" "$NADDR") | ${M_sym_gimli} MiB | **$(ratio "$T_sym_gimli" "$T_sym_vmon")x faster** |"
    echo
    echo "Frames out (vmon as the reference):"
    echo
    echo '```'
    echo "$SYM_CMP"
    echo '```'
} >"$OUT"
log "results in $OUT"
cat "$OUT"
