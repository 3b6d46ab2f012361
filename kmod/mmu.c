// SPDX-License-Identifier: GPL-2.0
/*
 * The shadow MMU.
 *
 * Contract: the hardware CR3 of a running guest always points at a shadow
 * root built here; the guest's own tables are only read by the walker.
 * Shadow tables are PAE format (3 levels) outside long mode and 4-level in
 * long mode. A shadow page is keyed by (guest table frame, role) in a hash
 * and shared by every root that reaches that guest table with the same
 * role. Under the write-protect policy every guest frame shadowed as a
 * page table is mapped read-only by every shadow entry (reverse map), so a
 * guest write to it traps, is emulated, and the affected shadow entries
 * are dropped: every cached root stays coherent. The unsync policy lets
 * leaf tables become writable and resyncs them at CR3 load, INVLPG and
 * flushes; the vTLB policy drops everything at CR3 load and INVLPG.
 * Each vCPU caches up to root_cache_size roots keyed by (CR3, role).
 * Every #PF exit is classified: true faults are injected with the
 * architectural error code and CR2, hidden faults are fixed here.
 * All shadow pages are accounted and freed at VM destruction.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/list.h>
#include <linux/hash.h>
#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/smp.h>
#include <linux/seq_file.h>
#include "shadowvm.h"
#include "vmx_defs.h"
#include "walker.h"
#include "trace.h"

#define SPTE_P		BIT_ULL(0)
#define SPTE_RW		BIT_ULL(1)
#define SPTE_US		BIT_ULL(2)
#define SPTE_A		BIT_ULL(5)
#define SPTE_D		BIT_ULL(6)
#define SPTE_G		BIT_ULL(8)
#define SPTE_NX		BIT_ULL(63)
#define SPTE_ADDR_MASK	0x000ffffffffff000ULL

#define SP_HASH_BITS	10

union shv_role {
	u32 word;
	struct {
		u32 level:3;		/* shadow level of this page */
		u32 gpte4:1;		/* guest entries are 4 bytes (32-bit paging) */
		u32 quadrant:2;		/* part of a 32-bit guest table shadowed */
		u32 direct:1;		/* no guest table: paging off or a split huge page */
		u32 access:3;		/* ACC_* granted by the levels above */
		u32 cr0_wp:1;
		u32 smep_andnot_wp:1;
		u32 smap_andnot_wp:1;
		u32 nxe:1;
		u32 pae_root:1;		/* the 4-entry PDPT of a PAE shadow */
		u32 guest_levels:3;
	};
};

struct shv_sp {
	struct hlist_node hash;
	struct list_head link;		/* mmu->active, oldest first */
	u64 gfn;
	union shv_role role;
	u64 *spt;
	struct page *page;
	u64 *gfns;			/* leaf pages: guest frame of each entry */
	u64 *gptes;			/* indirect leaf pages: guest entry as used */
	u64 **parents;			/* shadow entries pointing here */
	int nr_parents, max_parents;
	int root_count;			/* root caches holding this page */
	int write_count;		/* emulated writes since last used by a fill */
	struct list_head gfn_link;	/* on a gfn_sps() list, under mmu_lock */
	bool unsync;
	bool zapped;
};

struct shv_root {
	u64 cr3;
	u32 role;
	u64 pdptrs[4];
	struct shv_sp *sp;
	u64 last_used;
	struct shv_as *as;
};

/* a guest address space (a CR3 seen) with its own counters */
struct shv_as {
	struct hlist_node node;
	u64 cr3;
	u64 loads, root_hits, root_misses, pf_true, pf_hidden, pt_writes;
};

struct shv_rmap {
	u64 **sptes;
	u32 nr, max;
	u32 wp_count;			/* synced indirect shadow pages of this frame */
	u32 unsync_count;
};

struct shv_mmu_vm {
	struct hlist_head hash[1 << SP_HASH_BITS];
	struct list_head active;
	struct list_head zapped;	/* unlinked, freed after the kick */
	long nr_pages;
	long max_pages;
	struct hlist_head as_hash[64];
	int nr_as;
	u64 clock;
	bool need_kick;			/* shadow entries lost rights */
};

