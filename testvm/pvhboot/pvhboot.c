// SPDX-License-Identifier: GPL-2.0
/*
 * pvhboot - boot an uncompressed Linux vmlinux without its decompressor.
 *
 * Used by testvm/boot.sh to skip the kernel's own XZ decompression, which
 * costs the emulated CPU about 45 s in Bochs. syslinux's mboot.c32 loads
 * this Multiboot image with two modules: vmlinux compressed with LZ4 (frame
 * format) and the initramfs. pvhboot moves both out of the way, decompresses
 * vmlinux, copies its PT_LOAD segments to their physical addresses, fills a
 * struct boot_params (the "zero page": command line, the initramfs, the
 * BIOS memory map, the ACPI RSDP) and enters the kernel's startup_64 (the
 * ELF entry point) by the x86-64 boot protocol (Documentation/x86/boot.rst,
 * "64-bit Boot Protocol"): long mode, the first 4 GiB identity-mapped,
 * %rsi = the boot_params. This is how the bzImage's decompressor enters
 * vmlinux.
 *
 * The name is historical: pvhboot used to enter the PVH entry point
 * (XEN_ELFNOTE_PHYS32_ENTRY, pvh_start_xen). That path calls the C function
 * xen_prepare_pvh() before startup_64 has set up anything, which cannot
 * work in a kernel built with KASAN (inline, with stack instrumentation):
 * the function's prologue poisons its stack redzones in the KASAN shadow,
 * which kasan_early_init() has not mapped yet, and the non-canonical shadow
 * address of the physical boot stack triple-faults the CPU before the
 * kernel prints anything. startup_64 has no such dependency: the same entry
 * boots the Debian and the debug kernels.
 *
 * Errors are printed on COM1 and stop the CPU.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define MB_LOADER_MAGIC		0x2BADB002
#define MB_INFO_CMDLINE		(1 << 2)
#define MB_INFO_MODS		(1 << 3)
#define MB_INFO_MMAP		(1 << 6)

#define MOVE_TO			0x20000000u	/* 512 MiB: modules */
#define UNPACK_TO		0x08000000u	/* 128 MiB: vmlinux ELF */
#define UNPACK_MAX		(MOVE_TO - UNPACK_TO)

#define PT_LOAD			1

struct mb_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline;
	u32 mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr;
};

struct mb_mod {
	u32 start, end, string, reserved;
};

struct mb_mmap {
	u32 size;
	u64 addr, len;
	u32 type;
} __attribute__((packed));

