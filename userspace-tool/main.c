// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm - run a 32-bit guest image on shadowvm (or KVM for comparison).
 *
 * Contract (Documentation/runner.rst has the long form):
 *   shadowvm run IMAGE [--mem SIZE] [--stats] [--backend shadowvm|kvm]
 *                      [--policy wp|unsync|vtlb]
 * Guest RAM [0, SIZE) is this process's anonymous memory in slot 0. A flat
 * image loads at 0x100000 and starts there, an ELF32 image at its p_paddrs
 * and e_entry; ESP = 0x100000 in both cases. Exit status: the value the
 * guest wrote to port 0xf4 (& 0xff); 0 when the guest halts; 125 when the
 * runner cannot run the guest; 126 when the guest crashed (triple fault,
 * entry failure, internal error); 128+N when stopped by signal N. Every
 * runner message goes to stderr as one line prefixed "shadowvm: ".
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "backend.h"
#include "devices.h"
#include "loader.h"

#define EXIT_RUNNER_ERROR	125
#define EXIT_GUEST_CRASH	126

#define DEFAULT_MEM		(16ULL << 20)
#define MIN_MEM			(FLAT_LOAD_ADDR + 4096)
#define MAX_MEM			(3ULL << 30)	/* below the 32-bit MMIO hole */

static struct be_vcpu *g_vcpu;
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

/* the short names of SHADOWVM_MMU_POLICIES(), joined with sep */
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
		"usage: shadowvm run IMAGE [--mem SIZE] [--stats] [--backend shadowvm|kvm]\n"
		"                          [--policy %s]\n"
		"  IMAGE      flat binary (loaded and entered at 0x100000) or ELF32\n"
		"  --mem      guest RAM size, suffix K, M or G (default 16M)\n"
		"  --stats    print exit counters on stderr at the end\n"
		"  --backend  hypervisor to use (default shadowvm)\n"
		"  --policy   shadow MMU policy (shadowvm backend only)\n"
		"exit status: guest's port 0xf4 value & 0xff; 0 on guest hlt;\n"
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

static void on_signal(int sig)
{
	g_signal = sig;
	if (g_vcpu)
		be_set_immediate_exit(g_vcpu, true);
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: RUN must see EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
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
	fprintf(stderr, "  %-24s %" PRIu64 "\n", "io_in", c->io_in);
	fprintf(stderr, "  %-24s %" PRIu64 "\n", "io_out", c->io_out);
	fprintf(stderr, "  %-24s %" PRIu64 "\n", "uart_bytes", c->uart_bytes);
	fprintf(stderr, "  %-24s %" PRIu64 "\n", "exit_port", c->exit_port);
	fprintf(stderr, "  %-24s %" PRIu64 "\n", "port_unknown_in",
		c->port_unknown_in);
	fprintf(stderr, "  %-24s %" PRIu64 "\n", "port_unknown_out",
		c->port_unknown_out);
	fprintf(stderr, "  %-24s %" PRIu64 "\n", "mmio_reads", c->mmio_reads);
	fprintf(stderr, "  %-24s %" PRIu64 "\n", "mmio_writes", c->mmio_writes);
}

