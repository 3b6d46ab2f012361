// SPDX-License-Identifier: GPL-2.0
/*
 * lapic_test: the in-kernel xAPIC (kmod/lapic*.c, Documentation/lapic.rst).
 *
 * Guests are flat 32-bit code with paging off that reach the APIC page by
 * MMIO, record what they read at DATA and end with OUT to port 0x10; the
 * host also inspects and programs the APIC with GET/SET_LAPIC and sends
 * MSIs with SIGNAL_MSI. These tests need no interrupt injection: a guest
 * with IF=0 watches IRR. The delivery tests (IF=1, handlers, EOI order,
 * TPR/CR8 blocking, timer interrupts counted by the guest) are in the
 * second half and need the event-injection code.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

#define DATA		TVM_DATA
#define DONE_PORT	0x10
#define APIC		0xfee00000u

#define DONE		"out %al, $0x10\n"

static uint32_t d32(struct tvm *t, unsigned int off)
{
	return *(uint32_t *)tvm_ptr(t, DATA + off);
}

static uint32_t reg(const struct shadowvm_lapic_state *s, unsigned int off)
{
	uint32_t v;

	memcpy(&v, s->regs + off, 4);
	return v;
}

static void set_reg(struct shadowvm_lapic_state *s, unsigned int off, uint32_t v)
{
	memcpy(s->regs + off, &v, 4);
}

static bool vec_set(const struct shadowvm_lapic_state *s, unsigned int base, int v)
{
	return reg(s, base + (v >> 5) * 16) & (1u << (v & 31));
}

static uint64_t vstat(int fd, int id)
{
	struct shadowvm_stats st;

	memset(&st, 0, sizeof(st));
	if (ioctl(fd, SHADOWVM_GET_VCPU_STATS, &st))
		return ~0ull;
	return st.val[id];
}

#define CREATE(t) TVM_CREATE_EX_OR_SKIP(t, BE_SHADOWVM, TVM_MEM_DEFAULT, NULL, 0)

#define RUN_TO_DONE(t) do {						\
	struct be_exit __e;						\
	TVM_RUN_EXPECT(t, &__e, BE_EXIT_IO);				\
	ASSERT_EQ(DONE_PORT, __e.io.port);				\
} while (0)

#define GET(fd, s) ASSERT_EQ(0, ioctl(fd, SHADOWVM_GET_LAPIC, s))
#define SET(fd, s) ASSERT_EQ(0, ioctl(fd, SHADOWVM_SET_LAPIC, s))

/* ---- register model ---- */

GUEST_CODE(g_reset,
	"mov $0xfee00000, %esi\n"
	"mov 0x20(%esi), %eax\n mov %eax, 0x9000\n"
	"mov 0x30(%esi), %eax\n mov %eax, 0x9004\n"
	"mov 0x80(%esi), %eax\n mov %eax, 0x9008\n"
	"mov 0xa0(%esi), %eax\n mov %eax, 0x900c\n"
	"mov 0xd0(%esi), %eax\n mov %eax, 0x9010\n"
	"mov 0xe0(%esi), %eax\n mov %eax, 0x9014\n"
	"mov 0xf0(%esi), %eax\n mov %eax, 0x9018\n"
	"mov 0x320(%esi), %eax\n mov %eax, 0x901c\n"
	"mov 0x350(%esi), %eax\n mov %eax, 0x9020\n"
	"mov 0x370(%esi), %eax\n mov %eax, 0x9024\n"
	"mov 0x3e0(%esi), %eax\n mov %eax, 0x9028\n"
	"mov 0x390(%esi), %eax\n mov %eax, 0x902c\n"
	"mov $0x1b, %ecx\n rdmsr\n mov %eax, 0x9030\n mov %edx, 0x9034\n"
	"mov $1, %eax\n cpuid\n mov %ecx, 0x9038\n mov %edx, 0x903c\n"
	DONE);

TEST(reset_values)
{
	struct shadowvm_lapic_state s;
	struct tvm t;

	CREATE(&t);
	TVM_LOAD(&t, g_reset);
	RUN_TO_DONE(&t);
	EXPECT_EQ(0, d32(&t, 0x00));			/* ID of vCPU 0 */
	EXPECT_EQ(0x50014, d32(&t, 0x04));		/* version 0x14, max LVT 5 */
	EXPECT_EQ(0, d32(&t, 0x08));			/* TPR */
	EXPECT_EQ(0, d32(&t, 0x0c));			/* PPR */
	EXPECT_EQ(0, d32(&t, 0x10));			/* LDR */
	EXPECT_EQ(0xffffffff, d32(&t, 0x14));		/* DFR */
	EXPECT_EQ(0xff, d32(&t, 0x18));			/* SVR: disabled */
	EXPECT_EQ(0x10000, d32(&t, 0x1c));		/* LVT timer masked */
	EXPECT_EQ(0x10000, d32(&t, 0x20));		/* LINT0 */
	EXPECT_EQ(0x10000, d32(&t, 0x24));		/* error */
	EXPECT_EQ(0, d32(&t, 0x28));			/* divide */
	EXPECT_EQ(0, d32(&t, 0x2c));			/* current count */
	EXPECT_EQ(0xfee00900, d32(&t, 0x30));		/* APIC_BASE: EN, BSP */
	EXPECT_EQ(0, d32(&t, 0x34));
	EXPECT_TRUE(d32(&t, 0x38) & (1u << 24));	/* TSC-deadline */
	EXPECT_FALSE(d32(&t, 0x38) & (1u << 21));	/* no x2APIC */
	EXPECT_TRUE(d32(&t, 0x3c) & (1u << 9));		/* APIC */
	GET(t.vcpu.fd, &s);
	EXPECT_EQ(0x50014, reg(&s, 0x30));
	EXPECT_EQ(0xffffffff, reg(&s, 0xe0));
	tvm_destroy(&t);
}

GUEST_CODE(g_rorw,
	"mov $0xfee00000, %esi\n"
	"movl $0xffffffff, 0x30(%esi)\n"	/* LVR: read-only */
	"movl $0xffffffff, 0xa0(%esi)\n"	/* PPR */
	"movl $0xffffffff, 0x200(%esi)\n"	/* IRR */
	"movl $0xffffffff, 0x390(%esi)\n"	/* current count */
	"mov 0x30(%esi), %eax\n mov %eax, 0x9000\n"
	"mov 0xa0(%esi), %eax\n mov %eax, 0x9004\n"
	"mov 0x200(%esi), %eax\n mov %eax, 0x9008\n"
	"mov 0xb0(%esi), %eax\n mov %eax, 0x900c\n"	/* EOI: write-only */
	"movl $0x12345678, 0x80(%esi)\n"
	"mov 0x80(%esi), %eax\n mov %eax, 0x9010\n"
	"movl $0xffffffff, 0xd0(%esi)\n"
	"mov 0xd0(%esi), %eax\n mov %eax, 0x9014\n"
	"movl $0, 0xe0(%esi)\n"
	"mov 0xe0(%esi), %eax\n mov %eax, 0x9018\n"
	"mov 0x30(%esi), %al\n mov %eax, 0x901c\n"	/* narrow read */
	"movl $0x1ff, 0x0f1(%esi)\n"			/* misaligned write */
	"mov 0xf0(%esi), %eax\n mov %eax, 0x9020\n"
	DONE);

