// SPDX-License-Identifier: GPL-2.0
/*
 * signal_test: RUN vs signals and processes.
 *   - a signal arriving while the guest runs a long but bounded loop
 *     (2^30 iterations, SIGALRM after 20 ms) interrupts RUN with EINTR;
 *     this is asserted first, without the risk of hanging the machine;
 *   - a signal arriving while the guest spins (SIGALRM after 20 ms, handler
 *     without SA_RESTART) makes RUN return -1/EINTR with exit reason INTR,
 *     and the vCPU keeps working afterwards;
 *   - run->immediate_exit = 1 makes RUN return EINTR without running the
 *     guest;
 *   - RUN from a forked child (not the VM's creator) fails with EIO;
 *   - a runner SIGKILLed in the middle of RUN leaves nothing behind: the
 *     module's debugfs counters return to the baseline, the module refcount
 *     drops to 0 (delete_module would succeed) and new VMs still run.
 * The two tests with a guest spinning forever skip when the bounded-loop
 * probe shows that a running guest cannot be interrupted on this machine
 * (that failure is reported by signal_interrupts_long_guest_loop): a
 * spinning guest would hang the whole machine instead of failing.
 *
 * Times: a millisecond of a spinning guest costs ~0.1 s of Bochs wall
 * time in the test VM, so the guests spin no longer than the assertions
 * need: the alarms come after 20 ms (PROBE_MS, SPIN_MS) and the SIGKILL
 * 30 ms after the child said it is about to RUN (KILL_AFTER_MS), where
 * entering RUN takes microseconds (50, 100 and 200 ms before: 40 s of
 * make check).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

#define PROBE_MS	20	/* the bounded loop's SIGALRM */
#define SPIN_MS		20	/* the spinning guest's SIGALRM */
#define KILL_AFTER_MS	30	/* the SIGKILL in the middle of RUN */

GUEST_CODE(spin_guest,
	"1: jmp 1b\n"		/* TVM_CODE */
	"hlt\n");		/* TVM_CODE + 2 */

GUEST_CODE(hlt_only_guest,
	"hlt\n"
	"hlt\n");

GUEST_CODE(long_loop_guest,
	"mov $0x40000000, %ecx\n"
	"1: dec %ecx\n"
	"jnz 1b\n"
	"hlt\n");

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static int arm_alarm(long ms)
{
	struct itimerval it = {
		.it_value = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 },
	};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL))
		return -errno;
	alarms = 0;
	return setitimer(ITIMER_REAL, &it, NULL) ? -errno : 0;
}

/*
 * Runs 2^30 guest loop iterations (a few hundred ms on hardware) with a
 * SIGALRM after PROBE_MS. Returns 1 when the signal interrupted RUN, 0 when
 * the guest ran to its HLT first, -errno on setup failure.
 */
static int probe_guest_interruptible(enum be_exit_reason *reason,
				     long *ms_out, int *alarms_out)
{
	struct timespec t0;
	struct be_exit e;
	struct tvm t;
	int ret;

	ret = tvm_create(&t, tvm_default_kind(), TVM_MEM_DEFAULT);
	if (ret)
		return ret;
	ret = tvm_load(&t, TVM_CODE, long_loop_guest,
		       GUEST_SIZE(long_loop_guest));
	if (!ret)
		ret = arm_alarm(PROBE_MS);
	if (ret) {
		tvm_destroy(&t);
		return ret;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = tvm_run(&t, &e);
	*ms_out = elapsed_ms(&t0);
	*alarms_out = alarms;
	*reason = e.reason;
	tvm_destroy(&t);
	if (ret == -EINTR)
		return 1;
	return ret ? ret : 0;
}

#define SKIP_IF_GUEST_NOT_INTERRUPTIBLE() do {				\
	enum be_exit_reason __why = BE_EXIT_UNKNOWN;			\
	int __al = 0, __r;						\
	long __ms = 0;							\
									\
	__r = probe_guest_interruptible(&__why, &__ms, &__al);		\
	if (tvm_no_device(__r))						\
		SKIP(return, SKIP_REASON_NODEV);			\
	if (__r == 0)							\
		SKIP(return, "a running guest cannot be interrupted here "	\
		     "(see signal_interrupts_long_guest_loop): a spinning "	\
		     "guest would hang the machine");			\
} while (0)

TEST(signal_interrupts_long_guest_loop)
{
	enum be_exit_reason why = BE_EXIT_UNKNOWN;
	int al = 0, ret;
	long ms = 0;

	ret = probe_guest_interruptible(&why, &ms, &al);
	if (tvm_no_device(ret))
		SKIP(return, SKIP_REASON_NODEV);
	ASSERT_LE(0, ret) TH_LOG("setup: %s", strerror(-ret));
	EXPECT_EQ(1, ret)
		TH_LOG("RUN was not interrupted: guest reached %s after %ld ms, SIGALRM (%d ms) seen %d times; no external-interrupt exit while the guest ran?",
		       be_exit_name(why), ms, PROBE_MS, al);
	EXPECT_EQ(1, al);
}

static void set_rip(struct __test_metadata *_metadata, struct tvm *t,
		    uint64_t rip)
{
	struct be_regs regs;

	ASSERT_EQ(0, be_get_regs(&t->vcpu, &regs));
	regs.rip = rip;
	ASSERT_EQ(0, be_set_regs(&t->vcpu, &regs));
}

