// SPDX-License-Identifier: GPL-2.0
/*
 * Multiboot v1 loader (the Multiboot Specification 0.6.96): finds the
 * header, loads the kernel (ELF by PT_LOAD at p_paddr, or the a.out-kludge
 * address fields of header flag 16), loads the modules page aligned after
 * the kernel, and builds the multiboot information in the boot area
 * (loader.h): flags, mem_lower/mem_upper, an e820-style memory map, the
 * command line "IMAGE [--append text]", the module list and the boot
 * loader name. The caller enters the kernel in flat 32-bit protected mode,
 * paging off, interrupts off, EAX = 0x2badb002, EBX = BOOT_MBI.
 */
#include <elf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

#define MB_SEARCH	8192
/* header flags */
#define MBH_PAGE_ALIGN	(1u << 0)
#define MBH_MEMINFO	(1u << 1)
#define MBH_VIDEO	(1u << 2)
#define MBH_AOUT_KLUDGE	(1u << 16)
/* MBI flags */
#define MBI_MEM		(1u << 0)
#define MBI_CMDLINE	(1u << 2)
#define MBI_MODS	(1u << 3)
#define MBI_MMAP	(1u << 6)
#define MBI_LOADER_NAME	(1u << 9)

#define LOADER_NAME	"shadowvm"
#define PAGE		4096ULL

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr;
	uint32_t entry_addr;
};

/* offsets in the MBI (the spec's struct multiboot_info) */
enum {
	MBI_O_FLAGS = 0, MBI_O_MEM_LOWER = 4, MBI_O_MEM_UPPER = 8,
	MBI_O_CMDLINE = 16, MBI_O_MODS_COUNT = 20, MBI_O_MODS_ADDR = 24,
	MBI_O_MMAP_LENGTH = 44, MBI_O_MMAP_ADDR = 48,
	MBI_O_LOADER_NAME = 64, MBI_SIZE = 88,
};

static void put32(uint8_t *ram, uint64_t gpa, uint32_t v)
{
	memcpy(ram + gpa, &v, 4);
}

static void put64(uint8_t *ram, uint64_t gpa, uint64_t v)
{
	memcpy(ram + gpa, &v, 8);
}

/* offset of a valid header in the first 8 KiB, or -1 */
static long find_header(const uint8_t *buf, size_t len)
{
	size_t off, end = len < MB_SEARCH ? len : MB_SEARCH;

	for (off = 0; off + 12 <= end; off += 4) {
		uint32_t h[3];

		memcpy(h, buf + off, 12);
		if (h[0] == MB_MAGIC && h[0] + h[1] + h[2] == 0)
			return (long)off;
	}
	return -1;
}

static int load_aout(const char *path, const uint8_t *buf, size_t len,
		     long hoff, const struct mb_header *h, uint8_t *ram,
		     uint64_t ram_size, struct image_info *info,
		     char *err, size_t errlen)
{
	uint64_t file_off, size, load_end, bss_end;

	if ((size_t)hoff + sizeof(*h) > len)
		return loader_fail(err, errlen,
				   "image '%s': multiboot header truncated", path);
	if (h->header_addr < h->load_addr ||
	    h->header_addr - h->load_addr > (uint64_t)hoff)
		return loader_fail(err, errlen,
				   "image '%s': multiboot header_addr 0x%x / load_addr 0x%x do not fit the file",
				   path, h->header_addr, h->load_addr);
	file_off = hoff - (h->header_addr - h->load_addr);
	if (h->load_end_addr) {
		if (h->load_end_addr < h->load_addr ||
		    h->load_end_addr - h->load_addr > len - file_off)
			return loader_fail(err, errlen,
					   "image '%s': multiboot load_end_addr 0x%x beyond the file",
					   path, h->load_end_addr);
		size = h->load_end_addr - h->load_addr;
	} else {
		size = len - file_off;
	}
	load_end = h->load_addr + size;
	bss_end = h->bss_end_addr ? h->bss_end_addr : load_end;
	if (bss_end < load_end)
		return loader_fail(err, errlen,
				   "image '%s': multiboot bss_end_addr 0x%x below load_end_addr",
				   path, h->bss_end_addr);
	if (bss_end > ram_size)
		return loader_fail(err, errlen,
				   "image '%s' is larger than guest RAM: 0x%x-0x%llx, RAM ends at 0x%llx (use --mem)",
				   path, h->load_addr,
				   (unsigned long long)bss_end,
				   (unsigned long long)ram_size);
	memcpy(ram + h->load_addr, buf + file_off, size);
	memset(ram + load_end, 0, bss_end - load_end);
	info->entry = h->entry_addr;
	info->load_start = h->load_addr;
	info->load_end = bss_end;
	if (info->entry < info->load_start || info->entry >= bss_end)
		return loader_fail(err, errlen,
				   "image '%s': multiboot entry_addr 0x%x is outside the loaded image",
				   path, h->entry_addr);
	return 0;
}

