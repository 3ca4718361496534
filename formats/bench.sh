#!/bin/sh
# Reruns the "## Format" section of BENCHMARKS.md: generates 1,000,000-task-
# sample captures with vmon-gen (the default: zstd tables and uncompressed
# samples; everything zstd; everything uncompressed; the default with the
# format 1.1 SAMPLES layout, for before/after), measures size,
# encode and decode (materializing decode() and the streaming sample API,
# 1 thread and all threads) with `cargo bench -p vmon-format --bench format`, and
# records a real perf.data of the same workload binary for comparison.
# Usage: formats/bench.sh [SAMPLES]      (from anywhere; needs gcc, perf optional)
set -eu
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vmon-target}"
N="${1:-1000000}"
OUT="$CARGO_TARGET_DIR/vmt-bench"
mkdir -p "$OUT"

cargo build --release -q -p vmon-gen
GEN="$CARGO_TARGET_DIR/release/vmon-gen"
"$GEN" --samples "$N" --stacks 2000 --depth 30 --seed 1 -o "$OUT/default.vmt"
"$GEN" --samples "$N" --stacks 2000 --depth 30 --seed 1 --compress-samples -o "$OUT/zstd.vmt"
"$GEN" --samples "$N" --stacks 2000 --depth 30 --seed 1 --no-compress -o "$OUT/plain.vmt"
"$GEN" --samples "$N" --stacks 2000 --depth 30 --seed 1 --plain-samples -o "$OUT/default-1.1.vmt"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -q -p vmon-format --bench format -- "$OUT/default.vmt" "$OUT/zstd.vmt" "$OUT/plain.vmt" "$OUT/default-1.1.vmt"

if command -v perf >/dev/null 2>&1; then
	echo "## perf record -g of the same workload binary (gen/fixtures/workload.c)"
	if perf record -q -g -F 4999 -o "$OUT/perf.data" -- "$OUT/vmon-gen-bin/workload" 10000000 >/dev/null 2>"$OUT/perf.err"; then
		size=$(stat -c %s "$OUT/perf.data")
		perf report -D -i "$OUT/perf.data" 2>/dev/null | awk -v size="$size" '
			function hex(s,   i, v) { v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
			/PERF_RECORD_SAMPLE/ { n++; match($0, /\[0x[0-9a-f]+\]/); rec += hex(substr($0, RSTART + 3, RLENGTH - 4)) }
			/chain: nr:/ { split($0, a, "nr:"); chain += a[2] }
			END {
				if (n == 0) { print "no samples recorded"; exit }
				printf "perf.data: %d bytes, %d samples, %.1f bytes/sample for the whole file\n", size, n, size / n
				printf "PERF_RECORD_SAMPLE: mean %.1f bytes with a mean callchain of %.1f entries = 48 + 8 x entries (%.1f)\n", rec / n, chain / n, 48 + 8 * chain / n
			}'
	else
		echo "perf record failed: $(tail -1 "$OUT/perf.err")"
	fi
fi
