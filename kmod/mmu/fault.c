// SPDX-License-Identifier: GPL-2.0
/*
 * The #PF exit. Contract: shv_mmu_page_fault() walks the guest tables and
 * classifies the fault: a true fault is injected with the architectural
 * error code and CR2; a hidden one is fixed here (shadow fill, A/D set)
 * or handed back to the exit handler as an action (emulate MMIO, emulate
 * a write to a write-protected guest table, report no memory). The MMU
 * never calls the emulator or raises an exit itself. fetch() installs
 * the shadow path under mmu_lock after checking that the guest entries
 * the walk used are still as they were.
 */
#include "mmu_internal.h"

/* ---- faults ---- */

/*
 * The rights a leaf built for this walk and access grants (ACC_*). A
 * clean guest entry maps read-only, so that the first write faults and
 * sets D in that very entry; with CR0.WP=0 a supervisor write to a
 * read-only page is granted as supervisor-only (and not executable when
 * SMEP is on), like the hardware's own WP=0 semantics.
 */
static unsigned int leaf_access(union shv_role base, struct shv_walk *w, u32 ec)
{
	unsigned int acc = w->access;

	if (!(acc & ACC_W) && !base.cr0_wp && !(ec & PFERR_USER) && (ec & PFERR_WRITE)) {
		acc = (acc | ACC_W) & ~ACC_U;
		if (base.smep_andnot_wp)
			acc &= ~ACC_X;
	}
	if (!w->dirty)
		acc &= ~ACC_W;
	return acc;
}

static u64 make_leaf(struct shv_vcpu *vcpu, struct page *pg, unsigned int acc,
		     bool global, bool wp, bool ro_slot)
{
	u64 spte = page_to_phys(pg) | SPTE_P | SPTE_A;

	if (acc & ACC_U)
		spte |= SPTE_US;
	if (!(acc & ACC_X))
		spte |= SPTE_NX;
	if ((acc & ACC_W) && !wp && !ro_slot)
		spte |= SPTE_RW | SPTE_D;
	if (global && (vcpu->cr4 & X86_CR4_PGE))
		spte |= SPTE_G;
	return spte;
}

/* Index of la in a shadow page of @level, given the page's role. */
static int spte_index(union shv_role role, u64 la, int level)
{
	if (role.pae_root)
		return (la >> 30) & 3;
	return (la >> (12 + 9 * (level - 1))) & 511;
}

/*
 * Is every guest entry the walk used still as it was? Called once every
 * table of the walk is write-protected and no vCPU can write it through
 * a stale translation: a change made before that is caught here, one
 * made after traps and is emulated under mmu_lock.
 */
static bool walk_still_valid(struct shv_vm *vm, struct shv_walk *w, int esize)
{
	int level;

	for (level = w->levels; level >= w->leaf_level && level >= 1; level--) {
		u64 cur = 0;

		if (w->pte_gpa[level] == ~0ULL)
			continue;	/* PAE PDPTE registers */
		if (shv_read_gpa_pinned(vm, w->pte_gpa[level], &cur, esize) ||
		    cur != w->pte[level])
			return false;
	}
	return true;
}

/*
 * Install the shadow path for a successful walk; mmu_lock held. 0 done,
 * 1 the guest changed its tables meanwhile (re-execute), -ENOMEM.
 */
static int fetch(struct shv_vcpu *vcpu, u64 la, struct shv_walk *w, struct page *pg,
		 u32 ec, bool ro_slot)
{
	struct shv_vm *vm = vcpu->vm;
	struct shv_sp *sp = vcpu->mmu->cur->sp;
	union shv_role base = vcpu->mmu->base_role;
	unsigned int acc = leaf_access(base, w, ec);
	int esize = base.gpte4 ? 4 : 8;
	int level = sp->role.level;
	bool created;
	u64 *sptep;

	lockdep_assert_held(&vm->mmu_lock);
	for (; level > 1; level--) {
		union shv_role cr = base;
		struct shv_sp *child;
		u64 gfn;
		int glevel = level - 1;	/* guest level the child shadows */

		sptep = &sp->spt[spte_index(sp->role, la, level)];
		cr.level = glevel;
		cr.quadrant = 0;
		if (sp->role.pae_root && w->levels == 2) {
			/* a 32-bit guest PD, shadowed in four quarters */
			gfn = cr3_key(vcpu) >> PAGE_SHIFT;
			cr.quadrant = (la >> 30) & 3;
		} else if (sp->role.pae_root && w->levels == 3) {
			gfn = (vcpu->pdptrs[(la >> 30) & 3] & GENMASK_ULL(51, 12)) >> PAGE_SHIFT;
		} else if (!w->levels) {
			cr.direct = 1;
			gfn = (la >> (12 + 9 * glevel)) << (9 * glevel);
		} else if (w->leaf_level > glevel) {
			/*
			 * Inside a guest huge page: a direct page splits it.
			 * Its role carries the rights its leaves grant, D and
			 * the WP=0 grant included, so aliases of one frame
			 * with different dirty state never share it.
			 */
			cr.direct = 1;
			cr.access = acc;
			gfn = w->gfn & ~((1ULL << (9 * glevel)) - 1);
		} else {
			cr.access = w->access_above[glevel];
			gfn = w->table_gfn[glevel];
			if (base.gpte4)
				cr.quadrant = glevel == 1 ? (la >> 21) & 1 : 0;
		}
		if (*sptep & SPTE_P) {
			child = spte_child(*sptep);
			if (child->gfn == gfn && child->role.word == cr.word) {
				sp = child;
				sp->write_count = 0;
				continue;
			}
			/* linked to a page of another role: replace the link */
			drop_spte(vm, sptep);
		}
		child = sp_get(vm, gfn, cr, &created);
		if (!child)
			return -ENOMEM;
		child->write_count = 0;
		if (sp_add_parent(child, sptep)) {
			if (!child->nr_parents && !child->root_count)
				sp_zap(vm, child);
			return -ENOMEM;
		}
		if (sp->role.pae_root)	/* PDPTEs: no R/W, U/S or A bits */
			*sptep = page_to_phys(child->page) | SPTE_P;
		else
			*sptep = page_to_phys(child->page) | SPTE_P | SPTE_RW | SPTE_US | SPTE_A;
		sp = child;
	}
	if (w->levels) {
		flush_remote(vm);
		if (!walk_still_valid(vm, w, esize))
			return 1;	/* re-execute: the next fault walks again */
	}
	sptep = &sp->spt[spte_index(sp->role, la, 1)];
	if (*sptep & SPTE_P)
		drop_spte(vm, sptep);
	sp->gfns[sptep - sp->spt] = w->gfn;
	if (sp->gptes)
		sp->gptes[sptep - sp->spt] = w->pte[1];
	if (rmap_add(vm, w->gfn, sptep))
		return -ENOMEM;
	*sptep = make_leaf(vcpu, pg, acc, w->global, gfn_write_protected(vm, w->gfn), ro_slot);
	return 0;
}

