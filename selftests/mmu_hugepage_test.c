// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_hugepage_test: guest large pages over host transparent huge pages
 * map as 2 MiB shadow entries, in long mode and PAE (2 MiB pages), 32-bit
 * paging with CR4.PSE (a 4 MiB page: two 2 MiB shadow halves) and long
 * mode with a 1 GiB page, under each MMU policy.
 *
 * Guest RAM is 2 MiB aligned and MADV_HUGEPAGE (lib/svmtest.c); the test
 * writes a signature into every 4 KiB frame of the 4 MiB under the big
 * page(s) and needs the host to have backed it with huge pages
 * (AnonHugePages in /proc/self/smaps): if it did not (THP disabled or no
 * huge page free), the case skips, an environment skip. Each case checks:
 *   1. reads at four offsets of the first 2 MiB and one of the second see
 *      the right frames; on shadowvm exactly two hidden fills, both built
 *      as 2 MiB shadow leaves (LARGE_MAPPED +2, no LARGE_NO_* fallback),
 *      no true fault; the guest's big-page entry has A set, D clear;
 *   2. a write through the page sets D in the guest entry (one hidden
 *      fault, the leaf rebuilt writable) and lands in the right frame;
 *   3. a frame X inside the first 2 MiB becomes a guest page table (its
 *      entry written through the big page, then linked by a new PDE, the
 *      big page read once more in between): the 2 MiB leaf over it is
 *      zapped (LARGE_ZAPPED; exactly one under wp; under wp-noemu the PDE
 *      write unprotects the page directory and drops the leaf with its
 *      shadow page, and that read maps it large again),
 *      another page of that 2 MiB then fills as 4 KiB (LARGE_NO_WP), a
 *      guest write to X through the big page is intercepted (emulated
 *      under wp, unsync under unsync, unprotected under wp-noemu; vtlb
 *      tracks nothing and drops its shadow at INVLPG), and the new
 *      mapping translates as the guest edited it.
 * no_thp: with SVMTEST_GUEST_THP=0 (MADV_NOHUGEPAGE) the same reads and
 * writes are right, no large leaf is built and the fills count
 * LARGE_NO_HOST.
 * long_mode_2m_hole: the runner drops one 4 KiB frame of the second
 * 2 MiB (MADV_DONTNEED: its huge page is now mapped by 4 KiB entries, the
 * folio still whole) and writes a new value there before the guest's
 * first touch; the guest must read that value, the other frames
 * unchanged, and its write must reach the runner's new page. On shadowvm
 * the intact first 2 MiB maps large (one region pin, region_pins of the
 * module's debugfs file: PAGES_PINNED counts its 512 pages, VmPin of
 * /proc/self/status too), the second splits
 * (LARGE_NO_HOST); after the VM is gone the module's pinned_pages and
 * VmPin are back where they were.
 * long_mode_2m_stale_pin: a frame of a 2 MiB region pinned as another
 * page (the runner replaced the region behind the live slot after the
 * guest had used that frame) when the region pin comes: the guest keeps
 * its old page there and gets the new ones elsewhere, and the region pin
 * is released once with the VM. Each later 4 KiB fill in the region tries
 * the region pin again (it finds every frame pinned): that retry used to
 * take the region pin's marks off its frames, which were then unpinned
 * one by one at slot removal (a page freed while the runner still mapped
 * it: "BUG: Bad rss-counter state", region_pins left at 1).
 * long_mode_2m_hugetlb: the same 4 MiB from hugetlbfs (MAP_HUGETLB) in a
 * slot of its own maps large through region pins; the runner's
 * MADV_DONTNEED of one huge page leaves the guest its old one; after the
 * VM HugePages_Free is back (no pin kept a huge page).
 * The exact counts are for the phases after a warm-up that ran the same
 * ops elsewhere (runtime pages mapped, prefetch done; no CR3 load or
 * INVLPG after it, after which vtlb would start again from nothing).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"

#define MEM_SIZE	(16u << 20)
#define BIG		0x40000000ULL	/* linear address of the big page(s) */
#define HB		0x800000ULL	/* guest-physical: 4 MiB, 4 MiB aligned */
#define HB_SIZE		0x400000ULL
#define X_OFF		0x10000ULL	/* the frame that becomes a page table */
#define NEWLA		(BIG + 0x800000ULL)	/* mapped through X */
#define NEWLA_1G	0x80000000ULL	/* the same, outside the 1 GiB page */
#define FA		0x300000ULL	/* GRT_FREE: what X's entry maps first */
#define FB		0x301000ULL	/* ... then */
#define WVAL		0x5eed1234u

static uint32_t sig(uint64_t gpa)
{
	return 0xa0000000u | (uint32_t)(gpa >> 12);
}

FIXTURE(huge) {
	struct tvm t;
	struct gp g;
	struct grt_script s;
	bool live;
	char err[512];
};

POLICY_VARIANTS(huge);

FIXTURE_SETUP(huge)
{
	memset(self, 0, sizeof(*self));
	gs_init(&self->s);
}

FIXTURE_TEARDOWN(huge)
{
	if (self->live)
		tvm_destroy(&self->t);
	gs_free(&self->s);
	unsetenv("SVMTEST_GUEST_THP");
}

enum big_kind { BIG_2M, BIG_4M, BIG_1G };

#define D(st1, st0, id) ((st1)[SHADOWVM_STAT_##id] - (st0)[SHADOWVM_STAT_##id])

/* the guest's entry that maps BIG (the PDE; the PDPTE of a 1 GiB page) */
static uint64_t big_entry(struct gp *g, enum big_kind k)
{
	return gp_entry_gpa(g, BIG, k == BIG_1G ? 3 : 2, false);
}

static int run(struct _test_data_huge *self)
{
	int r = grt_exec(&self->t, &self->s, self->err, sizeof(self->err));

	gs_reset(&self->s);
	return r;
}

