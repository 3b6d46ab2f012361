// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_perm_test: the permission matrix of the shadow MMU, per paging mode
 * (32-bit, PAE, long mode) and per MMU policy.
 *
 * The guest rewrites the paging-structure entries of one target page (its
 * PTE, PDE, and in long mode PDPTE or a PML4E) with every combination of
 * P, W, U, A, D, PS, NX and reserved or ignored bits the test lists,
 * invalidates the target (INVLPG) and accesses it: read, write or fetch,
 * from CPL 0 or from CPL 3 (IRET to a ring-3 stub), with EFLAGS.AC set or
 * not, under every combination of CR0.WP, EFER.NXE, CR4.SMEP and CR4.SMAP
 * that the guest's CPUID allows. For each access the guest records whether
 * a #PF came, its error code and CR2, the value read, and reads the entries
 * back. The test computes what must happen from the SDM's rules (vol. 3A
 * ch. 4: present, reserved bits for the mode and MAXPHYADDR, U/S, R/W with
 * CR0.WP, XD with EFER.NXE, SMEP, SMAP with EFLAGS.AC; the I/D bit of the
 * error code; Accessed on every level used and Dirty on the leaf of a
 * write) with the suite's reference model of the page walk
 * (lib/pt_model.c, shared with mmu_fuzz_test), run on a copy of guest
 * memory, and compares every field. A/D after a faulting
 * access are not architecturally fixed and are not compared.
 *
 * perm.<policy>.<mode>_smap_wp0_write runs a fixed sequence instead
 * (build_smap_wp0()): a read-only user page written by the supervisor
 * with CR0.WP=0 and CR4.SMAP=1 must stay a user page for SMAP; each such
 * write (EFLAGS.AC=1) is emulated and counted in PF_WP0_EMULATED, exactly.
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
#include "pt_model.h"

#define MEM_SIZE	(8u << 20)
#define T_LA		0x40401000ULL		/* the target page */
#define T2_LA		0x0000008040401000ULL	/* long mode: PML4 slot 1 */
#define DATA		0x401000ULL		/* what the target maps */
#define BIG		0x400000ULL		/* 4M/2M frame holding DATA */
#define FAKE_PT		0x400000ULL		/* a PDE with PS ignored points here */
#define FAKE_DATA	0x402000ULL
#define A_D		(GP_A | GP_D)
#define BATCH		1800			/* cases per guest run */
#define SLOTS		8			/* result words per case */

struct pm_case {
	int nw;
	uint64_t wla[3], wval[3];	/* entry writes, top level first */
	bool skip[3];			/* the entry already holds wval */
	uint64_t target;
	uint32_t kind;			/* GRT_ACC_* */
	uint64_t cr0, cr4, efer;
	const char *what;		/* which entry is varied */
};

struct pm {
	enum gp_mode mode;
	struct grt_cpu cpu;
	struct gp g;
	uint64_t cr3;
	uint64_t pdptr[4];		/* PAE: the PDPTE registers */
	uint64_t pdpte, pde, pte;	/* entries of T_LA */
	uint64_t pd_t, pt_t;		/* tables of T_LA */
	uint64_t pml4e2, pdpt2;		/* long mode: T2_LA's PML4E */
	uint8_t *model;			/* the reference model's guest memory */
	struct pm_case *cases;
	size_t n, cap;
	/* build_smap_wp0(): writes the module must emulate (PF_WP0_EMULATED) */
	unsigned int wp0_writes;
	/* results */
	unsigned int bad, shown, faults, ok;
	char err[512];
};

/* ---- the reference model (SDM vol. 3A, chapter 4) ---- */

static uint64_t mread(const uint8_t *m, uint64_t gpa, int size)
{
	return ptm_read(m, MEM_SIZE, gpa, size);
}

static void mwrite(uint8_t *m, uint64_t gpa, uint64_t v, int size)
{
	ptm_write(m, MEM_SIZE, gpa, v, size);
}

/* One access of a case, by the model of lib/pt_model.c. */
static void model_access(uint8_t *m, const struct pm *pm, const struct pm_case *c,
			 struct ptm_out *o, bool lax)
{
	struct ptm_regs r = {
		.cr0 = c->cr0, .cr3 = pm->cr3, .cr4 = c->cr4, .efer = c->efer,
		.maxphy = pm->cpu.maxphy, .gbpages = pm->cpu.gbpages,
	};

	memcpy(r.pdptr, pm->pdptr, sizeof(r.pdptr));
	ptm_access(m, MEM_SIZE, &r, c->target, c->kind, lax, o);
}

/* ---- building the cases ---- */

