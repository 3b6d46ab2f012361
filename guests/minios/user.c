// SPDX-License-Identifier: GPL-2.0
/*
 * minios user program (runs at CPL3 in every process; linked at USER_TEXT,
 * mapped read-only and shared; no global data: only stack and the lazily
 * mapped regions of abi.h).
 *
 * init (pid 1) fills USER_SHARED with its pattern, forks `procs` workers
 * and waits for them; each worker, for `rounds` rounds:
 *   heap:   fills `pages` pages of USER_HEAP (demand-zero on first touch)
 *           with pattern(pid, address, salt) and verifies them, repeating
 *           until `minticks` timer ticks passed (so preemptions land in the
 *           middle), at most `maxpass` times;
 *   cow:    writes its pattern over a growing subset of the shared region
 *           inherited from init (copy-on-write copies) and verifies that
 *           the pages it owns have its pattern and the others init's;
 *   fork:   forks a child that overwrites the whole heap (COW copies in the
 *           child) and checks it; then verifies that its own heap and
 *           shared pages are unchanged;
 *   disk:   writes its own sectors through the DMA disk, reads them back
 *           into another buffer and compares.
 * Workers exit with a bit mask of failed checks; init checks that its own
 * shared region is intact and reads every worker's sectors back, then
 * exits 0 only when everything verified.
 */
#include <stddef.h>

#include "abi.h"
#include "fmt.h"

#define SALT_SHARED	0x5100
#define SALT_CHILD	0x7000
#define SALT_DISK	0x9000
#define SECTOR		512u
#define WORDS		(4096u / 4)

#define E_HEAP		1
#define E_SHARED	2
#define E_CHILD		4
#define E_ISOLATION	8
#define E_DISK		16
#define E_FORK		32

static inline int sc(int nr, uint32_t a, uint32_t b, uint32_t c)
{
	int r;

	asm volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c)
		     : "memory");
	return r;
}

static void __attribute__((noreturn)) u_exit(int status)
{
	sc(SYS_EXIT, status, 0, 0);
	for (;;)
		;
}