static void huge_case(struct __test_metadata *_metadata,
		      struct _test_data_huge *self, uint32_t policy,
		      enum gp_mode mode, enum big_kind k, bool thp)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP,
			       .cr4_extra = mode == GP_MODE_32 ? GP_CR4_PSE : 0 };
	enum be_kind kind = tvm_default_kind();
	bool svm = kind == BE_SHADOWVM;
	bool wprot = policy != SHADOWVM_MMU_POLICY_VTLB;
	uint64_t st0[SHADOWVM_STAT_NR], st1[SHADOWVM_STAT_NR];
	uint64_t *res, e, pde_new, x_gpa = HB + X_OFF, la_x = BIG + X_OFF;
	uint64_t big_la = BIG, newla = k == BIG_1G ? NEWLA_1G : NEWLA, gpa, off;
	int esize = gp_esize(mode), r;
	struct grt_cpu cpu;
	long kb;

	if (!thp)
		setenv("SVMTEST_GUEST_THP", "0", 1);
	r = grt_create(&self->t, kind, MEM_SIZE, policy, 0, 0);
	if (tvm_no_device(r))
		SKIP(return, "%s backend device missing", be_ops_by_kind(kind)->name);
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	self->live = true;
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, mode, GRT_POOL,
			     GRT_POOL_SIZE));
	if (k == BIG_1G) {
		/* 1 GiB at BIG maps guest-physical [0, 1 GiB): HB is inside */
		ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));
		ASSERT_EQ(0, grt_probe_cpu(&self->t, &cpu, self->err, sizeof(self->err)))
			TH_LOG("%s", self->err);
		if (!cpu.gbpages)
			SKIP(return, "the guest CPU has no 1 GiB pages (CPUID.80000001H:EDX.Page1GB)");
		ASSERT_EQ(0, gp_map(&self->g, BIG, 0, GP_1G, GP_1G, GP_W));
		big_la = BIG + HB;	/* HB seen through the 1 GiB page */
		la_x = big_la + X_OFF;
	} else {
		ASSERT_EQ(0, gp_map(&self->g, BIG, HB, HB_SIZE,
				    k == BIG_4M ? GP_4M : GP_2M, GP_W));
		ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));
	}
	/* X's entry 0 will map NEWLA; its PDE is in the pool (identity mapped) */
	pde_new = gp_entry_gpa(&self->g, newla, 2, true);
	ASSERT_NE(0, pde_new);
	/* signatures in every frame: the host faults its huge pages in here */
	for (off = 0; off < HB_SIZE; off += 0x1000)
		*(uint32_t *)tvm_ptr(&self->t, HB + off) = sig(HB + off);
	*(uint32_t *)tvm_ptr(&self->t, FA) = sig(FA);
	*(uint32_t *)tvm_ptr(&self->t, FB) = sig(FB);
	*(uint32_t *)tvm_ptr(&self->t, GRT_SCRATCH) = sig(GRT_SCRATCH);
	kb = anon_huge_kb(tvm_ptr(&self->t, HB));
	if (thp && kb < (long)(HB_SIZE >> 10))
		SKIP(return, "no transparent huge pages behind guest RAM (AnonHugePages %ld kB; /sys/kernel/mm/transparent_hugepage/enabled)",
		     kb);

	/* warm-up: the same ops on the identity map */
	gs_op(&self->s, GOP_CR3, 0, gp_cr3(&self->g), 0, 0);
	gs_access(&self->s, GRT_SCRATCH, GRT_ACC_READ, 0, 0);
	gs_access(&self->s, GRT_SCRATCH, GRT_ACC_WRITE, sig(GRT_SCRATCH), 4);
	gs_op(&self->s, GOP_R64, 0, GRT_SCRATCH, 0, 8);
	ASSERT_EQ(0, run(self)) TH_LOG("warm-up: %s", self->err);
	res = grt_res(&self->t);

	/* 1: reads */
	if (svm)
		ASSERT_EQ(0, grt_vm_stats(&self->t, st0, SHADOWVM_STAT_NR));
	gs_access(&self->s, big_la, GRT_ACC_READ, 0, 0);
	gs_access(&self->s, big_la + 0x1000, GRT_ACC_READ, 0, 4);
	gs_access(&self->s, big_la + 0x123000, GRT_ACC_READ, 0, 8);
	gs_access(&self->s, big_la + 0x1ff000, GRT_ACC_READ, 0, 12);
	gs_access(&self->s, big_la + 0x205000, GRT_ACC_READ, 0, 16);
	ASSERT_EQ(0, run(self)) TH_LOG("reads: %s", self->err);
	if (svm)
		ASSERT_EQ(0, grt_vm_stats(&self->t, st1, SHADOWVM_STAT_NR));
	EXPECT_EQ(0, (uint32_t)res[0]);
	EXPECT_EQ(sig(HB), (uint32_t)res[2]);
	EXPECT_EQ(sig(HB + 0x1000), (uint32_t)res[6]);
	EXPECT_EQ(sig(HB + 0x123000), (uint32_t)res[10]);
	EXPECT_EQ(sig(HB + 0x1ff000), (uint32_t)res[14]);
	EXPECT_EQ(sig(HB + 0x205000), (uint32_t)res[18]);
	EXPECT_EQ(0, (uint32_t)(res[4] | res[8] | res[12] | res[16]));
	e = gp_get(&self->g, big_entry(&self->g, k));
	EXPECT_TRUE(e & GP_A) TH_LOG("the big page's entry 0x%llx: A not set",
				     (unsigned long long)e);
	EXPECT_FALSE(e & GP_D) TH_LOG("reads set D in 0x%llx", (unsigned long long)e);
	if (svm) {
		TH_LOG("reads: %llu fills, %llu large, %llu no-host, %llu no-wp",
		       (unsigned long long)D(st1, st0, PF_HIDDEN_FILL),
		       (unsigned long long)D(st1, st0, LARGE_MAPPED),
		       (unsigned long long)D(st1, st0, LARGE_NO_HOST),
		       (unsigned long long)D(st1, st0, LARGE_NO_WP));
		EXPECT_EQ(0, D(st1, st0, PF_TRUE));
		EXPECT_EQ(0, D(st1, st0, LARGE_NO_WP));
		if (thp) {
			EXPECT_EQ(2, D(st1, st0, PF_HIDDEN_FILL));
			EXPECT_EQ(2, D(st1, st0, LARGE_MAPPED));
			EXPECT_EQ(0, D(st1, st0, LARGE_NO_HOST));
		} else {
			EXPECT_EQ(0, D(st1, st0, LARGE_MAPPED));
			EXPECT_LE(2, D(st1, st0, LARGE_NO_HOST));
			EXPECT_EQ(D(st1, st0, PF_HIDDEN_FILL), D(st1, st0, LARGE_NO_HOST));
		}
	}

	/* 2: a write sets D and lands */
	memcpy(st0, st1, sizeof(st0));
	gs_access(&self->s, big_la + 0x3000, GRT_ACC_WRITE, WVAL, 20);
	gs_access(&self->s, big_la + 0x4000, GRT_ACC_WRITE, WVAL + 1, 24);
	ASSERT_EQ(0, run(self)) TH_LOG("writes: %s", self->err);
	if (svm)
		ASSERT_EQ(0, grt_vm_stats(&self->t, st1, SHADOWVM_STAT_NR));
	EXPECT_EQ(0, (uint32_t)(res[20] | res[24]));
	EXPECT_EQ(WVAL, *(uint32_t *)tvm_ptr(&self->t, HB + 0x3000));
	EXPECT_EQ(WVAL + 1, *(uint32_t *)tvm_ptr(&self->t, HB + 0x4000));
	EXPECT_EQ(sig(HB + 0x5000), *(uint32_t *)tvm_ptr(&self->t, HB + 0x5000));
	e = gp_get(&self->g, big_entry(&self->g, k));
	EXPECT_TRUE((e & (GP_A | GP_D)) == (GP_A | GP_D))
		TH_LOG("after a write the big page's entry is 0x%llx", (unsigned long long)e);
	if (svm && thp) {
		EXPECT_EQ(1, D(st1, st0, PF_HIDDEN_FILL));
		EXPECT_EQ(1, D(st1, st0, LARGE_MAPPED));
	}

	/* 3: X, inside the first 2 MiB, becomes a page table */
	memcpy(st0, st1, sizeof(st0));
	gs_op(&self->s, GOP_WENT, 0, la_x, FA | GP_P | GP_W | GP_A | GP_D, 0);
	gs_op(&self->s, GOP_WENT, 0, pde_new, x_gpa | GP_P | GP_W | GP_A, 0);
	/*
	 * The big page once more before X is linked: under wp-noemu the
	 * PDE write above unprotected the page directory, zapping its
	 * shadow page and the 2 MiB leaf in it, so this maps it large
	 * again; under the other policies the leaf is still there (no exit).
	 */
	gs_access(&self->s, big_la + 0x2000, GRT_ACC_READ, 0, 52);
	gs_op(&self->s, GOP_INVLPG, 0, newla, 0, 0);
	gs_access(&self->s, newla, GRT_ACC_READ, 0, 28);
	/* another page of that 2 MiB, and the second 2 MiB, still right */
	gs_access(&self->s, big_la + 0x20000, GRT_ACC_READ, 0, 32);
	gs_access(&self->s, big_la + 0x206000, GRT_ACC_READ, 0, 36);
	/* the guest edits its new table through the big page */
	gs_op(&self->s, GOP_WENT, 0, la_x, FB | GP_P | GP_W | GP_A | GP_D, 0);
	gs_op(&self->s, GOP_INVLPG, 0, newla, 0, 0);
	gs_access(&self->s, newla, GRT_ACC_READ, 0, 40);
	gs_op(&self->s, GOP_R64, 0, la_x, 0, 44);
	gs_access(&self->s, big_la + 0x21000, GRT_ACC_READ, 0, 48);
	ASSERT_EQ(0, run(self)) TH_LOG("page table in the big page: %s", self->err);
	if (svm)
		ASSERT_EQ(0, grt_vm_stats(&self->t, st1, SHADOWVM_STAT_NR));
	EXPECT_EQ(0, (uint32_t)(res[28] | res[32] | res[36] | res[40] | res[48] | res[52]));
	EXPECT_EQ(sig(HB + 0x2000), (uint32_t)res[54]);
	EXPECT_EQ(sig(FA), (uint32_t)res[30]) TH_LOG("first mapping through X");
	EXPECT_EQ(sig(HB + 0x20000), (uint32_t)res[34]);
	EXPECT_EQ(sig(HB + 0x206000), (uint32_t)res[38]);
	EXPECT_EQ(sig(FB), (uint32_t)res[42])
		TH_LOG("after the guest edited X through the big page, its page reads 0x%x",
		       (uint32_t)res[42]);
	EXPECT_EQ(FB | GP_P | GP_W | GP_A | GP_D,
		  res[44] & (esize == 4 ? 0xffffffffULL : ~0ULL));
	EXPECT_EQ(sig(HB + 0x21000), (uint32_t)res[50]);
	gpa = 0;
	EXPECT_EQ(0, gp_translate(&self->g, newla, &gpa));
	EXPECT_EQ(FB, gpa);
	if (svm) {
		uint64_t seen = D(st1, st0, PF_HIDDEN_PT_WRITE) +
				D(st1, st0, PF_HIDDEN_UNSYNC) + D(st1, st0, PT_UNPROTECT);

		TH_LOG("%s, %s: zapped %llu, no-wp %llu, pt-writes %llu, unsync %llu, unprotect %llu, large %llu",
		       gp_mode_name(mode), grt_policy_name(policy),
		       (unsigned long long)D(st1, st0, LARGE_ZAPPED),
		       (unsigned long long)D(st1, st0, LARGE_NO_WP),
		       (unsigned long long)D(st1, st0, PF_HIDDEN_PT_WRITE),
		       (unsigned long long)D(st1, st0, PF_HIDDEN_UNSYNC),
		       (unsigned long long)D(st1, st0, PT_UNPROTECT),
		       (unsigned long long)D(st1, st0, LARGE_MAPPED));
		if (wprot)
			EXPECT_LE(1, seen) TH_LOG("the write to X was not intercepted");
		if (thp && wprot) {
			EXPECT_LE(1, D(st1, st0, LARGE_ZAPPED));
			EXPECT_LE(1, D(st1, st0, LARGE_NO_WP));
		}
		/*
		 * Under wp only the second 2 MiB's leaf stays, but a 1 GiB
		 * page's is rebuilt once: the split of a 1 GiB page is a
		 * direct page whose role carries the page's rights, and
		 * setting D in phase 2 changed them.
		 */
		if (thp && policy == SHADOWVM_MMU_POLICY_WRITE_PROTECT) {
			EXPECT_EQ(1, D(st1, st0, LARGE_ZAPPED));
			EXPECT_LE(1, D(st1, st0, PF_HIDDEN_PT_WRITE));
			EXPECT_EQ(k == BIG_1G ? 1 : 0, D(st1, st0, LARGE_MAPPED));
		}
		if (!thp)
			EXPECT_EQ(0, D(st1, st0, LARGE_MAPPED) + D(st1, st0, LARGE_ZAPPED));
	}
}

