// SPDX-License-Identifier: GPL-2.0
/*
 * I/O APIC (82093AA register model) at 0xfec00000, 24 pins, for backends
 * without an in-kernel one (shadowvm): IOREGSEL at +0x00, IOWIN at +0x10,
 * 32-bit accesses only (others read all-ones and are ignored). Registers:
 * 0x00 ID (bits 27:24 writable), 0x01 version 0x00170011 (24 entries,
 * version 0x11), 0x02 arbitration ID (= ID), 0x10 + 2n / 0x11 + 2n the
 * low / high half of redirection entry n. Entries start masked.
 *
 * A rising edge on an unmasked pin sends one MSI built from the entry:
 * address 0xfee00000 | destination (bits 63:56) << 12 | destination mode
 * << 2, data vector | delivery mode << 8 (edge). Every entry is handled
 * as edge-triggered with active-high polarity: level-triggered entries
 * are not re-sent on EOI and remote IRR stays 0 (the local APIC's EOI is
 * in the kernel and does not reach the runner). Delivery status is 0.
 */
#include "devices.h"

#define REDIR_MASKED	(1ULL << 16)
#define REDIR_RO_BITS	((1ULL << 12) | (1ULL << 14))

static void ioapic_send(struct vm_devices *d, unsigned int pin)
{
	uint64_t e = d->ioapic.redir[pin];
	uint64_t addr = 0xfee00000ULL | ((e >> 56) << 12) |
			(((e >> 11) & 1) << 2);
	uint32_t data = (e & 0xff) | (((e >> 8) & 7) << 8);

	dev_send_msi(d, addr, data);
}

void ioapic_set_irq(struct vm_devices *d, unsigned int irq, int level)
{
	if (irq >= IOAPIC_PINS || !level)
		return;
	if (d->ioapic.redir[irq] & REDIR_MASKED) {
		d->cnt.irq_dropped++;
		return;
	}
	ioapic_send(d, irq);
}

static uint32_t reg_read(struct vm_devices *d)
{
	uint32_t sel = d->ioapic.sel & 0xff;

	switch (sel) {
	case 0x00:
		return d->ioapic.id;
	case 0x01:
		return ((IOAPIC_PINS - 1) << 16) | 0x11;
	case 0x02:
		return d->ioapic.id;
	}
	if (sel >= 0x10 && sel < 0x10 + 2 * IOAPIC_PINS) {
		uint64_t e = d->ioapic.redir[(sel - 0x10) / 2];

		return (sel & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	}
	return 0;
}

static void reg_write(struct vm_devices *d, uint32_t val)
{
	uint32_t sel = d->ioapic.sel & 0xff;
	uint64_t *e;

	if (sel == 0x00) {
		d->ioapic.id = val & 0x0f000000;
		return;
	}
	if (sel < 0x10 || sel >= 0x10 + 2 * IOAPIC_PINS)
		return;
	e = &d->ioapic.redir[(sel - 0x10) / 2];
	if (sel & 1)
		*e = (*e & 0xffffffffULL) | ((uint64_t)(val & 0xff000000) << 32);
	else
		*e = (*e & ~0xffffffffULL) | (val & ~(uint32_t)REDIR_RO_BITS &
					      0x1ffff);
}

static uint64_t ioapic_read(struct vm_devices *d, uint64_t off,
			    unsigned int size)
{
	d->cnt.ioapic++;
	if (size != 4)
		return ~0ULL;
	if (off == 0x00)
		return d->ioapic.sel;
	if (off == 0x10)
		return reg_read(d);
	return 0;
}

static void ioapic_write(struct vm_devices *d, uint64_t off, unsigned int size,
			 uint64_t val)
{
	d->cnt.ioapic++;
	if (size != 4)
		return;
	if (off == 0x00)
		d->ioapic.sel = val & 0xff;
	else if (off == 0x10)
		reg_write(d, val);
}

void ioapic_register(struct vm_devices *d)
{
	static const struct mmio_dev dev = {
		.name = "ioapic",
		.base = IOAPIC_BASE,
		.len = 0x1000,
		.read = ioapic_read,
		.write = ioapic_write,
	};
	unsigned int i;

	for (i = 0; i < IOAPIC_PINS; i++)
		d->ioapic.redir[i] = REDIR_MASKED;
	d->ioapic.present = true;
	devices_add_mmio(d, &dev);
}
