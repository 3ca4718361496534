#!/usr/bin/env bash
# The whole vmon test suite: formatting, lints, the Rust tests with and
# without polars, and the kernel module in booted kernels under QEMU.
# Installs what is missing. Usage: scripts/test.sh [--no-kernel] [--kernels LIST]
#
# Kernels: 6.1 on every run. The whole matrix (tests/kernel/README.md, "CI")
# whenever the module or its tests changed since the last run that passed it
# on this machine (a content hash of kmod/ and tests/kernel/, kept in
# ~/.cache/vmon-kernels), so a new machine always runs it: 6.1 with every
# scenario at full length, the six other kernels (6.1 PREEMPT_RT, 6.12, 5.10,
# 5.10 PREEMPT_RT, sid, sid PREEMPT_RT) with every scenario at the shorter
# lengths of $KT_SHORT, and dkms against the oldest and the newest kernel.
# Seven kernels at full length do not fit CI's 90 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

kernel=1
kernels=""
while [ $# -gt 0 ]; do
	case "$1" in
	--no-kernel) kernel=0 ;;
	--kernels) kernels="$2"; shift ;;
	*) echo "test.sh: unknown option $1 (use --no-kernel, --kernels LIST)" >&2; exit 2 ;;
	esac
	shift
done

# One target directory outside the clone, so CI reuses the dependency builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vmon-target}"
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s\n' "$*"; }

step "installing missing dependencies"
scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (default features, then without polars)"
cargo clippy --release --workspace --all-targets --locked -- -D warnings
cargo clippy --release -p vmon-analyze --no-default-features --all-targets --locked -- -D warnings

step "Rust tests (default features)"
cargo test --release --workspace --locked

step "Rust tests of vmon-analyze without polars"
cargo test --release -p vmon-analyze --no-default-features --locked

kernel_hash() {
	git ls-files -s kmod tests/kernel | sha256sum | cut -d' ' -f1
}
# The matrix's shorter runs: fewer iterations of the scenarios whose length is a
# count (insmod_cycles, fuzz, execrace, regbench, capture_ustack_size); every
# scenario still runs and asserts what it asserts at full length.
KT_SHORT=(--env VMON_CYCLES=50 --env VMON_FUZZ_OPS=20000 --env VMON_EXECRACE_ITER=50
	--env VMON_REGBENCH_N=2048 --env VMON_SIZE_BREACHES=10)
stamp="$HOME/.cache/vmon-kernels/all-kernels-passed"
if [ "$kernel" = 1 ]; then
	matrix=0
	if [ -z "$kernels" ]; then
		kernels="6.1"
		[ "$(cat "$stamp" 2>/dev/null)" = "$(kernel_hash)" ] || matrix=1
	fi
	if [ $matrix = 1 ]; then
		step "kernel module in booted kernels: 6.1 (full length)"
		tests/kernel/run.sh --kernels 6.1
		step "kernel module in booted kernels: rt, 6.12, 5.10, 5.10-rt, sid, sid-rt (short)"
		tests/kernel/run.sh --kernels rt,6.12,5.10,5.10-rt,sid,sid-rt "${KT_SHORT[@]}"
		step "dkms against the oldest and the newest kernel"
		tests/kernel/dkms.sh --kernels 5.10,sid
		kernels="6.1,rt,6.12,5.10,5.10-rt,sid,sid-rt"
	else
		step "kernel module in booted kernels: $kernels"
		tests/kernel/run.sh --kernels "$kernels"
	fi
	[ "$kernels" = all ] && kernels="6.1,rt,6.12,5.10,5.10-rt,sid,sid-rt"
	# The end-to-end check of the captures made there (capture_* scenarios):
	# check.sh K picks the newest out/K or out/K-N (another run held out/K).
	for k in ${kernels//,/ }; do
		step "end to end: vmon-analyze on the captures made in the booted $k kernel"
		tests/e2e/check.sh "$k"
	done
	if [ $matrix = 1 ]; then
		mkdir -p "$(dirname "$stamp")" && kernel_hash >"$stamp"
	fi
fi
