// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_procs_test: many guest processes on the shadow MMU, under each
 * policy, in 32-bit, PAE and long mode.
 *
 * 40 guest processes each have their own page tables (sharing the kernel
 * half: the top-level entries of the runtime's identity map) and 4 private
 * pages. A guest "scheduler" (the script) switches CR3 round-robin: twice
 * over all 40, then five times over a working set of 12, then once more
 * over all 40. In each process it checks the signature of every page it
 * maps (or that an unmapped page faults, or that a read-only one refuses a
 * write, with the right error code and CR2), bumps a per-process counter,
 * and edits a PTE of another, inactive process through the kernel mapping
 * of that process's page table: remap to another frame, make read-only,
 * unmap, map again. When the edited process runs again it must see the
 * edit. Afterwards: every check passed, every counter is right, ROOT_HITS
 * > 0 (the working-set rounds fit the default 16-entry root cache; vTLB
 * drops its roots at every CR3 load and is exempt), ADDRESS_SPACES counts
 * every process, and debugfs has a line per process whose root hits add up
 * to ROOT_HITS. root_cache_2_misses_more runs the same schedule with
 * root_cache_size = 2 and the default and wants more misses and fewer hits
 * with 2.
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
#define NPROC		40
#define NPAGES		4
#define WSET		12
#define FR_BASE		0x300000ULL

enum pstate { ST_A, ST_B, ST_RO, ST_NP, ST_NR };

struct procs {
	enum gp_mode mode;
	struct gp kern;
	struct gp as[NPROC];
	uint64_t ula;
	uint64_t pte[NPROC][NPAGES];
	int state[NPROC][NPAGES];
	uint32_t visits[NPROC];
	/* expected ACCESS results: slot -> (count, ec, cr2) */
	struct { uint64_t slot; uint32_t ec; uint64_t cr2; } acc[2048];
	int nacc;
	uint64_t nslot;
	int nvisits;
	char err[512];
};

static uint64_t frame(int i, int k, int b)
{
	return FR_BASE + ((uint64_t)(i * NPAGES + k) * 2 + b) * 0x1000;
}

static uint32_t sig(int i, int k, int b)
{
	return 0x50000000u | i << 16 | k << 8 | b;
}

static uint64_t pte_val(int i, int k, int st)
{
	const uint64_t f = GP_P | GP_U | GP_A | GP_D;

	switch (st) {
	case ST_A:
		return frame(i, k, 0) | f | GP_W;
	case ST_B:
		return frame(i, k, 1) | f | GP_W;
	case ST_RO:
		return frame(i, k, 0) | f;
	default:
		return 0;
	}
}

/* builds the kernel space and the processes; 0 or -errno */
static int procs_build(struct tvm *t, struct procs *p, enum gp_mode mode)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP };
	int i, k, r;

	p->mode = mode;
	p->ula = GRT_PROC_LA(mode);
	r = gp_init(&p->kern, t->mem, MEM_SIZE, mode, GRT_POOL, GRT_POOL_SIZE);
	if (r)
		return r;
	r = grt_setup(t, &p->kern, &env);
	if (r)
		return r;
	for (i = 0; i < NPROC; i++) {
		r = gp_init_shared(&p->as[i], &p->kern, mode);
		if (r)
			return r;
		gp_share(&p->as[i], &p->kern, 0, GRT_KERNEL_SPAN(mode));
		for (k = 0; k < NPAGES; k++) {
			uint64_t e;

			r = gp_map(&p->as[i], p->ula + k * 0x1000, frame(i, k, 0),
				   GP_4K, GP_4K, GP_W | GP_U | GP_A | GP_D);
			if (r)
				return r;
			e = gp_entry_gpa(&p->as[i], p->ula + k * 0x1000, 1, false);
			if (!e)
				return -EFAULT;
			p->pte[i][k] = e;
			p->state[i][k] = ST_A;
			*(uint32_t *)tvm_ptr(t, frame(i, k, 0)) = sig(i, k, 0);
			*(uint32_t *)tvm_ptr(t, frame(i, k, 0) + 4) = 0;
			*(uint32_t *)tvm_ptr(t, frame(i, k, 1)) = sig(i, k, 1);
		}
	}
	return 0;
}

static void expect_fault(struct procs *p, uint64_t slot, uint32_t ec,
			 uint64_t cr2)
{
	if (p->nacc < (int)ARRAY_SIZE(p->acc)) {
		p->acc[p->nacc].slot = slot;
		p->acc[p->nacc].ec = ec;
		p->acc[p->nacc].cr2 = cr2;
		p->nacc++;
	}
}

