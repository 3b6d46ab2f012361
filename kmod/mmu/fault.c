// SPDX-License-Identifier: GPL-2.0
/*
 * The #PF exit. Contract: shv_mmu_page_fault() walks the guest tables and
 * classifies the fault: a true fault is injected with the architectural
 * error code and CR2; a hidden one is fixed here (shadow fill, A/D set)
 * or handed back to the exit handler as an action (emulate MMIO, emulate
 * a write to a write-protected guest table, emulate a write no shadow
 * entry may grant, report no memory). The MMU raises no exit itself, and
 * calls the emulator only for a guest-table write by a plain MOV store,
 * completed under the classification's mmu_lock
 * (shv_emulate_pt_store_locked()). fetch() installs the shadow path under
 * mmu_lock after checking that the guest entries the walk used are still
 * as they were; prefetch.c fills neighbours of its entry. For the emulator's translations
 * (mmu.c), a guest page-table write's #PF keeps its walk for the accesses
 * of the same exit to the same page (pf_walk_reuse()), and an instruction
 * fetch the shadow leaf allows is translated through it
 * (shadow_fetch_gpa()); both fall back to a walk when in doubt.
 */
#include <linux/highmem.h>
#include <linux/moduleparam.h>
#include "mmu_internal.h"
#include "vmx/vmx_defs.h"

/* ---- faults ---- */

/*
 * A supervisor write to a read-only page that CR0.WP=0 allows: the
 * hardware runs with WP=1, so no shadow entry with the page's own rights
 * lets it through.
 */
static bool wp0_write(union shv_role base, struct shv_walk *w, u32 ec)
{
	return !(w->access & ACC_W) && !base.cr0_wp && !(ec & PFERR_USER) && (ec & PFERR_WRITE);
}

/*
 * ... to a user page with CR4.SMAP=1 (the walk allowed it: an explicit
 * access with EFLAGS.AC=1). Making the page supervisor-only would take it
 * out of SMAP's reach: later supervisor data accesses with EFLAGS.AC=0
 * must fault (SDM vol. 3A 4.6.1), and EFLAGS.AC changes without an exit.
 * Such a write is emulated instead and the shadow keeps the guest's
 * rights (U=1, read-only).
 */
static bool wp0_write_emulated(union shv_role base, struct shv_walk *w, u32 ec)
{
	return wp0_write(base, w, ec) && base.smap_andnot_wp && (w->access & ACC_U);
}

/*
 * The rights a leaf built for this walk and access grants (ACC_*). A
 * clean guest entry maps read-only, so that the first write faults and
 * sets D in that very entry; with CR0.WP=0 a supervisor write to a
 * read-only page is granted as supervisor-only (and not executable when
 * SMEP is on), like the hardware's own WP=0 semantics, unless SMAP must
 * keep seeing a user page (wp0_write_emulated()).
 */
static unsigned int leaf_access(union shv_role base, struct shv_walk *w, u32 ec)
{
	unsigned int acc = w->access;

	if (wp0_write(base, w, ec) && !wp0_write_emulated(base, w, ec)) {
		acc = (acc | ACC_W) & ~ACC_U;
		if (base.smep_andnot_wp)
			acc &= ~ACC_X;
	}
	if (!w->dirty)
		acc &= ~ACC_W;
	return acc;
}

/*
 * The entry that ends la's path from the current root: its level-1 entry,
 * a 2 MiB leaf, or the first entry not present on the way (with
 * to_direct, also a link to a direct page, the split of a guest large
 * page), with the page holding it in *sp_out; NULL without a valid root.
 * mmu_lock held.
 */
u64 *path_end_at(struct shv_vcpu *vcpu, u64 la, bool to_direct, struct shv_sp **sp_out)
{
	struct shv_sp *sp;
	u64 *sptep;
	int level;

	if (!shv_mmu_root_valid(vcpu))
		return NULL;
	sp = vcpu->mmu->cur->sp;
	for (level = sp->role.level;; level--) {
		sptep = &sp->spt[spte_index(sp->role, la, level)];
		if (level == 1 || !spte_present(*sptep) || spte_is_large(*sptep, level) ||
		    (to_direct && spte_child(*sptep)->role.direct))
			break;
		sp = spte_child(*sptep);
	}
	*sp_out = sp;
	return sptep;
}

/* The live leaf shadow page on la's path from the current root; mmu_lock held. */
struct shv_sp *leaf_sp_at(struct shv_vcpu *vcpu, u64 la)
{
	struct shv_sp *sp;

	if (!path_end_at(vcpu, la, false, &sp))
		return NULL;
	return sp->role.level == 1 && !sp->zapped ? sp : NULL;
}