TEST(read_only_and_write_only)
{
	struct tvm t;
	uint64_t before;

	CREATE(&t);
	TVM_LOAD(&t, g_rorw);
	before = vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_UNSUPPORTED);
	RUN_TO_DONE(&t);
	EXPECT_EQ(0x50014, d32(&t, 0x00));
	EXPECT_EQ(0, d32(&t, 0x04));
	EXPECT_EQ(0, d32(&t, 0x08));
	EXPECT_EQ(0, d32(&t, 0x0c));
	EXPECT_EQ(0x78, d32(&t, 0x10));			/* TPR: bits 7:0 */
	EXPECT_EQ(0xff000000, d32(&t, 0x14));		/* LDR: bits 31:24 */
	EXPECT_EQ(0x0fffffff, d32(&t, 0x18));		/* DFR: 27:0 read 1 */
	EXPECT_EQ(0x14, d32(&t, 0x1c) & 0xff);		/* narrow read: the byte */
	EXPECT_EQ(0xff, d32(&t, 0x20));			/* misaligned write dropped */
	/* 4 read-only writes, the EOI read, the narrow read, the misaligned write */
	EXPECT_EQ(7, vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_UNSUPPORTED) - before);
	tvm_destroy(&t);
}

GUEST_CODE(g_svr,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"movl $0x20, 0x350(%esi)\n"
	"mov 0x350(%esi), %eax\n mov %eax, 0x9000\n"
	"movl $0xff, 0xf0(%esi)\n"
	"mov 0x350(%esi), %eax\n mov %eax, 0x9004\n"
	"movl $0x21, 0x350(%esi)\n"
	"mov 0x350(%esi), %eax\n mov %eax, 0x9008\n"
	"mov 0x320(%esi), %eax\n mov %eax, 0x900c\n"
	DONE);

TEST(svr_disable_masks_lvts)
{
	struct tvm t;

	CREATE(&t);
	TVM_LOAD(&t, g_svr);
	RUN_TO_DONE(&t);
	EXPECT_EQ(0x20, d32(&t, 0x00));		/* enabled: unmasked LINT0 */
	EXPECT_EQ(0x10020, d32(&t, 0x04));	/* disabling masks it */
	EXPECT_EQ(0x10021, d32(&t, 0x08));	/* and it stays masked */
	EXPECT_EQ(0x10000, d32(&t, 0x0c));
	tvm_destroy(&t);
}

GUEST_CODE(g_selfipi_poll,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"movl $0x40045, 0x300(%esi)\n"		/* self, fixed, vector 0x45 */
	"mov 0x220(%esi), %eax\n mov %eax, 0x9000\n"
	"mov 0x300(%esi), %eax\n mov %eax, 0x9004\n"
	"movl $0x50, 0x80(%esi)\n"
	"mov 0xa0(%esi), %eax\n mov %eax, 0x9008\n"
	"mov 0x90(%esi), %eax\n mov %eax, 0x900c\n"
	"movl $0x30, 0x80(%esi)\n"
	"mov 0x90(%esi), %eax\n mov %eax, 0x9010\n"
	DONE);

TEST(self_ipi_sets_irr)
{
	struct shadowvm_lapic_state s;
	struct tvm t;

	CREATE(&t);
	TVM_LOAD(&t, g_selfipi_poll);
	RUN_TO_DONE(&t);
	EXPECT_EQ(1u << 5, d32(&t, 0x00));	/* IRR bit 0x45 */
	EXPECT_EQ(0x40045, d32(&t, 0x04));	/* delivery status idle */
	EXPECT_EQ(0x50, d32(&t, 0x08));		/* PPR = TPR */
	EXPECT_EQ(0x50, d32(&t, 0x0c));		/* APR = TPR (TPR >= IRR class) */
	EXPECT_EQ(0x40, d32(&t, 0x10));		/* APR = IRR class above TPR */
	EXPECT_EQ(1, vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_IPIS));
	GET(t.vcpu.fd, &s);
	EXPECT_TRUE(vec_set(&s, 0x200, 0x45));
	EXPECT_FALSE(vec_set(&s, 0x100, 0x45));
	tvm_destroy(&t);
}

GUEST_CODE(g_esr,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"movl $0xfe, 0x370(%esi)\n"		/* error LVT: vector 0xfe */
	"movl $0x40005, 0x300(%esi)\n"		/* self IPI, illegal vector 5 */
	"mov 0x280(%esi), %eax\n mov %eax, 0x9000\n"	/* before the write: 0 */
	"movl $0, 0x280(%esi)\n"
	"mov 0x280(%esi), %eax\n mov %eax, 0x9004\n"
	"movl $0, 0x280(%esi)\n"
	"mov 0x280(%esi), %eax\n mov %eax, 0x9008\n"
	"mov 0x270(%esi), %eax\n mov %eax, 0x900c\n"
	"mov 0x220(%esi), %eax\n mov %eax, 0x9010\n"
	DONE);

TEST(esr_illegal_vector)
{
	struct tvm t;

	CREATE(&t);
	TVM_LOAD(&t, g_esr);
	RUN_TO_DONE(&t);
	EXPECT_EQ(0, d32(&t, 0x00));
	EXPECT_EQ(0x20, d32(&t, 0x04));		/* send illegal vector */
	EXPECT_EQ(0, d32(&t, 0x08));		/* cleared by the next write */
	EXPECT_EQ(1u << 30, d32(&t, 0x0c));	/* error LVT raised 0xfe */
	EXPECT_EQ(0, d32(&t, 0x10));		/* vector 5 never reached IRR */
	tvm_destroy(&t);
}

/* ---- timer ---- */

GUEST_CODE(g_oneshot,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"movl $0xb, 0x3e0(%esi)\n"		/* divide by 1 */
	"movl $0x31, 0x320(%esi)\n"		/* one-shot, vector 0x31 */
	"movl $2000000, 0x380(%esi)\n"		/* 2 ms */
	"mov 0x390(%esi), %eax\n mov %eax, 0x9000\n"
	"mov $100000, %edi\n"
	"1: mov 0x210(%esi), %eax\n test $0x20000, %eax\n jnz 2f\n dec %edi\n jnz 1b\n"
	"2: mov %edi, 0x9004\n"
	"mov 0x390(%esi), %eax\n mov %eax, 0x9008\n"
	"mov 0x380(%esi), %eax\n mov %eax, 0x900c\n"
	DONE);

