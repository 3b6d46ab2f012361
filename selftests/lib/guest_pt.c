// SPDX-License-Identifier: GPL-2.0
/*
 * guest_pt.c - the guest page-table builder of the shadow-MMU selftests:
 * struct gp writes 32-bit, PAE or 4-level page tables into guest RAM from
 * the host side (tables from a frame pool, 4 KiB / big / 1 GiB pages,
 * shared top-level entries, software translation). It runs no guest code;
 * guest_runtime.c does. Contract in guest_paging.h.
 */
#include <errno.h>
#include <string.h>

#include "guest_paging.h"

const char *gp_mode_name(enum gp_mode mode)
{
	switch (mode) {
	case GP_MODE_NONE:
		return "paging off";
	case GP_MODE_32:
		return "32-bit";
	case GP_MODE_PAE:
		return "PAE";
	case GP_MODE_LM:
		return "long mode";
	}
	return "?";
}

int gp_levels(enum gp_mode mode)
{
	switch (mode) {
	case GP_MODE_32:
		return 2;
	case GP_MODE_PAE:
		return 3;
	case GP_MODE_LM:
		return 4;
	default:
		return 0;
	}
}

int gp_esize(enum gp_mode mode)
{
	return mode == GP_MODE_32 ? 4 : 8;
}

static uint64_t addr_mask(enum gp_mode mode)
{
	return mode == GP_MODE_32 ? 0xfffff000ULL : 0x000ffffffffff000ULL;
}

static int level_shift(enum gp_mode mode, int level)
{
	if (mode == GP_MODE_32)
		return level == 1 ? 12 : 22;
	return 12 + 9 * (level - 1);
}

static uint64_t level_index(enum gp_mode mode, uint64_t la, int level)
{
	if (mode == GP_MODE_32)
		return (la >> level_shift(mode, level)) & 0x3ff;
	if (mode == GP_MODE_PAE && level == 3)
		return (la >> 30) & 3;
	return (la >> level_shift(mode, level)) & 0x1ff;
}

uint64_t gp_get(const struct gp *g, uint64_t entry_gpa)
{
	uint64_t v = 0;

	if (entry_gpa + gp_esize(g->mode) > g->mem_size)
		return 0;
	memcpy(&v, g->mem + entry_gpa, gp_esize(g->mode));
	return v;
}

void gp_set(struct gp *g, uint64_t entry_gpa, uint64_t val)
{
	if (entry_gpa + gp_esize(g->mode) > g->mem_size)
		return;
	memcpy(g->mem + entry_gpa, &val, gp_esize(g->mode));
}

uint64_t gp_alloc(struct gp *g)
{
	uint64_t f;

	if (g->pool->next + 0x1000 > g->pool->end ||
	    g->pool->next + 0x1000 > g->mem_size)
		return 0;
	f = g->pool->next;
	g->pool->next += 0x1000;
	memset(g->mem + f, 0, 0x1000);
	return f;
}

int gp_init(struct gp *g, void *mem, uint64_t mem_size, enum gp_mode mode,
	    uint64_t pool, uint64_t pool_size)
{
	memset(g, 0, sizeof(*g));
	g->mem = mem;
	g->mem_size = mem_size;
	g->mode = mode;
	g->pse = true;
	g->own.next = pool;
	g->own.end = pool + pool_size;
	g->pool = &g->own;
	if (mode == GP_MODE_NONE)
		return 0;
	g->root = gp_alloc(g);
	return g->root ? 0 : -ENOMEM;
}

int gp_init_shared(struct gp *g, const struct gp *from, enum gp_mode mode)
{
	memset(g, 0, sizeof(*g));
	g->mem = from->mem;
	g->mem_size = from->mem_size;
	g->mode = mode;
	g->pse = true;
	g->pool = from->pool;
	if (g->mode == GP_MODE_NONE)
		return 0;
	g->root = gp_alloc(g);
	return g->root ? 0 : -ENOMEM;
}

uint64_t gp_cr3(const struct gp *g)
{
	return g->root;
}

static bool is_big(const struct gp *g, int level, uint64_t v)
{
	if (!(v & GP_PS) || level == 1)
		return false;
	if (g->mode == GP_MODE_32)
		return level == 2 && g->pse;
	if (g->mode == GP_MODE_PAE)
		return level == 2;
	return level == 2 || level == 3;
}

