// SPDX-License-Identifier: GPL-2.0
/*
 * failnth_test: every allocation the module makes may fail (item 2).
 *
 * /sys/kernel/debug/shadowvm/fail_nth: writing N > 0 makes the Nth
 * following allocation of the module fail, once; 0 disarms; reading gives
 * the allocations still to go (0: disarmed). For N = 1, 2, ... the test
 * arms the file, creates a VM, a vCPU and a slot, and runs a long-mode
 * guest that switches between four address spaces, writes and checks its
 * pages and rewrites PTEs of other spaces (so the MMU allocates roots,
 * shadow pages and reverse maps). Every ioctl must succeed or fail with
 * ENOMEM; RUN may also end with SHADOWVM_EXIT_INTERNAL_ERROR / NO_MEMORY.
 * After such an exit the test disarms the file and calls RUN again: the
 * guest must continue where it was (the failed fault is retried) and its
 * own data checks must pass. After the fds are closed, the module's
 * accounting (live VMs, vCPUs, pages, objects, pinned pages) must be back
 * to the baseline. The loop stops at the first N for which the file is
 * still armed after the whole workload (the workload makes fewer than N
 * allocations). The fault-injection file is shadowvm's own feature: the
 * test fails, not skips, when it is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "guest_paging.h"

#define FAIL_NTH	SVM_DEBUGFS_DIR "/fail_nth"
#define MEM_SIZE	(8u << 20)
#define NPROC		4
#define NPAGES		4
#define MAX_N		300

static int fail_write(long n)
{
	char buf[32];
	int fd, len, r = 0;

	fd = open(FAIL_NTH, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%ld\n", n);
	if (write(fd, buf, len) != len)
		r = -errno;
	close(fd);
	return r;
}

static long fail_read(void)
{
	char buf[32] = "";
	long v;
	int fd;
	ssize_t n;

	fd = open(FAIL_NTH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	if (sscanf(buf, "%ld", &v) != 1)
		return -EINVAL;
	return v;
}

static uint64_t frame(int i, int k)
{
	return GRT_FREE + ((uint64_t)i * NPAGES + k) * 0x1000;
}

static uint32_t sig(int i, int k, int round)
{
	return 0x5100000 | round << 16 | i << 8 | k;
}

struct tally {
	int create, setup, run_exit, run_errno, clean;
};

/*
 * One arm-and-run round with fail_nth = n. Returns 1 when the file was
 * still armed at the end (no allocation failed), 0 otherwise.
 */
