// SPDX-License-Identifier: GPL-2.0
/*
 * Pinning of guest RAM. Contract: a slot's page is pinned long-term
 * (FOLL_LONGTERM) on first use, charged to the VM owner's
 * RLIMIT_MEMLOCK and published in the slot's pages[] (written once
 * under the slot's pin_lock, read locklessly); it stays pinned until the
 * slot is freed (vm.c). shv_gfn_to_page() may fault the page in and wait
 * for a userfaultfd handler; shv_gfns_to_pages_present(), for prefetch,
 * takes only pages already present in the runner's page tables. A 2 MiB
 * region the runner maps with one huge entry is pinned by one pin of its
 * folio (shv_gfns_pin_large(): the region pin), counted as 512 pinned
 * pages; when no page of the region was published before, the region pin
 * is published alone in the slot's rpin[] (its first page) and its frames
 * without a pages[] entry are found there, else its pages are published
 * one by one in pages[];
 * slot_free() drops that pin once. A frame's page is its pages[] entry or,
 * without one, its region's rpin[] page (slot_page(), which copies it into
 * pages[]); in a region with an rpin[] entry no page has a pin of its own.
 */
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/hugetlb.h>
#include "shadowvm.h"
#include "compat.h"

/*
 * May this page back guest RAM for a long time? Anonymous memory, shmem
 * and hugetlbfs can; a writable long-term pin of a regular file's page
 * cache cannot (the file system may write the page back or truncate it
 * under the guest).
 */
static bool pin_backing_ok(struct shv_slot *s, struct page *pg)
{
	struct folio *f = page_folio(pg);

	if (s->flags & SHADOWVM_MEM_READONLY)
		return true;
	if (folio_test_anon(f) || folio_test_hugetlb(f))
		return true;
	return f->mapping && shmem_mapping(f->mapping);
}

/*
 * Charge n pinned pages to the VM owner's RLIMIT_MEMLOCK (like RDMA/io_uring);
 * warn: say so (rate-limited) when the limit refuses them.
 */
static int __charge_pins(struct shv_vm *vm, int n, bool warn)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;

	if (atomic64_add_return(n, &vm->mm->pinned_vm) <= limit || capable(CAP_IPC_LOCK))
		return 0;
	atomic64_sub(n, &vm->mm->pinned_vm);
	if (warn)
		shv_warn_rl("cannot pin more guest memory: RLIMIT_MEMLOCK (%lu pages) reached\n",
			    limit);
	return -ENOMEM;
}

static int charge_pins(struct shv_vm *vm, int n)
{
	return __charge_pins(vm, n, true);
}

static int charge_pin(struct shv_vm *vm)
{
	return charge_pins(vm, 1);
}

/*
 * Pin one user page long-term. A long-term pin does not wait for the
 * page to be supplied on every kernel (6.1's FOLL_LONGTERM GUP cannot
 * drop mmap_lock, so a userfaultfd-registered page that is missing fails
 * with -EFAULT instead of waiting for its handler): fault the page in
 * first with a GUP that may wait (killably) and retry.
 */
static int pin_page(unsigned long hva, unsigned int foll, bool may_wait, struct page **pg)
{
	int tries, r;

	for (tries = 0; ; tries++) {
		struct page *tmp;

		r = pin_user_pages_fast(hva, 1, foll, pg);
		if (r != -EFAULT || tries == 3 || !may_wait)
			return r;
		r = get_user_pages_unlocked(hva, 1, &tmp, foll & FOLL_WRITE);
		if (r != 1)
			return r < 0 ? r : -EFAULT;
		put_page(tmp);
		if (fatal_signal_pending(current))
			return -EINTR;
	}
}

/*
 * The slot's array of pinned pages, allocated on first use with the
 * per-region rcount[] (which exists whenever pages[] does); pin_lock held.
 * rpin[] comes with the slot's first region pin (pin_region()), so that a
 * slot without one pays one NULL check per lookup that misses pages[].
 */
static struct page **slot_pages(struct shv_slot *s)
{
	struct page **pages = s->pages;

	if (pages)
		return pages;
	if (!s->rcount)
		s->rcount = shv_zalloc(shv_slot_nregions(s) * sizeof(*s->rcount));
	if (!s->rcount)
		return NULL;
	pages = shv_zalloc(s->npages * sizeof(*pages));
	if (pages)
		smp_store_release(&s->pages, pages);	/* zeroed array first */
	return pages;
}

