// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_rootcache_test: a cached root stays coherent with its guest table
 * when the frame has more than 64 shadow pages (item 4).
 *
 * The guest's PML4 frame F (long mode) holds recursive entries R_k that
 * point back at F with every combination of W, U and NX (A and D set), so
 * LA(R_k, R_k, R_k, R_k) walks F as PML4, PDPT, PD and PT: each such read
 * makes three shadow pages of F (levels 3, 2, 1) whose role carries the
 * access of R_k. The guest repeats this under every context the CPU allows
 * (CR0.WP 1 and 0, EFER.NXE 0 and 1, and with WP=0 CR4.SMEP and CR4.SMAP),
 * each context making another set of roles, and another root of F. The
 * first root of F (the starting context) was made first, so it sits behind
 * all of them in the frame's hash chain. Entry T of F maps LA_T to frame
 * DA; the guest read LA_T at the start, so that root has a shadow entry for
 * T. Back in the starting context the guest rewrites F[T] to a table chain
 * that maps LA_T to frame DB (an emulated write: F is write-protected),
 * reloads CR3 with the same value (a root-cache hit) and reads LA_T: it
 * must read DB. The test checks with SP_CREATED that the contexts made
 * more than 64 shadow pages of F, and with ROOT_HITS/ROOT_MISSES that the
 * CR3 load hit the cache.
 *
 * Runs under every policy but vtlb, which drops every shadow page on each
 * CR3 load and context change, so it can never have 64 shadow pages of one
 * frame (skipped).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define T_IDX		100ULL
#define LA_T		(T_IDX << 39)
#define R_BASE		200		/* R_k = PML4 index R_BASE + k */
#define NR_R		8
#define DA		0x600000ULL
#define DB		0x601000ULL
#define VAL_A		0x0da0da0du
#define VAL_B		0x0db0db0du
#define MAX_CTX		16

struct ctx {
	uint64_t cr0, cr4, efer;
	int nacc;			/* recursive entries read */
};

static uint64_t la_r(int k)
{
	uint64_t r = R_BASE + k;

	return r << 39 | r << 30 | r << 21 | r << 12;
}

static uint64_t r_flags(int k)
{
	return (k & 1 ? GP_W : 0) | (k & 2 ? GP_U : 0) | (k & 4 ? GP_NX : 0);
}

static void stats(struct __test_metadata *_metadata, struct tvm *t, uint64_t *v)
{
	ASSERT_EQ(0, grt_vm_stats(t, v, SHADOWVM_STAT_NR));
}

