// SPDX-License-Identifier: GPL-2.0
/*
 * slot_race_test: a memory slot deleted and re-added while a vCPU uses it
 * (item 1).
 *
 * Thread A runs a vCPU whose guest (32-bit, paging off) loops over the
 * host's guest-physical paths into slot 1:
 *   - OUTS: REP OUTSL of 16 words from slot 1 to a port (the module reads
 *     guest memory for the exit's data);
 *   - the emulator: REP MOVSL of 2 words from slot 1 to an MMIO address
 *     (the module reads slot 1 while emulating, one MMIO write per word);
 *   - a plain load from slot 1 (a shadow page fault fills the entry), then
 *     OUT of the value.
 * Before each round the guest OUTs the offset it uses, so the host knows
 * which word every value must be. Thread B loops: fresh host memory filled
 * with generation g's pattern, add slot 1 (same place; half the size; or
 * elsewhere, by g % 3), let the vCPU run, delete the slot, scribble over
 * the old memory and unmap it. Each 32-bit word of generation g at slot
 * offset o is 0xA5 | g | g ^ 0x5a | o / 4 (bytes, high to low), so a word
 * mixed from two generations, a word of the wrong offset, stale or
 * scribbled memory is told apart.
 *
 * Asserted: every RUN returns 0 with an IO or MMIO exit of the guest's
 * loop, or an INTERNAL_ERROR with the documented suberror (EMULATION for
 * string I/O from outside RAM, NO_MEMORY), or a documented errno (EINTR,
 * ENOENT, EFAULT, ENOMEM); every value the guest got from slot 1 is one
 * generation's word for that offset, of a generation whose slot was added
 * before the value arrived and not deleted before the RUN began, or the
 * MMIO read answer (the slot was not there); slot ioctls succeed; after
 * close the module's accounting is back to the baseline.
 *
 * The test VM has one CPU: the module's paths are only interrupted by the
 * slot deletion when the kernel is preemptible; boot the test kernel with
 * preempt=full (TESTVM_APPEND) to give the race its window, and raise
 * SVM_SLOT_RACE_GENERATIONS for a longer run. With 2 or
 * more online CPUs (make check-smp), some slot ioctl of the mutator must
 * have run at the same instant as the vCPU thread (lib/concurrency.h: more
 * CPU time than wall time across the ioctl); with one CPU that assertion
 * is logged and skipped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "concurrency.h"

#define MEM_SIZE	(2u << 20)
#define SLOT_GPA	0x1000000u	/* 16 MiB */
#define SLOT_GPA_ELSE	0x2000000u
#define SLOT_SIZE	0x10000u
#define MMIO_GPA	0xe0000000u
#define MMIO_ANSWER	0xeeeeeeeeu
#define PORT_OUTS	0x10
#define PORT_LOAD	0x11
#define PORT_OFF	0x13
/*
 * Slot generations per run: SVM_SLOT_RACE_GENERATIONS, else 500 where the
 * deletion can land inside the module's paths (2 or more online CPUs, as
 * in make check-smp; a fully preemptible kernel) and with SVMTEST_FULL=1,
 * and 150 on one CPU with a not fully preemptible kernel (make check):
 * there the deletion only runs between two of the vCPU thread's RUNs, so
 * every generation meets the same few interleavings (deleted between two
 * exits; the next RUN finds the slot gone, moved or halved), and 150 are
 * ten rounds of the 15 combinations of placement (g % 3) and sleep
 * (g % 5). Each generation costs ~0.45 s of Bochs wall time (1300 RUNs);
 * 500 took 230 s of make check. 2000 with preempt=full is the deeper run.
 */
#define NGEN_DEFAULT	500
#define NGEN_ONE_CPU	150
static unsigned int ngen = NGEN_DEFAULT;

