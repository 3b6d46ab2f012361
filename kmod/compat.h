/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-version compatibility shim: the one place where shadowvm adapts
 * to kernel API differences (Debian 12's 6.1 and 6.12, and mainline).
 */
#ifndef SHADOWVM_COMPAT_H
#define SHADOWVM_COMPAT_H

#include <linux/version.h>
#include <asm/apic.h>

/* Re-raise an NMI that arrived while the guest ran, as a real NMI. */
static inline void svm_self_nmi(void)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	__apic_send_IPI_self(NMI_VECTOR);
#else
	apic->send_IPI_self(NMI_VECTOR);
#endif
}

#endif /* SHADOWVM_COMPAT_H */
