// SPDX-License-Identifier: GPL-2.0
/*
 * Roots and address spaces. Contract: each vCPU caches up to
 * root_cache_size roots keyed by (CR3, role, PAE PDPTEs); switch_root()
 * finds the root of the current CR3 or builds it (evicting the least
 * recently used), so that the hardware CR3 of a running guest always
 * points at a live shadow root. A root holds its shadow page
 * (root_count), which is zapped when the last holder lets go and nothing
 * links to it. Also the per-CR3 counters (debugfs address_spaces) and
 * the zap of everything. mmu_lock held except where said.
 */
#include <linux/seq_file.h>
#include "mmu_internal.h"

/* ---- contexts and roots ---- */

union shv_role context_role(struct shv_vcpu *vcpu)
{
	union shv_role r = { .word = 0 };
	int levels = shv_guest_levels(vcpu);

	r.guest_levels = levels;
	r.gpte4 = levels == 2;
	r.cr4_pse = levels == 2 && (vcpu->cr4 & X86_CR4_PSE);
	r.direct = levels == 0;
	r.cr0_wp = !!(vcpu->cr0 & X86_CR0_WP);
	r.smep_andnot_wp = (vcpu->cr4 & X86_CR4_SMEP) && !(vcpu->cr0 & X86_CR0_WP);
	r.smap_andnot_wp = (vcpu->cr4 & X86_CR4_SMAP) && !(vcpu->cr0 & X86_CR0_WP);
	r.nxe = !!(vcpu->efer & EFER_NX);
	r.access = ACC_ALL;
	r.level = levels == 4 ? 4 : 3;
	return r;
}

void root_release(struct shv_vm *vm, struct shv_root *root)
{
	struct shv_sp *sp = root->sp;

	lockdep_assert_held(&vm->mmu_lock);
	if (!sp)
		return;
	root->sp = NULL;
	smp_mb();	/* root->sp = NULL before the zap: pairs with shv_mmu_root_hpa() */
	/* the caller's commit_zap() frees it once no vCPU runs on it */
	if (--sp->root_count == 0 && !sp->zapped &&
	    (sp->role.pae_root || !sp->nr_parents))
		sp_zap(vm, sp);
}

void vcpu_drop_roots(struct shv_vcpu *vcpu)
{
	struct shv_vm *vm = vcpu->vm;
	int i;

	lockdep_assert_held(&vm->mmu_lock);
	for (i = 0; i < vcpu->mmu->nr_used; i++)	/* the others were never used */
		root_release(vm, &vcpu->mmu->roots[i]);
	vcpu->mmu->cur = NULL;
}

/*
 * Take a shadow page out of every root cache (a flooded or dead root), so
 * that it can be zapped; a vCPU running on it rebuilds its root before
 * the next entry. mmu_lock held.
 */
void sp_evict_roots(struct shv_vm *vm, struct shv_sp *sp)
{
	int i, j;

	lockdep_assert_held(&vm->mmu_lock);
	for (i = 0; i < SHADOWVM_MAX_VCPUS && sp->root_count; i++) {
		struct shv_vcpu *v = vm_vcpu(vm, i);

		if (!v || !v->mmu)
			continue;
		for (j = 0; j < v->mmu->nr_used; j++) {
			struct shv_root *r = &v->mmu->roots[j];

			if (r->sp != sp)
				continue;
			if (v->mmu->cur == r)
				WRITE_ONCE(v->mmu->cur, NULL);
			root_release(vm, r);
		}
	}
}

/* mmu_lock held: every shadow page goes. */
void shv_mmu_zap_all(struct shv_vm *vm)
{
	struct shv_sp *sp;
	int i;

	lockdep_assert_held(&vm->mmu_lock);
	if (!vm->mmu)
		return;
	for (i = 0; i < SHADOWVM_MAX_VCPUS; i++) {
		struct shv_vcpu *v = vm_vcpu(vm, i);

		if (v && v->mmu)
			vcpu_drop_roots(v);
	}
	while (!list_empty(&vm->mmu->active)) {
		sp = list_first_entry(&vm->mmu->active, struct shv_sp, link);
		sp_zap(vm, sp);
	}
	commit_zap(vm);
	kick_flush_all(vm);
}

