// SPDX-License-Identifier: GPL-2.0
/*
 * host_state_test: running guests leaves the host's own state intact.
 *
 *   hw_breakpoint_survives_guest_runs: a perf hardware write breakpoint on
 *       a variable of this process fires before and after thousands of VM
 *       exits in this thread (a VM exit sets DR7 to 0x400; the module must
 *       re-arm the host's breakpoints);
 *   debugctl_survives_guest_runs: IA32_DEBUGCTL.LBR set on CPU 0 through
 *       /dev/cpu/0/msr is still set after guest runs there (a VM exit
 *       clears DEBUGCTL); skips without the msr driver or a CPU that
 *       keeps DEBUGCTL;
 *   cpu_hotplug_with_running_vcpu: with two CPUs, CPU 1 goes offline and
 *       online again (three times) while a vCPU thread pinned to it keeps
 *       running a guest; the guest keeps making progress, no VMX
 *       instruction faults or fails (debugfs vmx_insn_*), and a new VM
 *       runs afterwards. Skips with one CPU (testvm: --cpus 2);
 *   unload_after_vms_gone: after its VMs are gone the module unloads and
 *       loads again (needs $SHADOWVM_KO).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

#define CPUID_LOOPS	5000

/* ESI = iterations of CPUID (each one a VM exit), then OUT to port 0xf4 */
GUEST_CODE(cpuid_loop_guest,
	"1: xor %eax, %eax\n"
	"cpuid\n"
	"dec %esi\n"
	"jnz 1b\n"
	"out %al, $0xf4\n"
	"2: hlt\n"
	"jmp 2b\n");

/* forever: count at TVM_DATA, a CPUID exit, an OUT exit to userspace */
GUEST_CODE(progress_guest,
	"1: incl 0x9000\n"
	"xor %eax, %eax\n"
	"cpuid\n"
	"out %al, $0xf4\n"
	"jmp 1b\n");

static volatile uint32_t watched;

