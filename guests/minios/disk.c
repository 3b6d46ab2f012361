// SPDX-License-Identifier: GPL-2.0
/*
 * minios driver for the runner's DMA disk (Documentation/runner.rst,
 * "DMA disk"): MMIO registers at 0xfeb00000, a list of 32-byte
 * scatter-gather descriptors in RAM, a doorbell, and a completion MSI to
 * this CPU's xAPIC at VEC_DISK.
 *
 * Contract: one request at a time (disk_busy, taken with interrupts off;
 * waiters sleep). The requester sleeps until the completion interrupt sets
 * disk_done. If no interrupt comes within DISK_TIMEOUT timer ticks the
 * timer path polls INT_STATUS, completes the request and counts an error:
 * a missing completion interrupt is a failure, not a hang. The buffers are
 * physical pages the caller keeps mapped (and private, for reads) until
 * disk_rw() returns.
 */
#include "kernel.h"

#define DISK_BASE	0xfeb00000u
#define D_MAGIC		0x00
#define D_VERSION	0x04
#define D_CAP_LO	0x08
#define D_CAP_HI	0x0c
#define D_FEATURES	0x10
#define D_DESC_LO	0x18
#define D_DESC_HI	0x1c
#define D_DOORBELL	0x20
#define D_STATUS	0x24
#define D_INT_STATUS	0x2c
#define D_MSI_ADDR_LO	0x30
#define D_MSI_ADDR_HI	0x34
#define D_MSI_DATA	0x38
#define D_MSI_CTRL	0x3c
#define DISK_MAGIC	0x4b445653u
#define ST_DONE		0x2u
#define ST_ERROR	0x4u
#define DF_WRITE	0x1u
#define DF_LAST		0x2u
#define DISK_TIMEOUT	200u
#define MAX_DESC	8

struct disk_desc {
	uint64_t lba, addr;
	uint32_t len, flags, status, reserved;
};

static struct disk_desc descs[MAX_DESC] __attribute__((aligned(32)));
static int present;
static uint32_t capacity;
static volatile int disk_busy, disk_done;
static volatile uint32_t started_tick;
uint32_t disk_missed_irqs;

static inline uint32_t dr(uint32_t off)
{
	return *(volatile uint32_t *)(DISK_BASE + off);
}

static inline void dw(uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(DISK_BASE + off) = v;
}

/* before paging: only puts the register page into the kernel map */
void disk_map(void)
{
	mm_map_mmio(DISK_BASE);
}

int disk_init(void)
{
	uint32_t apic_id = lapic_read(0x20) >> 24;

	if (dr(D_MAGIC) != DISK_MAGIC) {
		kprintf("minios: no disk at 0x%x\n", DISK_BASE);
		return 0;
	}
	capacity = dr(D_CAP_HI) ? 0xffffffffu : dr(D_CAP_LO);
	dw(D_MSI_ADDR_LO, 0xfee00000u | apic_id << 12);
	dw(D_MSI_ADDR_HI, 0);
	dw(D_MSI_DATA, VEC_DISK);
	dw(D_MSI_CTRL, 1);
	dw(D_INT_STATUS, 1);
	present = 1;
	kprintf("minios: disk version %u, %u sectors%s, MSI vector 0x%x to APIC %u\n",
		dr(D_VERSION), capacity, dr(D_FEATURES) & 1 ? " read-only" : "",
		VEC_DISK, apic_id);
	return 1;
}

int disk_present(void)
{
	return present;
}

/* the completion interrupt (also called by the timeout path) */
void disk_irq(void)
{
	if (!present || !(dr(D_INT_STATUS) & 1))
		return;
	dw(D_INT_STATUS, 1);
	disk_done = 1;
	wakeup((const void *)&disk_done);
}

/* timer: a request whose interrupt never came */
void disk_tick(void)
{
	if (disk_busy && !disk_done && kstats.ticks - started_tick > DISK_TIMEOUT &&
	    (dr(D_INT_STATUS) & 1)) {
		disk_missed_irqs++;
		kstats.disk_errors++;
		disk_irq();
	}
}

int disk_rw(int write, uint32_t sector, const uint32_t *pages, uint32_t nsect)
{
	uint32_t fl, i, n, st;

	if (!present || !nsect || sector >= capacity ||
	    nsect > capacity - sector || nsect > MAX_DESC * 8)
		return -1;
	fl = irq_save();
	while (disk_busy)
		sleep_on((const void *)&disk_busy);
	disk_busy = 1;
	disk_done = 0;
	for (i = 0; nsect; i++) {
		n = nsect < 8 ? nsect : 8;
		descs[i].lba = sector + i * 8;
		descs[i].addr = pages[i];
		descs[i].len = n * 512;
		descs[i].flags = (write ? DF_WRITE : 0) |
				 (nsect == n ? DF_LAST : 0);
		descs[i].status = 0xffffffffu;
		descs[i].reserved = 0;
		nsect -= n;
	}
	dw(D_DESC_LO, (uint32_t)descs);
	dw(D_DESC_HI, 0);
	started_tick = kstats.ticks;
	dw(D_DOORBELL, 1);
	while (!disk_done)
		sleep_on((const void *)&disk_done);
	st = dr(D_STATUS);
	disk_busy = 0;
	wakeup((const void *)&disk_busy);
	kstats.disk_ops++;
	irq_restore(fl);
	if (!(st & ST_DONE) || (st & ST_ERROR)) {
		kstats.disk_errors++;
		kprintf("minios: disk error: status 0x%x (sector %u)\n", st,
			sector);
		return -1;
	}
	return 0;
}
