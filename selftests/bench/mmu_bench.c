// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_bench: shadow-paging workloads, the same guest code on shadowvm (per
 * MMU policy) and on KVM (run by run_bench.sh with kvm_intel ept=0).
 *
 *   mmu_bench run shadowvm POLICY [LABEL]   RESULT/DETAIL lines, one per
 *                                            workload and run (LABEL names
 *                                            the config, default the
 *                                            policy's name)
 *   mmu_bench run kvm                        the config is named after
 *                                            kvm_intel's ept parameter
 *                                            (kvm-ept0, kvm-ept1); anything
 *                                            but ept=0 fails (status 1)
 *   mmu_bench policies                       the policies this build knows
 *   mmu_bench workloads                      the workloads, one a line
 *   mmu_bench report [--csv|--json] FILE...  the table (median, min, max of
 *                                            the runs), or CSV, or JSON
 *
 * Environment of "run":
 *   MMU_BENCH_RUNS          runs per workload, each in a fresh VM (default 3)
 *   MMU_BENCH_ONLY          workloads to run, separated by spaces or commas;
 *                           "name*" matches a prefix, "*name" a suffix
 *                           (default: all)
 *   MMU_BENCH_SHADOW_PAGES  shadow-page cap of every VM but recycle's: ours
 *                           through vm_config.max_shadow_pages, KVM's through
 *                           KVM_SET_NR_MMU_PAGES (default: each side's own
 *                           default; both are reported); "kvm": KVM's default
 *                           for the bench's VMs (20 per mille of the guest's
 *                           pages, at least 64: 163)
 *   MMU_BENCH_ROOT_CACHE    vm_config.root_cache_size (shadowvm; 0: default)
 *   MMU_BENCH_HOST_MEM      "warm" (default): the runner faults its guest RAM
 *                           in (MADV_POPULATE_WRITE, else a write to each
 *                           page) before the guest runs, as a VMM with
 *                           preallocated memory does, so that no measured
 *                           section includes the host's allocation and
 *                           clearing of a page (the same for both
 *                           hypervisors, and not MMU work); "cold": guest
 *                           RAM is faulted in by the hypervisor's first use
 *                           of each page, inside the sections that touch it
 *   MMU_BENCH_TICK_ALIGN    1 (default): each measured section starts right
 *                           after a tick of the runner's kernel (tick_align());
 *                           0: at whatever phase it comes
 *
 * Workloads (a fresh VM each, 32 MiB of RAM; warm-up ops, then a measured
 * section between two OUTs to the runtime's port; "op" is the unit the
 * per-operation columns divide by):
 *   switch-N        N processes (N = 2, 8, 32, 64, 128, 256), 4 pages each,
 *                   CR3 switched round-robin, every page written at each
 *                   visit, max(512, 4N) switches; op: a switch
 *   touch-first     first write to each page of a 16 MiB region (4096 4K
 *                   pages, 8 page tables); op: a page. -32 and -pae: the
 *                   same in 32-bit and PAE paging; -2m: the region mapped
 *                   with eight 2 MiB pages
 *   touch-again     the same writes again; op: a page
 *   pt-storm        4 rounds of: rewrite 512 PTEs of a live page table to
 *                   other frames, reload CR3, read every page; op: a PTE
 *   pt-clear        16 rounds of: zero a live page table with rep stos,
 *                   map 16 pages again, reload CR3, write them; op: a round
 *   fork-exit       16 rounds of fork/exec/exit: copy the parent's leaf
 *                   table for a child, write-protect the parent's 16 PTEs
 *                   (locked AND), the child reads, "exec" (zero the child's
 *                   table, map 16 new pages, write them), back to the
 *                   parent, PTEs writable again (locked OR), the child's
 *                   table frames reused as data; op: a round. -32, -pae:
 *                   in 32-bit and PAE paging
 *   recycle         a working set beyond the shadow-page cap: 256 page
 *                   tables (one page used in each), read round-robin 4
 *                   times, in a VM capped at 64 shadow pages (KVM too,
 *                   KVM_SET_NR_MMU_PAGES); op: a read
 *   demand          demand paging: 256 pages not present; the guest's #PF
 *                   handler zeroes a frame, maps it, INVLPGs, retries;
 *                   op: a page
 *   ad-harvest      a reclaim scan: 4 rounds of clearing the Accessed bit
 *                   of 1024 PTEs (lock btr) with an INVLPG each, then
 *                   reading the 1024 pages; op: a PTE scanned
 *   munmap-large    4096 PTEs (8 tables, all pages written before) cleared
 *                   with xchg as munmap does, the 8 PDEs cleared, CR3
 *                   reloaded; op: a PTE
 *   fork-large      fork of a 16 MiB process: its 4096 PTEs write-protected
 *                   (lock btr), its 8 tables copied for the child, flush,
 *                   the child then the parent read all 4096 pages; op: a PTE
 *   role-flip       a 16 MiB region (8 tables) used whole, then 32
 *                   rounds of: CR0.WP toggled, the 8 PDEs rewritten with
 *                   their own values, one page of each table read; op: a
 *                   round
 *
 * Measured: guest TSC cycles between the two OUTs (rdtsc in the guest;
 * under Bochs with sync=none it counts instructions, the host's exits
 * included), the runner's clock (CLOCK_MONOTONIC of the machine the
 * runner is on: the test VM's), exits, true (injected) and hidden page
 * faults: shadowvm's counters, KVM's binary stats (exits, pf_guest,
 * pf_taken - pf_guest) when the kernel has them, else "-"; and the VM's
 * shadow-page cap (SHADOWVM_GET_VM_CONFIG, KVM_GET_NR_MMU_PAGES). The
 * detail table has root-cache hits and misses, shadow pages created and
 * recycled, emulated instructions, emulated page-table writes, unsync
 * events, prefetched entries and prefetched entries dropped unused; for
 * KVM the VM stats that have a meaning close to ours (mmu_cache_miss,
 * mmu_recycled, mmu_pte_write, mmu_unsync), "-" elsewhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>
#include <linux/shadowvm.h>

#include "svmtest.h"
#include "guest_paging.h"

#define MEM_SIZE	(32u << 20)
#define POOL_BASE	0x100000ULL	/* page-table frames (identity mapped) */
#define POOL_SIZE	0x600000ULL
#define PROC_FRAMES	0x800000ULL	/* process pages: 256 x 4 */
#define STORM_LA	0x80000000ULL
#define STORM_FRAMES	0xc00000ULL	/* 2 x 512 frames */
#define TOUCH_LA	0x40000000ULL
#define TOUCH_FRAMES	0x1000000ULL	/* 16 MiB of frames, 2 MiB aligned */
#define TOUCH_PAGES	4096
#define RECYCLE_LA	(2ULL << 39)	/* a PML4 entry of its own */
#define RECYCLE_TABLES	256
#define RECYCLE_CAP	64		/* the smallest cap both accept */
#define AD_PAGES	1024
#define MAX_PROCS	256
#define NONE		(~0ULL)
/* KVM's default n_max_mmu_pages for MEM_SIZE: 20 per mille of the pages */
#define KVM_PERMILLE	((MEM_SIZE >> 12) * 20 / 1000)
#define KVM_DEFAULT_CAP	(KVM_PERMILLE > 64 ? KVM_PERMILLE : 64)

#define NDET 9

struct sample {
	uint64_t tsc, wall_ns, exits, pf_true, pf_hidden, ops, cap;
	bool have_pf;
	/* root hits, misses, shadow pages created, recycled, emulated
	 * instructions, emulated page-table writes, unsync events,
	 * prefetched entries, prefetched entries never used (NONE: n/a)
	 */
	uint64_t det[NDET];
};

static const int det_ids[NDET] = {
	SHADOWVM_STAT_ROOT_HITS, SHADOWVM_STAT_ROOT_MISSES,
	SHADOWVM_STAT_SP_CREATED, SHADOWVM_STAT_SP_RECYCLED,
	SHADOWVM_STAT_EMULATED_INSNS, SHADOWVM_STAT_PF_HIDDEN_PT_WRITE,
	SHADOWVM_STAT_PF_HIDDEN_UNSYNC, SHADOWVM_STAT_PF_PREFETCHED,
	SHADOWVM_STAT_PF_PREFETCH_UNUSED,
};

