#!/usr/bin/env bash
# Proves the kernel module in booted Debian kernels: installs what is missing, builds the
# module and the test programs for each kernel, boots the kernel under QEMU TCG with an
# initramfs holding them and the scenarios, and reports one result per scenario.
#
#   tests/kernel/run.sh [--kernels 6.1|rt|6.12|5.10|5.10-rt|sid|sid-rt|all (comma list)]
#                       [--scenario GLOB[,GLOB]]
#                       [--smoke] [--scenario-dir DIR] [--rust CRATE[,CRATE]]
#                       [--env NAME=VALUE]... [--timeout SECS] [--bzimage] [--no-install]
#                       [--keep] [--verbose]
#
# Exit status: 0 when every scenario passed (or skipped) and every QEMU run finished,
# 1 when something failed, 2 on a usage or setup error. tests/kernel/README.md has details.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/common.sh"

usage() {
	sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

kernels="6.1"
scenario_globs="*"
smoke=0
keep=0
install=1
verbose=0
rust_list=""
scenario_dir_opt=""
guest_env=()
bzimage=0
default_timeout=300
while [ $# -gt 0 ]; do
	case "$1" in
	--kernels) kernels=${2:?}; shift ;;
	--kernels=*) kernels=${1#*=} ;;
	--scenario) scenario_globs=${2:?}; shift ;;
	--scenario=*) scenario_globs=${1#*=} ;;
	--scenario-dir) scenario_dir_opt=${2:?}; shift ;;
	--scenario-dir=*) scenario_dir_opt=${1#*=} ;;
	--env) guest_env+=("${2:?}"); shift ;;
	--env=*) guest_env+=("${1#*=}") ;;
	--rust) rust_list=${2:?}; shift ;;
	--rust=*) rust_list=${1#*=} ;;
	--timeout) default_timeout=${2:?}; shift ;;
	--timeout=*) default_timeout=${1#*=} ;;
	--smoke) smoke=1 ;;
	--bzimage) bzimage=1 ;;
	--keep) keep=1 ;;
	--no-install) install=0 ;;
	--verbose|-v) verbose=1 ;;
	-h|--help) usage ;;
	*) echo "unknown argument '$1'" >&2; usage ;;
	esac
	shift