static void uprintf(const char *fmt, ...)
{
	char buf[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = fmt_vsn(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sc(SYS_WRITE, (uint32_t)buf, n, 0);
}

static uint32_t pat(uint32_t pid, uint32_t addr, uint32_t salt)
{
	uint32_t x = addr ^ (pid * 0x9e3779b1u) ^ (salt * 0x85ebca77u);

	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 12;
	return x | 1;		/* never 0: a zero page never verifies */
}

static void fill_page(uint32_t page, uint32_t pid, uint32_t salt)
{
	volatile uint32_t *w = (volatile uint32_t *)page;
	uint32_t i;

	for (i = 0; i < WORDS; i++)
		w[i] = pat(pid, page + i * 4, salt);
}

/* mismatching words in the page; *first gets the first bad address */
static uint32_t check_page(uint32_t page, uint32_t pid, uint32_t salt,
			   uint32_t *first)
{
	volatile uint32_t *w = (volatile uint32_t *)page;
	uint32_t i, bad = 0;

	for (i = 0; i < WORDS; i++) {
		if (w[i] != pat(pid, page + i * 4, salt)) {
			if (!bad && first)
				*first = page + i * 4;
			bad++;
		}
	}
	return bad;
}

static uint32_t fill_check(uint32_t base, uint32_t pages, uint32_t pid,
			   uint32_t salt, int fill, uint32_t *first)
{
	uint32_t i, bad = 0;

	for (i = 0; i < pages; i++) {
		if (fill)
			fill_page(base + i * 4096, pid, salt);
		else
			bad += check_page(base + i * 4096, pid, salt, first);
	}
	return bad;
}

/* shared page i is the worker's own after round r (see the header) */
static int owned(uint32_t i, uint32_t r)
{
	return ((i + 1) & ((2u << r) - 1)) != 0;
}

static uint32_t check_shared(uint32_t shared, uint32_t self, uint32_t init,
			     int rounds_done, uint32_t *first)
{
	uint32_t i, bad = 0, page;

	for (i = 0; i < shared; i++) {
		page = USER_SHARED + i * 4096;
		if (rounds_done > 0 && owned(i, rounds_done - 1))
			bad += check_page(page, self, SALT_SHARED, first);
		else
			bad += check_page(page, init, SALT_SHARED, first);
	}
	return bad;
}

static int disk_io(int op, uint32_t sector, uint32_t buf, uint32_t nsect)
{
	return sc(SYS_DISK, op | nsect << 8, sector, buf);
}

/* fills buf with the disk pattern of (pid, sector) */
static void disk_fill(uint32_t buf, uint32_t sector, uint32_t nsect,
		      uint32_t pid, uint32_t salt)
{
	volatile uint32_t *w = (volatile uint32_t *)buf;
	uint32_t i;

	for (i = 0; i < nsect * SECTOR / 4; i++)
		w[i] = pat(pid, sector * SECTOR + i * 4, salt);
}

static uint32_t disk_check(uint32_t buf, uint32_t sector, uint32_t nsect,
			   uint32_t pid, uint32_t salt)
{
	volatile uint32_t *w = (volatile uint32_t *)buf;
	uint32_t i, bad = 0;

	for (i = 0; i < nsect * SECTOR / 4; i++)
		if (w[i] != pat(pid, sector * SECTOR + i * 4, salt))
			bad++;
	return bad;
}

static int worker(uint32_t idx, uint32_t init_pid)
{
	uint32_t pid = sc(SYS_GETPID, 0, 0, 0);
	uint32_t rounds = sc(SYS_PARAM, PARAM_ROUNDS, 0, 0);
	uint32_t pages = sc(SYS_PARAM, PARAM_PAGES, 0, 0);
	uint32_t shared = sc(SYS_PARAM, PARAM_SHARED, 0, 0);
	uint32_t sectors = sc(SYS_PARAM, PARAM_SECTORS, 0, 0);
	uint32_t maxpass = sc(SYS_PARAM, PARAM_MAXPASS, 0, 0);
	uint32_t minticks = sc(SYS_PARAM, PARAM_MINTICKS, 0, 0);
	int disk = sc(SYS_PARAM, PARAM_DISK, 0, 0) == 1;
	uint32_t r, i, t0, pass, salt = 0, bad, first = 0, total_pass = 0;
	uint32_t buf1 = USER_BUF, buf2 = USER_BUF + 0x10000;
	uint32_t sector0 = idx * sectors;
	int errors = 0, child, st;

	for (r = 0; r < rounds; r++) {
		/* heap: demand paging, then rewrite/verify under preemption */
		t0 = sc(SYS_TICKS, 0, 0, 0);
		pass = 0;
		do {
			salt = (r << 8) | pass;
			fill_check(USER_HEAP, pages, pid, salt, 1, NULL);
			bad = fill_check(USER_HEAP, pages, pid, salt, 0,
					 &first);
			if (bad) {
				uprintf("minios: pid %u round %u pass %u: %u heap words wrong, first at 0x%x\n",
					pid, r, pass, bad, first);
				errors |= E_HEAP;
			}
			pass++;
		} while (pass < maxpass &&
			 (uint32_t)sc(SYS_TICKS, 0, 0, 0) - t0 < minticks);
		total_pass += pass;

		/* cow: take over more of init's shared pages */
		for (i = 0; i < shared; i++)
			if (((i + 1) >> r) & 1)
				fill_page(USER_SHARED + i * 4096, pid,
					  SALT_SHARED);
		bad = check_shared(shared, pid, init_pid, r + 1, &first);
		if (bad) {
			uprintf("minios: pid %u round %u: %u shared words wrong, first at 0x%x\n",
				pid, r, bad, first);
			errors |= E_SHARED;
		}

		/* fork: a child overwrites everything; we must not see it */
		child = sc(SYS_FORK, 0, 0, 0);
		if (child == 0) {
			uint32_t me = sc(SYS_GETPID, 0, 0, 0);
			int cerr = 0;

			if (check_shared(shared, pid, init_pid, r + 1, NULL) ||
			    fill_check(USER_HEAP, pages, pid, salt, 0, NULL))
				cerr |= 1;
			fill_check(USER_HEAP, pages, me, SALT_CHILD + r, 1,
				   NULL);
			for (i = 0; i < shared; i++)
				fill_page(USER_SHARED + i * 4096, me,
					  SALT_SHARED);
			if (fill_check(USER_HEAP, pages, me, SALT_CHILD + r, 0,
				       NULL))
				cerr |= 2;
			u_exit(cerr);
		}
		if (child < 0) {
			uprintf("minios: pid %u: fork failed\n", pid);
			errors |= E_FORK;
		} else {
			if (sc(SYS_WAIT, (uint32_t)&st, 0, 0) != child || st) {
				uprintf("minios: pid %u round %u: child %d failed (%d)\n",
					pid, r, child, st);
				errors |= E_CHILD;
			}
			bad = fill_check(USER_HEAP, pages, pid, salt, 0,
					 &first);
			bad += check_shared(shared, pid, init_pid, r + 1,
					    &first);
			if (bad) {
				uprintf("minios: pid %u round %u: %u words changed by the child, first at 0x%x\n",
					pid, r, bad, first);
				errors |= E_ISOLATION;
			}
		}

		/* disk: own sectors, written whole, read back in two parts */
		if (disk && sectors) {
			uint32_t half = sectors / 2 ? sectors / 2 : sectors;

			disk_fill(buf1, sector0, sectors, pid, SALT_DISK + r);
			for (i = 0; i < sectors * SECTOR / 4; i++)
				((volatile uint32_t *)buf2)[i] = 0;
			if (disk_io(DISK_OP_WRITE, sector0, buf1, sectors) ||
			    disk_io(DISK_OP_READ, sector0, buf2, half) ||
			    (half < sectors &&
			     disk_io(DISK_OP_READ, sector0 + half,
				     buf2 + ((half * SECTOR + 4095) & ~4095u),
				     sectors - half))) {
				uprintf("minios: pid %u round %u: disk I/O failed\n",
					pid, r);
				errors |= E_DISK;
			} else {
				bad = disk_check(buf2, sector0, half, pid,
						 SALT_DISK + r);
				if (half < sectors)
					bad += disk_check(buf2 + ((half * SECTOR + 4095) & ~4095u),
							  sector0 + half,
							  sectors - half, pid,
							  SALT_DISK + r);
				if (bad) {
					uprintf("minios: pid %u round %u: %u disk words wrong\n",
						pid, r, bad);
					errors |= E_DISK;
				}
			}
		}
		sc(SYS_YIELD, 0, 0, 0);
	}
	uprintf("minios: worker %u pid %u: heap %s, cow %s, fork %s, disk %s (%u passes over %u pages)\n",
		idx, pid, errors & E_HEAP ? "BAD" : "ok",
		errors & E_SHARED ? "BAD" : "ok",
		errors & (E_CHILD | E_ISOLATION | E_FORK) ? "BAD" : "ok",
		!disk ? "absent" : errors & E_DISK ? "BAD" : "ok",
		total_pass, pages);
	return errors;
}

void user_main(void)
{
	uint32_t procs = sc(SYS_PARAM, PARAM_PROCS, 0, 0);
	uint32_t shared = sc(SYS_PARAM, PARAM_SHARED, 0, 0);
	uint32_t sectors = sc(SYS_PARAM, PARAM_SECTORS, 0, 0);
	uint32_t rounds = sc(SYS_PARAM, PARAM_ROUNDS, 0, 0);
	int disk = sc(SYS_PARAM, PARAM_DISK, 0, 0) == 1;
	uint32_t me = sc(SYS_GETPID, 0, 0, 0), i, n, ok = 0, bad, first = 0;
	int pids[16], pid, st, errors = 0;

	if (procs > 16)
		procs = 16;
	fill_check(USER_SHARED, shared, me, SALT_SHARED, 1, NULL);
	for (i = 0; i < procs; i++) {
		pid = sc(SYS_FORK, 0, 0, 0);
		if (pid == 0)
			u_exit(worker(i, me));
		pids[i] = pid;
		if (pid < 0) {
			uprintf("minios: init: fork %u failed\n", i);
			errors = 1;
		}
	}
	for (n = 0; n < procs; n++) {
		pid = sc(SYS_WAIT, (uint32_t)&st, 0, 0);
		if (pid < 0)
			break;
		if (st == 0)
			ok++;
		else
			uprintf("minios: init: pid %d failed with status %d\n",
				pid, st);
	}
	bad = fill_check(USER_SHARED, shared, me, SALT_SHARED, 0, &first);
	if (bad) {
		uprintf("minios: init: %u shared words changed by the workers, first at 0x%x\n",
			bad, first);
		errors = 1;
	}
	if (disk && sectors && rounds) {
		for (i = 0; i < procs; i++) {
			if (pids[i] <= 0)
				continue;
			if (disk_io(DISK_OP_READ, i * sectors, USER_BUF,
				    sectors) ||
			    disk_check(USER_BUF, i * sectors, sectors, pids[i],
				       SALT_DISK + rounds - 1)) {
				uprintf("minios: init: worker %u's sectors are wrong\n",
					i);
				errors = 1;
			}
		}
	}
	uprintf("minios: verified %u/%u processes, shared region %s, disk %s\n",
		ok, procs, bad ? "BAD" : "ok",
		!disk ? "absent" : errors ? "BAD" : "ok");
	u_exit(errors || ok != procs);
}