/*
 * An entry write is left out when the entry already holds the value: the
 * previous case wrote the same value and no access can have changed it
 * (A set, and D too unless it is a non-leaf entry; a non-leaf entry here
 * is one whose value points at one of the test's tables).
 */
static void set_skips(struct pm *pm, struct pm_case *c)
{
	const struct pm_case *p = NULL;
	int i, j;

	if (pm->n)
		p = &pm->cases[pm->n - 1];
	for (i = 0; i < c->nw; i++) {
		uint64_t v = c->wval[i], addr = v & 0xffffff000ULL;
		bool nonleaf = !(v & GP_PS) && addr && addr != DATA &&
			       addr != FAKE_DATA;

		c->skip[i] = false;
		if (!p || !(v & GP_A) || (!nonleaf && !(v & GP_D)))
			continue;
		for (j = 0; j < p->nw; j++)
			if (p->wla[j] == c->wla[i] && p->wval[j] == v)
				c->skip[i] = true;
	}
}

static void add_case(struct pm *pm, struct pm_case *c)
{
	set_skips(pm, c);
	if (pm->n == pm->cap) {
		pm->cap = pm->cap ? pm->cap * 2 : 4096;
		pm->cases = realloc(pm->cases, pm->cap * sizeof(*c));
		if (!pm->cases)
			abort();
	}
	pm->cases[pm->n++] = *c;
}

struct pm_path {
	int nw;
	uint64_t wla[3], wval[3];
	uint64_t target;
	const char *what;
	int pse;		/* 32-bit: -1 any, 0 needs PSE off, 1 on */
};

#define MAX_PATHS 256

struct paths {
	struct pm_path p[MAX_PATHS];
	int n;
};

static void path(struct paths *ps, const char *what, uint64_t target, int pse,
		 int nw, const uint64_t *la, const uint64_t *val)
{
	struct pm_path *p;
	int i;

	if (ps->n == MAX_PATHS)
		abort();
	p = &ps->p[ps->n++];
	p->what = what;
	p->target = target;
	p->pse = pse;
	p->nw = nw;
	for (i = 0; i < nw; i++) {
		p->wla[i] = la[i];
		p->wval[i] = val[i];
	}
}

/* W, U, NX, A, D picked by the low 5 bits of m */
static uint64_t combo(unsigned int m)
{
	return (m & 1 ? GP_W : 0) | (m & 2 ? GP_U : 0) | (m & 4 ? GP_NX : 0) |
	       (m & 8 ? GP_A : 0) | (m & 16 ? GP_D : 0);
}

/* bits with a mode-specific meaning: reserved (above MAXPHYADDR, or
 * 62:52 under PAE) or ignored (62:52 in long mode)
 */
static int odd_bits(const struct pm *pm, uint64_t *out)
{
	int n = 0;

	if (pm->mode == GP_MODE_32)
		return 0;
	if (pm->cpu.maxphy < 51)
		out[n++] = 1ULL << pm->cpu.maxphy;
	out[n++] = 1ULL << 51;
	out[n++] = 1ULL << 52;
	out[n++] = 1ULL << 62;
	return n;
}

