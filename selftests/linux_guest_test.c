// SPDX-License-Identifier: GPL-2.0
/*
 * linux_guest_test: an unmodified Linux kernel boots through the runner's
 * --kernel (the x86-64 boot protocol, Documentation/linux.rst) with the
 * busybox initramfs of guests/linux to init's interactive shell
 * (shadowvm.run=shell), which takes commands from the runner's stdin and
 * powers off through the exit port on "exit". Asserts, from the runner's
 * status and the guest's console:
 *   - the console is a usable shell: once init has said "init: a busybox
 *     shell", the test writes SHELL_INPUT into the runner's stdin (a pipe;
 *     the runner's UART receives it, on IRQ 4, into the guest's tty); the
 *     shell's answer "shell says 42 on x86_64" appears (computed by the
 *     guest: the echo of the typed line cannot match it), the guest read
 *     exactly those bytes from the UART's receiver (uart_rx_bytes), and
 *     "exit" ends the run with status 1 (exit-port value 0);
 *   - the kernel found what the runner describes: the MP table ("MPTABLE:
 *     OEM ID: SHADOWVM"), its TSC frequency from CPUID 0x15/0x16 ("tsc:
 *     Detected ... MHz", no "calibration failed", the delay loop not
 *     calibrated), the TSC-deadline timer, no legacy PIC, symmetric I/O
 *     mode with the I/O APIC, the CMOS clock;
 *   - with --smp 2, the second vCPU boots ("smp: Brought up 1 node, 2
 *     CPUs"): its INIT/SIPI start and real-mode trampoline (v86 mode);
 *   - no panic, oops, BUG or warning backtrace in the guest's log;
 *   - on shadowvm, the --stats counters show the shadow MMU at work (true
 *     and hidden page faults, shadow pages built, CR3 loads);
 *   - the disk (folded into the same boot, to keep the number of boots
 *     down; disk_*() below): a copy of linux-disk.img (guests/linux/
 *     mkdisk.sh: ext4 + 64 KiB raw tail) is the runner's --disk, which a
 *     Linux boot gets as virtio-blk at PCI 00:01.0; init's
 *     shadowvm.disk=check (guests/linux/init) loads Debian's virtio_pci,
 *     virtio_blk and ext4 modules, mounts /dev/vda, reads /hello.txt,
 *     writes /guest.txt and a raw marker with a per-run nonce, remounts
 *     and reads guest.txt back. Asserted: the kernel routed INTA through
 *     the MP table ("PCI->APIC IRQ transform: INT A -> IRQ 16") and sized
 *     the disk from the config space ("[vda] N 512-byte logical blocks");
 *     init read the host's text and printed "init: disk ok"; afterwards,
 *     from the host side, the image holds guest.txt's contents (in a data
 *     block of the file system) and the raw marker at exactly the offset
 *     of the last 64 KiB; the runner counted requests, sectors read and
 *     written, and no failed request or malformed chain.
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
 * binary, ../userspace-tool); the kernel from $SHADOWVM_LINUX_KERNEL, an
 * ELF "vmlinux" next to this binary (not with SVMTEST_FULL=1), a bzImage
 * "vmlinuz" there (the test machine's payload has the one it boots: make
 * check the ELF, which skips the bzImage's XZ decompressor and two thirds
 * of a boot's cost; make check-full the bzImage, see find_kernel()), or
 * /boot/vmlinuz-$(uname -r); the initramfs from
 * $SHADOWVM_LINUX_INITRD or "linux-initramfs.cpio" next to this binary
 * (guests/linux/mkinitramfs.sh); the disk image from $SHADOWVM_LINUX_DISK
 * or "linux-disk.img" next to this binary (guests/linux/mkdisk.sh), copied
 * to /tmp for each boot. A missing kernel, initramfs or disk image skips.
 * SVMTEST_LINUX_POLICIES: a comma-separated list of policy names and
 * "kvm" (default "wp"), or "all": the other cases skip.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "runner_exec.h"

#define LINUX_MEM	"256M"
#define LINUX_SECONDS	1500
#define STATUS_OK	1	/* exit port value 0: (0 << 1) | 1 */
#define APPEND		"console=ttyS0 panic=-1 shadowvm.run=shell"
/*
 * typed into the shell once it is up (the runner's stdin). "sleep 1"
 * before "exit": the shell is a session leader (setsid cttyhack), so its
 * exit hangs the tty up, and the hangup discards output the UART has not
 * sent yet; the answer once went that way (2026-12-02: status 1, the
 * answer missing, irq_dropped 2 where passing runs have 1, as if the
 * UART's interrupt came while the hangup's free_irq had IRQ 4 masked).
 * The answer and "exit" take well under TYPED_SECONDS with the sleep.
 */