/* VmPin of /proc/self/status in kB, or -1 */
static long vmpin_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * The long-mode VM of the cases below: mem bytes of RAM, the guest's BIG
 * mapping HB with 2 MiB pages; base (on shadowvm) the module's counters
 * before it. With HB in RAM (mem > HB): every frame of HB holds its sig()
 * and the host must back it with huge pages (else an environment skip).
 * false: skipped.
 */
static bool lm_vm(struct __test_metadata *_metadata, struct _test_data_huge *self,
		  uint32_t policy, size_t mem, struct svm_counters *base)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP };
	enum be_kind kind = tvm_default_kind();
	uint64_t off;
	long kb;
	int r;

	if (kind == BE_SHADOWVM)
		ASSERT_EQ(0, svm_read_counters(base));
	r = grt_create(&self->t, kind, mem, policy, 0, 0);
	if (tvm_no_device(r))
		SKIP(return false, "%s backend device missing", be_ops_by_kind(kind)->name);
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	self->live = true;
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, mem, GP_MODE_LM, GRT_POOL, GRT_POOL_SIZE));
	ASSERT_EQ(0, gp_map(&self->g, BIG, HB, HB_SIZE, GP_2M, GP_W));
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));
	*(uint32_t *)tvm_ptr(&self->t, GRT_SCRATCH) = sig(GRT_SCRATCH);
	if (mem <= HB)
		return true;
	for (off = 0; off < HB_SIZE; off += 0x1000)
		*(uint32_t *)tvm_ptr(&self->t, HB + off) = sig(HB + off);
	kb = anon_huge_kb(tvm_ptr(&self->t, HB));
	if (kb < (long)(HB_SIZE >> 10))
		SKIP(return false, "no transparent huge pages behind guest RAM (AnonHugePages %ld kB; /sys/kernel/mm/transparent_hugepage/enabled)",
		     kb);
	return true;
}

/*
 * Destroy lm_vm()'s VM: on shadowvm the module's counters must come back
 * to base (pinned pages, region pins, ...), and VmPin to pin0.
 */
static void lm_vm_end(struct __test_metadata *_metadata, struct _test_data_huge *self,
		      const struct svm_counters *base, long pin0)
{
	struct svm_counters now;
	char diff[256];

	tvm_destroy(&self->t);
	self->live = false;
	if (tvm_default_kind() != BE_SHADOWVM)
		return;
	EXPECT_EQ(0, svm_wait_counters(base, &now, 10000))
		TH_LOG("after the VM: %s",
		       svm_counters_diff(base, &now, diff, sizeof(diff)) ? diff : "-");
	if (pin0 >= 0)
		EXPECT_EQ(pin0, vmpin_kb());
}

/*
 * lm_vm()'s guest loads its CR3 and reads GRT_SCRATCH; then (on shadowvm)
 * the VM's counters into st0. Returns the result words.
 */
