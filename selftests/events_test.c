// SPDX-License-Identifier: GPL-2.0
/*
 * events_test: interrupts, NMIs, HLT, injected-exception fidelity, guest
 * debug registers and VMCALL (vmx/inject.c, vmx/exits.c).
 *
 * Guest: flat 32-bit protected mode, paging off, its own GDT and IDT;
 * every vector goes through a stub to a common handler that logs
 * (vector, error code, EIP, EFLAGS, DR6 for #DB) at LOG, sets RF and
 * clears TF for #DB, and resumes at FIXUP when the test set one. The NMI
 * gate has its own handler that exits (OUT 0x82) with its nesting depth.
 * Each test names what it asserts; without the feature each one fails
 * (ENOTTY for the ioctls, an empty log, the wrong EIP or exit).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

#define MEM	(1u << 20)
#define GDT	0x1000u
#define IDT	0x2000u
#define STUBS	0x3000u		/* 256 x 16 bytes */
#define COMMON	0x5000u
#define NMIH	0x5800u
#define CODE	0x6000u
#define STACK	0x8000u
#define DATA	0x9000u
#define NLOG	(DATA + 0x0)	/* entries logged */
#define FIXUP	(DATA + 0x8)	/* resume EIP for the next exception, or 0 */
#define NMI_DEPTH (DATA + 0x20)
#define NMI_TOTAL (DATA + 0x24)
#define EXPECT1	(DATA + 0x40)	/* addresses the guest code computes */
#define EXPECT2	(DATA + 0x44)
#define RES1	(DATA + 0x50)	/* results */
#define RES2	(DATA + 0x54)
#define RES3	(DATA + 0x58)
#define LOG	(DATA + 0x100)	/* 32-byte entries */

struct logent {
	uint32_t vector, error, eip, eflags, dr6, pad[3];
};

GUEST_CODE(rt_common,
	"push %eax\n"
	"push %ebx\n"
	"mov 0x9000, %ebx\n"
	"shl $5, %ebx\n"
	"add $0x9100, %ebx\n"
	"mov 8(%esp), %eax\n"  "mov %eax, (%ebx)\n"
	"mov 12(%esp), %eax\n" "mov %eax, 4(%ebx)\n"
	"mov 16(%esp), %eax\n" "mov %eax, 8(%ebx)\n"
	"mov 24(%esp), %eax\n" "mov %eax, 12(%ebx)\n"
	"cmpl $1, 8(%esp)\n"
	"jne 2f\n"
	"mov %dr6, %eax\n"
	"mov %eax, 16(%ebx)\n"
	"xor %eax, %eax\n"
	"mov %eax, %dr6\n"
	"orl $0x10000, 24(%esp)\n"	/* RF: no second instruction breakpoint */
	"andl $~0x100, 24(%esp)\n"	/* TF off */
	"2: incl 0x9000\n"
	"mov 0x9008, %eax\n"
	"test %eax, %eax\n"
	"jz 3f\n"
	"mov %eax, 16(%esp)\n"
	"movl $0, 0x9008\n"
	"3: pop %ebx\n"
	"pop %eax\n"
	"add $8, %esp\n"
	"iret\n");

GUEST_CODE(rt_nmi,
	"push %eax\n"
	"incl 0x9020\n"
	"incl 0x9024\n"
	"mov 0x9020, %eax\n"
	"out %al, $0x82\n"
	"decl 0x9020\n"
	"pop %eax\n"
	"iret\n");

struct vmh {
	int dev, vm, vcpu;
	struct shadowvm_run *run;
	uint8_t *mem;
};

static uint32_t *g32(struct vmh *h, uint32_t gpa)
{
	return (uint32_t *)(h->mem + gpa);
}

