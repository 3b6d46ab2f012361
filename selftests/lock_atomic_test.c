// SPDX-License-Identifier: GPL-2.0
/*
 * lock_atomic_test: LOCK-prefixed read-modify-writes and XCHG that the
 * module emulates (they write a live, write-protected guest page table)
 * are atomic against other vCPUs and against the walker's A/D updates.
 *
 * Guest: 32-bit paging. The counters live in unused entries of the page
 * table that maps linear 0..4 MiB (a live table: the guest's code runs
 * through it), reached through an alias mapping, so every locked write
 * exits and is emulated. Two vCPUs hammer, N times each: LOCK XADD on a
 * dword, LOCK BTS/BTR of their own bit of a shared dword (the carry flag
 * must say the bit was clear, then set), XCHG of unique values into a
 * shared dword (what goes in must come out), LOCK INC of a word and LOCK
 * ADD of a byte that share one dword (widened to it), and LOCK BTS/BTR
 * of a software bit of PTEs that a third vCPU is writing through (the
 * walker sets their A and D bits meanwhile: none may be lost). Final
 * counts are exact, and the VM's counters show the locked path ran as an
 * atomic compare-exchange (EMULATED_LOCKED), never as a plain write.
 * With 2 or more online CPUs, the vCPU threads must have run at the same
 * instant (lib/concurrency.h); with one CPU that is logged and skipped.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "guest_paging.h"
#include "concurrency.h"

FIXTURE(lk) {
	int unused;
};

FIXTURE_SETUP(lk)
{
}

FIXTURE_TEARDOWN(lk)
{
}

#define MEM_SIZE	(8u << 20)
#define ALIAS		0x900000u	/* linear alias of the live page table */
#define CNT_OFF		0xfc0u		/* entry 0x3f0: xadd counter */
#define Y_LA		0x380000u	/* pages the A/D vCPU writes */
#define Y_SLOT		0x380u		/* their PTEs: entries 0x380.. */
#define Y_PAGES		32
#define RES		0xc800u		/* per-vCPU results, 0x40 apart */
#define CODE_HAMMER	0xc000u
#define CODE_AD		0xc400u
#define N		400

/*
 * In: ESI = ALIAS + CNT_OFF, ECX = N, EDX = own bit, EDI = unique value
 * base, EBP = result area. Out: res[0] anomalies, res[1] done,
 * res[2] sum of values xchg'ed in, res[3] sum of values xchg'ed out.
 */
GUEST_CODE(hammer,
	"xor %ebx, %ebx\n"
	"1:\n"
	"mov $1, %eax\n"
	"lock xadd %eax, (%esi)\n"
	"lock btsl %edx, 4(%esi)\n"
	"jnc 2f\n"
	"inc %ebx\n"
	"2: lock btrl %edx, 4(%esi)\n"
	"jc 3f\n"
	"inc %ebx\n"
	"3: lea (%edi,%ecx), %eax\n"
	"add %eax, 8(%ebp)\n"
	"xchg %eax, 8(%esi)\n"
	"add %eax, 12(%ebp)\n"
	"lock incw 12(%esi)\n"
	"lock addb $1, 14(%esi)\n"
	"mov %ecx, %eax\n"
	"and $31, %eax\n"
	"lock btsl $9, 0x900e00(,%eax,4)\n"
	"lock btrl $9, 0x900e00(,%eax,4)\n"
	"dec %ecx\n"
	"jnz 1b\n"
	"mov %ebx, 0(%ebp)\n"
	"movl $1, 4(%ebp)\n"
	"hlt\n");

/* Writes each of the Y pages once, spread out in time. EBP = results. */
GUEST_CODE(ad_writer,
	"xor %ecx, %ecx\n"
	"1: mov %ecx, %eax\n"
	"shl $12, %eax\n"
	"mov %ecx, 0x380000(%eax)\n"
	"mov $3000, %edx\n"
	"2: pause\n"
	"dec %edx\n"
	"jnz 2b\n"
	"inc %ecx\n"
	"cmp $32, %ecx\n"
	"jne 1b\n"
	"movl $1, 4(%ebp)\n"
	"hlt\n");