struct elf64_ehdr {
	u8 ident[16];
	u16 type, machine;
	u32 version;
	u64 entry, phoff, shoff;
	u32 flags;
	u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct elf64_phdr {
	u32 type, flags;
	u64 offset, vaddr, paddr, filesz, memsz, align;
};

/* struct boot_params, by offset (Documentation/x86/zero-page.rst, boot.rst) */
#define BP_ACPI_RSDP_ADDR	0x070	/* u64 */
#define BP_E820_ENTRIES		0x1e8	/* u8 */
#define BP_BOOT_FLAG		0x1fe	/* u16: 0xaa55 */
#define BP_HEADER		0x202	/* u32: "HdrS" */
#define BP_VERSION		0x206	/* u16: boot protocol version */
#define BP_TYPE_OF_LOADER	0x210	/* u8 */
#define BP_LOADFLAGS		0x211	/* u8 */
#define BP_RAMDISK_IMAGE	0x218	/* u32 */
#define BP_RAMDISK_SIZE		0x21c	/* u32 */
#define BP_CMD_LINE_PTR		0x228	/* u32 */
#define BP_E820_TABLE		0x2d0	/* 128 x { u64 addr, size; u32 type } */
#define BP_E820_MAX		128
#define E820_TYPE_RESERVED	2
#define LOADED_HIGH		0x01

static u8 boot_params[4096] __attribute__((aligned(4096)));
/* Identity map of 0..4 GiB: PML4, PDPT, 4 page directories of 2 MiB pages. */
static u64 pml4[512] __attribute__((aligned(4096)));
static u64 pdpt[512] __attribute__((aligned(4096)));
static u64 pd[4][512] __attribute__((aligned(4096)));
/* COMMAND_LINE_SIZE on x86: the kernel copies that much from cmd_line_ptr. */
static char cmdline[2048];
/* For head.S: CR3 for long mode, the boot_params for %rsi. */
u32 boot_cr3, boot_params_addr;

static inline void outb(u16 port, u8 v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void putc_serial(char c)
{
	while (!(inb(0x3f8 + 5) & 0x20))
		;
	outb(0x3f8, c);
}

static void puts_serial(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			putc_serial('\r');
		putc_serial(*s);
	}
}

static void puthex(u32 v)
{
	int i;

	puts_serial("0x");
	for (i = 28; i >= 0; i -= 4)
		putc_serial("0123456789abcdef"[(v >> i) & 15]);
}

static void __attribute__((noreturn)) fail(const char *why, u32 v)
{
	puts_serial("pvhboot: error: ");
	puts_serial(why);
	puts_serial(" ");
	puthex(v);
	puts_serial("\n");
	for (;;)
		asm volatile("cli; hlt");
}

static void *memmove(void *dst, const void *src, u32 n)
{
	u8 *d = dst;
	const u8 *s = src;

	if (d == s || !n)
		return dst;
	if (d < s || d >= s + n) {
		/*
		 * Forward, by dwords: Bochs runs a "rep movs" one iteration
		 * at a time (its fast string paths are compiled out with its
		 * debugger), so dwords take a quarter of the iterations of
		 * bytes. Forward copies with d < s may overlap.
		 */
		u32 q = n >> 2, r = n & 3;

		asm volatile("rep movsl" : "+D"(d), "+S"(s), "+c"(q) : : "memory");
		asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(r) : : "memory");
	} else {
		d += n - 1;
		s += n - 1;
		asm volatile("std; rep movsb; cld"
			     : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	}
	return dst;
}

static void memzero(void *dst, u32 n)
{
	u32 q = n >> 2, r = n & 3;

	asm volatile("rep stosl" : "+D"(dst), "+c"(q) : "a"(0) : "memory");
	asm volatile("rep stosb" : "+D"(dst), "+c"(r) : "a"(0) : "memory");
}

static u32 get32(const u8 *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24;
}

/* Decode one LZ4 block; back-references may reach into earlier output. */
static u8 *lz4_block(const u8 *ip, const u8 *iend, u8 *op, u8 *oend)
{
	while (ip < iend) {
		u32 token = *ip++, len = token >> 4, off;
		const u8 *match;
		u8 b;

		if (len == 15) {
			do {
				b = *ip++;
				len += b;
			} while (b == 255);
		}
		if (op + len > oend || ip + len > iend)
			fail("lz4: literals overflow at", (u32)op);
		memmove(op, ip, len);
		ip += len;
		op += len;
		if (ip >= iend)
			break;
		off = ip[0] | ip[1] << 8;
		ip += 2;
		len = token & 15;
		if (len == 15) {
			do {
				b = *ip++;
				len += b;
			} while (b == 255);
		}
		len += 4;
		match = op - off;
		if (!off || match < (u8 *)UNPACK_TO || op + len > oend)
			fail("lz4: bad match at", (u32)op);
		/*
		 * An overlapping match (off < len) repeats the last off bytes:
		 * copy them in pieces of off bytes, each piece ending where
		 * the next starts, and double off each time (the output then
		 * repeats with twice the period). Runs of zeros (off 1: the
		 * kernel's .bss and the gaps between its segments, tens of
		 * MiB) so take about log2(len) block copies instead of a byte
		 * loop: 39 million fewer emulated instructions per boot of the
		 * Debian 6.1 kernel (measured 2026-12-01).
		 */
		while (len) {
			u32 n = off < len ? off : len;

			memmove(op, match, n);
			op += n;
			len -= n;
			off += n;
		}
	}
	return op;
}

/* Decode an LZ4 frame (lz4 CLI output); return the decoded size. */
static u32 lz4_frame(const u8 *ip, u32 size, u8 *out, u32 max)
{
	const u8 *iend = ip + size;
	u8 *op = out, *oend = out + max;
	u8 flg;

	if (size < 7 || get32(ip) != 0x184D2204)
		fail("vmlinux module is not an LZ4 frame, magic", get32(ip));
	flg = ip[4];
	ip += 6 + ((flg & 0x08) ? 8 : 0) + ((flg & 0x01) ? 4 : 0) + 1;
	for (;;) {
		u32 bsize;

		if (ip + 4 > iend)
			fail("lz4: truncated frame at", (u32)ip);
		bsize = get32(ip);
		ip += 4;
		if (!bsize)
			break;
		if (bsize & 0x80000000u) {
			bsize &= 0x7fffffffu;
			if (op + bsize > oend)
				fail("lz4: output overflow at", (u32)op);
			memmove(op, ip, bsize);
			op += bsize;
		} else {
			op = lz4_block(ip, ip + bsize, op, oend);
		}
		ip += bsize + ((flg & 0x10) ? 4 : 0);
	}
	return op - out;
}

static void put16(u32 off, u16 v)
{
	boot_params[off] = v;
	boot_params[off + 1] = v >> 8;
}

static void put32(u32 off, u32 v)
{
	put16(off, v);
	put16(off + 2, v >> 16);
}

static void put64(u32 off, u64 v)
{
	put32(off, v);
	put32(off + 4, v >> 32);
}

static void e820_add(u64 addr, u64 size, u32 type)
{
	u32 n = boot_params[BP_E820_ENTRIES], off = BP_E820_TABLE + n * 20;

	if (n >= BP_E820_MAX)
		fail("too many memory map entries", n);
	put64(off, addr);
	put64(off + 8, size);
	put32(off + 16, type);
	boot_params[BP_E820_ENTRIES] = n + 1;
}

static u32 rd32(u32 addr)
{
	u32 v;

	/* Through asm: the compiler must not reason about absolute addresses. */
	asm volatile("movl (%1), %0" : "=r"(v) : "r"(addr));
	return v;
}

static u32 find_rsdp(void)
{
	u32 a, ebda = (rd32(0x40c) >> 16) << 4;

	for (a = ebda; ebda && a < ebda + 1024; a += 16)
		if (rd32(a) == 0x20445352 && rd32(a + 4) == 0x20525450)
			return a;
	for (a = 0xe0000; a < 0x100000; a += 16)
		if (rd32(a) == 0x20445352 && rd32(a + 4) == 0x20525450)
			return a;
	return 0;
}

u32 pvhboot_main(u32 magic, struct mb_info *mbi)
{
	struct mb_mod *mods;
	const struct elf64_ehdr *eh;
	const struct elf64_phdr *ph;
	u32 i, n, dst, size, entry;
	const char *c;
	u8 *elf;

	if (magic != MB_LOADER_MAGIC)
		fail("not started by a Multiboot loader, eax", magic);
	if (!(mbi->flags & MB_INFO_MODS) || mbi->mods_count < 2)
		fail("need 2 modules (vmlinux.lz4, initramfs), got", mbi->mods_count);
	if (!(mbi->flags & MB_INFO_MMAP))
		fail("no memory map, flags", mbi->flags);
	memzero(boot_params, sizeof(boot_params));
	memzero(pml4, sizeof(pml4));
	memzero(pdpt, sizeof(pdpt));

	/* Command line: Multiboot's, less its first word (our file name). */
	if (mbi->flags & MB_INFO_CMDLINE) {
		c = (const char *)mbi->cmdline;
		while (*c && *c != ' ')
			c++;
		while (*c == ' ')
			c++;
		for (i = 0; c[i] && i < sizeof(cmdline) - 1; i++)
			cmdline[i] = c[i];
	}

	/* Move both modules to MOVE_TO, clear of vmlinux's destination. */
	mods = (struct mb_mod *)mbi->mods_addr;
	dst = MOVE_TO;
	for (i = 0; i < 2; i++) {
		size = mods[i].end - mods[i].start;
		if (i == 0 && dst + size > mods[1].start && dst < mods[1].end)
			fail("module 0 would overwrite module 1 at", mods[1].start);
		memmove((void *)dst, (void *)mods[i].start, size);
		mods[i].start = dst;
		mods[i].end = dst + size;
		dst = (dst + size + 4095) & ~4095u;
	}

	elf = (u8 *)UNPACK_TO;
	size = lz4_frame((u8 *)mods[0].start, mods[0].end - mods[0].start,
			 elf, UNPACK_MAX);
	eh = (const void *)elf;
	if (get32(elf) != 0x464c457f || elf[4] != 2 || eh->machine != 62)
		fail("vmlinux is not an x86-64 ELF file, size", size);
	/* startup_64's physical address (LOAD_PHYSICAL_ADDR, nokaslr). */
	entry = (u32)eh->entry;
	if (eh->entry >> 32 || entry < 0x100000)
		fail("vmlinux entry point is not a physical address", entry);

	ph = (const void *)(elf + (u32)eh->phoff);
	for (i = 0; i < eh->phnum; i++, ph++) {
		if (ph->type != PT_LOAD)
			continue;
		if (ph->paddr + ph->memsz > UNPACK_TO)
			fail("vmlinux segment too high, paddr", (u32)ph->paddr);
		memmove((void *)(u32)ph->paddr, elf + (u32)ph->offset,
			(u32)ph->filesz);
		memzero((void *)(u32)(ph->paddr + ph->filesz),
			(u32)(ph->memsz - ph->filesz));
	}

	/* The BIOS memory map, then the ISA hole as reserved (as PVH does). */
	for (i = 0; i < mbi->mmap_length; ) {
		struct mb_mmap *m = (struct mb_mmap *)(mbi->mmap_addr + i);

		e820_add(m->addr, m->len, m->type);
		i += m->size + 4;
	}
	e820_add(0xa0000, 0x100000 - 0xa0000, E820_TYPE_RESERVED);

	put16(BP_BOOT_FLAG, 0xaa55);
	put32(BP_HEADER, 0x53726448);		/* "HdrS" */
	put16(BP_VERSION, 0x020c);		/* 2.12 */
	boot_params[BP_TYPE_OF_LOADER] = 0xff;	/* undefined loader */
	boot_params[BP_LOADFLAGS] = LOADED_HIGH;
	put32(BP_RAMDISK_IMAGE, mods[1].start);
	put32(BP_RAMDISK_SIZE, mods[1].end - mods[1].start);
	put32(BP_CMD_LINE_PTR, (u32)cmdline);
	put64(BP_ACPI_RSDP_ADDR, find_rsdp());

	pml4[0] = (u32)pdpt | 3;
	for (i = 0; i < 4; i++) {
		pdpt[i] = (u32)pd[i] | 3;
		for (n = 0; n < 512; n++)	/* present, writable, 2 MiB */
			pd[i][n] = ((u64)(i * 512 + n) << 21) | 0x83;
	}
	boot_cr3 = (u32)pml4;
	boot_params_addr = (u32)boot_params;
	return entry;
}
