// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm - run a guest image on shadowvm (or KVM for comparison).
 *
 * Contract (Documentation/runner.rst has the long form):
 *   shadowvm run IMAGE [--mem SIZE] [--smp N] [--append TEXT]
 *                      [--module FILE[,CMD]]... [--env FILE]
 *                      [--disk IMG[,ro]] [--stats]  (--kernel: virtio-blk)
 *                      [--backend shadowvm|kvm] [--policy NAME] [--no-thp]
 * Guest RAM [0, SIZE) is this process's anonymous memory in slot 0
 * (2 MiB aligned, MADV_HUGEPAGE unless --no-thp). The
 * image is loaded by loader.h's rules (multiboot, ELF32, ELF64, flat);
 * vCPU 0 starts in the image's state, the other vCPUs wait for INIT/SIPI.
 * Each vCPU runs in its own thread; the main thread waits for the result
 * that ends the run (or a signal), then stops them all. Exit status:
 * (value << 1) | 1 for the value the guest wrote to port 0xf4 (& 0xff);
 * 0 when the guest halts with interrupts off; 125 when the runner cannot
 * run the guest; 126 when the guest crashed (triple fault, entry failure,
 * internal error); 128+N when stopped by signal N. Every runner message
 * goes to stderr as one line prefixed "shadowvm: ".
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/mman.h>

#include <linux/shadowvm.h>

#include "backend.h"
#include "devices.h"
#include "loader.h"

#define EXIT_RUNNER_ERROR	125
#define EXIT_GUEST_CRASH	126
#define EXIT_GUEST_RESET	124

#define DEFAULT_MEM		(16ULL << 20)
#define MIN_MEM			(FLAT_LOAD_ADDR + 4096)
#define MAX_MEM			(3ULL << 30)	/* below the 32-bit MMIO hole */

static volatile sig_atomic_t g_signal;

static void __attribute__((format(printf, 1, 2))) msg(const char *fmt, ...)
{
	static const char prefix[] = "shadowvm: ";
	char line[1024];
	size_t len = sizeof(prefix) - 1;
	va_list ap;
	int n;

	memcpy(line, prefix, len);
	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	len += (size_t)n < sizeof(line) - len - 1 ? (size_t)n :
	       sizeof(line) - len - 2;
	line[len++] = '\n';
	/* one write, so the line is not interleaved with guest output */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}

int cmd_stat(int argc, char **argv);

/* the policies' short names, joined with sep */
static const char *policy_list(const char *sep)
{
	static char buf[256];
	size_t n = 0;
	unsigned int i;

	buf[0] = 0;
	for (i = 0; i < be_npolicies; i++)
		n += snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0,
			      "%s%s", i ? sep : "", be_policies[i].name);
	return buf;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shadowvm run IMAGE [options]\n"
		"       shadowvm run --kernel BZIMAGE|VMLINUX [--initrd FILE] [--append TEXT] [options]\n"
		"  IMAGE      multiboot kernel (ELF or a.out kludge), ELF32, ELF64\n"
		"             (entered in long mode, identity map) or flat binary\n"
		"             (loaded and entered at 0x100000)\n"
		"  --mem SIZE           guest RAM, suffix K, M or G (default 16M)\n"
		"  --smp N              N vCPUs, 1-8 (default 1); APs wait for INIT/SIPI\n"
		"  --kernel FILE        boot Linux (bzImage or vmlinux) by the 64-bit boot\n"
		"                       protocol, with e820 and an MP table\n"
		"                       (Documentation/linux.rst)\n"
		"  --append TEXT        multiboot command line after the image name;\n"
		"                       with --kernel, the kernel command line\n"
		"  --initrd FILE        with --kernel, the initramfs; else a module\n"
		"  --module FILE[,CMD]  multiboot module (repeatable)\n"
		"  --env FILE           multiboot module 0: KEY=value lines\n"
		"  --disk IMG[,ro]      a raw image as the DMA disk at MMIO 0xfeb00000;\n"
		"                       with --kernel, as virtio-blk at PCI 00:01.0\n"
		"  --stats              print exit and device counters on stderr\n"
		"  --backend shadowvm|kvm  hypervisor to use (default shadowvm)\n"
		"  --policy %s  shadow MMU policy (shadowvm only)\n"
		"  --pf-bypass          guest not-present #PFs skip the exit (shadowvm;\n"
		"                       policies wp and wp-noemu; long-mode guests)\n"
		"  --no-thp             guest RAM without transparent huge pages\n"
		"devices: 16550 UART 0x3f8 (IRQ 4, input from stdin), exit port 0xf4,\n"
		"  PCI config 0xcf8/0xcfc (no devices; with --kernel a host bridge and\n"
		"  virtio-blk), fw_cfg 0x510/0x511, I/O APIC 0xfec00000, DMA disk\n"
		"  0xfeb00000, i8042 reset 0x64, CMOS clock\n"
		"  0x70/0x71 (Documentation/runner.rst)\n"
		"exit status: (value << 1) | 1 for a write of value to port 0xf4;\n"
		"  0 on guest hlt with interrupts off; 124 guest reset (i8042 0xfe);\n"
		"  125 runner error; 126 guest crash; 128+N on signal N\n"
		"       shadowvm stat [--all]\n"
		"  counters of every live VM and of each guest address space (debugfs)\n",
		policy_list("|"));
}

