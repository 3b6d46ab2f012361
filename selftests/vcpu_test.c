// SPDX-License-Identifier: GPL-2.0
/*
 * vcpu_test: CREATE_VCPU limits and the run-page mmap.
 * Asserts all SHADOWVM_MAX_VCPUS ids can be created, id >= MAX -> EINVAL,
 * an id in use -> EEXIST, mmap of the run page works with size 4096 and
 * offset 0 and fails with EINVAL for a non-zero offset or a bigger size,
 * and the initial register state is the documented flat 32-bit one.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

FIXTURE(vcpu) {
	int dev, vm;
};

FIXTURE_SETUP(vcpu)
{
	self->vm = -1;
	OPEN_DEV_OR_SKIP(self->dev);
	self->vm = ioctl(self->dev, SHADOWVM_CREATE_VM, 0);
	ASSERT_LE(0, self->vm) TH_LOG("CREATE_VM: %s", strerror(errno));
}

FIXTURE_TEARDOWN(vcpu)
{
	if (self->vm >= 0)
		close(self->vm);
}

TEST_F(vcpu, all_ids_then_limit_einval)
{
	int fds[SHADOWVM_MAX_VCPUS];
	int i, fd;

	RETURN_IF_SETUP_SKIPPED();
	for (i = 0; i < SHADOWVM_MAX_VCPUS; i++) {
		fds[i] = ioctl(self->vm, SHADOWVM_CREATE_VCPU, i);
		ASSERT_LE(0, fds[i]) TH_LOG("vCPU %d: %s", i, strerror(errno));
	}
	fd = ioctl(self->vm, SHADOWVM_CREATE_VCPU, SHADOWVM_MAX_VCPUS);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EINVAL, errno);
	fd = ioctl(self->vm, SHADOWVM_CREATE_VCPU, 1000000);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EINVAL, errno);
	fd = ioctl(self->vm, SHADOWVM_CREATE_VCPU, -1UL);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EINVAL, errno);
	for (i = 0; i < SHADOWVM_MAX_VCPUS; i++)
		close(fds[i]);
}

TEST_F(vcpu, id_out_of_range_einval)
{
	int fd = ioctl(self->vm, SHADOWVM_CREATE_VCPU, SHADOWVM_MAX_VCPUS);

	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(vcpu, id_in_use_eexist)
{
	int a, b;

	RETURN_IF_SETUP_SKIPPED();
	a = ioctl(self->vm, SHADOWVM_CREATE_VCPU, 3);
	ASSERT_LE(0, a);
	b = ioctl(self->vm, SHADOWVM_CREATE_VCPU, 3);
	EXPECT_EQ(-1, b);
	EXPECT_EQ(EEXIST, errno);
	/* still in use while the fd is open elsewhere: dup keeps it */
	close(a);
	if (b >= 0)
		close(b);
}

TEST_F(vcpu, mmap_run_page)
{
	struct shadowvm_run *run;
	int fd;

	RETURN_IF_SETUP_SKIPPED();
	fd = ioctl(self->vm, SHADOWVM_CREATE_VCPU, 0);
	ASSERT_LE(0, fd);
	run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, run) TH_LOG("mmap: %s", strerror(errno));
	EXPECT_EQ(0, run->immediate_exit);
	EXPECT_EQ(0, run->exit_count);
	munmap(run, 4096);
	close(fd);
}

TEST_F(vcpu, mmap_offset_einval)
{
	void *p;
	int fd;

	RETURN_IF_SETUP_SKIPPED();
	fd = ioctl(self->vm, SHADOWVM_CREATE_VCPU, 0);
	ASSERT_LE(0, fd);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	close(fd);
}

TEST_F(vcpu, mmap_too_big_einval)
{
	void *p;
	int fd;

	RETURN_IF_SETUP_SKIPPED();
	fd = ioctl(self->vm, SHADOWVM_CREATE_VCPU, 0);
	ASSERT_LE(0, fd);
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, 8192);
	close(fd);
}

TEST(initial_state_flat32)
{
	struct be_sregs sr, want;
	struct be_regs regs;
	struct tvm t;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	EXPECT_EQ(0, regs.rip);
	EXPECT_EQ(2, regs.rflags);
	EXPECT_EQ(0, regs.rax | regs.rbx | regs.rcx | regs.rdx | regs.rsi |
		     regs.rdi | regs.rsp | regs.rbp);
	ASSERT_EQ(0, be_get_sregs(&t.vcpu, &sr));
	be_flat32_sregs(&want);
	EXPECT_EQ(want.cr0, sr.cr0);
	EXPECT_EQ(0, sr.cr4);
	EXPECT_EQ(0, sr.efer);
#define SEG_EQ(seg) do {							\
	EXPECT_EQ(want.seg.selector, sr.seg.selector) TH_LOG(#seg);		\
	EXPECT_EQ(want.seg.base, sr.seg.base) TH_LOG(#seg);			\
	EXPECT_EQ(want.seg.limit, sr.seg.limit) TH_LOG(#seg);			\
	EXPECT_EQ(want.seg.type, sr.seg.type) TH_LOG(#seg);			\
	EXPECT_EQ(want.seg.present, sr.seg.present) TH_LOG(#seg);		\
	EXPECT_EQ(want.seg.s, sr.seg.s) TH_LOG(#seg);				\
	EXPECT_EQ(want.seg.db, sr.seg.db) TH_LOG(#seg);			\
	EXPECT_EQ(want.seg.g, sr.seg.g) TH_LOG(#seg);				\
	EXPECT_EQ(0, sr.seg.unusable) TH_LOG(#seg);				\
} while (0)
	SEG_EQ(cs);
	SEG_EQ(ds);
	SEG_EQ(es);
	SEG_EQ(fs);
	SEG_EQ(gs);
	SEG_EQ(ss);
	EXPECT_EQ(0x18, sr.tr.selector);
	EXPECT_EQ(11, sr.tr.type);
	EXPECT_EQ(0x67, sr.tr.limit);
	EXPECT_EQ(1, sr.ldt.unusable);
	EXPECT_EQ(0, sr.gdt.base);
	EXPECT_EQ(0xffff, sr.gdt.limit);
	EXPECT_EQ(0, sr.idt.base);
	EXPECT_EQ(0xffff, sr.idt.limit);
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
