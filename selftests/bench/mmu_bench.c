// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_bench: shadow-paging workloads, the same guest code on shadowvm (per
 * MMU policy) and on KVM (run by run_bench.sh with kvm_intel ept=0).
 *
 *   mmu_bench run shadowvm POLICY [LABEL]   one RESULT line per workload
 *                                            (LABEL names the config,
 *                                            default the policy's name)
 *   mmu_bench run kvm
 *   mmu_bench policies                       the policies this build knows
 *   mmu_bench report FILE...                 the table, from RESULT lines
 *
 * Workloads (long-mode guest, each in a fresh VM, a warm-up first, then a
 * measured section between two OUTs to the runtime's port):
 *   switch-N      N processes (N = 2, 8, 32), 4 pages each, CR3 switched
 *                 round-robin, every page written at each visit, 512
 *                 switches;
 *   touch-first   first write to each page of a 16 MiB region (4096 4K
 *                 pages, 8 page tables);
 *   touch-again   the same writes again;
 *   pt-storm      4 rounds of: rewrite 512 PTEs of a live page table to
 *                 other frames, reload CR3, read every page again;
 *   pt-clear      16 rounds of: zero a live page table with rep stos (as
 *                 an OS clears a page-table page), map 16 pages again,
 *                 reload CR3, write them;
 *   fork-exit     16 rounds of a fork/exec/exit pattern: copy the parent's
 *                 page table for a child, write-protect the parent's 16
 *                 PTEs (locked AND), switch to the child and read, "exec"
 *                 (zero the child's table, map 16 new pages, write them),
 *                 switch back, make the parent's PTEs writable again
 *                 (locked OR), reuse the child's table frames as data.
 * Measured: guest TSC cycles between the two OUTs (rdtsc in the guest;
 * under Bochs with sync=none it counts instructions, the host's exits
 * included), the runner's clock (CLOCK_MONOTONIC of the machine the
 * runner is on: the test VM's), exits, true (injected) and hidden page
 * faults: shadowvm's counters, KVM's binary stats (exits, pf_guest,
 * pf_taken - pf_guest) when the kernel has them, else "-". For shadowvm
 * a second table has root-cache hits and misses, shadow pages created,
 * emulated instructions, emulated page-table writes, unsync events,
 * prefetched entries and prefetched entries dropped unused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>
#include <linux/shadowvm.h>

#include "svmtest.h"
#include "guest_paging.h"

#define MEM_SIZE	(32u << 20)
#define PROC_FRAMES	0x300000ULL	/* process pages */
#define TOUCH_LA	0x40000000ULL
#define TOUCH_FRAMES	(8ULL << 20)	/* 16 MiB of frames */
#define TOUCH_PAGES	4096
#define STORM_LA	0x80000000ULL
#define STORM_FRAMES	0x400000ULL	/* 2 x 512 frames */
#define SWITCHES	512

#define NDET 8

struct sample {
	uint64_t tsc, wall_ns, exits, pf_true, pf_hidden;
	bool have_pf;
	/* shadowvm only: root hits, misses, shadow pages created, emulated
	 * instructions, emulated page-table writes, unsync events,
	 * prefetched entries, prefetched entries never used */
	uint64_t det[NDET];
};

static const int det_ids[NDET] = {
	SHADOWVM_STAT_ROOT_HITS, SHADOWVM_STAT_ROOT_MISSES,
	SHADOWVM_STAT_SP_CREATED, SHADOWVM_STAT_EMULATED_INSNS,
	SHADOWVM_STAT_PF_HIDDEN_PT_WRITE, SHADOWVM_STAT_PF_HIDDEN_UNSYNC,
	SHADOWVM_STAT_PF_PREFETCHED, SHADOWVM_STAT_PF_PREFETCH_UNUSED,
};

struct bench {
	struct tvm t;
	enum be_kind kind;
	uint32_t policy;
	struct gp kern;
	struct gp as[40];
	struct grt_script s;
	int stats_fd;			/* KVM vCPU binary stats, or -1 */
	char err[512];
};

/* ---- counters ---- */

struct kvm_stat_ids {
	int exits, pf_taken, pf_guest;
};

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
	long off = kvm_stat_offset(fd, name);
	uint64_t v = 0;

	if (off < 0 || pread(fd, &v, sizeof(v), off) != sizeof(v))
		return ~0ULL;
	return v;
}

static void snapshot(struct bench *b, struct sample *s)
{
	struct timespec ts;

	memset(s, 0, sizeof(*s));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->wall_ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	if (b->kind == BE_SHADOWVM) {
		uint64_t v[SHADOWVM_STAT_NR];

		if (!grt_vm_stats(&b->t, v, SHADOWVM_STAT_NR)) {
			int i;

			for (i = 0; i < NDET; i++)
				s->det[i] = v[det_ids[i]];
			s->exits = v[SHADOWVM_STAT_EXITS_TOTAL];
			s->pf_true = v[SHADOWVM_STAT_PF_TRUE];
			s->pf_hidden = v[SHADOWVM_STAT_PF_HIDDEN];
			s->have_pf = true;
		}
	} else if (b->stats_fd >= 0) {
		uint64_t taken = kvm_stat(b->stats_fd, "pf_taken");
		uint64_t guest = kvm_stat(b->stats_fd, "pf_guest");

		s->exits = kvm_stat(b->stats_fd, "exits");
		if (taken != ~0ULL && guest != ~0ULL) {
			s->pf_true = guest;
			s->pf_hidden = taken - guest;
			s->have_pf = true;
		}
	}
}

/* ---- VM and processes ---- */

static int bench_vm(struct bench *b, int nproc)
{
	struct grt_env env = { .mode = GP_MODE_LM, .cr0_extra = GP_CR0_WP };
	const uint64_t ula = GRT_PROC_LA(GP_MODE_LM);
	int i, k, r;

	r = grt_create(&b->t, b->kind, MEM_SIZE, b->policy, 0, 0);
	if (r)
		return r;
	b->stats_fd = -1;
	if (b->kind == BE_KVM)
		b->stats_fd = ioctl(b->t.vcpu.fd, KVM_GET_STATS_FD, NULL);
	r = gp_init(&b->kern, b->t.mem, MEM_SIZE, GP_MODE_LM, GRT_POOL,
		    GRT_POOL_SIZE);
	if (!r)
		r = grt_setup(&b->t, &b->kern, &env);
	for (i = 0; !r && i < nproc; i++) {
		r = gp_init_shared(&b->as[i], &b->kern, GP_MODE_LM);
		if (r)
			break;
		gp_share(&b->as[i], &b->kern, 0, GRT_KERNEL_SPAN(GP_MODE_LM));
		for (k = 0; !r && k < 4; k++)
			r = gp_map(&b->as[i], ula + k * 0x1000,
				   PROC_FRAMES + (i * 4 + k) * 0x1000ULL, GP_4K,
				   GP_4K, GP_W | GP_A | GP_D);
	}
	gs_init(&b->s);
	return r;
}

static void bench_vm_done(struct bench *b)
{
	if (b->stats_fd >= 0)
		close(b->stats_fd);
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

/* runs the script; fills *res with the measured section */
static int measure(struct bench *b, struct sample *res)
{
	struct grt_stopinfo st;
	struct sample a, z;
	int r = grt_load(&b->t, &b->s);

	if (r) {
		snprintf(b->err, sizeof(b->err), "script: %s", strerror(-r));
		return -1;
	}
	grt_run(&b->t, &st);
	if (st.why != GRT_STOP_OUT || st.value != 1)
		goto bad;
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
	for (r = 0; r < 6; r++)
		res->det[r] = z.det[r] - a.det[r];
	return 0;
bad:
	grt_describe(&b->t, &st, b->err, sizeof(b->err));
	return -1;
}

/* ---- workloads ---- */

static int w_switch(struct bench *b, int n, struct sample *res)
{
	const uint64_t ula = GRT_PROC_LA(GP_MODE_LM);
	int r, i, v;

	r = bench_vm(b, n);
	if (r)
		return r;
	for (i = 0; i < n; i++) {
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[i]), 0, 0);
		gs_op(&b->s, GOP_TOUCH, 1, ula, 4, 0);
	}
	begin(&b->s);
	for (v = 0; v < SWITCHES; v++) {
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[v % n]), 0, 0);
		gs_op(&b->s, GOP_TOUCH, 1, ula, 4, 0);
	}
	end(&b->s);
	gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->kern), 0, 0);
	r = measure(b, res);
	bench_vm_done(b);
	return r;
}

