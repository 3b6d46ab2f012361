// SPDX-License-Identifier: GPL-2.0
/*
 * Guest control registers and EFER. Contract: shv_set_cr0/3/4() and
 * shv_set_efer() apply a guest MOV (or WRMSR) with the architectural
 * checks (#GP: the caller injects on -EINVAL), keep the hardware CR0/CR4
 * that the guest runs with (shadow paging forces PG, and more) in step,
 * load the PAE PDPTE registers where the SDM says the instruction does,
 * and tell the MMU about every paging-context change or CR3 load.
 */
#include <linux/module.h>
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/io.h>
#include <linux/uaccess.h>
#include <linux/sched/signal.h>
#include <linux/preempt.h>
#include <asm/desc.h>
#include <asm/fpu/api.h>
#include <asm/msr.h>
#include <asm/tlbflush.h>
#include <asm/special_insns.h>
#include <asm/segment.h>
#include <asm/cpu_entry_area.h>
#include <asm/debugreg.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"
#include "compat.h"
#include "emulate/emulate.h"
#include "mmu/walker.h"

/* ---- control registers ---- */

u64 shv_guest_cr4_allowed(void)
{
	u64 ok = X86_CR4_PSE | X86_CR4_PAE | X86_CR4_PGE | X86_CR4_DE | X86_CR4_TSD |
		 X86_CR4_PCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;

	/* CPUID shows MCE when the host has it (cpuid.c) */
	if (boot_cpu_has(X86_FEATURE_MCE))
		ok |= X86_CR4_MCE;
	if (boot_cpu_has(X86_FEATURE_SMEP))
		ok |= X86_CR4_SMEP;
	if (boot_cpu_has(X86_FEATURE_SMAP))
		ok |= X86_CR4_SMAP;
	if (boot_cpu_has(X86_FEATURE_PCID))
		ok |= X86_CR4_PCIDE;
	return ok;
}

/* CR0.TS is guest-owned (no exit on CLTS or a TS-only MOV): read it back. */
void shv_sync_cr0_ts(struct shv_vcpu *vcpu)
{
	vcpu->cr0 = (vcpu->cr0 & ~(u64)X86_CR0_TS) | (vmcs_read(GUEST_CR0) & X86_CR0_TS);
}

/* Recompute the hardware CR0/CR4/EFER and entry controls from guest state. */
void shv_update_hw_cr(struct shv_vcpu *vcpu)
{
	bool paging = vcpu->cr0 & X86_CR0_PG;
	u64 cr0, cr4, efer;
	u32 entry = shv_caps.entry;

	cr0 = (vcpu->cr0 & ~(X86_CR0_CD | X86_CR0_NW)) | X86_CR0_PE | X86_CR0_PG |
	      X86_CR0_NE | X86_CR0_WP;
	cr0 |= shv_caps.cr0_fixed0 & ~(u64)(X86_CR0_CD | X86_CR0_NW);
	cr0 &= shv_caps.cr0_fixed1 | X86_CR0_PE | X86_CR0_PG;
	/*
	 * CR0.WP: with guest WP=0 the shadow maps supervisor writes to
	 * read-only guest pages as writable supervisor-only entries, so the
	 * hardware always runs with WP=1.
	 */
	/* real mode runs at CPL 3 in v86 mode: no alignment checks there */
	if (vcpu->rmode.active)
		cr0 &= ~(u64)X86_CR0_AM;
	cr4 = vcpu->cr4 & (X86_CR4_DE | X86_CR4_TSD | X86_CR4_PCE | X86_CR4_OSFXSR |
			   X86_CR4_OSXMMEXCPT);
	if (paging)
		cr4 |= vcpu->cr4 & (X86_CR4_PGE | X86_CR4_SMEP | X86_CR4_SMAP);
	/* guest PCIDs tag the hardware TLB: a no-flush CR3 load keeps them */
	if (vcpu->efer & EFER_LMA)
		cr4 |= vcpu->cr4 & X86_CR4_PCIDE;
	/*
	 * CR4.MCE: the host's, whatever the guest's (the guest sees its own
	 * in the read shadow): a machine check while the guest runs must
	 * reach the host as an exception (a VM exit), not shut the CPU down.
	 */
	cr4 |= cr4_read_shadow() & X86_CR4_MCE;
	cr4 |= X86_CR4_PAE | X86_CR4_VMXE | shv_caps.cr4_fixed0;
	cr4 &= shv_caps.cr4_fixed1;

	efer = (vcpu->efer & (EFER_SCE | EFER_LME | EFER_LMA)) | EFER_NX;
	if (vcpu->efer & EFER_LMA)
		entry |= ENTRY_IA32E_MODE;
	else
		efer &= ~(EFER_LME | EFER_LMA);

	vmcs_write(GUEST_CR0, cr0);
	vmcs_write(CR0_READ_SHADOW, vcpu->cr0);
	vmcs_write(GUEST_CR4, cr4);
	vmcs_write(CR4_READ_SHADOW, vcpu->cr4);
	vmcs_write(GUEST_IA32_EFER, efer);
	vmcs_write(VM_ENTRY_CONTROLS, entry);
}

