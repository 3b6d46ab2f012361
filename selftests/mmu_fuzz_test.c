// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_fuzz_test: a guest-state fuzzer for the shadow MMU.
 *
 * A seeded generator writes a script for the guest runtime (lib/): each
 * step may rewrite one to three paging-structure entries (any level, the
 * root's included; present or not, W, U, PWT, PCD, A, D, PS/PAT, G, the
 * ignored bits, XD and reserved bits), toggle a control bit the mode
 * allows (CR0.WP, CR4.PGE, CR4.SMEP, CR4.SMAP, CR4.PSE in 32-bit paging,
 * CR4.PCIDE in long mode, EFER.NXE), switch CR3 among three address
 * spaces (in long mode with PCIDs and the no-flush bit), then makes one
 * access (read, write or fetch; CPL 0, CPL 3, or CPL 0 with EFLAGS.AC) to
 * one of 16 (24 in long mode) linear pages, and reads back the entries of
 * that address's walk. Entries point at 4 KiB frames, 4 MiB / 2 MiB /
 * 1 GiB pages, and at page tables themselves (page tables mapped as data:
 * writes through such a mapping rewrite entries, and a frame can serve as
 * a table at several levels); the three spaces share lower tables, and
 * many entries map the same frames.
 *
 * An access is preceded by INVLPG (or INVPCID, when the CPU has it) of
 * its page whenever anything that could change its translation happened
 * since that page was last invalidated (an entry of a walk of the current
 * space rewritten, a control register or CR3 written): a TLB may keep
 * a stale translation until then, so the model never has to guess. Between
 * such changes, accesses run on whatever the MMU cached (an access that
 * needs the Dirty bit after a read, and so on).
 *
 * The expected outcome comes from the suite's SDM model (lib/pt_model.c,
 * the one mmu_perm_test uses) on a copy of guest memory: #PF or not, the
 * error code, CR2, the value read, and the walked entries afterwards
 * (A/D included; only after a faulting access A/D are not compared, since
 * they are not architecturally fixed, and the model takes the guest's).
 * After each batch the whole fuzzed area must equal the model's.
 *
 * Every policy runs the same steps for a seed (fuzz.<policy>.<mode>);
 * kvm.<mode> runs them on KVM (kvm_intel ept=0, loaded from
 * $KVM_MODULES_DIR; where a loaded kvm_intel does not hold VT-x, as on
 * 6.1, it stays loaded from one kvm case to the next and the binary
 * unloads it when it exits) and on shadowvm, both against the model, and
 * compares the two step by step. Any disagreement prints the seed and the step;
 * shadowvm differing from the model fails, KVM's own differences (it is
 * nested in Bochs and has known ones) are only printed.
 *
 * No sub-case is left out by default any more: the known failures of
 * Documentation/testvm.rst ("Known failures, fixed") are fixed, and the
 * last guard (no CR4.SMEP or CR4.SMAP change in 32-bit paging) is gone.
 *
 * Environment (or argv: --seed N --steps N):
 *   SVM_MMU_FUZZ_SEED   seed (default 1; 0: from the clock, printed)
 *   SVM_MMU_FUZZ_STEPS  steps per mode (default 500, make check's size;
 *                       1500 with SVMTEST_FULL=1); a failure at step
 *                       N reproduces with the same seed and N + 1 steps
 *   SVM_MMU_FUZZ_KVM_STEPS  steps per mode of the kvm cases (default:
 *                       SVM_MMU_FUZZ_STEPS; each runs them twice, on KVM
 *                       and on shadowvm; make check-debug runs the policy
 *                       cases at 34,000 and these at fewer)
 *   SVM_MMU_FUZZ_TIMEOUT  harness timeout per test in seconds (default:
 *                       scaled from the steps)
 *   SVM_MMU_FUZZ_OFF    mask of OFF_* below: what the generator leaves out
 *   SVM_MMU_FUZZ_ONLY   comma-separated test names (fuzz.wp.paging32,
 *                       kvm.pae, ...; a name ending in '.' or a fixture
 *                       name selects its tests): the others skip, saying
 *                       so. For narrowing a failure; unset in make check.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"
#include "pt_model.h"
#include "runner_exec.h"

#define MEM_SIZE	(8u << 20)
#define FZ_LO		0x400000ULL	/* the fuzzed area: tables and data */
#define FZ_HI		0x800000ULL
#define FZ_FRAMES	((FZ_HI - FZ_LO) >> 12)
#define NTAB		18		/* table frames at FZ_LO */
#define NHOT		16		/* data frames most entries use */
#define NAS		3		/* address spaces */
#define MAXT		24		/* target pages */
#define NOFF		8
#define SLOTS		8		/* result words per step */
#define BATCH		1500		/* steps per guest run */
#define DESC_GPA	GRT_SCRATCH	/* INVPCID descriptors */
#define A_D		(GP_A | GP_D)
#define CR4_PCIDE	(1ULL << 17)
#define NOFLUSH		(1ULL << 63)
#define DEF_STEPS	500
#define FULL_STEPS	1500	/* SVMTEST_FULL=1 */
#define MAX_SHOWN	10

static uint64_t opt_seed = 1;
static long opt_steps = DEF_STEPS;
static long opt_kvm_steps = -1;	/* -1: opt_steps */
/* SVM_MMU_FUZZ_OFF: what the generator leaves out (narrowing a failure) */
static unsigned long opt_off;
/* SVM_MMU_FUZZ_ONLY: the tests to run (NULL: all) */
static const char *opt_only;
#define OFF_FETCH	0x1
#define OFF_USER	0x2
#define OFF_WENT	0x4
#define OFF_CR		0x8
#define OFF_CR3		0x10
#define OFF_INVPCID	0x20
#define OFF_BIG		0x40
#define OFF_WRITE	0x80
#define OFF_PTDATA	0x100
#define OFF_WP		0x200	/* the control bits one by one */
#define OFF_PGE		0x400
#define OFF_SMEP	0x800
#define OFF_SMAP	0x1000
#define OFF_NXE		0x2000
#define OFF_PSE		0x4000
#define OFF_PCIDE	0x8000

/* offsets of the target pages in their 1 GiB (32-bit: from the base) */
static const uint64_t offs[NOFF] = {
	0x400000, 0x401000, 0x402000, 0x5ff000,
	0x600000, 0x601000, 0x7fe000, 0x7ff000,
};

/* what a step did, for the report */
struct fz_rec {
	size_t op0;			/* its first op in the script */
	int nw;
	uint64_t wgpa[3], wval[3];
	struct ptm_regs regs;		/* at the access */
	uint64_t la;
	uint32_t kind, wval32;
	int nrb;
	uint64_t rb[4];			/* entries read back */
	char desc[200];
};

