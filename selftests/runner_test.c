// SPDX-License-Identifier: GPL-2.0
/*
 * runner_test: the shadowvm runner binary end to end.
 *   - demo.bin prints its greeting, the "shadowvm" signature and its OK
 *     line, and the runner exits 0;
 *   - a guest writing 7 to port 0xf4 (byte, word 0x207, dword 0x1107)
 *     makes the runner exit (7 << 1) | 1 = 15; an ELF32 image loads at
 *     p_paddr and starts at e_entry; HLT ends the run with 0;
 *   - devices: LSR reads 0x60, unknown ports and MMIO read all-ones and
 *     --stats reports the counters;
 *   - every runner error is one "shadowvm: " line with the right text and
 *     exit status: unreadable image, image larger than RAM, missing
 *     device (with the insmod hint), bad options, guest triple fault.
 * The platform (multiboot, ELF64, UART input and interrupts, PCI, fw_cfg,
 * the DMA disk) is runner_platform_test's.
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
#include "runner_exec.h"

#define RUNNER_ERROR	125
#define GUEST_CRASH	126

#define result rx_result
#define find_file rx_find_file
#define write_file rx_write_file

/* runs the runner with args (NULL terminated); dev overrides the device */
static int run_runner(const char *runner, const char *const *args,
		      const char *dev, struct result *r)
{
	return rx_run(runner, args, dev, NULL, 0, r);
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
		ret = rx_kvm_load(&loaded);
		if (ret) {
			rx_kvm_unload(loaded);
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
	rx_kvm_unload(loaded);
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
	EXPECT_EQ(15, self->r.status) TH_LOG("stderr: %s", self->r.err);
	IMAGE(exit7_word);
	RUN("run", self->img);
	EXPECT_EQ(15, self->r.status) TH_LOG("stderr: %s", self->r.err);
	IMAGE(exit7_dword);
	RUN("run", self->img, "--mem", "4M");
	EXPECT_EQ(15, self->r.status) TH_LOG("stderr: %s", self->r.err);
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
	EXPECT_EQ(19, self->r.status) TH_LOG("stderr: %s", self->r.err);
}

TEST_F(runner, devices_and_stats)
{
	NEED_DEV();
	IMAGE(devices_guest);
	RUN("run", self->img, "--stats");
	EXPECT_EQ(1, self->r.status)	/* wrote 0: (0 << 1) | 1 */
		TH_LOG("guest check failed: status %d (3 LSR, 5 port, 7 MMIO)",
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
		EXPECT_EQ(15, self->r.status) TH_LOG("%s: %s", pol[i],
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
	RUN("run", "--smp", "9", self->img);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "bad --smp");
	RUN("run", "--disk", "/nonexistent/disk.img", self->img);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "cannot open disk image");
	RUN("run", "--disk", "x,rw", self->img);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "bad --disk option");
	/* --append needs a multiboot kernel; exit7_byte is flat */
	RUN("run", "--append", "x", self->img);
	EXPECT_EQ(RUNNER_ERROR, self->r.status);
	EXPECT_ONE_LINE_ERROR(&self->r, "not a multiboot kernel");
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
	/*
	 * wait until the VM is there, then look at it (up to 10 s; polled
	 * every 10 ms: the guest spins meanwhile, and each of its ms costs
	 * ~0.1 s of Bochs wall time in the test VM)
	 */
	for (i = 0; i < 1000 && !found; i++) {
		RUN("stat");
		found = strstr(self->r.out, "exits_total") != NULL;
		if (!found)
			usleep(10 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ASSERT_TRUE(found) TH_LOG("stat output: %s", self->r.out);
	EXPECT_EQ(0, self->r.status);
	EXPECT_NE(NULL, strstr(self->r.out, "live_vms 1"));
	EXPECT_NE(NULL, strstr(self->r.out, "pf_hidden"));
	EXPECT_NE(NULL, strstr(self->r.out, "guest address spaces:"));
	/* and once the VM is gone, it is gone from the listing */
	for (i = 0; i < 500; i++) {
		RUN("stat");
		if (strstr(self->r.out, "no live VMs"))
			break;
		usleep(10 * 1000);
	}
	EXPECT_NE(NULL, strstr(self->r.out, "no live VMs")) TH_LOG("%s", self->r.out);
}

TEST_HARNESS_MAIN