struct runner {
	struct be_vcpu *v;
	struct be_exit e;
	int ret;
};

static struct conc lk_conc;

static void *run_thread(void *arg)
{
	struct runner *r = arg;
	struct conc_span span;

	conc_join(&lk_conc);
	conc_span_begin(&lk_conc, &span);
	r->ret = be_run(r->v, &r->e);
	conc_span_end(&lk_conc, &span);
	return NULL;
}

static uint32_t rd32(struct tvm *t, uint64_t gpa)
{
	return *(uint32_t *)tvm_ptr(t, gpa);
}

TEST_F_TIMEOUT(lk, locked_rmw_on_live_page_table_is_atomic, 600)
{
	struct grt_env env = { .mode = GP_MODE_32, .cr0_extra = GP_CR0_WP };
	enum be_kind kind = tvm_default_kind();
	uint64_t st[SHADOWVM_STAT_NR], pt, before[SHADOWVM_STAT_NR];
	uint32_t sum_in = 0, sum_out = 0, t_init = 0x5a5a0000u, w3;
	struct be_vcpu v[3], *vp[3];
	struct runner rn[3];
	pthread_t th[3];
	struct be_sregs sr;
	struct be_regs regs;
	struct gp g;
	struct tvm t;
	int i, r;

	r = grt_create(&t, kind, MEM_SIZE, SHADOWVM_MMU_POLICY_WRITE_PROTECT, 0, 0);
	if (tvm_no_device(r))
		SKIP(return, "%s backend device missing", be_ops_by_kind(kind)->name);
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	ASSERT_EQ(0, gp_init(&g, t.mem, MEM_SIZE, GP_MODE_32, GRT_POOL, GRT_POOL_SIZE));
	ASSERT_EQ(0, grt_setup(&t, &g, &env));
	pt = gp_entry_gpa(&g, 0, 1, false) & ~0xfffULL;
	ASSERT_NE(0, pt);
	/* the alias of the live table, and the Y pages (no A, no D) */
	ASSERT_EQ(0, gp_map(&g, ALIAS, pt, GP_4K, GP_4K, GP_W | GP_A | GP_D));
	ASSERT_EQ(0, gp_map(&g, Y_LA, GRT_FREE, Y_PAGES * GP_4K, GP_4K, GP_W));
	ASSERT_EQ(pt, gp_entry_gpa(&g, Y_LA, 1, false) & ~0xfffULL);
	memset(tvm_ptr(&t, pt + CNT_OFF), 0, 16);
	*(uint32_t *)tvm_ptr(&t, pt + CNT_OFF + 8) = t_init;
	memset(tvm_ptr(&t, RES), 0, 0x100);
	memcpy(tvm_ptr(&t, CODE_HAMMER), hammer, GUEST_SIZE(hammer));
	memcpy(tvm_ptr(&t, CODE_AD), ad_writer, GUEST_SIZE(ad_writer));

	ASSERT_EQ(0, be_get_sregs(&t.vcpu, &sr));
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	vp[0] = &t.vcpu;
	for (i = 1; i < 3; i++) {
		r = be_create_vcpu(&t.vm, i, &v[i]);
		ASSERT_EQ(0, r) TH_LOG("creating vCPU %d: %s", i, strerror(-r));
		ASSERT_EQ(0, be_set_sregs(&v[i], &sr));
		vp[i] = &v[i];
	}
	for (i = 0; i < 3; i++) {
		struct be_regs rg = regs;

		rg.rflags = 2;
		rg.rbp = RES + i * 0x40;
		if (i < 2) {
			rg.rip = CODE_HAMMER;
			rg.rsi = ALIAS + CNT_OFF;
			rg.rcx = N;
			rg.rdx = i;
			rg.rdi = (uint64_t)(i + 1) << 24;
		} else {
			rg.rip = CODE_AD;
		}
		ASSERT_EQ(0, be_set_regs(vp[i], &rg));
	}
	ASSERT_EQ(0, grt_vm_stats(&t, before, SHADOWVM_STAT_NR));

	conc_init(&lk_conc, 3);
	for (i = 0; i < 3; i++) {
		memset(&rn[i], 0, sizeof(rn[i]));
		rn[i].v = vp[i];
		ASSERT_EQ(0, pthread_create(&th[i], NULL, run_thread, &rn[i]));
	}
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CONC_EXPECT_PARALLEL(&lk_conc, "three vCPU threads");
	conc_destroy(&lk_conc);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, rn[i].ret) TH_LOG("vCPU %d: RUN: %s", i, strerror(-rn[i].ret));
		ASSERT_EQ(BE_EXIT_HLT, rn[i].e.reason)
			TH_LOG("vCPU %d stopped with %s (suberror %u)", i,
			       be_exit_name(rn[i].e.reason), rn[i].e.internal.suberror);
		ASSERT_EQ(1, rd32(&t, RES + i * 0x40 + 4)) TH_LOG("vCPU %d not done", i);
	}

	/* exact counts: no lost update */
	EXPECT_EQ(2 * N, rd32(&t, pt + CNT_OFF)) TH_LOG("lock xadd lost updates");
	EXPECT_EQ(0, rd32(&t, pt + CNT_OFF + 4)) TH_LOG("lock bts/btr bitmap");
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(0, rd32(&t, RES + i * 0x40))
			TH_LOG("vCPU %d: lock bts/btr saw another's update lost", i);
		sum_in += rd32(&t, RES + i * 0x40 + 8);
		sum_out += rd32(&t, RES + i * 0x40 + 12);
	}
	EXPECT_EQ(sum_in + t_init, sum_out + rd32(&t, pt + CNT_OFF + 8))
		TH_LOG("xchg: values lost or duplicated");
	w3 = rd32(&t, pt + CNT_OFF + 12);
	EXPECT_EQ((2 * N) & 0xffff, w3 & 0xffff) TH_LOG("lock incw (widened) lost updates");
	EXPECT_EQ((2 * N) & 0xff, (w3 >> 16) & 0xff) TH_LOG("lock addb (widened) lost updates");
	EXPECT_EQ(0, w3 >> 24) TH_LOG("widening wrote a neighbouring byte");
	/* the walker's A/D bits on PTEs hammered by lock bts/btr */
	for (i = 0; i < Y_PAGES; i++) {
		uint32_t pte = rd32(&t, pt + (Y_SLOT + i) * 4);

		EXPECT_EQ(GP_A | GP_D, pte & (GP_A | GP_D))
			TH_LOG("PTE of Y page %d: 0x%x lost its A/D bits", i, pte);
		EXPECT_EQ(0, pte & (1u << 9)) TH_LOG("PTE %d: bit 9 left set", i);
		EXPECT_EQ((uint32_t)i, rd32(&t, GRT_FREE + i * 0x1000));
	}

	/* the emulated path was taken, atomically */
	ASSERT_EQ(0, grt_vm_stats(&t, st, SHADOWVM_STAT_NR));
	TH_LOG("emulated: %llu locked (atomic), %llu as write, %llu pt writes, %llu flooded",
	       (unsigned long long)(st[SHADOWVM_STAT_EMULATED_LOCKED] -
				    before[SHADOWVM_STAT_EMULATED_LOCKED]),
	       (unsigned long long)(st[SHADOWVM_STAT_LOCKED_AS_WRITE] -
				    before[SHADOWVM_STAT_LOCKED_AS_WRITE]),
	       (unsigned long long)(st[SHADOWVM_STAT_PF_HIDDEN_PT_WRITE] -
				    before[SHADOWVM_STAT_PF_HIDDEN_PT_WRITE]),
	       (unsigned long long)(st[SHADOWVM_STAT_PT_WRITE_FLOODED] -
				    before[SHADOWVM_STAT_PT_WRITE_FLOODED]));
	EXPECT_LE(N, st[SHADOWVM_STAT_EMULATED_LOCKED] -
			 before[SHADOWVM_STAT_EMULATED_LOCKED])
		TH_LOG("locked instructions were not emulated as atomic compare-exchanges");
	EXPECT_EQ(0, st[SHADOWVM_STAT_LOCKED_AS_WRITE] - before[SHADOWVM_STAT_LOCKED_AS_WRITE]);
	for (i = 1; i < 3; i++)
		be_destroy_vcpu(&v[i]);
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
