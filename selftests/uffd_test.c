// SPDX-License-Identifier: GPL-2.0
/*
 * uffd_test: pinning guest memory that userspace supplies on demand
 * (userfaultfd, MISSING mode) must not hold the MMU lock, and a vCPU
 * waiting for it must be killable (item 3).
 *
 * stats_while_pinning_waits: slot 1 is anonymous memory registered with a
 *   userfaultfd. The vCPU thread's guest reads it; RUN waits in the kernel
 *   for the page (the test's handler sees the fault). Before resolving it,
 *   a helper thread calls SHADOWVM_GET_VM_STATS and reads the VM's debugfs
 *   stats and address_spaces files: each must return within 2 s while the
 *   vCPU waits (they must not queue behind a lock the waiting vCPU holds).
 *   Then the handler resolves the fault with UFFDIO_COPY and the guest must
 *   have read the copied data. The three queries must have run inside
 *   the vCPU thread's RUN (CLOCK_MONOTONIC intervals, lib/concurrency.h;
 *   the vCPU sleeps in the fault, so this is interval overlap, not CPU
 *   parallelism, and it holds on one CPU as on two). The fault is resolved in any case, so a
 *   failing module does not hang the test. Note: on Linux 6.1,
 *   pin_user_pages_fast(FOLL_LONGTERM) does not wait for userfaultfd
 *   (handle_userfault() without FAULT_FLAG_ALLOW_RETRY gives SIGBUS, the pin
 *   -EFAULT): a module that pins only that way ends the RUN with
 *   INTERNAL_ERROR / NO_MEMORY instead of waiting, and this test fails;
 *   the page has to be faulted in without the MMU lock (a GUP that may
 *   wait) before it is pinned.
 * sigkill_while_pinning_waits: a forked child runs a VM whose vCPU waits
 *   on a userfaultfd page nobody resolves, while another thread of the
 *   child calls GET_VM_STATS. SIGKILL to the child must end it: waitpid()
 *   returns within 5 s; then the module's accounting is back to the
 *   baseline.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "guest_paging.h"
#include "concurrency.h"

#define MEM_SIZE	(4u << 20)
#define UF_GPA		0x1000000ULL	/* 16 MiB */
#define UF_SIZE		0x10000ULL
#define UF_OFF		0x2010		/* the word the guest reads */
#define UF_WORD		0x55464644	/* "UFFD" */
#define STALL_MS	2000

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* a userfaultfd with [p, p + len) registered for MISSING faults */
static int uffd_open(void *p, size_t len, char *why, size_t wlen)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)p, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd;

	fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, wlen, "userfaultfd(): %s", strerror(errno));
		return -errno;
	}
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg)) {
		int e = errno;

		snprintf(why, wlen, "UFFDIO_API/REGISTER: %s", strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

/* waits up to ms for a page fault; its address, or 0 */
static uint64_t uffd_wait_fault(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct uffd_msg msg;

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	if (read(fd, &msg, sizeof(msg)) != sizeof(msg))
		return 0;
	if (msg.event != UFFD_EVENT_PAGEFAULT)
		return 0;
	return msg.arg.pagefault.address;
}

static int uffd_copy(int fd, uint64_t dst, const void *src)
{
	struct uffdio_copy c = {
		.dst = dst & ~0xfffULL,
		.src = (uintptr_t)src,
		.len = 0x1000,
	};

	return ioctl(fd, UFFDIO_COPY, &c) ? -errno : 0;
}

static int setup_guest(struct tvm *t, void *uf_mem)
{
	struct grt_env env = { .mode = GP_MODE_NONE };
	struct grt_script s;
	struct gp g;
	int r;

	r = be_set_memory(&t->vm, 1, UF_GPA, UF_SIZE, uf_mem, false);
	if (r)
		return r;
	r = grt_setup(t, &g, &env);
	if (r)
		return r;
	gs_init(&s);
	gs_op(&s, GOP_R32, 0, UF_GPA + UF_OFF, 0, 0);
	gs_op(&s, GOP_END, 0, 0, 0, 0);
	r = grt_load(t, &s);
	gs_free(&s);
	return r;
}

struct vcpu_ctx {
	struct tvm *t;
	struct grt_stopinfo st;
	atomic_int done;
	uint64_t run0, run1;	/* CLOCK_MONOTONIC ns around RUN */
};

static void *vcpu_thread(void *arg)
{
	struct vcpu_ctx *v = arg;

	v->run0 = conc_now_ns();
	grt_run(v->t, &v->st);
	v->run1 = conc_now_ns();
	atomic_store(&v->done, 1);
	return NULL;
}

/* the debugfs directory of this process's VM */
static int vm_debugfs_dir(char *buf, size_t len)
{
	char pat[128];
	glob_t gl;
	int r = -ENOENT;

	snprintf(pat, sizeof(pat), SVM_DEBUGFS_DIR "/vm%d-*", getpid());
	if (glob(pat, 0, NULL, &gl) == 0) {
		if (gl.gl_pathc == 1) {
			snprintf(buf, len, "%s", gl.gl_pathv[0]);
			r = 0;
		}
		globfree(&gl);
	}
	return r;
}

enum { Q_STATS, Q_DEBUGFS_STATS, Q_DEBUGFS_AS, Q_NR };
static const char *const q_name[Q_NR] = {
	"SHADOWVM_GET_VM_STATS", "debugfs stats", "debugfs address_spaces",
};

struct query_ctx {
	int vm_fd;
	char dir[256];
	long ms[Q_NR];		/* how long each took */
	int err[Q_NR];		/* 0 or -errno */
	atomic_int done;	/* queries finished */
	uint64_t q0, q1;	/* CLOCK_MONOTONIC ns around the queries */
};

static int read_file(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return n < 0 ? -errno : 0;
}

static void *query_thread(void *arg)
{
	struct query_ctx *q = arg;
	struct shadowvm_stats st;
	char path[300];
	long t0;
	int i;

	q->q0 = conc_now_ns();
	for (i = 0; i < Q_NR; i++) {
		t0 = now_ms();
		switch (i) {
		case Q_STATS:
			memset(&st, 0, sizeof(st));
			q->err[i] = ioctl(q->vm_fd, SHADOWVM_GET_VM_STATS, &st) ?
				    -errno : 0;
			break;
		case Q_DEBUGFS_STATS:
			snprintf(path, sizeof(path), "%s/stats", q->dir);
			q->err[i] = read_file(path);
			break;
		case Q_DEBUGFS_AS:
			snprintf(path, sizeof(path), "%s/address_spaces", q->dir);
			q->err[i] = read_file(path);
			break;
		}
		q->ms[i] = now_ms() - t0;
		atomic_fetch_add(&q->done, 1);
	}
	q->q1 = conc_now_ns();
	return NULL;
}

TEST(stats_while_pinning_waits)
{
	static uint8_t page[0x1000] __attribute__((aligned(4096)));
	struct query_ctx q = { 0 };
	struct vcpu_ctx v = { 0 };
	pthread_t vt, qt;
	struct tvm t;
	uint64_t fault;
	void *uf_mem;
	char why[256];
	long t0, waited;
	int uffd, r, i;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "shadowvm's locking");
	r = svm_debugfs_ready();
	if (r == -ENOENT && access(SHADOWVM_DEV, F_OK))
		SKIP(return, SKIP_REASON_NODEV);
	ASSERT_EQ(0, r) TH_LOG("shadowvm debugfs: %s", strerror(-r));
	TVM_CREATE_OR_SKIP(&t, MEM_SIZE);
	uf_mem = mmap(NULL, UF_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, uf_mem);
	uffd = uffd_open(uf_mem, UF_SIZE, why, sizeof(why));
	if (uffd == -ENOSYS)
		SKIP(return, "the kernel has no userfaultfd (%s)", why);
	ASSERT_LE(0, uffd) TH_LOG("%s", why);
	ASSERT_EQ(0, setup_guest(&t, uf_mem));
	ASSERT_EQ(0, vm_debugfs_dir(q.dir, sizeof(q.dir)));
	q.vm_fd = t.vm.fd;
	*(uint32_t *)(page + (UF_OFF & 0xfff)) = UF_WORD;

	v.t = &t;
	ASSERT_EQ(0, pthread_create(&vt, NULL, vcpu_thread, &v));
	fault = uffd_wait_fault(uffd, 10000);
	if (!fault) {
		char d[256];

		pthread_join(vt, NULL);
		grt_describe(&t, &v.st, d, sizeof(d));
		ASSERT_NE(0, fault)
			TH_LOG("the vCPU never waited for the userfaultfd handler: RUN ended with %s (data[0] 0x%llx data[1] 0x%llx)",
			       d, (unsigned long long)v.st.e.internal.data[0],
			       (unsigned long long)v.st.e.internal.data[1]);
	}
	TH_LOG("the vCPU waits on the page at offset 0x%llx of the slot",
	       (unsigned long long)(fault - (uintptr_t)uf_mem));
	EXPECT_EQ(0, atomic_load(&v.done));

	/* the queries, while the vCPU waits */
	ASSERT_EQ(0, pthread_create(&qt, NULL, query_thread, &q));
	t0 = now_ms();
	while (atomic_load(&q.done) < Q_NR && now_ms() - t0 < Q_NR * STALL_MS)
		usleep(10000);
	waited = now_ms() - t0;
	i = atomic_load(&q.done);
	EXPECT_EQ(Q_NR, i)
		TH_LOG("after %ld ms only %d of %d queries returned: %s blocks while a vCPU waits for userspace to supply a page",
		       waited, i, Q_NR, q_name[i < Q_NR ? i : 0]);

	/* resolve in any case, then collect */
	ASSERT_EQ(0, uffd_copy(uffd, fault, page));
	pthread_join(qt, NULL);
	pthread_join(vt, NULL);
	EXPECT_TRUE(conc_within(v.run0, v.run1, q.q0, q.q1))
		TH_LOG("the queries [%llu, %llu] ns did not run inside the vCPU's RUN [%llu, %llu] ns",
		       (unsigned long long)q.q0, (unsigned long long)q.q1,
		       (unsigned long long)v.run0, (unsigned long long)v.run1);
	for (i = 0; i < Q_NR; i++) {
		TH_LOG("%s took %ld ms", q_name[i], q.ms[i]);
		EXPECT_EQ(0, q.err[i]) TH_LOG("%s: %s", q_name[i], strerror(-q.err[i]));
		EXPECT_GT(STALL_MS, q.ms[i]) TH_LOG("%s waited for the page", q_name[i]);
	}
	{
		char d[256];

		grt_describe(&t, &v.st, d, sizeof(d));
		ASSERT_EQ(GRT_STOP_DONE, v.st.why) TH_LOG("guest: %s", d);
	}
	EXPECT_EQ(UF_WORD, (uint32_t)grt_res(&t)[0])
		TH_LOG("the guest read 0x%x", (uint32_t)grt_res(&t)[0]);
	tvm_destroy(&t);
	close(uffd);
	munmap(uf_mem, UF_SIZE);
}

/* ---- SIGKILL ---- */

static void *stats_forever(void *arg)
{
	struct tvm *t = arg;
	struct shadowvm_stats st;

	for (;;) {
		memset(&st, 0, sizeof(st));
		ioctl(t->vm.fd, SHADOWVM_GET_VM_STATS, &st);
		usleep(1000);
	}
	return NULL;
}

/* child: reports one byte to the parent: 'W' the vCPU waits, else 'E' */
static void child_main(int wfd)
{
	struct vcpu_ctx v = { 0 };
	pthread_t vt, st;
	struct tvm t;
	void *uf_mem;
	char why[256];
	int uffd;

	if (tvm_create(&t, BE_SHADOWVM, MEM_SIZE))
		goto fail;
	uf_mem = mmap(NULL, UF_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (uf_mem == MAP_FAILED)
		goto fail;
	uffd = uffd_open(uf_mem, UF_SIZE, why, sizeof(why));
	if (uffd < 0 || setup_guest(&t, uf_mem))
		goto fail;
	v.t = &t;
	if (pthread_create(&vt, NULL, vcpu_thread, &v))
		goto fail;
	if (!uffd_wait_fault(uffd, 10000)) {
		pthread_join(vt, NULL);
		goto fail;
	}
	if (pthread_create(&st, NULL, stats_forever, &t))
		goto fail;
	usleep(100000);
	if (write(wfd, "W", 1) != 1)
		_exit(3);
	for (;;)
		pause();	/* never resolves the fault */
fail:
	if (write(wfd, "E", 1) != 1)
		_exit(3);
	_exit(2);
}

TEST(sigkill_while_pinning_waits)
{
	struct svm_counters base, now;
	struct pollfd pfd;
	char c = 0, diff[256];
	int p[2], status = 0, r;
	long t0, ms;
	pid_t pid, w = 0;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "shadowvm's module accounting");
	r = svm_debugfs_ready();
	if (r == -ENOENT && access(SHADOWVM_DEV, F_OK))
		SKIP(return, SKIP_REASON_NODEV);
	ASSERT_EQ(0, r) TH_LOG("shadowvm debugfs: %s", strerror(-r));
	ASSERT_EQ(0, svm_read_counters(&base));
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p[0]);
		child_main(p[1]);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	r = poll(&pfd, 1, 20000);
	if (r == 1 && read(p[0], &c, 1) != 1)
		c = 0;
	close(p[0]);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	if (c != 'W') {
		waitpid(pid, &status, 0);
		ASSERT_EQ('W', c)
			TH_LOG("the child's vCPU never waited on the userfaultfd page (child said '%c')",
			       c ? c : '-');
	}
	t0 = now_ms();
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() - t0 < 5000)
		usleep(10000);
	ms = now_ms() - t0;
	ASSERT_EQ(pid, w)
		TH_LOG("the child did not die within %ld ms of SIGKILL (stuck in the module)", ms);
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	TH_LOG("the child was reaped %ld ms after SIGKILL", ms);
	r = svm_wait_counters(&base, &now, 5000);
	svm_counters_diff(&base, &now, diff, sizeof(diff));
	EXPECT_EQ(0, r) TH_LOG("module counters not back to the baseline: %s", diff);
}

TEST_HARNESS_MAIN
