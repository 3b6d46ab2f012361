// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_coexist_test: shadowvm and kvm_intel share VT-x without harm.
 *
 * KVM modules come from $KVM_MODULES_DIR (irqbypass, kvm, kvm-intel; .ko or
 * compressed, kvm-intel loaded with ept=0 when it takes it), else when
 * $SVMTEST_ALLOW_MODPROBE=1 (real hosts) from modprobe; otherwise the test
 * skips. kvm.enable_virt_at_load (6.12+) decides which behaviour is
 * expected, and the test says which one it checked:
 *   KVM first:  a live KVM VM (running a tiny guest to HLT through the KVM
 *               backend) makes CREATE_VM fail with EBUSY (on 6.12 already
 *               a loaded kvm_intel does), the runner reports it in one
 *               line; once KVM lets go, shadowvm VMs run again.
 *   shadowvm first: while a shadowvm VM is alive, KVM_CREATE_VM fails (6.1)
 *               or loading kvm_intel fails (6.12), cleanly: the shadowvm VM
 *               keeps running; afterwards KVM works again.
 * Finally kvm_intel and kvm are unloaded so later tests are not disturbed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include <linux/kvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

GUEST_CODE(coexist_guest,
	"1: movl $0x4b564d21, 0x9000\n"
	"hlt\n"
	"jmp 1b\n");

/* what the test loaded, to undo */
static bool loaded_irqbypass, loaded_kvm;

static int load_one(const char *dir, const char *name, const char *params)
{
	static const char *const ext[] = { ".ko", ".ko.xz", ".ko.zst",
					   ".ko.gz" };
	char path[512];
	unsigned int i;

	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext[i]);
		if (!access(path, R_OK))
			return module_load(path, params);
	}
	return -ENOENT;
}

static bool kvm_available(void)
{
	const char *dir = getenv("KVM_MODULES_DIR");
	const char *mp = getenv("SVMTEST_ALLOW_MODPROBE");
	char path[512];

	if (module_loaded("kvm_intel"))
		return true;
	if (dir && *dir) {
		snprintf(path, sizeof(path), "%s/kvm-intel.ko", dir);
		if (!access(path, R_OK))
			return true;
		snprintf(path, sizeof(path), "%s/kvm-intel.ko.xz", dir);
		if (!access(path, R_OK))
			return true;
		snprintf(path, sizeof(path), "%s/kvm-intel.ko.zst", dir);
		return !access(path, R_OK);
	}
	return mp && !strcmp(mp, "1");
}

/* loads irqbypass + kvm (not kvm_intel); 0 or -errno */
static int kvm_load_base(void)
{
	const char *dir = getenv("KVM_MODULES_DIR");
	int ret;

	if (module_loaded("kvm"))
		return 0;
	if (!dir || !*dir)
		return system("modprobe kvm") == 0 ? 0 : -ENOENT;
	if (!module_loaded("irqbypass")) {
		ret = load_one(dir, "irqbypass", "");
		if (ret && ret != -EEXIST)
			return ret;
		loaded_irqbypass = !ret;
	}
	ret = load_one(dir, "kvm", "");
	if (ret && ret != -EEXIST)
		return ret;
	loaded_kvm = !ret;
	return 0;
}

/* loads kvm_intel (ept=0 when possible); 0 or -errno */
static int kvm_intel_load(void)
{
	const char *dir = getenv("KVM_MODULES_DIR");
	int ret;

	if (module_loaded("kvm_intel"))
		return 0;
	ret = kvm_load_base();
	if (ret)
		return ret;
	if (!dir || !*dir) {
		if (system("modprobe kvm_intel ept=0") == 0 ||
		    system("modprobe kvm_intel") == 0)
			return 0;
		return -EIO;
	}
	ret = load_one(dir, "kvm-intel", "ept=0");
	if (ret == -EINVAL || ret == -ENOENT)
		ret = load_one(dir, "kvm-intel", "");
	return ret;
}