/*
 * The guest accessed la through its leaf entry (the access faulted on it,
 * e.g. a write to a write-protected guest table): a prefetched entry
 * there was used, so drop_spte() must not count it in
 * PF_PREFETCH_UNUSED, whatever drops it later (the unsync policy drops
 * every mapping of a frame it lets the guest write). fetch() does the
 * same for an entry it refills. mmu_lock held.
 */
static void mark_used(struct shv_vcpu *vcpu, u64 la)
{
	struct shv_sp *sp = leaf_sp_at(vcpu, la);
	u64 *sptep;

	if (!sp)
		return;
	sptep = &sp->spt[spte_index(sp->role, la, 1)];
	if (spte_present(*sptep))
		*sptep &= ~SPTE_PREFETCHED;
}

/* mark_used() for a leaf entry the caller found on la's path already */
static void mark_used_at(struct shv_vcpu *vcpu, u64 la, u64 *sptep)
{
	if (!sptep)
		mark_used(vcpu, la);
	else if (spte_present(*sptep))
		*sptep &= ~SPTE_PREFETCHED;
}

/* ---- 2 MiB shadow leaves ---- */

/*
 * Large guest pages. The part of a guest page of 2 MiB or more (a PDE or
 * PDPTE with PS; 32-bit paging's 4 MiB pages too: the shadow is PAE-
 * format, so a 4 MiB page is two 2 MiB halves, each filled on its own
 * fault) that holds the faulting frame is mapped by one 2 MiB shadow
 * leaf (SPTE_PS in a level-2 shadow page) when
 *   - its naturally aligned 2 MiB region lies in one slot, with the same
 *     2 MiB alignment of guest-physical and host address;
 *   - the faulting frame's host page is in a folio (THP or hugetlb) that
 *     covers the aligned 2 MiB of host memory, and the pages of all 512
 *     frames, pinned or present in the runner (then pinned here, never
 *     faulted in: by one pin of the folio when the runner maps the 2 MiB
 *     with one huge entry, else 128 at a time, with one pin call and one
 *     charge: see shv_gfns_pin_large()), are exactly that physically
 *     contiguous 2 MiB;
 *   - no frame of the region is write-tracked (a guest page table): asked
 *     under mmu_lock once the walk's own tables are shadowed, so a guest
 *     table inside the page it maps keeps the page split.
 * Otherwise the page is split into 4 KiB entries (a direct shadow page)
 * as before, and the fill counts why (LARGE_NO_HOST, LARGE_NO_WP). A
 * frame of the region that becomes a guest table later zaps the large
 * leaves over it (sp_cache.c, LARGE_ZAPPED). A large leaf replaces a
 * present entry at its place (an older leaf, or a split direct page).
 *
 * Pins: a large leaf owns none. Each of its 512 pages is in the slot's
 * pages[] like a 4 KiB entry's, held by its own pin or by the region's
 * one pin of the folio, until the slot goes (PAGES_PINNED counts all
 * 512), so zapping a large leaf releases nothing and the accounting
 * stays per 4 KiB page.
 */
static bool large_pages = true;
module_param(large_pages, bool, 0644);
MODULE_PARM_DESC(large_pages,
		 "map guest 2/4 MiB and 1 GiB pages with 2 MiB shadow entries when the host memory allows (default Y)");

/* A walk that ends at a guest large page, with large leaves on */
static bool large_walk(const struct shv_walk *w)
{
	return w->levels && w->leaf_level >= 2 && READ_ONCE(large_pages);
}

/*
 * Before mmu_lock: the first of the 512 pinned, physically contiguous
 * host pages of gfn's 2 MiB region (pg: gfn's page, pinned; s: its slot),
 * or NULL with *why set.
 */
struct page *large_prepare_gfn(struct shv_vm *vm, u64 gfn, struct shv_slot *s,
			       struct page *pg, enum shv_large_why *why)
{
	u64 base = gfn & ~511ULL;
	unsigned long hpfn = page_to_pfn(pg) - (gfn & 511);

	*why = LARGE_NO_HOST;
	/* cheap first: no pinning of 512 pages for a region of 4 KiB pages */
	if (!shv_slot_holds_2m(s, base) || !shv_folio_holds_2m(pg, hpfn))
		return NULL;
	*why = LARGE_NO_WP;
	if (region_tracked_hint(vm, base))
		return NULL;
	*why = LARGE_NO_HOST;
	if (!shv_gfns_pin_large(vm, base, pfn_to_page(hpfn), gfn))
		return NULL;
	*why = LARGE_OK;
	return pfn_to_page(hpfn);
}

/* large_prepare_gfn() for the frame of walk w, if it is in a guest large page */
static struct page *large_prepare(struct shv_vm *vm, struct shv_walk *w, struct shv_slot *s,
				  struct page *pg, enum shv_large_why *why)
{
	*why = LARGE_NONE;
	if (!large_walk(w))
		return NULL;
	return large_prepare_gfn(vm, w->gfn, s, pg, why);
}

