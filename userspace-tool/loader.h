/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest image loader. Contract (Documentation/runner.rst, "Image formats"):
 *   - multiboot v1 (a valid header in the first 8 KiB, tried first): the
 *     kernel is loaded by its ELF PT_LOAD headers at p_paddr, or by the
 *     a.out-kludge address fields when header flag 16 is set; modules
 *     (--env first, then each --module) are loaded page aligned after it;
 *     the multiboot information (MBI), memory map and strings are built in
 *     the boot area; entry in 32-bit protected mode with EAX = 0x2badb002,
 *     EBX = the MBI's address.
 *   - ELF32 (EM_386): PT_LOAD at p_paddr (bss zeroed), entry e_entry, flat
 *     32-bit protected mode, paging off.
 *   - ELF64 (EM_X86_64): PT_LOAD at p_paddr, entered at e_entry in 64-bit
 *     long mode with an identity map of the first 4 GiB (2 MiB pages)
 *     and a GDT built by the runner in the boot area.
 *   - anything else is a flat binary copied to FLAT_LOAD_ADDR (1 MiB);
 *     entry = FLAT_LOAD_ADDR.
 *   - all: initial ESP/RSP = INITIAL_ESP (1 MiB).
 *   - Linux (linux_load(), the runner's --kernel; linux_boot.c): a bzImage
 *     or an ELF vmlinux by the 64-bit boot protocol: boot_params at
 *     LINUX_ZERO_PAGE, the command line at LINUX_CMDLINE, the initrd at
 *     the top of the RAM the kernel accepts, the MP table at
 *     LINUX_BIOS_AREA (mptable.c), long mode as for ELF64 but with the
 *     GDT the protocol names (__BOOT_CS 0x10, __BOOT_DS 0x18), RSI = the
 *     boot_params.
 * The boot area [BOOT_AREA_START, BOOT_AREA_END) holds what the runner
 * builds (page tables, GDT, MBI); an ELF64 or multiboot image must not
 * load there. Guest RAM is [0, ram_size) backed by ram. On error a
 * one-line message (without the "shadowvm: " prefix) is put in err and -1
 * returned. Nothing here needs a VM: the selftests unit-test it.
 */
#ifndef SHADOWVM_LOADER_H
#define SHADOWVM_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#define FLAT_LOAD_ADDR	0x100000ULL
#define INITIAL_ESP	0x100000ULL

/* the runner's boot structures (guest-physical) */
#define BOOT_AREA_START	0x1000ULL
#define BOOT_GDT	0x1000ULL	/* ELF64: null, code64, data, TSS */
#define BOOT_TSS	0x1080ULL
#define BOOT_PML4	0x2000ULL	/* ELF64: PML4, PDPT, 4 PDs */
#define BOOT_PDPT	0x3000ULL
#define BOOT_PD		0x4000ULL
#define BOOT_MBI	0x8000ULL	/* multiboot information */
#define BOOT_MMAP	0x8100ULL	/* its memory map */
#define BOOT_MODS	0x8400ULL	/* its module list */
#define BOOT_NAME	0x8800ULL	/* boot loader name */
#define BOOT_STRINGS	0x9000ULL	/* command lines */
#define LINUX_ZERO_PAGE	0x10000ULL	/* Linux: struct boot_params */
#define LINUX_CMDLINE	0x11000ULL	/* Linux: its command line */
#define LINUX_CMDLINE_MAX 4096ULL
#define BOOT_AREA_END	0x20000ULL

/* Linux guests: the e820 map's reserved areas, the MP table, minimum RAM */
#define LINUX_EBDA	0x9fc00ULL	/* reserved up to 640 KiB */
#define LINUX_BIOS_AREA	0xf0000ULL	/* reserved up to 1 MiB; MP table */
#define LINUX_MIN_RAM	(32ULL << 20)

#define MB_MAGIC	0x1badb002u	/* in the image's header */
#define MB_BOOT_MAGIC	0x2badb002u	/* EAX at entry */
#define MB_MAX_MODULES	16

enum boot_mode {
	BOOT_FLAT32,			/* flat 32-bit protected mode */
	BOOT_LONG64,			/* long mode, identity map */
	BOOT_LINUX64,			/* the same, Linux's selectors */
};

struct boot_module {
	const char *path;
	const char *cmdline;		/* NULL: none */
};

struct boot_opts {
	const char *append;		/* after the image name; NULL: none */
	const char *env;		/* --env file (module 0), or NULL */
	struct boot_module mods[MB_MAX_MODULES];
	unsigned int nmods;
};

struct image_info {
	const char *format;		/* "flat", "elf32", "elf64", "multiboot" */
	enum boot_mode mode;
	uint64_t entry;
	uint64_t stack;
	uint64_t eax, ebx, rsi;		/* initial EAX, EBX, RSI */
	uint64_t load_start;		/* lowest guest byte of the image */
	uint64_t load_end;		/* one past the highest */
	unsigned int nmods;		/* multiboot modules loaded */
	uint64_t mods_end;		/* one past the last module byte */
};

/* opts may be NULL (no command line, no modules) */
int load_image(const char *path, void *ram, uint64_t ram_size,
	       const struct boot_opts *opts, struct image_info *info,
	       char *err, size_t errlen);
/*
 * Linux by the 64-bit boot protocol (bzImage or vmlinux at path; initrd
 * and cmdline may be NULL; the MP table lists ncpus processors)
 */
int linux_load(const char *path, const char *initrd, const char *cmdline,
	       unsigned int ncpus, void *ram, uint64_t ram_size,
	       struct image_info *info, char *err, size_t errlen);
/* the MP floating pointer and table at LINUX_BIOS_AREA (mptable.c) */
void mptable_build(void *ram, unsigned int ncpus);
/* page tables at BOOT_PML4: [0, 4 GiB) identity-mapped with 2 MiB pages */
void loader_identity_map(uint8_t *ram);
/* the vCPU's special registers for info->mode */
void boot_sregs(const struct image_info *info, struct be_sregs *sr);

/* ---- shared by loader.c and multiboot.c ---- */
int loader_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int loader_read_file(const char *what, const char *path, uint8_t **bufp,
		     size_t *lenp, char *err, size_t errlen);
/* ELF32 or ELF64 PT_LOAD segments at p_paddr; fills entry, load_* */
int loader_load_elf(const char *path, const uint8_t *buf, size_t len,
		    uint8_t *ram, uint64_t ram_size, struct image_info *info,
		    char *err, size_t errlen);
/* error when [start, end) overlaps the boot area */
int loader_check_boot_area(const char *path, uint64_t start, uint64_t end,
			   char *err, size_t errlen);
/*
 * multiboot: 1 when buf has a valid header (and the image was loaded),
 * 0 when it has none, -1 on error
 */
int multiboot_load(const char *path, const uint8_t *buf, size_t len,
		   uint8_t *ram, uint64_t ram_size,
		   const struct boot_opts *opts, struct image_info *info,
		   char *err, size_t errlen);

#endif /* SHADOWVM_LOADER_H */
