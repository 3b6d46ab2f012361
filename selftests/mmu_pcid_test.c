// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_pcid_test: CR4.PCIDE and the CR3 no-flush bit (bit 63).
 *
 * Two long-mode address spaces map the same linear page to different
 * frames. The guest switches between them with PCIDs 1 and 2, the later
 * switches with the no-flush bit: every read must see its own space's
 * frame (no translation of one space leaks into the other), and shadowvm
 * counts each no-flush load (cr3_noflush) instead of flushing.
 */
#include <errno.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define FA		0x300000ULL
#define FB		0x310000ULL
#define LA		0x00007fff00000000ULL
#define CR4_PCIDE	(1ULL << 17)
#define NOFLUSH		(1ULL << 63)

FIXTURE(pcid) {
	struct tvm t;
	struct gp a, b;
	struct grt_script s;
	char err[256];
	bool live;
};

POLICY_VARIANTS(pcid);

GRT_POLICY_FIXTURE_HOOKS(pcid, MEM_SIZE);

static uint64_t noflush_count(struct tvm *t)
{
	uint64_t v[SHADOWVM_STAT_NR];

	if (grt_vm_stats(t, v, SHADOWVM_STAT_NR))
		return 0;
	return v[SHADOWVM_STAT_CR3_NOFLUSH];
}

TEST_F(pcid, noflush_switches_keep_spaces_apart)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP,
			       .cr4_extra = CR4_PCIDE };
	uint64_t before;
	int r, i;

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, gp_init(&self->a, self->t.mem, MEM_SIZE, GP_MODE_LM, GRT_POOL,
			     GRT_POOL_SIZE));
	r = grt_setup(&self->t, &self->a, &env);
	if (r == -EINVAL)
		SKIP(return, "CR4.PCIDE refused: the CPU has no PCID");
	ASSERT_EQ(0, r) TH_LOG("setup: %s", strerror(-r));
	ASSERT_EQ(0, gp_init_shared(&self->b, &self->a, GP_MODE_LM));
	ASSERT_EQ(0, grt_map_common(&self->b, &env));
	ASSERT_EQ(0, gp_map(&self->a, LA, FA, 0x1000, GP_4K, GP_W));
	ASSERT_EQ(0, gp_map(&self->b, LA, FB, 0x1000, GP_4K, GP_W));
	*(uint32_t *)tvm_ptr(&self->t, FA) = 0xaaaa5555;
	*(uint32_t *)tvm_ptr(&self->t, FB) = 0xbbbb6666;

	gs_reset(&self->s);
	gs_op(&self->s, GOP_CR3, 0, gp_cr3(&self->a) | 1, 0, 0);
	gs_op(&self->s, GOP_CHK32, 0, LA, 0xaaaa5555, 0);
	gs_op(&self->s, GOP_CR3, 0, gp_cr3(&self->b) | 2, 0, 0);
	gs_op(&self->s, GOP_CHK32, 0, LA, 0xbbbb6666, 0);
	for (i = 0; i < 3; i++) {
		gs_op(&self->s, GOP_CR3, 0, gp_cr3(&self->a) | 1 | NOFLUSH, 0, 0);
		gs_op(&self->s, GOP_CHK32, 0, LA, 0xaaaa5555, 0);
		gs_op(&self->s, GOP_CR3, 0, gp_cr3(&self->b) | 2 | NOFLUSH, 0, 0);
		gs_op(&self->s, GOP_CHK32, 0, LA, 0xbbbb6666, 0);
	}
	before = noflush_count(&self->t);
	r = grt_exec(&self->t, &self->s, self->err, sizeof(self->err));
	ASSERT_EQ(0, r) TH_LOG("guest: %s", self->err);
	EXPECT_EQ(0, *grt_cb32(&self->t, CB_ERR_COUNT))
		TH_LOG("a read saw the other address space's frame");
	if (tvm_default_kind() == BE_SHADOWVM)
		EXPECT_EQ(6, noflush_count(&self->t) - before);
}

TEST_HARNESS_MAIN
