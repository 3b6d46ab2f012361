// SPDX-License-Identifier: GPL-2.0
/*
 * api_test: /dev/shadowvm level ABI.
 * Asserts GET_API_VERSION == 3, GET_VCPU_MMAP_SIZE == 4096, CREATE_VM with
 * no config and with every valid policy works (and GET_VM_CONFIG reports
 * the policy), CREATE_VM refuses each bad config with EINVAL, and the stats
 * ioctls report SHADOWVM_STAT_NR counters.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

TEST(api_version_is_2)
{
	int fd;

	OPEN_DEV_OR_SKIP(fd);
	EXPECT_EQ(SHADOWVM_API_VERSION, ioctl(fd, SHADOWVM_GET_API_VERSION, 0));
	EXPECT_EQ(3, SHADOWVM_API_VERSION);
	close(fd);
}

TEST(vcpu_mmap_size_is_4096)
{
	int fd;

	OPEN_DEV_OR_SKIP(fd);
	EXPECT_EQ(4096, ioctl(fd, SHADOWVM_GET_VCPU_MMAP_SIZE, 0));
	close(fd);
}

TEST(create_vm_default_config)
{
	struct shadowvm_vm_config got;
	int fd, vm;

	OPEN_DEV_OR_SKIP(fd);
	vm = ioctl(fd, SHADOWVM_CREATE_VM, 0);
	ASSERT_LE(0, vm) TH_LOG("CREATE_VM(0): %s", strerror(errno));
	memset(&got, 0xaa, sizeof(got));
	ASSERT_EQ(0, ioctl(vm, SHADOWVM_GET_VM_CONFIG, &got))
		TH_LOG("GET_VM_CONFIG: %s", strerror(errno));
	EXPECT_EQ(0, got.flags);
	/* default means write-protect; either spelling is fine */
	EXPECT_TRUE(got.mmu_policy == SHADOWVM_MMU_POLICY_DEFAULT ||
		    got.mmu_policy == SHADOWVM_MMU_POLICY_WRITE_PROTECT)
		TH_LOG("default policy reported as %u", got.mmu_policy);
	EXPECT_EQ(0, got.reserved[0]);
	EXPECT_EQ(0, got.reserved[5]);
	close(vm);
	close(fd);
}

/* every policy uapi names is accepted, the next number is not */
TEST(create_vm_each_policy)
{
	static const char *const names[] = SHADOWVM_MMU_POLICY_NAMES;
	__u32 policies[sizeof(names) / sizeof(names[0])];
	struct shadowvm_vm_config cfg, got;
	__u32 unlisted = 1;
	unsigned int i, j, n = 0;
	int fd, vm;

	for (i = 1; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i])
			policies[n++] = i;
	OPEN_DEV_OR_SKIP(fd);
	for (i = 0; i < n; i++) {
		memset(&cfg, 0, sizeof(cfg));
		cfg.mmu_policy = policies[i];
		cfg.root_cache_size = 256;
		vm = ioctl(fd, SHADOWVM_CREATE_VM, &cfg);
		ASSERT_LE(0, vm) TH_LOG("policy %u: %s", policies[i],
					strerror(errno));
		ASSERT_EQ(0, ioctl(vm, SHADOWVM_GET_VM_CONFIG, &got));
		EXPECT_EQ(policies[i], got.mmu_policy);
		EXPECT_EQ(256, got.root_cache_size);
		close(vm);
	}
	/* the first number above 0 (the default) that the list does not name */
	for (j = 0; j < n; j++)
		if (policies[j] == unlisted) {
			unlisted++;
			j = -1u;	/* start over */
		}
	memset(&cfg, 0, sizeof(cfg));
	cfg.mmu_policy = unlisted;
	errno = 0;
	vm = ioctl(fd, SHADOWVM_CREATE_VM, &cfg);
	EXPECT_EQ(-1, vm) TH_LOG("unlisted policy %u accepted", unlisted);
	EXPECT_EQ(EINVAL, errno);
	if (vm >= 0)
		close(vm);
	close(fd);
}

/* one past the highest policy number uapi lists */
#define UNKNOWN_POLICY							\
	(sizeof((const char *[])SHADOWVM_MMU_POLICY_NAMES) / sizeof(const char *))

struct bad_cfg {
	const char *what;
	struct shadowvm_vm_config cfg;
};

TEST(create_vm_bad_config_einval)
{
	static const struct bad_cfg cases[] = {
		{ "lowest unknown flag", { .flags = SHADOWVM_VM_FLAGS_ALL + 1 } },
		{ "bypass with the unsync policy",
		  { .flags = SHADOWVM_VM_GUEST_PF_BYPASS,
		    .mmu_policy = SHADOWVM_MMU_POLICY_UNSYNC } },
		{ "flags bit 31", { .flags = 1u << 31 } },
		{ "reserved[0] != 0", { .reserved = { 1 } } },
		{ "reserved[5] != 0", { .reserved = { 0, 0, 0, 0, 0, 1 } } },
		{ "unknown policy N+1", { .mmu_policy = UNKNOWN_POLICY } },
		{ "unknown policy ~0", { .mmu_policy = ~0u } },
		{ "root_cache_size 257", { .root_cache_size = 257 } },
	};
	unsigned int i;
	int fd, vm;

	OPEN_DEV_OR_SKIP(fd);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		errno = 0;
		vm = ioctl(fd, SHADOWVM_CREATE_VM, &cases[i].cfg);
		EXPECT_EQ(-1, vm) TH_LOG("%s: accepted", cases[i].what);
		EXPECT_EQ(EINVAL, errno) TH_LOG("%s: errno %d (%s)",
						cases[i].what, errno,
						strerror(errno));
		if (vm >= 0)
			close(vm);
	}
	close(fd);
}

TEST(create_vm_bad_pointer_efault)
{
	int fd, vm;

	OPEN_DEV_OR_SKIP(fd);
	vm = ioctl(fd, SHADOWVM_CREATE_VM, (void *)8);
	EXPECT_EQ(-1, vm);
	EXPECT_EQ(EFAULT, errno);
	if (vm >= 0)
		close(vm);
	close(fd);
}

TEST(stats_report_all_counters)
{
	struct shadowvm_stats st;
	struct tvm t;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	memset(&st, 0xaa, sizeof(st));
	ASSERT_EQ(0, ioctl(t.vm.fd, SHADOWVM_GET_VM_STATS, &st))
		TH_LOG("GET_VM_STATS: %s", strerror(errno));
	EXPECT_EQ(SHADOWVM_STAT_NR, st.nr_stats);
	EXPECT_EQ(0, st.val[SHADOWVM_STAT_EXITS_TOTAL]);
	memset(&st, 0xaa, sizeof(st));
	ASSERT_EQ(0, ioctl(t.vcpu.fd, SHADOWVM_GET_VCPU_STATS, &st))
		TH_LOG("GET_VCPU_STATS: %s", strerror(errno));
	EXPECT_EQ(SHADOWVM_STAT_NR, st.nr_stats);
	EXPECT_EQ(0, st.val[SHADOWVM_STAT_EXITS_TOTAL]);
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
