#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# testvm/prepare.sh - install and cache what the emulated VT-x test machine needs.
#
# Usage: testvm/prepare.sh            (as root on Debian 12; idempotent)
#
# Environment:
#   TESTVM_KERNEL   kernel series booted in the VM: 6.1 (default, the ABI that
#                   linux-image-amd64 depends on) or 6.12 (the newest
#                   linux-image-6.12.*+deb12-amd64 with headers available).
#   TESTVM_BUILD    cache directory (default: <repo>/build).
#   TESTVM_APT_UPDATED=1  the apt lists are fresh: never run apt-get update.
#
# What it does (each step is skipped when its result is already there):
#   - installs the host packages (Bochs with the term display, busybox-static,
#     cpio, ISO tools, gcc, make, python3, e2fsprogs and kmod for the Linux
#     guest's disk and modules), running `apt-get update` first
#     only when something must be installed;
#   - reads the kernel ABI from the apt lists (never hard-coded), installs
#     linux-headers-<abi> (kbuild tree in /usr/src/linux-headers-<abi>); for
#     6.12, whose headers package depends on its image, the headers are
#     unpacked into build/testvm/<abi>-headers/ instead;
#   - `apt-get download`s linux-image-<abi> into build/testvm/debs/ and
#     unpacks it with `dpkg -x` into build/testvm/<abi>/ (nothing goes to /boot);
#   - extracts kselftest_harness.h, kselftest.h, lib.mk and checkpatch.pl
#     (+ spelling.txt, const_structs.checkpatch) from linux-source-6.1 into
#     build/ksft/ (use -I build/ksft; checkpatch at build/ksft/scripts/);
#   - extracts the kselftest build files (tools/testing/selftests/Makefile,
#     lib.mk, kselftest/, the harness, scripts/subarch.include) of
#     linux-source-6.1 into build/ksft-tree/, a kernel tree just big enough
#     for `make -C tools/testing/selftests TARGETS=shadowvm`;
#   - installs dkms (check.sh runs `dkms build` for both kernel series);
#   - writes build/testvm/env-<series>.sh (TESTVM_ABI, TESTVM_KDIR,
#     TESTVM_VMLINUZ, TESTVM_MODDIR, KSFT_DIR, ...) for the other testvm
#     scripts to source, and a copy as build/testvm/env.sh (the last one).
#
# A .deb already present in build/testvm/debs/ is used instead of downloading.
# Never loads anything into the host kernel.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${TESTVM_BUILD:-$TOP/build}
TV=$BUILD/testvm
DEBS=$TV/debs
KSFT=$BUILD/ksft
KSFT_TREE=$BUILD/ksft-tree
SERIES=${TESTVM_KERNEL:-6.1}

HOST_PKGS=(bochs bochsbios vgabios bochs-term busybox-static cpio gzip
	   xz-utils isolinux syslinux-common xorriso gcc make libc6-dev
	   python3 lz4 zstd procps dkms e2fsprogs kmod)

msg() { echo "prepare: $*"; }
die() { echo "prepare: error: $*" >&2; exit 1; }

case $SERIES in
6.1|6.12) ;;
*) die "TESTVM_KERNEL=$SERIES is not supported (use 6.1 or 6.12)" ;;
esac

mkdir -p "$DEBS" "$KSFT"
# One prepare at a time per build directory (parallel `make check`s).
exec 9>"$TV/.lock"
flock 9

export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=${TESTVM_APT_UPDATED:-0}

apt_update() {
	[ "$APT_UPDATED" = 1 ] && return 0
	[ "$(id -u)" = 0 ] || die "apt-get update needs root"
	msg "apt-get update"
	apt-get update -q || die "apt-get update failed"
	APT_UPDATED=1
}

# Print the packages of "$@" that are not installed.
missing_pkgs() {
	local p

	for p in "$@"; do
		dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null |
			grep -qx installed || echo "$p"
	done
}

install_pkgs() {
	local missing

	missing=$(missing_pkgs "$@" | tr '\n' ' ')
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] ||
		die "missing packages: $missing(run this script as root)"
	apt_update
	msg "installing: $missing"
	# shellcheck disable=SC2086 # a list of package names
	apt-get install -y -q --no-install-recommends $missing ||
		die "apt-get install $missing failed"
}

