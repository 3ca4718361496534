# Shared by run.sh and build-all.sh: package installation and kernel release resolution.
# Sourced, not run. Expects bash with `set -euo pipefail`.

KT_FLAVOURS="6.1 rt 6.12 5.10 5.10-rt sid sid-rt"
KT_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/vmon-kernels

kt_log() { printf '[kernel-tests] %s\n' "$*" >&2; }
kt_die() { printf '[kernel-tests] error: %s\n' "$*" >&2; exit 2; }

kt_pkg_installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# The mirror of the existing bookworm entry, so backports comes from the same archive.
kt_bookworm_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN { RS = ""; FS = "\n" }
		{
			uri = ""; ok = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uri = u[1] }
				if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) ok = 1
			}
			if (ok && uri != "") { print uri; exit }
		}' "$f"
	done
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" && $3 == "bookworm" { print $2 }' || true
}

kt_has_backports() {
	grep -rqsE '(^|[[:space:]])bookworm-backports([[:space:]]|$)' /etc/apt/sources.list /etc/apt/sources.list.d/
}

kt_add_backports() {
	local mirror
	mirror=$(kt_bookworm_mirror | head -n1)
	[ -n "$mirror" ] || kt_die "no bookworm entry in the apt sources; add one for Debian's archive"
	kt_log "adding bookworm-backports from $mirror"
	cat >/etc/apt/sources.list.d/bookworm-backports.sources <<SRC
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}

# The host's Debian release builds 6.1, rt and 6.12. Bullseye's and sid's kernels live
# in a debootstrap chroot of that suite (cached in $KT_CACHE/chroot-<suite>), because
# their headers want the gcc the kernel was built with (gcc-10 for 5.10, gcc-16 for 7.2)
# and the configuration they bake in (CONFIG_CC_HAS_*, flags) fails with another one.
kt_suite() {
	case "$1" in
	5.10|5.10-rt) echo bullseye ;;
	sid|sid-rt) echo sid ;;
	*) echo host ;;
	esac
}

# Prefix of a kernel's files (/boot, /lib/modules, /usr/src): empty for the host's.
kt_root() {
	local s
	s=$(kt_suite "$1")
	[ "$s" = host ] || printf '%s\n' "$KT_CACHE/chroot-$s"
}

# Runs "$2..." chrooted in $1, in a private mount namespace with /proc (objtool and
# dpkg read it) that is gone when the command ends, with a clean environment.
kt_chroot() {
	local root=$1
	shift
	unshare -m -- sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$root" \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive "$@"
}

# Runs "$2..." in kernel $1's build root: directly for the host's kernels, else chrooted.
kt_in_root() {
	local root
	root=$(kt_root "$1")
	shift
	if [ -z "$root" ]; then "$@"; else kt_chroot "$root" "$@"; fi
}

# The compressed kernel image of release $1 under root $2: /boot/vmlinuz-REL, or
# /lib/modules/REL/vmlinuz, where sid's linux-binary-* packages put it.
kt_vmlinuz() {
	if [ -f "${2:-}/boot/vmlinuz-$1" ]; then
		printf '%s\n' "${2:-}/boot/vmlinuz-$1"
	else
		printf '%s\n' "${2:-}/lib/modules/$1/vmlinuz"
	fi
}

# Newest installed release of a flavour that has both an image and a kbuild tree.
kt_release() {
	local re root
	case "$1" in
	6.1) re='^6\.1\.[0-9]+-[0-9]+-amd64$' ;;
	rt) re='^6\.1\.[0-9]+-[0-9]+-rt-amd64$' ;;
	6.12) re='^6\.12\.[0-9]+\+deb12-amd64$' ;;
	5.10) re='^5\.10\.0-[0-9]+-amd64$' ;;
	5.10-rt) re='^5\.10\.0-[0-9]+-rt-amd64$' ;;
	sid) re='^[0-9]+\.[0-9]+\.[0-9]+\+deb[0-9]+-amd64$' ;;
	sid-rt) re='^[0-9]+\.[0-9]+\.[0-9]+\+deb[0-9]+-rt-amd64$' ;;
	*) kt_die "unknown kernel '$1' (known: $KT_FLAVOURS)" ;;
	esac
	root=$(kt_root "$1")
	local r best=""
	for r in $(ls "$root/lib/modules" 2>/dev/null | grep -E "$re" | sort -V); do
		# build is an absolute symlink into /usr/src: check the tree itself.
		[ -f "$(kt_vmlinuz "$r" "$root")" ] && [ -f "$root/lib/modules/$r/modules.dep" ] &&
			[ -f "$root/usr/src/linux-headers-$r/Makefile" ] && best=$r
	done
	printf '%s\n' "$best"
}

