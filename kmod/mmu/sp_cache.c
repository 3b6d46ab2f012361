// SPDX-License-Identifier: GPL-2.0
/*
 * Shadow pages. Contract: a shadow page is keyed by (guest table frame,
 * role) in a hash and shared by every table that reaches that guest table
 * with the same role; sp_get() finds or creates it (write-protecting the
 * frame through wp_track.c and zapping the 2 MiB shadow leaves over it:
 * no large leaf maps a write-tracked frame), sp_add_parent() records
 * each shadow entry that points at it, sp_zap() unlinks it from all of
 * them and queues it, and commit_zap() frees the queue once no vCPU can
 * still run on it. A synced page that loses its last link is kept, a
 * bounded number of them, for a link to it again (sp_orphan()); under wp
 * a leaf page whose table is being rewritten is kept unlinked and stale,
 * and resynced when linked again (sp_zap_rewritten()). The VM's
 * count of shadow pages is capped (max_shadow_pages): make_room()
 * recycles those kept first, then the oldest pages that no root cache
 * holds. mmu_lock held.
 */
#include "mmu_internal.h"

/* ---- shadow pages ---- */

/* Keyed by frame only: every shadow page of one guest frame shares a bucket. */
static u32 sp_hash(u64 gfn)
{
	return hash_64(gfn, SP_HASH_BITS);
}

/*
 * Collect every live shadow page of a guest table frame (not direct ones)
 * on @out, however many there are. The caller may zap any of them while
 * walking the list: zapped pages are only freed by commit_zap(), and a
 * caller skips entries whose ->zapped is set. mmu_lock held; the list is
 * only valid until the lock is dropped.
 */
int gfn_sps(struct shv_vm *vm, u64 gfn, struct list_head *out)
{
	struct shv_sp *sp;
	int n = 0;

	lockdep_assert_held(&vm->mmu_lock);
	INIT_LIST_HEAD(out);
	hlist_for_each_entry(sp, &vm->mmu->hash[sp_hash(gfn)], hash) {
		if (sp->gfn != gfn || sp->role.direct || sp->zapped)
			continue;
		list_add_tail(&sp->gfn_link, out);
		n++;
	}
	return n;
}

/*
 * Is another live leaf shadow page of sp's guest table there, of another
 * role (the other quadrant of a 32-bit table does not count)? Then sp was
 * created for a role change (CR0.WP, CR4, EFER), not because the table
 * was rebuilt. mmu_lock held.
 */
bool sp_other_role_live(struct shv_vm *vm, struct shv_sp *sp)
{
	union shv_role r = sp->role;
	struct shv_sp *o;

	lockdep_assert_held(&vm->mmu_lock);
	r.quadrant = 0;
	hlist_for_each_entry(o, &vm->mmu->hash[sp_hash(sp->gfn)], hash) {
		union shv_role q = o->role;

		q.quadrant = 0;
		if (o != sp && o->gfn == sp->gfn && !o->zapped && !q.direct &&
		    q.level == 1 && q.word != r.word)
			return true;
	}
	return false;
}

/*
 * A leaf shadow page that had a whole-table prefetch goes: judge it. More
 * than half of what prefetch put in it dropped untouched: the table is
 * not used densely (any more): clear its dense mark and count a strike;
 * else its strikes are forgiven.
 */
static void sp_judge_table_pf(struct shv_vm *vm, struct shv_sp *sp)
{
	struct shv_rmap *rm;

	if (!sp->table_pf || sp->role.direct || sp->role.level != 1)
		return;
	rm = gfn_rmap(vm, sp->gfn, false);
	if (!rm)
		return;
	if (sp->pf_unused * 2 > sp->pf_n) {
		rm->dense = 0;
		if (rm->sparse < SHV_SPARSE_MAX)
			rm->sparse++;
	} else {
		rm->sparse = 0;
	}
}

/*
 * Record that *sptep points at sp. On failure nothing is recorded and
 * the caller must not leave *sptep pointing at sp: an unrecorded parent
 * entry would survive sp's zap and point at freed memory.
 */
int __must_check sp_add_parent(struct shv_sp *sp, u64 *sptep)
{
	if (sp->nr_parents == sp->max_parents) {
		int nmax = sp->max_parents ? sp->max_parents * 2 : 4;
		u64 **n = shv_zalloc(nmax * sizeof(*n));

		if (!n)
			return -ENOMEM;
		if (sp->parents)
			memcpy(n, sp->parents, sp->nr_parents * sizeof(*n));
		shv_kfree(sp->parents);
		sp->parents = n;
		sp->max_parents = nmax;
	}
	sp->parents[sp->nr_parents++] = sptep;
	return 0;
}

