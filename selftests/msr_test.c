// SPDX-License-Identifier: GPL-2.0
/*
 * msr_test: guest MSRs, the TSC and INVPCID as the SDM defines them.
 *
 * A small 32-bit guest (paging on, the runtime's identity map) runs a
 * table of operations (RDMSR, WRMSR, RDTSC, RDTSCP, RDPID, CPUID, INVPCID,
 * 32-bit reads and writes) and records, for each, the results and the
 * vector of a #GP or #UD it raised (its own IDT gates resume at the next
 * operation). Asserted:
 *   - RDTSCP (when guest CPUID 0x80000001:EDX[27], which is set whenever
 *     the host has it) returns IA32_TSC_AUX in ECX, RDPID likewise (7.0
 *     ECX[22]); TSC_AUX bits 63:32 -> #GP; the host's TSC_AUX (RDTSCP in
 *     this process) is not the guest's afterwards; without the CPUID bit,
 *     RDTSCP is #UD;
 *   - WRMSR IA32_TSC then RDTSC reads >= the value written and < it +
 *     2^32, also when the TSC goes backwards; the write moves
 *     IA32_TSC_ADJUST by the same delta, and a TSC_ADJUST write moves the
 *     TSC;
 *   - IA32_MCG_CAP reports 10 banks and MCG_CTL_P; MCi_CTL reads all ones
 *     and takes only 0 or all ones; MCi_STATUS takes only 0; MCi_ADDR
 *     keeps what is written; bank 10 and an MCG_CAP write -> #GP; CPUID
 *     MCE/MCA as the host's;
 *   - IA32_PAT with a reserved memory type (2, 3, 8) -> #GP, a valid value
 *     reads back;
 *   - non-canonical FS_BASE, GS_BASE, KERNEL_GS_BASE, LSTAR, CSTAR,
 *     SYSENTER_ESP/EIP -> #GP, canonical ones read back; a reserved EFER
 *     bit -> #GP;
 *   - MISC_ENABLE reads fast strings, BTS/PEBS unavailable; the CPUID
 *     limit bit does not stick;
 *   - an unknown MSR -> #GP, counted in UNKNOWN_MSR and per index in
 *     debugfs unknown_msrs;
 *   - INVPCID (every MMU policy), in 32-bit paging and in long mode with
 *     CR4.PCIDE and PCID 1: each type 0-3 invalidates a translation whose
 *     guest PTE was changed without INVLPG (the new frame is read after
 *     it); under vtlb and unsync the stale translation is still used
 *     before the INVPCID, and each INVPCID exits (EXIT_INVPCID), under wp
 *     and wp-noemu none does; type > 3, reserved descriptor bits, a PCID
 *     with CR4.PCIDE=0 (types 0 and 1) and a non-canonical address (type
 *     0) -> #GP; without the CPUID bit, #UD.
 */
#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define BLOB_GPA	GRT_SCRATCH	/* the guest code */
#define OPS_GPA		GRT_SCRIPT	/* the operation table */
#define DESC_GPA	0x0f000		/* INVPCID descriptors, 16 bytes each */
#define MAX_OPS		256

#define STR(x)	#x
#define X(x)	STR(x)
#define ABS(l)	"(" #l "-msr_blob+" X(BLOB_GPA) ")"

enum { K_END, K_RDMSR, K_WRMSR, K_RDTSC, K_RDTSCP, K_RDPID, K_INVPCID,
       K_W32, K_R32, K_CPUID };

/* one operation; outputs: eax, edx, ecx (RDTSCP; #GP error code), ebx */
struct mop {
	uint32_t kind, idx;	/* MSR index, INVPCID type, CPUID leaf */
	uint32_t lo, hi;	/* WRMSR value; W32/R32/INVPCID address, W32 value */
	uint32_t eax, edx, ecx, vec;	/* vec: 13 #GP, 6 #UD, 0 none */
};