static void build_paths(struct pm *pm, struct paths *ps)
{
	bool lm = pm->mode == GP_MODE_LM, m32 = pm->mode == GP_MODE_32;
	/* non-leaf entries as a kernel leaves them: accessed, so that cases
	 * varying only the PTE do not rewrite them (only the PTE changes)
	 */
	uint64_t nl_pdpte = pm->pd_t | GP_P | GP_W | GP_U | GP_A;
	uint64_t nl_pde = pm->pt_t | GP_P | GP_W | GP_U | GP_A;
	uint64_t leaf = DATA | GP_P | GP_W | GP_U;
	uint64_t odd[4], la[3], v[3];
	unsigned int m, nmask = m32 ? 0x1b : 0x1f;
	int i, nodd = odd_bits(pm, odd), k;

	/* G1: the PTE */
	for (m = 0; m < 32; m++) {
		if ((m & ~nmask))
			continue;
		k = 0;
		if (lm) {
			la[k] = pm->pdpte;
			v[k++] = nl_pdpte;
		}
		la[k] = pm->pde;
		v[k++] = nl_pde;
		la[k] = pm->pte;
		v[k++] = DATA | GP_P | combo(m);
		path(ps, "PTE", T_LA, -1, k, la, v);
	}
	for (i = -1; i < nodd; i++) {
		k = 0;
		if (lm) {
			la[k] = pm->pdpte;
			v[k++] = nl_pdpte;
		}
		la[k] = pm->pde;
		v[k++] = nl_pde;
		la[k] = pm->pte;
		/* i = -1: not present */
		v[k++] = i < 0 ? DATA | GP_W | GP_U | A_D : leaf | A_D | odd[i];
		path(ps, i < 0 ? "PTE not present" : "PTE odd bit", T_LA, -1, k,
		     la, v);
	}
	/* G2: the PDE pointing to a page table */
	for (m = 0; m < 32; m++) {
		if ((m & ~nmask))
			continue;
		k = 0;
		if (lm) {
			la[k] = pm->pdpte;
			v[k++] = nl_pdpte;
		}
		la[k] = pm->pde;
		v[k++] = pm->pt_t | GP_P | combo(m);
		la[k] = pm->pte;
		v[k++] = leaf;
		path(ps, "PDE", T_LA, -1, k, la, v);
	}
	for (i = -1; i < nodd; i++) {
		k = 0;
		if (lm) {
			la[k] = pm->pdpte;
			v[k++] = nl_pdpte;
		}
		la[k] = pm->pde;
		v[k++] = i < 0 ? pm->pt_t | GP_W | GP_U :
				 nl_pde | odd[i];
		la[k] = pm->pte;
		v[k++] = leaf;
		path(ps, i < 0 ? "PDE not present" : "PDE odd bit", T_LA, -1,
		     k, la, v);
	}
	/* G3: a big-page PDE (4M with CR4.PSE, 2M) */
	for (m = 0; m < 32; m++) {
		if ((m & ~nmask) || (m & 8))
			continue;
		k = 0;
		if (lm) {
			la[k] = pm->pdpte;
			v[k++] = nl_pdpte;
		}
		la[k] = pm->pde;
		v[k++] = BIG | GP_P | GP_PS | combo(m);
		path(ps, "big PDE", T_LA, 1, k, la, v);
	}
	{
		uint64_t big_odd[8];
		int nb = 0;

		if (m32) {
			big_odd[nb++] = 1ULL << 21;
		} else {
			big_odd[nb++] = 1ULL << 13;
			big_odd[nb++] = 1ULL << 20;
			for (i = 0; i < nodd; i++)
				big_odd[nb++] = odd[i];
		}
		for (i = 0; i < nb; i++) {
			k = 0;
			if (lm) {
				la[k] = pm->pdpte;
				v[k++] = nl_pdpte;
			}
			la[k] = pm->pde;
			v[k++] = BIG | GP_P | GP_PS | GP_W | GP_U | big_odd[i];
			path(ps, "big PDE odd bit", T_LA, 1, k, la, v);
		}
	}
	/* G4: 32-bit, CR4.PSE = 0: PS is ignored, the PDE points to a table */
	if (m32) {
		for (m = 0; m < 32; m++) {
			if ((m & ~nmask))
				continue;
			la[0] = pm->pde;
			v[0] = FAKE_PT | GP_P | GP_PS | GP_W | GP_U;
			la[1] = FAKE_PT + 4;
			v[1] = FAKE_DATA | GP_P | combo(m);
			path(ps, "PDE PS without CR4.PSE", T_LA, 0, 2, la, v);
		}
	}
	if (!lm)
		return;
	/* G5: the PDPTE pointing to a page directory */
	for (m = 0; m < 16; m++) {
		la[0] = pm->pdpte;
		v[0] = pm->pd_t | GP_P | combo(m);
		la[1] = pm->pde;
		v[1] = nl_pde;
		la[2] = pm->pte;
		v[2] = leaf;
		path(ps, "PDPTE", T_LA, -1, 3, la, v);
	}
	for (i = -1; i < 2; i++) {
		la[0] = pm->pdpte;
		v[0] = i < 0 ? pm->pd_t | GP_W | GP_U :
		       nl_pdpte | (i == 0 ? 1ULL << 51 : 1ULL << 52);
		la[1] = pm->pde;
		v[1] = nl_pde;
		la[2] = pm->pte;
		v[2] = leaf;
		path(ps, i < 0 ? "PDPTE not present" : "PDPTE odd bit", T_LA, -1,
		     3, la, v);
	}
	/* G6: 1 GiB pages (PS reserved in a PDPTE without them) */
	for (m = 0; m < 32; m++) {
		if (m & 8)
			continue;
		la[0] = pm->pdpte;
		v[0] = 0 | GP_P | GP_PS | combo(m);
		path(ps, "1G PDPTE", T_LA, -1, 1, la, v);
	}
	for (i = 0; i < 2; i++) {
		la[0] = pm->pdpte;
		v[0] = GP_P | GP_PS | GP_W | GP_U | (i ? 1ULL << 29 : 1ULL << 13);
		path(ps, "1G PDPTE odd bit", T_LA, -1, 1, la, v);
	}
	/* G7: a PML4E (another target, so the runtime's PML4E stays) */
	for (m = 0; m < 16; m++) {
		la[0] = pm->pml4e2;
		v[0] = pm->pdpt2 | GP_P | combo(m);
		path(ps, "PML4E", T2_LA, -1, 1, la, v);
	}
	for (i = -1; i < 3; i++) {
		la[0] = pm->pml4e2;
		v[0] = i < 0 ? pm->pdpt2 | GP_W | GP_U :
		       pm->pdpt2 | GP_P | GP_W | GP_U |
		       (i == 0 ? GP_PS : i == 1 ? 1ULL << 51 : 1ULL << 52);
		path(ps, i < 0 ? "PML4E not present" : "PML4E odd bit", T2_LA,
		     -1, 1, la, v);
	}
}

