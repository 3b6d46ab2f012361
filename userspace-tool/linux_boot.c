// SPDX-License-Identifier: GPL-2.0
/*
 * Linux loader: the x86-64 boot protocol (Documentation/arch/x86/boot.rst
 * in the kernel tree, "64-bit Boot Protocol"), for a bzImage or an ELF
 * vmlinux; contract in loader.h (linux_load()) and Documentation/linux.rst.
 *
 * bzImage: the protected-mode part (after the setup sectors) is copied to
 * its preferred address, the setup header is copied into a zeroed
 * boot_params ("zero page") and completed (loader type, LOADED_HIGH, the
 * initrd, the command line), and the guest enters at load address + 0x200,
 * the decompressor's startup_64. vmlinux (ELF64): PT_LOAD segments at
 * p_paddr, entered at e_entry (startup_64's physical address), with a
 * boot_params whose header the runner writes (protocol 2.12). Both get the
 * e820 map (RAM below 639 KiB and from 1 MiB, the BIOS area reserved), the
 * MP table (mptable.c) and long mode with the first 4 GiB identity-mapped,
 * a GDT with __BOOT_CS = 0x10 and __BOOT_DS = 0x18, interrupts off and
 * %rsi = the boot_params, as the protocol requires.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

/* struct boot_params, by offset (Documentation/arch/x86/zero-page.rst) */
#define BP_E820_ENTRIES		0x1e8	/* u8 */
#define BP_SETUP_SECTS		0x1f1	/* u8 */
#define BP_BOOT_FLAG		0x1fe	/* u16: 0xaa55 */
#define BP_JUMP			0x200	/* u16; byte 0x201 = header end - 0x202 */
#define BP_HEADER		0x202	/* u32: "HdrS" */
#define BP_VERSION		0x206	/* u16 */
#define BP_TYPE_OF_LOADER	0x210	/* u8 */
#define BP_LOADFLAGS		0x211	/* u8 */
#define BP_CODE32_START		0x214	/* u32 */
#define BP_RAMDISK_IMAGE	0x218	/* u32 */
#define BP_RAMDISK_SIZE		0x21c	/* u32 */
#define BP_CMD_LINE_PTR		0x228	/* u32 */
#define BP_INITRD_ADDR_MAX	0x22c	/* u32 */
#define BP_RELOCATABLE		0x234	/* u8 */
#define BP_XLOADFLAGS		0x236	/* u16 */
#define BP_CMDLINE_SIZE		0x238	/* u32 */
#define BP_PREF_ADDRESS		0x258	/* u64 */
#define BP_INIT_SIZE		0x260	/* u32 */
#define BP_E820_TABLE		0x2d0	/* 128 x { u64 addr, size; u32 type } */

#define HDRS_MAGIC		0x53726448u	/* "HdrS" */
#define LOADED_HIGH		0x01
#define XLF_KERNEL_64		0x01
#define LOADER_UNDEFINED	0xff
#define MIN_PROTOCOL		0x020c	/* 2.12: xloadflags, 64-bit entry */
#define ENTRY64_OFFSET		0x200
#define E820_RAM		1
#define E820_RESERVED		2
#define PAGE			4096ULL
#define TWO_MB			(2ULL << 20)

static uint16_t get16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void e820_add(uint8_t *zp, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t *e = zp + BP_E820_TABLE + zp[BP_E820_ENTRIES] * 20;

	put64(e, addr);
	put64(e + 8, size);
	put32(e + 16, type);
	zp[BP_E820_ENTRIES]++;
}

/* bzImage: the 64-bit kernel at its preferred address; fills zp's header */
static int load_bzimage(const char *path, const uint8_t *buf, size_t len,
			uint8_t *ram, uint64_t ram_size, uint8_t *zp,
			struct image_info *info, char *err, size_t errlen)
{
	unsigned int setup_sects = buf[BP_SETUP_SECTS] ? buf[BP_SETUP_SECTS] : 4;
	uint64_t pm_off = (setup_sects + 1) * 512ULL, pref, init_size, hdr_end;
	uint16_t version = get16(buf + BP_VERSION);