GUEST_CODE(race_guest,
	"xor %ebx, %ebx\n"
	"1:\n"
	"mov %ebx, %eax\n"
	"out %eax, $0x13\n"
	"cld\n"
	"lea 0x1000000(%ebx), %esi\n"
	"mov $16, %ecx\n"
	"mov $0x10, %dx\n"
	"rep outsl\n"
	"lea 0x1000000(%ebx), %esi\n"
	"mov $0xe0000000, %edi\n"
	"mov $2, %ecx\n"
	"rep movsl\n"
	"mov 0x1000000(%ebx), %eax\n"
	"out %eax, $0x11\n"
	"add $0x404, %ebx\n"
	"and $0xffc0, %ebx\n"
	"jmp 1b\n");

static uint32_t pat_word(unsigned int gen, uint32_t off)
{
	uint32_t g = gen & 0xff;

	return 0xa5000000u | g << 16 | (g ^ 0x5a) << 8 | ((off >> 2) & 0xff);
}

struct race {
	struct tvm t;
	atomic_uint started;	/* last generation whose add began */
	atomic_uint deleted;	/* last generation whose delete returned */
	atomic_int stop;
	int b_err;		/* thread B: first failing ioctl, -errno */
	int b_err_gen;
	/* thread A */
	unsigned long runs, outs_items, movs_items, loads, mmio_answers;
	unsigned long internal_emul, internal_nomem, errnos, restarts;
	unsigned long bad;
	char first_bad[512];
	unsigned int gen_seen_max;
};

static struct conc race_conc;

static int slot_set(struct race *r, uint32_t gpa, uint32_t size, void *hva)
{
	struct conc_span span;
	int ret;

	conc_span_begin(&race_conc, &span);
	ret = be_set_memory(&r->t.vm, 1, gpa, size, hva, false);
	conc_span_end(&race_conc, &span);
	return ret;
}

static void *mutator(void *arg)
{
	struct race *r = arg;
	unsigned int g;

	conc_join(&race_conc);
	for (g = 1; g <= ngen && !atomic_load(&r->stop); g++) {
		uint32_t gpa = g % 3 == 2 ? SLOT_GPA_ELSE : SLOT_GPA;
		uint32_t size = g % 3 == 1 ? SLOT_SIZE / 2 : SLOT_SIZE;
		uint32_t *buf, o;
		int e;

		buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (buf == MAP_FAILED) {
			r->b_err = -errno;
			r->b_err_gen = g;
			break;
		}
		for (o = 0; o < size; o += 4)
			buf[o / 4] = pat_word(g, o);
		atomic_store(&r->started, g);
		e = slot_set(r, gpa, size, buf);
		if (e) {
			r->b_err = e;
			r->b_err_gen = g;
			break;
		}
		/*
		 * Let the vCPU run a varying while, mostly short: the timer
		 * that wakes this thread fires anywhere in the vCPU thread's
		 * path through the module, and with a preemptible kernel
		 * (preempt=full) the woken thread runs at once and deletes the
		 * slot right there.
		 */
		usleep(g % 5 == 0 ? 1000 + (g * 97) % 1000 : 10 + (g * 53) % 300);
		e = slot_set(r, gpa, 0, buf);
		if (e) {
			r->b_err = e;
			r->b_err_gen = g;
			break;
		}
		atomic_store(&r->deleted, g);
		/* nobody may read the old memory any more */
		memset(buf, 0x99, size);
		munmap(buf, size);
		if (g % 4 == 0)
			sched_yield();
	}
	atomic_store(&r->stop, 1);
	return NULL;
}

static void __attribute__((format(printf, 2, 3)))
bad(struct race *r, const char *fmt, ...)
{
	va_list ap;

	if (r->bad++)
		return;
	va_start(ap, fmt);
	vsnprintf(r->first_bad, sizeof(r->first_bad), fmt, ap);
	va_end(ap);
}