static void build_cases(struct pm *pm)
{
	static const uint32_t acc[] = {
		GRT_ACC_READ, GRT_ACC_WRITE, GRT_ACC_FETCH,
		GRT_ACC_READ | GRT_ACC_USER, GRT_ACC_WRITE | GRT_ACC_USER,
		GRT_ACC_FETCH | GRT_ACC_USER,
		GRT_ACC_READ | GRT_ACC_AC, GRT_ACC_WRITE | GRT_ACC_AC,
		GRT_ACC_FETCH | GRT_ACC_AC,
	};
	static struct paths ps;
	uint64_t base_cr0 = GP_CR0_PE | GP_CR0_ET | GP_CR0_PG;
	uint64_t base_cr4 = pm->mode == GP_MODE_32 ? 0 : GP_CR4_PAE;
	uint64_t base_efer = pm->mode == GP_MODE_LM ? GP_EFER_LME | GP_EFER_LMA : 0;
	unsigned int st, a;
	int p, i;

	ps.n = 0;
	build_paths(pm, &ps);
	/* state bits: 0 WP, 1 NXE, 2 SMEP, 3 SMAP, 4 PSE off (32-bit) */
	for (st = 0; st < 32; st++) {
		struct pm_case c;

		if ((st & 2) && !pm->cpu.nx)
			continue;
		if ((st & 4) && !pm->cpu.smep)
			continue;
		if ((st & 8) && !pm->cpu.smap)
			continue;
		if ((st & 16) && pm->mode != GP_MODE_32)
			continue;
		memset(&c, 0, sizeof(c));
		c.cr0 = base_cr0 | (st & 1 ? GP_CR0_WP : 0);
		c.cr4 = base_cr4 | (st & 4 ? GP_CR4_SMEP : 0) |
			(st & 8 ? GP_CR4_SMAP : 0);
		if (pm->mode == GP_MODE_32 && !(st & 16))
			c.cr4 |= GP_CR4_PSE;
		c.efer = base_efer | (st & 2 ? GP_EFER_NXE : 0);
		for (p = 0; p < ps.n; p++) {
			const struct pm_path *pp = &ps.p[p];

			if (pm->mode == GP_MODE_32 && pp->pse >= 0 &&
			    pp->pse != !(st & 16))
				continue;
			if (pm->mode == GP_MODE_32 && pp->pse < 0 && (st & 16))
				continue;
			c.nw = pp->nw;
			for (i = 0; i < pp->nw; i++) {
				c.wla[i] = pp->wla[i];
				c.wval[i] = pp->wval[i];
			}
			c.target = pp->target;
			c.what = pp->what;
			for (a = 0; a < ARRAY_SIZE(acc); a++) {
				if ((acc[a] & GRT_ACC_AC) && !(st & 8))
					continue;
				c.kind = acc[a];
				add_case(pm, &c);
			}
		}
	}
}

/*
 * CR4.SMAP with CR0.WP=0 in sequence: a supervisor write to a read-only
 * user page is allowed only as an explicit access with EFLAGS.AC=1, and
 * once it is done the page is still a user page: a supervisor read or
 * write with EFLAGS.AC=0 right after it faults (SDM vol. 3A 4.6.1). The
 * matrix cannot see this (it rewrites the entry between the two), so
 * here the entries stay and only the access and the control bits change;
 * also across WP and SMAP toggles (a page written with SMAP off and WP=0
 * must fault for SMAP once SMAP is set) and with SMEP (a supervisor fetch
 * of the page faults whatever was written).
 */
