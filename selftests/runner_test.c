// SPDX-License-Identifier: GPL-2.0
/*
 * runner_test: the shadowvm runner binary end to end.
 *   - demo.bin prints its greeting, the "shadowvm" signature and its OK
 *     line, and the runner exits 0;
 *   - a guest writing 7 to port 0xf4 (byte, word 0x207, dword 0x1107)
 *     makes the runner exit 7; an ELF32 image loads at p_paddr and starts
 *     at e_entry; HLT ends the run with 0;
 *   - devices: LSR reads 0x60, unknown ports and MMIO read all-ones and
 *     --stats reports the counters;
 *   - every runner error is one "shadowvm: " line with the right text and
 *     exit status: unreadable image, image larger than RAM, ELF64, missing
 *     device (with the insmod hint), bad options, guest triple fault.
 * The runner is found through $SHADOWVM_RUNNER, next to this binary, or in
 * ../userspace-tool when run from the source tree; demo.bin likewise.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

#define RUNNER_ERROR	125
#define GUEST_CRASH	126

struct result {
	int status;			/* exit status, or -signal */
	char out[16384];
	char err[16384];
};

static int find_file(const char *env, const char *name, char *path,
		     size_t len)
{
	char self[1024], *slash;
	ssize_t n;
	const char *e = getenv(env);

	if (e && *e) {
		snprintf(path, len, "%s", e);
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
	if ((size_t)snprintf(path, len, "%s/%s", self, name) >= len)
		return -1;
	if (!access(path, R_OK))
		return 0;
	/* selftests/bin/<test> -> userspace-tool/<name> */
	if ((size_t)snprintf(path, len, "%s/../../userspace-tool/%s", self,
			     name) >= len)
		return -1;
	return access(path, R_OK) ? -1 : 0;
}

static void slurp(int fd, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	while (off < len - 1 && (n = read(fd, buf + off, len - 1 - off)) > 0)
		off += n;
	buf[off] = 0;
}

/* runs the runner with args (NULL terminated); dev overrides the device */
static int run_runner(const char *runner, const char *const *args,
		      const char *dev, struct result *r)
{
	char outp[] = "/tmp/svm_out_XXXXXX", errp[] = "/tmp/svm_err_XXXXXX";
	const char *argv[16];
	int ofd, efd, status, i;
	pid_t pid;

	ofd = mkstemp(outp);
	efd = mkstemp(errp);
	if (ofd < 0 || efd < 0)
		return -1;
	unlink(outp);
	unlink(errp);
	argv[0] = runner;
	for (i = 0; args[i] && i < 12; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	/* developer aid: SVMTEST_BACKEND=kvm runs the runner on KVM */
	if (tvm_default_kind() == BE_KVM && args[0] && !strcmp(args[0], "run")) {
		memmove(argv + 4, argv + 2, (i) * sizeof(argv[0]));
		argv[2] = "--backend";
		argv[3] = "kvm";
	}
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(ofd, 1);
		dup2(efd, 2);
		if (dev)
			setenv("SHADOWVM_DEVICE", dev, 1);
		else
			unsetenv("SHADOWVM_DEVICE");
		alarm(60);
		execv(runner, (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) :
		    -WTERMSIG(status);
	slurp(ofd, r->out, sizeof(r->out));
	slurp(efd, r->err, sizeof(r->err));
	close(ofd);
	close(efd);
	return 0;
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* stderr is exactly one line starting "shadowvm: " containing needle */
#define EXPECT_ONE_LINE_ERROR(r, needle) do {				\
	EXPECT_EQ(0, strncmp((r)->err, "shadowvm: ", 10))		\
		TH_LOG("stderr: %s", (r)->err);				\
	EXPECT_NE(NULL, strstr((r)->err, needle))			\
		TH_LOG("no '%s' in stderr: %s", needle, (r)->err);	\
	EXPECT_EQ(strlen((r)->err) - 1,					\
		  (size_t)(strchr((r)->err, '\n') - (r)->err))		\
		TH_LOG("not one line: %s", (r)->err);			\
} while (0)

FIXTURE(runner) {
	char runner[PATH_MAX];
	char demo[PATH_MAX];
	char dir[64];
	char img[PATH_MAX];
	struct result r;
	bool have_dev;
};

FIXTURE_SETUP(runner)
{
	if (find_file("SHADOWVM_RUNNER", "shadowvm", self->runner,
		      sizeof(self->runner)))
		SKIP(return, "runner binary not found (set SHADOWVM_RUNNER)");
	if (find_file("SHADOWVM_DEMO", "demo.bin", self->demo,
		      sizeof(self->demo)))
		self->demo[0] = 0;
	strcpy(self->dir, "/tmp/svm_runner_XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->img, sizeof(self->img), "%s/guest.img", self->dir);
	self->have_dev =
		access(be_ops_by_kind(tvm_default_kind())->dev_path, F_OK) == 0;
}

FIXTURE_TEARDOWN(runner)
{
	char path[PATH_MAX + 16];

	if (!self->dir[0] || strncmp(self->dir, "/tmp/svm_runner_", 16))
		return;
	snprintf(path, sizeof(path), "%s/guest.img", self->dir);
	unlink(path);
	rmdir(self->dir);
}

#define NEED_DEV() do {							\
	RETURN_IF_SETUP_SKIPPED();					\
	if (!self->have_dev)						\
		SKIP(return, SKIP_REASON_NODEV);			\
} while (0)

#define RUN(...) do {							\
	const char *const __a[] = { __VA_ARGS__, NULL };		\
	ASSERT_EQ(0, run_runner(self->runner, __a, NULL, &self->r));	\
} while (0)

#define IMAGE(blob) \
	ASSERT_EQ(0, write_file(self->img, blob, GUEST_SIZE(blob)))

GUEST_CODE(exit7_byte, "mov $7, %al\n" "out %al, $0xf4\n" "hlt\n");
GUEST_CODE(exit7_word, "mov $0x207, %ax\n" "out %ax, $0xf4\n" "hlt\n");
GUEST_CODE(exit7_dword, "mov $0x1107, %eax\n" "out %eax, $0xf4\n" "hlt\n");
GUEST_CODE(halt_guest, "mov $'h', %al\n" "out %al, $0xe9\n" "hlt\n");
GUEST_CODE(triple_guest,
	"push $0\n" "push $0\n" "lidt (%esp)\n" "int3\n" "hlt\n");
/* exit 0 when LSR = 0x60, port 0x80 = 0xff, MMIO = ~0; else 1, 2, 3 */
GUEST_CODE(devices_guest,
	"mov $0x3fd, %dx\n"
	"in %dx, %al\n"
	"cmp $0x60, %al\n"
	"jne 1f\n"
	"in $0x80, %al\n"
	"cmp $0xff, %al\n"
	"jne 2f\n"
	"mov 0xe0000000, %eax\n"
	"cmp $0xffffffff, %eax\n"
	"jne 3f\n"
	"movl $1, 0xe0000000\n"
	"out %al, $0x81\n"
	"mov $'o', %al\n"
	"mov $0x3f8, %dx\n"
	"out %al, %dx\n"
	"mov $'k', %al\n"
	"out %al, %dx\n"
	"mov $0, %al\n"
	"out %al, $0xf4\n"
	"1: mov $1, %al\n"
	"out %al, $0xf4\n"
	"2: mov $2, %al\n"
	"out %al, $0xf4\n"
	"3: mov $3, %al\n"
	"out %al, $0xf4\n");

TEST_F(runner, demo_runs_and_exits_0)
{
	NEED_DEV();
	if (!self->demo[0])
		SKIP(return, "demo.bin not found (set SHADOWVM_DEMO)");
	RUN("run", self->demo);
	EXPECT_EQ(0, self->r.status) TH_LOG("stderr: %s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.out, "Hello from a shadowvm guest!\n"))
		TH_LOG("stdout: %s", self->r.out);
	EXPECT_NE(NULL, strstr(self->r.out, "signature: shadowvm\n"))
		TH_LOG("stdout: %s", self->r.out);
	EXPECT_NE(NULL, strstr(self->r.out,
			       "demo: 256 pages written and verified: OK\n"))
		TH_LOG("stdout: %s", self->r.out);
	EXPECT_EQ(0, self->r.err[0]) TH_LOG("stderr: %s", self->r.err);
}

/*
 * Load a module NAME(.ko|.ko.xz|.ko.zst|.ko.gz) from DIR: 0, -EEXIST when
 * it is loaded already, or -errno.
 */
static int load_from_dir(const char *dir, const char *name, const char *params)
{
	static const char *const ext[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz" };
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext[i]);
		if (!access(path, R_OK))
			return module_load(path, params);
	}
	return -ENOENT;
}

/* what kvm_load() loaded, in load order; kvm_unload() undoes it */
static const char *const kvm_mods[][3] = {
	{ "irqbypass", "irqbypass", "" },
	{ "kvm", "kvm", "" },
	{ "kvm-intel", "kvm_intel", "ept=0" },
};

/*
 * Make /dev/kvm appear by loading irqbypass, kvm and kvm-intel (ept=0, as
 * kvm_coexist_test does) from $KVM_MODULES_DIR (the test VM puts Debian's
 * there). Sets bit i of *loaded for each module it loaded. 0 or -errno.
 */
static int kvm_load(unsigned int *loaded)
{
	const char *dir = getenv("KVM_MODULES_DIR");
	unsigned int i;
	int ret;

	*loaded = 0;
	if (!dir || !*dir)
		return -ENOENT;
	for (i = 0; i < 3; i++) {
		if (module_loaded(kvm_mods[i][1]))
			continue;
		ret = load_from_dir(dir, kvm_mods[i][0], kvm_mods[i][2]);
		if (ret == -EINVAL && kvm_mods[i][2][0])
			ret = load_from_dir(dir, kvm_mods[i][0], "");
		if (ret && ret != -EEXIST)
			return ret;
		if (!ret)
			*loaded |= 1u << i;
	}
	for (i = 0; i < 50 && access("/dev/kvm", R_OK | W_OK); i++)
		usleep(100 * 1000);
	return access("/dev/kvm", R_OK | W_OK) ? -ENODEV : 0;
}

static void kvm_unload(unsigned int loaded)
{
	int i, j;

	for (i = 2; i >= 0; i--) {
		if (!(loaded & (1u << i)))
			continue;
		/* the runner's KVM fds are closed, but release can lag */
		for (j = 0; j < 50 && module_unload(kvm_mods[i][1]); j++)
			usleep(100 * 1000);
	}
}

/* the KVM backend runs the same devices: same guest output */
TEST_F(runner, kvm_backend_runs_demo)
{
	unsigned int loaded = 0;
	char *sig;
	int ret;

	RETURN_IF_SETUP_SKIPPED();
	if (!self->demo[0])
		SKIP(return, "demo.bin not found (set SHADOWVM_DEMO)");
	if (access("/dev/kvm", R_OK | W_OK)) {
		ret = kvm_load(&loaded);
		if (ret) {
			kvm_unload(loaded);
			SKIP(return, "/dev/kvm not available, and kvm_intel could not be loaded from $KVM_MODULES_DIR: %s",
			     strerror(-ret));
		}
		TH_LOG("loaded kvm_intel from %s", getenv("KVM_MODULES_DIR"));
	}
	{
		const char *const a[] = { "run", "--backend", "kvm",
					  self->demo, NULL };

		ret = run_runner(self->runner, a, NULL, &self->r);
	}
	kvm_unload(loaded);
	ASSERT_EQ(0, ret);
	EXPECT_EQ(0, self->r.status) TH_LOG("stderr: %s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.out, "Hello from a shadowvm guest!\n"));
	EXPECT_NE(NULL, strstr(self->r.out,
			       "demo: 256 pages written and verified: OK\n"));
	/*
	 * The demo prints a hypervisor signature only when CPUID.1:ECX bit 31
	 * is set: the runner gives KVM guests KVM_GET_SUPPORTED_CPUID as is,
	 * which does not set it (a VMM such as QEMU sets it itself).
	 */
	sig = strstr(self->r.out, "signature: ");
	if (sig)
		TH_LOG("kvm backend: %.*s", (int)strcspn(sig, "\n"), sig);
	else
		TH_LOG("kvm backend: no hypervisor bit in CPUID.1, no signature line");
}

TEST_F(runner, exit_port_7_byte_word_dword)
{
	NEED_DEV();
	IMAGE(exit7_byte);
	RUN("run", self->img);
	EXPECT_EQ(7, self->r.status) TH_LOG("stderr: %s", self->r.err);
	IMAGE(exit7_word);
	RUN("run", self->img);
	EXPECT_EQ(7, self->r.status) TH_LOG("stderr: %s", self->r.err);
	IMAGE(exit7_dword);
	RUN("run", self->img, "--mem", "4M");
	EXPECT_EQ(7, self->r.status) TH_LOG("stderr: %s", self->r.err);
}

TEST_F(runner, hlt_ends_run_with_0)
{
	NEED_DEV();
	IMAGE(halt_guest);
	RUN("run", self->img);
	EXPECT_EQ(0, self->r.status) TH_LOG("stderr: %s", self->r.err);
}

TEST_F(runner, elf32_loads_at_paddr)
{
	struct {
		Elf32_Ehdr eh;
		Elf32_Phdr ph;
		uint8_t code[64];
	} img;

	NEED_DEV();
	memset(&img, 0, sizeof(img));
	memcpy(img.eh.e_ident, ELFMAG, SELFMAG);
	img.eh.e_ident[EI_CLASS] = ELFCLASS32;
	img.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	img.eh.e_ident[EI_VERSION] = EV_CURRENT;
	img.eh.e_type = ET_EXEC;
	img.eh.e_machine = EM_386;
	img.eh.e_version = EV_CURRENT;
	img.eh.e_entry = 0x200000 + 16;	/* entry is not the segment start */
	img.eh.e_phoff = offsetof(typeof(img), ph);
	img.eh.e_ehsize = sizeof(Elf32_Ehdr);
	img.eh.e_phentsize = sizeof(Elf32_Phdr);
	img.eh.e_phnum = 1;
	img.ph.p_type = PT_LOAD;
	img.ph.p_offset = offsetof(typeof(img), code);
	img.ph.p_vaddr = 0x80200000;	/* virtual != physical */
	img.ph.p_paddr = 0x200000;
	img.ph.p_filesz = sizeof(img.code);
	img.ph.p_memsz = 0x2000;
	img.ph.p_flags = PF_R | PF_X;
	memset(img.code, 0x90, sizeof(img.code));	/* nops */
	img.code[0] = 0xf4;				/* hlt: wrong entry */
	memcpy(img.code + 16, exit7_byte, GUEST_SIZE(exit7_byte));
	img.code[17] = 9;			/* mov $9, %al */
	ASSERT_EQ(0, write_file(self->img, &img, sizeof(img)));
	RUN("run", self->img);
	EXPECT_EQ(9, self->r.status) TH_LOG("stderr: %s", self->r.err);
}

TEST_F(runner, devices_and_stats)
{
	NEED_DEV();
	IMAGE(devices_guest);
	RUN("run", self->img, "--stats");
	EXPECT_EQ(0, self->r.status)
		TH_LOG("guest check %d failed (1 LSR, 2 port, 3 MMIO)",
		       self->r.status);
	EXPECT_STREQ("ok", self->r.out);
	EXPECT_NE(NULL, strstr(self->r.err, "exits_total"))
		TH_LOG("stderr: %s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "exit_io"));
	EXPECT_NE(NULL, strstr(self->r.err, "mmio_reads               1"))
		TH_LOG("stderr: %s", self->r.err);
	EXPECT_NE(NULL, strstr(self->r.err, "mmio_writes              1"));
	EXPECT_NE(NULL, strstr(self->r.err, "port_unknown_in          1"));
	EXPECT_NE(NULL, strstr(self->r.err, "port_unknown_out         1"));
}

TEST_F(runner, policies_accepted)
{
	static const char *const pol[] = { "wp", "unsync", "vtlb" };
	unsigned int i;

	NEED_DEV();
	IMAGE(exit7_byte);
	for (i = 0; i < 3; i++) {
		RUN("run", "--policy", pol[i], self->img);
		EXPECT_EQ(7, self->r.status) TH_LOG("%s: %s", pol[i],
						    self->r.err);
	}
}

TEST_F(runner, error_guest_triple_fault)
{
	NEED_DEV();
	IMAGE(triple_guest);
	RUN("run", self->img);
	EXPECT_EQ(GUEST_CRASH, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "guest shutdown (triple fault)");
}

TEST_F(runner, error_unreadable_image)
{
	char path[PATH_MAX + 16];

	RETURN_IF_SETUP_SKIPPED();
	snprintf(path, sizeof(path), "%s/no-such-image", self->dir);
	RUN("run", path);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "cannot read image");
	EXPECT_NE(NULL, strstr(self->r.err, path));
	EXPECT_NE(NULL, strstr(self->r.err, strerror(ENOENT)));
	/* a directory is not an image either */
	RUN("run", self->dir);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "cannot read image");
}

TEST_F(runner, error_image_larger_than_ram)
{
	static uint8_t big[(3 << 20) + (512 << 10)];

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, write_file(self->img, big, sizeof(big)));
	RUN("run", "--mem", "4M", self->img);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "larger than guest RAM");
	/* the same image fits in 8M: past the loader, any later error */
	RUN("run", "--mem", "8M", self->img);
	EXPECT_EQ(NULL, strstr(self->r.err, "larger than guest RAM"));
}

