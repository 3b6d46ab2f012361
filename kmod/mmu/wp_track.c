// SPDX-License-Identifier: GPL-2.0
/*
 * Write tracking of guest frames. Contract: each frame of a memory slot
 * has a reverse map (every shadow leaf entry that maps it) and a count of
 * the synced shadow pages that shadow it as a guest table (wp_count, kept
 * by sp_cache.c). While the count is non-zero no shadow entry maps the
 * frame writable: write_protect_gfn() clears W in every mapping, and the
 * fill path asks gfn_write_protected() before granting W. Each 2 MiB
 * region of a slot also has a reverse map of the 2 MiB shadow leaves that
 * map it and the number of its frames whose count is non-zero
 * (wp_track_region(), called by sp_cache.c on each 0 <-> 1 change): a
 * large leaf is only built over a region whose number is 0, and
 * sp_cache.c zaps the region's large leaves when it becomes non-zero.
 * Reverse maps are allocated on first use and freed with their slot.
 * mmu_lock held.
 */
#include "mmu_internal.h"

/* ---- reverse map and write-protection bookkeeping ---- */

/*
 * The reverse map of a guest frame lives in its slot (allocated on first
 * use, under mmu_lock), followed by one struct shv_lpage per 2 MiB region
 * the slot touches. Frames outside every slot have none. The caller
 * holds vm->srcu or vm->lock, so the slot cannot go away meanwhile.
 */
static u64 slot_nr_lpages(const struct shv_slot *s)
{
	return ((s->base_gfn + s->npages - 1) >> 9) - (s->base_gfn >> 9) + 1;
}

static struct shv_lpage *slot_lpages(const struct shv_slot *s, struct shv_rmap *rmap)
{
	return (struct shv_lpage *)(rmap + s->npages);
}

static struct shv_rmap *slot_rmap(struct shv_slot *s, bool create)
{
	struct shv_rmap *rm = s->rmap;

	if (!rm && create) {
		rm = shv_zalloc(s->npages * sizeof(struct shv_rmap) +
				slot_nr_lpages(s) * sizeof(struct shv_lpage));
		/* zeroed before seen: pairs with gfn_write_protected_hint() */
		smp_store_release(&s->rmap, rm);
	}
	return rm;
}

struct shv_rmap *gfn_rmap(struct shv_vm *vm, u64 gfn, bool create)
{
	struct shv_slot *s = shv_gfn_to_slot(vm, gfn);
	struct shv_rmap *rm = s ? slot_rmap(s, create) : NULL;

	return rm ? &rm[gfn - s->base_gfn] : NULL;
}

/* The 2 MiB region of gfn (in its slot), or NULL. */
struct shv_lpage *gfn_lpage(struct shv_vm *vm, u64 gfn, bool create)
{
	struct shv_slot *s = shv_gfn_to_slot(vm, gfn);
	struct shv_rmap *rm = s ? slot_rmap(s, create) : NULL;

	return rm ? &slot_lpages(s, rm)[(gfn >> 9) - (s->base_gfn >> 9)] : NULL;
}

/*
 * A frame of gfn's region became write-tracked (delta +1) or stopped
 * being so (-1). The caller (sp_cache.c) holds the frame's reverse map,
 * so the region's exists.
 */
void wp_track_region(struct shv_vm *vm, u64 gfn, int delta)
{
	struct shv_lpage *lp = gfn_lpage(vm, gfn, false);

	lockdep_assert_held(&vm->mmu_lock);
	if (WARN_ON_ONCE(!lp))
		return;
	WRITE_ONCE(lp->tracked, lp->tracked + delta);
}

/*
 * Is a frame of gfn's 2 MiB region write-tracked? A hint without
 * mmu_lock, for skipping the pinning a large leaf needs; the fill asks
 * again under the lock.
 */
bool region_tracked_hint(struct shv_vm *vm, u64 gfn)
{
	struct shv_slot *s = shv_gfn_to_slot(vm, gfn);
	/* the array zeroed before seen: pairs with slot_rmap() */
	struct shv_rmap *rm = s ? smp_load_acquire(&s->rmap) : NULL;

	return rm && READ_ONCE(slot_lpages(s, rm)[(gfn >> 9) - (s->base_gfn >> 9)].tracked);
}

/*
 * The reverse map of a frame is an unordered array of shadow entries
 * (inline while there are at most two: most frames are mapped once or
 * twice, and their fills allocate nothing); each leaf shadow page remembers where its
 * entries sit in it (sp->rmap_idx), so adding and removing are O(1)
 * however many times the frame is mapped (teardown is linear in the
 * number of shadow entries).
 */
static inline u32 *spte_rmap_idx(u64 *sptep)
{
	struct shv_sp *sp = page_sp(sptep);

	return &sp->rmap_idx[sptep - sp->spt];
}

static int rmap_push(struct shv_rmap *rm, u64 *sptep)
{
	if (!rm)
		return -ENOMEM;
	if (rm->nr == (rm->max ? rm->max : SHV_RMAP_INLINE)) {
		u32 nmax = rm->max ? rm->max * 2 : 2 * SHV_RMAP_INLINE;
		u64 **n = shv_zalloc(nmax * sizeof(*n));

		if (!n)
			return -ENOMEM;
		memcpy(n, rmap_sptes(rm), rm->nr * sizeof(*n));
		if (rm->max)
			shv_kfree(rm->sptes);
		rm->sptes = n;
		rm->max = nmax;
	}
	*spte_rmap_idx(sptep) = rm->nr;
	rmap_sptes(rm)[rm->nr++] = sptep;
	return 0;
}