# Print the kernel ABI of $SERIES from the local apt lists, or nothing.
resolve_abi() {
	local abi

	case $SERIES in
	6.1)
		apt-cache depends linux-image-amd64 2>/dev/null |
			sed -n 's/^ *Depends: linux-image-\(6\.1\.[0-9][^ ]*-amd64\)$/\1/p' |
			sort -V | tail -n 1
		;;
	6.12)
		# Newest linux-image-6.12.*+deb12-amd64 whose headers exist too.
		apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' 2>/dev/null |
			awk '{ sub(/^linux-image-/, "", $1); print $1 }' |
			sort -V -r | while read -r abi; do
				if apt-cache show "linux-headers-$abi" >/dev/null 2>&1; then
					echo "$abi"
					break
				fi
			done
		;;
	esac
}

# Print the newest cached deb of package $1, or nothing.
cached_deb() {
	local f

	for f in "$DEBS/$1"_*.deb; do
		[ -f "$f" ] && echo "$f"
	done | sort -V | tail -n 1
}

# Download (unless cached) the newest deb of package $1 into $DEBS and print
# its path.
fetch_deb() {
	local pkg=$1 deb

	deb=$(cached_deb "$pkg")
	if [ -z "$deb" ]; then
		msg "downloading $pkg" >&2
		(cd "$DEBS" && apt-get download -q -o APT::Sandbox::User=root "$pkg") >&2 ||
			return 1
		deb=$(cached_deb "$pkg")
	fi
	[ -n "$deb" ] || return 1
	echo "$deb"
}

# Print the Depends of package $1 (one name a line).
pkg_depends() {
	apt-cache depends "$1" 2>/dev/null |
		sed -n 's/^ *|\{0,1\}Depends: <\{0,1\}\([^ >]*\)>\{0,1\}$/\1/p'
}