/* one scheduler visit of process i */
static void visit(struct procs *p, struct grt_script *s, int i)
{
	int k, j, kk;

	gs_op(s, GOP_CR3, 0, gp_cr3(&p->as[i]), 0, 0);
	for (k = 0; k < NPAGES; k++) {
		uint64_t la = p->ula + k * 0x1000;

		switch (p->state[i][k]) {
		case ST_A:
		case ST_B:
			gs_op(s, GOP_CHK32, 0, la, sig(i, k, p->state[i][k] == ST_B),
			      0);
			break;
		case ST_RO:
			gs_op(s, GOP_CHK32, 0, la, sig(i, k, 0), 0);
			expect_fault(p, p->nslot, PFEC_P | PFEC_W, la);
			gs_access(s, la, GRT_ACC_WRITE, 0xbad, p->nslot);
			p->nslot += 4;
			break;
		default:
			expect_fault(p, p->nslot, 0, la);
			gs_access(s, la, GRT_ACC_READ, 0, p->nslot);
			p->nslot += 4;
			break;
		}
	}
	gs_op(s, GOP_ADD32, 0, p->ula + 4, 1, 0);
	p->visits[i]++;
	/* edit an inactive process's page table through the kernel map */
	j = (i + 7) % NPROC;
	kk = 1 + p->nvisits % (NPAGES - 1);
	p->state[j][kk] = (p->state[j][kk] + 1) % ST_NR;
	gs_op(s, GOP_WENT, 0, p->pte[j][kk], pte_val(j, kk, p->state[j][kk]), 0);
	p->nvisits++;
}

static void schedule(struct procs *p, struct grt_script *s)
{
	int r, i;

	for (r = 0; r < 2; r++)
		for (i = 0; i < NPROC; i++)
			visit(p, s, i);
	for (r = 0; r < 5; r++)
		for (i = 0; i < WSET; i++)
			visit(p, s, i);
	for (i = 0; i < NPROC; i++)
		visit(p, s, i);
	/* back to the kernel space for the end */
	gs_op(s, GOP_CR3, 0, gp_cr3(&p->kern), 0, 0);
}

/* runs the whole schedule on a fresh VM; counters in st (shadowvm) */
static void run_procs(struct __test_metadata *_metadata, uint32_t policy,
		      uint32_t root_cache, enum gp_mode mode, uint64_t *st,
		      bool check_as)
{
	enum be_kind kind = tvm_default_kind();
	struct grt_script s;
	struct procs *p;
	struct tvm t;
	int i, r;

	p = calloc(1, sizeof(*p));
	ASSERT_NE(NULL, p);
	r = grt_create(&t, kind, MEM_SIZE, policy, root_cache, 0);
	if (tvm_no_device(r)) {
		free(p);
		SKIP(return, "%s backend device missing", be_ops_by_kind(kind)->name);
	}
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	r = procs_build(&t, p, mode);
	ASSERT_EQ(0, r) TH_LOG("building the processes: %s", strerror(-r));
	gs_init(&s);
	schedule(p, &s);
	ASSERT_EQ(0, grt_exec(&t, &s, p->err, sizeof(p->err)))
		TH_LOG("guest: %s", p->err);

	EXPECT_EQ(0, *grt_cb32(&t, CB_ERR_COUNT))
		TH_LOG("%u signature mismatches, first at script op %u: read 0x%llx",
		       *grt_cb32(&t, CB_ERR_COUNT), *grt_cb32(&t, CB_ERR_OP),
		       (unsigned long long)*grt_cb64(&t, CB_ERR_VAL));
	for (i = 0; i < p->nacc; i++) {
		const uint64_t *res = grt_res(&t) + p->acc[i].slot;

		EXPECT_EQ(1, (uint32_t)res[0])
			TH_LOG("access %d (0x%llx): #PF count", i,
			       (unsigned long long)p->acc[i].cr2);
		EXPECT_EQ(p->acc[i].ec, (uint32_t)(res[0] >> 32))
			TH_LOG("access %d (0x%llx): error code", i,
			       (unsigned long long)p->acc[i].cr2);
		EXPECT_EQ(p->acc[i].cr2, res[1]) TH_LOG("access %d: CR2", i);
	}
	for (i = 0; i < NPROC; i++)
		EXPECT_EQ(p->visits[i], *(uint32_t *)tvm_ptr(&t, frame(i, 0, 0) + 4))
			TH_LOG("process %d: visit counter", i);
	EXPECT_LT(0, p->nacc);
	for (i = 0; i < NPROC; i++) {
		int k;

		for (k = 0; k < NPAGES; k++)
			EXPECT_EQ(pte_val(i, k, p->state[i][k]) & ~(GP_A | GP_D),
				  gp_get(&p->as[i], p->pte[i][k]) & ~(GP_A | GP_D))
				TH_LOG("process %d page %d: PTE", i, k);
	}

	if (kind == BE_SHADOWVM) {
		struct grt_as_line *as = calloc(256, sizeof(*as));
		uint64_t hits = 0;
		int n, lines = 0;

		ASSERT_EQ(0, grt_vm_stats(&t, st, SHADOWVM_STAT_NR));
		EXPECT_LE(NPROC, st[SHADOWVM_STAT_ADDRESS_SPACES]);
		EXPECT_EQ(p->nvisits + 1, st[SHADOWVM_STAT_CR3_LOADS]);
		EXPECT_EQ(st[SHADOWVM_STAT_CR3_LOADS],
			  st[SHADOWVM_STAT_ROOT_HITS] + st[SHADOWVM_STAT_ROOT_MISSES]);
		if (check_as) {
			ASSERT_NE(NULL, as);
			n = grt_read_address_spaces(as, 256);
			ASSERT_LT(0, n) TH_LOG("reading address_spaces: %s",
					       strerror(-n));
			for (i = 0; i < n; i++) {
				hits += as[i].root_hits;
				lines += as[i].loads > 0;
			}
			EXPECT_LE(NPROC, lines);
			EXPECT_EQ(st[SHADOWVM_STAT_ROOT_HITS], hits);
		}
		free(as);
		TH_LOG("%s, %s policy, root cache %u: %d visits, %llu CR3 loads, %llu root hits, %llu misses, %llu true / %llu hidden faults, %llu shadow pages created",
		       gp_mode_name(mode), grt_policy_name(policy),
		       root_cache ? root_cache : 16, p->nvisits,
		       (unsigned long long)st[SHADOWVM_STAT_CR3_LOADS],
		       (unsigned long long)st[SHADOWVM_STAT_ROOT_HITS],
		       (unsigned long long)st[SHADOWVM_STAT_ROOT_MISSES],
		       (unsigned long long)st[SHADOWVM_STAT_PF_TRUE],
		       (unsigned long long)st[SHADOWVM_STAT_PF_HIDDEN],
		       (unsigned long long)st[SHADOWVM_STAT_SP_CREATED]);
	}
	gs_free(&s);
	free(p);
	tvm_destroy(&t);
}