struct fz {
	enum gp_mode mode;
	struct grt_cpu cpu;
	int esize, levels;
	uint64_t rng;
	struct gp g[NAS];
	uint64_t roots[NAS];
	int nroot;			/* top-level slots fuzzed */
	uint64_t root_idx[3];
	uint64_t tla[MAXT];
	int nt;
	int tab_lo[5], tab_n[5];	/* table frames per level */
	int nopdpt;			/* LM: PDPT frames only PML4Es use */
	bool kvm;			/* KVM's known deviations apply */
	uint64_t idx[5][8];		/* entry indexes used per level */
	int nidx[5];
	struct ptm_regs cur;
	int space;
	uint64_t gen, inv_gen[MAXT];
	uint8_t *gm, *cm;		/* generator's and checker's models */
	struct fz_rec *recs;
	uint64_t *obs;			/* all steps' observations (kvm test) */
	long steps, step0;
	/* counts */
	long n_ok, n_fault, n_rsvd, n_inv, n_invpcid, n_cr, n_cr3, n_went,
	     n_ptdata, n_leaf[5], n_bad;
	unsigned int shown;
	const char *who;
	char err[512];
};

/* ---- random numbers: splitmix64 ---- */

static uint64_t rnd64(struct fz *f)
{
	uint64_t z = (f->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rnd(struct fz *f, uint32_t n)
{
	return (uint32_t)(rnd64(f) % n);
}

static bool pct(struct fz *f, uint32_t p)
{
	return rnd(f, 100) < p;
}

/* ---- values that keep every walk inside guest RAM ----
 *
 * Every dword of the fuzzed area is, as the low half of an entry, an
 * address in [FZ_LO, FZ_HI) plus any low flags, and in PAE and long mode
 * every upper dword has only bits at or above MAXPHYADDR (reserved or
 * ignored) or XD: whichever level reads it, a walk stays in the fuzzed
 * area (4 MiB pages of 32-bit paging only come from the root, which the
 * generator writes itself), so no access can reach the runtime's memory
 * or leave RAM.
 */
/*
 * Long mode: the PDPT frames (the first tab_n[3] table frames) hold 1 GiB
 * pages at address 0, which as a PDE or PTE would map the runtime: only
 * PML4Es (in the roots, outside the fuzzed area) point at them, and no
 * other entry, so they are never read at another level.
 */
static uint64_t frame_any(struct fz *f)
{
	return FZ_LO + ((uint64_t)(f->nopdpt + rnd(f, FZ_FRAMES - f->nopdpt)) << 12);
}

static uint64_t frame_data(struct fz *f)
{
	if (pct(f, 15) && !(opt_off & OFF_PTDATA))	/* a table */
		return FZ_LO + ((uint64_t)(f->nopdpt + rnd(f, NTAB - f->nopdpt)) << 12);
	if (pct(f, 10) && !(opt_off & OFF_PTDATA))
		return frame_any(f);
	return FZ_LO + ((uint64_t)(NTAB + rnd(f, NHOT)) << 12);
}

/*
 * Fetches go to byte 1 of the dwords at these offsets, which hold a RET
 * (0xc3) in every frame of the fuzzed area, whatever is written there:
 * whichever frame an MMU maps, a fetch returns (no entry the generator
 * writes is at these offsets).
 */
#define NCODE 4
static const uint32_t code_off[NCODE] = { 0x100, 0x308, 0xa00, 0xd48 };

static bool is_code(uint64_t a)
{
	int i;

	for (i = 0; i < NCODE; i++)
		if ((a & 0xffc) == code_off[i])
			return true;
	return false;
}

static uint32_t safe_code(struct fz *f)
{
	return (uint32_t)FZ_LO | (rnd(f, 64) << 16) | 0xc300 | rnd(f, 256);
}

static uint32_t safe_low(struct fz *f)
{
	uint32_t v;

	if (pct(f, 25))	/* byte 1 is a RET (and more entries have 0xc3) */
		return safe_code(f);
	v = (uint32_t)frame_any(f) | rnd(f, 0x1000);
	if (pct(f, 60))
		v |= GP_P;
	return v;
}

static uint32_t safe_high(struct fz *f)
{
	int lo = f->cpu.maxphy - 32;

	if (pct(f, 70))
		return 0;
	if (pct(f, 60))
		return 1u << 31;
	return 1u << (lo + rnd(f, 31 - lo));
}

/* the table frame of level l the generator links */
static uint64_t table_frame(struct fz *f, int l)
{
	if (l < 3 && pct(f, 10))	/* any table: levels mix */
		return FZ_LO + ((uint64_t)(f->nopdpt + rnd(f, NTAB - f->nopdpt)) << 12);
	return FZ_LO + ((uint64_t)(f->tab_lo[l] + rnd(f, f->tab_n[l])) << 12);
}

/* an entry of level l (PAE PDPTEs: pdpte) */
static uint64_t gen_entry(struct fz *f, int l, bool pdpte)
{
	bool m32 = f->mode == GP_MODE_32, big = false;
	uint64_t v;
	int maxphy = f->cpu.maxphy;

	if (pdpte) {
		v = table_frame(f, 2);
		if (pct(f, 93))
			v |= GP_P;
		if (pct(f, 10))
			v |= GP_PWT;
		if (pct(f, 10))
			v |= GP_PCD;
		if (pct(f, 15))
			v |= (uint64_t)rnd(f, 8) << 9;
		return v;
	}
	if (l == 1) {
		v = frame_data(f);
	} else if (l == 2 && pct(f, 30) && !(opt_off & OFF_BIG)) {
		big = true;
		v = m32 || pct(f, 50) ? FZ_LO : FZ_LO + GP_2M;
	} else if (l == 3 && pct(f, 25) && !(opt_off & OFF_BIG)) {
		big = true;
		v = 0;		/* a 1 GiB page: the target offsets are in RAM */
	} else {
		v = table_frame(f, l - 1);
	}
	if (pct(f, 93))
		v |= GP_P;
	if (pct(f, 75))
		v |= GP_W;
	if (pct(f, 75))
		v |= GP_U;
	if (pct(f, 8))
		v |= GP_PWT;
	if (pct(f, 8))
		v |= GP_PCD;
	if (pct(f, 50))
		v |= GP_A;
	if (pct(f, 50))
		v |= GP_D;
	if (pct(f, 30))
		v |= GP_G;
	if (pct(f, 15))
		v |= (uint64_t)rnd(f, 8) << 9;
	if (big) {
		v |= GP_PS;
		if (pct(f, 10))
			v |= 1ULL << 12;	/* PAT */
		if (pct(f, 5)) {	/* a reserved bit of the big page */
			if (m32) {
				int lo = 13 + (maxphy < 40 ? maxphy : 40) - 32;

				if (lo <= 21)
					v |= 1ULL << (lo + rnd(f, 22 - lo));
			} else {
				int hi = l == 3 ? 29 : 20;

				v |= 1ULL << (13 + rnd(f, hi - 12));
			}
		}
	} else if (l == 1 && pct(f, 10)) {
		v |= GP_PS;		/* PAT */
	} else if (l == 4 && pct(f, 3)) {
		v |= GP_PS;		/* reserved */
	}
	if (!m32) {
		if (pct(f, 25))
			v |= GP_NX;
		if (pct(f, 5))		/* reserved (PAE) or ignored (LM) */
			v |= 1ULL << (maxphy + rnd(f, 63 - maxphy));
	}
	return v;
}

/* ---- layout ---- */

static uint64_t root_entry_gpa(struct fz *f, int s, int i)
{
	return f->roots[s] + f->root_idx[i] * f->esize;
}

static void layout(struct fz *f)
{
	static const uint64_t b32[2] = { 0x40000000ULL, 0x80000000ULL };
	static const uint64_t blm[3] = { 0x0000008000000000ULL,
					 0x0000008040000000ULL,
					 0xffff800000000000ULL };
	int b, o, nb;

	memset(f->nidx, 0, sizeof(f->nidx));
	f->nt = 0;
	switch (f->mode) {
	case GP_MODE_32:
		f->root_idx[0] = 0x101;
		f->root_idx[1] = 0x201;
		f->nroot = 2;
		f->tab_lo[1] = 0;
		f->tab_n[1] = NTAB;
		for (o = 0; o < NOFF; o++)
			f->idx[1][f->nidx[1]++] = (offs[o] >> 12) & 0x3ff;
		nb = 2;
		for (b = 0; b < nb; b++)
			for (o = 0; o < NOFF; o++)
				f->tla[f->nt++] = b32[b] + offs[o];
		break;
	case GP_MODE_PAE:
		f->root_idx[0] = 1;
		f->root_idx[1] = 2;
		f->nroot = 2;
		f->tab_lo[2] = 0;
		f->tab_n[2] = 6;
		f->tab_lo[1] = 6;
		f->tab_n[1] = NTAB - 6;
		f->idx[2][0] = 2;
		f->idx[2][1] = 3;
		f->nidx[2] = 2;
		nb = 2;
		for (b = 0; b < nb; b++)
			for (o = 0; o < NOFF; o++)
				f->tla[f->nt++] = b32[b] + offs[o];
		break;
	case GP_MODE_LM:
	default:
		f->root_idx[0] = 1;
		f->root_idx[1] = 256;
		f->nroot = 2;
		f->tab_lo[3] = 0;
		f->tab_n[3] = 4;
		f->tab_lo[2] = 4;
		f->tab_n[2] = 5;
		f->tab_lo[1] = 9;
		f->tab_n[1] = NTAB - 9;
		f->nopdpt = 4;
		f->idx[3][0] = 0;
		f->idx[3][1] = 1;
		f->nidx[3] = 2;
		f->idx[2][0] = 2;
		f->idx[2][1] = 3;
		f->nidx[2] = 2;
		nb = 3;
		for (b = 0; b < nb; b++)
			for (o = 0; o < NOFF; o++)
				f->tla[f->nt++] = blm[b] + offs[o];
		break;
	}
	if (f->mode != GP_MODE_32) {
		static const uint64_t i1[5] = { 0, 1, 2, 0x1fe, 0x1ff };

		for (o = 0; o < 5; o++)
			f->idx[1][o] = i1[o];
		f->nidx[1] = 5;
	}
}

/* initial contents: safe values everywhere, linked tables for the targets */
static void fill(struct fz *f, uint8_t *mem)
{
	uint64_t a;
	int s, i, l, t, k;

	for (a = FZ_LO; a < FZ_HI; a += 4) {
		uint32_t v = is_code(a) ? safe_code(f) :
			     (f->esize == 8 && (a & 4)) ? safe_high(f) : safe_low(f);

		memcpy(mem + a, &v, 4);
	}
	for (l = 1; l < f->levels; l++) {
		if (f->mode == GP_MODE_PAE && l == 3)
			break;
		for (t = 0; t < f->tab_n[l]; t++) {
			uint64_t tab = FZ_LO + ((uint64_t)(f->tab_lo[l] + t) << 12);

			for (k = 0; k < f->nidx[l]; k++) {
				uint64_t v = gen_entry(f, l, false);

				memcpy(mem + tab + f->idx[l][k] * f->esize, &v,
				       f->esize);
			}
		}
	}
	for (s = 0; s < NAS; s++)
		for (i = 0; i < f->nroot; i++) {
			uint64_t v = gen_entry(f, f->levels,
					       f->mode == GP_MODE_PAE);

			/* the first PDPTEs must load: reserved-free */
			memcpy(mem + root_entry_gpa(f, s, i), &v, f->esize);
		}
}

/* ---- generating a step ---- */

static bool in_walk_tables(struct fz *f, uint64_t gpa)
{
	struct ptm_out o;
	int t, l;

	for (t = 0; t < f->nt; t++) {
		ptm_access(f->gm, MEM_SIZE, &f->cur, f->tla[t], GRT_ACC_READ,
			   true, &o);
		for (l = 1; l <= 4; l++)
			if (o.used[l] && (o.used[l] >> 12) == (gpa >> 12))
				return true;
	}
	return false;
}

static void load_cr3(struct fz *f, struct grt_script *s, int space,
		     char **d, char *end)
{
	uint64_t v = f->roots[space];
	bool pcide = f->cur.cr4 & CR4_PCIDE;

	if (pcide) {
		v |= rnd(f, 4);
		f->cur.cr3 = v;
		if (pct(f, 50))
			v |= NOFLUSH;
	} else {
		f->cur.cr3 = v;
	}
	f->space = space;
	gs_op(s, GOP_CR3, 0, v, 0, 0);
	if (f->mode == GP_MODE_PAE)
		memcpy(f->cur.pdptr, f->gm + f->roots[space], 32);
	f->gen++;
	f->n_cr3++;
	*d += snprintf(*d, end - *d, " cr3=0x%llx;", (unsigned long long)v);
}

static void gen_step(struct fz *f, struct grt_script *s, long i,
		     struct fz_rec *r, uint64_t slot)
{
	char *d = r->desc, *end = r->desc + sizeof(r->desc);
	bool pdpte_written = false;
	struct ptm_out o, lax;
	uint32_t kind;
	uint64_t page, la;
	int n, j, t, l;

	memset(r, 0, sizeof(*r));
	r->op0 = s->n;
	/* entry rewrites */
	if (pct(f, 40) && !(opt_off & OFF_WENT)) {
		n = 1 + rnd(f, 3);
		for (j = 0; j < n; j++) {
			uint64_t gpa, v;

			if (pct(f, 20)) {
				gpa = root_entry_gpa(f, rnd(f, NAS),
						     rnd(f, f->nroot));
				l = f->levels;
				v = gen_entry(f, l, f->mode == GP_MODE_PAE);
				if (f->mode == GP_MODE_PAE)
					pdpte_written = true;
			} else {
				do {
					l = 1 + rnd(f, f->levels - 1);
				} while (!f->nidx[l]);
				gpa = FZ_LO + ((uint64_t)(f->tab_lo[l] +
					rnd(f, f->tab_n[l])) << 12) +
				      f->idx[l][rnd(f, f->nidx[l])] * f->esize;
				v = gen_entry(f, l, false);
			}
			gs_op(s, GOP_WENT, 0, gpa, v, 0);
			ptm_write(f->gm, MEM_SIZE, gpa, v, f->esize);
			r->wgpa[r->nw] = gpa;
			r->wval[r->nw++] = v;
			d += snprintf(d, end - d, " [0x%llx]=0x%llx;",
				      (unsigned long long)gpa,
				      (unsigned long long)v);
			f->n_went++;
		}
		f->gen++;
	}
	/* PAE: new PDPTEs take effect at a CR3 load */
	if (pdpte_written) {
		load_cr3(f, s, rnd(f, NAS), &d, end);
	} else if (pct(f, 7) && !(opt_off & OFF_CR3)) {
		load_cr3(f, s, rnd(f, NAS), &d, end);
	} else if (pct(f, 7) && !(opt_off & OFF_CR)) {
		/* a control bit the mode and the CPU allow */
		uint64_t cr0 = f->cur.cr0, cr4 = f->cur.cr4, efer = f->cur.efer;

		switch (rnd(f, 7)) {
		case 0:
			if (!(opt_off & OFF_WP))
				cr0 ^= GP_CR0_WP;
			break;
		case 1:
			if (f->cpu.pge && !(opt_off & OFF_PGE))
				cr4 ^= GP_CR4_PGE;
			break;
		case 2:
			if (f->cpu.smep && !(opt_off & OFF_SMEP))
				cr4 ^= GP_CR4_SMEP;
			break;
		case 3:
			if (f->cpu.smap && !(opt_off & OFF_SMAP))
				cr4 ^= GP_CR4_SMAP;
			break;
		case 4:
			if (f->cpu.nx && !(opt_off & OFF_NXE))
				efer ^= GP_EFER_NXE;
			break;
		case 5:
			if (f->mode == GP_MODE_32 && !(opt_off & OFF_PSE))
				cr4 ^= GP_CR4_PSE;
			break;
		case 6:
			if (f->mode == GP_MODE_LM && f->cpu.pcid &&
			    !(opt_off & OFF_PCIDE)) {
				if (!(cr4 & CR4_PCIDE) && (f->cur.cr3 & 0xfff)) {
					/* setting PCIDE needs CR3[11:0] = 0 */
					f->cur.cr3 = f->roots[f->space];
					gs_op(s, GOP_CR3, 0, f->cur.cr3, 0, 0);
				}
				cr4 ^= CR4_PCIDE;
			}
			break;
		}
		d += snprintf(d, end - d, " cr0=0x%llx cr4=0x%llx efer=0x%llx;",
			      (unsigned long long)cr0, (unsigned long long)cr4,
			      (unsigned long long)efer);
		if (cr4 != f->cur.cr4) {
			gs_op(s, GOP_CR4, 0, cr4, 0, 0);
			f->cur.cr4 = cr4;
		}
		if (cr0 != f->cur.cr0) {
			gs_op(s, GOP_CR0, 0, cr0, 0, 0);
			f->cur.cr0 = cr0;
		}
		if (efer != f->cur.efer) {
			gs_op(s, GOP_EFER, 0, efer, 0, 0);
			f->cur.efer = efer;
		}
		f->gen++;
		f->n_cr++;
	}

	/* the access */
	t = rnd(f, f->nt);
	page = f->tla[t];
	switch (rnd(f, 20)) {
	case 0 ... 7:
		kind = GRT_ACC_READ;
		break;
	case 8 ... 14:
		kind = GRT_ACC_WRITE;
		break;
	default:
		kind = GRT_ACC_FETCH;
		break;
	}
	if ((opt_off & OFF_FETCH) && (kind & 3) == GRT_ACC_FETCH)
		kind = GRT_ACC_READ;
	if ((opt_off & OFF_WRITE) && (kind & 3) == GRT_ACC_WRITE)
		kind = GRT_ACC_READ;
	if (pct(f, 35) && !(opt_off & OFF_USER))
		kind |= GRT_ACC_USER;
	else if ((f->cur.cr4 & GP_CR4_SMAP) && pct(f, 40))
		kind |= GRT_ACC_AC;
	ptm_access(f->gm, MEM_SIZE, &f->cur, page, GRT_ACC_READ, true, &lax);
	/* (address bits at or above MAXPHYADDR are reserved: a fault) */
	lax.gpa &= (1ULL << f->cpu.maxphy) - 1;
	if (!lax.fault && (lax.gpa < FZ_LO || lax.gpa >= FZ_HI)) {
		/* cannot happen with safe values: a generator bug */
		fprintf(stderr, "mmu_fuzz: step %ld leaves the fuzzed area (0x%llx)\n",
			i, (unsigned long long)lax.gpa);
		abort();
	}
	la = page + rnd(f, 1024) * 4;
	if ((kind & 3) == GRT_ACC_FETCH)
		la = page + code_off[rnd(f, NCODE)] + 1;
	r->wval32 = is_code(la) ? safe_code(f) :
		    f->esize == 8 && (la & 4) ? safe_high(f) : safe_low(f);
	/* invalidate when the translation may be stale (and now and then) */
	if (f->inv_gen[t] != f->gen || pct(f, 5)) {
		bool pge = f->cur.cr4 & GP_CR4_PGE;

		if (f->cpu.invpcid && pct(f, 30) && !(opt_off & OFF_INVPCID)) {
			uint32_t type = pge ? 2 : rnd(f, 4);
			uint64_t pcid = f->cur.cr4 & CR4_PCIDE ? f->cur.cr3 & 0xfff : 0;
			uint64_t desc = DESC_GPA + (t * 4 + pcid) * 16;

			gs_op(s, GOP_INVPCID, 0, type, desc, 0);
			d += snprintf(d, end - d, " invpcid %u;", type);
			f->n_invpcid++;
		} else {
			gs_op(s, GOP_INVLPG, 0, la, 0, 0);
			d += snprintf(d, end - d, " invlpg;");
			f->n_inv++;
		}
		f->inv_gen[t] = f->gen;
	}
	gs_access(s, la, kind, r->wval32, slot);
	r->regs = f->cur;
	r->la = la;
	r->kind = kind;
	ptm_access(f->gm, MEM_SIZE, &f->cur, la, kind, false, &o);
	if (!o.fault && (kind & 3) == GRT_ACC_WRITE) {
		bool table = in_walk_tables(f, o.gpa);

		ptm_write(f->gm, MEM_SIZE, o.gpa, r->wval32, 4);
		if (table) {
			f->gen++;	/* a page table written as data */
			f->n_ptdata++;
		}
	}
	for (l = 4; l >= 1; l--)
		if (o.used[l]) {
			gs_op(s, GOP_R64, 0, o.used[l], 0, slot + 4 + r->nrb);
			r->rb[r->nrb++] = o.used[l];
		}
}

/* ---- checking a batch ---- */

static const char *kind_name(uint32_t kind, char *buf, size_t len)
{
	static const char *const k[] = { "read", "write", "fetch", "?" };

	snprintf(buf, len, "%s %s%s", kind & GRT_ACC_USER ? "user" : "supervisor",
		 k[kind & 3], kind & GRT_ACC_AC ? " with EFLAGS.AC" : "");
	return buf;
}

static void report(struct __test_metadata *_metadata, struct fz *f, long step,
		   const struct fz_rec *r, const char *why)
{
	char kb[64];

	f->n_bad++;
	if (f->shown >= MAX_SHOWN)
		return;
	f->shown++;
	TH_LOG("%s: seed %" PRIu64 ", %s, step %ld: %s of 0x%llx (CR0 0x%llx CR3 0x%llx CR4 0x%llx EFER 0x%llx); step:%s\n    ->%s\n    reproduce: SVM_MMU_FUZZ_SEED=%" PRIu64 " SVM_MMU_FUZZ_STEPS=%ld",
	       f->who, opt_seed, gp_mode_name(f->mode), step,
	       kind_name(r->kind, kb, sizeof(kb)), (unsigned long long)r->la,
	       (unsigned long long)r->regs.cr0, (unsigned long long)r->regs.cr3,
	       (unsigned long long)r->regs.cr4, (unsigned long long)r->regs.efer,
	       r->desc, why, opt_seed, step + 1);
}

static void check_batch(struct __test_metadata *_metadata, struct fz *f,
			struct tvm *t, long n)
{
	uint64_t emask = f->esize == 4 ? 0xffffffffULL : ~0ULL;
	const uint64_t *res = grt_res(t);
	uint8_t *cm = f->cm;
	long i;
	int j;

	for (i = 0; i < n; i++) {
		const struct fz_rec *r = &f->recs[i];
		const uint64_t *w = res + i * SLOTS;
		uint32_t count = (uint32_t)w[0], ec = w[0] >> 32;
		bool write = (r->kind & 3) == GRT_ACC_WRITE;
		struct ptm_out o;
		char why[512] = "";
		size_t off = 0;

		for (j = 0; j < r->nw; j++)
			ptm_write(cm, MEM_SIZE, r->wgpa[j], r->wval[j], f->esize);
		ptm_access(cm, MEM_SIZE, &r->regs, r->la, r->kind, false, &o);
		/* KVM sets I/D on fetch faults of 32-bit paging with
		 * EFER.NXE (the SDM: only with PAE or SMEP); not compared
		 */
		if (f->kvm && o.fault && (r->kind & 3) == GRT_ACC_FETCH &&
		    f->mode == GP_MODE_32)
			ec = (ec & ~PFEC_I) | (o.ec & PFEC_I);
		if (o.fault) {
			f->n_fault++;
			if (o.ec & PFEC_RSVD)
				f->n_rsvd++;
			if (count == 0 && write) {
				struct ptm_out lx;

				/* it went somewhere: follow it */
				ptm_access(cm, MEM_SIZE, &r->regs, r->la,
					   r->kind, true, &lx);
				if (!lx.fault)
					ptm_write(cm, MEM_SIZE, lx.gpa,
						  r->wval32, 4);
			}
		} else {
			f->n_ok++;
			f->n_leaf[o.leaf_level]++;
			if (write)
				ptm_write(cm, MEM_SIZE, o.gpa, r->wval32, 4);
		}
		if (count != (o.fault ? 1u : 0u))
			off += snprintf(why + off, sizeof(why) - off,
					" #PF count %u, want %u;", count, o.fault);
		if (o.fault && count == 1 && ec != o.ec)
			off += snprintf(why + off, sizeof(why) - off,
					" error code 0x%x, want 0x%x;", ec, o.ec);
		if (o.fault && count == 1 && w[1] != r->la)
			off += snprintf(why + off, sizeof(why) - off,
					" CR2 0x%llx;", (unsigned long long)w[1]);
		if (!o.fault && (r->kind & 3) == GRT_ACC_READ) {
			uint32_t want = ptm_read(cm, MEM_SIZE, o.gpa, 4);

			if ((uint32_t)w[2] != want)
				off += snprintf(why + off, sizeof(why) - off,
						" read 0x%x, want 0x%x (gpa 0x%llx);",
						(uint32_t)w[2], want,
						(unsigned long long)o.gpa);
		}
		for (j = 0; j < r->nrb; j++) {
			uint64_t got = w[4 + j] & emask;
			uint64_t want = ptm_read(cm, MEM_SIZE, r->rb[j], f->esize);
			uint64_t mask = o.fault ? ~A_D : ~0ULL;

			if ((got & mask) != (want & mask) && off < sizeof(why))
				off += snprintf(why + off, sizeof(why) - off,
						" entry [0x%llx] after: 0x%llx, want 0x%llx;",
						(unsigned long long)r->rb[j],
						(unsigned long long)got,
						(unsigned long long)want);
			/* the model takes what the guest has */
			ptm_write(cm, MEM_SIZE, r->rb[j], got, f->esize);
		}
		if (f->obs) {
			uint64_t *ob = f->obs + (f->step0 + i) * SLOTS;

			memset(ob, 0, SLOTS * sizeof(*ob));
			memcpy(ob, w, 4 * sizeof(*ob));
			ob[0] = count | (uint64_t)ec << 32;
			for (j = 0; j < r->nrb; j++)
				ob[4 + j] = w[4 + j] & emask;
		}
		if (off)
			report(_metadata, f, f->step0 + i, r, why);
	}
	/* the fuzzed area: every write landed where the model put it */
	for (i = FZ_LO; i < (long)FZ_HI; i += 4) {
		uint32_t got, want;

		memcpy(&got, (uint8_t *)t->mem + i, 4);
		memcpy(&want, cm + i, 4);
		if (got != want) {
			f->n_bad++;
			if (f->shown++ < MAX_SHOWN)
				TH_LOG("%s: seed %" PRIu64 ", %s, after steps %ld..%ld: [0x%lx] = 0x%x, want 0x%x",
				       f->who, opt_seed, gp_mode_name(f->mode),
				       f->step0, f->step0 + n - 1, i, got, want);
			break;
		}
	}
	/* both models restart from what the guest has */
	memcpy(f->cm, t->mem, MEM_SIZE);
	memcpy(f->gm, t->mem, MEM_SIZE);
}

/* ---- one run ---- */

static uint64_t mode_seed(enum gp_mode mode)
{
	return opt_seed * 0x9e3779b97f4a7c15ULL + (uint64_t)mode * 0x632be59bd9b4e019ULL;
}

/*
 * Runs that many steps of mode on a new VM of kind/policy; cpu, when not
 * NULL, is the feature set to generate for (the kvm test: both backends').
 * obs (steps * SLOTS words) gets each step's observations when not NULL.
 * Returns 0, or 1 when the VM cannot be created (skip), with reason.
 */
static int fuzz_run(struct __test_metadata *_metadata, enum be_kind kind,
		    uint32_t policy, enum gp_mode mode, long steps,
		    const struct grt_cpu *cpu, uint64_t *obs, long *nbad)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP };
	struct timespec t0;
	struct grt_script s;
	struct tvm t;
	struct fz *f;
	int r, i, p;
	long done, ran = 0;

	*nbad = 0;
	/* EBUSY: a KVM VM just closed may hold VT-x a moment longer */
	for (i = 0; (r = grt_create(&t, kind, MEM_SIZE, policy, 0, 0)) == -EBUSY &&
		    i < 50; i++)
		usleep(100 * 1000);
	if (tvm_no_device(r))
		return 1;
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	f = calloc(1, sizeof(*f));
	ASSERT_NE(NULL, f);
	f->mode = mode;
	f->who = kind == BE_KVM ? "kvm" : grt_policy_name(policy);
	f->kvm = kind == BE_KVM;
	f->esize = gp_esize(mode);
	f->levels = gp_levels(mode);
	f->rng = mode_seed(mode);
	f->obs = obs;
	f->recs = calloc(BATCH, sizeof(*f->recs));
	f->gm = malloc(MEM_SIZE);
	f->cm = malloc(MEM_SIZE);
	ASSERT_NE(NULL, f->recs);
	ASSERT_NE(NULL, f->gm);
	ASSERT_NE(NULL, f->cm);
	gs_init(&s);
	if (mode == GP_MODE_32)
		env.cr4_extra = GP_CR4_PSE;
	ASSERT_EQ(0, gp_init(&f->g[0], t.mem, MEM_SIZE, mode, GRT_POOL,
			     GRT_POOL_SIZE));
	for (i = 1; i < NAS; i++)
		ASSERT_EQ(0, gp_init_shared(&f->g[i], &f->g[0], mode));
	for (i = 0; i < NAS; i++)
		f->roots[i] = gp_cr3(&f->g[i]);
	layout(f);
	/* safe values before the CPU is known: only bits 52 and up */
	f->cpu.maxphy = 52;
	fill(f, t.mem);
	ASSERT_EQ(0, grt_setup(&t, &f->g[0], &env));
	for (i = 1; i < NAS; i++)
		ASSERT_EQ(0, grt_map_common(&f->g[i], &env));
	ASSERT_EQ(0, grt_probe_cpu(&t, &f->cpu, f->err, sizeof(f->err)))
		TH_LOG("%s", f->err);
	if (cpu) {
		ASSERT_EQ(cpu->maxphy, f->cpu.maxphy);
		f->cpu = *cpu;
	}
	/* INVPCID descriptors: target t, PCID p at DESC_GPA + (t * 4 + p) * 16 */
	for (i = 0; i < f->nt; i++)
		for (p = 0; p < 4; p++) {
			uint64_t *dsc = tvm_ptr(&t, DESC_GPA + (i * 4 + p) * 16);

			dsc[0] = p;
			dsc[1] = f->tla[i];
		}
	f->cur.cr0 = GP_CR0_PE | GP_CR0_ET | GP_CR0_PG | GP_CR0_WP;
	f->cur.cr4 = mode == GP_MODE_32 ? GP_CR4_PSE : GP_CR4_PAE;
	f->cur.efer = mode == GP_MODE_LM ? GP_EFER_LME | GP_EFER_LMA : 0;
	f->cur.cr3 = f->roots[0];
	f->cur.maxphy = f->cpu.maxphy;
	f->cur.gbpages = f->cpu.gbpages;
	if (mode == GP_MODE_PAE)
		memcpy(f->cur.pdptr, tvm_ptr(&t, f->roots[0]), 32);
	memcpy(f->gm, t.mem, MEM_SIZE);
	memcpy(f->cm, t.mem, MEM_SIZE);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (done = 0; done < steps; done += BATCH) {
		long n = steps - done < BATCH ? steps - done : BATCH;
		long k;

		gs_reset(&s);
		f->step0 = done;
		for (k = 0; k < n; k++)
			gen_step(f, &s, done + k, &f->recs[k], k * SLOTS);
		ASSERT_FALSE(s.oom);
		ran = done + n;
		r = grt_exec(&t, &s, f->err, sizeof(f->err));
		if (r) {
			/* which step: the op the guest was at */
			uint32_t op = *grt_cb32(&t, CB_CUR_OP);

			for (k = n - 1; k > 0 && f->recs[k].op0 > op; k--)
				;
			TH_LOG("%s: seed %" PRIu64 ", %s, step %ld: the guest stopped: %s",
			       f->who, opt_seed, gp_mode_name(mode), done + k,
			       f->err);
			for (i = k > 3 ? k - 3 : 0; i <= k; i++)
				report(_metadata, f, done + i, &f->recs[i],
				       i == k ? " the guest stopped in this step" :
					        " (an earlier step)");
			f->n_bad++;
			break;
		}
		check_batch(_metadata, f, &t, n);
		if (f->n_bad && !f->kvm)
			break;
	}
	TH_LOG("%s, %s: %ld steps in %ld ms: %ld accesses succeeded (leaf 4K %ld, big %ld, 1G %ld), %ld faulted (%ld reserved-bit); %ld entry writes, %ld page-table writes as data, %ld CR3 loads, %ld control-bit toggles, %ld INVLPG, %ld INVPCID; %ld differ from the model",
	       f->who, gp_mode_name(mode), ran,
	       elapsed_ms(&t0), f->n_ok, f->n_leaf[1], f->n_leaf[2],
	       f->n_leaf[3], f->n_fault, f->n_rsvd, f->n_went, f->n_ptdata,
	       f->n_cr3, f->n_cr, f->n_inv, f->n_invpcid, f->n_bad);
	TH_LOG("CPU: NX %d, PGE %d, SMEP %d, SMAP %d, 1G %d, PCID %d, INVPCID %d, MAXPHYADDR %d",
	       f->cpu.nx, f->cpu.pge, f->cpu.smep, f->cpu.smap,
	       f->cpu.gbpages, f->cpu.pcid, f->cpu.invpcid, f->cpu.maxphy);
	*nbad = f->n_bad;
	gs_free(&s);
	free(f->recs);
	free(f->gm);
	free(f->cm);
	free(f);
	tvm_destroy(&t);
	return 0;
}

