/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of the shadow MMU share and nobody else sees: the shadow
 * page and root structures, the per-VM and per-vCPU MMU state, and the
 * entry points of each layer. Layers, lowest first; a file calls only
 * files listed before it (and the policies only through their ops):
 *
 *   walker.c      the guest page-table walker (reads guest memory only)
 *   tlb.c         kicks: make vCPUs in the guest drop stale translations
 *   wp_track.c    per-frame reverse map and write-protection, per-2 MiB
 *                 region reverse map of large leaves and tracked count
 *   sp_cache.c    shadow pages: hash, create, link, zap, cap/recycling
 *   root_cache.c  per-vCPU root cache, address spaces, the zap-all
 *   pt_write.c    emulated writes to shadowed guest tables; unprotect
 *   policy_*.c    the policies (struct shv_mmu_policy_ops)
 *   fault.c       #PF classification and the shadow fill (fetch)
 *   mmu.c         the MMU's entry points for vm.c, vcpu.c and the exits
 *
 * Locking: everything that touches shadow pages, reverse maps or root
 * caches holds vm->mmu_lock (asserted); guest memory is read only inside
 * a vm->srcu read section or under vm->lock (asserted by shv_memslots()).
 */
#ifndef SHADOWVM_MMU_INTERNAL_H
#define SHADOWVM_MMU_INTERNAL_H

#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/list.h>
#include <linux/hash.h>
#include <linux/lockdep.h>
#include <linux/io.h>
#include "shadowvm.h"
#include "mmu/walker.h"
#include "trace.h"

#define SPTE_P		BIT_ULL(0)
#define SPTE_RW		BIT_ULL(1)
#define SPTE_US		BIT_ULL(2)
#define SPTE_A		BIT_ULL(5)
#define SPTE_D		BIT_ULL(6)
#define SPTE_PS		BIT_ULL(7)	/* level 2: a 2 MiB leaf (fault.c) */
#define SPTE_G		BIT_ULL(8)
#define SPTE_PREFETCHED	BIT_ULL(9)	/* ignored by the CPU: filled by prefetch */
/*
 * Ignored by the CPU: a leaf read-only only because its frame is a
 * shadowed guest table (write-protected); write_unprotect_gfn() makes it
 * writable again (SPTE_RW | SPTE_D) when the frame stops being one, so
 * the guest's next write to it does not fault.
 */
#define SPTE_WP_ONLY	BIT_ULL(10)
#define SPTE_NX		BIT_ULL(63)
#define SPTE_ADDR_MASK	0x000ffffffffff000ULL
/*
 * Guest #PF bypass (SHADOWVM_VM_GUEST_PF_BYPASS, long-mode contexts): an
 * entry not filled yet is SPTE_TRAP, present with a reserved bit, so the
 * fault it causes has P=1 and exits; 0 ("notrap") stands for a guest
 * entry that is not present, whose P=0 fault the hardware delivers to the
 * guest without an exit (the #PF error-code mask/match filter).
 */
#define SPTE_TRAP_RSVD	BIT_ULL(51)
#define SPTE_TRAP	(SPTE_P | SPTE_TRAP_RSVD)

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
		/*
		 * 32-bit paging with CR4.PSE: a PDE with PS=1 maps 4 MiB (else
		 * it points to a page table), so shadows of one guest table
		 * under both meanings must not be shared
		 */
		u32 cr4_pse:1;
	};
};

