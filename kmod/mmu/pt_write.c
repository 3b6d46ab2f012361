// SPDX-License-Identifier: GPL-2.0
/*
 * Writes to guest page tables. Contract: every emulated write to guest RAM
 * (shv_mmu_guest_write(), shv_mmu_guest_cmpxchg()) is applied under
 * mmu_lock, and if it hit a frame shadowed as a page table the shadow
 * entries derived from the bytes written are dropped, so every cached
 * root stays coherent; a whole leaf entry written that maps a present
 * page is installed at once (prefill). Heuristics: a misaligned or
 * partial write, or a third write to one shadow page without a fill or a
 * use of its last prefilled entry in between (a flood: the frame is
 * probably no page table any more), zaps the page instead, or under wp
 * unlinks a leaf page and keeps it stale for a resync when it is linked
 * again (sp_zap_rewritten()); unprotect_gfn() stops shadowing a frame
 * altogether.
 */
#include <linux/highmem.h>
#include "mmu_internal.h"

/* ---- guest page-table writes ---- */

/*
 * A guest entry written by an emulated write of one whole entry: when it
 * maps a page that is present (pinned before mmu_lock), pte_written()
 * installs it in the leaf shadow pages of the table at once, as a
 * prefetched entry (what KVM's mmu_pte_write_new_pte did), instead of
 * leaving it to a fill fault: the guest maps a page to use it.
 */
struct shv_prefill {
	u64 gpte;
	struct page *pg;	/* NULL: nothing to install */
	/* what shv_gpte_leaf_prefetchable() found for gpte in this mode */
	u64 gfn;
	unsigned int acc;
	bool global;
};

static void prefill_prepare(struct shv_vcpu *vcpu, u64 gpa, u64 val, unsigned int len,
			    struct shv_prefill *pf, bool nopin)
{
	int levels = shv_guest_levels(vcpu);

	pf->pg = NULL;
	pf->gpte = val;
	if (!levels || len != (levels == 2 ? 4 : 8) || (gpa & (len - 1)) ||
	    !shv_gpte_leaf_prefetchable(vcpu, levels, val, &pf->gfn, &pf->acc, &pf->global))
		return;
	/* pinned already (the commonest case): one lockless look */
	if (shv_gfn_to_page(vcpu->vm, pf->gfn, false, true, &pf->pg)) {
		pf->pg = NULL;
		if (!nopin)
			shv_gfns_to_pages_present(vcpu->vm, pf->gfn, 1, &pf->pg);
	}
}

/* Install pf's entry at sptep, just dropped, of the leaf page sp. */
static void prefill(struct shv_vcpu *vcpu, struct shv_sp *sp, u64 *sptep,
		    const struct shv_prefill *pf)
{
	struct shv_vm *vm = vcpu->vm;
	int levels = sp->role.guest_levels;
	struct shv_slot *slot;
	unsigned int acc;
	bool wp;
	u64 gfn;

	/* pf->pg set: prefill_prepare() checked gpte in the vCPU's mode */
	if (!pf || !pf->pg || sp->role.level != 1 || sp->role.direct ||
	    levels != shv_guest_levels(vcpu) || sp->role.nxe != !!(vcpu->efer & EFER_NX))
		return;
	gfn = pf->gfn;
	acc = pf->acc;
	if (rmap_add_leaf(vm, gfn, sptep, &wp, &slot))
		return;
	acc &= sp->role.access;
	if (!(pf->gpte & SPTE_D))	/* the guest's D bit, same position */
		acc &= ~ACC_W;
	sp->gfns[sptep - sp->spt] = gfn;
	sp->gptes[sptep - sp->spt] = pf->gpte;
	*sptep = (make_leaf(vcpu, pf->pg, acc, pf->global, wp,
			    slot->flags & SHADOWVM_MEM_READONLY) & ~SPTE_A) | SPTE_PREFETCHED;
	sp->last_prefill = sptep - sp->spt + 1;
	(*vm_stat(vm, SHADOWVM_STAT_PF_PREFETCHED))++;
}

/* Drop a shadow entry; true if the hardware may have cached it (present). */
static bool drop_written(struct shv_vm *vm, u64 *sptep)
{
	bool present = spte_present(*sptep);

	drop_spte(vm, sptep);
	return present;
}

/*
 * The guest wrote [gpa, gpa+len) of a frame shadowed as a page table:
 * drop the shadow entries derived from the bytes written. The vCPUs
 * flush their TLBs only when a present entry went (sp_zap() kicks them
 * itself): an entry that was not present (0 or SPTE_TRAP) was never
 * cached, e.g. the PTE a demand-paging guest writes in its #PF handler.
 * mmu_lock held.
 */
