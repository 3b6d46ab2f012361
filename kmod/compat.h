/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-version compatibility shim: the one place where shadowvm adapts
 * to kernel API differences (Debian 12's 6.1 and 6.12, and mainline).
 * Usable from C and from assembly (vmenter.S): the assembler part only
 * names the kernel's own mitigation macros and feature flags.
 */
#ifndef SHADOWVM_COMPAT_H
#define SHADOWVM_COMPAT_H

#include <linux/version.h>
#include <asm/cpufeatures.h>
#include <asm/nospec-branch.h>

#ifdef __ASSEMBLY__

#include <asm/alternative.h>

/*
 * VERW right before VMLAUNCH/VMRESUME (clobbers ZF) when the kernel asks
 * for CPU buffer clearing: X86_FEATURE_CLEAR_CPU_BUF (MDS, TAA, MMIO,
 * RFDS: what KVM's VMX entry uses in 6.1 and 6.12), or, where the kernel
 * has it, X86_FEATURE_CLEAR_CPU_BUF_VM (VERW before entering a guest only:
 * AMD TSA in 6.1/6.12, every VM-only VERW mitigation in later kernels).
 * One VERW when either is set, none otherwise: vmenter.S skips its VERW
 * unless X86_FEATURE_CLEAR_CPU_BUF or SHV_FEATURE_CLEAR_CPU_BUF_VM is set
 * (the same flag twice on kernels without the VM-only one).
 */
#ifdef X86_FEATURE_CLEAR_CPU_BUF_VM
#define SHV_FEATURE_CLEAR_CPU_BUF_VM	X86_FEATURE_CLEAR_CPU_BUF_VM
#else
#define SHV_FEATURE_CLEAR_CPU_BUF_VM	X86_FEATURE_CLEAR_CPU_BUF
#endif

/*
 * Branch history clearing after VM exit (BHI): the kernel's own macro,
 * patched in when X86_FEATURE_CLEAR_BHB_LOOP_ON_VMEXIT is set.
 */
#define SHV_VMEXIT_CLEAR_BHB	CLEAR_BRANCH_HISTORY_VMEXIT

#else /* !__ASSEMBLY__ */

/*
 * The version of the kernel built against: SHV_KERNEL_VERSION comes from
 * Kbuild (VERSION, PATCHLEVEL, SUBLEVEL of its Makefile, encoded as
 * KERNEL_VERSION() does), so that the version tests below stay here.
 */
#define SHV_KERNEL_AT_LEAST(a, b, c)	(KERNEL_VERSION(a, b, c) <= SHV_KERNEL_VERSION)

#include <linux/percpu.h>
#include <linux/mm.h>
#include <linux/ptrace.h>
#include <asm/apic.h>
#include <asm/irq_vectors.h>
#include <asm/mce.h>
#include <asm/reboot.h>
#include <asm/processor-flags.h>

/* Re-raise an NMI that arrived while the guest ran, as a real NMI. */
static inline void shv_self_nmi(void)
{
#if SHV_KERNEL_AT_LEAST(6, 6, 0)
	__apic_send_IPI_self(NMI_VECTOR);
#else
	apic->send_IPI_self(NMI_VECTOR);
#endif
}

/*
 * The kernel's emergency virtualization-disable callback (crash kexec and
 * emergency reboot call it on every CPU): mainline since 6.5, and 6.1
 * stable since 6.1.149 (Debian 12's 6.1 has it). Before that the kernel
 * ran VMXOFF itself on those paths (cpu_emergency_vmxoff() on any CPU with
 * CR4.VMXE set), so there is nothing to register.
 */
#if SHV_KERNEL_AT_LEAST(6, 5, 0) || \
	(SHV_KERNEL_AT_LEAST(6, 1, 149) && !SHV_KERNEL_AT_LEAST(6, 2, 0))
static inline void shv_emergency_register(cpu_emergency_virt_cb *cb)
{
	cpu_emergency_register_virt_callback(cb);
}

static inline void shv_emergency_unregister(cpu_emergency_virt_cb *cb)
{
	cpu_emergency_unregister_virt_callback(cb);
}
#else
static inline void shv_emergency_register(void (*cb)(void)) {}
static inline void shv_emergency_unregister(void (*cb)(void)) {}
#endif

/*
 * IBPB before a vCPU of another VM runs on this CPU. Through 6.12,
 * indirect_branch_prediction_barrier() itself checks the kernel's choice
 * (X86_FEATURE_USE_IBPB, spectre_v2_user=). Kernels without that flag
 * decide through the switch_vcpu_ibpb static key, which KVM checks before
 * the same barrier.
 */
static inline void shv_ibpb_switch_vm(void)
{
#ifdef X86_FEATURE_USE_IBPB
	indirect_branch_prediction_barrier();
#else
	if (static_branch_likely(&switch_vcpu_ibpb))
		indirect_branch_prediction_barrier();
#endif
}

/*
 * VMSCAPE: after a VM exit, ask for an IBPB before the next return to
 * userspace when the kernel chose that mitigation
 * (X86_FEATURE_IBPB_EXIT_TO_USER, where the kernel has it: Debian 12 6.1
 * and 6.12 do).
 */
static __always_inline void shv_vmexit_ibpb_to_user(void)
{
#ifdef X86_FEATURE_IBPB_EXIT_TO_USER
	if (cpu_feature_enabled(X86_FEATURE_IBPB_EXIT_TO_USER))
		this_cpu_write(x86_ibpb_exit_to_user, true);
#endif
}

/*
 * A machine check that hit the guest (#MC exit or MCE during VM entry)
 * goes to the host's handler, interrupts still off, as KVM does: with
 * fake user-mode registers, so the handler may recover by killing the
 * current task instead of panicking.
 */
static inline void shv_host_machine_check(void)
{
#ifdef CONFIG_X86_MCE
	struct pt_regs regs = {
		.cs = 3,
		.flags = X86_EFLAGS_IF,
	};

	do_machine_check(&regs);
#endif
}

/* vm_flags became read-only in 6.3: vm_flags_set() */
static inline void shv_vma_set_flags(struct vm_area_struct *vma, unsigned long flags)
{
#if SHV_KERNEL_AT_LEAST(6, 3, 0)
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

/*
 * The reschedule IPI, usable with interrupts off (shv_vcpu_kick()): 6.3
 * made smp_send_reschedule() a tracing macro around the arch function.
 */
static inline void shv_send_reschedule(int cpu)
{
#if SHV_KERNEL_AT_LEAST(6, 3, 0)
	arch_smp_send_reschedule(cpu);
#else
	smp_send_reschedule(cpu);
#endif
}

/*
 * nth_page(): mainline drops it once the pages of a folio are known to be
 * contiguous in the memmap; there a folio's pages are plain pointer
 * arithmetic (pin.c steps through one folio).
 */
#ifndef nth_page
#define nth_page(page, n)	((page) + (n))
#endif

#endif /* __ASSEMBLY__ */

#endif /* SHADOWVM_COMPAT_H */
