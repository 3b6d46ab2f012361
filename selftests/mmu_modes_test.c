// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_modes_test: every guest paging mode boots and runs on the shadow MMU,
 * under each MMU policy (write-protect, unsync, vtlb).
 *
 * Each alias test starts the vCPU directly in one paging mode (SET_SREGS:
 * 32-bit 4K, 32-bit 4M with CR4.PSE, PAE 4K/2M, long mode 4K/2M/1G; 1G
 * skips when the guest's CPUID lacks it), maps the same guest frames at two
 * or three linear addresses with different page sizes, writes a pattern
 * through one alias and checks it through the others and through the
 * identity map, both ways; the test then checks guest RAM itself and that
 * no page fault was injected. The switch tests let the guest change modes
 * itself: paging on -> off -> on (with a page-table edit made while paging
 * is off, which the re-enabled paging must see), PAE -> 32-bit -> PAE, and
 * long mode entered and left twice; the test checks CR0/CR4/EFER/CS at
 * each phase and the data seen through each mode's mappings. The last test
 * edits the PTE of a global page and flushes by toggling CR4.PGE (no
 * INVLPG, no CR3 load): the next access must see the new frame.
 */
#include <errno.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define F1		0x300000ULL	/* data frames */
#define F2		0x310000ULL
#define BIG		0x400000ULL	/* 4 MiB (and 2 MiB) aligned */
#define PAT_K		0x9e3779b9u

FIXTURE(modes) {
	struct tvm t;
	struct gp g;
	struct grt_script s;
	bool live;
	char err[512];
};

POLICY_VARIANTS(modes);

GRT_POLICY_FIXTURE_HOOKS(modes, MEM_SIZE);

static uint32_t pat(uint32_t seed, uint32_t i)
{
	return seed + i * PAT_K;
}

/* the guest RAM at gpa holds n dwords of pattern seed */
static uint32_t pattern_errors(struct tvm *t, uint64_t gpa, uint32_t seed,
			       uint32_t n)
{
	const uint32_t *p = tvm_ptr(t, gpa);
	uint32_t i, bad = 0;

	for (i = 0; i < n; i++)
		bad += p[i] != pat(seed, i);
	return bad;
}

static uint64_t stat_of(struct tvm *t, int id)
{
	uint64_t v[SHADOWVM_STAT_NR];

	if (grt_vm_stats(t, v, SHADOWVM_STAT_NR))
		return 0;
	return v[id];
}

/* runs self->s to the end; no unexpected exception, no pattern error */
#define RUN_TO_END(self) do {						\
	int __r = grt_exec(&(self)->t, &(self)->s, (self)->err,		\
			   sizeof((self)->err));			\
	ASSERT_EQ(0, __r) TH_LOG("guest: %s", (self)->err);		\
	EXPECT_EQ(0, *grt_cb32(&(self)->t, CB_ERR_COUNT))		\
		TH_LOG("%u data mismatches, first at script op %u (address 0x%llx)", \
		       *grt_cb32(&(self)->t, CB_ERR_COUNT),		\
		       *grt_cb32(&(self)->t, CB_ERR_OP),		\
		       (unsigned long long)*grt_cb64(&(self)->t, CB_ERR_VAL)); \
} while (0)

/* no #PF was injected into the guest (shadowvm's counter, or the guest's) */
#define EXPECT_NO_TRUE_FAULTS(self) do {				\
	EXPECT_EQ(0, *grt_cb32(&(self)->t, CB_PF_TOTAL))		\
		TH_LOG("the guest took %u page faults",			\
		       *grt_cb32(&(self)->t, CB_PF_TOTAL));		\
	if (tvm_default_kind() == BE_SHADOWVM)				\
		EXPECT_EQ(0, stat_of(&(self)->t, SHADOWVM_STAT_PF_TRUE)); \
} while (0)

struct alias {
	uint64_t la, gpa, size, page, flags;
};

/*
 * Maps the aliases, starts the mode, then for each pair (w, r): pattern
 * written through w is read back through r and through the identity map
 * at gpa; then the other way round. The last pattern is checked in RAM.
 */
struct pair {
	uint64_t w, r, gpa;
	uint32_t n;		/* dwords */
};