struct shv_mmu_vcpu {
	union shv_role base_role;	/* role of the root for this context */
	struct shv_root *cur;
	struct shv_root *roots;		/* root cache, vm->cfg.root_cache_size */
	int nr_roots;
};

#define MAX_AS	4096

static inline u64 *vm_stat(struct shv_vm *vm, int id)
{
	return &vm->mmu_stats[id];
}

/* ---- reverse map and write-protection bookkeeping ---- */

/*
 * The reverse map of a guest frame lives in its slot (allocated on first
 * use, under mmu_lock). Frames outside every slot have none. The caller
 * holds vm->srcu or vm->lock, so the slot cannot go away meanwhile.
 */
static struct shv_rmap *gfn_rmap(struct shv_vm *vm, u64 gfn, bool create)
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

static int rmap_add(struct shv_vm *vm, u64 gfn, u64 *sptep)
{
	struct shv_rmap *rm = gfn_rmap(vm, gfn, true);

	if (!rm)
		return -ENOMEM;
	if (rm->nr == rm->max) {
		u32 nmax = rm->max ? rm->max * 2 : 4;
		u64 **n = shv_zalloc(nmax * sizeof(*n));

		if (!n)
			return -ENOMEM;
		if (rm->sptes)
			memcpy(n, rm->sptes, rm->nr * sizeof(*n));
		shv_kfree(rm->sptes);
		rm->sptes = n;
		rm->max = nmax;
	}
	rm->sptes[rm->nr++] = sptep;
	return 0;
}

static void rmap_remove(struct shv_vm *vm, u64 gfn, u64 *sptep)
{
	struct shv_rmap *rm = gfn_rmap(vm, gfn, false);
	u32 i;

	if (!rm)
		return;
	for (i = 0; i < rm->nr; i++) {
		if (rm->sptes[i] == sptep) {
			rm->sptes[i] = rm->sptes[--rm->nr];
			return;
		}
	}
}

static struct shv_sp *page_sp(void *p)
{
	return (struct shv_sp *)page_private(virt_to_page(p));
}

static struct shv_sp *spte_child(u64 spte)
{
	return (struct shv_sp *)page_private(pfn_to_page((spte & SPTE_ADDR_MASK) >> PAGE_SHIFT));
}

/* vCPUs are published with smp_store_release() and removed under mmu_lock. */
static struct shv_vcpu *vm_vcpu(struct shv_vm *vm, int i)
{
	return READ_ONCE(vm->vcpus[i]);
}

static void kick_flush_all(struct shv_vm *vm)
{
	int i;

	for (i = 0; i < SHADOWVM_MAX_VCPUS; i++) {
		struct shv_vcpu *v = vm_vcpu(vm, i);

		if (v)
			WRITE_ONCE(v->flush_pending, true);
	}
	vm->mmu->need_kick = true;
}

static void noop_ipi(void *unused)
{
}

/* Make sure no other vCPU still runs on shadow state we are about to free. */
static void kick_others_sync(struct shv_vm *vm)
{
	int i;

	for (i = 0; i < SHADOWVM_MAX_VCPUS; i++) {
		struct shv_vcpu *v = vm_vcpu(vm, i);
		int cpu;

		if (!v || !v->mmu)
			continue;
		/*
		 * in_guest first: it is set (then a full barrier) only after
		 * the vCPU's cpu field is written and with preemption off, so
		 * a vCPU seen in the guest is seen on the CPU it runs on. A
		 * vCPU that left meanwhile flushes before its next entry.
		 */
		if (!READ_ONCE(v->in_guest))
			continue;
		smp_rmb();
		cpu = READ_ONCE(v->cpu);
		if (cpu >= 0)
			smp_call_function_single(cpu, noop_ipi, NULL, 1);
	}
}

/* Clear W in every shadow entry mapping gfn (it became a page table). */
static void write_protect_gfn(struct shv_vm *vm, u64 gfn)
{
	struct shv_rmap *rm = gfn_rmap(vm, gfn, false);
	bool flushed = false;
	u32 i;

	if (!rm)
		return;
	for (i = 0; i < rm->nr; i++) {
		if (*rm->sptes[i] & SPTE_RW) {
			*rm->sptes[i] &= ~(SPTE_RW);
			flushed = true;
		}
	}
	if (flushed)
		kick_flush_all(vm);
}

