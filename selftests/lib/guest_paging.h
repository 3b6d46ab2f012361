/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest paging helpers for the shadow-MMU selftests.
 *
 * Contract:
 *   - struct gp builds guest page tables in guest RAM from the test (the
 *     host side): 2-level 32-bit, PAE or 4-level long mode, with 4 KiB,
 *     4 MiB / 2 MiB and 1 GiB pages. Tables come from a pool of frames in
 *     guest RAM; upper-level entries are P|W|U|A (PAE PDPTEs: P), so the
 *     leaf decides the rights unless a test says otherwise, and a first
 *     access sets no Accessed bit above the leaf (as Linux creates them).
 *   - The guest runtime ("grt") is a small interpreter, 32-bit and 64-bit,
 *     assembled into the test binary (lib/guest_runtime.c; the page tables:
 *     lib/guest_pt.c). The test writes
 *     a script of struct grt_op into guest RAM; the guest executes it and
 *     stops with an OUT to GRT_PORT (END or an OUT op), or with an OUT to
 *     GRT_PORT_BAD on an exception nobody expected. Page faults of ACCESS
 *     ops are caught and recorded (count, error code, CR2), and a guest
 *     #PF handler can fix faults itself from a "demand table" (demand
 *     zero, copy on write). Ops can switch paging modes, including entering
 *     and leaving long mode, so one script can visit every mode.
 *   - grt_setup() lays out a test VM: descriptor tables, runtime code,
 *     identity-mapped low memory, the user-mode stub, and SET_SREGS for the
 *     starting mode. Addresses below are guest-physical; the runtime's own
 *     memory is identity mapped (linear == physical) in every mode.
 * Everything works on both backends (shadowvm and KVM).
 */
#ifndef GUEST_PAGING_H
#define GUEST_PAGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "svmtest.h"

/* ---- entry bits ---- */
#define GP_P		(1ULL << 0)
#define GP_W		(1ULL << 1)
#define GP_U		(1ULL << 2)
#define GP_PWT		(1ULL << 3)
#define GP_PCD		(1ULL << 4)
#define GP_A		(1ULL << 5)
#define GP_D		(1ULL << 6)
#define GP_PS		(1ULL << 7)
#define GP_G		(1ULL << 8)
#define GP_NX		(1ULL << 63)

#define GP_4K		0x1000ULL
#define GP_2M		0x200000ULL
#define GP_4M		0x400000ULL
#define GP_1G		0x40000000ULL

/* control register bits the tests use */
#define GP_CR0_PE	(1ULL << 0)
#define GP_CR0_ET	(1ULL << 4)
#define GP_CR0_WP	(1ULL << 16)
#define GP_CR0_PG	(1ULL << 31)
#define GP_CR4_PSE	(1ULL << 4)
#define GP_CR4_PAE	(1ULL << 5)
#define GP_CR4_PGE	(1ULL << 7)
#define GP_CR4_OSFXSR	(1ULL << 9)
#define GP_CR4_SMEP	(1ULL << 20)
#define GP_CR4_SMAP	(1ULL << 21)
#define GP_EFER_LME	(1ULL << 8)
#define GP_EFER_LMA	(1ULL << 10)
#define GP_EFER_NXE	(1ULL << 11)

/* page-fault error code */
#define PFEC_P		(1u << 0)
#define PFEC_W		(1u << 1)
#define PFEC_U		(1u << 2)
#define PFEC_RSVD	(1u << 3)
#define PFEC_I		(1u << 4)

enum gp_mode {
	GP_MODE_NONE,		/* paging off */
	GP_MODE_32,		/* 2-level, 4-byte entries */
	GP_MODE_PAE,		/* 3-level, PDPTE registers */
	GP_MODE_LM,		/* 4-level (IA-32e) */
};

const char *gp_mode_name(enum gp_mode mode);

struct gp_pool {
	uint64_t next, end;	/* table frames still free: [next, end) */
};

struct gp {
	uint8_t *mem;		/* guest RAM as seen by the test */
	uint64_t mem_size;
	enum gp_mode mode;
	bool pse;		/* 32-bit: honour PS in PDEs (CR4.PSE) */
	uint64_t root;		/* PD (32-bit), PDPT (PAE) or PML4 (LM) */
	struct gp_pool own;
	struct gp_pool *pool;	/* &own, or the pool of the space shared */
};

/* Table frames are taken from [pool, pool + pool_size); a new root is
 * allocated. 0 or -errno.
 */
int gp_init(struct gp *g, void *mem, uint64_t mem_size, enum gp_mode mode,
	    uint64_t pool, uint64_t pool_size);
