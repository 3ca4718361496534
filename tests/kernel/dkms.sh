#!/usr/bin/env bash
# DKMS packaging check: `dkms add`, `dkms build`, `dkms install` and `dkms remove` of
# kmod/ (as /usr/src/variable_monitor-<version>, the way kmod/README.md says to install
# it) against each kernel, in that kernel's build root (the bullseye or sid chroot for
# 5.10, 5.10-rt, sid, sid-rt; the host for 6.1, rt, 6.12), with that suite's own dkms.
# Installs dkms and the kernels when missing, like run.sh.
#
#   tests/kernel/dkms.sh [--kernels LIST (default 5.10,sid: the oldest and the newest)] [--no-install]
#
# Prints one line per kernel and a closing "N passed, M failed"; exits 1 on any failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/common.sh"

kernels=5.10,sid
install=1
while [ $# -gt 0 ]; do
	case "$1" in
	--kernels) kernels=${2:?}; shift ;;
	--kernels=*) kernels=${1#*=} ;;
	--no-install) install=0 ;;
	-h|--help) sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
	*) kt_die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[ "$kernels" = all ] && kernels=$KT_FLAVOURS
kernels=${kernels//,/ }
[ "$(id -u)" = 0 ] || kt_die "run as root (dkms installs into /lib/modules)"
[ $install = 1 ] && kt_install "$kernels" 0

name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' "$REPO/kmod/dkms.conf")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$REPO/kmod/dkms.conf")
[ -n "$name" ] && [ -n "$version" ] || kt_die "kmod/dkms.conf lacks PACKAGE_NAME or PACKAGE_VERSION"

passed=0
failed=0
for k in $kernels; do
	rel=$(kt_release "$k")
	[ -n "$rel" ] || kt_die "kernel '$k' is not installed (run without --no-install)"
	root=$(kt_root "$k")
	if ! kt_in_root "$k" sh -c 'command -v dkms' >/dev/null; then
		[ $install = 1 ] || kt_die "dkms is missing in the build root of $k"
		kt_log "$k: installing dkms"
		kt_in_root "$k" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends dkms' >"${TMPDIR:-/tmp}/vmon-dkms-install.log" 2>&1 ||
			{ cat "${TMPDIR:-/tmp}/vmon-dkms-install.log" >&2; kt_die "could not install dkms for $k"; }
	fi
	src=$root/usr/src/$name-$version
	t0=$SECONDS
	log=$(mktemp "${TMPDIR:-/tmp}/vmon-dkms-$k.XXXXXX")
	# A stale registration from an interrupted run would make `dkms add` fail.
	kt_in_root "$k" dkms remove "$name/$version" --all >/dev/null 2>&1 || true
	rm -rf "$src"
	mkdir -p "$src"
	(cd "$REPO/kmod" && tar --exclude=./rust --exclude=./tests --exclude='*.o' --exclude='*.ko' \
		--exclude='.*.cmd' --exclude=conftest.h -cf - .) | tar -C "$src" -xf -
	# The module lands in /lib/modules/REL/updates/dkms/ (DEST_MODULE_LOCATION),
	# compressed as the distro's dkms chooses.
	if kt_in_root "$k" sh -ec '
		dkms add "$1/$2"
		dkms build "$1/$2" -k "$3"
		dkms install "$1/$2" -k "$3"
		ls /lib/modules/"$3"/updates/dkms/"$1".ko* >/dev/null
		modinfo -F vermagic /lib/modules/"$3"/updates/dkms/"$1".ko* | grep -q "^$3 "
		dkms status "$1/$2" | grep -q installed
		dkms remove "$1/$2" --all
		! ls /lib/modules/"$3"/updates/dkms/"$1".ko* 2>/dev/null
		! dkms status "$1/$2" | grep -q .
	' sh "$name" "$version" "$rel" >"$log" 2>&1; then
		passed=$((passed + 1))
		echo "ok   $k ($rel): dkms add, build, install (vermagic $rel), remove in $((SECONDS - t0))s"
	else
		failed=$((failed + 1))
		echo "FAIL $k ($rel): dkms (log below)"
		tail -n 40 "$log"
	fi
	rm -f "$log"
	rm -rf "$src"
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