GUEST_CODE(msr_blob,
	"mov $" X(OPS_GPA) ", %esi\n"
	"msr_loop:\n"
	"mov (%esi), %eax\n"
	"test %eax, %eax\n"
	"jz msr_done\n"
	"movl $0, 28(%esi)\n"
	"mov 4(%esi), %ecx\n"
	"cmp $1, %eax\n"
	"je 1f\n"
	"cmp $2, %eax\n"
	"je 2f\n"
	"cmp $3, %eax\n"
	"je 3f\n"
	"cmp $4, %eax\n"
	"je 4f\n"
	"cmp $5, %eax\n"
	"je 5f\n"
	"cmp $6, %eax\n"
	"je 6f\n"
	"cmp $7, %eax\n"
	"je 7f\n"
	"cmp $8, %eax\n"
	"je 8f\n"
	"cmp $9, %eax\n"
	"je 9f\n"
	"jmp msr_next\n"
	"1: rdmsr\n"
	"mov %eax, 16(%esi)\n"
	"mov %edx, 20(%esi)\n"
	"jmp msr_next\n"
	"2: mov 8(%esi), %eax\n"
	"mov 12(%esi), %edx\n"
	"wrmsr\n"
	"jmp msr_next\n"
	"3: rdtsc\n"
	"mov %eax, 16(%esi)\n"
	"mov %edx, 20(%esi)\n"
	"jmp msr_next\n"
	"4: rdtscp\n"
	"mov %eax, 16(%esi)\n"
	"mov %edx, 20(%esi)\n"
	"mov %ecx, 24(%esi)\n"
	"jmp msr_next\n"
	"5: rdpid %eax\n"
	"mov %eax, 16(%esi)\n"
	"jmp msr_next\n"
	"6: mov 8(%esi), %edi\n"
	"mov %ecx, %eax\n"
	"invpcid (%edi), %eax\n"
	"jmp msr_next\n"
	"7: mov 8(%esi), %edi\n"
	"mov 12(%esi), %eax\n"
	"mov %eax, (%edi)\n"
	"jmp msr_next\n"
	"8: mov 8(%esi), %edi\n"
	"mov (%edi), %eax\n"
	"mov %eax, 16(%esi)\n"
	"jmp msr_next\n"
	"9: mov %ecx, %eax\n"
	"mov 8(%esi), %ecx\n"
	"cpuid\n"
	"mov %eax, 16(%esi)\n"
	"mov %edx, 20(%esi)\n"
	"mov %ecx, 24(%esi)\n"
	"mov %ebx, 12(%esi)\n"
	"msr_next:\n"
	"add $32, %esi\n"
	"jmp msr_loop\n"
	"msr_done:\n"
	"hlt\n"
	"jmp msr_done\n"
	"msr_gp:\n"
	"movl $13, 28(%esi)\n"
	"pop %eax\n"
	"mov %eax, 24(%esi)\n"
	"movl $" ABS(msr_next) ", (%esp)\n"
	"iret\n"
	"msr_ud:\n"
	"movl $6, 28(%esi)\n"
	"movl $" ABS(msr_next) ", (%esp)\n"
	"iret\n"
	"msr_gp_off: .long " ABS(msr_gp) "\n"
	"msr_ud_off: .long " ABS(msr_ud) "\n");

extern const uint8_t msr_gp_off[], msr_ud_off[];

struct mt {
	struct tvm t;
	struct gp g;
	struct mop ops[MAX_OPS];
	int n;
	bool live;
};

static void set_gate(struct mt *m, int vec, uint32_t off)
{
	uint32_t *gate = tvm_ptr(&m->t, GRT_IDT32 + vec * 8);

	gate[0] = (GRT_SEL_CODE32 << 16) | (off & 0xffff);
	gate[1] = (off & 0xffff0000) | 0x8e00;
}

static int mt_setup(struct mt *m, uint32_t policy)
{
	struct grt_env env = { .mode = GP_MODE_32 };
	int r;

	memset(m, 0, sizeof(*m));
	r = grt_create(&m->t, tvm_default_kind(), MEM_SIZE, policy, 0, 0);
	if (r)
		return r;
	m->live = true;
	r = gp_init(&m->g, m->t.mem, MEM_SIZE, GP_MODE_32, GRT_POOL, GRT_POOL_SIZE);
	if (!r)
		r = grt_setup(&m->t, &m->g, &env);
	if (r)
		return r;
	memcpy(tvm_ptr(&m->t, BLOB_GPA), msr_blob, GUEST_SIZE(msr_blob));
	set_gate(m, 13, *(const uint32_t *)msr_gp_off);
	set_gate(m, 6, *(const uint32_t *)msr_ud_off);
	return 0;
}

static void mt_done(struct mt *m)
{
	if (m->live)
		tvm_destroy(&m->t);
	m->live = false;
}

static int op(struct mt *m, uint32_t kind, uint32_t idx, uint64_t val)
{
	struct mop *o = &m->ops[m->n];

	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->idx = idx;
	o->lo = (uint32_t)val;
	o->hi = val >> 32;
	return m->n++;
}

#define RD(m, msr)		op((m), K_RDMSR, (msr), 0)
#define WR(m, msr, v)		op((m), K_WRMSR, (msr), (v))

static uint64_t val64(struct mt *m, int i)
{
	return m->ops[i].eax | (uint64_t)m->ops[i].edx << 32;
}

