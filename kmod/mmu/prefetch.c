// SPDX-License-Identifier: GPL-2.0
/*
 * Prefetch: shadow entries filled ahead of the guest's accesses. Contract:
 * a hidden fault's fill (fault.c, fetch()) may also fill the neighbours of
 * its entry in an aligned window (prefetch_prepare(), prefetch_install()),
 * the rest of a leaf shadow page the guest uses densely (table_fill(),
 * prefetch_rest()), and the 2 MiB neighbours of a 2 MiB leaf it built
 * (large_prefetch()). Only guest entries a walk would use as they are
 * (present, accessed, valid), only host pages present already (pinned
 * here with no lock, never faulted in), each entry re-checked under
 * mmu_lock against the guest entry it was prepared from and installed
 * only where the shadow is still empty. A prefetched entry starts with
 * SPTE_A clear and SPTE_PREFETCHED set, so that drop_spte() can count the
 * ones never used (PF_PREFETCH_UNUSED).
 */
#include <linux/highmem.h>
#include <linux/moduleparam.h>
#include "mmu_internal.h"

/*
 * Prefetch: a hidden fault filled at index i of a leaf shadow page also
 * fills the not-present neighbours in the aligned window of
 * `prefetch` entries around i (KVM fills 8) whose guest entries are
 * present, accessed and valid (indirect pages), or that lie in the same
 * guest huge page or unpaged range (direct pages), and whose host pages
 * are present already (prefetch never faults runner memory in, nor waits
 * for a userfaultfd handler). Those pages are pinned before mmu_lock
 * (pinning may sleep), each run of consecutive frames with one probe and
 * one pin call; under the lock the window of guest entries is read again
 * and each is used only if it did not change. A prefetched
 * entry is made with SPTE_A clear and SPTE_PREFETCHED set, so that
 * drop_spte() can count the ones the guest never touched.
 */
static unsigned int prefetch_entries = 8;
module_param_named(prefetch, prefetch_entries, uint, 0644);
MODULE_PARM_DESC(prefetch,
		 "shadow entries filled per hidden fault: 0 or 1 = off, up to 16 (power of 2; default 8)");

static unsigned int prefetch_window(void)
{
	unsigned int win = min_t(unsigned int, READ_ONCE(prefetch_entries), SHV_PREFETCH_MAX);

	return win < 2 ? 0 : rounddown_pow_of_two(win);
}

/* Read the window's guest entries, widened to u64 (esize 4 or 8). */
static int read_window(struct shv_vm *vm, u64 gpa, int esize, int win, u64 *gptes, bool pinned)
{
	u32 g32[SHV_PREFETCH_MAX];
	void *buf = esize == 4 ? (void *)g32 : (void *)gptes;
	int k, r;

	r = pinned ? shv_read_gpa_pinned(vm, gpa, buf, win * esize) :
		     shv_read_gpa(vm, gpa, buf, win * esize);
	if (r || esize == 8)
		return r;
	for (k = win - 1; k >= 0; k--)
		gptes[k] = g32[k];
	return 0;
}

/*
 * Pin the prefetch candidates' pages, each run of consecutive frames of
 * one slot with one call, and keep only the candidates whose page is
 * present.
 */
static void prefetch_pin(struct shv_vm *vm, struct shv_prefetch *p)
{
	struct page *pgs[SHV_PREFETCH_MAX];
	int k, j, m, n = 0;

	for (k = 0; k < p->n; k = j) {
		for (j = k + 1; j < p->n; j++)
			if (p->e[j].gfn != p->e[j - 1].gfn + 1 || p->e[j].slot != p->e[k].slot)
				break;
		shv_gfns_to_pages_present(vm, p->e[k].gfn, j - k, pgs);
		for (m = k; m < j; m++) {
			if (!pgs[m - k])
				continue;
			p->e[n] = p->e[m];
			p->e[n++].pg = pgs[m - k];
		}
	}
	p->n = n;
}

/*
 * Before mmu_lock: choose the neighbours of la to prefetch and pin their
 * pages. Guest memory is read with shv_read_gpa() (the walk pinned the
 * table). Nothing here needs undoing: pins stay with the slot.
 */
static void prefetch_prepare_at(struct shv_vcpu *vcpu, int i, int first, unsigned int win,
				struct shv_walk *w, unsigned int acc, struct shv_prefetch *p)
{
	struct shv_vm *vm = vcpu->vm;
	int esize = w->levels == 2 ? 4 : 8;
	u64 gptes[SHV_PREFETCH_MAX];
	bool direct = !w->levels || w->leaf_level > 1;
	int k;

