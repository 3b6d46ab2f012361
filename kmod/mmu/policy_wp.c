// SPDX-License-Identifier: GPL-2.0
/*
 * The write-protect policy ("wp", the default). Every guest frame
 * shadowed as a page table stays write-protected; every guest write to
 * one traps and is emulated (pt_write.c drops the shadow entries derived
 * from what it wrote), so every cached root is always coherent: CR3
 * loads, INVLPG and context changes need no shadow work, and INVLPG runs
 * natively (it only has to flush the VPID-tagged hardware TLB).
 */
#include "mmu_internal.h"

const struct shv_mmu_policy_ops shv_policy_wp = {
	.name			= "wp",
	.write_protect		= true,
	.intercept_invlpg	= false,
	.pf_bypass_ok		= true,
};
