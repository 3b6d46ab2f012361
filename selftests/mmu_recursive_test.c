// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_recursive_test: page tables reached through a recursive top-level
 * slot (the top-level table maps itself, as Windows does), under each MMU
 * policy, in long mode (PML4 slot 510) and 32-bit paging (PDE 1023).
 *
 * Each guest table frame is then used at two levels at once. The guest
 * reads the PTE, PDE (and PDPTE/PML4E) of a test page through the
 * recursive window and must read what the test wrote; it remaps the page
 * by writing its PTE through the window (INVLPG, then the page must show
 * the new frame), unmaps its whole page table by clearing the PDE through
 * the window (the page must fault, not present), maps it back, and writes
 * the top-level entry of another region through the window. The entries
 * in guest memory must end as written.
 */
#include <errno.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define X		0x40000000ULL	/* the test page */
#define FA		0x300000ULL
#define FB		0x301000ULL
#define FC		0x302000ULL
#define R64		510ULL		/* long mode: recursive PML4 slot */
#define R32		1023ULL		/* 32-bit: recursive PDE */

FIXTURE(rec) {
	struct tvm t;
	struct gp g;
	struct grt_script s;
	bool live;
	char err[512];
};

POLICY_VARIANTS(rec);

GRT_POLICY_FIXTURE_HOOKS(rec, MEM_SIZE);

static uint64_t sext48(uint64_t la)
{
	return (uint64_t)((int64_t)(la << 16) >> 16);
}

/* where the entry of level l for la shows in the long-mode window */
static uint64_t win64(uint64_t la, int l)
{
	uint64_t a = R64 << 39;
	int i;

	for (i = 1; i < l; i++)
		a = (a >> 9) | (R64 << 39);
	return sext48(a | ((la & 0xffffffffffffULL) >> (12 + 9 * (l - 1)) << 3 &
			   ((1ULL << (39 - 9 * (l - 1))) - 1) & ~7ULL));
}

/* the 32-bit window: PTEs at 0xffc00000, PDEs at 0xfffff000 */
static uint64_t win32(uint64_t la, int l)
{
	if (l == 1)
		return 0xffc00000ULL | ((la >> 10) & 0x3ffffcULL);
	return 0xfffff000ULL | ((la >> 20) & 0xffcULL);
}

static void recursive(struct __test_metadata *_metadata,
		      struct _test_data_rec *self, enum gp_mode mode)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP };
	const uint64_t f = GP_P | GP_W | GP_A | GP_D;
	struct grt_script *s = &self->s;
	int levels = gp_levels(mode), l;
	bool lm = mode == GP_MODE_LM;
	uint64_t ent[5] = { 0 }, win[5] = { 0 }, other, other_top;
	uint64_t *res;
	int op = lm ? GOP_W64 : GOP_W32;

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, mode, GRT_POOL,
			     GRT_POOL_SIZE));
	ASSERT_EQ(0, gp_map(&self->g, X, FA, GP_4K, GP_4K, f));
	/* another region, for a top-level write through the window */
	other = lm ? 0x0000010000000000ULL : 0x80000000ULL;
	ASSERT_EQ(0, gp_map(&self->g, other, FC, GP_4K, GP_4K, f));
	other_top = gp_entry_gpa(&self->g, other, levels, false);
	/* the recursive slot */
	gp_set(&self->g, self->g.root + (lm ? R64 : R32) * gp_esize(mode),
	       self->g.root | GP_P | GP_W | GP_A | GP_D);
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));
	*(uint32_t *)tvm_ptr(&self->t, FA) = 0xaaaa;
	*(uint32_t *)tvm_ptr(&self->t, FB) = 0xbbbb;
	*(uint32_t *)tvm_ptr(&self->t, FC) = 0xcccc;
	for (l = 1; l <= levels; l++) {
		ent[l] = gp_entry_gpa(&self->g, X, l, false);
		win[l] = lm ? win64(X, l) : win32(X, l);
		ASSERT_NE(0, ent[l]);
	}

	/* read every level through the window */
	for (l = 1; l <= levels; l++)
		gs_op(s, lm ? GOP_R64 : GOP_R32, 0, win[l], 0, l);
	gs_op(s, GOP_CHK32, 0, X, 0xaaaa, 0);
	/* remap through the window */
	gs_op(s, op, 0, win[1], FB | f, 0);
	gs_op(s, GOP_INVLPG, 0, X, 0, 0);
	gs_op(s, GOP_CHK32, 0, X, 0xbbbb, 0);
	/* unmap the page table through the window, then map it back */
	gs_op(s, op, 0, win[2], 0, 0);
	gs_op(s, GOP_INVLPG, 0, X, 0, 0);
	gs_access(s, X, GRT_ACC_READ, 0, 8);
	gs_op(s, op, 0, win[2], gp_get(&self->g, ent[2]), 0);
	gs_op(s, GOP_INVLPG, 0, X, 0, 0);
	gs_op(s, GOP_CHK32, 0, X, 0xbbbb, 0);
	/* a write through the PTE's window page after the PDE came back */
	gs_op(s, op, 0, win[1], FA | f, 0);
	gs_op(s, GOP_INVLPG, 0, X, 0, 0);
	gs_op(s, GOP_CHK32, 0, X, 0xaaaa, 0);
	/* the other region's top-level entry, through the window */
	gs_op(s, GOP_CHK32, 0, other, 0xcccc, 0);
	gs_op(s, op, 0, (lm ? win64(other, levels) : win32(other, levels)),
	      0, 0);
	gs_op(s, GOP_INVLPG, 0, other, 0, 0);
	gs_access(s, other, GRT_ACC_READ, 0, 12);
	ASSERT_EQ(0, grt_exec(&self->t, s, self->err, sizeof(self->err)))
		TH_LOG("guest: %s", self->err);

	res = grt_res(&self->t);
	EXPECT_EQ(0, *grt_cb32(&self->t, CB_ERR_COUNT))
		TH_LOG("%u mismatches, first at script op %u: read 0x%llx",
		       *grt_cb32(&self->t, CB_ERR_COUNT),
		       *grt_cb32(&self->t, CB_ERR_OP),
		       (unsigned long long)*grt_cb64(&self->t, CB_ERR_VAL));
	for (l = 1; l <= levels; l++) {
		uint64_t mask = lm ? ~0ULL : 0xffffffffULL;
		uint64_t want = gp_get(&self->g, ent[l]);

		/* the accessed bits the walks set can differ at level 1 */
		if (l == 1)
			want = FA | f;
		EXPECT_EQ(want & mask & ~(GP_A | GP_D),
			  res[l] & mask & ~(GP_A | GP_D))
			TH_LOG("level %d entry through the window at 0x%llx", l,
			       (unsigned long long)win[l]);
	}
	EXPECT_EQ(1, (uint32_t)res[8]) TH_LOG("unmapped page table: no #PF");
	EXPECT_EQ(0, (uint32_t)(res[8] >> 32));
	EXPECT_EQ(X, res[9]);
	EXPECT_EQ(1, (uint32_t)res[12]) TH_LOG("cleared top-level entry: no #PF");
	EXPECT_EQ(other, res[13]);
	EXPECT_EQ(FA | f, gp_get(&self->g, ent[1]) | GP_A | GP_D);
	EXPECT_EQ(0, gp_get(&self->g, other_top));
}

TEST_F(rec, recursive_pml4_slot_long_mode)
{
	recursive(_metadata, self, GP_MODE_LM);
}

TEST_F(rec, recursive_pde_32bit)
{
	recursive(_metadata, self, GP_MODE_32);
}

TEST_HARNESS_MAIN