/* Under mmu_lock: may the region of gfn be mapped large now? */
bool large_allowed(struct shv_vm *vm, u64 gfn)
{
	struct shv_lpage *lp = gfn_lpage(vm, gfn, false);

	return !lp || !lp->tracked;
}

/* Install a 2 MiB leaf at sptep of the level-2 shadow page sp. */
static int install_large(struct shv_vcpu *vcpu, struct shv_sp *sp, u64 *sptep,
			 struct shv_walk *w, struct page *huge, unsigned int acc, bool ro_slot)
{
	struct shv_vm *vm = vcpu->vm;
	u64 base = w->gfn & ~511ULL;

	if (spte_present(*sptep)) {
		bool split = !spte_is_large(*sptep, 2);

		*sptep &= ~SPTE_PREFETCHED;	/* it faulted: it was used */
		drop_spte(vm, sptep);	/* an older leaf, or a split page */
		/* whose 4 KiB translations go before the 2 MiB one comes */
		if (split) {
			kick_flush_all(vm);
			flush_remote(vm);
		}
	}
	sp->gfns[sptep - sp->spt] = base;
	if (large_rmap_add(vm, base, sptep))
		return -ENOMEM;
	/* no frame of the region is write-tracked (large_allowed()) */
	*sptep = make_leaf(vcpu, huge, acc, w->global, false, ro_slot) | SPTE_PS;
	(*vm_stat(vm, SHADOWVM_STAT_LARGE_MAPPED))++;
	return 0;
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
		if (shv_read_word_pinned(vm, w->pte_gpa[level], esize, &cur) ||
		    cur != w->pte[level])
			return false;
	}
	return true;
}

/*
 * Install the shadow path for a successful walk; mmu_lock held. 0 done,
 * 1 the guest changed its tables meanwhile (re-execute), -ENOMEM.
 * *table_sp: a page to prefetch into after mmu_lock is dropped (a leaf
 * page picked for a whole-table prefetch, or the level-2 page of a 2 MiB
 * leaf just built, for large_prefetch()).
 */
static int fetch(struct shv_vcpu *vcpu, u64 la, struct shv_walk *w, struct page *pg,
		 u32 ec, bool ro_slot, struct shv_prefetch *p, struct page *huge,
		 enum shv_large_why *why, struct shv_sp **table_sp)
{
	struct shv_vm *vm = vcpu->vm;
	struct shv_sp *sp = vcpu->mmu->cur->sp;
	union shv_role base = vcpu->mmu->base_role;
	unsigned int acc = leaf_access(base, w, ec);
	int esize = base.gpte4 ? 4 : 8;
	int level = sp->role.level;
	bool created, wp;
	u64 *sptep;

