// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_cow_test: guest memory-management patterns on the shadow MMU, under
 * each policy, in 32-bit, PAE and long mode.
 *
 * demand_zero: 16 pages are not present; the guest's #PF handler (a demand
 * table in the runtime) zero-fills a frame, maps it and retries. Half the
 * pages are first read (they must read zero), half first written. Each
 * page faults into the guest exactly once; the frames' old garbage is gone.
 *
 * copy_on_write: two processes map the same 4 frames read-only. Writes
 * fault; the handler copies the shared frame into a private one, maps it
 * writable in the faulting process only, and retries. The other process
 * keeps seeing the original data until it writes too (one page), and the
 * shared frames never change.
 *
 * teardown_reuse: four processes run; then process 3 is torn down: its
 * table frames are zeroed, filled with data (checked back), and finally
 * rebuilt as a new process with the levels shuffled (the old leaf table
 * becomes the root, the old root a leaf table...). No stale shadow
 * entry may survive: the other processes still see their own pages, the
 * new process sees only the one page it maps and faults (not present) where
 * process 3 had its pages, although its CR3 is one the root cache knew.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define DEMAND_TBL	GRT_TABLES
#define PAT_K		0x9e3779b9u

FIXTURE(cow) {
	struct tvm t;
	struct gp kern;
	struct gp as[5];
	struct grt_script s;
	enum gp_mode mode;
	bool live;
	char err[512];
};

POLICY_VARIANTS(cow);

GRT_POLICY_FIXTURE_HOOKS(cow, MEM_SIZE);

static uint32_t pat(uint32_t seed, uint32_t i)
{
	return seed + i * PAT_K;
}

static void setup_mode(struct __test_metadata *_metadata,
		       struct _test_data_cow *self, enum gp_mode mode, int nas)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP };
	int i;

	self->mode = mode;
	ASSERT_EQ(0, gp_init(&self->kern, self->t.mem, MEM_SIZE, mode,
			     GRT_POOL, GRT_POOL_SIZE));
	ASSERT_EQ(0, grt_setup(&self->t, &self->kern, &env));
	for (i = 0; i < nas; i++) {
		ASSERT_EQ(0, gp_init_shared(&self->as[i], &self->kern, mode));
		gp_share(&self->as[i], &self->kern, 0, GRT_KERNEL_SPAN(mode));
	}
}

static void demand(struct tvm *t, int idx, uint64_t page_la, uint64_t pte_la,
		   uint64_t pte_val, uint64_t src, uint64_t dst, uint32_t asid,
		   enum gp_mode mode)
{
	struct grt_demand *d = (struct grt_demand *)tvm_ptr(t, DEMAND_TBL) + idx;

	memset(d, 0, sizeof(*d));
	d->page_la = page_la;
	d->pte_la = pte_la;
	d->pte_val = pte_val;
	d->src_la = src;
	d->dst_la = dst;
	d->flags = gp_esize(mode) == 8 ? GRT_DEM_PTE8 : 0;
	d->asid = asid;
}

#define RUN_TO_END(self) do {						\
	int __r = grt_exec(&(self)->t, &(self)->s, (self)->err,		\
			   sizeof((self)->err));			\
	ASSERT_EQ(0, __r) TH_LOG("guest: %s", (self)->err);		\
	EXPECT_EQ(0, *grt_cb32(&(self)->t, CB_ERR_COUNT))		\
		TH_LOG("%u data mismatches, first at script op %u (0x%llx)", \
		       *grt_cb32(&(self)->t, CB_ERR_COUNT),		\
		       *grt_cb32(&(self)->t, CB_ERR_OP),		\
		       (unsigned long long)*grt_cb64(&(self)->t, CB_ERR_VAL)); \
} while (0)

static uint64_t true_faults(struct tvm *t)
{
	uint64_t v[SHADOWVM_STAT_NR];

	if (tvm_default_kind() != BE_SHADOWVM ||
	    grt_vm_stats(t, v, SHADOWVM_STAT_NR))
		return ~0ULL;
	return v[SHADOWVM_STAT_PF_TRUE];
}

/* ---- demand zero ---- */

#define DZ_PAGES	16
#define DZ_FRAMES	0x500000ULL