static void alias_run(struct __test_metadata *_metadata,
		      struct _test_data_modes *self, enum gp_mode mode,
		      uint64_t cr4, const struct alias *a, int na,
		      const struct pair *p, int np, bool need_1g)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP,
			       .cr4_extra = cr4 };
	struct grt_cpu cpu;
	int i, r;

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, mode, GRT_POOL,
			     GRT_POOL_SIZE));
	self->g.pse = cr4 & GP_CR4_PSE;
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));
	if (need_1g) {
		ASSERT_EQ(0, grt_probe_cpu(&self->t, &cpu, self->err,
					   sizeof(self->err)))
			TH_LOG("%s", self->err);
		if (!cpu.gbpages)
			SKIP(return, "guest CPUID has no 1 GiB pages");
	}
	for (i = 0; i < na; i++) {
		r = gp_map(&self->g, a[i].la, a[i].gpa, a[i].size, a[i].page,
			   a[i].flags);
		ASSERT_EQ(0, r) TH_LOG("mapping 0x%llx: %s",
				       (unsigned long long)a[i].la, strerror(-r));
	}
	/* PAE: the PDPTE registers are loaded with CR3 */
	ASSERT_EQ(0, grt_set_mode_sregs(&self->t, &self->g, &env));
	gs_reset(&self->s);
	for (i = 0; i < np; i++) {
		uint32_t s1 = 0x1000 * (i + 1) + 0x11, s2 = s1 + 0x7777;

		gs_op(&self->s, GOP_PATW, 0, p[i].w, s1, p[i].n);
		gs_op(&self->s, GOP_PATC, 0, p[i].r, s1, p[i].n);
		gs_op(&self->s, GOP_PATC, 0, p[i].gpa, s1, p[i].n);
		gs_op(&self->s, GOP_PATW, 0, p[i].r, s2, p[i].n);
		gs_op(&self->s, GOP_PATC, 0, p[i].w, s2, p[i].n);
	}
	RUN_TO_END(self);
	for (i = 0; i < np; i++) {
		uint32_t s2 = 0x1000 * (i + 1) + 0x11 + 0x7777;

		EXPECT_EQ(0, pattern_errors(&self->t, p[i].gpa, s2, p[i].n))
			TH_LOG("pair %d: guest RAM at 0x%llx does not hold what the guest wrote",
			       i, (unsigned long long)p[i].gpa);
	}
	EXPECT_NO_TRUE_FAULTS(self);
}

TEST_F(modes, paging32_4k_alias)
{
	const struct alias a[] = {
		{ 0x80000000, F1, 0x4000, GP_4K, GP_W },
		{ 0xc0000000, F1, 0x4000, GP_4K, GP_W },
	};
	const struct pair p[] = { { 0x80000000, 0xc0000000, F1, 0x1000 } };

	alias_run(_metadata, self, GP_MODE_32, 0, a, 2, p, 1, false);
}

TEST_F(modes, paging32_4m_pse_alias)
{
	const struct alias a[] = {
		{ 0x80000000, BIG, GP_4M, GP_4M, GP_W },
		{ 0xc0000000, BIG + 0x1000, 0x4000, GP_4K, GP_W },
	};
	const struct pair p[] = {
		{ 0x80001000, 0xc0000000, BIG + 0x1000, 0x1000 },
		{ 0x803fc000, BIG + 0x3fc000, BIG + 0x3fc000, 0x1000 },
	};

	alias_run(_metadata, self, GP_MODE_32, GP_CR4_PSE, a, 2, p, 2, false);
}

TEST_F(modes, pae_4k_alias)
{
	const struct alias a[] = {
		{ 0x80000000, F1, 0x4000, GP_4K, GP_W },
		{ 0xc0000000, F1, 0x4000, GP_4K, GP_W },
	};
	const struct pair p[] = { { 0x80000000, 0xc0000000, F1, 0x1000 } };

	alias_run(_metadata, self, GP_MODE_PAE, 0, a, 2, p, 1, false);
}

TEST_F(modes, pae_2m_alias)
{
	const struct alias a[] = {
		{ 0x80000000, BIG, GP_2M, GP_2M, GP_W },
		{ 0xc0000000, BIG + 0x1000, 0x4000, GP_4K, GP_W },
	};
	const struct pair p[] = {
		{ 0x80001000, 0xc0000000, BIG + 0x1000, 0x1000 },
		{ 0x801fc000, BIG + 0x1fc000, BIG + 0x1fc000, 0x1000 },
	};

	alias_run(_metadata, self, GP_MODE_PAE, 0, a, 2, p, 2, false);
}