static bool has_error_code(int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

static void build_runtime(uint8_t *m)
{
	uint64_t *gdt = (uint64_t *)(m + GDT);
	int v;

	gdt[1] = 0x00cf9b000000ffffULL;	/* 0x08 code */
	gdt[2] = 0x00cf93000000ffffULL;	/* 0x10 data */
	gdt[3] = 0x00cffb000000ffffULL;	/* 0x1b user code */
	gdt[4] = 0x00cff3000000ffffULL;	/* 0x23 user data */
	for (v = 0; v < 256; v++) {
		uint32_t stub = STUBS + v * 16, target = v == 2 ? NMIH : stub;
		uint8_t *s = m + stub;
		int32_t rel;

		*(uint64_t *)(m + IDT + v * 8) = (target & 0xffff) | (0x08u << 16) |
			((uint64_t)0x8e00 << 32) | ((uint64_t)(target >> 16) << 48);
		if (has_error_code(v)) {
			s[0] = 0x90;
			s[1] = 0x90;
		} else {
			s[0] = 0x6a;	/* push $0 */
			s[1] = 0x00;
		}
		s[2] = 0x68;		/* push $v */
		memcpy(s + 3, &(uint32_t){ v }, 4);
		s[7] = 0xe9;		/* jmp COMMON */
		rel = (int32_t)(COMMON - (stub + 12));
		memcpy(s + 8, &rel, 4);
	}
	memcpy(m + COMMON, rt_common, GUEST_SIZE(rt_common));
	memcpy(m + NMIH, rt_nmi, GUEST_SIZE(rt_nmi));
}

static int vmh_create(struct vmh *h, uint32_t flags, const uint8_t *code, size_t len)
{
	struct shadowvm_vm_config cfg = { .flags = flags };
	struct shadowvm_memory_region mr = { 0 };
	struct shadowvm_sregs s;
	struct shadowvm_regs r;

	memset(h, 0, sizeof(*h));
	h->dev = open(SHADOWVM_DEV, O_RDWR | O_CLOEXEC);
	if (h->dev < 0)
		return -errno;
	h->vm = ioctl(h->dev, SHADOWVM_CREATE_VM, &cfg);
	if (h->vm < 0)
		return -errno;
	h->mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->mem == MAP_FAILED)
		return -errno;
	mr.memory_size = MEM;
	mr.userspace_addr = (uintptr_t)h->mem;
	if (ioctl(h->vm, SHADOWVM_SET_MEMORY_REGION, &mr))
		return -errno;
	h->vcpu = ioctl(h->vm, SHADOWVM_CREATE_VCPU, 0);
	if (h->vcpu < 0)
		return -errno;
	h->run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, h->vcpu, 0);
	if (h->run == MAP_FAILED)
		return -errno;
	build_runtime(h->mem);
	memcpy(h->mem + CODE, code, len);
	if (ioctl(h->vcpu, SHADOWVM_GET_SREGS, &s))
		return -errno;
	s.gdt.base = GDT;
	s.gdt.limit = 0x27;
	s.idt.base = IDT;
	s.idt.limit = 0x7ff;
	if (ioctl(h->vcpu, SHADOWVM_SET_SREGS, &s))
		return -errno;
	memset(&r, 0, sizeof(r));
	r.rip = CODE;
	r.rsp = STACK;
	r.rflags = 2;
	if (ioctl(h->vcpu, SHADOWVM_SET_REGS, &r))
		return -errno;
	return 0;
}

static void vmh_destroy(struct vmh *h)
{
	if (h->run && h->run != MAP_FAILED)
		munmap(h->run, 4096);
	if (h->mem && h->mem != MAP_FAILED)
		munmap(h->mem, MEM);
	if (h->vcpu > 0)
		close(h->vcpu);
	if (h->vm > 0)
		close(h->vm);
	if (h->dev > 0)
		close(h->dev);
}

/* RUN; 0 or -errno */
static int vrun(struct vmh *h)
{
	return ioctl(h->vcpu, SHADOWVM_RUN, 0) ? -errno : 0;
}

static int irq(struct vmh *h, uint32_t vector)
{
	struct shadowvm_interrupt i = { .irq = vector };

	return ioctl(h->vcpu, SHADOWVM_INTERRUPT, &i) ? -errno : 0;
}

static uint64_t vstat(struct vmh *h, int id)
{
	struct shadowvm_stats st;

	memset(&st, 0, sizeof(st));
	if (ioctl(h->vcpu, SHADOWVM_GET_VCPU_STATS, &st))
		return ~0ULL;
	return st.val[id];
}

static struct logent *logent(struct vmh *h, int i)
{
	return (struct logent *)(h->mem + LOG + 32 * i);
}

static int io_port(struct vmh *h)
{
	return h->run->exit_reason == SHADOWVM_EXIT_IO ? h->run->io.port : -1;
}

static uint8_t io_byte(struct vmh *h)
{
	return *((uint8_t *)h->run + h->run->io.data_offset);
}

#define CREATE(h, flags, blob) do {					\
	int __r = vmh_create((h), (flags), blob, GUEST_SIZE(blob));	\
	if (__r == -ENOENT || __r == -ENODEV || __r == -ENXIO)		\
		SKIP(return, SKIP_REASON_NODEV);			\
	ASSERT_EQ(0, __r) TH_LOG("setup: %s", strerror(-__r));		\
} while (0)

#define RUN_IO(h, port) do {						\
	ASSERT_EQ(0, vrun(h));						\
	ASSERT_EQ(port, io_port(h)) TH_LOG("exit %u, expected OUT to 0x%x", \
					   (h)->run->exit_reason, port); \
} while (0)