static void kvm_unload_all(void)
{
	int i;

	/* the KVM fds of a test are closed, but release can lag a bit */
	for (i = 0; i < 50 && module_loaded("kvm_intel"); i++) {
		if (!module_unload("kvm_intel"))
			break;
		usleep(100 * 1000);
	}
	if (module_loaded("kvm"))
		module_unload("kvm");
	if (loaded_irqbypass && module_loaded("irqbypass"))
		module_unload("irqbypass");
}

/* kvm.enable_virt_at_load: 1 = Y, 0 = N or absent (6.1) */
static int virt_at_load(void)
{
	char c = 0;
	FILE *f = fopen("/sys/module/kvm/parameters/enable_virt_at_load", "re");

	if (!f)
		return 0;
	if (fscanf(f, " %c", &c) != 1)
		c = 0;
	fclose(f);
	return c == 'Y' || c == 'y' || c == '1';
}

/* a VM that ran its guest to HLT; 0 or -errno / positive step */
static int live_vm(struct tvm *t, enum be_kind kind)
{
	struct be_exit e;
	int ret;

	ret = tvm_create(t, kind, TVM_MEM_DEFAULT);
	if (ret)
		return ret;
	ret = tvm_load(t, TVM_CODE, coexist_guest, GUEST_SIZE(coexist_guest));
	if (!ret)
		ret = tvm_run(t, &e);
	if (!ret && e.reason != BE_EXIT_HLT)
		ret = 1000 + e.reason;
	if (!ret && *(uint32_t *)tvm_ptr(t, 0x9000) != 0x4b564d21)
		ret = 2000;
	if (ret)
		tvm_destroy(t);
	return ret;
}

/* runs a short shadowvm VM; 0 or -errno */
static int shadowvm_run_once(void)
{
	struct tvm t;
	int ret = live_vm(&t, BE_SHADOWVM);

	if (!ret)
		tvm_destroy(&t);
	return ret;
}

/* runner's one-line EBUSY message, if the runner is around */
static void check_runner_ebusy(struct __test_metadata *_metadata)
{
	char runner[600], self[512], *slash, buf[1400];
	ssize_t n;
	FILE *p;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return;
	*slash = 0;
	snprintf(runner, sizeof(runner), "%s/shadowvm", self);
	if (access(runner, X_OK))
		snprintf(runner, sizeof(runner),
			 "%s/../../userspace-tool/shadowvm", self);
	if (access(runner, X_OK)) {
		TH_LOG("runner not found, its EBUSY message is not checked");
		return;
	}
	/* a one-byte flat image: hlt */
	snprintf(buf, sizeof(buf),
		 "printf '\\364' > /tmp/svm_hlt.img && '%s' run /tmp/svm_hlt.img 2>&1 >/dev/null; echo \"status=$?\"; rm -f /tmp/svm_hlt.img",
		 runner);
	p = popen(buf, "r");
	if (!p)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, p);
	pclose(p);
	buf[n > 0 ? n : 0] = 0;
	EXPECT_EQ(0, strncmp(buf, "shadowvm: VM creation refused: VT-x is held by another hypervisor", 65))
		TH_LOG("runner said: %s", buf);
	EXPECT_NE(NULL, strstr(buf, "\nstatus=125")) TH_LOG("runner said: %s",
							    buf);
}

FIXTURE(coexist) {
	int unused;
};

FIXTURE_SETUP(coexist)
{
	int ret;

	if (access(SHADOWVM_DEV, F_OK))
		SKIP(return, SKIP_REASON_NODEV);
	if (!kvm_available())
		SKIP(return, "no KVM modules (set KVM_MODULES_DIR, or SVMTEST_ALLOW_MODPROBE=1 on a real host)");
	/* start from a clean state: shadowvm works, no KVM VM around */
	ret = shadowvm_run_once();
	if (ret == -EBUSY && module_loaded("kvm_intel"))
		kvm_unload_all();	/* leftover from outside */
	ret = shadowvm_run_once();
	ASSERT_EQ(0, ret) TH_LOG("shadowvm VM before loading KVM: %d (%s)",
				 ret, ret < 0 ? strerror(-ret) : "guest");
}

