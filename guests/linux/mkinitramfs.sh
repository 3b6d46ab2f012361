#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# guests/linux/mkinitramfs.sh OUT.cpio [BUSYBOX]: the Linux guest's
# initramfs (newc cpio, uncompressed): a static busybox (default: the
# busybox-static package's /bin/busybox), /init and /workload from this
# directory, and /bin/memtouch built from memtouch.c (gcc -static; $CC).
# No device nodes are needed: /init mounts devtmpfs.
set -eu

out=$1
bb=${2:-/bin/busybox}
here=$(cd "$(dirname "$0")" && pwd)

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
chmod 755 "$tmp/init" "$tmp/workload" "$tmp/bin/busybox"
(cd "$tmp" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