/* Runs the table from its start to the guest's HLT; 0 or -1. */
static int mt_run(struct __test_metadata *_metadata, struct mt *m)
{
	struct be_regs regs;
	struct be_exit e;
	int r;

	m->ops[m->n].kind = K_END;
	memcpy(tvm_ptr(&m->t, OPS_GPA), m->ops, (m->n + 1) * sizeof(struct mop));
	r = be_get_regs(&m->t.vcpu, &regs);
	if (r)
		return r;
	regs.rip = BLOB_GPA;
	regs.rsp = GRT_STACK;
	regs.rflags = 2;
	r = be_set_regs(&m->t.vcpu, &regs);
	if (r)
		return r;
	r = tvm_run(&m->t, &e);
	if (r)
		return r;
	EXPECT_EQ(BE_EXIT_HLT, e.reason)
		TH_LOG("exit %s at rip 0x%llx", be_exit_name(e.reason),
		       (unsigned long long)tvm_rip(&m->t));
	if (e.reason != BE_EXIT_HLT)
		return -1;
	memcpy(m->ops, tvm_ptr(&m->t, OPS_GPA), (m->n + 1) * sizeof(struct mop));
	return 0;
}

#define MT_SETUP(m, policy) do {					\
	int __r = mt_setup((m), (policy));				\
	if (tvm_no_device(__r))						\
		SKIP(return, "backend device missing");			\
	ASSERT_EQ(0, __r) TH_LOG("setting up: %s", strerror(-__r));	\
} while (0)

#define MT_RUN(m) ASSERT_EQ(0, mt_run(_metadata, (m)))

#define EXPECT_GP(m, i) EXPECT_EQ(13, (m)->ops[i].vec)			\
	TH_LOG("op %d (kind %u, index 0x%x, value 0x%x%08x): vector %u, expected #GP", \
	       (i), (m)->ops[i].kind, (m)->ops[i].idx, (m)->ops[i].hi,	\
	       (m)->ops[i].lo, (m)->ops[i].vec)
#define EXPECT_OK(m, i) EXPECT_EQ(0, (m)->ops[i].vec)			\
	TH_LOG("op %d (kind %u, index 0x%x, value 0x%x%08x): vector %u, expected none", \
	       (i), (m)->ops[i].kind, (m)->ops[i].idx, (m)->ops[i].hi,	\
	       (m)->ops[i].lo, (m)->ops[i].vec)

static bool svm(void)
{
	return tvm_default_kind() == BE_SHADOWVM;
}

static uint32_t host_reg(uint32_t leaf, int reg)
{
	uint32_t r[4] = { 0 };

	if ((leaf & 0x80000000) ? __get_cpuid_max(0x80000000, NULL) < leaf :
	    __get_cpuid_max(0, NULL) < leaf)
		return 0;
	__cpuid_count(leaf, 0, r[0], r[1], r[2], r[3]);
	return r[reg];
}

#define R_EAX 0
#define R_EBX 1
#define R_ECX 2
#define R_EDX 3

/* guest CPUID leaf (subleaf 0) register, from a run of its own */
static uint32_t guest_reg(struct __test_metadata *_metadata, struct mt *m,
			  uint32_t leaf, int reg)
{
	int i;

	m->n = 0;
	i = op(m, K_CPUID, leaf, 0);
	if (mt_run(_metadata, m))
		return 0;
	m->n = 0;
	switch (reg) {
	case R_EAX: return m->ops[i].eax;
	case R_EBX: return m->ops[i].hi;
	case R_ECX: return m->ops[i].ecx;
	default: return m->ops[i].edx;
	}
}

FIXTURE(msr) {
	struct mt m;
};

FIXTURE_SETUP(msr)
{
	MT_SETUP(&self->m, 0);
}

FIXTURE_TEARDOWN(msr)
{
	mt_done(&self->m);
}

#define MSR_TSC		0x10
#define MSR_TSC_ADJUST	0x3b
#define MSR_TSC_AUX	0xc0000103
#define BIT(n)		(1u << (n))

