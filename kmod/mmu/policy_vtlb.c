// SPDX-License-Identifier: GPL-2.0
/*
 * The virtual-TLB policy ("vtlb"): the shadow tables are a software TLB.
 * Nothing is write-protected; the shadow may go stale at any guest write
 * and is dropped as a whole whenever the guest flushes its TLB (CR3 load,
 * INVLPG, a paging-context change), which is when the architecture lets
 * it see stale translations no longer. So no table prefetch (fault.c): a
 * shadow page lives too short for a whole-table prefetch to pay.
 */
#include "mmu_internal.h"

static void vtlb_flush(struct shv_vcpu *vcpu)
{
	shv_mmu_zap_all(vcpu->vm);
}

static void vtlb_cr3_load(struct shv_vcpu *vcpu, bool noflush)
{
	shv_mmu_zap_all(vcpu->vm);
}

static void vtlb_invlpg(struct shv_vcpu *vcpu, u64 gva)
{
	shv_mmu_zap_all(vcpu->vm);
}

const struct shv_mmu_policy_ops shv_policy_vtlb = {
	.name			= "vtlb",
	.write_protect		= false,
	.intercept_invlpg	= true,
	.no_table_prefetch	= true,
	.cr3_load		= vtlb_cr3_load,
	.invlpg			= vtlb_invlpg,
	.context_change		= vtlb_flush,
};