static int w_touch(struct bench *b, bool again, struct sample *res)
{
	int r;

	r = bench_vm(b, 0);
	if (!r)
		r = gp_map(&b->kern, TOUCH_LA, TOUCH_FRAMES, TOUCH_PAGES * 0x1000ULL,
			   GP_4K, GP_W | GP_A | GP_D);
	if (r)
		return r;
	if (again)
		gs_op(&b->s, GOP_TOUCH, 1, TOUCH_LA, TOUCH_PAGES, 0);
	begin(&b->s);
	gs_op(&b->s, GOP_TOUCH, 1, TOUCH_LA, TOUCH_PAGES, 0);
	end(&b->s);
	r = measure(b, res);
	bench_vm_done(b);
	return r;
}

static int w_storm(struct bench *b, struct sample *res)
{
	uint64_t pte0;
	int r, round, i;

	r = bench_vm(b, 0);
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
	r = measure(b, res);
	bench_vm_done(b);
	return r;
}

static int w_fork(struct bench *b, struct sample *res)
{
	const uint64_t ula = GRT_PROC_LA(GP_MODE_LM);
	uint64_t ppt, cpml4, cpdpt, cpd, cpt, kern_top;
	int r, round, i;

	/* parent: process 0 with 16 pages in one table; the child's four
	 * table frames are fixed and rebuilt by the guest every round
	 */
	r = bench_vm(b, 1);
	if (!r)
		r = gp_map(&b->as[0], ula + 0x10000, PROC_FRAMES + 0x40000,
			   16 * 0x1000ULL, GP_4K, GP_W | GP_A | GP_D);
	if (r)
		return r;
	ppt = gp_get(&b->as[0], gp_entry_gpa(&b->as[0], ula, 2, false)) &
	      ~0xfffULL;
	cpml4 = gp_alloc(&b->kern);
	cpdpt = gp_alloc(&b->kern);
	cpd = gp_alloc(&b->kern);
	cpt = gp_alloc(&b->kern);
	if (!cpml4 || !cpdpt || !cpd || !cpt)
		return -ENOMEM;
	kern_top = gp_get(&b->kern, b->kern.root);
	gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[0]), 0, 0);
	gs_op(&b->s, GOP_TOUCH, 1, ula + 0x10000, 16, 0);
	begin(&b->s);
	for (round = 0; round < 16; round++) {
		/* fork: the child's tables, a copy of the parent's leaf table */
		gs_op(&b->s, GOP_FILL, 0, cpml4, 0, 1024);
		gs_op(&b->s, GOP_W64, 0, cpml4, kern_top, 0);
		gs_op(&b->s, GOP_W64, 0, cpml4 + 8, cpdpt | GP_P | GP_W | GP_U, 0);
		gs_op(&b->s, GOP_FILL, 0, cpdpt, 0, 1024);
		gs_op(&b->s, GOP_W64, 0, cpdpt, cpd | GP_P | GP_W | GP_U, 0);
		gs_op(&b->s, GOP_FILL, 0, cpd, 0, 1024);
		gs_op(&b->s, GOP_W64, 0, cpd, cpt | GP_P | GP_W | GP_U, 0);
		gs_op(&b->s, GOP_COPY, 0, cpt, ppt, 1024);
		for (i = 0; i < 16; i++) {
			gs_op(&b->s, GOP_RMW, GRT_RMW_AND64, ppt + 8 * (16 + i),
			      ~GP_W, 0);
			gs_op(&b->s, GOP_RMW, GRT_RMW_AND64, cpt + 8 * (16 + i),
			      ~GP_W, 0);
		}
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[0]), 0, 0);
		/* the child reads the shared pages */
		gs_op(&b->s, GOP_CR3, 0, cpml4, 0, 0);
		gs_op(&b->s, GOP_TOUCH, 0, ula + 0x10000, 16, 0);
		/* exec: a new image of 16 pages, written */
		gs_op(&b->s, GOP_FILL, 0, cpt, 0, 1024);
		for (i = 0; i < 16; i++)
			gs_op(&b->s, GOP_W64, 0, cpt + 8 * (16 + i),
			      (PROC_FRAMES + 0x80000 + i * 0x1000ULL) |
			      GP_P | GP_W | GP_A | GP_D, 0);
		gs_op(&b->s, GOP_CR3, 0, cpml4, 0, 0);
		gs_op(&b->s, GOP_TOUCH, 1, ula + 0x10000, 16, 0);
		/* exit: back to the parent, writable again; frames reused */
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[0]), 0, 0);
		for (i = 0; i < 16; i++)
			gs_op(&b->s, GOP_RMW, GRT_RMW_OR64, ppt + 8 * (16 + i),
			      GP_W, 0);
		gs_op(&b->s, GOP_CR3, 0, gp_cr3(&b->as[0]), 0, 0);
		gs_op(&b->s, GOP_PATW, 0, cpt, round, 1024);
		gs_op(&b->s, GOP_PATW, 0, cpd, round, 1024);
		gs_op(&b->s, GOP_TOUCH, 1, ula + 0x10000, 16, 0);
	}
	end(&b->s);
	r = measure(b, res);
	bench_vm_done(b);
	return r;
}

