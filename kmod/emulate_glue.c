// SPDX-License-Identifier: GPL-2.0
/*
 * Glue between the instruction emulator and a vCPU: guest linear memory
 * through the shadow MMU's walker, MMIO through a userspace exit.
 * (Placeholder until the emulator lands: reports an emulation failure.)
 */
#include <linux/kernel.h>
#include "shadowvm.h"
#include "vmx_defs.h"

int svm_emulate_insn(struct svm_vcpu *vcpu, u64 fault_la, bool is_mmio)
{
	u64 d[2] = { svm_rip(vcpu), fault_la };

	svm_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_EMULATION, 2, d);
	return 0;
}