static void demand_zero(struct __test_metadata *_metadata,
			struct _test_data_cow *self, enum gp_mode mode)
{
	const uint64_t z = 0x40000000;
	struct grt_script *s = &self->s;
	uint64_t pte[DZ_PAGES], before;
	int k;

	RETURN_IF_SETUP_SKIPPED();
	setup_mode(_metadata, self, mode, 0);
	for (k = 0; k < DZ_PAGES; k++) {
		uint64_t f = DZ_FRAMES + k * 0x1000;

		pte[k] = gp_entry_gpa(&self->kern, z + k * 0x1000, 1, true);
		ASSERT_NE(0, pte[k]);
		gp_set(&self->kern, pte[k], 0);
		memset(tvm_ptr(&self->t, f), 0xab, 0x1000);
		demand(&self->t, k, z + k * 0x1000, pte[k],
		       f | GP_P | GP_W | GP_A | GP_D, 0, f, 0, mode);
	}
	/* PAE: the new table must be seen by the PDPTE registers */
	ASSERT_EQ(0, grt_set_mode_sregs(&self->t, &self->kern,
		  &(struct grt_env){ .mode = mode, .cr0_extra = GP_CR0_WP }));
	before = true_faults(&self->t);
	gs_op(s, GOP_DEMAND, 0, DEMAND_TBL, DZ_PAGES, 0);
	for (k = 0; k < DZ_PAGES; k++) {
		uint64_t la = z + k * 0x1000;

		if (k % 2 == 0) {
			gs_op(s, GOP_CHK32, 0, la + 8, 0, 0);
			gs_op(s, GOP_CHK32, 0, la + 0xffc, 0, 0);
		} else {
			gs_op(s, GOP_W32, 0, la, 0x1000 + k, 0);
		}
	}
	/* a second pass faults no more */
	for (k = 0; k < DZ_PAGES; k++)
		gs_op(s, GOP_ADD32, 0, z + k * 0x1000 + 4, k, 0);
	gs_op(s, GOP_DEMAND, 0, 0, 0, 0);
	RUN_TO_END(self);

	EXPECT_EQ(DZ_PAGES, *grt_cb32(&self->t, CB_DEMAND_HITS));
	EXPECT_EQ(DZ_PAGES, *grt_cb32(&self->t, CB_PF_TOTAL));
	if (before != ~0ULL)
		EXPECT_EQ(DZ_PAGES, true_faults(&self->t) - before);
	for (k = 0; k < DZ_PAGES; k++) {
		const uint32_t *f = tvm_ptr(&self->t, DZ_FRAMES + k * 0x1000);
		int i, nonzero = 0;

		EXPECT_EQ(k % 2 ? 0x1000u + k : 0, f[0]) TH_LOG("page %d", k);
		EXPECT_EQ((uint32_t)k, f[1]) TH_LOG("page %d", k);
		for (i = 2; i < 1024; i++)
			nonzero += f[i] != 0;
		EXPECT_EQ(0, nonzero) TH_LOG("page %d was not zero-filled", k);
		EXPECT_EQ(DZ_FRAMES + k * 0x1000,
			  gp_get(&self->kern, pte[k]) & 0xfffff000ULL);
	}
}

TEST_F(cow, demand_zero_32bit)
{
	demand_zero(_metadata, self, GP_MODE_32);
}

TEST_F(cow, demand_zero_pae)
{
	demand_zero(_metadata, self, GP_MODE_PAE);
}

TEST_F(cow, demand_zero_long_mode)
{
	demand_zero(_metadata, self, GP_MODE_LM);
}

/* ---- copy on write ---- */

#define COW_PAGES	4
#define SHARED		0x500000ULL
#define PRIV1		0x510000ULL
#define PRIV2		0x520000ULL

static void copy_on_write(struct __test_metadata *_metadata,
			  struct _test_data_cow *self, enum gp_mode mode)
{
	const uint64_t ula = GRT_PROC_LA(mode);
	const uint64_t ro = GP_P | GP_U | GP_A | GP_D;
	const uint64_t rw = ro | GP_W;
	struct grt_script *s = &self->s;
	uint64_t pte1[COW_PAGES], pte2[COW_PAGES], before;
	const uint32_t seed_s = 0x51, seed1 = 0x1111, seed2 = 0x2222;
	int k, i;