/*
 * The page of slot index idx held by a region pin published in rpin[]
 * only, or NULL. Lockless: pairs with pin_region()'s release.
 */
static struct page *region_page(struct shv_slot *s, u64 idx)
{
	struct page **rp = smp_load_acquire(&s->rpin);	/* pairs with pin_region() */
	struct page *first;

	if (!rp)
		return NULL;
	first = smp_load_acquire(&rp[shv_slot_region(s, idx)]);	/* and pin_region() */
	return first ? nth_page(first, (s->base_gfn + idx) & 511) : NULL;
}

/*
 * The pinned page of slot index idx (pp: s->pages), or NULL. Lockless. A
 * page found in rpin[] is cached in pages[] (every writer stores the same
 * page, held by the region pin), so that the next lookup is one load.
 */
static noinline struct page *region_copy(struct shv_slot *s, struct page **pp, u64 idx)
{
	struct page *pg = region_page(s, idx);

	if (pg)
		smp_store_release(&pp[idx], pg);	/* for slot_page()'s acquire */
	return pg;
}

/* inline: a hit is one load in the caller (the commonest lookup) */
static __always_inline struct page *slot_page(struct shv_slot *s, struct page **pp, u64 idx)
{
	struct page *pg = smp_load_acquire(&pp[idx]);	/* pairs with publication */

	return likely(pg) ? pg : region_copy(s, pp, idx);
}

/* A pin taken for page idx becomes the slot's (pin_lock held, charged). */
static __always_inline void pin_publish(struct shv_vm *vm, struct shv_slot *s, u64 idx,
					struct page *pg)
{
	atomic_long_inc(&shv_global.pinned_pages);
	atomic64_inc(&vm->pages_pinned);
	s->rcount[shv_slot_region(s, idx)]++;
	smp_store_release(&s->pages[idx], pg);	/* pinned before seen */
}

static int pin_backing_check(struct shv_slot *s, u64 idx, struct page *pg)
{
	if (pin_backing_ok(s, pg))
		return 0;
	shv_warn_rl("gfn 0x%llx: hva 0x%llx is a shared file mapping: only anonymous, shmem and hugetlbfs memory can back guest RAM\n",
		    s->base_gfn + idx, s->hva + idx * PAGE_SIZE);
	return -EOPNOTSUPP;
}

/*
 * Pin page idx of slot s; slot pin_lock held (killable wait already done).
 * may_wait: the page may be faulted in, waiting for a userfaultfd handler.
 */
static int pin_one(struct shv_vm *vm, struct shv_slot *s, u64 idx, bool may_wait,
		   struct page **page)
{
	unsigned int foll = FOLL_LONGTERM;
	struct page **pages = slot_pages(s);
	struct page *pg;
	int r;

	if (!pages)
		return -ENOMEM;
	pg = READ_ONCE(pages[idx]) ?: region_page(s, idx);
	if (pg) {
		*page = pg;
		return 0;
	}
	if (!(s->flags & SHADOWVM_MEM_READONLY))
		foll |= FOLL_WRITE;
	r = charge_pin(vm);
	if (r)
		return r;
	r = pin_page(s->hva + idx * PAGE_SIZE, foll, may_wait, &pg);
	if (r != 1) {
		atomic64_dec(&vm->mm->pinned_vm);
		shv_warn_rl("gfn 0x%llx: cannot pin guest memory at hva 0x%llx (%d)\n",
			    s->base_gfn + idx, s->hva + idx * PAGE_SIZE, r);
		return r < 0 ? r : -EFAULT;
	}
	r = pin_backing_check(s, idx, pg);
	if (r) {
		unpin_user_page(pg);
		atomic64_dec(&vm->mm->pinned_vm);
		return r;
	}
	pin_publish(vm, s, idx, pg);
	*page = pg;
	return 0;
}

int shv_gfn_to_page(struct shv_vm *vm, u64 gfn, bool write, bool nopin, struct page **page)
{
	struct shv_slot *s = shv_gfn_to_slot(vm, gfn);
	struct page **pages;
	u64 idx;
	int r;

	if (!s)
		return -ENOENT;
	if (write && (s->flags & SHADOWVM_MEM_READONLY))
		return -EROFS;
	idx = gfn - s->base_gfn;
	pages = smp_load_acquire(&s->pages);	/* pairs with slot_pages() */
	if (pages) {
		struct page *pg = slot_page(s, pages, idx);

		if (pg) {
			*page = pg;
			return 0;
		}
	}
	if (nopin)
		return -EAGAIN;
	might_sleep();
	if (current->mm != vm->mm)
		return -EFAULT;
	if (mutex_lock_killable(&s->pin_lock))
		return -EINTR;
	r = pin_one(vm, s, idx, true, page);
	mutex_unlock(&s->pin_lock);
	return r;
}