uint64_t gp_entry_gpa(struct gp *g, uint64_t la, int level, bool create)
{
	int levels = gp_levels(g->mode);
	int esize = gp_esize(g->mode);
	uint64_t table = g->root;
	int l;

	if (!levels || level < 1 || level > levels)
		return 0;
	for (l = levels; l > level; l--) {
		uint64_t e = table + level_index(g->mode, la, l) * esize;
		uint64_t v = gp_get(g, e);

		if (!(v & GP_P)) {
			uint64_t t;

			if (!create)
				return 0;
			t = gp_alloc(g);
			if (!t)
				return 0;
			v = t | GP_P;
			if (!(g->mode == GP_MODE_PAE && l == 3))
				v |= GP_W | GP_U | GP_A;
			gp_set(g, e, v);
		} else if (is_big(g, l, v)) {
			return 0;
		}
		table = v & addr_mask(g->mode);
	}
	return table + level_index(g->mode, la, level) * esize;
}

int gp_map(struct gp *g, uint64_t la, uint64_t gpa, uint64_t size,
	   uint64_t page_size, uint64_t flags)
{
	int level;
	uint64_t off;

	switch (page_size) {
	case GP_4K:
		level = 1;
		break;
	case GP_2M:
		if (g->mode != GP_MODE_PAE && g->mode != GP_MODE_LM)
			return -EINVAL;
		level = 2;
		break;
	case GP_4M:
		if (g->mode != GP_MODE_32)
			return -EINVAL;
		level = 2;
		break;
	case GP_1G:
		if (g->mode != GP_MODE_LM)
			return -EINVAL;
		level = 3;
		break;
	default:
		return -EINVAL;
	}
	if ((la | gpa | size) & (page_size - 1))
		return -EINVAL;
	if (g->mode == GP_MODE_32 && (flags & GP_NX))
		return -EINVAL;
	for (off = 0; off < size; off += page_size) {
		uint64_t e = gp_entry_gpa(g, la + off, level, true);
		uint64_t v = (gpa + off) | flags | GP_P;

		if (!e)
			return -ENOMEM;
		if (level > 1)
			v |= GP_PS;
		if (g->mode == GP_MODE_32 && level == 2)
			v = ((gpa + off) & 0xffc00000ULL) |
			    (((gpa + off) >> 32 & 0xff) << 13) |
			    (flags & 0xfff) | GP_P | GP_PS;
		gp_set(g, e, v);
	}
	return 0;
}

void gp_share(struct gp *g, const struct gp *from, uint64_t la, uint64_t size)
{
	int levels = gp_levels(g->mode), esize = gp_esize(g->mode);
	int shift = level_shift(g->mode, levels);
	uint64_t a;

	if (!levels || from->mode != g->mode)
		return;
	if (g->mode == GP_MODE_PAE)
		shift = 30;
	for (a = la; a < la + size; a += 1ULL << shift) {
		uint64_t off = level_index(g->mode, a, levels) * esize;

		gp_set(g, g->root + off, gp_get(from, from->root + off));
	}
}

int gp_translate(const struct gp *g, uint64_t la, uint64_t *gpa)
{
	int levels = gp_levels(g->mode);
	int esize = gp_esize(g->mode);
	uint64_t table = g->root;
	int l;

	if (!levels) {
		*gpa = la & 0xffffffffULL;
		return 0;
	}
	if (g->mode != GP_MODE_LM)
		la &= 0xffffffffULL;
	for (l = levels; l >= 1; l--) {
		uint64_t v = gp_get(g, table + level_index(g->mode, la, l) * esize);
		int shift = level_shift(g->mode, l);

		if (!(v & GP_P))
			return -EFAULT;
		if (l == 1 || is_big(g, l, v)) {
			uint64_t base;

			if (g->mode == GP_MODE_32 && l == 2)
				base = (v & 0xffc00000ULL) | ((v >> 13 & 0xff) << 32);
			else
				base = v & addr_mask(g->mode) & ~((1ULL << shift) - 1);
			*gpa = base | (la & ((1ULL << shift) - 1));
			return 0;
		}
		table = v & addr_mask(g->mode);
	}
	return -EFAULT;
}