/* the test's name as the harness prints it, for SVM_MMU_FUZZ_ONLY */
static const char *mode_test_name(enum gp_mode mode)
{
	return mode == GP_MODE_32 ? "paging32" : mode == GP_MODE_PAE ? "pae" : "long_mode";
}

/*
 * Is fixture[.variant].test selected by SVM_MMU_FUZZ_ONLY? Each item
 * selects the test of that name, or every test whose name starts with
 * the item followed by a '.' (or with the item, if it ends in '.').
 */
static bool selected(const char *fixture, const char *variant, enum gp_mode mode)
{
	char name[128];
	const char *p = opt_only;
	size_t len, n;

	if (!p)
		return true;
	if (variant)
		snprintf(name, sizeof(name), "%s.%s.%s", fixture, variant, mode_test_name(mode));
	else
		snprintf(name, sizeof(name), "%s.%s", fixture, mode_test_name(mode));
	n = strlen(name);
	while (*p) {
		len = strcspn(p, ",");
		if (len && len <= n && !strncmp(name, p, len) &&
		    (len == n || name[len] == '.' || p[len - 1] == '.'))
			return true;
		p += len;
		if (*p)
			p++;
	}
	return false;
}

static void fuzz_policy(struct __test_metadata *_metadata, uint32_t policy,
			enum gp_mode mode)
{
	enum be_kind kind = tvm_default_kind();
	long bad;
	unsigned int i;