done
[[ $default_timeout =~ ^[0-9]+$ ]] || kt_die "--timeout wants seconds, got '$default_timeout'"
for e in "${guest_env[@]}"; do
	[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*=[^\']*$ ]] || kt_die "--env wants NAME=VALUE without quotes, got '$e'"
done
[ "$kernels" = all ] && kernels=$KT_FLAVOURS
kernels=${kernels//,/ }
for k in $kernels; do
	case " $KT_FLAVOURS " in *" $k "*) ;; *) kt_die "unknown kernel '$k' (known: $KT_FLAVOURS, all)" ;; esac
done

if [ $smoke = 1 ]; then
	scenario_dir=$HERE/smoke/scenarios
else
	scenario_dir=$HERE/scenarios
fi
[ -n "$scenario_dir_opt" ] && scenario_dir=$(cd "$scenario_dir_opt" && pwd)

# --- scenarios --------------------------------------------------------------------------
scenarios=()
for f in "$scenario_dir"/*.sh; do
	[ -f "$f" ] || continue
	name=$(basename "$f" .sh)
	IFS=, read -ra globs <<<"$scenario_globs"
	for g in "${globs[@]}"; do
		# shellcheck disable=SC2053 # glob match is the point
		if [[ $name == $g ]]; then
			scenarios+=("$name")
			break
		fi
	done
done
[ ${#scenarios[@]} -gt 0 ] || kt_die "no scenario in $scenario_dir matches '$scenario_globs'"

header() { sed -n "s/^# *vmon-$2: *//p" "$scenario_dir/$1.sh" | head -n1; }

# Rust binaries the selected scenarios ask for ("# vmon-rust: crate ...") plus --rust.
rust_crates=" ${rust_list//,/ } "
for s in "${scenarios[@]}"; do
	for c in $(header "$s" rust); do
		[[ $rust_crates == *" $c "* ]] || rust_crates+="$c "
	done
done

t_install=$SECONDS
[ $install = 1 ] && kt_install "$kernels" 1
if [ -n "${rust_crates// /}" ] && ! command -v jq >/dev/null; then
	[ $install = 1 ] || kt_die "jq is missing (needed to find the Rust binaries)"
	apt-get update -qq >&2 && apt-get install -y -qq jq >&2
fi
t_install=$((SECONDS - t_install))

work=$(mktemp -d /tmp/vmon-kernel-tests.XXXXXX)
cleanup() {
	if [ $keep = 1 ]; then
		kt_log "kept the work tree in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# --- host-side builds shared by all kernels ----------------------------------------------
gcc -static -O2 -Wall -Wextra -Werror -o "$work/runas" "$HERE/lib/runas.c"

# tests/programs: dynamically linked programs (C, C++, Rust, Go) for the user-stack
# scenarios; they run in the guest with the host's libraries (kt_copy_libs).
programs=()
if [ $smoke = 0 ] && [ -f "$REPO/tests/programs/Makefile" ]; then
	export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vmon-target}
	make -C "$REPO/tests/programs" OUT="$work/programs" >"$work/programs.log" 2>&1 || {
		cat "$work/programs.log" >&2
		kt_die "tests/programs does not build (make -C tests/programs OUT=DIR)"
	}
	programs=("$work"/programs/*)
fi

# Host programs the selected scenarios ask for ("# vmon-host-bin: NAME ..."), copied into
# the guest's /usr/bin with their libraries; linux-perf is installed for perf.
host_bins=()
for s in "${scenarios[@]}"; do
	for b in $(header "$s" host-bin); do
		if [ "$b" = perf ] && ! kt_pkg_installed linux-perf; then
			[ $install = 1 ] || kt_die "linux-perf is missing (needed by $s)"
			apt-get install -y -qq --no-install-recommends linux-perf >&2
		fi
		p=$(command -v "$b") || kt_die "$s wants host program '$b', which is not installed"
		host_bins+=("$(readlink -f "$p")")
	done
done

rust_bins=()
t_rust=$SECONDS
for c in $rust_crates; do
	if ! (cd "$REPO" && cargo metadata --no-deps --format-version 1) |
		jq -e --arg c "$c" '.packages[] | select(.name == $c) | .targets[] | select(.kind[] == "bin")' >/dev/null; then
		kt_log "warning: crate '$c' has no binary target yet; scenarios will not find it in \$VMON_BIN"
		continue
	fi
	kt_log "building static $c"
	export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vmon-target}
	(cd "$REPO" && RUSTFLAGS="-C target-feature=+crt-static" \
		cargo build --release --target x86_64-unknown-linux-gnu -p "$c" >&2) ||
		kt_die "static build of $c failed"
	for b in $(cd "$REPO" && cargo metadata --no-deps --format-version 1 |
		jq -r --arg c "$c" '.packages[] | select(.name == $c) | .targets[] | select(.kind[] == "bin") | .name'); do
		rust_bins+=("$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/$b")
	done
done
t_rust=$((SECONDS - t_rust))

# --- per kernel ----------------------------------------------------------------------------

# Modules (name without .ko) needed for $2... on release $1 (under $kroot), dependencies first.
module_closure() {
	local rel=$1 dir=$kroot/lib/modules/$1
	shift
	awk -v roots="$*" '
	function base(p) { sub(/.*\//, "", p); sub(/\.ko(\.(xz|zst|gz))?$/, "", p); gsub(/-/, "_", p); return p }
	function visit(m,   i, n, d) {
		if (m in seen) return
		seen[m] = 1
		if (!(m in deps)) {
			if (!(m in builtin)) { print "missing " m; bad = 1 }
			return
		}
		n = split(deps[m], d, " ")
		for (i = 1; i <= n; i++) visit(d[i])
		print m " " path[m]
	}
	FILENAME ~ /modules\.builtin$/ { builtin[base($1)] = 1; next }
	{
		sub(/:/, "", $1); m = base($1); path[m] = $1; deps[m] = ""
		for (i = 2; i <= NF; i++) deps[m] = deps[m] " " base($i)
	}
	END {
		n = split(roots, r, " ")
		for (i = 1; i <= n; i++) visit(r[i])
		exit bad
	}' "$dir/modules.builtin" "$dir/modules.dep"
}

# Builds everything for one kernel into $kw/root and packs $kw/initrd.gz.
prepare_kernel() {
	local k=$1 rel=$2 kw=$3 root=$3/root
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home/vmon,out,vmon/bin,vmon/scenarios,vmon/modules}

	local ko
	if [ $smoke = 1 ]; then
		cp -a "$HERE/smoke/module" "$kw/module"
		kt_make_module "$k" "$rel" "$kw/module" -s >"$kw/build.log" 2>&1 || {
			cat "$kw/build.log" >&2
			kt_die "the smoke module does not build against $rel"
		}
		ko=$kw/module/vmon_smoke.ko
	else
		[ -f "$REPO/kmod/Makefile" ] || kt_die "kmod/Makefile does not exist yet; nothing to test (try --smoke)"
		# A private copy: other builds may be running in kmod/ and objects are per kernel.
		mkdir -p "$kw/kmod"
		(cd "$REPO/kmod" && tar --exclude=./rust --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' -cf - .) |
			tar -C "$kw/kmod" -xf -
		kt_make_module "$k" "$rel" "$kw/kmod" >"$kw/build.log" 2>&1 || {
			cat "$kw/build.log" >&2
			kt_die "kmod does not build against $rel (make -C kmod KDIR=/lib/modules/$rel/build)"
		}
		ko=$kw/kmod/variable_monitor.ko
		[ -f "$ko" ] || kt_die "kmod built but produced no variable_monitor.ko"
		if [ -f "$kw/kmod/tests/Makefile" ]; then
			make -C "$kw/kmod/tests" OUT="$root/vmon/bin" >>"$kw/build.log" 2>&1 || {
				cat "$kw/build.log" >&2
				kt_die "kmod/tests does not build (make -C kmod/tests OUT=DIR)"
			}
		fi
	fi
	cp "$ko" "$root/vmon/"
	echo "VMON_KO_NAME=$(basename "$ko")" >"$root/vmon/config.ko"

	cp "$work/runas" "$root/vmon/bin/"
	local b
	for b in "${rust_bins[@]}"; do cp "$b" "$root/vmon/bin/"; done
	for b in "${programs[@]}"; do cp "$b" "$root/vmon/bin/"; done
	for b in "${host_bins[@]}"; do cp "$b" "$root/usr/bin/"; done
	kt_copy_libs "$root" "$root"/vmon/bin/* "${host_bins[@]}"

	cp /bin/busybox "$root/bin/busybox"
	local applet
	for applet in $(/bin/busybox --list-full); do
		[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
	done

	local line name path
	: >"$root/vmon/modules/order"
	module_closure "$rel" virtio_pci 9pnet_virtio 9p >"$kw/modules.txt" ||
		kt_die "$rel lacks modules for the 9p share: $(grep missing "$kw/modules.txt" | tr '\n' ' ')"
	while read -r name path; do
		case "$path" in
		*.ko.xz) xz -dc "$kroot/lib/modules/$rel/$path" ;;
		*.ko.zst) zstd -qdc "$kroot/lib/modules/$rel/$path" ;;
		*.ko.gz) gzip -dc "$kroot/lib/modules/$rel/$path" ;;
		*) cat "$kroot/lib/modules/$rel/$path" ;;
		esac >"$root/vmon/modules/$name.ko"
		echo "$name" >>"$root/vmon/modules/order"
	done <"$kw/modules.txt"

	# Kernel modules scenarios ask for ("# vmon-kmods: loop ext4"): copied with
	# their dependencies to /vmon/kmods/, in load order in /vmon/kmods/order,
	# for the scenario to insmod (builtins are simply absent).
	local s m want=""
	for s in "${scenarios[@]}"; do
		# A module the kernel does not have at all (7.2 made crc32c a library:
		# no crc32c_generic) is left out; the scenario sees it absent like a builtin.
		for m in $(header "$s" kmods); do
			if grep -qE "(^|/)${m//_/[-_]}\.ko(\.(xz|zst|gz))?:" "$kroot/lib/modules/$rel/modules.dep" ||
				grep -qE "(^|/)${m//_/[-_]}\.ko\$" "$kroot/lib/modules/$rel/modules.builtin"; then
				want+=" $m"
			else
				kt_log "$k: $rel has no module $m ($s asks for it); not copied"
			fi
		done
	done
	mkdir -p "$root/vmon/kmods"
	: >"$root/vmon/kmods/order"
	if [ -n "${want// /}" ]; then
		module_closure "$rel" $want >"$kw/kmods.txt" ||
			kt_die "$rel lacks modules scenarios ask for: $(grep missing "$kw/kmods.txt" | tr '\n' ' ')"
		while read -r name path; do
			case "$path" in
			*.ko.xz) xz -dc "$kroot/lib/modules/$rel/$path" ;;
			*.ko.zst) zstd -qdc "$kroot/lib/modules/$rel/$path" ;;
			*.ko.gz) gzip -dc "$kroot/lib/modules/$rel/$path" ;;
			*) cat "$kroot/lib/modules/$rel/$path" ;;
			esac >"$root/vmon/kmods/$name.ko"
			echo "$name" >>"$root/vmon/kmods/order"
		done <"$kw/kmods.txt"
	fi

	for s in "${scenarios[@]}"; do cp "$scenario_dir/$s.sh" "$root/vmon/scenarios/"; done
	install -m 0755 "$HERE/lib/init.sh" "$root/init"
	{
		echo "VMON_KERNEL=$k"
		echo "VMON_TIMEOUT=$default_timeout"
		cat "$root/vmon/config.ko"
		for e in "${guest_env[@]}"; do echo "export ${e%%=*}='${e#*=}'"; done
	} >"$root/vmon/config"
	rm "$root/vmon/config.ko"
	cat >"$root/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
vmon:x:1000:1000:unprivileged test user:/home/vmon:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
	cat >"$root/etc/group" <<'GR'
root:x:0:
vmon:x:1000:
nogroup:x:65534:
GR
	chown 1000:1000 "$root/home/vmon"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$kw/initrd.gz"
}

# Prints "<name> <verdict> <detail>" per scenario for one kernel, from results.txt or,
# when the guest died, from the console.
collect() {
	local out=$1 log=$2 s line last
	# The guest may die between scenarios too (a stale timer after rmmod): name the last one.
	last=$(tr -d '\r' <"$log" | sed -n 's/.*VMON-SCENARIO \([^ ]*\) .*/\1/p' | tail -n1)
	for s in "${scenarios[@]}"; do
		line=$(grep -E "^$s (PASS|FAIL|TIMEOUT|SKIP) " "$out/results.txt" 2>/dev/null | tail -n1 || true)
		if [ -z "$line" ]; then
			line=$(tr -d '\r' <"$log" | sed -n "s/^VMON-SCENARIO \($s \(PASS\|FAIL\|TIMEOUT\|SKIP\)\) (\(.*\))\$/\1 \3/p" | tail -n1)
		fi
		if [ -z "$line" ]; then
			if tr -d '\r' <"$log" | grep -q "VMON-BEGIN $s "; then
				line="$s CRASH the guest died while it ran (see console.log)"
			else
				if [ -n "$last" ]; then
					line="$s CRASH never started: the guest died after $last had finished (see console.log)"
				else
					line="$s CRASH never started: the guest died before the first scenario (see console.log)"
				fi
			fi
		fi
		echo "$line"
	done
}

passed=0
failed=0
skipped=0
summary=()
timings=()
for k in $kernels; do
	rel=$(kt_release "$k")
	[ -n "$rel" ] || kt_die "kernel '$k' is not installed (run without --no-install)"
	kroot=$(kt_root "$k")
	kw=$work/$k
	if [ $smoke = 1 ]; then out=$HERE/out/smoke/$k; else out=$HERE/out/$k; fi
	# Another run of this kernel owns $out: use $out-2, $out-3, ... rather than wait.
	mkdir -p "${out%/*}"
	base=$out
	for n in 1 2 3 4 5 6 7 8 9; do
		[ $n = 1 ] || out=$base-$n
		exec {lockfd}>"${out%/*}/.lock-${out##*/}"
		flock -n "$lockfd" && break
		exec {lockfd}>&-
		[ $n = 9 ] && kt_die "nine runs of $k at once; not starting a tenth"
	done
	[ "$out" = "$base" ] || kt_log "$k: $base is in use by another run; this one writes to $out"
	rm -rf "$out"
	mkdir -p "$kw" "$out"
	kt_log "$k: $rel: building"
	t0=$SECONDS
	prepare_kernel "$k" "$rel" "$kw"
	t_build=$((SECONDS - t0))

	limit=120
	for s in "${scenarios[@]}"; do
		st=$(header "$s" timeout)
		[[ $st =~ ^[0-9]+$ ]] || st=$default_timeout
		limit=$((limit + st + 30))
	done
	if [ $bzimage = 1 ]; then image=$(kt_vmlinuz "$rel" "$kroot"); else image=$(kt_boot_image "$rel" "$kroot"); fi
	kt_log "$k: booting ${#scenarios[@]} scenario(s) under QEMU TCG (limit ${limit}s)"
	t0=$SECONDS
	set +e
	timeout -k 10 "$limit" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 \
		-nographic -no-reboot -nic none \
		-kernel "$image" -initrd "$kw/initrd.gz" \
		-append "console=ttyS0 quiet panic=-1 log_buf_len=8M hugepages=16 transparent_hugepage=always" \
		-virtfs "local,path=$out,mount_tag=vmonout,security_model=none,id=vmonout" \
		</dev/null 2>&1 | tee "$out/console.log" |
		if [ $verbose = 1 ]; then cat; else
			tr -d '\r' | grep --line-buffered -E 'VMON-(SCENARIO|HARNESS|SPLAT)|Kernel panic' | sed -u "s/^/  $k: /"
		fi
	qrc=${PIPESTATUS[0]}
	set -e
	t_qemu=$((SECONDS - t0))
	boot=$(tr -d '\r' <"$out/console.log" | sed -n 's/.*VMON-HARNESS booted .* in \([0-9.]*\)s$/\1/p' | head -n1)

	done_ok=0
	tr -d '\r' <"$out/console.log" | grep -q 'VMON-DONE' && done_ok=1

	while read -r name verdict detail; do
		expect=PASS
		[ $smoke = 1 ] && expect=$(header "$name" expect) && expect=${expect:-PASS}
		if [ "$verdict" = SKIP ] && [ "$expect" = PASS ]; then
			skipped=$((skipped + 1))
			res="skip"
		elif [ "$verdict" = "$expect" ]; then
			passed=$((passed + 1))
			res="ok  "
		else
			failed=$((failed + 1))
			res="FAIL"
		fi
		[ "$expect" = PASS ] && exp="" || exp=" (expected $expect)"
		summary+=("$res $k/$name: $verdict$exp $detail")
	done < <(collect "$out" "$out/console.log")

	# The smoke self-test proves the 9p share end to end from the host side too.
	if [ $smoke = 1 ] && [[ " ${scenarios[*]} " == *" smoke-2-basic "* ]]; then
		if [ "$(cat "$out/smoke-2-basic/artifact.txt" 2>/dev/null)" = "vmon-smoke $rel" ] &&
			[ "$(cat "$out/smoke-2-basic/user.txt" 2>/dev/null)" = unprivileged ]; then
			passed=$((passed + 1))
			summary+=("ok   $k/9p-artifacts: written in the guest, read on the host")
		else
			failed=$((failed + 1))
			summary+=("FAIL $k/9p-artifacts: $out/smoke-2-basic/{artifact,user}.txt missing or wrong")
		fi
	fi

	# A self-test that panics on purpose ends QEMU early; anything else must reach the end.
	expected_crash=0
	if [ $smoke = 1 ]; then
		for s in "${scenarios[@]}"; do
			[ "$(header "$s" expect)" = CRASH ] && expected_crash=1
		done
	fi
	if [ $qrc = 124 ] || [ $qrc = 137 ]; then
		failed=$((failed + 1))
		summary+=("FAIL $k: QEMU did not finish within ${limit}s (console.log)")
	elif [ $done_ok = 0 ] && [ $expected_crash = 0 ]; then
		failed=$((failed + 1))
		summary+=("FAIL $k: the guest did not finish its scenarios (QEMU exit $qrc; console.log)")
	elif [ ! -f "$out/results.txt" ] && [ $expected_crash = 0 ]; then
		failed=$((failed + 1))
		summary+=("FAIL $k: the 9p share did not work (console.log)")
	fi
	if [ $done_ok = 0 ]; then
		echo "--- $k: last console lines ($out/console.log) ---"
		tr -d '\r' <"$out/console.log" | tail -n 25
	fi
	timings+=("$k ($rel): build ${t_build}s, boot ${boot:-?}s, qemu total ${t_qemu}s")
	exec {lockfd}>&-
done

echo "--- kernel tests ---"
printf '%s\n' "${summary[@]}"
echo "timings: install ${t_install}s, rust ${t_rust}s"
printf '  %s\n' "${timings[@]}"
echo "artifacts: ${out%/*}/<kernel>/ (console.log, dmesg.txt, results.txt, <scenario>/)"
if [ $skipped -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ $failed = 0 ]