#define RUN_EXIT(h, reason) do {					\
	ASSERT_EQ(0, vrun(h));						\
	ASSERT_EQ(reason, (h)->run->exit_reason) TH_LOG("exit %u port 0x%x", \
		(h)->run->exit_reason, io_port(h));			\
} while (0)

/* ---- interrupt windows ---- */


GUEST_CODE(g_sti_shadow,
	"cli\n"
	"movl $(0x6000 + .Lsti_b - g_sti_shadow), 0x9040\n"
	"out %al, $0x80\n"		/* queue here (IF=0) */
	"out %al, $0x81\n"		/* still IF=0: nothing delivered */
	"sti\n"
	"nop\n"				/* in the STI shadow */
	".Lsti_b: nop\n"		/* the interrupt comes before this one */
	"nop\n"
	"cli\n"
	"hlt\n");

TEST(irq_taken_after_sti_shadow)
{
	struct vmh h;

	CREATE(&h, 0, g_sti_shadow);
	RUN_IO(&h, 0x80);
	ASSERT_EQ(0, irq(&h, 0x40));
	EXPECT_EQ(0, h.run->if_flag);
	RUN_IO(&h, 0x81);
	/* IF=0: still queued, not delivered */
	EXPECT_EQ(0, *g32(&h, NLOG));
	EXPECT_EQ(0, h.run->ready_for_interrupt_injection);
	EXPECT_EQ(-EEXIST, irq(&h, 0x41));
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	ASSERT_EQ(1, *g32(&h, NLOG));
	EXPECT_EQ(0x40, logent(&h, 0)->vector);
	/* taken exactly after the instruction that follows STI */
	EXPECT_EQ(*g32(&h, EXPECT1), logent(&h, 0)->eip);
	EXPECT_EQ(1, vstat(&h, SHADOWVM_STAT_IRQ_INJECTED));
	vmh_destroy(&h);
}

GUEST_CODE(g_sti_ins,
	"movl $(0x6000 + .Lsi_detour - g_sti_ins), 0x9040\n"
	"cli\n"
	"mov $0x9200, %edi\n"
	"mov $2, %ecx\n"
	"mov $0x85, %dx\n"
	"sti\n"
	"rep insb\n"			/* in the STI shadow: an I/O exit, unfinished */
	"cli\n"
	"hlt\n"
	".Lsi_detour: out %al, $0x84\n"	/* the runner's detour */
	"hlt\n");

/*
 * The guest stops in an STI shadow: its REP INSB right after STI exits to
 * userspace unfinished (RIP still at it; blocking by STI in the VMCS). The
 * runner moves it elsewhere with IF=0 (SET_REGS): the unfinished IN is
 * void, and so is blocking by STI, which VM entry refuses with IF=0 (SDM
 * vol. 3 26.3.1.5): the next RUN reaches the detour instead of failing
 * entry. The ioctl fuzzer's finding 9 (there "FAIL_ENTRY 33", blocking
 * by STI with IF=0). With IF=1 the shadow stays and the REP INSB runs again.
 */
TEST(set_regs_if0_in_sti_shadow)
{
	struct shadowvm_regs r, at_ins;
	struct vmh h;

	CREATE(&h, 0, g_sti_ins);
	RUN_IO(&h, 0x85);
	ASSERT_EQ(SHADOWVM_EXIT_IO_IN, h.run->io.direction);
	ASSERT_EQ(0, ioctl(h.vcpu, SHADOWVM_GET_REGS, &at_ins));
	ASSERT_TRUE(at_ins.rflags & 0x200);
	r = at_ins;
	r.rip = *g32(&h, EXPECT1);	/* .Lsi_detour */
	r.rflags = 0x2;
	ASSERT_EQ(0, ioctl(h.vcpu, SHADOWVM_SET_REGS, &r));
	ASSERT_EQ(0, vrun(&h));
	ASSERT_EQ(0x84, io_port(&h))
		TH_LOG("exit %u (FAIL_ENTRY is %u), entry failure reason 0x%llx",
		       h.run->exit_reason, SHADOWVM_EXIT_FAIL_ENTRY,
		       (unsigned long long)h.run->fail_entry.hardware_entry_failure_reason);
	/* the voided IN stored nothing */
	EXPECT_EQ(0, *g32(&h, 0x9200));
	/* back to the REP INSB with IF=1: the IN runs again, whole */
	ASSERT_EQ(0, ioctl(h.vcpu, SHADOWVM_SET_REGS, &at_ins));
	RUN_IO(&h, 0x85);
	ASSERT_EQ(SHADOWVM_EXIT_IO_IN, h.run->io.direction);
	ASSERT_EQ(2, h.run->io.count);
	memset((uint8_t *)h.run + h.run->io.data_offset, 0xab, 2);
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	EXPECT_EQ(0xabab, *g32(&h, 0x9200));
	EXPECT_EQ(0, *g32(&h, NLOG));
	vmh_destroy(&h);
}