	p->n = 0;
	if (!win)
		return;
	p->first = first;
	p->win = win;
	if (!direct && read_window(vm, w->pte_gpa[1] - (i - first) * esize, esize, win, gptes,
				   false))
		return;
	for (k = 0; k < win; k++) {
		typeof(p->e[0]) *e = &p->e[p->n];
		struct shv_slot *slot;

		if (first + k == i)
			continue;
		e->idx = first + k;
		if (direct) {
			e->gfn = w->gfn - i + e->idx;
			e->acc = acc;
			e->global = w->global;
			e->gpte = 0;
		} else {
			e->gpte = gptes[k];
			if (!shv_gpte_leaf_prefetchable(vcpu, w->levels, e->gpte, &e->gfn,
							&e->acc, &e->global))
				continue;
			e->acc &= w->access_above[1];
			if (!(e->gpte & SPTE_D))	/* the guest's D bit, same position */
				e->acc &= ~ACC_W;
		}
		slot = shv_gfn_to_slot(vm, e->gfn);
		if (!slot)
			continue;	/* MMIO: emulated on its own fault */
		e->slot = slot;
		e->ro_slot = slot->flags & SHADOWVM_MEM_READONLY;
		p->n++;
	}
	if (p->n)
		prefetch_pin(vm, p);
}

/* The aligned window of prefetch_window() entries around la's. */
void prefetch_prepare(struct shv_vcpu *vcpu, u64 la, struct shv_walk *w, unsigned int acc,
		      struct shv_prefetch *p)
{
	unsigned int win = prefetch_window();
	int i = (la >> PAGE_SHIFT) & 511;

	prefetch_prepare_at(vcpu, i, i & ~(win - 1), win, w, acc, p);
}

/* Under mmu_lock, after the faulting entry of leaf page sp was filled. */
void prefetch_install(struct shv_vcpu *vcpu, struct shv_sp *sp, struct shv_walk *w, u64 la,
		      struct shv_prefetch *p)
{
	struct shv_vm *vm = vcpu->vm;
	int esize = sp->role.gpte4 ? 4 : 8;
	int i = (la >> PAGE_SHIFT) & 511, k, done = 0;
	u64 gptes[SHV_PREFETCH_MAX];
	bool wp;

	if (!sp->role.direct &&
	    read_window(vm, w->pte_gpa[1] - (i - p->first) * esize, esize, p->win, gptes, true))
		return;
	for (k = 0; k < p->n; k++) {
		typeof(p->e[0]) *e = &p->e[k];
		u64 *sptep = &sp->spt[e->idx];

		if (spte_present(*sptep))
			continue;
		if (!sp->role.direct && gptes[e->idx - p->first] != e->gpte)
			continue;
		sp->gfns[e->idx] = e->gfn;
		if (sp->gptes)
			sp->gptes[e->idx] = e->gpte;
		if (rmap_add_leaf(vm, e->gfn, sptep, &wp, NULL))
			break;	/* no memory: the entries stay for their own faults */
		*sptep = (make_leaf(vcpu, e->pg, e->acc, e->global, wp, e->ro_slot) & ~SPTE_A) |
			 SPTE_PREFETCHED;
		done++;
	}
	sp->pf_n += done;
	*vm_stat(vm, SHADOWVM_STAT_PF_PREFETCHED) += done;
}

/*
 * Table prefetch: once a leaf shadow page shows dense use, its fill fault
 * into a second 8-entry window of it (a refault inside a window counted
 * already does not count) goes on, after the fill, to fill every other
 * entry of it that prefetch would take, and marks the guest table dense
 * (shv_rmap.dense); a leaf shadow page created later for a dense table
 * (e.g. after the guest rewrote the table and the page was zapped) is
 * prefetched whole by the fault that creates it, unless a shadow page of
 * the table for another role lives (a CR0.WP, CR4 or EFER change made this
 * one, not a rebuild). What KVM's sync of an unsync page does at the next
 * CR3 load. When a shadow page that had a whole-table prefetch goes,
 * sp_zap() judges it: more than half of the entries prefetch put in it
 * dropped untouched clears the table's dense mark and counts a strike
 * (shv_rmap.sparse, up to SHV_SPARSE_MAX), each strike doubling the
 * windows the next shadow page of the table must fill first (4, then 8); a
 * prefetch mostly used forgives the strikes. A guest that maps a table to
 * use it then takes one or two fill faults per table instead of one per
 * window; one that uses a page or one window of each table (a process
 * switch, a working set spread over tables) pays nothing, and one whose
 * shadow pages are rebuilt before they are used (tables rewritten between
 * accesses) stops paying after a strike. Not under vtlb (policy
 * no_table_prefetch): its shadow pages all go at each guest TLB flush, and
 * 97 % of what it prefetched there went unused. The guest table is scanned
 * once through the page the walk pinned, and only the batches of
 * SHV_PREFETCH_MAX entries that hold a candidate are prepared (pinned with
 * no lock) and installed under mmu_lock, if the page is still the one at
 * la's place. Needs prefetch on (a window of 2 or more).
 */
