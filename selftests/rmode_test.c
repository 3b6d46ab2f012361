// SPDX-License-Identifier: GPL-2.0
/*
 * Real mode (CR0.PE=0), which shadowvm runs in virtual-8086 mode
 * (kmod/vmx/rmode.c, Documentation/uapi.rst "Real mode"). Asserted:
 *   - SET_SREGS takes a real-mode state and GET_SREGS/GET_REGS give it
 *     back as the guest's (PE=0, the vector-table IDTR, IOPL, no VM flag);
 *   - INT n through the guest's vector table (FLAGS/CS/IP pushed, IF
 *     cleared inside the handler, IRET back), LIDT moving the table;
 *   - exceptions through the table: #DE at the faulting instruction, #UD;
 *   - an external interrupt (SHADOWVM_INTERRUPT) delivered through the
 *     table only once the guest sets IF;
 *   - port I/O (IN, OUT, REP OUTSB) as normal I/O exits; RDMSR, CPUID;
 *   - MOV from CR0 (PE=0), LGDT, MOV to CR0 setting PE and the far jump
 *     into 32-bit protected mode; the counters REALMODE_*;
 *   - refusals: real-mode segments that are not selector * 16 or whose
 *     limit is not 0xffff, PE=0 with PG=1, RUN with IP above 0xffff.
 * The AP start at a SIPI is lapic_test's init_sipi and
 * runner_platform_test's smp_ap_started_by_sipi.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

#define CODE	0x1000u		/* loaded here: CS = 0x100, IP = 0 */
#define D	0x9000u		/* results */

/* all offsets are from rm_guest: CS = 0x100 */
#define OFF(l)	"(" #l " - rm_guest)"

GUEST_CODE(rm_guest,
	".code16\n"
	"rm_guest:\n"
	"cli\n"
	"xor %ax, %ax\n mov %ax, %ds\n mov %ax, %ss\n mov $0x7000, %sp\n"
	"movw $" OFF(h80) ", 0x200\n movw $0x100, 0x202\n"	/* INT 0x80 */
	"movw $" OFF(hde) ", 0x0\n movw $0x100, 0x2\n"	/* #DE */
	"movw $" OFF(hud) ", 0x18\n movw $0x100, 0x1a\n"	/* #UD */
	"movw $" OFF(hirq) ", 0x80\n movw $0x100, 0x82\n"	/* IRQ 0x20 */
	/* INT n */
	"mov $0x1234, %ax\n int $0x80\n mov %ax, 0x9002\n"
	"pushfl\n popl %eax\n mov %eax, 0x9004\n"
	/* port I/O */
	"mov $0xab, %al\n out %al, $0x20\n"
	"in $0x21, %al\n mov %al, 0x9008\n"
	"mov $0x22, %dx\n mov $0xbeef, %ax\n out %ax, %dx\n"
	"mov $" OFF(msg) ", %si\n push %cs\n pop %ds\n mov $3, %cx\n mov $0x23, %dx\n"
	"rep outsb\n xor %ax, %ax\n mov %ax, %ds\n"
	/* RDMSR, CPUID */
	"mov $0x1b, %ecx\n rdmsr\n mov %eax, 0x900c\n"
	"xor %eax, %eax\n cpuid\n mov %ebx, 0x9010\n"
	/* #DE, #UD: the handlers step over the 2-byte instructions */
	"xor %bl, %bl\n mov $1, %ax\n div %bl\n"
	"ud2\n"
	/* an interrupt, taken only after STI */
	"out %al, $0x24\n"
	"nop\n nop\n movw $1, 0x9016\n"
	"sti\n mov $60000, %cx\n"
	"1: cmpw $0, 0x9014\n jne 2f\n loop 1b\n"
	"2: cli\n"
	/* LIDT moves the vector table: INT 0x80 now reaches h80b */
	"movw $" OFF(h80b) ", 0x600\n movw $0x100, 0x602\n"
	"lidt %cs:" OFF(idt2) "\n int $0x80\n lidt %cs:" OFF(idt0) "\n"
	/* into protected mode */
	"mov %cr0, %eax\n mov %eax, 0x901c\n"
	"lgdtl %cs:" OFF(gdtr) "\n"
	"or $1, %eax\n mov %eax, %cr0\n"
	"ljmpl $0x08, $(pm32 - rm_guest + 0x1000)\n"
	"h80: inc %ax\n mov %ax, 0x9000\n pushf\n pop %bx\n mov %bx, 0x9006\n"
	"mov $0x5678, %ax\n iret\n"
	"h80b: movw $0x80b, 0x9018\n iret\n"
	"hde: push %bp\n mov %sp, %bp\n addw $2, 2(%bp)\n pop %bp\n"
	"incw 0x900a\n iret\n"
	"hud: push %bp\n mov %sp, %bp\n addw $2, 2(%bp)\n pop %bp\n"
	"incw 0x9028\n iret\n"
	"hirq: cmpw $1, 0x9016\n jne 3f\n incw 0x9014\n 3: iret\n"
	"msg: .ascii \"rm!\"\n"
	".balign 8\n"
	"gdt: .quad 0\n .quad 0x00cf9b000000ffff\n .quad 0x00cf93000000ffff\n"
	"gdtr: .word 23\n .long gdt - rm_guest + 0x1000\n"
	"idt0: .word 0x3ff\n .long 0\n"
	"idt2: .word 0x3ff\n .long 0x400\n"
	".code32\n"
	"pm32: mov $0x10, %ax\n mov %ax, %ds\n mov %ax, %ss\n"
	"movl $0x600d, 0x9020\n"
	"mov %cr0, %eax\n mov %eax, 0x9024\n"
	"out %al, $0x10\n hlt\n");

