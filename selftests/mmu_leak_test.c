// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_leak_test: shadow-MMU memory is bounded and returned, under each
 * policy.
 *
 * many_processes_return_to_baseline: a long-mode VM runs 64 processes
 * (each its own tables, several pages touched, a PTE of another process
 * edited per switch) twice over, then is destroyed; the module's
 * debugfs counters (live_pages, live_objects, pinned pages, VMs, vCPUs)
 * return to what they were before.
 *
 * cap_64_shadow_pages_recycles: the same workload with 32 processes, after
 * the kernel space itself read 96 pages each under its own page table
 * twice, in a VM created with max_shadow_pages = 64: it still runs
 * correctly (every signature check passes), shadow pages were recycled
 * (SP_RECYCLED > 0)
 * and no more than 64 are live at the end; the counters return to the
 * baseline after destruction too.
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
#define MAXPROC		64
#define NPAGES		3
#define FR_BASE		0x300000ULL

struct leak {
	struct gp kern;
	struct gp as[MAXPROC];
	uint64_t pte[MAXPROC][NPAGES];
	char err[512];
};

static uint64_t frame(int i, int k)
{
	return FR_BASE + (uint64_t)(i * NPAGES + k) * 0x1000;
}

static uint32_t sig(int i, int k)
{
	return 0x1ea00000u | i << 8 | k;
}

/* builds nproc processes and runs rounds over them; returns the stats */
#define WIDE_PAGES	96
#define WIDE_LA		0x40000000ULL
#define WIDE_FRAMES	0x500000ULL

/*
 * nproc processes, rounds over them; with wide, the kernel space first
 * touches WIDE_PAGES pages each in its own page table (one address space
 * alone needs more than 64 shadow pages). Returns the stats.
 */
static void workload(struct __test_metadata *_metadata, uint32_t policy,
		     uint32_t max_sp, int nproc, int rounds, bool wide,
		     uint64_t *st)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP };
	const uint64_t ula = GRT_PROC_LA(GP_MODE_LM);
	struct grt_script s;
	struct leak *l;
	struct tvm t;
	int i, k, r, n = 0;

	l = calloc(1, sizeof(*l));
	ASSERT_NE(NULL, l);
	r = grt_create(&t, BE_SHADOWVM, MEM_SIZE, policy, 0, max_sp);
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	ASSERT_EQ(0, gp_init(&l->kern, t.mem, MEM_SIZE, GP_MODE_LM, GRT_POOL,
			     GRT_POOL_SIZE));
	ASSERT_EQ(0, grt_setup(&t, &l->kern, &env));
	for (i = 0; i < nproc; i++) {
		ASSERT_EQ(0, gp_init_shared(&l->as[i], &l->kern, GP_MODE_LM));
		gp_share(&l->as[i], &l->kern, 0, GRT_KERNEL_SPAN(GP_MODE_LM));
		for (k = 0; k < NPAGES; k++) {
			/* spread the pages over three page tables */
			uint64_t la = ula + (uint64_t)k * (GP_2M + 0x1000);

			ASSERT_EQ(0, gp_map(&l->as[i], la, frame(i, k), GP_4K,
					    GP_4K, GP_W | GP_A | GP_D));
			l->pte[i][k] = gp_entry_gpa(&l->as[i], la, 1, false);
			*(uint32_t *)tvm_ptr(&t, frame(i, k)) = sig(i, k);
		}
	}
	gs_init(&s);
	for (k = 0; wide && k < WIDE_PAGES; k++) {
		ASSERT_EQ(0, gp_map(&l->kern, WIDE_LA + k * GP_2M,
				    WIDE_FRAMES + k * 0x1000, GP_4K, GP_4K,
				    GP_W | GP_A | GP_D));
		*(uint32_t *)tvm_ptr(&t, WIDE_FRAMES + k * 0x1000) = 0x3000 + k;
	}
	for (r = 0; wide && r < 2; r++)
		for (k = 0; k < WIDE_PAGES; k++)
			gs_op(&s, GOP_CHK32, 0, WIDE_LA + k * GP_2M, 0x3000 + k, 0);
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < nproc; i++) {
			int j = (i + 5) % nproc;

			gs_op(&s, GOP_CR3, 0, gp_cr3(&l->as[i]), 0, 0);
			for (k = 0; k < NPAGES; k++)
				gs_op(&s, GOP_CHK32, 0,
				      ula + (uint64_t)k * (GP_2M + 0x1000),
				      sig(i, k), 0);
			/* rewrite another process's PTE with the same value */
			gs_op(&s, GOP_WENT, 0, l->pte[j][n % NPAGES],
			      frame(j, n % NPAGES) | GP_P | GP_W | GP_A | GP_D, 0);
			n++;
		}
	}
	gs_op(&s, GOP_CR3, 0, gp_cr3(&l->kern), 0, 0);
	ASSERT_EQ(0, grt_exec(&t, &s, l->err, sizeof(l->err)))
		TH_LOG("guest: %s", l->err);
	EXPECT_EQ(0, *grt_cb32(&t, CB_ERR_COUNT))
		TH_LOG("%u signature mismatches, first at op %u: 0x%llx",
		       *grt_cb32(&t, CB_ERR_COUNT), *grt_cb32(&t, CB_ERR_OP),
		       (unsigned long long)*grt_cb64(&t, CB_ERR_VAL));
	ASSERT_EQ(0, grt_vm_stats(&t, st, SHADOWVM_STAT_NR));
	TH_LOG("%s policy, max_shadow_pages %u, %d processes: %llu shadow pages created, %llu zapped, %llu recycled, %llu live",
	       grt_policy_name(policy), max_sp, nproc,
	       (unsigned long long)st[SHADOWVM_STAT_SP_CREATED],
	       (unsigned long long)st[SHADOWVM_STAT_SP_ZAPPED],
	       (unsigned long long)st[SHADOWVM_STAT_SP_RECYCLED],
	       (unsigned long long)st[SHADOWVM_STAT_SP_LIVE]);
	gs_free(&s);
	free(l);
	tvm_destroy(&t);
}