TEST_F(runner, error_elf64_rejected)
{
	Elf64_Ehdr eh;

	RETURN_IF_SETUP_SKIPPED();
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	ASSERT_EQ(0, write_file(self->img, &eh, sizeof(eh)));
	RUN("run", self->img);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "ELF64");
	EXPECT_NE(NULL, strstr(self->r.err, "long mode"));
}

TEST_F(runner, error_missing_device_hint)
{
	const char *const args[] = { "run", self->img, NULL };
	char dev[PATH_MAX + 16];

	RETURN_IF_SETUP_SKIPPED();
	IMAGE(exit7_byte);
	snprintf(dev, sizeof(dev), "%s/no-shadowvm", self->dir);
	ASSERT_EQ(0, run_runner(self->runner, args, dev, &self->r));
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "insmod kmod/shadowvm.ko");
	EXPECT_NE(NULL, strstr(self->r.err, dev));
}

TEST_F(runner, error_bad_options)
{
	RETURN_IF_SETUP_SKIPPED();
	IMAGE(exit7_byte);
	RUN("run", "--mem", "lots", self->img);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "bad --mem");
	RUN("run", "--mem", "1M", self->img);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "--mem must be");
	RUN("run", "--backend", "xen", self->img);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "unknown backend");
	RUN("run", "--policy", "magic", self->img);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "unknown policy");
	RUN("run", "--backend", "kvm", "--policy", "vtlb", self->img);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "shadowvm backend only");
	RUN("frobnicate");
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_EQ(0, strncmp(self->r.err, "shadowvm: unknown command", 25));
}

