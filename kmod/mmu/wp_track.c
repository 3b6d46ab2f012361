// SPDX-License-Identifier: GPL-2.0
/*
 * Write tracking of guest frames. Contract: each frame of a memory slot
 * has a reverse map (every shadow leaf entry that maps it) and a count of
 * the synced shadow pages that shadow it as a guest table (wp_count, kept
 * by sp_cache.c). While the count is non-zero no shadow entry maps the
 * frame writable: write_protect_gfn() clears W in every mapping, and the
 * fill path asks gfn_write_protected() before granting W. Reverse maps
 * are allocated on first use and freed with their slot. mmu_lock held.
 */
#include "mmu_internal.h"

/* ---- reverse map and write-protection bookkeeping ---- */

/*
 * The reverse map of a guest frame lives in its slot (allocated on first
 * use, under mmu_lock). Frames outside every slot have none. The caller
 * holds vm->srcu or vm->lock, so the slot cannot go away meanwhile.
 */
struct shv_rmap *gfn_rmap(struct shv_vm *vm, u64 gfn, bool create)
{
	struct shv_slot *s = shv_gfn_to_slot(vm, gfn);

	if (!s)
		return NULL;
	if (!s->rmap) {
		if (!create)
			return NULL;
		s->rmap = shv_zalloc(s->npages * sizeof(struct shv_rmap));
		if (!s->rmap)
			return NULL;
	}
	return &s->rmap[gfn - s->base_gfn];
}

/*
 * The reverse map of a frame is an unordered array of shadow entries
 * (inline while there is one: most frames are mapped once, and their
 * fill allocates nothing); each leaf shadow page remembers where its
 * entries sit in it (sp->rmap_idx), so adding and removing are O(1)
 * however many times the frame is mapped (teardown is linear in the
 * number of shadow entries).
 */
static inline u32 *spte_rmap_idx(u64 *sptep)
{
	struct shv_sp *sp = page_sp(sptep);

	return &sp->rmap_idx[sptep - sp->spt];
}

int rmap_add(struct shv_vm *vm, u64 gfn, u64 *sptep)
{
	struct shv_rmap *rm = gfn_rmap(vm, gfn, true);

	lockdep_assert_held(&vm->mmu_lock);
	if (!rm)
		return -ENOMEM;
	if (rm->nr == (rm->max ? rm->max : 1)) {
		u32 nmax = rm->max ? rm->max * 2 : 4;
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

void rmap_remove(struct shv_vm *vm, u64 gfn, u64 *sptep)
{
	struct shv_rmap *rm = gfn_rmap(vm, gfn, false);
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
			*sptes[i] &= ~(SPTE_RW);
			flushed = true;
		}
	}
	if (flushed)
		kick_flush_all(vm);
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
	struct shv_rmap *rm = s ? READ_ONCE(s->rmap) : NULL;

	return rm && READ_ONCE(rm[gfn - s->base_gfn].wp_count);
}

/*
 * A slot is being freed: no shadow entry maps its frames any more
 * (zapped after it was unpublished), so its reverse map goes with it.
 */
void shv_mmu_slot_removed(struct shv_vm *vm, struct shv_slot *slot)
{
	struct shv_rmap *rm = slot->rmap;
	u64 j;

	if (!rm)
		return;
	for (j = 0; j < slot->npages; j++)
		if (rm[j].max)
			shv_kfree(rm[j].sptes);
	shv_kfree(rm);
	slot->rmap = NULL;
}
