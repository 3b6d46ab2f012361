/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Harness glue for the shadowvm selftests: include after
 * kselftest_harness.h. The macros need the harness' _metadata in scope and
 * SKIP the test (with a reason) when the shadowvm device is missing, so the
 * suite degrades to skips on a machine without the module instead of
 * failing; run_tests.sh makes sure the module is loaded in the test VM.
 */
#ifndef SVMTEST_KSFT_H
#define SVMTEST_KSFT_H

#include <fcntl.h>
#include <string.h>

#include "svmtest.h"

#define SKIP_REASON_NODEV "/dev/shadowvm missing (shadowvm module not loaded)"

/*
 * The 6.1 harness runs a TEST_F body even when FIXTURE_SETUP skipped;
 * every TEST_F body starts with this.
 */
#define RETURN_IF_SETUP_SKIPPED() do {					\
	if (_metadata->skip)						\
		return;							\
} while (0)

/* fd = open("/dev/shadowvm") or skip */
#define OPEN_DEV_OR_SKIP(fd) do {					\
	(fd) = open(SHADOWVM_DEV, O_RDWR | O_CLOEXEC);			\
	if ((fd) < 0 && tvm_no_device(-errno))				\
		SKIP(return, SKIP_REASON_NODEV);			\
	ASSERT_LE(0, (fd)) TH_LOG("open %s: %s", SHADOWVM_DEV,		\
				  strerror(errno));			\
} while (0)

/* tvm_create_ex() or skip when the backend's device is missing */
#define TVM_CREATE_EX_OR_SKIP(t, kind, mem, cfg, id) do {		\
	int __r = tvm_create_ex((t), (kind), (mem), (cfg), (id));	\
	if (tvm_no_device(__r))						\
		SKIP(return, "%s backend device missing",		\
		     be_ops_by_kind(kind)->name);			\
	ASSERT_EQ(0, __r) TH_LOG("creating a %s test VM: %s",		\
				 be_ops_by_kind(kind)->name,		\
				 strerror(-__r));			\
} while (0)

/*
 * Behaviour tests run on shadowvm; SVMTEST_BACKEND=kvm runs them on KVM
 * instead (a developer aid to check the tests and guests themselves).
 */
#define TVM_CREATE_OR_SKIP(t, mem)					\
	TVM_CREATE_EX_OR_SKIP(t, tvm_default_kind(), mem, NULL, 0)

#define TVM_LOAD(t, blob) do {						\
	int __r = tvm_load((t), TVM_CODE, blob, GUEST_SIZE(blob));	\
	ASSERT_EQ(0, __r) TH_LOG("loading guest code: %s",		\
				 strerror(-__r));			\
} while (0)

/* one RUN that must succeed, exit reason checked */
#define TVM_RUN_EXPECT(t, e, why) do {					\
	int __r = tvm_run((t), (e));					\
	ASSERT_EQ(0, __r) TH_LOG("RUN failed: %s", strerror(-__r));	\
	ASSERT_EQ(why, (e)->reason)					\
		TH_LOG("exit %s (raw %u), expected %s, rip 0x%llx",	\
		       be_exit_name((e)->reason), (e)->raw_reason,	\
		       be_exit_name(why),				\
		       (unsigned long long)tvm_rip(t));			\
} while (0)

/*
 * text into the test log line by line, each as "what| line" (TH_LOG
 * truncates long messages): a guest's console, a runner's stderr
 */
static inline void svmtest_log_lines(struct __test_metadata *_metadata,
				     const char *what, const char *text)
{
	const char *p = text, *eol;

	while (*p) {
		eol = strchrnul(p, '\n');
		TH_LOG("%s| %.*s", what, (int)(eol - p), p);
		p = *eol ? eol + 1 : eol;
	}
}

#endif /* SVMTEST_KSFT_H */
