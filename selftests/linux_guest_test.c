// SPDX-License-Identifier: GPL-2.0
/*
 * linux_guest_test: an unmodified Linux kernel boots through the runner's
 * --kernel (the x86-64 boot protocol, Documentation/linux.rst) with the
 * busybox initramfs of guests/linux, runs one command and powers off
 * through the exit port. Asserts, from the runner's status and the guest's
 * console:
 *   - the runner exits with status 1 (exit-port value 0) and init printed
 *     "init: hello done" after uname's "Linux ... x86_64" line;
 *   - the kernel found what the runner describes: the MP table ("MPTABLE:
 *     OEM ID: SHADOWVM"), its TSC frequency from CPUID 0x15/0x16 ("tsc:
 *     Detected ... MHz", no "calibration failed", the delay loop not
 *     calibrated), the TSC-deadline timer, no legacy PIC, symmetric I/O
 *     mode with the I/O APIC, the CMOS clock;
 *   - no panic, oops, BUG or warning backtrace in the guest's log;
 *   - on shadowvm, the --stats counters show the shadow MMU at work (true
 *     and hidden page faults, shadow pages built, CR3 loads).
 * One case per shadow MMU policy, plus the same kernel on KVM (ept=0) for
 * reference, with the same platform asserted (the KVM backend gives the
 * guest shadowvm's CPUID) and KVM's paravirt features hidden (no
 * "Hypervisor detected: KVM", no kvm-clock). One boot costs about 2 s of
 * the test machine's instruction clock but 3 to 12 minutes of Bochs on a
 * 2-core machine (every VM exit is expensive to emulate), so `make check`
 * boots the default policy only and lists the other cases as expected
 * skips; `make bench` boots every policy and KVM with the workload
 * (selftests/bench/linux_bench.sh).
 *
 * Files: the runner as for runner_test ($SHADOWVM_RUNNER, next to this
 * binary, ../userspace-tool); the kernel from $SHADOWVM_LINUX_KERNEL, a
 * "vmlinuz" next to this binary (the test machine's payload has its own
 * kernel there), or /boot/vmlinuz-$(uname -r); the initramfs from
 * $SHADOWVM_LINUX_INITRD or "linux-initramfs.cpio" next to this binary
 * (guests/linux/mkinitramfs.sh). A missing kernel or initramfs skips.
 * SVMTEST_LINUX_POLICIES: a comma-separated list of policy names and
 * "kvm" (default "wp"), or "all": the other cases skip.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "runner_exec.h"

#define LINUX_MEM	"256M"
#define LINUX_SECONDS	1500
#define STATUS_OK	1	/* exit port value 0: (0 << 1) | 1 */
#define APPEND		"console=ttyS0 panic=-1 shadowvm.run=hello"

struct lx {
	char runner[PATH_MAX], kernel[PATH_MAX], initrd[PATH_MAX];
	struct rx_result r;
};

FIXTURE(linux_guest) {
	struct lx lx;
};

POLICY_VARIANTS(linux_guest);

FIXTURE(linux_guest_kvm) {
	struct lx lx;
};

/* is this case in SVMTEST_LINUX_POLICIES (default: wp) */
static int wanted(const char *name)
{
	const char *list = getenv("SVMTEST_LINUX_POLICIES");
	size_t n = strlen(name);
	const char *p;

	if (!list || !*list)
		list = "wp";
	if (!strcmp(list, "all"))
		return 1;
	for (p = list; (p = strstr(p, name)) != NULL; p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return 1;
	return 0;
}

/* 0 with the kernel's path, or -1 */
static int find_kernel(char *path, size_t len)
{
	struct utsname u;

	if (!rx_find_file("SHADOWVM_LINUX_KERNEL", "vmlinuz", path, len))
		return 0;
	if (uname(&u))
		return -1;
	snprintf(path, len, "/boot/vmlinuz-%s", u.release);
	return access(path, R_OK) ? -1 : 0;
}

/* the files, or a skip saying which is missing; 0 when all are there */
static int lx_setup(struct __test_metadata *_metadata, struct lx *lx)
{
	if (rx_find_file("SHADOWVM_RUNNER", "shadowvm", lx->runner,
			 sizeof(lx->runner)))
		SKIP(return -1, "runner binary not found (set SHADOWVM_RUNNER)");
	if (find_kernel(lx->kernel, sizeof(lx->kernel)))
		SKIP(return -1, "no Linux kernel image (set SHADOWVM_LINUX_KERNEL)");
	if (rx_find_file("SHADOWVM_LINUX_INITRD", "linux-initramfs.cpio",
			 lx->initrd, sizeof(lx->initrd)))
		SKIP(return -1, "no initramfs (guests/linux/mkinitramfs.sh; set SHADOWVM_LINUX_INITRD)");
	return 0;
}

FIXTURE_SETUP(linux_guest)
{
	lx_setup(_metadata, &self->lx);
}

FIXTURE_TEARDOWN(linux_guest)
{
}

FIXTURE_SETUP(linux_guest_kvm)
{
	lx_setup(_metadata, &self->lx);
}

FIXTURE_TEARDOWN(linux_guest_kvm)
{
}

/* the value of a "  name   N" line of the runner's --stats, or -1 */
static long long stat_value(const char *err, const char *name)
{
	size_t n = strlen(name);
	const char *p = err;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == err || p[-1] == ' ') && p[n] == ' ')
			return strtoll(p + n, NULL, 10);
		p += n;
	}
	return -1;
}