static void count_fault(struct shv_vcpu *vcpu, bool true_fault)
{
	struct shv_as *as = vcpu->mmu->cur ? vcpu->mmu->cur->as : NULL;

	if (true_fault) {
		shv_stat_inc(vcpu, PF_TRUE);
		if (as)
			as->pf_true++;
	} else {
		shv_stat_inc(vcpu, PF_HIDDEN);
		if (as)
			as->pf_hidden++;
	}
}

/* A failure to get memory for the guest: an internal-error exit (RUN may retry). */
static int fault_failed(struct shv_pf_result *pf, u64 a, int err)
{
	if (err == -EINTR)
		return -EINTR;	/* a fatal signal while waiting for the page */
	pf->addr = a;
	pf->err = err;
	return SHV_PF_NO_MEMORY;
}

/*
 * A #PF exit: classify with the walker. True fault: inject with the
 * walker's error code. Hidden: fill the shadow, set A/D, emulate a
 * page-table write, or hand an MMIO access to the emulator. The MMU
 * neither emulates nor exits to userspace itself: it returns what the
 * exit handler is to do (SHV_PF_*, in shadowvm.h) with *pf filled in.
 *
 * Locking: the walk and the pinning of the target page run with no lock
 * but vm->srcu (they may sleep, e.g. on a userfaultfd); mmu_lock is taken
 * only to install the shadow entries, after which fetch() checks that the
 * guest entries the walk used have not changed.
 */
int shv_mmu_page_fault(struct shv_vcpu *vcpu, u64 la, u32 hw_ec, struct shv_pf_result *pf)
{
	struct shv_vm *vm = vcpu->vm;
	u32 access = hw_ec & (PFERR_WRITE | PFERR_USER | PFERR_FETCH);
	struct shv_walk w;
	struct shv_slot *slot;
	struct page *pg;
	bool write = access & PFERR_WRITE;
	int r;

	if (!shv_guest_levels(vcpu))
		access &= ~PFERR_USER;
	if (!shv_mmu_root_valid(vcpu))
		return SHV_PF_RESUME;
	r = shv_walk(vcpu, la, access, &w, true);
	if (r == -EFAULT) {
		count_fault(vcpu, true);
		trace_fault(la, hw_ec, w.error_code, 1);
		shv_queue_pf(vcpu, la, w.error_code);
		return SHV_PF_RESUME;
	}
	if (r == -EAGAIN)
		return SHV_PF_RESUME;
	if (r)
		return fault_failed(pf, la, r);
	count_fault(vcpu, false);
	trace_fault(la, hw_ec, 0, 0);
	if (w.ad_set)
		shv_stat_inc(vcpu, PF_HIDDEN_AD);

	slot = shv_gfn_to_slot(vm, w.gfn);
	if (!slot || (write && (slot->flags & SHADOWVM_MEM_READONLY))) {
		shv_stat_inc(vcpu, PF_HIDDEN_MMIO);
		return SHV_PF_EMULATE_MMIO;
	}
	r = shv_gfn_to_page(vm, w.gfn, write, false, &pg);
	if (r)
		return fault_failed(pf, w.gpa, r);

	mutex_lock(&vm->mmu_lock);
	if (!shv_mmu_root_valid(vcpu)) {
		mutex_unlock(&vm->mmu_lock);
		return SHV_PF_RESUME;
	}
	make_room(vm, 8);
	if (write && gfn_write_protected(vm, w.gfn)) {
		/* a write to a shadowed page table */
		if (policy(vm)->pt_write &&
		    policy(vm)->pt_write(vcpu, w.gfn) == SHV_PTW_RESUME) {
			commit_zap(vm);
			mutex_unlock(&vm->mmu_lock);
			return SHV_PF_RESUME;
		}
		mutex_unlock(&vm->mmu_lock);
		pf->addr = w.gpa;
		pf->gfn = w.gfn;
		return SHV_PF_EMULATE_PT;
	}
	r = fetch(vcpu, la, &w, pg, access, slot->flags & SHADOWVM_MEM_READONLY);
	if (!r)
		shv_stat_inc(vcpu, PF_HIDDEN_FILL);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	if (r < 0)
		return fault_failed(pf, w.gpa, r);
	return SHV_PF_RESUME;
}
