// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_alias_test: Accessed and Dirty bits of aliased mappings (item 0).
 *
 * Two or three guest leaf entries map the same guest frame: 4 KiB pages,
 * 4 MiB pages (32-bit paging with CR4.PSE), 2 MiB pages (PAE and long mode)
 * and 1 GiB pages (long mode, when the guest's CPUID has them). The guest
 * runs every sequence of three accesses (read or write through any alias,
 * in every order), from CPL 0 and from CPL 3, with CR0.WP=1 and 0, with
 * all aliases writable and user, and with mixed rights (a read-only user
 * alias, a supervisor-only alias). Before each sequence the guest rewrites
 * the alias entries with A and D clear and INVLPGs them; after each access
 * it reads every alias entry back. The SDM (vol. 3A 4.8) says an access
 * sets Accessed in the entries it used, and a write sets Dirty in the leaf
 * it used: a write through alias k must set D in alias k's entry even when
 * another alias of the frame is already dirty, and no access may set A or
 * D in an entry it did not use. The test models this and compares every
 * entry after every access, the #PF (if the rights forbid the access), and
 * the data read (all aliases see the same frame).
 *
 * The three-alias cases run, in make check, only the sequences that use
 * all three aliases; SVMTEST_FULL=1 (make check-full) runs
 * every sequence.
 *
 * regression_*: the case found first (two writable huge entries mapping
 * one frame with the same rights: read through 2, write through 1, write
 * through 2 left mapping 2's D clear, because both aliases shared one
 * split shadow page).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define BIG		0x400000ULL	/* the 4M/2M frame */
#define DATA		0x401000ULL	/* the 4K frame (inside BIG) */
#define ALIAS_LA	0x40000000ULL
#define ALIAS_LA_1G	(1ULL << 39)	/* long mode, PML4 slot 1 */
#define MAX_ALIAS	3
#define SEQ_LEN		3
#define SLOTS		8		/* result words per access */
#define BATCH		600		/* sequences per guest run */
#define A_D		(GP_A | GP_D)

struct acc {
	int alias;
	bool write;
};

struct seq {
	struct acc a[SEQ_LEN];
	bool user, wp;
	int rights;			/* 0: all W|U, 1: mixed */
};

struct al {
	enum gp_mode mode;
	uint64_t page;			/* page size of the aliases */
	int n;				/* aliases */
	uint64_t la[MAX_ALIAS];		/* linear address accessed */
	uint64_t ent[MAX_ALIAS];	/* gpa of each leaf entry */
	uint64_t base[MAX_ALIAS];	/* entry value without rights, A, D */
	uint64_t model[MAX_ALIAS];	/* entries as the SDM says */
	uint32_t data;			/* the frame's word as the SDM says */
	struct seq *seqs;
	size_t nseq;
	bool subset;			/* build_seqs() left some out */
	unsigned int bad, shown, accesses, faults;
	struct grt_cpu cpu;
	char err[512];
};

static uint64_t rights_of(int rights, int k)
{
	static const uint64_t mixed[MAX_ALIAS] = { GP_W | GP_U, GP_U, GP_W };

	return rights ? mixed[k] : GP_W | GP_U;
}

static const char *mode_page_name(const struct al *al, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", gp_mode_name(al->mode),
		 al->page == GP_4K ? "4K" : al->page == GP_2M ? "2M" :
		 al->page == GP_4M ? "4M" : "1G");
	return buf;
}

static void add_seq(struct al *al, const struct seq *s)
{
	al->seqs = realloc(al->seqs, (al->nseq + 1) * sizeof(*s));
	if (!al->seqs)
		abort();
	al->seqs[al->nseq++] = *s;
}

/*
 * Every sequence of SEQ_LEN accesses over {read, write} x aliases; with
 * three aliases and without SVMTEST_FULL, only the sequences that use all
 * three (48 of 216 per setting): the others repeat the two-alias case's
 * patterns beside an idle alias, and every sequence still checks that no
 * access changes an entry it did not use.
 */
