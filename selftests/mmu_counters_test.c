// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_counters_test: exact shadow-MMU counter deltas for a scripted guest,
 * in long mode and in 32-bit paging, under each MMU policy.
 *
 * The guest first warms everything it will touch (script, results,
 * runtime code, stack, control block, descriptor tables and the #PF
 * path), then runs one access per phase between OUTs to the test's port;
 * the test reads SHADOWVM_GET_VM_STATS at each OUT and compares deltas:
 *   - first touch of a mapped page (A and D set): exactly one hidden fault,
 *     a fill, no A/D fault, no true fault; a second touch: no exit at all;
 *   - first read of a clean page (A set, D clear): one hidden fill; the
 *     write after it: one hidden fault that sets D (PF_HIDDEN_AD) and the
 *     guest PTE has D set afterwards;
 *   - first read of a page with A clear: one hidden fault that sets A;
 *   - a guest-not-present page: exactly one true fault, injected once (one
 *     injected exception, the guest's handler ran once, error code 0,
 *     CR2 = the address);
 *   - a write to a read-only page (CR0.WP = 1): one true fault with error
 *     code P|W, before and after the page was read into the shadow;
 *   - one guest page-table write: write-protect policy: one hidden fault,
 *     PF_HIDDEN_PT_WRITE +1, one emulated instruction; unsync: the leaf
 *     table goes unsync (PF_HIDDEN_UNSYNC +1), nothing emulated; vTLB
 *     (no write-protection): no exit at all; after INVLPG the new mapping is
 *     seen under every policy;
 *   - a CR3 reload of the current space: one CR3 load and one root-cache
 *     hit (vTLB: one miss, it drops every root at CR3 loads);
 * and the per-address-space debugfs line agrees with the VM's counters.
 * These exact counts are for the fill-one-entry MMU: the fixture turns the
 * module's prefetch off (parameter "prefetch", restored afterwards).
 * prefetch_long_mode / prefetch_32bit: with prefetch 8, the first touch of
 * a page also fills exactly its present, accessed, valid neighbours in
 * the aligned 8-entry window (clean ones read-only, so a later write still
 * sets the guest's D bit; a neighbour with A clear or a reserved bit is
 * left alone and faults as it must), pf_prefetched counts them and
 * pf_prefetch_unused counts the one dropped before it was ever touched.
 * table_pf.judged (write-protect policy): the whole-table prefetch
 * of a leaf shadow page at its fill into a second 8-entry window, of a
 * new shadow page of a table marked dense, the mark's loss (and a strike)
 * when such a prefetch was dropped mostly unused, and a refault of an
 * entry not counting as a second window; exact pf_prefetched and
 * pf_prefetch_unused. Also a leaf shadow page unlinked by a PDE rewrite:
 * kept and linked again by the next fill (no sp_created), zapped by a
 * write to its frame.
 * tracepoints_fault_ptwrite_root: fault, pt_write and
 * root_switch fire once per event, with the right address.
 */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"
#include "counter_phases.h"

#define MEM_SIZE	(8u << 20)
#define XB		0x40000000ULL	/* the test pages */
#define X_CLEAN_FULL	(XB + 0x0000)	/* P W A D */
#define X_CLEAN_RW	(XB + 0x1000)	/* P W A, D clear */
#define X_NOTPRESENT	(XB + 0x2000)
#define X_RO		(XB + 0x3000)	/* P A D, read-only */
#define X_NOT_ACC	(XB + 0x4000)	/* P W, A and D clear */
#define X_REMAP		(XB + 0x5000)	/* P W A D; its PTE is rewritten */
#define D_BASE		0x300000ULL	/* frames: D_BASE + 0x1000 * i */
#define D_NEW		0x308000ULL	/* X_REMAP's new frame */

#define PREFETCH_PARAM	"/sys/module/shadowvm/parameters/prefetch"

/* the module's prefetch window: set it, returning the old one (or -errno) */
static int set_prefetch(int val)
{
	char buf[32], v[16];
	int r;

	snprintf(v, sizeof(v), "%d\n", val);
	r = svm_param_swap("prefetch", v, buf, sizeof(buf));
	return r ? r : atoi(buf);
}

FIXTURE(counters) {
	struct tvm t;
	int old_prefetch;
	struct gp g;
	struct grt_script s;
	bool live;
	uint64_t prev[SHADOWVM_STAT_NR], d[SHADOWVM_STAT_NR];
	char err[512];
};

POLICY_VARIANTS(counters);

FIXTURE_SETUP(counters)
{
	int r;

	memset(self, 0, sizeof(*self));
	gs_init(&self->s);
	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "counters are shadowvm's");
	r = grt_create(&self->t, BE_SHADOWVM, MEM_SIZE, variant->policy, 0, 0);
	if (tvm_no_device(r))
		SKIP(return, SKIP_REASON_NODEV);
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	self->live = true;
	self->old_prefetch = set_prefetch(0);
	ASSERT_LE(0, self->old_prefetch)
		TH_LOG("%s: %s", PREFETCH_PARAM, strerror(-self->old_prefetch));
}

FIXTURE_TEARDOWN(counters)
{
	if (self->old_prefetch >= 0 && self->live)
		set_prefetch(self->old_prefetch);
	if (self->live)
		tvm_destroy(&self->t);
	gs_free(&self->s);
}