TEST_F(modes, long_4k_alias)
{
	const struct alias a[] = {
		{ 0xffff800000000000ULL, F1, 0x4000, GP_4K, GP_W },
		{ 0x00007fff00000000ULL, F1, 0x4000, GP_4K, GP_W },
	};
	const struct pair p[] = {
		{ 0xffff800000000000ULL, 0x00007fff00000000ULL, F1, 0x1000 },
	};

	alias_run(_metadata, self, GP_MODE_LM, 0, a, 2, p, 1, false);
}

TEST_F(modes, long_2m_alias)
{
	const struct alias a[] = {
		{ 0xffff800040000000ULL, BIG, GP_2M, GP_2M, GP_W },
		{ 0x0000555500000000ULL, BIG + 0x1000, 0x4000, GP_4K, GP_W },
	};
	const struct pair p[] = {
		{ 0xffff800040001000ULL, 0x0000555500000000ULL, BIG + 0x1000,
		  0x1000 },
		{ 0xffff8000401fc000ULL, BIG + 0x1fc000, BIG + 0x1fc000,
		  0x1000 },
	};

	alias_run(_metadata, self, GP_MODE_LM, 0, a, 2, p, 2, false);
}

TEST_F(modes, long_1g_alias)
{
	const struct alias a[] = {
		{ 0xffffc00000000000ULL, 0, GP_1G, GP_1G, GP_W },
		{ 0x0000555500000000ULL, BIG + 0x1000, 0x4000, GP_4K, GP_W },
	};
	const struct pair p[] = {
		{ 0xffffc00000401000ULL, 0x0000555500000000ULL, BIG + 0x1000,
		  0x1000 },
		{ 0xffffc000007fc000ULL, 0x7fc000, 0x7fc000, 0x1000 },
	};

	alias_run(_metadata, self, GP_MODE_LM, 0, a, 2, p, 2, true);
}

/* ---- mode switches made by the guest ---- */

static void expect_state(struct __test_metadata *_metadata, struct tvm *t,
			 bool pg, bool pae, bool lma, const char *phase)
{
	struct be_sregs sr;

	ASSERT_EQ(0, be_get_sregs(&t->vcpu, &sr));
	EXPECT_EQ(pg, !!(sr.cr0 & GP_CR0_PG)) TH_LOG("%s: CR0 0x%llx", phase,
						     (unsigned long long)sr.cr0);
	EXPECT_EQ(pae, !!(sr.cr4 & GP_CR4_PAE)) TH_LOG("%s: CR4 0x%llx", phase,
						       (unsigned long long)sr.cr4);
	EXPECT_EQ(lma, !!(sr.efer & GP_EFER_LMA))
		TH_LOG("%s: EFER 0x%llx", phase, (unsigned long long)sr.efer);
	EXPECT_EQ(lma, sr.cs.l) TH_LOG("%s: CS.L %u", phase, sr.cs.l);
}

/* runs to the next OUT, which must carry value */
#define RUN_TO_OUT(self, want) do {					\
	struct grt_stopinfo __st;					\
	grt_run(&(self)->t, &__st);					\
	ASSERT_EQ(GRT_STOP_OUT, __st.why) TH_LOG("guest: %s",		\
		grt_describe(&(self)->t, &__st, (self)->err,		\
			     sizeof((self)->err)));			\
	ASSERT_EQ(want, __st.value);					\
} while (0)

#define RUN_TO_DONE(self) do {						\
	struct grt_stopinfo __st;					\
	grt_run(&(self)->t, &__st);					\
	ASSERT_EQ(GRT_STOP_DONE, __st.why) TH_LOG("guest: %s",		\
		grt_describe(&(self)->t, &__st, (self)->err,		\
			     sizeof((self)->err)));			\
} while (0)

#define CR0_ON	(GP_CR0_PE | GP_CR0_ET | GP_CR0_PG | GP_CR0_WP)
#define CR0_OFF	(GP_CR0_PE | GP_CR0_ET)

