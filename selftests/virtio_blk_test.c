// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_blk_test: the runner's PCI bus and virtio-blk device
 * (userspace-tool/dev_pci.c, dev_virtio_blk.c) as a unit, without a VM:
 * the device models run on a plain buffer as guest RAM, and I/O exits are
 * fed to devices_handle() as a vCPU would. Asserts:
 *   - PCI configuration mechanism #1: no device before pci_enable_bus()
 *     (multiboot guests); then the host bridge at 00:00.0 (8086:1237,
 *     class 0x0600) and virtio-blk at 00:01.0 (1af4:1001, revision 0,
 *     subsystem 2, INTA, line 16, BAR0 I/O at 0xc000, sized 64 bytes by
 *     the all-ones write); absent slots, other buses and CONFIG_ADDRESS
 *     without bit 31 read all-ones; BAR0 moves, and I/O decoding off
 *     unmaps it;
 *   - the legacy register file: features (SEG_MAX, FLUSH; RO with ",ro"),
 *     queue size 128 on queue 0 only, capacity and seg_max in the config
 *     read byte by byte as Linux reads it, status 0 resets;
 *   - requests through a split virtqueue: IN and OUT move the image's
 *     bytes, FLUSH and GET_ID complete, an unknown type is UNSUPP, a
 *     transfer beyond the capacity and a write to a read-only disk are
 *     IOERR; the used ring gets the head and the length written; ISR bit
 *     0 and INTA rise at completion (not with VRING_AVAIL_F_NO_INTERRUPT)
 *     and reading the ISR lowers them;
 *   - hostile guests: a descriptor loop, a next index beyond the ring,
 *     buffers outside RAM (and lengths of 4 GiB), a header shorter than
 *     16 bytes, no writable status byte, a readable descriptor after a
 *     writable one, the indirect flag, an avail index more than a ring
 *     ahead, a ring outside RAM: the device neither crashes nor loops,
 *     counts them, gives malformed chains a used length of 0, and serves
 *     the next good request.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "devices.h"

#define RAM_SIZE	(4ULL << 20)
#define RING_GPA	0x10000ULL	/* PFN 0x10 */
#define Q		128
#define AVAIL_GPA	(RING_GPA + 16 * Q)
#define USED_GPA	(RING_GPA + 0x1000)
#define HDR_GPA		0x20000ULL
#define STATUS_GPA	0x20100ULL
#define BUF_GPA		0x100000ULL
#define SECTORS		64
#define IO		VBLK_IO_BASE

#define F_NEXT		1
#define F_WRITE		2
#define F_INDIRECT	4

FIXTURE(vb) {
	struct vm_devices d;
	uint8_t *ram;
	char img[64];
	uint16_t avail_idx;
	char err[256];
};

static void make_image(const char *path, unsigned int sectors)
{
	uint8_t sec[512];
	unsigned int i;
	int fd = open(path, O_WRONLY | O_TRUNC);

	for (i = 0; i < sectors; i++) {
		memset(sec, (int)(i & 0xff), sizeof(sec));
		memcpy(sec, &i, sizeof(i));
		if (write(fd, sec, sizeof(sec)) != sizeof(sec))
			break;
	}
	close(fd);
}

FIXTURE_SETUP(vb)
{
	int fd;

	self->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->ram);
	strcpy(self->img, "/tmp/svm_vblk_XXXXXX");
	fd = mkstemp(self->img);
	ASSERT_LE(0, fd);
	close(fd);
	make_image(self->img, SECTORS);
	devices_init(&self->d, -1);
	devices_attach_vm(&self->d, NULL, self->ram, RAM_SIZE, 1);
	self->avail_idx = 0;
}

FIXTURE_TEARDOWN(vb)
{
	devices_free(&self->d);
	unlink(self->img);
	munmap(self->ram, RAM_SIZE);
}

static uint32_t io_in(struct vm_devices *d, uint16_t port, unsigned int size)
{
	struct be_exit e = { .reason = BE_EXIT_IO };
	uint8_t data[4] = { 0 };
	uint32_t v = 0;

	e.io.direction = BE_IO_IN;
	e.io.size = size;
	e.io.port = port;
	e.io.count = 1;
	e.io.data = data;
	devices_handle(d, &e);
	memcpy(&v, data, size);
	return v;
}

