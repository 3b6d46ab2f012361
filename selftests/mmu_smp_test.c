// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_smp_test: two vCPUs on one shadow MMU, under each MMU policy, in long
 * mode and 32-bit paging.
 *
 * vCPU 0 runs the runtime and remaps a page X (GRT_PROC_LA) again and
 * again (its PTE to
 * one of four frames), then publishes a sequence number; vCPU 1, in its own
 * thread, waits for each number, INVLPGs X, reads it and acknowledges. Each
 * read must see the frame of that round: the shadow entry vCPU 1's hardware
 * TLB and shadow walk use must follow a page-table write made on the other
 * vCPU. same_address_space: both vCPUs use the same CR3. other_address_space:
 * vCPU 1 runs a process whose page table maps X and vCPU 0 the kernel space
 * (which does not map X), editing the process's PTE through the kernel map.
 * With 2 or more online CPUs, both vCPU threads must have run at the same
 * instant (lib/concurrency.h); with one CPU that is logged and skipped.
 *
 * large_first_touch_long_mode: both vCPUs touch a 2 MiB guest page over a
 * transparent huge page for the first time at once (vCPU 0 right after it
 * lets vCPU 1 go), so both may fault on it and pin its region together
 * (pin.c: the region pin under the slot's pin_lock); each must read the
 * right frames, the module must hold exactly one region pin for it while
 * the VM lives and none after, with its accounting back to the baseline.
 * Skipped (environment) when the host gave the guest RAM no huge page.
 *
 * large_touch_vs_slot_delete_long_mode: a slot deletion races the region
 * pin of a vCPU's faults (see the comment before it).
 *
 * Waiting: with 2 or more online CPUs (make check-smp) both vCPUs spin
 * with PAUSE only, so each runs in the guest while the other writes. With
 * one CPU (make check) the thread waited for cannot run until the waiter's
 * time slice ends, so a spin would only burn that slice (two per round,
 * ~15 s of Bochs per case); there each miss OUTs to a yield port and the
 * vCPU's thread calls sched_yield() before re-entering. On one CPU the
 * other vCPU's page-table write happens while this vCPU is out of the
 * guest either way (before, a host timer tick had to exit it first); the
 * rounds, the writes and the reads are the same.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"
#include "concurrency.h"

#define MEM_SIZE	(8u << 20)
#define FRAMES		0x300000ULL	/* four frames */
#define RESULT		0xc000		/* u32 per round */
#define SEQ		0xc800
#define ACK		0xc804
#define READY		0xc808
#define V1_CODE		0x6000
#define V1_STACK	0x6ff0
#define ROUNDS		24

/* vCPU 1: for each new SEQ: invlpg X (in RSI), RESULT[seq] = *X, ACK = seq;
 * RDI != 0: OUT to GRT_PORT_YIELD (0xf6) after each miss (one CPU)
 */
GUEST_CODE(reader64,
	".code64\n"
	"xor %ebx, %ebx\n"
	"1: mov 0xc800, %ecx\n"
	"cmp %ebx, %ecx\n"
	"jne 2f\n"
	"pause\n"
	"test %edi, %edi\n"
	"jz 1b\n"
	"out %al, $0xf6\n"
	"jmp 1b\n"
	"2: mov %ecx, %ebx\n"
	"invlpg (%rsi)\n"
	"mov (%rsi), %edx\n"
	"mov %edx, 0xc000(,%rcx,4)\n"
	"mov %ecx, 0xc804\n"
	"cmp $24, %ecx\n"
	"jne 1b\n"
	"hlt\n"
	"jmp 1b\n"
	".code32\n");

GUEST_CODE(reader32,
	"xor %ebx, %ebx\n"
	"1: mov 0xc800, %ecx\n"
	"cmp %ebx, %ecx\n"
	"jne 2f\n"
	"pause\n"
	"test %edi, %edi\n"
	"jz 1b\n"
	"out %al, $0xf6\n"
	"jmp 1b\n"
	"2: mov %ecx, %ebx\n"
	"invlpg (%esi)\n"
	"mov (%esi), %edx\n"
	"mov %edx, 0xc000(,%ecx,4)\n"
	"mov %ecx, 0xc804\n"
	"cmp $24, %ecx\n"
	"jne 1b\n"
	"hlt\n"
	"jmp 1b\n");

/*
 * vCPU 1, long mode: READY = 1, wait for SEQ == 1 (RDI != 0: OUT to the
 * yield port after each miss), then read the 2 MiB page at RSI (offsets 0x1000 and
 * 0x1ff000) into RESULT[0..1], ACK = 1, HLT
 */
GUEST_CODE(toucher64,
	".code64\n"
	"movl $1, 0xc808\n"
	"1: mov 0xc800, %ecx\n"
	"cmp $1, %ecx\n"
	"je 2f\n"
	"pause\n"
	"test %edi, %edi\n"
	"jz 1b\n"
	"out %al, $0xf6\n"
	"jmp 1b\n"
	"2: mov 0x1000(%rsi), %edx\n"
	"mov %edx, 0xc000\n"
	"mov 0x1ff000(%rsi), %edx\n"
	"mov %edx, 0xc004\n"
	"movl $1, 0xc804\n"
	"hlt\n"
	"jmp 2b\n"
	".code32\n");

FIXTURE(smp) {
	int unused;
};

POLICY_VARIANTS(smp);

FIXTURE_SETUP(smp)
{
}

FIXTURE_TEARDOWN(smp)
{
}

struct reader {
	struct be_vcpu *v;
	struct be_exit e;
	int ret;
	struct conc *conc;
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	struct conc_span span;

	conc_join(r->conc);
	conc_span_begin(r->conc, &span);
	for (;;) {
		r->ret = be_run(r->v, &r->e);
		if (r->ret || r->e.reason != BE_EXIT_IO)
			break;
		if (r->e.io.port == GRT_PORT_YIELD)
			sched_yield();
	}
	conc_span_end(r->conc, &span);
	return NULL;
}

/*
 * vCPU 1 (vCPU 0's segment state, CR3 cr3; RIP V1_CODE, RSP V1_STACK,
 * RSI rsi, RDI yield) in its own thread while vCPU 0 runs the script s:
 * vCPU 0 must reach END and vCPU 1 HLT, and on 2 or more CPUs both must
 * have run at the same instant.
 */
static void run_two(struct __test_metadata *_metadata, struct tvm *t,
		    struct grt_script *s, uint64_t cr3, uint64_t rsi, int yield)
{
	struct conc_span span;
	struct be_sregs sr;
	struct be_regs regs;
	struct be_vcpu v1;
	struct reader rd;
	struct conc conc;
	char err[256];
	pthread_t th;
	int r;

	r = be_create_vcpu(&t->vm, 1, &v1);
	ASSERT_EQ(0, r) TH_LOG("creating vCPU 1: %s", strerror(-r));
	ASSERT_EQ(0, be_get_sregs(&t->vcpu, &sr));
	sr.cr3 = cr3;
	ASSERT_EQ(0, be_set_sregs(&v1, &sr));
	ASSERT_EQ(0, be_get_regs(&v1, &regs));
	regs.rip = V1_CODE;
	regs.rsp = V1_STACK;
	regs.rsi = rsi;
	regs.rdi = yield;
	regs.rflags = 2;
	ASSERT_EQ(0, be_set_regs(&v1, &regs));
	memset(&rd, 0, sizeof(rd));
	rd.v = &v1;
	conc_init(&conc, 2);
	rd.conc = &conc;
	ASSERT_EQ(0, pthread_create(&th, NULL, reader_thread, &rd));
	conc_join(&conc);
	conc_span_begin(&conc, &span);
	r = grt_exec(t, s, err, sizeof(err));
	conc_span_end(&conc, &span);
	pthread_join(th, NULL);
	CONC_EXPECT_PARALLEL(&conc, "vCPU 0 and vCPU 1");
	conc_destroy(&conc);
	ASSERT_EQ(0, r) TH_LOG("vCPU 0: %s", err);
	ASSERT_EQ(0, rd.ret) TH_LOG("vCPU 1: RUN failed: %s", strerror(-rd.ret));
	ASSERT_EQ(BE_EXIT_HLT, rd.e.reason)
		TH_LOG("vCPU 1 stopped with %s", be_exit_name(rd.e.reason));
	be_destroy_vcpu(&v1);
}

static uint32_t frame_sig(int i)
{
	return 0x5e900000u + i;
}

static void two_vcpus(struct __test_metadata *_metadata, uint32_t policy,
		      enum gp_mode mode, bool other_as)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP };
	enum be_kind kind = tvm_default_kind();
	const uint64_t f = GP_P | GP_W | GP_A | GP_D;
	const uint64_t X = GRT_PROC_LA(mode);
	struct gp kern, proc, *owner;
	struct grt_script s;
	uint64_t pte;
	struct tvm t;
	int i, r;
	/* one CPU: yield instead of spinning out the time slice */
	const int yield = conc_online_cpus() < 2;

	r = grt_create(&t, kind, MEM_SIZE, policy, 0, 0);
	if (tvm_no_device(r))
		SKIP(return, "%s backend device missing", be_ops_by_kind(kind)->name);
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	ASSERT_EQ(0, gp_init(&kern, t.mem, MEM_SIZE, mode, GRT_POOL,
			     GRT_POOL_SIZE));
	owner = &kern;
	if (other_as) {
		ASSERT_EQ(0, gp_init_shared(&proc, &kern, mode));
		owner = &proc;
	}
	ASSERT_EQ(0, gp_map(owner, X, FRAMES, GP_4K, GP_4K, f));
	pte = gp_entry_gpa(owner, X, 1, false);
	for (i = 0; i < 4; i++)
		*(uint32_t *)tvm_ptr(&t, FRAMES + i * 0x1000) = frame_sig(i);
	ASSERT_EQ(0, grt_setup(&t, &kern, &env));
	if (other_as)
		gp_share(&proc, &kern, 0, GRT_KERNEL_SPAN(mode));

	/* vCPU 1: same mode, its own code and stack */
	if (mode == GP_MODE_LM)
		memcpy(tvm_ptr(&t, V1_CODE), reader64, GUEST_SIZE(reader64));
	else
		memcpy(tvm_ptr(&t, V1_CODE), reader32, GUEST_SIZE(reader32));
	gs_init(&s);
	for (i = 1; i <= ROUNDS; i++) {
		gs_op(&s, GOP_WENT, 0, pte, (FRAMES + (i % 4) * 0x1000) | f, 0);
		gs_op(&s, GOP_W32, 0, SEQ, i, 0);
		gs_op(&s, GOP_WAIT32, 0, ACK, i, yield);
	}
	run_two(_metadata, &t, &s, gp_cr3(owner), X, yield);
	for (i = 1; i <= ROUNDS; i++)
		EXPECT_EQ(frame_sig(i % 4), *(uint32_t *)tvm_ptr(&t, RESULT + 4 * i))
			TH_LOG("round %d: vCPU 1 read 0x%x", i,
			       *(uint32_t *)tvm_ptr(&t, RESULT + 4 * i));
	gs_free(&s);
	tvm_destroy(&t);
}