static void build_seqs(struct al *al)
{
	int nops = 2 * al->n, total = 1, i, code, wp, user, rights;
	bool all = al->n < 3 || svmtest_full();

	for (i = 0; i < SEQ_LEN; i++)
		total *= nops;
	for (wp = 1; wp >= 0; wp--)
		for (rights = 0; rights < 2; rights++)
			for (user = 0; user < 2; user++)
				for (code = 0; code < total; code++) {
					struct seq s = { .user = user, .wp = wp,
							 .rights = rights };
					int c = code;
					unsigned int used = 0;

					for (i = 0; i < SEQ_LEN; i++) {
						s.a[i].alias = (c % nops) / 2;
						s.a[i].write = c % 2;
						used |= 1u << s.a[i].alias;
						c /= nops;
					}
					if (all || used == (1u << al->n) - 1)
						add_seq(al, &s);
					else
						al->subset = true;
				}
}

static void describe(const struct al *al, const struct seq *s, char *buf,
		     size_t len)
{
	size_t off;
	int i;

	off = snprintf(buf, len, "%s, WP=%d, %s rights:", s->user ? "user" :
		       "supervisor", s->wp, s->rights ? "mixed" : "W|U");
	for (i = 0; i < SEQ_LEN && off < len; i++)
		off += snprintf(buf + off, len - off, " %s%d",
				s->a[i].write ? "W" : "R", s->a[i].alias + 1);
}

static bool model_fault(const struct al *al, const struct seq *s,
			const struct acc *a)
{
	uint64_t e = al->model[a->alias];

	if (s->user && !(e & GP_U))
		return true;
	if (a->write && !(e & GP_W) && (s->user || s->wp))
		return true;
	return false;
}

static void run_batch(struct __test_metadata *_metadata, struct tvm *t,
		      struct al *al, size_t first, size_t n, uint64_t *cur_cr0,
		      struct grt_script *gs)
{
	uint64_t cr0_base = GP_CR0_PE | GP_CR0_ET | GP_CR0_PG;
	uint64_t emask = gp_esize(al->mode) == 4 ? 0xffffffffULL : ~0ULL;
	uint64_t *res = grt_res(t);
	size_t i;
	int j, k;

	gs_reset(gs);
	for (i = 0; i < n; i++) {
		const struct seq *s = &al->seqs[first + i];
		uint64_t cr0 = cr0_base | (s->wp ? GP_CR0_WP : 0);

		if (cr0 != *cur_cr0)
			gs_op(gs, GOP_CR0, 0, cr0, 0, 0);
		*cur_cr0 = cr0;
		for (k = 0; k < al->n; k++)
			gs_op(gs, GOP_WENT, 0, al->ent[k],
			      al->base[k] | rights_of(s->rights, k), 0);
		for (k = 0; k < al->n; k++)
			gs_op(gs, GOP_INVLPG, 0, al->la[k], 0, 0);
		for (j = 0; j < SEQ_LEN; j++) {
			uint64_t slot = (i * SEQ_LEN + j) * SLOTS;
			uint32_t wval = (uint32_t)((first + i) << 4 | j) | 0x5a000000;

			gs_access(gs, al->la[s->a[j].alias],
				  (s->a[j].write ? GRT_ACC_WRITE : GRT_ACC_READ) |
				  (s->user ? GRT_ACC_USER : 0), wval, slot);
			for (k = 0; k < al->n; k++)
				gs_op(gs, GOP_R64, 0, al->ent[k], 0, slot + 4 + k);
		}
	}
	ASSERT_LE(n * SEQ_LEN * SLOTS, GRT_MAX_RES);
	ASSERT_EQ(0, grt_exec(t, gs, al->err, sizeof(al->err)))
		TH_LOG("sequences %zu..%zu: %s", first, first + n - 1, al->err);