/*
 * The same stop in an STI shadow, and the runner sets TF (SET_REGS, IF
 * still 1): the shadow stays, with a single-step trap pending (VM entry
 * wants BS set in a shadow with TF=1, SDM vol. 3 26.3.1.5), as if TF had
 * been set when the STI ran. STI holds back interrupts, not debug traps,
 * so exactly one #DB (DR6.BS) comes at once, at the REP INSB (the
 * handler clears TF), which then runs once, whole.
 */
TEST(set_regs_tf_in_sti_shadow)
{
	struct shadowvm_regs r;
	struct vmh h;
	uint32_t at;

	CREATE(&h, 0, g_sti_ins);
	RUN_IO(&h, 0x85);
	ASSERT_EQ(0, ioctl(h.vcpu, SHADOWVM_GET_REGS, &r));
	at = r.rip;	/* REP INSB: f3 6c */
	ASSERT_EQ(0xf3, h.mem[r.rip]);
	ASSERT_EQ(0x6c, h.mem[r.rip + 1]);
	r.rflags |= 0x100;
	ASSERT_EQ(0, ioctl(h.vcpu, SHADOWVM_SET_REGS, &r));
	RUN_IO(&h, 0x85);
	ASSERT_EQ(2, h.run->io.count);
	memset((uint8_t *)h.run + h.run->io.data_offset, 0xcd, 2);
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	EXPECT_EQ(0xcdcd, *g32(&h, 0x9200));
	ASSERT_EQ(1, *g32(&h, NLOG)) TH_LOG("%u events logged, want one #DB",
					    *g32(&h, NLOG));
	EXPECT_EQ(1, logent(&h, 0)->vector);
	EXPECT_TRUE(logent(&h, 0)->dr6 & 0x4000)
		TH_LOG("DR6 0x%x: BS not set", logent(&h, 0)->dr6);
	EXPECT_EQ(at, logent(&h, 0)->eip);
	vmh_destroy(&h);
}

GUEST_CODE(g_movss_mmio,
	"movl $(0x6000 + .Lmm_after - g_movss_mmio), 0x9040\n"
	"mov %ss, %eax\n"
	"mov %eax, %ss\n"
	"mov 0xd0000000, %eax\n"	/* in MOV SS's shadow: an MMIO read exit */
	".Lmm_after: cli\n"
	"hlt\n");

/*
 * The runner sets RFLAGS.TF (SET_REGS) while the guest is in a MOV SS
 * shadow (an MMIO read right after MOV SS, not completed yet): the MMIO
 * read is done again, and exactly one single-step #DB (DR6.BS) follows
 * it, before the next instruction. (A probe of the ioctl fuzzer's finding
 * 9: VM entry wants the pending single-step trap to agree with TF in such
 * a shadow, SDM vol. 3 26.3.1.5; this passes on the module as it is.)
 */
TEST(set_regs_tf_in_movss_shadow)
{
	struct shadowvm_regs r;
	struct vmh h;

	CREATE(&h, 0, g_movss_mmio);
	RUN_EXIT(&h, SHADOWVM_EXIT_MMIO);
	ASSERT_EQ(0xd0000000ull, h.run->mmio.phys_addr);
	ASSERT_EQ(0, ioctl(h.vcpu, SHADOWVM_GET_REGS, &r));
	r.rflags |= 0x100;
	ASSERT_EQ(0, ioctl(h.vcpu, SHADOWVM_SET_REGS, &r));
	RUN_EXIT(&h, SHADOWVM_EXIT_MMIO);
	EXPECT_EQ(0xd0000000ull, h.run->mmio.phys_addr);
	memset(h.run->mmio.data, 0, sizeof(h.run->mmio.data));
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	ASSERT_EQ(1, *g32(&h, NLOG)) TH_LOG("%u events logged, want one #DB",
					    *g32(&h, NLOG));
	EXPECT_EQ(1, logent(&h, 0)->vector);
	EXPECT_TRUE(logent(&h, 0)->dr6 & 0x4000)
		TH_LOG("DR6 0x%x: BS not set", logent(&h, 0)->dr6);
	EXPECT_EQ(*g32(&h, EXPECT1), logent(&h, 0)->eip);
	vmh_destroy(&h);
}

GUEST_CODE(g_movss_shadow,
	"movl $(0x6000 + .Lmss_c - g_movss_shadow), 0x9040\n"
	"mov %ss, %eax\n"
	"sti\n"
	"nop\n"
	"mov %eax, %ss\n"		/* blocks interrupts for one instruction... */
	"out %al, $0x80\n"		/* ...which exits: queue here, IF=1 */
	".Lmss_c: nop\n"		/* taken before this one */
	"nop\n"
	"cli\n"
	"hlt\n");

