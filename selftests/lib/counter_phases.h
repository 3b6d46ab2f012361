/* SPDX-License-Identifier: GPL-2.0 */
/*
 * counter_phases.h - a guest run cut into phases, each ended by an OUT of
 * its number, with the VM counters' difference over each phase: shared by
 * the tests that assert exact counter values per phase (mmu_counters_test,
 * mmu_pf_bypass_test). Include after kselftest_harness.h and
 * guest_paging.h. The fixture (self) needs: struct tvm t; uint64_t
 * d[SHADOWVM_STAT_NR], prev[SHADOWVM_STAT_NR]; char err[...].
 */
#ifndef SVMTEST_COUNTER_PHASES_H
#define SVMTEST_COUNTER_PHASES_H

#include <stdint.h>
#include <linux/shadowvm.h>

/* runs to the next OUT (value want), then d = counters - prev */
#define PHASE(self, want) do {						\
	struct grt_stopinfo __st;					\
	uint64_t __now[SHADOWVM_STAT_NR];				\
	int __i;							\
	grt_run(&(self)->t, &__st);					\
	ASSERT_EQ(GRT_STOP_OUT, __st.why) TH_LOG("guest: %s",		\
		grt_describe(&(self)->t, &__st, (self)->err,		\
			     sizeof((self)->err)));			\
	ASSERT_EQ(want, __st.value);					\
	ASSERT_EQ(0, grt_vm_stats(&(self)->t, __now, SHADOWVM_STAT_NR)); \
	for (__i = 0; __i < SHADOWVM_STAT_NR; __i++) {			\
		(self)->d[__i] = __now[__i] - (self)->prev[__i];	\
		(self)->prev[__i] = __now[__i];				\
	}								\
} while (0)

#define EXPECT_D(self, phase, name, val) do {				\
	EXPECT_EQ((uint64_t)(val), (self)->d[SHADOWVM_STAT_##name])	\
		TH_LOG("phase \"%s\": %s", phase, #name);		\
} while (0)

/* the guest's ACCESS record at slot: #PF count, error code, CR2 */
#define EXPECT_ACCESS(self, slot, count, ec, cr2) do {			\
	const uint64_t *__r = grt_res(&(self)->t) + (slot);		\
	EXPECT_EQ((uint32_t)(count), (uint32_t)__r[0])			\
		TH_LOG("slot %d: #PF count", slot);			\
	if ((count) == 1) {						\
		EXPECT_EQ((uint32_t)(ec), (uint32_t)(__r[0] >> 32))	\
			TH_LOG("slot %d: error code", slot);		\
		EXPECT_EQ((uint64_t)(cr2), __r[1])			\
			TH_LOG("slot %d: CR2", slot);			\
	}								\
} while (0)

#endif