/* KVM VM stats in the same slots ("" = none) */
static const char *const kvm_det_names[NDET] = {
	"", "", "mmu_cache_miss", "mmu_recycled", "", "mmu_pte_write",
	"mmu_unsync", "", "",
};

static const char *const det_heads[NDET] = {
	"root-hits", "root-miss", "sp-created", "sp-recycl", "emulated",
	"pt-writes", "unsync", "prefetched", "pf-unused",
};

struct bench {
	struct tvm t;
	enum be_kind kind;
	uint32_t policy;
	uint32_t root_cache;
	uint32_t cap;			/* requested shadow-page cap, 0: default */
	uint64_t efer;			/* EFER bits for the next VM (long mode) */
	enum gp_mode mode;
	struct gp kern;
	struct gp as[MAX_PROCS];
	struct grt_script s;
	int stats_fd;			/* KVM vCPU binary stats, or -1 */
	int vm_stats_fd;		/* KVM VM binary stats, or -1 */
	bool live;			/* t and s to be freed */
	uint64_t ops;			/* operations of the measured section */
	bool cold;			/* MMU_BENCH_HOST_MEM=cold */
	char err[512];
};

/* ---- counters ---- */

/* offset in the stats file of the named u64, or -1 */
static long kvm_stat_offset(int fd, const char *name)
{
	struct kvm_stats_header h;
	size_t dsize;
	char *descs;
	uint32_t i;
	long off = -1;

	if (pread(fd, &h, sizeof(h), 0) != sizeof(h))
		return -1;
	dsize = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = malloc(dsize * h.num_desc);
	if (!descs)
		return -1;
	if (pread(fd, descs, dsize * h.num_desc, h.desc_offset) ==
	    (ssize_t)(dsize * h.num_desc)) {
		for (i = 0; i < h.num_desc; i++) {
			struct kvm_stats_desc *d = (void *)(descs + i * dsize);

			if (!strcmp(d->name, name)) {
				off = h.data_offset + d->offset;
				break;
			}
		}
	}
	free(descs);
	return off;
}

static uint64_t kvm_stat(int fd, const char *name)
{
	long off;
	uint64_t v = 0;

	if (fd < 0 || !name[0])
		return NONE;
	off = kvm_stat_offset(fd, name);
	if (off < 0 || pread(fd, &v, sizeof(v), off) != sizeof(v))
		return NONE;
	return v;
}

static void snapshot(struct bench *b, struct sample *s)
{
	struct timespec ts;
	int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < NDET; i++)
		s->det[i] = NONE;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->wall_ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	if (b->kind == BE_SHADOWVM) {
		uint64_t v[SHADOWVM_STAT_NR];

		if (!grt_vm_stats(&b->t, v, SHADOWVM_STAT_NR)) {
			for (i = 0; i < NDET; i++)
				s->det[i] = v[det_ids[i]];
			s->exits = v[SHADOWVM_STAT_EXITS_TOTAL];
			s->pf_true = v[SHADOWVM_STAT_PF_TRUE];
			s->pf_hidden = v[SHADOWVM_STAT_PF_HIDDEN];
			s->have_pf = true;
		}
	} else {
		uint64_t taken = kvm_stat(b->stats_fd, "pf_taken");
		uint64_t guest = kvm_stat(b->stats_fd, "pf_guest");

		s->exits = kvm_stat(b->stats_fd, "exits");
		if (taken != NONE && guest != NONE) {
			s->pf_true = guest;
			s->pf_hidden = taken - guest;
			s->have_pf = true;
		}
		for (i = 0; i < NDET; i++)
			s->det[i] = kvm_stat(b->vm_stats_fd, kvm_det_names[i]);
	}
}

/* the VM's shadow-page cap as the hypervisor reports it, 0 if unknown */
static uint64_t vm_cap(struct bench *b)
{
	int r;

	if (b->kind == BE_SHADOWVM) {
		struct shadowvm_vm_config c;

		memset(&c, 0, sizeof(c));
		if (ioctl(b->t.vm.fd, SHADOWVM_GET_VM_CONFIG, &c))
			return 0;
		return c.max_shadow_pages;
	}
	r = ioctl(b->t.vm.fd, KVM_GET_NR_MMU_PAGES, 0);
	return r > 0 ? (uint64_t)r : 0;
}

/* ---- VM and processes ---- */

static uint64_t proc_la(const struct bench *b)
{
	return GRT_PROC_LA(b->mode);
}

/*
 * MMU_BENCH_HOST_MEM=warm: every page of guest RAM allocated (and cleared)
 * by the host before the guest runs; the pages keep the zeroes they had
 */
static void host_mem_warm(void *mem, size_t size)
{
	volatile uint8_t *p = mem;
	size_t i;

	if (!madvise(mem, size, MADV_POPULATE_WRITE))
		return;
	for (i = 0; i < size; i += 4096)
		p[i] = p[i];
}

/* a fresh VM in b->mode with nproc processes of 4 written pages each */
static int bench_vm_cap(struct bench *b, enum gp_mode mode, int nproc, uint32_t cap)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP, .efer_extra = b->efer };
	uint64_t ula;
	int i, k, r;

	if (nproc > MAX_PROCS)
		return -EINVAL;
	b->mode = mode;
	b->ops = 0;
	ula = proc_la(b);
	b->stats_fd = -1;
	b->vm_stats_fd = -1;
	r = grt_create(&b->t, b->kind, MEM_SIZE, b->policy, b->root_cache, cap);
	if (r)
		return r;
	b->live = true;
	if (!b->cold)
		host_mem_warm(b->t.mem, MEM_SIZE);
	gs_init(&b->s);
	if (b->kind == BE_KVM) {
		b->stats_fd = ioctl(b->t.vcpu.fd, KVM_GET_STATS_FD, NULL);
		b->vm_stats_fd = ioctl(b->t.vm.fd, KVM_GET_STATS_FD, NULL);
		if (cap && ioctl(b->t.vm.fd, KVM_SET_NR_MMU_PAGES, (unsigned long)cap))
			return -errno;
	}
	r = gp_init(&b->kern, b->t.mem, MEM_SIZE, mode, POOL_BASE, POOL_SIZE);
	if (!r)
		r = grt_setup(&b->t, &b->kern, &env);
	for (i = 0; !r && i < nproc; i++) {
		r = gp_init_shared(&b->as[i], &b->kern, mode);
		if (r)
			break;
		gp_share(&b->as[i], &b->kern, 0, GRT_KERNEL_SPAN(mode));
		for (k = 0; !r && k < 4; k++)
			r = gp_map(&b->as[i], ula + k * 0x1000,
				   PROC_FRAMES + (i * 4 + k) * 0x1000ULL, GP_4K,
				   GP_4K, GP_W | GP_A | GP_D);
	}
	return r;
}

static int bench_vm(struct bench *b, enum gp_mode mode, int nproc)
{
	return bench_vm_cap(b, mode, nproc, b->cap);
}

static void bench_vm_done(struct bench *b)
{
	if (!b->live)
		return;
	b->live = false;
	if (b->stats_fd >= 0)
		close(b->stats_fd);
	if (b->vm_stats_fd >= 0)
		close(b->vm_stats_fd);
	gs_free(&b->s);
	tvm_destroy(&b->t);
}

/* warm-up ops, OUT 1, RDTSC, measured ops, RDTSC, OUT 2 */
static void begin(struct grt_script *s)
{
	gs_out(s, 1);
	gs_op(s, GOP_RDTSC, 0, 0, 0, 0);
}

static void end(struct grt_script *s)
{
	gs_op(s, GOP_RDTSC, 0, 0, 0, 1);
	gs_out(s, 2);
}