FIXTURE_TEARDOWN(coexist)
{
	kvm_unload_all();
}

TEST_F_TIMEOUT(coexist, kvm_vm_blocks_shadowvm_then_releases, 300)
{
	struct tvm kvm, svm;
	int ret, at_load;

	RETURN_IF_SETUP_SKIPPED();
	ret = kvm_intel_load();
	ASSERT_EQ(0, ret) TH_LOG("loading kvm_intel: %s", strerror(-ret));
	at_load = virt_at_load();
	TH_LOG("kvm.enable_virt_at_load=%s: expecting %s behaviour",
	       at_load ? "Y" : "N/absent",
	       at_load ? "6.12 (VMX held from load)" : "6.1 (VMX held per VM)");

	if (!at_load) {
		/* no KVM VM yet: shadowvm still works */
		ret = shadowvm_run_once();
		EXPECT_EQ(0, ret) TH_LOG("shadowvm with idle kvm_intel: %s",
					 strerror(-ret));
	}

	ret = live_vm(&kvm, BE_KVM);
	ASSERT_EQ(0, ret) TH_LOG("KVM VM: %d (%s)", ret,
				 ret < 0 ? strerror(-ret) : "guest");

	ret = tvm_create(&svm, BE_SHADOWVM, TVM_MEM_DEFAULT);
	EXPECT_EQ(-EBUSY, ret) TH_LOG("CREATE_VM with a live KVM VM: %d (%s)",
				      ret, strerror(-ret));
	if (!ret)
		tvm_destroy(&svm);
	check_runner_ebusy(_metadata);

	/* KVM still fine after our refused attempt */
	{
		struct be_exit e;

		ASSERT_EQ(0, tvm_run(&kvm, &e));
		EXPECT_EQ(BE_EXIT_HLT, e.reason);
	}
	tvm_destroy(&kvm);

	if (at_load) {
		/* 6.12: VMX stays on until kvm_intel goes */
		ret = tvm_create(&svm, BE_SHADOWVM, TVM_MEM_DEFAULT);
		EXPECT_EQ(-EBUSY, ret)
			TH_LOG("CREATE_VM with kvm_intel loaded (virt at load): %d",
			       ret);
		if (!ret)
			tvm_destroy(&svm);
		kvm_unload_all();
		ASSERT_FALSE(module_loaded("kvm_intel"));
	}
	ret = shadowvm_run_once();
	EXPECT_EQ(0, ret) TH_LOG("shadowvm after KVM let go: %d (%s)", ret,
				 ret < 0 ? strerror(-ret) : "guest");
}