/* name's value in the module's debugfs file, or -1 */
static long module_stat(const char *name)
{
	char line[128], key[64];
	long val, ret = -1;
	FILE *f;

	f = fopen(SVM_DEBUGFS_DIR "/module", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld", key, &val) == 2 && !strcmp(key, name))
			ret = val;
	fclose(f);
	return ret;
}

/* Runs cpuid_loop_guest to its OUT; returns 0 or -errno. */
static int run_cpuid_loop(struct tvm *t)
{
	struct be_regs regs;
	struct be_exit e;
	int r;

	r = tvm_load(t, TVM_CODE, cpuid_loop_guest, GUEST_SIZE(cpuid_loop_guest));
	if (!r)
		r = be_get_regs(&t->vcpu, &regs);
	if (r)
		return r;
	regs.rsi = CPUID_LOOPS;
	r = be_set_regs(&t->vcpu, &regs);
	if (!r)
		r = tvm_run(t, &e);
	if (r)
		return r;
	if (e.reason != BE_EXIT_IO || e.io.port != 0xf4)
		return -EPROTO;
	r = be_get_regs(&t->vcpu, &regs);
	if (!r && (uint32_t)regs.rsi != 0)
		return -EPROTO;
	return r;
}

static uint64_t bp_count(int fd)
{
	uint64_t n = 0;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return (uint64_t)-1;
	return n;
}

TEST(hw_breakpoint_survives_guest_runs)
{
	struct perf_event_attr attr;
	struct tvm t;
	int fd, i, r;

	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_BREAKPOINT;
	attr.size = sizeof(attr);
	attr.bp_type = HW_BREAKPOINT_W;
	attr.bp_addr = (uintptr_t)&watched;
	attr.bp_len = HW_BREAKPOINT_LEN_4;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	fd = syscall(__NR_perf_event_open, &attr, 0, -1, -1, 0);
	if (fd < 0)
		SKIP(return, "perf_event_open(PERF_TYPE_BREAKPOINT): %s (kernel without hardware breakpoints for perf)",
		     strerror(errno));

	/* without any guest: does the CPU deliver data breakpoints at all? */
	watched = 1;
	if (bp_count(fd) != 1) {
		close(fd);
		SKIP(return, "a write to a watched variable did not fire the breakpoint before any guest ran: this CPU does not implement DR0-3 data breakpoints");
	}

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	for (i = 0; i < 4; i++) {
		r = run_cpuid_loop(&t);
		ASSERT_EQ(0, r) TH_LOG("guest run %d: %s", i, strerror(-r));
		/* right after RUN returns: no context switch re-armed DR7 */
		watched = 2 + i;
		EXPECT_EQ(2 + i, bp_count(fd))
			TH_LOG("breakpoint lost after %d x %d VM exits", i + 1,
			       CPUID_LOOPS);
	}
	tvm_destroy(&t);
	close(fd);
}

#define MSR_IA32_DEBUGCTLMSR	0x1d9
#define DEBUGCTL_LBR		1ULL

static int pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/*
 * No /dev/cpu/0/msr: load the msr driver from $SVMTEST_MSR_KO, or msr.ko
 * (.ko.xz, ...) in $KVM_MODULES_DIR (the test VM puts Debian's there next to
 * the KVM modules). Returns true when it loaded it (unload it afterwards).
 */
static bool load_msr_driver(void)
{
	static const char *const ext[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz" };
	const char *ko = getenv("SVMTEST_MSR_KO");
	const char *dir = getenv("KVM_MODULES_DIR");
	char path[512];
	unsigned int i;
	int ret = -ENOENT;

	if (module_loaded("msr"))
		return false;
	if (ko && *ko) {
		ret = module_load(ko, "allow_writes=on");
		if (ret == -EINVAL)
			ret = module_load(ko, "");
	} else if (dir && *dir) {
		for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
			snprintf(path, sizeof(path), "%s/msr%s", dir, ext[i]);
			if (access(path, R_OK))
				continue;
			ret = module_load(path, "allow_writes=on");
			if (ret == -EINVAL)
				ret = module_load(path, "");
			break;
		}
	}
	if (ret)
		return false;
	/* devtmpfs creates the node asynchronously */
	for (i = 0; i < 50 && access("/dev/cpu/0/msr", F_OK); i++)
		usleep(100 * 1000);
	return true;
}

TEST(debugctl_survives_guest_runs)
{
	uint64_t orig, v;
	struct tvm t;
	bool loaded;
	int fd, r;

	ASSERT_EQ(0, pin_self(0));
	fd = open("/dev/cpu/0/msr", O_RDWR);
	loaded = fd < 0 && errno == ENOENT && load_msr_driver();
	if (loaded)
		fd = open("/dev/cpu/0/msr", O_RDWR);
	if (fd < 0)
		SKIP(return, "/dev/cpu/0/msr: %s (msr driver not loaded); DEBUGCTL restore is argued in Documentation/architecture.rst",
		     strerror(errno));
	if (pread(fd, &orig, 8, MSR_IA32_DEBUGCTLMSR) != 8) {
		close(fd);
		if (loaded)
			module_unload("msr");
		SKIP(return, "RDMSR IA32_DEBUGCTL failed: not implemented by this CPU");
	}
	v = orig | DEBUGCTL_LBR;
	if (pwrite(fd, &v, 8, MSR_IA32_DEBUGCTLMSR) != 8 ||
	    pread(fd, &v, 8, MSR_IA32_DEBUGCTLMSR) != 8 || !(v & DEBUGCTL_LBR)) {
		close(fd);
		if (loaded)
			module_unload("msr");
		SKIP(return, "IA32_DEBUGCTL.LBR does not stick on this CPU (the emulator ignores the MSR)");
	}
	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	r = run_cpuid_loop(&t);
	EXPECT_EQ(0, r) TH_LOG("guest run: %s", strerror(-r));
	ASSERT_EQ(8, pread(fd, &v, 8, MSR_IA32_DEBUGCTLMSR));
	EXPECT_TRUE(v & DEBUGCTL_LBR) TH_LOG("DEBUGCTL 0x%llx after guest runs",
					     (unsigned long long)v);
	tvm_destroy(&t);
	pwrite(fd, &orig, 8, MSR_IA32_DEBUGCTLMSR);
	close(fd);
	if (loaded)
		module_unload("msr");
}

/* ---- CPU hotplug ---- */

#define CPU1_ONLINE	"/sys/devices/system/cpu/cpu1/online"

struct runner {
	struct tvm t;
	volatile int stop;
	volatile long runs;		/* RUNs that ended at the OUT */
	volatile int last_cpu;
	int err;
};

static void *runner_fn(void *arg)
{
	struct runner *w = arg;
	struct be_exit e;

	while (!w->stop) {
		int r = tvm_run(&w->t, &e);

		if (r == -EINTR)
			continue;
		if (r || e.reason != BE_EXIT_IO || e.io.port != 0xf4) {
			w->err = r ? r : -EPROTO;
			break;
		}
		w->last_cpu = sched_getcpu();
		w->runs++;
	}
	return NULL;
}

static int write_online(int on)
{
	int fd = open(CPU1_ONLINE, O_WRONLY);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, on ? "1" : "0", 1) != 1)
		r = -errno;
	close(fd);
	return r;
}

/* Waits until the runner did @more RUNs; false after 60 s without. */
static bool progress(struct runner *w, long more)
{
	long target = w->runs + more;
	int i;

	for (i = 0; i < 60000 && w->runs < target && !w->err; i++)
		usleep(1000);
	return w->runs >= target;
}