static uint64_t *lm_warm(struct __test_metadata *_metadata, struct _test_data_huge *self,
			 uint64_t *st0)
{
	gs_op(&self->s, GOP_CR3, 0, gp_cr3(&self->g), 0, 0);
	gs_access(&self->s, GRT_SCRATCH, GRT_ACC_READ, 0, 0);
	ASSERT_EQ(0, run(self)) TH_LOG("warm-up: %s", self->err);
	if (tvm_default_kind() == BE_SHADOWVM)
		ASSERT_EQ(0, grt_vm_stats(&self->t, st0, SHADOWVM_STAT_NR));
	return grt_res(&self->t);
}

#define HOLE	(HB + 0x207000ULL)	/* in the second 2 MiB */
#define HVAL	0x40e1f00du

static void hole_case(struct __test_metadata *_metadata,
		      struct _test_data_huge *self, uint32_t policy)
{
	bool svm = tvm_default_kind() == BE_SHADOWVM;
	uint64_t st0[SHADOWVM_STAT_NR], st1[SHADOWVM_STAT_NR], *res;
	struct svm_counters base, now;
	long pin0 = vmpin_kb(), pin1;

	if (!lm_vm(_metadata, self, policy, MEM_SIZE, &base))
		return;
	/* the hole, and the runner's new page in it */
	ASSERT_EQ(0, madvise(tvm_ptr(&self->t, HOLE), 4096, MADV_DONTNEED));
	EXPECT_EQ(0, *(uint32_t *)tvm_ptr(&self->t, HOLE));
	*(uint32_t *)tvm_ptr(&self->t, HOLE) = HVAL;

	res = lm_warm(_metadata, self, st0);
	gs_access(&self->s, BIG + 0x1000, GRT_ACC_READ, 0, 0);
	gs_access(&self->s, BIG + 0x1ff000, GRT_ACC_READ, 0, 4);
	/* another frame of the second 2 MiB first, then the hole */
	gs_access(&self->s, BIG + HOLE - HB - 0x1000, GRT_ACC_READ, 0, 16);
	gs_access(&self->s, BIG + HOLE - HB, GRT_ACC_READ, 0, 8);
	gs_access(&self->s, BIG + HOLE - HB + 0x1000, GRT_ACC_READ, 0, 12);
	gs_access(&self->s, BIG + HOLE - HB, GRT_ACC_WRITE, HVAL + 1, 20);
	ASSERT_EQ(0, run(self)) TH_LOG("accesses: %s", self->err);
	EXPECT_EQ(0, (uint32_t)(res[0] | res[4] | res[8] | res[12] | res[16] | res[20]));
	EXPECT_EQ(sig(HB + 0x1000), (uint32_t)res[2]);
	EXPECT_EQ(sig(HB + 0x1ff000), (uint32_t)res[6]);
	EXPECT_EQ(HVAL, (uint32_t)res[10])
		TH_LOG("the guest reads 0x%x where the runner wrote 0x%x after punching the hole",
		       (uint32_t)res[10], HVAL);
	EXPECT_EQ(sig(HOLE + 0x1000), (uint32_t)res[14]);
	EXPECT_EQ(sig(HOLE - 0x1000), (uint32_t)res[18]);
	EXPECT_EQ(HVAL + 1, *(uint32_t *)tvm_ptr(&self->t, HOLE))
		TH_LOG("the guest's write did not reach the runner's page");
	if (!svm)
		return;
	ASSERT_EQ(0, grt_vm_stats(&self->t, st1, SHADOWVM_STAT_NR));
	pin1 = vmpin_kb();
	TH_LOG("%s: large %llu, no-host %llu, pinned pages %llu -> %llu, VmPin %ld -> %ld kB",
	       grt_policy_name(policy), (unsigned long long)D(st1, st0, LARGE_MAPPED),
	       (unsigned long long)D(st1, st0, LARGE_NO_HOST),
	       (unsigned long long)st0[SHADOWVM_STAT_PAGES_PINNED],
	       (unsigned long long)st1[SHADOWVM_STAT_PAGES_PINNED], pin0, pin1);
	EXPECT_EQ(1, D(st1, st0, LARGE_MAPPED));
	EXPECT_LE(1, D(st1, st0, LARGE_NO_HOST));
	ASSERT_EQ(0, svm_read_counters(&now));
	EXPECT_EQ(1, now.region_pins - base.region_pins)
		TH_LOG("region pins: %ld, want 1 (the first 2 MiB)",
		       now.region_pins - base.region_pins);
	EXPECT_LE(512, D(st1, st0, PAGES_PINNED));
	if (pin0 >= 0)
		EXPECT_EQ((long)st1[SHADOWVM_STAT_PAGES_PINNED] * 4, pin1 - pin0);
	lm_vm_end(_metadata, self, &base, pin0);
}

#define STALE_LA	0x60000000ULL	/* a 4 KiB alias of STALE, alone in its table */
#define STALE		(HB + 0x5000ULL)	/* in the first 2 MiB */

/* the runner's words after it replaced the first 2 MiB */
static uint32_t nsig(uint64_t gpa)
{
	return 0xb0000000u | (uint32_t)(gpa >> 12);
}

/*
 * A region pin over a frame pinned as another page (pin_region()'s
 * "other"): the guest reads STALE through a 4 KiB alias, which pins that
 * page of the huge page behind the first 2 MiB; the runner then drops the
 * whole 2 MiB (MADV_DONTNEED) and writes new words, which fault in a new
 * huge page. The guest keeps the page it had (Documentation/uapi.rst,
 * "the guest keeps the old pages"): through the 2 MiB page STALE still
 * reads the old word, every other frame the runner's new one, and a
 * write to another frame reaches the runner. The region pin holds the
 * 511 other frames, the region is not mapped large (LARGE_NO_HOST), the
 * 512 pages charged to RLIMIT_MEMLOCK for it drop to 511 (VmPin equals
 * PAGES_PINNED), and both go back with the VM.
 */
static void stale_case(struct __test_metadata *_metadata,
		       struct _test_data_huge *self, uint32_t policy)
{
	bool svm = tvm_default_kind() == BE_SHADOWVM;
	uint64_t st0[SHADOWVM_STAT_NR], st1[SHADOWVM_STAT_NR], off, *res;
	struct svm_counters base, now;
	long kb, kb1, pin0 = vmpin_kb(), pin1;

	if (!lm_vm(_metadata, self, policy, MEM_SIZE, &base))
		return;
	ASSERT_EQ(0, gp_map(&self->g, STALE_LA, STALE, GP_4K, GP_4K, GP_W));
	kb = anon_huge_kb(tvm_ptr(&self->t, HB));

	/* 1: STALE pinned through the alias, as a page of the first huge page */
	gs_op(&self->s, GOP_CR3, 0, gp_cr3(&self->g), 0, 0);
	gs_access(&self->s, GRT_SCRATCH, GRT_ACC_READ, 0, 0);
	gs_access(&self->s, STALE_LA, GRT_ACC_READ, 0, 4);
	ASSERT_EQ(0, run(self)) TH_LOG("the alias: %s", self->err);
	res = grt_res(&self->t);
	EXPECT_EQ(0, (uint32_t)(res[0] | res[4]));
	EXPECT_EQ(sig(STALE), (uint32_t)res[6]);