TEST_F_TIMEOUT(coexist, shadowvm_vm_blocks_kvm_then_releases, 300)
{
	struct tvm kvm, svm;
	struct be_exit e;
	int ret, at_load, kfd, vmfd;

	RETURN_IF_SETUP_SKIPPED();
	/* learn the kernel's behaviour with kvm.ko only */
	ret = kvm_load_base();
	ASSERT_EQ(0, ret) TH_LOG("loading kvm: %s", strerror(-ret));
	at_load = virt_at_load();
	TH_LOG("kvm.enable_virt_at_load=%s", at_load ? "Y" : "N/absent");
	if (!at_load) {
		ret = kvm_intel_load();
		ASSERT_EQ(0, ret) TH_LOG("loading kvm_intel: %s",
					 strerror(-ret));
	}

	ret = live_vm(&svm, BE_SHADOWVM);
	ASSERT_EQ(0, ret) TH_LOG("shadowvm VM: %d (%s)", ret,
				 ret < 0 ? strerror(-ret) : "guest");

	if (at_load) {
		/* 6.12: kvm_intel's load enables VMX and must fail */
		ret = kvm_intel_load();
		EXPECT_NE(0, ret) TH_LOG("kvm_intel loaded while shadowvm holds VT-x");
		TH_LOG("kvm_intel load refused: %s", strerror(-ret));
		EXPECT_FALSE(module_loaded("kvm_intel"));
	} else {
		kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, kfd) TH_LOG("/dev/kvm: %s", strerror(errno));
		vmfd = ioctl(kfd, KVM_CREATE_VM, 0);
		EXPECT_EQ(-1, vmfd) TH_LOG("KVM_CREATE_VM succeeded while shadowvm holds VT-x");
		TH_LOG("KVM_CREATE_VM refused: %s", strerror(errno));
		if (vmfd >= 0)
			close(vmfd);
		close(kfd);
	}

	/* our VM is unharmed */
	*(uint32_t *)tvm_ptr(&svm, 0x9000) = 0;
	ASSERT_EQ(0, tvm_run(&svm, &e));
	EXPECT_EQ(BE_EXIT_HLT, e.reason);
	EXPECT_EQ(0x4b564d21, *(uint32_t *)tvm_ptr(&svm, 0x9000));
	tvm_destroy(&svm);

	/* afterwards KVM works again */
	ret = kvm_intel_load();
	ASSERT_EQ(0, ret) TH_LOG("loading kvm_intel afterwards: %s",
				 strerror(-ret));
	ret = live_vm(&kvm, BE_KVM);
	EXPECT_EQ(0, ret) TH_LOG("KVM VM afterwards: %d (%s)", ret,
				 ret < 0 ? strerror(-ret) : "guest");
	if (!ret)
		tvm_destroy(&kvm);
}

/* A/B: the same runner and devices on both backends, same output */
TEST_F_TIMEOUT(coexist, runner_demo_same_output_on_kvm, 300)
{
	char cmd[1200], self_dir[512], *slash, a[4096], b[4096];
	size_t na, nb;
	ssize_t n;
	FILE *p;
	int ret;

	RETURN_IF_SETUP_SKIPPED();
	n = readlink("/proc/self/exe", self_dir, sizeof(self_dir) - 1);
	ASSERT_LT(0, n);
	self_dir[n] = 0;
	slash = strrchr(self_dir, '/');
	ASSERT_NE(NULL, slash);
	*slash = 0;
	snprintf(cmd, sizeof(cmd), "%s/shadowvm", self_dir);
	if (access(cmd, X_OK))
		SKIP(return, "runner not installed next to the test");
	snprintf(cmd, sizeof(cmd), "%s/demo.bin", self_dir);
	if (access(cmd, R_OK))
		SKIP(return, "demo.bin not installed next to the test");

	snprintf(cmd, sizeof(cmd),
		 "'%s/shadowvm' run '%s/demo.bin' | grep -v signature",
		 self_dir, self_dir);
	p = popen(cmd, "r");
	ASSERT_NE(NULL, p);
	na = fread(a, 1, sizeof(a) - 1, p);
	ASSERT_EQ(0, pclose(p));
	a[na] = 0;

	ret = kvm_intel_load();
	ASSERT_EQ(0, ret) TH_LOG("loading kvm_intel: %s", strerror(-ret));
	snprintf(cmd, sizeof(cmd),
		 "'%s/shadowvm' run --backend kvm '%s/demo.bin' | grep -v signature",
		 self_dir, self_dir);
	p = popen(cmd, "r");
	ASSERT_NE(NULL, p);
	nb = fread(b, 1, sizeof(b) - 1, p);
	ASSERT_EQ(0, pclose(p));
	b[nb] = 0;
	EXPECT_STREQ(a, b);
	EXPECT_NE(NULL, strstr(a, "verified: OK"));
}

TEST_HARNESS_MAIN