static void pte_written(struct shv_vcpu *vcpu, u64 gpa, unsigned int len,
			const struct shv_prefill *pf)
{
	struct shv_vm *vm = vcpu->vm;
	u64 gfn = gpa >> PAGE_SHIFT;
	unsigned int off = offset_in_page(gpa);
	struct shv_sp *sp;
	bool flush = false;
	LIST_HEAD(sps);

	lockdep_assert_held(&vm->mmu_lock);
	trace_pt_write(gpa, len);
	gfn_sps(vm, gfn, &sps);
	list_for_each_entry(sp, &sps, gfn_link) {
		int esize, first, last, e;

		if (sp->zapped || sp->unsync)
			continue;	/* zapped by an earlier one of this loop */
		/* kept unlinked (sp_orphan()): the frame is reused, let it go */
		if (!sp->nr_parents && !sp->root_count) {
			sp_zap(vm, sp);
			continue;
		}
		esize = sp->role.gpte4 ? 4 : 8;
		/* the guest used the entry last prefilled: a use, as by a fill */
		if (sp->last_prefill && (sp->spt[sp->last_prefill - 1] & SPTE_A))
			sp->write_count = 0;
		/* misaligned or partial writes, or a flood: drop the page */
		if ((off & (esize - 1)) || (len % esize) || ++sp->write_count >= 3) {
			if (sp->write_count >= 3)
				(*vm_stat(vm, SHADOWVM_STAT_PT_WRITE_FLOODED))++;
			sp_zap_rewritten(vm, sp);
			continue;
		}
		first = off / esize;
		last = (off + len - 1) / esize;
		for (e = first; e <= last; e++) {
			if (sp->role.gpte4 && sp->role.level == 1) {
				if (e / 512 != sp->role.quadrant)
					continue;
				flush |= drop_written(vm, &sp->spt[e % 512]);
				prefill(vcpu, sp, &sp->spt[e % 512], pf);
			} else if (sp->role.gpte4 && sp->role.level == 2) {
				if (e / 256 != sp->role.quadrant)
					continue;
				flush |= drop_written(vm, &sp->spt[(e % 256) * 2]);
				flush |= drop_written(vm, &sp->spt[(e % 256) * 2 + 1]);
			} else {
				flush |= drop_written(vm, &sp->spt[e]);
				prefill(vcpu, sp, &sp->spt[e], pf);
			}
		}
	}
	if (flush)
		kick_flush_all(vm);
}

/*
 * Pin the frames of [gpa, gpa+len) now, with no lock held (this may
 * sleep, e.g. on a userfaultfd), so that the access under mmu_lock finds
 * them pinned. They stay pinned while the caller holds vm->srcu.
 */
static int prepin(struct shv_vm *vm, u64 gpa, unsigned int len, bool write)
{
	u64 gfn, last = (gpa + len - 1) >> PAGE_SHIFT;
	struct page *pg;
	int r;

	for (gfn = gpa >> PAGE_SHIFT; gfn <= last; gfn++) {
		r = shv_gfn_to_page(vm, gfn, write, false, &pg);
		if (r)
			return r;
	}
	return 0;
}

/* A guest write of [gpa, gpa+len) hit frames shadowed as page tables. */
static void count_pt_write(struct shv_vcpu *vcpu, u64 gpa, unsigned int len,
			   const struct shv_prefill *pf)
{
	struct shv_vm *vm = vcpu->vm;
	u64 gfn, last = (gpa + len - 1) >> PAGE_SHIFT;
	bool pt = false;

	lockdep_assert_held(&vm->mmu_lock);
	for (gfn = gpa >> PAGE_SHIFT; gfn <= last; gfn++) {
		u64 start = max(gpa, gfn << PAGE_SHIFT);
		u64 end = min(gpa + len, (gfn + 1) << PAGE_SHIFT);

		if (!gfn_write_protected(vm, gfn))
			continue;
		pte_written(vcpu, start, end - start, pf);
		pt = true;
	}
	if (!pt)
		return;
	shv_stat_inc(vcpu, PF_HIDDEN_PT_WRITE);
	if (vcpu->mmu->cur && vcpu->mmu->cur->as)
		vcpu->mmu->cur->as->pt_writes++;
}