/*
 * Start the measured section right after a tick of the kernel the runner
 * is on (MMU_BENCH_TICK_ALIGN, default 1): its periodic tick (HZ 250: one
 * every 400,000 instructions under Bochs at ips=100M) costs ~100,000
 * instructions there, which the guest's TSC counts too, and a section
 * started at a random phase of it got one tick more or fewer: short rows
 * came out bimodal by ~100,000 for both hypervisors (switch-2: 592,274
 * or 692,058; KVM 744,346 or 865,631). Aligned, a section of a given
 * length takes the same number of ticks at every run. The coarse clock
 * advances at each tick; at most 50 ms of waiting.
 */
static void tick_align(void)
{
	static int on = -1;
	struct timespec c0, c, t0, t;

	if (on < 0)
		on = !getenv("MMU_BENCH_TICK_ALIGN") || atoi(getenv("MMU_BENCH_TICK_ALIGN"));
	if (!on || clock_gettime(CLOCK_MONOTONIC_COARSE, &c0) ||
	    clock_gettime(CLOCK_MONOTONIC, &t0))
		return;
	do {
		clock_gettime(CLOCK_MONOTONIC_COARSE, &c);
		if (c.tv_sec != c0.tv_sec || c.tv_nsec != c0.tv_nsec)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000000LL + t.tv_nsec - t0.tv_nsec < 50000000LL);
}

/* runs the script; fills *res with the measured section */
static int measure(struct bench *b, struct sample *res)
{
	struct grt_stopinfo st;
	struct sample a, z;
	int r, i;

	if (b->s.oom) {
		snprintf(b->err, sizeof(b->err), "script: out of memory");
		return -1;
	}
	r = grt_load(&b->t, &b->s);
	if (r) {
		snprintf(b->err, sizeof(b->err), "script: %s", strerror(-r));
		return -1;
	}
	grt_run(&b->t, &st);
	if (st.why != GRT_STOP_OUT || st.value != 1)
		goto bad;
	tick_align();
	snapshot(b, &a);
	grt_run(&b->t, &st);
	if (st.why != GRT_STOP_OUT || st.value != 2)
		goto bad;
	snapshot(b, &z);
	grt_run(&b->t, &st);
	if (st.why != GRT_STOP_DONE)
		goto bad;
	if (*grt_cb32(&b->t, CB_ERR_COUNT)) {
		snprintf(b->err, sizeof(b->err), "%u data errors in the guest",
			 *grt_cb32(&b->t, CB_ERR_COUNT));
		return -1;
	}
	res->tsc = grt_res(&b->t)[1] - grt_res(&b->t)[0];
	res->wall_ns = z.wall_ns - a.wall_ns;
	res->exits = z.exits - a.exits;
	res->have_pf = a.have_pf && z.have_pf;
	res->pf_true = z.pf_true - a.pf_true;
	res->pf_hidden = z.pf_hidden - a.pf_hidden;
	for (i = 0; i < NDET; i++)
		res->det[i] = (a.det[i] == NONE || z.det[i] == NONE) ? NONE :
			      z.det[i] - a.det[i];
	res->ops = b->ops;
	res->cap = vm_cap(b);
	return 0;
bad:
	grt_describe(&b->t, &st, b->err, sizeof(b->err));
	return -1;
}

/* ---- workloads ---- */

struct wdef;
typedef int (*wfn)(struct bench *b, const struct wdef *w, struct sample *res);

struct wdef {
	const char *name;
	wfn fn;
	enum gp_mode mode;
	int arg;
	const char *op;		/* what one operation is */
};

static void went(struct bench *b, uint64_t table, unsigned int idx, uint64_t v)
{
	gs_op(&b->s, GOP_WENT, 0, table + idx * gp_esize(b->mode), v, 0);
}

/*
 * A locked AND or OR of a page-table entry: 64-bit in long mode, else of
 * its low dword (as 32-bit PAE Linux does: lock btr of one bit)
 */
static void pte_rmw(struct bench *b, uint64_t gpa, bool or, uint64_t v)
{
	bool e32 = b->mode != GP_MODE_LM;

	gs_op(&b->s, GOP_RMW, or ? (e32 ? GRT_RMW_OR32 : GRT_RMW_OR64) :
	      (e32 ? GRT_RMW_AND32 : GRT_RMW_AND64), gpa,
	      e32 ? (v & 0xffffffffULL) : v, 0);
}

/*
 * Guest ops building a child's upper tables (as fork does): top is its
 * root, mid its PDPT (long mode only), pd its page directory. The kernel
 * half is shared with the kernel space, the process half points at pd.
 * Returns the table that holds the process's PDEs and, in *base, the
 * index of the first one (GRT_PROC_LA's).
 */
static uint64_t fork_upper(struct bench *b, uint64_t top, uint64_t mid,
			   uint64_t pd, unsigned int *base)
{
	const uint64_t nl = GP_P | GP_W | GP_U;
	int i;

	gs_op(&b->s, GOP_FILL, 0, top, 0, 1024);
	switch (b->mode) {
	case GP_MODE_LM:
		went(b, top, 0, gp_get(&b->kern, b->kern.root));
		went(b, top, 1, mid | nl);
		gs_op(&b->s, GOP_FILL, 0, mid, 0, 1024);
		went(b, mid, 0, pd | nl);
		break;
	case GP_MODE_PAE:
		went(b, top, 0, gp_get(&b->kern, b->kern.root));
		went(b, top, 1, pd | GP_P);
		break;
	default:
		for (i = 0; i < 4; i++)
			went(b, top, i, gp_get(&b->kern, b->kern.root + 4 * i));
		*base = 256;
		return top;
	}
	gs_op(&b->s, GOP_FILL, 0, pd, 0, 1024);
	*base = 0;
	return pd;
}

static int w_switch(struct bench *b, const struct wdef *w, struct sample *res)
{
	const uint64_t ula = GRT_PROC_LA(GP_MODE_LM);
	int n = w->arg, nsw = n * 4 > 512 ? n * 4 : 512;
	int r, i, v;

	r = bench_vm(b, GP_MODE_LM, n);
	if (r)
		return r;
	for (i = 0; i < n; i++) {
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[i]), 0, 0);
		gs_op(&b->s, GOP_TOUCH, 1, ula, 4, 0);
	}
	begin(&b->s);
	for (v = 0; v < nsw; v++) {
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[v % n]), 0, 0);
		gs_op(&b->s, GOP_TOUCH, 1, ula, 4, 0);
	}
	end(&b->s);
	gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->kern), 0, 0);
	b->ops = nsw;
	return measure(b, res);
}

/* arg: page size (0: 4K), or -1 for touch-again */
static int w_touch(struct bench *b, const struct wdef *w, struct sample *res)
{
	uint64_t ps = w->arg > 0 ? (uint64_t)w->arg : GP_4K;
	int r;

	r = bench_vm(b, w->mode, 0);
	if (!r)
		r = gp_map(&b->kern, TOUCH_LA, TOUCH_FRAMES, TOUCH_PAGES * 0x1000ULL,
			   ps, GP_W | GP_A | GP_D);
	if (r)
		return r;
	/* PAE: the new PDPTE is loaded by a CR3 load */
	gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->kern), 0, 0);
	if (w->arg < 0)
		gs_op(&b->s, GOP_TOUCH, 1, TOUCH_LA, TOUCH_PAGES, 0);
	begin(&b->s);
	gs_op(&b->s, GOP_TOUCH, 1, TOUCH_LA, TOUCH_PAGES, 0);
	end(&b->s);
	b->ops = TOUCH_PAGES;
	return measure(b, res);
}

static int w_storm(struct bench *b, const struct wdef *w, struct sample *res)
{
	uint64_t pte0;
	int r, round, i;

	r = bench_vm(b, w->mode, 0);
	if (!r)
		r = gp_map(&b->kern, STORM_LA, STORM_FRAMES, 512 * 0x1000ULL,
			   GP_4K, GP_W | GP_A | GP_D);
	if (r)
		return r;
	pte0 = gp_entry_gpa(&b->kern, STORM_LA, 1, false);
	gs_op(&b->s, GOP_TOUCH, 0, STORM_LA, 512, 0);
	begin(&b->s);
	for (round = 1; round <= 4; round++) {
		for (i = 0; i < 512; i++)
			gs_op(&b->s, GOP_WENT, 0, pte0 + 8 * i,
			      (STORM_FRAMES + ((round & 1) * 512 + i) * 0x1000ULL) |
			      GP_P | GP_W | GP_A | GP_D, 0);
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->kern), 0, 0);
		gs_op(&b->s, GOP_TOUCH, 0, STORM_LA, 512, 0);
	}
	end(&b->s);
	b->ops = 4 * 512;
	return measure(b, res);
}