static void rootcache(struct __test_metadata *_metadata, uint32_t policy)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP };
	uint64_t base_cr0 = GP_CR0_PE | GP_CR0_ET | GP_CR0_PG;
	uint64_t base_efer = GP_EFER_LME | GP_EFER_LMA;
	uint64_t s0[SHADOWVM_STAT_NR], s1[SHADOWVM_STAT_NR];
	uint64_t before[SHADOWVM_STAT_NR], after[SHADOWVM_STAT_NR];
	uint64_t f, t_new, *res;
	struct ctx c[MAX_CTX];
	struct grt_stopinfo st;
	struct grt_script s;
	struct grt_cpu cpu;
	struct gp g;
	struct tvm t;
	char err[512];
	long created_f = 0, expect_f = 0;
	int nctx = 0, i, k, wp, nxe, sm, r;

	r = grt_create(&t, BE_SHADOWVM, MEM_SIZE, policy, 0, 0);
	if (tvm_no_device(r))
		SKIP(return, SKIP_REASON_NODEV);
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	ASSERT_EQ(0, gp_init(&g, t.mem, MEM_SIZE, GP_MODE_LM, GRT_POOL,
			     GRT_POOL_SIZE));
	f = g.root;
	/* LA_T -> DB first, keep that PML4E, then LA_T -> DA */
	ASSERT_EQ(0, gp_map(&g, LA_T, DB, GP_4K, GP_4K, GP_W | GP_A | GP_D));
	t_new = gp_get(&g, f + T_IDX * 8);
	gp_set(&g, f + T_IDX * 8, 0);
	ASSERT_EQ(0, gp_map(&g, LA_T, DA, GP_4K, GP_4K, GP_W | GP_A | GP_D));
	ASSERT_NE(t_new, gp_get(&g, f + T_IDX * 8));
	for (k = 0; k < NR_R; k++)
		gp_set(&g, f + (R_BASE + k) * 8,
		       f | GP_P | GP_A | GP_D | r_flags(k));
	*(uint32_t *)tvm_ptr(&t, DA) = VAL_A;
	*(uint32_t *)tvm_ptr(&t, DB) = VAL_B;
	ASSERT_EQ(0, grt_setup(&t, &g, &env));
	ASSERT_EQ(0, grt_probe_cpu(&t, &cpu, err, sizeof(err))) TH_LOG("%s", err);

	/* the contexts: the starting one first */
	for (wp = 1; wp >= 0; wp--)
		for (nxe = 0; nxe < 2; nxe++)
			for (sm = 0; sm < 4; sm++) {
				if (nxe && !cpu.nx)
					continue;
				if (sm && wp)
					continue;	/* same role as sm = 0 */
				if ((sm & 1) && !cpu.smep)
					continue;
				if ((sm & 2) && !cpu.smap)
					continue;
				c[nctx].cr0 = base_cr0 | (wp ? GP_CR0_WP : 0);
				c[nctx].cr4 = GP_CR4_PAE |
					      (sm & 1 ? GP_CR4_SMEP : 0) |
					      (sm & 2 ? GP_CR4_SMAP : 0);
				c[nctx].efer = base_efer | (nxe ? GP_EFER_NXE : 0);
				c[nctx].nacc = nxe ? NR_R : NR_R / 2;
				expect_f += 1 + 3 * c[nctx].nacc;
				nctx++;
			}

	gs_init(&s);
	gs_access(&s, LA_T, GRT_ACC_READ, 0, 0);
	for (i = 0; i < nctx; i++) {
		if (i) {
			gs_op(&s, GOP_CR4, 0, c[i].cr4, 0, 0);
			gs_op(&s, GOP_CR0, 0, c[i].cr0, 0, 0);
			gs_op(&s, GOP_EFER, 0, c[i].efer, 0, 0);
		}
		gs_op(&s, GOP_R32, 0, GRT_SCRATCH, 0, 8);	/* warm up */
		gs_out(&s, 0x100 + 2 * i);
		for (k = 0; k < NR_R; k++) {
			if ((r_flags(k) & GP_NX) && !(c[i].efer & GP_EFER_NXE))
				continue;	/* reserved without NXE */
			gs_access(&s, la_r(k), GRT_ACC_READ |
				  (c[i].cr4 & GP_CR4_SMAP ? GRT_ACC_AC : 0), 0,
				  16 + 4 * (i * NR_R + k));
		}
		gs_out(&s, 0x101 + 2 * i);
	}
	gs_op(&s, GOP_CR4, 0, c[0].cr4, 0, 0);
	gs_op(&s, GOP_CR0, 0, c[0].cr0, 0, 0);
	gs_op(&s, GOP_EFER, 0, c[0].efer, 0, 0);
	gs_out(&s, 0x200);
	gs_op(&s, GOP_WENT, 0, f + T_IDX * 8, t_new, 0);
	gs_op(&s, GOP_CR3, 0, gp_cr3(&g), 0, 0);
	gs_access(&s, LA_T, GRT_ACC_READ, 0, 4);
	gs_out(&s, 0x201);
	ASSERT_EQ(0, grt_load(&t, &s));
	res = grt_res(&t);
	for (;;) {
		grt_run(&t, &st);
		if (st.why == GRT_STOP_DONE)
			break;
		grt_describe(&t, &st, err, sizeof(err));
		ASSERT_EQ(GRT_STOP_OUT, st.why) TH_LOG("guest: %s", err);
		if (st.value >= 0x100 && st.value < 0x100 + 2 * MAX_CTX) {
			if (!(st.value & 1)) {
				stats(_metadata, &t, s0);
			} else {
				stats(_metadata, &t, s1);
				created_f += s1[SHADOWVM_STAT_SP_CREATED] -
					     s0[SHADOWVM_STAT_SP_CREATED];
			}
		} else if (st.value == 0x200) {
			stats(_metadata, &t, before);
		} else if (st.value == 0x201) {
			stats(_metadata, &t, after);
		}
	}
	/* every recursive read succeeded */
	for (i = 0; i < nctx; i++)
		for (k = 0; k < NR_R; k++) {
			if ((r_flags(k) & GP_NX) && !(c[i].efer & GP_EFER_NXE))
				continue;
			EXPECT_EQ(0, (uint32_t)res[16 + 4 * (i * NR_R + k)])
				TH_LOG("context %d, R_%d: #PF error code 0x%x", i, k,
				       (uint32_t)(res[16 + 4 * (i * NR_R + k)] >> 32));
		}
	TH_LOG("%s policy, %d contexts (NX %d SMEP %d SMAP %d): %ld shadow pages created by the recursive reads + %d roots of F (%ld expected); SP_LIVE %llu",
	       grt_policy_name(policy), nctx, cpu.nx, cpu.smep, cpu.smap,
	       created_f, nctx, expect_f,
	       (unsigned long long)before[SHADOWVM_STAT_SP_LIVE]);
	EXPECT_LT(64, created_f + nctx)
		TH_LOG("the setup did not make more than 64 shadow pages of F");
	EXPECT_EQ(0, (uint32_t)res[0]) TH_LOG("first read of LA_T faulted");
	EXPECT_EQ(VAL_A, (uint32_t)res[2]) TH_LOG("first read of LA_T");
	TH_LOG("CR3 reload after the PML4E write: root hits +%llu, misses +%llu",
	       (unsigned long long)(after[SHADOWVM_STAT_ROOT_HITS] -
				    before[SHADOWVM_STAT_ROOT_HITS]),
	       (unsigned long long)(after[SHADOWVM_STAT_ROOT_MISSES] -
				    before[SHADOWVM_STAT_ROOT_MISSES]));
	EXPECT_LE(1, after[SHADOWVM_STAT_ROOT_HITS] - before[SHADOWVM_STAT_ROOT_HITS])
		TH_LOG("the CR3 reload did not hit the root cache");
	EXPECT_EQ(0, (uint32_t)res[4]) TH_LOG("read of LA_T after the write faulted: ec 0x%x",
					      (uint32_t)(res[4] >> 32));
	EXPECT_EQ(VAL_B, (uint32_t)res[6])
		TH_LOG("after rewriting PML4E %llu and reloading CR3 the guest read 0x%x: %s",
		       (unsigned long long)T_IDX, (uint32_t)res[6],
		       (uint32_t)res[6] == VAL_A ? "the old mapping (stale cached root)" :
		       "neither mapping");
	gs_free(&s);
	tvm_destroy(&t);
}

FIXTURE(rootcache) {
	int unused;
};

POLICY_VARIANTS(rootcache);

FIXTURE_SETUP(rootcache)
{
	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "shadowvm's shadow-page and root-cache counters");
	if (variant->policy == SHADOWVM_MMU_POLICY_VTLB)
		SKIP(return, "vtlb drops every shadow page on each CR3 load");
}

FIXTURE_TEARDOWN(rootcache)
{
}

TEST_F_TIMEOUT(rootcache, pml4_write_seen_past_64_shadow_pages, 300)
{
	RETURN_IF_SETUP_SKIPPED();
	rootcache(_metadata, variant->policy);
}

TEST_HARNESS_MAIN
