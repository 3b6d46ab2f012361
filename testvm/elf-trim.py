#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# testvm/elf-trim.py IN OUT - write OUT, an ELF64 executable that loads
# exactly as IN but without the zero bytes IN stores at the end of its
# segments: each PT_LOAD's p_filesz stops at its last non-zero byte (its
# p_memsz is unchanged, so a loader zero-fills the rest, as the ELF format
# says); the segments are then packed one after the other, each at the next
# offset congruent to its old one modulo 4 KiB (p_align at most 4 KiB),
# other program headers (PT_NOTE) moving with the PT_LOAD that holds them.
# Section headers are dropped (e_shoff, e_shnum, e_shstrndx 0): a loader
# reads program headers only.
#
# Why: the ELF vmlinux that testvm_vmlinux_elf() extracts from a Debian
# bzImage stores its .bss, .brk and .init.scratch as zeros inside the last
# PT_LOAD (27 MB of the 6.1 kernel's 65 MB). linux_guest_test boots that
# file, and every byte of it goes through the test VM's initramfs.
#
# Exit status: 0 written; 1 IN is not an ELF64 little-endian file or
# cannot be read.
import struct
import sys


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: elf-trim.py IN OUT\n")
        return 1
    with open(sys.argv[1], "rb") as f:
        data = bytearray(f.read())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.stderr.write("elf-trim: %s is not an ELF64 little-endian file\n"
                         % sys.argv[1])
        return 1
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segs = []
    for i in range(phnum):
        ph = phoff + i * phentsize
        ptype, = struct.unpack_from("<I", data, ph)
        off, = struct.unpack_from("<Q", data, ph + 0x08)
        filesz, = struct.unpack_from("<Q", data, ph + 0x20)
        if off + filesz > len(data):
            sys.stderr.write("elf-trim: segment %d lies outside %s\n"
                             % (i, sys.argv[1]))
            return 1
        if ptype == 1:  # PT_LOAD
            filesz = len(bytes(data[off:off + filesz]).rstrip(b"\0"))
            struct.pack_into("<Q", data, ph + 0x20, filesz)
        segs.append((ph, ptype, off, filesz))
    # Lay the PT_LOADs out again in file order, each at the next offset
    # congruent to its old one modulo 4 KiB (p_align becomes 4 KiB at
    # most: p_offset stays congruent to p_vaddr modulo p_align).
    out = bytearray(data[:phoff + phentsize * phnum])
    moved = []
    for ph, ptype, off, filesz in sorted(segs, key=lambda s: s[2]):
        if ptype != 1:
            continue
        new = (len(out) + 4095) // 4096 * 4096 + off % 4096
        out += bytes(new - len(out)) + data[off:off + filesz]
        struct.pack_into("<Q", out, ph + 0x08, new)
        align, = struct.unpack_from("<Q", out, ph + 0x30)
        struct.pack_into("<Q", out, ph + 0x30, min(align, 4096))
        moved.append((off, filesz, new))
    # other headers (PT_NOTE, ...) move with the PT_LOAD holding them
    for ph, ptype, off, filesz in segs:
        if ptype == 1 or not filesz:
            continue
        for lo, lsz, new in moved:
            if lo <= off and off + filesz <= lo + lsz:
                struct.pack_into("<Q", out, ph + 0x08, off - lo + new)
                break
        else:
            sys.stderr.write("elf-trim: segment at 0x%x is in no PT_LOAD\n"
                             % off)
            return 1
    struct.pack_into("<Q", out, 0x28, 0)            # e_shoff
    struct.pack_into("<HHH", out, 0x3a, 0, 0, 0)    # shentsize, shnum, shstrndx
    with open(sys.argv[2], "wb") as f:
        f.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
