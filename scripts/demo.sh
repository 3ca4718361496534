#!/usr/bin/env bash
# The main job on a real capture shipped in samples/: build vmon-analyze
# (without polars, so a cold build takes minutes, not twenty), print the
# summary and write a flamegraph, folded stacks, CSV tables and the HTML
# report to out/demo/. Usage: scripts/demo.sh [CAPTURE.vmt]
set -euo pipefail
cd "$(dirname "$0")/.."

capture="${1:-samples/userstack-6.1.vmt}"
out=out/demo
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vmon-target}"

scripts/install-deps.sh --build-only
cargo build --release --locked -q -p vmon-analyze --no-default-features
analyze="$CARGO_TARGET_DIR/release/vmon-analyze"

mkdir -p "$out"
"$analyze" "$capture" --debug-dir samples/bin
"$analyze" "$capture" --debug-dir samples/bin --folded "$out/stacks.folded" --flamegraph "$out/flamegraph.svg" \
	--csv "$out/tables" --report "$out/report"
echo
echo "demo: wrote $out/flamegraph.svg (open it in a browser), $out/stacks.folded,"
echo "      $out/tables/*.csv and $out/report/index.html"