/*
 * The published pages of the n (at most max) frames from gfn into pages
 * (NULL where none is pinned yet). The slot (*sp) and the run's index in
 * it (*idx) when some are missing and the caller may pin them (this
 * process's mm); NULL when there is nothing to pin: all are there, the
 * run leaves its slot, or another process asks.
 */
static struct shv_slot *published_run(struct shv_vm *vm, u64 gfn, int n, int max,
				      struct page **pages, u64 *idx)
{
	struct shv_slot *s = shv_gfn_to_slot(vm, gfn);
	struct page **pp;
	bool rp = false;
	int k, missing = 0;

	if (!s || n > max || gfn - s->base_gfn + n > s->npages) {
		memset(pages, 0, n * sizeof(*pages));
		return NULL;
	}
	*idx = gfn - s->base_gfn;
	pp = smp_load_acquire(&s->pages);	/* pairs with slot_pages() */
	if (!pp) {
		memset(pages, 0, n * sizeof(*pages));
		missing = n;
	}
	/* a run (n <= max <= 512) spans at most two regions */
	if (pp && READ_ONCE(s->rpin) && (region_page(s, *idx) || region_page(s, *idx + n - 1)))
		rp = true;
	for (k = 0; rp && k < n; k++) {
		pages[k] = slot_page(s, pp, *idx + k);
		missing += !pages[k];
	}
	for (k = 0; pp && !rp && k < n; k++) {
		pages[k] = smp_load_acquire(&pp[*idx + k]);	/* pairs with publication */
		missing += !pages[k];
	}
	if (!missing || current->mm != vm->mm)
		return NULL;
	return s;
}

/*
 * The pages of the n (at most SHV_PRESENT_MAX) frames from gfn, all in one
 * slot, that are pinned already or present in the runner's page tables;
 * pages[k] is NULL for the others. Never faults memory in and never waits
 * for a userfaultfd handler. For speculative users (prefetch): a page the
 * guest never touched stays untouched in the host, as with KVM's
 * prefetch. One lockless probe and one pin call cover the whole run.
 */
void shv_gfns_to_pages_present(struct shv_vm *vm, u64 gfn, int n, struct page **pages)
{
	struct page *ref[SHV_PRESENT_MAX], *pin[SHV_PRESENT_MAX], **pp;
	unsigned int foll = FOLL_LONGTERM | FOLL_NOFAULT;
	struct shv_slot *s;
	int k, got;
	u64 idx;

	s = published_run(vm, gfn, n, SHV_PRESENT_MAX, pages, &idx);
	if (!s)
		return;
	if (!(s->flags & SHADOWVM_MEM_READONLY))
		foll |= FOLL_WRITE;
	/* references to the leading present pages: the pin below takes no fault */
	got = get_user_pages_fast_only(s->hva + idx * PAGE_SIZE, n, foll & FOLL_WRITE, ref);
	if (got <= 0)
		return;
	if (mutex_lock_killable(&s->pin_lock))
		goto put;
	pp = slot_pages(s);
	k = pp ? pin_user_pages_fast(s->hva + idx * PAGE_SIZE, got, foll, pin) : 0;
	/* a region pinned since published_run() looked: its pages are there */
	if (k > 0 && READ_ONCE(s->rpin) && (region_page(s, idx) || region_page(s, idx + k - 1))) {
		unpin_user_pages(pin, k);
		k = 0;
	}
	while (--k >= 0) {
		if (READ_ONCE(pp[idx + k]) || pin_backing_check(s, idx + k, pin[k]) ||
		    charge_pin(vm)) {
			unpin_user_page(pin[k]);	/* pinned already, or refused */
			continue;
		}
		pin_publish(vm, s, idx + k, pin[k]);
		pages[k] = pin[k];
	}
	mutex_unlock(&s->pin_lock);
put:
	for (k = 0; k < got; k++)
		put_page(ref[k]);
}

/*
 * Is each of the n frames from slot index idx pinned already, as the
 * page nth_page(first, k)? (pin_lock held, or a hint without it.)
 */
