// SPDX-License-Identifier: GPL-2.0
/*
 * vcpu_close_race_test: a vCPU's fd is closed while another vCPU and the
 * SHADOWVM_SIGNAL_MSI ioctl keep sending it interrupts.
 *
 * Lifetime contract under test (kmod/lapic_internal.h, kmod/lapic_ipi.c,
 * Documentation/lapic.rst): IPI and MSI senders find their targets in
 * vm->vcpus[] under rcu_read_lock(); closing a vCPU's fd (shv_vcpu_release)
 * removes it from vm->vcpus[], and shv_lapic_destroy() waits for a grace
 * period and cancels the APIC timer before the APIC page and the vCPU are
 * freed. An IPI or MSI to an APIC ID that no vCPU has is not delivered and
 * is no error: the sender's RUN goes on, SIGNAL_MSI returns 0 (APICs that
 * accepted it), and the sender's ESR stays 0 (the send-accept bits 0-3 of
 * the P6 bus are not modelled, SDM vol. 3 11.5.3).
 *
 * Threads: vCPU 0 (the sender) runs a guest that writes the ICR in a loop,
 * fixed IPI vector 0x60 to physical APIC ID 1, counting at SENT, until the
 * host sets STOP. An MSI thread sends vector 0x61 to APIC ID 1 with
 * SIGNAL_MSI. The main thread, for each generation, creates vCPU 1 again
 * (the same id: a closed id can be created again), gives it an IDT, runs
 * it until it has taken RECV_TARGET IPIs/MSIs (its handler counts at RECV
 * and sends EOI) or its spin budget ends, with its APIC timer armed
 * (periodic, 100 us, the shortest period), then closes its fd and unmaps
 * its run page while the senders go on and the timer is still armed. The
 * test VM has one CPU: the threads interleave by preemption, so the test
 * logs how many closes had an IPI or MSI sent during them ("overlaps"),
 * how many IPIs found no vCPU 1, and follows lib/concurrency.h for the
 * parallelism note.
 *
 * Asserts: every RUN and SIGNAL_MSI succeeds (MSI returns 0 or 1); vCPU 1
 * took interrupts in at least one generation; vCPU 0 finishes its loop and
 * reports ESR 0 with the ICR idle; the module's live VM/vCPU/page/object
 * counters are back at their baseline after the VM is closed; no new
 * kernel warning in /dev/kmsg. VCPU_CLOSE_RACE_GENERATIONS overrides the
 * number of generations (default 100).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "concurrency.h"

#define DONE_PORT	0x10
#define APIC		0xfee00000u

/* guest memory */
#define RECV_CODE	0x2000u
#define HANDLER_GPA	0x3000u
#define IDT_GPA		0x6000u
#define RECV_STACK	0x7000u
#define SENT		0x9000u		/* IPIs vCPU 0 sent */
#define STOP		0x9004u		/* host: vCPU 0, stop */
#define ESR_SEEN	0x9008u		/* vCPU 0's ESR at the end */
#define ICR_SEEN	0x900cu		/* vCPU 0's ICR low at the end */
#define RECV		0x9010u		/* IPIs+MSIs vCPU 1 took, this generation */
#define TICKS		0x9014u		/* its APIC timer's interrupts, this generation */
#define TIMER_HANDLER	(HANDLER_GPA + 0x100)

#define IPI_VEC		0x60
#define MSI_VEC		0x61
#define TIMER_VEC	0x62
#define RECV_TARGET	4
#define RECV_SPIN	200000
#define DEF_GENERATIONS	100

/* vCPU 0: fixed IPIs to physical APIC ID 1 until STOP */
GUEST_CODE(g_sender,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"movl $0x01000000, 0x310(%esi)\n"	/* ICR2: destination 1 */
	"1: movl $0x4060, 0x300(%esi)\n"	/* fixed, assert, vector 0x60 */
	"incl 0x9000\n"
	"cmpl $0, 0x9004\n"
	"je 1b\n"
	"movl $0, 0x280(%esi)\n"		/* latch ESR */
	"mov 0x280(%esi), %eax\n mov %eax, 0x9008\n"
	"mov 0x300(%esi), %eax\n mov %eax, 0x900c\n"
	"out %al, $0x10\n");

/*
 * vCPU 1: arms its APIC timer (periodic, 100 us, vector 0x62: the close
 * must cancel it), IF=1, spins (ECX iterations) until RECV_TARGET IPIs
 * or MSIs
 */