TEST_F_TIMEOUT(msr, rdtscp_returns_tsc_aux, 120)
{
	struct mt *m = &self->m;
	uint32_t ext = guest_reg(_metadata, m, 0x80000001, R_EDX);
	uint32_t l7 = guest_reg(_metadata, m, 7, R_ECX);
	bool has = ext & BIT(27), rdpid = l7 & BIT(22);
	int wr, rd, tscp, tscp2, big, pid = -1;
	unsigned int aux;

	if (svm())
		EXPECT_EQ(!!(host_reg(0x80000001, R_EDX) & BIT(27)), has)
			TH_LOG("guest RDTSCP %d, host %d", has,
			       !!(host_reg(0x80000001, R_EDX) & BIT(27)));
	EXPECT_EQ(0, rdpid & ~host_reg(7, R_ECX));
	TH_LOG("guest RDTSCP %d, RDPID %d", has, rdpid);
	m->n = 0;
	if (!has) {
		tscp = op(m, K_RDTSCP, 0, 0);
		MT_RUN(m);
		EXPECT_EQ(6, m->ops[tscp].vec) TH_LOG("RDTSCP hidden but not #UD");
		return;
	}
	wr = WR(m, MSR_TSC_AUX, 0x12345);
	rd = RD(m, MSR_TSC_AUX);
	tscp = op(m, K_RDTSCP, 0, 0);
	tscp2 = op(m, K_RDTSCP, 0, 0);
	if (rdpid)
		pid = op(m, K_RDPID, 0, 0);
	big = WR(m, MSR_TSC_AUX, 1ULL << 32);
	MT_RUN(m);
	EXPECT_OK(m, wr);
	EXPECT_OK(m, rd);
	EXPECT_EQ(0x12345, val64(m, rd));
	EXPECT_OK(m, tscp);
	EXPECT_EQ(0x12345, m->ops[tscp].ecx);
	EXPECT_LE(val64(m, tscp), val64(m, tscp2));
	if (pid >= 0) {
		EXPECT_OK(m, pid);
		EXPECT_EQ(0x12345, m->ops[pid].eax);
	}
	EXPECT_GP(m, big);
	/* the host's TSC_AUX came back */
	__builtin_ia32_rdtscp(&aux);
	EXPECT_NE(0x12345, aux) TH_LOG("host TSC_AUX is the guest's");
}

#define BOUND	(1ULL << 32)

TEST_F_TIMEOUT(msr, tsc_write_and_adjust, 120)
{
	struct mt *m = &self->m;
	bool adj = guest_reg(_metadata, m, 7, R_EBX) & BIT(1);
	const uint64_t v = 1ULL << 44, d = 1ULL << 36;
	int w1, t1, m1, a0, t2, w2, a1, w3, t3, a2, w4, t4;
	uint64_t adj0, before;

	m->n = 0;
	a0 = RD(m, MSR_TSC_ADJUST);
	w1 = WR(m, MSR_TSC, v);
	t1 = op(m, K_RDTSC, 0, 0);
	m1 = RD(m, MSR_TSC);
	a1 = RD(m, MSR_TSC_ADJUST);
	t2 = op(m, K_RDTSC, 0, 0);
	w2 = WR(m, MSR_TSC, 1000);		/* backwards */
	t3 = op(m, K_RDTSC, 0, 0);
	a2 = RD(m, MSR_TSC_ADJUST);
	w3 = WR(m, MSR_TSC, v);
	w4 = WR(m, MSR_TSC_ADJUST, 0);		/* filled below */
	t4 = op(m, K_RDTSC, 0, 0);
	MT_RUN(m);
	EXPECT_OK(m, w1);
	EXPECT_OK(m, w2);
	EXPECT_OK(m, w3);
	EXPECT_GE(val64(m, t1), v);
	EXPECT_LT(val64(m, t1), v + BOUND);
	EXPECT_GE(val64(m, m1), val64(m, t1));
	EXPECT_LT(val64(m, m1), v + BOUND);
	EXPECT_GE(val64(m, t3), 1000);
	EXPECT_LT(val64(m, t3), 1000 + BOUND);
	TH_LOG("TSC_ADJUST %s in guest CPUID", adj ? "set" : "clear");
	if (!adj) {
		EXPECT_GP(m, a0);
		EXPECT_GP(m, w4);
		return;
	}
	EXPECT_OK(m, a0);
	EXPECT_OK(m, a1);
	EXPECT_OK(m, a2);
	/* the TSC write moved TSC_ADJUST by the same delta */
	{
		int64_t delta_tsc = (int64_t)(1000 - val64(m, t2));
		int64_t delta_adj = (int64_t)(val64(m, a2) - val64(m, a1));

		EXPECT_LE(delta_adj, delta_tsc + (int64_t)BOUND);
		EXPECT_GE(delta_adj, delta_tsc - (int64_t)BOUND);
		TH_LOG("TSC delta %lld, TSC_ADJUST delta %lld",
		       (long long)delta_tsc, (long long)delta_adj);
	}

	/* a TSC_ADJUST write moves the TSC by the same amount */
	m->n = 0;
	a1 = RD(m, MSR_TSC_ADJUST);
	t1 = op(m, K_RDTSC, 0, 0);
	MT_RUN(m);
	adj0 = val64(m, a1);
	before = val64(m, t1);
	m->n = 0;
	w4 = WR(m, MSR_TSC_ADJUST, adj0 + d);
	t4 = op(m, K_RDTSC, 0, 0);
	a2 = RD(m, MSR_TSC_ADJUST);
	MT_RUN(m);
	EXPECT_OK(m, w4);
	EXPECT_EQ(adj0 + d, val64(m, a2));
	EXPECT_GE(val64(m, t4), before + d);
	EXPECT_LT(val64(m, t4), before + d + 4 * BOUND);
}