/* a live leaf table zeroed with rep stos (as an OS clears a page-table
 * page) and refilled, 16 times */
static int w_clear(struct bench *b, struct sample *res)
{
	uint64_t pt;
	int r, round, i;

	r = bench_vm(b, 0);
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
	r = measure(b, res);
	bench_vm_done(b);
	return r;
}

static const char *const workloads[] = {
	"switch-2", "switch-8", "switch-32", "touch-first", "touch-again",
	"pt-storm", "pt-clear", "fork-exit",
};
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NWORK ARRAY_SIZE(workloads)

static int run_one(struct bench *b, unsigned int w, struct sample *res)
{
	switch (w) {
	case 0:
		return w_switch(b, 2, res);
	case 1:
		return w_switch(b, 8, res);
	case 2:
		return w_switch(b, 32, res);
	case 3:
		return w_touch(b, false, res);
	case 4:
		return w_touch(b, true, res);
	case 5:
		return w_storm(b, res);
	case 6:
		return w_clear(b, res);
	default:
		return w_fork(b, res);
	}
}

static int cmd_run(int argc, char **argv)
{
	static struct bench b;
	const char *config;
	unsigned int w;
	int fails = 0;

	memset(&b, 0, sizeof(b));
	if (argc < 1)
		return 2;
	if (!strcmp(argv[0], "kvm")) {
		b.kind = BE_KVM;
		config = "kvm-ept0";
	} else if (!strcmp(argv[0], "shadowvm") && argc >= 2) {
		b.kind = BE_SHADOWVM;
		const struct be_policy *p = be_policy_by_name(argv[1]);

		if (!p)
			return 2;
		b.policy = p->nr;
		config = argc >= 3 ? argv[2] : argv[1];
	} else {
		return 2;
	}
	for (w = 0; w < NWORK; w++) {
		struct sample s;
		int r;

		memset(&s, 0, sizeof(s));
		r = run_one(&b, w, &s);
		if (r) {
			fprintf(stderr, "mmu_bench: %s on %s: %s\n", workloads[w],
				config, r < 0 && r != -1 ? strerror(-r) : b.err);
			printf("RESULT %s %s FAILED\n", workloads[w], config);
			fails++;
			continue;
		}
		if (s.have_pf)
			printf("RESULT %s %s %llu %llu %llu %llu %llu\n",
			       workloads[w], config, (unsigned long long)s.tsc,
			       (unsigned long long)s.wall_ns,
			       (unsigned long long)s.exits,
			       (unsigned long long)s.pf_true,
			       (unsigned long long)s.pf_hidden);
		else
			printf("RESULT %s %s %llu %llu %llu - -\n", workloads[w],
			       config, (unsigned long long)s.tsc,
			       (unsigned long long)s.wall_ns,
			       (unsigned long long)s.exits);
		if (b.kind == BE_SHADOWVM) {
			int i;

			printf("DETAIL %s %s", workloads[w], config);
			for (i = 0; i < NDET; i++)
				printf(" %llu", (unsigned long long)s.det[i]);
			printf("\n");
		}
		fflush(stdout);
	}
	return fails ? 1 : 0;
}