TEST(timer_oneshot)
{
	struct tvm t;

	CREATE(&t);
	TVM_LOAD(&t, g_oneshot);
	RUN_TO_DONE(&t);
	EXPECT_LT(0, d32(&t, 0x00));
	EXPECT_GE(2000000, d32(&t, 0x00));
	EXPECT_LT(0, d32(&t, 0x04)) TH_LOG("the timer never set IRR");
	EXPECT_EQ(0, d32(&t, 0x08));		/* expired: current count 0 */
	EXPECT_EQ(2000000, d32(&t, 0x0c));	/* initial count kept */
	EXPECT_EQ(1, vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_TIMER_FIRES));
	tvm_destroy(&t);
}

TEST(timer_periodic_and_masked)
{
	struct shadowvm_lapic_state s;
	uint64_t f0, f1, f2;
	struct tvm t;

	CREATE(&t);
	GET(t.vcpu.fd, &s);
	set_reg(&s, 0xf0, 0x1ff);
	set_reg(&s, 0x3e0, 0xb);
	set_reg(&s, 0x320, 0x32 | (1u << 17));		/* periodic, 0x32 */
	set_reg(&s, 0x380, 1000000);			/* 1 ms */
	f0 = vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_TIMER_FIRES);
	SET(t.vcpu.fd, &s);
	usleep(30000);
	GET(t.vcpu.fd, &s);
	f1 = vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_TIMER_FIRES);
	EXPECT_LE(5, f1 - f0) TH_LOG("%llu periods in 30 ms", (unsigned long long)(f1 - f0));
	EXPECT_TRUE(vec_set(&s, 0x200, 0x32));
	EXPECT_GE(1000000, reg(&s, 0x390));		/* reloaded, still counting */
	EXPECT_LT(0, reg(&s, 0x390));
	/* masked: keeps counting and expiring, IRR stays clear */
	set_reg(&s, 0x320, 0x32 | (1u << 17) | (1u << 16));
	set_reg(&s, 0x200 + 16, 0);
	SET(t.vcpu.fd, &s);
	usleep(20000);
	GET(t.vcpu.fd, &s);
	f2 = vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_TIMER_FIRES);
	EXPECT_LE(3, f2 - f1);
	EXPECT_FALSE(vec_set(&s, 0x200, 0x32));
	EXPECT_LT(0, reg(&s, 0x390));
	tvm_destroy(&t);
}

TEST(timer_divide_config)
{
	struct shadowvm_lapic_state s;
	struct tvm t;

	CREATE(&t);
	GET(t.vcpu.fd, &s);
	set_reg(&s, 0xf0, 0x1ff);
	set_reg(&s, 0x320, 0x34 | (1u << 16));		/* one-shot, masked */
	set_reg(&s, 0x3e0, 0xa);			/* divide by 128 */
	set_reg(&s, 0x380, 1000000);			/* 128 ms */
	SET(t.vcpu.fd, &s);
	usleep(10000);
	GET(t.vcpu.fd, &s);
	EXPECT_EQ(0xa, reg(&s, 0x3e0));
	EXPECT_GT(1000000, reg(&s, 0x390));
	EXPECT_LT(500000, reg(&s, 0x390)) TH_LOG("count %u", reg(&s, 0x390));
	/* control: the same count divided by 1 is over after 1 ms */
	set_reg(&s, 0x3e0, 0xb);
	SET(t.vcpu.fd, &s);
	usleep(10000);
	GET(t.vcpu.fd, &s);
	EXPECT_EQ(0, reg(&s, 0x390));
	tvm_destroy(&t);
}

GUEST_CODE(g_deadline,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"movl $0x40033, 0x320(%esi)\n"		/* TSC-deadline, vector 0x33 */
	"movl $12345, 0x380(%esi)\n"		/* ignored in this mode */
	"mov 0x380(%esi), %eax\n mov %eax, 0x9000\n"
	"rdtsc\n add $2000000, %eax\n adc $0, %edx\n"
	"mov $0x6e0, %ecx\n wrmsr\n"
	"mov %eax, 0x9004\n mov %edx, 0x9008\n"
	"rdmsr\n mov %eax, 0x900c\n mov %edx, 0x9010\n"
	"mov 0x390(%esi), %eax\n mov %eax, 0x9014\n"
	"mov $100000, %edi\n"
	"1: mov 0x210(%esi), %eax\n test $0x80000, %eax\n jnz 2f\n dec %edi\n jnz 1b\n"
	"2: mov %edi, 0x9018\n"
	"mov $0x6e0, %ecx\n rdmsr\n mov %eax, 0x901c\n mov %edx, 0x9020\n"
	DONE);

TEST(timer_tsc_deadline)
{
	struct tvm t;

	CREATE(&t);
	TVM_LOAD(&t, g_deadline);
	RUN_TO_DONE(&t);
	EXPECT_EQ(0, d32(&t, 0x00));
	EXPECT_EQ(d32(&t, 0x04), d32(&t, 0x0c));	/* the deadline reads back */
	EXPECT_EQ(d32(&t, 0x08), d32(&t, 0x10));
	EXPECT_EQ(0, d32(&t, 0x14));			/* current count: 0 */
	EXPECT_LT(0, d32(&t, 0x18)) TH_LOG("the deadline never set IRR");
	EXPECT_EQ(0, d32(&t, 0x1c) | d32(&t, 0x20));	/* cleared when it fired */
	EXPECT_EQ(1, vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_TIMER_FIRES));
	tvm_destroy(&t);
}

/* ---- APIC base ---- */

GUEST_CODE(g_reloc,
	"mov $0x1b, %ecx\n rdmsr\n and $0xfff, %eax\n or $0xfed00000, %eax\n wrmsr\n"
	"mov $0xfed00000, %esi\n"
	"mov 0x30(%esi), %eax\n mov %eax, 0x9000\n"
	"mov $0xfee00030, %eax\n mov (%eax), %ebx\n mov %ebx, 0x9004\n"
	"mov $0x1b, %ecx\n rdmsr\n and $0xfffff7ff, %eax\n wrmsr\n"	/* EN = 0 */
	"mov $1, %eax\n cpuid\n mov %edx, 0x9008\n"
	"mov 0x30(%esi), %eax\n mov %eax, 0x900c\n"
	DONE);

