// SPDX-License-Identifier: GPL-2.0
/*
 * The software guest page-table walker: one walker for every guest paging
 * mode (32-bit 2-level, PAE 3-level, 4-level), parameterized by a small
 * mode description rather than copied per mode.
 *
 * Contract: shv_walk() translates a guest linear address for an access
 * (PFERR_WRITE/USER/FETCH) exactly as the SDM (vol. 3A ch. 4) describes:
 * present and reserved bits for the guest's MAXPHYADDR and mode, U/S, R/W
 * with CR0.WP, XD with EFER.NXE, SMEP, SMAP (with EFLAGS.AC and implicit
 * supervisor accesses). On success it sets the guest's Accessed bits on
 * every level and Dirty on the leaf for a write, each with a compare-
 * exchange on guest memory (a lost race restarts the walk), and returns
 * what the shadow needs: the frames of each guest table, the entries and
 * the accumulated rights. On a guest fault it returns -EFAULT with the
 * architectural error code; nothing in guest memory is changed then.
 * shv_walk_perm_fault() is its permission check alone, for a caller that
 * reuses a walk's rights for another access (fault.c), and
 * shv_walk_fault_ec() its error code for a fault it did not walk to.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <asm/processor-flags.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"
#include "walker.h"

#define PTE_P		BIT_ULL(0)
#define PTE_W		BIT_ULL(1)
#define PTE_U		BIT_ULL(2)
#define PTE_A		BIT_ULL(5)
#define PTE_D		BIT_ULL(6)
#define PTE_PS		BIT_ULL(7)
#define PTE_G		BIT_ULL(8)
#define PTE_XD		BIT_ULL(63)

static u64 rsvd_above(int maxphy, int top)
{
	/* bits maxphy..top (inclusive) */
	if (maxphy > top)
		return 0;
	return GENMASK_ULL(top, maxphy);
}

/* Reserved-bit mask for an entry at @level, huge when @ps. */
static u64 rsvd_mask(struct shv_vcpu *vcpu, int mode_levels, int level, bool ps)
{
	int m = shv_guest_maxphyaddr();
	u64 r;

	if (mode_levels == 2) {
		/* 32-bit paging: only a 4 MiB PDE has reserved bits (PSE-36) */
		if (level == 2 && ps) {
			int hi = min(m, 40);

			return GENMASK_ULL(21, 13 + (hi - 32));
		}
		return 0;
	}
	/* PAE: bits 62:M are reserved; 4-level: 51:M (62:52 are ignored) */
	r = rsvd_above(m, mode_levels == 3 ? 62 : 51);
	if (!(vcpu->efer & EFER_NX))
		r |= PTE_XD;
	if (mode_levels == 4 && level == 4)
		r |= PTE_PS;
	if (ps && level == 2)
		r |= GENMASK_ULL(20, 13);
	if (ps && level == 3)
		r |= GENMASK_ULL(29, 13);
	if (level == 3 && mode_levels == 4 && ps && !shv_cpuid_has_1g())
		r |= PTE_PS;	/* no 1 GiB pages: PS is reserved */
	return r;
}

bool shv_pae_pdpte_bad(struct shv_vcpu *vcpu, u64 pdpte)
{
	if (!(pdpte & PTE_P))
		return false;
	return pdpte & (GENMASK_ULL(2, 1) | GENMASK_ULL(8, 5) |
			rsvd_above(shv_guest_maxphyaddr(), 63));
}

/* The rights (ACC_*) and G of a present guest leaf entry on its own */
static __always_inline void leaf_rights(struct shv_vcpu *vcpu, int levels, u64 gpte,
					unsigned int *acc, bool *global)
{
	*acc = ACC_X;
	if (gpte & PTE_W)
		*acc |= ACC_W;
	if (gpte & PTE_U)
		*acc |= ACC_U;
	if (levels > 2 && (vcpu->efer & EFER_NX) && (gpte & PTE_XD))
		*acc &= ~ACC_X;
	*global = gpte & PTE_G;
}

