// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_pf_bypass_test: SHADOWVM_VM_GUEST_PF_BYPASS, under each MMU policy.
 *
 * Policies that let guest tables go out of sync (unsync, vtlb) must refuse
 * the flag with EINVAL. The others run a long-mode guest that reads a
 * page whose guest PTE is not present:
 *   - the first fault exits (a true fault: PF_TRUE +1) and leaves the
 *     shadow entries of every not-present PTE of that guest table not
 *     present for the guest (PF_NOTRAP: at least this one and a
 *     neighbour);
 *   - the next faults on it (a read and a write), and the first one on a
 *     neighbour never touched, reach the guest's handler with the
 *     architectural error code and CR2, and no #PF exit at all;
 *   - after the guest makes the PTE present (a write to its own table,
 *     which traps), the page reads its new data with no fault: the
 *     not-present shadow entry did not outlive the guest entry;
 *   - made not present again (write + INVLPG), it faults once through an
 *     exit, then again without one.
 * A 32-bit guest, or a long-mode one without EFER.NXE (the processor
 * would report the I/D bit it must not see), keeps every #PF exiting.
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
#include "counter_phases.h"

#define MEM_SIZE	(8u << 20)
#define XB		0x40000000ULL
#define X_DATA		(XB + 0x0000)	/* present: fills the leaf table's shadow */
#define X_NP		(XB + 0x1000)	/* not present, then present, then not */
#define X_NP2		(XB + 0x2000)	/* not present, same table: never touched before */
#define X_NP_WARM	(XB + 0x400000)	/* no table: warms the #PF path (always exits) */
#define D_BASE		0x300000ULL
#define D_NEW		0x308000ULL
#define NEW_WORD	0x0b1e55edU

FIXTURE(bypass) {
	struct tvm t;
	struct gp g;
	struct grt_script s;
	bool live, refused;
	uint64_t prev[SHADOWVM_STAT_NR], d[SHADOWVM_STAT_NR];
	char err[512];
};

POLICY_VARIANTS(bypass);

FIXTURE_SETUP(bypass)
{
	const char *name = be_policy_name(variant->policy);
	struct be_vm_config cfg = {
		.mmu_policy = variant->policy,
		.shadowvm_flags = SHADOWVM_VM_GUEST_PF_BYPASS,
	};
	int r;

	memset(self, 0, sizeof(*self));
	gs_init(&self->s);
	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "a shadowvm VM flag");
	r = tvm_create_ex(&self->t, BE_SHADOWVM, MEM_SIZE, &cfg, 0);
	if (tvm_no_device(r))
		SKIP(return, SKIP_REASON_NODEV);
	if (!strcmp(name, "unsync") || !strcmp(name, "vtlb")) {
		/* guest tables may go out of sync: the flag is refused */
		ASSERT_EQ(-EINVAL, r) TH_LOG("policy %s accepted the bypass", name);
		self->refused = true;
		return;
	}
	ASSERT_EQ(0, r) TH_LOG("creating the VM (%s, bypass): %s", name, strerror(-r));
	self->live = true;
}

FIXTURE_TEARDOWN(bypass)
{
	if (self->live)
		tvm_destroy(&self->t);
	gs_free(&self->s);
}


enum { P_WARM = 1, P_FIRST, P_AGAIN, P_PRESENT, P_GONE, P_GONE_AGAIN, P_END };

/* map the test pages and warm what the measured phases touch */
static void prepare(struct __test_metadata *_metadata,
		    struct _test_data_bypass *self, enum gp_mode mode, uint64_t efer)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP, .efer_extra = efer };
	struct grt_script *s = &self->s;

	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, mode, GRT_POOL,
			     GRT_POOL_SIZE));
	ASSERT_EQ(0, gp_map(&self->g, X_DATA, D_BASE, GP_4K, GP_4K,
			    GP_W | GP_A | GP_D));
	ASSERT_EQ(0, gp_get(&self->g, gp_entry_gpa(&self->g, X_NP, 1, false)));
	*(uint32_t *)tvm_ptr(&self->t, D_NEW) = NEW_WORD;
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));

	gs_warm_runtime(s);
	gs_access(s, X_DATA, GRT_ACC_READ, 0, 40);
	gs_access(s, X_NP_WARM, GRT_ACC_READ, 0, 44);	/* the #PF path */
	gs_out(s, P_WARM);
}