/* ---- the report ---- */

struct row {
	char work[32], config[32], pft[24], pfh[24];
	unsigned long long tsc, wall, exits;
	bool failed;
};

struct detail {
	char work[32], config[32];
	unsigned long long v[NDET];
};

/* the configs in order of first appearance, kvm-ept0 last */
static int report_configs(const struct row *rows, int n, char cfg[][32], int max)
{
	int nc = 0, i, c;
	bool kvm = false;

	for (i = 0; i < n; i++) {
		if (!strcmp(rows[i].config, "kvm-ept0")) {
			kvm = true;
			continue;
		}
		for (c = 0; c < nc; c++)
			if (!strcmp(cfg[c], rows[i].config))
				break;
		if (c == nc && nc < max - 1)
			snprintf(cfg[nc++], 32, "%s", rows[i].config);
	}
	if (kvm)
		snprintf(cfg[nc++], 32, "kvm-ept0");
	return nc;
}

static int cmd_report(int argc, char **argv)
{
	static struct row rows[512];
	static struct detail det[512];
	static char configs[32][32];
	int n = 0, nd = 0, nc, i, a, c, k, got;
	unsigned int w;
	char line[512];

	for (a = 0; a < argc; a++) {
		FILE *f = fopen(argv[a], "re");

		if (!f)
			continue;
		while (fgets(line, sizeof(line), f) && n < 512) {
			struct row *r = &rows[n];
			struct detail *d = &det[nd];

			if (nd < 512 && !strncmp(line, "DETAIL ", 7) &&
			    sscanf(line + 7, "%31s %31s%n", d->work, d->config,
				   &got) == 2) {
				char *q = line + 7 + got;

				for (k = 0; k < NDET; k++)
					d->v[k] = strtoull(q, &q, 10);
				nd++;
			}
			memset(r, 0, sizeof(*r));
			if (strncmp(line, "RESULT ", 7))
				continue;
			if (sscanf(line + 7, "%31s %31s %llu %llu %llu %23s %23s",
				   r->work, r->config, &r->tsc, &r->wall,
				   &r->exits, r->pft, r->pfh) == 7) {
				n++;
			} else if (sscanf(line + 7, "%31s %31s", r->work,
					  r->config) == 2) {
				r->failed = true;
				n++;
			}
		}
		fclose(f);
	}
	nc = report_configs(rows, n, configs, 32);
	printf("%-12s %-9s %14s %10s %9s %9s %10s %10s\n", "workload",
	       "config", "guest-cycles", "vm-ms", "exits", "true-pf",
	       "hidden-pf", "vs-kvm");
	for (w = 0; w < NWORK; w++) {
		const struct row *kvm = NULL;

		for (i = 0; i < n; i++)
			if (!strcmp(rows[i].work, workloads[w]) &&
			    !strcmp(rows[i].config, "kvm-ept0") && !rows[i].failed)
				kvm = &rows[i];
		for (c = 0; c < nc; c++) {
			for (i = 0; i < n; i++) {
				const struct row *r = &rows[i];
				char ratio[16] = "-";

				if (strcmp(r->work, workloads[w]) ||
				    strcmp(r->config, configs[c]))
					continue;
				if (r->failed) {
					printf("%-12s %-9s %14s\n", r->work,
					       r->config, "FAILED");
					continue;
				}
				if (kvm && kvm->tsc)
					snprintf(ratio, sizeof(ratio), "%.2f",
						 (double)r->tsc / kvm->tsc);
				printf("%-12s %-9s %14llu %10.1f %9llu %9s %10s %10s\n",
				       r->work, r->config, r->tsc,
				       r->wall / 1e6, r->exits, r->pft, r->pfh,
				       ratio);
			}
		}
	}
	printf("\nshadowvm detail (same sections):\n");
	printf("%-12s %-9s %10s %10s %10s %10s %10s %10s %10s %10s\n", "workload",
	       "config", "root-hits", "root-miss", "sp-created", "emulated",
	       "pt-writes", "unsync", "prefetched", "pf-unused");
	for (i = 0; i < nd; i++) {
		printf("%-12s %-9s", det[i].work, det[i].config);
		for (k = 0; k < NDET; k++)
			printf(" %10llu", det[i].v[k]);
		printf("\n");
	}
	printf("guest-cycles: TSC read by the guest (Bochs sync=none: instructions, the hypervisor's included); vm-ms: the runner's clock in the test VM\n");
	printf("mmu-bench: %d results, %u workloads; vs-kvm = guest cycles / kvm-ept0's\n",
	       n, (unsigned int)NWORK);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "report"))
		return cmd_report(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "policies")) {
		unsigned int i;

		for (i = 0; i < be_npolicies; i++)
			printf("%s%s", i ? " " : "", be_policies[i].name);
		printf("\n");
		return 0;
	}
	fprintf(stderr,
		"usage: mmu_bench run shadowvm POLICY [LABEL]\n"
		"       mmu_bench policies\n"
		"       mmu_bench run kvm\n"
		"       mmu_bench report FILE...\n");
	return 2;
}