/* t and kern: the long-mode VM of the 2 MiB cases (a skip without the device) */
#define BIG_VM_CREATE(t, kern, kind, policy) do {				\
	int __r = grt_create((t), (kind), MEM_SIZE, (policy), 0, 0);		\
										\
	if (tvm_no_device(__r))							\
		SKIP(return, "%s backend device missing",			\
		     be_ops_by_kind(kind)->name);				\
	ASSERT_EQ(0, __r) TH_LOG("creating the VM: %s", strerror(-__r));	\
	ASSERT_EQ(0, gp_init((kern), (t)->mem, MEM_SIZE, GP_MODE_LM, GRT_POOL,	\
			     GRT_POOL_SIZE));					\
} while (0)

#define BIG_LA		0x40000000ULL
#define BIG_GPA		0x600000ULL	/* the last 2 MiB of guest RAM */

static void large_first_touch(struct __test_metadata *_metadata, uint32_t policy)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP };
	enum be_kind kind = tvm_default_kind();
	bool svm = kind == BE_SHADOWVM;
	struct svm_counters base, now;
	struct grt_script s;
	struct gp kern;
	char diff[256];
	uint64_t off, *res;
	struct tvm t;
	long kb;
	const int yield = conc_online_cpus() < 2;

	if (svm)
		ASSERT_EQ(0, svm_read_counters(&base));
	BIG_VM_CREATE(&t, &kern, kind, policy);
	ASSERT_EQ(0, gp_map(&kern, BIG_LA, BIG_GPA, GP_2M, GP_2M, GP_W));
	for (off = 0; off < GP_2M; off += 0x1000)
		*(uint32_t *)tvm_ptr(&t, BIG_GPA + off) = frame_sig((int)(off >> 12));
	kb = anon_huge_kb(tvm_ptr(&t, BIG_GPA));
	if (kb < 2048) {
		tvm_destroy(&t);
		SKIP(return, "no transparent huge page behind guest RAM (AnonHugePages %ld kB)",
		     kb);
	}
	ASSERT_EQ(0, grt_setup(&t, &kern, &env));
	memcpy(tvm_ptr(&t, V1_CODE), toucher64, GUEST_SIZE(toucher64));
	/*
	 * vCPU 1 spins in the guest (READY), then go, and touch the big page
	 * at once: on 2 CPUs both run at that instant; then wait for it
	 */
	gs_init(&s);
	gs_op(&s, GOP_WAIT32, 0, READY, 1, yield);
	gs_op(&s, GOP_W32, 0, SEQ, 1, 0);
	gs_access(&s, BIG_LA + 0x2000, GRT_ACC_READ, 0, 0);
	gs_access(&s, BIG_LA + 0x1fe000, GRT_ACC_READ, 0, 4);
	gs_op(&s, GOP_WAIT32, 0, ACK, 1, yield);
	run_two(_metadata, &t, &s, gp_cr3(&kern), BIG_LA, yield);
	res = grt_res(&t);
	EXPECT_EQ(0, (uint32_t)(res[0] | res[4]));
	EXPECT_EQ(frame_sig(2), (uint32_t)res[2]);
	EXPECT_EQ(frame_sig(0x1fe), (uint32_t)res[6]);
	EXPECT_EQ(frame_sig(1), *(uint32_t *)tvm_ptr(&t, RESULT));
	EXPECT_EQ(frame_sig(0x1ff), *(uint32_t *)tvm_ptr(&t, RESULT + 4));
	if (svm) {
		uint64_t st[SHADOWVM_STAT_NR];

		ASSERT_EQ(0, grt_vm_stats(&t, st, SHADOWVM_STAT_NR));
		ASSERT_EQ(0, svm_read_counters(&now));
		TH_LOG("%s: large leaves %llu, region pins %ld, pinned pages %llu",
		       grt_policy_name(policy),
		       (unsigned long long)st[SHADOWVM_STAT_LARGE_MAPPED],
		       now.region_pins - base.region_pins,
		       (unsigned long long)st[SHADOWVM_STAT_PAGES_PINNED]);
		EXPECT_LE(1, st[SHADOWVM_STAT_LARGE_MAPPED]);
		EXPECT_EQ(1, now.region_pins - base.region_pins);
	}
	gs_free(&s);
	tvm_destroy(&t);
	if (svm) {
		EXPECT_EQ(0, svm_wait_counters(&base, &now, 10000))
			TH_LOG("after the VM: %s",
			       svm_counters_diff(&base, &now, diff, sizeof(diff)) ? diff : "-");
	}
}

