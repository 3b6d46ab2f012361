// SPDX-License-Identifier: GPL-2.0
/*
 * linux_boot_test: the runner's Linux loader (userspace-tool/linux_boot.c,
 * mptable.c) as a unit, without a VM: what a kernel finds in guest memory
 * after linux_load(), and the inputs it refuses.
 *   - bzImage: the protected-mode part at pref_address, entry = load
 *     address + 0x200 in BOOT_LINUX64 mode, RSI = the boot_params; the
 *     setup header copied; loader type 0xff, LOADED_HIGH; the command line
 *     and its pointer; the initrd page-aligned at the top of RAM with its
 *     address and size; the e820 map (RAM below 0x9fc00 and from 1 MiB,
 *     the BIOS areas reserved); the protocol's GDT (__BOOT_CS 0x10 64-bit
 *     code, __BOOT_DS 0x18) and identity map; boot_sregs() selectors;
 *   - vmlinux (ELF64): segments at p_paddr, entry e_entry, a header the
 *     runner wrote (HdrS, protocol 2.12);
 *   - the MP table: floating pointer at 0xf0000 with a valid checksum, a
 *     configuration table with a valid checksum, one processor entry per
 *     vCPU (APIC id = number, only vCPU 0 the BSP), the I/O APIC at
 *     0xfec00000 with id = number of vCPUs, ISA IRQ 0 on pin 2, no IRQ 2;
 *     PCI bus 0 and ISA bus 1 (Linux looks PCI interrupts up by the PCI
 *     bus number), INTA of PCI device 1 (virtio-blk) on pin 16, edge and
 *     active high, every ISA entry on the ISA bus;
 *   - refused, with a message: an old bzImage (no 64-bit entry), a file
 *     that is neither, RAM too small for the kernel, an initrd that does
 *     not fit, a command line longer than the kernel takes, an empty
 *     initrd, a missing file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "loader.h"
#include "runner_exec.h"

#define RAM		(64ULL << 20)
#define PREF		(16ULL << 20)
#define SETUP_SECTS	2
#define PM_OFF		((SETUP_SECTS + 1) * 512)
#define PM_LEN		4096

FIXTURE(lb) {
	uint8_t *ram;
	char kernel[64], initrd[64];
	struct image_info info;
	char err[512];
};

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "w");
	size_t n;

	if (!f)
		return -1;
	n = fwrite(buf, 1, len, f);
	return fclose(f) || n != len ? -1 : 0;
}

/* a bzImage header of protocol version ver with xloadflags xlf */
static int make_bzimage(const char *path, uint16_t ver, uint16_t xlf,
			uint32_t init_size)
{
	static uint8_t img[PM_OFF + PM_LEN];
	size_t i;

	memset(img, 0, sizeof(img));
	img[0x1f1] = SETUP_SECTS;
	put16(img + 0x1fe, 0xaa55);
	img[0x201] = 0x6a;			/* header up to 0x26c */
	memcpy(img + 0x202, "HdrS", 4);
	put16(img + 0x206, ver);
	put32(img + 0x22c, 0x7fffffff);		/* initrd_addr_max */
	img[0x234] = 1;				/* relocatable */
	put16(img + 0x236, xlf);
	put32(img + 0x238, 2047);		/* cmdline_size */
	put32(img + 0x258, (uint32_t)PREF);	/* pref_address */
	put32(img + 0x260, init_size);
	for (i = 0; i < PM_LEN; i++)
		img[PM_OFF + i] = (uint8_t)(i * 7 + 1);
	return write_file(path, img, sizeof(img));
}

FIXTURE_SETUP(lb)
{
	self->ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->ram);
	strcpy(self->kernel, "/tmp/lb_kernel_XXXXXX");
	strcpy(self->initrd, "/tmp/lb_initrd_XXXXXX");
	close(mkstemp(self->kernel));
	close(mkstemp(self->initrd));
}

FIXTURE_TEARDOWN(lb)
{
	munmap(self->ram, RAM);
	unlink(self->kernel);
	unlink(self->initrd);
}