	for (i = 0; i < POLICY_NR; i++)
		if (be_policies[i].nr == policy &&
		    !selected("fuzz", policy_variant_name(i), mode))
			SKIP(return, "not selected by SVM_MMU_FUZZ_ONLY");
	if (fuzz_run(_metadata, kind, policy, mode, opt_steps, NULL, NULL, &bad))
		SKIP(return, "%s backend device missing", be_ops_by_kind(kind)->name);
	EXPECT_EQ(0, bad);
}

FIXTURE(fuzz) {
	int unused;
};

POLICY_VARIANTS(fuzz);

FIXTURE_SETUP(fuzz)
{
}

FIXTURE_TEARDOWN(fuzz)
{
}

TEST_F_TIMEOUT(fuzz, paging32, 600)
{
	fuzz_policy(_metadata, variant->policy, GP_MODE_32);
}

TEST_F_TIMEOUT(fuzz, pae, 600)
{
	fuzz_policy(_metadata, variant->policy, GP_MODE_PAE);
}

TEST_F_TIMEOUT(fuzz, long_mode, 600)
{
	fuzz_policy(_metadata, variant->policy, GP_MODE_LM);
}

/* ---- KVM as a second oracle ---- */

/* the guest CPU features of a fresh VM of kind */
static int probe(struct __test_metadata *_metadata, enum be_kind kind,
		 enum gp_mode mode, struct grt_cpu *cpu)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP };
	char err[256];
	struct tvm t;
	struct gp g;
	int r;

	r = grt_create(&t, kind, MEM_SIZE, 0, 0, 0);
	if (r)
		return r;
	if (mode == GP_MODE_32)
		env.cr4_extra = GP_CR4_PSE;
	r = gp_init(&g, t.mem, MEM_SIZE, mode, GRT_POOL, GRT_POOL_SIZE);
	if (!r)
		r = grt_setup(&t, &g, &env);
	if (!r && grt_probe_cpu(&t, cpu, err, sizeof(err))) {
		TH_LOG("probing the CPU: %s", err);
		r = -EIO;
	}
	tvm_destroy(&t);
	return r;
}

