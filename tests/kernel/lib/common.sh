# Shared by run.sh and build-all.sh: package installation and kernel release resolution.
# Sourced, not run. Expects bash with `set -euo pipefail`.

KT_FLAVOURS="6.1 rt 6.12"

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

# Newest installed release of a flavour that has both an image and a kbuild tree.
kt_release() {
	local re
	case "$1" in
	6.1) re='^6\.1\.[0-9]+-[0-9]+-amd64$' ;;
	rt) re='^6\.1\.[0-9]+-[0-9]+-rt-amd64$' ;;
	6.12) re='^6\.12\.[0-9]+\+deb12-amd64$' ;;
	*) kt_die "unknown kernel '$1' (known: $KT_FLAVOURS)" ;;
	esac
	local r best=""
	for r in $(ls /lib/modules 2>/dev/null | grep -E "$re" | sort -V); do
		[ -f "/boot/vmlinuz-$r" ] && [ -d "/lib/modules/$r/build" ] && best=$r
	done
	printf '%s\n' "$best"
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
	for f in $flavours; do
		[ -n "$(kt_release "$f")" ] && continue
		case "$f" in
		6.1) pkgs+=(linux-image-amd64 linux-headers-amd64) ;;
		rt) pkgs+=(linux-image-rt-amd64 linux-headers-rt-amd64) ;;
		6.12) need_bpo=1 ;;
		esac
	done
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
# of what to pass to -kernel, falling back to the bzImage.
kt_boot_image() {
	local rel=$1 vmlinuz=/boot/vmlinuz-$1
	local cache=${XDG_CACHE_HOME:-$HOME/.cache}/vmon-kernels vmlinux off magic dec
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
