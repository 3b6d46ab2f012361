// SPDX-License-Identifier: GPL-2.0
/*
 * PCI configuration mechanism #1 at 0xcf8-0xcff with no device behind it:
 * a dword written to 0xcf8 (CONFIG_ADDRESS) is kept and read back; every
 * read of CONFIG_DATA (0xcfc-0xcff, any width) returns all-ones, which is
 * what a bus without the addressed device answers (vendor ID 0xffff), and
 * CONFIG_DATA writes are dropped. Narrower accesses to 0xcf8-0xcfb are
 * not CONFIG_ADDRESS: reads return all-ones, writes are dropped.
 */
#include "devices.h"

static uint32_t pci_in(struct vm_devices *d, uint16_t off, unsigned int size)
{
	d->cnt.pci_config++;
	if (off == 0 && size == 4)
		return d->pci_addr;
	return 0xffffffff;
}

static void pci_out(struct vm_devices *d, uint16_t off, unsigned int size,
		    uint32_t val)
{
	d->cnt.pci_config++;
	if (off == 0 && size == 4)
		d->pci_addr = val & 0x80fffffc;	/* reserved bits read 0 */
}

void pci_register(struct vm_devices *d)
{
	static const struct pio_dev dev = {
		.name = "pci-config",
		.base = PCI_CONFIG_ADDR,
		.len = 8,
		.in = pci_in,
		.out = pci_out,
	};

	devices_add_pio(d, &dev);
}
