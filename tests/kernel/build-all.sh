#!/usr/bin/env bash
# Compile matrix without booting: builds kmod/ (or the smoke module) with -Werror against
# each kernel's headers. Installs missing kernels/headers like run.sh.
#
#   tests/kernel/build-all.sh [--kernels 6.1|rt|6.12|5.10|5.10-rt|sid|sid-rt|all (comma list)]
#                             [--smoke] [--no-install]
#
# Prints one line per kernel and a closing "N passed, M failed"; exits 1 on any failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/common.sh"

kernels=all
smoke=0
install=1
while [ $# -gt 0 ]; do
	case "$1" in
	--kernels) kernels=${2:?}; shift ;;
	--kernels=*) kernels=${1#*=} ;;
	--smoke) smoke=1 ;;
	--no-install) install=0 ;;
	-h|--help) sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
	*) kt_die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[ "$kernels" = all ] && kernels=$KT_FLAVOURS
kernels=${kernels//,/ }

if [ $smoke = 1 ]; then
	src=$HERE/smoke/module
else
	src=$REPO/kmod
	[ -f "$src/Makefile" ] || kt_die "kmod/Makefile does not exist yet (try --smoke)"
fi
[ $install = 1 ] && kt_install "$kernels" 0

work=$(mktemp -d /tmp/vmon-build-all.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for k in $kernels; do
	rel=$(kt_release "$k")
	[ -n "$rel" ] || kt_die "kernel '$k' is not installed (run without --no-install)"
	mkdir -p "$work/$k"
	# A private copy per kernel: objects and probe results are per kernel.
	(cd "$src" && tar --exclude=./rust --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' -cf - .) |
		tar -C "$work/$k" -xf -
	t0=$SECONDS
	if kt_make_module "$k" "$rel" "$work/$k" KCFLAGS=-Werror >"$work/$k.log" 2>&1; then
		passed=$((passed + 1))
		echo "ok   $k ($rel) in $((SECONDS - t0))s"
	else
		failed=$((failed + 1))
		echo "FAIL $k ($rel):"
		grep -E 'error|warning' "$work/$k.log" | head -n 40 || tail -n 40 "$work/$k.log"
	fi
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