	for (i = 0; i < n; i++) {
		const struct seq *s = &al->seqs[first + i];

		for (k = 0; k < al->n; k++)
			al->model[k] = al->base[k] | rights_of(s->rights, k);
		for (j = 0; j < SEQ_LEN; j++) {
			const struct acc *a = &s->a[j];
			const uint64_t *r = res + (i * SEQ_LEN + j) * SLOTS;
			uint32_t count = (uint32_t)r[0];
			uint32_t wval = (uint32_t)((first + i) << 4 | j) | 0x5a000000;
			bool fault = model_fault(al, s, a), bad = false;
			char why[512] = "";
			size_t off = 0;

			al->accesses++;
			if (!fault) {
				al->model[a->alias] |= GP_A | (a->write ? GP_D : 0);
				if (a->write)
					al->data = wval;
			} else {
				al->faults++;
			}
			if (count != (fault ? 1u : 0u)) {
				bad = true;
				off += snprintf(why + off, sizeof(why) - off,
						" #PF count %u, want %u;", count, fault);
			}
			if (!fault && !a->write && (uint32_t)r[2] != al->data) {
				bad = true;
				off += snprintf(why + off, sizeof(why) - off,
						" read 0x%x, want 0x%x;", (uint32_t)r[2],
						al->data);
			}
			for (k = 0; k < al->n; k++) {
				uint64_t got = r[4 + k] & emask;
				uint64_t mask = fault && k == a->alias ? ~A_D : ~0ULL;

				if ((got & mask) != (al->model[k] & mask)) {
					bad = true;
					off += snprintf(why + off, sizeof(why) - off,
							" alias %d entry 0x%llx, want 0x%llx (A %d/%d D %d/%d);",
							k + 1, (unsigned long long)got,
							(unsigned long long)al->model[k],
							!!(got & GP_A), !!(al->model[k] & GP_A),
							!!(got & GP_D), !!(al->model[k] & GP_D));
				}
				/* judge the next access on its own */
				al->model[k] = got;
			}
			if (bad) {
				char d[256], mp[32];

				al->bad++;
				if (al->shown < 30) {
					al->shown++;
					describe(al, s, d, sizeof(d));
					TH_LOG("%s: sequence %zu (%s), access %d:%s",
					       mode_page_name(al, mp, sizeof(mp)),
					       first + i, d, j + 1, why);
				}
			}
		}
	}
	/* the frame holds the last write (all aliases are one frame) */
	if (*(uint32_t *)tvm_ptr(t, DATA) != al->data) {
		al->bad++;
		TH_LOG("after sequences %zu..%zu: frame holds 0x%x, want 0x%x",
		       first, first + n - 1, *(uint32_t *)tvm_ptr(t, DATA),
		       al->data);
		al->data = *(uint32_t *)tvm_ptr(t, DATA);
	}
}

/*
 * Builds a VM whose n aliases map one frame with pages of size page in
 * mode, then runs the sequences (all of them, or only the given one).
 */
