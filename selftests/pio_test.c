// SPDX-License-Identifier: GPL-2.0
/*
 * pio_test: port I/O exits.
 * OUT of sizes 1/2/4 (immediate and DX forms) arrive as IO exits with the
 * right port, size, direction, count 1 and data; IN of sizes 1/2/4 take the
 * value the test supplies, only the addressed part of EAX changes (the
 * guest stores EAX to memory, the test reads guest RAM). rep outsb of 300
 * and 5000 bytes delivers exactly the buffer (the long one over several
 * exits), rep insb of 5000 bytes fills guest memory with what the test
 * supplied, and ECX/ESI/EDI end where the instruction says.
 */
#include <errno.h>
#include <string.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

GUEST_CODE(pio_out_guest,
	"mov $0x12345678, %eax\n"
	"outb %al, $0xe0\n"
	"outw %ax, $0xe2\n"
	"outl %eax, $0xe4\n"
	"mov $0x9abcdef0, %eax\n"
	"mov $0x1e6, %dx\n"
	"outb %al, %dx\n"
	"outw %ax, %dx\n"
	"outl %eax, %dx\n"
	"hlt\n");

struct pio_expect {
	uint16_t port;
	unsigned int size;
	uint32_t value;
};

TEST(out_sizes_1_2_4)
{
	static const struct pio_expect want[] = {
		{ 0xe0, 1, 0x78 }, { 0xe2, 2, 0x5678 }, { 0xe4, 4, 0x12345678 },
		{ 0x1e6, 1, 0xf0 }, { 0x1e6, 2, 0xdef0 },
		{ 0x1e6, 4, 0x9abcdef0 },
	};
	struct be_exit e;
	struct tvm t;
	unsigned int i;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, pio_out_guest);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint32_t v = 0;

		TVM_RUN_EXPECT(&t, &e, BE_EXIT_IO);
		EXPECT_EQ(BE_IO_OUT, e.io.direction) TH_LOG("item %u", i);
		EXPECT_EQ(want[i].port, e.io.port) TH_LOG("item %u", i);
		ASSERT_EQ(want[i].size, e.io.size) TH_LOG("item %u", i);
		EXPECT_EQ(1, e.io.count) TH_LOG("item %u", i);
		memcpy(&v, e.io.data, e.io.size);
		EXPECT_EQ(want[i].value, v) TH_LOG("item %u", i);
	}
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	tvm_destroy(&t);
}

GUEST_CODE(pio_in_guest,
	"mov $0x11223344, %eax\n"
	"inb $0xe0, %al\n"
	"mov %eax, 0x9000\n"
	"mov $0x11223344, %eax\n"
	"inw $0xe2, %ax\n"
	"mov %eax, 0x9004\n"
	"mov $0x11223344, %eax\n"
	"inl $0xe4, %eax\n"
	"mov %eax, 0x9008\n"
	"mov $0x1e6, %dx\n"
	"mov $0x55667788, %eax\n"
	"inb %dx, %al\n"
	"mov %eax, 0x900c\n"
	"mov $0x55667788, %eax\n"
	"inw %dx, %ax\n"
	"mov %eax, 0x9010\n"
	"inl %dx, %eax\n"
	"mov %eax, 0x9014\n"
	"hlt\n");

TEST(in_sizes_1_2_4)
{
	static const struct pio_expect feed[] = {
		{ 0xe0, 1, 0xa5 }, { 0xe2, 2, 0xbeef }, { 0xe4, 4, 0xdeadbeef },
		{ 0x1e6, 1, 0x5a }, { 0x1e6, 2, 0xc0de },
		{ 0x1e6, 4, 0xfeedface },
	};
	static const uint32_t stored[] = {
		0x112233a5, 0x1122beef, 0xdeadbeef,
		0x5566775a, 0x5566c0de, 0xfeedface,
	};
	struct be_exit e;
	struct tvm t;
	unsigned int i;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, pio_in_guest);
	for (i = 0; i < sizeof(feed) / sizeof(feed[0]); i++) {
		TVM_RUN_EXPECT(&t, &e, BE_EXIT_IO);
		EXPECT_EQ(BE_IO_IN, e.io.direction) TH_LOG("item %u", i);
		EXPECT_EQ(feed[i].port, e.io.port) TH_LOG("item %u", i);
		ASSERT_EQ(feed[i].size, e.io.size) TH_LOG("item %u", i);
		ASSERT_EQ(1, e.io.count) TH_LOG("item %u", i);
		memcpy(e.io.data, &feed[i].value, e.io.size);
	}
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	for (i = 0; i < sizeof(stored) / sizeof(stored[0]); i++)
		EXPECT_EQ(stored[i], *(uint32_t *)tvm_ptr(&t, 0x9000 + 4 * i))
			TH_LOG("stored value %u", i);
	tvm_destroy(&t);
}

/* ESI/EDI, ECX and DX are set by the test */
GUEST_CODE(rep_outsb_guest,
	"cld\n"
	"rep outsb\n"
	"hlt\n");

GUEST_CODE(rep_insb_guest,
	"cld\n"
	"rep insb\n"
	"hlt\n");

#define REP_PORT	0xe8
#define REP_MAX		5000