static bool run_pinned_as(struct page **pp, u64 idx, int n, struct page *first)
{
	int k;

	for (k = 0; k < n; k++)	/* pairs with the publishing store */
		if (smp_load_acquire(&pp[idx + k]) != nth_page(first, k))
			return false;
	return true;
}

/*
 * Does the runner (mm) map the 2 MiB at hva with one leaf entry, a PMD or
 * the PUD of a 1 GiB page, over the 512 pages from hpfn? Each entry is
 * read once, with interrupts off so that no page table is freed under the
 * walk (as gup_fast and KVM's host_pfn_mapping_level() do).
 */
static bool hva_maps_2m(struct mm_struct *mm, unsigned long hva, unsigned long hpfn)
{
	unsigned long flags;
	bool ok = false;
	pgd_t pgd;
	p4d_t p4d;
	pud_t pud;
	pmd_t pmd;

	local_irq_save(flags);
	pgd = READ_ONCE(*pgd_offset(mm, hva));
	if (pgd_none(pgd))
		goto out;
	p4d = READ_ONCE(*p4d_offset(&pgd, hva));
	if (p4d_none(p4d) || !p4d_present(p4d))
		goto out;
	pud = READ_ONCE(*pud_offset(&p4d, hva));
	if (pud_none(pud) || !pud_present(pud))
		goto out;
	if (pud_leaf(pud)) {
		ok = pud_pfn(pud) + ((hva & ~PUD_MASK) >> PAGE_SHIFT) == hpfn;
		goto out;
	}
	pmd = READ_ONCE(*pmd_offset(&pud, hva));
	ok = pmd_present(pmd) && pmd_leaf(pmd) && pmd_pfn(pmd) == hpfn;
out:
	local_irq_restore(flags);
	return ok;
}

/* s->lpin, allocated on first use (pin_lock held); NULL without memory */
static unsigned long *slot_lpin(struct shv_slot *s)
{
	if (!s->lpin)
		s->lpin = shv_zalloc(BITS_TO_LONGS(s->npages) * sizeof(long));
	return s->lpin;
}

/*
 * The region pin: the 2 MiB region at slot index idx (pages pp, no rpin[]
 * entry) with one pin, when the runner maps it with one leaf entry over
 * the 512 pages from first. A pin of one page holds its whole folio, which
 * cannot be split while pinned, and the walk showed that the runner maps
 * each frame's address to nth_page(first, k) now. When no frame of the
 * region has a pages[] entry (rcount[]), or only slot index hint has one
 * and it is its page of first (the frame the fault pinned before it
 * tried the region), the pin is published as the region's rpin[] entry
 * and counted and charged to RLIMIT_MEMLOCK as 512 pinned pages, and
 * hint's own pin is dropped (its pages[] entry stays, held by the region
 * pin): one single-page pin, one page-table walk and no pass over the
 * frames. From then on every pages[] entry of the region is a copy of
 * its rpin[] page (slot_page()). Otherwise every frame not pinned yet is
 * published in pages[] as nth_page(first, k) (as a 4 KiB fill would pin
 * it), marked in s->lpin as covered by the region pin, and counted and
 * charged as a pinned page. slot_free() unpins the folio once per region. pin_lock
 * held. Returns 1 (every frame's page is nth_page(first, k)), 0 (some
 * frame is pinned as another page: the others are published all the
 * same) or -1 (not mapped by one leaf entry, no memory for s->lpin, or
 * RLIMIT_MEMLOCK too near for 512 more: the caller tries the runs).
 */
static int pin_region(struct shv_vm *vm, struct shv_slot *s, struct page **pp, u64 idx,
		      struct page *first, unsigned int foll, u64 hint)
{
	unsigned long hva = s->hva + idx * PAGE_SIZE;
	u64 r = shv_slot_region(s, idx);
	int n = s->rcount[r];
	unsigned long *lpin = NULL;
	struct page *pg, **e = pp + idx;
	int k, fresh = 512, other = 0;

