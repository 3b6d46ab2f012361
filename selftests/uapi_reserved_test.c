// SPDX-License-Identifier: GPL-2.0
/*
 * uapi_reserved_test: padding and reserved fields of the uapi's input
 * structures must be zero, so that a later ABI can give them a meaning:
 * SET_SREGS refuses a non-zero segment padding, descriptor-table padding
 * or reserved word with EINVAL (and changes nothing); RUN refuses a
 * non-zero run->padding1 with EINVAL; CREATE_VM refuses unknown flags or
 * reserved words with EINVAL.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

static int set_sregs_raw(struct tvm *t, struct shadowvm_sregs *s)
{
	return ioctl(t->vcpu.fd, SHADOWVM_SET_SREGS, s) ? -errno : 0;
}

TEST(set_sregs_padding_must_be_zero)
{
	struct shadowvm_sregs good, bad, now;
	struct tvm t;
	int i;

	TVM_CREATE_EX_OR_SKIP(&t, BE_SHADOWVM, TVM_MEM_DEFAULT, NULL, 0);
	ASSERT_EQ(0, ioctl(t.vcpu.fd, SHADOWVM_GET_SREGS, &good));
	EXPECT_EQ(0, good.cs.padding);
	EXPECT_EQ(0, good.gdt.padding[0]);
	ASSERT_EQ(0, set_sregs_raw(&t, &good));

	bad = good;
	bad.ds.padding = 1;
	bad.ds.base = 0x1000;
	EXPECT_EQ(-EINVAL, set_sregs_raw(&t, &bad)) TH_LOG("segment padding");
	bad = good;
	bad.ldt.padding = 0x80;
	EXPECT_EQ(-EINVAL, set_sregs_raw(&t, &bad)) TH_LOG("LDTR padding");
	for (i = 0; i < 3; i++) {
		bad = good;
		bad.idt.padding[i] = 1;
		EXPECT_EQ(-EINVAL, set_sregs_raw(&t, &bad)) TH_LOG("IDTR padding[%d]", i);
		bad = good;
		bad.gdt.padding[i] = 0x100;
		EXPECT_EQ(-EINVAL, set_sregs_raw(&t, &bad)) TH_LOG("GDTR padding[%d]", i);
	}
	for (i = 0; i < 4; i++) {
		bad = good;
		bad.reserved[i] = 1;
		EXPECT_EQ(-EINVAL, set_sregs_raw(&t, &bad)) TH_LOG("reserved[%d]", i);
	}
	ASSERT_EQ(0, ioctl(t.vcpu.fd, SHADOWVM_GET_SREGS, &now));
	EXPECT_EQ(good.ds.base, now.ds.base) TH_LOG("a refused SET_SREGS changed state");
	tvm_destroy(&t);
}

GUEST_CODE(hlt_only, "hlt\n");

TEST(run_padding1_must_be_zero)
{
	struct shadowvm_run *run;
	struct be_exit e;
	struct tvm t;

	TVM_CREATE_EX_OR_SKIP(&t, BE_SHADOWVM, TVM_MEM_DEFAULT, NULL, 0);
	TVM_LOAD(&t, hlt_only);
	run = t.vcpu.run;
	run->padding1[3] = 1;
	EXPECT_EQ(-1, ioctl(t.vcpu.fd, SHADOWVM_RUN, 0));
	EXPECT_EQ(EINVAL, errno);
	run->padding1[3] = 0;
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	tvm_destroy(&t);
}

TEST(create_vm_reserved_must_be_zero)
{
	struct shadowvm_vm_config cfg;
	int fd, vm, i;

	OPEN_DEV_OR_SKIP(fd);
	memset(&cfg, 0, sizeof(cfg));
	cfg.flags = ~SHADOWVM_VM_FLAGS_ALL;	/* flags beyond the defined ones */
	EXPECT_EQ(-1, ioctl(fd, SHADOWVM_CREATE_VM, &cfg));
	EXPECT_EQ(EINVAL, errno);
	for (i = 0; i < 6; i++) {
		memset(&cfg, 0, sizeof(cfg));
		cfg.reserved[i] = 1;
		EXPECT_EQ(-1, ioctl(fd, SHADOWVM_CREATE_VM, &cfg)) TH_LOG("reserved[%d]", i);
		EXPECT_EQ(EINVAL, errno);
	}
	memset(&cfg, 0, sizeof(cfg));
	vm = ioctl(fd, SHADOWVM_CREATE_VM, &cfg);
	EXPECT_LE(0, vm) TH_LOG("CREATE_VM with a zeroed config: %s", strerror(errno));
	if (vm >= 0)
		close(vm);
	close(fd);
}

TEST_HARNESS_MAIN