static bool prefetch_table = true;
module_param(prefetch_table, bool, 0644);
MODULE_PARM_DESC(prefetch_table,
		 "a fill into a second window of a leaf shadow page (or the creation of one for a table used densely) prefetches all of it (default Y; needs prefetch >= 2)");

/*
 * A fill fault at index idx of the leaf page sp: the first fill in its
 * second 8-entry window (its fourth, eighth with strikes: rm->sparse)
 * picks sp for a whole-table prefetch and marks the table dense, unless a
 * shadow page of the same table for another role lives (the guest flips
 * CR0.WP, CR4 or EFER bits and uses each role's page a little between
 * flips: the prefetch would fill both roles' pages for a few uses). A
 * refault of an entry (a flush dropped it, a write sets D) fills a window
 * already counted. mmu_lock held.
 */
void table_fill(struct shv_vm *vm, struct shv_sp *sp, int idx, struct shv_sp **table_sp)
{
	struct shv_rmap *rm = NULL;
	unsigned int need = 2;

	if (sp->table_pf || *table_sp || (sp->fill_wins & BIT_ULL(idx / 8)) ||
	    policy(vm)->no_table_prefetch)
		return;
	sp->fill_wins |= BIT_ULL(idx / 8);
	if (!sp->role.direct) {
		rm = gfn_rmap(vm, sp->gfn, false);
		if (rm)
			need <<= rm->sparse;
	}
	if (hweight64(sp->fill_wins) < need)
		return;
	/* shadowed for another role too: the guest changes roles, sparsely */
	if (!sp->role.direct && sp_other_role_live(vm, sp))
		return;
	*table_sp = sp;
	sp->table_pf = true;
	if (rm)
		rm->dense = 1;
}

/*
 * Which batches of SHV_PREFETCH_MAX entries of the leaf page for walk w
 * (i: the faulting index) hold a candidate: a guest entry present and
 * accessed (indirect pages), or any frame (direct pages). Reads the
 * guest table through the page the walk pinned.
 */
static u32 table_batches(struct shv_vm *vm, struct shv_walk *w, int i)
{
	int esize = w->levels == 2 ? 4 : 8, idx;
	const u64 pa = _PAGE_PRESENT | _PAGE_ACCESSED;
	struct page *pg;
	u32 mask = 0;
	void *map, *t;

	BUILD_BUG_ON(512 / SHV_PREFETCH_MAX > 32);
	if (!w->levels || w->leaf_level > 1)
		return ~0u;
	if (shv_gfn_to_page(vm, w->pte_gpa[1] >> PAGE_SHIFT, false, true, &pg))
		return 0;
	/* entry idx of the shadow page is guest entry i's address + (idx - i) */
	map = kmap_local_page(pg);
	t = map + offset_in_page(w->pte_gpa[1]) - i * esize;
	for (idx = 0; idx < 512; idx++) {
		u64 g = esize == 4 ? READ_ONCE(((u32 *)t)[idx]) : READ_ONCE(((u64 *)t)[idx]);

		if ((g & pa) == pa)
			mask |= BIT(idx / SHV_PREFETCH_MAX);
	}
	kunmap_local(map);
	return mask;
}

/* After the fill into the leaf page (gfn, role) for la; no lock held. */
void prefetch_rest(struct shv_vcpu *vcpu, u64 la, struct shv_walk *w, unsigned int acc,
		   u64 gfn, u32 role)
{
	struct shv_vm *vm = vcpu->vm;
	int i = (la >> PAGE_SHIFT) & 511, first;
	struct shv_prefetch p;
	struct shv_sp *sp;
	u32 batches;

	if (!prefetch_window() || !READ_ONCE(prefetch_table))
		return;
	batches = table_batches(vm, w, i);
	for (first = 0; first < 512; first += SHV_PREFETCH_MAX) {
		if (!(batches & BIT(first / SHV_PREFETCH_MAX)))
			continue;
		prefetch_prepare_at(vcpu, i, first, SHV_PREFETCH_MAX, w, acc, &p);
		if (!p.n)
			continue;
		mutex_lock(&vm->mmu_lock);
		sp = leaf_sp_at(vcpu, la);
		if (sp && sp->gfn == gfn && sp->role.word == role)
			prefetch_install(vcpu, sp, w, la, &p);
		mutex_unlock(&vm->mmu_lock);
	}
}

