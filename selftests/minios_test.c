// SPDX-License-Identifier: GPL-2.0
/*
 * minios_test: the guest mini-OS (guests/minios/) booted by multiboot
 * through the runner, on every shadow MMU policy and on KVM, in both of
 * its paging modes (minios.elf: 2-level 32-bit, minios-pae.elf: PAE).
 *
 * The mini-OS runs 8 processes with their own page tables at CPL3, a LAPIC
 * timer in periodic mode preempting them (also in the middle of the
 * kernel's page-fault and fork paths), demand paging, copy-on-write fork,
 * and DMA-disk I/O completed by an MSI; each process checks its own data
 * after every phase. Each case asserts, from the guest's serial output:
 *   - the runner exits with the status of an exit-port write of 0
 *     ((0 << 1) | 1 = 1) and the guest printed "minios: PASS";
 *   - all 8 workers printed "heap ok, cow ok, fork ok, disk ok" and init
 *     "verified 8/8 processes";
 *   - the totals show preemption (ticks > 20, preemptions > 8, some of
 *     them in the kernel: kernel_preemptions > 0; mm_preemptions, those
 *     inside a fault/fork/teardown page-table path, is logged), demand
 *     faults, COW copies, disk operations each completed by its interrupt
 *     (disk_irqs >= disk_ops, no missed interrupt), and no leaked page.
 * The timer period is 250 us of guest time (timer=250000); on a slow host
 * $SVM_MINIOS_TIMER (ns, at least 100000) makes it longer: under Bochs's
 * instruction clock 250 us are 25,000 instructions, and on a debug host
 * kernel (make check-debug) the vtlb policy, which rebuilds a process's
 * whole shadow after each switch, needs more than that for one switch, and
 * the processes hardly run.
 * The runner is found through $SHADOWVM_RUNNER, next to this binary, or in
 * ../userspace-tool; the images through $MINIOS_DIR, next to this binary,
 * or in ../guests/minios. KVM cases load kvm_intel (ept=0, so KVM shadows
 * page tables too) from $KVM_MODULES_DIR like kvm_coexist_test and unload
 * it afterwards; they skip when KVM is not available.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"

#define MINIOS_PROCS	8
#define MINIOS_APPEND	"procs=8 rounds=2 pages=32 shared=16 sectors=8"
#define MINIOS_TIMER	250000	/* LAPIC timer period, ns (divide by 1) */
#define EXIT_OK		1	/* exit port value 0: (0 << 1) | 1 */
#define RUN_SECONDS	180
#define OUT_MAX		(256 * 1024)

struct minios_run {
	int status;		/* exit status, or -signal */
	char *out, *err;
};