static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K':
		v <<= 10; end++; break;
	case 'm': case 'M':
		v <<= 20; end++; break;
	case 'g': case 'G':
		v <<= 30; end++; break;
	default:
		break;
	}
	if (*end == 'i' || *end == 'B')		/* accept 16MiB / 16MB */
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static int parse_policy(const char *s, uint32_t *out)
{
	const struct be_policy *p;

	if (!strcmp(s, "write-protect"))	/* the long name of "wp" */
		s = "wp";
	p = be_policy_by_name(s);
	if (!p)
		return -1;
	*out = p->nr;
	return 0;
}

static const char *vmx_basic_reason(uint64_t r)
{
	switch (r & 0xffff) {
	case 33: return "invalid guest state";
	case 34: return "MSR loading";
	case 41: return "machine-check event";
	default: return "unknown";
	}
}

static const char *internal_name(uint32_t sub)
{
	switch (sub) {
	case 1: return "emulation failure";
	case 2: return "unhandled exit";
	case 3: return "event delivery failed";
	case 4: return "out of memory";
	case 5: return "bad state";
	default: return "unknown";
	}
}

static void print_stats(struct be_vm *vm, const struct vm_devices *d,
			const char *backend)
{
	const struct dev_counters *c = &d->cnt;
	struct be_stats st;
	unsigned int i;
	int ret;

	fprintf(stderr, "shadowvm: --- stats (%s backend) ---\n", backend);
	ret = be_vm_stats(vm, &st);
	if (ret == -EOPNOTSUPP) {
		fprintf(stderr, "  (no in-kernel counters on this backend)\n");
	} else if (ret) {
		fprintf(stderr, "  in-kernel counters unavailable: %s\n",
			strerror(-ret));
	} else {
		fprintf(stderr, "  in-kernel counters (mmu policy %s):\n",
			be_policy_name(st.mmu_policy));
		for (i = 0; i < st.nr; i++) {
			const char *name = st.names ? st.names[i] : NULL;

			if (!name)
				continue;
			/* exits by reason always; the rest when non-zero */
			if (strncmp(name, "exit", 4) && !st.val[i])
				continue;
			fprintf(stderr, "  %-24s %" PRIu64 "\n", name,
				st.val[i]);
		}
	}
	fprintf(stderr, "  userspace exits:\n");
	for (i = 0; i < BE_EXIT_NR; i++)
		if (c->exits[i] || i == BE_EXIT_IO || i == BE_EXIT_MMIO)
			fprintf(stderr, "  user_%-19s %" PRIu64 "\n",
				be_exit_name(i), c->exits[i]);
#define C(name) fprintf(stderr, "  %-24s %" PRIu64 "\n", #name, c->name)
	C(io_in);
	C(io_out);
	C(uart_bytes);
	C(uart_rx_bytes);
	C(exit_port);
	C(pci_config);
	C(fw_cfg);
	C(i8042);
	C(rtc);
	C(port_unknown_in);
	C(port_unknown_out);
	C(mmio_reads);
	C(mmio_writes);
	C(ioapic);
	C(irq_raised);
	C(msi_sent);
	C(irq_dropped);
	if (d->vblk.present) {
		C(vblk_notify);
		C(vblk_requests);
		C(vblk_sectors_read);
		C(vblk_sectors_written);
		C(vblk_flushes);
		C(vblk_errors);
		C(vblk_bad_chains);
		C(vblk_bad_ring);
		C(vblk_bad_access);
	}
	if (d->disk.present) {
		C(disk_requests);
		C(disk_sectors_read);
		C(disk_sectors_written);
		C(disk_errors);
		C(disk_bad_access);
	}
#undef C
}

