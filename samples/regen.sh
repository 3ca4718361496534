#!/usr/bin/env bash
# Regenerate the real captures in samples/: boot the Debian 6.1 kernel under
# QEMU (tests/kernel/run.sh), run the capture_* scenarios (vmon-capture next to
# userstack, helloworld and loadgen), check them (tests/e2e/check.sh) and copy
# the .vmt files, the capture summaries and the test programs' binaries here.
# Usage (as root, from anywhere): samples/regen.sh [--kernels 6.1]
set -euo pipefail
cd "$(dirname "$0")/.."
kernel=${2:-6.1}
[ "${1:-}" = --kernels ] || [ $# = 0 ] || { echo "usage: samples/regen.sh [--kernels 6.1|rt|6.12]" >&2; exit 2; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
tests/kernel/run.sh --kernels "$kernel" --scenario 'capture_*' | tee "$log"
# the harness writes to out/<kernel>-N when another run holds out/<kernel>
out=$(ls -td "tests/kernel/out/$kernel" "tests/kernel/out/$kernel"-* 2>/dev/null | head -1 || true)
[ -f "$out/results.txt" ] || { echo "regen.sh: no results in tests/kernel/out/$kernel*" >&2; exit 1; }
tests/e2e/check.sh "$out"

mkdir -p samples/bin
for s in userstack:userstack helloworld:helloworld loadmon:loadgen; do
	name=${s%%:*} bin=${s#*:}
	d=$out/capture_$name
	cp "$d/$name.vmt" "samples/$name-$kernel.vmt"
	cp "$d/capture.log" "samples/$name-$kernel.capture.log"
	cp "$d/$bin" "samples/bin/$bin"
done
ls -l samples/*.vmt samples/bin/
