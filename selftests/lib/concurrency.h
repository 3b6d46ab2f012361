/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Proof that threads really ran at the same time (issue 10 item 3).
 *
 * Contract: conc_init(c, n) for n threads that should run in parallel;
 * each of them calls conc_join() from its own thread before the phase that
 * must be parallel; conc_join() returns once all n have joined (or after
 * 10 s, so a thread that failed early cannot hang the test). Around a stretch of that phase, any of them calls
 * conc_span_begin() / conc_span_end(): the span samples CLOCK_MONOTONIC and
 * the CPU-time clock of every joined thread (pthread_getcpuclockid(), the
 * scheduler's precise runtime, readable from any thread). If the joined
 * threads together got more CPU time during the span than the span lasted
 * (by a margin), at least two of them were on a CPU at the same instant:
 * one CPU cannot hand out more CPU time than wall time. This is a proof,
 * not a heuristic: time-slicing on one CPU can never satisfy it, while two
 * threads spinning in the guest on two CPUs satisfy it easily. A thread
 * that sleeps (waits for a page, usleep()) contributes nothing.
 *
 * conc_overlap_*: the weaker, classic check for threads that do not burn
 * CPU (a vCPU waiting in RUN for userfaultfd): interval B lies within
 * interval A on CLOCK_MONOTONIC.
 *
 * CONC_EXPECT_PARALLEL(): in a kselftest_harness test; with fewer than 2
 * online CPUs it only logs why the assertion is skipped (the rest of the
 * test still runs and counts), otherwise EXPECTs a proof.
 */
#ifndef SVMTEST_CONCURRENCY_H
#define SVMTEST_CONCURRENCY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define CONC_MAX_THREADS	8

struct conc {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int n, expected;
	clockid_t clk[CONC_MAX_THREADS];
	/* results, under lock */
	unsigned long spans;		/* spans measured */
	unsigned long proofs;		/* spans with CPU time > wall time */
	int64_t best_excess_ns;		/* max over spans of cpu - wall */
	uint64_t best_wall_ns, best_cpu_ns;
	uint64_t cpu_total_ns, wall_total_ns;
};

struct conc_span {
	uint64_t m0;
	int n;
	bool ok[CONC_MAX_THREADS];
	uint64_t c0[CONC_MAX_THREADS];
};

void conc_init(struct conc *c, int nthreads);
void conc_destroy(struct conc *c);
/* the calling thread takes part, then waits for the others; 0 or -errno */
int conc_join(struct conc *c);
void conc_span_begin(struct conc *c, struct conc_span *s);
void conc_span_end(struct conc *c, struct conc_span *s);
/* at least one span proved parallel execution */
bool conc_proved(struct conc *c);
/* "N spans, M proved; best: cpu X ms in wall Y ms" */
void conc_describe(struct conc *c, char *buf, size_t len);
/* sysconf(_SC_NPROCESSORS_ONLN) */
int conc_online_cpus(void);
uint64_t conc_now_ns(void);

/* [a0, a1] contains [b0, b1] (CLOCK_MONOTONIC ns from conc_now_ns()) */
static inline bool conc_within(uint64_t a0, uint64_t a1, uint64_t b0,
			       uint64_t b1)
{
	return a0 && b0 && a0 <= b0 && b1 <= a1 && b0 <= b1;
}

#define CONC_EXPECT_PARALLEL(c, what) do {				\
	char __cd[256];							\
	int __cpus = conc_online_cpus();				\
									\
	conc_describe((c), __cd, sizeof(__cd));				\
	if (__cpus < 2) {						\
		TH_LOG("%s: parallelism assertion skipped: %d online CPU (boot the test VM with --cpus 2: make check-smp); %s", \
		       (what), __cpus, __cd);				\
	} else {							\
		EXPECT_TRUE(conc_proved(c))				\
			TH_LOG("%s: the threads never ran at the same time on %d CPUs: %s", \
			       (what), __cpus, __cd);			\
		if (conc_proved(c))					\
			TH_LOG("%s: ran in parallel on %d CPUs: %s",	\
			       (what), __cpus, __cd);			\
	}								\
} while (0)

/*
 * The kernel's preemption model (PREEMPT_DYNAMIC: debugfs
 * sched/preempt, e.g. "none voluntary (full)") into buf, without the
 * newline; "" when it cannot be read. Returns buf.
 */
char *conc_preempt_model(char *buf, size_t len);

#endif /* SVMTEST_CONCURRENCY_H */
