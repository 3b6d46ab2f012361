// SPDX-License-Identifier: GPL-2.0
/*
 * mmio_split_test: an MMIO access that straddles two MMIO pages exits to
 * userspace once per page and the instruction completes once both parts
 * are done (the test is the device).
 *
 * Guest: long mode, the two pages at 0xd0000000 (no memory slot) mapped.
 * An 8-byte read at 0xd0000ffc is two read exits (4 + 4 bytes, in address
 * order) and the register gets both halves; an 8-byte write there is two
 * write exits with the right halves; an 8-byte read at 0xd0000ffe is 2 + 6.
 * A read-modify-write across the boundary (ADD to memory) reads both parts
 * and then writes both parts.
 */
#include <errno.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define MMIO		0xd0000000ULL
#define CODE		GRT_SCRATCH

GUEST_CODE(split64,
	".code64\n"
	"mov $0xd0000ffc, %esi\n"
	"mov (%rsi), %rax\n"
	"mov %rax, %rbx\n"
	"mov $0x1122334455667788, %rcx\n"
	"mov %rcx, (%rsi)\n"
	"mov $0xd0000ffe, %edi\n"
	"mov (%rdi), %rdx\n"
	"addl $0x01010101, (%rdi)\n"
	"hlt\n"
	".code32\n");

struct step {
	uint64_t gpa;
	uint32_t len;
	bool write;
	uint64_t data;		/* supplied (read) or expected (write) */
};

TEST(straddling_access_exits_per_page)
{
	static const struct step steps[] = {
		{ MMIO + 0xffc, 4, false, 0x44332211 },
		{ MMIO + 0x1000, 4, false, 0x88776655 },
		{ MMIO + 0xffc, 4, true, 0x55667788 },
		{ MMIO + 0x1000, 4, true, 0x11223344 },
		{ MMIO + 0xffe, 2, false, 0xbbaa },
		{ MMIO + 0x1000, 6, false, 0xffeeddccbbaaULL },
		/* addl $0x01010101 at 0xffe: reads 2 + 2, writes 2 + 2 */
		{ MMIO + 0xffe, 2, false, 0x0201 },
		{ MMIO + 0x1000, 2, false, 0x0403 },
		{ MMIO + 0xffe, 2, true, 0x0302 },
		{ MMIO + 0x1000, 2, true, 0x0504 },
	};
	struct grt_env env = { .mode = GP_MODE_LM };
	enum be_kind kind = tvm_default_kind();
	struct be_regs regs;
	struct be_exit e;
	struct gp g;
	struct tvm t;
	unsigned int i;
	int r;

	r = grt_create(&t, kind, MEM_SIZE, 0, 0, 0);
	if (tvm_no_device(r))
		SKIP(return, "%s backend device missing", be_ops_by_kind(kind)->name);
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	ASSERT_EQ(0, gp_init(&g, t.mem, MEM_SIZE, GP_MODE_LM, GRT_POOL, GRT_POOL_SIZE));
	ASSERT_EQ(0, grt_setup(&t, &g, &env));
	ASSERT_EQ(0, gp_map(&g, MMIO, MMIO, 2 * GP_4K, GP_4K, GP_W | GP_A | GP_D));
	memcpy(tvm_ptr(&t, CODE), split64, GUEST_SIZE(split64));
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	regs.rip = CODE;
	regs.rflags = 2;
	ASSERT_EQ(0, be_set_regs(&t.vcpu, &regs));

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *s = &steps[i];
		uint64_t v = 0;

		TVM_RUN_EXPECT(&t, &e, BE_EXIT_MMIO);
		ASSERT_EQ(s->gpa, e.mmio.phys_addr) TH_LOG("step %u", i);
		ASSERT_EQ(s->len, e.mmio.len) TH_LOG("step %u", i);
		ASSERT_EQ(s->write, e.mmio.is_write) TH_LOG("step %u", i);
		if (s->write) {
			memcpy(&v, e.mmio.data, s->len);
			EXPECT_EQ(s->data, v) TH_LOG("step %u: wrote 0x%llx", i,
						      (unsigned long long)v);
		} else {
			memcpy(e.mmio.data, &s->data, s->len);
		}
	}
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	EXPECT_EQ(0x8877665544332211ULL, regs.rbx);
	EXPECT_EQ(0xffeeddccbbaabbaaULL, regs.rdx);
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
