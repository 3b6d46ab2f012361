// SPDX-License-Identifier: GPL-2.0
/*
 * module_test: loading and unloading shadowvm with the finit_module and
 * delete_module syscalls (no modprobe).
 *   - unload works when nothing is open, /dev/shadowvm goes away, load
 *     (from $SHADOWVM_KO) brings it back with API version 1 and no live
 *     VMs, and a second load fails with EEXIST;
 *   - unload is refused (EWOULDBLOCK/EBUSY) while a /dev/shadowvm fd, a VM
 *     fd, a vCPU fd or only a mapping of the run page is left, and the
 *     module refcount is 0 again once it is closed.
 * Needs SHADOWVM_KO (path of shadowvm.ko) to reload; without it every test
 * skips rather than leave the module unloaded for the rest of the suite.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

static const char *ko_or_skip_reason(const char **reason)
{
	const char *ko = getenv("SHADOWVM_KO");

	*reason = NULL;
	if (!ko || !*ko) {
		*reason = "SHADOWVM_KO not set (path of shadowvm.ko to reload)";
		return NULL;
	}
	if (access(ko, R_OK)) {
		*reason = "SHADOWVM_KO is not readable";
		return NULL;
	}
	return ko;
}

#define KO_OR_SKIP(ko) do {						\
	const char *__why;						\
	(ko) = ko_or_skip_reason(&__why);				\
	if (!(ko))							\
		SKIP(return, "%s", __why);				\
} while (0)

/* make sure the module is loaded and its device is usable */
#define ENSURE_LOADED(ko) do {						\
	if (!module_loaded("shadowvm")) {				\
		int __r = module_load((ko), "");			\
		ASSERT_EQ(0, __r) TH_LOG("finit_module(%s): %s", (ko),	\
					 strerror(-__r));		\
	}								\
	ASSERT_EQ(0, svm_ensure_dev(2000));				\
} while (0)

static bool unload_refused(int err)
{
	return err == -EWOULDBLOCK || err == -EBUSY;
}

/* after a wrong successful unload: put the module back */
static void reload_after_wrong_unload(const char *ko, int ret)
{
	if (ret == 0) {
		module_load(ko, "");
		svm_ensure_dev(2000);
	}
}

TEST(load_unload_reload)
{
	struct svm_counters c;
	const char *ko;
	int ret, fd;

	KO_OR_SKIP(ko);
	ENSURE_LOADED(ko);
	ret = module_unload("shadowvm");
	ASSERT_EQ(0, ret) TH_LOG("delete_module: %s, refcnt %ld",
				 strerror(-ret), module_refcnt("shadowvm"));
	EXPECT_FALSE(module_loaded("shadowvm"));
	fd = open(SHADOWVM_DEV, O_RDWR);
	EXPECT_EQ(-1, fd) TH_LOG("/dev/shadowvm still opens after unload");
	if (fd >= 0)
		close(fd);

	ret = module_load(ko, "");
	ASSERT_EQ(0, ret) TH_LOG("finit_module: %s", strerror(-ret));
	EXPECT_TRUE(module_loaded("shadowvm"));
	ASSERT_EQ(0, svm_ensure_dev(2000));
	fd = open(SHADOWVM_DEV, O_RDWR);
	ASSERT_LE(0, fd) TH_LOG("open after reload: %s", strerror(errno));
	EXPECT_EQ(SHADOWVM_API_VERSION,
		  ioctl(fd, SHADOWVM_GET_API_VERSION, 0));
	close(fd);
	if (svm_debugfs_ready() == 0 && svm_read_counters(&c) == 0) {
		EXPECT_EQ(0, c.live_vms);
		EXPECT_EQ(0, c.live_vcpus);
		EXPECT_EQ(0, c.pinned_pages);
	}

	/* loading twice is refused */
	ret = module_load(ko, "");
	EXPECT_EQ(-EEXIST, ret) TH_LOG("second load: %s", strerror(-ret));
	EXPECT_EQ(0, module_refcnt("shadowvm"));
}

TEST(unload_refused_dev_fd_open)
{
	const char *ko;
	int ret, fd;

	KO_OR_SKIP(ko);
	ENSURE_LOADED(ko);
	fd = open(SHADOWVM_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_LE(1, module_refcnt("shadowvm"));
	ret = module_unload("shadowvm");
	reload_after_wrong_unload(ko, ret);
	EXPECT_TRUE(unload_refused(ret)) TH_LOG("delete_module: %d (%s)",
						ret, strerror(-ret));
	close(fd);
	EXPECT_EQ(0, module_refcnt("shadowvm"));
}

TEST(unload_refused_vm_fd_open)
{
	const char *ko;
	int ret, fd, vm;

	KO_OR_SKIP(ko);
	ENSURE_LOADED(ko);
	fd = open(SHADOWVM_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	vm = ioctl(fd, SHADOWVM_CREATE_VM, 0);
	ASSERT_LE(0, vm) TH_LOG("CREATE_VM: %s", strerror(errno));
	close(fd);
	ret = module_unload("shadowvm");
	reload_after_wrong_unload(ko, ret);
	EXPECT_TRUE(unload_refused(ret)) TH_LOG("delete_module: %d (%s)",
						ret, strerror(-ret));
	close(vm);
	EXPECT_EQ(0, module_refcnt("shadowvm"));
}

TEST(unload_refused_vcpu_fd_open)
{
	const char *ko;
	int ret, fd, vm, vcpu;

	KO_OR_SKIP(ko);
	ENSURE_LOADED(ko);
	fd = open(SHADOWVM_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	vm = ioctl(fd, SHADOWVM_CREATE_VM, 0);
	ASSERT_LE(0, vm) TH_LOG("CREATE_VM: %s", strerror(errno));
	vcpu = ioctl(vm, SHADOWVM_CREATE_VCPU, 0);
	ASSERT_LE(0, vcpu) TH_LOG("CREATE_VCPU: %s", strerror(errno));
	close(fd);
	close(vm);
	ret = module_unload("shadowvm");
	reload_after_wrong_unload(ko, ret);
	EXPECT_TRUE(unload_refused(ret)) TH_LOG("delete_module: %d (%s)",
						ret, strerror(-ret));
	close(vcpu);
	EXPECT_EQ(0, module_refcnt("shadowvm"));
}

TEST(unload_refused_run_page_mapped)
{
	const char *ko;
	int ret, fd, vm, vcpu;
	void *run;

	KO_OR_SKIP(ko);
	ENSURE_LOADED(ko);
	fd = open(SHADOWVM_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	vm = ioctl(fd, SHADOWVM_CREATE_VM, 0);
	ASSERT_LE(0, vm);
	vcpu = ioctl(vm, SHADOWVM_CREATE_VCPU, 0);
	ASSERT_LE(0, vcpu);
	run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	ASSERT_NE(MAP_FAILED, run);
	close(fd);
	close(vm);
	close(vcpu);
	ret = module_unload("shadowvm");
	reload_after_wrong_unload(ko, ret);
	EXPECT_TRUE(unload_refused(ret)) TH_LOG("delete_module: %d (%s)",
						ret, strerror(-ret));
	munmap(run, 4096);
	EXPECT_EQ(0, module_refcnt("shadowvm"));
}

TEST_HARNESS_MAIN