/* Another address space (any mode) with from's memory and pool and a new
 * root; from must stay alive as long as g is used. 0 or -errno.
 */
int gp_init_shared(struct gp *g, const struct gp *from, enum gp_mode mode);
/* A zeroed 4 KiB frame of the pool, 0 when it is exhausted. */
uint64_t gp_alloc(struct gp *g);
int gp_levels(enum gp_mode mode);
/* Bytes per entry: 4 (32-bit) or 8. */
int gp_esize(enum gp_mode mode);
/* The CR3 value for this address space. */
uint64_t gp_cr3(const struct gp *g);
/*
 * Map [la, la + size) to [gpa, gpa + size) with pages of page_size
 * (GP_4K, GP_4M in 32-bit mode, GP_2M, GP_1G in long mode); leaf gets
 * flags (GP_P is added; GP_PS for big pages). Missing tables are created.
 * 0 or -errno (-EINVAL for bad alignment or size, -ENOMEM for the pool).
 */
int gp_map(struct gp *g, uint64_t la, uint64_t gpa, uint64_t size,
	   uint64_t page_size, uint64_t flags);
/*
 * Guest-physical address of the entry at level (1 = PTE, 2 = PDE,
 * 3 = PDPTE, 4 = PML4E) used for la; missing tables are created (non-leaf
 * P|W|U|A) when create. 0 when there is none (or a big page is in the way).
 */
uint64_t gp_entry_gpa(struct gp *g, uint64_t la, int level, bool create);
uint64_t gp_get(const struct gp *g, uint64_t entry_gpa);
void gp_set(struct gp *g, uint64_t entry_gpa, uint64_t val);
/*
 * Copy the top-level entries covering [la, la + size) from another space
 * of the same mode: the two then share the tables below (a "kernel half").
 */
void gp_share(struct gp *g, const struct gp *from, uint64_t la, uint64_t size);
/* Software translation ignoring rights; 0 or -EFAULT (not mapped). */
int gp_translate(const struct gp *g, uint64_t la, uint64_t *gpa);

/* ---- guest memory layout of grt_setup() (guest-physical == linear) ---- */
#define GRT_SYS		0x0000		/* GDT, TSSs, IDTs */
#define GRT_GDT		0x0000
#define GRT_TSS32	0x0100
#define GRT_TSS64	0x0180
#define GRT_IDT32	0x0200		/* 64 gates of 8 bytes */
#define GRT_IDT64	0x0400		/* 64 gates of 16 bytes */
#define GRT_IDT32_DESC	0x0f00		/* lidt operands */
#define GRT_IDT64_DESC	0x0f10
#define GRT_CODE	0x1000		/* the runtime (TVM_CODE) */
#define GRT_STACK	0x8000		/* kernel stack top (TVM_STACK) */
#define GRT_STACK0	0x9000		/* TSS ring-0 stack top (from CPL 3) */
#define GRT_CB		0x9000		/* control block (TVM_DATA) */
#define GRT_UCODE	0xa000		/* frame of the user-mode stubs */
#define GRT_USTACK	0xb000		/* frame of the user stack */
#define GRT_SCRATCH	0xc000		/* 16 KiB free for tests */
#define GRT_TABLES	0x10000	/* 64 KiB: demand tables etc. */
#define GRT_SCRIPT	0x20000	/* script: up to GRT_MAX_OPS ops */
#define GRT_RES		0xe0000	/* results: GRT_MAX_RES u64 words */
#define GRT_POOL	0x100000	/* default page-table pool */
#define GRT_POOL_SIZE	0x200000
#define GRT_FREE	0x300000	/* first frame no one uses */
#define GRT_MAX_OPS	((GRT_RES - GRT_SCRIPT) / 32)
#define GRT_MAX_RES	((GRT_POOL - GRT_RES) / 8)

/*
 * Process layout used by the multi-process tests: the kernel half (the
 * runtime's identity map and user stubs) lives under the first top-level
 * entry, [0, GRT_KERNEL_SPAN(mode)), and is shared with gp_share(); each
 * process's own pages start at GRT_PROC_LA(mode), under another top-level
 * entry.
 */
#define GRT_KERNEL_SPAN(mode)	((mode) == GP_MODE_LM ? (1ULL << 39) : \
				 (mode) == GP_MODE_PAE ? (1ULL << 30) : \
				 (1ULL << 24))
#define GRT_PROC_LA(mode)	((mode) == GP_MODE_LM ? (1ULL << 39) : \
				 (1ULL << 30))

