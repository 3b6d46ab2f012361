/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-kernel local APIC (xAPIC), as seen by the rest of the module.
 *
 * Contract: one LAPIC per vCPU, created with the vCPU and freed with it.
 * Its state is changed by the vCPU's own thread (MMIO, MSRs, interrupt
 * acknowledge) and by other threads delivering interrupts (IPIs, runner
 * MSIs, its timer); those only set request bits and call shv_vcpu_kick().
 * The injection code (vmx/) asks it for the highest-priority deliverable
 * vector and acknowledges the vector it injected; it never looks inside.
 */
#ifndef SHV_LAPIC_H
#define SHV_LAPIC_H

#include <linux/types.h>
#include <linux/compiler.h>

struct shv_vcpu;
struct shv_vm;

int shv_lapic_create(struct shv_vcpu *vcpu);
void shv_lapic_destroy(struct shv_vcpu *vcpu);

/*
 * The vector the LAPIC presents to the CPU now (the highest IRR vector
 * whose priority class is above the processor priority's), or -1. Reads
 * the TPR the guest may have changed through the TPR shadow (CR8).
 */
int shv_lapic_pending_irq(struct shv_vcpu *vcpu);
/* IRR known empty (a hint kept without scanning; see lapic.c) */
bool shv_lapic_irr_empty(struct shv_vcpu *vcpu);
/* The CPU took vector (it was injected): IRR -> ISR, PPR recomputed. */
void shv_lapic_ack_irq(struct shv_vcpu *vcpu, int vector);

/*
 * An access to guest-physical gpa (len 1..8, within one page) that hit no
 * memory slot. 0: the LAPIC handled it; -ENOENT: not this vCPU's APIC page
 * (the access goes on to the next device, in the end to userspace).
 */
int shv_lapic_mmio_read(struct shv_vcpu *vcpu, u64 gpa, void *data, unsigned int len);
int shv_lapic_mmio_write(struct shv_vcpu *vcpu, u64 gpa, const void *data, unsigned int len);

/* An INIT waits for the run loop (it ends an in-kernel HLT). */
bool shv_lapic_init_pending(struct shv_vcpu *vcpu);

/*
 * IA32_APIC_BASE. Guest WRMSR: 0, or 1 for #GP (reserved bits, x2APIC
 * enable). host (SET_SREGS): 0 or -EINVAL for the same refusals.
 */
u64 shv_lapic_get_base(struct shv_vcpu *vcpu);
int shv_lapic_set_base(struct shv_vcpu *vcpu, u64 val, bool host);
/* IA32_TSC_DEADLINE (0x6e0); the VMCS is current (the guest TSC offset). */
u64 shv_lapic_get_tsc_deadline(struct shv_vcpu *vcpu);
void shv_lapic_set_tsc_deadline(struct shv_vcpu *vcpu, u64 val);
/* CR8 is TPR[7:4] (TPR[3:0] read as 0 after a CR8 write). */
u64 shv_lapic_get_cr8(struct shv_vcpu *vcpu);
void shv_lapic_set_cr8(struct shv_vcpu *vcpu, u64 cr8);
/* CPUID.1:EDX.APIC: the APIC is hardware-enabled */
bool shv_lapic_hw_enabled(struct shv_vcpu *vcpu);

/*
 * The run loop, before each entry, vCPU lock held: INIT (the vCPU waits
 * for a SIPI in the kernel, interruptibly) and SIPI (RUN returns
 * SHADOWVM_EXIT_SIPI). 1: enter the guest; 0: return to userspace with
 * run->exit_reason set; -EINTR: a signal (exit_reason INTR set).
 */
int shv_lapic_run_check(struct shv_vcpu *vcpu);
/* Right before VM entry, interrupts off: the TPR threshold. */
void shv_lapic_before_entry(struct shv_vcpu *vcpu);
/* The virtual-APIC page for the TPR shadow (the register page itself). */
phys_addr_t shv_lapic_vapic_page(struct shv_vcpu *vcpu);

/* VM ioctl SHADOWVM_SIGNAL_MSI; vCPU ioctls SHADOWVM_GET/SET_LAPIC. */
long shv_lapic_signal_msi(struct shv_vm *vm, void __user *argp);
long shv_lapic_ioctl(struct shv_vcpu *vcpu, unsigned int ioctl, void __user *argp);
long shv_lapic_mp_state_ioctl(struct shv_vcpu *vcpu, unsigned int ioctl, void __user *argp);

#endif /* SHV_LAPIC_H */
