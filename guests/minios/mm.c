// SPDX-License-Identifier: GPL-2.0
/*
 * minios memory management: physical pages, page tables in either 2-level
 * 32-bit mode or PAE (build-time: -DPAE), demand paging and copy-on-write.
 *
 * Contract:
 *  - physical pages come from the multiboot memory map (mm_init), above
 *    the kernel image and below 256 MiB; each has a reference count
 *    (pgref): 1 when allocated, +1 per extra address space mapping it
 *    copy-on-write. page_put() frees at 0. All counts and the free list
 *    are changed with interrupts off only.
 *  - the kernel half (identity map of RAM below 1 GiB, MMIO pages above
 *    2 GiB) is one set of page tables shared by every address space and
 *    never changed once processes exist (mm_map_mmio only before
 *    as_create). 2-level: each PD copies the kernel PDEs; PAE: each PDPT
 *    points at the shared kernel PDs for slots 0, 2 and 3 and at its own
 *    PD for slot 1 (the user GiB), so PDPTEs never change after creation.
 *  - user page tables of an address space are changed only by its owning
 *    process (faults, fork) or, before it first runs / after it died, by
 *    its parent (as_fork, as_destroy). Single CPU: so a timer interrupt in
 *    the middle of an update can switch to another process, which never
 *    touches this address space; these paths run with interrupts on.
 *  - user text is mapped read-only from the kernel image (PTE_SHARED: not
 *    counted, never freed); everything in [USER_LAZY, USER_END) is zero-
 *    filled on first touch; a write to a PTE_COW page copies it unless its
 *    count is 1 (then it is just made writable again).
 *  - an address space's pages are freed by as_destroy() (the parent, in
 *    wait, or the kernel for init), never while its process can run.
 */
#include "kernel.h"

#ifdef PAE
typedef uint64_t pte_t;
#define NPTE		512
#define PDE_SHIFT	21
#else
typedef uint32_t pte_t;
#define NPTE		1024
#define PDE_SHIFT	22
#endif

#define PTE_P		0x001u
#define PTE_W		0x002u
#define PTE_U		0x004u
#define PTE_PWT		0x008u
#define PTE_PCD		0x010u
#define PTE_COW		0x200u	/* software: a write copies the page */
#define PTE_SHARED	0x400u	/* software: not reference counted */
#define PTE_ADDR(e)	((uint32_t)(e) & 0xfffff000u)

#define MAX_PHYS	(256u << 20)
#define PAGE(pa)	((void *)(pa))

static uint16_t pgref[MAX_PHYS >> PAGE_SHIFT];
static uint32_t free_head;
uint32_t mm_free_pages;

#ifdef PAE
static pte_t kpd[4][NPTE] __attribute__((aligned(4096)));
static pte_t kpdpt[4] __attribute__((aligned(32)));
#define USER_PDE_FIRST	0
#define USER_PDE_END	NPTE
#else
static pte_t kpd[NPTE] __attribute__((aligned(4096)));
#define USER_PDE_FIRST	(USER_BASE >> PDE_SHIFT)
#define USER_PDE_END	(USER_END >> PDE_SHIFT)
#endif

extern char __user_start[], __user_end[], __user_lma[];

const char *mm_mode_name(void)
{
#ifdef PAE
	return "pae";
#else
	return "2level";
#endif
}

/* --- physical pages --- */
static uint32_t page_alloc(void)
{
	uint32_t fl = irq_save(), p = free_head;

	if (p) {
		free_head = *(uint32_t *)PAGE(p);
		mm_free_pages--;
		pgref[p >> PAGE_SHIFT] = 1;
	}
	irq_restore(fl);
	return p;
}

/* zeroing is outside the critical section: preemptible */
static uint32_t page_alloc_zeroed(void)
{
	uint32_t p = page_alloc();

	if (p)
		memset(PAGE(p), 0, PAGE_SIZE);
	return p;
}

static void page_get(uint32_t p)
{
	uint32_t fl = irq_save();

	pgref[p >> PAGE_SHIFT]++;
	irq_restore(fl);
}

static void page_put(uint32_t p)
{
	uint32_t fl = irq_save();

	if (!pgref[p >> PAGE_SHIFT])
		panic("page_put: page 0x%x is free", p);
	if (!--pgref[p >> PAGE_SHIFT]) {
		*(uint32_t *)PAGE(p) = free_head;
		free_head = p;
		mm_free_pages++;
	}
	irq_restore(fl);
}

/* --- the kernel half --- */
static pte_t *kernel_pte(uint32_t va)
{
	pte_t *pde;
	uint32_t pt;

#ifdef PAE
	pde = &kpd[va >> 30][(va >> PDE_SHIFT) & (NPTE - 1)];
#else
	pde = &kpd[va >> PDE_SHIFT];
#endif
	if (!(*pde & PTE_P)) {
		pt = page_alloc_zeroed();
		if (!pt)
			panic("out of memory for kernel page tables");
		*pde = pt | PTE_P | PTE_W;
	}
	return (pte_t *)PAGE(PTE_ADDR(*pde)) + ((va >> PAGE_SHIFT) & (NPTE - 1));
}