TEST(apic_base_relocation_and_disable)
{
	struct shadowvm_msi msi = { .address = APIC, .data = 0x40 };
	struct be_exit e;
	struct tvm t;

	CREATE(&t);
	TVM_LOAD(&t, g_reloc);
	/* the old address is no APIC any more: an MMIO exit */
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_MMIO);
	EXPECT_EQ(0xfee00030, e.mmio.phys_addr);
	memcpy(e.mmio.data, "\xef\xbe\xad\xde", 4);
	/* disabled: the relocated page is gone too */
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_MMIO);
	EXPECT_EQ(0xfed00030, e.mmio.phys_addr);
	memset(e.mmio.data, 0, 4);
	RUN_TO_DONE(&t);
	EXPECT_EQ(0x50014, d32(&t, 0x00));
	EXPECT_EQ(0xdeadbeef, d32(&t, 0x04));
	EXPECT_FALSE(d32(&t, 0x08) & (1u << 9));	/* CPUID: no APIC */
	/* nobody accepts an MSI */
	EXPECT_EQ(0, ioctl(t.vm.fd, SHADOWVM_SIGNAL_MSI, &msi));
	tvm_destroy(&t);
}

TEST(sregs_apic_base_and_cr8)
{
	struct shadowvm_lapic_state s;
	struct be_sregs sr;
	struct be_vcpu v1;
	struct tvm t;

	CREATE(&t);
	ASSERT_EQ(0, be_create_vcpu(&t.vm, 1, &v1));
	ASSERT_EQ(0, be_get_sregs(&t.vcpu, &sr));
	EXPECT_EQ(0xfee00900, sr.apic_base);
	ASSERT_EQ(0, be_get_sregs(&v1, &sr));
	EXPECT_EQ(0xfee00800, sr.apic_base);		/* AP: no BSP flag */
	sr.cr8 = 5;
	ASSERT_EQ(0, be_set_sregs(&v1, &sr));
	GET(v1.fd, &s);
	EXPECT_EQ(0x50, reg(&s, 0x80));			/* CR8 = TPR[7:4] */
	EXPECT_EQ(1u << 24, reg(&s, 0x20));		/* APIC ID 1 */
	sr.apic_base = 0xfee00c00;			/* x2APIC enable */
	EXPECT_EQ(-EINVAL, be_set_sregs(&v1, &sr));
	sr.apic_base = 0xfee00801;			/* reserved bit */
	EXPECT_EQ(-EINVAL, be_set_sregs(&v1, &sr));
	be_destroy_vcpu(&v1);
	tvm_destroy(&t);
}

/* ---- MSIs ---- */

TEST(signal_msi)
{
	struct shadowvm_lapic_state s;
	struct shadowvm_msi m;
	struct be_vcpu v1;
	struct tvm t;
	int i;
	static const struct { uint64_t address; uint32_t data, flags; uint64_t rsvd; } bad[] = {
		{ 0xfed00000, 0x40, 0, 0 },		/* not the MSI window */
		{ 0x1fee00000ull, 0x40, 0, 0 },	/* bits 63:32 */
		{ 0xfee00010, 0x40, 0, 0 },		/* address bits 11:4 */
		{ 0xfee00001, 0x40, 0, 0 },		/* address bits 1:0 */
		{ APIC, 0x10040, 0, 0 },		/* data bits 31:16 */
		{ APIC, 0x740, 0, 0 },			/* ExtINT */
		{ APIC, 0x540, 0, 0 },			/* INIT */
		{ APIC, 0x5, 0, 0 },			/* illegal vector */
		{ APIC, 0x40, 1, 0 },			/* flags */
		{ APIC, 0x40, 0, 1 },			/* reserved */
	};

	CREATE(&t);
	ASSERT_EQ(0, be_create_vcpu(&t.vm, 1, &v1));
	for (i = 0; i < 2; i++) {
		int fd = i ? v1.fd : t.vcpu.fd;

		GET(fd, &s);
		set_reg(&s, 0xf0, 0x1ff);
		set_reg(&s, 0xd0, (i ? 0x02u : 0x01u) << 24);	/* flat logical IDs */
		SET(fd, &s);
	}
	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		memset(&m, 0, sizeof(m));
		m.address = bad[i].address;
		m.data = bad[i].data;
		m.flags = bad[i].flags;
		m.reserved[1] = bad[i].rsvd;
		errno = 0;
		EXPECT_EQ(-1, ioctl(t.vm.fd, SHADOWVM_SIGNAL_MSI, &m)) TH_LOG("case %d", i);
		EXPECT_EQ(EINVAL, errno) TH_LOG("case %d", i);
	}
	EXPECT_EQ(-1, ioctl(t.vm.fd, SHADOWVM_SIGNAL_MSI, NULL));
	EXPECT_EQ(EFAULT, errno);

	memset(&m, 0, sizeof(m));
	m.address = APIC | (1 << 12);			/* physical, APIC ID 1 */
	m.data = 0x46;
	EXPECT_EQ(1, ioctl(t.vm.fd, SHADOWVM_SIGNAL_MSI, &m));
	m.address = APIC | (7 << 12);			/* no such APIC */
	EXPECT_EQ(0, ioctl(t.vm.fd, SHADOWVM_SIGNAL_MSI, &m));
	m.address = APIC | (1 << 12) | 4;		/* logical 0x01: vCPU 0 */
	m.data = 0x47 | (1u << 15);			/* level triggered */
	EXPECT_EQ(1, ioctl(t.vm.fd, SHADOWVM_SIGNAL_MSI, &m));
	m.address = APIC | (0xff << 12);		/* broadcast */
	m.data = 0x48;
	EXPECT_EQ(2, ioctl(t.vm.fd, SHADOWVM_SIGNAL_MSI, &m));
	m.data = 0x400;					/* NMI: vector ignored */
	EXPECT_EQ(2, ioctl(t.vm.fd, SHADOWVM_SIGNAL_MSI, &m));

	GET(t.vcpu.fd, &s);
	EXPECT_FALSE(vec_set(&s, 0x200, 0x46));
	EXPECT_TRUE(vec_set(&s, 0x200, 0x47));
	EXPECT_TRUE(vec_set(&s, 0x180, 0x47));		/* TMR: level */
	EXPECT_TRUE(vec_set(&s, 0x200, 0x48));
	GET(v1.fd, &s);
	EXPECT_TRUE(vec_set(&s, 0x200, 0x46));
	EXPECT_FALSE(vec_set(&s, 0x200, 0x47));
	EXPECT_TRUE(vec_set(&s, 0x200, 0x48));
	be_destroy_vcpu(&v1);
	tvm_destroy(&t);
}

/* ---- IPIs between two vCPUs ---- */

GUEST_CODE(g_ipis,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"movl $0x01000000, 0x310(%esi)\n movl $0x50, 0x300(%esi)\n"	/* phys 1 */
	"movl $0x02000000, 0x310(%esi)\n movl $0x851, 0x300(%esi)\n"	/* logical 0x02 */
	"movl $0xc0052, 0x300(%esi)\n"					/* all but self */
	"movl $0x80053, 0x300(%esi)\n"					/* all */
	"movl $0x01000000, 0x310(%esi)\n movl $0x154, 0x300(%esi)\n"	/* lowest prio */
	DONE);

