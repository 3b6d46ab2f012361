#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# guests/linux/mkinitramfs.sh OUT.cpio [BUSYBOX [MODDIR]]: the Linux guest's
# initramfs (newc cpio, uncompressed): a static busybox (default: the
# busybox-static package's /bin/busybox), /init and /workload from this
# directory, /bin/memtouch built from memtouch.c (gcc -static; $CC), and
# the kernel modules of the disk (shadowvm.disk= of /init): virtio_pci,
# virtio_blk, ext4, crc32c_generic and every module they depend on
# (modinfo's "depends"), copied from MODDIR (the guest kernel's
# lib/modules/ABI directory; default $LINUX_MODDIR, else $TESTVM_MODDIR,
# else /lib/modules/$(uname -r)) to /lib/modules/NAME.ko, with their load
# order in /lib/modules/load-order and the ABI in /lib/modules/abi. The
# modules must be those of the kernel the guest boots. Without MODDIR (or
# a module missing there) the initramfs is made without them and a warning
# is printed: the guest then boots, but shadowvm.disk= fails.
# No device nodes are needed: /init mounts devtmpfs.
set -eu

out=$1
bb=${2:-/bin/busybox}
moddir=${3:-${LINUX_MODDIR:-${TESTVM_MODDIR:-/lib/modules/$(uname -r)}}}
here=$(cd "$(dirname "$0")" && pwd)
# what the disk needs; crc32c_generic is ext4's and jbd2's soft dependency
DISK_MODULES="crc32c_generic virtio_pci virtio_blk ext4"

[ -x "$bb" ] || { echo "mkinitramfs: no busybox at $bb (apt-get install busybox-static)" >&2; exit 1; }
if readelf -l "$bb" 2>/dev/null | grep -q 'program interpreter'; then
	echo "mkinitramfs: $bb is dynamically linked; a static busybox is needed" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/dev" "$tmp/proc" "$tmp/sys" "$tmp/tmp"
cp "$bb" "$tmp/bin/busybox"
${CC:-cc} -O2 -Wall -static -o "$tmp/bin/memtouch" "$here/memtouch.c" || {
	echo "mkinitramfs: cannot build memtouch (gcc with a static libc needed)" >&2
	exit 1
}
strip "$tmp/bin/memtouch" 2>/dev/null || true
cp "$here/init" "$here/workload" "$tmp/"

# modpath NAME: the module's file under $moddir (- and _ are the same;
# .ko, or compressed .ko.xz/.ko.zst/.ko.gz)
modpath() {
	for n in "$1" "$(echo "$1" | tr _ -)"; do
		find "$moddir/kernel" -name "$n.ko" -o -name "$n.ko.xz" \
			-o -name "$n.ko.zst" -o -name "$n.ko.gz"
	done | head -n 1
}

# modcopy FILE DEST: the module, uncompressed (busybox insmod takes .ko)
modcopy() {
	case $1 in
	*.xz) xz -dc "$1" >"$2" ;;
	*.zst) zstd -qdc "$1" >"$2" ;;
	*.gz) gzip -dc "$1" >"$2" ;;
	*) cp "$1" "$2" ;;
	esac
}

# add NAME: its dependencies first, then itself, once
add_module() {
	local_m=$1
	grep -qx "$local_m" "$tmp/lib/modules/load-order" 2>/dev/null && return 0
	f=$(modpath "$local_m")
	if [ -z "$f" ] && grep -qE "/($local_m|$(echo "$local_m" | tr _ -))\.ko" \
		"$moddir/modules.builtin" 2>/dev/null; then
		return 0		# built into the kernel
	fi
	if [ -z "$f" ]; then
		echo "mkinitramfs: warning: module $local_m not found in $moddir" >&2
		return 1
	fi
	for dep in $(modinfo -F depends "$f" | tr , ' '); do
		add_module "$dep" || return 1
		local_m=$1
	done
	f=$(modpath "$local_m")
	modcopy "$f" "$tmp/lib/modules/$local_m.ko"
	echo "$local_m" >>"$tmp/lib/modules/load-order"
}

if [ -d "$moddir/kernel" ] && command -v modinfo >/dev/null; then
	mkdir -p "$tmp/lib/modules"
	ok=1
	for m in $DISK_MODULES; do
		add_module "$m" || ok=0
	done
	if [ "$ok" = 1 ]; then
		basename "$moddir" >"$tmp/lib/modules/abi"
	else
		rm -rf "$tmp/lib/modules"
	fi
else
	echo "mkinitramfs: warning: no kernel modules at $moddir (or no modinfo): the guest will have no disk driver" >&2
fi
chmod 755 "$tmp/init" "$tmp/workload" "$tmp/bin/busybox"
(cd "$tmp" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