	/* 2: the runner replaces the first 2 MiB with a new huge page */
	ASSERT_EQ(0, madvise(tvm_ptr(&self->t, HB), 2 << 20, MADV_DONTNEED));
	for (off = 0; off < (2 << 20); off += 0x1000)
		*(uint32_t *)tvm_ptr(&self->t, HB + off) = nsig(HB + off);
	kb1 = anon_huge_kb(tvm_ptr(&self->t, HB));
	if (kb1 < kb)
		SKIP(return, "the host gave the replaced 2 MiB no new huge page (AnonHugePages %ld kB, %ld before)",
		     kb1, kb);

	/* 3: the first 2 MiB through the guest's 2 MiB page */
	if (svm)
		ASSERT_EQ(0, grt_vm_stats(&self->t, st0, SHADOWVM_STAT_NR));
	gs_access(&self->s, BIG + 0x1000, GRT_ACC_READ, 0, 0);
	gs_access(&self->s, BIG + STALE - HB, GRT_ACC_READ, 0, 4);
	gs_access(&self->s, BIG + 0x1ff000, GRT_ACC_READ, 0, 8);
	gs_access(&self->s, STALE_LA, GRT_ACC_READ, 0, 12);
	gs_access(&self->s, BIG + 0x6000, GRT_ACC_WRITE, HVAL, 16);
	gs_access(&self->s, BIG + STALE - HB, GRT_ACC_WRITE, HVAL + 1, 20);
	ASSERT_EQ(0, run(self)) TH_LOG("the replaced 2 MiB: %s", self->err);
	EXPECT_EQ(0, (uint32_t)(res[0] | res[4] | res[8] | res[12] | res[16] | res[20]));
	EXPECT_EQ(nsig(HB + 0x1000), (uint32_t)res[2]);
	EXPECT_EQ(sig(STALE), (uint32_t)res[6])
		TH_LOG("STALE reads 0x%x through the 2 MiB page: not the page the guest had (0x%x)",
		       (uint32_t)res[6], sig(STALE));
	EXPECT_EQ(nsig(HB + 0x1ff000), (uint32_t)res[10]);
	EXPECT_EQ(sig(STALE), (uint32_t)res[14]);
	EXPECT_EQ(HVAL, *(uint32_t *)tvm_ptr(&self->t, HB + 0x6000))
		TH_LOG("the guest's write did not reach the runner's new page");
	EXPECT_EQ(nsig(STALE), *(uint32_t *)tvm_ptr(&self->t, STALE))
		TH_LOG("the guest's write to its old page reached the runner's new one");
	if (!svm)
		return;
	ASSERT_EQ(0, grt_vm_stats(&self->t, st1, SHADOWVM_STAT_NR));
	pin1 = vmpin_kb();
	ASSERT_EQ(0, svm_read_counters(&now));
	TH_LOG("%s: large %llu, no-host %llu, region pins +%ld, pinned pages %llu -> %llu, VmPin %ld -> %ld kB",
	       grt_policy_name(policy), (unsigned long long)D(st1, st0, LARGE_MAPPED),
	       (unsigned long long)D(st1, st0, LARGE_NO_HOST), now.region_pins - base.region_pins,
	       (unsigned long long)st0[SHADOWVM_STAT_PAGES_PINNED],
	       (unsigned long long)st1[SHADOWVM_STAT_PAGES_PINNED], pin0, pin1);
	EXPECT_EQ(0, D(st1, st0, LARGE_MAPPED));
	EXPECT_LE(1, D(st1, st0, LARGE_NO_HOST));
	EXPECT_EQ(1, now.region_pins - base.region_pins)
		TH_LOG("region pins: %ld, want 1 (the 511 other frames of the first 2 MiB)",
		       now.region_pins - base.region_pins);
	EXPECT_LE(511, D(st1, st0, PAGES_PINNED));
	if (pin0 >= 0)
		EXPECT_EQ((long)st1[SHADOWVM_STAT_PAGES_PINNED] * 4, pin1 - pin0);
	lm_vm_end(_metadata, self, &base, pin0);
}

/*
 * Large prefetch: five 2 MiB guest pages in one window of the guest's page
 * directory (PDE 0..4 of BIG), over 2 MiB regions R0..R4 of a 32 MiB VM:
 *   R0 = HB       accessed, dirty     the page the guest touches
 *   R1 = HB + 2M  accessed, not dirty prefetched, read-only
 *   R2 = 12 MiB   not accessed        not prefetched
 *   R3 = 14 MiB   accessed, dirty     a frame of it is a guest page table
 *                                     (tracked): not prefetched where the
 *                                     policy tracks guest tables
 *   R4 = 16 MiB   accessed, dirty     never touched by the runner: not
 *                                     prefetched, and not faulted in
 * The guest's first read of R0 is one fill that maps R0 and prefetches R1
 * (both 2 MiB leaves; R3 too under vtlb, which tracks nothing); R4's host
 * memory is still not resident (mincore). A read of R1 then needs no
 * exit; a write to it is one fill that sets D in the guest entry (the
 * prefetched leaf was read-only) and counts no unused prefetch. R2 fills
 * on its own read, R3 splits (LARGE_NO_WP) where tracked, and every read
 * sees its region's frame. After the VM the pins are all released.
 */
#define R2	0xc00000ULL
#define R3	0xe00000ULL
#define R4	0x1000000ULL
#define PF_MEM	(32u << 20)

/* resident 4 KiB pages of the 2 MiB at p (mincore()), or -1 */
static int resident_2m(void *p)
{
	unsigned char vec[512];
	int i, n = 0;

	if (mincore(p, 2 << 20, vec))
		return -1;
	for (i = 0; i < 512; i++)
		n += vec[i] & 1;
	return n;
}

static void prefetch_case(struct __test_metadata *_metadata,
			  struct _test_data_huge *self, uint32_t policy)
{
	bool svm = tvm_default_kind() == BE_SHADOWVM;
	bool wprot = policy != SHADOWVM_MMU_POLICY_VTLB;
	uint64_t st0[SHADOWVM_STAT_NR], st1[SHADOWVM_STAT_NR], off, *res, pde, e;
	const uint64_t ad = GP_W | GP_A | GP_D;
	struct svm_counters base;
	long kb0, kb1, pin0 = vmpin_kb();
	int resident;

	if (!lm_vm(_metadata, self, policy, PF_MEM, &base))
		return;
	/* R0 accessed and dirty, R1 accessed: lm_vm() mapped both without A */
	pde = big_entry(&self->g, BIG_2M);
	gp_set(&self->g, pde, gp_get(&self->g, pde) | GP_A | GP_D);
	gp_set(&self->g, pde + 8, gp_get(&self->g, pde + 8) | GP_A);
	ASSERT_EQ(0, gp_map(&self->g, BIG + 0x400000, R2, GP_2M, GP_2M, GP_W));
	ASSERT_EQ(0, gp_map(&self->g, BIG + 0x600000, R3, GP_2M, GP_2M, ad));
	ASSERT_EQ(0, gp_map(&self->g, BIG + 0x800000, R4, GP_2M, GP_2M, ad));
	kb0 = anon_huge_kb(tvm_ptr(&self->t, HB));
	for (off = 0; off < 0x400000; off += 0x1000)
		*(uint32_t *)tvm_ptr(&self->t, R2 + off) = sig(R2 + off);
	kb1 = anon_huge_kb(tvm_ptr(&self->t, HB));
	if (kb1 - kb0 < 4096)
		SKIP(return, "no transparent huge pages behind R2 and R3 (AnonHugePages %ld -> %ld kB)",
		     kb0, kb1);
	/* a frame of R3 is a guest table: it maps NEWLA_1G (FA) */
	*(uint64_t *)tvm_ptr(&self->t, R3 + X_OFF) = FA | GP_P | GP_W | GP_A | GP_D;
	*(uint32_t *)tvm_ptr(&self->t, FA) = sig(FA);
	e = gp_entry_gpa(&self->g, NEWLA_1G, 2, true);
	ASSERT_NE(0, e);
	gp_set(&self->g, e, (R3 + X_OFF) | GP_P | GP_W | GP_A);
	resident = resident_2m(tvm_ptr(&self->t, R4));
	ASSERT_EQ(0, resident) TH_LOG("R4: %d pages resident before the guest ran", resident);