GUEST_CODE(g_receiver,
	"mov $0xfee00000, %esi\n"
	"movl $0x1ff, 0xf0(%esi)\n"
	"movl $0xb, 0x3e0(%esi)\n"		/* divide by 1 */
	"movl $0x20062, 0x320(%esi)\n"		/* periodic, vector 0x62 */
	"movl $100000, 0x380(%esi)\n"		/* 100 us */
	"sti\n"
	"1: cmpl $4, 0x9010\n"
	"jae 2f\n"
	"dec %ecx\n"
	"jnz 1b\n"
	"2: cli\n"
	"out %al, $0x10\n");

GUEST_CODE(g_handler,
	"incl 0x9010\n"
	"movl $0, 0xfee000b0\n"			/* EOI */
	"iret\n");

GUEST_CODE(g_timer_handler,
	"incl 0x9014\n"
	"movl $0, 0xfee000b0\n"
	"iret\n");

struct race {
	struct tvm t;
	volatile int stop_msi;
	/* MSI thread results */
	unsigned long msi_sent, msi_accepted, msi_missed, msi_bad;
	int msi_errno;
	/* sender thread results */
	int send_err;
	struct be_exit send_exit;
	unsigned long send_runs;
	volatile int send_done;
	struct conc *conc;
};

static volatile uint32_t *g32(struct tvm *t, uint32_t gpa)
{
	return (volatile uint32_t *)tvm_ptr(t, gpa);
}

static void *sender_fn(void *arg)
{
	struct race *r = arg;
	struct be_exit e;
	int ret;

	conc_join(r->conc);
	for (;;) {
		ret = be_run(&r->t.vcpu, &e);
		r->send_runs++;
		if (ret == -EINTR)
			continue;
		if (ret) {
			r->send_err = ret;
			break;
		}
		r->send_exit = e;
		break;
	}
	r->send_done = 1;
	return NULL;
}

static void *msi_fn(void *arg)
{
	struct race *r = arg;
	struct shadowvm_msi m;
	int ret;

	conc_join(r->conc);
	while (!r->stop_msi) {
		memset(&m, 0, sizeof(m));
		m.address = APIC | (1u << 12);		/* physical, APIC ID 1 */
		m.data = MSI_VEC;
		ret = ioctl(r->t.vm.fd, SHADOWVM_SIGNAL_MSI, &m);
		__atomic_add_fetch(&r->msi_sent, 1, __ATOMIC_RELAXED);
		if (ret == 1) {
			r->msi_accepted++;
		} else if (ret == 0) {
			r->msi_missed++;
		} else {
			r->msi_bad++;
			r->msi_errno = ret < 0 ? errno : 0;
		}
		if (!(r->msi_sent & 15))
			usleep(100);
	}
	return NULL;
}

static unsigned long sent_now(struct race *r)
{
	return *g32(&r->t, SENT) +
	       __atomic_load_n(&r->msi_sent, __ATOMIC_RELAXED);
}

