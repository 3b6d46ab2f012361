// SPDX-License-Identifier: GPL-2.0
/*
 * Flat binary, ELF32 and ELF64 loader for the runner, the long-mode start
 * state, and the format dispatch (multiboot first); contract in loader.h.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "loader.h"

/* Images are read whole; nothing sensible is bigger. */
#define MAX_IMAGE_FILE	(4ULL << 30)

int loader_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int loader_read_file(const char *what, const char *path, uint8_t **bufp, size_t *lenp,
		     char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return loader_fail(err, errlen, "cannot read %s '%s': %s", what, path,
			    strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return loader_fail(err, errlen, "cannot read %s '%s': %s", what, path,
			    strerror(EISDIR));
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			uint8_t *p;

			cap = cap ? cap * 2 : 1 << 16;
			if (cap > MAX_IMAGE_FILE + 1)
				cap = MAX_IMAGE_FILE + 1;
			if (len == cap) {
				free(buf);
				close(fd);
				return loader_fail(err, errlen,
					    "%s '%s' is larger than 4 GiB",
					    what, path);
			}
			p = realloc(buf, cap);
			if (!p) {
				free(buf);
				close(fd);
				return loader_fail(err, errlen,
					    "cannot read %s '%s': %s", what, path,
					    strerror(ENOMEM));
			}
			buf = p;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			free(buf);
			close(fd);
			return loader_fail(err, errlen, "cannot read %s '%s': %s",
				    what, path, strerror(e));
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	if (!len && !strcmp(what, "image")) {	/* an empty module is fine */
		free(buf);
		return loader_fail(err, errlen, "%s '%s' is empty", what, path);
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}


/* one PT_LOAD segment: checks, copy, zero the rest */
static int load_segment(const char *path, unsigned int i, const uint8_t *buf,
			size_t len, uint64_t off, uint64_t filesz,
			uint64_t memsz, uint64_t pa, uint8_t *ram,
			uint64_t ram_size, char *err, size_t errlen)
{
	if (filesz > memsz || off > len || filesz > len - off)
		return loader_fail(err, errlen,
				   "image '%s': PT_LOAD segment %u lies outside the file",
				   path, i);
	if (pa >= ram_size || memsz > ram_size - pa)
		return loader_fail(err, errlen,
				   "image '%s' is larger than guest RAM: segment %u at 0x%llx-0x%llx, RAM ends at 0x%llx (use --mem)",
				   path, i, (unsigned long long)pa,
				   (unsigned long long)(pa + memsz),
				   (unsigned long long)ram_size);
	memcpy(ram + pa, buf + off, filesz);
	memset(ram + pa + filesz, 0, memsz - filesz);
	return 0;
}

int loader_load_elf(const char *path, const uint8_t *buf, size_t len,
		    uint8_t *ram, uint64_t ram_size, struct image_info *info,
		    char *err, size_t errlen)
{
	bool is64 = len > EI_CLASS && buf[EI_CLASS] == ELFCLASS64;
	size_t ehsz = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsz = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	uint64_t lo = UINT64_MAX, hi = 0, phoff, entry;
	unsigned int i, loaded = 0, phnum, machine, type, phentsize;

	if (len <= EI_CLASS || (buf[EI_CLASS] != ELFCLASS32 &&
				buf[EI_CLASS] != ELFCLASS64))
		return loader_fail(err, errlen, "image '%s': unknown ELF class",
				   path);
	if (len < ehsz)
		return loader_fail(err, errlen,
				   "image '%s': truncated ELF header", path);
	if (buf[EI_DATA] != ELFDATA2LSB)
		return loader_fail(err, errlen,
				   "image '%s': not a little-endian ELF", path);
	if (is64) {
		const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;

		machine = eh->e_machine;
		type = eh->e_type;
		phoff = eh->e_phoff;
		phnum = eh->e_phnum;
		phentsize = eh->e_phentsize;
		entry = eh->e_entry;
	} else {
		const Elf32_Ehdr *eh = (const Elf32_Ehdr *)buf;

		machine = eh->e_machine;
		type = eh->e_type;
		phoff = eh->e_phoff;
		phnum = eh->e_phnum;
		phentsize = eh->e_phentsize;
		entry = eh->e_entry;
	}
	if (machine != (is64 ? EM_X86_64 : EM_386))
		return loader_fail(err, errlen,
				   "image '%s': ELF%d machine %u is not %s", path,
				   is64 ? 64 : 32, machine,
				   is64 ? "x86-64" : "i386");
	if (type != ET_EXEC)
		return loader_fail(err, errlen,
				   "image '%s': ELF type %u is not an executable (ET_EXEC)",
				   path, type);
	if (phentsize != phsz || phoff > len ||
	    (uint64_t)phnum * phsz > len - phoff)
		return loader_fail(err, errlen,
				   "image '%s': bad ELF program header table",
				   path);

	for (i = 0; i < phnum; i++) {
		const uint8_t *p = buf + phoff + (uint64_t)i * phsz;
		uint64_t off, filesz, memsz, pa;
		uint32_t ptype;

		if (is64) {
			const Elf64_Phdr *ph = (const Elf64_Phdr *)p;

			ptype = ph->p_type;
			off = ph->p_offset;
			filesz = ph->p_filesz;
			memsz = ph->p_memsz;
			pa = ph->p_paddr;
		} else {
			const Elf32_Phdr *ph = (const Elf32_Phdr *)p;

			ptype = ph->p_type;
			off = ph->p_offset;
			filesz = ph->p_filesz;
			memsz = ph->p_memsz;
			pa = ph->p_paddr;
		}
		if (ptype != PT_LOAD || !memsz)
			continue;
		if (load_segment(path, i, buf, len, off, filesz, memsz, pa,
				 ram, ram_size, err, errlen))
			return -1;
		if (pa < lo)
			lo = pa;
		if (pa + memsz > hi)
			hi = pa + memsz;
		loaded++;
	}
	if (!loaded)
		return loader_fail(err, errlen,
				   "image '%s': ELF has no PT_LOAD segment", path);
	if (entry >= ram_size)
		return loader_fail(err, errlen,
				   "image '%s': entry point 0x%llx is outside guest RAM",
				   path, (unsigned long long)entry);
	info->format = is64 ? "elf64" : "elf32";
	info->entry = entry;
	info->load_start = lo;
	info->load_end = hi;
	return 0;
}

int loader_check_boot_area(const char *path, uint64_t start, uint64_t end,
			   char *err, size_t errlen)
{
	if (start < BOOT_AREA_END && end > BOOT_AREA_START)
		return loader_fail(err, errlen,
				   "image '%s' loads at 0x%llx-0x%llx, over the runner's boot area 0x%llx-0x%llx (link it at 1 MiB or above)",
				   path, (unsigned long long)start,
				   (unsigned long long)end, BOOT_AREA_START,
				   BOOT_AREA_END);
	return 0;
}

static void put64(uint8_t *ram, uint64_t gpa, uint64_t v)
{
	memcpy(ram + gpa, &v, 8);
}

void loader_identity_map(uint8_t *ram)
{
	uint64_t i;

	memset(ram + BOOT_PML4, 0, BOOT_PD + 0x4000 - BOOT_PML4);
	put64(ram, BOOT_PML4, BOOT_PDPT | 0x3);
	for (i = 0; i < 4; i++)
		put64(ram, BOOT_PDPT + i * 8, (BOOT_PD + i * 0x1000) | 0x3);
	for (i = 0; i < 2048; i++)
		put64(ram, BOOT_PD + i * 8, (i << 21) | 0x83);	/* P RW PS */
}

/*
 * Long mode: identity map of [0, 4 GiB) with 2 MiB pages (PML4 -> one
 * PDPT -> four PDs, all present, writable, supervisor), and a GDT:
 * 0x08 64-bit code, 0x10 data, 0x18 64-bit TSS (busy, at BOOT_TSS).
 */
static void build_long_mode(uint8_t *ram)
{
	uint64_t tss_lo;

	memset(ram + BOOT_GDT, 0, BOOT_PML4 - BOOT_GDT);
	put64(ram, BOOT_GDT + 0x08, 0x00af9b000000ffffULL);	/* code64 */
	put64(ram, BOOT_GDT + 0x10, 0x00cf93000000ffffULL);	/* data */
	tss_lo = 0x67 | ((BOOT_TSS & 0xffffff) << 16) | (0x8bULL << 40) |
		 ((BOOT_TSS >> 24) & 0xff) << 56;
	put64(ram, BOOT_GDT + 0x18, tss_lo);
	put64(ram, BOOT_GDT + 0x20, BOOT_TSS >> 32);
	loader_identity_map(ram);
}

void boot_sregs(const struct image_info *info, struct be_sregs *sr)
{
	be_flat32_sregs(sr);
	if (info->mode == BOOT_FLAT32)
		return;
	sr->cs.l = 1;
	sr->cs.db = 0;
	sr->tr.base = BOOT_TSS;
	sr->tr.type = 11;		/* busy 64-bit TSS */
	sr->gdt.base = BOOT_GDT;
	sr->gdt.limit = 0x27;
	sr->cr0 = 0x80000011;		/* PG | ET | PE */
	sr->cr3 = BOOT_PML4;
	sr->cr4 = 0x20;			/* PAE */
	sr->efer = 0x500;		/* LME | LMA */
	if (info->mode != BOOT_LINUX64)
		return;
	/* __BOOT_CS, __BOOT_DS (linux_boot.c's GDT); TSS at 0x20 */
	sr->cs.selector = 0x10;
	sr->ds.selector = 0x18;
	sr->es = sr->ds;
	sr->fs = sr->ds;
	sr->gs = sr->ds;
	sr->ss = sr->ds;
	sr->tr.selector = 0x20;
	sr->gdt.limit = 0x2f;
}

int load_image(const char *path, void *ram, uint64_t ram_size,
	       const struct boot_opts *opts, struct image_info *info,
	       char *err, size_t errlen)
{
	static const struct boot_opts none;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	memset(info, 0, sizeof(*info));
	info->stack = INITIAL_ESP;
	if (!opts)
		opts = &none;
	if (loader_read_file("image", path, &buf, &len, err, errlen))
		return -1;

	ret = multiboot_load(path, buf, len, ram, ram_size, opts, info, err,
			     errlen);
	if (ret) {
		free(buf);
		return ret < 0 ? -1 : 0;
	}
	if (opts->append || opts->env || opts->nmods) {
		free(buf);
		return loader_fail(err, errlen,
				   "image '%s' is not a multiboot kernel: --append, --module and --env need one",
				   path);
	}

	if (len >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG)) {
		ret = loader_load_elf(path, buf, len, ram, ram_size, info, err,
				      errlen);
		free(buf);
		if (ret || strcmp(info->format, "elf64"))
			return ret;
		if (info->entry >= (4ULL << 30))
			return loader_fail(err, errlen,
					   "image '%s': ELF64 entry point 0x%llx is above 4 GiB (the identity map's end)",
					   path, (unsigned long long)info->entry);
		if (loader_check_boot_area(path, info->load_start,
					   info->load_end, err, errlen))
			return -1;
		build_long_mode(ram);
		info->mode = BOOT_LONG64;
		return 0;
	}

	if (ram_size < FLAT_LOAD_ADDR || len > ram_size - FLAT_LOAD_ADDR) {
		ret = loader_fail(err, errlen,
				  "image '%s' is larger than guest RAM: %zu bytes at 0x%llx, RAM ends at 0x%llx (use --mem)",
				  path, len, FLAT_LOAD_ADDR,
				  (unsigned long long)ram_size);
		free(buf);
		return ret;
	}
	memcpy((uint8_t *)ram + FLAT_LOAD_ADDR, buf, len);
	free(buf);
	info->format = "flat";
	info->entry = FLAT_LOAD_ADDR;
	info->load_start = FLAT_LOAD_ADDR;
	info->load_end = FLAT_LOAD_ADDR + len;
	return 0;
}