/* the phases, each ended by an OUT of its number */
enum {
	P_WARM = 1,
	P_FIRST,
	P_SECOND,
	P_CLEAN_READ,
	P_CLEAN_WRITE,
	P_NOT_ACC,
	P_NOTPRESENT,
	P_RO_WRITE,
	P_RO_READ,
	P_RO_WRITE2,
	P_PT_WARM,
	P_PT_WRITE,
	P_REMAP_SEEN,
	P_CR3,
	P_END,
};

static void counters_run(struct __test_metadata *_metadata,
			 struct _test_data_counters *self, uint32_t policy,
			 enum gp_mode mode)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP };
	struct grt_script *s = &self->s;
	uint64_t pte_x2, pte_x5, pte_remap, pt_x;
	struct grt_as_line as[8];
	int i, n;

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, mode, GRT_POOL,
			     GRT_POOL_SIZE));
	ASSERT_EQ(0, gp_map(&self->g, X_CLEAN_FULL, D_BASE, GP_4K, GP_4K,
			    GP_W | GP_A | GP_D));
	ASSERT_EQ(0, gp_map(&self->g, X_CLEAN_RW, D_BASE + 0x1000, GP_4K, GP_4K,
			    GP_W | GP_A));
	ASSERT_EQ(0, gp_map(&self->g, X_RO, D_BASE + 0x3000, GP_4K, GP_4K,
			    GP_A | GP_D));
	ASSERT_EQ(0, gp_map(&self->g, X_NOT_ACC, D_BASE + 0x4000, GP_4K, GP_4K,
			    GP_W));
	ASSERT_EQ(0, gp_map(&self->g, X_REMAP, D_BASE + 0x5000, GP_4K, GP_4K,
			    GP_W | GP_A | GP_D));
	pte_x2 = gp_entry_gpa(&self->g, X_CLEAN_RW, 1, false);
	pte_x5 = gp_entry_gpa(&self->g, X_NOT_ACC, 1, false);
	pte_remap = gp_entry_gpa(&self->g, X_REMAP, 1, false);
	pt_x = pte_remap & ~0xfffULL;
	ASSERT_NE(0, pte_remap);
	ASSERT_EQ(0, gp_get(&self->g, gp_entry_gpa(&self->g, X_NOTPRESENT, 1,
						  false)));
	for (i = 0; i < 8; i++)
		*(uint32_t *)tvm_ptr(&self->t, D_BASE + 0x1000 * i) = 0xd0 + i;
	*(uint32_t *)tvm_ptr(&self->t, D_NEW) = 0xdead;
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));

	/* warm everything the measured phases touch */
	gs_warm_runtime(s);
	gs_access(s, X_NOTPRESENT, GRT_ACC_READ, 0, 0);	/* the #PF path */
	gs_out(s, P_WARM);
	gs_access(s, X_CLEAN_FULL, GRT_ACC_READ, 0, 4);
	gs_out(s, P_FIRST);
	gs_access(s, X_CLEAN_FULL, GRT_ACC_READ, 0, 8);
	gs_out(s, P_SECOND);
	gs_access(s, X_CLEAN_RW, GRT_ACC_READ, 0, 12);
	gs_out(s, P_CLEAN_READ);
	gs_access(s, X_CLEAN_RW, GRT_ACC_WRITE, 0x5a5a, 16);
	gs_out(s, P_CLEAN_WRITE);
	gs_access(s, X_NOT_ACC, GRT_ACC_READ, 0, 20);
	gs_out(s, P_NOT_ACC);
	gs_access(s, X_NOTPRESENT, GRT_ACC_READ, 0, 24);
	gs_out(s, P_NOTPRESENT);
	gs_access(s, X_RO, GRT_ACC_WRITE, 1, 28);
	gs_out(s, P_RO_WRITE);
	gs_access(s, X_RO, GRT_ACC_READ, 0, 32);
	gs_out(s, P_RO_READ);
	gs_access(s, X_RO, GRT_ACC_WRITE, 2, 36);
	gs_out(s, P_RO_WRITE2);
	gs_op(s, GOP_R32, 0, pt_x, 0, 40);		/* the table's own page */
	gs_out(s, P_PT_WARM);
	gs_op(s, GOP_WENT, 0, pte_remap, D_NEW | GP_P | GP_W | GP_A | GP_D, 0);
	gs_out(s, P_PT_WRITE);
	gs_op(s, GOP_INVLPG, 0, X_REMAP, 0, 0);
	gs_access(s, X_REMAP, GRT_ACC_READ, 0, 44);
	gs_out(s, P_REMAP_SEEN);
	gs_op(s, GOP_CR3, 0, gp_cr3(&self->g), 0, 0);
	gs_out(s, P_CR3);
	gs_out(s, P_END);
	ASSERT_EQ(0, grt_load(&self->t, s));
	ASSERT_EQ(0, grt_vm_stats(&self->t, self->prev, SHADOWVM_STAT_NR));

	PHASE(self, P_WARM);
	EXPECT_ACCESS(self, 0, 1, 0, X_NOTPRESENT);

	PHASE(self, P_FIRST);
	EXPECT_D(self, "first touch", EXIT_PF, 1);
	EXPECT_D(self, "first touch", PF_HIDDEN, 1);
	EXPECT_D(self, "first touch", PF_HIDDEN_FILL, 1);
	EXPECT_D(self, "first touch", PF_HIDDEN_AD, 0);
	EXPECT_D(self, "first touch", PF_TRUE, 0);
	EXPECT_ACCESS(self, 4, 0, 0, 0);

	PHASE(self, P_SECOND);
	EXPECT_D(self, "second touch", EXIT_PF, 0);
	EXPECT_D(self, "second touch", PF_HIDDEN, 0);
	EXPECT_D(self, "second touch", PF_TRUE, 0);

	PHASE(self, P_CLEAN_READ);
	EXPECT_D(self, "read of a clean page", EXIT_PF, 1);
	EXPECT_D(self, "read of a clean page", PF_HIDDEN, 1);
	EXPECT_D(self, "read of a clean page", PF_HIDDEN_FILL, 1);
	EXPECT_D(self, "read of a clean page", PF_HIDDEN_AD, 0);

	PHASE(self, P_CLEAN_WRITE);
	EXPECT_D(self, "write after read, clean page", EXIT_PF, 1);
	EXPECT_D(self, "write after read, clean page", PF_HIDDEN, 1);
	EXPECT_D(self, "write after read, clean page", PF_HIDDEN_AD, 1);
	EXPECT_D(self, "write after read, clean page", PF_TRUE, 0);
	EXPECT_TRUE(gp_get(&self->g, pte_x2) & GP_D)
		TH_LOG("the guest PTE of the written page is not dirty: 0x%llx",
		       (unsigned long long)gp_get(&self->g, pte_x2));
	EXPECT_EQ(0x5a5a, *(uint32_t *)tvm_ptr(&self->t, D_BASE + 0x1000));

	PHASE(self, P_NOT_ACC);
	EXPECT_D(self, "first read, A clear", EXIT_PF, 1);
	EXPECT_D(self, "first read, A clear", PF_HIDDEN, 1);
	EXPECT_D(self, "first read, A clear", PF_HIDDEN_AD, 1);
	EXPECT_D(self, "first read, A clear", PF_TRUE, 0);
	EXPECT_EQ(GP_A, gp_get(&self->g, pte_x5) & (GP_A | GP_D));

	PHASE(self, P_NOTPRESENT);
	EXPECT_D(self, "not present", EXIT_PF, 1);
	EXPECT_D(self, "not present", PF_TRUE, 1);
	EXPECT_D(self, "not present", PF_HIDDEN, 0);
	EXPECT_D(self, "not present", INJECTED_EXCEPTIONS, 1);
	EXPECT_ACCESS(self, 24, 1, 0, X_NOTPRESENT);

	PHASE(self, P_RO_WRITE);
	EXPECT_D(self, "write to read-only, not shadowed", EXIT_PF, 1);
	EXPECT_D(self, "write to read-only, not shadowed", PF_TRUE, 1);
	EXPECT_D(self, "write to read-only, not shadowed", PF_HIDDEN, 0);
	EXPECT_D(self, "write to read-only, not shadowed", INJECTED_EXCEPTIONS, 1);
	EXPECT_ACCESS(self, 28, 1, PFEC_P | PFEC_W, X_RO);

	PHASE(self, P_RO_READ);
	EXPECT_D(self, "read of read-only", EXIT_PF, 1);
	EXPECT_D(self, "read of read-only", PF_HIDDEN, 1);
	EXPECT_D(self, "read of read-only", PF_TRUE, 0);

	PHASE(self, P_RO_WRITE2);
	EXPECT_D(self, "write to read-only, shadowed", EXIT_PF, 1);
	EXPECT_D(self, "write to read-only, shadowed", PF_TRUE, 1);
	EXPECT_D(self, "write to read-only, shadowed", PF_HIDDEN, 0);
	EXPECT_ACCESS(self, 36, 1, PFEC_P | PFEC_W, X_RO);
	EXPECT_EQ(0xd3, *(uint32_t *)tvm_ptr(&self->t, D_BASE + 0x3000));

	PHASE(self, P_PT_WARM);
	PHASE(self, P_PT_WRITE);
	if (policy == SHADOWVM_MMU_POLICY_WRITE_PROTECT) {
		EXPECT_D(self, "page-table write", EXIT_PF, 1);
		EXPECT_D(self, "page-table write", PF_HIDDEN, 1);
		EXPECT_D(self, "page-table write", PF_HIDDEN_PT_WRITE, 1);
		EXPECT_D(self, "page-table write", EMULATED_INSNS, 1);
		EXPECT_D(self, "page-table write", PF_HIDDEN_FILL, 0);
	} else if (policy == SHADOWVM_MMU_POLICY_UNSYNC) {
		EXPECT_D(self, "page-table write", PF_HIDDEN_UNSYNC, 1);
		EXPECT_D(self, "page-table write", PF_HIDDEN_PT_WRITE, 0);
		EXPECT_D(self, "page-table write", EMULATED_INSNS, 0);
		EXPECT_EQ(self->d[SHADOWVM_STAT_EXIT_PF],
			  self->d[SHADOWVM_STAT_PF_HIDDEN]);
		EXPECT_GE(2, self->d[SHADOWVM_STAT_EXIT_PF]);
	} else if (policy == SHADOWVM_MMU_POLICY_WP_NOEMU) {
		/* the write faults, the frame is unprotected, it re-executes */
		EXPECT_D(self, "page-table write", PF_HIDDEN_PT_WRITE, 0);
		EXPECT_D(self, "page-table write", EMULATED_INSNS, 0);
		EXPECT_EQ(self->d[SHADOWVM_STAT_EXIT_PF],
			  self->d[SHADOWVM_STAT_PF_HIDDEN]);
		EXPECT_LE(1, self->d[SHADOWVM_STAT_EXIT_PF]);
		EXPECT_GE(2, self->d[SHADOWVM_STAT_EXIT_PF]);
	} else {
		EXPECT_D(self, "page-table write", EXIT_PF, 0);
		EXPECT_D(self, "page-table write", PF_HIDDEN_PT_WRITE, 0);
		EXPECT_D(self, "page-table write", EMULATED_INSNS, 0);
	}
	EXPECT_D(self, "page-table write", PF_TRUE, 0);
	EXPECT_EQ(D_NEW | GP_P | GP_W | GP_A | GP_D,
		  gp_get(&self->g, pte_remap));

	PHASE(self, P_REMAP_SEEN);
	EXPECT_D(self, "remapped page after INVLPG", PF_TRUE, 0);
	EXPECT_ACCESS(self, 44, 0, 0, 0);
	EXPECT_EQ(0xdead, (uint32_t)grt_res(&self->t)[46])
		TH_LOG("the remapped page still reads the old frame");

	PHASE(self, P_CR3);
	EXPECT_D(self, "CR3 reload", CR3_LOADS, 1);
	EXPECT_D(self, "CR3 reload", EXIT_CR3_LOAD, 1);
	if (policy == SHADOWVM_MMU_POLICY_VTLB) {
		EXPECT_D(self, "CR3 reload", ROOT_MISSES, 1);
		EXPECT_D(self, "CR3 reload", ROOT_HITS, 0);
	} else {
		EXPECT_D(self, "CR3 reload", ROOT_HITS, 1);
		EXPECT_D(self, "CR3 reload", ROOT_MISSES, 0);
	}
	PHASE(self, P_END);

	/* the address-space line of this CR3 agrees with the VM's counters */
	n = grt_read_address_spaces(as, 8);
	ASSERT_LT(0, n) TH_LOG("reading address_spaces: %s", strerror(-n));
	for (i = 0; i < n; i++)
		if (as[i].cr3 == gp_cr3(&self->g))
			break;
	ASSERT_LT(i, n) TH_LOG("no line for CR3 0x%llx",
			       (unsigned long long)gp_cr3(&self->g));
	EXPECT_EQ(self->prev[SHADOWVM_STAT_PF_TRUE], as[i].pf_true);
	EXPECT_EQ(self->prev[SHADOWVM_STAT_PF_HIDDEN], as[i].pf_hidden);
	EXPECT_EQ(1, as[i].loads);
	EXPECT_EQ(self->prev[SHADOWVM_STAT_ROOT_HITS], as[i].root_hits);
	if (policy == SHADOWVM_MMU_POLICY_WRITE_PROTECT)
		EXPECT_LE(1, as[i].pt_writes);
}

