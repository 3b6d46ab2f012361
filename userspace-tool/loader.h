/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest image loader. Contract:
 *   - ELF32 (EM_386, ET_EXEC): every PT_LOAD segment is copied to guest
 *     physical p_paddr (p_filesz bytes, the rest up to p_memsz zeroed);
 *     entry = e_entry.
 *   - ELF64: refused (64-bit guests need long mode, not supported yet).
 *   - anything else is a flat binary copied to FLAT_LOAD_ADDR (1 MiB);
 *     entry = FLAT_LOAD_ADDR.
 *   - both: initial ESP = INITIAL_ESP (1 MiB), the stack grows down into
 *     the first MiB.
 * Guest RAM is [0, ram_size) backed by ram. On error a one-line message
 * (without the "shadowvm: " prefix) is put in err and -1 returned.
 */
#ifndef SHADOWVM_LOADER_H
#define SHADOWVM_LOADER_H

#include <stddef.h>
#include <stdint.h>

#define FLAT_LOAD_ADDR	0x100000ULL
#define INITIAL_ESP	0x100000ULL

struct image_info {
	const char *format;		/* "flat" or "elf32" */
	uint64_t entry;
	uint64_t stack;
	uint64_t load_start;		/* lowest guest byte written */
	uint64_t load_end;		/* one past the highest */
};

int load_image(const char *path, void *ram, uint64_t ram_size,
	       struct image_info *info, char *err, size_t errlen);

#endif /* SHADOWVM_LOADER_H */