TEST(pending_signal_eintr)
{
	struct be_stats st;
	struct timespec t0;
	struct be_exit e;
	struct tvm t;
	long ms;
	int ret;

	SKIP_IF_GUEST_NOT_INTERRUPTIBLE();
	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, spin_guest);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, arm_alarm(SPIN_MS));
	ret = tvm_run(&t, &e);
	ms = elapsed_ms(&t0);
	EXPECT_EQ(-EINTR, ret) TH_LOG("RUN returned %d (%s), exit %s", ret,
				      strerror(-ret), be_exit_name(e.reason));
	EXPECT_EQ(BE_EXIT_INTR, e.reason);
	if (t.be.ops == &be_shadowvm_ops)
		EXPECT_EQ(SHADOWVM_EXIT_INTR,
			  ((struct shadowvm_run *)t.vcpu.run)->exit_reason);
	EXPECT_EQ(1, alarms);
	EXPECT_LE(SPIN_MS * 9 / 10, ms) TH_LOG("RUN returned after %ld ms", ms);
	EXPECT_GT(10000, ms) TH_LOG("RUN returned after %ld ms", ms);
	if (be_vcpu_stats(&t.vcpu, &st) == 0)
		EXPECT_LE(1, st.val[SHADOWVM_STAT_SIGNAL_EXITS]);

	/* the vCPU still works: leave the loop and halt */
	set_rip(_metadata, &t, TVM_CODE + 2);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(TVM_CODE + 3, tvm_rip(&t));
	tvm_destroy(&t);
}

TEST(immediate_exit_eintr)
{
	struct be_exit e;
	struct tvm t;
	int ret;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, hlt_only_guest);
	be_set_immediate_exit(&t.vcpu, true);
	ret = tvm_run(&t, &e);
	EXPECT_EQ(-EINTR, ret);
	EXPECT_EQ(BE_EXIT_INTR, e.reason);
	/* the guest did not run */
	EXPECT_EQ(TVM_CODE, tvm_rip(&t));
	/* a second RUN with the flag still set: EINTR again */
	ret = tvm_run(&t, &e);
	EXPECT_EQ(-EINTR, ret);
	be_set_immediate_exit(&t.vcpu, false);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(TVM_CODE + 1, tvm_rip(&t));
	tvm_destroy(&t);
}

TEST(run_from_forked_child_eio)
{
	struct be_exit e;
	struct tvm t;
	int status;
	pid_t pid;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	if (t.be.ops != &be_shadowvm_ops) {
		tvm_destroy(&t);
		SKIP(return, "EIO from another process is shadowvm's rule");
	}
	TVM_LOAD(&t, hlt_only_guest);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int ret = ioctl(t.vcpu.fd, SHADOWVM_RUN, 0);

		if (ret == 0)
			_exit(10);	/* ran: wrong */
		_exit(errno == EIO ? 0 : 20);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child's RUN %s", WEXITSTATUS(status) == 10 ?
		       "succeeded" : "failed with an errno other than EIO");
	/* the creator still runs it, from the start */
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(TVM_CODE + 1, tvm_rip(&t));
	tvm_destroy(&t);
}

TEST(sigkill_mid_run_leaves_nothing)
{
	struct svm_counters base, now;
	struct be_exit e;
	struct tvm t;
	char diff[256];
	int pfd[2], status, ret;
	long refcnt;
	pid_t pid;
	char c;

	if (access(SHADOWVM_DEV, F_OK))
		SKIP(return, SKIP_REASON_NODEV);
	SKIP_IF_GUEST_NOT_INTERRUPTIBLE();
	ret = svm_debugfs_ready();
	ASSERT_EQ(0, ret) TH_LOG("%s/module: %s", SVM_DEBUGFS_DIR,
				 strerror(-ret));
	ASSERT_EQ(0, svm_read_counters(&base));
	ASSERT_EQ(0, pipe(pfd));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(pfd[0]);
		if (tvm_create(&t, BE_SHADOWVM, TVM_MEM_DEFAULT) ||
		    tvm_load(&t, TVM_CODE, spin_guest, GUEST_SIZE(spin_guest)))
			_exit(1);
		if (write(pfd[1], "r", 1) != 1)
			_exit(2);
		tvm_run(&t, &e);
		_exit(3);		/* RUN must not return */
	}
	close(pfd[1]);
	ASSERT_EQ(1, read(pfd[0], &c, 1)) TH_LOG("child could not set up");
	close(pfd[0]);
	usleep(KILL_AFTER_MS * 1000);	/* well inside RUN */
	ASSERT_EQ(0, svm_read_counters(&now));
	EXPECT_EQ(base.live_vms + 1, now.live_vms);
	EXPECT_EQ(base.live_vcpus + 1, now.live_vcpus);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status))
		TH_LOG("child exited with %d instead of dying",
		       WEXITSTATUS(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));

	ret = svm_wait_counters(&base, &now, 5000);
	svm_counters_diff(&base, &now, diff, sizeof(diff));
	EXPECT_EQ(0, ret) TH_LOG("counters not back to baseline: %s", diff);
	refcnt = module_refcnt("shadowvm");
	EXPECT_EQ(0, refcnt) TH_LOG("module refcount %ld", refcnt);

	/* the module still works */
	ASSERT_EQ(0, tvm_create(&t, BE_SHADOWVM, TVM_MEM_DEFAULT));
	TVM_LOAD(&t, hlt_only_guest);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