	RETURN_IF_SETUP_SKIPPED();
	setup_mode(_metadata, self, mode, 2);
	for (k = 0; k < COW_PAGES; k++) {
		uint64_t la = ula + k * 0x1000, sh = SHARED + k * 0x1000;
		uint32_t *f = tvm_ptr(&self->t, sh);

		ASSERT_EQ(0, gp_map(&self->as[0], la, sh, GP_4K, GP_4K, ro));
		ASSERT_EQ(0, gp_map(&self->as[1], la, sh, GP_4K, GP_4K, ro));
		pte1[k] = gp_entry_gpa(&self->as[0], la, 1, false);
		pte2[k] = gp_entry_gpa(&self->as[1], la, 1, false);
		for (i = 0; i < 1024; i++)
			f[i] = pat(seed_s, k * 1024 + i);
		demand(&self->t, k, la, pte1[k], (PRIV1 + k * 0x1000) | rw, sh,
		       PRIV1 + k * 0x1000, 1, mode);
		demand(&self->t, COW_PAGES + k, la, pte2[k],
		       (PRIV2 + k * 0x1000) | rw, sh, PRIV2 + k * 0x1000, 2,
		       mode);
	}
	before = true_faults(&self->t);
	gs_op(s, GOP_DEMAND, 0, DEMAND_TBL, 2 * COW_PAGES, 0);
	/* process 1 reads, then writes every page */
	gs_op(s, GOP_CR3, 0, gp_cr3(&self->as[0]), 0, 0);
	gs_op(s, GOP_W32, 0, GRT_CB + CB_ASID, 1, 0);
	gs_op(s, GOP_PATC, 0, ula, seed_s, COW_PAGES * 1024);
	gs_op(s, GOP_PATW, 0, ula, seed1, COW_PAGES * 1024);
	gs_op(s, GOP_PATC, 0, ula, seed1, COW_PAGES * 1024);
	/* process 2 still sees the shared data, then writes page 2 */
	gs_op(s, GOP_CR3, 0, gp_cr3(&self->as[1]), 0, 0);
	gs_op(s, GOP_W32, 0, GRT_CB + CB_ASID, 2, 0);
	gs_op(s, GOP_PATC, 0, ula, seed_s, COW_PAGES * 1024);
	gs_op(s, GOP_PATW, 0, ula + 0x2000, seed2, 1024);
	/* back and forth */
	gs_op(s, GOP_CR3, 0, gp_cr3(&self->as[0]), 0, 0);
	gs_op(s, GOP_W32, 0, GRT_CB + CB_ASID, 1, 0);
	gs_op(s, GOP_PATC, 0, ula, seed1, COW_PAGES * 1024);
	gs_op(s, GOP_CR3, 0, gp_cr3(&self->as[1]), 0, 0);
	gs_op(s, GOP_W32, 0, GRT_CB + CB_ASID, 2, 0);
	gs_op(s, GOP_PATC, 0, ula, seed_s, 2 * 1024);
	gs_op(s, GOP_PATC, 0, ula + 0x2000, seed2, 1024);
	gs_op(s, GOP_PATC, 0, ula + 0x3000, pat(seed_s, 3 * 1024), 1024);
	gs_op(s, GOP_CR3, 0, gp_cr3(&self->kern), 0, 0);
	gs_op(s, GOP_DEMAND, 0, 0, 0, 0);
	RUN_TO_END(self);

