// SPDX-License-Identifier: GPL-2.0
/*
 * memslot_test: SET_MEMORY_REGION argument checking.
 * One test per bad input, each asserting the documented errno (EINVAL,
 * E2BIG, EEXIST, ENOENT, EFAULT), plus positive cases: add, delete, re-add,
 * a read-only slot, and that a guest really sees the slot's memory.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

#define PG	4096ULL
#define BUF_PAGES 64		/* 256 KiB of mapped memory to point at */

FIXTURE(memslot) {
	int dev, vm;
	uint8_t *buf;		/* BUF_PAGES mapped pages */
};

FIXTURE_SETUP(memslot)
{
	self->vm = -1;
	self->buf = mmap(NULL, BUF_PAGES * PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	OPEN_DEV_OR_SKIP(self->dev);
	self->vm = ioctl(self->dev, SHADOWVM_CREATE_VM, 0);
	ASSERT_LE(0, self->vm) TH_LOG("CREATE_VM: %s", strerror(errno));
}

FIXTURE_TEARDOWN(memslot)
{
	if (self->vm >= 0)
		close(self->vm);
}

static int set_region(int vm, __u32 slot, __u32 flags, __u64 gpa, __u64 size,
		      __u64 hva)
{
	struct shadowvm_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = hva,
	};

	return ioctl(vm, SHADOWVM_SET_MEMORY_REGION, &r) ? errno : 0;
}

#define HVA(off)	((__u64)(uintptr_t)(self->buf + (off)))

TEST_F(memslot, valid_add_delete_readd)
{
	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, set_region(self->vm, 0, 0, 0, 16 * PG, HVA(0)));
	ASSERT_EQ(0, set_region(self->vm, 1, 0, 0x100000, 16 * PG,
				HVA(16 * PG)));
	/* delete and re-add at another address */
	ASSERT_EQ(0, set_region(self->vm, 1, 0, 0x100000, 0, HVA(16 * PG)));
	ASSERT_EQ(0, set_region(self->vm, 1, 0, 0x200000, 8 * PG,
				HVA(16 * PG)));
	/* the highest slot and a read-only one */
	ASSERT_EQ(0, set_region(self->vm, SHADOWVM_MAX_MEM_SLOTS - 1,
				SHADOWVM_MEM_READONLY, 0x300000, PG,
				HVA(32 * PG)));
	/* the last page below the GPA limit */
	ASSERT_EQ(0, set_region(self->vm, 2, 0,
				(1ULL << SHADOWVM_GPA_BITS) - PG, PG,
				HVA(40 * PG)));
}

TEST_F(memslot, slot_out_of_range_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, SHADOWVM_MAX_MEM_SLOTS, 0, 0,
				     PG, HVA(0)));
	EXPECT_EQ(EINVAL, set_region(self->vm, ~0u, 0, 0, PG, HVA(0)));
}

TEST_F(memslot, unknown_flags_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 1u << 1, 0, PG, HVA(0)));
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 1u << 31, 0, PG, HVA(0)));
}

TEST_F(memslot, unaligned_gpa_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0, 0x800, PG, HVA(0)));
}

TEST_F(memslot, unaligned_size_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0, 0, PG + 1, HVA(0)));
}

TEST_F(memslot, unaligned_hva_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0, 0, PG, HVA(8)));
}

TEST_F(memslot, gpa_wraps_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0, ~0ULL - PG + 1, 2 * PG,
				     HVA(0)));
}

TEST_F(memslot, gpa_beyond_limit_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	/* ends one page past 1 << SHADOWVM_GPA_BITS */
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0,
				     (1ULL << SHADOWVM_GPA_BITS) - PG, 2 * PG,
				     HVA(0)));
	/* starts at the limit */
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0,
				     1ULL << SHADOWVM_GPA_BITS, PG, HVA(0)));
}