	/* the pages[] entries of the region, if any, are all hint's */
	if (n && (n > 1 || hint - idx >= 512 || pp[hint] != nth_page(first, hint - idx))) {
		lpin = slot_lpin(s);
		if (!lpin)
			return -1;
	} else if (!s->rpin) {
		struct page **rp = shv_zalloc(shv_slot_nregions(s) * sizeof(*rp));

		if (!rp)
			return -1;
		smp_store_release(&s->rpin, rp);	/* zeroed array first */
	}
	if (pin_user_pages_fast(hva, 1, foll, &pg) != 1)
		return -1;
	/* 512 now, those pinned already given back below; quiet: the runs follow */
	if (pg != first || !hva_maps_2m(vm->mm, hva, page_to_pfn(first)) ||
	    __charge_pins(vm, 512, false)) {
		unpin_user_page(pg);
		return -1;
	}
	if (!lpin) {
		/* pinned and charged before seen: pairs with region_page() */
		smp_store_release(&s->rpin[r], first);
		atomic_long_inc(&shv_global.region_pins);
		atomic_long_add(512 - n, &shv_global.pinned_pages);
		atomic64_add(512 - n, &vm->pages_pinned);
		if (n) {	/* hint's own pin: the region pin holds its page */
			unpin_user_page(pp[hint]);
			atomic64_sub(n, &vm->mm->pinned_vm);
			s->rcount[r] = 0;
		}
		return 1;
	}
	smp_wmb();	/* pinned before seen: pairs with the readers' acquire */
	for (k = 0; k < 512; k++) {
		struct page *old = e[k];	/* stable: written under pin_lock */

		if (likely(!old)) {
			__set_bit(idx + k, lpin);
			WRITE_ONCE(e[k], nth_page(first, k));
			continue;
		}
		/*
		 * It keeps the pin it has: its own, or an earlier region
		 * pin's (its lpin bit stays as it is)
		 */
		fresh--;
		other += old != nth_page(first, k);
	}
	atomic64_sub(512 - fresh, &vm->mm->pinned_vm);	/* charged for 512 */
	s->rcount[r] += fresh;
	if (fresh)
		atomic_long_inc(&shv_global.region_pins);
	else
		unpin_user_page(pg);	/* nothing for it to hold */
	atomic_long_add(fresh, &shv_global.pinned_pages);
	atomic64_add(fresh, &vm->pages_pinned);
	return !other;
}

/*
 * May the 2 MiB region of slot s from frame base be one large leaf: in the
 * slot, with the runner's address of base 2 MiB aligned as its own?
 */
bool shv_slot_holds_2m(const struct shv_slot *s, u64 base)
{
	return base >= s->base_gfn && base + 512 <= s->base_gfn + s->npages &&
	       IS_ALIGNED(s->hva + (base - s->base_gfn) * PAGE_SIZE, SZ_2M);
}

/*
 * Are the 512 host pages from frame pfn 2 MiB aligned and all in the folio
 * of pg (a page the caller holds)? Only pg is looked at: pfn need not be
 * a page at all when the answer is no.
 */
bool shv_folio_holds_2m(struct page *pg, unsigned long pfn)
{
	struct folio *f = page_folio(pg);

	return IS_ALIGNED(pfn, 512) && folio_nr_pages(f) >= 512 && pfn >= folio_pfn(f) &&
	       pfn + 512 <= folio_pfn(f) + folio_nr_pages(f);
}

/*
 * For a fault on frame gfn that the guest maps with a large page (and no
 * frame of whose 2 MiB region is a guest table: the caller checked): the
 * page of gfn, pinned already, or held by a region pin taken here
 * (shv_gfns_pin_large()) when the runner maps the region with one huge
 * entry of a folio that covers it, without a pin of gfn's own first. A
 * reference (no fault, no userfaultfd wait) keeps the folio while the
 * region is pinned. NULL: the caller pins gfn alone (shv_gfn_to_page()).
 */
struct page *shv_gfn_region_pin(struct shv_vm *vm, u64 gfn, bool write)
{
	struct shv_slot *s = shv_gfn_to_slot(vm, gfn);
	u64 base = gfn & ~511ULL, idx;
	struct page *ref, **pp, *pg = NULL;

	if (!s || (write && (s->flags & SHADOWVM_MEM_READONLY)) || !shv_slot_holds_2m(s, base))
		return NULL;
	idx = base - s->base_gfn;
	pp = smp_load_acquire(&s->pages);	/* pairs with slot_pages() */
	if (pp) {
		pg = slot_page(s, pp, gfn - s->base_gfn);
		if (pg)
			return pg;
	}
	if (current->mm != vm->mm ||
	    get_user_pages_fast_only(s->hva + idx * PAGE_SIZE, 1,
				     s->flags & SHADOWVM_MEM_READONLY ? 0 : FOLL_WRITE, &ref) != 1)
		return NULL;
	if (shv_folio_holds_2m(ref, page_to_pfn(ref)) && shv_gfns_pin_large(vm, base, ref, gfn))
		pg = nth_page(ref, gfn - base);
	put_page(ref);
	return pg;
}

