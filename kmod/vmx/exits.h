/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers the exit handlers (exits.c, io.c) share. */
#ifndef SHADOWVM_VMX_EXITS_H
#define SHADOWVM_VMX_EXITS_H

#include "shadowvm.h"
#include "vmx_defs.h"

/* The guest runs 64-bit code (long mode and CS.L). */
static inline bool cs_64bit(struct shv_vcpu *vcpu)
{
	return shv_long_mode(vcpu) && ((vmcs_read(GUEST_CS_AR_BYTES) >> 13) & 1);
}

/* VMCS fields of ES, CS, SS, DS, FS, GS, in that order (vmx/io.c) */
extern const u32 shv_seg_sel_field[6], shv_seg_base_field[6], shv_seg_limit_field[6],
		 shv_seg_ar_field[6];

static inline unsigned long get_gpr(struct shv_vcpu *vcpu, int reg)
{
	if (reg == SHV_RSP)
		return vmcs_read(GUEST_RSP);
	return vcpu->regs[reg];
}

static inline void set_gpr(struct shv_vcpu *vcpu, int reg, unsigned long val)
{
	if (reg == SHV_RSP)
		vmcs_write(GUEST_RSP, val);
	else
		vcpu->regs[reg] = val;
}

static inline int inject_ud(struct shv_vcpu *vcpu)
{
	shv_queue_exception(vcpu, UD_VECTOR, false, 0);
	return 1;
}

#endif /* SHADOWVM_VMX_EXITS_H */