TEST_F(memslot, size_too_big_e2big)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(E2BIG, set_region(self->vm, 0, 0, 0,
				    SHADOWVM_MAX_SLOT_SIZE + PG, HVA(0)));
}

TEST_F(memslot, overlap_eexist)
{
	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, set_region(self->vm, 0, 0, 0x10000, 16 * PG, HVA(0)));
	/* tail overlap, head overlap, containment */
	EXPECT_EQ(EEXIST, set_region(self->vm, 1, 0, 0x18000, 16 * PG,
				     HVA(16 * PG)));
	EXPECT_EQ(EEXIST, set_region(self->vm, 1, 0, 0x8000, 9 * PG,
				     HVA(16 * PG)));
	EXPECT_EQ(EEXIST, set_region(self->vm, 1, 0, 0x12000, PG,
				     HVA(16 * PG)));
	/* adjacent is fine */
	EXPECT_EQ(0, set_region(self->vm, 1, 0, 0x20000, PG, HVA(16 * PG)));
}

TEST_F(memslot, slot_in_use_eexist)
{
	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, set_region(self->vm, 3, 0, 0x10000, 4 * PG, HVA(0)));
	/* same slot, non-overlapping new range: must delete first */
	EXPECT_EQ(EEXIST, set_region(self->vm, 3, 0, 0x100000, 4 * PG,
				     HVA(16 * PG)));
	/* same slot, same range */
	EXPECT_EQ(EEXIST, set_region(self->vm, 3, 0, 0x10000, 4 * PG,
				     HVA(0)));
}

TEST_F(memslot, delete_empty_slot_enoent)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(ENOENT, set_region(self->vm, 5, 0, 0, 0, HVA(0)));
	ASSERT_EQ(0, set_region(self->vm, 5, 0, 0, PG, HVA(0)));
	ASSERT_EQ(0, set_region(self->vm, 5, 0, 0, 0, HVA(0)));
	EXPECT_EQ(ENOENT, set_region(self->vm, 5, 0, 0, 0, HVA(0)));
}

TEST_F(memslot, hva_not_mapped_efault)
{
	RETURN_IF_SETUP_SKIPPED();
	/* a hole in the middle of the range */
	ASSERT_EQ(0, munmap(self->buf + 8 * PG, PG));
	EXPECT_EQ(EFAULT, set_region(self->vm, 0, 0, 0, 16 * PG, HVA(0)));
	/* a range that is not mapped at all */
	EXPECT_EQ(EFAULT, set_region(self->vm, 0, 0, 0, PG, HVA(8 * PG)));
}

TEST_F(memslot, hva_kernel_address_efault)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EFAULT, set_region(self->vm, 0, 0, 0, PG,
				     0xffff888000000000ULL));
	/* straddles the end of the user address space */
	EXPECT_EQ(EFAULT, set_region(self->vm, 0, 0, 0, 16 * PG,
				     0x00007ffffffff000ULL));
}

TEST_F(memslot, bad_struct_pointer_efault)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(-1, ioctl(self->vm, SHADOWVM_SET_MEMORY_REGION, (void *)8));
	EXPECT_EQ(EFAULT, errno);
}

/* the slot's memory is what the guest sees, read and write */
GUEST_CODE(memslot_guest,
	"mov 0x200000, %eax\n"		/* read slot 1 */
	"mov %eax, 0x200004\n"		/* write slot 1 */
	"movl $0x600dc0de, 0x9000\n"	/* write slot 0 */
	"hlt\n");

TEST(guest_sees_slot_memory)
{
	struct be_exit e;
	struct tvm t;
	uint8_t *extra;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	extra = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, extra);
	*(uint32_t *)extra = 0x12345678;
	ASSERT_EQ(0, be_set_memory(&t.vm, 1, 0x200000, PG, extra, false));
	TVM_LOAD(&t, memslot_guest);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(0x12345678, *(uint32_t *)(extra + 4));
	EXPECT_EQ(0x600dc0de, *(uint32_t *)tvm_ptr(&t, 0x9000));
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