/*
 * An interrupt queued at an exit inside the MOV-SS shadow (IF=1): the
 * exiting instruction completed, so it is delivered right after it (the
 * blocking must not survive into the entry, which would fail).
 */
TEST(irq_after_exit_in_mov_ss_shadow)
{
	struct vmh h;

	CREATE(&h, 0, g_movss_shadow);
	RUN_IO(&h, 0x80);
	EXPECT_EQ(1, h.run->if_flag);
	ASSERT_EQ(0, irq(&h, 0x44));
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	ASSERT_EQ(1, *g32(&h, NLOG));
	EXPECT_EQ(0x44, logent(&h, 0)->vector);
	EXPECT_EQ(*g32(&h, EXPECT1), logent(&h, 0)->eip);
	vmh_destroy(&h);
}

TEST(irq_window_open_protocol)
{
	struct vmh h;

	CREATE(&h, 0, g_sti_shadow);
	RUN_IO(&h, 0x80);
	/* the runner has an interrupt and asks for a window: IF=0, not yet */
	h.run->request_interrupt_window = 1;
	RUN_IO(&h, 0x81);
	EXPECT_EQ(0, h.run->ready_for_interrupt_injection);
	EXPECT_EQ(0, h.run->if_flag);
	RUN_EXIT(&h, SHADOWVM_EXIT_IRQ_WINDOW_OPEN);
	EXPECT_EQ(1, h.run->ready_for_interrupt_injection);
	EXPECT_EQ(1, h.run->if_flag);
	EXPECT_EQ(0, *g32(&h, NLOG));
	h.run->request_interrupt_window = 0;
	ASSERT_EQ(0, irq(&h, 0x42));
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	ASSERT_EQ(1, *g32(&h, NLOG));
	EXPECT_EQ(0x42, logent(&h, 0)->vector);
	EXPECT_EQ(*g32(&h, EXPECT1), logent(&h, 0)->eip);
	EXPECT_EQ(1, vstat(&h, SHADOWVM_STAT_USER_EXIT_IRQ_WINDOW));
	vmh_destroy(&h);
}

/* ---- NMI ---- */

GUEST_CODE(g_nmi,
	"cli\n"
	"out %al, $0x80\n"		/* queue an NMI here; IF stays 0 */
	"nop\n"
	"nop\n"
	"out %al, $0x81\n"
	"hlt\n");

TEST(nmi_blocked_until_iret)
{
	struct vmh h;

	CREATE(&h, 0, g_nmi);
	RUN_IO(&h, 0x80);
	ASSERT_EQ(0, ioctl(h.vcpu, SHADOWVM_NMI, 0)) TH_LOG("NMI: %s", strerror(errno));
	/* delivered with IF=0; its handler exits with depth 1 */
	RUN_IO(&h, 0x82);
	EXPECT_EQ(1, io_byte(&h));
	/* a second NMI inside the handler waits for its IRET */
	ASSERT_EQ(0, ioctl(h.vcpu, SHADOWVM_NMI, 0));
	RUN_IO(&h, 0x82);
	EXPECT_EQ(1, io_byte(&h)) TH_LOG("second NMI nested in the first");
	EXPECT_EQ(2, *g32(&h, NMI_TOTAL));
	RUN_IO(&h, 0x81);
	EXPECT_EQ(2, *g32(&h, NMI_TOTAL));
	EXPECT_EQ(0, *g32(&h, NMI_DEPTH));
	EXPECT_EQ(2, vstat(&h, SHADOWVM_STAT_NMI_INJECTED));
	vmh_destroy(&h);
}

/* ---- injected exceptions ---- */

GUEST_CODE(g_gp,
	"movl $(0x6000 + .Lgp_at - g_gp), 0x9040\n"
	"movl $(0x6000 + .Lgp_after - g_gp), 0x9008\n"
	"mov $0x4b564d00, %ecx\n"	/* an MSR nobody has */
	".Lgp_at: rdmsr\n"
	".Lgp_after: cli\n"
	"hlt\n");

TEST(injected_gp_error_code_and_rf)
{
	struct vmh h;
	struct logent *e;

	CREATE(&h, 0, g_gp);
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	ASSERT_EQ(1, *g32(&h, NLOG));
	e = logent(&h, 0);
	EXPECT_EQ(13, e->vector);
	EXPECT_EQ(0, e->error);
	/* the frame has an error code: EIP is where it belongs */
	EXPECT_EQ(*g32(&h, EXPECT1), e->eip);
	/* a fault pushes RFLAGS.RF=1 */
	EXPECT_TRUE(e->eflags & 0x10000) TH_LOG("pushed EFLAGS 0x%x", e->eflags);
	vmh_destroy(&h);
}