#define MCG_CAP		0x179
#define MCG_STATUS	0x17a
#define MCG_CTL		0x17b
#define MC_CTL(i)	(0x400 + 4 * (i))
#define MC_STATUS(i)	(0x401 + 4 * (i))
#define MC_ADDR(i)	(0x402 + 4 * (i))
#define MC_MISC(i)	(0x403 + 4 * (i))

TEST_F_TIMEOUT(msr, mce_banks, 120)
{
	struct mt *m = &self->m;
	uint32_t l1 = guest_reg(_metadata, m, 1, R_EDX);
	int cap, ctl0, ctl9w0, ctl9bad, ctl9r, st0, st1, addr, addrr, misc,
	    bank10, bank10w, capw, gctl, gctlbad, gst, gstr, gstbad, ctl2;

	if (svm()) {
		EXPECT_EQ(host_reg(1, R_EDX) & BIT(7), l1 & BIT(7)) TH_LOG("MCE");
		EXPECT_EQ(host_reg(1, R_EDX) & BIT(14), l1 & BIT(14)) TH_LOG("MCA");
	}
	m->n = 0;
	cap = RD(m, MCG_CAP);
	ctl0 = RD(m, MC_CTL(0));
	ctl9w0 = WR(m, MC_CTL(9), 0);
	ctl9bad = WR(m, MC_CTL(9), 0x1234);
	ctl9r = RD(m, MC_CTL(9));
	st0 = WR(m, MC_STATUS(3), 0);
	st1 = WR(m, MC_STATUS(3), 1);
	addr = WR(m, MC_ADDR(2), 0x12345000);
	addrr = RD(m, MC_ADDR(2));
	misc = RD(m, MC_MISC(9));
	bank10 = RD(m, MC_CTL(10));
	bank10w = WR(m, MC_STATUS(10), 0);
	capw = WR(m, MCG_CAP, 10);
	gctl = WR(m, MCG_CTL, ~0ULL);
	gctlbad = WR(m, MCG_CTL, 5);
	gst = WR(m, MCG_STATUS, 1);
	gstr = RD(m, MCG_STATUS);
	gstbad = WR(m, MCG_STATUS, 1ULL << 40);
	ctl2 = RD(m, 0x280);		/* MC0_CTL2: no CMCI */
	MT_RUN(m);
	EXPECT_OK(m, cap);
	if (svm()) {
		EXPECT_EQ(10, val64(m, cap) & 0xff);
		EXPECT_EQ(1u << 8, val64(m, cap) & (1u << 8)) TH_LOG("MCG_CTL_P");
		EXPECT_EQ(~0ULL, val64(m, ctl0));
	}
	EXPECT_OK(m, ctl9w0);
	EXPECT_GP(m, ctl9bad);
	EXPECT_EQ(0, val64(m, ctl9r));
	EXPECT_OK(m, st0);
	EXPECT_GP(m, st1);
	EXPECT_OK(m, addr);
	EXPECT_EQ(0x12345000, val64(m, addrr));
	EXPECT_OK(m, misc);
	EXPECT_GP(m, capw);
	EXPECT_OK(m, gst);
	EXPECT_EQ(1, val64(m, gstr));
	if (!svm())
		return;		/* KVM: as many banks and MCG bits as the VMM sets up */
	EXPECT_GP(m, bank10);
	EXPECT_GP(m, bank10w);
	EXPECT_OK(m, gctl);
	EXPECT_GP(m, gctlbad);
	EXPECT_GP(m, gstbad);
	EXPECT_GP(m, ctl2);
}

TEST_F_TIMEOUT(msr, pat_and_misc_enable, 120)
{
	struct mt *m = &self->m;
	const uint64_t good = 0x0007010600070106ULL;
	int t2, t3, t8, ok, rd, me, mew, mer;

	m->n = 0;
	t2 = WR(m, 0x277, 0x0007040600070402ULL);
	t3 = WR(m, 0x277, 0x0307040600070406ULL);
	t8 = WR(m, 0x277, 0x0007040608070406ULL);
	ok = WR(m, 0x277, good);
	rd = RD(m, 0x277);
	me = RD(m, 0x1a0);
	mew = WR(m, 0x1a0, 1ULL << 22 | 1);	/* limit CPUID maxval */
	mer = RD(m, 0x1a0);
	MT_RUN(m);
	EXPECT_GP(m, t2);
	EXPECT_GP(m, t3);
	EXPECT_GP(m, t8);
	EXPECT_OK(m, ok);
	EXPECT_EQ(good, val64(m, rd));
	EXPECT_OK(m, me);
	EXPECT_EQ(1, val64(m, me) & 1) TH_LOG("fast strings");
	EXPECT_OK(m, mew);
	if (svm()) {
		EXPECT_EQ(0, val64(m, mer) & (1ULL << 22)) TH_LOG("CPUID limit stuck");
		EXPECT_EQ(3ULL << 11, val64(m, me) & (3ULL << 11))
			TH_LOG("BTS/PEBS unavailable");
	}
}