static void alias_run(struct __test_metadata *_metadata, uint32_t policy,
		      enum gp_mode mode, uint64_t page, int n,
		      const struct seq *only)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP };
	enum be_kind kind = tvm_default_kind();
	uint64_t cur_cr0, off_in_page, target, la0, stride;
	struct grt_script gs;
	struct gp g;
	struct tvm t;
	struct al *al;
	char mp[32];
	size_t first;
	int r, k;

	al = calloc(1, sizeof(*al));
	ASSERT_NE(NULL, al);
	al->mode = mode;
	al->page = page;
	al->n = n;
	r = grt_create(&t, kind, MEM_SIZE, policy, 0, 0);
	if (tvm_no_device(r)) {
		free(al);
		SKIP(return, "%s backend device missing", be_ops_by_kind(kind)->name);
	}
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	ASSERT_EQ(0, gp_init(&g, t.mem, MEM_SIZE, mode, GRT_POOL, GRT_POOL_SIZE));
	if (mode == GP_MODE_32) {
		env.cr4_extra = GP_CR4_PSE;
		g.pse = true;
	}
	/* which frame the aliases map, and where they live */
	target = page == GP_4K ? DATA : page == GP_1G ? 0 : BIG;
	off_in_page = DATA - target;
	la0 = page == GP_1G ? ALIAS_LA_1G : ALIAS_LA;
	/* 4K aliases: each in its own page table, at another index */
	stride = page == GP_4K ? 0x401000ULL : page;
	for (k = 0; k < n; k++) {
		uint64_t la = la0 + k * stride;

		ASSERT_EQ(0, gp_map(&g, la, target, page, page, GP_W | GP_U));
		al->ent[k] = gp_entry_gpa(&g, la, page == GP_4K ? 1 :
					  page == GP_1G ? 3 : 2, false);
		ASSERT_NE(0, al->ent[k]);
		al->base[k] = gp_get(&g, al->ent[k]) & ~(GP_W | GP_U | A_D);
		al->la[k] = la + off_in_page;
		/* the upper levels start accessed: only leaves change */
		if (page != GP_1G || mode != GP_MODE_LM) {
			int l, leaf = page == GP_4K ? 1 : page == GP_1G ? 3 : 2;

			for (l = leaf + 1; l <= gp_levels(mode); l++) {
				uint64_t e = gp_entry_gpa(&g, la, l, false);

				if (e && !(mode == GP_MODE_PAE && l == 3))
					gp_set(&g, e, gp_get(&g, e) | GP_A);
			}
		} else {
			uint64_t e = gp_entry_gpa(&g, la, 4, false);

			gp_set(&g, e, gp_get(&g, e) | GP_A);
		}
	}
	ASSERT_EQ(0, grt_setup(&t, &g, &env));
	ASSERT_EQ(0, grt_probe_cpu(&t, &al->cpu, al->err, sizeof(al->err)))
		TH_LOG("%s", al->err);
	if (page == GP_1G && !al->cpu.gbpages) {
		tvm_destroy(&t);
		free(al);
		SKIP(return, "the guest CPUID has no 1 GiB pages (CPUID.80000001H:EDX.Page1GB = 0)");
	}
	al->data = 0x11223344;
	*(uint32_t *)tvm_ptr(&t, DATA) = al->data;
	if (only)
		add_seq(al, only);
	else
		build_seqs(al);
	gs_init(&gs);
	cur_cr0 = GP_CR0_PE | GP_CR0_ET | GP_CR0_PG | GP_CR0_WP;
	for (first = 0; first < al->nseq; first += BATCH) {
		size_t cnt = al->nseq - first < BATCH ? al->nseq - first : BATCH;

		run_batch(_metadata, &t, al, first, cnt, &cur_cr0, &gs);
		if (!_metadata->passed)
			break;
	}
	TH_LOG("%s, %d aliases, %s policy: %zu sequences%s, %u accesses (%u faulted); %u differ from the SDM",
	       mode_page_name(al, mp, sizeof(mp)), n, grt_policy_name(policy),
	       al->nseq, al->subset ?
	       " (those using all 3 aliases; SVMTEST_FULL=1: all)" : "",
	       al->accesses, al->faults, al->bad);
	EXPECT_EQ(0, al->bad);
	gs_free(&gs);
	free(al->seqs);
	free(al);
	tvm_destroy(&t);
}

FIXTURE(alias) {
	int unused;
};

POLICY_VARIANTS(alias);

FIXTURE_SETUP(alias)
{
}

FIXTURE_TEARDOWN(alias)
{
}

/* read through 2, write through 1, write through 2; all W|U, supervisor */
static const struct seq regression_seq = {
	.a = { { 1, false }, { 0, true }, { 1, true } },
	.wp = true,
};

TEST_F_TIMEOUT(alias, regression_lm_2m_r2_w1_w2, 120)
{
	alias_run(_metadata, variant->policy, GP_MODE_LM, GP_2M, 2,
		  &regression_seq);
}

TEST_F_TIMEOUT(alias, regression_pae_2m_r2_w1_w2, 120)
{
	alias_run(_metadata, variant->policy, GP_MODE_PAE, GP_2M, 2,
		  &regression_seq);
}

TEST_F_TIMEOUT(alias, regression_32_4m_r2_w1_w2, 120)
{
	alias_run(_metadata, variant->policy, GP_MODE_32, GP_4M, 2,
		  &regression_seq);
}

#define ALIAS_TEST(name, mode, page)					\
TEST_F_TIMEOUT(alias, name##_x2, 900)					\
{									\
	alias_run(_metadata, variant->policy, mode, page, 2, NULL);	\
}									\
TEST_F_TIMEOUT(alias, name##_x3, 900)					\
{									\
	alias_run(_metadata, variant->policy, mode, page, 3, NULL);	\
}

ALIAS_TEST(paging32_4k, GP_MODE_32, GP_4K)
ALIAS_TEST(paging32_4m, GP_MODE_32, GP_4M)
ALIAS_TEST(pae_4k, GP_MODE_PAE, GP_4K)
ALIAS_TEST(pae_2m, GP_MODE_PAE, GP_2M)
ALIAS_TEST(lm_4k, GP_MODE_LM, GP_4K)
ALIAS_TEST(lm_2m, GP_MODE_LM, GP_2M)
ALIAS_TEST(lm_1g, GP_MODE_LM, GP_1G)

TEST_HARNESS_MAIN
