// SPDX-License-Identifier: GPL-2.0
/*
 * Guest MSR accesses. Every RDMSR/WRMSR exits (the MSR bitmap is all
 * ones); the MSRs listed here are emulated, anything else is #GP in the
 * guest (a rate-limited log line names it). A guest MSR write reaches the
 * hardware only through VMCS guest-state fields, or for the SYSCALL/SWAPGS
 * MSRs (STAR, LSTAR, CSTAR, FMASK, KERNEL_GS_BASE) that vcpu.c swaps in
 * while the vCPU is loaded, after a canonical/reserved-bit check here.
 *
 * Contract: return 0 on success, 1 to make the caller inject #GP(0).
 */
#include <linux/kernel.h>
#include <asm/msr-index.h>
#include <asm/msr.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"

static bool pat_valid(u64 pat)
{
	int i;

	for (i = 0; i < 8; i++) {
		u8 t = pat >> (i * 8);

		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

int shv_get_msr(struct shv_vcpu *vcpu, u32 msr, u64 *val)
{
	switch (msr) {
	case MSR_EFER:
		*val = vcpu->efer;
		return 0;
	case MSR_IA32_SYSENTER_CS:
		*val = vmcs_read(GUEST_SYSENTER_CS);
		return 0;
	case MSR_IA32_SYSENTER_ESP:
		*val = vmcs_read(GUEST_SYSENTER_ESP);
		return 0;
	case MSR_IA32_SYSENTER_EIP:
		*val = vmcs_read(GUEST_SYSENTER_EIP);
		return 0;
	case MSR_FS_BASE:
		*val = vmcs_read(GUEST_FS_BASE);
		return 0;
	case MSR_GS_BASE:
		*val = vmcs_read(GUEST_GS_BASE);
		return 0;
	case MSR_KERNEL_GS_BASE:
		rdmsrl(MSR_KERNEL_GS_BASE, *val);	/* live while loaded */
		return 0;
	case MSR_STAR:
		*val = vcpu->msr_star;
		return 0;
	case MSR_LSTAR:
		*val = vcpu->msr_lstar;
		return 0;
	case MSR_CSTAR:
		*val = vcpu->msr_cstar;
		return 0;
	case MSR_SYSCALL_MASK:
		*val = vcpu->msr_fmask;
		return 0;
	case MSR_IA32_CR_PAT:
		*val = vcpu->msr_pat;
		return 0;
	case MSR_IA32_TSC:
		*val = rdtsc();
		return 0;
	case MSR_IA32_APICBASE:
		*val = shv_lapic_get_base(vcpu);
		return 0;
	case MSR_IA32_TSC_DEADLINE:	/* lapic_timer.c */
		*val = shv_lapic_get_tsc_deadline(vcpu);
		return 0;
	case MSR_IA32_MISC_ENABLE:
		*val = vcpu->msr_misc_enable | MSR_IA32_MISC_ENABLE_FAST_STRING;
		return 0;
	case MSR_IA32_DEBUGCTLMSR:
		*val = 0;
		return 0;
	case MSR_IA32_UCODE_REV:
		*val = 0x100000000ULL;
		return 0;
	case MSR_IA32_MCG_CAP:
	case MSR_IA32_MCG_STATUS:
		*val = 0;
		return 0;
	default:
		shv_info_rl("guest RDMSR 0x%x not emulated: #GP\n", msr);
		return 1;
	}
}

int shv_set_msr(struct shv_vcpu *vcpu, u32 msr, u64 val)
{
	bool lm = shv_long_mode(vcpu);

	switch (msr) {
	case MSR_EFER:
		return shv_set_efer(vcpu, val);
	case MSR_IA32_SYSENTER_CS:
		vmcs_write(GUEST_SYSENTER_CS, val);
		return 0;
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
	case MSR_LSTAR:
	case MSR_CSTAR:
		if ((u64)(((s64)val << 16) >> 16) != val)
			return 1;	/* non-canonical */
		break;
	default:
		break;
	}
	switch (msr) {
	case MSR_IA32_SYSENTER_ESP:
		vmcs_write(GUEST_SYSENTER_ESP, val);
		return 0;
	case MSR_IA32_SYSENTER_EIP:
		vmcs_write(GUEST_SYSENTER_EIP, val);
		return 0;
	case MSR_FS_BASE:
		vmcs_write(GUEST_FS_BASE, val);
		return 0;
	case MSR_GS_BASE:
		vmcs_write(GUEST_GS_BASE, val);
		return 0;
	case MSR_KERNEL_GS_BASE:
		vcpu->msr_kgs_base = val;
		wrmsrl(MSR_KERNEL_GS_BASE, val);	/* the guest's value is live while loaded */
		return 0;
	case MSR_STAR:
		vcpu->msr_star = val;
		wrmsrl(MSR_STAR, val);	/* the guest's value is live while loaded */
		return 0;
	case MSR_LSTAR:
		vcpu->msr_lstar = val;
		wrmsrl(MSR_LSTAR, val);	/* the guest's value is live while loaded */
		return 0;
	case MSR_CSTAR:
		vcpu->msr_cstar = val;
		wrmsrl(MSR_CSTAR, val);	/* the guest's value is live while loaded */
		return 0;
	case MSR_SYSCALL_MASK:
		if (val >> 32)
			return 1;
		vcpu->msr_fmask = val;
		wrmsrl(MSR_SYSCALL_MASK, val);	/* the guest's value is live while loaded */
		return 0;
	case MSR_IA32_CR_PAT:
		if (!pat_valid(val))
			return 1;
		vcpu->msr_pat = val;	/* kept in software; guest RAM stays WB */
		return 0;
	case MSR_IA32_TSC:
		return 0;		/* TSC writes are ignored */
	case MSR_IA32_APICBASE:
		return shv_lapic_set_base(vcpu, val, false);
	case MSR_IA32_TSC_DEADLINE:	/* lapic_timer.c */
		shv_lapic_set_tsc_deadline(vcpu, val);
		return 0;
	case MSR_IA32_MISC_ENABLE:
		vcpu->msr_misc_enable = val;
		return 0;
	case MSR_IA32_DEBUGCTLMSR:
		return val ? 1 : 0;
	case MSR_IA32_MCG_STATUS:
		return val ? 1 : 0;
	case MSR_IA32_UCODE_REV:
		return 0;		/* BIOS_SIGN_ID: written before CPUID, ignored */
	default:
		shv_info_rl("guest WRMSR 0x%x <- 0x%llx not emulated: #GP%s\n", msr, val,
			    lm ? " (long mode)" : "");
		return 1;
	}
}