/* a live leaf table zeroed with rep stos (as an OS clears a page-table
 * page) and refilled, 16 times
 */
static int w_clear(struct bench *b, const struct wdef *w, struct sample *res)
{
	uint64_t pt;
	int r, round, i;

	r = bench_vm(b, w->mode, 0);
	if (!r)
		r = gp_map(&b->kern, STORM_LA, STORM_FRAMES, 16 * 0x1000ULL,
			   GP_4K, GP_W | GP_A | GP_D);
	if (r)
		return r;
	pt = gp_entry_gpa(&b->kern, STORM_LA, 1, false) & ~0xfffULL;
	gs_op(&b->s, GOP_TOUCH, 1, STORM_LA, 16, 0);
	begin(&b->s);
	for (round = 0; round < 16; round++) {
		gs_op(&b->s, GOP_FILL, 0, pt, 0, 1024);
		for (i = 0; i < 16; i++)
			gs_op(&b->s, GOP_W64, 0, pt + 8 * i,
			      (STORM_FRAMES + i * 0x1000ULL) |
			      GP_P | GP_W | GP_A | GP_D, 0);
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->kern), 0, 0);
		gs_op(&b->s, GOP_TOUCH, 1, STORM_LA, 16, 0);
	}
	end(&b->s);
	b->ops = 16;
	return measure(b, res);
}

static int w_fork(struct bench *b, const struct wdef *w, struct sample *res)
{
	const uint64_t nl = GP_P | GP_W | GP_U;
	uint64_t ula, ppt, top, mid, cpd, cpt, pdt;
	unsigned int base;
	int r, round, i, es;

	/* parent: process 0 with 16 pages in one table; the child's table
	 * frames are fixed and rebuilt by the guest every round
	 */
	r = bench_vm(b, w->mode, 1);
	if (r)
		return r;
	ula = proc_la(b);
	es = gp_esize(b->mode);
	r = gp_map(&b->as[0], ula + 0x10000, PROC_FRAMES + 0x40000,
		   16 * 0x1000ULL, GP_4K, GP_W | GP_A | GP_D);
	if (r)
		return r;
	ppt = gp_get(&b->as[0], gp_entry_gpa(&b->as[0], ula, 2, false)) & ~0xfffULL;
	top = gp_alloc(&b->kern);
	mid = gp_alloc(&b->kern);
	cpd = gp_alloc(&b->kern);
	cpt = gp_alloc(&b->kern);
	if (!top || !mid || !cpd || !cpt || !ppt)
		return -ENOMEM;
	gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[0]), 0, 0);
	gs_op(&b->s, GOP_TOUCH, 1, ula + 0x10000, 16, 0);
	begin(&b->s);
	for (round = 0; round < 16; round++) {
		/* fork: the child's tables, a copy of the parent's leaf table */
		pdt = fork_upper(b, top, mid, cpd, &base);
		went(b, pdt, base, cpt | nl);
		gs_op(&b->s, GOP_COPY, 0, cpt, ppt, 1024);
		for (i = 0; i < 16; i++) {
			pte_rmw(b, ppt + es * (16 + i), false, ~GP_W);
			pte_rmw(b, cpt + es * (16 + i), false, ~GP_W);
		}
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[0]), 0, 0);
		/* the child reads the shared pages */
		gs_op(&b->s, GOP_CR3, 0, top, 0, 0);
		gs_op(&b->s, GOP_TOUCH, 0, ula + 0x10000, 16, 0);
		/* exec: a new image of 16 pages, written */
		gs_op(&b->s, GOP_FILL, 0, cpt, 0, 1024);
		for (i = 0; i < 16; i++)
			went(b, cpt, 16 + i, (PROC_FRAMES + 0x80000 + i * 0x1000ULL) |
			     GP_P | GP_W | GP_A | GP_D);
		gs_op(&b->s, GOP_CR3, 0, top, 0, 0);
		gs_op(&b->s, GOP_TOUCH, 1, ula + 0x10000, 16, 0);
		/* exit: back to the parent, writable again; frames reused */
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[0]), 0, 0);
		for (i = 0; i < 16; i++)
			pte_rmw(b, ppt + es * (16 + i), true, GP_W);
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[0]), 0, 0);
		gs_op(&b->s, GOP_PATW, 0, cpt, round, 1024);
		gs_op(&b->s, GOP_PATW, 0, cpd, round, 1024);
		gs_op(&b->s, GOP_TOUCH, 1, ula + 0x10000, 16, 0);
	}
	end(&b->s);
	b->ops = 16;
	return measure(b, res);
}

/* more page tables than the shadow-page cap holds, read round-robin */
static int w_recycle(struct bench *b, const struct wdef *w, struct sample *res)
{
	int r, t;

	r = bench_vm_cap(b, w->mode, 0, RECYCLE_CAP);
	for (t = 0; !r && t < RECYCLE_TABLES; t++)
		r = gp_map(&b->kern, RECYCLE_LA + t * GP_2M,
			   TOUCH_FRAMES + t * 0x1000ULL, GP_4K, GP_4K,
			   GP_W | GP_A | GP_D);
	if (r)
		return r;
	gs_op(&b->s, GOP_TOUCH, 0, RECYCLE_LA, RECYCLE_TABLES, GP_2M);
	begin(&b->s);
	gs_op(&b->s, GOP_LOOP, 0, 4, 0, 0);
	gs_op(&b->s, GOP_TOUCH, 0, RECYCLE_LA, RECYCLE_TABLES, GP_2M);
	gs_op(&b->s, GOP_ENDLOOP, 0, 0, 0, 0);
	end(&b->s);
	b->ops = 4 * RECYCLE_TABLES;
	return measure(b, res);
}

/* reclaim's scan: clear Accessed (lock btr) and INVLPG, then reuse */
static int w_ad(struct bench *b, const struct wdef *w, struct sample *res)
{
	int r, i;

	r = bench_vm(b, w->mode, 0);
	if (!r)
		r = gp_map(&b->kern, TOUCH_LA, TOUCH_FRAMES, AD_PAGES * 0x1000ULL,
			   GP_4K, GP_W | GP_A | GP_D);
	if (r)
		return r;
	gs_op(&b->s, GOP_TOUCH, 1, TOUCH_LA, AD_PAGES, 0);
	begin(&b->s);
	gs_op(&b->s, GOP_LOOP, 0, 4, 0, 0);
	for (i = 0; i < AD_PAGES; i++) {
		uint64_t la = TOUCH_LA + i * 0x1000ULL;

		gs_op(&b->s, GOP_RMW, GRT_RMW_BTR64,
		      gp_entry_gpa(&b->kern, la, 1, false), 5, 0);
		gs_op(&b->s, GOP_INVLPG, 0, la, 0, 0);
	}
	gs_op(&b->s, GOP_TOUCH, 0, TOUCH_LA, AD_PAGES, 0);
	gs_op(&b->s, GOP_ENDLOOP, 0, 0, 0, 0);
	end(&b->s);
	b->ops = 4 * AD_PAGES;
	return measure(b, res);
}

/* munmap of 16 MiB: every PTE cleared with xchg, the tables unlinked */
static int w_munmap(struct bench *b, const struct wdef *w, struct sample *res)
{
	int r, i;

	r = bench_vm(b, w->mode, 0);
	if (!r)
		r = gp_map(&b->kern, TOUCH_LA, TOUCH_FRAMES, TOUCH_PAGES * 0x1000ULL,
			   GP_4K, GP_W | GP_A | GP_D);
	if (r)
		return r;
	gs_op(&b->s, GOP_TOUCH, 1, TOUCH_LA, TOUCH_PAGES, 0);
	begin(&b->s);
	for (i = 0; i < TOUCH_PAGES; i++)
		gs_op(&b->s, GOP_RMW, GRT_RMW_XCHG64,
		      gp_entry_gpa(&b->kern, TOUCH_LA + i * 0x1000ULL, 1, false),
		      0, 0);
	for (i = 0; i < TOUCH_PAGES / 512; i++)
		gs_op(&b->s, GOP_W64, 0,
		      gp_entry_gpa(&b->kern, TOUCH_LA + i * GP_2M, 2, false), 0, 0);
	gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->kern), 0, 0);
	end(&b->s);
	b->ops = TOUCH_PAGES;
	return measure(b, res);
}