#define LOAD(initrd, cmdline, ncpus, ram_size)				\
	linux_load(self->kernel, initrd, cmdline, ncpus, self->ram,	\
		   ram_size, &self->info, self->err, sizeof(self->err))

TEST_F(lb, bzimage_boot_state)
{
	static const char cmd[] = "console=ttyS0 panic=-1";
	uint8_t *zp = self->ram + LINUX_ZERO_PAGE, *e820;
	static uint8_t rd[10000];
	struct be_sregs sr;
	uint64_t rd_addr;
	unsigned int i;

	ASSERT_EQ(0, make_bzimage(self->kernel, 0x020f, 1, 0x100000));
	memset(rd, 0xa5, sizeof(rd));
	ASSERT_EQ(0, write_file(self->initrd, rd, sizeof(rd)));
	ASSERT_EQ(0, LOAD(self->initrd, cmd, 2, RAM)) TH_LOG("%s", self->err);

	EXPECT_STREQ("bzimage", self->info.format);
	EXPECT_EQ(BOOT_LINUX64, self->info.mode);
	EXPECT_EQ(PREF + 0x200, self->info.entry);
	EXPECT_EQ(LINUX_ZERO_PAGE, self->info.rsi);
	for (i = 0; i < PM_LEN; i++)
		ASSERT_EQ((uint8_t)(i * 7 + 1), self->ram[PREF + i]);
	/* header copied and completed */
	EXPECT_EQ(0, memcmp(zp + 0x202, "HdrS", 4));
	EXPECT_EQ(0x020f, zp[0x206] | zp[0x207] << 8);
	EXPECT_EQ(0xff, zp[0x210]);			/* type_of_loader */
	EXPECT_EQ(1, zp[0x211] & 1);			/* LOADED_HIGH */
	EXPECT_EQ(PREF, get32(zp + 0x214));		/* code32_start */
	EXPECT_EQ(LINUX_CMDLINE, get32(zp + 0x228));
	EXPECT_STREQ(cmd, (char *)self->ram + LINUX_CMDLINE);
	rd_addr = get32(zp + 0x218);
	EXPECT_EQ(sizeof(rd), get32(zp + 0x21c));
	EXPECT_EQ((RAM - sizeof(rd)) & ~4095ULL, rd_addr);
	EXPECT_EQ(0, memcmp(self->ram + rd_addr, rd, sizeof(rd)));
	/* e820 */
	ASSERT_EQ(4, zp[0x1e8]);
	e820 = zp + 0x2d0;
	EXPECT_EQ(0, get64(e820));
	EXPECT_EQ(LINUX_EBDA, get64(e820 + 8));
	EXPECT_EQ(1, get32(e820 + 16));
	EXPECT_EQ(2, get32(e820 + 20 + 16));
	EXPECT_EQ(LINUX_BIOS_AREA, get64(e820 + 40));
	EXPECT_EQ(2, get32(e820 + 40 + 16));
	EXPECT_EQ(0x100000, get64(e820 + 60));
	EXPECT_EQ(RAM - 0x100000, get64(e820 + 60 + 8));
	EXPECT_EQ(1, get32(e820 + 60 + 16));
	/* GDT, identity map, selectors */
	EXPECT_EQ(0x00af9b000000ffffULL, get64(self->ram + BOOT_GDT + 0x10));
	EXPECT_EQ(0x00cf93000000ffffULL, get64(self->ram + BOOT_GDT + 0x18));
	EXPECT_EQ(BOOT_PDPT | 3, get64(self->ram + BOOT_PML4));
	EXPECT_EQ((PREF & ~0x1fffffULL) | 0x83,
		  get64(self->ram + BOOT_PD + (PREF >> 21) * 8));
	boot_sregs(&self->info, &sr);
	EXPECT_EQ(0x10, sr.cs.selector);
	EXPECT_EQ(1, sr.cs.l);
	EXPECT_EQ(0x18, sr.ds.selector);
	EXPECT_EQ(0x18, sr.ss.selector);
	EXPECT_EQ(0x500, sr.efer);
	EXPECT_EQ(BOOT_PML4, sr.cr3);
	EXPECT_EQ(0x2f, sr.gdt.limit);
}

