#!/usr/bin/env bash
# Installs what building and testing vmon needs on a bare Debian bookworm
# machine (as root), skipping what is already there. The kernel test
# harness (tests/kernel/run.sh) installs QEMU and the kernels itself.
# --build-only: just what building needs (no browser for the report test).
set -euo pipefail

# golang-go: `go tool pprof` reads the --pprof output in analyze/tests/pprof_go.rs
# debuginfod: the elfutils server analyze/tests/debuginfod.rs fetches symbols from
pkgs="gcc g++ make pkg-config libc6-dev chromium golang-go debuginfod"
[ "${1:-}" = --build-only ] && pkgs="gcc g++ make pkg-config libc6-dev"
need_apt=()
for pkg in $pkgs; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing Debian packages: ${need_apt[*]}; run as root or install them" >&2
		exit 1
	fi
	echo "install-deps: installing ${need_apt[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
	echo "install-deps: no Rust toolchain; install rustup (https://rustup.rs) first" >&2
	exit 1
fi
for comp in rustfmt clippy; do
	rustup component list --installed 2>/dev/null | grep -q "^$comp" || rustup component add "$comp"
done
rustup target list --installed 2>/dev/null | grep -q x86_64-unknown-linux-gnu ||
	rustup target add x86_64-unknown-linux-gnu
