// SPDX-License-Identifier: GPL-2.0
/*
 * The unsync policy ("unsync"). Contract: a guest write to a write-
 * protected frame whose shadow pages are all leaf tables makes them
 * unsync (try_unsync()): the frame is no longer write-protected and the
 * guest writes it natively. At CR3 load, INVLPG and a paging-context
 * change every unsync page is resynced (resync_all()): leaf entries that
 * no longer match the guest entry they were built from are dropped and
 * the frame is write-protected again. mmu_lock held.
 */
#include "mmu_internal.h"

/* ---- unsync ---- */

/* Leaf entries whose guest entry changed go (sp_cache.c); the frame is protected again. */
static void sp_resync(struct shv_vcpu *vcpu, struct shv_sp *sp)
{
	sp_resync_entries(vcpu->vm, sp);
	shv_stat_inc(vcpu, PF_HIDDEN_RESYNC);
	kick_flush_all(vcpu->vm);
}

static int resync_all(struct shv_vcpu *vcpu)
{
	struct shv_sp *sp, *tmp;

	lockdep_assert_held(&vcpu->vm->mmu_lock);
	list_for_each_entry_safe(sp, tmp, &vcpu->vm->mmu->active, link)
		if (sp->unsync && !sp->zapped)
			sp_resync(vcpu, sp);
	return 0;
}

/* Try to let the guest write gfn directly: only leaf tables may go unsync. */
static bool try_unsync(struct shv_vcpu *vcpu, u64 gfn)
{
	struct shv_vm *vm = vcpu->vm;
	struct shv_rmap *rm = gfn_rmap(vm, gfn, false);
	struct shv_sp *sp;
	LIST_HEAD(sps);
	int synced = 0;

	lockdep_assert_held(&vm->mmu_lock);
	if (!rm)
		return false;
	gfn_sps(vm, gfn, &sps);
	list_for_each_entry(sp, &sps, gfn_link) {
		if (sp->unsync)
			continue;
		if (sp->role.level != 1)
			return false;	/* upper-level tables always stay protected */
		synced++;
	}
	if (!synced)
		return false;
	list_for_each_entry(sp, &sps, gfn_link) {
		if (sp->unsync)
			continue;
		sp_account_wp(vm, sp, -1);
		sp->unsync = true;
		rm->unsync_count++;
	}
	/*
	 * The frame's last synced shadow page went: sp_account_wp() made the
	 * mappings that were read-only only for the protection
	 * (SPTE_WP_ONLY) writable again, so the write re-executes without a
	 * fill fault (the fault dropped the hardware's read-only
	 * translation); the others keep the guest's own rights.
	 */
	kick_flush_all(vm);
	shv_stat_inc(vcpu, PF_HIDDEN_UNSYNC);
	return true;
}

static enum shv_pt_write_action unsync_pt_write(struct shv_vcpu *vcpu, u64 gfn)
{
	return try_unsync(vcpu, gfn) ? SHV_PTW_RESUME : SHV_PTW_EMULATE;
}

static void unsync_cr3_load(struct shv_vcpu *vcpu, bool noflush)
{
	if (!noflush)
		resync_all(vcpu);
}

static void unsync_invlpg(struct shv_vcpu *vcpu, u64 gva)
{
	resync_all(vcpu);
	commit_zap(vcpu->vm);
}

static void unsync_context_change(struct shv_vcpu *vcpu)
{
	resync_all(vcpu);
}

const struct shv_mmu_policy_ops shv_policy_unsync = {
	.name			= "unsync",
	.write_protect		= true,
	.intercept_invlpg	= true,
	.pt_write		= unsync_pt_write,
	.cr3_load		= unsync_cr3_load,
	.invlpg			= unsync_invlpg,
	.context_change		= unsync_context_change,
};