static int report_open_error(const struct backend_ops *ops, const char *path,
			     int err)
{
	bool svm = ops == &be_shadowvm_ops;

	if (err == EPROTO) {
		msg("%s: API version mismatch (runner built for %s API %d)",
		    path, ops->name, svm ? SHADOWVM_API_VERSION : 12);
	} else if (err == ENOENT || err == ENODEV || err == ENXIO) {
		msg("cannot open %s: %s (module not loaded? %s)", path,
		    strerror(err), svm ? "insmod kmod/shadowvm.ko" :
		    "modprobe kvm_intel");
	} else if (err == EACCES || err == EPERM) {
		msg("cannot open %s: %s (run as root or get access to the device)",
		    path, strerror(err));
	} else {
		msg("cannot open %s: %s", path, strerror(err));
	}
	return EXIT_RUNNER_ERROR;
}

#define MAX_VCPUS	8

/* one vCPU and the thread that runs it */
struct vcpu_thread {
	struct be_vcpu vcpu;
	struct run_state *rs;
	pthread_t thread;
	bool created, started;
};

/*
 * Shared by the main thread and the vCPU threads. The vCPU threads report
 * the first result that ends the run under lock; main then sets stop and
 * kicks every vCPU out of RUN (immediate_exit + SIGUSR1) and joins them.
 * Lifetime: lives on cmd_run()'s stack until every thread is joined.
 */
struct run_state {
	struct vm_devices *devs;
	struct vcpu_thread v[MAX_VCPUS];
	unsigned int n;
	bool halt_tick;			/* KVM irqchip: HLT waits in the kernel */
	pthread_t main_thread;
	pthread_mutex_t lock;
	bool stop;			/* atomic */
	bool have_result;		/* under lock, with rr, ex, who */
	enum run_result rr;
	struct be_exit ex;
	unsigned int who;
	int err;			/* errno of a RUN_ERROR, in its thread */
};

static void on_kick(int sig)
{
	(void)sig;			/* only makes RUN return -EINTR */
}

static bool stopping(struct run_state *rs)
{
	return __atomic_load_n(&rs->stop, __ATOMIC_SEQ_CST);
}

static void report(struct run_state *rs, unsigned int who, enum run_result rr,
		   const struct be_exit *ex)
{
	int err = errno;

	pthread_mutex_lock(&rs->lock);
	if (!rs->have_result) {
		rs->have_result = true;
		rs->rr = rr;
		rs->ex = *ex;
		rs->who = who;
		rs->err = err;
	}
	pthread_mutex_unlock(&rs->lock);
	pthread_kill(rs->main_thread, SIGUSR2);
}

/* KVM with an in-kernel irqchip: sleeping in HLT with IF = 0 is the end */
static bool halted_for_good(struct be_vcpu *vcpu)
{
	struct be_regs regs;

	if (be_halted(vcpu) != 1 || be_get_regs(vcpu, &regs))
		return false;
	return !(regs.rflags & 0x200);
}

