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
 * shadow pages and reverse maps), and one of them also writes and checks a
 * 2 MiB page (a 2 MiB shadow leaf over a transparent huge page: the pins
 * of large pages, pin.c's region pin). Every ioctl must succeed or fail with
 * ENOMEM; RUN may also end with SHADOWVM_EXIT_INTERNAL_ERROR / NO_MEMORY.
 * After such an exit the test disarms the file and calls RUN again: the
 * guest must continue where it was (the failed fault is retried) and its
 * own data checks must pass. After the fds are closed, the module's
 * accounting (live VMs, vCPUs, pages, objects, pinned pages) must be back
 * to the baseline. The loop stops at the first N for which the file is
 * still armed after the whole workload (the workload makes fewer than N
 * allocations). The fault-injection file is shadowvm's own feature: the
 * test fails, not skips, when it is missing.
 *
 * kernel_fail_nth_in_module_paths: the same rounds with the kernel's own
 * fault injection, /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION;
 * the debug kernel of make check-debug): the Nth fault-injection point the
 * test thread reaches fails, whatever it is: a slab or page allocation in
 * the module or in the kernel code it calls (anon inodes, fds, mmap of the
 * run page, pin_user_pages()), a user copy (FAULT_INJECTION_USERCOPY, so
 * also the module's reads and writes of guest memory) or the test's own
 * page faults (which the kernel retries). failslab and fail_page_alloc
 * are set to fail sleeping allocations too (ignore-gfp-wait N, min-order
 * 0) and quietly (verbose 0) for the test, and restored after it. Each
 * call must succeed or fail with ENOMEM or EFAULT, RUN may also end with an
 * INTERNAL_ERROR exit; the guest's own data checks and the module's
 * accounting must hold as above. N walks every point of the workload, up
 * to a time budget (SVM_KFAIL_SECS, default 900 s; the test says how many
 * it drove). Skipped on a kernel without fault injection (the stock test
 * VM kernel).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
#define BIG_GPA		0x600000ULL	/* the last 2 MiB of guest RAM */
#define BIG_OFF		0x40000000ULL	/* its linear address: ula + this */

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

/* the fault injector a round arms: the module's file or the kernel's */
struct injector {
	const char *name;
	int (*arm)(long n);	/* 0 disarms */
	long (*left)(void);	/* 0: the fault was injected (or disarmed) */
	bool kernel;		/* any kernel point: EFAULT is also clean */
};

static const struct injector module_inj = {
	.name = "fail_nth", .arm = fail_write, .left = fail_read,
};

/*
 * /proc/thread-self/fail-nth, opened once (an open() while armed would be
 * a point itself); the test runs in one thread.
 */
static int knth_fd = -1;

static int knth_arm(long n)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld", n);

	if (write(knth_fd, buf, len) == len)
		return 0;
	/*
	 * The write's own copy from user may be the point the count reached
	 * (the workload made fewer): it failed with EFAULT and the count is
	 * spent, so a second write goes through.
	 */
	if (errno != EFAULT || write(knth_fd, buf, len) != len)
		return -errno;
	return 0;
}

static long knth_left(void)
{
	char buf[32] = "";
	ssize_t n;
	long v;

	n = pread(knth_fd, buf, sizeof(buf) - 1, 0);
	if (n < 0 && errno == EFAULT) {
		/* the point was this read's own copy to user: injected */
		n = pread(knth_fd, buf, sizeof(buf) - 1, 0);
	}
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	if (sscanf(buf, "%ld", &v) != 1)
		return -EINVAL;
	return v;
}

static const struct injector kernel_inj = {
	.name = "fail-nth", .arm = knth_arm, .left = knth_left, .kernel = true,
};