static void build_smap_wp0(struct pm *pm)
{
	static const struct {
		uint32_t kind;
		unsigned int st;	/* 1 WP, 2 SMAP, 4 SMEP, 8 clean PTE */
	} seq[] = {
		{ GRT_ACC_WRITE | GRT_ACC_AC, 2 }, { GRT_ACC_READ, 2 },
		{ GRT_ACC_READ | GRT_ACC_AC, 2 }, { GRT_ACC_WRITE, 2 },
		{ GRT_ACC_READ | GRT_ACC_USER, 2 }, { GRT_ACC_WRITE | GRT_ACC_AC, 2 },
		{ GRT_ACC_FETCH, 2 }, { GRT_ACC_READ, 2 },
		{ GRT_ACC_WRITE | GRT_ACC_USER, 2 }, { GRT_ACC_WRITE | GRT_ACC_AC, 2 },
		{ GRT_ACC_WRITE, 2 }, { GRT_ACC_READ | GRT_ACC_AC, 2 },
		/* a clean entry: the write sets D, and SMAP still applies */
		{ GRT_ACC_WRITE | GRT_ACC_AC, 10 }, { GRT_ACC_READ, 10 },
		{ GRT_ACC_WRITE, 10 },
		/* CR0.WP=1: the same write faults, the AC read does not */
		{ GRT_ACC_WRITE | GRT_ACC_AC, 3 }, { GRT_ACC_READ | GRT_ACC_AC, 3 },
		{ GRT_ACC_READ, 3 },
		/* written with SMAP off, then SMAP on */
		{ GRT_ACC_WRITE, 0 }, { GRT_ACC_READ, 0 }, { GRT_ACC_READ, 2 },
		{ GRT_ACC_WRITE, 2 }, { GRT_ACC_WRITE, 0 }, { GRT_ACC_READ, 2 },
		{ GRT_ACC_READ | GRT_ACC_USER, 2 },
		/* with SMEP */
		{ GRT_ACC_WRITE | GRT_ACC_AC, 6 }, { GRT_ACC_FETCH, 6 },
		{ GRT_ACC_FETCH | GRT_ACC_AC, 6 }, { GRT_ACC_READ, 6 },
		{ GRT_ACC_FETCH | GRT_ACC_USER, 6 }, { GRT_ACC_WRITE, 4 },
		{ GRT_ACC_FETCH, 4 }, { GRT_ACC_READ, 6 },
		{ GRT_ACC_WRITE | GRT_ACC_AC, 6 }, { GRT_ACC_WRITE, 6 },
	};
	bool lm = pm->mode == GP_MODE_LM;
	struct pm_case c;
	unsigned int i;
	int k;

	if (!pm->cpu.smap)
		return;
	for (i = 0; i < ARRAY_SIZE(seq); i++) {
		unsigned int st = seq[i].st;

		if ((st & 4) && !pm->cpu.smep)
			continue;
		memset(&c, 0, sizeof(c));
		c.cr0 = GP_CR0_PE | GP_CR0_ET | GP_CR0_PG | (st & 1 ? GP_CR0_WP : 0);
		c.cr4 = (pm->mode == GP_MODE_32 ? GP_CR4_PSE : GP_CR4_PAE) |
			(st & 2 ? GP_CR4_SMAP : 0) | (st & 4 ? GP_CR4_SMEP : 0);
		c.efer = lm ? GP_EFER_LME | GP_EFER_LMA : 0;
		k = 0;
		if (lm) {
			c.wla[k] = pm->pdpte;
			c.wval[k++] = pm->pd_t | GP_P | GP_W | GP_U | GP_A;
		}
		c.wla[k] = pm->pde;
		c.wval[k++] = pm->pt_t | GP_P | GP_W | GP_U | GP_A;
		c.wla[k] = pm->pte;
		c.wval[k++] = DATA | GP_P | GP_U | GP_A | (st & 8 ? 0 : GP_D);
		c.nw = k;
		c.target = T_LA;
		c.kind = seq[i].kind;
		c.what = "read-only user PTE, kept";
		add_case(pm, &c);
		/* a supervisor write with AC=1 under SMAP, WP=0: emulated */
		if ((c.kind & 3) == GRT_ACC_WRITE && (c.kind & GRT_ACC_AC) &&
		    !(c.kind & GRT_ACC_USER) && (st & 2) && !(st & 1))
			pm->wp0_writes++;
	}
}

/* ---- running and checking ---- */

static const char *kind_name(uint32_t kind, char *buf, size_t len)
{
	static const char *const k[] = { "read", "write", "fetch", "?" };

	snprintf(buf, len, "%s %s%s", kind & GRT_ACC_USER ? "user" : "supervisor",
		 k[kind & 3], kind & GRT_ACC_AC ? " with EFLAGS.AC" : "");
	return buf;
}