TEST_F(counters, exact_counts_long_mode)
{
	counters_run(_metadata, self, variant->policy, GP_MODE_LM);
}

TEST_F(counters, exact_counts_32bit)
{
	counters_run(_metadata, self, variant->policy, GP_MODE_32);
}

/* ---- prefetch ---- */

#define X_RSVD		(XB + 0x6000)	/* P W A D plus a reserved bit (not 32-bit) */

static void prefetch_run(struct __test_metadata *_metadata,
			 struct _test_data_counters *self, int policy,
			 enum gp_mode mode)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP };
	struct grt_script *s = &self->s;
	unsigned int a, b, c, d;
	uint64_t pte_x2, pte_rsvd, rsvd_bit = 0;
	int maxphy = 36;

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, set_prefetch(8));
	if (__get_cpuid(0x80000008, &a, &b, &c, &d))
		maxphy = a & 0xff;
	if (mode != GP_MODE_32 && maxphy < 52)
		rsvd_bit = 1ULL << 51;
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, mode, GRT_POOL,
			     GRT_POOL_SIZE));
	ASSERT_EQ(0, gp_map(&self->g, X_CLEAN_FULL, D_BASE, GP_4K, GP_4K,
			    GP_W | GP_A | GP_D));
	ASSERT_EQ(0, gp_map(&self->g, X_CLEAN_RW, D_BASE + 0x1000, GP_4K, GP_4K,
			    GP_W | GP_A));
	ASSERT_EQ(0, gp_map(&self->g, X_RO, D_BASE + 0x3000, GP_4K, GP_4K,
			    GP_A | GP_D));
	ASSERT_EQ(0, gp_map(&self->g, X_NOT_ACC, D_BASE + 0x4000, GP_4K, GP_4K,
			    GP_W));
	ASSERT_EQ(0, gp_map(&self->g, X_REMAP, D_BASE + 0x5000, GP_4K, GP_4K,
			    GP_W | GP_A | GP_D));
	if (rsvd_bit) {
		ASSERT_EQ(0, gp_map(&self->g, X_RSVD, D_BASE + 0x6000, GP_4K, GP_4K,
				    GP_W | GP_A | GP_D));
		pte_rsvd = gp_entry_gpa(&self->g, X_RSVD, 1, false);
		gp_set(&self->g, pte_rsvd, gp_get(&self->g, pte_rsvd) | rsvd_bit);
	}
	pte_x2 = gp_entry_gpa(&self->g, X_CLEAN_RW, 1, false);
	for (int i = 0; i < 8; i++)
		*(uint32_t *)tvm_ptr(&self->t, D_BASE + 0x1000 * i) = 0xd0 + i;
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));

	gs_warm_runtime(s);
	gs_access(s, X_NOTPRESENT, GRT_ACC_READ, 0, 0);	/* the #PF path */
	gs_out(s, 1);
	gs_access(s, X_CLEAN_FULL, GRT_ACC_READ, 0, 4);	/* fills 3 neighbours */
	gs_out(s, 2);
	gs_access(s, X_CLEAN_RW, GRT_ACC_READ, 0, 8);	/* prefetched: no exit */
	gs_access(s, X_RO, GRT_ACC_READ, 0, 12);
	gs_out(s, 3);
	gs_access(s, X_CLEAN_RW, GRT_ACC_WRITE, 0x5a5a, 16);	/* read-only: sets D */
	gs_out(s, 4);
	gs_access(s, X_RO, GRT_ACC_WRITE, 1, 20);	/* a true fault */
	gs_out(s, 5);
	gs_access(s, X_NOT_ACC, GRT_ACC_READ, 0, 24);	/* not prefetched: sets A */
	gs_out(s, 6);
	gs_access(s, X_RSVD, GRT_ACC_READ, 0, 28);	/* not prefetched: RSVD #PF */
	gs_out(s, 7);
	gs_op(s, GOP_WENT, 0, gp_entry_gpa(&self->g, X_REMAP, 1, false),
	      D_NEW | GP_P | GP_W | GP_A | GP_D, 0);
	gs_op(s, GOP_INVLPG, 0, X_REMAP, 0, 0);	/* drops the unused entry */
	gs_out(s, 8);
	gs_out(s, 9);
	ASSERT_EQ(0, grt_load(&self->t, s));
	ASSERT_EQ(0, grt_vm_stats(&self->t, self->prev, SHADOWVM_STAT_NR));

	PHASE(self, 1);
	PHASE(self, 2);
	EXPECT_D(self, "first touch", EXIT_PF, 1);
	EXPECT_D(self, "first touch", PF_HIDDEN_FILL, 1);
	/* X_CLEAN_RW, X_RO, X_REMAP; not X_NOT_ACC, X_NOTPRESENT, X_RSVD */
	EXPECT_D(self, "first touch", PF_PREFETCHED, 3);
	PHASE(self, 3);
	EXPECT_D(self, "reads of prefetched pages", EXIT_PF, 0);
	EXPECT_EQ(0xd1, (uint32_t)grt_res(&self->t)[10]);
	EXPECT_EQ(0xd3, (uint32_t)grt_res(&self->t)[14]);
	PHASE(self, 4);
	EXPECT_D(self, "write to a prefetched clean page", EXIT_PF, 1);
	EXPECT_D(self, "write to a prefetched clean page", PF_HIDDEN_AD, 1);
	EXPECT_D(self, "write to a prefetched clean page", PF_TRUE, 0);
	EXPECT_TRUE(gp_get(&self->g, pte_x2) & GP_D);
	EXPECT_EQ(0x5a5a, *(uint32_t *)tvm_ptr(&self->t, D_BASE + 0x1000));
	PHASE(self, 5);
	EXPECT_D(self, "write to a prefetched read-only page", PF_TRUE, 1);
	EXPECT_ACCESS(self, 20, 1, PFEC_P | PFEC_W, X_RO);
	EXPECT_EQ(0xd3, *(uint32_t *)tvm_ptr(&self->t, D_BASE + 0x3000));
	PHASE(self, 6);
	EXPECT_D(self, "A clear: not prefetched", EXIT_PF, 1);
	EXPECT_D(self, "A clear: not prefetched", PF_HIDDEN_AD, 1);
	PHASE(self, 7);
	if (rsvd_bit) {
		EXPECT_D(self, "reserved bit: not prefetched", PF_TRUE, 1);
		EXPECT_ACCESS(self, 28, 1, PFEC_P | PFEC_RSVD, X_RSVD);
	} else {
		EXPECT_ACCESS(self, 28, 1, 0, X_RSVD);	/* not mapped at all */
	}
	PHASE(self, 8);
	/*
	 * X_REMAP was prefetched and is dropped untouched. vtlb drops the
	 * whole shadow on INVLPG, and with it every other untouched
	 * prefetched entry (neighbours of code, stack and script pages).
	 */
	if (policy == SHADOWVM_MMU_POLICY_VTLB) {
		EXPECT_LE(1, self->d[SHADOWVM_STAT_PF_PREFETCH_UNUSED]);
	} else {
		EXPECT_D(self, "PT write and INVLPG", PF_PREFETCH_UNUSED, 1);
	}
	PHASE(self, 9);
}