static bool clean_errno(const struct injector *inj, int r)
{
	return r == -ENOMEM || (inj->kernel && r == -EFAULT);
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
static int one_round(struct __test_metadata *_metadata,
		     const struct injector *inj, long n, struct tally *tl,
		     const struct svm_counters *base)
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

	ASSERT_EQ(0, inj->arm(n));
	r = grt_create(&t, BE_SHADOWVM, MEM_SIZE, 0, 0, 0);
	if (r) {
		ASSERT_TRUE(clean_errno(inj, r))
			TH_LOG("%s=%ld: creating the VM/vCPU/slot: %s, want success or ENOMEM%s",
			       inj->name, n, strerror(-r), inj->kernel ? "/EFAULT" : "");
		tl->create++;
		failed_somewhere = true;
		goto out_nofd;
	}
	ASSERT_EQ(0, gp_init(&kern, t.mem, MEM_SIZE, GP_MODE_LM, GRT_POOL,
			     GRT_POOL_SIZE));
	r = grt_setup(&t, &kern, &env);
	if (r) {
		ASSERT_TRUE(clean_errno(inj, r))
			TH_LOG("%s=%ld: SET_SREGS/SET_REGS: %s", inj->name, n,
			       strerror(-r));
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
	ASSERT_EQ(0, gp_map(&as[0], ula + BIG_OFF, BIG_GPA, GP_2M, GP_2M, GP_W | GP_U));
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
			if (!i) {	/* the 2 MiB page */
				if (round)
					gs_op(&s, GOP_CHK32, 0,
					      ula + BIG_OFF + (round - 1) * 0x81000,
					      sig(NPROC, 0, round - 1), 0);
				gs_op(&s, GOP_W32, 0, ula + BIG_OFF + round * 0x81000,
				      sig(NPROC, 0, round), 0);
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
		ASSERT_LT(restarts, 20) TH_LOG("%s=%ld: no progress: %s",
					       inj->name, n, err);
		restarts++;
		if (st.why == GRT_STOP_EXIT && st.e.reason == BE_EXIT_INTERNAL &&
		    (inj->kernel ||
		     st.e.internal.suberror == SHADOWVM_INTERNAL_ERROR_NO_MEMORY)) {
			tl->run_exit++;
		} else if (st.why == GRT_STOP_ERROR &&
			   clean_errno(inj, (int32_t)st.value)) {
			tl->run_errno++;
		} else {
			ASSERT_TRUE(false)
				TH_LOG("%s=%ld: the guest stopped with %s; want END, or an INTERNAL_ERROR%s exit or ENOMEM%s",
				       inj->name, n, err,
				       inj->kernel ? "" : "/NO_MEMORY",
				       inj->kernel ? "/EFAULT" : "");
		}
		failed_somewhere = true;
		/* disarm and retry: the guest must go on from there */
		ASSERT_EQ(0, inj->arm(0));
	}
	EXPECT_EQ(0, *grt_cb32(&t, CB_ERR_COUNT))
		TH_LOG("%s=%ld: %u data mismatches in the guest, first at op %u: 0x%llx",
		       inj->name, n, *grt_cb32(&t, CB_ERR_COUNT), *grt_cb32(&t, CB_ERR_OP),
		       (unsigned long long)*grt_cb64(&t, CB_ERR_VAL));
	for (i = 0; i < NPROC; i++)
		for (k = 0; k < NPAGES; k++)
			EXPECT_EQ(sig(i, k, 2), *(uint32_t *)tvm_ptr(&t, frame(i, k)))
				TH_LOG("%s=%ld: space %d page %d", inj->name, n,
				       i, k);
	for (round = 0; round < 3; round++)
		EXPECT_EQ(sig(NPROC, 0, round),
			  *(uint32_t *)tvm_ptr(&t, BIG_GPA + round * 0x81000))
			TH_LOG("%s=%ld: the 2 MiB page, round %d", inj->name, n, round);
out:
	tvm_destroy(&t);
out_nofd:
	left = inj->left();
	ASSERT_LE(0, left) TH_LOG("reading %s: %s", inj->name, strerror(-left));
	ASSERT_EQ(0, inj->arm(0));
	if (!failed_somewhere && left == 0)
		tl->clean++;	/* it failed somewhere nobody saw */
	r = svm_wait_counters(base, &now, 5000);
	svm_counters_diff(base, &now, diff, sizeof(diff));
	EXPECT_EQ(0, r) TH_LOG("%s=%ld: module counters not back to the baseline: %s",
			       inj->name, n, diff);
	if (r) {
		/* a mapping of the VM's fds left behind keeps the VM alive */
		char line[256];
		FILE *f = fopen("/proc/self/maps", "r");

		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, "anon_inode"))
				TH_LOG("still mapped: %s", line);
		if (f)
			fclose(f);
	}
	return left > 0;
}

FIXTURE(failnth) {
	int unused;
};

FIXTURE_SETUP(failnth)
{
}

/* failslab / fail_page_alloc settings the kernel test changes, restored */
#define FI_DIR	"/sys/kernel/debug/"
static const char * const fi_files[] = {
	FI_DIR "failslab/ignore-gfp-wait", FI_DIR "failslab/verbose",
	FI_DIR "fail_page_alloc/ignore-gfp-wait",
	FI_DIR "fail_page_alloc/ignore-gfp-highmem",
	FI_DIR "fail_page_alloc/min-order", FI_DIR "fail_page_alloc/verbose",
	FI_DIR "fail_usercopy/verbose",
};