TEST_F(bypass, long_mode)
{
	struct grt_script *s = &self->s;
	uint64_t pte;

	RETURN_IF_SETUP_SKIPPED();
	if (self->refused)
		return;
	prepare(_metadata, self, GP_MODE_LM, GP_EFER_NXE);
	pte = gp_entry_gpa(&self->g, X_NP, 1, false);
	gs_access(s, X_NP, GRT_ACC_READ, 0, 0);
	gs_out(s, P_FIRST);
	gs_access(s, X_NP, GRT_ACC_READ, 0, 4);
	gs_access(s, X_NP, GRT_ACC_WRITE, 7, 8);
	gs_access(s, X_NP2, GRT_ACC_READ, 0, 24);
	gs_out(s, P_AGAIN);
	gs_op(s, GOP_WENT, 0, pte, D_NEW | GP_P | GP_W | GP_A | GP_D, 0);
	gs_access(s, X_NP, GRT_ACC_READ, 0, 12);
	gs_out(s, P_PRESENT);
	gs_op(s, GOP_WENT, 0, pte, 0, 0);
	gs_op(s, GOP_INVLPG, 0, X_NP, 0, 0);
	gs_access(s, X_NP, GRT_ACC_READ, 0, 16);
	gs_out(s, P_GONE);
	gs_access(s, X_NP, GRT_ACC_WRITE, 9, 20);
	gs_out(s, P_GONE_AGAIN);
	gs_out(s, P_END);
	ASSERT_EQ(0, grt_load(&self->t, s));
	ASSERT_EQ(0, grt_vm_stats(&self->t, self->prev, SHADOWVM_STAT_NR));

	PHASE(self, P_WARM);
	EXPECT_ACCESS(self, 44, 1, 0, X_NP_WARM);

	PHASE(self, P_FIRST);
	EXPECT_ACCESS(self, 0, 1, 0, X_NP);
	EXPECT_D(self, "first fault", EXIT_PF, 1);
	EXPECT_D(self, "first fault", PF_TRUE, 1);
	EXPECT_LE(2, self->d[SHADOWVM_STAT_PF_NOTRAP]);
	EXPECT_GE(511, self->d[SHADOWVM_STAT_PF_NOTRAP]);

	PHASE(self, P_AGAIN);
	EXPECT_ACCESS(self, 4, 1, 0, X_NP);
	EXPECT_ACCESS(self, 8, 1, PFEC_W, X_NP);
	EXPECT_ACCESS(self, 24, 1, 0, X_NP2);
	EXPECT_D(self, "faults again", EXIT_PF, 0);
	EXPECT_D(self, "faults again", PF_TRUE, 0);
	EXPECT_D(self, "faults again", INJECTED_EXCEPTIONS, 0);

	PHASE(self, P_PRESENT);
	EXPECT_ACCESS(self, 12, 0, 0, 0);	/* no stale not-present entry */
	EXPECT_EQ(NEW_WORD, (uint32_t)grt_res(&self->t)[14]);
	EXPECT_D(self, "made present", PF_TRUE, 0);

	PHASE(self, P_GONE);
	EXPECT_ACCESS(self, 16, 1, 0, X_NP);
	EXPECT_D(self, "not present again", PF_TRUE, 1);
	EXPECT_LE(1, self->d[SHADOWVM_STAT_PF_NOTRAP]);

	PHASE(self, P_GONE_AGAIN);
	EXPECT_ACCESS(self, 20, 1, PFEC_W, X_NP);
	EXPECT_D(self, "not present, again", EXIT_PF, 0);
	PHASE(self, P_END);
}

/* every #PF still exits: 32-bit paging, or long mode without NXE/SMEP */
static void keeps_exits(struct __test_metadata *_metadata,
			struct _test_data_bypass *self, enum gp_mode mode)
{
	struct grt_script *s = &self->s;

	prepare(_metadata, self, mode, 0);
	gs_access(s, X_NP, GRT_ACC_READ, 0, 0);
	gs_out(s, P_FIRST);
	gs_access(s, X_NP, GRT_ACC_READ, 0, 4);
	gs_out(s, P_AGAIN);
	gs_out(s, P_END);
	ASSERT_EQ(0, grt_load(&self->t, s));
	ASSERT_EQ(0, grt_vm_stats(&self->t, self->prev, SHADOWVM_STAT_NR));

	PHASE(self, P_WARM);
	PHASE(self, P_FIRST);
	EXPECT_ACCESS(self, 0, 1, 0, X_NP);
	EXPECT_D(self, "first fault", PF_TRUE, 1);
	EXPECT_D(self, "first fault", PF_NOTRAP, 0);
	PHASE(self, P_AGAIN);
	EXPECT_ACCESS(self, 4, 1, 0, X_NP);
	EXPECT_D(self, "second fault", EXIT_PF, 1);
	EXPECT_D(self, "second fault", PF_TRUE, 1);
	PHASE(self, P_END);
}

TEST_F(bypass, paging32_keeps_exits)
{
	RETURN_IF_SETUP_SKIPPED();
	if (self->refused)
		return;
	keeps_exits(_metadata, self, GP_MODE_32);
}

TEST_F(bypass, long_mode_without_nxe_keeps_exits)
{
	RETURN_IF_SETUP_SKIPPED();
	if (self->refused)
		return;
	keeps_exits(_metadata, self, GP_MODE_LM);
}

TEST_HARNESS_MAIN
