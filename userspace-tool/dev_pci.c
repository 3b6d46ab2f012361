// SPDX-License-Identifier: GPL-2.0
/*
 * PCI configuration mechanism #1 at 0xcf8-0xcff. A dword written to 0xcf8
 * (CONFIG_ADDRESS) is kept and read back (reserved bits 30:24 and 1:0 read
 * 0); narrower accesses to 0xcf8-0xcfb are not CONFIG_ADDRESS: reads
 * return all-ones, writes are dropped. CONFIG_DATA (0xcfc-0xcff, 1, 2 or 4
 * bytes within the dword) reaches register (CONFIG_ADDRESS & 0xfc) + the
 * port's offset of the addressed function when bit 31 (enable) is set.
 *
 * Until pci_enable_bus() (multiboot and ELF guests) there is no function:
 * every CONFIG_DATA read returns all-ones (vendor ID 0xffff, what a bus
 * answers for an absent device) and writes are dropped. After it (Linux
 * boots), bus 0 holds the host bridge at 00:00.0 (8086:1237, the i440FX
 * ID other emulators use too, class 0x060000, no BARs: what Linux's
 * pci_sanity_check() looks for when there is no DMI) and the functions
 * added by pci_add_func() (virtio-blk, dev_virtio_blk.c). A function's
 * registers read what its cfg[] holds (0 where nothing is defined); a
 * write changes only the bits of its wmask[] and then, when it touched the
 * command register or a BAR, runs its changed() callback (which moves the
 * BAR's port range). Other buses, devices and functions read all-ones.
 */
#include <string.h>

#include "devices.h"

static struct pci_func *find_func(struct vm_devices *d, uint32_t addr)
{
	unsigned int i;

	if (!d->pci.enabled || !(addr & 0x80000000u) || ((addr >> 16) & 0xff))
		return NULL;			/* disabled, or bus != 0 */
	for (i = 0; i < d->pci.nfuncs; i++)
		if (d->pci.func[i].devfn == ((addr >> 8) & 0xff))
			return &d->pci.func[i];
	return NULL;
}

static uint32_t pci_in(struct vm_devices *d, uint16_t off, unsigned int size)
{
	struct pci_func *f;
	uint32_t v = 0;
	unsigned int reg;

	d->cnt.pci_config++;
	if (off < 4)
		return off == 0 && size == 4 ? d->pci_addr : 0xffffffff;
	f = find_func(d, d->pci_addr);
	if (!f || (off & 3) + size > 4)
		return 0xffffffff;
	reg = (d->pci_addr & 0xfc) + (off & 3);
	memcpy(&v, f->cfg + reg, size);		/* little endian */
	return v;
}

static void pci_out(struct vm_devices *d, uint16_t off, unsigned int size,
		    uint32_t val)
{
	struct pci_func *f;
	unsigned int reg, i;

	d->cnt.pci_config++;
	if (off < 4) {
		if (off == 0 && size == 4)
			d->pci_addr = val & 0x80fffffc;
		return;
	}
	f = find_func(d, d->pci_addr);
	if (!f || (off & 3) + size > 4)
		return;
	reg = (d->pci_addr & 0xfc) + (off & 3);
	for (i = 0; i < size; i++, val >>= 8)
		f->cfg[reg + i] = (f->cfg[reg + i] & ~f->wmask[reg + i]) |
				  (val & f->wmask[reg + i]);
	/* command (0x04-0x05) or a BAR (0x10-0x27) */
	if (f->changed && ((reg < 0x06 && reg + size > 0x04) ||
			   (reg < 0x28 && reg + size > 0x10)))
		f->changed(d, f);
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

struct pci_func *pci_add_func(struct vm_devices *d, const struct pci_func *f)
{
	if (d->pci.nfuncs >= PCI_MAX_FUNCS)
		return NULL;
	d->pci.func[d->pci.nfuncs] = *f;
	return &d->pci.func[d->pci.nfuncs++];
}

void pci_enable_bus(struct vm_devices *d)
{
	struct pci_func hb;

	if (d->pci.enabled)
		return;
	memset(&hb, 0, sizeof(hb));
	hb.devfn = 0;
	hb.cfg[0x00] = 0x86;			/* vendor 0x8086 */
	hb.cfg[0x01] = 0x80;
	hb.cfg[0x02] = 0x37;			/* device 0x1237 */
	hb.cfg[0x03] = 0x12;
	hb.cfg[0x04] = 0x06;			/* memory space, bus master */
	hb.cfg[0x08] = 0x02;			/* revision */
	hb.cfg[0x0b] = 0x06;			/* class 0x0600: host bridge */
	d->pci.enabled = true;
	pci_add_func(d, &hb);
}