/* PAE paging (not IA-32e): the PDPTE registers are in use. */
static bool pae_paging(struct shv_vcpu *vcpu)
{
	return (vcpu->cr0 & X86_CR0_PG) && (vcpu->cr4 & X86_CR4_PAE) &&
	       !(vcpu->efer & EFER_LMA);
}

/*
 * Load the PDPTE registers from guest CR3 (SDM 4.4.1). 1: #GP (the PDPT is
 * not in RAM, or a present entry has a reserved bit set); nothing changes.
 */
static int load_pdptrs(struct shv_vcpu *vcpu)
{
	u64 p[4];
	int i;

	if (shv_read_gpa(vcpu->vm, vcpu->cr3 & 0xffffffe0ULL, p, sizeof(p)))
		return 1;
	for (i = 0; i < 4; i++)
		if (shv_pae_pdpte_bad(vcpu, p[i]))
			return 1;
	memcpy(vcpu->pdptrs, p, sizeof(p));
	return 0;
}

/*
 * CR0, CR4 or EFER changed: recompute the hardware registers and the MMU
 * context. The PDPTE registers are reloaded from memory only when the SDM
 * says the instruction loads them (reload_pdptrs): MOV to CR0/CR4 changing
 * CR0.PG/CD/NW or CR4.PAE/PGE/PSE/SMEP with PAE paging in use afterwards.
 * Toggling CR0.WP, CR4.SMAP or EFER.NXE keeps the registers as they are,
 * even if the guest has since changed its PDPT in memory (the MMU uses
 * the registers, never the PDPT in memory). Returns 0, 1 (#GP: bad
 * PDPTEs) or -errno.
 */
static int mmu_context_changed(struct shv_vcpu *vcpu, bool reload_pdptrs)
{
	if (reload_pdptrs && pae_paging(vcpu) && load_pdptrs(vcpu))
		return 1;
	shv_update_hw_cr(vcpu);
	return shv_mmu_reset_context(vcpu);
}

/* Put back CR0, CR4 and EFER after a refused change. */
static void restore_cr(struct shv_vcpu *vcpu, u64 cr0, u64 cr4, u64 efer,
		       const u64 *pdptrs)
{
	vcpu->cr0 = cr0;
	vcpu->cr4 = cr4;
	vcpu->efer = efer;
	memcpy(vcpu->pdptrs, pdptrs, sizeof(vcpu->pdptrs));
	/* a refused MOV that had set PE from real mode: back to v86 form */
	if (!(cr0 & X86_CR0_PE))
		shv_rmode_enter(vcpu);
	mmu_context_changed(vcpu, false);
}

#define CR0_PDPTR_BITS	(X86_CR0_PG | X86_CR0_CD | X86_CR0_NW)
#define CR0_MMU_BITS	(CR0_PDPTR_BITS | X86_CR0_WP | X86_CR0_PE)
#define CR4_PDPTR_BITS	(X86_CR4_PSE | X86_CR4_PAE | X86_CR4_PGE | X86_CR4_SMEP)
#define CR4_MMU_BITS	(CR4_PDPTR_BITS | X86_CR4_SMAP | X86_CR4_PCIDE)

/*
 * Guest MOV to CR0 (also CLTS and LMSW). 1: #GP, with nothing changed.
 * The caller has synced CR0.TS from the hardware (shv_sync_cr0_ts()).
 */