/* ---- HLT ---- */

GUEST_CODE(g_hlt,
	"movl $(0x6000 + .Lhlt_after - g_hlt), 0x9040\n"
	"sti\n"
	"hlt\n"
	".Lhlt_after: cli\n"
	"out %al, $0x83\n"
	"hlt\n");

struct kicker {
	struct vmh *h;
	int ms;
	int r;
};

static void *kick_thread(void *arg)
{
	struct kicker *k = arg;

	usleep(k->ms * 1000);
	k->r = irq(k->h, 0x45);
	return NULL;
}

TEST(hlt_sleeps_until_interrupt_from_other_thread)
{
	struct kicker k;
	struct timespec t0;
	pthread_t th;
	struct vmh h;

	CREATE(&h, 0, g_hlt);
	k.h = &h;
	k.ms = 300;
	k.r = -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, pthread_create(&th, NULL, kick_thread, &k));
	ASSERT_EQ(0, vrun(&h));
	pthread_join(th, NULL);
	EXPECT_EQ(0, k.r);
	ASSERT_EQ(0x83, io_port(&h)) TH_LOG("exit %u", h.run->exit_reason);
	EXPECT_LE(250, elapsed_ms(&t0));
	ASSERT_EQ(1, *g32(&h, NLOG));
	EXPECT_EQ(0x45, logent(&h, 0)->vector);
	EXPECT_EQ(*g32(&h, EXPECT1), logent(&h, 0)->eip);
	EXPECT_EQ(1, vstat(&h, SHADOWVM_STAT_HALTS_IN_KERNEL));
	EXPECT_EQ(1, vstat(&h, SHADOWVM_STAT_HALT_WAKEUPS));
	EXPECT_LE(200000000ULL, vstat(&h, SHADOWVM_STAT_HALT_NS));
	vmh_destroy(&h);
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int arm_alarm(long ms)
{
	struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = ms * 1000 } };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL))
		return -errno;
	return setitimer(ITIMER_REAL, &it, NULL) ? -errno : 0;
}

TEST(hlt_signal_eintr_then_still_halted)
{
	struct shadowvm_regs r;
	struct vmh h;
	int i;

	CREATE(&h, 0, g_hlt);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, arm_alarm(100));
		ASSERT_EQ(-EINTR, vrun(&h));
		EXPECT_EQ(SHADOWVM_EXIT_INTR, h.run->exit_reason);
		ASSERT_EQ(0, ioctl(h.vcpu, SHADOWVM_GET_REGS, &r));
		/* halted after the HLT: the guest did not go on */
		EXPECT_EQ(*g32(&h, EXPECT1), r.rip);
		EXPECT_EQ(0, *g32(&h, NLOG));
	}
	EXPECT_EQ(2, vstat(&h, SHADOWVM_STAT_HALTS_IN_KERNEL));
	ASSERT_EQ(0, irq(&h, 0x46));
	RUN_IO(&h, 0x83);
	ASSERT_EQ(1, *g32(&h, NLOG));
	EXPECT_EQ(0x46, logent(&h, 0)->vector);
	vmh_destroy(&h);
}

TEST(hlt_exits_flag_and_if0)
{
	struct vmh h;

	/* SHADOWVM_VM_HLT_EXITS: HLT with IF=1 goes to userspace */
	CREATE(&h, SHADOWVM_VM_HLT_EXITS, g_hlt);
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	EXPECT_EQ(0, vstat(&h, SHADOWVM_STAT_HALTS_IN_KERNEL));
	vmh_destroy(&h);
}

/* ---- debug registers ---- */

GUEST_CODE(g_bp,
	"movl $(0x6000 + .Lbp_x - g_bp), 0x9040\n"
	"movl $(0x6000 + .Lbp_w - g_bp), 0x9044\n"
	"mov $(0x6000 + .Lbp_x - g_bp), %eax\n"
	"mov %eax, %dr0\n"
	"mov $0x9060, %eax\n"
	"mov %eax, %dr1\n"
	"mov $0xd00005, %eax\n"	/* L0 exec; L1 write, 4 bytes */
	"mov %eax, %dr7\n"
	"nop\n"
	".Lbp_x: nop\n"			/* instruction breakpoint: fault */
	"movl $7, 0x9060\n"		/* data breakpoint: trap after it */
	".Lbp_w: nop\n"
	"xor %eax, %eax\n"
	"mov %eax, %dr7\n"
	"cli\n"
	"hlt\n");