TEST(ipi_between_two_vcpus)
{
	struct shadowvm_lapic_state s;
	struct be_vcpu v1;
	struct tvm t;

	CREATE(&t);
	ASSERT_EQ(0, be_create_vcpu(&t.vm, 1, &v1));
	GET(v1.fd, &s);
	set_reg(&s, 0xf0, 0x1ff);
	set_reg(&s, 0xd0, 0x02000000);
	set_reg(&s, 0x80, 0x00);
	SET(v1.fd, &s);
	TVM_LOAD(&t, g_ipis);
	RUN_TO_DONE(&t);
	GET(v1.fd, &s);
	EXPECT_TRUE(vec_set(&s, 0x200, 0x50));
	EXPECT_TRUE(vec_set(&s, 0x200, 0x51));
	EXPECT_TRUE(vec_set(&s, 0x200, 0x52));
	EXPECT_TRUE(vec_set(&s, 0x200, 0x53));
	GET(t.vcpu.fd, &s);
	EXPECT_FALSE(vec_set(&s, 0x200, 0x50));
	EXPECT_FALSE(vec_set(&s, 0x200, 0x51));
	EXPECT_FALSE(vec_set(&s, 0x200, 0x52));
	EXPECT_TRUE(vec_set(&s, 0x200, 0x53));
	/* lowest priority, physical 1: only vCPU 1 matches */
	GET(v1.fd, &s);
	EXPECT_TRUE(vec_set(&s, 0x200, 0x54));
	EXPECT_EQ(5, vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_IPIS));
	be_destroy_vcpu(&v1);
	tvm_destroy(&t);
}

/* ---- INIT / SIPI ---- */

GUEST_CODE(g_init,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"movl $0x01000000, 0x310(%esi)\n movl $0x4500, 0x300(%esi)\n"	/* INIT */
	DONE);

GUEST_CODE(g_sipi,
	"mov $0xfee00000, %esi\n"
	"movl $0x01000000, 0x310(%esi)\n movl $0x4603, 0x300(%esi)\n"	/* SIPI 3 */
	DONE);

/*
 * The AP's start-up code at 0x3000, entered in real mode at 0300:0000:
 * it records CS and its start EDX (the processor signature) and reports
 * through a port (real-mode I/O, vmx/rmode.c).
 */
GUEST_CODE(g_ap,
	".code16\n"
	"movl $0xa9a9a9a9, 0x9100\n"
	"mov %cs, %ax\n mov %ax, 0x9104\n"
	"mov %edx, 0x9108\n"
	DONE);

struct ap_run {
	struct be_vcpu *v;
	int r;
	uint32_t reason, vector;
	volatile int done;
};

static void *ap_thread(void *arg)
{
	struct ap_run *a = arg;
	struct shadowvm_run *run = a->v->run;

	a->r = ioctl(a->v->fd, SHADOWVM_RUN, 0) ? -errno : 0;
	a->reason = run->exit_reason;
	a->vector = run->sipi.vector;
	a->done = 1;
	return NULL;
}

static void noop(int sig)
{
}

TEST(init_sipi)
{
	struct shadowvm_lapic_state s;
	struct ap_run ap = { 0 };
	struct be_sregs sr;
	struct be_regs regs;
	struct be_exit e;
	struct be_vcpu v1;
	pthread_t th;
	struct tvm t;
	int i;

	CREATE(&t);
	ASSERT_EQ(0, be_create_vcpu(&t.vm, 1, &v1));
	GET(v1.fd, &s);
	set_reg(&s, 0xf0, 0x1ff);
	set_reg(&s, 0x200 + 0x10, 1u << 5);		/* something to reset */
	SET(v1.fd, &s);
	/* a SIPI before INIT is ignored */
	TVM_LOAD(&t, g_sipi);
	RUN_TO_DONE(&t);
	TVM_LOAD(&t, g_init);
	RUN_TO_DONE(&t);
	ap.v = &v1;
	{
		struct sigaction sa = { .sa_handler = noop };	/* no SA_RESTART */

		sigaction(SIGUSR1, &sa, NULL);
	}
	ASSERT_EQ(0, pthread_create(&th, NULL, ap_thread, &ap));
	usleep(100000);
	EXPECT_EQ(0, ap.done) TH_LOG("the AP left wait-for-SIPI without a SIPI");
	/* a signal ends the wait with EINTR; RUN again waits again */
	pthread_kill(th, SIGUSR1);
	pthread_join(th, NULL);
	EXPECT_EQ(-EINTR, ap.r);
	EXPECT_EQ(SHADOWVM_EXIT_INTR, ap.reason);
	GET(v1.fd, &s);
	EXPECT_EQ(0xff, reg(&s, 0xf0));			/* INIT reset the APIC */
	EXPECT_FALSE(vec_set(&s, 0x200, 0x25));
	EXPECT_EQ(1u << 24, reg(&s, 0x20));		/* but not its ID */
	ap.done = 0;
	ASSERT_EQ(0, pthread_create(&th, NULL, ap_thread, &ap));
	usleep(50000);
	EXPECT_EQ(0, ap.done);
	TVM_LOAD(&t, g_sipi);
	RUN_TO_DONE(&t);
	for (i = 0; i < 500 && !ap.done; i++)
		usleep(10000);
	pthread_join(th, NULL);
	ASSERT_EQ(0, ap.r);
	ASSERT_EQ(SHADOWVM_EXIT_SIPI, ap.reason);
	EXPECT_EQ(3, ap.vector);
	/* the SIPI left the AP in the INIT state, real mode at 0300:0000 */
	ASSERT_EQ(0, be_get_sregs(&v1, &sr));
	EXPECT_EQ(0, sr.cr0 & 1);
	EXPECT_EQ(0x60000010, sr.cr0);
	EXPECT_EQ(0x300, sr.cs.selector);
	EXPECT_EQ(0x3000, sr.cs.base);
	EXPECT_EQ(0xffff, sr.cs.limit);
	EXPECT_EQ(0, sr.ds.selector);
	EXPECT_EQ(0, sr.efer);
	EXPECT_EQ(0, sr.cr4);
	ASSERT_EQ(0, be_get_regs(&v1, &regs));
	EXPECT_EQ(0, regs.rip);
	EXPECT_EQ(2, regs.rflags);
	memcpy(tvm_ptr(&t, ap.vector << 12), g_ap, GUEST_SIZE(g_ap));
	ASSERT_EQ(0, be_run(&v1, &e));
	ASSERT_EQ(BE_EXIT_IO, e.reason);
	EXPECT_EQ(DONE_PORT, e.io.port);
	EXPECT_EQ(0xa9a9a9a9, d32(&t, 0x100));
	EXPECT_EQ(0x300, d32(&t, 0x104) & 0xffff);
	EXPECT_NE(0, d32(&t, 0x108)) TH_LOG("EDX at start: the processor signature");
	be_destroy_vcpu(&v1);
	tvm_destroy(&t);
}