	EXPECT_EQ(COW_PAGES + 1, *grt_cb32(&self->t, CB_DEMAND_HITS));
	EXPECT_EQ(COW_PAGES + 1, *grt_cb32(&self->t, CB_PF_TOTAL));
	if (before != ~0ULL)
		EXPECT_EQ(COW_PAGES + 1, true_faults(&self->t) - before);
	for (k = 0; k < COW_PAGES; k++) {
		const uint32_t *sh = tvm_ptr(&self->t, SHARED + k * 0x1000);
		const uint32_t *p1 = tvm_ptr(&self->t, PRIV1 + k * 0x1000);
		int bad_s = 0, bad_1 = 0;

		for (i = 0; i < 1024; i++) {
			bad_s += sh[i] != pat(seed_s, k * 1024 + i);
			bad_1 += p1[i] != pat(seed1, k * 1024 + i);
		}
		EXPECT_EQ(0, bad_s) TH_LOG("shared frame %d changed", k);
		EXPECT_EQ(0, bad_1) TH_LOG("process 1's copy of page %d", k);
		EXPECT_EQ((PRIV1 + k * 0x1000) | rw,
			  gp_get(&self->as[0], pte1[k]));
		EXPECT_EQ(k == 2 ? (PRIV2 + k * 0x1000) | rw :
				   (SHARED + k * 0x1000) | ro,
			  gp_get(&self->as[1], pte2[k]));
	}
	EXPECT_EQ(pat(seed2, 0), *(uint32_t *)tvm_ptr(&self->t, PRIV2 + 0x2000));
}

TEST_F(cow, copy_on_write_32bit)
{
	copy_on_write(_metadata, self, GP_MODE_32);
}

TEST_F(cow, copy_on_write_pae)
{
	copy_on_write(_metadata, self, GP_MODE_PAE);
}

TEST_F(cow, copy_on_write_long_mode)
{
	copy_on_write(_metadata, self, GP_MODE_LM);
}

/* ---- teardown, page-table frames reused as data ---- */

#define TD_PROCS	4
#define TD_PAGES	4
#define TD_FRAMES	0x500000ULL
#define TD_Q		0x5f0000ULL	/* the new process's only page */

static uint64_t td_frame(int i, int k)
{
	return TD_FRAMES + (uint64_t)(i * TD_PAGES + k) * 0x1000;
}

static uint32_t td_sig(int i, int k)
{
	return 0x7d000000u | i << 8 | k;
}

/* the table frames of as's user path (root first) */
static int table_frames(struct gp *g, uint64_t la, uint64_t *f)
{
	int levels = gp_levels(g->mode), l, n = 0;

	f[n++] = g->root;
	for (l = levels; l > 1; l--) {
		uint64_t e = gp_entry_gpa(g, la, l, false);

		f[n++] = gp_get(g, e) & 0xfffff000ULL;
	}
	return n;
}

static void teardown_reuse(struct __test_metadata *_metadata,
			   struct _test_data_cow *self, enum gp_mode mode)
{
	const uint64_t ula = GRT_PROC_LA(mode);
	struct grt_script *s = &self->s;
	int esize = gp_esize(mode), levels = gp_levels(mode);
	uint64_t f[4], nroot, kern_top, slot = 0;
	int i, k, nf;
	uint32_t w;

	RETURN_IF_SETUP_SKIPPED();
	setup_mode(_metadata, self, mode, TD_PROCS);
	for (i = 0; i < TD_PROCS; i++)
		for (k = 0; k < TD_PAGES; k++) {
			ASSERT_EQ(0, gp_map(&self->as[i], ula + k * 0x1000,
					    td_frame(i, k), GP_4K, GP_4K,
					    GP_W | GP_U | GP_A | GP_D));
			*(uint32_t *)tvm_ptr(&self->t, td_frame(i, k)) = td_sig(i, k);
		}
	*(uint32_t *)tvm_ptr(&self->t, TD_Q) = 0x9999;
	nf = table_frames(&self->as[3], ula, f);
	ASSERT_EQ(levels, nf);

