// SPDX-License-Identifier: GPL-2.0
/*
 * The virtual-TLB policy ("vtlb"): the shadow tables are a software TLB.
 * Nothing is write-protected; the shadow may go stale at any guest write
 * and goes when the architecture lets the guest see stale translations
 * no longer: whole at a CR3 load or a paging-context change, one
 * translation at an INVLPG (vtlb_invlpg()). So no table prefetch
 * (fault.c): a shadow page lives too short for a whole-table prefetch to
 * pay. mmu_lock held.
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

/*
 * Drop the shadow of la's guest page from the current root: its 4 KiB
 * leaf, or the 2 MiB leaf or the link to the direct page that maps a
 * guest large page. True if more than la's own 4 KiB translation went.
 */
static bool drop_translation(struct shv_vcpu *vcpu, u64 la)
{
	struct shv_sp *sp;
	u64 *sptep = path_end_at(vcpu, la, true, &sp);

	if (!sptep || !spte_present(*sptep))
		return false;
	drop_spte(vcpu->vm, sptep);
	return sp->role.level > 1;	/* a 2 MiB leaf or a split large page */
}

/*
 * INVLPG (SDM 4.10.4.1) invalidates the TLB entries for the page of gva
 * (all of a large page) and the whole paging-structure caches. The first
 * is the shadow of that page, dropped here; nothing else goes. The
 * second has no state of its own: a non-leaf shadow entry is a cached
 * guest entry, and fetch() checks it against the walk of every fault
 * below it (a link to a page of another frame or role is replaced), so a
 * guest change to a non-leaf entry is seen by every translation built
 * after the INVLPG; leaves still below the old entry are TLB entries of
 * other pages, which the architecture lets stay until they are flushed.
 * gva itself gets no old translation back: its walk through the current
 * root now ends at a not-present entry, so its next access faults, and
 * fetch() checks every level of its path against the guest walk and
 * refills the leaf, also in a shadow page that another address's path
 * shares and that was built before the INVLPG. A 32-bit guest's 4 MiB
 * page is shadowed as two 2 MiB halves: both go.
 */
static void vtlb_invlpg(struct shv_vcpu *vcpu, u64 gva)
{
	struct shv_vm *vm = vcpu->vm;
	bool large;

	if (vcpu->mmu->base_role.gpte4)
		gva = (u32)gva;
	large = drop_translation(vcpu, gva);
	if (large && vcpu->mmu->base_role.gpte4)
		drop_translation(vcpu, gva ^ (1ULL << 21));
	if (large)
		kick_flush_all(vm);	/* every 4 KiB piece in every VPID */
	commit_zap(vm);
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