/* appends s to the string area; returns its address, 0 when full */
static uint32_t put_string(uint8_t *ram, uint64_t *next, const char *a,
			   const char *b)
{
	size_t la = strlen(a), lb = b ? strlen(b) + 1 : 0;
	uint64_t at = *next;

	if (la + lb + 1 > BOOT_AREA_END - at)
		return 0;
	memcpy(ram + at, a, la);
	if (b) {
		ram[at + la] = ' ';
		memcpy(ram + at + la + 1, b, lb - 1);
	}
	ram[at + la + lb] = 0;
	*next = at + la + lb + 1;
	return (uint32_t)at;
}

static unsigned int build_mmap(uint8_t *ram, uint64_t ram_size)
{
	static const struct { uint64_t base, len; uint32_t type; } fixed[] = {
		{ 0, 0x9fc00, 1 },
		{ 0x9fc00, 0x400, 2 },		/* EBDA */
		{ 0xf0000, 0x10000, 2 },	/* BIOS area */
	};
	static const uint64_t dev[] = { 0xfeb00000, 0xfec00000, 0xfee00000 };
	uint64_t at = BOOT_MMAP;
	unsigned int i;

#define ENTRY(b, l, t) do {						\
	put32(ram, at, 20);						\
	put64(ram, at + 4, b);						\
	put64(ram, at + 12, l);						\
	put32(ram, at + 20, t);						\
	at += 24;							\
} while (0)
	for (i = 0; i < 3; i++)
		ENTRY(fixed[i].base, fixed[i].len, fixed[i].type);
	ENTRY(0x100000ULL, ram_size - 0x100000ULL, 1);
	for (i = 0; i < 3; i++)
		ENTRY(dev[i], 0x1000ULL, 2);	/* disk, I/O APIC, LAPIC */
#undef ENTRY
	return (unsigned int)(at - BOOT_MMAP);
}

static int load_modules(const char *path, uint8_t *ram, uint64_t ram_size,
			const struct boot_opts *opts, uint64_t *strings,
			struct image_info *info, char *err, size_t errlen)
{
	uint64_t at = (info->load_end + PAGE - 1) & ~(PAGE - 1);
	unsigned int i, n = 0;

	if (at < FLAT_LOAD_ADDR)
		at = FLAT_LOAD_ADDR;
	for (i = 0; i < opts->nmods + (opts->env ? 1 : 0); i++) {
		const struct boot_module *m = NULL;
		const char *file = opts->env, *cmd = NULL;
		uint8_t *buf = NULL;
		uint32_t str;
		size_t len = 0;

		if (opts->env ? i > 0 : true) {
			m = &opts->mods[opts->env ? i - 1 : i];
			file = m->path;
			cmd = m->cmdline;
		}
		if (n >= MB_MAX_MODULES)
			return loader_fail(err, errlen, "too many modules (at most %d)",
					   MB_MAX_MODULES);
		if (loader_read_file(m ? "module" : "env file", file, &buf,
				     &len, err, errlen))
			return -1;
		if (at > ram_size || len > ram_size - at) {
			free(buf);
			return loader_fail(err, errlen,
					   "%s '%s' does not fit in guest RAM after the kernel '%s' (at 0x%llx, %zu bytes; use --mem)",
					   m ? "module" : "env file", file, path,
					   (unsigned long long)at, len);
		}
		memcpy(ram + at, buf, len);
		free(buf);
		str = put_string(ram, strings, file, cmd);
		if (!str)
			return loader_fail(err, errlen,
					   "module command lines are too long for the boot area");
		put32(ram, BOOT_MODS + n * 16, (uint32_t)at);
		put32(ram, BOOT_MODS + n * 16 + 4, (uint32_t)(at + len));
		put32(ram, BOOT_MODS + n * 16 + 8, str);
		put32(ram, BOOT_MODS + n * 16 + 12, 0);
		n++;
		at = (at + len + PAGE - 1) & ~(PAGE - 1);
		info->mods_end = at;
	}
	info->nmods = n;
	return 0;
}