/* path of name: $env, next to this binary, or ../<srcdir>/name */
static int locate(const char *env, const char *srcdir, const char *name,
		  char *path, size_t len)
{
	const char *e = getenv(env);
	char self[PATH_MAX / 2], *slash;
	ssize_t n;

	if (e && *e) {
		snprintf(path, len, "%s/%s", e, name);
		if (!access(path, R_OK))
			return 0;
		snprintf(path, len, "%s", e);	/* a file, for the runner */
		return access(path, R_OK) ? -1 : 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	if ((size_t)snprintf(path, len, "%s/%s", self, name) < len &&
	    !access(path, R_OK))
		return 0;
	if ((size_t)snprintf(path, len, "%s/../../%s/%s", self, srcdir,
			     name) >= len)
		return -1;
	return access(path, R_OK) ? -1 : 0;
}

static char *read_all(int fd)
{
	char *buf = calloc(1, OUT_MAX);
	size_t off = 0;
	ssize_t n;

	if (!buf)
		return NULL;
	lseek(fd, 0, SEEK_SET);
	while (off < OUT_MAX - 1 &&
	       (n = read(fd, buf + off, OUT_MAX - 1 - off)) > 0)
		off += n;
	return buf;
}

/* runs argv (argv[0] the runner) with stdout/stderr captured */
static int run_capture(char *const argv[], struct minios_run *r)
{
	char op[] = "/tmp/minios_out_XXXXXX", ep[] = "/tmp/minios_err_XXXXXX";
	int ofd = mkstemp(op), efd = mkstemp(ep), st;
	pid_t pid;

	if (ofd < 0 || efd < 0)
		return -1;
	unlink(op);
	unlink(ep);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		dup2(ofd, 1);
		dup2(efd, 2);
		alarm(RUN_SECONDS);
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
	r->out = read_all(ofd);
	r->err = read_all(efd);
	close(ofd);
	close(efd);
	return r->out && r->err ? 0 : -1;
}

/* value of "key=N" in the "minios: totals" lines, or -1 */
static long total(const char *out, const char *key)
{
	const char *p = out;
	size_t klen = strlen(key);

	while ((p = strstr(p, "minios: totals")) != NULL) {
		const char *eol = strchr(p, '\n'), *q = p;

		while ((q = strstr(q, key)) != NULL && (!eol || q < eol)) {
			if (q[-1] == ' ' && q[klen] == '=')
				return strtol(q + klen + 1, NULL, 10);
			q += klen;
		}
		p += 14;
	}
	return -1;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* boots image on the backend (policy 0 = default), asserts the results */
static void minios_check(struct __test_metadata *_metadata, const char *image,
			 const char *backend, uint32_t policy)
{
	char runner[PATH_MAX], img[PATH_MAX], disk[] = "/tmp/minios_disk_XXXXXX";
	char *argv[20];
	struct minios_run r = { 0 };
	int fd, argc = 0;
	char buf[96], append[128];
	const char *tmr = getenv("SVM_MINIOS_TIMER");
	unsigned long period = MINIOS_TIMER;

	if (locate("SHADOWVM_RUNNER", "userspace-tool", "shadowvm", runner,
		   sizeof(runner)))
		SKIP(return, "runner binary not found (set SHADOWVM_RUNNER)");
	ASSERT_EQ(0, locate("MINIOS_DIR", "guests/minios", image, img,
			    sizeof(img)))
		TH_LOG("%s not found (make minios; or set MINIOS_DIR)", image);
	fd = mkstemp(disk);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 1 << 20));
	close(fd);

	argv[argc++] = runner;
	argv[argc++] = "run";
	argv[argc++] = img;
	argv[argc++] = "--mem";
	argv[argc++] = "32M";
	argv[argc++] = "--disk";
	argv[argc++] = disk;
	if (tmr && *tmr) {
		char *end;

		period = strtoul(tmr, &end, 0);
		ASSERT_TRUE(!*end && period >= 100000 && period <= 0xffffffffUL)
			TH_LOG("SVM_MINIOS_TIMER=%s: want ns, 100000 to 2^32-1", tmr);
	}
	snprintf(append, sizeof(append), "%s timer=%lu", MINIOS_APPEND, period);
	argv[argc++] = "--append";
	argv[argc++] = append;
	argv[argc++] = "--stats";
	argv[argc++] = "--backend";
	argv[argc++] = (char *)backend;
	if (policy) {
		argv[argc++] = "--policy";
		argv[argc++] = (char *)be_policy_name(policy);
	}
	argv[argc] = NULL;

	ASSERT_EQ(0, run_capture(argv, &r));
	unlink(disk);
	svmtest_log_lines(_metadata, "guest", r.out);
	svmtest_log_lines(_metadata, "runner", r.err);

	EXPECT_EQ(EXIT_OK, r.status)
		TH_LOG("runner exit status %d (1 = the guest wrote 0 to port 0xf4)",
		       r.status);
	EXPECT_NE(NULL, strstr(r.out, "minios: PASS\n"));
	EXPECT_EQ(MINIOS_PROCS,
		  count(r.out, "heap ok, cow ok, fork ok, disk ok"));
	snprintf(buf, sizeof(buf), "minios: verified %d/%d processes",
		 MINIOS_PROCS, MINIOS_PROCS);
	EXPECT_NE(NULL, strstr(r.out, buf));
	EXPECT_LT(20, total(r.out, "ticks"));
	EXPECT_LT(8, total(r.out, "preemptions"));
	/* ticks taken in the kernel's syscall and page-fault paths */
	EXPECT_LT(0, total(r.out, "kernel_preemptions"));
	EXPECT_LT(MINIOS_PROCS * 32, total(r.out, "demand"));
	EXPECT_LT(MINIOS_PROCS, total(r.out, "cow"));
	/* 2 rounds x (1 write + 2 reads) per worker, 1 read per worker by init */
	EXPECT_LE(MINIOS_PROCS * 7, total(r.out, "disk_ops"));
	EXPECT_LE(total(r.out, "disk_ops"), total(r.out, "disk_irqs"));
	EXPECT_EQ(0, total(r.out, "disk_missed_irqs"));
	EXPECT_EQ(0, total(r.out, "disk_errors"));
	EXPECT_EQ(0, total(r.out, "leaked_pages"));
	free(r.out);
	free(r.err);
}