	if (version < MIN_PROTOCOL || !(get16(buf + BP_XLOADFLAGS) & XLF_KERNEL_64))
		return loader_fail(err, errlen,
				   "kernel '%s': boot protocol %u.%02u without a 64-bit entry point (need 2.12 and XLF_KERNEL_64)",
				   path, version >> 8, version & 0xff);
	hdr_end = BP_HEADER + buf[BP_JUMP + 1];
	if (pm_off >= len || hdr_end > 0x1000 || hdr_end > len)
		return loader_fail(err, errlen, "kernel '%s': truncated bzImage",
				   path);
	pref = get32(buf + BP_PREF_ADDRESS) |
	       (uint64_t)get32(buf + BP_PREF_ADDRESS + 4) << 32;
	init_size = get32(buf + BP_INIT_SIZE);
	if (pref < (1ULL << 20) || pref % TWO_MB)
		pref = 16ULL << 20;
	if (init_size < len - pm_off)
		init_size = len - pm_off;
	if (pref + init_size > ram_size)
		return loader_fail(err, errlen,
				   "kernel '%s' needs guest RAM up to 0x%llx (load address 0x%llx + init_size 0x%llx): use a larger --mem",
				   path, (unsigned long long)(pref + init_size),
				   (unsigned long long)pref,
				   (unsigned long long)init_size);
	memcpy(ram + pref, buf + pm_off, len - pm_off);
	memcpy(zp + BP_SETUP_SECTS, buf + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS);
	put32(zp + BP_CODE32_START, (uint32_t)pref);
	info->format = "bzimage";
	info->entry = pref + ENTRY64_OFFSET;
	info->load_start = pref;
	info->load_end = pref + init_size;
	return 0;
}

/* vmlinux: PT_LOAD at p_paddr, entry e_entry; the runner writes the header */
static int load_vmlinux(const char *path, const uint8_t *buf, size_t len,
			uint8_t *ram, uint64_t ram_size, uint8_t *zp,
			struct image_info *info, char *err, size_t errlen)
{
	if (loader_load_elf(path, buf, len, ram, ram_size, info, err, errlen))
		return -1;
	if (strcmp(info->format, "elf64"))
		return loader_fail(err, errlen,
				   "kernel '%s' is an ELF32 file, not a 64-bit vmlinux",
				   path);
	info->format = "vmlinux";
	put16(zp + BP_BOOT_FLAG, 0xaa55);
	put32(zp + BP_HEADER, HDRS_MAGIC);
	put16(zp + BP_VERSION, MIN_PROTOCOL);
	put32(zp + BP_INITRD_ADDR_MAX, 0x7fffffff);
	put32(zp + BP_CMDLINE_SIZE, LINUX_CMDLINE_MAX - 1);
	return 0;
}

/* the initrd at the top of RAM the kernel accepts, page aligned */
static int load_initrd(const char *path, uint8_t *ram, uint64_t ram_size,
		       uint8_t *zp, const struct image_info *info,
		       char *err, size_t errlen)
{
	uint64_t top = (uint64_t)get32(zp + BP_INITRD_ADDR_MAX) + 1, addr;
	uint8_t *buf;
	size_t len;

	if (loader_read_file("initrd", path, &buf, &len, err, errlen))
		return -1;
	if (top > ram_size)
		top = ram_size;
	if (!len) {
		free(buf);
		return loader_fail(err, errlen, "initrd '%s' is empty", path);
	}
	addr = len <= top ? (top - len) & ~(PAGE - 1) : 0;
	if (addr < info->load_end) {
		free(buf);
		return loader_fail(err, errlen,
				   "initrd '%s' (%zu bytes) does not fit between the kernel's end 0x%llx and 0x%llx: use a larger --mem",
				   path, len, (unsigned long long)info->load_end,
				   (unsigned long long)top);
	}
	memcpy(ram + addr, buf, len);
	free(buf);
	put32(zp + BP_RAMDISK_IMAGE, (uint32_t)addr);
	put32(zp + BP_RAMDISK_SIZE, (uint32_t)len);
	return 0;
}

