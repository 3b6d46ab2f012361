/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policies.h - one kselftest variant per shadow MMU policy, generated from
 * the uapi list SHADOWVM_MMU_POLICY_NAMES (through be_policies[]), so that
 * every per-policy test runs every policy the module registers:
 *
 *	FIXTURE(foo) { ... };
 *	POLICY_VARIANTS(foo);
 *
 * declares FIXTURE_VARIANT(foo) { uint32_t policy; } and registers, for
 * each policy, the variant that FIXTURE_VARIANT_ADD(foo, <short name>)
 * { .policy = <number> } would (the short name with '-' turned into '_':
 * tests are named foo.wp.case, foo.unsync.case, ...).
 *
 * The short names are strings, which FIXTURE_VARIANT_ADD cannot take, so
 * a constructor does what it does (the harness's own
 * __register_fixture_variant()) for each entry of the list.
 * Include after kselftest_harness.h.
 */
#ifndef SHADOWVM_SELFTEST_POLICIES_H
#define SHADOWVM_SELFTEST_POLICIES_H

#include <stdint.h>
#include <linux/shadowvm.h>

#include "backend.h"

/* how many policies uapi lists */
#define POLICY_NR BE_NPOLICIES

/* be_policies[i].name with '-' turned into '_' (a static buffer) */
const char *policy_variant_name(unsigned int i);

#define POLICY_VARIANTS(fixture)					\
	FIXTURE_VARIANT(fixture) {					\
		uint32_t policy;					\
	};								\
	static FIXTURE_VARIANT(fixture) _##fixture##_policy_variants[POLICY_NR]; \
	static struct __fixture_variant_metadata			\
		_##fixture##_policy_objects[POLICY_NR];			\
	static void __attribute__((constructor))			\
	_register_##fixture##_policy_variants(void)			\
	{								\
		unsigned int i;						\
									\
		for (i = 0; i < POLICY_NR; i++) {			\
			_##fixture##_policy_variants[i].policy =	\
				be_policies[i].nr;			\
			_##fixture##_policy_objects[i].name =		\
				policy_variant_name(i);			\
			_##fixture##_policy_objects[i].data =		\
				&_##fixture##_policy_variants[i];	\
			__register_fixture_variant(			\
				&_##fixture##_fixture_object,		\
				&_##fixture##_policy_objects[i]);	\
		}							\
	}

/*
 * GRT_POLICY_FIXTURE_HOOKS(fixture, mem_size): the FIXTURE_SETUP and
 * FIXTURE_TEARDOWN of a per-policy guest-runtime test whose fixture holds
 * struct tvm t, struct grt_script s and bool live: setup creates a VM of
 * mem_size bytes with the variant's policy on the default backend (the
 * test skips when that backend's device is missing), teardown destroys
 * it. Needs guest_paging.h, <string.h> and <errno.h>.
 */
#define GRT_POLICY_FIXTURE_HOOKS(fixture, mem_size)			\
	GRT_POLICY_FIXTURE_HOOKS_AND(fixture, mem_size, do { } while (0))

/*
 * The same, and the teardown runs the statement teardown_extra first
 * (after a failed ASSERT too: e.g. to put back a module parameter).
 */
#define GRT_POLICY_FIXTURE_HOOKS_AND(fixture, mem_size, teardown_extra)	\
	FIXTURE_SETUP(fixture)						\
	{								\
		enum be_kind kind = tvm_default_kind();			\
		int r;							\
									\
		memset(self, 0, sizeof(*self));				\
		gs_init(&self->s);					\
		r = grt_create(&self->t, kind, mem_size, variant->policy, 0, 0); \
		if (tvm_no_device(r))					\
			SKIP(return, "%s backend device missing",	\
			     be_ops_by_kind(kind)->name);		\
		ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r)); \
		self->live = true;					\
	}								\
									\
	FIXTURE_TEARDOWN(fixture)					\
	{								\
		teardown_extra;						\
		if (self->live)						\
			tvm_destroy(&self->t);				\
		gs_free(&self->s);					\
	}

#endif