/*
 * The 512 frames of the 2 MiB region from gfn (in one slot), for a 2 MiB
 * shadow leaf (mmu/fault.c) over the 512 physically contiguous host pages
 * from first, all in first's folio (the caller checked the folio, and
 * holds a pin on one of its pages, that of frame hint): true when the page
 * of every frame is nth_page(first, k), pinned already or pinned here.
 * Frames not present in the runner's page tables are never faulted in (no
 * userfaultfd wait): false. A region pinned by an rpin[] entry already:
 * true when that is first, without the lock. In one pin_lock section: by
 * one region pin (pin_region()) when the runner maps the region with one
 * huge entry; otherwise (a THP mapped by 4 KiB entries) the region goes in
 * runs of SHV_PIN_RUN_MAX: a run pinned already as expected is skipped;
 * else one pin_user_pages_fast(FOLL_NOFAULT) call (a THP mapped by one
 * PMD: one folio reference update), one pass that checks each page and
 * counts the fresh pins, one charge to RLIMIT_MEMLOCK, and one pass that
 * publishes them (a page pinned already keeps its pin, the new one is
 * dropped). The folio's backing is checked once. A run that is not as
 * expected (a hole, another page) publishes nothing and ends it: false;
 * the runs before it stay pinned, as 4 KiB fills would have pinned them.
 */
bool shv_gfns_pin_large(struct shv_vm *vm, u64 gfn, struct page *first, u64 hint)
{
	unsigned int foll = FOLL_LONGTERM | FOLL_NOFAULT;
	struct shv_slot *s = shv_gfn_to_slot(vm, gfn);
	struct page *pin[SHV_PIN_RUN_MAX], **pp;
	int k, j, got, fresh;
	bool ok = false;
	u64 idx;

	if (!s || gfn - s->base_gfn + 512 > s->npages)
		return false;
	idx = gfn - s->base_gfn;
	pp = smp_load_acquire(&s->pages);	/* pairs with slot_pages() */
	if (pp && (region_page(s, idx) == first || run_pinned_as(pp, idx, 512, first)))
		return true;			/* all pinned: no lock */
	if (current->mm != vm->mm || pin_backing_check(s, idx, first))
		return false;
	if (!(s->flags & SHADOWVM_MEM_READONLY))
		foll |= FOLL_WRITE;
	if (mutex_lock_killable(&s->pin_lock))
		return false;
	pp = slot_pages(s);
	if (!pp)
		goto out;
	/* a region pin of rpin[] stays the region's only pin */
	pin[0] = region_page(s, idx);
	if (pin[0]) {
		ok = pin[0] == first;
		goto out;
	}
	k = pin_region(vm, s, pp, idx, first, foll, hint - s->base_gfn);
	if (k >= 0) {
		ok = k;
		goto out;
	}
	for (k = 0; k < 512; k += SHV_PIN_RUN_MAX) {
		struct page *run = nth_page(first, k);

		if (READ_ONCE(pp[idx + k]) && run_pinned_as(pp, idx + k, SHV_PIN_RUN_MAX, run))
			continue;
		got = pin_user_pages_fast(s->hva + (idx + k) * PAGE_SIZE, SHV_PIN_RUN_MAX, foll,
					  pin);
		if (got <= 0)
			goto out;
		fresh = 0;
		for (j = 0; j < got; j++) {
			struct page *old = READ_ONCE(pp[idx + k + j]);

			if (pin[j] != nth_page(run, j) || (old && old != pin[j]))
				break;
			fresh += !old;
		}
		if (j < SHV_PIN_RUN_MAX || (fresh && charge_pins(vm, fresh))) {
			unpin_user_pages(pin, got);
			goto out;
		}
		/* publish; a page pinned already keeps its pin */
		for (j = 0; j < got; j++) {
			struct page **e = &pp[idx + k + j];

			if (READ_ONCE(*e))
				unpin_user_page(pin[j]);
			else
				smp_store_release(e, pin[j]);	/* pinned before seen */
		}
		atomic_long_add(fresh, &shv_global.pinned_pages);
		atomic64_add(fresh, &vm->pages_pinned);
		s->rcount[shv_slot_region(s, idx)] += fresh;
	}
	ok = true;
out:
	mutex_unlock(&s->pin_lock);
	return ok;
}