TEST_F(counters, prefetch_long_mode)
{
	prefetch_run(_metadata, self, variant->policy, GP_MODE_LM);
}

TEST_F(counters, prefetch_32bit)
{
	prefetch_run(_metadata, self, variant->policy, GP_MODE_32);
}

/* ---- table prefetch ---- */

#define XT		0x40800000ULL	/* 64 pages, one leaf table of its own */
#define XT2		0x40a00000ULL	/* 64 more: page 0 clean (D clear) */
#define XT_FRAMES	0x400000ULL	/* XT's frames, then XT2's at +0x100000 */
#define XT_PAGES	64
#define PREFETCH_TABLE_PARAM "/sys/module/shadowvm/parameters/prefetch_table"

/* the module's prefetch_table: set it, returning the old one (0/1, -errno) */
static int set_prefetch_table(int on)
{
	char buf[8];
	int r = svm_param_swap("prefetch_table", on ? "Y\n" : "N\n", buf, sizeof(buf));

	return r ? r : buf[0] == 'Y' || buf[0] == '1';
}

/*
 * Table prefetch and its judgement (write-protect policy, long mode,
 * prefetch 8), on a leaf table of 64 present, accessed pages:
 *   - the first fill prefetches its window (7), the fill in a second
 *     window prefetches the rest of the table (7 + 48);
 *   - the table used whole, the guest rewrites the PDE: the shadow page
 *     is kept unlinked, and the next fill links it again (no page
 *     created, nothing prefetched);
 *   - the PDE rewritten, then a PTE (a write to the unlinked page's frame
 *     zaps it): nothing dropped unused, the table stays dense, and the
 *     next fill's new shadow page is prefetched whole (63);
 *   - that page zapped untouched: 63 dropped unused, the dense mark
 *     goes and the table has a strike: the next shadow page of it needs
 *     fills in 4 windows before its table prefetch (7, 7, then 7 + 7 +
 *     32);
 *   - a refault of an entry (a write to a clean page read before) is no
 *     fill in a second window: no table prefetch (0).
 */