static void fuzz_kvm(struct __test_metadata *_metadata, enum gp_mode mode)
{
	struct grt_cpu sc, kc, both;
	unsigned int loaded = 0;
	uint64_t *ko, *so;
	long bad_k = 0, bad_s = 0, i, steps = opt_kvm_steps;
	int r, j, diffs = 0;

	if (!selected("kvm", NULL, mode))
		SKIP(return, "not selected by SVM_MMU_FUZZ_ONLY");
	r = probe(_metadata, BE_SHADOWVM, mode, &sc);
	if (tvm_no_device(r))
		SKIP(return, "shadowvm backend device missing");
	ASSERT_EQ(0, r) TH_LOG("shadowvm VM: %s", strerror(-r));
	r = rx_kvm_load(&loaded);
	if (r) {
		rx_kvm_unload(loaded);
		SKIP(return, "/dev/kvm not available, and kvm_intel could not be loaded from $KVM_MODULES_DIR: %s",
		     strerror(-r));
	}
	r = probe(_metadata, BE_KVM, mode, &kc);
	if (r) {
		rx_kvm_unload(loaded);
		ASSERT_EQ(0, r) TH_LOG("KVM VM: %s", strerror(-r));
	}
	if (kc.maxphy != sc.maxphy) {
		rx_kvm_unload(loaded);
		SKIP(return, "MAXPHYADDR differs: KVM %d, shadowvm %d",
		     kc.maxphy, sc.maxphy);
	}
	/* what both offer */
	both = sc;
	both.nx &= kc.nx;
	both.pge &= kc.pge;
	both.smep &= kc.smep;
	both.smap &= kc.smap;
	both.gbpages &= kc.gbpages;
	both.pcid &= kc.pcid;
	both.invpcid &= kc.invpcid;
	ko = calloc(steps, SLOTS * sizeof(*ko));
	so = calloc(steps, SLOTS * sizeof(*so));
	ASSERT_NE(NULL, ko);
	ASSERT_NE(NULL, so);
	r = fuzz_run(_metadata, BE_KVM, 0, mode, steps, &both, ko, &bad_k);
	/*
	 * shadowvm cannot create a VM while a loaded kvm_intel holds VT-x
	 * (6.12): unload it now. Otherwise (6.1: only a live KVM VM holds
	 * it) it stays for the next kvm case, one load instead of three,
	 * and RX_KVM_UNLOAD_AT_EXIT() unloads it.
	 */
	if (rx_kvm_holds_vtx_at_load())
		rx_kvm_unload(loaded);
	ASSERT_EQ(0, r);
	r = fuzz_run(_metadata, BE_SHADOWVM, 0, mode, steps, &both, so, &bad_s);
	ASSERT_EQ(0, r);
	/*
	 * shadowvm must agree with the model (the SDM). KVM is the second
	 * oracle: where it differs from the model or from shadowvm, the
	 * seed and the step are printed; KVM nested in Bochs has its own
	 * differences from the SDM (see Documentation/testvm.rst), so they
	 * alone do not fail the test.
	 */
	EXPECT_EQ(0, bad_s) TH_LOG("shadowvm differs from the model");
	if (bad_k)
		TH_LOG("seed %" PRIu64 ", %s: KVM differs from the model in %ld steps (above)",
		       opt_seed, gp_mode_name(mode), bad_k);
	for (i = 0; i < steps; i++) {
		for (j = 0; j < SLOTS; j++)
			if (ko[i * SLOTS + j] != so[i * SLOTS + j])
				break;
		if (j == SLOTS)
			continue;
		if (diffs++ < MAX_SHOWN)
			TH_LOG("seed %" PRIu64 ", %s, step %ld: KVM and shadowvm disagree in word %d: KVM 0x%llx, shadowvm 0x%llx",
			       opt_seed, gp_mode_name(mode), i, j,
			       (unsigned long long)ko[i * SLOTS + j],
			       (unsigned long long)so[i * SLOTS + j]);
	}
	TH_LOG("seed %" PRIu64 ", %s: KVM and shadowvm disagree in %d of %ld steps",
	       opt_seed, gp_mode_name(mode), diffs, steps);
	free(ko);
	free(so);
}

