/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What vmx/rmode.c (real mode in v86 mode: state, delivery) and
 * vmx/rmode_insn.c (the instructions v86 mode refuses) share.
 */
#ifndef SHADOWVM_VMX_RMODE_H
#define SHADOWVM_VMX_RMODE_H

#include "shadowvm.h"
#include "vmx_defs.h"

#define V86_AR		0xf3	/* present, DPL 3, read/write data, accessed */
#define IOPL_MASK	X86_EFLAGS_IOPL

/* indexes into exits.h's shv_seg_*_field[] */
#define RM_ES	0
#define RM_CS	1
#define RM_SS	2
#define RM_DS	3

static inline void rm_queue_soft(struct shv_vcpu *vcpu, u32 type, int vector, unsigned int len)
{
	vcpu->event.valid = true;
	vcpu->event.info = INTR_INFO_VALID | type | vector;
	vcpu->event.error_code = 0;
	vcpu->event.insn_len = len;
}

/* #GP in v86 mode: do what real mode would have done, or reflect it */
int shv_rmode_gp(struct shv_vcpu *vcpu, u32 error_code);

#endif /* SHADOWVM_VMX_RMODE_H */
