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

struct shv_vcpu;
struct shv_vm;

int shv_lapic_create(struct shv_vcpu *vcpu);
void shv_lapic_destroy(struct shv_vcpu *vcpu);

/*
 * The vector the LAPIC presents to the CPU now (highest IRR above the
 * processor priority, APIC software-enabled), or -1.
 */
int shv_lapic_pending_irq(struct shv_vcpu *vcpu);
/* The CPU took vector (it was injected): IRR -> ISR, PPR recomputed. */
void shv_lapic_ack_irq(struct shv_vcpu *vcpu, int vector);

/*
 * An access to guest-physical gpa (len 1..8, within one page) that hit no
 * memory slot. 0: the LAPIC handled it; -ENOENT: not this vCPU's APIC page
 * (the access goes on to the next device, in the end to userspace).
 */
int shv_lapic_mmio_read(struct shv_vcpu *vcpu, u64 gpa, void *data, unsigned int len);
int shv_lapic_mmio_write(struct shv_vcpu *vcpu, u64 gpa, const void *data, unsigned int len);

#endif /* SHV_LAPIC_H */