/*
 * Large prefetch: a fill that built a 2 MiB leaf in the shadow page of a
 * guest page directory of 8-byte entries (PAE, 4-level) goes on, after
 * mmu_lock is dropped, to map the neighbours in the aligned window of
 * prefetch_window() entries around it whose guest entries are 2 MiB
 * pages, present, accessed and valid (shv_gpte_large_prefetchable()),
 * and whose regions may be mapped large (large_prepare_gfn(): slot and
 * folio, no frame write-tracked, all 512 host pages present: pinned here,
 * never faulted in). The 4 KiB prefetch one level up: a guest that maps
 * its memory with 2 MiB pages (a kernel's direct map) takes one fill per
 * window instead of one per page. Rights as prefetch gives them: the
 * entry's own, those of the levels above, no write without the guest's D.
 * Under mmu_lock each guest entry is read again and used only if it did
 * not change, into the same shadow page (gfn and role) at la's place, at
 * a place still empty, in a region still untracked (large_allowed()).
 * Each such leaf is made with SPTE_A clear and SPTE_PREFETCHED set, and
 * counts in PF_PREFETCHED and LARGE_MAPPED (drop_spte() counts it in
 * PF_PREFETCH_UNUSED if the guest never used it).
 */
void large_prefetch(struct shv_vcpu *vcpu, u64 la, struct shv_walk *w, u64 sp_gfn, u32 sp_role)
{
	struct shv_vm *vm = vcpu->vm;
	unsigned int win = prefetch_window();
	int i = (la >> 21) & 511, first = i & ~(win - 1), k, n = 0, done = 0;
	u64 gptes[SHV_PREFETCH_MAX], pde_gpa = w->pte_gpa[2] - (i - first) * 8;
	struct {
		int idx;
		u64 gpte, gfn;
		unsigned int acc;
		bool global, ro_slot;
		struct page *huge;
	} e[SHV_PREFETCH_MAX];
	struct shv_sp *sp;
	u64 *sptep;

	if (!win || w->levels < 3 || w->leaf_level != 2 ||
	    read_window(vm, pde_gpa, 8, win, gptes, false))
		return;
	for (k = 0; k < win; k++) {
		enum shv_large_why why;
		struct shv_slot *slot;
		struct page *pg;

		if (first + k == i ||
		    !shv_gpte_large_prefetchable(vcpu, w->levels, gptes[k], &e[n].gfn,
						 &e[n].acc, &e[n].global))
			continue;
		slot = shv_gfn_to_slot(vm, e[n].gfn);
		if (!slot || region_tracked_hint(vm, e[n].gfn))
			continue;
		pg = shv_gfn_region_pin(vm, e[n].gfn, false);
		if (!pg)
			continue;
		e[n].huge = large_prepare_gfn(vm, e[n].gfn, slot, pg, &why);
		if (!e[n].huge)
			continue;
		e[n].acc &= w->access_above[2];
		if (!(gptes[k] & SPTE_D))	/* the guest's D bit, same position */
			e[n].acc &= ~ACC_W;
		e[n].ro_slot = slot->flags & SHADOWVM_MEM_READONLY;
		e[n].gpte = gptes[k];
		e[n++].idx = first + k;
	}
	if (!n)
		return;
	mutex_lock(&vm->mmu_lock);
	sptep = path_end_at(vcpu, la, false, &sp);
	if (!sptep || sp->role.level != 2 || sp->zapped || sp->gfn != sp_gfn ||
	    sp->role.word != sp_role || read_window(vm, pde_gpa, 8, win, gptes, true))
		goto out;
	for (k = 0; k < n; k++) {
		sptep = &sp->spt[e[k].idx];
		if (spte_present(*sptep) || gptes[e[k].idx - first] != e[k].gpte ||
		    !large_allowed(vm, e[k].gfn))
			continue;
		sp->gfns[e[k].idx] = e[k].gfn;
		if (large_rmap_add(vm, e[k].gfn, sptep))
			break;	/* no memory: the entries stay for their own faults */
		*sptep = (make_leaf(vcpu, e[k].huge, e[k].acc, e[k].global, false, e[k].ro_slot) &
			  ~SPTE_A) | SPTE_PS | SPTE_PREFETCHED;
		done++;
	}
	*vm_stat(vm, SHADOWVM_STAT_PF_PREFETCHED) += done;
	*vm_stat(vm, SHADOWVM_STAT_LARGE_MAPPED) += done;
out:
	mutex_unlock(&vm->mmu_lock);
}