#define SHELL_READY	"init: a busybox shell"
#define SHELL_INPUT	"echo \"shell says $((6 * 7)) on $(uname -m)\"\nsleep 1\nexit\n"
#define SHELL_ANSWER	"shell says 42 on x86_64"
/*
 * Seconds (of this machine's clock; in the Bochs test machine about an
 * hour of wall time) the guest has to answer and power off once typed: a
 * lost input must not leave the test waiting for LINUX_SECONDS. The
 * answer and "exit" take well under a second of it.
 */
#define TYPED_SECONDS	20
/* guests/linux/mkdisk.sh writes this to /hello.txt; init prints it */
#define DISK_HELLO	"shadowvm disk: hello from the host"
#define DISK_RAW_TAIL	65536		/* the raw area after the ext4 */

struct lx {
	char runner[PATH_MAX], kernel[PATH_MAX], initrd[PATH_MAX];
	char disk[PATH_MAX];		/* the pristine image */
	char copy[64];			/* this boot's copy */
	char append[256];
	unsigned int nonce;
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

/*
 * 0 with the kernel's path, or -1: $SHADOWVM_LINUX_KERNEL; else, unless
 * SVMTEST_FULL, the ELF "vmlinux" next to this binary (check.sh extracts
 * it from the test machine's bzImage: the same kernel without the
 * bzImage's XZ decompressor, which costs a boot 1.27 s of the test
 * machine's clock, two thirds of a one-vCPU boot to a shell); else the
 * bzImage "vmlinuz" next to this binary (make check-full boots this one,
 * decompressor included); else /boot/vmlinuz-$(uname -r).
 */
static int find_kernel(char *path, size_t len)
{
	const char *env = getenv("SHADOWVM_LINUX_KERNEL");
	struct utsname u;

	if (env && *env)
		return rx_find_file("SHADOWVM_LINUX_KERNEL", "", path, len);
	if (!svmtest_full() &&
	    !rx_find_file("SHADOWVM_LINUX_KERNEL", "vmlinux", path, len))
		return 0;
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
	if (rx_find_file("SHADOWVM_LINUX_DISK", "linux-disk.img", lx->disk,
			 sizeof(lx->disk)))
		SKIP(return -1, "no disk image (guests/linux/mkdisk.sh; set SHADOWVM_LINUX_DISK)");
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

/* ---- the disk, checked in the hello boot ---- */

/* the whole file into a malloc'ed buffer; NULL on failure */
static uint8_t *read_all(const char *path, size_t *len)
{
	uint8_t *buf = NULL, *nb;
	size_t cap = 0, n = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r <= 0) {
			close(fd);
			if (r < 0)
				break;
			*len = n;
			return buf;
		}
		n += r;
	}
	close(fd);
	free(buf);
	return NULL;
}

/* a fresh copy of the image for this boot, and the nonce of its markers */
static int disk_prepare(struct lx *self)
{
	uint8_t *buf;
	size_t len;
	int fd, ok;

	buf = read_all(self->disk, &len);
	if (!buf)
		return -1;
	snprintf(self->copy, sizeof(self->copy), "/tmp/svm_disk_XXXXXX");
	fd = mkstemp(self->copy);
	ok = fd >= 0 && write(fd, buf, len) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	free(buf);
	self->nonce = (unsigned int)getpid() * 2654435761u ^
		      (unsigned int)time(NULL);
	snprintf(self->append, sizeof(self->append),
		 "%s shadowvm.disk=check shadowvm.nonce=%08x", APPEND,
		 self->nonce);
	return ok ? 0 : -1;
}

static const void *find_bytes(const uint8_t *h, size_t hlen, const char *s)
{
	return memmem(h, hlen, s, strlen(s));
}

/* what the guest printed, and what it left in the image */
static void disk_verify(struct __test_metadata *_metadata, struct lx *self)
{
	const char *out = self->r.out, *err = self->r.err;
	char want[128];
	uint8_t *img;
	size_t len = 0;

	EXPECT_NE(NULL, strstr(out, "PCI->APIC IRQ transform: INT A -> IRQ 16"));
	img = read_all(self->copy, &len);
	ASSERT_NE(NULL, img);
	snprintf(want, sizeof(want), "[vda] %zu 512-byte logical blocks",
		 len / 512);
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("no \"%s\"", want);
	EXPECT_NE(NULL, strstr(out, "init: disk read: " DISK_HELLO));
	EXPECT_NE(NULL, strstr(out, "init: disk ok: "));
	EXPECT_EQ(NULL, strstr(out, "init: disk FAILED"));
	/* guest.txt's contents reached the file system's blocks */
	snprintf(want, sizeof(want), "shadowvm-guest-wrote-%08x\n",
		 self->nonce);
	EXPECT_NE(NULL, find_bytes(img, len - DISK_RAW_TAIL, want));
	/* the raw marker at the start of the last 64 KiB */
	snprintf(want, sizeof(want), "SHADOWVM-RAW-%08x\n", self->nonce);
	ASSERT_LT(DISK_RAW_TAIL, len);
	EXPECT_EQ(0, memcmp(img + len - DISK_RAW_TAIL, want, strlen(want)));
	free(img);
	EXPECT_LT(0, stat_value(err, "vblk_requests"));
	EXPECT_LT(0, stat_value(err, "vblk_sectors_read"));
	EXPECT_LT(0, stat_value(err, "vblk_sectors_written"));
	EXPECT_LT(0, stat_value(err, "vblk_flushes"));
	EXPECT_EQ(0, stat_value(err, "vblk_errors"));
	EXPECT_EQ(0, stat_value(err, "vblk_bad_chains"));
	EXPECT_EQ(0, stat_value(err, "vblk_bad_ring"));
	TH_LOG("disk: mounted, read, wrote, read back (nonce %08x; %lld requests, %lld sectors read, %lld written, %lld flushes; console %zu of %zu bytes kept)",
	       self->nonce, stat_value(err, "vblk_requests"),
	       stat_value(err, "vblk_sectors_read"),
	       stat_value(err, "vblk_sectors_written"),
	       stat_value(err, "vblk_flushes"), self->r.out_len,
	       sizeof(self->r.out) - 1);
}

