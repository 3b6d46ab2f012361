#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# guests/linux/mkdisk.sh OUT.img: the Linux guest's test disk, a raw image
# of 4 MiB + 64 KiB: an ext4 file system (mkfs.ext4 -d, e2fsprogs 1.43 or
# later; 1 KiB blocks, inode tables and journal initialised now so the
# guest kernel writes nothing on its own) over the first 4 MiB, holding
# /hello.txt = "shadowvm disk: hello from the host" (what /init's
# shadowvm.disk=check prints and linux_guest_test expects), then 64 KiB of
# zeros outside the file system, where that check writes a raw marker.
set -eu

out=$1
PATH=$PATH:/sbin:/usr/sbin
command -v mkfs.ext4 >/dev/null || {
	echo "mkdisk: mkfs.ext4 not found (apt-get install e2fsprogs)" >&2
	exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/root"
echo "shadowvm disk: hello from the host" >"$tmp/root/hello.txt"
rm -f "$out.tmp"
truncate -s $((4096 * 1024 + 65536)) "$out.tmp"
mkfs.ext4 -q -F -b 1024 -L shadowvm -E lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 \
	-d "$tmp/root" "$out.tmp" 4096
mv "$out.tmp" "$out"