/* Emulator write to guest RAM at gpa: apply it and keep shadows coherent. */
int shv_mmu_guest_write(struct shv_vcpu *vcpu, u64 gpa, const void *data, unsigned int len)
{
	struct shv_vm *vm = vcpu->vm;
	struct shv_prefill pf;
	struct page *pg = NULL;
	u64 val = 0;
	int r;

	/* within one page (the commonest case): its page, pinned here */
	if (offset_in_page(gpa) + len <= PAGE_SIZE)
		r = shv_gfn_to_page(vm, gpa >> PAGE_SHIFT, true, false, &pg);
	else
		r = prepin(vm, gpa, len, true);
	if (r)
		return r;
	memcpy(&val, data, min_t(unsigned int, len, sizeof(val)));
	prefill_prepare(vcpu, gpa, val, len, &pf, false);
	mutex_lock(&vm->mmu_lock);
	if (pg) {
		void *va = kmap_local_page(pg);

		memcpy(va + offset_in_page(gpa), data, len);
		kunmap_local(va);
	} else {
		r = shv_write_gpa_pinned(vm, gpa, data, len);
	}
	if (!r)
		count_pt_write(vcpu, gpa, len, &pf);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	return r;
}

/*
 * shv_mmu_guest_write() of an emulated MOV store of len (4 or 8) bytes at
 * gpa, within one page, under mmu_lock (the write's classification holds
 * it: emulate_glue.c, shv_emulate_pt_store_locked()), so with no pinning:
 * -EAGAIN when the frame's page is not pinned (nothing written), no
 * prefill when the written entry's page is not. The caller commits zaps.
 */
int shv_mmu_pt_store_locked(struct shv_vcpu *vcpu, u64 gpa, u64 val, unsigned int len)
{
	struct shv_prefill pf;
	struct page *pg;
	void *va;
	int r;

	lockdep_assert_held(&vcpu->vm->mmu_lock);
	r = shv_gfn_to_page(vcpu->vm, gpa >> PAGE_SHIFT, true, true, &pg);
	if (r)
		return r;
	prefill_prepare(vcpu, gpa, val, len, &pf, true);
	va = kmap_local_page(pg);
	memcpy(va + offset_in_page(gpa), &val, len);
	kunmap_local(va);
	count_pt_write(vcpu, gpa, len, &pf);
	return 0;
}

/*
 * Emulated locked read-modify-write on guest RAM at gpa: compare-exchange
 * len (4 or 8, naturally aligned) bytes atomically against other vCPUs and
 * the walker's A/D updates, and keep shadows coherent when it swapped.
 * -EINVAL for a size or alignment the host cannot do atomically.
 */
int shv_mmu_guest_cmpxchg(struct shv_vcpu *vcpu, u64 gpa, u64 old, u64 new,
			  unsigned int len, bool *swapped)
{
	struct shv_vm *vm = vcpu->vm;
	struct shv_prefill pf;
	int r;

	if ((len != 4 && len != 8) || (gpa & (len - 1)))
		return -EINVAL;
	r = prepin(vm, gpa, len, true);
	if (r)
		return r;
	prefill_prepare(vcpu, gpa, new, len, &pf, false);
	mutex_lock(&vm->mmu_lock);
	r = shv_cmpxchg_gpa(vm, gpa, old, new, len, true, swapped);
	if (!r && *swapped)
		count_pt_write(vcpu, gpa, len, &pf);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	return r;
}

/*
 * Stop shadowing a guest table frame (emulation failed on it, or a policy
 * never emulates), so that the guest can write it natively. true: it is
 * still write-protected. mmu_lock held.
 */
bool unprotect_gfn(struct shv_vcpu *vcpu, u64 gfn)
{
	struct shv_vm *vm = vcpu->vm;
	struct shv_sp *sp;
	LIST_HEAD(sps);

	lockdep_assert_held(&vm->mmu_lock);
	gfn_sps(vm, gfn, &sps);
	list_for_each_entry(sp, &sps, gfn_link) {
		sp_evict_roots(vm, sp);
		sp_zap(vm, sp);
	}
	(*vm_stat(vm, SHADOWVM_STAT_PT_UNPROTECT))++;
	return gfn_write_protected(vm, gfn);
}

/* The exit handler's unprotect after SHV_PF_EMULATE_PT failed to emulate. */
bool shv_mmu_unprotect(struct shv_vcpu *vcpu, u64 gfn)
{
	struct shv_vm *vm = vcpu->vm;
	bool still;

	mutex_lock(&vm->mmu_lock);
	still = unprotect_gfn(vcpu, gfn);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	return still;
}