static void boot_hello(struct __test_metadata *_metadata, struct lx *self,
		       const char *backend, const char *policy)
{
	const char *args[24];
	const char *out = self->r.out;
	int n = 0, ok;

	args[n++] = "run";
	args[n++] = "--kernel";
	args[n++] = self->kernel;
	args[n++] = "--initrd";
	args[n++] = self->initrd;
	args[n++] = "--mem";
	args[n++] = LINUX_MEM;
	args[n++] = "--smp";		/* the AP starts in real mode (rmode_test) */
	args[n++] = "2";
	ASSERT_EQ(0, disk_prepare(self));
	args[n++] = "--disk";
	args[n++] = self->copy;
	args[n++] = "--append";
	args[n++] = self->append;
	args[n++] = "--stats";
	args[n++] = "--backend";
	args[n++] = backend;
	if (policy) {
		args[n++] = "--policy";
		args[n++] = policy;
	}
	args[n] = NULL;
	ok = rx_run_interactive(LINUX_SECONDS, self->runner, args, SHELL_READY,
				SHELL_INPUT, TYPED_SECONDS, &self->r);
	if (ok)
		unlink(self->copy);
	ASSERT_EQ(0, ok);
	ok = self->r.status == STATUS_OK && strstr(out, SHELL_ANSWER);
	if (!ok) {
		/* the runner's lines first: a short log shows the guest's tail */
		svmtest_log_lines(_metadata, "runner", self->r.err);
		svmtest_log_lines(_metadata, "guest", out);
		TH_LOG("runner status %d (%s); \"%s\" at %ld s (-1: never), then %zu bytes typed, the guest read %lld; answer %s; irqs %lld raised, %lld dropped, %lld MSIs",
		       self->r.status,
		       self->r.timed_out ? "killed at the time limit" : "exited",
		       SHELL_READY, self->r.typed_after, strlen(SHELL_INPUT),
		       stat_value(self->r.err, "uart_rx_bytes"),
		       strstr(out, SHELL_ANSWER) ? "printed" : "not printed",
		       stat_value(self->r.err, "irq_raised"),
		       stat_value(self->r.err, "irq_dropped"),
		       stat_value(self->r.err, "msi_sent"));
	}
	if (self->r.status != STATUS_OK)
		unlink(self->copy);
	ASSERT_EQ(STATUS_OK, self->r.status);
	/* the shell ran what the runner's stdin typed, and "exit" ended it */
	EXPECT_NE(NULL, strstr(out, SHELL_READY));
	EXPECT_NE(NULL, strstr(out, SHELL_ANSWER));
	EXPECT_EQ((long long)strlen(SHELL_INPUT),
		  stat_value(self->r.err, "uart_rx_bytes"));
	EXPECT_NE(NULL, strstr(out, "MPTABLE: OEM ID: SHADOWVM"));
	EXPECT_NE(NULL, strstr(out, "tsc: Detected "));
	EXPECT_EQ(NULL, strstr(out, "calibration failed"));
	EXPECT_NE(NULL, strstr(out, "Calibrating delay loop (skipped)"));
	EXPECT_NE(NULL, strstr(out, "TSC deadline timer available"));
	EXPECT_NE(NULL, strstr(out, "Using NULL legacy PIC"));
	EXPECT_NE(NULL, strstr(out, "APIC: Switch to symmetric I/O mode"));
	EXPECT_NE(NULL, strstr(out, "rtc_cmos rtc_cmos: registered as rtc0"));
	EXPECT_NE(NULL, strstr(out, "smp: Brought up 1 node, 2 CPUs"))
		TH_LOG("the second vCPU did not come up (INIT/SIPI, real-mode trampoline)");
	EXPECT_EQ(NULL, strstr(out, "failed to boot"));
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
	disk_verify(_metadata, self);
	unlink(self->copy);
	TH_LOG("%s%s%s: %s booted to the shell, ran what stdin typed, exit powered off",
	       backend, policy ? " " : "", policy ? policy : "", self->kernel);
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