static void boot_hello(struct __test_metadata *_metadata, struct lx *self,
		       const char *backend, const char *policy)
{
	const char *args[16];
	const char *out = self->r.out;
	int n = 0, ok;

	args[n++] = "run";
	args[n++] = "--kernel";
	args[n++] = self->kernel;
	args[n++] = "--initrd";
	args[n++] = self->initrd;
	args[n++] = "--mem";
	args[n++] = LINUX_MEM;
	args[n++] = "--append";
	args[n++] = APPEND;
	args[n++] = "--stats";
	args[n++] = "--backend";
	args[n++] = backend;
	if (policy) {
		args[n++] = "--policy";
		args[n++] = policy;
	}
	args[n] = NULL;
	ASSERT_EQ(0, rx_run_for(LINUX_SECONDS, self->runner, args, NULL, NULL,
				1, &self->r));
	ok = self->r.status == STATUS_OK && strstr(out, "init: hello done");
	if (!ok) {
		svmtest_log_lines(_metadata, "guest", out);
		svmtest_log_lines(_metadata, "runner", self->r.err);
	}
	ASSERT_EQ(STATUS_OK, self->r.status);
	EXPECT_NE(NULL, strstr(out, "init: hello done"));
	EXPECT_NE(NULL, strstr(out, "Linux "));
	EXPECT_NE(NULL, strstr(out, " x86_64"));
	EXPECT_NE(NULL, strstr(out, "MPTABLE: OEM ID: SHADOWVM"));
	EXPECT_NE(NULL, strstr(out, "tsc: Detected "));
	EXPECT_EQ(NULL, strstr(out, "calibration failed"));
	EXPECT_NE(NULL, strstr(out, "Calibrating delay loop (skipped)"));
	EXPECT_NE(NULL, strstr(out, "TSC deadline timer available"));
	EXPECT_NE(NULL, strstr(out, "Using NULL legacy PIC"));
	EXPECT_NE(NULL, strstr(out, "APIC: Switch to symmetric I/O mode"));
	EXPECT_NE(NULL, strstr(out, "rtc_cmos rtc_cmos: registered as rtc0"));
	EXPECT_EQ(NULL, strstr(out, "Kernel panic"));
	EXPECT_EQ(NULL, strstr(out, "Oops"));
	EXPECT_EQ(NULL, strstr(out, "BUG:"));
	EXPECT_EQ(NULL, strstr(out, "cut here"));
	if (!strcmp(backend, "shadowvm")) {
		EXPECT_LT(0, stat_value(self->r.err, "pf_true"));
		EXPECT_LT(0, stat_value(self->r.err, "pf_hidden"));
		EXPECT_LT(0, stat_value(self->r.err, "sp_created"));
		EXPECT_LT(0, stat_value(self->r.err, "cr3_loads"));
	}
	TH_LOG("%s%s%s: booted, ran uname, powered off", backend,
	       policy ? " " : "", policy ? policy : "");
}

TEST_F_TIMEOUT(linux_guest, boot_hello, LINUX_SECONDS + 60)
{
	const char *policy = be_policy_name(variant->policy);

	RETURN_IF_SETUP_SKIPPED();
	if (!wanted(policy))
		SKIP(return, "policy %s not in SVMTEST_LINUX_POLICIES", policy);
	boot_hello(_metadata, &self->lx, "shadowvm", policy);
}

TEST_F_TIMEOUT(linux_guest_kvm, boot_hello, LINUX_SECONDS + 60)
{
	unsigned int loaded = 0;
	int ret;

	RETURN_IF_SETUP_SKIPPED();
	if (!wanted("kvm"))
		SKIP(return, "kvm not in SVMTEST_LINUX_POLICIES");
	ret = rx_kvm_load(&loaded);
	if (ret)
		SKIP(return, "KVM not available: %s", strerror(-ret));
	boot_hello(_metadata, &self->lx, "kvm", NULL);
	/* one platform: KVM's paravirt leaves are hidden (backend_kvm.c) */
	EXPECT_EQ(NULL, strstr(self->lx.r.out, "Hypervisor detected: KVM"));
	EXPECT_EQ(NULL, strstr(self->lx.r.out, "kvm-clock"));
	rx_kvm_unload(loaded);
}

TEST_HARNESS_MAIN