static const char * const fi_test_values[] = { "N", "0", "N", "N", "0", "0", "0" };
static char fi_saved[sizeof(fi_files) / sizeof(fi_files[0])][16];

static int fi_rw(const char *path, char *buf, size_t len, bool wr)
{
	int fd = open(path, wr ? O_WRONLY | O_CLOEXEC : O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = wr ? write(fd, buf, strlen(buf)) : read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	if (!wr) {
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
	}
	close(fd);
	return 0;
}

static void fi_restore(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(fi_files) / sizeof(fi_files[0]); i++)
		if (fi_saved[i][0])
			fi_rw(fi_files[i], fi_saved[i], sizeof(fi_saved[i]), true);
	memset(fi_saved, 0, sizeof(fi_saved));
}

FIXTURE_TEARDOWN(failnth)
{
	fail_write(0);
	if (knth_fd >= 0) {
		knth_arm(0);
		close(knth_fd);
		knth_fd = -1;
	}
	fi_restore();
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
		int armed = one_round(_metadata, &module_inj, n, &tl, &base);

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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

TEST_F_TIMEOUT(failnth, kernel_fail_nth_in_module_paths, 1500)
{
	const char *env = getenv("SVM_KFAIL_SECS");
	double budget = env ? atof(env) : 900, t0;
	struct svm_counters base;
	struct tally tl = { 0 };
	unsigned int i;
	long n, left;
	int fd, r;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "the module's allocation paths");
	knth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (knth_fd < 0)
		SKIP(return, "no /proc/thread-self/fail-nth: a kernel without CONFIG_FAULT_INJECTION (make check-debug's kernel has it)");
	OPEN_DEV_OR_SKIP(fd);
	close(fd);
	for (i = 0; i < sizeof(fi_files) / sizeof(fi_files[0]); i++) {
		char val[16];

		r = fi_rw(fi_files[i], fi_saved[i], sizeof(fi_saved[i]), false);
		ASSERT_EQ(0, r) TH_LOG("%s: %s (CONFIG_FAILSLAB, FAIL_PAGE_ALLOC, FAULT_INJECTION_USERCOPY and debugfs expected beside fail-nth)",
				       fi_files[i], strerror(-r));
		snprintf(val, sizeof(val), "%s", fi_test_values[i]);
		ASSERT_EQ(0, fi_rw(fi_files[i], val, sizeof(val), true))
			TH_LOG("writing %s to %s", val, fi_files[i]);
	}
	left = knth_left();
	ASSERT_EQ(0, left) TH_LOG("fail-nth is armed (%ld) before the test", left);
	ASSERT_EQ(0, svm_read_counters(&base));
	/* an unarmed round first: the library's lazy allocations are made */
	ASSERT_EQ(1, one_round(_metadata, &kernel_inj, 1L << 30, &tl, &base));
	memset(&tl, 0, sizeof(tl));
	t0 = now_s();
	for (n = 1;; n++) {
		int armed = one_round(_metadata, &kernel_inj, n, &tl, &base);

		if (!_metadata->passed)
			break;
		if (armed) {
			TH_LOG("fail-nth=%ld: the workload completed with no point failing: every one of its %ld fault-injection points was driven",
			       n, n - 1);
			break;
		}
		if (n % 100 == 0)
			TH_LOG("fail-nth=%ld after %.0f s: %d failed while creating, %d in SET_SREGS/REGS, %d RUN INTERNAL_ERROR exits, %d RUN ENOMEM/EFAULT, %d nobody reported",
			       n, now_s() - t0, tl.create, tl.setup, tl.run_exit,
			       tl.run_errno, tl.clean);
		if (now_s() - t0 > budget) {
			TH_LOG("time budget (SVM_KFAIL_SECS=%.0f) reached: the first %ld fault-injection points of the workload driven",
			       budget, n);
			break;
		}
	}
	TH_LOG("%ld points driven in %.0f s: %d failed while creating, %d in SET_SREGS/REGS, %d RUN INTERNAL_ERROR exits, %d RUN ENOMEM/EFAULT, %d failed points nobody reported (retried page faults, lazy paths)",
	       n, now_s() - t0, tl.create, tl.setup, tl.run_exit, tl.run_errno,
	       tl.clean);
	EXPECT_LT(0, tl.create + tl.setup + tl.run_exit + tl.run_errno)
		TH_LOG("no injected failure reached a shadowvm call");
}

TEST_HARNESS_MAIN