/*
 * large_touch_vs_slot_delete_long_mode: one vCPU reads the frames of a
 * 2 MiB guest page (BIG2_LA -> BIG2_GPA, slot 1) one after the other, for
 * ever, while the mutator thread adds slot 1 over fresh transparent huge
 * page memory holding generation g's words, lets the vCPU run, deletes
 * the slot, scribbles over the memory and unmaps it; NGEN2 times. So the
 * region pin (pin.c) of each generation is taken by a fault on the vCPU
 * and dropped by the slot's deletion, which races those faults. Word i
 * of generation g is BIG2_WORD(g, i); with no slot the read is an MMIO
 * exit, answered with BIG2_MMIO(i). Asserted: each read gets its frame's
 * word of a generation whose adding began before the read returned and
 * whose deletion had not returned when the RUN began, or the MMIO answer;
 * the module held a region pin while a generation was mapped (with huge
 * pages); every RUN returns an OUT or an MMIO read of the loop; afterwards
 * the accounting (region pins, pinned pages) is back to the baseline.
 * With 2 or more CPUs the mutator's slot changes and the vCPU must have
 * run at the same instant. (Checked: with the zap at slot deletion taken
 * out of kmod/vm.c, a run on one CPU read the scribbled memory,
 * 0x5a5a5a5a, in one of the four policy cases: vtlb in one run, unsync in
 * another; the window between the deletion and the vCPU's next read
 * depends on the scheduling.)
 */
