// SPDX-License-Identifier: GPL-2.0
/*
 * The shadow MMU.
 *
 * Contract: the hardware CR3 of a running guest always points at a shadow
 * root built here; the guest's own CR3 is only ever read by the software
 * walker. Shadow tables are PAE format (3 levels) for guests outside long
 * mode and 4-level for long mode. With guest paging off, the shadow maps
 * linear = guest-physical, filled lazily on #PF exits. Guest-physical
 * addresses without RAM are MMIO: the faulting instruction is emulated and
 * its access goes to userspace. Every shadow page is accounted, counted in
 * the stats and freed by svm_mmu_zap_all() / VM destruction.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/list.h>
#include <linux/highmem.h>
#include <linux/io.h>
#include "shadowvm.h"
#include "vmx_defs.h"

#define SPTE_P		BIT_ULL(0)
#define SPTE_RW		BIT_ULL(1)
#define SPTE_US		BIT_ULL(2)
#define SPTE_A		BIT_ULL(5)
#define SPTE_D		BIT_ULL(6)
#define SPTE_NX		BIT_ULL(63)
#define SPTE_ADDR_MASK	0x000ffffffffff000ULL

struct svm_sp {
	struct list_head link;		/* vm->mmu->pages */
	u64 *spt;
	struct page *page;
	int level;			/* 1 = PT ... 4 = PML4; 3 in PAE = PDPT */
};

struct svm_mmu_vm {
	struct list_head pages;
	long nr_pages;
};

struct svm_mmu_vcpu {
	struct svm_sp *root;
	int root_level;			/* 3 (PAE) or 4 */
};

static struct svm_sp *sp_alloc(struct svm_vm *vm, int level, bool dma32)
{
	struct svm_sp *sp = svm_zalloc(sizeof(*sp));

	if (!sp)
		return NULL;
	sp->page = svm_alloc_page(dma32 ? __GFP_DMA32 : 0);
	if (!sp->page) {
		svm_kfree(sp);
		return NULL;
	}
	sp->spt = page_address(sp->page);
	sp->level = level;
	set_page_private(sp->page, (unsigned long)sp);
	list_add(&sp->link, &vm->mmu->pages);
	vm->mmu->nr_pages++;
	vm->mmu_stats[SHADOWVM_STAT_SP_CREATED]++;
	vm->mmu_stats[SHADOWVM_STAT_SP_LIVE] = vm->mmu->nr_pages;
	return sp;
}

static void sp_free(struct svm_vm *vm, struct svm_sp *sp)
{
	list_del(&sp->link);
	set_page_private(sp->page, 0);
	vm->mmu->nr_pages--;
	vm->mmu_stats[SHADOWVM_STAT_SP_ZAPPED]++;
	vm->mmu_stats[SHADOWVM_STAT_SP_LIVE] = vm->mmu->nr_pages;
	svm_free_page(sp->page);
	svm_kfree(sp);
}

/* Called with vm->mmu_lock held. Drops every shadow page of the VM. */
void svm_mmu_zap_all(struct svm_vm *vm)
{
	struct svm_sp *sp, *tmp;
	int i;

	if (!vm->mmu)
		return;
	for (i = 0; i < SHADOWVM_MAX_VCPUS; i++) {
		struct svm_vcpu *v = vm->vcpus[i];

		if (v && v->mmu) {
			v->mmu->root = NULL;
			v->flush_pending = true;
		}
	}
	list_for_each_entry_safe(sp, tmp, &vm->mmu->pages, link)
		sp_free(vm, sp);
}

int svm_mmu_vm_init(struct svm_vm *vm)
{
	vm->mmu = svm_zalloc(sizeof(*vm->mmu));
	if (!vm->mmu)
		return -ENOMEM;
	INIT_LIST_HEAD(&vm->mmu->pages);
	return 0;
}

void svm_mmu_vm_destroy(struct svm_vm *vm)
{
	if (!vm->mmu)
		return;
	svm_mmu_zap_all(vm);
	svm_kfree(vm->mmu);
	vm->mmu = NULL;
}

int svm_mmu_vcpu_init(struct svm_vcpu *vcpu)
{
	vcpu->mmu = svm_zalloc(sizeof(*vcpu->mmu));
	return vcpu->mmu ? 0 : -ENOMEM;
}

void svm_mmu_vcpu_destroy(struct svm_vcpu *vcpu)
{
	/* The VM's shadow pages are freed with the VM. */
	if (vcpu->mmu) {
		mutex_lock(&vcpu->vm->mmu_lock);
		vcpu->mmu->root = NULL;
		mutex_unlock(&vcpu->vm->mmu_lock);
	}
	svm_kfree(vcpu->mmu);
	vcpu->mmu = NULL;
}

static bool guest_paging(struct svm_vcpu *vcpu)
{
	return vcpu->cr0 & X86_CR0_PG;
}

int svm_mmu_reset_context(struct svm_vcpu *vcpu)
{
	struct svm_vm *vm = vcpu->vm;

	mutex_lock(&vm->mmu_lock);
	vcpu->mmu->root = NULL;
	vcpu->mmu->root_level = (vcpu->efer & EFER_LMA) ? 4 : 3;
	/* nonpaging roots are per-vCPU trees; drop all on a mode change */
	svm_mmu_zap_all(vm);
	mutex_unlock(&vm->mmu_lock);
	return 0;
}