void mm_map_mmio(uint32_t pa)
{
	pa &= ~(PAGE_SIZE - 1);
	if (pa < USER_END && pa + PAGE_SIZE > USER_BASE)
		panic("MMIO page 0x%x inside user space", pa);
	*kernel_pte(pa) = pa | PTE_P | PTE_W | PTE_PCD | PTE_PWT;
}

void mm_init(const uint32_t (*ranges)[2], int nranges, uint32_t kernel_end)
{
	uint32_t top = 0, pa, lo, hi;
	int i;

	kernel_end = (kernel_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	for (i = 0; i < nranges; i++) {
		lo = (ranges[i][0] + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		hi = ranges[i][1] & ~(PAGE_SIZE - 1);
		if (hi > MAX_PHYS)
			hi = MAX_PHYS;
		if (hi > top)
			top = hi;
		if (lo < kernel_end)
			lo = kernel_end;
		/* lowest pages at the head of the list: pushed last */
		for (pa = hi; pa > lo; pa -= PAGE_SIZE) {
			*(uint32_t *)PAGE(pa - PAGE_SIZE) = free_head;
			free_head = pa - PAGE_SIZE;
			mm_free_pages++;
		}
	}
	if (!mm_free_pages)
		panic("no free memory above the kernel (0x%x)", kernel_end);
	/* identity map [4K, top): page 0 stays unmapped to catch NULL */
	for (pa = PAGE_SIZE; pa < top; pa += PAGE_SIZE)
		*kernel_pte(pa) = pa | PTE_P | PTE_W;
#ifdef PAE
	for (i = 0; i < 4; i++)
		if (i != (int)(USER_BASE >> 30))
			kpdpt[i] = (uint32_t)kpd[i] | PTE_P;
#endif
}

void mm_load_kernel_cr3(void)
{
#ifdef PAE
	write_cr3((uint32_t)kpdpt);
#else
	write_cr3((uint32_t)kpd);
#endif
}

void paging_enable(void)
{
	uint32_t cr0;

#ifdef PAE
	uint32_t cr4;

	asm volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= 1u << 5;		/* PAE */
	asm volatile("mov %0, %%cr4" : : "r"(cr4));
#endif
	mm_load_kernel_cr3();
	asm volatile("mov %%cr0, %0" : "=r"(cr0));
	cr0 |= (1u << 31) | (1u << 16);	/* PG, WP: the kernel honours COW */
	asm volatile("mov %0, %%cr0; jmp 1f; 1:" : : "r"(cr0) : "memory");
}

/* --- address spaces --- */
static pte_t *user_pde(struct aspace *as, uint32_t va)
{
#ifdef PAE
	return (pte_t *)as->upd + ((va >> PDE_SHIFT) & (NPTE - 1));
#else
	return (pte_t *)as->top + (va >> PDE_SHIFT);
#endif
}

static uint32_t user_pde_va(int i)
{
#ifdef PAE
	return USER_BASE + ((uint32_t)i << PDE_SHIFT);
#else
	return (uint32_t)i << PDE_SHIFT;
#endif
}

/* the PTE of va; alloc: create its page table (preemptible) */
static pte_t *user_pte(struct aspace *as, uint32_t va, int alloc)
{
	pte_t *pde = user_pde(as, va);
	uint32_t pt;

	if (!(*pde & PTE_P)) {
		if (!alloc)
			return NULL;
		pt = page_alloc_zeroed();
		if (!pt)
			return NULL;
		kstats.pt_pages++;
		*pde = pt | PTE_P | PTE_W | PTE_U;
	}
	return (pte_t *)PAGE(PTE_ADDR(*pde)) + ((va >> PAGE_SHIFT) & (NPTE - 1));
}

int as_create(struct aspace *as)
{
	uint32_t top = page_alloc_zeroed();
	int i;

	as->top = PAGE(top);
	as->upd = NULL;
	if (!top)
		return -1;
	as->cr3 = top;
#ifdef PAE
	{
		uint32_t upd = page_alloc_zeroed();
		pte_t *pdpt = as->top;

		if (!upd) {
			page_put(top);
			return -1;
		}
		as->upd = PAGE(upd);
		for (i = 0; i < 4; i++)
			pdpt[i] = kpdpt[i];
		pdpt[USER_BASE >> 30] = upd | PTE_P;
	}
#else
	for (i = 0; i < NPTE; i++)
		if (i < (int)USER_PDE_FIRST || i >= (int)USER_PDE_END)
			((pte_t *)as->top)[i] = kpd[i];
#endif
	return 0;
}

void as_destroy(struct aspace *as)
{
	pte_t *pde, *pt;
	int i, j;

	for (i = USER_PDE_FIRST; i < (int)USER_PDE_END; i++) {
		pde = user_pde(as, user_pde_va(i));
		if (!(*pde & PTE_P))
			continue;
		pt = PAGE(PTE_ADDR(*pde));
		for (j = 0; j < NPTE; j++)
			if ((pt[j] & PTE_P) && !(pt[j] & PTE_SHARED))
				page_put(PTE_ADDR(pt[j]));
		*pde = 0;
		page_put(PTE_ADDR((uint32_t)pt));
		kstats.pt_pages--;
	}
	if (as->upd)
		page_put((uint32_t)as->upd);
	page_put((uint32_t)as->top);
	as->top = as->upd = NULL;
	as->cr3 = 0;
}

int as_map_user_text(struct aspace *as)
{
	uint32_t off, size = __user_end - __user_start;
	pte_t *pte;

	for (off = 0; off < size; off += PAGE_SIZE) {
		pte = user_pte(as, USER_TEXT + off, 1);
		if (!pte)
			return -1;
		*pte = ((uint32_t)__user_lma + off) | PTE_P | PTE_U | PTE_SHARED;
	}
	return 0;
}

/*
 * child gets the parent's user mappings; writable private pages become
 * read-only copy-on-write in both. Runs in the parent, preemptible.
 */
int as_fork(struct aspace *child, struct aspace *parent)
{
	pte_t *pde, *pt, *cpte, e;
	int i, j;

	if (as_create(child))
		return -1;
	for (i = USER_PDE_FIRST; i < (int)USER_PDE_END; i++) {
		pde = user_pde(parent, user_pde_va(i));
		if (!(*pde & PTE_P))
			continue;
		pt = PAGE(PTE_ADDR(*pde));
		for (j = 0; j < NPTE; j++) {
			e = pt[j];
			if (!(e & PTE_P))
				continue;
			cpte = user_pte(child, user_pde_va(i) +
					((uint32_t)j << PAGE_SHIFT), 1);
			if (!cpte) {
				as_destroy(child);
				write_cr3(parent->cr3);
				return -1;
			}
			if (!(e & PTE_SHARED)) {
				if (e & PTE_W) {
					e = (e & ~(pte_t)PTE_W) | PTE_COW;
					pt[j] = e;
				}
				page_get(PTE_ADDR(e));
			}
			*cpte = e;
		}
	}
	write_cr3(parent->cr3);		/* the parent's writable TLB entries */
	return 0;
}

/*
 * a #PF at user address va (from user mode, or from the kernel touching
 * user memory): 0 fixed, 1 nothing to fix (stale TLB), -1 invalid.
 * Preemptible: only the current process changes its own tables.
 */
int mm_fault(struct aspace *as, uint32_t va, uint32_t err)
{
	uint32_t src, dst, page = va & ~(PAGE_SIZE - 1);
	pte_t *pte, e;

	if (va < USER_LAZY || va >= USER_END)
		return -1;
	pte = user_pte(as, va, 1);
	if (!pte)
		return -1;
	e = *pte;
	if (!(e & PTE_P)) {
		dst = page_alloc_zeroed();
		if (!dst)
			return -1;
		*pte = dst | PTE_P | PTE_W | PTE_U;
		invlpg(page);
		kstats.demand++;
		cur->demand++;
		return 0;
	}
	if ((err & 2) && (e & PTE_COW)) {
		src = PTE_ADDR(e);
		if (pgref[src >> PAGE_SHIFT] == 1) {
			/* the other sharers are gone: take it over */
			*pte = (e | PTE_W) & ~(pte_t)PTE_COW;
			invlpg(page);
			kstats.cow_reuse++;
			cur->cow_reuse++;
			return 0;
		}
		dst = page_alloc();
		if (!dst)
			return -1;
		memcpy(PAGE(dst), PAGE(src), PAGE_SIZE);
		*pte = dst | PTE_P | PTE_W | PTE_U;
		invlpg(page);
		page_put(src);
		kstats.cow++;
		cur->cow++;
		return 0;
	}
	if ((err & 2) && !(e & PTE_W))
		return -1;	/* write to read-only memory */
	return 1;
}

/*
 * the physical page behind user address va, made present (and private and
 * writable when write) by touching it, so a device may DMA to it while
 * the process sleeps; 0 when va is not valid user memory.
 */
uint32_t as_user_page(struct aspace *as, uint32_t va, int write)
{
	volatile uint8_t *p = (volatile uint8_t *)va;
	pte_t *pte;

	if (va < USER_LAZY || va >= USER_END)
		return 0;
	if (write)
		*p = *p;
	else
		(void)*p;
	pte = user_pte(as, va, 0);
	if (!pte || !(*pte & PTE_P) || (write && !(*pte & PTE_W)))
		return 0;
	return PTE_ADDR(*pte);
}
