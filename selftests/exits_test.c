// SPDX-License-Identifier: GPL-2.0
/*
 * exits_test: HLT, triple fault and MMIO exits.
 * HLT exits with RIP just after the hlt (and RUN resumes after it); an IDT
 * with limit 0 plus int3 ends in SHUTDOWN; loads and stores to an address
 * with no slot become MMIO exits with the right address, length, direction
 * and data, and data supplied for a read lands in the guest register; a
 * read-only slot is readable and a store to it is an MMIO write exit that
 * leaves the memory unchanged.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

GUEST_CODE(hlt_guest,
	"nop\n"
	"nop\n"
	"hlt\n"			/* TVM_CODE + 2 */
	"hlt\n"			/* TVM_CODE + 3 */
	"1: jmp 1b\n");

TEST(hlt_exit_rip_after_hlt)
{
	struct be_exit e;
	struct tvm t;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, hlt_guest);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(TVM_CODE + 3, tvm_rip(&t));
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(TVM_CODE + 4, tvm_rip(&t));
	tvm_destroy(&t);
}

GUEST_CODE(int3_guest,
	"int3\n"
	"hlt\n");

TEST(triple_fault_shutdown)
{
	struct be_sregs sr;
	struct be_exit e;
	struct tvm t;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, int3_guest);
	ASSERT_EQ(0, be_get_sregs(&t.vcpu, &sr));
	sr.idt.base = 0;
	sr.idt.limit = 0;
	ASSERT_EQ(0, be_set_sregs(&t.vcpu, &sr));
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_SHUTDOWN);
	tvm_destroy(&t);
}

#define MMIO_BASE	0xd0000000u

GUEST_CODE(mmio_read_guest,
	"mov 0xd0000000, %eax\n"
	"mov %eax, %ebx\n"
	"movw 0xd0000010, %cx\n"
	"movb 0xd0000023, %dl\n"
	"hlt\n");

TEST(mmio_read_no_slot)
{
	static const struct { uint32_t addr, len, value; } feed[] = {
		{ MMIO_BASE, 4, 0xcafebabe },
		{ MMIO_BASE + 0x10, 2, 0x1234 },
		{ MMIO_BASE + 0x23, 1, 0x9c },
	};
	struct be_regs regs;
	struct be_exit e;
	struct tvm t;
	unsigned int i;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, mmio_read_guest);
	for (i = 0; i < 3; i++) {
		TVM_RUN_EXPECT(&t, &e, BE_EXIT_MMIO);
		EXPECT_EQ(feed[i].addr, e.mmio.phys_addr) TH_LOG("read %u", i);
		ASSERT_EQ(feed[i].len, e.mmio.len) TH_LOG("read %u", i);
		EXPECT_FALSE(e.mmio.is_write) TH_LOG("read %u", i);
		memcpy(e.mmio.data, &feed[i].value, e.mmio.len);
	}
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	EXPECT_EQ(0xcafebabe, regs.rax & 0xffffffff);
	EXPECT_EQ(0xcafebabe, regs.rbx & 0xffffffff);
	EXPECT_EQ(0x1234, regs.rcx & 0xffffffff);
	EXPECT_EQ(0x9c, regs.rdx & 0xffffffff);
	tvm_destroy(&t);
}

GUEST_CODE(mmio_write_guest,
	"movl $0x12345678, 0xd0000020\n"
	"movb $0x5a, 0xd0000031\n"
	"movw $0xbeef, 0xd0000042\n"
	"mov $0x600dcafe, %eax\n"
	"mov %eax, 0xd0000ffc\n"
	"hlt\n");

TEST(mmio_write_no_slot)
{
	static const struct { uint32_t addr, len, value; } want[] = {
		{ MMIO_BASE + 0x20, 4, 0x12345678 },
		{ MMIO_BASE + 0x31, 1, 0x5a },
		{ MMIO_BASE + 0x42, 2, 0xbeef },
		{ MMIO_BASE + 0xffc, 4, 0x600dcafe },
	};
	struct be_exit e;
	struct tvm t;
	unsigned int i;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, mmio_write_guest);
	for (i = 0; i < 4; i++) {
		uint32_t v = 0;

		TVM_RUN_EXPECT(&t, &e, BE_EXIT_MMIO);
		EXPECT_EQ(want[i].addr, e.mmio.phys_addr) TH_LOG("write %u", i);
		ASSERT_EQ(want[i].len, e.mmio.len) TH_LOG("write %u", i);
		EXPECT_TRUE(e.mmio.is_write) TH_LOG("write %u", i);
		memcpy(&v, e.mmio.data, e.mmio.len);
		EXPECT_EQ(want[i].value, v) TH_LOG("write %u", i);
	}
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	tvm_destroy(&t);
}

#define RO_GPA	0x300000u

GUEST_CODE(readonly_guest,
	"mov 0x300000, %eax\n"
	"movl $0xaabbccdd, 0x300004\n"
	"mov %eax, 0x9000\n"
	"hlt\n");

TEST(readonly_slot_write_is_mmio)
{
	struct be_exit e;
	struct tvm t;
	uint32_t *ro, v = 0;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ro[0] = 0x11223344;
	ASSERT_EQ(0, be_set_memory(&t.vm, 1, RO_GPA, 4096, ro, true));
	TVM_LOAD(&t, readonly_guest);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_MMIO);
	EXPECT_EQ(RO_GPA + 4, e.mmio.phys_addr);
	ASSERT_EQ(4, e.mmio.len);
	EXPECT_TRUE(e.mmio.is_write);
	memcpy(&v, e.mmio.data, 4);
	EXPECT_EQ(0xaabbccdd, v);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(0x11223344, *(uint32_t *)tvm_ptr(&t, 0x9000));
	EXPECT_EQ(0, ro[1]) TH_LOG("read-only slot was written");
	tvm_destroy(&t);
	munmap(ro, 4096);
}

TEST_HARNESS_MAIN
