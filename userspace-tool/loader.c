// SPDX-License-Identifier: GPL-2.0
/*
 * Flat binary and ELF32 loader for the runner; contract in loader.h.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "loader.h"

/* Images are read whole; nothing sensible is bigger. */
#define MAX_IMAGE_FILE	(4ULL << 30)

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int read_file(const char *path, uint8_t **bufp, size_t *lenp,
		     char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "cannot read image '%s': %s", path,
			    strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return fail(err, errlen, "cannot read image '%s': %s", path,
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
				return fail(err, errlen,
					    "image '%s' is larger than 4 GiB",
					    path);
			}
			p = realloc(buf, cap);
			if (!p) {
				free(buf);
				close(fd);
				return fail(err, errlen,
					    "cannot read image '%s': %s", path,
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
			return fail(err, errlen, "cannot read image '%s': %s",
				    path, strerror(e));
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	if (!len) {
		free(buf);
		return fail(err, errlen, "image '%s' is empty", path);
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

static int load_elf32(const char *path, const uint8_t *buf, size_t len,
		      uint8_t *ram, uint64_t ram_size,
		      struct image_info *info, char *err, size_t errlen)
{
	const Elf32_Ehdr *eh = (const Elf32_Ehdr *)buf;
	uint64_t lo = UINT64_MAX, hi = 0;
	unsigned int i, loaded = 0;

	if (len < sizeof(*eh))
		return fail(err, errlen, "image '%s': truncated ELF header",
			    path);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(err, errlen, "image '%s': not a little-endian ELF",
			    path);
	if (eh->e_machine != EM_386)
		return fail(err, errlen,
			    "image '%s': ELF32 machine %u is not i386", path,
			    eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return fail(err, errlen,
			    "image '%s': ELF type %u is not an executable (ET_EXEC)",
			    path, eh->e_type);
	if (eh->e_phentsize != sizeof(Elf32_Phdr) ||
	    (uint64_t)eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf32_Phdr) >
	    len)
		return fail(err, errlen,
			    "image '%s': bad ELF program header table", path);

	for (i = 0; i < eh->e_phnum; i++) {
		const Elf32_Phdr *ph = (const Elf32_Phdr *)
			(buf + eh->e_phoff + i * sizeof(Elf32_Phdr));
		uint64_t pa = ph->p_paddr;

		if (ph->p_type != PT_LOAD || !ph->p_memsz)
			continue;
		if (ph->p_filesz > ph->p_memsz ||
		    (uint64_t)ph->p_offset + ph->p_filesz > len)
			return fail(err, errlen,
				    "image '%s': PT_LOAD segment %u lies outside the file",
				    path, i);
		if (pa + ph->p_memsz > ram_size)
			return fail(err, errlen,
				    "image '%s' is larger than guest RAM: segment %u at 0x%llx-0x%llx, RAM ends at 0x%llx (use --mem)",
				    path, i, (unsigned long long)pa,
				    (unsigned long long)(pa + ph->p_memsz),
				    (unsigned long long)ram_size);
		memcpy(ram + pa, buf + ph->p_offset, ph->p_filesz);
		memset(ram + pa + ph->p_filesz, 0,
		       ph->p_memsz - ph->p_filesz);
		if (pa < lo)
			lo = pa;
		if (pa + ph->p_memsz > hi)
			hi = pa + ph->p_memsz;
		loaded++;
	}
	if (!loaded)
		return fail(err, errlen, "image '%s': ELF has no PT_LOAD segment",
			    path);
	if (eh->e_entry >= ram_size)
		return fail(err, errlen,
			    "image '%s': entry point 0x%x is outside guest RAM",
			    path, eh->e_entry);
	info->format = "elf32";
	info->entry = eh->e_entry;
	info->stack = INITIAL_ESP;
	info->load_start = lo;
	info->load_end = hi;
	return 0;
}

int load_image(const char *path, void *ram, uint64_t ram_size,
	       struct image_info *info, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	memset(info, 0, sizeof(*info));
	if (read_file(path, &buf, &len, err, errlen))
		return -1;

	if (len >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG)) {
		if (len > EI_CLASS && buf[EI_CLASS] == ELFCLASS64)
			ret = fail(err, errlen,
				   "image '%s' is ELF64: 64-bit guests need long mode, which this version does not support (use an ELF32 or flat image)",
				   path);
		else if (len > EI_CLASS && buf[EI_CLASS] == ELFCLASS32)
			ret = load_elf32(path, buf, len, ram, ram_size, info,
					 err, errlen);
		else
			ret = fail(err, errlen, "image '%s': unknown ELF class",
				   path);
		free(buf);
		return ret;
	}

	if (ram_size < FLAT_LOAD_ADDR || len > ram_size - FLAT_LOAD_ADDR) {
		ret = fail(err, errlen,
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
	info->stack = INITIAL_ESP;
	info->load_start = FLAT_LOAD_ADDR;
	info->load_end = FLAT_LOAD_ADDR + len;
	return 0;
}