/* fork of a process with 16 MiB mapped: write-protect, copy, both read */
static int w_fork_large(struct bench *b, const struct wdef *w, struct sample *res)
{
	const uint64_t nl = GP_P | GP_W | GP_U;
	uint64_t ula, la, top, mid, cpd, pdt, ppt[TOUCH_PAGES / 512];
	uint64_t cpt[TOUCH_PAGES / 512];
	unsigned int base;
	int r, i, k, npt = TOUCH_PAGES / 512;

	r = bench_vm(b, w->mode, 1);
	if (r)
		return r;
	ula = proc_la(b);
	la = ula + GP_2M;
	r = gp_map(&b->as[0], la, TOUCH_FRAMES, TOUCH_PAGES * 0x1000ULL, GP_4K,
		   GP_W | GP_A | GP_D);
	if (r)
		return r;
	top = gp_alloc(&b->kern);
	mid = gp_alloc(&b->kern);
	cpd = gp_alloc(&b->kern);
	for (k = 0; k < npt; k++) {
		ppt[k] = gp_get(&b->as[0], gp_entry_gpa(&b->as[0], la + k * GP_2M,
							2, false)) & ~0xfffULL;
		cpt[k] = gp_alloc(&b->kern);
		if (!cpt[k] || !ppt[k])
			return -ENOMEM;
	}
	if (!top || !mid || !cpd)
		return -ENOMEM;
	gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[0]), 0, 0);
	gs_op(&b->s, GOP_TOUCH, 1, la, TOUCH_PAGES, 0);
	begin(&b->s);
	pdt = fork_upper(b, top, mid, cpd, &base);
	for (k = 0; k < npt; k++)
		went(b, pdt, base + 1 + k, cpt[k] | nl);
	for (i = 0; i < TOUCH_PAGES; i++)
		gs_op(&b->s, GOP_RMW, GRT_RMW_BTR64, ppt[i / 512] + 8 * (i % 512),
		      1, 0);
	for (k = 0; k < npt; k++)
		gs_op(&b->s, GOP_COPY, 0, cpt[k], ppt[k], 1024);
	gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[0]), 0, 0);
	gs_op(&b->s, GOP_CR3, 0, top, 0, 0);
	gs_op(&b->s, GOP_TOUCH, 0, la, TOUCH_PAGES, 0);
	gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[0]), 0, 0);
	gs_op(&b->s, GOP_TOUCH, 0, la, TOUCH_PAGES, 0);
	end(&b->s);
	gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->kern), 0, 0);
	b->ops = TOUCH_PAGES;
	return measure(b, res);
}

/*
 * Demand paging: DEMAND_PAGES pages whose PTEs are not present; at each
 * first touch the guest's #PF handler zeroes a frame, writes the PTE,
 * INVLPGs and retries (the runtime's demand table). EFER.NXE on, as an OS
 * has it (the guest #PF bypass needs it). op: a page.
 */
#define DEMAND_LA	0xc0000000ULL
#define DEMAND_FRAMES	0x700000ULL	/* below the 8 MiB identity map */
#define DEMAND_PAGES	256

static int w_demand(struct bench *b, const struct wdef *w, struct sample *res)
{
	int r, k;

	b->efer = GP_EFER_NXE;
	r = bench_vm(b, w->mode, 0);
	b->efer = 0;
	if (r)
		return r;
	for (k = 0; k < DEMAND_PAGES; k++) {
		uint64_t la = DEMAND_LA + k * 0x1000ULL, f = DEMAND_FRAMES + k * 0x1000ULL;
		uint64_t pte = gp_entry_gpa(&b->kern, la, 1, true);
		struct grt_demand *d = (struct grt_demand *)tvm_ptr(&b->t, GRT_TABLES) + k;

		if (!pte)
			return -ENOMEM;
		gp_set(&b->kern, pte, 0);
		memset(d, 0, sizeof(*d));
		d->page_la = la;
		d->pte_la = pte;
		d->pte_val = f | GP_P | GP_W | GP_A | GP_D;
		d->dst_la = f;
		d->flags = GRT_DEM_PTE8;
	}
	gs_op(&b->s, GOP_DEMAND, 0, GRT_TABLES, DEMAND_PAGES, 0);
	begin(&b->s);
	gs_op(&b->s, GOP_TOUCH, 1, DEMAND_LA, DEMAND_PAGES, 0);
	end(&b->s);
	gs_op(&b->s, GOP_DEMAND, 0, 0, 0, 0);
	b->ops = DEMAND_PAGES;
	return measure(b, res);
}

/*
 * Shadow pages rebuilt before they are used: a dense 16 MiB region (all
 * 4096 pages used once), then rounds of CR0.WP toggled (a role change),
 * the region's 8 PDEs rewritten (the leaf shadow pages go) and one page
 * of each of its 8 tables read; what mmu_perm_test and mmu_alias_test do
 */
#define FLIP_ROUNDS	32

static int w_flip(struct bench *b, const struct wdef *w, struct sample *res)
{
	const uint64_t cr0 = GP_CR0_PE | GP_CR0_ET | GP_CR0_PG;
	uint64_t pde[8];
	int r, round, i;

	r = bench_vm(b, w->mode, 0);
	if (!r)
		r = gp_map(&b->kern, TOUCH_LA, TOUCH_FRAMES, TOUCH_PAGES * 0x1000ULL,
			   GP_4K, GP_W | GP_A | GP_D);
	if (r)
		return r;
	for (i = 0; i < 8; i++) {
		pde[i] = gp_entry_gpa(&b->kern, TOUCH_LA + i * 0x200000ULL, 2, false);
		if (!pde[i])
			return -ENOMEM;
	}
	gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->kern), 0, 0);
	gs_op(&b->s, GOP_TOUCH, 1, TOUCH_LA, TOUCH_PAGES, 0);
	begin(&b->s);
	for (round = 0; round < FLIP_ROUNDS; round++) {
		gs_op(&b->s, GOP_CR0, 0, cr0 | (round & 1 ? GP_CR0_WP : 0), 0, 0);
		for (i = 0; i < 8; i++)
			gs_op(&b->s, GOP_WENT, 0, pde[i], gp_get(&b->kern, pde[i]), 0);
		gs_op(&b->s, GOP_TOUCH, 0, TOUCH_LA + round * 0x1000ULL, 8, 0x200000);
	}
	end(&b->s);
	gs_op(&b->s, GOP_CR0, 0, cr0 | GP_CR0_WP, 0, 0);
	b->ops = FLIP_ROUNDS;
	return measure(b, res);
}