int multiboot_load(const char *path, const uint8_t *buf, size_t len,
		   uint8_t *ram, uint64_t ram_size,
		   const struct boot_opts *opts, struct image_info *info,
		   char *err, size_t errlen)
{
	uint64_t strings = BOOT_STRINGS;
	struct mb_header h;
	uint32_t cmdline, unknown;
	long hoff = find_header(buf, len);

	if (hoff < 0)
		return 0;
	memset(&h, 0, sizeof(h));
	memcpy(&h, buf + hoff, len - hoff < sizeof(h) ? len - hoff : sizeof(h));
	/* bits 0-15 are requirements: refuse the ones not understood */
	unknown = h.flags & 0xffff & ~(MBH_PAGE_ALIGN | MBH_MEMINFO | MBH_VIDEO);
	if (unknown)
		return loader_fail(err, errlen,
				   "image '%s': multiboot header requires unsupported features (flags 0x%x)",
				   path, unknown);
	if (h.flags & MBH_AOUT_KLUDGE) {
		if (load_aout(path, buf, len, hoff, &h, ram, ram_size, info,
			      err, errlen))
			return -1;
	} else if (len >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG)) {
		if (loader_load_elf(path, buf, len, ram, ram_size, info, err,
				    errlen))
			return -1;
		if (info->entry >= (4ULL << 30))
			return loader_fail(err, errlen,
					   "image '%s': multiboot entry 0x%llx is above 4 GiB",
					   path, (unsigned long long)info->entry);
	} else {
		return loader_fail(err, errlen,
				   "image '%s': multiboot kernel is not ELF and has no a.out-kludge addresses (header flag 16)",
				   path);
	}
	if (loader_check_boot_area(path, info->load_start, info->load_end,
				   err, errlen))
		return -1;

	memset(ram + BOOT_MBI, 0, BOOT_AREA_END - BOOT_MBI);
	cmdline = put_string(ram, &strings, path, opts->append);
	if (!cmdline)
		return loader_fail(err, errlen,
				   "command line too long for the boot area");
	if (load_modules(path, ram, ram_size, opts, &strings, info, err,
			 errlen))
		return -1;
	memcpy(ram + BOOT_NAME, LOADER_NAME, sizeof(LOADER_NAME));

	put32(ram, BOOT_MBI + MBI_O_FLAGS, MBI_MEM | MBI_CMDLINE | MBI_MODS |
	      MBI_MMAP | MBI_LOADER_NAME);
	put32(ram, BOOT_MBI + MBI_O_MEM_LOWER, 0x9fc00 / 1024);
	put32(ram, BOOT_MBI + MBI_O_MEM_UPPER,
	      (uint32_t)((ram_size - 0x100000) / 1024));
	put32(ram, BOOT_MBI + MBI_O_CMDLINE, cmdline);
	put32(ram, BOOT_MBI + MBI_O_MODS_COUNT, info->nmods);
	put32(ram, BOOT_MBI + MBI_O_MODS_ADDR, (uint32_t)BOOT_MODS);
	put32(ram, BOOT_MBI + MBI_O_MMAP_LENGTH, build_mmap(ram, ram_size));
	put32(ram, BOOT_MBI + MBI_O_MMAP_ADDR, (uint32_t)BOOT_MMAP);
	put32(ram, BOOT_MBI + MBI_O_LOADER_NAME, (uint32_t)BOOT_NAME);

	info->format = "multiboot";
	info->mode = BOOT_FLAT32;
	info->eax = MB_BOOT_MAGIC;
	info->ebx = BOOT_MBI;
	return 1;
}