static void describe(const struct pm_case *c, char *buf, size_t len)
{
	char kb[64];
	size_t off;
	int i;

	off = snprintf(buf, len, "%s: %s of 0x%llx, WP=%d NXE=%d SMEP=%d SMAP=%d PSE=%d;",
		       c->what, kind_name(c->kind, kb, sizeof(kb)),
		       (unsigned long long)c->target, !!(c->cr0 & GP_CR0_WP),
		       !!(c->efer & GP_EFER_NXE), !!(c->cr4 & GP_CR4_SMEP),
		       !!(c->cr4 & GP_CR4_SMAP), !!(c->cr4 & GP_CR4_PSE));
	for (i = 0; i < c->nw && off < len; i++)
		off += snprintf(buf + off, len - off, " [0x%llx]=0x%llx",
				(unsigned long long)c->wla[i],
				(unsigned long long)c->wval[i]);
}

/* the next state after a case: the guest only writes registers that change */
struct regs {
	uint64_t cr0, cr4, efer;
};

static void run_batch(struct __test_metadata *_metadata, struct tvm *t,
		      struct pm *pm, size_t first, size_t n, struct regs *cur,
		      struct grt_script *s)
{
	int esize = gp_esize(pm->mode);
	uint64_t emask = esize == 4 ? 0xffffffffULL : ~0ULL;
	uint64_t *res = grt_res(t);
	size_t i;
	int j;

	gs_reset(s);
	for (i = 0; i < n; i++) {
		const struct pm_case *c = &pm->cases[first + i];
		uint64_t slot = i * SLOTS;

		/* CR4 before CR0 so that SMEP/SMAP go with the new WP */
		if (c->cr4 != cur->cr4)
			gs_op(s, GOP_CR4, 0, c->cr4, 0, 0);
		if (c->cr0 != cur->cr0)
			gs_op(s, GOP_CR0, 0, c->cr0, 0, 0);
		if (c->efer != cur->efer)
			gs_op(s, GOP_EFER, 0, c->efer, 0, 0);
		cur->cr0 = c->cr0;
		cur->cr4 = c->cr4;
		cur->efer = c->efer;
		for (j = 0; j < c->nw; j++)
			if (!c->skip[j])
				gs_op(s, GOP_WENT, 0, c->wla[j], c->wval[j], 0);
		gs_op(s, GOP_INVLPG, 0, c->target, 0, 0);
		gs_access(s, c->target, c->kind,
			  (uint32_t)((first + i) << 8) | 0xc3, slot);
		for (j = 0; j < c->nw; j++)
			gs_op(s, GOP_R64, 0, c->wla[j], 0, slot + 4 + j);
	}
	ASSERT_LE(n * SLOTS, GRT_MAX_RES);
	ASSERT_EQ(0, grt_exec(t, s, pm->err, sizeof(pm->err)))
		TH_LOG("cases %zu..%zu: %s", first, first + n - 1, pm->err);

	for (i = 0; i < n; i++) {
		const struct pm_case *c = &pm->cases[first + i];
		const uint64_t *r = res + i * SLOTS;
		uint32_t count = (uint32_t)r[0], ec = r[0] >> 32;
		uint32_t wval = (uint32_t)((first + i) << 8) | 0xc3;
		struct ptm_out o;
		uint64_t want_after[3], want_val = 0;
		bool bad = false;
		char why[256] = "";
		size_t off = 0;

		for (j = 0; j < c->nw; j++)
			if (!c->skip[j])
				mwrite(pm->model, c->wla[j], c->wval[j], esize);
		model_access(pm->model, pm, c, &o, false);
		if (!o.fault) {
			if ((c->kind & 3) == GRT_ACC_WRITE)
				mwrite(pm->model, o.gpa, wval, 4);
			want_val = mread(pm->model, o.gpa, 4);
			pm->ok++;
		} else {
			pm->faults++;
			/* a write that should have faulted but did not landed
			 * there: follow it, so later reads are judged alone
			 */
			if (count == 0 && (c->kind & 3) == GRT_ACC_WRITE) {
				struct ptm_out lax;

				model_access(pm->model, pm, c, &lax, true);
				if (!lax.fault)
					mwrite(pm->model, lax.gpa, wval, 4);
			}
		}
		for (j = 0; j < c->nw; j++)
			want_after[j] = mread(pm->model, c->wla[j], esize);

		if (count != (o.fault ? 1u : 0u)) {
			bad = true;
			off += snprintf(why + off, sizeof(why) - off,
					" #PF count %u, want %u;", count, o.fault);
		}
		if (o.fault && count == 1 && ec != o.ec) {
			bad = true;
			off += snprintf(why + off, sizeof(why) - off,
					" error code 0x%x, want 0x%x;", ec, o.ec);
		}
		if (o.fault && count == 1 && r[1] != c->target) {
			bad = true;
			off += snprintf(why + off, sizeof(why) - off,
					" CR2 0x%llx;", (unsigned long long)r[1]);
		}
		if (!o.fault && (c->kind & 3) == GRT_ACC_READ &&
		    (uint32_t)r[2] != want_val) {
			bad = true;
			off += snprintf(why + off, sizeof(why) - off,
					" read 0x%x, want 0x%x;", (uint32_t)r[2],
					(uint32_t)want_val);
		}
		for (j = 0; j < c->nw; j++) {
			uint64_t got = r[4 + j] & emask, want = want_after[j];
			uint64_t mask = o.fault ? ~A_D : ~0ULL;

			if ((got & mask) != (want & mask)) {
				bad = true;
				off += snprintf(why + off, sizeof(why) - off,
						" entry %d after: 0x%llx, want 0x%llx;",
						j, (unsigned long long)got,
						(unsigned long long)want);
			}
		}
		/* resync the model with what the guest really has */
		for (j = 0; j < c->nw; j++)
			mwrite(pm->model, c->wla[j], r[4 + j] & emask, esize);
		if (bad) {
			char d[512];

			pm->bad++;
			if (pm->shown < 40) {
				pm->shown++;
				describe(c, d, sizeof(d));
				TH_LOG("case %zu: %s\n    ->%s", first + i, d, why);
			}
		}
	}
	/* the last write of each frame landed */
	for (j = 0; j < 2; j++) {
		uint64_t f = j ? FAKE_DATA : DATA;

		if (mread(pm->model, f, 4) != *(uint32_t *)tvm_ptr(t, f)) {
			pm->bad++;
			TH_LOG("after cases %zu..%zu: frame 0x%llx holds 0x%x, want 0x%x",
			       first, first + n - 1, (unsigned long long)f,
			       *(uint32_t *)tvm_ptr(t, f),
			       (uint32_t)mread(pm->model, f, 4));
			mwrite(pm->model, f, *(uint32_t *)tvm_ptr(t, f), 4);
		}
	}
}