/* user-mode linear addresses (mapped U by grt_setup when paging is on) */
#define GRT_ULA		0x00c00000	/* GRT_UCODE: 32-bit stub, +0x40: 64-bit */
#define GRT_USTACK_LA	0x00c01000
#define GRT_USTACK_TOP	0x00c02000

/* selectors of the GDT written by grt_setup() */
#define GRT_SEL_CODE32	0x08
#define GRT_SEL_DATA	0x10
#define GRT_SEL_TSS32	0x18
#define GRT_SEL_CODE64	0x20
#define GRT_SEL_UCODE32	0x2b
#define GRT_SEL_UDATA	0x33
#define GRT_SEL_UCODE64	0x3b
#define GRT_SEL_TSS64	0x40

/* ports: GRT_PORT carries END (GRT_EV_DONE) and OUT values; GRT_PORT_BAD
 * an unexpected exception (value = vector, details in the control block)
 */
#define GRT_PORT	0xf4
#define GRT_PORT_BAD	0xf5
/* GOP_WAIT32 with c != 0 OUTs to it after each miss; grt_run() yields */
#define GRT_PORT_YIELD	0xf6
#define GRT_EV_DONE	0x444f4e45	/* "DONE" */

/* control block fields (offsets from GRT_CB) */
#define CB_SAVED_SP	0x00
#define CB_RESUME	0x08
#define CB_PF_COUNT	0x10
#define CB_PF_EC	0x14
#define CB_PF_CR2	0x18
#define CB_PF_IP	0x20
#define CB_EXC_COUNT	0x2c
#define CB_BAD_VEC	0x30
#define CB_BAD_EC	0x34
#define CB_BAD_IP	0x38
#define CB_BAD_CR2	0x40
#define CB_ERR_COUNT	0x48
#define CB_ERR_OP	0x4c
#define CB_ERR_VAL	0x50
#define CB_ESIZE	0x58
#define CB_CUR_OP	0x5c
#define CB_LOOP_DEPTH	0x60
#define CB_LOOP_STACK	0x68		/* 4 x { u64 op address, u64 count } */
#define CB_DEMAND_N	0xa8
#define CB_DEMAND_HITS	0xac
#define CB_DEMAND_TBL	0xb0
#define CB_PF_TOTAL	0xb8		/* every #PF the guest took */
#define CB_ASID		0xbc		/* the script's current process */
#define CB_SIZE		0x100

/* ---- script ---- */
struct grt_op {
	uint32_t code;
	uint32_t flags;
	uint64_t a, b, c;
};

enum grt_opcode {
	GOP_END,	/* OUT GRT_EV_DONE; the next RUN restarts the script */
	GOP_OUT,	/* OUT a (32 bits) to GRT_PORT */
	GOP_W32,	/* *(u32 *)a = b */
	GOP_W64,	/* *(u64 *)a = b (32-bit code: LOCK CMPXCHG8B loop) */
	GOP_WENT,	/* page-table entry write: W32 or W64 by CB_ESIZE */
	GOP_R32,	/* res[c] = *(u32 *)a */
	GOP_R64,	/* res[c] = *(u64 *)a */
	GOP_CHK32,	/* *(u32 *)a != b: error (CB_ERR_*) */
	GOP_CR0,	/* mov a, %cr0 */
	GOP_CR3,
	GOP_CR4,
	GOP_EFER,	/* wrmsr EFER = a */
	GOP_INVLPG,	/* invlpg (a) */
	GOP_PATW,	/* c dwords at a: b + i * 0x9e3779b9 */
	GOP_PATC,	/* check that pattern: errors counted, first kept */
	GOP_TOUCH,	/* b pages from a, stride c (0: 4 KiB): flags 1 write */
	GOP_ACCESS,	/* one access (flags: GRT_ACC_*), faults caught: res[c..c+3] */
	GOP_LOOP,	/* repeat up to the matching ENDLOOP a times (max depth 4) */
	GOP_ENDLOOP,
	GOP_RDTSC,	/* res[c] = TSC */
	GOP_LM_ENTER,	/* 32-bit code, paging off: CR4.PAE, CR3 = a,
			 * EFER |= LME | b, CR0.PG, jump to 64-bit code
			 */
	GOP_LM_LEAVE,	/* 64-bit code: to compatibility mode, CR0.PG = 0,
			 * EFER.LME = 0: 32-bit code, paging off
			 */
	GOP_FILL,	/* c dwords at a = b (rep stosl) */
	GOP_COPY,	/* c dwords from b to a (rep movsl) */
	GOP_DEMAND,	/* demand table at a with b entries (0: off) */
	GOP_RMW,	/* locked/partial write at a (flags: GRT_RMW_*), b, c */
	GOP_CPUID,	/* res[c] = eax | ebx << 32, res[c+1] = ecx | edx << 32
			 * for leaf a, subleaf b
			 */
	GOP_HLT,
	GOP_ADD32,	/* *(u32 *)a += b */
	GOP_WAIT32,	/* spin (PAUSE) until *(u32 *)a == b; c != 0: OUT to
			 * GRT_PORT_YIELD after each miss (grt_run() then
			 * gives the host CPU away: one-CPU ping-pong)
			 */
	GOP_INVPCID,	/* invpcid type a, descriptor at linear b (base+index*2+disp) */
	GOP_NR
};