static const struct wdef workloads[] = {
	{ "switch-2", w_switch, GP_MODE_LM, 2, "switch" },
	{ "switch-8", w_switch, GP_MODE_LM, 8, "switch" },
	{ "switch-32", w_switch, GP_MODE_LM, 32, "switch" },
	{ "switch-64", w_switch, GP_MODE_LM, 64, "switch" },
	{ "switch-128", w_switch, GP_MODE_LM, 128, "switch" },
	{ "switch-256", w_switch, GP_MODE_LM, 256, "switch" },
	{ "touch-first", w_touch, GP_MODE_LM, 0, "page" },
	{ "touch-first-32", w_touch, GP_MODE_32, 0, "page" },
	{ "touch-first-pae", w_touch, GP_MODE_PAE, 0, "page" },
	{ "touch-first-2m", w_touch, GP_MODE_LM, (int)GP_2M, "page" },
	{ "touch-again", w_touch, GP_MODE_LM, -1, "page" },
	{ "pt-storm", w_storm, GP_MODE_LM, 0, "pte" },
	{ "pt-clear", w_clear, GP_MODE_LM, 0, "round" },
	{ "fork-exit", w_fork, GP_MODE_LM, 0, "round" },
	{ "fork-exit-32", w_fork, GP_MODE_32, 0, "round" },
	{ "fork-exit-pae", w_fork, GP_MODE_PAE, 0, "round" },
	{ "recycle", w_recycle, GP_MODE_LM, 0, "read" },
	{ "ad-harvest", w_ad, GP_MODE_LM, 0, "pte" },
	{ "munmap-large", w_munmap, GP_MODE_LM, 0, "pte" },
	{ "fork-large", w_fork_large, GP_MODE_LM, 0, "pte" },
	{ "demand", w_demand, GP_MODE_LM, 0, "page" },
	{ "role-flip", w_flip, GP_MODE_LM, 0, "round" },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NWORK ARRAY_SIZE(workloads)

static int work_index(const char *name)
{
	unsigned int w;

	for (w = 0; w < NWORK; w++)
		if (!strcmp(workloads[w].name, name))
			return w;
	return -1;
}

/* MMU_BENCH_ONLY: names separated by spaces or commas, "x*" a prefix,
 * "*x" a suffix
 */
static bool selected(const char *name)
{
	const char *only = getenv("MMU_BENCH_ONLY");
	char buf[512], *tok, *save = NULL;

	if (!only || !*only)
		return true;
	snprintf(buf, sizeof(buf), "%s", only);
	for (tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
		size_t n = strlen(tok), l = strlen(name);

		if (n && tok[n - 1] == '*' && !strncmp(name, tok, n - 1))
			return true;
		if (n && tok[0] == '*' && l >= n - 1 && !strcmp(name + l - (n - 1), tok + 1))
			return true;
		if (!strcmp(name, tok))
			return true;
	}
	return false;
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : def;
}

/* kvm-ept0 or kvm-ept1 from kvm_intel's parameter, NULL if unreadable */
static const char *kvm_label(void)
{
	char v[8] = "";
	FILE *f = fopen("/sys/module/kvm_intel/parameters/ept", "re");

	if (!f)
		return NULL;
	if (!fgets(v, sizeof(v), f))
		v[0] = 0;
	fclose(f);
	if (v[0] == 'N' || v[0] == 'n' || v[0] == '0')
		return "kvm-ept0";
	if (v[0] == 'Y' || v[0] == 'y' || v[0] == '1')
		return "kvm-ept1";
	return NULL;
}

static void print_u64(uint64_t v, bool have)
{
	if (have && v != NONE)
		printf(" %llu", (unsigned long long)v);
	else
		printf(" -");
}

static int cmd_run(int argc, char **argv)
{
	static struct bench b;
	const char *config, *host_mem = getenv("MMU_BENCH_HOST_MEM");
	unsigned int w, runs, run;
	int fails = 0;

	memset(&b, 0, sizeof(b));
	if (argc < 1)
		return 2;
	runs = env_ul("MMU_BENCH_RUNS", 3);
	if (!runs)
		runs = 1;
	b.cap = env_ul("MMU_BENCH_SHADOW_PAGES", 0);
	if (host_mem && *host_mem) {
		if (!strcmp(host_mem, "cold"))
			b.cold = true;
		else if (strcmp(host_mem, "warm"))
			return 2;
	}
	if (getenv("MMU_BENCH_SHADOW_PAGES") &&
	    !strcmp(getenv("MMU_BENCH_SHADOW_PAGES"), "kvm"))
		b.cap = KVM_DEFAULT_CAP;
	if (!strcmp(argv[0], "kvm")) {
		b.kind = BE_KVM;
		config = kvm_label();
		if (!config) {
			printf("# mmu_bench: FAIL: kvm_intel not loaded or its ept parameter %s\n",
			       "is unreadable: no KVM reference");
			fprintf(stderr, "mmu_bench: FAIL: no kvm_intel ept parameter\n");
			return 1;
		}
		if (strcmp(config, "kvm-ept0")) {
			printf("# mmu_bench: FAIL: kvm_intel has ept=1: its rows (%s) %s\n",
			       config, "are not a shadow-paging reference");
			fprintf(stderr, "mmu_bench: FAIL: kvm_intel has ept=1\n");
			fails++;
		}
	} else if (!strcmp(argv[0], "shadowvm") && argc >= 2) {
		const struct be_policy *p = be_policy_by_name(argv[1]);

		b.kind = BE_SHADOWVM;
		if (!p)
			return 2;
		b.policy = p->nr;
		b.root_cache = env_ul("MMU_BENCH_ROOT_CACHE", 0);
		config = argc >= 3 ? argv[2] : argv[1];
	} else {
		return 2;
	}
	printf("HOSTMEM %s %s\n", config, b.cold ? "cold" : "warm");
	for (w = 0; w < NWORK; w++) {
		const struct wdef *wd = &workloads[w];

		if (!selected(wd->name))
			continue;
		for (run = 1; run <= runs; run++) {
			struct sample s;
			int r, i;

			memset(&s, 0, sizeof(s));
			b.err[0] = 0;
			r = wd->fn(&b, wd, &s);
			bench_vm_done(&b);
			if (r) {
				fprintf(stderr, "mmu_bench: %s on %s, run %u: %s\n",
					wd->name, config, run,
					r < 0 && r != -1 ? strerror(-r) : b.err);
				printf("RESULT %s %s %u FAILED\n", wd->name, config, run);
				fflush(stdout);
				fails++;
				continue;
			}
			printf("RESULT %s %s %u %llu %llu %llu", wd->name, config, run,
			       (unsigned long long)s.tsc,
			       (unsigned long long)s.wall_ns,
			       (unsigned long long)s.exits);
			print_u64(s.pf_true, s.have_pf);
			print_u64(s.pf_hidden, s.have_pf);
			printf(" %llu", (unsigned long long)s.ops);
			print_u64(s.cap, s.cap != 0);
			printf("\nDETAIL %s %s %u", wd->name, config, run);
			for (i = 0; i < NDET; i++)
				print_u64(s.det[i], true);
			printf("\n");
			fflush(stdout);
		}
	}
	return fails ? 1 : 0;
}

/* ---- the report ---- */

enum { F_TSC, F_WALL, F_EXITS, F_PFT, F_PFH, F_OPS, F_CAP, NF };

struct rsample {
	char work[32], config[32];
	unsigned int run;
	bool failed;
	uint64_t f[NF];			/* NONE: "-" */
	uint64_t det[NDET];		/* NONE: "-" */
	bool have_det;
};

/* a (workload, config) cell: medians etc. over its good samples */
struct cell {
	const char *work, *config;
	unsigned int runs, failed;
	uint64_t med[NF], min[NF], max[NF];
	uint64_t det[NDET];
	double ratio;			/* median cycles / reference's, < 0: none */
	const struct rsample *s[64];
	unsigned int ns;
};

static struct rsample *rs;
static unsigned int nrs, caprs;

static uint64_t parse_u64(char **p)
{
	char *q = *p, *e;
	uint64_t v;

	while (*q == ' ')
		q++;
	if (*q == '-') {
		*p = q + 1;
		return NONE;
	}
	v = strtoull(q, &e, 10);
	*p = e;
	return v;
}

static struct rsample *find_sample(const char *work, const char *config,
				   unsigned int run)
{
	unsigned int i;

	for (i = 0; i < nrs; i++)
		if (rs[i].run == run && !strcmp(rs[i].work, work) &&
		    !strcmp(rs[i].config, config))
			return &rs[i];
	return NULL;
}

/* MMU_BENCH_HOST_MEM of each config's run ("HOSTMEM config warm|cold") */
static unsigned int n_warm, n_cold;

static void note_host_mem(const char *rest)
{
	char config[32], mode[8];

	if (sscanf(rest, "%31s %7s", config, mode) != 2)
		return;
	if (!strcmp(mode, "cold"))
		n_cold++;
	else
		n_warm++;
}

/* the host-memory mode of the runs read: "warm", "cold", "mixed" or "" */
static const char *host_mem_label(void)
{
	if (n_warm && n_cold)
		return "mixed";
	return n_warm ? "warm" : n_cold ? "cold" : "";
}

static void read_results(FILE *f)
{
	char line[1024], work[32], config[32];
	unsigned int run;
	int got, k;

	while (fgets(line, sizeof(line), f)) {
		bool det = !strncmp(line, "DETAIL ", 7);
		struct rsample *r;
		char *q;

		if (!strncmp(line, "HOSTMEM ", 8)) {
			note_host_mem(line + 8);
			continue;
		}
		if (!det && strncmp(line, "RESULT ", 7))
			continue;
		if (sscanf(line + 7, "%31s %31s %u%n", work, config, &run, &got) != 3)
			continue;
		q = line + 7 + got;
		if (det) {
			r = find_sample(work, config, run);
			if (!r)
				continue;
			for (k = 0; k < NDET; k++)
				r->det[k] = parse_u64(&q);
			r->have_det = true;
			continue;
		}
		if (nrs == caprs) {
			struct rsample *n;

			caprs = caprs ? caprs * 2 : 256;
			n = realloc(rs, caprs * sizeof(*rs));
			if (!n)
				return;
			rs = n;
		}
		r = &rs[nrs++];
		memset(r, 0, sizeof(*r));
		snprintf(r->work, sizeof(r->work), "%s", work);
		snprintf(r->config, sizeof(r->config), "%s", config);
		r->run = run;
		if (strstr(q, "FAILED")) {
			r->failed = true;
			continue;
		}
		for (k = 0; k < NF; k++)
			r->f[k] = parse_u64(&q);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* lower median (a value some run had), min and max; NONE if any is NONE */
static void stats(const uint64_t *v, unsigned int n, uint64_t *med,
		  uint64_t *lo, uint64_t *hi)
{
	uint64_t s[64];
	unsigned int i;

	*med = *lo = *hi = NONE;
	if (!n || n > 64)
		return;
	for (i = 0; i < n; i++) {
		if (v[i] == NONE)
			return;
		s[i] = v[i];
	}
	qsort(s, n, sizeof(s[0]), cmp_u64);
	*med = s[(n - 1) / 2];
	*lo = s[0];
	*hi = s[n - 1];
}

static bool is_kvm(const char *config)
{
	return !strncmp(config, "kvm-", 4);
}

static struct cell *cells;
static unsigned int ncells;
static char configs[64][32];
static unsigned int nconfigs;
static const char *reference;		/* "kvm-ept0" when there are such rows */

/* configs in order of first appearance, KVM's last; cells by workload */
static void build_cells(void)
{
	unsigned int i, w, c, k, f;
	bool kvm_pass;

	for (kvm_pass = false;; kvm_pass = true) {
		for (i = 0; i < nrs; i++) {
			if (is_kvm(rs[i].config) != kvm_pass)
				continue;
			for (c = 0; c < nconfigs; c++)
				if (!strcmp(configs[c], rs[i].config))
					break;
			if (c == nconfigs && nconfigs < 64)
				snprintf(configs[nconfigs++], 32, "%s", rs[i].config);
			if (!strcmp(rs[i].config, "kvm-ept0"))
				reference = "kvm-ept0";
		}
		if (kvm_pass)
			break;
	}
	cells = calloc(NWORK * (nconfigs + 1), sizeof(*cells));
	if (!cells)
		return;
	for (w = 0; w < NWORK; w++) {
		for (c = 0; c < nconfigs; c++) {
			struct cell *ce = &cells[ncells];
			uint64_t v[64], d[64];

			memset(ce, 0, sizeof(*ce));
			ce->work = workloads[w].name;
			ce->config = configs[c];
			ce->ratio = -1;
			for (i = 0; i < nrs; i++) {
				if (strcmp(rs[i].work, ce->work) ||
				    strcmp(rs[i].config, ce->config))
					continue;
				ce->runs++;
				if (rs[i].failed)
					ce->failed++;
				else if (ce->ns < 64)
					ce->s[ce->ns++] = &rs[i];
			}
			if (!ce->runs)
				continue;
			for (f = 0; f < NF; f++) {
				for (i = 0; i < ce->ns; i++)
					v[i] = ce->s[i]->f[f];
				stats(v, ce->ns, &ce->med[f], &ce->min[f], &ce->max[f]);
			}
			for (k = 0; k < NDET; k++) {
				uint64_t lo, hi;

				for (i = 0; i < ce->ns; i++)
					d[i] = ce->s[i]->have_det ? ce->s[i]->det[k] : NONE;
				stats(d, ce->ns, &ce->det[k], &lo, &hi);
			}
			ncells++;
		}
	}
	/* the ratios to the reference */
	for (i = 0; i < ncells; i++) {
		for (c = 0; reference && c < ncells; c++) {
			if (strcmp(cells[c].work, cells[i].work) ||
			    strcmp(cells[c].config, reference))
				continue;
			if (cells[c].ns && cells[i].ns && cells[c].med[F_TSC] &&
			    cells[c].med[F_TSC] != NONE)
				cells[i].ratio = (double)cells[i].med[F_TSC] /
						 cells[c].med[F_TSC];
		}
	}
}

/* v / ops with 2 decimals into buf, "-" when unknown */
static const char *per_op(char *buf, size_t len, uint64_t v, uint64_t ops)
{
	if (v == NONE || !ops || ops == NONE)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f", (double)v / ops);
	return buf;
}

static const char *num(char *buf, size_t len, uint64_t v)
{
	if (v == NONE)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

static void report_table(void)
{
	unsigned int i, k, bad = 0, good = 0;
	char a[32], b2[32], c2[32], d[32], e[32], f[32], g[32], h[32], cap[32];

	printf("%-15s %-9s %4s %12s %12s %12s %8s %8s %7s %7s %7s %6s %6s\n",
	       "workload", "config", "runs", "cycles-med", "cycles-min",
	       "cycles-max", "vm-ms", "exits", "exit/op", "tpf/op", "hpf/op",
	       "cap", "vs-kvm");
	for (i = 0; i < ncells; i++) {
		const struct cell *ce = &cells[i];

		if (!ce->ns) {
			printf("%-15s %-9s %4u %12s\n", ce->work, ce->config,
			       ce->runs, "FAILED");
			bad++;
			continue;
		}
		good++;
		if (ce->failed)
			bad++;
		snprintf(h, sizeof(h), ce->ratio < 0 ? "-" : "%.2f", ce->ratio);
		printf("%-15s %-9s %2u/%-1u %12s %12s %12s %8.1f %8s %7s %7s %7s %6s %6s\n",
		       ce->work, ce->config, ce->ns, ce->runs,
		       num(a, sizeof(a), ce->med[F_TSC]),
		       num(b2, sizeof(b2), ce->min[F_TSC]),
		       num(c2, sizeof(c2), ce->max[F_TSC]),
		       ce->med[F_WALL] / 1e6, num(d, sizeof(d), ce->med[F_EXITS]),
		       per_op(e, sizeof(e), ce->med[F_EXITS], ce->med[F_OPS]),
		       per_op(f, sizeof(f), ce->med[F_PFT], ce->med[F_OPS]),
		       per_op(g, sizeof(g), ce->med[F_PFH], ce->med[F_OPS]),
		       num(cap, sizeof(cap), ce->med[F_CAP]), h);
	}
	printf("\ndetail (medians of the same sections; KVM: its VM stats of a close meaning, ");
	printf("- where none):\n");
	printf("%-15s %-9s", "workload", "config");
	for (k = 0; k < NDET; k++)
		printf(" %10s", det_heads[k]);
	printf("\n");
	for (i = 0; i < ncells; i++) {
		if (!cells[i].ns)
			continue;
		printf("%-15s %-9s", cells[i].work, cells[i].config);
		for (k = 0; k < NDET; k++)
			printf(" %10s", num(a, sizeof(a), cells[i].det[k]));
		printf("\n");
	}
	printf("\nops per workload:");
	for (k = 0; k < NWORK; k++)
		printf(" %s=%s", workloads[k].name, workloads[k].op);
	printf("\n");
	printf("cycles: TSC read by the guest, median (lower median for an even count) of\n"
	       "  the runs, each in a fresh VM (Bochs sync=none: instructions, the\n"
	       "  hypervisor's included); vm-ms: the runner's clock in the test VM;\n"
	       "  exits, tpf (true page faults, injected), hpf (hidden): medians, per op;\n"
	       "  cap: the VM's shadow-page cap as the hypervisor reports it (shadowvm:\n"
	       "  vm_config.max_shadow_pages, KVM: KVM_GET_NR_MMU_PAGES)\n");
	if (n_warm && !n_cold)
		printf("host memory: warm (guest RAM faulted in by the runner before the guest\n"
		       "  runs, MMU_BENCH_HOST_MEM=warm)\n");
	else if (n_cold && !n_warm)
		printf("host memory: cold (each page faulted in by the hypervisor's first use,\n"
		       "  inside the sections, MMU_BENCH_HOST_MEM=cold)\n");
	else if (n_cold && n_warm)
		printf("mmu-bench: NOTE: host memory warm for %u runs of a config and cold for %u:\n"
		       "  the rows do not compare\n", n_warm, n_cold);
	if (!reference)
		printf("mmu-bench: NOTE: no kvm-ept0 rows: vs-kvm not computed%s\n",
		       nconfigs && is_kvm(configs[nconfigs - 1]) ?
		       " (the KVM rows are not ept=0: not a shadow-paging reference)" : "");
	printf("mmu-bench: %u cells (%u with failures), %u samples, %u configs; ",
	       good, bad, nrs, nconfigs);
	printf("vs-kvm = median guest cycles / %s's\n", reference ? reference : "kvm-ept0");
}

/* a CSV field: "" for "-" */
static void csv(const char *v)
{
	printf(",%s", strcmp(v, "-") ? v : "");
}

static void report_csv(void)
{
	unsigned int i, k;
	char a[32];

	printf("workload,config,op,runs,ok,ops,cap,cycles_median,cycles_min,cycles_max,");
	printf("vm_ms_median,exits_median,true_pf_median,hidden_pf_median,");
	printf("exits_per_op,true_pf_per_op,hidden_pf_per_op,vs_kvm");
	for (k = 0; k < NDET; k++)
		printf(",%s", det_heads[k]);
	printf(",host_mem\n");
	for (i = 0; i < ncells; i++) {
		const struct cell *ce = &cells[i];
		const struct wdef *wd = &workloads[work_index(ce->work)];

		printf("%s,%s,%s,%u,%u", ce->work, ce->config, wd->op, ce->runs, ce->ns);
		if (!ce->ns) {
			printf(",,,,,,,,,,,,,");
			for (k = 0; k < NDET; k++)
				printf(",");
			printf(",%s\n", host_mem_label());
			continue;
		}
		csv(num(a, sizeof(a), ce->med[F_OPS]));
		csv(num(a, sizeof(a), ce->med[F_CAP]));
		csv(num(a, sizeof(a), ce->med[F_TSC]));
		csv(num(a, sizeof(a), ce->min[F_TSC]));
		csv(num(a, sizeof(a), ce->max[F_TSC]));
		printf(",%.3f", ce->med[F_WALL] / 1e6);
		csv(num(a, sizeof(a), ce->med[F_EXITS]));
		csv(num(a, sizeof(a), ce->med[F_PFT]));
		csv(num(a, sizeof(a), ce->med[F_PFH]));
		csv(per_op(a, sizeof(a), ce->med[F_EXITS], ce->med[F_OPS]));
		csv(per_op(a, sizeof(a), ce->med[F_PFT], ce->med[F_OPS]));
		csv(per_op(a, sizeof(a), ce->med[F_PFH], ce->med[F_OPS]));
		if (ce->ratio >= 0)
			printf(",%.4f", ce->ratio);
		else
			printf(",");
		for (k = 0; k < NDET; k++)
			csv(num(a, sizeof(a), ce->det[k]));
		printf(",%s\n", host_mem_label());
	}
}

static void json_num(const char *key, uint64_t v, bool comma)
{
	if (v == NONE)
		printf("\"%s\": null%s", key, comma ? ", " : "");
	else
		printf("\"%s\": %llu%s", key, (unsigned long long)v, comma ? ", " : "");
}

static void report_json(void)
{
	static const char *const fn[NF] = {
		"cycles", "vm_ns", "exits", "true_pf", "hidden_pf", "ops", "cap",
	};
	unsigned int i, j, k, f;

	printf("{\n  \"reference\": ");
	if (reference)
		printf("\"%s\",\n", reference);
	else
		printf("null,\n");
	if (*host_mem_label())
		printf("  \"host_memory\": \"%s\",\n", host_mem_label());
	else
		printf("  \"host_memory\": null,\n");
	printf("  \"configs\": [");
	for (i = 0; i < nconfigs; i++)
		printf("%s\"%s\"", i ? ", " : "", configs[i]);
	printf("],\n  \"workloads\": [");
	for (i = 0; i < NWORK; i++)
		printf("%s{\"name\": \"%s\", \"op\": \"%s\"}", i ? ", " : "",
		       workloads[i].name, workloads[i].op);
	printf("],\n  \"cells\": [\n");
	for (i = 0; i < ncells; i++) {
		const struct cell *ce = &cells[i];

		printf("    {\"workload\": \"%s\", \"config\": \"%s\", \"runs\": %u, \"ok\": %u, ",
		       ce->work, ce->config, ce->runs, ce->ns);
		if (ce->ratio >= 0)
			printf("\"vs_kvm\": %.4f, ", ce->ratio);
		else
			printf("\"vs_kvm\": null, ");
		printf("\"median\": {");
		for (f = 0; f < NF; f++)
			json_num(fn[f], ce->ns ? ce->med[f] : NONE, f + 1 < NF);
		printf("}, \"min\": {");
		for (f = 0; f < NF; f++)
			json_num(fn[f], ce->ns ? ce->min[f] : NONE, f + 1 < NF);
		printf("}, \"max\": {");
		for (f = 0; f < NF; f++)
			json_num(fn[f], ce->ns ? ce->max[f] : NONE, f + 1 < NF);
		printf("}, \"detail\": {");
		for (k = 0; k < NDET; k++)
			json_num(det_heads[k], ce->ns ? ce->det[k] : NONE, k + 1 < NDET);
		printf("}, \"samples\": [");
		for (j = 0; j < ce->ns; j++) {
			printf("%s{\"run\": %u, ", j ? ", " : "", ce->s[j]->run);
			for (f = 0; f < NF; f++)
				json_num(fn[f], ce->s[j]->f[f], f + 1 < NF);
			printf("}");
		}
		printf("]}%s\n", i + 1 < ncells ? "," : "");
	}
	printf("  ]\n}\n");
}

static int cmd_report(int argc, char **argv)
{
	int a = 0, fmt = 0;

	if (argc > 0 && !strcmp(argv[0], "--csv"))
		fmt = 1, a = 1;
	else if (argc > 0 && !strcmp(argv[0], "--json"))
		fmt = 2, a = 1;
	for (; a < argc; a++) {
		FILE *f = fopen(argv[a], "re");

		if (!f)
			continue;
		read_results(f);
		fclose(f);
	}
	build_cells();
	if (fmt == 1)
		report_csv();
	else if (fmt == 2)
		report_json();
	else
		report_table();
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int i;

	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "report"))
		return cmd_report(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "policies")) {
		for (i = 0; i < be_npolicies; i++)
			printf("%s%s", i ? " " : "", be_policies[i].name);
		printf("\n");
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "workloads")) {
		for (i = 0; i < NWORK; i++)
			printf("%s\n", workloads[i].name);
		return 0;
	}
	fprintf(stderr,
		"usage: mmu_bench run shadowvm POLICY [LABEL]\n"
		"       mmu_bench run kvm\n"
		"       mmu_bench policies\n"
		"       mmu_bench workloads\n"
		"       mmu_bench report [--csv|--json] FILE...\n");
	return 2;
}