	lockdep_assert_held(&vm->mmu_lock);
	for (; level > 1; level--) {
		union shv_role cr = base;
		struct shv_sp *child;
		u64 gfn;
		int glevel = level - 1;	/* guest level the child shadows */

		sptep = &sp->spt[spte_index(sp->role, la, level)];
		if (level == 2 && huge) {
			if (large_allowed(vm, w->gfn))
				break;	/* a 2 MiB leaf here */
			*why = LARGE_NO_WP;
			huge = NULL;
		}
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
		if (spte_is_large(*sptep, level)) {
			/* split below: no 2 MiB translation may outlive it */
			drop_spte(vm, sptep);
			kick_flush_all(vm);
		}
		if (spte_present(*sptep)) {
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
		if (created && glevel == 1 && !child->role.direct) {
			struct shv_rmap *rm = gfn_rmap(vm, gfn, false);

			/* a dense table rebuilt (not a role change): prefetch it whole */
			if (rm && rm->dense && !policy(vm)->no_table_prefetch &&
			    !sp_other_role_live(vm, child)) {
				*table_sp = child;
				child->table_pf = true;
			}
		}
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
	if (level == 2) {
		int r = install_large(vcpu, sp, sptep, w, huge, acc, ro_slot);

		if (!r)
			*table_sp = sp;
		return r;
	}
	sptep = &sp->spt[spte_index(sp->role, la, 1)];
	if (spte_present(*sptep)) {
		*sptep &= ~SPTE_PREFETCHED;	/* it faulted: it was used */
		drop_spte(vm, sptep);
	}
	sp->gfns[sptep - sp->spt] = w->gfn;
	if (sp->gptes)
		sp->gptes[sptep - sp->spt] = w->pte[1];
	if (rmap_add_leaf(vm, w->gfn, sptep, &wp, NULL))
		return -ENOMEM;
	*sptep = make_leaf(vcpu, pg, acc, w->global, wp, ro_slot);
	if (p->n)
		prefetch_install(vcpu, sp, w, la, p);
	table_fill(vm, sp, sptep - sp->spt, table_sp);
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

/*
 * Guest #PF bypass: a true fault on a guest PTE that is not present, in a
 * context whose shadow traps. If the shadow path down to the leaf page
 * for la exists and that page shadows the very guest table (synced, hence
 * write-protected), make every trapping entry of it whose guest entry is
 * not present "notrap" (0): the guest's next faults on them, this one's
 * and its neighbours' (a demand-paging guest's next pages), reach the
 * guest without an exit, until a guest write to the table drops them.
 */
static void set_notrap(struct shv_vcpu *vcpu, u64 la, struct shv_walk *w)
{
	struct shv_vm *vm = vcpu->vm;
	struct shv_sp *sp;
	u64 g[64];
	int base, k, n = 0;

	if (w->fault_level != 1 || (w->error_code & PFERR_PRESENT) ||
	    !shv_mmu_pf_bypass(vcpu))
		return;
	mutex_lock(&vm->mmu_lock);
	sp = leaf_sp_at(vcpu, la);
	if (!sp || sp->role.direct || sp->role.gpte4 || sp->unsync ||
	    sp->gfn != w->table_gfn[1] || !gfn_write_protected(vm, sp->gfn))
		goto out;
	for (base = 0; base < 512; base += ARRAY_SIZE(g)) {
		if (shv_read_gpa_pinned(vm, (sp->gfn << PAGE_SHIFT) + base * 8, g, sizeof(g)))
			break;
		for (k = 0; k < ARRAY_SIZE(g); k++) {
			if ((g[k] & _PAGE_PRESENT) || sp->spt[base + k] != SPTE_TRAP)
				continue;
			sp->spt[base + k] = 0;
			n++;
		}
	}
	*vm_stat(vm, SHADOWVM_STAT_PF_NOTRAP) += n;
out:
	mutex_unlock(&vm->mmu_lock);
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
 * SMAP's implicit supervisor-mode accesses (SDM 4.6.1): reading the GDT,
 * LDT or IDT, the TSS, is denied on a user page even at CPL < 3 with
 * EFLAGS.AC = 1. The #PF error code does not tell an implicit access
 * from an explicit one, so the walk, which honours AC, would call such a
 * fault hidden and the guest would fault on the same shadow entry for
 * ever. It is recognised by the hardware: the fault came although the
 * shadow entry already grants the access, and the same fault (address,
 * instruction, error code) came at the exit just before. One repeat is
 * needed: a first fault may come from a TLB entry older than the shadow
 * entry (which the fault has dropped) or from another vCPU's fill.
 * Returns 0 (not a candidate), 1 (re-execute) or 2 (walk as implicit).
 */
static int smap_implicit(struct shv_vcpu *vcpu, u64 la, u32 hw_ec)
{
	struct shv_mmu_vcpu *m = vcpu->mmu;
	unsigned long rip = shv_rip(vcpu);
	u64 spte = 0, need = SPTE_US | (hw_ec & PFERR_WRITE ? SPTE_RW : 0);
	struct shv_sp *sp;
	u64 *sptep;
	bool repeat;

	if (!(vcpu->cr4 & X86_CR4_SMAP) || !(hw_ec & PFERR_PRESENT) ||
	    (hw_ec & (PFERR_USER | PFERR_FETCH | PFERR_RSVD)) || shv_cpl(vcpu) == 3 ||
	    !(vmcs_read(GUEST_RFLAGS) & X86_EFLAGS_AC))
		return 0;
	mutex_lock(&vcpu->vm->mmu_lock);
	sptep = path_end_at(vcpu, la, false, &sp);
	if (sptep)
		spte = *sptep;
	mutex_unlock(&vcpu->vm->mmu_lock);
	if (!spte_present(spte) || (spte & need) != need)
		return 0;
	repeat = m->smap_exit + 1 == vcpu->exit_count && m->smap_la == la &&
		 m->smap_rip == rip && m->smap_ec == hw_ec;
	m->smap_exit = vcpu->exit_count;
	m->smap_la = la;
	m->smap_rip = rip;
	m->smap_ec = hw_ec;
	return repeat ? 2 : 1;
}

/* ---- translations for the emulator without a guest walk ---- */

/* la as the walker uses it: 32 bits outside long mode */
static u64 walk_la(struct shv_vcpu *vcpu, u64 la)
{
	return shv_guest_levels(vcpu) == 4 ? la : (u32)la;
}

/*
 * A #PF exit that hands a write to a write-protected guest table to the
 * emulator keeps its walk: the write's linear address is CR2, and the
 * walk, made for the fault's access, checked it and set the Accessed
 * bits and the leaf's Dirty bit (or the shadow leaf stood for such a
 * walk: pt_write_shadow()).
 */
static void keep_walk(struct shv_vcpu *vcpu, u64 la, u32 access, u64 gfn, unsigned int acc)
{
	struct shv_pf_walk *p = &vcpu->mmu->pf_walk;

	p->exit = vcpu->exit_count;
	p->cr0 = vcpu->cr0;
	p->cr3 = vcpu->cr3;
	p->cr4 = vcpu->cr4;
	p->efer = vcpu->efer;
	p->la_page = walk_la(vcpu, la) >> PAGE_SHIFT;
	p->gfn = gfn;
	p->acc = acc;
	p->access = access;
}

/*
 * The emulator's access to la in the exit whose walk keep_walk() kept:
 * the guest-physical address without a walk when that walk covers it. It
 * must be this very exit (no guest instruction ran since, no RUN came
 * after an MMIO exit) with the same paging context (CR3, CR0, CR4, EFER)
 * and the same linear page; a write needs a walk made for a write (the
 * leaf's Dirty bit is set); and the rights must allow this access at
 * the current CPL, CR0.WP, SMEP, SMAP and EFLAGS.AC. Anything else: false,
 * and the caller walks (and gets the architectural fault, if any).
 */
bool pf_walk_reuse(struct shv_vcpu *vcpu, u64 la, u32 access, u64 *gpa)
{
	struct shv_pf_walk *p = &vcpu->mmu->pf_walk;

	if (!p->exit || p->exit != vcpu->exit_count || vcpu->mmio_rerun ||
	    p->cr3 != vcpu->cr3 || p->cr0 != vcpu->cr0 || p->cr4 != vcpu->cr4 ||
	    p->efer != vcpu->efer || walk_la(vcpu, la) >> PAGE_SHIFT != p->la_page)
		return false;
	if ((access & PFERR_WRITE) && !(p->access & PFERR_WRITE))
		return false;
	if (shv_walk_perm_fault(vcpu, p->acc, access))
		return false;
	*gpa = (p->gfn << PAGE_SHIFT) | offset_in_page(la);
	return true;
}

/*
 * An instruction fetch at la through the shadow: the leaf entry that
 * maps la from the current root is a translation the hardware may use
 * for the guest this very moment (it is built from guest entries present
 * and accessed, with at most their rights, and a change to those entries
 * drops it or, for an unsync page, waits for the guest's flush as a TLB
 * entry would), so when it lets this fetch through, the fetch needs no
 * walk. Checked as the hardware does: present, not NX, U/S for CPL 3,
 * and SMEP (in software: the guest's CR4) for CPL < 3. A leaf of an
 * unsync or zapped shadow page, or a fetch it does not allow: false.
 * la as walk_la() gives it; the frame in *gfn. mmu_lock held.
 */
static bool shadow_fetch_locked(struct shv_vcpu *vcpu, u64 la, bool user, u64 *gfn)
{
	struct shv_sp *sp;
	u64 *sptep, spte;

	lockdep_assert_held(&vcpu->vm->mmu_lock);
	sptep = path_end_at(vcpu, la, false, &sp);
	if (!sptep || sp->zapped || sp->unsync)
		return false;
	spte = *sptep;
	/* path_end_at() ends at a level-1 entry, a 2 MiB leaf or a hole */
	if (!spte_present(spte) ||
	    (sp->role.level != 1 && !spte_is_large(spte, sp->role.level)) ||
	    (spte & SPTE_NX) ||
	    !(user ? spte & SPTE_US : !((vcpu->cr4 & X86_CR4_SMEP) && (spte & SPTE_US))))
		return false;
	*gfn = sp->gfns[sptep - sp->spt];
	if (sp->role.level == 2)	/* the 2 MiB region's first frame */
		*gfn += (la >> PAGE_SHIFT) & 511;
	return true;
}

unsigned int shv_mmu_fetch_locked(struct shv_vcpu *vcpu, u64 la, bool user, u8 *buf,
				  unsigned int n)
{
	struct page *pg;
	void *va;
	u64 gfn;

	la = walk_la(vcpu, la);
	if (!shadow_fetch_locked(vcpu, la, user, &gfn) ||
	    shv_gfn_to_page(vcpu->vm, gfn, false, true, &pg))
		return 0;
	n = min_t(unsigned int, n, PAGE_SIZE - offset_in_page(la));
	va = kmap_local_page(pg);
	memcpy(buf, va + offset_in_page(la), n);
	kunmap_local(va);
	return n;
}

/*
 * With the write's classification, under the same mmu_lock section: the
 * page of the instruction at CS:RIP as shadow_fetch_locked() translates
 * a fetch there at the current CPL, for the emulator's fetch in this
 * exit (shadow_fetch_gpa()), which then needs neither mmu_lock nor the
 * shadow path again. Valid as long as pf_walk_reuse()'s walk is (the
 * same exit and paging context: no guest instruction ran since); the
 * instruction that faulted was fetched through that very translation.
 */
static void keep_fetch(struct shv_vcpu *vcpu, u32 access)
{
	struct shv_pf_walk *p = &vcpu->mmu->pf_walk;
	u64 la = vmcs_read(GUEST_RIP);

	if (!shv_long_mode(vcpu) || !(vmcs_read(GUEST_CS_AR_BYTES) & (1u << 13)))
		la = (u32)(la + vmcs_read(GUEST_CS_BASE));
	la = walk_la(vcpu, la);
	p->fetch_user = access & PFERR_USER;
	p->fetch_page = la >> PAGE_SHIFT;
	p->fetch_ok = shadow_fetch_locked(vcpu, la, p->fetch_user, &p->fetch_gfn);
}

/*
 * shadow_fetch_locked() for the emulator: the frame keep_fetch() found,
 * when this is the exit (and context) it was kept in, la is on its page
 * and the CPL is the same; else under mmu_lock now. false: the caller
 * walks.
 */
bool shadow_fetch_gpa(struct shv_vcpu *vcpu, u64 la, u32 access, u64 *gpa)
{
	struct shv_pf_walk *p = &vcpu->mmu->pf_walk;
	struct shv_vm *vm = vcpu->vm;
	bool user = access & PFERR_USER;
	bool ok;
	u64 gfn;

	if (!(access & PFERR_FETCH) || !shv_guest_levels(vcpu))
		return false;
	la = walk_la(vcpu, la);
	if (p->fetch_ok && p->exit && p->exit == vcpu->exit_count && !vcpu->mmio_rerun &&
	    p->fetch_page == la >> PAGE_SHIFT && p->fetch_user == user &&
	    p->cr3 == vcpu->cr3 && p->cr0 == vcpu->cr0 && p->cr4 == vcpu->cr4 &&
	    p->efer == vcpu->efer) {
		*gpa = (p->fetch_gfn << PAGE_SHIFT) | offset_in_page(la);
		return true;
	}
	mutex_lock(&vm->mmu_lock);
	ok = shadow_fetch_locked(vcpu, la, user, &gfn);
	mutex_unlock(&vm->mmu_lock);
	if (ok)
		*gpa = (gfn << PAGE_SHIFT) | offset_in_page(la);
	return ok;
}

/*
 * A write to gfn, a write-protected guest table frame, through la, with
 * the rights acc (ACC_*) of the translation (sptep: its leaf shadow entry
 * when the caller has it, else NULL): mmu_lock held, released here.
 * Shadow pages of the frame that nothing links to go, and if that
 * unprotects it, or the policy lets the frame be written natively, the
 * write runs again natively; else it goes to the emulator, with the
 * translation kept for it (keep_walk()).
 */
static int pt_write_locked(struct shv_vcpu *vcpu, u64 la, u32 access, u64 gfn,
			   unsigned int acc, u64 *sptep, struct shv_pf_result *pf)
{
	struct shv_vm *vm = vcpu->vm;

	lockdep_assert_held(&vm->mmu_lock);
	mark_used_at(vcpu, la, sptep);
	/* only shadow pages nothing links to: unprotected, run natively */
	if ((zap_orphans(vm, gfn) && !gfn_write_protected(vm, gfn)) ||
	    (policy(vm)->pt_write && policy(vm)->pt_write(vcpu, gfn) == SHV_PTW_RESUME)) {
		commit_zap(vm);
		mutex_unlock(&vm->mmu_lock);
		return SHV_PF_RESUME;
	}
	commit_zap(vm);
	/* a plain MOV store: done here, under this lock (emulate_glue.c) */
	if (shv_emulate_pt_store_locked(vcpu, la, gfn, access & PFERR_USER)) {
		commit_zap(vm);
		mutex_unlock(&vm->mmu_lock);
		return SHV_PF_RESUME;
	}
	keep_fetch(vcpu, access);
	mutex_unlock(&vm->mmu_lock);
	keep_walk(vcpu, la, access, gfn, acc);
	pf->addr = (gfn << PAGE_SHIFT) | offset_in_page(la);
	pf->gfn = gfn;
	return SHV_PF_EMULATE_PT;
}

/*
 * A write fault (P=1, W=1) whose leaf shadow entry from the current root
 * is present and read-only only because its frame is a shadowed guest
 * table (SPTE_WP_ONLY, in a synced live page): the guest walk is known
 * without walking. The entry was built from a walk for a write in this
 * very role (guest entries present, accessed, the leaf dirty, with at
 * least the rights the entry grants), and any change to those guest
 * entries since would have dropped it (their frames are write-protected
 * and every write to them emulated). Its frame and rights (ACC_*) in
 * *gfn and *acc, the entry in *leaf, when they allow this access at the
 * current CPL, CR0.WP, SMAP and EFLAGS.AC (else the caller walks).
 * mmu_lock held.
 */
static bool pt_write_shadow(struct shv_vcpu *vcpu, u64 la, u32 hw_ec, u32 access, u64 *gfn,
			    unsigned int *acc, u64 **leaf)
{
	const u32 ec_mask = PFERR_PRESENT | PFERR_WRITE | PFERR_RSVD | PFERR_FETCH;
	struct shv_sp *sp;
	u64 *sptep, spte;

	lockdep_assert_held(&vcpu->vm->mmu_lock);
	if ((hw_ec & ec_mask) != (PFERR_PRESENT | PFERR_WRITE) || !shv_guest_levels(vcpu))
		return false;
	sptep = path_end_at(vcpu, walk_la(vcpu, la), false, &sp);
	if (!sptep || sp->zapped || sp->unsync || sp->role.level != 1)
		return false;
	spte = *sptep;
	if (!spte_present(spte) || !(spte & SPTE_WP_ONLY))
		return false;
	*gfn = sp->gfns[sptep - sp->spt];
	if (!gfn_write_protected(vcpu->vm, *gfn))
		return false;
	*acc = ACC_W | (spte & SPTE_US ? ACC_U : 0) | (spte & SPTE_NX ? 0 : ACC_X);
	*leaf = sptep;
	return !shv_walk_perm_fault(vcpu, *acc, access);
}

/*
 * Is a shortcut before the walk worth its try (mmu_lock and the shadow
 * path), after *miss exits in a row where it did not apply? A guest
 * whose faults it does not fit (e.g. refills of entries dropped by its
 * own Accessed-bit clearing, for true_fault_shadow()) tries every 16th
 * time only, until it fits again.
 */
static bool shortcut_try(struct shv_vcpu *vcpu, u8 *miss)
{
	return *miss < 8 || !(++vcpu->mmu->shortcut_skip & 15);
}

static void shortcut_done(u8 *miss, bool hit)
{
	if (hit)
		*miss = 0;
	else if (*miss < U8_MAX)
		(*miss)++;
}

/*
 * A not-present fault (P=0) whose path of shadow pages from the current
 * root ends at a synced, live leaf page of 8-byte guest entries (PAE or
 * 4-level), whose entry for la is not present, under a policy that
 * write-protects every guest table it shadows: that path stands for the
 * guest's upper entries as they are now (present, valid, accessed; a
 * change to any of them would have dropped it, and CR0, CR4, EFER or PAE
 * PDPTE changes select another root), so the guest walk for la reaches
 * the very table that page shadows. When the guest entry there is not
 * present the fault is the guest's, P=0 at level 1: known with one read
 * of the write-protected table instead of a walk. Not with the guest #PF
 * bypass (the walk's path marks neighbours "notrap" there). mmu_lock held.
 */
static bool true_fault_shadow(struct shv_vcpu *vcpu, u64 la, u32 hw_ec)
{
	struct shv_vm *vm = vcpu->vm;
	struct shv_sp *sp;
	u64 *sptep, gpte;

	lockdep_assert_held(&vm->mmu_lock);
	if ((hw_ec & (PFERR_PRESENT | PFERR_RSVD)) || !policy(vm)->write_protect ||
	    vm->mmu->pf_bypass || shv_guest_levels(vcpu) < 3)
		return false;
	sptep = path_end_at(vcpu, walk_la(vcpu, la), false, &sp);
	if (!sptep || sp->role.level != 1 || sp->zapped || sp->unsync || sp->role.direct ||
	    sp->role.gpte4 || *sptep || !gfn_write_protected(vm, sp->gfn))
		return false;
	if (shv_read_word_pinned(vm, (sp->gfn << PAGE_SHIFT) + (sptep - sp->spt) * 8, 8, &gpte))
		return false;
	return !(gpte & _PAGE_PRESENT);
}

/*
 * A #PF exit: classify with the walker. True fault: inject with the
 * walker's error code. Hidden: fill the shadow, set A/D, emulate a
 * page-table write, or hand an MMIO access or a CR0.WP=0 write under
 * SMAP (wp0_write_emulated()) to the emulator. The MMU
 * neither emulates nor exits to userspace itself: it returns what the
 * exit handler is to do (SHV_PF_*, in shadowvm.h) with *pf filled in;
 * the one exception is a page-table write by a plain MOV store, which the
 * emulator's shv_emulate_pt_store_locked() completes inside the
 * classification's mmu_lock section (pt_write_locked()).
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
	struct shv_prefetch pfx;
	bool write = access & PFERR_WRITE;
	enum shv_large_why why;
	struct shv_sp *table_sp = NULL;
	u32 table_role = 0;
	u64 table_gfn = 0;
	struct page *huge;
	int r;

	if (!shv_guest_levels(vcpu))
		access &= ~PFERR_USER;
	if (!shv_mmu_root_valid(vcpu))
		return SHV_PF_RESUME;
	r = smap_implicit(vcpu, la, hw_ec);
	if (r == 1)
		return SHV_PF_RESUME;
	if (r == 2)
		access |= SHV_PFERR_IMPLICIT;
	if (!r && !(hw_ec & PFERR_PRESENT) && shortcut_try(vcpu, &vcpu->mmu->tf_miss)) {
		bool known;

		mutex_lock(&vm->mmu_lock);
		known = shv_mmu_root_valid(vcpu) && true_fault_shadow(vcpu, la, hw_ec);
		mutex_unlock(&vm->mmu_lock);
		shortcut_done(&vcpu->mmu->tf_miss, known);
		if (known) {
			u32 ec = shv_walk_fault_ec(vcpu, access, false, false);

			count_fault(vcpu, true);
			trace_fault(la, hw_ec, ec, 1);
			shv_queue_pf(vcpu, la, ec);
			return SHV_PF_RESUME;
		}
	}
	if (!r && (hw_ec & PFERR_WRITE) && (hw_ec & PFERR_PRESENT) &&
	    shortcut_try(vcpu, &vcpu->mmu->pw_miss)) {
		unsigned int acc;
		u64 gfn, *leaf;

		mutex_lock(&vm->mmu_lock);
		if (shv_mmu_root_valid(vcpu) &&
		    pt_write_shadow(vcpu, la, hw_ec, access, &gfn, &acc, &leaf)) {
			shortcut_done(&vcpu->mmu->pw_miss, true);
			count_fault(vcpu, false);
			trace_fault(la, hw_ec, 0, 0);
			return pt_write_locked(vcpu, la, access, gfn, acc, leaf, pf);
		}
		mutex_unlock(&vm->mmu_lock);
		shortcut_done(&vcpu->mmu->pw_miss, false);
	}
	r = shv_walk(vcpu, la, access, &w, true);
	if (r == -EFAULT) {
		count_fault(vcpu, true);
		trace_fault(la, hw_ec, w.error_code, 1);
		set_notrap(vcpu, la, &w);
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
	if (wp0_write_emulated(vcpu->mmu->base_role, &w, access)) {
		shv_stat_inc(vcpu, PF_WP0_EMULATED);
		return SHV_PF_EMULATE_WRITE;
	}
	/* a large guest page: its region pinned whole, if it can be, first */
	pg = NULL;
	if (large_walk(&w) && !region_tracked_hint(vm, w.gfn & ~511ULL))
		pg = shv_gfn_region_pin(vm, w.gfn, write);
	if (!pg) {
		r = shv_gfn_to_page(vm, w.gfn, write, false, &pg);
		if (r)
			return fault_failed(pf, w.gpa, r);
	}
	huge = large_prepare(vm, &w, slot, pg, &why);
	pfx.n = 0;
	/* no prefetch for a write to a guest table: it is emulated, not filled */
	if (!huge && (!write || !gfn_write_protected_hint(vm, w.gfn)))
		prefetch_prepare(vcpu, la, &w, leaf_access(vcpu->mmu->base_role, &w, access),
				 &pfx);

	mutex_lock(&vm->mmu_lock);
	if (!shv_mmu_root_valid(vcpu)) {
		mutex_unlock(&vm->mmu_lock);
		return SHV_PF_RESUME;
	}
	make_room(vm, 8);
	/* a write to a shadowed page table, through the entry at la */
	if (write && gfn_write_protected(vm, w.gfn))
		return pt_write_locked(vcpu, la, access, w.gfn, w.access, NULL, pf);
	r = fetch(vcpu, la, &w, pg, access, slot->flags & SHADOWVM_MEM_READONLY, &pfx, huge,
		  &why, &table_sp);
	if (!r && table_sp) {
		table_gfn = table_sp->gfn;
		table_role = table_sp->role.word;
	} else {
		table_sp = NULL;
	}
	if (!r) {
		shv_stat_inc(vcpu, PF_HIDDEN_FILL);
		if (why == LARGE_NO_HOST)
			(*vm_stat(vm, SHADOWVM_STAT_LARGE_NO_HOST))++;
		else if (why == LARGE_NO_WP)
			(*vm_stat(vm, SHADOWVM_STAT_LARGE_NO_WP))++;
	}
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	if (r < 0)
		return fault_failed(pf, w.gpa, r);
	if (table_sp && why == LARGE_OK)
		large_prefetch(vcpu, la, &w, table_gfn, table_role);
	else if (table_sp)
		prefetch_rest(vcpu, la, &w, leaf_access(vcpu->mmu->base_role, &w, access),
			      table_gfn, table_role);
	return SHV_PF_RESUME;
}