static void rep_setup(struct __test_metadata *_metadata, struct tvm *t,
		      uint32_t esi, uint32_t edi, uint32_t ecx)
{
	struct be_regs regs;

	ASSERT_EQ(0, be_get_regs(&t->vcpu, &regs));
	regs.rsi = esi;
	regs.rdi = edi;
	regs.rcx = ecx;
	regs.rdx = REP_PORT;
	ASSERT_EQ(0, be_set_regs(&t->vcpu, &regs));
}

static void rep_outsb(struct __test_metadata *_metadata, uint32_t len,
		      bool want_several_exits)
{
	static uint8_t want[REP_MAX], got[REP_MAX];
	unsigned int exits = 0;
	struct be_regs regs;
	struct be_exit e;
	uint32_t done = 0;
	struct tvm t;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, rep_outsb_guest);
	fill_pattern(want, len, len);
	memcpy(tvm_ptr(&t, TVM_BUF), want, len);
	rep_setup(_metadata, &t, TVM_BUF, 0, len);
	for (;;) {
		ASSERT_EQ(0, tvm_run(&t, &e));
		if (e.reason != BE_EXIT_IO)
			break;
		exits++;
		ASSERT_EQ(BE_IO_OUT, e.io.direction);
		ASSERT_EQ(REP_PORT, e.io.port);
		ASSERT_EQ(1, e.io.size);
		ASSERT_LE(1, e.io.count);
		ASSERT_GE(len - done, e.io.count)
			TH_LOG("exit %u: count %u, only %u bytes left", exits,
			       e.io.count, len - done);
		memcpy(got + done, e.io.data, e.io.count);
		done += e.io.count;
	}
	ASSERT_EQ(BE_EXIT_HLT, e.reason) TH_LOG("ended with %s",
						be_exit_name(e.reason));
	EXPECT_EQ(len, done);
	EXPECT_EQ(0, memcmp(want, got, len)) TH_LOG("data differs");
	if (want_several_exits)
		EXPECT_LT(1, exits) TH_LOG("%u bytes in %u exit(s)", len,
					   exits);
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	EXPECT_EQ(0, regs.rcx & 0xffffffff);
	EXPECT_EQ(TVM_BUF + len, regs.rsi & 0xffffffff);
	TH_LOG("%u bytes in %u exits", len, exits);
	tvm_destroy(&t);
}

TEST(rep_outsb_300)
{
	rep_outsb(_metadata, 300, false);
}

TEST(rep_outsb_5000_several_exits)
{
	rep_outsb(_metadata, 5000, true);
}

TEST(rep_insb_5000)
{
	static uint8_t feed[REP_MAX];
	const uint32_t len = REP_MAX;
	unsigned int exits = 0;
	struct be_regs regs;
	struct be_exit e;
	uint32_t done = 0;
	struct tvm t;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, rep_insb_guest);
	fill_pattern(feed, len, 77);
	memset(tvm_ptr(&t, TVM_BUF), 0xcc, len + 16);
	rep_setup(_metadata, &t, 0, TVM_BUF, len);
	for (;;) {
		ASSERT_EQ(0, tvm_run(&t, &e));
		if (e.reason != BE_EXIT_IO)
			break;
		exits++;
		ASSERT_EQ(BE_IO_IN, e.io.direction);
		ASSERT_EQ(REP_PORT, e.io.port);
		ASSERT_EQ(1, e.io.size);
		ASSERT_LE(1, e.io.count);
		ASSERT_GE(len - done, e.io.count);
		memcpy(e.io.data, feed + done, e.io.count);
		done += e.io.count;
	}
	ASSERT_EQ(BE_EXIT_HLT, e.reason) TH_LOG("ended with %s",
						be_exit_name(e.reason));
	EXPECT_EQ(len, done);
	EXPECT_EQ(0, memcmp(feed, tvm_ptr(&t, TVM_BUF), len))
		TH_LOG("guest memory differs from the supplied data");
	/* nothing written past the end */
	EXPECT_EQ(0xcc, *(uint8_t *)tvm_ptr(&t, TVM_BUF + len));
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	EXPECT_EQ(0, regs.rcx & 0xffffffff);
	EXPECT_EQ(TVM_BUF + len, regs.rdi & 0xffffffff);
	TH_LOG("%u bytes in %u exits", len, exits);
	tvm_destroy(&t);
}

TEST(rep_insb_300)
{
	static uint8_t feed[300];
	struct be_exit e;
	uint32_t done = 0;
	struct tvm t;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, rep_insb_guest);
	fill_pattern(feed, sizeof(feed), 5);
	rep_setup(_metadata, &t, 0, TVM_BUF, sizeof(feed));
	for (;;) {
		ASSERT_EQ(0, tvm_run(&t, &e));
		if (e.reason != BE_EXIT_IO)
			break;
		ASSERT_EQ(BE_IO_IN, e.io.direction);
		ASSERT_GE(sizeof(feed) - done, e.io.count);
		memcpy(e.io.data, feed + done, e.io.count);
		done += e.io.count;
	}
	ASSERT_EQ(BE_EXIT_HLT, e.reason);
	EXPECT_EQ(sizeof(feed), done);
	EXPECT_EQ(0, memcmp(feed, tvm_ptr(&t, TVM_BUF), sizeof(feed)));
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