TEST_F_TIMEOUT(msr, noncanonical_bases_gp, 120)
{
	static const uint32_t msrs[] = {
		0xc0000100, 0xc0000101, 0xc0000102, 0xc0000082, 0xc0000083,
		0x175, 0x176,
	};
	struct mt *m = &self->m;
	const uint64_t bad = 0x0000800000000000ULL, good = 0xffff800000123000ULL;
	int b[7], g[7], r[7], efer;
	unsigned int i;

	m->n = 0;
	for (i = 0; i < 7; i++) {
		b[i] = WR(m, msrs[i], bad);
		g[i] = WR(m, msrs[i], good);
		r[i] = RD(m, msrs[i]);
	}
	/* restore FS/GS bases the guest may use (flat 0) */
	WR(m, 0xc0000100, 0);
	WR(m, 0xc0000101, 0);
	efer = WR(m, 0xc0000080, 2);		/* reserved bit 1 */
	MT_RUN(m);
	for (i = 0; i < 7; i++) {
		EXPECT_GP(m, b[i]);
		EXPECT_OK(m, g[i]);
		EXPECT_EQ(good, val64(m, r[i])) TH_LOG("MSR 0x%x", msrs[i]);
	}
	EXPECT_GP(m, efer);
}

/* reads, writes of an index in this process's VM's unknown_msrs; -errno */
static int unknown_counts(uint32_t index, uint64_t *reads, uint64_t *writes)
{
	char prefix[32], path[512], buf[256];
	struct dirent *de;
	int found = 0;
	DIR *d;
	FILE *f;

	snprintf(prefix, sizeof(prefix), "vm%d-", (int)getpid());
	d = opendir(SVM_DEBUGFS_DIR);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, prefix, strlen(prefix))) {
			snprintf(path, sizeof(path), "%s/%s/unknown_msrs",
				 SVM_DEBUGFS_DIR, de->d_name);
			found = 1;
			break;
		}
	}
	closedir(d);
	if (!found)
		return -ENOENT;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*reads = *writes = 0;
	found = -ESRCH;
	while (fgets(buf, sizeof(buf), f)) {
		unsigned long long i, r, w;

		if (sscanf(buf, "%llx %llu %llu", &i, &r, &w) == 3 && i == index) {
			*reads = r;
			*writes = w;
			found = 0;
		}
	}
	fclose(f);
	return found;
}

TEST_F_TIMEOUT(msr, unknown_msr_gp_and_counted, 120)
{
	struct mt *m = &self->m;
	uint64_t st0[SHADOWVM_STAT_NR], st1[SHADOWVM_STAT_NR], r, w;
	int a, b, c;

	m->n = 0;
	a = RD(m, 0x4b564d99);
	b = WR(m, 0x4b564d99, 1);
	c = WR(m, 0x4b564d99, 0);
	if (svm())
		ASSERT_EQ(0, grt_vm_stats(&m->t, st0, SHADOWVM_STAT_NR));
	MT_RUN(m);
	EXPECT_GP(m, a);
	EXPECT_GP(m, b);
	EXPECT_GP(m, c);
	if (!svm())
		return;
	ASSERT_EQ(0, grt_vm_stats(&m->t, st1, SHADOWVM_STAT_NR));
	EXPECT_EQ(3, st1[SHADOWVM_STAT_UNKNOWN_MSR] - st0[SHADOWVM_STAT_UNKNOWN_MSR]);
	ASSERT_EQ(0, svm_debugfs_ready());
	ASSERT_EQ(0, unknown_counts(0x4b564d99, &r, &w));
	EXPECT_EQ(1, r);
	EXPECT_EQ(2, w);
}

/* ---- INVPCID, under every MMU policy ---- */

FIXTURE(invpcid) {
	struct mt m;
};

POLICY_VARIANTS(invpcid);

FIXTURE_SETUP(invpcid)
{
	MT_SETUP(&self->m, variant->policy);
}

FIXTURE_TEARDOWN(invpcid)
{
	mt_done(&self->m);
}

static void set_desc(struct mt *m, int slot, uint64_t d0, uint64_t d1)
{
	uint64_t *d = tvm_ptr(&m->t, DESC_GPA + slot * 16);

	d[0] = d0;
	d[1] = d1;
}