FIXTURE(table_pf) {
	struct tvm t;
	int old_prefetch, old_pt;
	struct gp g;
	struct grt_script s;
	bool live;
	uint64_t prev[SHADOWVM_STAT_NR], d[SHADOWVM_STAT_NR];
	char err[512];
};

FIXTURE_SETUP(table_pf)
{
	int r;

	memset(self, 0, sizeof(*self));
	self->old_prefetch = -1;
	self->old_pt = -1;
	gs_init(&self->s);
	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "counters are shadowvm's");
	r = grt_create(&self->t, BE_SHADOWVM, MEM_SIZE,
		       SHADOWVM_MMU_POLICY_WRITE_PROTECT, 0, 0);
	if (tvm_no_device(r))
		SKIP(return, SKIP_REASON_NODEV);
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	self->live = true;
	self->old_prefetch = set_prefetch(8);
	ASSERT_LE(0, self->old_prefetch)
		TH_LOG("%s: %s", PREFETCH_PARAM, strerror(-self->old_prefetch));
	self->old_pt = set_prefetch_table(1);
	ASSERT_LE(0, self->old_pt)
		TH_LOG("%s: %s", PREFETCH_TABLE_PARAM, strerror(-self->old_pt));
}

FIXTURE_TEARDOWN(table_pf)
{
	if (self->old_pt >= 0)
		set_prefetch_table(self->old_pt);
	if (self->old_prefetch >= 0)
		set_prefetch(self->old_prefetch);
	if (self->live)
		tvm_destroy(&self->t);
	gs_free(&self->s);
}