/*
 * SHADOWVM_SET_MP_STATE parks an AP in wait-for-SIPI, as after power-on:
 * RUN sleeps until a SIPI (no INIT needed), which starts it in real mode;
 * GET_MP_STATE follows; bad states and the reserved field are EINVAL.
 */
TEST(mp_state_wait_sipi)
{
	struct shadowvm_mp_state st = { .mp_state = 7 };
	struct ap_run ap = { 0 };
	struct be_exit e;
	struct be_vcpu v1;
	pthread_t th;
	struct tvm t;
	int i;

	CREATE(&t);
	ASSERT_EQ(0, be_create_vcpu(&t.vm, 1, &v1));
	ASSERT_EQ(0, ioctl(v1.fd, SHADOWVM_GET_MP_STATE, &st));
	EXPECT_EQ(SHADOWVM_MP_STATE_RUNNABLE, st.mp_state);
	st.mp_state = 2;
	EXPECT_EQ(-1, ioctl(v1.fd, SHADOWVM_SET_MP_STATE, &st));
	EXPECT_EQ(EINVAL, errno);
	st.mp_state = SHADOWVM_MP_STATE_WAIT_SIPI;
	st.reserved = 1;
	EXPECT_EQ(-1, ioctl(v1.fd, SHADOWVM_SET_MP_STATE, &st));
	EXPECT_EQ(EINVAL, errno);
	st.reserved = 0;
	ASSERT_EQ(0, ioctl(v1.fd, SHADOWVM_SET_MP_STATE, &st));
	memset(&st, 0xff, sizeof(st));
	ASSERT_EQ(0, ioctl(v1.fd, SHADOWVM_GET_MP_STATE, &st));
	EXPECT_EQ(SHADOWVM_MP_STATE_WAIT_SIPI, st.mp_state);
	EXPECT_EQ(0, st.reserved);
	memcpy(tvm_ptr(&t, 0x3000), g_ap, GUEST_SIZE(g_ap));
	ap.v = &v1;
	ASSERT_EQ(0, pthread_create(&th, NULL, ap_thread, &ap));
	usleep(100000);
	EXPECT_EQ(0, ap.done) TH_LOG("a parked AP ran without a SIPI");
	TVM_LOAD(&t, g_sipi);
	RUN_TO_DONE(&t);
	for (i = 0; i < 500 && !ap.done; i++)
		usleep(10000);
	pthread_join(th, NULL);
	ASSERT_EQ(0, ap.r);
	ASSERT_EQ(SHADOWVM_EXIT_SIPI, ap.reason);
	EXPECT_EQ(3, ap.vector);
	ASSERT_EQ(0, ioctl(v1.fd, SHADOWVM_GET_MP_STATE, &st));
	EXPECT_EQ(SHADOWVM_MP_STATE_RUNNABLE, st.mp_state);
	ASSERT_EQ(0, be_run(&v1, &e));
	ASSERT_EQ(BE_EXIT_IO, e.reason);
	EXPECT_EQ(DONE_PORT, e.io.port);
	EXPECT_EQ(0xa9a9a9a9, d32(&t, 0x100)) TH_LOG("the real-mode start code ran");
	be_destroy_vcpu(&v1);
	tvm_destroy(&t);
}

/* ---- delivery into the guest (needs vmx/inject.c) ---- */

#define CNT(v)		(0x400 + (v) * 4)	/* DATA offsets: per-vector counts */
#define LOGN		0x800			/* number of logged vectors */
#define LOG(i)		(0x804 + (i) * 4)	/* vectors in delivery order */
#define PPRSEEN(v)	(0xa00 + (v) * 4)	/* PPR inside the handler */
#define IDT_GPA		0x6000u

/*
 * Handlers: each stub pushes its vector and jumps to common, which counts
 * it, logs it, records PPR and sends EOI. The 0x40 handler also sends a
 * self-IPI 0x80 and opens a window with STI: 0x80 (higher class) must
 * preempt it before its own EOI.
 */
#define STUB(v)	".globl g_h" #v "\n g_h" #v ": push $0x" #v "\n jmp 9f\n"
GUEST_CODE(g_handlers,
	STUB(31) STUB(32) STUB(33) STUB(40) STUB(50) STUB(55) STUB(80) STUB(90)
	"9: push %eax\n push %ebx\n"
	"mov 8(%esp), %eax\n"
	"incl 0x9400(,%eax,4)\n"
	"mov 0x9800, %ebx\n mov %eax, 0x9804(,%ebx,4)\n incl 0x9800\n"
	"cmp $0x40, %eax\n jne 1f\n"
	"movl $0x40080, 0xfee00300\n sti\n nop\n nop\n nop\n cli\n"
	"1: mov 0xfee000a0, %ebx\n mov %ebx, 0x9a00(,%eax,4)\n"
	"movl $0, 0xfee000b0\n"
	"pop %ebx\n pop %eax\n add $4, %esp\n iret\n");

extern const uint8_t g_h31[], g_h32[], g_h33[], g_h40[], g_h50[], g_h55[], g_h80[], g_h90[];

#define HANDLERS_GPA	0x3000u