static bool gfn_write_protected(struct shv_vm *vm, u64 gfn)
{
	struct shv_rmap *rm = gfn_rmap(vm, gfn, false);

	return rm && rm->wp_count;
}

/* ---- shadow pages ---- */

/* Keyed by frame only: every shadow page of one guest frame shares a bucket. */
static u32 sp_hash(u64 gfn)
{
	return hash_64(gfn, SP_HASH_BITS);
}

static void sp_zap(struct shv_vm *vm, struct shv_sp *sp);

/*
 * Collect every live shadow page of a guest table frame (not direct ones)
 * on @out, however many there are. The caller may zap any of them while
 * walking the list: zapped pages are only freed by commit_zap(), and a
 * caller skips entries whose ->zapped is set. mmu_lock held; the list is
 * only valid until the lock is dropped.
 */
static int gfn_sps(struct shv_vm *vm, u64 gfn, struct list_head *out)
{
	struct shv_sp *sp;
	int n = 0;

	INIT_LIST_HEAD(out);
	hlist_for_each_entry(sp, &vm->mmu->hash[sp_hash(gfn)], hash) {
		if (sp->gfn != gfn || sp->role.direct || sp->zapped)
			continue;
		list_add_tail(&sp->gfn_link, out);
		n++;
	}
	return n;
}

static void drop_spte(struct shv_vm *vm, u64 *sptep);

/*
 * Record that *sptep points at sp. On failure nothing is recorded and
 * the caller must not leave *sptep pointing at sp: an unrecorded parent
 * entry would survive sp's zap and point at freed memory.
 */
static int __must_check sp_add_parent(struct shv_sp *sp, u64 *sptep)
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

static void sp_account_wp(struct shv_vm *vm, struct shv_sp *sp, int delta)
{
	struct shv_rmap *rm;

	if (sp->role.direct || sp->role.pae_root || sp->unsync ||
	    vm->cfg.mmu_policy == SHADOWVM_MMU_POLICY_VTLB)
		return;
	rm = gfn_rmap(vm, sp->gfn, true);
	if (!rm)
		return;
	if (delta > 0) {
		if (rm->wp_count++ == 0)
			write_protect_gfn(vm, sp->gfn);
	} else {
		rm->wp_count--;
	}
}