static int report_open_error(const struct backend_ops *ops, const char *path,
			     int err)
{
	bool svm = ops == &be_shadowvm_ops;

	if (err == EPROTO) {
		msg("%s: API version mismatch (runner built for %s API %d)",
		    path, ops->name, svm ? 1 : 12);
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

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "stats", no_argument, NULL, 's' },
		{ "backend", required_argument, NULL, 'b' },
		{ "policy", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct backend_ops *ops = &be_shadowvm_ops;
	struct be_vm_config cfg = { 0 };
	uint64_t mem_size = DEFAULT_MEM;
	bool stats = false, policy_set = false;
	const char *image, *dev;
	struct image_info info;
	struct vm_devices devs;
	struct backend be;
	struct be_vcpu vcpu;
	struct be_regs regs;
	struct be_exit ex;
	struct be_vm vm;
	enum run_result rr;
	char err[512];
	void *ram;
	int opt, ret, status;

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
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_RUNNER_ERROR;
		}
	}
	if (optind != argc - 1) {
		msg(optind >= argc ? "run: missing IMAGE" :
		    "run: exactly one IMAGE expected");
		usage(stderr);
		return EXIT_RUNNER_ERROR;
	}
	image = argv[optind];
	if (policy_set && ops != &be_shadowvm_ops) {
		msg("--policy applies to the shadowvm backend only");
		return EXIT_RUNNER_ERROR;
	}
	if (mem_size < MIN_MEM || mem_size > MAX_MEM || mem_size % 4096) {
		msg("--mem must be a multiple of 4K between %lluK and %lluM",
		    MIN_MEM >> 10, MAX_MEM >> 20);
		return EXIT_RUNNER_ERROR;
	}

	ram = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED) {
		msg("cannot allocate %llu bytes of guest RAM: %s",
		    (unsigned long long)mem_size, strerror(errno));
		return EXIT_RUNNER_ERROR;
	}
	if (load_image(image, ram, mem_size, &info, err, sizeof(err))) {
		msg("%s", err);
		return EXIT_RUNNER_ERROR;
	}

	dev = getenv("SHADOWVM_DEVICE");
	if (!dev || !*dev)
		dev = ops->dev_path;
	ret = be_open(&be, ops, dev);
	if (ret)
		return report_open_error(ops, dev, -ret);

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
	ret = be_create_vcpu(&vm, 0, &vcpu);
	if (ret) {
		msg("cannot create vCPU: %s (see dmesg)", strerror(-ret));
		return EXIT_RUNNER_ERROR;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = info.entry;
	regs.rsp = info.stack;
	regs.rflags = 0x2;
	ret = be_set_regs(&vcpu, &regs);
	if (ret) {
		msg("cannot set vCPU registers: %s", strerror(-ret));
		return EXIT_RUNNER_ERROR;
	}

	devices_init(&devs, STDOUT_FILENO);
	g_vcpu = &vcpu;
	install_signals();

	for (;;) {
		rr = vm_run_loop(&vcpu, &devs, &ex);
		if (rr != RUN_INTR || g_signal)
			break;
		be_set_immediate_exit(&vcpu, false);	/* spurious EINTR */
	}
	be_set_immediate_exit(&vcpu, false);

	memset(&regs, 0, sizeof(regs));
	be_get_regs(&vcpu, &regs);
	switch (rr) {
	case RUN_EXIT_PORT:
		status = devs.exit_value;
		break;
	case RUN_HLT:
		status = 0;
		break;
	case RUN_SHUTDOWN:
		msg("guest shutdown (triple fault), RIP 0x%llx",
		    (unsigned long long)regs.rip);
		status = EXIT_GUEST_CRASH;
		break;
	case RUN_FAIL_ENTRY:
		msg("VM entry failed: hardware reason 0x%llx (%s), qualification 0x%llx",
		    (unsigned long long)ex.fail_entry.reason,
		    vmx_basic_reason(ex.fail_entry.reason),
		    (unsigned long long)ex.fail_entry.qualification);
		status = EXIT_GUEST_CRASH;
		break;
	case RUN_INTERNAL: {
		char data[16 * 20 + 1] = "";
		size_t off = 0;
		unsigned int i;

		for (i = 0; i < ex.internal.ndata && i < 16; i++)
			off += snprintf(data + off, sizeof(data) - off,
					" 0x%llx",
					(unsigned long long)ex.internal.data[i]);
		msg("internal error: suberror %u (%s), data:%s",
		    ex.internal.suberror, internal_name(ex.internal.suberror),
		    off ? data : " none");
		status = EXIT_GUEST_CRASH;
		break;
	}
	case RUN_INTR:
		msg("interrupted by signal %d", (int)g_signal);
		status = 128 + g_signal;
		break;
	case RUN_ERROR:
		msg("RUN failed: %s (see dmesg)", strerror(errno));
		status = EXIT_RUNNER_ERROR;
		break;
	case RUN_UNKNOWN:
	default:
		msg("unexpected exit reason %u from the %s backend, RIP 0x%llx",
		    ex.raw_reason, ops->name, (unsigned long long)regs.rip);
		status = EXIT_GUEST_CRASH;
		break;
	}
	if (stats)
		print_stats(&vm, &devs, ops->name);

	g_vcpu = NULL;
	be_destroy_vcpu(&vcpu);
	be_destroy_vm(&vm);
	be_close(&be);
	devices_free(&devs);
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