/* GOP_ACCESS flags */
#define GRT_ACC_READ	0
#define GRT_ACC_WRITE	1	/* writes b (32 bits) */
#define GRT_ACC_FETCH	2	/* call *a: the target must hold a RET */
#define GRT_ACC_USER	0x10	/* from CPL 3 (user stub) */
#define GRT_ACC_AC	0x20	/* with EFLAGS.AC set (CPL 0) */
/* GOP_ACCESS results: res[c] = #PF count | error code << 32,
 * res[c+1] = CR2, res[c+2] = value read, res[c+3] = #PF RIP
 */

/* GOP_RMW kinds (b: value / bit / new value, c: expected old value) */
enum grt_rmw {
	GRT_RMW_XCHG32, GRT_RMW_OR32, GRT_RMW_AND32, GRT_RMW_BTS32,
	GRT_RMW_BTR32, GRT_RMW_CMPXCHG32, GRT_RMW_W16, GRT_RMW_W8,
	GRT_RMW_XCHG64, GRT_RMW_OR64, GRT_RMW_AND64, GRT_RMW_BTS64,
	GRT_RMW_BTR64, GRT_RMW_CMPXCHG64,	/* 32-bit code: CMPXCHG8B */
	GRT_RMW_MISALIGNED32,			/* mov b, (a) with a not aligned */
	GRT_RMW_MOVNTI,				/* movnti, register size */
	GRT_RMW_SSE64,				/* movq %xmm0, (a): 8 bytes of b */
	GRT_RMW_NR
};

/* demand table entry (GOP_DEMAND): on a #PF at page_la the guest handler
 * copies src_la (or zeroes when 0) to dst_la, writes pte_val at pte_la
 * (8 bytes when flags & GRT_DEM_PTE8), invlpg, and retries; once, and
 * only while the control block's CB_ASID word (set by the script when it
 * switches CR3) equals asid.
 */
struct grt_demand {
	uint64_t page_la;
	uint64_t pte_la;
	uint64_t pte_val;
	uint64_t src_la;
	uint64_t dst_la;
	uint32_t flags;		/* GRT_DEM_* ; GRT_DEM_USED set by the guest */
	uint32_t asid;		/* only when it equals the CB_ASID word */
	uint64_t pad2[2];
};
#define GRT_DEM_USED	1u
#define GRT_DEM_PTE8	2u

struct grt_script {
	struct grt_op *ops;
	size_t n, cap;
	bool oom;
};

void gs_init(struct grt_script *s);
void gs_free(struct grt_script *s);
void gs_reset(struct grt_script *s);
/* appends one op, returns its index */
size_t gs_op(struct grt_script *s, uint32_t code, uint32_t flags,
	     uint64_t a, uint64_t b, uint64_t c);

static inline size_t gs_out(struct grt_script *s, uint32_t v)
{
	return gs_op(s, GOP_OUT, 0, v, 0, 0);
}

/*
 * Ops that touch the runtime's own pages (script, results, code, stack,
 * control block), so that a test's measured phases after them take no
 * fault on those.
 */
static inline void gs_warm_runtime(struct grt_script *s)
{
	gs_op(s, GOP_TOUCH, 0, GRT_SCRIPT, 2, 0);
	gs_op(s, GOP_TOUCH, 1, GRT_RES, 1, 0);
	gs_op(s, GOP_TOUCH, 0, GRT_CODE, 6, 0);
	gs_op(s, GOP_TOUCH, 1, GRT_STACK - 0x1000, 1, 0);
	gs_op(s, GOP_W32, 0, GRT_CB + CB_SIZE - 4, 0, 0);
}

static inline size_t gs_access(struct grt_script *s, uint64_t la,
			       uint32_t kind, uint32_t wval, uint64_t slot)
{
	return gs_op(s, GOP_ACCESS, kind, la, wval, slot);
}

