// SPDX-License-Identifier: GPL-2.0
/*
 * lifecycle_test: VM create/destroy does not leak.
 * Creates and destroys 250 VMs (make check; 1000 with SVMTEST_FULL=1, make
 * check-full; SVMTEST_VM_ITERATIONS overrides both), each with a memory
 * region, a vCPU and one short run to HLT. Afterwards the module's debugfs
 * counters (live_vms, live_vcpus, live_pages, live_objects, pinned_pages)
 * must be back at the baseline, exactly, and MemAvailable must not have
 * dropped by more than 2 KiB per VM (one leaked 4 KiB page per two VMs;
 * at least MEM_BOUND_MIN_KB). While a VM exists the counters must show it
 * (so the check can fail).
 *
 * Size: a VM's life costs ~12 ms of the test VM's clock, nearly all of it
 * in destroy (the module's grace periods), ~120 ms of Bochs wall time:
 * 1000 VMs took 120 s of make check. The counters catch one leaked object
 * or page after any number of VMs; the MemAvailable bound scales with the
 * count, so 250 VMs still catch a page leaked per two VMs (500 KiB; the
 * measured drift was 0-16 KiB).
 *
 * On a kernel with generic KASAN (make check-debug) freed slab objects wait
 * in KASAN's quarantine, up to 1/32 of RAM, before they are free: the bound
 * grows by that much (1000 VMs held 12.8 MiB there, SUnreclaim +9.5 MiB).
 * The module's counters and make check-debug's kmemleak scans stay exact.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

#define ITERATIONS	250	/* make check */
#define FULL_ITERATIONS	1000	/* SVMTEST_FULL=1 */
/* MemAvailable may drop by this much per VM: below one leaked 4 KiB page
 * per two VMs; but never less than MEM_BOUND_MIN_KB (noise)
 */
#define MEM_BOUND_KB_PER_VM	2
#define MEM_BOUND_MIN_KB	256
#define REGION		(64 * 1024)

GUEST_CODE(short_guest,
	"movl $0x1234, 0x9000\n"
	"hlt\n");

/* KASAN's quarantine limit in kB (1/32 of RAM), 0 without generic KASAN */
static long kasan_quarantine_kb(void)
{
	char line[256];
	bool kasan = false;
	FILE *f;

	f = fopen("/proc/kallsyms", "r");
	if (!f)
		return 0;
	while (!kasan && fgets(line, sizeof(line), f))
		kasan = strstr(line, " kasan_quarantine_put") != NULL;
	fclose(f);
	return kasan ? meminfo_kb("MemTotal") / 32 : 0;
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, "3", 1) < 0) {
			/* not root or no such knob: measure anyway */
		}
		close(fd);
	}
}

/* where a VM's life goes: guest-clock nanoseconds per step, summed */
enum { T_CREATE, T_MEMORY, T_VCPU, T_RUN, T_DESTROY, T_STEPS };
static const char *const step_name[T_STEPS] = {
	"create VM", "add memory", "create vCPU", "set regs + run", "destroy",
};
static unsigned long long step_ns[T_STEPS];

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* add the time since *t to step @i, restart *t */
static void lap(unsigned long long *t, int i)
{
	unsigned long long n = now_ns();

	step_ns[i] += n - *t;
	*t = n;
}

/* one VM: region, vCPU, run to HLT; returns 0 or a step number */
static int one_vm(struct backend *be, void *mem, struct svm_counters *during)
{
	unsigned long long t = now_ns();
	struct be_vcpu vcpu;
	struct be_regs regs;
	struct be_exit e;
	struct be_vm vm;
	int ret = 0;

	if (be_create_vm(be, NULL, &vm))
		return 1;
	lap(&t, T_CREATE);
	if (be_set_memory(&vm, 0, 0, REGION, mem, false)) {
		ret = 2;
		goto out_vm;
	}
	lap(&t, T_MEMORY);
	if (be_create_vcpu(&vm, 0, &vcpu)) {
		ret = 3;
		goto out_vm;
	}
	lap(&t, T_VCPU);
	memset(&regs, 0, sizeof(regs));
	regs.rip = TVM_CODE;
	regs.rsp = TVM_STACK;
	regs.rflags = 2;
	if (be_set_regs(&vcpu, &regs)) {
		ret = 4;
		goto out_vcpu;
	}
	*(uint32_t *)((uint8_t *)mem + 0x9000) = 0;
	if (be_run(&vcpu, &e) || e.reason != BE_EXIT_HLT) {
		ret = 5;
		goto out_vcpu;
	}
	if (*(uint32_t *)((uint8_t *)mem + 0x9000) != 0x1234)
		ret = 6;
	if (during)
		svm_read_counters(during);
	lap(&t, T_RUN);
out_vcpu:
	be_destroy_vcpu(&vcpu);
out_vm:
	be_destroy_vm(&vm);
	lap(&t, T_DESTROY);
	return ret;
}