static void perm_matrix(struct __test_metadata *_metadata, uint32_t policy,
			enum gp_mode mode, void (*build)(struct pm *pm))
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP };
	enum be_kind kind = tvm_default_kind();
	uint64_t st0[SHADOWVM_STAT_NR], st1[SHADOWVM_STAT_NR];
	struct grt_script s;
	struct regs cur;
	struct tvm t;
	struct pm *pm;
	size_t first;
	int r;

	pm = calloc(1, sizeof(*pm));
	ASSERT_NE(NULL, pm);
	pm->mode = mode;
	r = grt_create(&t, kind, MEM_SIZE, policy, 0, 0);
	if (tvm_no_device(r)) {
		free(pm);
		SKIP(return, "%s backend device missing", be_ops_by_kind(kind)->name);
	}
	ASSERT_EQ(0, r) TH_LOG("creating the VM: %s", strerror(-r));
	gs_init(&s);
	ASSERT_EQ(0, gp_init(&pm->g, t.mem, MEM_SIZE, mode, GRT_POOL,
			     GRT_POOL_SIZE));
	if (mode == GP_MODE_32)
		env.cr4_extra = GP_CR4_PSE;
	/* the target's tables (PAE: before the PDPTE registers are loaded) */
	ASSERT_EQ(0, gp_map(&pm->g, T_LA, DATA, GP_4K, GP_4K, GP_W | GP_U));
	pm->pte = gp_entry_gpa(&pm->g, T_LA, 1, false);
	pm->pde = gp_entry_gpa(&pm->g, T_LA, 2, false);
	pm->pt_t = gp_get(&pm->g, pm->pde) & 0xfffff000ULL;
	if (mode == GP_MODE_LM) {
		pm->pdpte = gp_entry_gpa(&pm->g, T_LA, 3, false);
		pm->pd_t = gp_get(&pm->g, pm->pdpte) & 0xfffff000ULL;
		ASSERT_EQ(0, gp_map(&pm->g, T2_LA, DATA, GP_4K, GP_4K,
				    GP_W | GP_U | A_D));
		pm->pml4e2 = gp_entry_gpa(&pm->g, T2_LA, 4, false);
		pm->pdpt2 = gp_get(&pm->g, pm->pml4e2) & 0xfffff000ULL;
		/* the upper entries of T2 start accessed */
		gp_set(&pm->g, gp_entry_gpa(&pm->g, T2_LA, 3, false),
		       gp_get(&pm->g, gp_entry_gpa(&pm->g, T2_LA, 3, false)) | GP_A);
		gp_set(&pm->g, gp_entry_gpa(&pm->g, T2_LA, 2, false),
		       gp_get(&pm->g, gp_entry_gpa(&pm->g, T2_LA, 2, false)) | GP_A);
	}
	ASSERT_NE(0, pm->pte);
	ASSERT_NE(0, pm->pde);
	/* RET at the start of every frame an access can reach */
	*(uint32_t *)tvm_ptr(&t, DATA) = 0xc3;
	*(uint32_t *)tvm_ptr(&t, FAKE_DATA) = 0xc3;
	*(uint32_t *)tvm_ptr(&t, FAKE_PT + 4) = FAKE_DATA | GP_P | GP_W | GP_U;
	ASSERT_EQ(0, grt_setup(&t, &pm->g, &env));
	ASSERT_EQ(0, grt_probe_cpu(&t, &pm->cpu, pm->err, sizeof(pm->err)))
		TH_LOG("%s", pm->err);
	pm->cr3 = gp_cr3(&pm->g);
	if (mode == GP_MODE_PAE)
		memcpy(pm->pdptr, tvm_ptr(&t, pm->cr3), sizeof(pm->pdptr));
	pm->model = malloc(MEM_SIZE);
	ASSERT_NE(NULL, pm->model);
	memcpy(pm->model, t.mem, MEM_SIZE);

	build(pm);
	if (!pm->n) {
		free(pm->model);
		free(pm);
		tvm_destroy(&t);
		SKIP(return, "the guest's CPUID lacks what the cases need (SMAP)");
	}
	TH_LOG("%s, %s policy: %zu cases (NX %d, SMEP %d, SMAP %d, 1G %d, MAXPHYADDR %d)",
	       gp_mode_name(mode), grt_policy_name(policy), pm->n, pm->cpu.nx,
	       pm->cpu.smep, pm->cpu.smap, pm->cpu.gbpages, pm->cpu.maxphy);
	if (kind == BE_SHADOWVM)
		ASSERT_EQ(0, grt_vm_stats(&t, st0, SHADOWVM_STAT_NR));
	cur.cr0 = GP_CR0_PE | GP_CR0_ET | GP_CR0_PG | GP_CR0_WP;
	cur.cr4 = (mode == GP_MODE_32 ? GP_CR4_PSE : GP_CR4_PAE);
	cur.efer = mode == GP_MODE_LM ? GP_EFER_LME | GP_EFER_LMA : 0;
	for (first = 0; first < pm->n; first += BATCH) {
		size_t n = pm->n - first < BATCH ? pm->n - first : BATCH;

		run_batch(_metadata, &t, pm, first, n, &cur, &s);
		if (_metadata->passed == 0)
			break;
	}
	TH_LOG("%u accesses faulted, %u succeeded; %u differ from the model",
	       pm->faults, pm->ok, pm->bad);
	if (kind == BE_SHADOWVM && build == build_smap_wp0 && _metadata->passed) {
		ASSERT_EQ(0, grt_vm_stats(&t, st1, SHADOWVM_STAT_NR));
		EXPECT_EQ(pm->wp0_writes, st1[SHADOWVM_STAT_PF_WP0_EMULATED] -
			  st0[SHADOWVM_STAT_PF_WP0_EMULATED]);
		TH_LOG("%u CR0.WP=0 supervisor writes under SMAP, %llu emulated (PF_WP0_EMULATED)",
		       pm->wp0_writes, (unsigned long long)
		       (st1[SHADOWVM_STAT_PF_WP0_EMULATED] -
			st0[SHADOWVM_STAT_PF_WP0_EMULATED]));
	}
	EXPECT_EQ(0, pm->bad);

	gs_free(&s);
	free(pm->model);
	free(pm->cases);
	free(pm);
	tvm_destroy(&t);
}