GUEST_CODE(spin_guest, "movl $1, 0x200000\n" "1: jmp 1b\n");

/* "shadowvm stat" lists a live VM with its counters and address spaces */
TEST_F(runner, stat_shows_live_vm)
{
	const char *dbg = "/sys/kernel/debug/shadowvm/module";
	pid_t pid;
	int i, found = 0;

	NEED_DEV();
	if (tvm_default_kind() != BE_SHADOWVM || access(dbg, R_OK))
		SKIP(return, "shadowvm debugfs not available");
	IMAGE(spin_guest);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		alarm(60);
		execl(self->runner, self->runner, "run", self->img, NULL);
		_exit(127);
	}
	/* wait until the VM is there, then look at it */
	for (i = 0; i < 100 && !found; i++) {
		RUN("stat");
		found = strstr(self->r.out, "exits_total") != NULL;
		if (!found)
			usleep(100 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ASSERT_TRUE(found) TH_LOG("stat output: %s", self->r.out);
	EXPECT_EQ(0, self->r.status);
	EXPECT_NE(NULL, strstr(self->r.out, "live_vms 1"));
	EXPECT_NE(NULL, strstr(self->r.out, "pf_hidden"));
	EXPECT_NE(NULL, strstr(self->r.out, "guest address spaces:"));
	/* and once the VM is gone, it is gone from the listing */
	for (i = 0; i < 50; i++) {
		RUN("stat");
		if (strstr(self->r.out, "no live VMs"))
			break;
		usleep(100 * 1000);
	}
	EXPECT_NE(NULL, strstr(self->r.out, "no live VMs")) TH_LOG("%s", self->r.out);
}

TEST_HARNESS_MAIN