static void sp_remove_parent(struct shv_sp *sp, u64 *sptep)
{
	int i;

	for (i = 0; i < sp->nr_parents; i++) {
		if (sp->parents[i] == sptep) {
			sp->parents[i] = sp->parents[--sp->nr_parents];
			return;
		}
	}
}

void sp_account_wp(struct shv_vm *vm, struct shv_sp *sp, int delta)
{
	struct shv_rmap *rm;

	lockdep_assert_held(&vm->mmu_lock);
	if (sp->role.direct || sp->role.pae_root || sp->unsync ||
	    !policy(vm)->write_protect)
		return;
	rm = gfn_rmap(vm, sp->gfn, true);
	if (!rm)
		return;
	if (delta > 0) {
		if (rm->wp_count++ == 0) {
			/* a large leaf would map this table writable: break it up */
			wp_track_region(vm, sp->gfn, 1);
			zap_large_over(vm, sp->gfn);
			write_protect_gfn(vm, sp->gfn);
		}
	} else {
		if (--rm->wp_count == 0) {
			wp_track_region(vm, sp->gfn, -1);
			write_unprotect_gfn(vm, sp->gfn);
		}
	}
}

/*
 * Drop every 2 MiB shadow leaf over gfn's region: a frame in it became
 * a guest page table (KVM's disallow_lpage). The next access refaults
 * and maps the region with 4 KiB entries, that frame read-only.
 */
void zap_large_over(struct shv_vm *vm, u64 gfn)
{
	struct shv_lpage *lp = gfn_lpage(vm, gfn, false);

	lockdep_assert_held(&vm->mmu_lock);
	if (!lp || !lp->large.nr)
		return;
	while (lp->large.nr) {
		drop_spte(vm, rmap_sptes(&lp->large)[lp->large.nr - 1]);
		(*vm_stat(vm, SHADOWVM_STAT_LARGE_ZAPPED))++;
	}
	kick_flush_all(vm);
}

/* sp is linked again, or goes: off the orphan list. */
static void sp_unorphan(struct shv_vm *vm, struct shv_sp *sp)
{
	if (list_empty(&sp->orphan_link))
		return;
	list_del_init(&sp->orphan_link);
	vm->mmu->nr_orphans--;
}

/*
 * The last shadow entry linking sp was dropped and no root cache holds
 * it (e.g. the shadow page of its parent table was zapped by a flood,
 * or the guest rewrote the parent entry). A synced page stays as it is,
 * write-protected and kept coherent by pt_write.c, so that the next
 * fault through a parent entry for the same table and role links it
 * again with its entries instead of building it anew (what KVM does with
 * a shadow page that loses its last parent). Kept on mmu->orphans, at
 * most orphans_max(): make_room() zaps the oldest beyond that, and before
 * any linked page; a guest write to the frame zaps it (zap_orphans()).
 * An unsync page goes at once (it would be resynced at every guest flush
 * for nothing), and so does a direct one (the split of a guest large page,
 * whose role carries the page's rights: a page of another role replaces
 * it when those change, and its large leaves would linger).
 */
static void sp_orphan(struct shv_vm *vm, struct shv_sp *sp)
{
	if (sp->zapped)
		return;
	if (sp->unsync || sp->role.pae_root || sp->role.direct) {
		sp_zap(vm, sp);
		return;
	}
	if (!list_empty(&sp->orphan_link))
		return;
	list_add_tail(&sp->orphan_link, &vm->mmu->orphans);
	vm->mmu->nr_orphans++;
}

/* at most 64 orphans, and a quarter of the cap */
static int orphans_max(struct shv_vm *vm)
{
	return min_t(long, 64, vm->mmu->max_pages / 4);
}

/*
 * A guest write faulted on gfn, a write-protected frame: zap the shadow
 * pages of it that nothing links to (orphans): the guest reuses the
 * frame, most likely not as a page table. Returns how many went.
 * mmu_lock held.
 */
int zap_orphans(struct shv_vm *vm, u64 gfn)
{
	struct shv_sp *sp;
	LIST_HEAD(sps);
	int n = 0;

	lockdep_assert_held(&vm->mmu_lock);
	gfn_sps(vm, gfn, &sps);
	list_for_each_entry(sp, &sps, gfn_link) {
		if (sp->zapped || sp->unsync || sp->nr_parents || sp->root_count)
			continue;
		sp_zap(vm, sp);
		n++;
	}
	return n;
}