TEST_F(modes, switch_paging_on_off_on)
{
	struct grt_env env = { .mode = GP_MODE_NONE };
	struct gp g32;
	uint64_t pte;
	struct grt_script *s = &self->s;

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, GP_MODE_NONE,
			     GRT_POOL, GRT_POOL_SIZE));
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));
	ASSERT_EQ(0, gp_init_shared(&g32, &self->g, GP_MODE_32));
	env.mode = GP_MODE_32;
	ASSERT_EQ(0, grt_map_common(&g32, &env));
	ASSERT_EQ(0, gp_map(&g32, 0x80000000, F1, 0x4000, GP_4K, GP_W));
	pte = gp_entry_gpa(&g32, 0x80000000, 1, false);
	ASSERT_NE(0, pte);

	gs_op(s, GOP_PATW, 0, F1, 0x101, 0x1000);		/* paging off */
	gs_op(s, GOP_CR4, 0, GP_CR4_PSE, 0, 0);
	gs_op(s, GOP_CR3, 0, gp_cr3(&g32), 0, 0);
	gs_op(s, GOP_CR0, 0, CR0_ON, 0, 0);
	gs_op(s, GOP_PATC, 0, 0x80000000, 0x101, 0x1000);	/* through the alias */
	gs_op(s, GOP_PATW, 0, 0x80000000, 0x202, 0x1000);
	gs_out(s, 1);
	gs_op(s, GOP_CR0, 0, CR0_OFF, 0, 0);
	gs_op(s, GOP_PATC, 0, F1, 0x202, 0x1000);		/* physical */
	gs_op(s, GOP_PATW, 0, F2, 0x303, 0x1000);
	/* paging off: point the alias at F2; re-enabled paging must see it */
	gs_op(s, GOP_W32, 0, pte, F2 | GP_P | GP_W, 0);
	gs_out(s, 2);
	gs_op(s, GOP_CR0, 0, CR0_ON, 0, 0);
	gs_op(s, GOP_PATC, 0, 0x80000000, 0x303, 0x400);	/* F2 now */
	gs_op(s, GOP_PATC, 0, 0x80001000, 0x202 + 0x400 * PAT_K, 0xc00);
	gs_op(s, GOP_PATW, 0, 0x80000000, 0x404, 0x1000);
	gs_out(s, 3);
	ASSERT_EQ(0, grt_load(&self->t, s));

	RUN_TO_OUT(self, 1);
	expect_state(_metadata, &self->t, true, false, false, "paging on");
	RUN_TO_OUT(self, 2);
	expect_state(_metadata, &self->t, false, false, false, "paging off");
	RUN_TO_OUT(self, 3);
	expect_state(_metadata, &self->t, true, false, false, "paging on again");
	RUN_TO_DONE(self);
	EXPECT_EQ(0, *grt_cb32(&self->t, CB_ERR_COUNT))
		TH_LOG("first mismatch at op %u address 0x%llx",
		       *grt_cb32(&self->t, CB_ERR_OP),
		       (unsigned long long)*grt_cb64(&self->t, CB_ERR_VAL));
	EXPECT_EQ(0, pattern_errors(&self->t, F2, 0x404, 0x400));
	EXPECT_EQ(0, pattern_errors(&self->t, F1, 0x202, 0x400));
	EXPECT_EQ(0, pattern_errors(&self->t, F1 + 0x1000,
				    0x404 + 0x400 * PAT_K, 0xc00));
	EXPECT_NO_TRUE_FAULTS(self);
}

