// SPDX-License-Identifier: GPL-2.0
/*
 * pause_test: PAUSE-loop exiting (SDM vol. 3 25.1.3; kmod/vmx/pause.c).
 *
 * - A vCPU spinning in a PAUSE loop at CPL 0 exits (EXIT_PAUSE), resumes
 *   after the PAUSE and finishes its loop; with no other vCPU it yields
 *   to no one (PAUSE_YIELDS stays 0).
 * - With the module parameter ple_gap=0 a VM created afterwards runs the
 *   same loop without a single PAUSE exit.
 * - Two vCPU threads on one host CPU: vCPU 0 spins with PAUSE for a flag
 *   that only vCPU 1 sets, after a long busy loop. vCPU 1 is started
 *   first; vCPU 0 starts once vCPU 1 said it runs, so vCPU 1 is preempted
 *   inside RUN whenever vCPU 0 gets the CPU: vCPU 0 must yield to it
 *   (PAUSE_YIELDS > 0), both finish, vCPU 0 saw the flag, and vCPU 1,
 *   which never pauses, has no PAUSE exit.
 *
 * shadowvm's counters only: skipped on the KVM backend. A CPU without
 * the control (ple_gap reads 0 once the module is loaded) is skipped.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

#define FLAG		0x9000u		/* set by vCPU 1 when its work is done */
#define STARTED		0x9004u		/* set by vCPU 1 when it runs */
#define LEFT		0x9008u		/* vCPU 0: spin budget left when it saw FLAG */
#define CODE1		0x3000u		/* vCPU 1's code */
#define STACK1		0x7000u
#define SPINS		1000000u	/* PAUSEs of the single-vCPU loop */
#define WORK		60000000u	/* vCPU 1's busy-loop iterations (~20 ms on a real CPU) */

/* ECX PAUSEs, then HLT */
GUEST_CODE(pause_loop,
	"1: pause\n"
	"dec %ecx\n"
	"jnz 1b\n"
	"hlt\n");

/* vCPU 0: PAUSE until FLAG is set (at most ECX times); ECX left to LEFT */
GUEST_CODE(waiter,
	"1: cmpl $0, 0x9000\n"
	"jne 2f\n"
	"pause\n"
	"dec %ecx\n"
	"jnz 1b\n"
	"2: mov %ecx, 0x9008\n"
	"hlt\n");

/* vCPU 1: STARTED, ECX iterations of work without PAUSE, then FLAG */
GUEST_CODE(worker,
	"movl $1, 0x9004\n"
	"1: dec %ecx\n"
	"jnz 1b\n"
	"movl $1, 0x9000\n"
	"hlt\n");

/* ple_gap, or -errno */
static int read_ple_gap(void)
{
	char buf[32], *end;
	long v;
	int r = svm_param_swap("ple_gap", NULL, buf, sizeof(buf));

	if (r)
		return r;
	v = strtol(buf, &end, 10);
	return end == buf ? -EINVAL : (int)v;
}

static int write_ple_gap(int v)
{
	char old[32], val[16];

	snprintf(val, sizeof(val), "%d\n", v);
	return svm_param_swap("ple_gap", val, old, sizeof(old));
}

static int vcpu_stat(struct be_vcpu *v, unsigned int id, uint64_t *val)
{
	struct be_stats st;
	int r = be_vcpu_stats(v, &st);

	if (r)
		return r;
	if (st.nr <= id)
		return -ERANGE;
	*val = st.val[id];
	return 0;
}

FIXTURE(ple) {
	int gap;	/* ple_gap at setup, put back at teardown */
};

FIXTURE_SETUP(ple)
{
	self->gap = -1;
	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "PAUSE-loop exits are counted by shadowvm only");
	if (!module_loaded("shadowvm"))
		SKIP(return, "the shadowvm module is not loaded");
	self->gap = read_ple_gap();
	ASSERT_LE(0, self->gap) TH_LOG("reading the ple_gap parameter: %s", strerror(-self->gap));
	if (!self->gap)
		SKIP(return, "ple_gap is 0: the CPU has no PAUSE-loop exiting");
}

FIXTURE_TEARDOWN(ple)
{
	if (self->gap > 0 && read_ple_gap() != self->gap)
		EXPECT_EQ(0, write_ple_gap(self->gap));
}

/* Runs the single-vCPU PAUSE loop; its vCPU's EXIT_PAUSE and PAUSE_YIELDS. */
static void run_pause_loop(struct __test_metadata *_metadata, uint64_t *exits,
			   uint64_t *yields)
{
	struct be_regs regs;
	struct be_exit e;
	struct tvm t;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, pause_loop);
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	regs.rcx = SPINS;
	ASSERT_EQ(0, be_set_regs(&t.vcpu, &regs));
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	EXPECT_EQ(0, regs.rcx & 0xffffffff) TH_LOG("the PAUSE loop did not finish");
	EXPECT_EQ(TVM_CODE + GUEST_SIZE(pause_loop), regs.rip);
	ASSERT_EQ(0, vcpu_stat(&t.vcpu, SHADOWVM_STAT_EXIT_PAUSE, exits));
	ASSERT_EQ(0, vcpu_stat(&t.vcpu, SHADOWVM_STAT_PAUSE_YIELDS, yields));
	tvm_destroy(&t);
}