static struct shv_as *as_lookup(struct shv_vm *vm, u64 cr3)
{
	struct shv_as *as;
	u32 h = hash_64(cr3, 6);

	hlist_for_each_entry(as, &vm->mmu->as_hash[h], node)
		if (as->cr3 == cr3)
			return as;
	if (vm->mmu->nr_as >= MAX_AS)
		return NULL;
	as = shv_zalloc(sizeof(*as));
	if (!as)
		return NULL;
	as->cr3 = cr3;
	hlist_add_head(&as->node, &vm->mmu->as_hash[h]);
	vm->mmu->nr_as++;
	*vm_stat(vm, SHADOWVM_STAT_ADDRESS_SPACES) = vm->mmu->nr_as;
	return as;
}

u64 cr3_key(struct shv_vcpu *vcpu)
{
	int levels = shv_guest_levels(vcpu);

	if (levels == 4)
		return vcpu->cr3 & GENMASK_ULL(51, 12);
	if (levels == 3)
		return vcpu->cr3 & 0xffffffe0ULL;
	if (levels == 2)
		return vcpu->cr3 & 0xfffff000ULL;
	return 0;
}

/* Build a new root for the current context; mmu_lock held. */
static struct shv_sp *build_root(struct shv_vcpu *vcpu)
{
	struct shv_vm *vm = vcpu->vm;
	union shv_role role = vcpu->mmu->base_role;
	int levels = role.guest_levels;
	struct shv_sp *root;
	bool created;
	int i;

	lockdep_assert_held(&vm->mmu_lock);
	if (levels == 4) {
		role.level = 4;
		root = sp_get(vm, cr3_key(vcpu) >> PAGE_SHIFT, role, &created);
		if (root)
			root->root_count++;
		return root;
	}
	/* PAE-format root: a 4-entry PDPT below 4 GiB */
	role.level = 3;
	role.pae_root = 1;
	root = sp_get(vm, cr3_key(vcpu) >> PAGE_SHIFT, role, &created);
	if (!root)
		return NULL;
	root->root_count++;
	for (i = 0; i < 4; i++) {
		union shv_role cr = vcpu->mmu->base_role;
		struct shv_sp *child;
		u64 gfn;

		cr.level = 2;
		if (levels == 0) {
			gfn = (u64)i << (30 - PAGE_SHIFT);
		} else if (levels == 2) {
			gfn = cr3_key(vcpu) >> PAGE_SHIFT;
			cr.quadrant = i;
		} else {
			u64 pdpte = vcpu->pdptrs[i];

			if (!(pdpte & SPTE_P))
				continue;
			gfn = (pdpte & GENMASK_ULL(51, 12)) >> PAGE_SHIFT;
		}
		child = sp_get(vm, gfn, cr, &created);
		if (!child)
			continue;	/* a hole: the fault path fills it or fails */
		if (sp_add_parent(child, &root->spt[i])) {
			if (!child->nr_parents && !child->root_count)
				sp_zap(vm, child);
			continue;
		}
		root->spt[i] = page_to_phys(child->page) | SPTE_P;
	}
	return root;
}