static int one_round(struct __test_metadata *_metadata, long n,
		     struct tally *tl, const struct svm_counters *base)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP };
	const uint64_t ula = GRT_PROC_LA(GP_MODE_LM);
	uint64_t pte[NPROC][NPAGES];
	struct gp kern, as[NPROC];
	struct svm_counters now;
	struct grt_stopinfo st;
	struct grt_script s;
	struct tvm t;
	char err[256], diff[256];
	long left;
	int i, k, r, round, restarts = 0;
	bool failed_somewhere = false;

	ASSERT_EQ(0, fail_write(n));
	r = grt_create(&t, BE_SHADOWVM, MEM_SIZE, 0, 0, 0);
	if (r) {
		ASSERT_EQ(-ENOMEM, r)
			TH_LOG("fail_nth=%ld: creating the VM/vCPU/slot: %s, want success or ENOMEM",
			       n, strerror(-r));
		tl->create++;
		failed_somewhere = true;
		goto out_nofd;
	}
	ASSERT_EQ(0, gp_init(&kern, t.mem, MEM_SIZE, GP_MODE_LM, GRT_POOL,
			     GRT_POOL_SIZE));
	r = grt_setup(&t, &kern, &env);
	if (r) {
		ASSERT_EQ(-ENOMEM, r) TH_LOG("fail_nth=%ld: SET_SREGS/SET_REGS: %s",
					     n, strerror(-r));
		tl->setup++;
		failed_somewhere = true;
		goto out;
	}
	for (i = 0; i < NPROC; i++) {
		ASSERT_EQ(0, gp_init_shared(&as[i], &kern, GP_MODE_LM));
		gp_share(&as[i], &kern, 0, GRT_KERNEL_SPAN(GP_MODE_LM));
		for (k = 0; k < NPAGES; k++) {
			uint64_t la = ula + (uint64_t)k * (GP_2M + 0x1000);

			ASSERT_EQ(0, gp_map(&as[i], la, frame(i, k), GP_4K,
					    GP_4K, GP_W | GP_U));
			pte[i][k] = gp_entry_gpa(&as[i], la, 1, false);
		}
	}
	gs_init(&s);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < NPROC; i++) {
			int j = (i + 1) % NPROC;

			gs_op(&s, GOP_CR3, 0, gp_cr3(&as[i]), 0, 0);
			for (k = 0; k < NPAGES; k++) {
				uint64_t la = ula + (uint64_t)k * (GP_2M + 0x1000);

				if (round)
					gs_op(&s, GOP_CHK32, 0, la,
					      sig(i, k, round - 1), 0);
				gs_op(&s, GOP_W32, 0, la, sig(i, k, round), 0);
			}
			/* the guest rewrites a PTE of another space */
			gs_op(&s, GOP_WENT, 0, pte[j][round % NPAGES],
			      frame(j, round % NPAGES) | GP_P | GP_W | GP_U, 0);
		}
	}
	gs_op(&s, GOP_CR3, 0, gp_cr3(&kern), 0, 0);
	gs_op(&s, GOP_END, 0, 0, 0, 0);
	ASSERT_EQ(0, grt_load(&t, &s));
	gs_free(&s);
	for (;;) {
		grt_run(&t, &st);
		if (st.why == GRT_STOP_DONE)
			break;
		grt_describe(&t, &st, err, sizeof(err));
		ASSERT_LT(restarts, 20) TH_LOG("fail_nth=%ld: no progress: %s", n, err);
		restarts++;
		if (st.why == GRT_STOP_EXIT && st.e.reason == BE_EXIT_INTERNAL &&
		    st.e.internal.suberror == SHADOWVM_INTERNAL_ERROR_NO_MEMORY) {
			tl->run_exit++;
		} else if (st.why == GRT_STOP_ERROR &&
			   (int32_t)st.value == -ENOMEM) {
			tl->run_errno++;
		} else {
			ASSERT_TRUE(false)
				TH_LOG("fail_nth=%ld: the guest stopped with %s; want END, or an INTERNAL_ERROR/NO_MEMORY exit or ENOMEM",
				       n, err);
		}
		failed_somewhere = true;
		/* disarm and retry: the guest must go on from there */
		ASSERT_EQ(0, fail_write(0));
	}
	EXPECT_EQ(0, *grt_cb32(&t, CB_ERR_COUNT))
		TH_LOG("fail_nth=%ld: %u data mismatches in the guest, first at op %u: 0x%llx",
		       n, *grt_cb32(&t, CB_ERR_COUNT), *grt_cb32(&t, CB_ERR_OP),
		       (unsigned long long)*grt_cb64(&t, CB_ERR_VAL));
	for (i = 0; i < NPROC; i++)
		for (k = 0; k < NPAGES; k++)
			EXPECT_EQ(sig(i, k, 2), *(uint32_t *)tvm_ptr(&t, frame(i, k)))
				TH_LOG("fail_nth=%ld: space %d page %d", n, i, k);
out:
	tvm_destroy(&t);
out_nofd:
	left = fail_read();
	ASSERT_LE(0, left) TH_LOG("reading %s: %s", FAIL_NTH, strerror(-left));
	ASSERT_EQ(0, fail_write(0));
	if (!failed_somewhere && left == 0)
		tl->clean++;	/* it failed somewhere nobody saw */
	r = svm_wait_counters(base, &now, 5000);
	svm_counters_diff(base, &now, diff, sizeof(diff));
	EXPECT_EQ(0, r) TH_LOG("fail_nth=%ld: module counters not back to the baseline: %s",
			       n, diff);
	return left > 0;
}

FIXTURE(failnth) {
	int unused;
};

FIXTURE_SETUP(failnth)
{
}

FIXTURE_TEARDOWN(failnth)
{
	fail_write(0);
}

TEST_F_TIMEOUT(failnth, every_allocation_may_fail, 1500)
{
	struct svm_counters base;
	struct tally tl = { 0 };
	long n, left;
	int fd, r;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "a shadowvm debugfs file");
	OPEN_DEV_OR_SKIP(fd);
	close(fd);
	r = svm_debugfs_ready();
	ASSERT_EQ(0, r) TH_LOG("shadowvm debugfs missing: %s", strerror(-r));
	left = fail_read();
	ASSERT_LE(0, left) TH_LOG("%s: %s (the fault-injection file is part of the module)",
				  FAIL_NTH, strerror(-left));
	ASSERT_EQ(0, left) TH_LOG("fail_nth is armed (%ld) before the test", left);
	ASSERT_EQ(0, svm_read_counters(&base));
	for (n = 1; n <= MAX_N; n++) {
		int armed = one_round(_metadata, n, &tl, &base);

		if (!_metadata->passed)
			break;
		if (armed) {
			TH_LOG("fail_nth=%ld: the workload completed with no allocation failing: it makes %ld allocations",
			       n, n - 1);
			break;
		}
	}
	TH_LOG("%ld rounds: %d failed while creating, %d in SET_SREGS/REGS, %d RUN NO_MEMORY exits, %d RUN ENOMEM, %d failed allocations nobody reported",
	       n > MAX_N ? MAX_N : n, tl.create, tl.setup, tl.run_exit,
	       tl.run_errno, tl.clean);
	EXPECT_LE(n, MAX_N) TH_LOG("the workload still allocates after %d armed rounds",
				   MAX_N);
}

TEST_HARNESS_MAIN