bool shv_gpte_leaf_prefetchable(struct shv_vcpu *vcpu, int levels, u64 gpte, u64 *gfn,
				unsigned int *acc, bool *global)
{
	if ((gpte & (PTE_P | PTE_A)) != (PTE_P | PTE_A) ||
	    (gpte & rsvd_mask(vcpu, levels, 1, false)))
		return false;
	*gfn = (gpte & (levels == 2 ? GENMASK_ULL(31, 12) : GENMASK_ULL(51, 12))) >> PAGE_SHIFT;
	leaf_rights(vcpu, levels, gpte, acc, global);
	return true;
}

bool shv_gpte_large_prefetchable(struct shv_vcpu *vcpu, int levels, u64 gpte, u64 *gfn,
				 unsigned int *acc, bool *global)
{
	const u64 pap = PTE_P | PTE_A | PTE_PS;

	if (levels < 3 || (gpte & pap) != pap || (gpte & rsvd_mask(vcpu, levels, 2, true)))
		return false;
	*gfn = (gpte & GENMASK_ULL(51, 21)) >> PAGE_SHIFT;
	leaf_rights(vcpu, levels, gpte, acc, global);
	return true;
}

int shv_guest_levels(struct shv_vcpu *vcpu)
{
	if (!(vcpu->cr0 & X86_CR0_PG))
		return 0;
	if (vcpu->efer & EFER_LMA)
		return 4;
	if (vcpu->cr4 & X86_CR4_PAE)
		return 3;
	return 2;
}

/* Does the permission check of an access fail? (SDM 4.6) */
bool shv_walk_perm_fault(struct shv_vcpu *vcpu, unsigned int acc, u32 access)
{
	bool user = access & PFERR_USER, write = access & PFERR_WRITE;
	bool fetch = access & PFERR_FETCH;

	if (user) {
		if (!(acc & ACC_U))
			return true;
		if (write && !(acc & ACC_W))
			return true;
		if (fetch && !(acc & ACC_X))
			return true;
		return false;
	}
	if (fetch) {
		if (!(acc & ACC_X))
			return true;
		if ((vcpu->cr4 & X86_CR4_SMEP) && (acc & ACC_U))
			return true;
		return false;
	}
	if (write && !(acc & ACC_W) && (vcpu->cr0 & X86_CR0_WP))
		return true;
	if ((vcpu->cr4 & X86_CR4_SMAP) && (acc & ACC_U)) {
		/*
		 * implicit supervisor accesses ignore EFLAGS.AC: every one
		 * at CPL 3 (U/S=0 there), those the caller names at CPL < 3
		 */
		bool implicit = (access & SHV_PFERR_IMPLICIT) || shv_cpl(vcpu) == 3;

		if (implicit || !(vmcs_read(GUEST_RFLAGS) & X86_EFLAGS_AC))
			return true;
	}
	return false;
}

u32 shv_walk_fault_ec(struct shv_vcpu *vcpu, u32 access, bool present, bool rsvd)
{
	u32 ec = access & (PFERR_WRITE | PFERR_USER);

	if (present)
		ec |= PFERR_PRESENT;
	if (rsvd)
		ec |= PFERR_RSVD | PFERR_PRESENT;
	if ((access & PFERR_FETCH) &&
	    ((vcpu->cr4 & X86_CR4_SMEP) ||
	     ((vcpu->cr4 & X86_CR4_PAE) && (vcpu->efer & EFER_NX))))
		ec |= PFERR_FETCH;
	return ec;
}

/*
 * One guest entry (size 4 or 8, naturally aligned): from a pinned table
 * (the common case) with one aligned load, which a concurrent guest write
 * cannot tear; else through shv_read_gpa(), which pins the table.
 */
static int read_gpte(struct shv_vcpu *vcpu, u64 gpa, int size, u64 *pte)
{
	u64 v = 0;
	int r;

	if (!shv_read_word_pinned(vcpu->vm, gpa, size, pte))
		return 0;
	r = shv_read_gpa(vcpu->vm, gpa, &v, size);
	*pte = v;
	return r;
}