FIXTURE(leak) {
	struct svm_counters base;
};

POLICY_VARIANTS(leak);

FIXTURE_SETUP(leak)
{
	int fd, r;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "module memory is shadowvm's");
	OPEN_DEV_OR_SKIP(fd);
	close(fd);
	r = svm_debugfs_ready();
	if (r)
		SKIP(return, "shadowvm debugfs missing: %s", strerror(-r));
	ASSERT_EQ(0, svm_read_counters(&self->base));
}

FIXTURE_TEARDOWN(leak)
{
}

static void expect_baseline(struct __test_metadata *_metadata,
			    const struct svm_counters *base)
{
	struct svm_counters now;
	char diff[256];
	int r;

	r = svm_wait_counters(base, &now, 5000);
	ASSERT_LE(0, r) TH_LOG("reading the module counters: %s", strerror(-r));
	svm_counters_diff(base, &now, diff, sizeof(diff));
	EXPECT_EQ(0, r) TH_LOG("module counters did not return to the baseline: %s",
			       diff);
}

TEST_F_TIMEOUT(leak, many_processes_return_to_baseline, 600)
{
	uint64_t st[SHADOWVM_STAT_NR];

	RETURN_IF_SETUP_SKIPPED();
	workload(_metadata, variant->policy, 0, MAXPROC, 2, false, st);
	EXPECT_LE(MAXPROC, st[SHADOWVM_STAT_ADDRESS_SPACES]);
	expect_baseline(_metadata, &self->base);
}

TEST_F_TIMEOUT(leak, cap_64_shadow_pages_recycles, 600)
{
	uint64_t st[SHADOWVM_STAT_NR];

	RETURN_IF_SETUP_SKIPPED();
	workload(_metadata, variant->policy, 64, 32, 2, true, st);
	EXPECT_LT(0, st[SHADOWVM_STAT_SP_RECYCLED]);
	EXPECT_GE(64, st[SHADOWVM_STAT_SP_LIVE]);
	expect_baseline(_metadata, &self->base);
}

TEST_HARNESS_MAIN