#define BIG2_LA		0x80000000ULL
#define BIG2_GPA	0x40000000ULL
#define NGEN2		12
#define BIG2_WORD(g, i)	(0xa5000000u | ((uint32_t)(g) << 12) | (uint32_t)(i))
#define BIG2_MMIO(i)	(0x4d000000u | (uint32_t)(i))

/* vCPU 0: for ever: EAX = *(RSI + RBX); OUT EAX to 0xf0; next frame */
GUEST_CODE(bigreader64,
	".code64\n"
	"xor %ebx, %ebx\n"
	"1: mov (%rsi,%rbx), %eax\n"
	"out %eax, $0xf0\n"
	"add $0x1000, %ebx\n"
	"and $0x1fffff, %ebx\n"
	"jmp 1b\n"
	".code32\n");

struct mutator2 {
	struct tvm *t;
	struct conc *conc;
	atomic_int added;	/* last generation whose add began */
	atomic_int deleted;	/* last generation whose delete returned */
	atomic_int reads;	/* reads the vCPU thread has checked */
	int ret;		/* 0, or -errno of the first failure */
	const char *what;
	int region_pinned;	/* generations seen with a region pin held */
	bool huge;		/* every generation's memory was a huge page */
};

/* until the vCPU thread has checked n more reads (or 2000 yields) */
static void wait_reads(struct mutator2 *m, int n)
{
	int start = atomic_load(&m->reads), i;

	for (i = 0; i < 2000 && atomic_load(&m->reads) < start + n; i++)
		sched_yield();
}

