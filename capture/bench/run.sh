#!/bin/sh
# Capture drain/convert benchmark: converts a large synthetic raw record
# stream with `vmon-capture --from-raw` and compares against reading the
# same bytes (cat) and compressing them (zstd -3), measured in the same run.
# Usage: capture/bench/run.sh [EVENTS] [TASKS_PER_EVENT] [real]
# real: every task carries a real user stack (gen_raw's own, 8 KiB window,
# no frame pointers) that vmon-capture unwinds with CFI (--sysroot /).
set -eu
EVENTS=${1:-20000}
TASKS=${2:-10}
REAL=${3:-}
EXTRA=""
[ "$REAL" = real ] && EXTRA="--sysroot /"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vmon-target}
cd "$(dirname "$0")/../.."
cargo build --release -q -p vmon-capture --bin vmon-capture --example gen_raw
BIN=$CARGO_TARGET_DIR/release
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
"$BIN/examples/gen_raw" "$DIR/in.raw" "$EVENTS" "$TASKS" $REAL 2>"$DIR/gen.txt"
RECORDS=$(sed -n 's/.*: \([0-9]*\) records.*/\1/p' "$DIR/gen.txt")
BYTES=$(stat -c %s "$DIR/in.raw")
cat "$DIR/in.raw" >/dev/null # warm the page cache

# Prints wall and user+sys CPU seconds of a command.
measure() {
	/usr/bin/env time -f '%e %U %S' -o "$DIR/t" "$@" >/dev/null 2>&1 ||
		{ echo "failed: $*" >&2; exit 1; }
	awk '{printf "%s %.3f", $1, $2 + $3}' "$DIR/t"
}

set -- $(measure "$BIN/vmon-capture" -q --from-raw "$DIR/in.raw" $EXTRA -o "$DIR/out.vmt")
CAP_WALL=$1 CAP_CPU=$2
set -- $(measure cat "$DIR/in.raw")
CAT_WALL=$1
ZSTD_WALL=n/a
if command -v zstd >/dev/null; then
	set -- $(measure zstd -3 -q -f "$DIR/in.raw" -o "$DIR/in.raw.zst")
	ZSTD_WALL=$1
fi
OUT=$(stat -c %s "$DIR/out.vmt")

# Operating point of the issue: 1,000 breaches per minute, paced through a
# FIFO for PACED_SECONDS; CPU time of vmon-capture over that wall time.
PACED_SECONDS=${PACED_SECONDS:-30}
mkfifo "$DIR/fifo"
/usr/bin/env time -f '%e %U %S' -o "$DIR/tp" "$BIN/vmon-capture" -q --from-raw "$DIR/fifo" $EXTRA -o "$DIR/paced.vmt" &
CAP=$!
python3 capture/bench/paced.py "$DIR/in.raw" "$DIR/fifo" 1000 "$PACED_SECONDS" >"$DIR/paced.txt"
wait $CAP
set -- $(cat "$DIR/tp")
PACED_CPU_PCT=$(awk -v w="$1" -v u="$2" -v s="$3" 'BEGIN { printf "%.2f", (u + s) / w * 100 }')
awk -v r="$RECORDS" -v b="$BYTES" -v w="$CAP_WALL" -v c="$CAP_CPU" -v o="$OUT" \
	-v cat="$CAT_WALL" -v z="$ZSTD_WALL" -v ev="$EVENTS" -v t="$TASKS" 'BEGIN {
	if (w <= 0) w = 0.001
	printf "input: %d events x %d tasks = %d records, %.1f MB raw -> %.1f MB .vmt (%.1fx smaller)\n", ev, t, r, b/1e6, o/1e6, b/o
	printf "vmon-capture --from-raw: %.2f s wall, %.2f s CPU: %.0f records/s, %.1f MB/s, %.0f task samples/s, %.2f us CPU/record\n", w, c, r/w, b/1e6/w, ev*t/w, c*1e6/r
	printf "peers, same bytes: cat %.2f s (%.0fx faster than capture); zstd -3 %s s", cat, (cat > 0 ? w/cat : 0), z
	if (z != "n/a" && z > 0) printf " (capture/zstd = %.2f)", w/z
	printf "\n"
}'
echo "at 1,000 breaches/min x $TASKS tasks ($(cat "$DIR/paced.txt")): vmon-capture used $PACED_CPU_PCT% of one core (bar: < 2%)"