TEST_F(lb, vmlinux_elf64)
{
	static uint8_t code[4096], img[sizeof(code) + 256];
	uint8_t *zp = self->ram + LINUX_ZERO_PAGE;
	size_t len;

	memset(code, 0x5c, sizeof(code));
	len = rx_elf_image(img, true, 0x1000000, NULL, 0, code, sizeof(code));
	ASSERT_EQ(0, write_file(self->kernel, img, len));
	ASSERT_EQ(0, LOAD(NULL, NULL, 1, RAM)) TH_LOG("%s", self->err);
	EXPECT_STREQ("vmlinux", self->info.format);
	EXPECT_EQ(0x1000000, self->info.entry);
	EXPECT_EQ(0x5c, self->ram[0x1000000 + 4095]);
	EXPECT_EQ(0, self->ram[0x1000000 + 4096]);
	EXPECT_EQ(0, memcmp(zp + 0x202, "HdrS", 4));
	EXPECT_EQ(0x020c, zp[0x206] | zp[0x207] << 8);
	EXPECT_EQ(0xff, zp[0x210]);
	EXPECT_EQ(0, get32(zp + 0x21c));		/* no initrd */
	EXPECT_EQ(0, self->ram[LINUX_CMDLINE]);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

TEST_F(lb, mp_table)
{
	const uint8_t *mpf = self->ram + LINUX_BIOS_AREA, *mpc, *e;
	unsigned int i, n, cpus = 0, ioapics = 0, irq0_pin = 99, irq2 = 0;
	unsigned int pci_bus = 0, isa_bus = 0, pci_ints = 0, isa_ints = 0;

	mptable_build(self->ram, 3);
	ASSERT_EQ(0, memcmp(mpf, "_MP_", 4));
	EXPECT_EQ(0, sum(mpf, 16));
	EXPECT_EQ(1, mpf[8]);
	EXPECT_EQ(4, mpf[9]);
	EXPECT_EQ(0, mpf[11]);				/* a table, no default */
	ASSERT_GT(RAM, get32(mpf + 4));
	mpc = self->ram + get32(mpf + 4);
	ASSERT_EQ(0, memcmp(mpc, "PCMP", 4));
	EXPECT_EQ(0, sum(mpc, mpc[4] | mpc[5] << 8));
	EXPECT_EQ(0xfee00000, get32(mpc + 36));
	n = mpc[34] | mpc[35] << 8;
	e = mpc + 44;
	for (i = 0; i < n; i++) {
		switch (e[0]) {
		case 0:
			EXPECT_EQ(cpus, e[1]);
			EXPECT_EQ(cpus ? 1 : 3, e[3]);	/* enabled; BSP */
			cpus++;
			e += 20;
			continue;
		case 1:
			if (!memcmp(e + 2, "PCI   ", 6)) {
				EXPECT_EQ(0, e[1]);
				pci_bus++;
			} else {
				EXPECT_EQ(0, memcmp(e + 2, "ISA   ", 6));
				EXPECT_EQ(1, e[1]);
				isa_bus++;
			}
			break;
		case 2:
			EXPECT_EQ(3, e[1]);
			EXPECT_EQ(0xfec00000, get32(e + 4));
			ioapics++;
			break;
		case 3:
			EXPECT_EQ(3, e[6]);		/* the I/O APIC */
			if (e[4] == 0) {		/* PCI */
				EXPECT_EQ(1 << 2 | 0, e[5]);	/* dev 1, INTA */
				EXPECT_EQ(16, e[7]);
				EXPECT_EQ(0x5, e[2]);	/* edge, high */
				pci_ints++;
				break;
			}
			EXPECT_EQ(1, e[4]);
			EXPECT_EQ(0, e[2]);		/* as the ISA bus */
			isa_ints++;
			if (e[5] == 0)
				irq0_pin = e[7];
			irq2 += e[5] == 2;
			break;
		}
		e += 8;
	}
	EXPECT_EQ(mpc + (mpc[4] | mpc[5] << 8), e);
	EXPECT_EQ(3, cpus);
	EXPECT_EQ(1, ioapics);
	EXPECT_EQ(2, irq0_pin);
	EXPECT_EQ(0, irq2);
	EXPECT_EQ(1, pci_bus);
	EXPECT_EQ(1, isa_bus);
	EXPECT_EQ(1, pci_ints);
	EXPECT_EQ(15, isa_ints);
}

TEST_F(lb, refusals)
{
	static char longcmd[3000];
	static uint8_t big[60 << 20];

	/* protocol 2.11, or no 64-bit entry */
	ASSERT_EQ(0, make_bzimage(self->kernel, 0x020b, 1, 0x100000));
	EXPECT_EQ(-1, LOAD(NULL, NULL, 1, RAM));
	EXPECT_NE(NULL, strstr(self->err, "64-bit entry")) TH_LOG("%s", self->err);
	ASSERT_EQ(0, make_bzimage(self->kernel, 0x020f, 0, 0x100000));
	EXPECT_EQ(-1, LOAD(NULL, NULL, 1, RAM));
	EXPECT_NE(NULL, strstr(self->err, "64-bit entry")) TH_LOG("%s", self->err);
	/* not a kernel */
	ASSERT_EQ(0, write_file(self->kernel, "hello", 5));
	EXPECT_EQ(-1, LOAD(NULL, NULL, 1, RAM));
	EXPECT_NE(NULL, strstr(self->err, "neither a bzImage")) TH_LOG("%s", self->err);
	/* init_size beyond RAM */
	ASSERT_EQ(0, make_bzimage(self->kernel, 0x020f, 1, 60 << 20));
	EXPECT_EQ(-1, LOAD(NULL, NULL, 1, RAM));
	EXPECT_NE(NULL, strstr(self->err, "--mem")) TH_LOG("%s", self->err);
	/* RAM below the minimum */
	ASSERT_EQ(0, make_bzimage(self->kernel, 0x020f, 1, 0x100000));
	EXPECT_EQ(-1, LOAD(NULL, NULL, 1, 16ULL << 20));
	EXPECT_NE(NULL, strstr(self->err, "at least")) TH_LOG("%s", self->err);
	/* initrd too big for the room above the kernel */
	ASSERT_EQ(0, write_file(self->initrd, big, sizeof(big)));
	EXPECT_EQ(-1, LOAD(self->initrd, NULL, 1, RAM));
	EXPECT_NE(NULL, strstr(self->err, "does not fit")) TH_LOG("%s", self->err);
	/* empty initrd, missing initrd */
	ASSERT_EQ(0, write_file(self->initrd, "", 0));
	EXPECT_EQ(-1, LOAD(self->initrd, NULL, 1, RAM));
	EXPECT_NE(NULL, strstr(self->err, "empty")) TH_LOG("%s", self->err);
	EXPECT_EQ(-1, LOAD("/nonexistent/initrd", NULL, 1, RAM));
	EXPECT_NE(NULL, strstr(self->err, "cannot read initrd")) TH_LOG("%s", self->err);
	/* command line longer than cmdline_size (2047) */
	memset(longcmd, 'x', sizeof(longcmd) - 1);
	EXPECT_EQ(-1, LOAD(NULL, longcmd, 1, RAM));
	EXPECT_NE(NULL, strstr(self->err, "command line")) TH_LOG("%s", self->err);
	/* missing kernel */
	unlink(self->kernel);
	EXPECT_EQ(-1, LOAD(NULL, NULL, 1, RAM));
	EXPECT_NE(NULL, strstr(self->err, "cannot read kernel")) TH_LOG("%s", self->err);
}

TEST_HARNESS_MAIN
