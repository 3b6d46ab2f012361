// SPDX-License-Identifier: GPL-2.0
/*
 * Proof that threads ran at the same time: contract in concurrency.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "concurrency.h"

uint64_t conc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static bool cpu_ns(clockid_t clk, uint64_t *ns)
{
	struct timespec ts;

	/* fails once the thread has exited: it then counts nothing */
	if (clock_gettime(clk, &ts))
		return false;
	*ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	return true;
}

void conc_init(struct conc *c, int nthreads)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->expected = nthreads < CONC_MAX_THREADS ? nthreads : CONC_MAX_THREADS;
	c->best_excess_ns = INT64_MIN;
}

void conc_destroy(struct conc *c)
{
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
}

int conc_join(struct conc *c)
{
	clockid_t clk;
	int r;

	r = pthread_getcpuclockid(pthread_self(), &clk);
	if (r)
		return -r;
	pthread_mutex_lock(&c->lock);
	if (c->n >= CONC_MAX_THREADS) {
		pthread_mutex_unlock(&c->lock);
		return -ENOSPC;
	}
	c->clk[c->n++] = clk;
	pthread_cond_broadcast(&c->cond);
	{
		struct timespec dl;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 10;
		while (c->n < c->expected &&
		       pthread_cond_timedwait(&c->cond, &c->lock, &dl) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void conc_span_begin(struct conc *c, struct conc_span *s)
{
	int i;

	pthread_mutex_lock(&c->lock);
	s->n = c->n;
	pthread_mutex_unlock(&c->lock);
	/* wall clock first: every CPU-time delta lies inside the span */
	s->m0 = conc_now_ns();
	for (i = 0; i < s->n; i++)
		s->ok[i] = cpu_ns(c->clk[i], &s->c0[i]);
}

void conc_span_end(struct conc *c, struct conc_span *s)
{
	uint64_t cpu = 0, wall, v;
	int64_t excess;
	int i;

	for (i = 0; i < s->n; i++)
		if (s->ok[i] && cpu_ns(c->clk[i], &v) && v >= s->c0[i])
			cpu += v - s->c0[i];
	wall = conc_now_ns() - s->m0;
	excess = (int64_t)cpu - (int64_t)wall;
	pthread_mutex_lock(&c->lock);
	c->spans++;
	c->cpu_total_ns += cpu;
	c->wall_total_ns += wall;
	/*
	 * Margin: 2% of the span plus 2 us, for a rate difference between
	 * the scheduler clock and CLOCK_MONOTONIC and their granularity (a
	 * slot ioctl of slot_race_test lasts ~25 us in the 2-CPU test VM and
	 * showed 42 us of CPU time in 24 us).
	 */
	if (excess > (int64_t)(wall / 50 + 2000))
		c->proofs++;
	if (excess > c->best_excess_ns) {
		c->best_excess_ns = excess;
		c->best_wall_ns = wall;
		c->best_cpu_ns = cpu;
	}
	pthread_mutex_unlock(&c->lock);
}

bool conc_proved(struct conc *c)
{
	bool r;

	pthread_mutex_lock(&c->lock);
	r = c->proofs > 0;
	pthread_mutex_unlock(&c->lock);
	return r;
}

void conc_describe(struct conc *c, char *buf, size_t len)
{
	pthread_mutex_lock(&c->lock);
	if (!c->spans)
		snprintf(buf, len, "%d threads, no span measured", c->n);
	else
		snprintf(buf, len,
			 "%d threads, %lu spans, %lu with more CPU time than wall time; best span: %.3f ms CPU in %.3f ms wall; all spans: %.3f ms CPU in %.3f ms wall",
			 c->n, c->spans, c->proofs, c->best_cpu_ns / 1e6,
			 c->best_wall_ns / 1e6, c->cpu_total_ns / 1e6,
			 c->wall_total_ns / 1e6);
	pthread_mutex_unlock(&c->lock);
}

int conc_online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

char *conc_preempt_model(char *buf, size_t len)
{
	FILE *f = fopen("/sys/kernel/debug/sched/preempt", "re");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, len, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}