FIXTURE(procs) {
	int unused;
};

POLICY_VARIANTS(procs);

FIXTURE_SETUP(procs)
{
}

FIXTURE_TEARDOWN(procs)
{
}

static void round_robin(struct __test_metadata *_metadata, uint32_t policy,
			enum gp_mode mode)
{
	uint64_t st[SHADOWVM_STAT_NR] = { 0 };

	run_procs(_metadata, policy, 0, mode, st, true);
	if (tvm_default_kind() == BE_SHADOWVM &&
	    policy != SHADOWVM_MMU_POLICY_VTLB)
		EXPECT_LE(4 * WSET, st[SHADOWVM_STAT_ROOT_HITS])
			TH_LOG("the working-set rounds should hit the root cache");
}

TEST_F_TIMEOUT(procs, round_robin_40_processes_32bit, 600)
{
	round_robin(_metadata, variant->policy, GP_MODE_32);
}

TEST_F_TIMEOUT(procs, round_robin_40_processes_pae, 600)
{
	round_robin(_metadata, variant->policy, GP_MODE_PAE);
}

TEST_F_TIMEOUT(procs, round_robin_40_processes_long_mode, 600)
{
	round_robin(_metadata, variant->policy, GP_MODE_LM);
}

TEST_F_TIMEOUT(procs, root_cache_2_misses_more, 600)
{
	uint64_t def[SHADOWVM_STAT_NR] = { 0 }, two[SHADOWVM_STAT_NR] = { 0 };

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "root cache counters are shadowvm's");
	run_procs(_metadata, variant->policy, 0, GP_MODE_LM, def, false);
	run_procs(_metadata, variant->policy, 2, GP_MODE_LM, two, false);
	EXPECT_EQ(def[SHADOWVM_STAT_CR3_LOADS], two[SHADOWVM_STAT_CR3_LOADS]);
	if (variant->policy == SHADOWVM_MMU_POLICY_VTLB) {
		/* every CR3 load drops every root: no hits either way */
		EXPECT_EQ(0, def[SHADOWVM_STAT_ROOT_HITS]);
		EXPECT_EQ(0, two[SHADOWVM_STAT_ROOT_HITS]);
		return;
	}
	EXPECT_LT(def[SHADOWVM_STAT_ROOT_MISSES], two[SHADOWVM_STAT_ROOT_MISSES]);
	EXPECT_GT(def[SHADOWVM_STAT_ROOT_HITS], two[SHADOWVM_STAT_ROOT_HITS]);
}

TEST_HARNESS_MAIN
