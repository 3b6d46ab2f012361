// SPDX-License-Identifier: GPL-2.0
/*
 * MP table (Intel MultiProcessor Specification 1.4, chapter 4) describing
 * the runner's platform to an operating system that has no ACPI tables:
 * the floating pointer at LINUX_BIOS_AREA (0xf0000, where a kernel scans
 * for it) and the configuration table right after it, with one processor
 * entry per vCPU (local APIC id = vCPU number, vCPU 0 the bootstrap
 * processor), PCI bus 0 and ISA bus 1, the runner's I/O APIC (id = ncpus,
 * at IOAPIC_BASE, 24 pins), ISA IRQ n on I/O APIC pin n except IRQ 0 on
 * pin 2 and no IRQ 2 (the usual wiring), INTA of PCI device 1 (virtio-blk,
 * dev_virtio_blk.c) on pin VBLK_IRQ, edge-triggered and active high (the
 * runner's I/O APIC models edges only: see Documentation/linux.rst),
 * ExtINT on LINT0 and NMI on LINT1. The PCI entries are there whether or
 * not the device is. Contract in loader.h (mptable_build());
 * Documentation/linux.rst lists the entries.
 */
#include <cpuid.h>
#include <string.h>

#include "devices.h"
#include "loader.h"

#define MPF_SIZE	16
#define MPC_HDR_SIZE	44
#define MPC_ADDR	(LINUX_BIOS_AREA + MPF_SIZE)
#define LAPIC_BASE	0xfee00000u
#define LAPIC_VERSION	0x14
#define IOAPIC_VERSION	0x11

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };

#define BUS_PCI		0	/* = the PCI bus number, as Linux looks it up */
#define BUS_ISA		1
#define MP_FLAGS_BUS	0x0	/* polarity and trigger as the bus says */
#define MP_FLAGS_EDGE_HIGH 0x5	/* active high (01), edge (01 << 2) */

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum += *p++;
	return (uint8_t)-sum;
}

static uint8_t *put_int(uint8_t *e, uint8_t type, uint8_t kind, uint8_t flags,
			uint8_t bus, uint8_t irq, uint8_t dst_id, uint8_t dst_pin)
{
	e[0] = type;
	e[1] = kind;
	e[2] = flags;		/* polarity bits 1:0, trigger bits 3:2 */
	e[3] = 0;
	e[4] = bus;
	e[5] = irq;
	e[6] = dst_id;
	e[7] = dst_pin;
	return e + 8;
}

void mptable_build(void *ramp, unsigned int ncpus)
{
	uint8_t *ram = ramp, *mpf = ram + LINUX_BIOS_AREA, *mpc = ram + MPC_ADDR;
	uint8_t *e = mpc + MPC_HDR_SIZE;
	unsigned int a, b, c, d, i, n = 0;
	uint32_t v;
	uint16_t v16;

	__cpuid(1, a, b, c, d);
	memset(mpf, 0, 0x1000);
	for (i = 0; i < ncpus; i++, n++) {
		memset(e, 0, 20);
		e[0] = MP_PROCESSOR;
		e[1] = i;			/* local APIC id */
		e[2] = LAPIC_VERSION;
		e[3] = 1 | (i ? 0 : 2);		/* enabled, BSP */
		memcpy(e + 4, &a, 4);		/* signature: CPUID 1 EAX */
		memcpy(e + 8, &d, 4);		/* features: CPUID 1 EDX */
		e += 20;
	}
	e[0] = MP_BUS;
	e[1] = BUS_PCI;
	memcpy(e + 2, "PCI   ", 6);
	e += 8;
	n++;
	e[0] = MP_BUS;
	e[1] = BUS_ISA;
	memcpy(e + 2, "ISA   ", 6);
	e += 8;
	n++;
	e[0] = MP_IOAPIC;
	e[1] = ncpus;				/* I/O APIC id */
	e[2] = IOAPIC_VERSION;
	e[3] = 1;				/* enabled */
	v = (uint32_t)IOAPIC_BASE;
	memcpy(e + 4, &v, 4);
	e += 8;
	n++;
	for (i = 0; i < 16; i++) {
		if (i == 2)		/* the cascade: IRQ 0 takes its pin */
			continue;
		/* ISA: edge, active high */
		e = put_int(e, MP_INTSRC, MP_INT, MP_FLAGS_BUS, BUS_ISA, i,
			    ncpus, i ? i : 2);
		n++;
	}
	/* PCI: source "IRQ" = device << 2 | (pin - 1), INTA = 0 */
	e = put_int(e, MP_INTSRC, MP_INT, MP_FLAGS_EDGE_HIGH, BUS_PCI,
		    (VBLK_DEVFN >> 3) << 2, ncpus, VBLK_IRQ);
	n++;
	e = put_int(e, MP_LINTSRC, MP_EXTINT, MP_FLAGS_BUS, BUS_ISA, 0, 0xff, 0);
	e = put_int(e, MP_LINTSRC, MP_NMI, MP_FLAGS_BUS, BUS_ISA, 0, 0xff, 1);
	n += 2;

	memcpy(mpc, "PCMP", 4);
	v16 = e - mpc;
	memcpy(mpc + 4, &v16, 2);		/* base table length */
	mpc[6] = 4;				/* specification 1.4 */
	memcpy(mpc + 8, "SHADOWVM", 8);		/* OEM id */
	memcpy(mpc + 16, "RUNNER      ", 12);	/* product id */
	v16 = n;
	memcpy(mpc + 34, &v16, 2);		/* entry count */
	v = LAPIC_BASE;
	memcpy(mpc + 36, &v, 4);
	mpc[7] = checksum(mpc, e - mpc);

	memcpy(mpf, "_MP_", 4);
	v = MPC_ADDR;
	memcpy(mpf + 4, &v, 4);
	mpf[8] = 1;				/* length in 16-byte units */
	mpf[9] = 4;				/* specification 1.4 */
	mpf[11] = 0;				/* feature 1: the table is there */
	mpf[12] = 0;				/* feature 2: virtual wire, no IMCR */
	mpf[10] = checksum(mpf, MPF_SIZE);
}