	/* every process runs and checks its pages */
	for (i = 0; i < TD_PROCS; i++) {
		gs_op(s, GOP_CR3, 0, gp_cr3(&self->as[i]), 0, 0);
		for (k = 0; k < TD_PAGES; k++)
			gs_op(s, GOP_CHK32, 0, ula + k * 0x1000, td_sig(i, k), 0);
	}
	gs_op(s, GOP_CR3, 0, gp_cr3(&self->as[0]), 0, 0);
	/* tear down process 3: zero its tables, then use them as data */
	for (i = 0; i < nf; i++)
		gs_op(s, GOP_FILL, 0, f[i], 0, 1024);
	for (i = 0; i < nf; i++)
		gs_op(s, GOP_PATW, 0, f[i], 0xd00 + i, 1024);
	for (i = 0; i < nf; i++)
		gs_op(s, GOP_PATC, 0, f[i], 0xd00 + i, 1024);
	/* the others are unaffected */
	for (i = 0; i < TD_PROCS - 1; i++) {
		gs_op(s, GOP_CR3, 0, gp_cr3(&self->as[i]), 0, 0);
		for (k = 0; k < TD_PAGES; k++)
			gs_op(s, GOP_CHK32, 0, ula + k * 0x1000, td_sig(i, k), 0);
	}
	/*
	 * A new process in the same frames, levels shuffled: the old leaf
	 * table is the root, each other frame moves one level down; it maps
	 * one page, TD_Q, at ula. Built from process 0's space.
	 */
	for (i = 0; i < nf; i++)
		gs_op(s, GOP_FILL, 0, f[i], 0, 1024);
	nroot = f[nf - 1];
	kern_top = gp_get(&self->kern, self->kern.root);
	if (mode == GP_MODE_32) {
		for (k = 0; k < 4; k++)
			gs_op(s, GOP_W32, 0, nroot + 4 * k,
			      gp_get(&self->kern, self->kern.root + 4 * k), 0);
	} else {
		gs_op(s, GOP_W64, 0, nroot, kern_top, 0);
	}
	/* root -> f[nf-2] -> ... -> f[0] (old root, now the leaf table) */
	for (i = nf - 1; i >= 1; i--) {
		int l = levels - (nf - 1 - i);
		uint64_t idx, v = f[i - 1] | GP_P;

		if (!(mode == GP_MODE_PAE && l == 3))
			v |= GP_W | GP_U;
		if (mode == GP_MODE_32)
			idx = (ula >> 22) & 0x3ff;
		else if (mode == GP_MODE_PAE && l == 3)
			idx = (ula >> 30) & 3;
		else
			idx = (ula >> (12 + 9 * (l - 1))) & 0x1ff;
		gs_op(s, esize == 8 ? GOP_W64 : GOP_W32, 0, f[i] + idx * esize,
		      v, 0);
	}
	gs_op(s, esize == 8 ? GOP_W64 : GOP_W32, 0, f[0],
	      TD_Q | GP_P | GP_W | GP_U | GP_A | GP_D, 0);
	gs_op(s, GOP_CR3, 0, nroot, 0, 0);
	gs_op(s, GOP_CHK32, 0, ula, 0x9999, 0);
	for (k = 1; k < TD_PAGES; k++) {
		gs_access(s, ula + k * 0x1000, GRT_ACC_READ, 0, slot);
		slot += 4;
	}
	gs_access(s, ula + k * 0x1000, GRT_ACC_WRITE, 0, slot);
	slot += 4;
	/* a process that was never torn down */
	gs_op(s, GOP_CR3, 0, gp_cr3(&self->as[1]), 0, 0);
	for (k = 0; k < TD_PAGES; k++)
		gs_op(s, GOP_CHK32, 0, ula + k * 0x1000, td_sig(1, k), 0);
	gs_op(s, GOP_CR3, 0, gp_cr3(&self->kern), 0, 0);
	RUN_TO_END(self);

	for (k = 0; k < (int)(slot / 4); k++) {
		const uint64_t *r = grt_res(&self->t) + 4 * k;

		EXPECT_EQ(1, (uint32_t)r[0])
			TH_LOG("process 3's old page %d is still mapped", k + 1);
		w = k == TD_PAGES - 1 ? PFEC_W : 0;
		EXPECT_EQ(w, (uint32_t)(r[0] >> 32)) TH_LOG("page %d", k + 1);
		EXPECT_EQ(ula + (k + 1) * 0x1000, r[1]);
	}
	for (i = 0; i < TD_PROCS; i++)
		for (k = 0; k < TD_PAGES; k++)
			EXPECT_EQ(td_sig(i, k),
				  *(uint32_t *)tvm_ptr(&self->t, td_frame(i, k)));
}

TEST_F(cow, teardown_reuse_32bit)
{
	teardown_reuse(_metadata, self, GP_MODE_32);
}

TEST_F(cow, teardown_reuse_pae)
{
	teardown_reuse(_metadata, self, GP_MODE_PAE);
}

TEST_F(cow, teardown_reuse_long_mode)
{
	teardown_reuse(_metadata, self, GP_MODE_LM);
}

TEST_HARNESS_MAIN