# Debian's 6.12 headers package depends on its image, so `apt-get install`
# would put a kernel into /boot. For such ABIs, unpack the headers, their
# -common part and kbuild into build/testvm/<abi>-headers/ instead, install
# only their other dependencies, and point the Makefile at the copy.
unpack_headers() {
	local abi=$1 kroot=$TV/$1-headers pkgs=() others=() p d deb

	pkgs=("linux-headers-$abi")
	for d in $(pkg_depends "linux-headers-$abi"); do
		case $d in
		linux-headers-*|linux-kbuild-*) pkgs+=("$d") ;;
		linux-image-*|linux-base) ;;
		*) others+=("$d") ;;
		esac
	done
	for p in "${pkgs[@]:1}"; do
		for d in $(pkg_depends "$p"); do
			case $d in
			linux-*) ;;
			*) others+=("$d") ;;
			esac
		done
	done
	[ ${#others[@]} -eq 0 ] || install_pkgs "${others[@]}"
	rm -rf "$kroot.tmp"
	for p in "${pkgs[@]}"; do
		deb=$(fetch_deb "$p") || return 1
		msg "unpacking $(basename "$deb")"
		dpkg -x "$deb" "$kroot.tmp"
	done
	sed -i "s#/usr/src/#$kroot/usr/src/#g" \
		"$kroot.tmp/usr/src/linux-headers-$abi/Makefile"
	rm -rf "$kroot"
	mv "$kroot.tmp" "$kroot"
}

# Install (or unpack) the headers and unpack the image of kernel ABI $1;
# sets KDIR. Fails (without dying) when the apt lists are stale, so that
# the caller can update them.
prepare_kernel() {
	local abi=$1 dir=$TV/$1 deb

	if pkg_depends "linux-headers-$abi" | grep -q '^linux-image-'; then
		KDIR=$dir-headers/usr/src/linux-headers-$abi
		if [ ! -e "$dir-headers/.unpacked" ]; then
			unpack_headers "$abi" || return 1
			touch "$dir-headers/.unpacked"
		fi
	else
		KDIR=/usr/src/linux-headers-$abi
		if [ -n "$(missing_pkgs "linux-headers-$abi")" ]; then
			[ "$(id -u)" = 0 ] ||
				die "linux-headers-$abi is missing (run this script as root)"
			apt_update
			msg "installing linux-headers-$abi"
			apt-get install -y -q --no-install-recommends "linux-headers-$abi" ||
				return 1
		fi
	fi
	if [ ! -e "$dir/.unpacked" ]; then
		deb=$(fetch_deb "linux-image-$abi") || return 1
		msg "unpacking $(basename "$deb") into ${dir#"$TOP"/}"
		rm -rf "$dir.tmp" "$dir"
		dpkg -x "$deb" "$dir.tmp"
		touch "$dir.tmp/.unpacked"
		mv "$dir.tmp" "$dir"
	fi
}

prepare_ksft() {
	local deb tmp src=linux-source-6.1 f
	local files=(tools/testing/selftests/kselftest_harness.h
		     tools/testing/selftests/kselftest.h
		     tools/testing/selftests/lib.mk
		     scripts/checkpatch.pl
		     scripts/spelling.txt
		     scripts/const_structs.checkpatch)

	[ -e "$KSFT/.extracted" ] && return 0
	deb=$(fetch_deb "$src") || {
		apt_update
		deb=$(fetch_deb "$src")
	} || die "cannot download $src"
	msg "extracting kselftest headers and checkpatch from $(basename "$deb")"
	tmp=$(mktemp -d "$BUILD/.ksft.XXXXXX")
	dpkg -x "$deb" "$tmp/deb"
	tar -xJf "$tmp/deb/usr/src/$src.tar.xz" -C "$tmp" \
		"${files[@]/#/$src/}" || { rm -rf "$tmp"; die "tar -xJf failed"; }
	mkdir -p "$KSFT/scripts"
	for f in "${files[@]}"; do
		case $f in
		scripts/*) cp "$tmp/$src/$f" "$KSFT/scripts/" ;;
		*) cp "$tmp/$src/$f" "$KSFT/" ;;
		esac
	done
	chmod +x "$KSFT/scripts/checkpatch.pl"
	rm -rf "$tmp"
	touch "$KSFT/.extracted"
}

# build/ksft-tree/: the part of a kernel tree that
# `make -C tools/testing/selftests TARGETS=shadowvm` needs (the selftests
# Makefile, lib.mk, the harness, kselftest/ and scripts/subarch.include),
# for check.sh's in-tree build of the suite.
prepare_ksft_tree() {
	local deb tmp src=linux-source-6.1 d=tools/testing/selftests
	local files=($d/Makefile $d/lib.mk $d/kselftest_harness.h $d/kselftest.h
		     $d/kselftest $d/kselftest_module.h scripts/subarch.include)

	[ -e "$KSFT_TREE/.extracted" ] && return 0
	deb=$(fetch_deb "$src") || {
		apt_update
		deb=$(fetch_deb "$src")
	} || die "cannot download $src"
	msg "extracting the kselftest build files from $(basename "$deb")"
	tmp=$(mktemp -d "$BUILD/.ksft-tree.XXXXXX")
	dpkg -x "$deb" "$tmp/deb"
	tar -xJf "$tmp/deb/usr/src/$src.tar.xz" -C "$tmp" \
		"${files[@]/#/$src/}" || { rm -rf "$tmp"; die "tar -xJf failed"; }
	rm -rf "$KSFT_TREE"
	mv "$tmp/$src" "$KSFT_TREE"
	rm -rf "$tmp"
	touch "$KSFT_TREE/.extracted"
}

install_pkgs "${HOST_PKGS[@]}"

ABI=$(resolve_abi)
if [ -z "$ABI" ]; then
	apt_update
	ABI=$(resolve_abi)
fi
[ -n "$ABI" ] || die "no Debian kernel ABI found for series $SERIES"
if ! prepare_kernel "$ABI"; then
	# The lists were old (Debian retired that ABI): refresh and retry once.
	[ "$APT_UPDATED" = 1 ] && die "cannot install/download kernel $ABI"
	apt_update
	ABI=$(resolve_abi)
	[ -n "$ABI" ] || die "no Debian kernel ABI found for series $SERIES"
	prepare_kernel "$ABI" || die "cannot install/download kernel $ABI"
fi

[ -e "$KDIR/Makefile" ] || die "$KDIR/Makefile is missing"
IMG=$TV/$ABI
VMLINUZ=$IMG/boot/vmlinuz-$ABI
MODDIR=$IMG/lib/modules/$ABI
[ -d "$MODDIR" ] || MODDIR=$IMG/usr/lib/modules/$ABI
[ -f "$VMLINUZ" ] || die "$VMLINUZ is missing"
[ -d "$MODDIR" ] || die "no lib/modules/$ABI in $IMG"

prepare_ksft
prepare_ksft_tree

cat >"$TV/env-$SERIES.sh.tmp" <<EOF
# Generated by testvm/prepare.sh; source it.
export TESTVM_KERNEL=$SERIES
export TESTVM_ABI=$ABI
export TESTVM_KDIR=$KDIR
export TESTVM_IMAGE_DIR=$IMG
export TESTVM_VMLINUZ=$VMLINUZ
export TESTVM_MODDIR=$MODDIR
export KSFT_DIR=$KSFT
export KSFT_TREE=$KSFT_TREE
EOF
cp "$TV/env-$SERIES.sh.tmp" "$TV/env.sh.tmp"
mv "$TV/env-$SERIES.sh.tmp" "$TV/env-$SERIES.sh"
mv "$TV/env.sh.tmp" "$TV/env.sh"
msg "ready: kernel $ABI, env in ${TV#"$TOP"/}/env-$SERIES.sh"