/* Clear every shadow entry that links sp. */
static void sp_unlink_parents(struct shv_vm *vm, struct shv_sp *sp)
{
	while (sp->nr_parents) {
		u64 *p = sp->parents[sp->nr_parents - 1];

		*p = vm->mmu->pf_bypass && role_traps(vm->mmu, page_sp(p)->role) ?
		     SPTE_TRAP : 0;
		sp->nr_parents--;
	}
}

/*
 * An emulated write showed that the guest rewrites the table of sp (a
 * partial or misaligned write, or a flood): sp must stop being used and
 * the frame may have to be unprotected. Under a policy that resyncs
 * nothing at guest flushes (no cr3_load hook: wp, wp-noemu), a leaf page
 * not in a root cache is unlinked and kept *stale* instead of zapped:
 * marked unsync (not write-protected, so the guest goes on writing the
 * frame natively), reachable from no root (no translation uses it), on
 * the kept list (sp_orphan()); sp_get() resyncs it before it is linked
 * again (sp_resync_entries()), so a table rewritten with mostly the same
 * entries (cleared and filled again) keeps them instead of being rebuilt
 * and prefetched. Anything else is zapped, a root evicted first. Not with
 * the guest #PF bypass (its "notrap" entries would go stale too).
 */
void sp_zap_rewritten(struct shv_vm *vm, struct shv_sp *sp)
{
	struct shv_rmap *rm = gfn_rmap(vm, sp->gfn, false);

	lockdep_assert_held(&vm->mmu_lock);
	if (!rm || sp->zapped || sp->unsync || sp->root_count || sp->role.level != 1 ||
	    sp->role.direct || policy(vm)->cr3_load || role_traps(vm->mmu, sp->role)) {
		/* a cached root too: a process being torn down */
		sp_evict_roots(vm, sp);
		sp_zap(vm, sp);
		return;
	}
	sp_unlink_parents(vm, sp);
	sp_account_wp(vm, sp, -1);
	sp->unsync = true;
	rm->unsync_count++;
	if (list_empty(&sp->orphan_link)) {
		list_add_tail(&sp->orphan_link, &vm->mmu->orphans);
		vm->mmu->nr_orphans++;
	}
	kick_flush_all(vm);
}

/*
 * Resync an unsync page: a stale one that sp_get() found for its new link
 * (sp_zap_rewritten()), or one of the unsync policy at a guest flush.
 * Write-protect the frame again, wait until no other vCPU can still write
 * it through an older translation, then drop each present entry whose
 * guest entry is not the one it was built from (a later write traps and
 * is emulated under mmu_lock). The guest table is read in pieces of 64
 * entries, those holding a present entry only. Returns how many entries
 * went. mmu_lock held.
 */
int sp_resync_entries(struct shv_vm *vm, struct shv_sp *sp)
{
	struct shv_rmap *rm = gfn_rmap(vm, sp->gfn, false);
	int esize = sp->role.gpte4 ? 4 : 8;
	u64 gpa = (sp->gfn << PAGE_SHIFT) + (sp->role.gpte4 ? sp->role.quadrant * 2048 : 0);
	union {
		u64 g8[64];
		u32 g4[64];
	} g;
	int base, k, n = 0;

	lockdep_assert_held(&vm->mmu_lock);
	sp->unsync = false;
	if (rm)
		rm->unsync_count--;
	sp_account_wp(vm, sp, 1);
	flush_remote(vm);
	for (base = 0; base < 512; base += 64) {
		bool ok = false;

		for (k = 0; k < 64 && !spte_present(sp->spt[base + k]); k++)
			;
		if (k == 64)
			continue;
		ok = !shv_read_gpa_pinned(vm, gpa + base * esize, &g, 64 * esize);
		for (k = 0; k < 64; k++) {
			u64 *sptep = &sp->spt[base + k];
			u64 cur;

			if (!spte_present(*sptep))
				continue;
			cur = esize == 4 ? g.g4[k] : g.g8[k];
			if (!ok || cur != sp->gptes[base + k]) {
				drop_spte(vm, sptep);
				n++;
			}
		}
	}
	return n;
}

