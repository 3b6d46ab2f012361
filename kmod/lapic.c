// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel local APIC. Contract: kmod/lapic.h. (Placeholder: no
 * APIC yet; every access goes on to userspace and no interrupt is ever
 * pending. Replaced by the xAPIC model.)
 */
#include <linux/errno.h>
#include "shadowvm.h"
#include "lapic.h"

int shv_lapic_create(struct shv_vcpu *vcpu)
{
	return 0;
}

void shv_lapic_destroy(struct shv_vcpu *vcpu)
{
}

int shv_lapic_pending_irq(struct shv_vcpu *vcpu)
{
	return -1;
}

void shv_lapic_ack_irq(struct shv_vcpu *vcpu, int vector)
{
}

int shv_lapic_mmio_read(struct shv_vcpu *vcpu, u64 gpa, void *data, unsigned int len)
{
	return -ENOENT;
}

int shv_lapic_mmio_write(struct shv_vcpu *vcpu, u64 gpa, const void *data, unsigned int len)
{
	return -ENOENT;
}