TEST_F(table_pf, judged)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP };
	struct grt_script *s = &self->s;
	uint64_t pde, pte, pte2;

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, GP_MODE_LM,
			     GRT_POOL, GRT_POOL_SIZE));
	ASSERT_EQ(0, gp_map(&self->g, XT, XT_FRAMES, XT_PAGES * 0x1000ULL,
			    GP_4K, GP_W | GP_A | GP_D));
	ASSERT_EQ(0, gp_map(&self->g, XT2, XT_FRAMES + 0x100000,
			    XT_PAGES * 0x1000ULL, GP_4K, GP_W | GP_A | GP_D));
	pte2 = gp_entry_gpa(&self->g, XT2, 1, false);
	gp_set(&self->g, pte2, gp_get(&self->g, pte2) & ~(uint64_t)GP_D);
	pde = gp_entry_gpa(&self->g, XT, 2, false);
	pte = gp_entry_gpa(&self->g, XT + (XT_PAGES - 1) * 0x1000ULL, 1, false);
	/* host pages present: prefetch never faults runner memory in */
	for (int i = 0; i < XT_PAGES; i++) {
		*(uint32_t *)tvm_ptr(&self->t, XT_FRAMES + 0x1000 * i) = i;
		*(uint32_t *)tvm_ptr(&self->t, XT_FRAMES + 0x100000 + 0x1000 * i) = i;
	}
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));

	gs_warm_runtime(s);
	gs_op(s, GOP_TOUCH, 0, pde & ~0xfffULL, 1, 0);	/* the PD, read */
	gs_out(s, 1);
	gs_access(s, XT, GRT_ACC_READ, 0, 0);
	gs_out(s, 2);
	gs_access(s, XT + 8 * 0x1000, GRT_ACC_READ, 0, 0);
	gs_out(s, 3);
	gs_op(s, GOP_TOUCH, 0, XT, XT_PAGES, 0);
	gs_out(s, 4);
	gs_op(s, GOP_WENT, 0, pde, gp_get(&self->g, pde), 0);
	gs_out(s, 5);
	gs_access(s, XT + 5 * 0x1000, GRT_ACC_READ, 0, 0);
	gs_out(s, 6);
	gs_op(s, GOP_WENT, 0, pde, gp_get(&self->g, pde), 0);
	gs_op(s, GOP_WENT, 0, pte, gp_get(&self->g, pte), 0);
	gs_out(s, 7);
	gs_access(s, XT + 5 * 0x1000, GRT_ACC_READ, 0, 0);
	gs_out(s, 8);
	gs_op(s, GOP_WENT, 0, pde, gp_get(&self->g, pde), 0);
	gs_op(s, GOP_WENT, 0, pte, gp_get(&self->g, pte), 0);
	gs_out(s, 9);
	gs_access(s, XT + 5 * 0x1000, GRT_ACC_READ, 0, 0);
	gs_out(s, 10);
	gs_access(s, XT + 13 * 0x1000, GRT_ACC_READ, 0, 0);
	gs_out(s, 11);
	gs_access(s, XT + 21 * 0x1000, GRT_ACC_READ, 0, 0);
	gs_access(s, XT + 29 * 0x1000, GRT_ACC_READ, 0, 4);
	gs_out(s, 12);
	gs_access(s, XT2, GRT_ACC_READ, 0, 0);
	gs_out(s, 13);
	gs_access(s, XT2, GRT_ACC_WRITE, 0x77, 4);
	gs_out(s, 14);
	gs_out(s, 15);
	ASSERT_EQ(0, grt_load(&self->t, s));
	ASSERT_EQ(0, grt_vm_stats(&self->t, self->prev, SHADOWVM_STAT_NR));

	PHASE(self, 1);
	PHASE(self, 2);
	EXPECT_D(self, "first fill", EXIT_PF, 1);
	EXPECT_D(self, "first fill", PF_PREFETCHED, 7);
	PHASE(self, 3);
	EXPECT_D(self, "fill in a second window", EXIT_PF, 1);
	EXPECT_D(self, "fill in a second window", PF_PREFETCHED, 7 + 48);
	PHASE(self, 4);
	EXPECT_D(self, "the table used whole", EXIT_PF, 0);
	PHASE(self, 5);
	EXPECT_D(self, "PDE rewritten: page kept", PF_PREFETCH_UNUSED, 0);
	EXPECT_D(self, "PDE rewritten: page kept", PF_HIDDEN_PT_WRITE, 1);
	EXPECT_D(self, "PDE rewritten: page kept", SP_ZAPPED, 0);
	PHASE(self, 6);
	EXPECT_D(self, "kept page linked again", EXIT_PF, 1);
	EXPECT_D(self, "kept page linked again", SP_CREATED, 0);
	EXPECT_D(self, "kept page linked again", PF_PREFETCHED, 0);
	PHASE(self, 7);
	EXPECT_D(self, "PDE, then PTE rewritten: used page zapped", PF_PREFETCH_UNUSED, 0);
	EXPECT_D(self, "PDE, then PTE rewritten: used page zapped", PF_HIDDEN_PT_WRITE, 1);
	EXPECT_D(self, "PDE, then PTE rewritten: used page zapped", SP_ZAPPED, 1);
	PHASE(self, 8);
	EXPECT_D(self, "dense table: new page whole", EXIT_PF, 1);
	EXPECT_D(self, "dense table: new page whole", SP_CREATED, 1);
	EXPECT_D(self, "dense table: new page whole", PF_PREFETCHED, 63);
	PHASE(self, 9);
	EXPECT_D(self, "PDE, then PTE rewritten: unused page zapped", PF_PREFETCH_UNUSED, 63);
	PHASE(self, 10);
	EXPECT_D(self, "a strike: window only", EXIT_PF, 1);
	EXPECT_D(self, "a strike: window only", PF_PREFETCHED, 7);
	PHASE(self, 11);
	EXPECT_D(self, "a strike: second window", EXIT_PF, 1);
	EXPECT_D(self, "a strike: second window", PF_PREFETCHED, 7);
	PHASE(self, 12);
	EXPECT_D(self, "a strike: fourth window", EXIT_PF, 2);
	EXPECT_D(self, "a strike: fourth window", PF_PREFETCHED, 7 + 7 + 32);
	PHASE(self, 13);
	EXPECT_D(self, "clean page read", PF_PREFETCHED, 7);
	PHASE(self, 14);
	EXPECT_D(self, "refault of the entry", EXIT_PF, 1);
	EXPECT_D(self, "refault of the entry", PF_HIDDEN_AD, 1);
	EXPECT_D(self, "refault of the entry", PF_PREFETCHED, 0);
	EXPECT_TRUE(gp_get(&self->g, pte2) & GP_D);
	PHASE(self, 15);
}