TEST_F_TIMEOUT(invpcid, each_type_invalidates_the_shadow, 180)
{
	struct mt *m = &self->m;
	bool has = guest_reg(_metadata, m, 7, R_EBX) & BIT(10);
	bool stale_seen = variant->policy == SHADOWVM_MMU_POLICY_VTLB ||
			  variant->policy == SHADOWVM_MMU_POLICY_UNSYNC;
	uint64_t la0 = 0x00c10000ULL;	/* outside the identity map and user stubs */
	uint64_t st0[SHADOWVM_STAT_NR], st1[SHADOWVM_STAT_NR];
	int type;

	if (!has) {
		m->n = 0;
		set_desc(m, 0, 0, 0);
		type = op(m, K_INVPCID, 2, 0);
		m->ops[type].lo = DESC_GPA;
		MT_RUN(m);
		EXPECT_EQ(6, m->ops[type].vec) TH_LOG("INVPCID hidden but not #UD");
		return;
	}
	if (svm())
		ASSERT_EQ(0, grt_vm_stats(&m->t, st0, SHADOWVM_STAT_NR));
	for (type = 0; type < 4; type++) {
		uint64_t la = la0 + type * 0x1000;
		uint64_t fa = 0x00340000ULL + type * 0x2000, fb = fa + 0x1000;
		uint64_t pte;
		int prime, wpte, stale, inv, fresh;

		ASSERT_EQ(0, gp_map(&m->g, la, fa, 0x1000, GP_4K, GP_W | GP_A | GP_D));
		pte = gp_entry_gpa(&m->g, la, 1, false);
		ASSERT_NE(0, pte);
		*(uint32_t *)tvm_ptr(&m->t, fa) = 0xa0a0a000 + type;
		*(uint32_t *)tvm_ptr(&m->t, fb) = 0xb0b0b000 + type;
		set_desc(m, type, 0, la);
		m->n = 0;
		prime = op(m, K_R32, 0, la);
		wpte = op(m, K_W32, 0, pte | (fb | GP_P | GP_W | GP_A | GP_D) << 32);
		stale = op(m, K_R32, 0, la);
		inv = op(m, K_INVPCID, type, DESC_GPA + type * 16);
		fresh = op(m, K_R32, 0, la);
		MT_RUN(m);
		EXPECT_OK(m, prime);
		EXPECT_OK(m, wpte);
		EXPECT_OK(m, inv);
		EXPECT_EQ(0xa0a0a000 + type, m->ops[prime].eax);
		if (svm() && stale_seen) {
			EXPECT_EQ(0xa0a0a000 + type, m->ops[stale].eax)
				TH_LOG("type %d: the PTE write was seen before the flush", type);
		} else if (svm()) {
			EXPECT_EQ(0xb0b0b000 + type, m->ops[stale].eax)
				TH_LOG("type %d: write-protection kept a stale translation", type);
		}
		EXPECT_EQ(0xb0b0b000 + type, m->ops[fresh].eax)
			TH_LOG("type %d: INVPCID left the old translation", type);
	}
	if (!svm())
		return;
	/* intercepted exactly under the policies that intercept INVLPG */
	ASSERT_EQ(0, grt_vm_stats(&m->t, st1, SHADOWVM_STAT_NR));
	EXPECT_EQ(stale_seen ? 4 : 0,
		  st1[SHADOWVM_STAT_EXIT_INVPCID] - st0[SHADOWVM_STAT_EXIT_INVPCID]);
}

/*
 * Long mode with CR4.PCIDE, PCID 1, a 64-bit register operand and a
 * base + index * scale + displacement memory operand (r9-r11).
 */
