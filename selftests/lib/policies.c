// SPDX-License-Identifier: GPL-2.0
/*
 * policies.c - the variant names of POLICY_VARIANTS() (policies.h): the
 * short names of SHADOWVM_MMU_POLICIES() as C-identifier-like test names.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "policies.h"

const char *policy_variant_name(unsigned int i)
{
	static char names[POLICY_NR][32];
	char *p;

	if (i >= be_npolicies || i >= POLICY_NR)
		abort();
	if (!names[i][0]) {
		strncpy(names[i], be_policies[i].name, sizeof(names[i]) - 1);
		for (p = names[i]; *p; p++)
			if (*p == '-')
				*p = '_';
	}
	return names[i];
}