/* ---- tracepoints ---- */

#define TRACEFS		"/sys/kernel/tracing"

static int write_file(const char *path, const char *v)
{
	FILE *f = fopen(path, "we");
	int r;

	if (!f)
		return -errno;
	r = fputs(v, f) < 0 ? -EIO : 0;
	if (fclose(f) && !r)
		r = -errno;
	return r;
}

static int trace_events(bool on)
{
	static const char *const ev[] = { "fault", "pt_write",
					  "root_switch", "exit" };
	char path[256];
	unsigned int i;
	int r = 0;

	for (i = 0; i < ARRAY_SIZE(ev) && !r; i++) {
		snprintf(path, sizeof(path), TRACEFS "/events/shadowvm/%s/enable",
			 ev[i]);
		r = write_file(path, on ? "1" : "0");
	}
	return r;
}

/* lines of the trace buffer containing every one of the strings */
static int trace_count(const char *a, const char *b, const char *c)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(TRACEFS "/trace", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, a) && (!b || strstr(line, b)) &&
		    (!c || strstr(line, c)))
			n++;
	fclose(f);
	return n;
}

/*
 * The tracepoints fire once per event: three true faults (each with its
 * address and error code), one page-table write (its guest-physical
 * address), one root-cache hit on a CR3 reload, and an exit event for
 * each VM exit (the four #PF exits: reason 0; the CR3 load: reason 28; the
 * OUT that ends the run: reason 30, once). Write-protect policy, long
 * mode; tracing off again afterwards.
 */
