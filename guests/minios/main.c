// SPDX-License-Identifier: GPL-2.0
/*
 * minios boot: multiboot information, command-line parameters, bring-up
 * order (CPU tables, memory, paging, LAPIC, disk), then init.
 *
 * Contract: everything kmain() needs from the multiboot information (the
 * memory map and the command line) is copied before the page allocator
 * writes into free RAM, so the loader may put it anywhere. Without the
 * multiboot magic (a plain ELF loader) RAM is assumed to be 16 MiB and the
 * defaults apply. Parameters are `key=value` words of the command line
 * (the first word, the image name, is skipped when it has no '='):
 *   procs=8 rounds=2 pages=32 shared=16 sectors=8 timer=1000000
 *   minticks=2 maxpass=8 verbose=0 bochs_shutdown=0
 */
#include "kernel.h"

#define MB_BOOT_MAGIC	0x2badb002u
#define MB_MEM		(1u << 0)
#define MB_CMDLINE	(1u << 2)
#define MB_MMAP		(1u << 6)
#define MAX_RANGES	32

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
};

struct mb_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

struct params params = {
	.procs = 8, .rounds = 2, .pages = 32, .shared = 16, .sectors = 8,
	.timer = 1000000, .minticks = 2, .maxpass = 8,
};
uint32_t mem_kb;
uint32_t baseline_free;
extern int bochs_shutdown;
extern char __kernel_end[];

static char cmdline[256];
static uint32_t ranges[MAX_RANGES][2];
static int nranges;

static uint32_t parse_num(const char *s, const char **end)
{
	uint32_t v = 0, base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++) {
		uint32_t d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = v * base + d;
	}
	*end = s;
	return v;
}

static int word_is(const char *w, const char *key, const char **val)
{
	while (*key && *w == *key) {
		w++;
		key++;
	}
	if (*key || *w != '=')
		return 0;
	*val = w + 1;
	return 1;
}

static void parse_cmdline(void)
{
	static const struct { const char *key; uint32_t *v, min, max; } keys[] = {
		{ "procs", &params.procs, 1, 15 },
		{ "rounds", &params.rounds, 1, 1000 },
		{ "pages", &params.pages, 1, 1024 },
		{ "shared", &params.shared, 0, 256 },
		{ "sectors", &params.sectors, 0, 32 },
		{ "timer", &params.timer, 1000, 0xffffffffu },
		{ "minticks", &params.minticks, 0, 100000 },
		{ "maxpass", &params.maxpass, 1, 100000 },
		{ "verbose", &params.verbose, 0, 1 },
		{ "bochs_shutdown", (uint32_t *)&bochs_shutdown, 0, 1 },
	};
	const char *p = cmdline, *val, *end;
	unsigned int i;
	uint32_t v;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		for (i = 0; i < ARRAY_SIZE(keys); i++) {
			if (!word_is(p, keys[i].key, &val))
				continue;
			v = parse_num(val, &end);
			if ((*end && *end != ' ') || v < keys[i].min ||
			    v > keys[i].max)
				kprintf("minios: ignoring bad %s= (range %u..%u)\n",
					keys[i].key, keys[i].min, keys[i].max);
			else
				*keys[i].v = v;
			break;
		}
		while (*p && *p != ' ')
			p++;
	}
}

static void add_range(uint64_t start, uint64_t len)
{
	uint64_t end = start + len;

	if (start >= 0x100000000ull || nranges == MAX_RANGES)
		return;
	if (end > 0x100000000ull)
		end = 0x100000000ull;
	if (start < 0x100000)	/* leave the first MiB alone */
		start = 0x100000;
	if (end <= start)
		return;
	ranges[nranges][0] = start;
	ranges[nranges][1] = end;
	nranges++;
	mem_kb += (end - start) >> 10;
}

static void read_multiboot(uint32_t magic, const struct mb_info *mbi)
{
	const char *src;
	uint32_t off;
	unsigned int i;

	if (magic != MB_BOOT_MAGIC) {
		kprintf("minios: no multiboot magic (0x%x): assuming 16 MiB\n",
			magic);
		add_range(0x100000, 15u << 20);
		return;
	}
	if (mbi->flags & MB_CMDLINE) {
		src = (const char *)mbi->cmdline;
		for (i = 0; i < sizeof(cmdline) - 1 && src[i]; i++)
			cmdline[i] = src[i];
	}
	if (mbi->flags & MB_MMAP) {
		for (off = 0; off + sizeof(struct mb_mmap) <= mbi->mmap_length;) {
			const struct mb_mmap *m = (const void *)(mbi->mmap_addr + off);

			if (m->type == 1)
				add_range(m->addr, m->len);
			off += m->size + 4;
		}
	} else if (mbi->flags & MB_MEM) {
		add_range(0x100000, (uint64_t)mbi->mem_upper << 10);
	}
	if (!nranges)
		add_range(0x100000, 15u << 20);
}

void kmain(uint32_t magic, const struct mb_info *mbi)
{
	cpu_init();
	read_multiboot(magic, mbi);
	kprintf("minios: booting (%s paging), cmdline \"%s\"\n",
		mm_mode_name(), cmdline);
	parse_cmdline();
	mm_init((const uint32_t (*)[2])ranges, nranges,
		(uint32_t)__kernel_end);
	mm_map_mmio(0xfee00000u);
	disk_map();
	paging_enable();
	lapic_init(params.timer);
	disk_init();
	baseline_free = mm_free_pages;
	kprintf("minios: mem %uK free %u pages; procs=%u rounds=%u pages=%u shared=%u sectors=%u timer=%u minticks=%u maxpass=%u\n",
		mem_kb, mm_free_pages, params.procs, params.rounds,
		params.pages, params.shared, params.sectors, params.timer,
		params.minticks, params.maxpass);
	proc_start_init();
}