int svm_mmu_new_cr3(struct svm_vcpu *vcpu)
{
	svm_stat_inc(vcpu, CR3_LOADS);
	if (!guest_paging(vcpu))
		return 0;
	return svm_mmu_reset_context(vcpu);
}

void svm_mmu_invlpg(struct svm_vcpu *vcpu, u64 gva)
{
	svm_flush_tlb_gva(vcpu, gva);
}

int svm_mmu_load(struct svm_vcpu *vcpu)
{
	struct svm_vm *vm = vcpu->vm;
	int r = 0;

	if (vcpu->mmu->root)
		return 0;
	if (guest_paging(vcpu)) {
		u64 d[2] = { vcpu->cr0, vcpu->cr4 };

		svm_info_rl("guest paging is not supported yet\n");
		svm_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_BAD_STATE, 2, d);
		return -EOPNOTSUPP;
	}
	mutex_lock(&vm->mmu_lock);
	vcpu->mmu->root = sp_alloc(vm, vcpu->mmu->root_level, true);
	if (!vcpu->mmu->root)
		r = -ENOMEM;
	vcpu->flush_pending = true;
	mutex_unlock(&vm->mmu_lock);
	return r;
}

u64 svm_mmu_root_hpa(struct svm_vcpu *vcpu)
{
	return page_to_phys(vcpu->mmu->root->page);
}

static int sp_index(u64 la, int level)
{
	return (la >> (12 + 9 * (level - 1))) & 511;
}

static struct svm_sp *spte_child(u64 spte)
{
	return (struct svm_sp *)page_private(pfn_to_page((spte & SPTE_ADDR_MASK) >> PAGE_SHIFT));
}

/* Map la -> page at 4K in the current root; vm->mmu_lock held. */
static int map_4k(struct svm_vcpu *vcpu, u64 la, struct page *pg, bool writable)
{
	struct svm_vm *vm = vcpu->vm;
	struct svm_sp *sp = vcpu->mmu->root;
	bool pae = vcpu->mmu->root_level == 3;
	int level = sp->level;
	u64 *sptep;

	for (; level > 1; level--) {
		struct svm_sp *child;
		int idx = sp_index(la, level);

		if (pae && level == 3)
			idx &= 3;
		sptep = &sp->spt[idx];
		if (*sptep & SPTE_P) {
			sp = spte_child(*sptep);
			continue;
		}
		child = sp_alloc(vm, level - 1, false);
		if (!child)
			return -ENOMEM;
		if (pae && level == 3)	/* PDPTEs: no R/W, U/S or A bits */
			*sptep = page_to_phys(child->page) | SPTE_P;
		else
			*sptep = page_to_phys(child->page) | SPTE_P | SPTE_RW | SPTE_US | SPTE_A;
		sp = child;
	}
	sptep = &sp->spt[sp_index(la, 1)];
	*sptep = page_to_phys(pg) | SPTE_P | SPTE_US | SPTE_A |
		 (writable ? SPTE_RW | SPTE_D : 0);
	return 0;
}

int svm_mmu_gva_to_gpa(struct svm_vcpu *vcpu, u64 la, u32 access, u64 *gpa, u32 *fault_ec)
{
	if (!guest_paging(vcpu)) {
		*gpa = (u32)la;
		return 0;
	}
	return -EOPNOTSUPP;
}

/*
 * A #PF exit. With guest paging off every fault is hidden: the guest has
 * no page tables that could forbid anything. Fill the shadow, or emulate
 * the access if there is no RAM behind it.
 */
int svm_mmu_page_fault(struct svm_vcpu *vcpu, u64 la, u32 error_code)
{
	struct svm_vm *vm = vcpu->vm;
	bool write = error_code & PFERR_WRITE;
	struct page *pg;
	u64 gpa;
	u32 ec;
	int r;

	r = svm_mmu_gva_to_gpa(vcpu, la, error_code, &gpa, &ec);
	if (r)
		return r;
	mutex_lock(&vm->mmu_lock);
	r = svm_gfn_to_page(vm, gpa >> PAGE_SHIFT, write, &pg);
	if (r == -ENOENT || r == -EROFS) {
		mutex_unlock(&vm->mmu_lock);
		svm_stat_inc(vcpu, PF_HIDDEN);
		svm_stat_inc(vcpu, PF_HIDDEN_MMIO);
		return svm_emulate_insn(vcpu, la, true);
	}
	if (r) {
		mutex_unlock(&vm->mmu_lock);
		if (r == -ENOMEM || r == -EFAULT) {
			u64 d[2] = { gpa, r };

			svm_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_NO_MEMORY, 2, d);
			return 0;
		}
		return r;
	}
	{
		struct svm_slot *slot = svm_gfn_to_slot(vm, gpa >> PAGE_SHIFT);
		bool writable = !(slot->flags & SHADOWVM_MEM_READONLY);

		if (!vcpu->mmu->root) {
			mutex_unlock(&vm->mmu_lock);
			return 1;	/* zapped meanwhile: retry */
		}
		r = map_4k(vcpu, la, pg, writable);
	}
	mutex_unlock(&vm->mmu_lock);
	if (r == -ENOMEM) {
		u64 d[1] = { gpa };

		svm_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_NO_MEMORY, 1, d);
		return 0;
	}
	svm_stat_inc(vcpu, PF_HIDDEN);
	svm_stat_inc(vcpu, PF_HIDDEN_FILL);
	return 1;
}