FIXTURE(hotplug) {
	int unused;
};

FIXTURE_SETUP(hotplug)
{
}

FIXTURE_TEARDOWN(hotplug)
{
	write_online(1);	/* never leave CPU 1 offline */
}

TEST_F_TIMEOUT(hotplug, cpu_hotplug_with_running_vcpu, 500)
{
	long fails0, faults0, guest0;
	struct runner w;
	cpu_set_t set;
	pthread_t th;
	int cycle, r;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || access(CPU1_ONLINE, W_OK))
		SKIP(return, "needs 2 online CPUs and a hot-pluggable CPU 1 (%ld online; in the test VM: testvm/check.sh --cpus 2)",
		     sysconf(_SC_NPROCESSORS_ONLN));
	ASSERT_EQ(0, svm_debugfs_ready());
	fails0 = module_stat("vmx_insn_fails");
	faults0 = module_stat("vmx_insn_faults");
	ASSERT_LE(0, faults0);

	memset(&w, 0, sizeof(w));
	TVM_CREATE_OR_SKIP(&w.t, TVM_MEM_DEFAULT);
	TVM_LOAD(&w.t, progress_guest);
	ASSERT_EQ(0, pthread_create(&th, NULL, runner_fn, &w));
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	for (cycle = 0; cycle < 3; cycle++) {
		ASSERT_EQ(0, pthread_setaffinity_np(th, sizeof(set), &set));
		ASSERT_TRUE(progress(&w, 200)) TH_LOG("no progress on CPU 1, err %d", w.err);
		EXPECT_EQ(1, w.last_cpu);
		guest0 = *(volatile uint32_t *)tvm_ptr(&w.t, TVM_DATA);

		r = write_online(0);
		ASSERT_EQ(0, r) TH_LOG("offlining CPU 1: %s", strerror(-r));
		ASSERT_TRUE(progress(&w, 200))
			TH_LOG("vCPU stopped after CPU 1 went offline, err %d", w.err);
		EXPECT_EQ(0, w.last_cpu);

		r = write_online(1);
		ASSERT_EQ(0, r) TH_LOG("onlining CPU 1: %s", strerror(-r));
		ASSERT_TRUE(progress(&w, 200))
			TH_LOG("vCPU stopped after CPU 1 came back, err %d", w.err);
		EXPECT_LT(guest0, *(volatile uint32_t *)tvm_ptr(&w.t, TVM_DATA));
	}
	/* back on the re-onlined CPU: VMXON happened there again */
	ASSERT_EQ(0, pthread_setaffinity_np(th, sizeof(set), &set));
	ASSERT_TRUE(progress(&w, 200));
	EXPECT_EQ(1, w.last_cpu);
	w.stop = 1;
	pthread_join(th, NULL);
	EXPECT_EQ(0, w.err) TH_LOG("RUN: %s", strerror(-w.err));
	TH_LOG("%ld runs, guest counter %u", w.runs,
	       *(volatile uint32_t *)tvm_ptr(&w.t, TVM_DATA));
	tvm_destroy(&w.t);

	EXPECT_EQ(fails0, module_stat("vmx_insn_fails"));
	EXPECT_EQ(faults0, module_stat("vmx_insn_faults"));

	/* the module still works: a new VM on each CPU */
	for (cycle = 0; cycle < 2; cycle++) {
		struct tvm t;

		ASSERT_EQ(0, pin_self(cycle));
		TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
		r = run_cpuid_loop(&t);
		EXPECT_EQ(0, r) TH_LOG("new VM on CPU %d: %s", cycle, strerror(-r));
		tvm_destroy(&t);
	}
}

TEST(unload_after_vms_gone)
{
	struct svm_counters base = { 0 }, now;
	const char *ko = getenv("SHADOWVM_KO");
	struct tvm t;
	int r;

	if (!ko || access(ko, R_OK))
		SKIP(return, "SHADOWVM_KO not set or unreadable (path of shadowvm.ko to reload)");
	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	r = run_cpuid_loop(&t);
	EXPECT_EQ(0, r) TH_LOG("guest run: %s", strerror(-r));
	tvm_destroy(&t);
	ASSERT_EQ(0, svm_debugfs_ready());
	EXPECT_EQ(0, svm_wait_counters(&base, &now, 5000));

	r = module_unload("shadowvm");
	ASSERT_EQ(0, r) TH_LOG("delete_module: %s", strerror(-r));
	r = module_load(ko, "");
	ASSERT_EQ(0, r) TH_LOG("finit_module: %s", strerror(-r));
	ASSERT_EQ(0, svm_ensure_dev(2000));
	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	r = run_cpuid_loop(&t);
	EXPECT_EQ(0, r) TH_LOG("guest run after reload: %s", strerror(-r));
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