TEST(hw_breakpoint_and_watchpoint_fire)
{
	struct vmh h;

	CREATE(&h, 0, g_bp);
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	ASSERT_EQ(2, *g32(&h, NLOG)) TH_LOG("breakpoints did not fire");
	EXPECT_EQ(1, logent(&h, 0)->vector);
	EXPECT_EQ(*g32(&h, EXPECT1), logent(&h, 0)->eip);
	EXPECT_EQ(1, logent(&h, 0)->dr6 & 0xf) TH_LOG("dr6 0x%x", logent(&h, 0)->dr6);
	EXPECT_EQ(1, logent(&h, 1)->vector);
	EXPECT_EQ(*g32(&h, EXPECT2), logent(&h, 1)->eip);
	EXPECT_EQ(2, logent(&h, 1)->dr6 & 0xf) TH_LOG("dr6 0x%x", logent(&h, 1)->dr6);
	EXPECT_EQ(7, *g32(&h, 0x9060));
	vmh_destroy(&h);
}

GUEST_CODE(g_step,
	"movl $(0x6000 + .Lstep_b - g_step), 0x9040\n"
	"pushf\n"
	"orl $0x100, (%esp)\n"
	"popf\n"
	"nop\n"				/* TF set by POPF: trap after this one */
	".Lstep_b: nop\n"
	"cli\n"
	"hlt\n");

GUEST_CODE(g_step_exit,
	"movl $(0x6000 + .Lstx_b - g_step_exit), 0x9040\n"
	"xor %eax, %eax\n"
	"pushf\n"
	"orl $0x100, (%esp)\n"
	"popf\n"
	"cpuid\n"			/* exits: the module completes it */
	".Lstx_b: nop\n"		/* the trap comes before this one */
	"nop\n"
	"cli\n"
	"hlt\n");

/* An instruction the module emulates still single-steps (DR6.BS, EIP). */
TEST(single_step_over_exiting_insn)
{
	struct vmh h;

	CREATE(&h, 0, g_step_exit);
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	ASSERT_EQ(1, *g32(&h, NLOG));
	EXPECT_EQ(1, logent(&h, 0)->vector);
	EXPECT_EQ(*g32(&h, EXPECT1), logent(&h, 0)->eip);
	EXPECT_TRUE(logent(&h, 0)->dr6 & 0x4000) TH_LOG("dr6 0x%x", logent(&h, 0)->dr6);
	vmh_destroy(&h);
}

GUEST_CODE(g_step_mmio,
	"movl $(0x6000 + .Lstm_b - g_step_mmio), 0x9040\n"
	"pushf\n"
	"orl $0x100, (%esp)\n"
	"popf\n"
	"movl $0x20, 0xfee00080\n"	/* the APIC's TPR: the module emulates it */
	".Lstm_b: nop\n"		/* the trap comes before this one */
	"nop\n"
	"mov 0xfee00080, %eax\n"
	"mov %eax, 0x9050\n"
	"cli\n"
	"hlt\n");

/*
 * An instruction the module's emulator carries out (here an MMIO write to
 * the in-kernel local APIC) single-steps too: the #DB comes after it, at
 * the next instruction, with DR6.BS, and the write took effect.
 */
TEST(single_step_over_emulated_insn)
{
	struct vmh h;

	CREATE(&h, 0, g_step_mmio);
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	EXPECT_LE(1, vstat(&h, SHADOWVM_STAT_MMIO_KERNEL));
	ASSERT_EQ(1, *g32(&h, NLOG)) TH_LOG("no single-step trap, or more than one");
	EXPECT_EQ(1, logent(&h, 0)->vector);
	EXPECT_EQ(*g32(&h, EXPECT1), logent(&h, 0)->eip);
	EXPECT_TRUE(logent(&h, 0)->dr6 & 0x4000) TH_LOG("dr6 0x%x", logent(&h, 0)->dr6);
	EXPECT_EQ(0x20, *g32(&h, RES1) & 0xff);
	vmh_destroy(&h);
}

TEST(single_step_dr6_bs)
{
	struct vmh h;

	CREATE(&h, 0, g_step);
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	ASSERT_EQ(1, *g32(&h, NLOG));
	EXPECT_EQ(1, logent(&h, 0)->vector);
	EXPECT_EQ(*g32(&h, EXPECT1), logent(&h, 0)->eip);
	EXPECT_TRUE(logent(&h, 0)->dr6 & 0x4000) TH_LOG("dr6 0x%x", logent(&h, 0)->dr6);
	vmh_destroy(&h);
}

/* ---- VMCALL ---- */

GUEST_CODE(g_vmcall,
	"mov $0x777, %eax\n"		/* unknown, outside the runner range */
	"vmcall\n"
	"mov %eax, 0x9050\n"
	"mov $0, %eax\n"		/* SHADOWVM_HC_PING */
	"vmcall\n"
	"mov %eax, 0x9054\n"
	"mov $0x10001, %eax\n"		/* runner range */
	"mov $11, %ebx\n"
	"mov $22, %ecx\n"
	"mov $33, %edx\n"
	"mov $44, %esi\n"
	"mov $55, %edi\n"
	"vmcall\n"
	"mov %eax, 0x9058\n"
	"cli\n"
	"hlt\n");