# Makes the debootstrap chroot of suite $1 (bullseye, sid) with make, kmod and the
# headers of the flavours $2... (amd64, rt-amd64), then unpacks their images and modules
# into it (not installed: no initramfs is generated, nothing is configured; tar keeps the
# merged-/usr symlinks that dpkg -x would replace by directories) and runs depmod.
# Reuses what is there; takes the Debian mirror of the host's apt sources.
kt_chroot_kernels() {
	local suite=$1 root=$KT_CACHE/chroot-$1 mirror lockfd f rel pkgs p
	shift
	mkdir -p "$KT_CACHE"
	exec {lockfd}>"$KT_CACHE/.lock-chroot-$suite"
	flock "$lockfd"
	if [ ! -f "$root/.vmon-ready" ]; then
		command -v debootstrap >/dev/null ||
			{ apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends debootstrap >&2; }
		mirror=$(kt_bookworm_mirror | head -n1)
		[ -n "$mirror" ] || kt_die "no Debian mirror in the apt sources to debootstrap $suite from"
		kt_log "debootstrap $suite from $mirror into $root (cached)"
		rm -rf "$root.tmp"
		debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
			"$suite" "$root.tmp" "$mirror" >"$KT_CACHE/debootstrap-$suite.log" 2>&1 ||
			kt_die "debootstrap $suite failed ($KT_CACHE/debootstrap-$suite.log)"
		# A registry that serves a snapshot has Release files past their Valid-Until; keep
		# the host's choice about that.
		if apt-config dump 2>/dev/null | grep -q '^Acquire::Check-Valid-Until "false"'; then
			echo 'Acquire::Check-Valid-Until "false";' >"$root.tmp/etc/apt/apt.conf.d/99vmon-valid-until"
		fi
		rm -rf "$root"
		mv "$root.tmp" "$root"
		touch "$root/.vmon-ready"
	fi
	pkgs=(make kmod)
	for f in "$@"; do pkgs+=("linux-headers-$f"); done
	kt_log "$suite chroot: apt-get install ${pkgs[*]}"
	kt_chroot "$root" sh -c \
		'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"' sh "${pkgs[@]}" \
		>"$KT_CACHE/apt-$suite.log" 2>&1 ||
		{ tail -n 20 "$KT_CACHE/apt-$suite.log" >&2; kt_die "apt-get install in the $suite chroot failed"; }
	for f in "$@"; do
		# The release the headers metapackage points at, e.g. 7.2.13+deb14-amd64.
		rel=$(chroot "$root" dpkg-query -W -f='${Depends}' "linux-headers-$f" |
			grep -oE "linux-headers-[0-9][^ ,]*-$f" | head -n1)
		rel=${rel#linux-headers-}
		[ -n "$rel" ] || kt_die "$suite: no release behind linux-headers-$f"
		[ -f "$(kt_vmlinuz "$rel" "$root")" ] && [ -f "$root/lib/modules/$rel/modules.dep" ] && continue
		# bullseye: linux-image-REL holds everything; sid splits it into
		# linux-binary-REL (vmlinuz) and linux-modules-REL.
		pkgs=("linux-image-$rel")
		for p in $(chroot "$root" apt-cache depends "linux-image-$rel" |
			sed -n "s/^ *Depends: \(linux-\(binary\|modules\)-$rel\)\$/\1/p"); do
			pkgs+=("$p")
		done
		kt_log "$suite chroot: unpacking ${pkgs[*]}"
		kt_chroot "$root" sh -c \
			'rm -rf /tmp/vmon-dl && mkdir /tmp/vmon-dl && cd /tmp/vmon-dl && apt-get download -qq "$@" &&
			 for d in *.deb; do dpkg-deb --fsys-tarfile "$d" | tar -x --keep-directory-symlink -C /; done &&
			 rm -rf /tmp/vmon-dl && depmod "$0"' "$rel" "${pkgs[@]}" >>"$KT_CACHE/apt-$suite.log" 2>&1 ||
			{ tail -n 20 "$KT_CACHE/apt-$suite.log" >&2; kt_die "$suite: could not unpack the image of $rel"; }
	done
	exec {lockfd}>&-
}

# Installs only what is missing; does nothing (no apt-get update) when all is present.
# $1: space-separated flavours; $2: 1 when QEMU and the initramfs tools are needed.
kt_install() {
	local flavours=$1 boot=$2 pkgs=() bpo_pkgs=() f need_bpo=0
	if [ "$boot" = 1 ]; then
		# A qemu-utils from bookworm-backports (some images ship one) Breaks
		# bookworm's qemu-system-common: take QEMU from backports then too.
		if ! command -v qemu-system-x86_64 >/dev/null; then
			case "$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null)" in
			*bpo*) bpo_pkgs+=(qemu-system-x86) ;;
			*) pkgs+=(qemu-system-x86) ;;
			esac
		fi
		kt_pkg_installed busybox-static || pkgs+=(busybox-static)
		command -v cpio >/dev/null || pkgs+=(cpio)
		# Modules and vmlinuz come xz- (6.1 image, 6.12 modules) or zstd-compressed (6.12 image).
		command -v xz >/dev/null || pkgs+=(xz-utils)
		command -v zstd >/dev/null || pkgs+=(zstd)
	fi
	command -v gcc >/dev/null || pkgs+=(gcc)
	command -v make >/dev/null || pkgs+=(make)
	if [ "$boot" = 1 ]; then
		# tests/programs: C++ and Go programs, built on the host for the guest.
		command -v g++ >/dev/null || pkgs+=(g++)
		command -v go >/dev/null || pkgs+=(golang-go)
	fi
	local bullseye=() sid=()
	for f in $flavours; do
		[ -n "$(kt_release "$f")" ] && continue
		case "$f" in
		6.1) pkgs+=(linux-image-amd64 linux-headers-amd64) ;;
		rt) pkgs+=(linux-image-rt-amd64 linux-headers-rt-amd64) ;;
		6.12) need_bpo=1 ;;
		5.10) bullseye+=(amd64) ;;
		5.10-rt) bullseye+=(rt-amd64) ;;
		sid) sid+=(amd64) ;;
		sid-rt) sid+=(rt-amd64) ;;
		esac
	done
	if [ ${#bullseye[@]} -gt 0 ] || [ ${#sid[@]} -gt 0 ]; then
		[ "$(id -u)" = 0 ] || kt_die "kernels ${bullseye[*]} ${sid[*]} are missing; run as root to fetch them"
		[ ${#bullseye[@]} -gt 0 ] && kt_chroot_kernels bullseye "${bullseye[@]}"
		[ ${#sid[@]} -gt 0 ] && kt_chroot_kernels sid "${sid[@]}"
	fi
	if [ ${#bpo_pkgs[@]} -gt 0 ]; then
		need_bpo=1
	fi
	if [ ${#pkgs[@]} -eq 0 ] && [ $need_bpo = 0 ]; then
		return 0
	fi
	[ "$(id -u)" = 0 ] || kt_die "missing packages (${pkgs[*]} ${need_bpo:+6.12}); run as root to install them"
	export DEBIAN_FRONTEND=noninteractive
	if [ $need_bpo = 1 ] && ! kt_has_backports; then
		kt_add_backports
	fi
	kt_log "apt-get update"
	apt-get update -qq >&2
	if [ ${#pkgs[@]} -gt 0 ]; then
		kt_log "installing ${pkgs[*]}"
		apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
	fi
	if [ ${#bpo_pkgs[@]} -gt 0 ]; then
		kt_log "installing ${bpo_pkgs[*]} from bookworm-backports (to match qemu-utils)"
		apt-get install -y -qq --no-install-recommends -t bookworm-backports "${bpo_pkgs[@]}" >&2
	fi
	if [[ " $flavours " == *" 6.12 "* ]] && [ -z "$(kt_release 6.12)" ]; then
		local img
		img=$(apt-cache pkgnames linux-image-6.12. |
			grep -E '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' | sort -V | tail -n1)
		[ -n "$img" ] || kt_die "no linux-image-6.12.*+deb12-amd64 in bookworm-backports (apt-cache pkgnames linux-image-6.12.)"
		local hdr=${img/linux-image-/linux-headers-}
		kt_log "installing $img $hdr from bookworm-backports"
		apt-get install -y -qq --no-install-recommends -t bookworm-backports "$img" "$hdr" >&2
	fi
	for f in $flavours; do
		[ -n "$(kt_release "$f")" ] || kt_die "kernel '$f' still not installed after apt-get"
	done
}

# An uncompressed vmlinux with a PVH entry boots ~10 s faster under TCG than the bzImage
# (which decompresses itself in the emulated CPU). Cached per release; prints the path
# of what to pass to -kernel, falling back to the bzImage. $2: kt_root of the kernel.
kt_boot_image() {
	local rel=$1 vmlinuz
	local cache=$KT_CACHE vmlinux off magic dec
	vmlinuz=$(kt_vmlinuz "$1" "${2:-}")
	vmlinux=$cache/vmlinux-$rel
	if [ -s "$vmlinux" ] && [ "$vmlinux" -nt "$vmlinuz" ]; then
		echo "$vmlinux"
		return
	fi
	mkdir -p "$cache"
	for magic in xz zstd; do
		case $magic in
		xz) off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -n1 | cut -d: -f1 || true); dec="xz -dc" ;;
		zstd) off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$vmlinuz" | head -n1 | cut -d: -f1 || true); dec="zstd -qdc" ;;
		esac
		[ -n "$off" ] || continue
		tail -c +$((off + 1)) "$vmlinuz" | $dec >"$vmlinux.tmp" 2>/dev/null || true
		# PVH entry = Xen ELF note type 18 (XEN_ELFNOTE_PHYS32_ENTRY).
		if [ "$(head -c 4 "$vmlinux.tmp" | od -An -c | tr -d ' ')" = '177ELF' ] &&
			readelf -n "$vmlinux.tmp" 2>/dev/null | grep -q 'Unknown note type: (0x00000012)'; then
			mv "$vmlinux.tmp" "$vmlinux"
			echo "$vmlinux"
			return
		fi
	done
	rm -f "$vmlinux.tmp"
	echo "$vmlinuz"
}

# Copies the shared libraries and the dynamic loader that the ELF files $2...
# need into the initramfs tree $1, each at the path ldd resolves it to on this
# host (so the guest maps the very files the host has: same paths, same
# build-ids). Static binaries and non-ELF files are skipped.
kt_copy_libs() {
	local root=$1 f lib
	shift
	for f in "$@"; do
		[ -f "$f" ] && [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
		readelf -l "$f" 2>/dev/null | grep -q 'Requesting program interpreter' || continue
		# "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
		for lib in $(ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root${lib%/*}"
			cp -L "$lib" "$root$lib"
		done
	done
}

# Builds the out-of-tree module in host directory $3 for kernel $1 (release $2):
# `make -C DIR KDIR=/lib/modules/REL/build "$4..."`, in the kernel's build root. For a
# chroot the directory is built in a copy under the chroot's /tmp and the resulting
# *.ko (and conftest.h) copied back. Output goes to stdout/stderr.
kt_make_module() {
	local k=$1 rel=$2 dir=$3 root tmp rc=0
	shift 3
	root=$(kt_root "$k")
	if [ -z "$root" ]; then
		make -C "$dir" KDIR="/lib/modules/$rel/build" "$@"
		return
	fi
	tmp=$(mktemp -d "$root/tmp/vmon-build.XXXXXX")
	cp -a "$dir/." "$tmp/"
	kt_chroot "$root" make -C "/tmp/${tmp##*/}" KDIR="/lib/modules/$rel/build" "$@" || rc=$?
	if [ $rc = 0 ]; then
		cp "$tmp"/*.ko "$dir/" 2>/dev/null || true
		[ -f "$tmp/conftest.h" ] && cp "$tmp/conftest.h" "$dir/"
	fi
	rm -rf "$tmp"
	return $rc
}