static void *mutator2_thread(void *arg)
{
	struct mutator2 *m = arg;
	struct svm_counters c;
	struct conc_span span;
	int g, i, r;

	conc_join(m->conc);
	conc_span_begin(m->conc, &span);
	m->huge = true;
	for (g = 1; g <= NGEN2; g++) {
		uint32_t *w = tvm_alloc_ram(GP_2M);

		if (w == MAP_FAILED) {
			m->ret = -errno;
			m->what = "mmap";
			break;
		}
		for (i = 0; i < 512; i++)
			w[i * 1024] = BIG2_WORD(g, i);
		if (anon_huge_kb(w) < 2048)
			m->huge = false;
		/* announced first: the vCPU may read it before the ioctl returns */
		atomic_store(&m->added, g);
		r = be_set_memory(&m->t->vm, 1, BIG2_GPA, GP_2M, w, false);
		if (r) {
			m->ret = r;
			m->what = "adding slot 1";
			munmap(w, GP_2M);
			break;
		}
		wait_reads(m, 64);	/* the vCPU faults the region in, reads */
		if (!svm_read_counters(&c) && c.region_pins > 0)
			m->region_pinned++;
		r = be_set_memory(&m->t->vm, 1, BIG2_GPA, 0, w, false);
		if (r) {
			m->ret = r;
			m->what = "deleting slot 1";
			munmap(w, GP_2M);
			break;
		}
		atomic_store(&m->deleted, g);
		memset(w, 0x5a, GP_2M);	/* what a stale mapping would read */
		munmap(w, GP_2M);
		wait_reads(m, 4);	/* and some reads with no slot: MMIO */
	}
	conc_span_end(m->conc, &span);
	return NULL;
}

