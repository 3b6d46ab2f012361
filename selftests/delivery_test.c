// SPDX-License-Identifier: GPL-2.0
/*
 * delivery_test: a #PF exit during event delivery (IDT-vectoring
 * information valid) never emulates the instruction at RIP.
 *
 * Guest: 32-bit paging, the runtime's IDT; the guest's stack is moved to a
 * page that is also a live (write-protected) page table of the guest. An
 * exception is then raised: the CPU's pushes of the exception frame hit
 * the write-protected frame, which would need the emulator. The module
 * must stop with SHADOWVM_INTERNAL_ERROR_DELIVERY (vectoring information
 * in data[0], RIP unchanged, the instruction at RIP not executed), for a
 * hardware exception (#PF from a store to a read-only page) and for a
 * software one (INT3). Control: with the stack on a fresh page that is not
 * yet shadowed, the delivery fault is a hidden fault fixed by a fill, and
 * the event is delivered again (the guest's handler runs).
 */
#include <errno.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define STK_PT		0x800000u	/* alias of a live page table */
#define RO_PAGE		0x801000u	/* read-only page (GRT_FREE) */
#define STK_FRESH	0x802000u	/* ordinary page (GRT_FREE + 0x1000) */
#define CODE		GRT_SCRATCH

GUEST_CODE(pf_on_pt_stack,
	"mov $0x800800, %esp\n"
	"movl $0x1234, 0x801000\n"	/* CODE + 5 */
	"hlt\n");

GUEST_CODE(int3_on_pt_stack,
	"mov $0x800800, %esp\n"
	"int3\n"			/* CODE + 5 */
	"hlt\n");

GUEST_CODE(int3_on_fresh_stack,
	"mov $0x802800, %esp\n"
	"int3\n"
	"hlt\n");

static int setup(struct __test_metadata *_metadata, struct tvm *t, struct gp *g,
		 const uint8_t *code, size_t len)
{
	struct grt_env env = { .mode = GP_MODE_32, .cr0_extra = GP_CR0_WP };
	enum be_kind kind = tvm_default_kind();
	struct be_regs regs;
	uint64_t pt;
	int r;

	r = grt_create(t, kind, MEM_SIZE, SHADOWVM_MMU_POLICY_WRITE_PROTECT, 0, 0);
	if (r)
		return r;
	if (gp_init(g, t->mem, MEM_SIZE, GP_MODE_32, GRT_POOL, GRT_POOL_SIZE) ||
	    grt_setup(t, g, &env))
		return -EIO;
	/* the page table that maps the code: live as soon as the guest runs */
	pt = gp_entry_gpa(g, CODE, 1, false) & ~0xfffULL;
	if (!pt || gp_map(g, STK_PT, pt, GP_4K, GP_4K, GP_W | GP_A | GP_D) ||
	    gp_map(g, RO_PAGE, GRT_FREE, GP_4K, GP_4K, GP_A | GP_D) ||
	    gp_map(g, STK_FRESH, GRT_FREE + 0x1000, GP_4K, GP_4K, GP_W))
		return -EIO;
	memcpy(tvm_ptr(t, CODE), code, len);
	if (be_get_regs(&t->vcpu, &regs))
		return -EIO;
	regs.rip = CODE;
	regs.rflags = 2;
	return be_set_regs(&t->vcpu, &regs);
}

#define SETUP(t, g, blob) do {						\
	int __r = setup(_metadata, (t), (g), blob, GUEST_SIZE(blob));	\
	if (tvm_no_device(__r))						\
		SKIP(return, "backend device missing");			\
	ASSERT_EQ(0, __r) TH_LOG("setting up: %s", strerror(-__r));	\
} while (0)

static void expect_delivery_error(struct __test_metadata *_metadata, struct tvm *t,
				  uint32_t vect_bits)
{
	struct be_exit e;
	int r;

	r = tvm_run(t, &e);
	ASSERT_EQ(0, r) TH_LOG("RUN: %s", strerror(-r));
	ASSERT_EQ(BE_EXIT_INTERNAL, e.reason)
		TH_LOG("exit %s (port 0x%x), expected an internal error",
		       be_exit_name(e.reason), e.reason == BE_EXIT_IO ? e.io.port : 0);
	ASSERT_EQ(SHADOWVM_INTERNAL_ERROR_DELIVERY, e.internal.suberror);
	ASSERT_LE(4, e.internal.ndata);
	/* valid, type and vector of the event being delivered */
	EXPECT_EQ(vect_bits, e.internal.data[0] & 0x800007ffu)
		TH_LOG("vectoring info 0x%llx", (unsigned long long)e.internal.data[0]);
	/* the fault was a push into the exception frame, below the old ESP */
	EXPECT_LE(STK_PT + 0x800 - 0x20, e.internal.data[2]);
	EXPECT_GT(STK_PT + 0x800, e.internal.data[2]);
	EXPECT_EQ(CODE + 5, e.internal.data[3]);
	/* the instruction at RIP was not executed or emulated */
	EXPECT_EQ(CODE + 5, tvm_rip(t));
}

TEST(pf_delivered_onto_page_table_stack)
{
	struct tvm t;
	struct gp g;

	SETUP(&t, &g, pf_on_pt_stack);
	/* hardware exception (type 3), #PF (14) */
	expect_delivery_error(_metadata, &t, 0x80000000u | (3u << 8) | 14);
	EXPECT_EQ(0, *(uint32_t *)tvm_ptr(&t, GRT_FREE)) TH_LOG("the store was emulated");
	tvm_destroy(&t);
}

TEST(int3_delivered_onto_page_table_stack)
{
	struct tvm t;
	struct gp g;

	SETUP(&t, &g, int3_on_pt_stack);
	/* software exception (type 6), #BP (3) */
	expect_delivery_error(_metadata, &t, 0x80000000u | (6u << 8) | 3);
	tvm_destroy(&t);
}

TEST(int3_onto_fresh_stack_is_delivered)
{
	struct be_exit e;
	struct tvm t;
	struct gp g;
	uint32_t v = 0;

	SETUP(&t, &g, int3_on_fresh_stack);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_IO);
	/* the runtime's handler reports the unexpected vector on GRT_PORT_BAD */
	ASSERT_EQ(GRT_PORT_BAD, e.io.port);
	memcpy(&v, e.io.data, e.io.size);
	EXPECT_EQ(3, v);
	EXPECT_EQ(CODE + 6, *grt_cb64(&t, CB_BAD_IP) & 0xffffffff)
		TH_LOG("the handler saw return address 0x%llx",
		       (unsigned long long)*grt_cb64(&t, CB_BAD_IP));
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