/* the kvm cases may leave kvm_intel loaded for the next one */
RX_KVM_UNLOAD_AT_EXIT()

FIXTURE(kvm) {
	int unused;
};

FIXTURE_SETUP(kvm)
{
}

FIXTURE_TEARDOWN(kvm)
{
}

TEST_F_TIMEOUT(kvm, paging32, 900)
{
	fuzz_kvm(_metadata, GP_MODE_32);
}

TEST_F_TIMEOUT(kvm, pae, 900)
{
	fuzz_kvm(_metadata, GP_MODE_PAE);
}

TEST_F_TIMEOUT(kvm, long_mode, 900)
{
	fuzz_kvm(_metadata, GP_MODE_LM);
}

/* ---- options ---- */

static long getnum(const char *s, const char *what)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (!*s || *end) {
		fprintf(stderr, "mmu_fuzz_test: bad %s '%s'\n", what, s);
		exit(KSFT_FAIL);
	}
	return (long)v;
}

/* a case's harness timeout for its steps: 60 s + 60 ms a step (as run_tests.sh) */
static long case_timeout(long steps)
{
	return 60 + steps * 60 / 1000;
}

#define main mmu_fuzz_harness_main
TEST_HARNESS_MAIN
#undef main

int main(int argc, char **argv)
{
	const char *e;
	char *args[64];
	int i, n = 0;
	long tmo;

	e = getenv("SVM_MMU_FUZZ_SEED");
	if (e)
		opt_seed = getnum(e, "SVM_MMU_FUZZ_SEED");
	e = getenv("SVM_MMU_FUZZ_STEPS");
	if (e)
		opt_steps = getnum(e, "SVM_MMU_FUZZ_STEPS");
	else if (svmtest_full())
		opt_steps = FULL_STEPS;
	e = getenv("SVM_MMU_FUZZ_KVM_STEPS");
	if (e)
		opt_kvm_steps = getnum(e, "SVM_MMU_FUZZ_KVM_STEPS");
	e = getenv("SVM_MMU_FUZZ_OFF");
	if (e)
		opt_off = getnum(e, "SVM_MMU_FUZZ_OFF");
	e = getenv("SVM_MMU_FUZZ_ONLY");
	if (e && *e)
		opt_only = e;
	for (i = 0; i < argc && n < 63; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--seed")) {
			opt_seed = getnum(argv[++i], "--seed");
		} else if (i + 1 < argc && !strcmp(argv[i], "--steps")) {
			opt_steps = getnum(argv[++i], "--steps");
		} else {
			args[n++] = argv[i];
		}
	}
	args[n] = NULL;
	if (!opt_seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		opt_seed = ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec;
	}
	if (opt_steps < 1)
		opt_steps = 1;
	if (opt_kvm_steps < 1)
		opt_kvm_steps = opt_steps;
	printf("# mmu_fuzz_test: seed %" PRIu64 ", %ld steps per mode, %ld in the kvm cases\n"
	       "# (SVM_MMU_FUZZ_SEED, SVM_MMU_FUZZ_STEPS, SVM_MMU_FUZZ_KVM_STEPS)\n",
	       opt_seed, opt_steps, opt_kvm_steps);
	/* the harness's timeouts grow with the steps (~20 ms a step
	 * measured in the Bochs test VM, three times that allowed)
	 */
	e = getenv("SVM_MMU_FUZZ_TIMEOUT");
	tmo = e ? getnum(e, "SVM_MMU_FUZZ_TIMEOUT") : case_timeout(opt_steps);
	if (tmo > 600 || e) {
		_fuzz_paging32_object.timeout = tmo;
		_fuzz_pae_object.timeout = tmo;
		_fuzz_long_mode_object.timeout = tmo;
	}
	tmo = e ? tmo : case_timeout(opt_kvm_steps);
	if (2 * tmo > 900 || e) {
		_kvm_paging32_object.timeout = 2 * tmo;
		_kvm_pae_object.timeout = 2 * tmo;
		_kvm_long_mode_object.timeout = 2 * tmo;
	}
	return mmu_fuzz_harness_main(n, args);
}