static void large_touch_vs_slot_delete(struct __test_metadata *_metadata, uint32_t policy)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP };
	enum be_kind kind = tvm_default_kind();
	bool svm = kind == BE_SHADOWVM;
	struct svm_counters base, now;
	unsigned int k = 0, mmio = 0, words = 0;
	uint32_t bad = 0;
	int last_gen = 0, gens = 0, del_before, r;
	struct mutator2 m;
	struct be_regs regs;
	struct conc_span span;
	struct conc conc;
	struct gp kern;
	char diff[256];
	struct be_exit e;
	pthread_t th;
	struct tvm t;

	if (svm)
		ASSERT_EQ(0, svm_read_counters(&base));
	BIG_VM_CREATE(&t, &kern, kind, policy);
	ASSERT_EQ(0, gp_map(&kern, BIG2_LA, BIG2_GPA, GP_2M, GP_2M, GP_W));
	ASSERT_EQ(0, grt_setup(&t, &kern, &env));
	memcpy(tvm_ptr(&t, V1_CODE), bigreader64, GUEST_SIZE(bigreader64));
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	regs.rip = V1_CODE;
	regs.rsp = V1_STACK;
	regs.rsi = BIG2_LA;
	regs.rflags = 2;
	ASSERT_EQ(0, be_set_regs(&t.vcpu, &regs));

	memset(&m, 0, sizeof(m));
	m.t = &t;
	conc_init(&conc, 2);
	m.conc = &conc;
	ASSERT_EQ(0, pthread_create(&th, NULL, mutator2_thread, &m));
	conc_join(&conc);
	conc_span_begin(&conc, &span);
	/* deleted before the RUN in which the read being checked began */
	del_before = 0;
	while (atomic_load(&m.deleted) < NGEN2 && !m.ret) {
		uint32_t v, i = k % 512;

		r = be_run(&t.vcpu, &e);
		if (r == -EINTR)
			continue;
		if (r)
			break;
		if (e.reason == BE_EXIT_MMIO && !e.mmio.is_write && e.mmio.len == 4 &&
		    e.mmio.phys_addr == BIG2_GPA + i * 0x1000) {
			v = BIG2_MMIO(i);
			memcpy(e.mmio.data, &v, 4);
			mmio++;
			continue;	/* the OUT of the answer follows */
		}
		if (e.reason != BE_EXIT_IO || e.io.port != 0xf0 || e.io.size != 4)
			break;
		memcpy(&v, e.io.data, 4);
		if (v != BIG2_MMIO(i)) {
			int g = (v >> 12) & 0xfff;

			if ((v & 0xff000fff) != BIG2_WORD(0, i) || g <= del_before ||
			    g > atomic_load(&m.added)) {
				bad = v;
				r = -EBADMSG;
				break;
			}
			words++;
			if (g != last_gen)
				gens++;
			last_gen = g;
		}
		k++;
		atomic_store(&m.reads, k);
		del_before = atomic_load(&m.deleted);
	}
	conc_span_end(&conc, &span);
	/* the mutator may still wait for reads: let it finish */
	atomic_store(&m.reads, 1 << 30);
	pthread_join(th, NULL);
	CONC_EXPECT_PARALLEL(&conc, "slot changes and vCPU 0");
	conc_destroy(&conc);
	TH_LOG("%s: %u reads: %u words of %d generations, %u MMIO answers; region pin held in %d of %d generations",
	       grt_policy_name(policy), k, words, gens, mmio, m.region_pinned, NGEN2);
	ASSERT_EQ(0, m.ret) TH_LOG("mutator: %s: %s", m.what, strerror(-m.ret));
	ASSERT_EQ(0, r) TH_LOG("read %u (frame %u): %s 0x%x (generations added %d, deleted %d before the RUN); exit %s, port 0x%x",
			       k, k % 512,
			       r == -EBADMSG ? "a word of the wrong frame or generation" :
			       strerror(-r), bad, atomic_load(&m.added), del_before,
			       be_exit_name(e.reason), e.reason == BE_EXIT_IO ? e.io.port : 0);
	EXPECT_LE(2, gens);
	if (svm && m.huge)
		EXPECT_LE(1, m.region_pinned);
	tvm_destroy(&t);
	if (svm) {
		EXPECT_EQ(0, svm_wait_counters(&base, &now, 10000))
			TH_LOG("after the VM: %s",
			       svm_counters_diff(&base, &now, diff, sizeof(diff)) ? diff : "-");
	}
}

TEST_F_TIMEOUT(smp, large_touch_vs_slot_delete_long_mode, 300)
{
	large_touch_vs_slot_delete(_metadata, variant->policy);
}

TEST_F_TIMEOUT(smp, large_first_touch_long_mode, 300)
{
	large_first_touch(_metadata, variant->policy);
}

TEST_F_TIMEOUT(smp, same_address_space_long_mode, 300)
{
	two_vcpus(_metadata, variant->policy, GP_MODE_LM, false);
}

TEST_F_TIMEOUT(smp, other_address_space_long_mode, 300)
{
	two_vcpus(_metadata, variant->policy, GP_MODE_LM, true);
}

TEST_F_TIMEOUT(smp, same_address_space_32bit, 300)
{
	two_vcpus(_metadata, variant->policy, GP_MODE_32, false);
}

TEST_F_TIMEOUT(smp, other_address_space_32bit, 300)
{
	two_vcpus(_metadata, variant->policy, GP_MODE_32, true);
}

TEST_HARNESS_MAIN