static void real_sregs(struct be_sregs *s, uint16_t cs)
{
	struct be_segment seg = { .limit = 0xffff, .type = 3, .present = 1, .s = 1 };

	s->ds = s->es = s->fs = s->gs = s->ss = seg;
	s->cs = seg;
	s->cs.type = 0xb;
	s->cs.selector = cs;
	s->cs.base = (uint64_t)cs << 4;
	s->idt.base = 0;
	s->idt.limit = 0x3ff;
	s->cr0 = 0x10;
	s->cr4 = 0;
	s->efer = 0;
}

static uint32_t d32(struct tvm *t, uint32_t off)
{
	uint32_t v;

	memcpy(&v, tvm_ptr(t, D + off), 4);
	return v;
}

static uint16_t d16(struct tvm *t, uint32_t off)
{
	return d32(t, off) & 0xffff;
}

static uint64_t vstat(struct tvm *t, int id)
{
	struct be_stats st;

	if (be_vcpu_stats(&t->vcpu, &st) || (unsigned int)id >= st.nr)
		return ~0ULL;
	return st.val[id];
}

FIXTURE(rm) {
	struct tvm t;
};

FIXTURE_SETUP(rm)
{
	struct be_sregs s;
	struct be_regs r;

	TVM_CREATE_EX_OR_SKIP(&self->t, BE_SHADOWVM, TVM_MEM_DEFAULT, NULL, 0);
	ASSERT_EQ(0, tvm_load(&self->t, CODE, rm_guest, GUEST_SIZE(rm_guest)));
	ASSERT_EQ(0, be_get_sregs(&self->t.vcpu, &s));
	real_sregs(&s, CODE >> 4);
	ASSERT_EQ(0, be_set_sregs(&self->t.vcpu, &s));
	memset(&r, 0, sizeof(r));
	r.rip = 0;
	r.rsp = 0x7000;
	r.rflags = 0x3002;	/* IOPL 3: the guest's own, shown back as it is */
	ASSERT_EQ(0, be_set_regs(&self->t.vcpu, &r));
}

FIXTURE_TEARDOWN(rm)
{
	tvm_destroy(&self->t);
}

TEST_F(rm, state_round_trip)
{
	struct be_sregs s;
	struct be_regs r;

	ASSERT_EQ(0, be_get_sregs(&self->t.vcpu, &s));
	EXPECT_EQ(0, s.cr0 & 1);
	EXPECT_EQ(0x100, s.cs.selector);
	EXPECT_EQ(0x1000, s.cs.base);
	EXPECT_EQ(0xffff, s.cs.limit);
	EXPECT_EQ(0xb, s.cs.type);
	EXPECT_EQ(0, s.cs.dpl);
	EXPECT_EQ(3, s.ss.type);
	EXPECT_EQ(0x3ff, s.idt.limit) TH_LOG("the guest's IDTR, not the v86 stand-in");
	EXPECT_EQ(0x18, s.tr.selector) TH_LOG("the guest's TR");
	EXPECT_EQ(11, s.tr.type);
	ASSERT_EQ(0, be_get_regs(&self->t.vcpu, &r));
	EXPECT_EQ(0x3002, r.rflags) TH_LOG("RFLAGS 0x%llx: no VM flag, the guest's IOPL",
					  (unsigned long long)r.rflags);
	/* what GET gave, SET takes */
	ASSERT_EQ(0, be_set_sregs(&self->t.vcpu, &s));
	EXPECT_EQ(1, vstat(&self->t, SHADOWVM_STAT_REALMODE_ENTRIES) >= 1);
}