static void io_out(struct vm_devices *d, uint16_t port, unsigned int size,
		   uint32_t val)
{
	struct be_exit e = { .reason = BE_EXIT_IO };
	uint8_t data[4];

	memcpy(data, &val, 4);
	e.io.direction = BE_IO_OUT;
	e.io.size = size;
	e.io.port = port;
	e.io.count = 1;
	e.io.data = data;
	devices_handle(d, &e);
}

static uint32_t cfg_read(struct vm_devices *d, unsigned int bus,
			 unsigned int dev, unsigned int reg, unsigned int size)
{
	io_out(d, PCI_CONFIG_ADDR, 4,
	       0x80000000u | bus << 16 | dev << 11 | (reg & 0xfc));
	return io_in(d, PCI_CONFIG_DATA + (reg & 3), size);
}

static void cfg_write(struct vm_devices *d, unsigned int dev,
		      unsigned int reg, unsigned int size, uint32_t val)
{
	io_out(d, PCI_CONFIG_ADDR, 4, 0x80000000u | dev << 11 | (reg & 0xfc));
	io_out(d, PCI_CONFIG_DATA + (reg & 3), size, val);
}

static void put_desc(uint8_t *ram, unsigned int i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *p = ram + RING_GPA + 16 * i;

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

/* head into the avail ring (idx += 1 unless jump), then the notify */
static void kick(struct vm_devices *d, uint8_t *ram, uint16_t *avail_idx,
		 uint16_t head, uint16_t jump)
{
	memcpy(ram + AVAIL_GPA + 4 + 2 * (*avail_idx % Q), &head, 2);
	*avail_idx += jump;
	memcpy(ram + AVAIL_GPA + 2, avail_idx, 2);
	io_out(d, IO + 0x10, 2, 0);
}

static uint16_t used_idx(uint8_t *ram)
{
	uint16_t v;

	memcpy(&v, ram + USED_GPA + 2, 2);
	return v;
}

/* the used entry of the last completion: id, len */
static void last_used(uint8_t *ram, uint32_t *id, uint32_t *len)
{
	uint8_t *e = ram + USED_GPA + 4 + 8 * ((used_idx(ram) - 1) % Q);

	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}

/* the driver's side of probing: reset, features, queue 0 at RING_GPA */
static void driver_init(struct vm_devices *d)
{
	io_out(d, IO + 0x12, 1, 0);
	io_out(d, IO + 0x12, 1, 1 | 2);			/* ACK, DRIVER */
	io_out(d, IO + 0x04, 4, io_in(d, IO + 0x00, 4));
	io_out(d, IO + 0x0e, 2, 0);
	io_out(d, IO + 0x08, 4, RING_GPA >> 12);
	io_out(d, IO + 0x12, 1, 1 | 2 | 4);		/* DRIVER_OK */
}

/* header + data + status chain at descriptors 0-2; returns the status */
static int request(struct vm_devices *d, uint8_t *ram, uint16_t *avail_idx,
		   uint32_t type, uint64_t sector, uint32_t len, bool dev_writes)
{
	uint8_t *h = ram + HDR_GPA;
	uint32_t zero = 0;

	memcpy(h, &type, 4);
	memcpy(h + 4, &zero, 4);
	memcpy(h + 8, &sector, 8);
	ram[STATUS_GPA] = 0xee;
	put_desc(ram, 0, HDR_GPA, 16, F_NEXT, len ? 1 : 2);
	put_desc(ram, 1, BUF_GPA, len, F_NEXT | (dev_writes ? F_WRITE : 0), 2);
	put_desc(ram, 2, STATUS_GPA, 1, F_WRITE, 0);
	kick(d, ram, avail_idx, 0, 1);
	return ram[STATUS_GPA];
}

TEST_F(vb, pci_config)
{
	struct vm_devices *d = &self->d;

	/* before the bus is enabled (multiboot guests): nothing */
	EXPECT_EQ(0xffffffff, cfg_read(d, 0, 0, 0, 4));
	io_out(d, PCI_CONFIG_ADDR, 4, 0x80000000u);
	EXPECT_EQ(0x80000000u, io_in(d, PCI_CONFIG_ADDR, 4));
	ASSERT_EQ(0, vblk_register(d, self->img, false, self->err,
				   sizeof(self->err))) TH_LOG("%s", self->err);
	/* host bridge */
	EXPECT_EQ(0x12378086u, cfg_read(d, 0, 0, 0x00, 4));
	EXPECT_EQ(0x0600, cfg_read(d, 0, 0, 0x0a, 2));
	/* virtio-blk */
	EXPECT_EQ(0x1af4, cfg_read(d, 0, 1, 0x00, 2));
	EXPECT_EQ(0x1001, cfg_read(d, 0, 1, 0x02, 2));
	EXPECT_EQ(0, cfg_read(d, 0, 1, 0x08, 1));		/* revision */
	EXPECT_EQ(0x0100, cfg_read(d, 0, 1, 0x0a, 2));
	EXPECT_EQ(0, cfg_read(d, 0, 1, 0x0e, 1));		/* header type */
	EXPECT_EQ(0, cfg_read(d, 0, 1, 0x06, 2) & 0x10);	/* no caps */
	EXPECT_EQ(0x00021af4u, cfg_read(d, 0, 1, 0x2c, 4));
	EXPECT_EQ(1, cfg_read(d, 0, 1, 0x3d, 1));		/* INTA */
	EXPECT_EQ(VBLK_IRQ, cfg_read(d, 0, 1, 0x3c, 1));
	EXPECT_EQ(VBLK_IO_BASE | 1, cfg_read(d, 0, 1, 0x10, 4));
	EXPECT_EQ(0, cfg_read(d, 0, 1, 0x14, 4));		/* no BAR1 */
	/* absent: other slots, other buses, enable bit clear */
	EXPECT_EQ(0xffffffff, cfg_read(d, 0, 2, 0, 4));
	EXPECT_EQ(0xffffffff, cfg_read(d, 1, 1, 0, 4));
	io_out(d, PCI_CONFIG_ADDR, 4, 1 << 11);
	EXPECT_EQ(0xffffffff, io_in(d, PCI_CONFIG_DATA, 4));
	/* read-only fields stay */
	cfg_write(d, 1, 0x00, 4, 0);
	EXPECT_EQ(0x1af4, cfg_read(d, 0, 1, 0x00, 2));
	/* BAR sizing: 64 bytes of I/O */
	cfg_write(d, 1, 0x10, 4, 0xffffffff);
	EXPECT_EQ(0x0000ffc1u, cfg_read(d, 0, 1, 0x10, 4));
	/* moved to 0xd000: the registers follow */
	cfg_write(d, 1, 0x10, 4, 0xd000);
	EXPECT_EQ(0xd001, cfg_read(d, 0, 1, 0x10, 4));
	EXPECT_EQ(Q, io_in(d, 0xd000 + 0x0c, 2));
	EXPECT_EQ(0xffff, io_in(d, IO + 0x0c, 2));
	/* I/O decoding off: gone */
	cfg_write(d, 1, 0x04, 2, 0);
	EXPECT_EQ(0xffff, io_in(d, 0xd000 + 0x0c, 2));
	cfg_write(d, 1, 0x10, 4, IO);
	cfg_write(d, 1, 0x04, 2, 1);
	EXPECT_EQ(Q, io_in(d, IO + 0x0c, 2));
}

TEST_F(vb, registers)
{
	struct vm_devices *d = &self->d;
	uint64_t cap = 0;
	unsigned int i;

	ASSERT_EQ(0, vblk_register(d, self->img, false, self->err,
				   sizeof(self->err))) TH_LOG("%s", self->err);
	EXPECT_EQ((1u << 2) | (1u << 9), io_in(d, IO + 0x00, 4));
	for (i = 0; i < 8; i++)
		cap |= (uint64_t)io_in(d, IO + 0x14 + i, 1) << (8 * i);
	EXPECT_EQ(SECTORS, cap);
	EXPECT_EQ(126, io_in(d, IO + 0x14 + 12, 4));		/* seg_max */
	EXPECT_EQ(Q, io_in(d, IO + 0x0c, 2));
	io_out(d, IO + 0x0e, 2, 1);				/* queue 1 */
	EXPECT_EQ(0, io_in(d, IO + 0x0c, 2));
	io_out(d, IO + 0x08, 4, 0x55);				/* ignored */
	EXPECT_EQ(0, io_in(d, IO + 0x08, 4));
	driver_init(d);
	EXPECT_EQ(RING_GPA >> 12, io_in(d, IO + 0x08, 4));
	EXPECT_EQ(7, io_in(d, IO + 0x12, 1));
	EXPECT_EQ((1u << 2) | (1u << 9), io_in(d, IO + 0x04, 4));
	/* a write of the wrong width is ignored and counted */
	io_out(d, IO + 0x08, 2, 0);
	EXPECT_EQ(RING_GPA >> 12, io_in(d, IO + 0x08, 4));
	EXPECT_EQ(1, d->cnt.vblk_bad_access);
	/* reset */
	io_out(d, IO + 0x12, 1, 0);
	EXPECT_EQ(0, io_in(d, IO + 0x08, 4));
	EXPECT_EQ(0, io_in(d, IO + 0x12, 1));
	EXPECT_EQ(0, io_in(d, IO + 0x04, 4));
}

TEST_F(vb, requests)
{
	struct vm_devices *d = &self->d;
	uint8_t *ram = self->ram, sec[512];
	uint32_t id, len, n = 5;
	char idbuf[21] = { 0 };

	ASSERT_EQ(0, vblk_register(d, self->img, false, self->err,
				   sizeof(self->err))) TH_LOG("%s", self->err);
	driver_init(d);
	/* read sectors 5 and 6 */
	EXPECT_EQ(0, request(d, ram, &self->avail_idx, 0, 5, 1024, true));
	EXPECT_EQ(0, memcmp(ram + BUF_GPA, &n, 4));
	EXPECT_EQ(5, ram[BUF_GPA + 511]);
	EXPECT_EQ(6, ram[BUF_GPA + 512]);
	EXPECT_EQ(1, used_idx(ram));
	last_used(ram, &id, &len);
	EXPECT_EQ(0, id);
	EXPECT_EQ(1025, len);
	/* the interrupt: ISR bit 0 and INTA; reading the ISR lowers both */
	EXPECT_NE(0, d->irq_lines & (1u << VBLK_IRQ));
	EXPECT_EQ(1, io_in(d, IO + 0x13, 1));
	EXPECT_EQ(0, d->irq_lines & (1u << VBLK_IRQ));
	EXPECT_EQ(0, io_in(d, IO + 0x13, 1));
	/* write sector 9, read it back */
	memset(ram + BUF_GPA, 0xa5, 512);
	EXPECT_EQ(0, request(d, ram, &self->avail_idx, 1, 9, 512, false));
	last_used(ram, &id, &len);
	EXPECT_EQ(1, len);
	memset(ram + BUF_GPA, 0, 512);
	EXPECT_EQ(0, request(d, ram, &self->avail_idx, 0, 9, 512, true));
	memset(sec, 0xa5, sizeof(sec));
	EXPECT_EQ(0, memcmp(ram + BUF_GPA, sec, 512));
	/* flush, GET_ID, an unknown type */
	EXPECT_EQ(0, request(d, ram, &self->avail_idx, 4, 0, 0, false));
	EXPECT_EQ(1, d->cnt.vblk_flushes);
	EXPECT_EQ(0, request(d, ram, &self->avail_idx, 8, 0, 20, true));
	memcpy(idbuf, ram + BUF_GPA, 20);
	EXPECT_STREQ("shadowvm-virtio-blk", idbuf);
	EXPECT_EQ(2, request(d, ram, &self->avail_idx, 77, 0, 512, true));
	/* beyond the capacity, a partial sector */
	EXPECT_EQ(1, request(d, ram, &self->avail_idx, 0, SECTORS - 1, 1024,
			     true));
	EXPECT_EQ(1, request(d, ram, &self->avail_idx, 0, ~0ULL, 512, true));
	EXPECT_EQ(1, request(d, ram, &self->avail_idx, 1, 0, 100, false));
	EXPECT_EQ(4, d->cnt.vblk_errors);
	EXPECT_EQ(0, d->cnt.vblk_bad_chains);
	/* no interrupt when the driver asks for none */
	io_in(d, IO + 0x13, 1);
	ram[AVAIL_GPA] = 1;				/* NO_INTERRUPT */
	EXPECT_EQ(0, request(d, ram, &self->avail_idx, 0, 1, 512, true));
	EXPECT_EQ(0, d->irq_lines & (1u << VBLK_IRQ));
	EXPECT_EQ(0, io_in(d, IO + 0x13, 1));
	EXPECT_EQ(self->avail_idx, used_idx(ram));
}

TEST_F(vb, read_only)
{
	struct vm_devices *d = &self->d;

	ASSERT_EQ(0, vblk_register(d, self->img, true, self->err,
				   sizeof(self->err))) TH_LOG("%s", self->err);
	EXPECT_EQ((1u << 2) | (1u << 5) | (1u << 9), io_in(d, IO + 0x00, 4));
	driver_init(d);
	EXPECT_EQ(0, request(d, self->ram, &self->avail_idx, 0, 0, 512, true));
	EXPECT_EQ(1, request(d, self->ram, &self->avail_idx, 1, 0, 512,
			     false));
	EXPECT_EQ(0, d->cnt.vblk_sectors_written);
}

/* a malformed chain at head: used length 0, counted, nothing else moves */
static void expect_malformed(struct __test_metadata *_metadata,
			     struct vm_devices *d, uint8_t *ram,
			     uint16_t *avail_idx, uint16_t head)
{
	uint64_t bad = d->cnt.vblk_bad_chains;
	uint16_t before = used_idx(ram);
	uint32_t id, len;

	kick(d, ram, avail_idx, head, 1);
	EXPECT_EQ(bad + 1, d->cnt.vblk_bad_chains);
	EXPECT_EQ((uint16_t)(before + 1), used_idx(ram));
	last_used(ram, &id, &len);
	EXPECT_EQ(head, id);
	EXPECT_EQ(0, len);
}

TEST_F(vb, hostile_chains)
{
	struct vm_devices *d = &self->d;
	uint8_t *ram = self->ram;
	uint16_t *ai = &self->avail_idx;
	uint32_t type = 0;

	ASSERT_EQ(0, vblk_register(d, self->img, false, self->err,
				   sizeof(self->err))) TH_LOG("%s", self->err);
	driver_init(d);
	memcpy(ram + HDR_GPA, &type, 4);
	/* a loop: 10 -> 11 -> 10 */
	put_desc(ram, 10, HDR_GPA, 16, F_NEXT, 11);
	put_desc(ram, 11, STATUS_GPA, 1, F_NEXT | F_WRITE, 10);
	expect_malformed(_metadata, d, ram, ai, 10);
	/* a self loop */
	put_desc(ram, 12, HDR_GPA, 16, F_NEXT, 12);
	expect_malformed(_metadata, d, ram, ai, 12);
	/* next beyond the ring; a head beyond the ring */
	put_desc(ram, 13, HDR_GPA, 16, F_NEXT, 500);
	expect_malformed(_metadata, d, ram, ai, 13);
	expect_malformed(_metadata, d, ram, ai, 0xffff);
	/* a buffer outside RAM, one crossing its end, a 4 GiB length */
	put_desc(ram, 14, HDR_GPA, 16, F_NEXT, 15);
	put_desc(ram, 15, 1ULL << 40, 512, F_NEXT | F_WRITE, 16);
	put_desc(ram, 16, STATUS_GPA, 1, F_WRITE, 0);
	expect_malformed(_metadata, d, ram, ai, 14);
	put_desc(ram, 15, RAM_SIZE - 256, 512, F_NEXT | F_WRITE, 16);
	expect_malformed(_metadata, d, ram, ai, 14);
	put_desc(ram, 15, BUF_GPA, 0xffffffff, F_NEXT | F_WRITE, 16);
	expect_malformed(_metadata, d, ram, ai, 14);
	put_desc(ram, 15, ~0ULL - 100, 512, F_NEXT | F_WRITE, 16);
	expect_malformed(_metadata, d, ram, ai, 14);
	/* a header of 8 bytes */
	put_desc(ram, 17, HDR_GPA, 8, F_NEXT, 16);
	expect_malformed(_metadata, d, ram, ai, 17);
	/* no writable byte for the status */
	put_desc(ram, 18, HDR_GPA, 16, 0, 0);
	expect_malformed(_metadata, d, ram, ai, 18);
	/* readable after writable */
	put_desc(ram, 19, HDR_GPA, 16, F_NEXT, 20);
	put_desc(ram, 20, STATUS_GPA, 1, F_NEXT | F_WRITE, 21);
	put_desc(ram, 21, BUF_GPA, 512, 0, 0);
	expect_malformed(_metadata, d, ram, ai, 19);
	/* indirect (not offered) */
	put_desc(ram, 22, HDR_GPA, 16, F_INDIRECT, 0);
	expect_malformed(_metadata, d, ram, ai, 22);
	/* a chain through every descriptor, then once more: too long */
	{
		unsigned int i;

		for (i = 0; i < Q; i++)
			put_desc(ram, i, BUF_GPA, 512, F_NEXT | F_WRITE,
				 (i + 1) % Q);
		put_desc(ram, 0, HDR_GPA, 16, F_NEXT, 1);
		expect_malformed(_metadata, d, ram, ai, 0);
	}
	EXPECT_EQ(0, d->cnt.vblk_sectors_read);
	/* the device still works */
	EXPECT_EQ(0, request(d, ram, ai, 0, 2, 512, true));
	EXPECT_EQ(2, ram[BUF_GPA + 511]);
	EXPECT_EQ(*ai, used_idx(ram));
}

TEST_F(vb, hostile_rings)
{
	struct vm_devices *d = &self->d;
	uint8_t *ram = self->ram;
	uint16_t before;

	ASSERT_EQ(0, vblk_register(d, self->img, false, self->err,
				   sizeof(self->err))) TH_LOG("%s", self->err);
	driver_init(d);
	/* the avail index two rings ahead: ignored */
	before = used_idx(ram);
	kick(d, ram, &self->avail_idx, 0, 2 * Q);
	EXPECT_EQ(1, d->cnt.vblk_bad_ring);
	EXPECT_EQ(before, used_idx(ram));
	self->avail_idx -= 2 * Q;
	memcpy(ram + AVAIL_GPA + 2, &self->avail_idx, 2);
	EXPECT_EQ(0, request(d, ram, &self->avail_idx, 0, 3, 512, true));
	EXPECT_EQ(3, ram[BUF_GPA + 511]);
	/* a ring outside RAM, or crossing its end */
	io_out(d, IO + 0x08, 4, 0xfffff);
	io_out(d, IO + 0x10, 2, 0);
	EXPECT_EQ(2, d->cnt.vblk_bad_ring);
	io_out(d, IO + 0x08, 4, (RAM_SIZE >> 12) - 1);
	io_out(d, IO + 0x10, 2, 0);
	EXPECT_EQ(3, d->cnt.vblk_bad_ring);
	/* other queues' notifies do nothing */
	io_out(d, IO + 0x08, 4, RING_GPA >> 12);
	io_out(d, IO + 0x10, 2, 5);
	EXPECT_EQ(3, d->cnt.vblk_bad_ring);
}

TEST_F(vb, register_refusals)
{
	EXPECT_EQ(-1, vblk_register(&self->d, "/nonexistent/img", false,
				    self->err, sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "cannot open disk image"));
	EXPECT_EQ(-1, vblk_register(&self->d, "/tmp", false, self->err,
				    sizeof(self->err)));
	EXPECT_FALSE(self->d.vblk.present);
}

TEST_HARNESS_MAIN