	/* warm-up: CR3, the scratch page, and R3's table shadowed */
	res = lm_warm(_metadata, self, st0);
	gs_access(&self->s, NEWLA_1G, GRT_ACC_READ, 0, 0);
	ASSERT_EQ(0, run(self)) TH_LOG("the table in R3: %s", self->err);
	EXPECT_EQ(sig(FA), (uint32_t)res[2]);

	/* 1: the first read of R0 */
	if (svm)
		ASSERT_EQ(0, grt_vm_stats(&self->t, st0, SHADOWVM_STAT_NR));
	gs_access(&self->s, BIG + 0x1000, GRT_ACC_READ, 0, 0);
	ASSERT_EQ(0, run(self)) TH_LOG("R0: %s", self->err);
	EXPECT_EQ(sig(HB + 0x1000), (uint32_t)res[2]);
	resident = resident_2m(tvm_ptr(&self->t, R4));
	EXPECT_EQ(0, resident) TH_LOG("prefetch faulted %d pages of R4 in", resident);
	if (svm) {
		ASSERT_EQ(0, grt_vm_stats(&self->t, st1, SHADOWVM_STAT_NR));
		TH_LOG("%s: R0 read: fills %llu, large %llu, prefetched %llu",
		       grt_policy_name(policy), (unsigned long long)D(st1, st0, PF_HIDDEN_FILL),
		       (unsigned long long)D(st1, st0, LARGE_MAPPED),
		       (unsigned long long)D(st1, st0, PF_PREFETCHED));
		EXPECT_EQ(1, D(st1, st0, PF_HIDDEN_FILL));
		EXPECT_EQ(wprot ? 2 : 3, D(st1, st0, LARGE_MAPPED));
		EXPECT_EQ(wprot ? 1 : 2, D(st1, st0, PF_PREFETCHED));
		memcpy(st0, st1, sizeof(st0));
	}

	/* 2: R1 read with no exit; 3: written (D set); 4: R2, R3 */
	gs_access(&self->s, BIG + 0x205000, GRT_ACC_READ, 0, 0);
	gs_access(&self->s, BIG + 0x3ff000, GRT_ACC_READ, 0, 4);
	ASSERT_EQ(0, run(self)) TH_LOG("R1 read: %s", self->err);
	EXPECT_EQ(sig(HB + 0x205000), (uint32_t)res[2]);
	EXPECT_EQ(sig(HB + 0x3ff000), (uint32_t)res[6]);
	EXPECT_FALSE(gp_get(&self->g, pde + 8) & GP_D);
	if (svm) {
		ASSERT_EQ(0, grt_vm_stats(&self->t, st1, SHADOWVM_STAT_NR));
		EXPECT_EQ(0, D(st1, st0, PF_HIDDEN_FILL) + D(st1, st0, PF_TRUE))
			TH_LOG("reads of the prefetched R1 faulted");
		memcpy(st0, st1, sizeof(st0));
	}
	gs_access(&self->s, BIG + 0x206000, GRT_ACC_WRITE, HVAL, 0);
	ASSERT_EQ(0, run(self)) TH_LOG("R1 write: %s", self->err);
	EXPECT_EQ(HVAL, *(uint32_t *)tvm_ptr(&self->t, HB + 0x206000));
	EXPECT_TRUE(gp_get(&self->g, pde + 8) & GP_D);
	if (svm) {
		ASSERT_EQ(0, grt_vm_stats(&self->t, st1, SHADOWVM_STAT_NR));
		EXPECT_EQ(1, D(st1, st0, PF_HIDDEN_FILL));
		EXPECT_EQ(1, D(st1, st0, LARGE_MAPPED));
		EXPECT_EQ(0, D(st1, st0, PF_PREFETCH_UNUSED))
			TH_LOG("the prefetched R1 was used, and counted unused");
		memcpy(st0, st1, sizeof(st0));
	}
	gs_access(&self->s, BIG + 0x401000, GRT_ACC_READ, 0, 0);
	gs_access(&self->s, BIG + 0x602000, GRT_ACC_READ, 0, 4);
	ASSERT_EQ(0, run(self)) TH_LOG("R2, R3: %s", self->err);
	EXPECT_EQ(sig(R2 + 0x1000), (uint32_t)res[2]);
	EXPECT_EQ(sig(R3 + 0x2000), (uint32_t)res[6]);
	if (svm) {
		ASSERT_EQ(0, grt_vm_stats(&self->t, st1, SHADOWVM_STAT_NR));
		EXPECT_EQ(wprot ? 2 : 1, D(st1, st0, PF_HIDDEN_FILL));
		EXPECT_EQ(1, D(st1, st0, LARGE_MAPPED));
		EXPECT_EQ(wprot ? 1 : 0, D(st1, st0, LARGE_NO_WP));
	}
	/* R4: the runner writes it now, the guest reads it */
	*(uint32_t *)tvm_ptr(&self->t, R4 + 0x3000) = sig(R4 + 0x3000);
	gs_access(&self->s, BIG + 0x803000, GRT_ACC_READ, 0, 0);
	ASSERT_EQ(0, run(self)) TH_LOG("R4: %s", self->err);
	EXPECT_EQ(sig(R4 + 0x3000), (uint32_t)res[2]);
	lm_vm_end(_metadata, self, &base, pin0);
}

TEST_F(huge, long_mode_2m_prefetch)
{
	prefetch_case(_metadata, self, variant->policy);
}

TEST_F(huge, long_mode_2m_stale_pin)
{
	stale_case(_metadata, self, variant->policy);
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25	/* Linux 6.1; older C libraries lack the name */
#endif
#define ALIAS		0x70000000ULL	/* HB again, frames ALIAS_FRAME(i), 4 KiB pages */
/* one frame in 64: alone in its 8-entry prefetch window of the alias table */
#define ALIAS_FRAME(i)	(5 + 64 * (i))
#define CHURN_ROUNDS	24
#define CHURN_ACC	16
#define NFR		(HB_SIZE >> 12)

/* a word of frame f: who wrote it (0xa runner, 0xc guest), a generation */
static uint32_t cword(uint32_t who, uint32_t gen, uint32_t f)
{
	return who << 28 | (gen & 0x3ffff) << 10 | f;
}

static uint32_t churn_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (uint32_t)(*x >> 16);
}

