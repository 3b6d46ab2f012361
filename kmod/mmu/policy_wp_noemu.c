// SPDX-License-Identifier: GPL-2.0
/*
 * The write-protect-without-emulation policy ("wp-noemu"): like "wp",
 * guest tables are write-protected, but a guest write to one is never
 * emulated: the frame is unprotected (its shadow pages zapped, so the
 * write re-executes natively) and shadowed again at its next use as a
 * table. Both steps are the ones "wp" already takes when emulation
 * fails, so coherence is that of "wp". One exception: when the same
 * instruction faults again on the same frame right after an unprotect
 * (the frame is a table of the very walk the write goes through, which
 * re-protects it at once), the write is emulated, so a self-mapping
 * table cannot livelock the vCPU.
 */
#include "mmu_internal.h"

static enum shv_pt_write_action noemu_pt_write(struct shv_vcpu *vcpu, u64 gfn)
{
	struct shv_mmu_vcpu *m = vcpu->mmu;
	unsigned long rip = shv_rip(vcpu);

	if (m->noemu_gfn == gfn && m->noemu_rip == rip) {
		m->noemu_gfn = ~0ULL;
		return SHV_PTW_EMULATE;
	}
	if (unprotect_gfn(vcpu, gfn))
		return SHV_PTW_EMULATE;
	m->noemu_gfn = gfn;
	m->noemu_rip = rip;
	return SHV_PTW_RESUME;
}

const struct shv_mmu_policy_ops shv_policy_wp_noemu = {
	.name			= "wp-noemu",
	.write_protect		= true,
	.intercept_invlpg	= false,
	.pf_bypass_ok		= true,	/* an unprotect zaps the frame's pages */
	.pt_write		= noemu_pt_write,
};