/* Unlink a shadow page from everything and queue it for freeing. */
static void sp_zap(struct shv_vm *vm, struct shv_sp *sp)
{
	int i;

	if (sp->zapped)
		return;
	sp->zapped = true;
	trace_sp_zap(sp->gfn, sp->role.word, sp->role.level);
	while (sp->nr_parents) {
		u64 *p = sp->parents[sp->nr_parents - 1];

		*p = 0;
		sp->nr_parents--;
	}
	for (i = 0; i < 512; i++)
		if (sp->spt[i] & SPTE_P)
			drop_spte(vm, &sp->spt[i]);
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

/* Clear one shadow entry, updating the reverse map or the child page. */
static void drop_spte(struct shv_vm *vm, u64 *sptep)
{
	u64 spte = *sptep;
	struct shv_sp *sp = page_sp(sptep);

	if (!(spte & SPTE_P))
		return;
	*sptep = 0;
	if (sp->role.level == 1) {
		rmap_remove(vm, sp->gfns[sptep - sp->spt], sptep);
		return;
	}
	{
		struct shv_sp *child = spte_child(spte);

		sp_remove_parent(child, sptep);
		/* an orphan keeps its frame write-protected for nothing: drop it */
		if (!child->nr_parents && !child->root_count)
			sp_zap(vm, child);
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
static void commit_zap(struct shv_vm *vm)
{
	struct shv_sp *sp, *tmp;

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
static void make_room(struct shv_vm *vm, int need)
{
	struct shv_sp *sp;

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

static struct shv_sp *sp_get(struct shv_vm *vm, u64 gfn, union shv_role role, bool *created)
{
	struct shv_sp *sp;

	*created = false;
	if (!role.pae_root) {
		sp = sp_lookup(vm, gfn, role);
		if (sp)
			return sp;
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
	if (role.level == 1) {
		sp->gfns = shv_zalloc(512 * sizeof(u64));
		if (!sp->gfns)
			goto fail;
		if (!role.direct) {
			sp->gptes = shv_zalloc(512 * sizeof(u64));
			if (!sp->gptes)
				goto fail;
		}
	}
	sp->spt = page_address(sp->page);
	set_page_private(sp->page, (unsigned long)sp);
	sp->gfn = gfn;
	sp->role = role;
	INIT_HLIST_NODE(&sp->hash);
	if (!role.pae_root)
		hlist_add_head(&sp->hash, &vm->mmu->hash[sp_hash(gfn)]);
	list_add_tail(&sp->link, &vm->mmu->active);
	vm->mmu->nr_pages++;
	(*vm_stat(vm, SHADOWVM_STAT_SP_CREATED))++;
	*vm_stat(vm, SHADOWVM_STAT_SP_LIVE) = vm->mmu->nr_pages;
	trace_sp_create(gfn, role.word, role.level);
	sp_account_wp(vm, sp, +1);
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

/* ---- contexts and roots ---- */

static union shv_role context_role(struct shv_vcpu *vcpu)
{
	union shv_role r = { .word = 0 };
	int levels = shv_guest_levels(vcpu);

	r.guest_levels = levels;
	r.gpte4 = levels == 2;
	r.direct = levels == 0;
	r.cr0_wp = !!(vcpu->cr0 & X86_CR0_WP);
	r.smep_andnot_wp = (vcpu->cr4 & X86_CR4_SMEP) && !(vcpu->cr0 & X86_CR0_WP);
	r.smap_andnot_wp = (vcpu->cr4 & X86_CR4_SMAP) && !(vcpu->cr0 & X86_CR0_WP);
	r.nxe = !!(vcpu->efer & EFER_NX);
	r.access = ACC_ALL;
	r.level = levels == 4 ? 4 : 3;
	return r;
}

static void root_release(struct shv_vm *vm, struct shv_root *root)
{
	struct shv_sp *sp = root->sp;

	if (!sp)
		return;
	root->sp = NULL;
	smp_mb();
	/* the caller's commit_zap() frees it once no vCPU runs on it */
	if (--sp->root_count == 0 && !sp->zapped &&
	    (sp->role.pae_root || !sp->nr_parents))
		sp_zap(vm, sp);
}

static void vcpu_drop_roots(struct shv_vcpu *vcpu)
{
	struct shv_vm *vm = vcpu->vm;
	int i;

	for (i = 0; i < vcpu->mmu->nr_roots; i++)
		root_release(vm, &vcpu->mmu->roots[i]);
	vcpu->mmu->cur = NULL;
}

/*
 * Take a shadow page out of every root cache (a flooded or dead root), so
 * that it can be zapped; a vCPU running on it rebuilds its root before
 * the next entry. mmu_lock held.
 */
static void sp_evict_roots(struct shv_vm *vm, struct shv_sp *sp)
{
	int i, j;

	for (i = 0; i < SHADOWVM_MAX_VCPUS && sp->root_count; i++) {
		struct shv_vcpu *v = vm_vcpu(vm, i);

		if (!v || !v->mmu)
			continue;
		for (j = 0; j < v->mmu->nr_roots; j++) {
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

int shv_mmu_vm_init(struct shv_vm *vm)
{
	int i;

	vm->mmu = shv_zalloc(sizeof(*vm->mmu));
	if (!vm->mmu)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(vm->mmu->hash); i++)
		INIT_HLIST_HEAD(&vm->mmu->hash[i]);
	for (i = 0; i < ARRAY_SIZE(vm->mmu->as_hash); i++)
		INIT_HLIST_HEAD(&vm->mmu->as_hash[i]);
	INIT_LIST_HEAD(&vm->mmu->active);
	INIT_LIST_HEAD(&vm->mmu->zapped);
	vm->mmu->max_pages = vm->cfg.max_shadow_pages;
	return 0;
}

void shv_mmu_vm_destroy(struct shv_vm *vm)
{
	struct shv_as *as;
	struct hlist_node *tmp;
	int i;

	if (!vm->mmu)
		return;
	shv_mmu_zap_all(vm);
	for (i = 0; i < ARRAY_SIZE(vm->mmu->as_hash); i++)
		hlist_for_each_entry_safe(as, tmp, &vm->mmu->as_hash[i], node)
			shv_kfree(as);
	shv_kfree(vm->mmu);
	vm->mmu = NULL;
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
		shv_kfree(rm[j].sptes);
	shv_kfree(rm);
	slot->rmap = NULL;
}

int shv_mmu_vcpu_init(struct shv_vcpu *vcpu)
{
	struct shv_vm *vm = vcpu->vm;

	vcpu->mmu = shv_zalloc(sizeof(*vcpu->mmu));
	if (!vcpu->mmu)
		return -ENOMEM;
	vcpu->mmu->nr_roots = vm->cfg.root_cache_size;
	vcpu->mmu->roots = shv_zalloc(vcpu->mmu->nr_roots * sizeof(struct shv_root));
	if (!vcpu->mmu->roots) {
		shv_kfree(vcpu->mmu);
		vcpu->mmu = NULL;
		return -ENOMEM;
	}
	return 0;
}

void shv_mmu_vcpu_destroy(struct shv_vcpu *vcpu)
{
	struct shv_vm *vm = vcpu->vm;
	int idx;

	if (!vcpu->mmu)
		return;
	idx = srcu_read_lock(&vm->srcu);	/* zaps reach reverse maps in slots */
	mutex_lock(&vm->mmu_lock);
	vcpu_drop_roots(vcpu);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	srcu_read_unlock(&vm->srcu, idx);
	shv_kfree(vcpu->mmu->roots);
	shv_kfree(vcpu->mmu);
	vcpu->mmu = NULL;
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

static u64 cr3_key(struct shv_vcpu *vcpu)
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

static u64 policy(struct shv_vcpu *vcpu)
{
	return vcpu->vm->cfg.mmu_policy;
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
static int switch_root(struct shv_vcpu *vcpu, bool count)
{
	struct shv_mmu_vcpu *m = vcpu->mmu;
	struct shv_vm *vm = vcpu->vm;
	u64 key = cr3_key(vcpu);
	struct shv_root *victim = NULL;
	struct shv_as *as = NULL;
	int i;

	if (shv_guest_levels(vcpu))
		as = as_lookup(vm, key);
	if (as && count)
		as->loads++;
	for (i = 0; i < m->nr_roots; i++) {
		struct shv_root *r = &m->roots[i];

		if (r->sp && r->sp->zapped)
			root_release(vm, r);
		if (r->sp && r->cr3 == key &&
		    r->role == m->base_role.word &&
		    (shv_guest_levels(vcpu) != 3 ||
		     !memcmp(r->pdptrs, vcpu->pdptrs, sizeof(r->pdptrs)))) {
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
		if (!victim || !r->sp || (victim->sp && r->last_used < victim->last_used))
			victim = r;
	}
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

static int resync_all(struct shv_vcpu *vcpu);

/*
 * CR0/CR4/EFER changed: recompute the context. The PDPTE registers are
 * the caller's business (vcpu.c loads them when the SDM says the
 * instruction does); they are used as they are.
 */
int shv_mmu_reset_context(struct shv_vcpu *vcpu)
{
	struct shv_vm *vm = vcpu->vm;

	mutex_lock(&vm->mmu_lock);
	/* a paging-mode change (e.g. CR4.PGE toggled) is a full TLB flush */
	if (policy(vcpu) == SHADOWVM_MMU_POLICY_VTLB)
		shv_mmu_zap_all(vm);
	else if (policy(vcpu) == SHADOWVM_MMU_POLICY_UNSYNC)
		resync_all(vcpu);
	commit_zap(vm);
	vcpu->mmu->base_role = context_role(vcpu);
	vcpu->mmu->cur = NULL;
	WRITE_ONCE(vcpu->flush_pending, true);
	mutex_unlock(&vm->mmu_lock);
	return 0;
}

/* Guest MOV to CR3 (PAE: the caller loaded the PDPTE registers). */
int shv_mmu_new_cr3(struct shv_vcpu *vcpu, bool noflush)
{
	struct shv_vm *vm = vcpu->vm;
	int r;

	shv_stat_inc(vcpu, CR3_LOADS);
	if (!shv_guest_levels(vcpu))
		return 0;
	mutex_lock(&vm->mmu_lock);
	if (policy(vcpu) == SHADOWVM_MMU_POLICY_VTLB)
		shv_mmu_zap_all(vm);
	else if (policy(vcpu) == SHADOWVM_MMU_POLICY_UNSYNC && !noflush)
		resync_all(vcpu);
	r = switch_root(vcpu, true);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	/*
	 * A CR3 load flushes the non-global translations of its PCID. With
	 * CR4.PCIDE the hardware TLB is tagged by the guest's PCIDs, so a
	 * no-flush load (CR3 bit 63) keeps them, as the guest asked.
	 */
	if (!noflush || !(vcpu->cr4 & X86_CR4_PCIDE))
		WRITE_ONCE(vcpu->flush_pending, true);
	else
		shv_stat_inc(vcpu, CR3_NOFLUSH);
	return r;
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
	if (r == -ENOMEM) {
		u64 d[1] = { vcpu->cr3 };

		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_NO_MEMORY, 1, d);
		return 1;
	}
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

/* ---- unsync ---- */

/*
 * Is this shadow leaf entry still derived from the guest entry as it is
 * now? Any change of the guest entry (frame, rights, A/D cleared, a
 * reserved bit) drops it, so the next access takes a full walk.
 */
static bool spte_matches_guest(struct shv_vcpu *vcpu, struct shv_sp *sp, int i)
{
	int esize = sp->role.gpte4 ? 4 : 8;
	int gidx = sp->role.gpte4 ? sp->role.quadrant * 512 + i : i;
	u64 gpte = 0, gpa;

	if (!sp->gptes)
		return false;
	gpa = ((u64)sp->gfn << PAGE_SHIFT) + gidx * esize;
	if (shv_read_gpa_pinned(vcpu->vm, gpa, &gpte, esize))
		return false;
	return gpte == sp->gptes[i];
}

static void sp_resync(struct shv_vcpu *vcpu, struct shv_sp *sp)
{
	struct shv_vm *vm = vcpu->vm;
	struct shv_rmap *rm = gfn_rmap(vm, sp->gfn, false);
	int i;

	sp->unsync = false;
	if (rm)
		rm->unsync_count--;
	sp_account_wp(vm, sp, +1);
	for (i = 0; i < 512; i++)
		if ((sp->spt[i] & SPTE_P) && !spte_matches_guest(vcpu, sp, i))
			drop_spte(vm, &sp->spt[i]);
	shv_stat_inc(vcpu, PF_HIDDEN_RESYNC);
	kick_flush_all(vm);
}

static int resync_all(struct shv_vcpu *vcpu)
{
	struct shv_sp *sp, *tmp;

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
	/* read-only mappings of the frame refault as writable ones */
	while (rm->nr)
		drop_spte(vm, rm->sptes[rm->nr - 1]);
	kick_flush_all(vm);
	shv_stat_inc(vcpu, PF_HIDDEN_UNSYNC);
	return true;
}

/* ---- guest page-table writes ---- */

/*
 * The guest wrote [gpa, gpa+len) of a frame shadowed as a page table:
 * drop the shadow entries derived from the bytes written. mmu_lock held.
 */
static void pte_written(struct shv_vcpu *vcpu, u64 gpa, unsigned int len)
{
	struct shv_vm *vm = vcpu->vm;
	u64 gfn = gpa >> PAGE_SHIFT;
	unsigned int off = offset_in_page(gpa);
	struct shv_sp *sp;
	LIST_HEAD(sps);

	trace_pt_write(gpa, len);
	gfn_sps(vm, gfn, &sps);
	list_for_each_entry(sp, &sps, gfn_link) {
		int esize, first, last, e;

		if (sp->zapped || sp->unsync)
			continue;	/* zapped by an earlier one of this loop */
		esize = sp->role.gpte4 ? 4 : 8;
		/* misaligned or partial writes, or a flood: drop the page */
		if ((off & (esize - 1)) || (len % esize) || ++sp->write_count >= 3) {
			if (sp->write_count >= 3)
				(*vm_stat(vm, SHADOWVM_STAT_PT_WRITE_FLOODED))++;
			/* a cached root too: a process being torn down */
			sp_evict_roots(vm, sp);
			sp_zap(vm, sp);
			continue;
		}
		first = off / esize;
		last = (off + len - 1) / esize;
		for (e = first; e <= last; e++) {
			if (sp->role.gpte4 && sp->role.level == 1) {
				if (e / 512 != sp->role.quadrant)
					continue;
				drop_spte(vm, &sp->spt[e % 512]);
			} else if (sp->role.gpte4 && sp->role.level == 2) {
				if (e / 256 != sp->role.quadrant)
					continue;
				drop_spte(vm, &sp->spt[(e % 256) * 2]);
				drop_spte(vm, &sp->spt[(e % 256) * 2 + 1]);
			} else {
				drop_spte(vm, &sp->spt[e]);
			}
		}
	}
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
static void count_pt_write(struct shv_vcpu *vcpu, u64 gpa, unsigned int len)
{
	struct shv_vm *vm = vcpu->vm;
	u64 gfn, last = (gpa + len - 1) >> PAGE_SHIFT;
	bool pt = false;

	for (gfn = gpa >> PAGE_SHIFT; gfn <= last; gfn++) {
		u64 start = max(gpa, gfn << PAGE_SHIFT);
		u64 end = min(gpa + len, (gfn + 1) << PAGE_SHIFT);

		if (!gfn_write_protected(vm, gfn))
			continue;
		pte_written(vcpu, start, end - start);
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
	int r;

	r = prepin(vm, gpa, len, true);
	if (r)
		return r;
	mutex_lock(&vm->mmu_lock);
	r = shv_write_gpa_pinned(vm, gpa, data, len);
	if (!r)
		count_pt_write(vcpu, gpa, len);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	return r;
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
	int r;

	if ((len != 4 && len != 8) || (gpa & (len - 1)))
		return -EINVAL;
	r = prepin(vm, gpa, len, true);
	if (r)
		return r;
	mutex_lock(&vm->mmu_lock);
	r = shv_cmpxchg_gpa(vm, gpa, old, new, len, true, swapped);
	if (!r && *swapped)
		count_pt_write(vcpu, gpa, len);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	return r;
}

/* Emulation failed on a page table frame: stop shadowing it, re-execute. */
static bool unprotect_gfn(struct shv_vcpu *vcpu, u64 gfn)
{
	struct shv_vm *vm = vcpu->vm;
	struct shv_sp *sp;
	LIST_HEAD(sps);

	gfn_sps(vm, gfn, &sps);
	list_for_each_entry(sp, &sps, gfn_link) {
		sp_evict_roots(vm, sp);
		sp_zap(vm, sp);
	}
	(*vm_stat(vm, SHADOWVM_STAT_PT_UNPROTECT))++;
	return gfn_write_protected(vm, gfn);
}

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

/* Make vCPUs in the guest drop rights removed so far; mmu_lock held. */
static void flush_remote(struct shv_vm *vm)
{
	if (!vm->mmu->need_kick)
		return;
	smp_mb();	/* pairs with the barrier after in_guest = true */
	kick_others_sync(vm);
	vm->mmu->need_kick = false;
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
static int fault_failed(struct shv_vcpu *vcpu, u64 a, int err)
{
	u64 d[3] = { a, err, shv_rip(vcpu) };

	if (err == -EINTR)
		return -EINTR;	/* a fatal signal while waiting for the page */
	shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_NO_MEMORY, 3, d);
	return 0;
}

/*
 * A #PF exit: classify with the walker. True fault: inject with the
 * walker's error code. Hidden: fill the shadow, set A/D, emulate a
 * page-table write, or hand an MMIO access to the emulator.
 *
 * Locking: the walk and the pinning of the target page run with no lock
 * but vm->srcu (they may sleep, e.g. on a userfaultfd); mmu_lock is taken
 * only to install the shadow entries, after which fetch() checks that the
 * guest entries the walk used have not changed.
 */
int shv_mmu_page_fault(struct shv_vcpu *vcpu, u64 la, u32 hw_ec)
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
		return 1;
	r = shv_walk(vcpu, la, access, &w, true);
	if (r == -EFAULT) {
		count_fault(vcpu, true);
		trace_fault(la, hw_ec, w.error_code, 1);
		shv_queue_pf(vcpu, la, w.error_code);
		return 1;
	}
	if (r == -EAGAIN)
		return 1;
	if (r)
		return fault_failed(vcpu, la, r);
	count_fault(vcpu, false);
	trace_fault(la, hw_ec, 0, 0);
	if (w.ad_set)
		shv_stat_inc(vcpu, PF_HIDDEN_AD);

	slot = shv_gfn_to_slot(vm, w.gfn);
	if (!slot || (write && (slot->flags & SHADOWVM_MEM_READONLY))) {
		shv_stat_inc(vcpu, PF_HIDDEN_MMIO);
		return shv_emulate_insn(vcpu, la, true);
	}
	r = shv_gfn_to_page(vm, w.gfn, write, false, &pg);
	if (r)
		return fault_failed(vcpu, w.gpa, r);

	mutex_lock(&vm->mmu_lock);
	if (!shv_mmu_root_valid(vcpu)) {
		mutex_unlock(&vm->mmu_lock);
		return 1;
	}
	make_room(vm, 8);
	if (write && gfn_write_protected(vm, w.gfn)) {
		/* a write to a shadowed page table */
		if (policy(vcpu) == SHADOWVM_MMU_POLICY_UNSYNC && try_unsync(vcpu, w.gfn)) {
			commit_zap(vm);
			mutex_unlock(&vm->mmu_lock);
			return 1;
		}
		mutex_unlock(&vm->mmu_lock);
		r = shv_emulate_insn(vcpu, la, false);
		if (r == -ENOEXEC) {
			bool still;

			mutex_lock(&vm->mmu_lock);
			still = unprotect_gfn(vcpu, w.gfn);
			commit_zap(vm);
			mutex_unlock(&vm->mmu_lock);
			if (still) {
				u64 d[2] = { shv_rip(vcpu), w.gpa };

				shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_EMULATION, 2, d);
				return 0;
			}
			return 1;	/* re-execute natively */
		}
		return r;
	}
	r = fetch(vcpu, la, &w, pg, access, slot->flags & SHADOWVM_MEM_READONLY);
	if (!r)
		shv_stat_inc(vcpu, PF_HIDDEN_FILL);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	if (r < 0)
		return fault_failed(vcpu, w.gpa, r);
	return 1;
}

void shv_mmu_invlpg(struct shv_vcpu *vcpu, u64 gva)
{
	struct shv_vm *vm = vcpu->vm;

	if (policy(vcpu) == SHADOWVM_MMU_POLICY_VTLB) {
		mutex_lock(&vm->mmu_lock);
		shv_mmu_zap_all(vm);
		mutex_unlock(&vm->mmu_lock);
	} else if (policy(vcpu) == SHADOWVM_MMU_POLICY_UNSYNC) {
		mutex_lock(&vm->mmu_lock);
		resync_all(vcpu);
		commit_zap(vm);
		mutex_unlock(&vm->mmu_lock);
	}
	shv_flush_tlb_gva(vcpu, gva);
}

/* Translation for emulated accesses: 0, or -EFAULT with *fault_ec. */
int shv_mmu_gva_to_gpa(struct shv_vcpu *vcpu, u64 la, u32 access, u64 *gpa, u32 *fault_ec)
{
	struct shv_walk w;
	int r;

	r = shv_walk(vcpu, la, access, &w, true);	/* may pin: no lock */
	if (r == -EFAULT)
		*fault_ec = w.error_code;
	if (!r)
		*gpa = w.gpa;
	return r;
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
