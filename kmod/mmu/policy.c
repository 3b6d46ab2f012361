// SPDX-License-Identifier: GPL-2.0
/*
 * The registry of MMU policies. Contract: shv_mmu_policy_find() returns
 * the ops of a policy number that uapi's SHADOWVM_MMU_POLICY_NAMES names
 * and this file registers, NULL for any other number; vm.c accepts
 * exactly those. Adding a policy: one policy_*.c implementing struct
 * shv_mmu_policy_ops (see mmu_internal.h), its line below and its
 * extern in mmu_internal.h, its object in Kbuild, its number and name
 * in uapi.
 */
#include <linux/string.h>
#include "mmu_internal.h"

static const struct shv_mmu_policy_ops *const policies[] = {
	[SHADOWVM_MMU_POLICY_WRITE_PROTECT]	= &shv_policy_wp,
	[SHADOWVM_MMU_POLICY_UNSYNC]		= &shv_policy_unsync,
	[SHADOWVM_MMU_POLICY_VTLB]		= &shv_policy_vtlb,
	[SHADOWVM_MMU_POLICY_WP_NOEMU]		= &shv_policy_wp_noemu,
};

/* uapi's short name of each policy number it lists */
static const char *const uapi_names[] = SHADOWVM_MMU_POLICY_NAMES;

static const char *uapi_name(u32 nr)
{
	return nr < ARRAY_SIZE(uapi_names) ? uapi_names[nr] : NULL;
}

const struct shv_mmu_policy_ops *shv_mmu_policy_find(u32 nr)
{
	const struct shv_mmu_policy_ops *ops;

	if (!uapi_name(nr))
		return NULL;
	/* listed in uapi but not registered here, or registered by another name */
	if (WARN_ON_ONCE(nr >= ARRAY_SIZE(policies) || !policies[nr] ||
			 strcmp(policies[nr]->name, uapi_name(nr))))
		return NULL;
	ops = policies[nr];
	return ops;
}

bool shv_mmu_intercept_invlpg(struct shv_vm *vm)
{
	return vm->mmu->policy->intercept_invlpg;
}