int shv_walk(struct shv_vcpu *vcpu, u64 la, u32 access, struct shv_walk *w, bool set_ad)
{
	int levels = shv_guest_levels(vcpu);
	int esize = levels == 2 ? 4 : 8;
	int shift_per_level = levels == 2 ? 10 : 9;
	unsigned int acc = ACC_ALL;
	int level, r, tries = 0;
	u64 table, pte;

retry:
	memset(w, 0, sizeof(*w));
	w->levels = levels;
	acc = ACC_ALL;
	if (!levels) {
		w->gpa = (u32)la;
		w->gfn = w->gpa >> PAGE_SHIFT;
		w->access = ACC_ALL;
		w->leaf_level = 1;
		w->dirty = true;
		return 0;
	}
	if (levels == 4)
		table = vcpu->cr3 & GENMASK_ULL(51, 12);
	else if (levels == 3)
		table = 0;	/* from the PDPTE registers */
	else
		table = vcpu->cr3 & 0xfffff000ULL;
	if (levels != 4)
		la = (u32)la;

	for (level = levels; level >= 1; level--) {
		int shift = 12 + shift_per_level * (level - 1);
		u64 idx, pte_gpa, rsvd;
		bool ps;

		w->access_above[level] = acc;
		if (levels == 3 && level == 3) {
			pte = vcpu->pdptrs[(la >> 30) & 3];
			w->pte_gpa[level] = ~0ULL;
			w->pte[level] = pte;
			if (!(pte & PTE_P))
				goto not_present;
			table = pte & GENMASK_ULL(51, 12);
			continue;
		}
		idx = (la >> shift) & ((1u << shift_per_level) - 1);
		pte_gpa = table + idx * esize;
		w->table_gfn[level] = table >> PAGE_SHIFT;
		w->pte_gpa[level] = pte_gpa;
		r = read_gpte(vcpu, pte_gpa, esize, &pte);
		if (r)
			return r;
		w->pte[level] = pte;
		if (!(pte & PTE_P))
			goto not_present;
		ps = (pte & PTE_PS) && level > 1 && level < 4 &&
		     (levels != 2 || (vcpu->cr4 & X86_CR4_PSE));
		rsvd = rsvd_mask(vcpu, levels, level, ps);
		if (pte & rsvd) {
			w->error_code = shv_walk_fault_ec(vcpu, access, true, true);
			return -EFAULT;
		}
		if (!(pte & PTE_W))
			acc &= ~ACC_W;
		if (!(pte & PTE_U))
			acc &= ~ACC_U;
		if ((pte & PTE_XD) && levels != 2 && (vcpu->efer & EFER_NX))
			acc &= ~ACC_X;
		if (level == 1 || ps) {
			u64 base, off;

			w->leaf_level = level;
			if (levels == 2 && level == 2) {
				/* 4 MiB page, PSE-36 high bits in 20:13 */
				base = (pte & 0xffc00000ULL) | (((pte >> 13) & 0xff) << 32);
				off = la & 0x3fffff;
			} else {
				base = pte & GENMASK_ULL(51, shift);
				off = la & ((1ULL << shift) - 1);
			}
			w->gpa = base + off;
			w->gfn = w->gpa >> PAGE_SHIFT;
			w->big_base_gfn = base >> PAGE_SHIFT;
			w->dirty = pte & PTE_D;
			w->global = pte & PTE_G;
			break;
		}
		table = pte & (levels == 2 ? 0xfffff000ULL : GENMASK_ULL(51, 12));
	}
	w->access = acc;
	if (shv_walk_perm_fault(vcpu, acc, access)) {
		w->error_code = shv_walk_fault_ec(vcpu, access, true, false);
		return -EFAULT;
	}

	if (!set_ad)
		return 0;
	/* Accessed on every level used, Dirty on the leaf for a write. */
	for (level = levels; level >= w->leaf_level; level--) {
		u64 old = w->pte[level], new = old | PTE_A;
		bool swapped;

		if (w->pte_gpa[level] == ~0ULL)
			continue;	/* PAE PDPTE: no A bit */
		if (level == w->leaf_level && (access & PFERR_WRITE))
			new |= PTE_D;
		if (new == old)
			continue;
		r = shv_cmpxchg_gpa(vcpu->vm, w->pte_gpa[level], old, new, esize, false,
				    &swapped);
		if (r)
			return r;
		if (!swapped) {
			if (++tries > 100)
				return -EAGAIN;
			goto retry;
		}
		w->pte[level] = new;
		w->ad_set = true;
		if (level == w->leaf_level && (new & PTE_D))
			w->dirty = true;
	}
	return 0;

not_present:
	w->fault_level = level;
	w->error_code = shv_walk_fault_ec(vcpu, access, false, false);
	return -EFAULT;
}