int linux_load(const char *path, const char *initrd, const char *cmdline,
	       unsigned int ncpus, void *ramp, uint64_t ram_size,
	       struct image_info *info, char *err, size_t errlen)
{
	uint8_t *ram = ramp, *zp = ram + LINUX_ZERO_PAGE, *buf;
	size_t len, clen = cmdline ? strlen(cmdline) : 0;
	int ret;

	memset(info, 0, sizeof(*info));
	if (ram_size < LINUX_MIN_RAM)
		return loader_fail(err, errlen,
				   "a Linux guest needs at least %lluM of RAM (--mem)",
				   LINUX_MIN_RAM >> 20);
	if (loader_read_file("kernel", path, &buf, &len, err, errlen))
		return -1;
	memset(zp, 0, PAGE);
	if (len >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG))
		ret = load_vmlinux(path, buf, len, ram, ram_size, zp, info,
				   err, errlen);
	else if (len > BP_INIT_SIZE + 4 && get32(buf + BP_HEADER) == HDRS_MAGIC)
		ret = load_bzimage(path, buf, len, ram, ram_size, zp, info,
				   err, errlen);
	else
		ret = loader_fail(err, errlen,
				   "kernel '%s' is neither a bzImage nor an ELF vmlinux",
				   path);
	free(buf);
	if (ret)
		return -1;
	if (info->load_start < (1ULL << 20))
		return loader_fail(err, errlen,
				   "kernel '%s' loads at 0x%llx, below 1 MiB",
				   path, (unsigned long long)info->load_start);

	zp[BP_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	zp[BP_LOADFLAGS] |= LOADED_HIGH;
	if (clen >= LINUX_CMDLINE_MAX || clen > get32(zp + BP_CMDLINE_SIZE))
		return loader_fail(err, errlen,
				   "kernel command line is %zu bytes, the kernel takes %u",
				   clen, get32(zp + BP_CMDLINE_SIZE));
	memset(ram + LINUX_CMDLINE, 0, LINUX_CMDLINE_MAX);
	if (clen)
		memcpy(ram + LINUX_CMDLINE, cmdline, clen);
	put32(zp + BP_CMD_LINE_PTR, LINUX_CMDLINE);
	if (initrd && load_initrd(initrd, ram, ram_size, zp, info, err, errlen))
		return -1;

	e820_add(zp, 0, LINUX_EBDA, E820_RAM);
	e820_add(zp, LINUX_EBDA, 0xa0000 - LINUX_EBDA, E820_RESERVED);
	e820_add(zp, LINUX_BIOS_AREA, 0x100000 - LINUX_BIOS_AREA, E820_RESERVED);
	e820_add(zp, 0x100000, ram_size - 0x100000, E820_RAM);
	mptable_build(ram, ncpus);
	loader_identity_map(ram);
	/* GDT: 0x10 64-bit code (__BOOT_CS), 0x18 data (__BOOT_DS), 0x20 TSS */
	memset(ram + BOOT_GDT, 0, 0x30);
	put64(ram + BOOT_GDT + 0x10, 0x00af9b000000ffffULL);
	put64(ram + BOOT_GDT + 0x18, 0x00cf93000000ffffULL);
	put64(ram + BOOT_GDT + 0x20, 0x67 | (BOOT_TSS << 16) | (0x8bULL << 40));
	info->mode = BOOT_LINUX64;
	info->rsi = LINUX_ZERO_PAGE;
	info->stack = INITIAL_ESP;
	return 0;
}