FIXTURE(lifecycle) {
	int unused;
};

FIXTURE_SETUP(lifecycle)
{
}

FIXTURE_TEARDOWN(lifecycle)
{
}

TEST_F_TIMEOUT(lifecycle, create_destroy_many_no_leak, 1200)
{
	struct svm_counters base, during, now;
	long avail0, avail1, unrecl0, unrecl1;
	int i, n = svmtest_full() ? FULL_ITERATIONS : ITERATIONS, ret;
	long bound_kb, quarantine_kb;
	struct timespec t0;
	struct backend be;
	const char *env;
	char diff[256];
	void *mem;

	RETURN_IF_SETUP_SKIPPED();
	env = getenv("SVMTEST_VM_ITERATIONS");
	if (env && atoi(env) > 0)
		n = atoi(env);
	bound_kb = (long)n * MEM_BOUND_KB_PER_VM;
	if (bound_kb < MEM_BOUND_MIN_KB)
		bound_kb = MEM_BOUND_MIN_KB;
	quarantine_kb = kasan_quarantine_kb();
	if (quarantine_kb)
		TH_LOG("generic KASAN: the MemAvailable bound grows by its quarantine, %ld kB",
		       quarantine_kb);
	bound_kb += quarantine_kb;
	ret = be_open(&be, &be_shadowvm_ops, NULL);
	if (tvm_no_device(ret))
		SKIP(return, SKIP_REASON_NODEV);
	ASSERT_EQ(0, ret);
	ret = svm_debugfs_ready();
	ASSERT_EQ(0, ret) TH_LOG("%s/module: %s", SVM_DEBUGFS_DIR,
				 strerror(-ret));
	mem = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	memcpy((uint8_t *)mem + TVM_CODE, short_guest,
	       GUEST_SIZE(short_guest));

	/* warm up caches, then take the baseline */
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, one_vm(&be, mem, NULL)) TH_LOG("warm-up %d", i);
	drop_caches();
	ASSERT_EQ(0, svm_read_counters(&base));
	avail0 = meminfo_kb("MemAvailable");
	unrecl0 = meminfo_kb("SUnreclaim");
	ASSERT_LT(0, avail0);

	memset(step_ns, 0, sizeof(step_ns));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		ret = one_vm(&be, mem, i == 0 ? &during : NULL);
		ASSERT_EQ(0, ret) TH_LOG("VM %d failed at step %d: %s", i,
					 ret, strerror(errno));
		if (i == 0) {
			EXPECT_EQ(base.live_vms + 1, during.live_vms);
			EXPECT_EQ(base.live_vcpus + 1, during.live_vcpus);
			EXPECT_LT(base.live_pages, during.live_pages);
		}
	}
	TH_LOG("%d VMs in %ld ms", n, elapsed_ms(&t0));
	for (i = 0; i < T_STEPS; i++)
		TH_LOG("  %-14s %8llu us per VM", step_name[i], step_ns[i] / 1000 / n);

	ret = svm_wait_counters(&base, &now, 5000);
	svm_counters_diff(&base, &now, diff, sizeof(diff));
	EXPECT_EQ(0, ret) TH_LOG("counters not back to baseline: %s", diff);

	for (i = 0; i < 50; i++) {	/* up to 5 s for deferred frees */
		drop_caches();
		avail1 = meminfo_kb("MemAvailable");
		if (avail0 - avail1 <= bound_kb)
			break;
		usleep(100 * 1000);
	}
	unrecl1 = meminfo_kb("SUnreclaim");
	EXPECT_GE(bound_kb, avail0 - avail1)
		TH_LOG("MemAvailable %ld -> %ld kB, SUnreclaim %ld -> %ld kB",
		       avail0, avail1, unrecl0, unrecl1);
	TH_LOG("MemAvailable %ld -> %ld kB (bound -%ld kB)", avail0, avail1,
	       bound_kb);
	munmap(mem, REGION);
	be_close(&be);
}

TEST_HARNESS_MAIN
