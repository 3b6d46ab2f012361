// SPDX-License-Identifier: GPL-2.0
/*
 * VMCS initialisation. Contract: shv_vmcs_setup() fills the current VMCS
 * of a new vCPU with the controls probed in caps.c, the host state that
 * does not change per CPU, and the intercepts this module relies on
 * (the policy decides INVLPG exiting); guest state comes from SET_SREGS.
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

/* ---- VMCS initialisation ---- */

void shv_vmcs_setup(struct shv_vcpu *vcpu)
{
	u64 pat;

	vmcs_write(VMCS_LINK_POINTER, ~0UL);
	vmcs_write(PIN_BASED_VM_EXEC_CONTROL, shv_caps.pin);
	/*
	 * Under strict write-protection the shadow never goes stale, so a
	 * guest INVLPG only has to flush the (VPID-tagged) hardware TLB,
	 * which it does when it runs natively: no INVLPG exits. The policy
	 * says whether it needs to see every INVLPG.
	 */
	if (!shv_mmu_intercept_invlpg(vcpu->vm))
		vmcs_write(CPU_BASED_VM_EXEC_CONTROL, shv_caps.cpu & ~CPU_INVLPG_EXITING);
	else
		vmcs_write(CPU_BASED_VM_EXEC_CONTROL, shv_caps.cpu);
	/*
	 * lapic: with the TPR shadow, MOV to/from CR8 use the LAPIC register
	 * page as the virtual-APIC page (VTPR is the TPR) and do not exit.
	 */
	if (shv_caps.cpu & CPU_TPR_SHADOW) {
		vmcs_write(CPU_BASED_VM_EXEC_CONTROL, vmcs_read(CPU_BASED_VM_EXEC_CONTROL) &
			   ~(CPU_CR8_LOAD_EXITING | CPU_CR8_STORE_EXITING));
		vmcs_write(VIRTUAL_APIC_PAGE_ADDR, shv_lapic_vapic_page(vcpu));
		vmcs_write(TPR_THRESHOLD, 0);
	}
	vmcs_write(SECONDARY_VM_EXEC_CONTROL,
		   vcpu->vpid ? shv_caps.cpu2 : shv_caps.cpu2 & ~CPU2_ENABLE_VPID);
	if (vcpu->vpid)
		vmcs_write(VIRTUAL_PROCESSOR_ID, vcpu->vpid);
	shv_pause_vmcs_setup(vcpu);
	vmcs_write(VM_EXIT_CONTROLS, shv_caps.exit);
	vmcs_write(VM_ENTRY_CONTROLS, shv_caps.entry);
	/*
	 * #MC exits so the host's machine-check handler sees it; #DB keeps
	 * the host's DR6 the host's; #AC catches split locks.
	 */
	vmcs_write(EXCEPTION_BITMAP, (1u << PF_VECTOR) | (1u << MC_VECTOR) |
		   (1u << DB_VECTOR) | (1u << AC_VECTOR));
	vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, 0);	/* every #PF exits ... */
	vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
	vcpu->pf_filter_on = false;			/* ... until run.c says */
	vmcs_write(CR3_TARGET_COUNT, 0);
	vmcs_write(VM_EXIT_MSR_STORE_COUNT, 0);
	vmcs_write(VM_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
	vmcs_write(IO_BITMAP_A, page_to_phys(vcpu->io_bitmap));
	vmcs_write(IO_BITMAP_B, page_to_phys(vcpu->io_bitmap + 1));
	vmcs_write(MSR_BITMAP, page_to_phys(vcpu->msr_bitmap));
	vmcs_write(CR0_GUEST_HOST_MASK, ~(unsigned long)X86_CR0_TS);
	vmcs_write(CR4_GUEST_HOST_MASK, ~0UL);

	/* host state that does not change per CPU */
	vmcs_write(HOST_CS_SELECTOR, __KERNEL_CS);
	vmcs_write(HOST_SS_SELECTOR, __KERNEL_DS);
	vmcs_write(HOST_DS_SELECTOR, 0);
	vmcs_write(HOST_ES_SELECTOR, 0);
	vmcs_write(HOST_FS_SELECTOR, 0);
	vmcs_write(HOST_GS_SELECTOR, 0);
	vmcs_write(HOST_TR_SELECTOR, GDT_ENTRY_TSS * 8);
	vmcs_write(HOST_RIP, (unsigned long)shv_vmx_exit_target);
	rdmsrl(MSR_IA32_CR_PAT, pat);
	vmcs_write(HOST_IA32_PAT, pat);

	/* guest: flat 32-bit protected mode, paging off */
	vmcs_write(GUEST_ACTIVITY_STATE, 0);
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmcs_write(GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(GUEST_DR7, 0x400);
	vmcs_write(GUEST_SYSENTER_CS, 0);
	vmcs_write(GUEST_SYSENTER_ESP, 0);
	vmcs_write(GUEST_SYSENTER_EIP, 0);
	vmcs_write(GUEST_RFLAGS, X86_EFLAGS_FIXED);
	vmcs_write(GUEST_RIP, 0);
	vmcs_write(GUEST_RSP, 0);
}