/* Find or build the root for the guest's current CR3; mmu_lock held. */
int switch_root(struct shv_vcpu *vcpu, bool count)
{
	struct shv_mmu_vcpu *m = vcpu->mmu;
	struct shv_vm *vm = vcpu->vm;
	u64 key = cr3_key(vcpu);
	int levels = shv_guest_levels(vcpu);
	u32 role = m->base_role.word;
	struct shv_root *victim = NULL;
	struct shv_as *as = NULL;
	int i;

	lockdep_assert_held(&vm->mmu_lock);
	if (levels)
		as = as_lookup(vm, key);
	if (as && count)
		as->loads++;
	/*
	 * Only the slots ever used are scanned, so a CR3 load costs what the
	 * guest's address-space count asks, not the cache size: first for a
	 * live root of this CR3 and role (a hit), then, on a miss, to release
	 * the roots whose page was zapped and to pick the victim: the first
	 * free slot, else a never-used one, else the least recently used root.
	 */
	for (i = 0; i < m->nr_used; i++) {
		struct shv_root *r = &m->roots[i];

		if (r->cr3 != key || !r->sp || r->sp->zapped || r->role != role ||
		    (levels == 3 && memcmp(r->pdptrs, vcpu->pdptrs, sizeof(r->pdptrs))))
			continue;
		r->last_used = ++vm->mmu->clock;
		m->cur = r;
		if (count) {
			shv_stat_inc(vcpu, ROOT_HITS);
			if (as)
				as->root_hits++;
		}
		trace_root_switch(key, 1);
		return 0;
	}
	for (i = 0; i < m->nr_used; i++) {
		struct shv_root *r = &m->roots[i];

		if (r->sp && r->sp->zapped)
			root_release(vm, r);
		if (!victim || (victim->sp && (!r->sp || r->last_used < victim->last_used)))
			victim = r;
	}
	if ((!victim || victim->sp) && m->nr_used < m->nr_roots)
		victim = &m->roots[m->nr_used++];
	if (count) {
		shv_stat_inc(vcpu, ROOT_MISSES);
		if (as)
			as->root_misses++;
	}
	trace_root_switch(key, 0);
	root_release(vm, victim);
	commit_zap(vm);
	make_room(vm, 8);
	victim->sp = build_root(vcpu);
	if (!victim->sp) {
		m->cur = NULL;
		return -ENOMEM;
	}
	victim->cr3 = key;
	victim->role = m->base_role.word;
	memcpy(victim->pdptrs, vcpu->pdptrs, sizeof(victim->pdptrs));
	victim->last_used = ++vm->mmu->clock;
	victim->as = as;
	m->cur = victim;
	return 0;
}

int shv_mmu_load(struct shv_vcpu *vcpu)
{
	struct shv_vm *vm = vcpu->vm;
	int r;

	if (shv_mmu_root_valid(vcpu))
		return 0;
	mutex_lock(&vm->mmu_lock);
	r = switch_root(vcpu, false);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	WRITE_ONCE(vcpu->flush_pending, true);
	return r;
}

bool shv_mmu_root_valid(struct shv_vcpu *vcpu)
{
	return shv_mmu_root_hpa(vcpu) != 0;
}

/* The root to enter with, or 0; safe against a concurrent zap. */
u64 shv_mmu_root_hpa(struct shv_vcpu *vcpu)
{
	struct shv_root *cur = READ_ONCE(vcpu->mmu->cur);
	struct shv_sp *sp = cur ? READ_ONCE(cur->sp) : NULL;

	if (!sp || READ_ONCE(sp->zapped))
		return 0;
	return page_to_phys(sp->page);
}

/* debugfs: one line per guest address space */
void shv_mmu_show_as(struct shv_vm *vm, struct seq_file *m)
{
	struct shv_as *as;
	int i;

	seq_puts(m, "cr3 loads root_hits root_misses pf_true pf_hidden pt_writes\n");
	mutex_lock(&vm->mmu_lock);
	for (i = 0; i < ARRAY_SIZE(vm->mmu->as_hash); i++)
		hlist_for_each_entry(as, &vm->mmu->as_hash[i], node)
			seq_printf(m, "0x%llx %llu %llu %llu %llu %llu %llu\n", as->cr3,
				   as->loads, as->root_hits, as->root_misses, as->pf_true,
				   as->pf_hidden, as->pt_writes);
	mutex_unlock(&vm->mmu_lock);
}