struct shv_sp {
	struct hlist_node hash;
	struct list_head link;		/* mmu->active, oldest first */
	u64 gfn;
	union shv_role role;
	u64 *spt;
	struct page *page;
	u64 *gfns;			/* levels 1-2: guest frame of each leaf entry */
	u32 *rmap_idx;			/* levels 1-2: each leaf entry's slot in its rmap */
	u64 *gptes;			/* indirect leaf pages: guest entry as used */
	u64 **parents;			/* shadow entries pointing here */
	int nr_parents, max_parents;
	int root_count;			/* root caches holding this page */
	int write_count;		/* emulated writes since last used by a fill */
	int last_prefill;		/* 1 + index of the entry last prefilled, or 0 */
	/*
	 * Leaf pages, for table prefetch (fault.c): the 8-entry windows a
	 * fill fault filled (a refault inside one counts once), whether a
	 * whole-table prefetch ran on it, the entries prefetch installed in
	 * it and those of them dropped untouched.
	 */
	u64 fill_wins;
	bool table_pf;
	u32 pf_n, pf_unused;
	struct list_head gfn_link;	/* on a gfn_sps() list, under mmu_lock */
	struct list_head orphan_link;	/* on mmu->orphans (sp_orphan()) */
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

/*
 * The shadow entries mapping a frame: two inline, more in an array. Two,
 * because a frame the guest maps twice is common (a demand-paged page:
 * the kernel's direct map and the process's mapping), and a third mapping
 * allocates under mmu_lock.
 */
#define SHV_RMAP_INLINE	2
struct shv_rmap {
	union {
		u64 **sptes;		/* max > 0: an array of max */
		u64 *inl[SHV_RMAP_INLINE];	/* max == 0: room for two */
	};
	u32 nr, max;
	u32 wp_count;			/* synced indirect shadow pages of this frame */
	u16 unsync_count;
	/*
	 * Table prefetch hints for a guest leaf table (fault.c): dense, it
	 * was used densely, so a leaf shadow page created for it later is
	 * prefetched whole at once; sparse (0 to SHV_SPARSE_MAX), how many
	 * whole-table prefetches of it in a row went mostly unused (each
	 * doubles the windows a shadow page of it must fill before the next
	 * one). sp_zap() judges a shadow page's whole-table prefetch and sets
	 * both.
	 */
	u8 dense;
	u8 sparse;
};

#define SHV_SPARSE_MAX	2

/*
 * A 2 MiB-aligned guest-physical region of a slot (gfn >> 9): the 2 MiB
 * shadow leaves that map it (large), and how many of its frames are
 * write-tracked (wp_count > 0). While tracked is non-zero no large leaf
 * maps the region (what KVM's disallow_lpage counts). Allocated with the
 * slot's reverse map, right after its per-frame entries.
 */
struct shv_lpage {
	struct shv_rmap large;
	u32 tracked;
};

/* is this present entry of a level-@level shadow page a 2 MiB leaf? */
static inline bool spte_is_large(u64 spte, int level)
{
	return level == 2 && (spte & SPTE_PS);
}

/* Index of la in a shadow page of @level, given the page's role. */
static inline int spte_index(union shv_role role, u64 la, int level)
{
	if (role.pae_root)
		return (la >> 30) & 3;
	return (la >> (12 + 9 * (level - 1))) & 511;
}

struct shv_mmu_vm {
	struct hlist_head hash[1 << SP_HASH_BITS];
	struct list_head active;
	struct list_head zapped;	/* unlinked, freed after the kick */
	/*
	 * Synced shadow pages nothing links to any more, kept for a parent
	 * entry that links them again (sp_orphan()), oldest first
	 */
	struct list_head orphans;
	int nr_orphans;
	long nr_pages;
	long max_pages;
	struct hlist_head as_hash[64];
	int nr_as;
	u64 clock;
	bool need_kick;			/* shadow entries lost rights */
	bool pf_bypass;			/* SHADOWVM_VM_GUEST_PF_BYPASS */
	const struct shv_mmu_policy_ops *policy;	/* vm->cfg.mmu_policy's */
};

/* a shadow entry the hardware uses (not 0, not SPTE_TRAP) */
static inline bool spte_present(u64 spte)
{
	return (spte & (SPTE_P | SPTE_TRAP_RSVD)) == SPTE_P;
}

/* do the not-filled entries of a page of this role trap (SPTE_TRAP)? */
static inline bool role_traps(const struct shv_mmu_vm *mmu, union shv_role role)
{
	return mmu->pf_bypass && role.guest_levels == 4;
}

/*
 * fault.c: the guest walk of the #PF exit that handed a write to a
 * write-protected guest table to the emulator, for the emulator's
 * accesses in that same exit (pf_walk_reuse()).
 */
struct shv_pf_walk {
	u64 exit;		/* vcpu->exit_count of that exit (0: none yet) */
	u64 cr0, cr3, cr4, efer;	/* the paging context walked */
	u64 la_page;		/* CR2 >> PAGE_SHIFT (32 bits outside long mode) */
	u64 gfn;		/* the frame it translates to */
	unsigned int acc;	/* the walk's rights (ACC_*) */
	u32 access;		/* the access walked for (PFERR_*): Dirty set if WRITE */
	/*
	 * The instruction's page (the linear page of CS:RIP, walk_la()), as
	 * the shadow leaf mapping it translated a fetch at the CPL of that
	 * exit, looked up under the same mmu_lock section as the write's
	 * classification (keep_fetch()): fetch_ok false when it did not.
	 */
	u64 fetch_page;
	u64 fetch_gfn;
	bool fetch_ok;
	bool fetch_user;
};

struct shv_mmu_vcpu {
	union shv_role base_role;	/* role of the root for this context */
	struct shv_root *cur;
	struct shv_root *roots;		/* root cache, vm->cfg.root_cache_size */
	int nr_roots;
	int nr_used;			/* roots[nr_used..] were never used */
	u64 noemu_gfn;		/* wp-noemu: last frame unprotected, */
	unsigned long noemu_rip;	/* and by which instruction */
	u64 smap_exit;		/* fault.c smap_implicit(): the exit, */
	u64 smap_la;		/* address */
	unsigned long smap_rip;	/* instruction */
	u32 smap_ec;		/* and error code of the last candidate */
	struct shv_pf_walk pf_walk;
	/*
	 * fault.c: #PF exits in a row whose shortcut before the walk
	 * (true_fault_shadow(), pt_write_shadow()) did not apply, and a
	 * count that lets every 16th try through while they are many
	 */
	u8 tf_miss, pw_miss, shortcut_skip;
};

#define MAX_AS	4096

static inline u64 *vm_stat(struct shv_vm *vm, int id)
{
	return &vm->mmu_stats[id];
}

static inline struct shv_sp *page_sp(void *p)
{
	return (struct shv_sp *)page_private(virt_to_page(p));
}

/* the page a present non-leaf entry links (never a large leaf: spte_is_large()) */
static inline struct shv_sp *spte_child(u64 spte)
{
	return (struct shv_sp *)page_private(pfn_to_page((spte & SPTE_ADDR_MASK) >> PAGE_SHIFT));
}

/* vCPUs are published with smp_store_release() and removed under mmu_lock. */
static inline struct shv_vcpu *vm_vcpu(struct shv_vm *vm, int i)
{
	return READ_ONCE(vm->vcpus[i]);
}

struct shv_mmu_policy_ops;
static inline const struct shv_mmu_policy_ops *policy(struct shv_vm *vm)
{
	return vm->mmu->policy;
}

/* A leaf shadow entry mapping pg with the rights acc (ACC_*). */
static inline u64 make_leaf(struct shv_vcpu *vcpu, struct page *pg, unsigned int acc,
			    bool global, bool wp, bool ro_slot)
{
	u64 spte = page_to_phys(pg) | SPTE_P | SPTE_A;

	if (acc & ACC_U)
		spte |= SPTE_US;
	if (!(acc & ACC_X))
		spte |= SPTE_NX;
	if ((acc & ACC_W) && !ro_slot)
		spte |= wp ? SPTE_WP_ONLY : SPTE_RW | SPTE_D;
	if (global && (vcpu->cr4 & X86_CR4_PGE))
		spte |= SPTE_G;
	return spte;
}

/* ---- fault.c ---- */
enum shv_large_why {
	LARGE_NONE,		/* no guest large page: nothing to count */
	LARGE_OK,
	LARGE_NO_HOST,		/* slot, alignment or host pages */
	LARGE_NO_WP,		/* a frame of the region is a guest table */
};

/* the live leaf shadow page on la's path from the current root; mmu_lock held */
struct shv_sp *leaf_sp_at(struct shv_vcpu *vcpu, u64 la);
/* before mmu_lock: the first page of gfn's 2 MiB region pinned whole, or NULL */
struct page *large_prepare_gfn(struct shv_vm *vm, u64 gfn, struct shv_slot *s,
			       struct page *pg, enum shv_large_why *why);
/* under mmu_lock: may gfn's 2 MiB region be mapped large now? */
bool large_allowed(struct shv_vm *vm, u64 gfn);

/* ---- prefetch.c ---- */
#define SHV_PREFETCH_MAX 16

/* the neighbours of a fill chosen and pinned before mmu_lock */
struct shv_prefetch {
	int n;
	int first, win;		/* the aligned window, in leaf-page indexes */
	struct {
		int idx;		/* index in the leaf shadow page */
		u64 gpte;		/* the guest entry pinned for (indirect) */
		u64 gfn;
		unsigned int acc;
		bool global, ro_slot;
		struct shv_slot *slot;
		struct page *pg;
	} e[SHV_PREFETCH_MAX];
};


void prefetch_prepare(struct shv_vcpu *vcpu, u64 la, struct shv_walk *w, unsigned int acc,
		      struct shv_prefetch *p);
void prefetch_install(struct shv_vcpu *vcpu, struct shv_sp *sp, struct shv_walk *w, u64 la,
		      struct shv_prefetch *p);
void table_fill(struct shv_vm *vm, struct shv_sp *sp, int idx, struct shv_sp **table_sp);
void prefetch_rest(struct shv_vcpu *vcpu, u64 la, struct shv_walk *w, unsigned int acc,
		   u64 gfn, u32 role);
void large_prefetch(struct shv_vcpu *vcpu, u64 la, struct shv_walk *w, u64 sp_gfn, u32 sp_role);

/* ---- tlb.c ---- */
void kick_flush_all(struct shv_vm *vm);
u64 *path_end_at(struct shv_vcpu *vcpu, u64 la, bool to_direct, struct shv_sp **sp_out);	/* fault.c */
int sp_resync_entries(struct shv_vm *vm, struct shv_sp *sp);	/* sp_cache.c */
void kick_others_sync(struct shv_vm *vm);
void flush_remote(struct shv_vm *vm);

/* ---- wp_track.c ---- */
static inline u64 **rmap_sptes(struct shv_rmap *rm)
{
	return rm->max ? rm->sptes : rm->inl;
}

struct shv_rmap *gfn_rmap(struct shv_vm *vm, u64 gfn, bool create);
struct shv_lpage *gfn_lpage(struct shv_vm *vm, u64 gfn, bool create);
int rmap_add(struct shv_vm *vm, u64 gfn, u64 *sptep);
int rmap_add_leaf(struct shv_vm *vm, u64 gfn, u64 *sptep, bool *wp, struct shv_slot **slot);
void rmap_remove(struct shv_vm *vm, u64 gfn, u64 *sptep);
int large_rmap_add(struct shv_vm *vm, u64 gfn, u64 *sptep);
void large_rmap_remove(struct shv_vm *vm, u64 gfn, u64 *sptep);
void wp_track_region(struct shv_vm *vm, u64 gfn, int delta);
bool region_tracked_hint(struct shv_vm *vm, u64 gfn);
void write_protect_gfn(struct shv_vm *vm, u64 gfn);
void write_unprotect_gfn(struct shv_vm *vm, u64 gfn);
bool gfn_write_protected(struct shv_vm *vm, u64 gfn);
bool gfn_write_protected_hint(struct shv_vm *vm, u64 gfn);

/* ---- sp_cache.c ---- */
int gfn_sps(struct shv_vm *vm, u64 gfn, struct list_head *out);
bool sp_other_role_live(struct shv_vm *vm, struct shv_sp *sp);
int __must_check sp_add_parent(struct shv_sp *sp, u64 *sptep);
void sp_account_wp(struct shv_vm *vm, struct shv_sp *sp, int delta);
void sp_zap(struct shv_vm *vm, struct shv_sp *sp);
void sp_zap_rewritten(struct shv_vm *vm, struct shv_sp *sp);
void drop_spte(struct shv_vm *vm, u64 *sptep);
void zap_large_over(struct shv_vm *vm, u64 gfn);
void commit_zap(struct shv_vm *vm);
void make_room(struct shv_vm *vm, int need);
int zap_orphans(struct shv_vm *vm, u64 gfn);
/* *created: a new page, or a stale one whose table changed (resynced) */
struct shv_sp *sp_get(struct shv_vm *vm, u64 gfn, union shv_role role, bool *created);

/* ---- root_cache.c ---- */
union shv_role context_role(struct shv_vcpu *vcpu);
void root_release(struct shv_vm *vm, struct shv_root *root);
void vcpu_drop_roots(struct shv_vcpu *vcpu);
void sp_evict_roots(struct shv_vm *vm, struct shv_sp *sp);
u64 cr3_key(struct shv_vcpu *vcpu);
int switch_root(struct shv_vcpu *vcpu, bool count);

/* ---- pt_write.c ---- */
bool unprotect_gfn(struct shv_vcpu *vcpu, u64 gfn);

/* ---- policies (policy.c is the registry) ---- */
enum shv_pt_write_action {
	SHV_PTW_EMULATE,	/* emulate the write (pt_write.c keeps shadows coherent) */
	SHV_PTW_RESUME,		/* the frame is writable now: re-execute natively */
};

/*
 * An MMU policy: what the shadow MMU does at the events where policies
 * differ. Every hook runs under vm->mmu_lock and may zap shadow pages
 * (the caller commits the zap, except in invlpg); a NULL hook does
 * nothing, and then INVLPG does not even take the lock.
 */
struct shv_mmu_policy_ops {
	const char *name;	/* its short name in uapi's SHADOWVM_MMU_POLICY_NAMES */
	/* a guest table frame shadowed by a synced shadow page is read-only */
	bool write_protect;
	/* the guest's INVLPG exits (else it runs natively, VPID-flushed) */
	bool intercept_invlpg;
	/*
	 * Every guest table a shadow page reads stays write-protected and in
	 * sync, so a guest entry that is not present cannot become present
	 * unseen: SHADOWVM_VM_GUEST_PF_BYPASS may leave its faults to the
	 * hardware.
	 */
	bool pf_bypass_ok;
	/*
	 * Every shadow page goes at each guest TLB flush (CR3 load, INVLPG):
	 * no whole-table prefetch (fault.c), a shadow page lives too short
	 * for it to pay
	 */
	bool no_table_prefetch;
	/* a guest write faulted on a write-protected table frame; NULL: emulate */
	enum shv_pt_write_action (*pt_write)(struct shv_vcpu *vcpu, u64 gfn);
	/* guest CR3 load, before the new root is looked up (noflush: CR3 bit 63) */
	void (*cr3_load)(struct shv_vcpu *vcpu, bool noflush);
	/* guest INVLPG (the caller then flushes the hardware TLB entry) */
	void (*invlpg)(struct shv_vcpu *vcpu, u64 gva);
	/* CR0/CR4/EFER paging change: a full TLB flush for the guest */
	void (*context_change)(struct shv_vcpu *vcpu);
};

extern const struct shv_mmu_policy_ops shv_policy_wp;
extern const struct shv_mmu_policy_ops shv_policy_unsync;
extern const struct shv_mmu_policy_ops shv_policy_vtlb;
extern const struct shv_mmu_policy_ops shv_policy_wp_noemu;

/* ---- fault.c: translations for emulated accesses without a guest walk ---- */
bool pf_walk_reuse(struct shv_vcpu *vcpu, u64 la, u32 access, u64 *gpa);
bool shadow_fetch_gpa(struct shv_vcpu *vcpu, u64 la, u32 access, u64 *gpa);

#endif /* SHADOWVM_MMU_INTERNAL_H */