static void *vcpu_main(void *arg)
{
	struct vcpu_thread *t = arg;
	struct run_state *rs = t->rs;
	struct be_exit ex;
	enum run_result rr;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		rr = vm_run_loop(&t->vcpu, rs->devs, &ex);
		if (rr == RUN_INTR) {
			/* clear first, then look at stop (main: the reverse) */
			be_set_immediate_exit(&t->vcpu, false);
			if (stopping(rs))
				return NULL;
			if (rs->halt_tick && t->vcpu.id == 0 &&
			    halted_for_good(&t->vcpu)) {
				report(rs, t->vcpu.id, RUN_HLT, &ex);
				return NULL;
			}
			continue;
		}
		if (stopping(rs))
			return NULL;
		if (rr == RUN_HLT && t->vcpu.id != 0)
			return NULL;	/* an AP halted for good: parked */
		report(rs, t->vcpu.id, rr, &ex);
		return NULL;
	}
}

static void stop_all(struct run_state *rs)
{
	unsigned int i;

	__atomic_store_n(&rs->stop, true, __ATOMIC_SEQ_CST);
	for (i = 0; i < rs->n; i++) {
		if (!rs->v[i].started)
			continue;
		be_set_immediate_exit(&rs->v[i].vcpu, true);
		pthread_kill(rs->v[i].thread, SIGUSR1);
	}
	for (i = 0; i < rs->n; i++) {
		if (rs->v[i].started)
			pthread_join(rs->v[i].thread, NULL);
		rs->v[i].started = false;
	}
}

/* waits for a result or a signal; returns the signal or 0 */
static int wait_run(struct run_state *rs)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	sigset_t set;
	bool done;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
			return sig;
		pthread_mutex_lock(&rs->lock);
		done = rs->have_result;
		pthread_mutex_unlock(&rs->lock);
		if (done)
			return 0;
		if (sig < 0 && rs->halt_tick && rs->v[0].started)
			pthread_kill(rs->v[0].thread, SIGUSR1);
	}
}

/* the exit status for the result that ended the run; prints its message */
static int run_status(struct run_state *rs, const struct be_regs *regs,
		      const struct backend_ops *ops)
{
	const struct be_exit *ex = &rs->ex;
	char cpu[32] = "";

	if (rs->n > 1)
		snprintf(cpu, sizeof(cpu), " (vCPU %u)", rs->who);
	switch (rs->rr) {
	case RUN_EXIT_PORT:
		return devices_exit_status(rs->devs);
	case RUN_HLT:
		return 0;
	case RUN_RESET:
		msg("guest reset (i8042 command 0xfe)%s", cpu);
		return EXIT_GUEST_RESET;
	case RUN_SHUTDOWN:
		msg("guest shutdown (triple fault)%s, RIP 0x%llx", cpu,
		    (unsigned long long)regs->rip);
		return EXIT_GUEST_CRASH;
	case RUN_FAIL_ENTRY:
		msg("VM entry failed%s: hardware reason 0x%llx (%s), qualification 0x%llx",
		    cpu, (unsigned long long)ex->fail_entry.reason,
		    vmx_basic_reason(ex->fail_entry.reason),
		    (unsigned long long)ex->fail_entry.qualification);
		return EXIT_GUEST_CRASH;
	case RUN_INTERNAL: {
		char data[16 * 20 + 1] = "";
		size_t off = 0;
		unsigned int i;

		for (i = 0; i < ex->internal.ndata && i < 16; i++)
			off += snprintf(data + off, sizeof(data) - off,
					" 0x%llx",
					(unsigned long long)ex->internal.data[i]);
		msg("internal error%s: suberror %u (%s), data:%s", cpu,
		    ex->internal.suberror, internal_name(ex->internal.suberror),
		    off ? data : " none");
		return EXIT_GUEST_CRASH;
	}
	case RUN_INTR:
		msg("interrupted by signal %d", (int)g_signal);
		return 128 + g_signal;
	case RUN_ERROR:
		msg("RUN failed%s: %s (see dmesg)", cpu, strerror(rs->err));
		return EXIT_RUNNER_ERROR;
	case RUN_UNKNOWN:
	default:
		msg("unexpected exit reason %u from the %s backend%s, RIP 0x%llx",
		    ex->raw_reason, ops->name, cpu,
		    (unsigned long long)regs->rip);
		return EXIT_GUEST_CRASH;
	}
}

