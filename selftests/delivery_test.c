// SPDX-License-Identifier: GPL-2.0
/*
 * delivery_test: a #PF exit during event delivery (IDT-vectoring
 * information valid) never emulates the instruction at RIP, and the event
 * is delivered again once the shadow MMU has fixed the fault.
 *
 * Guest: 32-bit paging, the runtime's IDT. Under every MMU policy
 * (POLICY_VARIANTS), an exception is raised while the guest's stack, IDT
 * or GDT is on (a) a fresh page not shadowed yet, or (b) a page that is
 * also a live page table of the guest (write-protected by the policies
 * that shadow strictly). The CPU's accesses of the delivery (pushes of the
 * frame, the gate read, the code descriptor's accessed bit) fault; the
 * module must fill the shadow or unprotect the frame (never emulate) and
 * inject the event again: the runtime's handler runs and reports the
 * vector and the return address, and the instruction that raised the
 * event (a store to a read-only page) was not executed.
 */
#include <errno.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "guest_paging.h"
#include "policies.h"

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

GUEST_CODE(int3_idt_moved,
	"mov $0x802800, %esp\n"
	"lidt 0xc200\n"
	"int3\n"			/* CODE + 12 */
	"hlt\n");

GUEST_CODE(int3_gdt_moved,
	"mov $0x802800, %esp\n"
	"lgdt 0xc200\n"
	"int3\n"			/* CODE + 12 */
	"hlt\n");

FIXTURE(delivery) {
	struct tvm t;
	struct gp g;
	uint64_t pt;		/* guest-physical frame of the live page table */
	bool live;
};

POLICY_VARIANTS(delivery);

FIXTURE_SETUP(delivery)
{
	memset(self, 0, sizeof(*self));
}

FIXTURE_TEARDOWN(delivery)
{
	if (self->live)
		tvm_destroy(&self->t);
}

static int setup(struct __test_metadata *_metadata, struct tvm *t, struct gp *g,
		 uint32_t policy, uint64_t *ptp, const uint8_t *code, size_t len)
{
	struct grt_env env = { .mode = GP_MODE_32, .cr0_extra = GP_CR0_WP };
	enum be_kind kind = tvm_default_kind();
	struct be_regs regs;
	uint64_t pt;
	int r;

	r = grt_create(t, kind, MEM_SIZE, policy, 0, 0);
	if (r)
		return r;
	if (gp_init(g, t->mem, MEM_SIZE, GP_MODE_32, GRT_POOL, GRT_POOL_SIZE) ||
	    grt_setup(t, g, &env))
		return -EIO;
	/* the page table that maps the code: live as soon as the guest runs */
	pt = gp_entry_gpa(g, CODE, 1, false) & ~0xfffULL;
	*ptp = pt;
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

#define SETUP(blob) do {						\
	int __r = setup(_metadata, &self->t, &self->g, variant->policy,	\
			&self->pt, blob, GUEST_SIZE(blob));		\
	if (tvm_no_device(__r))						\
		SKIP(return, "backend device missing");			\
	ASSERT_EQ(0, __r) TH_LOG("setting up: %s", strerror(-__r));	\
	self->live = true;						\
} while (0)

/*
 * Copy the runtime's IDT or GDT to offset 0x800 of the page at gpa, seen
 * by the guest at la + 0x800, and leave the lidt/lgdt operand at 0xc200.
 * A GDT copy has the accessed bits clear: loading CS for the delivery
 * writes them.
 */
static int move_table(struct tvm *t, bool gdt, uint64_t gpa, uint32_t la)
{
	struct be_sregs sr;
	struct be_dtable *d;
	uint8_t *dst = tvm_ptr(t, gpa + 0x800);
	unsigned int i;

	if (be_get_sregs(&t->vcpu, &sr))
		return -EIO;
	d = gdt ? &sr.gdt : &sr.idt;
	if (d->limit >= 0x800 || d->base + d->limit >= MEM_SIZE)
		return -ERANGE;
	memcpy(dst, tvm_ptr(t, d->base), d->limit + 1);
	if (gdt)
		for (i = 8; i + 8 <= d->limit + 1u; i += 8)
			if (dst[i + 5] & 0x10)	/* code/data: clear accessed */
				dst[i + 5] &= ~1;
	memcpy(tvm_ptr(t, CODE + 0x200), &d->limit, 2);
	memcpy(tvm_ptr(t, CODE + 0x202), &(uint32_t){ la + 0x800 }, 4);
	return 0;
}

/* The runtime's handler ran for vector with return address ip. */
static void expect_delivered(struct __test_metadata *_metadata, struct tvm *t,
			     uint32_t vector, uint64_t ip)
{
	struct be_exit e;
	uint32_t v = 0;
	int r;

	r = tvm_run(t, &e);
	ASSERT_EQ(0, r) TH_LOG("RUN: %s", strerror(-r));
	ASSERT_EQ(BE_EXIT_IO, e.reason)
		TH_LOG("exit %s (suberror %u data0 0x%llx), expected the handler's OUT",
		       be_exit_name(e.reason),
		       e.reason == BE_EXIT_INTERNAL ? e.internal.suberror : 0,
		       e.reason == BE_EXIT_INTERNAL ?
		       (unsigned long long)e.internal.data[0] : 0ULL);
	/* the runtime's handler reports the unexpected vector on GRT_PORT_BAD */
	ASSERT_EQ(GRT_PORT_BAD, e.io.port);
	memcpy(&v, e.io.data, e.io.size);
	EXPECT_EQ(vector, v);
	EXPECT_EQ(ip, *grt_cb64(t, CB_BAD_IP) & 0xffffffff)
		TH_LOG("the handler saw return address 0x%llx",
		       (unsigned long long)*grt_cb64(t, CB_BAD_IP));
}

TEST_F(delivery, pf_delivered_onto_page_table_stack)
{
	SETUP(pf_on_pt_stack);
	expect_delivered(_metadata, &self->t, 14, CODE + 5);
	EXPECT_EQ(0, *(uint32_t *)tvm_ptr(&self->t, GRT_FREE)) TH_LOG("the store was done");
}

TEST_F(delivery, int3_delivered_onto_page_table_stack)
{
	SETUP(int3_on_pt_stack);
	expect_delivered(_metadata, &self->t, 3, CODE + 6);
}

TEST_F(delivery, int3_delivered_onto_fresh_stack)
{
	SETUP(int3_on_fresh_stack);
	expect_delivered(_metadata, &self->t, 3, CODE + 6);
}

TEST_F(delivery, idt_on_page_table)
{
	SETUP(int3_idt_moved);
	ASSERT_EQ(0, move_table(&self->t, false, self->pt, STK_PT));
	expect_delivered(_metadata, &self->t, 3, CODE + 13);
}

TEST_F(delivery, idt_on_fresh_page)
{
	SETUP(int3_idt_moved);
	ASSERT_EQ(0, move_table(&self->t, false, GRT_FREE + 0x1000, STK_FRESH));
	expect_delivered(_metadata, &self->t, 3, CODE + 13);
}

TEST_F(delivery, gdt_on_page_table)
{
	SETUP(int3_gdt_moved);
	ASSERT_EQ(0, move_table(&self->t, true, self->pt, STK_PT));
	expect_delivered(_metadata, &self->t, 3, CODE + 13);
}

TEST_F(delivery, gdt_on_fresh_page)
{
	SETUP(int3_gdt_moved);
	ASSERT_EQ(0, move_table(&self->t, true, GRT_FREE + 0x1000, STK_FRESH));
	expect_delivered(_metadata, &self->t, 3, CODE + 13);
}

TEST_HARNESS_MAIN