TEST_F(rm, runs_to_protected_mode)
{
	struct be_exit e;
	struct shadowvm_interrupt irq = { .irq = 0x20 };
	struct be_sregs s;
	int i, outs = 0;
	char str[4] = { 0 };

	for (i = 0; i < 64; i++) {
		ASSERT_EQ(0, be_run(&self->t.vcpu, &e));
		ASSERT_EQ(BE_EXIT_IO, e.reason)
			TH_LOG("exit %d at step %d (rip 0x%llx)", e.reason, i,
			       (unsigned long long)tvm_rip(&self->t));
		if (e.io.port == 0x10)
			break;
		switch (e.io.port) {
		case 0x20:
			EXPECT_EQ(BE_IO_OUT, e.io.direction);
			EXPECT_EQ(0xab, e.io.data[0]);
			break;
		case 0x21:
			EXPECT_EQ(BE_IO_IN, e.io.direction);
			e.io.data[0] = 0x5a;
			break;
		case 0x22:
			EXPECT_EQ(2, e.io.size);
			EXPECT_EQ(0xbeef, e.io.data[0] | e.io.data[1] << 8);
			break;
		case 0x23:
			ASSERT_GE(3, outs + e.io.count);
			memcpy(str + outs, e.io.data, e.io.count);
			outs += e.io.count;
			break;
		case 0x24:	/* queued now, taken only after the guest's STI */
			ASSERT_EQ(0, ioctl(self->t.vcpu.fd, SHADOWVM_INTERRUPT, &irq));
			break;
		default:
			ASSERT_EQ(0, e.io.port) TH_LOG("unexpected port 0x%x", e.io.port);
		}
	}
	ASSERT_EQ(0x10, e.io.port);
	EXPECT_EQ(0x1235, d16(&self->t, 0)) TH_LOG("INT 0x80 handler saw AX + 1");
	EXPECT_EQ(0x5678, d16(&self->t, 2)) TH_LOG("IRET came back with the handler's AX");
	EXPECT_EQ(0, d16(&self->t, 6) & 0x200) TH_LOG("IF cleared in the handler");
	EXPECT_EQ(0x3000, d32(&self->t, 4) & 0x23000)
		TH_LOG("PUSHF: IOPL 3, no VM flag (0x%x)", d32(&self->t, 4));
	EXPECT_EQ(0x5a, d32(&self->t, 8) & 0xff);
	EXPECT_STREQ("rm!", str);
	EXPECT_EQ(0xfee00000, d32(&self->t, 0xc) & 0xfffff000) TH_LOG("RDMSR APIC_BASE");
	EXPECT_NE(0, d32(&self->t, 0x10)) TH_LOG("CPUID vendor");
	EXPECT_EQ(1, d16(&self->t, 0xa)) TH_LOG("#DE through the vector table");
	EXPECT_EQ(1, d16(&self->t, 0x28)) TH_LOG("#UD through the vector table");
	EXPECT_EQ(1, d16(&self->t, 0x14)) TH_LOG("the interrupt, after STI, once");
	EXPECT_EQ(0x80b, d16(&self->t, 0x18)) TH_LOG("LIDT moved the vector table");
	EXPECT_EQ(0x10, d32(&self->t, 0x1c)) TH_LOG("MOV from CR0 in real mode");
	EXPECT_EQ(0x600d, d32(&self->t, 0x20)) TH_LOG("reached 32-bit protected mode");
	EXPECT_EQ(0x11, d32(&self->t, 0x24) & 0x11);
	EXPECT_LE(8, vstat(&self->t, SHADOWVM_STAT_REALMODE_EMULATED));
	EXPECT_LE(5, vstat(&self->t, SHADOWVM_STAT_REALMODE_INTS));
	ASSERT_EQ(0, be_get_sregs(&self->t.vcpu, &s));
	EXPECT_EQ(1, s.cr0 & 1);
	EXPECT_EQ(0x08, s.cs.selector);
	EXPECT_EQ(1, s.cs.db);
	EXPECT_EQ(0, s.idt.base);
	EXPECT_EQ(0x3ff, s.idt.limit) TH_LOG("the guest's IDTR is back in the VMCS");
}

TEST_F(rm, refusals)
{
	struct be_sregs s, bad;
	struct be_regs r;
	struct be_exit e;

	ASSERT_EQ(0, be_get_sregs(&self->t.vcpu, &s));
	bad = s;
	bad.ds.base = 0x10;			/* selector 0: not selector * 16 */
	EXPECT_EQ(-EINVAL, be_set_sregs(&self->t.vcpu, &bad));
	bad = s;
	bad.es.limit = 0xffffffff;		/* unreal mode */
	EXPECT_EQ(-EINVAL, be_set_sregs(&self->t.vcpu, &bad));
	bad = s;
	bad.cr0 |= 0x80000000;			/* PG without PE */
	EXPECT_EQ(-EINVAL, be_set_sregs(&self->t.vcpu, &bad));
	/* nothing changed by the refusals */
	ASSERT_EQ(0, be_get_sregs(&self->t.vcpu, &bad));
	EXPECT_EQ(s.ds.base, bad.ds.base);
	EXPECT_EQ(s.es.limit, bad.es.limit);
	EXPECT_EQ(s.cr0, bad.cr0);
	EXPECT_EQ(s.cs.selector, bad.cs.selector);
	ASSERT_EQ(0, be_get_regs(&self->t.vcpu, &r));
	r.rip = 0x10000;			/* IP is 16 bits */
	ASSERT_EQ(0, be_set_regs(&self->t.vcpu, &r));
	EXPECT_EQ(-EINVAL, be_run(&self->t.vcpu, &e));
}

TEST_HARNESS_MAIN
