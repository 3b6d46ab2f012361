// SPDX-License-Identifier: GPL-2.0
/*
 * memtouch MIB [ROUNDS] - the Linux guest workload's anonymous-memory
 * phase: ROUNDS times (default 1) map MIB MiB of private anonymous memory,
 * write one byte in every 4 KiB page (each write a page fault: the kernel
 * allocates, zeroes and maps the page, which writes the guest's page
 * tables), read them back, and unmap it (the kernel clears the page tables
 * and frees the pages). Prints the pages touched; exit status 0, or 1 when
 * mmap fails or a page reads back wrong. Linked statically into the
 * guest's initramfs by mkinitramfs.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 32;
	unsigned long rounds = argc > 2 ? strtoul(argv[2], NULL, 0) : 1;
	size_t len = mib << 20, off, pages = 0;
	unsigned long r;
	char *p;

	for (r = 0; r < rounds; r++) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("memtouch: mmap");
			return 1;
		}
		for (off = 0; off < len; off += 4096, pages++)
			p[off] = (char)(off >> 12) | 1;
		for (off = 0; off < len; off += 4096)
			if (p[off] != ((char)(off >> 12) | 1)) {
				fprintf(stderr, "memtouch: page %zu reads wrong\n",
					off >> 12);
				return 1;
			}
		munmap(p, len);
	}
	printf("memtouch: %zu pages touched in %lu round(s) of %zu MiB\n",
	       pages, rounds, mib);
	return 0;
}