/* one word the guest got from slot offset off; window of generations */
static void check_word(struct race *r, uint32_t w, uint32_t off,
		       unsigned int lo, unsigned int hi, const char *path)
{
	unsigned int g;

	if (w == MMIO_ANSWER) {
		r->mmio_answers++;
		return;
	}
	if ((w >> 24) != 0xa5 || (((w >> 16) ^ 0x5a) & 0xff) != ((w >> 8) & 0xff) ||
	    (w & 0xff) != ((off >> 2) & 0xff)) {
		bad(r, "word 0x%08x at slot offset 0x%x is no generation's pattern (mixed, stale or garbage) via %s, RUN %lu",
		    w, off, path, r->runs);
		return;
	}
	/* the generation in [lo, hi] with these low 8 bits */
	for (g = lo; g <= hi; g++)
		if ((g & 0xff) == ((w >> 16) & 0xff))
			break;
	if (g > hi) {
		bad(r, "word 0x%08x at offset 0x%x via %s: generation (low bits 0x%x) outside the window %u..%u (deleted before the RUN, or not added yet)",
		    w, off, path, (w >> 16) & 0xff, lo, hi);
		return;
	}
	if (g > r->gen_seen_max)
		r->gen_seen_max = g;
}

static void restart_guest(struct __test_metadata *_metadata, struct race *r)
{
	int e = tvm_load(&r->t, TVM_CODE, race_guest, GUEST_SIZE(race_guest));

	ASSERT_EQ(0, e) TH_LOG("restarting the guest: %s", strerror(-e));
	r->restarts++;
}

FIXTURE(slot) {
	struct svm_counters base;
};

FIXTURE_SETUP(slot)
{
	int r;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "shadowvm's slot lifetime");
	r = svm_debugfs_ready();
	if (r && access(SHADOWVM_DEV, F_OK))
		SKIP(return, SKIP_REASON_NODEV);
	ASSERT_EQ(0, r) TH_LOG("shadowvm debugfs: %s", strerror(-r));
	ASSERT_EQ(0, svm_read_counters(&self->base));
}

FIXTURE_TEARDOWN(slot)
{
}