TEST(tracepoints_fault_ptwrite_root)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP };
	struct grt_stopinfo st;
	struct grt_script s;
	char err[256], want[64], want2[64];
	uint64_t pte;
	struct tvm t;
	struct gp g;
	int r, k;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "tracepoints are shadowvm's");
	if (access(TRACEFS "/events/shadowvm", F_OK))
		SKIP(return, "no " TRACEFS "/events/shadowvm (tracefs not mounted?)");
	r = grt_create(&t, BE_SHADOWVM, MEM_SIZE,
		       SHADOWVM_MMU_POLICY_WRITE_PROTECT, 0, 0);
	if (tvm_no_device(r))
		SKIP(return, SKIP_REASON_NODEV);
	ASSERT_EQ(0, r);
	ASSERT_EQ(0, gp_init(&g, t.mem, MEM_SIZE, GP_MODE_LM, GRT_POOL,
			     GRT_POOL_SIZE));
	ASSERT_EQ(0, gp_map(&g, X_CLEAN_FULL, D_BASE, GP_4K, GP_4K,
			    GP_W | GP_A | GP_D));
	pte = gp_entry_gpa(&g, X_CLEAN_FULL, 1, false);
	ASSERT_EQ(0, grt_setup(&t, &g, &env));
	gs_init(&s);
	gs_access(&s, X_CLEAN_FULL, GRT_ACC_READ, 0, 0);
	gs_out(&s, 1);
	for (k = 0; k < 3; k++)
		gs_access(&s, X_NOTPRESENT + k * 0x10000, GRT_ACC_WRITE, 0, 4);
	gs_op(&s, GOP_WENT, 0, pte, D_NEW | GP_P | GP_W | GP_A | GP_D, 0);
	gs_op(&s, GOP_CR3, 0, gp_cr3(&g), 0, 0);
	gs_out(&s, 2);
	ASSERT_EQ(0, grt_load(&t, &s));
	grt_run(&t, &st);
	ASSERT_EQ(GRT_STOP_OUT, st.why) TH_LOG("%s",
		grt_describe(&t, &st, err, sizeof(err)));
	ASSERT_EQ(0, trace_events(true)) TH_LOG("enabling the events");
	ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
	grt_run(&t, &st);
	trace_events(false);
	ASSERT_EQ(GRT_STOP_OUT, st.why) TH_LOG("%s",
		grt_describe(&t, &st, err, sizeof(err)));
	for (k = 0; k < 3; k++) {
		snprintf(want, sizeof(want), "la 0x%llx ",
			 (unsigned long long)(X_NOTPRESENT + k * 0x10000));
		EXPECT_EQ(1, trace_count(" fault:", want, "true ec 0x2"))
			TH_LOG("fault for %s", want);
	}
	EXPECT_EQ(3, trace_count(" fault:", "true", NULL));
	snprintf(want, sizeof(want), "gpa 0x%llx ", (unsigned long long)pte);
	EXPECT_EQ(1, trace_count("pt_write:", want, NULL))
		TH_LOG("pt_write of %s", want);
	snprintf(want2, sizeof(want2), "cr3 0x%llx hit",
		 (unsigned long long)gp_cr3(&g));
	EXPECT_EQ(1, trace_count("root_switch:", want2, NULL))
		TH_LOG("root_switch %s", want2);
	EXPECT_LE(4, trace_count(" exit:", "reason 0 ", NULL));
	EXPECT_LE(1, trace_count(" exit:", "reason 28 ", NULL));
	EXPECT_EQ(1, trace_count(" exit:", "reason 30 ", NULL));
	gs_free(&s);
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