TEST_F_TIMEOUT(invpcid, long_mode_pcid_types, 180)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP,
			       .cr4_extra = 1ULL << 17 /* PCIDE */ };
	bool has = guest_reg(_metadata, &self->m, 7, R_EBX) & BIT(10);
	bool stale_seen = variant->policy == SHADOWVM_MMU_POLICY_VTLB ||
			  variant->policy == SHADOWVM_MMU_POLICY_UNSYNC;
	uint64_t st0[SHADOWVM_STAT_NR], st1[SHADOWVM_STAT_NR];
	struct grt_script s;
	struct tvm t;
	struct gp g;
	char err[256];
	uint64_t *res;
	int r, type;

	if (!has)
		SKIP(return, "INVPCID not in guest CPUID (host or VMX lacks it)");
	mt_done(&self->m);
	gs_init(&s);
	r = grt_create(&t, tvm_default_kind(), MEM_SIZE, variant->policy, 0, 0);
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	ASSERT_EQ(0, gp_init(&g, t.mem, MEM_SIZE, GP_MODE_LM, GRT_POOL, GRT_POOL_SIZE));
	r = grt_setup(&t, &g, &env);
	ASSERT_EQ(0, r) TH_LOG("setup: %s", strerror(-r));
	gs_op(&s, GOP_CR3, 0, gp_cr3(&g) | 1, 0, 0);
	for (type = 0; type < 4; type++) {
		uint64_t la = 0x00007fff00000000ULL + type * 0x1000;
		uint64_t fa = 0x00340000ULL + type * 0x2000, fb = fa + 0x1000;
		uint64_t pte, *d = tvm_ptr(&t, DESC_GPA + type * 16);

		ASSERT_EQ(0, gp_map(&g, la, fa, 0x1000, GP_4K, GP_W | GP_A | GP_D));
		pte = gp_entry_gpa(&g, la, 1, false);
		ASSERT_NE(0, pte);
		*(uint32_t *)tvm_ptr(&t, fa) = 0xa0a0a000 + type;
		*(uint32_t *)tvm_ptr(&t, fb) = 0xb0b0b000 + type;
		d[0] = 1;		/* PCID 1 */
		d[1] = la;
		gs_op(&s, GOP_R32, 0, la, 0, 4 * type);
		gs_op(&s, GOP_WENT, 0, pte, fb | GP_P | GP_W | GP_A | GP_D, 0);
		gs_op(&s, GOP_R32, 0, la, 0, 4 * type + 1);
		gs_op(&s, GOP_INVPCID, 0, type, DESC_GPA + type * 16, 0);
		gs_op(&s, GOP_R32, 0, la, 0, 4 * type + 2);
	}
	if (svm())
		ASSERT_EQ(0, grt_vm_stats(&t, st0, SHADOWVM_STAT_NR));
	r = grt_exec(&t, &s, err, sizeof(err));
	EXPECT_EQ(0, r) TH_LOG("guest: %s", err);
	res = grt_res(&t);
	for (type = 0; r == 0 && type < 4; type++) {
		EXPECT_EQ(0xa0a0a000 + type, res[4 * type]);
		if (svm())
			EXPECT_EQ((stale_seen ? 0xa0a0a000 : 0xb0b0b000) + type,
				  res[4 * type + 1]) TH_LOG("type %d: read before the flush", type);
		EXPECT_EQ(0xb0b0b000 + type, res[4 * type + 2])
			TH_LOG("type %d: INVPCID left the old translation", type);
	}
	if (svm() && r == 0) {
		ASSERT_EQ(0, grt_vm_stats(&t, st1, SHADOWVM_STAT_NR));
		EXPECT_EQ(stale_seen ? 4 : 0,
			  st1[SHADOWVM_STAT_EXIT_INVPCID] - st0[SHADOWVM_STAT_EXIT_INVPCID]);
	}
	gs_free(&s);
	tvm_destroy(&t);
}

TEST_F_TIMEOUT(invpcid, operand_checks_gp, 120)
{
	struct mt *m = &self->m;
	bool has = guest_reg(_metadata, m, 7, R_EBX) & BIT(10);
	int t4, rsv, pcid0, pcid1, noncanon, ok2, ok3, ok0, ok1;

	if (!has)
		SKIP(return, "INVPCID not in guest CPUID (host or VMX lacks it)");
	set_desc(m, 0, 0, 0x1000);			/* valid */
	set_desc(m, 1, 0x1000, 0);			/* bits 63:12 */
	set_desc(m, 2, 1, 0x1000);			/* PCID 1, CR4.PCIDE=0 */
	set_desc(m, 3, 0, 0x0000800000000000ULL);	/* non-canonical */
	m->n = 0;
	t4 = op(m, K_INVPCID, 4, DESC_GPA);
	rsv = op(m, K_INVPCID, 1, DESC_GPA + 16);
	pcid0 = op(m, K_INVPCID, 0, DESC_GPA + 32);
	pcid1 = op(m, K_INVPCID, 1, DESC_GPA + 32);
	noncanon = op(m, K_INVPCID, 0, DESC_GPA + 48);
	ok2 = op(m, K_INVPCID, 2, DESC_GPA + 32);	/* PCID ignored */
	ok3 = op(m, K_INVPCID, 3, DESC_GPA + 32);
	ok0 = op(m, K_INVPCID, 0, DESC_GPA);
	ok1 = op(m, K_INVPCID, 1, DESC_GPA);
	MT_RUN(m);
	EXPECT_GP(m, t4);
	EXPECT_GP(m, rsv);
	EXPECT_GP(m, pcid0);
	EXPECT_GP(m, pcid1);
	EXPECT_GP(m, noncanon);
	EXPECT_OK(m, ok2);
	EXPECT_OK(m, ok3);
	EXPECT_OK(m, ok0);
	EXPECT_OK(m, ok1);
}

TEST_HARNESS_MAIN