TEST(vmcall_unknown_enosys_ping)
{
	struct vmh h;

	/* without SHADOWVM_VM_USER_HYPERCALLS the runner range is unknown too */
	CREATE(&h, 0, g_vmcall);
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	EXPECT_EQ((uint32_t)SHADOWVM_HC_ENOSYS, *g32(&h, RES1));
	EXPECT_EQ(0, *g32(&h, RES2));
	EXPECT_EQ((uint32_t)SHADOWVM_HC_ENOSYS, *g32(&h, RES3));
	EXPECT_EQ(0, *g32(&h, NLOG)) TH_LOG("VMCALL raised vector %u", logent(&h, 0)->vector);
	EXPECT_EQ(3, vstat(&h, SHADOWVM_STAT_HYPERCALLS));
	vmh_destroy(&h);
}

GUEST_CODE(g_vmcall_user,
	"pushl $0x23\n"
	"pushl $0x7000\n"
	"pushl $0x3002\n"		/* IOPL 3: the OUT below works at CPL 3 */
	"pushl $0x1b\n"
	"pushl $(0x6000 + .Lvu - g_vmcall_user)\n"
	"iret\n"
	".Lvu: mov $0x23, %ebx\n"
	"mov %ebx, %ds\n"
	"mov $0, %eax\n"		/* PING, but from CPL 3 */
	"vmcall\n"
	"mov %eax, 0x9050\n"
	"out %al, $0x84\n");

TEST(vmcall_cpl3_eperm)
{
	struct vmh h;

	CREATE(&h, SHADOWVM_VM_USER_HYPERCALLS, g_vmcall_user);
	RUN_IO(&h, 0x84);
	EXPECT_EQ((uint32_t)SHADOWVM_HC_EPERM, *g32(&h, RES1));
	EXPECT_EQ(0, *g32(&h, NLOG)) TH_LOG("vector %u", logent(&h, 0)->vector);
	vmh_destroy(&h);
}

TEST(vmcall_user_exit_round_trip)
{
	struct vmh h;

	CREATE(&h, SHADOWVM_VM_USER_HYPERCALLS, g_vmcall);
	RUN_EXIT(&h, SHADOWVM_EXIT_HYPERCALL);
	EXPECT_EQ(0x10001, h.run->hypercall.nr);
	EXPECT_EQ(11, h.run->hypercall.args[0]);
	EXPECT_EQ(22, h.run->hypercall.args[1]);
	EXPECT_EQ(33, h.run->hypercall.args[2]);
	EXPECT_EQ(44, h.run->hypercall.args[3]);
	EXPECT_EQ(55, h.run->hypercall.args[4]);
	h.run->hypercall.ret = 777;
	RUN_EXIT(&h, SHADOWVM_EXIT_HLT);
	EXPECT_EQ(777, *g32(&h, RES3));
	EXPECT_EQ((uint32_t)SHADOWVM_HC_ENOSYS, *g32(&h, RES1));
	EXPECT_EQ(1, vstat(&h, SHADOWVM_STAT_USER_EXIT_HYPERCALL));
	vmh_destroy(&h);
}

/* ---- bad arguments ---- */

TEST(bad_event_ioctl_args)
{
	struct shadowvm_interrupt i = { .irq = 0x40, .reserved = 1 };
	struct vmh h;

	CREATE(&h, 0, g_sti_shadow);
	EXPECT_EQ(-1, ioctl(h.vcpu, SHADOWVM_INTERRUPT, &i));
	EXPECT_EQ(EINVAL, errno);
	i.reserved = 0;
	i.irq = 256;
	EXPECT_EQ(-1, ioctl(h.vcpu, SHADOWVM_INTERRUPT, &i));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(h.vcpu, SHADOWVM_INTERRUPT, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(h.vcpu, SHADOWVM_NMI, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, irq(&h, 0x20));
	EXPECT_EQ(-EEXIST, irq(&h, 0x21));
	/* run-page padding is still reserved */
	h.run->padding1[0] = 1;
	EXPECT_EQ(-EINVAL, vrun(&h));
	h.run->padding1[0] = 0;
	/* and the VM config flags beyond the known ones */
	{
		/* the lowest bit above the defined ones */
		struct shadowvm_vm_config cfg = { .flags = SHADOWVM_VM_FLAGS_ALL + 1 };

		EXPECT_EQ(-1, ioctl(h.dev, SHADOWVM_CREATE_VM, &cfg));
		EXPECT_EQ(EINVAL, errno);
	}
	vmh_destroy(&h);
}

TEST_HARNESS_MAIN