TEST_F(ple, pause_loop_at_cpl0_exits)
{
	uint64_t exits, yields;

	run_pause_loop(_metadata, &exits, &yields);
	TH_LOG("%u PAUSEs: %llu PAUSE-loop exits, %llu yields", SPINS,
	       (unsigned long long)exits, (unsigned long long)yields);
	EXPECT_LT(0, exits) TH_LOG("a PAUSE loop at CPL 0 never exited");
	EXPECT_EQ(0, yields) TH_LOG("a single vCPU yielded to another");
}

TEST_F(ple, ple_gap_zero_turns_it_off)
{
	uint64_t exits, yields;

	ASSERT_EQ(0, write_ple_gap(0));
	run_pause_loop(_metadata, &exits, &yields);
	ASSERT_EQ(0, write_ple_gap(self->gap));
	EXPECT_EQ(0, exits) TH_LOG("PAUSE-loop exits with ple_gap=0");
	EXPECT_EQ(0, yields);
}

struct runner {
	struct be_vcpu *v;
	struct be_exit e;
	int ret;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;

	r->ret = be_run(r->v, &r->e);
	return NULL;
}

static volatile uint32_t *mem32(struct tvm *t, uint64_t gpa)
{
	return (volatile uint32_t *)tvm_ptr(t, gpa);
}

TEST_F_TIMEOUT(ple, spinner_yields_to_preempted_vcpu, 900)
{
	uint64_t exits0, yields0, exits1, yields1;
	struct runner rn[2];
	struct be_sregs sr;
	struct be_regs regs;
	pthread_attr_t attr;
	struct be_vcpu v1;
	pthread_t th[2];
	cpu_set_t one;
	struct tvm t;
	int i, cpu, r;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, waiter);
	memcpy(tvm_ptr(&t, CODE1), worker, GUEST_SIZE(worker));
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	ASSERT_EQ(0, be_get_sregs(&t.vcpu, &sr));
	regs.rcx = 0x7fffffff;
	ASSERT_EQ(0, be_set_regs(&t.vcpu, &regs));
	r = be_create_vcpu(&t.vm, 1, &v1);
	ASSERT_EQ(0, r) TH_LOG("creating vCPU 1: %s", strerror(-r));
	ASSERT_EQ(0, be_set_sregs(&v1, &sr));
	regs.rip = CODE1;
	regs.rsp = STACK1;
	regs.rcx = WORK;
	ASSERT_EQ(0, be_set_regs(&v1, &regs));

	/* both vCPU threads on the CPU this thread runs on */
	cpu = sched_getcpu();
	ASSERT_LE(0, cpu);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	ASSERT_EQ(0, pthread_attr_init(&attr));
	ASSERT_EQ(0, pthread_attr_setaffinity_np(&attr, sizeof(one), &one));
	memset(rn, 0, sizeof(rn));
	rn[0].v = &t.vcpu;
	rn[1].v = &v1;
	ASSERT_EQ(0, pthread_create(&th[1], &attr, run_thread, &rn[1]));
	for (i = 0; i < 60000 && !*mem32(&t, STARTED); i++)
		usleep(1000);
	ASSERT_EQ(1, *mem32(&t, STARTED)) TH_LOG("vCPU 1 did not start");
	ASSERT_EQ(0, pthread_create(&th[0], &attr, run_thread, &rn[0]));
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_attr_destroy(&attr);

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, rn[i].ret) TH_LOG("vCPU %d: RUN: %s", i, strerror(-rn[i].ret));
		ASSERT_EQ(BE_EXIT_HLT, rn[i].e.reason)
			TH_LOG("vCPU %d stopped with %s", i, be_exit_name(rn[i].e.reason));
	}
	EXPECT_EQ(1, *mem32(&t, FLAG));
	EXPECT_NE(0, *mem32(&t, LEFT)) TH_LOG("vCPU 0 spun out its budget: it never saw the flag");
	ASSERT_EQ(0, vcpu_stat(&t.vcpu, SHADOWVM_STAT_EXIT_PAUSE, &exits0));
	ASSERT_EQ(0, vcpu_stat(&t.vcpu, SHADOWVM_STAT_PAUSE_YIELDS, &yields0));
	ASSERT_EQ(0, vcpu_stat(&v1, SHADOWVM_STAT_EXIT_PAUSE, &exits1));
	ASSERT_EQ(0, vcpu_stat(&v1, SHADOWVM_STAT_PAUSE_YIELDS, &yields1));
	TH_LOG("CPU %d: vCPU 0 %llu PAUSE-loop exits, %llu yields, %u PAUSEs; vCPU 1 %llu, %llu",
	       cpu, (unsigned long long)exits0, (unsigned long long)yields0,
	       0x7fffffffu - *mem32(&t, LEFT), (unsigned long long)exits1,
	       (unsigned long long)yields1);
	EXPECT_LT(0, exits0) TH_LOG("the spinning vCPU never took a PAUSE-loop exit");
	EXPECT_LT(0, yields0) TH_LOG("the spinning vCPU never yielded to the preempted one");
	EXPECT_EQ(0, exits1) TH_LOG("vCPU 1 runs no PAUSE");
	EXPECT_EQ(0, yields1);
	be_destroy_vcpu(&v1);
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
