#!/usr/bin/env bash
# Issue 11 (L12): -Werror is for builds from a checkout, never for DKMS.
# For each kernel, a copy of kmod/ with one injected warning (an unused
# static variable) must fail with the Makefile's default (VMON_WERROR=y)
# and build with the command dkms.conf runs (MAKE[0], VMON_WERROR=n).
#
#   tests/kernel/werror-check.sh [--kernels 6.1|rt|6.12|all (comma list)]
#
# Prints one line per kernel and "N passed, M failed"; exits 1 on a failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/common.sh"

kernels=6.1
while [ $# -gt 0 ]; do
	case "$1" in
	--kernels) kernels=${2:?}; shift ;;
	--kernels=*) kernels=${1#*=} ;;
	-h|--help) sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
	*) kt_die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[ "$kernels" = all ] && kernels=$KT_FLAVOURS
kernels=${kernels//,/ }

# the build command of dkms.conf, with DKMS's variable filled in
dkms_make=$(sed -n 's/^MAKE\[0\]="\(.*\)"$/\1/p' "$REPO/kmod/dkms.conf")
[[ $dkms_make == *VMON_WERROR=n* ]] || kt_die "dkms.conf's MAKE[0] does not turn -Werror off: $dkms_make"

work=$(mktemp -d /tmp/vmon-werror.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for k in $kernels; do
	rel=$(kt_release "$k")
	[ -n "$rel" ] || kt_die "kernel '$k' is not installed (tests/kernel/build-all.sh --kernels $k installs it)"
	ok=1
	for how in default dkms; do
		d=$work/$k-$how
		mkdir -p "$d"
		(cd "$REPO/kmod" && tar --exclude=./rust --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' -cf - .) |
			tar -C "$d" -xf -
		echo 'static int vmon_injected_warning;' >> "$d/vmon_ksym.c"
		if [ $how = default ]; then
			cmd="make KDIR=/lib/modules/$rel/build"
		else
			cmd=${dkms_make//\$\{kernel_source_dir\}//lib/modules/$rel/build}
		fi
		if (cd "$d" && $cmd) > "$d.log" 2>&1; then r=built; else r=failed; fi
		grep -q 'vmon_injected_warning' "$d.log" || { r="$r (warning not seen)"; ok=0; }
		echo "  $k $how: $cmd -> $r"
		case $how:$r in default:failed|dkms:built) ;; *) ok=0 ;; esac
	done
	if [ $ok = 1 ]; then passed=$((passed + 1)); echo "ok   $k ($rel)"; else failed=$((failed + 1)); echo "FAIL $k ($rel)"; fi
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