/*
 * The runner churns its memory behind the live slot while the guest uses
 * it through a 2 MiB mapping of 4 MiB (HB) and a sparse 4 KiB alias of
 * one frame in 64 of it (so that prefetch pins no neighbour, and a region
 * can hold frames pinned one by one when its region pin comes):
 * each round the guest makes CHURN_ACC random reads and writes of random
 * frames through either mapping (in even rounds through the 4 KiB alias
 * only, so that frames are pinned one by one before a region is replaced
 * and then mapped large, as in long_mode_2m_stale_pin), then the runner
 * (after an even round: always the first, then the second 2 MiB) drops a
 * whole 2 MiB
 * region (a new huge page comes), one 4 KiB frame (the huge page is then
 * mapped by 4 KiB entries), or asks for the region to be collapsed again
 * (MADV_COLLAPSE, where the kernel has it), and writes new words where it
 * replaced memory. Each frame's words carry the frame's number: every
 * read must come back from the frame it names and be a word that frame
 * had (from the runner or the guest), whichever page the guest keeps (it
 * keeps what was pinned: Documentation/uapi.rst). After each round VmPin
 * equals PAGES_PINNED; after the VM the module's counters (pinned pages,
 * region pins, ...) and VmPin are back where they were. A wrong frame,
 * a page freed under the guest or a pin counted twice shows. Seed:
 * SVM_CHURN_SEED (default 1), printed.
 */
static void churn_case(struct __test_metadata *_metadata,
		       struct _test_data_huge *self, uint32_t policy)
{
	bool svm = tvm_default_kind() == BE_SHADOWVM;
	uint64_t st[SHADOWVM_STAT_NR], *res, x;
	struct svm_counters base, now;
	uint32_t gen = 1, f, v, reg_ops = 0, frame_ops = 0, collapses = 0;
	uint32_t la_f[CHURN_ACC], wr[CHURN_ACC];
	const char *seed_env = getenv("SVM_CHURN_SEED");
	long pin0 = vmpin_kb(), pin1;
	int round, i;

	x = seed_env ? strtoull(seed_env, NULL, 0) : 1;
	TH_LOG("%s: seed %llu (SVM_CHURN_SEED)", grt_policy_name(policy), (unsigned long long)x);
	x = x * 0x9e3779b97f4a7c15ULL | 1;
	if (!lm_vm(_metadata, self, policy, MEM_SIZE, &base))
		return;
	for (f = 0; f < NFR / 64; f++)
		ASSERT_EQ(0, gp_map(&self->g, ALIAS + ALIAS_FRAME(f) * 0x1000ULL,
				    HB + ALIAS_FRAME(f) * 0x1000ULL, GP_4K, GP_4K, GP_W));
	for (f = 0; f < NFR; f++)
		*(uint32_t *)tvm_ptr(&self->t, HB + f * 0x1000ULL) = cword(0xa, 0, f);
	gs_op(&self->s, GOP_CR3, 0, gp_cr3(&self->g), 0, 0);
	ASSERT_EQ(0, run(self)) TH_LOG("warm-up: %s", self->err);
	res = grt_res(&self->t);

	for (round = 0; round < CHURN_ROUNDS; round++) {
		for (i = 0; i < CHURN_ACC; i++) {
			uint32_t c = churn_rand(&x);
			/* even rounds 4 KiB only: frames pinned before a region pin */
			bool alias = (c & 1) || !(round & 1);
			uint64_t la = alias ? ALIAS : BIG;

			f = alias ? ALIAS_FRAME((c >> 1) % (NFR / 64)) : (c >> 1) % NFR;
			la_f[i] = f;
			wr[i] = (c >> 12) % 3 == 0 ? cword(0xc, round, f) : 0;
			gs_access(&self->s, la + f * 0x1000ULL,
				  wr[i] ? GRT_ACC_WRITE : GRT_ACC_READ, wr[i], i * 4);
		}
		ASSERT_EQ(0, run(self)) TH_LOG("round %d: %s", round, self->err);
		for (i = 0; i < CHURN_ACC; i++) {
			v = (uint32_t)res[i * 4 + 2];
			EXPECT_EQ(0, (uint32_t)res[i * 4])
				TH_LOG("round %d access %d (frame %u): a #PF", round, i, la_f[i]);
			if (wr[i])
				continue;
			EXPECT_TRUE((v & 0x3ff) == la_f[i] && (v >> 28 == 0xa || v >> 28 == 0xc) &&
				    ((v >> 10) & 0x3ffff) <= (v >> 28 == 0xa ? gen : (uint32_t)round))
				TH_LOG("round %d access %d: frame %u reads 0x%08x (not a word of that frame)",
				       round, i, la_f[i], v);
		}
		/* the runner's turn */
		v = churn_rand(&x);
		f = (v >> 4) % NFR;
		/* after a 4 KiB-only round a region goes (its pinned frames stay) */
		if (!(round & 1)) {
			f = ((round >> 1) & 1) << 9;
			v = 0;
		}
		switch (v % 4) {
		case 0: case 1: {	/* a whole 2 MiB region: a new huge page */
			uint64_t base = HB + ((f >> 9) << 21);
			uint32_t k;

			ASSERT_EQ(0, madvise(tvm_ptr(&self->t, base), 2 << 20, MADV_DONTNEED));
			gen++;
			for (k = 0; k < 512; k++)
				*(uint32_t *)tvm_ptr(&self->t, base + k * 0x1000ULL) =
					cword(0xa, gen, (f & ~511u) + k);
			reg_ops++;
			break;
		}
		case 2:			/* one frame: mapped by 4 KiB entries now */
			ASSERT_EQ(0, madvise(tvm_ptr(&self->t, HB + f * 0x1000ULL), 4096,
					     MADV_DONTNEED));
			gen++;
			*(uint32_t *)tvm_ptr(&self->t, HB + f * 0x1000ULL) = cword(0xa, gen, f);
			frame_ops++;
			break;
		default:		/* the region as one huge page again, if it can be */
			if (!madvise(tvm_ptr(&self->t, HB + ((f >> 9) << 21)), 2 << 20,
				     MADV_COLLAPSE))
				collapses++;
			break;
		}
		if (svm) {
			ASSERT_EQ(0, grt_vm_stats(&self->t, st, SHADOWVM_STAT_NR));
			pin1 = vmpin_kb();
			if (pin0 >= 0)
				ASSERT_EQ((long)st[SHADOWVM_STAT_PAGES_PINNED] * 4, pin1 - pin0)
					TH_LOG("round %d: VmPin %ld kB over %ld, pinned pages %llu",
					       round, pin1, pin0,
					       (unsigned long long)st[SHADOWVM_STAT_PAGES_PINNED]);
		}
	}
	TH_LOG("%s: %d rounds, %u region and %u frame replacements, %u collapses",
	       grt_policy_name(policy), CHURN_ROUNDS, reg_ops, frame_ops, collapses);
	if (!svm)
		return;
	ASSERT_EQ(0, grt_vm_stats(&self->t, st, SHADOWVM_STAT_NR));
	ASSERT_EQ(0, svm_read_counters(&now));
	TH_LOG("large %llu, no-host %llu, region pins +%ld, pinned pages %llu",
	       (unsigned long long)st[SHADOWVM_STAT_LARGE_MAPPED],
	       (unsigned long long)st[SHADOWVM_STAT_LARGE_NO_HOST],
	       now.region_pins - base.region_pins,
	       (unsigned long long)st[SHADOWVM_STAT_PAGES_PINNED]);
	lm_vm_end(_metadata, self, &base, pin0);
}