TEST_F(modes, switch_pae_to_32bit_and_back)
{
	struct grt_env env = { .mode = GP_MODE_PAE, .cr0_extra = GP_CR0_WP };
	struct grt_script *s = &self->s;
	struct gp g32;

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, GP_MODE_PAE,
			     GRT_POOL, GRT_POOL_SIZE));
	/* PAE: 0x80000000 -> F1; 32-bit: 0x80000000 -> F2, 0x90000000 -> F1 */
	ASSERT_EQ(0, gp_map(&self->g, 0x80000000, F1, 0x4000, GP_4K, GP_W));
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));
	ASSERT_EQ(0, gp_init_shared(&g32, &self->g, GP_MODE_32));
	env.mode = GP_MODE_32;
	ASSERT_EQ(0, grt_map_common(&g32, &env));
	ASSERT_EQ(0, gp_map(&g32, 0x80000000, F2, 0x4000, GP_4K, GP_W));
	ASSERT_EQ(0, gp_map(&g32, 0x90000000, F1, 0x4000, GP_4K, GP_W));

	gs_op(s, GOP_PATW, 0, 0x80000000, 0x111, 0x1000);	/* PAE */
	gs_op(s, GOP_PATW, 0, F2, 0x222, 0x1000);		/* identity */
	gs_out(s, 1);
	gs_op(s, GOP_CR0, 0, CR0_OFF, 0, 0);
	gs_op(s, GOP_CR4, 0, GP_CR4_PSE, 0, 0);
	gs_op(s, GOP_CR3, 0, gp_cr3(&g32), 0, 0);
	gs_op(s, GOP_CR0, 0, CR0_ON, 0, 0);
	gs_op(s, GOP_PATC, 0, 0x90000000, 0x111, 0x1000);	/* F1 */
	gs_op(s, GOP_PATC, 0, 0x80000000, 0x222, 0x1000);	/* F2 now */
	gs_op(s, GOP_PATW, 0, 0x80000000, 0x333, 0x1000);
	gs_op(s, GOP_PATW, 0, 0x90001000, 0x444, 0x800);
	gs_out(s, 2);
	gs_op(s, GOP_CR0, 0, CR0_OFF, 0, 0);
	gs_op(s, GOP_CR4, 0, GP_CR4_PAE, 0, 0);
	gs_op(s, GOP_CR3, 0, gp_cr3(&self->g), 0, 0);
	gs_op(s, GOP_CR0, 0, CR0_ON, 0, 0);
	gs_op(s, GOP_PATC, 0, 0x80000000, 0x111, 0x400);	/* F1 again */
	gs_op(s, GOP_PATC, 0, 0x80001000, 0x444, 0x800);
	gs_op(s, GOP_PATC, 0, F2, 0x333, 0x1000);
	gs_out(s, 3);
	ASSERT_EQ(0, grt_load(&self->t, s));

	RUN_TO_OUT(self, 1);
	expect_state(_metadata, &self->t, true, true, false, "PAE");
	RUN_TO_OUT(self, 2);
	expect_state(_metadata, &self->t, true, false, false, "32-bit");
	RUN_TO_OUT(self, 3);
	expect_state(_metadata, &self->t, true, true, false, "PAE again");
	RUN_TO_DONE(self);
	EXPECT_EQ(0, *grt_cb32(&self->t, CB_ERR_COUNT))
		TH_LOG("first mismatch at op %u address 0x%llx",
		       *grt_cb32(&self->t, CB_ERR_OP),
		       (unsigned long long)*grt_cb64(&self->t, CB_ERR_VAL));
	EXPECT_NO_TRUE_FAULTS(self);
}

