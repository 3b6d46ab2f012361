// SPDX-License-Identifier: GPL-2.0
/*
 * QEMU fw_cfg subset, traditional I/O interface (QEMU docs/specs/fw_cfg.rst):
 * a 16-bit write to the selector port 0x510 selects an item and rewinds
 * it; each byte read from the data port 0x511 returns the next byte of
 * the item, 0 past its end. As in QEMU's combined port, a byte read of
 * 0x510 reads data too, byte writes are data writes (ignored), and other
 * widths are invalid (reads all-ones, writes ignored). Items: FW_CFG_SIGNATURE (0x00) "QEMU",
 * FW_CFG_ID (0x01) 1 (traditional interface only, no DMA),
 * FW_CFG_RAM_SIZE (0x03, 64-bit), FW_CFG_NB_CPUS (0x05, 16-bit) and
 * FW_CFG_MAX_CPUS (0x0f, 16-bit) = the vCPU count; every other key reads
 * as 0.
 */
#include <string.h>

#include "devices.h"

#define FW_CFG_SIGNATURE	0x00
#define FW_CFG_ID		0x01
#define FW_CFG_RAM_SIZE		0x03
#define FW_CFG_NB_CPUS		0x05
#define FW_CFG_MAX_CPUS		0x0f

/* the item's bytes; returns its length (0: unknown key) */
static unsigned int item(struct vm_devices *d, uint16_t key, uint8_t buf[8])
{
	uint64_t v;

	memset(buf, 0, 8);
	switch (key) {
	case FW_CFG_SIGNATURE:
		memcpy(buf, "QEMU", 4);
		return 4;
	case FW_CFG_ID:
		buf[0] = 1;
		return 4;
	case FW_CFG_RAM_SIZE:
		v = d->ram_size;
		memcpy(buf, &v, 8);	/* little endian */
		return 8;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		buf[0] = d->ncpus;
		buf[1] = d->ncpus >> 8;
		return 2;
	default:
		return 0;
	}
}

static uint32_t fwcfg_in(struct vm_devices *d, uint16_t off, unsigned int size)
{
	uint8_t buf[8];
	unsigned int len;
	uint32_t v = 0;

	(void)off;
	d->cnt.fw_cfg++;
	if (size != 1)
		return 0xffffffff;
	len = item(d, d->fwcfg.key, buf);
	if (d->fwcfg.off < len)
		v = buf[d->fwcfg.off];
	if (d->fwcfg.off < 0xffffffff)
		d->fwcfg.off++;
	return v;
}

static void fwcfg_out(struct vm_devices *d, uint16_t off, unsigned int size,
		      uint32_t val)
{
	d->cnt.fw_cfg++;
	if (off != 0 || size != 2)
		return;
	d->fwcfg.key = val;
	d->fwcfg.off = 0;
}

void fwcfg_register(struct vm_devices *d)
{
	static const struct pio_dev dev = {
		.name = "fw_cfg",
		.base = FW_CFG_PORT_SEL,
		.len = 2,
		.in = fwcfg_in,
		.out = fwcfg_out,
	};

	devices_add_pio(d, &dev);
}