/* kernel log records of problems since the fd was opened */
static int kmsg_problems(int fd, char *first, size_t len)
{
	static const char *const pat[] = {
		"WARNING:", "BUG:", "general protection", "Oops", "Call Trace",
		"KASAN", "UBSAN", "refcount_t", "list_add corruption",
		"list_del corruption", "soft lockup", "hung task", "stall",
	};
	char rec[2048];
	unsigned int i;
	ssize_t n_read;
	int n = 0;

	first[0] = 0;
	if (fd < 0)
		return 0;
	for (;;) {
		n_read = read(fd, rec, sizeof(rec) - 1);
		if (n_read < 0) {
			if (errno == EPIPE)
				continue;
			break;
		}
		rec[n_read] = 0;
		for (i = 0; i < sizeof(pat) / sizeof(pat[0]); i++)
			if (strstr(rec, pat[i])) {
				if (!n++) {
					size_t l = strlen(rec);

					if (l >= len)
						l = len - 1;
					memcpy(first, rec, l);
					first[l] = 0;
				}
				printf("# kernel: %s", strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
				break;
			}
	}
	return n;
}

static void log_preemption(struct __test_metadata *_metadata)
{
	char model[64];

	conc_preempt_model(model, sizeof(model));
	TH_LOG("preemption model: %s%s", model[0] ? model : "unknown",
	       strstr(model, "(full)") ? "" :
	       " (not full: on one CPU a sender is not preempted inside its RCU read section; boot with preempt=full for that window)");
}

/* GDT at 0 (the reset GDTR's base) and an IDT with the two vectors */
static void write_tables(struct tvm *t)
{
	uint64_t *gdt = tvm_ptr(t, 0), *idt = tvm_ptr(t, IDT_GPA);
	uint64_t gate, tgate;

	gdt[1] = 0x00cf9b000000ffffull;		/* 0x08: flat code */
	gdt[2] = 0x00cf93000000ffffull;		/* 0x10: flat data */
	gdt[3] = 0x00008b0000000067ull;		/* 0x18: busy TSS */
	memcpy(tvm_ptr(t, HANDLER_GPA), g_handler, GUEST_SIZE(g_handler));
	memcpy(tvm_ptr(t, TIMER_HANDLER), g_timer_handler, GUEST_SIZE(g_timer_handler));
	memcpy(tvm_ptr(t, RECV_CODE), g_receiver, GUEST_SIZE(g_receiver));
	memset(idt, 0, 256 * 8);
	/* 32-bit interrupt gate, DPL 0, present, selector 0x08 */
	gate = (HANDLER_GPA & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
	       ((uint64_t)(HANDLER_GPA >> 16) << 48);
	tgate = (TIMER_HANDLER & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
		((uint64_t)(TIMER_HANDLER >> 16) << 48);
	idt[IPI_VEC] = gate;
	idt[MSI_VEC] = gate;
	idt[TIMER_VEC] = tgate;
}

/* 0, or -errno / a positive step number on failure */
static int setup_receiver(struct be_vcpu *v)
{
	struct be_sregs sr;
	struct be_regs regs;
	int ret;

	ret = be_get_sregs(v, &sr);
	if (ret)
		return ret;
	sr.idt.base = IDT_GPA;
	sr.idt.limit = 256 * 8 - 1;
	ret = be_set_sregs(v, &sr);
	if (ret)
		return ret;
	ret = be_get_regs(v, &regs);
	if (ret)
		return ret;
	regs.rip = RECV_CODE;
	regs.rsp = RECV_STACK;
	regs.rflags = 0x2;
	regs.rcx = RECV_SPIN;
	return be_set_regs(v, &regs);
}

TEST(close_vcpu_under_ipis_and_msis)
{
	struct svm_counters base, now;
	unsigned long gens, g, overlaps = 0, gens_recv = 0, recv_total = 0;
	unsigned long gap_ipis = 0, close_ipis = 0, last_destroyed = 0;
	unsigned long ticks_total = 0;
	pthread_t th_send, th_msi;
	struct conc_span span;
	struct conc conc;
	struct race *r;
	char diff[256], first[512];
	const char *env;
	int kfd, ret, probs;

	gens = DEF_GENERATIONS;
	env = getenv("VCPU_CLOSE_RACE_GENERATIONS");
	if (env && *env)
		gens = strtoul(env, NULL, 0);
	ASSERT_LT(0, gens);
	log_preemption(_metadata);

	r = calloc(1, sizeof(*r));
	ASSERT_NE(NULL, r);
	TVM_CREATE_EX_OR_SKIP(&r->t, BE_SHADOWVM, TVM_MEM_DEFAULT, NULL, 0);
	ret = svm_debugfs_ready();
	if (ret) {
		tvm_destroy(&r->t);
		free(r);
		SKIP(return, "no shadowvm debugfs (%s): leak accounting unavailable",
		     strerror(-ret));
	}
	kfd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kfd >= 0)
		lseek(kfd, 0, SEEK_END);
	else
		TH_LOG("no /dev/kmsg (%s): the kernel log is not checked", strerror(errno));

	/* the baseline: no VM of this test */
	tvm_destroy(&r->t);
	ASSERT_EQ(0, svm_read_counters(&base));
	TVM_CREATE_EX_OR_SKIP(&r->t, BE_SHADOWVM, TVM_MEM_DEFAULT, NULL, 0);
	write_tables(&r->t);
	TVM_LOAD(&r->t, g_sender);

	conc_init(&conc, 3);
	r->conc = &conc;
	ASSERT_EQ(0, pthread_create(&th_send, NULL, sender_fn, r));
	ASSERT_EQ(0, pthread_create(&th_msi, NULL, msi_fn, r));
	conc_join(&conc);

	conc_span_begin(&conc, &span);
	for (g = 0; g < gens && !r->send_done; g++) {
		struct be_vcpu v1;
		struct be_exit e;
		unsigned long s0, s1;
		uint32_t got;

		if (g)
			gap_ipis += *g32(&r->t, SENT) - last_destroyed;
		*g32(&r->t, RECV) = 0;
		*g32(&r->t, TICKS) = 0;
		ret = be_create_vcpu(&r->t.vm, 1, &v1);
		ASSERT_EQ(0, ret) TH_LOG("generation %lu: creating vCPU 1: %s",
					 g, strerror(-ret));
		ret = setup_receiver(&v1);
		ASSERT_EQ(0, ret) TH_LOG("generation %lu: vCPU 1 state: %s",
					 g, strerror(-ret));
		do {
			ret = be_run(&v1, &e);
		} while (ret == -EINTR);
		ASSERT_EQ(0, ret) TH_LOG("generation %lu: vCPU 1 RUN: %s",
					 g, strerror(-ret));
		ASSERT_EQ(BE_EXIT_IO, e.reason)
			TH_LOG("generation %lu: vCPU 1 exit %s (raw %u)", g,
			       be_exit_name(e.reason), e.raw_reason);
		ASSERT_EQ(DONE_PORT, e.io.port);
		got = *g32(&r->t, RECV);
		recv_total += got;
		gens_recv += got > 0;
		ticks_total += *g32(&r->t, TICKS);
		/* close the fd and unmap the run page while they send */
		s0 = sent_now(r);
		be_destroy_vcpu(&v1);
		s1 = sent_now(r);
		last_destroyed = *g32(&r->t, SENT);
		if (s1 != s0) {
			overlaps++;
			close_ipis += s1 - s0;
		}
		if (!(g & 7))
			sched_yield();		/* let the sender run while ID 1 is gone */
	}
	conc_span_end(&conc, &span);
	ASSERT_EQ(0, r->send_done) TH_LOG("vCPU 0 stopped early: err %d, exit %s",
					  r->send_err, be_exit_name(r->send_exit.reason));

	/* the senders keep going a little with nobody at APIC ID 1 */
	usleep(20000);
	*g32(&r->t, STOP) = 1;
	r->stop_msi = 1;
	ASSERT_EQ(0, pthread_join(th_send, NULL));
	ASSERT_EQ(0, pthread_join(th_msi, NULL));

	TH_LOG("%lu generations of vCPU 1; %lu took IPIs/MSIs (%lu in all); %lu timer interrupts",
	       g, gens_recv, recv_total, ticks_total);
	TH_LOG("%lu closes overlapped sending (%lu IPIs+MSIs sent during closes); %lu IPIs sent while ID 1 was absent between generations",
	       overlaps, close_ipis, gap_ipis);
	TH_LOG("vCPU 0 sent %u IPIs in %lu RUN calls; MSIs: %lu sent, %lu accepted, %lu to nobody",
	       *g32(&r->t, SENT), r->send_runs, r->msi_sent, r->msi_accepted,
	       r->msi_missed);
	CONC_EXPECT_PARALLEL(&conc, "sender, MSI and closing threads");
	conc_destroy(&conc);

	EXPECT_EQ(gens, g);
	EXPECT_EQ(0, r->send_err) TH_LOG("vCPU 0 RUN: %s", strerror(-r->send_err));
	EXPECT_EQ(BE_EXIT_IO, r->send_exit.reason)
		TH_LOG("vCPU 0 exit %s (raw %u)", be_exit_name(r->send_exit.reason),
		       r->send_exit.raw_reason);
	EXPECT_EQ(DONE_PORT, r->send_exit.io.port);
	EXPECT_EQ(0, *g32(&r->t, ESR_SEEN)) TH_LOG("IPIs to a missing APIC ID set ESR");
	EXPECT_EQ(0x4060, *g32(&r->t, ICR_SEEN)) TH_LOG("ICR not idle at the end");
	EXPECT_LT(0, *g32(&r->t, SENT));
	EXPECT_EQ(0, r->msi_bad) TH_LOG("SIGNAL_MSI failed: %s", strerror(r->msi_errno));
	EXPECT_LT(0, gens_recv) TH_LOG("vCPU 1 never took an IPI or MSI");

	tvm_destroy(&r->t);
	ret = svm_wait_counters(&base, &now, 5000);
	svm_counters_diff(&base, &now, diff, sizeof(diff));
	EXPECT_EQ(0, ret) TH_LOG("module counters not back to baseline: %s", diff);

	probs = kmsg_problems(kfd, first, sizeof(first));
	EXPECT_EQ(0, probs) TH_LOG("kernel log: %s", first);
	if (kfd >= 0)
		close(kfd);
	free(r);
}

TEST_HARNESS_MAIN