TEST_F(modes, switch_long_mode_enter_leave)
{
	struct grt_env env = { .mode = GP_MODE_NONE };
	const uint64_t hi = 0xffff800000000000ULL;
	struct grt_script *s = &self->s;
	struct gp glm, g32;

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, GP_MODE_NONE,
			     GRT_POOL, GRT_POOL_SIZE));
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));
	ASSERT_EQ(0, gp_init_shared(&glm, &self->g, GP_MODE_LM));
	ASSERT_EQ(0, gp_init_shared(&g32, &self->g, GP_MODE_32));
	env.mode = GP_MODE_LM;
	ASSERT_EQ(0, grt_map_common(&glm, &env));
	env.mode = GP_MODE_32;
	ASSERT_EQ(0, grt_map_common(&g32, &env));
	ASSERT_EQ(0, gp_map(&glm, hi, F1, 0x4000, GP_4K, GP_W));
	ASSERT_EQ(0, gp_map(&glm, hi + GP_1G, BIG, GP_2M, GP_2M, GP_W));
	ASSERT_EQ(0, gp_map(&g32, 0x80000000, F1, 0x4000, GP_4K, GP_W));

	gs_op(s, GOP_PATW, 0, F1, 0x515, 0x1000);		/* paging off */
	gs_op(s, GOP_LM_ENTER, 0, gp_cr3(&glm), 0, 0);
	gs_op(s, GOP_PATC, 0, hi, 0x515, 0x1000);
	gs_op(s, GOP_PATW, 0, hi, 0x626, 0x1000);
	gs_op(s, GOP_PATW, 0, hi + GP_1G + 0x1000, 0x727, 0x400);
	gs_out(s, 1);
	gs_op(s, GOP_LM_LEAVE, 0, 0, 0, 0);
	gs_op(s, GOP_PATC, 0, F1, 0x626, 0x1000);		/* paging off */
	gs_op(s, GOP_PATC, 0, BIG + 0x1000, 0x727, 0x400);
	gs_out(s, 2);
	gs_op(s, GOP_CR4, 0, GP_CR4_PSE, 0, 0);
	gs_op(s, GOP_CR3, 0, gp_cr3(&g32), 0, 0);
	gs_op(s, GOP_CR0, 0, CR0_ON, 0, 0);
	gs_op(s, GOP_PATC, 0, 0x80000000, 0x626, 0x1000);	/* 32-bit */
	gs_op(s, GOP_PATW, 0, 0x80000000, 0x838, 0x1000);
	gs_out(s, 3);
	gs_op(s, GOP_CR0, 0, CR0_OFF, 0, 0);
	gs_op(s, GOP_LM_ENTER, 0, gp_cr3(&glm), 0, 0);
	gs_op(s, GOP_PATC, 0, hi, 0x838, 0x1000);		/* long mode again */
	gs_op(s, GOP_PATC, 0, hi + GP_1G + 0x1000, 0x727, 0x400);
	gs_out(s, 4);
	gs_op(s, GOP_LM_LEAVE, 0, 0, 0, 0);
	gs_op(s, GOP_PATC, 0, F1, 0x838, 0x1000);
	gs_out(s, 5);
	ASSERT_EQ(0, grt_load(&self->t, s));

	RUN_TO_OUT(self, 1);
	expect_state(_metadata, &self->t, true, true, true, "long mode");
	RUN_TO_OUT(self, 2);
	expect_state(_metadata, &self->t, false, true, false, "left long mode");
	RUN_TO_OUT(self, 3);
	expect_state(_metadata, &self->t, true, false, false, "32-bit paging");
	RUN_TO_OUT(self, 4);
	expect_state(_metadata, &self->t, true, true, true, "long mode again");
	RUN_TO_OUT(self, 5);
	expect_state(_metadata, &self->t, false, true, false, "left again");
	RUN_TO_DONE(self);
	EXPECT_EQ(0, *grt_cb32(&self->t, CB_ERR_COUNT))
		TH_LOG("first mismatch at op %u address 0x%llx",
		       *grt_cb32(&self->t, CB_ERR_OP),
		       (unsigned long long)*grt_cb64(&self->t, CB_ERR_VAL));
	EXPECT_EQ(0, pattern_errors(&self->t, F1, 0x838, 0x1000));
	EXPECT_NO_TRUE_FAULTS(self);
}

/*
 * A PTE edit (here of a global page) followed by a CR4.PGE toggle, the
 * global TLB flush Linux uses without INVPCID: no INVLPG, no CR3 load.
 * The next access must use the new entry.
 */
TEST_F(modes, cr4_pge_toggle_flushes_global_page)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP,
			       .cr4_extra = GP_CR4_PGE };
	const uint64_t la = 0xffff800000000000ULL;
	struct grt_script *s = &self->s;
	uint64_t pte;

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, GP_MODE_LM,
			     GRT_POOL, GRT_POOL_SIZE));
	ASSERT_EQ(0, gp_map(&self->g, la, F1, 0x1000, GP_4K,
			    GP_W | GP_G | GP_A | GP_D));
	pte = gp_entry_gpa(&self->g, la, 1, false);
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));
	memset(tvm_ptr(&self->t, F2), 0, 0x1000);

	gs_op(s, GOP_PATW, 0, F2, 0x929, 0x400);		/* identity */
	gs_op(s, GOP_PATW, 0, la, 0x828, 0x400);		/* F1, cached */
	gs_op(s, GOP_W64, 0, pte, F2 | GP_P | GP_W | GP_G | GP_A | GP_D, 0);
	gs_op(s, GOP_CR4, 0, GP_CR4_PAE, 0, 0);
	gs_op(s, GOP_CR4, 0, GP_CR4_PAE | GP_CR4_PGE, 0, 0);
	gs_op(s, GOP_PATC, 0, la, 0x929, 0x400);		/* F2 now */
	RUN_TO_END(self);
	EXPECT_EQ(0, pattern_errors(&self->t, F1, 0x828, 0x400));
	EXPECT_EQ(0, pattern_errors(&self->t, F2, 0x929, 0x400));
}

TEST_HARNESS_MAIN