/* Unlink a shadow page from everything and queue it for freeing. */
void sp_zap(struct shv_vm *vm, struct shv_sp *sp)
{
	int i;

	lockdep_assert_held(&vm->mmu_lock);
	if (sp->zapped)
		return;
	sp->zapped = true;
	sp_unorphan(vm, sp);
	trace_sp_zap(sp->gfn, sp->role.word, sp->role.level);
	sp_unlink_parents(vm, sp);
	for (i = 0; i < 512; i++)
		if (spte_present(sp->spt[i]))
			drop_spte(vm, &sp->spt[i]);
	sp_judge_table_pf(vm, sp);
	if (sp->unsync) {
		struct shv_rmap *rm = gfn_rmap(vm, sp->gfn, false);

		if (rm)
			rm->unsync_count--;
		sp->unsync = false;
	} else {
		sp_account_wp(vm, sp, -1);
	}
	hlist_del_init(&sp->hash);
	list_move_tail(&sp->link, &vm->mmu->zapped);
	(*vm_stat(vm, SHADOWVM_STAT_SP_ZAPPED))++;
	kick_flush_all(vm);
}

/*
 * Clear one shadow entry, updating the reverse map or the child page. A
 * "notrap" entry (guest #PF bypass) becomes SPTE_TRAP: the guest entry
 * it stood for may have changed.
 */
void drop_spte(struct shv_vm *vm, u64 *sptep)
{
	u64 spte = *sptep;
	struct shv_sp *sp = page_sp(sptep);
	u64 empty = role_traps(vm->mmu, sp->role) ? SPTE_TRAP : 0;

	lockdep_assert_held(&vm->mmu_lock);
	if (!spte_present(spte)) {
		*sptep = empty;
		return;
	}
	*sptep = empty;
	if (sp->role.level == 1) {
		if ((spte & (SPTE_PREFETCHED | SPTE_A)) == SPTE_PREFETCHED) {
			(*vm_stat(vm, SHADOWVM_STAT_PF_PREFETCH_UNUSED))++;
			sp->pf_unused++;
		}
		rmap_remove(vm, sp->gfns[sptep - sp->spt], sptep);
		return;
	}
	if (spte_is_large(spte, sp->role.level)) {
		if ((spte & (SPTE_PREFETCHED | SPTE_A)) == SPTE_PREFETCHED)
			(*vm_stat(vm, SHADOWVM_STAT_PF_PREFETCH_UNUSED))++;
		large_rmap_remove(vm, sp->gfns[sptep - sp->spt], sptep);
		return;
	}
	{
		struct shv_sp *child = spte_child(spte);

		sp_remove_parent(child, sptep);
		if (!child->nr_parents && !child->root_count)
			sp_orphan(vm, child);
	}
}

static void sp_free(struct shv_sp *sp)
{
	list_del(&sp->link);
	set_page_private(sp->page, 0);
	shv_free_page(sp->page);
	shv_kfree(sp->gfns);
	shv_kfree(sp->gptes);
	shv_kfree(sp->parents);
	shv_kfree(sp);
}

/* Free what sp_zap() queued, once no vCPU can still be using it. */
void commit_zap(struct shv_vm *vm)
{
	struct shv_sp *sp, *tmp;

	lockdep_assert_held(&vm->mmu_lock);
	if (list_empty(&vm->mmu->zapped) && !vm->mmu->need_kick)
		return;
	/*
	 * Other vCPUs still in the guest may hold translations from entries
	 * we removed or made read-only: make them exit (they flush before
	 * re-entering) before anything is freed or the caller goes on.
	 */
	smp_mb();	/* pairs with the barrier after in_guest = true */
	kick_others_sync(vm);
	vm->mmu->need_kick = false;
	list_for_each_entry_safe(sp, tmp, &vm->mmu->zapped, link) {
		if (sp->root_count)
			continue;	/* freed when its last root cache lets go */
		vm->mmu->nr_pages--;
		sp_free(sp);
	}
	*vm_stat(vm, SHADOWVM_STAT_SP_LIVE) = vm->mmu->nr_pages;
}