FIXTURE(minios) {
	bool have_dev;
};

POLICY_VARIANTS(minios);

FIXTURE_SETUP(minios)
{
	self->have_dev = access(be_shadowvm_ops.dev_path, F_OK) == 0;
}

FIXTURE_TEARDOWN(minios)
{
}

TEST_F_TIMEOUT(minios, two_level, RUN_SECONDS + 30)
{
	if (!self->have_dev)
		SKIP(return, SKIP_REASON_NODEV);
	minios_check(_metadata, "minios.elf", "shadowvm", variant->policy);
}

TEST_F_TIMEOUT(minios, pae, RUN_SECONDS + 30)
{
	if (!self->have_dev)
		SKIP(return, SKIP_REASON_NODEV);
	minios_check(_metadata, "minios-pae.elf", "shadowvm", variant->policy);
}

/* --- the same image on KVM, for comparison --- */
static int load_mod(const char *dir, const char *name, const char *params)
{
	static const char *const ext[] = { ".ko", ".ko.xz", ".ko.zst" };
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ext); i++) {
		snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext[i]);
		if (!access(path, R_OK))
			return module_load(path, params);
	}
	return -ENOENT;
}

/* kvm_intel loaded (by us: *loaded), or -errno */
static int kvm_up(bool *loaded)
{
	const char *dir = getenv("KVM_MODULES_DIR");
	int ret;

	*loaded = false;
	if (module_loaded("kvm_intel"))
		return 0;
	if (!dir || !*dir) {
		const char *mp = getenv("SVMTEST_ALLOW_MODPROBE");

		if (!mp || strcmp(mp, "1"))
			return -ENOENT;
		if (system("modprobe kvm_intel ept=0") && system("modprobe kvm_intel"))
			return -EIO;
		*loaded = true;
		return 0;
	}
	if (!module_loaded("irqbypass")) {
		ret = load_mod(dir, "irqbypass", "");
		if (ret && ret != -EEXIST)
			return ret;
	}
	if (!module_loaded("kvm")) {
		ret = load_mod(dir, "kvm", "");
		if (ret && ret != -EEXIST)
			return ret;
	}
	ret = load_mod(dir, "kvm-intel", "ept=0");
	if (ret == -EINVAL)
		ret = load_mod(dir, "kvm-intel", "");
	if (ret && ret != -EEXIST)
		return ret;
	*loaded = true;
	return 0;
}

/* unloads what kvm_up() loaded, so shadowvm owns VT-x again */
static void kvm_down(void)
{
	int i;

	for (i = 0; i < 50 && module_loaded("kvm_intel"); i++) {
		if (!module_unload("kvm_intel"))
			break;
		usleep(100 * 1000);
	}
	if (module_loaded("kvm"))
		module_unload("kvm");
	if (module_loaded("irqbypass"))
		module_unload("irqbypass");
}

FIXTURE(minios_kvm) {
	bool loaded;
	int up;
};

FIXTURE_SETUP(minios_kvm)
{
	self->up = kvm_up(&self->loaded);
}

FIXTURE_TEARDOWN(minios_kvm)
{
	if (self->loaded)
		kvm_down();
}

TEST_F_TIMEOUT(minios_kvm, two_level, RUN_SECONDS + 30)
{
	if (self->up)
		SKIP(return, "KVM not available: %s", strerror(-self->up));
	minios_check(_metadata, "minios.elf", "kvm", 0);
}

TEST_F_TIMEOUT(minios_kvm, pae, RUN_SECONDS + 30)
{
	if (self->up)
		SKIP(return, "KVM not available: %s", strerror(-self->up));
	minios_check(_metadata, "minios-pae.elf", "kvm", 0);
}

TEST_HARNESS_MAIN
