#!/usr/bin/env bash
# Installs what building and testing vmon needs on a bare Debian bookworm
# machine (as root), skipping what is already there. The kernel test
# harness (tests/kernel/run.sh) installs QEMU and the kernels itself.
# --build-only: just what building needs (no browser for the report test).
set -euo pipefail

# golang-go: `go tool pprof` reads the --pprof output in analyze/tests/pprof_go.rs
# chromium: the report (report_browser.rs) and speedscope (speedscope_browser.rs) tests
# debuginfod: the elfutils server analyze/tests/debuginfod.rs fetches symbols from
pkgs="gcc g++ make pkg-config libc6-dev chromium golang-go debuginfod"
[ "${1:-}" = --build-only ] && pkgs="gcc g++ make pkg-config libc6-dev"
need_apt=()
for pkg in $pkgs; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need_apt+=("$pkg")
done
if [ "${1:-}" != --build-only ]; then
	# nodejs/npm: installs the speedscope viewer that analyze/tests/speedscope_browser.rs
	# loads in Chromium (any nodejs with npm will do: Debian's, or one already there)
	command -v npm >/dev/null || need_apt+=(nodejs npm)
	# jsonschema: the same test validates --speedscope against speedscope's schema
	{ command -v python3 >/dev/null && python3 -c 'import jsonschema' 2>/dev/null; } ||
		need_apt+=(python3 python3-jsonschema)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing Debian packages: ${need_apt[*]}; run as root or install them" >&2
		exit 1
	fi
	echo "install-deps: installing ${need_apt[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ "${1:-}" != --build-only ]; then
	# The speedscope viewer (npm), where analyze/tests/speedscope_browser.rs looks for it.
	ss="${HOME:-/root}/.cache/vmon-speedscope"
	if [ ! -f "$ss/node_modules/speedscope/dist/release/index.html" ]; then
		echo "install-deps: installing speedscope@1.25.0 (npm) into $ss"
		npm install --no-audit --no-fund --silent --prefix "$ss" speedscope@1.25.0 >/dev/null
	fi
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