TEST_F(huge, long_mode_2m_churn)
{
	churn_case(_metadata, self, variant->policy);
}

/* HugePages_Free, or -1; nr_hugepages raised by up to n free pages */
static long hugetlb_free(void)
{
	long v = meminfo_kb("HugePages_Free");

	return v < 0 ? -1 : v;
}

static long hugetlb_raise(long n)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r+");
	long nr = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &nr) == 1 && hugetlb_free() < n) {
		rewind(f);
		fprintf(f, "%ld\n", nr + n);
	}
	fclose(f);
	return nr;
}

static void hugetlb_restore(long nr)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "w");

	if (f) {
		fprintf(f, "%ld\n", nr);
		fclose(f);
	}
}

/*
 * Guest RAM at HB from hugetlbfs (MAP_HUGETLB, 2 MiB pages) in a slot of
 * its own: the guest's 2 MiB pages map large (LARGE_MAPPED 2, two region
 * pins: the walk finds the hugetlb PMD), reads and writes reach the right
 * frames, VmPin equals PAGES_PINNED. Then the runner drops its second
 * huge page (MADV_DONTNEED) and writes new words into the new one: the
 * guest keeps its old page. After the VM and the munmap, the module's
 * counters and HugePages_Free are back: a pin left on a hugetlb page
 * would keep it out of the pool. The test raises nr_hugepages by 3 if
 * fewer are free, and puts it back.
 */
static void hugetlb_case(struct __test_metadata *_metadata,
			 struct _test_data_huge *self, uint32_t policy)
{
	bool svm = tvm_default_kind() == BE_SHADOWVM;
	uint64_t st0[SHADOWVM_STAT_NR], st1[SHADOWVM_STAT_NR], off, *res;
	struct svm_counters base, now;
	long nr, free0, pin0 = vmpin_kb(), pin1;
	uint8_t *hb;

	nr = hugetlb_raise(3);
	free0 = hugetlb_free();
	if (nr < 0 || free0 < 3) {
		if (nr >= 0)
			hugetlb_restore(nr);
		SKIP(return, "no 3 free 2 MiB hugetlb pages (HugePages_Free %ld, nr_hugepages %ld)",
		     free0, nr);
	}
	/* RAM below HB; HB is the hugetlb slot */
	if (!lm_vm(_metadata, self, policy, HB, &base))
		return;
	hb = mmap(NULL, HB_SIZE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	ASSERT_NE(MAP_FAILED, hb) TH_LOG("MAP_HUGETLB: %s", strerror(errno));
	for (off = 0; off < HB_SIZE; off += 0x1000)
		*(uint32_t *)(hb + off) = sig(HB + off);
	ASSERT_EQ(0, be_set_memory(&self->t.vm, 1, HB, HB_SIZE, hb, false));

	res = lm_warm(_metadata, self, st0);
	gs_access(&self->s, BIG + 0x1000, GRT_ACC_READ, 0, 0);
	gs_access(&self->s, BIG + 0x1ff000, GRT_ACC_READ, 0, 4);
	gs_access(&self->s, BIG + 0x205000, GRT_ACC_READ, 0, 8);
	gs_access(&self->s, BIG + 0x3000, GRT_ACC_WRITE, WVAL, 12);
	ASSERT_EQ(0, run(self)) TH_LOG("accesses: %s", self->err);
	EXPECT_EQ(0, (uint32_t)(res[0] | res[4] | res[8] | res[12]));
	EXPECT_EQ(sig(HB + 0x1000), (uint32_t)res[2]);
	EXPECT_EQ(sig(HB + 0x1ff000), (uint32_t)res[6]);
	EXPECT_EQ(sig(HB + 0x205000), (uint32_t)res[10]);
	EXPECT_EQ(WVAL, *(uint32_t *)(hb + 0x3000));
	if (svm) {
		ASSERT_EQ(0, grt_vm_stats(&self->t, st1, SHADOWVM_STAT_NR));
		ASSERT_EQ(0, svm_read_counters(&now));
		pin1 = vmpin_kb();
		TH_LOG("%s: large %llu, no-host %llu, region pins +%ld, pinned pages %llu, VmPin %ld kB",
		       grt_policy_name(policy), (unsigned long long)D(st1, st0, LARGE_MAPPED),
		       (unsigned long long)D(st1, st0, LARGE_NO_HOST),
		       now.region_pins - base.region_pins,
		       (unsigned long long)st1[SHADOWVM_STAT_PAGES_PINNED], pin1 - pin0);
		EXPECT_LE(2, D(st1, st0, LARGE_MAPPED));
		EXPECT_EQ(0, D(st1, st0, LARGE_NO_HOST));
		EXPECT_EQ(2, now.region_pins - base.region_pins);
		if (pin0 >= 0)
			EXPECT_EQ((long)st1[SHADOWVM_STAT_PAGES_PINNED] * 4, pin1 - pin0);
	}

	/* the runner replaces its second huge page; the guest keeps the old */
	ASSERT_EQ(0, madvise(hb + (2 << 20), 2 << 20, MADV_DONTNEED));
	*(uint32_t *)(hb + 0x206000) = WVAL + 2;
	gs_access(&self->s, BIG + 0x206000, GRT_ACC_READ, 0, 0);
	ASSERT_EQ(0, run(self)) TH_LOG("after the runner's MADV_DONTNEED: %s", self->err);
	EXPECT_EQ(0, (uint32_t)res[0]);
	EXPECT_EQ(sig(HB + 0x206000), (uint32_t)res[2])
		TH_LOG("the guest reads 0x%x: not its old page", (uint32_t)res[2]);

	lm_vm_end(_metadata, self, &base, pin0);
	munmap(hb, HB_SIZE);
	EXPECT_EQ(free0, hugetlb_free())
		TH_LOG("HugePages_Free %ld after the VM, %ld before it: a pin kept a huge page",
		       hugetlb_free(), free0);
	hugetlb_restore(nr);
}

TEST_F(huge, long_mode_2m_hugetlb)
{
	hugetlb_case(_metadata, self, variant->policy);
}

TEST_F(huge, long_mode_2m_hole)
{
	hole_case(_metadata, self, variant->policy);
}

TEST_F(huge, long_mode_2m)
{
	huge_case(_metadata, self, variant->policy, GP_MODE_LM, BIG_2M, true);
}

TEST_F(huge, pae_2m)
{
	huge_case(_metadata, self, variant->policy, GP_MODE_PAE, BIG_2M, true);
}

TEST_F(huge, pse_4m)
{
	huge_case(_metadata, self, variant->policy, GP_MODE_32, BIG_4M, true);
}

TEST_F(huge, long_mode_1g)
{
	huge_case(_metadata, self, variant->policy, GP_MODE_LM, BIG_1G, true);
}

TEST_F(huge, long_mode_2m_no_thp)
{
	huge_case(_metadata, self, variant->policy, GP_MODE_LM, BIG_2M, false);
}

TEST_F(huge, pse_4m_no_thp)
{
	huge_case(_metadata, self, variant->policy, GP_MODE_32, BIG_4M, false);
}

TEST_HARNESS_MAIN