/* GDT at 0 (the default sregs' base), an IDT, the handlers; IF stays 0. */
static void setup_idt(struct __test_metadata *_metadata, struct tvm *t)
{
	static const struct { int v; const uint8_t *h; } hs[] = {
		{ 0x31, g_h31 }, { 0x32, g_h32 }, { 0x33, g_h33 }, { 0x40, g_h40 },
		{ 0x50, g_h50 }, { 0x55, g_h55 }, { 0x80, g_h80 }, { 0x90, g_h90 },
	};
	uint64_t *gdt = tvm_ptr(t, 0), *idt = tvm_ptr(t, IDT_GPA);
	struct be_sregs sr;
	unsigned int i;

	gdt[1] = 0x00cf9b000000ffffull;		/* 0x08: flat code */
	gdt[2] = 0x00cf93000000ffffull;		/* 0x10: flat data */
	gdt[3] = 0x00008b0000000067ull;		/* 0x18: busy TSS */
	memcpy(tvm_ptr(t, HANDLERS_GPA), g_handlers, GUEST_SIZE(g_handlers));
	memset(idt, 0, 256 * 8);
	for (i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		uint32_t a = HANDLERS_GPA + (uint32_t)(hs[i].h - g_handlers);

		/* 32-bit interrupt gate, DPL 0, present, selector 0x08 */
		idt[hs[i].v] = (a & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
			       ((uint64_t)(a >> 16) << 48);
	}
	ASSERT_EQ(0, be_get_sregs(&t->vcpu, &sr));
	sr.idt.base = IDT_GPA;
	sr.idt.limit = 256 * 8 - 1;
	ASSERT_EQ(0, be_set_sregs(&t->vcpu, &sr));
}

GUEST_CODE(g_prio,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"sti\n"
	"movl $0x40040, 0x300(%esi)\n"		/* self IPI 0x40: preempted by 0x80 */
	"nop\n nop\n"
	"cli\n"
	"movl $0x40050, 0x300(%esi)\n"		/* with IF=0: 0x50, then 0x90 */
	"movl $0x40090, 0x300(%esi)\n"
	"mov 0x220(%esi), %eax\n mov %eax, 0x9000\n"	/* IRR 64-95 */
	"mov 0x240(%esi), %eax\n mov %eax, 0x9004\n"	/* IRR 128-159 */
	"sti\n nop\n nop\n cli\n"			/* 0x90 first, then 0x50 */
	"mov 0x100(%esi), %eax\n or 0x120(%esi), %eax\n or 0x140(%esi), %eax\n"
	"mov %eax, 0x9008\n"				/* ISR empty again */
	"mov 0xa0(%esi), %eax\n mov %eax, 0x900c\n"
	DONE);

TEST(self_ipi_priority_and_eoi_order)
{
	struct tvm t;

	CREATE(&t);
	setup_idt(_metadata, &t);
	TVM_LOAD(&t, g_prio);
	RUN_TO_DONE(&t);
	ASSERT_EQ(4, d32(&t, LOGN));
	EXPECT_EQ(0x40, d32(&t, LOG(0)));
	EXPECT_EQ(0x80, d32(&t, LOG(1)));	/* higher class preempted 0x40 */
	EXPECT_EQ(0x90, d32(&t, LOG(2)));	/* highest IRR first */
	EXPECT_EQ(0x50, d32(&t, LOG(3)));
	EXPECT_EQ(0x80, d32(&t, PPRSEEN(0x80)));
	/* the 0x80 handler's EOI cleared 0x80, not 0x40 */
	EXPECT_EQ(0x40, d32(&t, PPRSEEN(0x40)));
	EXPECT_EQ(1u << 16, d32(&t, 0x00));	/* IRR 0x50 while IF=0 */
	EXPECT_EQ(1u << 16, d32(&t, 0x04));	/* IRR 0x90 */
	EXPECT_EQ(0, d32(&t, 0x08));
	EXPECT_EQ(0, d32(&t, 0x0c));
	EXPECT_EQ(4, vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_IRQS_ACCEPTED));
	EXPECT_EQ(4, vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_EOIS));
	tvm_destroy(&t);
}

GUEST_CODE(g_tpr,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"movl $0x60, 0x80(%esi)\n"		/* TPR class 6 */
	"sti\n"
	"movl $0x40055, 0x300(%esi)\n"		/* class 5: held */
	"mov $1000, %ecx\n 1: dec %ecx\n jnz 1b\n"
	"mov 0x9554, %eax\n mov %eax, 0x9000\n"	/* count[0x55] */
	"mov 0xa0(%esi), %eax\n mov %eax, 0x9004\n"
	"movl $0x50, 0x80(%esi)\n"		/* class 5: still held */
	"mov 0x9554, %eax\n mov %eax, 0x9008\n"
	"movl $0x40, 0x80(%esi)\n"		/* below: delivered */
	"nop\n"
	"mov 0x9554, %eax\n mov %eax, 0x900c\n"
	"cli\n"
	DONE);

TEST(tpr_blocks_lower_classes)
{
	struct tvm t;

	CREATE(&t);
	setup_idt(_metadata, &t);
	TVM_LOAD(&t, g_tpr);
	RUN_TO_DONE(&t);
	EXPECT_EQ(0, d32(&t, 0x00));
	EXPECT_EQ(0x60, d32(&t, 0x04));
	EXPECT_EQ(0, d32(&t, 0x08));
	EXPECT_EQ(1, d32(&t, 0x0c));
	EXPECT_EQ(0x50, d32(&t, PPRSEEN(0x55)));	/* ISR class 5 over TPR 0x40 */
	tvm_destroy(&t);
}

GUEST_CODE(g_timers,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"movl $0xb, 0x3e0(%esi)\n"
	/* one-shot, 1 ms: HLT sleeps until it */
	"movl $0x31, 0x320(%esi)\n movl $1000000, 0x380(%esi)\n"
	"1: sti\n hlt\n cli\n cmpl $1, 0x94c4\n jb 1b\n"
	"mov 0x94c4, %eax\n mov %eax, 0x9000\n"		/* count[0x31] */
	/* periodic, 1 ms: five interrupts */
	"movl $0x20032, 0x320(%esi)\n movl $1000000, 0x380(%esi)\n"
	"2: sti\n hlt\n cli\n cmpl $5, 0x94c8\n jb 2b\n"
	"movl $0x10032, 0x320(%esi)\n"			/* mask, stop */
	"movl $0, 0x380(%esi)\n"
	"mov 0x94c8, %eax\n mov %eax, 0x9004\n"
	/* TSC-deadline 1 ms ahead (at most; the host TSC rate) */
	"movl $0x40033, 0x320(%esi)\n"
	"rdtsc\n add $1000000, %eax\n adc $0, %edx\n mov $0x6e0, %ecx\n wrmsr\n"
	"3: sti\n hlt\n cli\n cmpl $1, 0x94cc\n jb 3b\n"
	"mov 0x94cc, %eax\n mov %eax, 0x9008\n"
	"mov $0x6e0, %ecx\n rdmsr\n mov %eax, 0x900c\n"
	DONE);

TEST(timer_interrupts_delivered)
{
	struct tvm t;

	CREATE(&t);
	setup_idt(_metadata, &t);
	TVM_LOAD(&t, g_timers);
	RUN_TO_DONE(&t);
	EXPECT_EQ(1, d32(&t, 0x00));		/* one-shot: once */
	EXPECT_LE(5, d32(&t, 0x04));		/* periodic: five or more, then masked */
	EXPECT_GE(7, d32(&t, 0x04));
	EXPECT_EQ(1, d32(&t, 0x08));		/* deadline: once */
	EXPECT_EQ(0, d32(&t, 0x0c));		/* and the MSR cleared */
	EXPECT_LE(7, vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_TIMER_FIRES));
	tvm_destroy(&t);
}

/*
 * MSIs from another thread while the guest runs with interrupts open and
 * exits all the time (CPUID): each must be delivered, however it falls
 * against the entry path's "nothing to inject" check, which skips the
 * IRR scan while no vector was accepted since the last scan found it
 * empty (shv_lapic_irr_empty()). The sender sends the next MSI once the
 * guest's handler counted the previous one (so none merge in IRR), and
 * stops the guest through a flag if one is not counted within 2 s.
 */
#define MSI_N		100
#define MSI_STOP	0x100		/* DATA offset: the sender's stop flag */