int shv_set_cr0(struct shv_vcpu *vcpu, u64 val)
{
	u64 old = vcpu->cr0, old_efer = vcpu->efer, pdptrs[4];
	int r;

	val |= X86_CR0_ET;
	if (val & CR0_RESERVED_HI)
		return 1;
	if ((val & X86_CR0_NW) && !(val & X86_CR0_CD))
		return 1;
	if ((val & X86_CR0_PG) && !(val & X86_CR0_PE))
		return 1;
	/* SDM MOV CR0: clearing PG while CR4.PCIDE=1 is #GP(0) */
	if (!(val & X86_CR0_PG) && (vcpu->cr4 & X86_CR4_PCIDE))
		return 1;
	if ((val & X86_CR0_PG) && !(old & X86_CR0_PG) && (vcpu->efer & EFER_LME) &&
	    !(vcpu->cr4 & X86_CR4_PAE))
		return 1;
	/* real mode runs in v86 mode (vmx/rmode.c); it refuses what it cannot hold */
	if (!(val & X86_CR0_PE) && (old & X86_CR0_PE) && shv_rmode_enter(vcpu))
		return -EOPNOTSUPP;
	if ((val & X86_CR0_PE) && !(old & X86_CR0_PE) && shv_rmode_leave(vcpu))
		return -EOPNOTSUPP;
	if ((val & X86_CR0_PG) && !(old & X86_CR0_PG) && (vcpu->efer & EFER_LME)) {
		if (!(vcpu->cr4 & X86_CR4_PAE))
			return 1;
		if ((vmcs_read(GUEST_CS_AR_BYTES) >> 13) & 1)
			return 1;	/* CS.L=1 */
		vcpu->efer |= EFER_LMA;
	}
	if (!(val & X86_CR0_PG) && (old & X86_CR0_PG) && (vcpu->efer & EFER_LMA)) {
		if ((vmcs_read(GUEST_CS_AR_BYTES) >> 13) & 1)
			return 1;	/* in 64-bit mode */
		vcpu->efer &= ~EFER_LMA;
	}
	vcpu->cr0 = val;
	if (!((old ^ val) & CR0_MMU_BITS) && vcpu->efer == old_efer) {
		shv_update_hw_cr(vcpu);
		return 0;
	}
	memcpy(pdptrs, vcpu->pdptrs, sizeof(pdptrs));
	r = mmu_context_changed(vcpu, (old ^ val) & CR0_PDPTR_BITS);
	if (r > 0)
		restore_cr(vcpu, old, vcpu->cr4, old_efer, pdptrs);
	return r;
}

int shv_set_cr4(struct shv_vcpu *vcpu, u64 val)
{
	u64 old = vcpu->cr4, pdptrs[4];
	int r;

	if (val & ~shv_guest_cr4_allowed())
		return 1;
	if (shv_long_mode(vcpu) && !(val & X86_CR4_PAE))
		return 1;
	if ((val & X86_CR4_PCIDE) && !(old & X86_CR4_PCIDE) &&
	    (!shv_long_mode(vcpu) || (vcpu->cr3 & 0xfff)))
		return 1;
	vcpu->cr4 = val;
	if (!((old ^ val) & CR4_MMU_BITS)) {
		shv_update_hw_cr(vcpu);
		return 0;
	}
	/* clearing PCIDE flushes every PCID: the context reset flushes */
	memcpy(pdptrs, vcpu->pdptrs, sizeof(pdptrs));
	r = mmu_context_changed(vcpu, (old ^ val) & CR4_PDPTR_BITS);
	if (r > 0)
		restore_cr(vcpu, vcpu->cr0, old, vcpu->efer, pdptrs);
	return r;
}

int shv_set_cr3(struct shv_vcpu *vcpu, u64 val)
{
	int maxphy = shv_guest_maxphyaddr();
	bool noflush = false;
	u64 old;
	int r;

	if (vcpu->cr4 & X86_CR4_PCIDE) {
		noflush = val & BIT_ULL(63);
		val &= ~BIT_ULL(63);
	}
	if (shv_long_mode(vcpu)) {
		if (val >> maxphy)
			return 1;
	} else {
		val &= 0xffffffffULL;
	}
	old = vcpu->cr3;
	vcpu->cr3 = val;
	/* MOV to CR3 with PAE paging loads the PDPTE registers (SDM 4.4.1) */
	if (pae_paging(vcpu) && load_pdptrs(vcpu)) {
		vcpu->cr3 = old;
		return 1;
	}
	r = shv_mmu_new_cr3(vcpu, noflush);
	if (r > 0)
		vcpu->cr3 = old;
	return r;
}

/*
 * WRMSR(EFER). 1: #GP, with EFER and everything derived from it unchanged.
 * CR0.TS is guest-owned: sync it first, or shv_update_hw_cr() would put a
 * stale TS back into the guest's CR0.
 */
int shv_set_efer(struct shv_vcpu *vcpu, u64 val)
{
	u64 old = vcpu->efer, pdptrs[4];
	int r;

	if (val & ~EFER_ALLOWED)
		return 1;
	if ((val & EFER_NX) && !shv_cpuid_has_nx())
		return 1;
	if ((vcpu->cr0 & X86_CR0_PG) && ((old ^ val) & EFER_LME))
		return 1;
	shv_sync_cr0_ts(vcpu);
	/* LMA is read-only to WRMSR */
	val = (val & ~EFER_LMA) | (old & EFER_LMA);
	vcpu->efer = val;
	if (!((old ^ val) & EFER_NX)) {
		shv_update_hw_cr(vcpu);
		return 0;
	}
	/* NXE changes the walk, not the PDPTE registers */
	memcpy(pdptrs, vcpu->pdptrs, sizeof(pdptrs));
	r = mmu_context_changed(vcpu, false);
	if (r)
		restore_cr(vcpu, vcpu->cr0, vcpu->cr4, old, pdptrs);
	return r;
}