TEST_F_TIMEOUT(slot, delete_and_readd_while_running, 900)
{
	struct svm_counters now;
	struct race *r;
	struct be_exit e;
	pthread_t tb;
	uint32_t cur_off = 0, outs_idx = 0;
	char diff[256];
	int ret;

	RETURN_IF_SETUP_SKIPPED();
	{
		char model[64];
		bool full_preempt;

		conc_preempt_model(model, sizeof(model));
		full_preempt = strstr(model, "(full)");
		TH_LOG("preemption model: %s%s", model[0] ? model : "unknown",
		       full_preempt ? "" :
		       " (not full: on one CPU the deletion rarely lands inside the module's paths; boot with preempt=full)");
		ngen = NGEN_DEFAULT;
		if (conc_online_cpus() < 2 && !full_preempt && !svmtest_full())
			ngen = NGEN_ONE_CPU;
	}
	if (getenv("SVM_SLOT_RACE_GENERATIONS"))
		ngen = strtoul(getenv("SVM_SLOT_RACE_GENERATIONS"), NULL, 0) ?: ngen;
	r = calloc(1, sizeof(*r));
	ASSERT_NE(NULL, r);
	TVM_CREATE_OR_SKIP(&r->t, MEM_SIZE);
	TVM_LOAD(&r->t, race_guest);
	conc_init(&race_conc, 2);
	ASSERT_EQ(0, pthread_create(&tb, NULL, mutator, r));
	conc_join(&race_conc);

	while (!atomic_load(&r->stop)) {
		/* generations deleted before this RUN must not show up */
		unsigned int lo = atomic_load(&r->deleted) + 1, hi;

		ret = tvm_run(&r->t, &e);
		hi = atomic_load(&r->started);
		r->runs++;
		if (ret) {
			r->errnos++;
			if (ret != -EINTR && ret != -ENOENT && ret != -EFAULT &&
			    ret != -ENOMEM)
				bad(r, "RUN failed: %s (not documented for RUN)",
				    strerror(-ret));
			restart_guest(_metadata, r);
			continue;
		}
		switch (e.reason) {
		case BE_EXIT_IO: {
			uint32_t i, w;

			if (e.io.direction != BE_IO_OUT || e.io.size != 4) {
				bad(r, "IO exit dir %d size %u port 0x%x", e.io.direction,
				    e.io.size, e.io.port);
				break;
			}
			if (e.io.port == PORT_OFF) {
				memcpy(&cur_off, e.io.data, 4);
				outs_idx = 0;
			} else if (e.io.port == PORT_OUTS) {
				for (i = 0; i < e.io.count; i++) {
					memcpy(&w, e.io.data + 4 * i, 4);
					check_word(r, w, cur_off + 4 * outs_idx++,
						   lo, hi, "OUTS");
					r->outs_items++;
				}
			} else if (e.io.port == PORT_LOAD) {
				memcpy(&w, e.io.data, 4);
				check_word(r, w, cur_off, lo, hi, "a load");
				r->loads++;
			} else {
				bad(r, "OUT to unexpected port 0x%x", e.io.port);
			}
			break;
		}
		case BE_EXIT_MMIO: {
			uint64_t pa = e.mmio.phys_addr;
			uint32_t w = 0;

			if (e.mmio.is_write && pa >= MMIO_GPA && pa < MMIO_GPA + 8 &&
			    e.mmio.len == 4) {
				memcpy(&w, e.mmio.data, 4);
				check_word(r, w, cur_off + (uint32_t)(pa - MMIO_GPA),
					   lo, hi, "MOVS to MMIO");
				r->movs_items++;
			} else if (!e.mmio.is_write && pa >= SLOT_GPA &&
				   pa < SLOT_GPA + SLOT_SIZE && e.mmio.len <= 8) {
				/* slot 1 is not there (now): answer */
				memset(e.mmio.data, 0xee, e.mmio.len);
			} else {
				bad(r, "MMIO %s at 0x%llx len %u",
				    e.mmio.is_write ? "write" : "read",
				    (unsigned long long)pa, e.mmio.len);
			}
			break;
		}
		case BE_EXIT_INTERNAL:
			if (e.internal.suberror == SHADOWVM_INTERNAL_ERROR_EMULATION) {
				r->internal_emul++;
			} else if (e.internal.suberror == SHADOWVM_INTERNAL_ERROR_NO_MEMORY) {
				r->internal_nomem++;
			} else {
				bad(r, "INTERNAL_ERROR suberror %u data 0x%llx 0x%llx",
				    e.internal.suberror,
				    (unsigned long long)e.internal.data[0],
				    (unsigned long long)e.internal.data[1]);
			}
			restart_guest(_metadata, r);
			break;
		case BE_EXIT_INTR:
			break;
		default:
			bad(r, "unexpected exit %s (raw %u)",
			    be_exit_name(e.reason), e.raw_reason);
			restart_guest(_metadata, r);
			break;
		}
		if (r->bad > 50)
			break;
	}
	atomic_store(&r->stop, 1);
	pthread_join(tb, NULL);
	CONC_EXPECT_PARALLEL(&race_conc, "slot ioctls and the vCPU thread");
	conc_destroy(&race_conc);
	TH_LOG("%u generations, %lu RUNs: %lu OUTS words, %lu MOVS words, %lu loads checked, %lu MMIO answers seen; %lu EMULATION and %lu NO_MEMORY exits, %lu RUN errors, %lu restarts",
	       atomic_load(&r->started), r->runs, r->outs_items, r->movs_items,
	       r->loads, r->mmio_answers, r->internal_emul, r->internal_nomem,
	       r->errnos, r->restarts);
	EXPECT_EQ(0, r->b_err) TH_LOG("slot ioctl of generation %d: %s", r->b_err_gen,
				      strerror(-r->b_err));
	EXPECT_EQ(0, r->bad) TH_LOG("%lu bad values/exits; first: %s", r->bad,
				    r->first_bad);
	/* the race must have been exercised */
	EXPECT_LT(100, r->loads + r->outs_items);
	EXPECT_LE(10, r->gen_seen_max) TH_LOG("the guest saw only generations up to %u",
					      r->gen_seen_max);
	tvm_destroy(&r->t);
	free(r);
	ret = svm_wait_counters(&self->base, &now, 5000);
	svm_counters_diff(&self->base, &now, diff, sizeof(diff));
	EXPECT_EQ(0, ret) TH_LOG("module counters not back to the baseline: %s", diff);
}

TEST_HARNESS_MAIN