GUEST_CODE(g_msi_busy,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"sti\n"
	"1: xor %eax, %eax\n cpuid\n"
	"cmpl $0, 0x9100\n jne 2f\n"
	"cmpl $100, 0x9540\n jb 1b\n"		/* CNT(0x50) < MSI_N */
	"2: cli\n"
	DONE);

struct msi_sender {
	struct tvm *t;
	int fd;
	int sent, lost;
};

/* the guest's count of vector 0x50, as its handler keeps it */
static uint32_t msi_count(struct msi_sender *m)
{
	return __atomic_load_n((uint32_t *)tvm_ptr(m->t, DATA + CNT(0x50)), __ATOMIC_ACQUIRE);
}

static void *msi_send(void *arg)
{
	struct msi_sender *m = arg;
	struct shadowvm_msi msi = { .address = APIC, .data = 0x50 };
	int i, w;

	for (i = 0; i < MSI_N; i++) {
		for (w = 0; w < 20000 && msi_count(m) < (uint32_t)i; w++)
			usleep(100);
		if (msi_count(m) < (uint32_t)i) {
			m->lost = i;
			break;
		}
		if (ioctl(m->fd, SHADOWVM_SIGNAL_MSI, &msi) != 1)
			break;
		m->sent++;
	}
	for (w = 0; w < 20000 && msi_count(m) < (uint32_t)m->sent; w++)
		usleep(100);
	if (msi_count(m) < (uint32_t)m->sent && !m->lost)
		m->lost = m->sent;
	__atomic_store_n((uint32_t *)tvm_ptr(m->t, DATA + MSI_STOP), 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST(msi_from_a_thread_while_busy)
{
	struct msi_sender m = { 0 };
	pthread_t th;
	struct tvm t;

	CREATE(&t);
	setup_idt(_metadata, &t);
	TVM_LOAD(&t, g_msi_busy);
	m.t = &t;
	m.fd = t.vm.fd;
	ASSERT_EQ(0, pthread_create(&th, NULL, msi_send, &m));
	RUN_TO_DONE(&t);
	pthread_join(th, NULL);
	EXPECT_EQ(MSI_N, m.sent);
	EXPECT_EQ(0, m.lost) TH_LOG("the guest counted fewer than %d MSIs after 2 s", m.lost);
	EXPECT_EQ(MSI_N, d32(&t, CNT(0x50)));
	EXPECT_LE(MSI_N, vstat(t.vcpu.fd, SHADOWVM_STAT_LAPIC_IRQS_ACCEPTED));
	tvm_destroy(&t);
}

/* 64-bit: CR8 is the TPR, and with the TPR shadow MOV CR8 does not exit */
GUEST_CODE(g_cr8,
	".code64\n"
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%rsi)\n"
	"mov $6, %eax\n mov %rax, %cr8\n"
	"movl $0x40055, 0x300(%rsi)\n"
	"mov 0x80(%rsi), %eax\n mov %eax, 0x9000\n"
	"mov %cr8, %rax\n mov %eax, 0x9004\n"
	"sti\n"
	"mov $5, %eax\n mov %rax, %cr8\n"
	"nop\n"
	"mov 0x9554, %eax\n mov %eax, 0x9008\n"
	"mov $4, %eax\n mov %rax, %cr8\n"		/* below the threshold */
	"nop\n"
	"mov 0x9554, %eax\n mov %eax, 0x900c\n"
	"cli\n"
	"mov 0xa0(%rsi), %eax\n mov %eax, 0x9010\n"
	"out %al, $0x10\n"
	".globl g_cr8_h55\n g_cr8_h55:\n"
	"push %rax\n incl 0x9554\n mov $0xfee000b0, %eax\n movl $0, (%rax)\n pop %rax\n iretq\n"
	".code32\n");

extern const uint8_t g_cr8_h55[];

TEST(cr8_is_tpr_in_64bit_mode)
{
	uint64_t *pml4, *pdpt, *pd0, *pd3, *gdt, *idt;
	uint64_t cr_exits;
	struct be_sregs sr;
	struct tvm t;
	uint32_t h;

	CREATE(&t);
	pml4 = tvm_ptr(&t, 0x20000);
	pdpt = tvm_ptr(&t, 0x21000);
	pd0 = tvm_ptr(&t, 0x22000);
	pd3 = tvm_ptr(&t, 0x23000);
	pml4[0] = 0x21000 | 3;
	pdpt[0] = 0x22000 | 3;
	pdpt[3] = 0x23000 | 3;
	pd0[0] = 0x83;					/* 0-2 MiB */
	pd3[(0xfee00000u - 0xc0000000u) >> 21] = 0xfee00000u | 0x93;	/* APIC, PCD */
	gdt = tvm_ptr(&t, 0);
	gdt[1] = 0x00af9b000000ffffull;			/* 64-bit code */
	gdt[2] = 0x00cf93000000ffffull;
	gdt[3] = 0x00008b0000000067ull;
	idt = tvm_ptr(&t, IDT_GPA);
	memset(idt, 0, 0x1000);
	h = TVM_CODE + (uint32_t)(g_cr8_h55 - g_cr8);
	idt[0x55 * 2] = (h & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
			((uint64_t)(h >> 16) << 48);
	TVM_LOAD(&t, g_cr8);
	ASSERT_EQ(0, be_get_sregs(&t.vcpu, &sr));
	sr.cr3 = 0x20000;
	sr.cr4 = 0x20;					/* PAE */
	sr.efer = 0x500;				/* LME, LMA */
	sr.cr0 = 0x80000011;
	sr.cs.l = 1;
	sr.cs.db = 0;
	sr.idt.base = IDT_GPA;
	sr.idt.limit = 0xfff;
	ASSERT_EQ(0, be_set_sregs(&t.vcpu, &sr));
	cr_exits = vstat(t.vcpu.fd, SHADOWVM_STAT_EXIT_CR_ACCESS);
	RUN_TO_DONE(&t);
	EXPECT_EQ(0x60, d32(&t, 0x00));			/* CR8 6 = TPR 0x60 */
	EXPECT_EQ(6, d32(&t, 0x04));
	EXPECT_EQ(0, d32(&t, 0x08));			/* class 5 held by CR8 5 */
	EXPECT_EQ(1, d32(&t, 0x0c));			/* CR8 4: delivered */
	EXPECT_EQ(0x40, d32(&t, 0x10));			/* PPR = TPR after EOI */
	ASSERT_EQ(0, be_get_sregs(&t.vcpu, &sr));
	EXPECT_EQ(4, sr.cr8);
	/* the TPR shadow: no MOV CR8 exit (the CPU has the control) */
	EXPECT_EQ(0, vstat(t.vcpu.fd, SHADOWVM_STAT_EXIT_CR_ACCESS) - cr_exits);
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