/* ---- setting up a test VM ---- */
struct grt_env {
	enum gp_mode mode;	/* starting mode */
	uint64_t cr0_extra;	/* added to PE|ET(|PG) */
	uint64_t cr4_extra;	/* added to PAE (PAE, LM) */
	uint64_t efer_extra;	/* added to LME|LMA in long mode */
	uint64_t ident_size;	/* identity map [0, ident_size), 4 KiB
				 * pages, supervisor RW, A and D set; 0 = 8 MiB
				 * or the RAM size if smaller
				 */
	bool ident_big;		/* identity map with 2 MiB pages (4 MiB in
				 * 32-bit paging: add CR4.PSE), like a kernel's
				 * direct map: page tables live in big pages
				 */
	bool no_user;		/* skip the user-mode mappings */
};

/*
 * Writes descriptor tables, the runtime and the user stubs into t's RAM,
 * builds the identity map into g (gp_init()'ed by the caller, mode as
 * env->mode; ignored for GP_MODE_NONE), loads SREGS for the mode and points
 * RIP at the interpreter (32-bit or 64-bit). 0 or -errno.
 */
int grt_setup(struct tvm *t, struct gp *g, const struct grt_env *env);
/* Identity map and user mappings of grt_setup() into another space. */
int grt_map_common(struct gp *g, const struct grt_env *env);
/* The SREGS of a mode (also used by grt_setup). */
int grt_set_mode_sregs(struct tvm *t, const struct gp *g,
		       const struct grt_env *env);

static inline uint32_t *grt_cb32(struct tvm *t, unsigned int off)
{
	return (uint32_t *)tvm_ptr(t, GRT_CB + off);
}

static inline uint64_t *grt_cb64(struct tvm *t, unsigned int off)
{
	return (uint64_t *)tvm_ptr(t, GRT_CB + off);
}

static inline uint64_t *grt_res(struct tvm *t)
{
	return (uint64_t *)tvm_ptr(t, GRT_RES);
}

/* how a run stopped */
enum grt_stop {
	GRT_STOP_DONE,		/* END op */
	GRT_STOP_OUT,		/* OUT op: value */
	GRT_STOP_BAD,		/* unexpected exception: value = vector */
	GRT_STOP_EXIT,		/* another exit: e */
	GRT_STOP_ERROR,		/* RUN failed: value = -errno */
};

struct grt_stopinfo {
	enum grt_stop why;
	uint32_t value;
	struct be_exit e;
};

/* Copies the script into guest RAM (-E2BIG if it does not fit); the
 * next RUN starts it from its first op when the guest is at the start or
 * after an END.
 */
int grt_load(struct tvm *t, const struct grt_script *s);
/* RUN until a stop; IO exits to other ports are ignored. */
void grt_run(struct tvm *t, struct grt_stopinfo *st);
/* Describes a stop (and, for BAD, the control block) into buf. */
const char *grt_describe(struct tvm *t, const struct grt_stopinfo *st,
			 char *buf, size_t len);
/* grt_load() + grt_run() until DONE; any other stop is an error.
 * 0, or -1 with the reason in err.
 */
int grt_exec(struct tvm *t, const struct grt_script *s, char *err,
	     size_t errlen);

/* ---- counters ---- */
/* VM-wide counters of the test VM (SHADOWVM_STAT_* indexes); 0 or -errno */
int grt_vm_stats(struct tvm *t, uint64_t *val, unsigned int n);
/* /sys/kernel/debug/shadowvm/vm<pid>-*<...>/address_spaces of this
 * process's (only) VM: fills up to max lines, returns how many or -errno
 */
struct grt_as_line {
	uint64_t cr3, loads, root_hits, root_misses, pf_true, pf_hidden,
		 pt_writes;
};
int grt_read_address_spaces(struct grt_as_line *lines, int max);

#endif /* GUEST_PAGING_H */

/* ---- test helpers ---- */
struct grt_cpu {
	bool nx, pse, pae, pge, smep, smap, gbpages, lm;
	bool pcid, invpcid;	/* CR4.PCIDE allowed, INVPCID */
	int maxphy;		/* guest MAXPHYADDR */
};

/* tvm_create_ex() with an MMU configuration (ignored on KVM, which takes
 * no configuration).
 */
int grt_create(struct tvm *t, enum be_kind kind, size_t mem_size,
	       uint32_t policy, uint32_t root_cache_size,
	       uint32_t max_shadow_pages);
/* SVMTEST_PF_BYPASS=1 and a policy that allows it: grt_create() sets the flag */
bool grt_pf_bypass(uint32_t policy);
/* Runs a CPUID script on a set-up VM (any mode) and decodes it. */
int grt_probe_cpu(struct tvm *t, struct grt_cpu *c, char *err, size_t len);
const char *grt_policy_name(uint32_t policy);