static void rmap_del(struct shv_rmap *rm, u64 *sptep)
{
	u32 i, *idx = spte_rmap_idx(sptep);
	u64 *last, **sptes;

	if (!rm)
		return;
	i = *idx;
	sptes = rmap_sptes(rm);
	if (WARN_ON_ONCE(i >= rm->nr || sptes[i] != sptep))
		return;
	last = sptes[--rm->nr];
	sptes[i] = last;
	*spte_rmap_idx(last) = i;
}

int rmap_add(struct shv_vm *vm, u64 gfn, u64 *sptep)
{
	lockdep_assert_held(&vm->mmu_lock);
	return rmap_push(gfn_rmap(vm, gfn, true), sptep);
}

/*
 * rmap_add() for a new leaf, with one slot lookup: whether gfn is
 * write-protected (gfn_write_protected()) in *wp, its slot in *slot
 * (NULL: outside every slot, -ENOMEM) when slot is not NULL.
 */
int rmap_add_leaf(struct shv_vm *vm, u64 gfn, u64 *sptep, bool *wp, struct shv_slot **slot)
{
	struct shv_slot *s = shv_gfn_to_slot(vm, gfn);
	struct shv_rmap *rm = s ? slot_rmap(s, true) : NULL;

	lockdep_assert_held(&vm->mmu_lock);
	if (slot)
		*slot = s;
	if (!rm)
		return -ENOMEM;
	rm += gfn - s->base_gfn;
	*wp = rm->wp_count;
	return rmap_push(rm, sptep);
}

void rmap_remove(struct shv_vm *vm, u64 gfn, u64 *sptep)
{
	rmap_del(gfn_rmap(vm, gfn, false), sptep);
}

/* A 2 MiB leaf at sptep maps the region of gfn / stops mapping it. */
int large_rmap_add(struct shv_vm *vm, u64 gfn, u64 *sptep)
{
	struct shv_lpage *lp = gfn_lpage(vm, gfn, true);

	lockdep_assert_held(&vm->mmu_lock);
	return rmap_push(lp ? &lp->large : NULL, sptep);
}

void large_rmap_remove(struct shv_vm *vm, u64 gfn, u64 *sptep)
{
	struct shv_lpage *lp = gfn_lpage(vm, gfn, false);

	rmap_del(lp ? &lp->large : NULL, sptep);
}

/* Clear W in every shadow entry mapping gfn (it became a page table). */
void write_protect_gfn(struct shv_vm *vm, u64 gfn)
{
	struct shv_rmap *rm = gfn_rmap(vm, gfn, false);
	bool flushed = false;
	u64 **sptes;
	u32 i;

	lockdep_assert_held(&vm->mmu_lock);
	if (!rm)
		return;
	sptes = rmap_sptes(rm);
	for (i = 0; i < rm->nr; i++) {
		if (*sptes[i] & SPTE_RW) {
			*sptes[i] = (*sptes[i] & ~SPTE_RW) | SPTE_WP_ONLY;
			flushed = true;
		}
	}
	if (flushed)
		kick_flush_all(vm);
}

/*
 * The frame is no guest table any more (its last synced shadow page
 * went): give back the write right that write protection alone took
 * (SPTE_WP_ONLY). Adding a right needs no TLB flush: a stale read-only
 * translation only faults, and the fault finds the entry writable.
 */
void write_unprotect_gfn(struct shv_vm *vm, u64 gfn)
{
	struct shv_rmap *rm = gfn_rmap(vm, gfn, false);
	u64 **sptes;
	u32 i;

	lockdep_assert_held(&vm->mmu_lock);
	if (!rm || rm->wp_count)
		return;
	sptes = rmap_sptes(rm);
	for (i = 0; i < rm->nr; i++)
		if (*sptes[i] & SPTE_WP_ONLY)
			*sptes[i] = (*sptes[i] & ~SPTE_WP_ONLY) | SPTE_RW | SPTE_D;
}

bool gfn_write_protected(struct shv_vm *vm, u64 gfn)
{
	struct shv_rmap *rm = gfn_rmap(vm, gfn, false);

	return rm && rm->wp_count;
}

/*
 * The same as a hint, without mmu_lock: for skipping work that only a
 * fill needs (the caller asks gfn_write_protected() again under the lock).
 * The slot and its reverse map stay while the caller holds vm->srcu.
 */
bool gfn_write_protected_hint(struct shv_vm *vm, u64 gfn)
{
	struct shv_slot *s = shv_gfn_to_slot(vm, gfn);
	/* the array zeroed before seen: pairs with slot_rmap() */
	struct shv_rmap *rm = s ? smp_load_acquire(&s->rmap) : NULL;

	return rm && READ_ONCE(rm[gfn - s->base_gfn].wp_count);
}

/*
 * A slot is being freed: no shadow entry maps its frames any more
 * (zapped after it was unpublished), so its reverse map goes with it.
 */
void shv_mmu_slot_removed(struct shv_vm *vm, struct shv_slot *slot)
{
	struct shv_rmap *rm = slot->rmap;
	struct shv_lpage *lp;
	u64 j;

	if (!rm)
		return;
	for (j = 0; j < slot->npages; j++)
		if (rm[j].max)
			shv_kfree(rm[j].sptes);
	lp = slot_lpages(slot, rm);
	for (j = 0; j < slot_nr_lpages(slot); j++)
		if (lp[j].large.max)
			shv_kfree(lp[j].large.sptes);
	shv_kfree(rm);
	slot->rmap = NULL;
}