FIXTURE(perm) {
	int unused;
};

POLICY_VARIANTS(perm);

FIXTURE_SETUP(perm)
{
}

FIXTURE_TEARDOWN(perm)
{
}

TEST_F_TIMEOUT(perm, paging32_matrix, 900)
{
	perm_matrix(_metadata, variant->policy, GP_MODE_32, build_cases);
}

TEST_F_TIMEOUT(perm, paging32_smap_wp0_write, 300)
{
	perm_matrix(_metadata, variant->policy, GP_MODE_32, build_smap_wp0);
}

TEST_F_TIMEOUT(perm, pae_matrix, 900)
{
	perm_matrix(_metadata, variant->policy, GP_MODE_PAE, build_cases);
}

TEST_F_TIMEOUT(perm, pae_smap_wp0_write, 300)
{
	perm_matrix(_metadata, variant->policy, GP_MODE_PAE, build_smap_wp0);
}

TEST_F_TIMEOUT(perm, long_mode_matrix, 900)
{
	perm_matrix(_metadata, variant->policy, GP_MODE_LM, build_cases);
}

TEST_F_TIMEOUT(perm, long_mode_smap_wp0_write, 300)
{
	perm_matrix(_metadata, variant->policy, GP_MODE_LM, build_smap_wp0);
}

TEST_HARNESS_MAIN