/*
 * Guest RAM: anonymous memory aligned to 2 MiB, so that guest-physical and
 * host addresses share their 2 MiB alignment and transparent huge pages
 * can back the guest's large pages (madvise MADV_HUGEPAGE; --no-thp:
 * MADV_NOHUGEPAGE, 4 KiB pages only). MAP_FAILED on failure.
 */
#define RAM_ALIGN (2ULL << 20)
static void *alloc_guest_ram(uint64_t size, bool thp)
{
	uint64_t len = size + RAM_ALIGN;
	uintptr_t p, a;
	void *m;

	m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return m;
	p = (uintptr_t)m;
	a = (p + RAM_ALIGN - 1) & ~(uintptr_t)(RAM_ALIGN - 1);
	if (a > p)
		munmap(m, a - p);
	if (p + len > a + size)
		munmap((void *)(a + size), p + len - (a + size));
	/* advice only: a kernel without THP refuses it, and that is fine */
	madvise((void *)a, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return (void *)a;
}

/* "FILE[,CMDLINE]" -> module; ",ro" for --disk */
static void split_comma(char *arg, const char **first, const char **rest)
{
	char *c = strchr(arg, ',');

	*first = arg;
	*rest = NULL;
	if (c) {
		*c = 0;
		*rest = c + 1;
	}
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "stats", no_argument, NULL, 's' },
		{ "backend", required_argument, NULL, 'b' },
		{ "policy", required_argument, NULL, 'p' },
		{ "pf-bypass", no_argument, NULL, 'P' },
		{ "no-thp", no_argument, NULL, 'T' },
		{ "append", required_argument, NULL, 'a' },
		{ "module", required_argument, NULL, 'M' },
		{ "initrd", required_argument, NULL, 'I' },
		{ "kernel", required_argument, NULL, 'K' },
		{ "env", required_argument, NULL, 'e' },
		{ "smp", required_argument, NULL, 'c' },
		{ "disk", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct backend_ops *ops = &be_shadowvm_ops;
	struct be_vm_config cfg = { 0 };
	uint64_t mem_size = DEFAULT_MEM;
	bool stats = false, policy_set = false, disk_ro = false, thp = true;
	const char *image, *dev, *disk = NULL, *rest;
	const char *kernel = NULL, *initrd = NULL;
	unsigned int ninitrd = 0, nmodule = 0;
	struct boot_opts bopts;
	struct image_info info;
	struct vm_devices devs;
	struct run_state rs;
	struct backend be;
	struct be_sregs sr, cur;
	struct be_regs regs;
	struct be_vm vm;
	unsigned long smp = 1;
	sigset_t set;
	char err[512], *end;
	void *ram;
	int opt, ret, status, sig;
	unsigned int i;

	memset(&bopts, 0, sizeof(bopts));
	optind = 1;
	while ((opt = getopt_long(argc, argv, "m:sb:p:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (parse_size(optarg, &mem_size)) {
				msg("bad --mem size '%s' (e.g. 64M)", optarg);
				return EXIT_RUNNER_ERROR;
			}
			break;
		case 's':
			stats = true;
			break;
		case 'T':
			thp = false;
			break;
		case 'b':
			ops = be_ops_by_name(optarg);
			if (!ops) {
				msg("unknown backend '%s' (shadowvm or kvm)",
				    optarg);
				return EXIT_RUNNER_ERROR;
			}
			break;
		case 'p':
			if (parse_policy(optarg, &cfg.mmu_policy)) {
				msg("unknown policy '%s' (%s)", optarg,
				    policy_list(", "));
				return EXIT_RUNNER_ERROR;
			}
			policy_set = true;
			break;
		case 'P':
			cfg.shadowvm_flags |= SHADOWVM_VM_GUEST_PF_BYPASS;
			break;
		case 'a':
			bopts.append = optarg;
			break;
		case 'I':
			/* a module too: what it is depends on --kernel */
			initrd = optarg;
			ninitrd++;
			/* fall through */
		case 'M':
			nmodule += opt == 'M';
			if (bopts.nmods + 1 >= MB_MAX_MODULES) {
				msg("too many --module options (at most %d)",
				    MB_MAX_MODULES - 1);
				return EXIT_RUNNER_ERROR;
			}
			split_comma(optarg, &bopts.mods[bopts.nmods].path,
				    &bopts.mods[bopts.nmods].cmdline);
			bopts.nmods++;
			break;
		case 'e':
			bopts.env = optarg;
			break;
		case 'K':
			kernel = optarg;
			break;
		case 'c':
			errno = 0;
			smp = strtoul(optarg, &end, 0);
			if (errno || end == optarg || *end || smp < 1 ||
			    smp > MAX_VCPUS) {
				msg("bad --smp '%s' (1 to %d vCPUs)", optarg,
				    MAX_VCPUS);
				return EXIT_RUNNER_ERROR;
			}
			break;
		case 'd':
			split_comma(optarg, &disk, &rest);
			if (rest && strcmp(rest, "ro")) {
				msg("bad --disk option ',%s' (only ',ro')",
				    rest);
				return EXIT_RUNNER_ERROR;
			}
			disk_ro = rest != NULL;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_RUNNER_ERROR;
		}
	}
	if (kernel && (optind != argc || nmodule || ninitrd > 1 || bopts.env)) {
		msg(optind != argc ? "run: --kernel takes no IMAGE" :
		    ninitrd > 1 ? "run: one --initrd with --kernel" :
		    "run: --module and --env are for multiboot images, not --kernel");
		usage(stderr);
		return EXIT_RUNNER_ERROR;
	}
	if (!kernel && optind != argc - 1) {
		msg(optind >= argc ? "run: missing IMAGE" :
		    "run: exactly one IMAGE expected");
		usage(stderr);
		return EXIT_RUNNER_ERROR;
	}
	image = kernel ? kernel : argv[optind];
	if (kernel)
		bopts.nmods = 0;	/* the --initrd, not a module */
	if ((policy_set || cfg.shadowvm_flags) && ops != &be_shadowvm_ops) {
		msg("--policy and --pf-bypass apply to the shadowvm backend only");
		return EXIT_RUNNER_ERROR;
	}
	if (mem_size < MIN_MEM || mem_size > MAX_MEM || mem_size % 4096) {
		msg("--mem must be a multiple of 4K between %lluK and %lluM",
		    MIN_MEM >> 10, MAX_MEM >> 20);
		return EXIT_RUNNER_ERROR;
	}

	ram = alloc_guest_ram(mem_size, thp);
	if (ram == MAP_FAILED) {
		msg("cannot allocate %llu bytes of guest RAM: %s",
		    (unsigned long long)mem_size, strerror(errno));
		return EXIT_RUNNER_ERROR;
	}
	if (kernel)
		ret = linux_load(kernel, initrd, bopts.append, smp, ram,
				 mem_size, &info, err, sizeof(err));
	else
		ret = load_image(image, ram, mem_size, &bopts, &info, err,
				 sizeof(err));
	if (ret) {
		msg("%s", err);
		return EXIT_RUNNER_ERROR;
	}
	devices_init(&devs, STDOUT_FILENO);
	/* Linux: PCI bus 0, the disk as virtio-blk; others: the DMA disk */
	if (kernel)
		pci_enable_bus(&devs);
	if (disk && (kernel ? vblk_register(&devs, disk, disk_ro, err,
					    sizeof(err)) :
		     disk_register(&devs, disk, disk_ro, err, sizeof(err)))) {
		msg("%s", err);
		return EXIT_RUNNER_ERROR;
	}

	dev = getenv("SHADOWVM_DEVICE");
	if (!dev || !*dev)
		dev = ops->dev_path;
	ret = be_open(&be, ops, dev);
	if (ret)
		return report_open_error(ops, dev, -ret);

	/* KVM: in-kernel LAPICs like shadowvm's platform */
	cfg.irqchip = true;
	ret = be_create_vm(&be, &cfg, &vm);
	if (ret == -EBUSY) {
		msg("VM creation refused: VT-x is held by another hypervisor (e.g. kvm_intel with a live VM) (%s)",
		    strerror(EBUSY));
		return EXIT_RUNNER_ERROR;
	} else if (ret) {
		msg("VM creation failed: %s (see dmesg)", strerror(-ret));
		return EXIT_RUNNER_ERROR;
	}
	ret = be_set_memory(&vm, 0, 0, mem_size, ram, false);
	if (ret) {
		msg("cannot register %llu bytes of guest RAM: %s",
		    (unsigned long long)mem_size, strerror(-ret));
		return EXIT_RUNNER_ERROR;
	}

	memset(&rs, 0, sizeof(rs));
	pthread_mutex_init(&rs.lock, NULL);
	rs.devs = &devs;
	rs.n = smp;
	rs.halt_tick = vm.irqchip;
	rs.main_thread = pthread_self();
	for (i = 0; i < rs.n; i++) {
		ret = be_create_vcpu(&vm, i, &rs.v[i].vcpu);
		if (ret) {
			msg("cannot create vCPU %u: %s (see dmesg)", i,
			    strerror(-ret));
			return EXIT_RUNNER_ERROR;
		}
		rs.v[i].created = true;
		rs.v[i].rs = &rs;
		/* an AP waits for INIT/SIPI from the BSP, as after power-on */
		ret = i ? be_wait_sipi(&rs.v[i].vcpu) : 0;
		if (ret) {
			msg("cannot park vCPU %u in wait-for-SIPI: %s", i,
			    strerror(-ret));
			return EXIT_RUNNER_ERROR;
		}
	}
	/* the BSP: the image's start state; APs wait for INIT/SIPI */
	ret = be_get_sregs(&rs.v[0].vcpu, &cur);
	if (!ret) {
		boot_sregs(&info, &sr);
		sr.apic_base = cur.apic_base;
		ret = be_set_sregs(&rs.v[0].vcpu, &sr);
	}
	if (!ret) {
		memset(&regs, 0, sizeof(regs));
		regs.rip = info.entry;
		regs.rsp = info.stack;
		regs.rax = info.eax;
		regs.rbx = info.ebx;
		regs.rsi = info.rsi;
		regs.rflags = 0x2;
		ret = be_set_regs(&rs.v[0].vcpu, &regs);
	}
	if (ret) {
		msg("cannot set vCPU registers: %s", strerror(-ret));
		return EXIT_RUNNER_ERROR;
	}

	devices_attach_vm(&devs, &vm, ram, mem_size, smp);
	ioapic_register(&devs);		/* neither backend has one in the kernel */

	/* signals: main waits for them; vCPU threads take only SIGUSR1 */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_kick;	/* no SA_RESTART */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
	}
	/* stdin feeds the UART, unless it is a terminal we do not own */
	if (!isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) == getpgrp())
		uart_start_input(&devs, STDIN_FILENO);

	for (i = 0; i < rs.n; i++) {
		ret = pthread_create(&rs.v[i].thread, NULL, vcpu_main,
				     &rs.v[i]);
		if (ret) {
			msg("cannot start vCPU thread %u: %s", i,
			    strerror(ret));
			stop_all(&rs);
			return EXIT_RUNNER_ERROR;
		}
		rs.v[i].started = true;
	}
	sig = wait_run(&rs);
	stop_all(&rs);
	if (sig) {
		g_signal = sig;
		rs.rr = RUN_INTR;
	}

	memset(&regs, 0, sizeof(regs));
	be_get_regs(&rs.v[rs.who].vcpu, &regs);
	status = run_status(&rs, &regs, ops);
	if (stats)
		print_stats(&vm, &devs, ops->name);

	devices_free(&devs);
	for (i = 0; i < rs.n; i++)
		if (rs.v[i].created)
			be_destroy_vcpu(&rs.v[i].vcpu);
	be_destroy_vm(&vm);
	be_close(&be);
	munmap(ram, mem_size);
	return status;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "stat"))
		return cmd_stat(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "--help") ||
			  !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 2)
		msg("missing command");
	else
		msg("unknown command '%s'", argv[1]);
	usage(stderr);
	return EXIT_RUNNER_ERROR;
}
