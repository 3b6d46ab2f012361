// SPDX-License-Identifier: GPL-2.0
/*
 * pvhboot - boot an uncompressed Linux vmlinux through its PVH entry point.
 *
 * Used by testvm/boot.sh to skip the kernel's own XZ decompression, which
 * costs the emulated CPU about 45 s in Bochs. syslinux's mboot.c32 loads
 * this Multiboot image with two modules: vmlinux compressed with LZ4 (frame
 * format) and the initramfs. pvhboot moves both out of the way, decompresses
 * vmlinux, copies its PT_LOAD segments to their physical addresses, builds a
 * struct hvm_start_info (version 1: command line, the initramfs as module 0,
 * the BIOS memory map, the ACPI RSDP) and jumps to the kernel's
 * XEN_ELFNOTE_PHYS32_ENTRY in 32-bit protected mode with paging off.
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

#define XEN_HVM_START_MAGIC	0x336ec578
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PT_LOAD			1
#define PT_NOTE			4
#define MAX_MMAP		64

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

struct hvm_start_info {
	u32 magic, version, flags, nr_modules;
	u64 modlist_paddr, cmdline_paddr, rsdp_paddr;
	u64 memmap_paddr;
	u32 memmap_entries, reserved;
};

struct hvm_modlist_entry {
	u64 paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_table_entry {
	u64 addr, size;
	u32 type, reserved;
};

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

static struct hvm_start_info start_info;
static struct hvm_modlist_entry modlist[1];
static struct hvm_memmap_table_entry memmap[MAX_MMAP];
static char cmdline[2048];
u32 pvh_start_info_addr;

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
		asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
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
	asm volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(0) : "memory");
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
		if (off >= len) {
			memmove(op, match, len);
			op += len;
		} else {
			while (len--)
				*op++ = *match++;
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

static u32 pvh_entry(const u8 *elf, const struct elf64_ehdr *eh)
{
	const struct elf64_phdr *ph = (const void *)(elf + (u32)eh->phoff);
	u32 i;

	for (i = 0; i < eh->phnum; i++, ph++) {
		const u8 *p = elf + (u32)ph->offset, *end = p + (u32)ph->filesz;

		if (ph->type != PT_NOTE)
			continue;
		while (p + 12 <= end) {
			u32 namesz = get32(p), descsz = get32(p + 4);
			u32 type = get32(p + 8);
			const u8 *name = p + 12;
			const u8 *desc = name + ((namesz + 3) & ~3u);

			if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
			    name[0] == 'X' && name[1] == 'e' && name[2] == 'n')
				return get32(desc);
			p = desc + ((descsz + 3) & ~3u);
		}
	}
	fail("no XEN_ELFNOTE_PHYS32_ENTRY (CONFIG_PVH) in vmlinux", 0);
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
	if (get32(elf) != 0x464c457f || elf[4] != 2)
		fail("vmlinux is not an ELF64 file, size", size);
	entry = pvh_entry(elf, eh);

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

	n = 0;
	for (i = 0; i < mbi->mmap_length && n < MAX_MMAP; n++) {
		struct mb_mmap *m = (struct mb_mmap *)(mbi->mmap_addr + i);

		memmap[n].addr = m->addr;
		memmap[n].size = m->len;
		memmap[n].type = m->type;
		i += m->size + 4;
	}

	modlist[0].paddr = mods[1].start;
	modlist[0].size = mods[1].end - mods[1].start;
	start_info.magic = XEN_HVM_START_MAGIC;
	start_info.version = 1;
	start_info.nr_modules = 1;
	start_info.modlist_paddr = (u32)modlist;
	start_info.cmdline_paddr = (u32)cmdline;
	start_info.rsdp_paddr = find_rsdp();
	start_info.memmap_paddr = (u32)memmap;
	start_info.memmap_entries = n;
	pvh_start_info_addr = (u32)&start_info;
	return entry;
}