/* Recycle the oldest non-root shadow pages to stay under the cap. */
void make_room(struct shv_vm *vm, int need)
{
	struct shv_sp *sp;

	lockdep_assert_held(&vm->mmu_lock);
	/* orphans first: the oldest beyond their share, then any under the cap */
	while (!list_empty(&vm->mmu->orphans)) {
		bool cap = vm->mmu->nr_pages + need + 4 > vm->mmu->max_pages;

		if (!cap && vm->mmu->nr_orphans <= orphans_max(vm))
			break;
		sp = list_first_entry(&vm->mmu->orphans, struct shv_sp, orphan_link);
		sp_zap(vm, sp);
		if (cap)
			(*vm_stat(vm, SHADOWVM_STAT_SP_RECYCLED))++;
		commit_zap(vm);
	}
	if (vm->mmu->nr_pages + need <= vm->mmu->max_pages)
		return;
	while (vm->mmu->nr_pages + need + 4 > vm->mmu->max_pages) {
		struct shv_sp *victim = NULL;

		/* oldest first; a zap may move others, so rescan each time */
		list_for_each_entry(sp, &vm->mmu->active, link) {
			if (!sp->root_count && !sp->zapped) {
				victim = sp;
				break;
			}
		}
		if (!victim)
			break;
		sp_zap(vm, victim);
		(*vm_stat(vm, SHADOWVM_STAT_SP_RECYCLED))++;
		commit_zap(vm);
	}
}

static struct shv_sp *sp_lookup(struct shv_vm *vm, u64 gfn, union shv_role role)
{
	struct shv_sp *sp;

	hlist_for_each_entry(sp, &vm->mmu->hash[sp_hash(gfn)], hash)
		if (sp->gfn == gfn && sp->role.word == role.word && !sp->zapped)
			return sp;
	return NULL;
}

struct shv_sp *sp_get(struct shv_vm *vm, u64 gfn, union shv_role role, bool *created)
{
	struct shv_sp *sp;

	lockdep_assert_held(&vm->mmu_lock);
	*created = false;
	if (!role.pae_root) {
		sp = sp_lookup(vm, gfn, role);
		if (sp) {
			sp_unorphan(vm, sp);	/* the caller links it */
			/*
			 * A stale page whose table changed: for table
			 * prefetch a new page (fault.c), windows counted anew
			 */
			if (sp->unsync && !policy(vm)->cr3_load && sp_resync_entries(vm, sp)) {
				sp->fill_wins = 0;
				sp->table_pf = false;
				*created = true;
			}
			return sp;
		}
	}
	/*
	 * A guest table in RAM must be write-protected from the start: get
	 * its reverse map first, so that sp_account_wp() cannot fail.
	 */
	if (!role.direct && !role.pae_root && shv_gfn_to_slot(vm, gfn) &&
	    !gfn_rmap(vm, gfn, true))
		return NULL;
	sp = shv_zalloc(sizeof(*sp));
	if (!sp)
		return NULL;
	sp->page = shv_alloc_page(role.pae_root ? __GFP_DMA32 : 0);
	if (!sp->page)
		goto fail;
	if (role.level <= 2 && !role.pae_root) {
		/* leaves (2 MiB ones at level 2): gfns[512] then rmap_idx[512] */
		sp->gfns = shv_zalloc(512 * (sizeof(u64) + sizeof(u32)));
		if (!sp->gfns)
			goto fail;
		sp->rmap_idx = (u32 *)(sp->gfns + 512);
	}
	if (role.level == 1) {
		if (!role.direct) {
			sp->gptes = shv_zalloc(512 * sizeof(u64));
			if (!sp->gptes)
				goto fail;
		}
	}
	sp->spt = page_address(sp->page);
	if (role_traps(vm->mmu, role))
		memset64(sp->spt, SPTE_TRAP, 512);
	set_page_private(sp->page, (unsigned long)sp);
	sp->gfn = gfn;
	sp->role = role;
	INIT_HLIST_NODE(&sp->hash);
	INIT_LIST_HEAD(&sp->orphan_link);
	if (!role.pae_root)
		hlist_add_head(&sp->hash, &vm->mmu->hash[sp_hash(gfn)]);
	list_add_tail(&sp->link, &vm->mmu->active);
	vm->mmu->nr_pages++;
	(*vm_stat(vm, SHADOWVM_STAT_SP_CREATED))++;
	*vm_stat(vm, SHADOWVM_STAT_SP_LIVE) = vm->mmu->nr_pages;
	trace_sp_create(gfn, role.word, role.level);
	sp_account_wp(vm, sp, 1);
	*created = true;
	return sp;
fail:
	if (sp->page)
		shv_free_page(sp->page);
	shv_kfree(sp->gfns);
	shv_kfree(sp->gptes);
	shv_kfree(sp);
	return NULL;
}
