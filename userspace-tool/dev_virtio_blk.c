// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-blk, legacy virtio-pci (virtio 0.9.5 "legacy interface"), at PCI
 * 00:01.0 on a raw image file, for Linux guests (--kernel --disk). The
 * guest's view is in Documentation/runner.rst ("virtio-blk"); in short:
 *
 *   - PCI: vendor 0x1af4, device 0x1001 (transitional block device),
 *     revision 0, class 0x010000, subsystem 0x1af4:0x0002 (block), no
 *     capability list (so Linux's virtio_pci "leaves it for the legacy
 *     driver"), INTA routed to I/O APIC pin 16 by the MP table, BAR0 = 64
 *     bytes of I/O ports, programmed to 0xc000 with I/O decoding on, as
 *     firmware would; the guest may move it or turn decoding off.
 *   - BAR0 registers: host features (SEG_MAX, FLUSH, and RO with ",ro"),
 *     guest features, queue PFN, queue size (128, queue 0 only), queue
 *     select, queue notify, device status (0 resets), ISR (bit 0; reading
 *     clears it and lowers INTA), then the device config: capacity in
 *     512-byte sectors, size_max 0, seg_max 126, geometry 0, blk_size 512.
 *   - One split virtqueue at PFN << 12 with the legacy layout (descriptor
 *     table, avail ring, used ring at the next 4 KiB boundary). A notify
 *     of queue 0 processes every new avail entry synchronously, under
 *     d->lock: VIRTIO_BLK_T_IN, OUT, FLUSH (fdatasync) and GET_ID; others
 *     complete with VIRTIO_BLK_S_UNSUPP. Then ISR bit 0 is set and INTA
 *     raised, unless the driver set VRING_AVAIL_F_NO_INTERRUPT.
 *
 * Robustness against a hostile guest: every guest-physical range (ring,
 * descriptor, buffer) is checked against guest RAM by dev_guest_ram()
 * before use, descriptors are copied before they are checked, a chain
 * ends after at most VBLK_QUEUE_SIZE descriptors (so loops end), indirect
 * descriptors (not offered) and readable-after-writable descriptors make
 * the chain malformed, a transfer must lie inside the image, and one
 * notify takes at most VBLK_QUEUE_SIZE requests: a malformed chain gets a
 * used entry with length 0 (counted), an avail index more than a ring
 * ahead makes the device ignore the notify (counted). Nothing the guest
 * writes can make the runner touch memory outside guest RAM, crash or
 * loop.
 *
 * Lifetime: the image fd is opened by vblk_register() and closed by
 * vblk_close() (devices_free()), after the vCPUs have stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "devices.h"

#define SECTOR			512
#define Q			VBLK_QUEUE_SIZE
#define SEG_MAX			(Q - 2)
#define VRING_ALIGN		4096

/* legacy virtio-pci registers (BAR0 offsets) */
#define R_HOST_FEATURES		0x00
#define R_GUEST_FEATURES	0x04
#define R_QUEUE_PFN		0x08
#define R_QUEUE_NUM		0x0c
#define R_QUEUE_SEL		0x0e
#define R_QUEUE_NOTIFY		0x10
#define R_STATUS		0x12
#define R_ISR			0x13
#define R_CONFIG		0x14

#define F_SEG_MAX		(1u << 2)
#define F_RO			(1u << 5)
#define F_FLUSH			(1u << 9)

#define DESC_F_NEXT		1
#define DESC_F_WRITE		2
#define DESC_F_INDIRECT		4
#define AVAIL_F_NO_INTERRUPT	1

#define T_IN			0
#define T_OUT			1
#define T_FLUSH			4
#define T_GET_ID		8
#define S_OK			0
#define S_IOERR			1
#define S_UNSUPP		2
#define ID_BYTES		20

#define PCI_CMD_IO		0x0001
#define PCI_CMD_INTX_DISABLE	0x0400

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* one descriptor of a chain, checked: host pointer (NULL when len is 0) */
struct seg {
	uint8_t *p;
	uint32_t len;
};

/* a chain split into its driver-readable and device-writable parts */
struct chain {
	struct seg rd[Q], wr[Q];
	unsigned int nrd, nwr;
	uint64_t rd_bytes, wr_bytes;
};

static uint64_t used_offset(void)
{
	uint64_t end = 16ULL * Q + 4 + 2ULL * Q + 2;

	return (end + VRING_ALIGN - 1) & ~(uint64_t)(VRING_ALIGN - 1);
}

static void update_line(struct vm_devices *d)
{
	struct vblk_state *v = &d->vblk;

	dev_set_irq(d, VBLK_IRQ, (v->isr & 1) && !v->intx_disabled);
}

static void reset(struct vm_devices *d)
{
	struct vblk_state *v = &d->vblk;

	v->guest_features = 0;
	v->pfn = 0;
	v->queue_sel = 0;
	v->status = 0;
	v->isr = 0;
	v->last_avail = 0;
	v->used_idx = 0;
	update_line(d);
}

/* 0, or -1 for a malformed chain */
static int walk_chain(struct vm_devices *d, const uint8_t *table,
		      uint16_t head, struct chain *c)
{
	unsigned int n, i = head;
	struct vring_desc desc;
	struct seg *s;

	c->nrd = c->nwr = 0;
	c->rd_bytes = c->wr_bytes = 0;
	for (n = 0; n < Q; n++) {
		if (i >= Q)
			return -1;
		memcpy(&desc, table + 16 * i, sizeof(desc));
		if (desc.flags & DESC_F_INDIRECT)
			return -1;
		if (desc.flags & DESC_F_WRITE) {
			s = &c->wr[c->nwr++];
			c->wr_bytes += desc.len;
		} else {
			if (c->nwr)	/* readable after writable */
				return -1;
			s = &c->rd[c->nrd++];
			c->rd_bytes += desc.len;
		}
		s->len = desc.len;
		s->p = desc.len ? dev_guest_ram(d, desc.addr, desc.len) : NULL;
		if (desc.len && !s->p)
			return -1;
		if (!(desc.flags & DESC_F_NEXT))
			return 0;
		i = desc.next;
	}
	return -1;			/* longer than the ring: a loop */
}

/*
 * Moves len bytes between the image at byte pos and the segments, from
 * byte skip of their concatenation on: pwrite (to_disk) or pread. 0 or -1.
 */
static int segs_io(struct vm_devices *d, const struct seg *segs,
		   unsigned int n, uint64_t skip, uint64_t len, uint64_t pos,
		   bool to_disk)
{
	unsigned int i;

	for (i = 0; i < n && len; i++) {
		uint64_t off, chunk, done = 0;

		if (skip >= segs[i].len) {
			skip -= segs[i].len;
			continue;
		}
		off = skip;
		skip = 0;
		chunk = segs[i].len - off;
		if (chunk > len)
			chunk = len;
		while (done < chunk) {
			ssize_t r;

			if (to_disk)
				r = pwrite(d->vblk.fd, segs[i].p + off + done,
					   chunk - done, (off_t)(pos + done));
			else
				r = pread(d->vblk.fd, segs[i].p + off + done,
					  chunk - done, (off_t)(pos + done));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
			done += (uint64_t)r;
		}
		pos += chunk;
		len -= chunk;
	}
	return len ? -1 : 0;
}

/* copies len bytes from byte skip of the segments into buf (len fits) */
static void segs_copy_out(const struct seg *segs, unsigned int n,
			  uint64_t skip, void *buf, uint64_t len)
{
	uint8_t *b = buf;
	unsigned int i;

	for (i = 0; i < n && len; i++) {
		uint64_t chunk;

		if (skip >= segs[i].len) {
			skip -= segs[i].len;
			continue;
		}
		chunk = segs[i].len - skip;
		if (chunk > len)
			chunk = len;
		memcpy(b, segs[i].p + skip, chunk);
		b += chunk;
		len -= chunk;
		skip = 0;
	}
}

/* copies len bytes from buf to byte skip of the segments */
static void segs_copy_in(const struct seg *segs, unsigned int n,
			 uint64_t skip, const void *buf, uint64_t len)
{
	const uint8_t *b = buf;
	unsigned int i;

	for (i = 0; i < n && len; i++) {
		uint64_t chunk;

		if (skip >= segs[i].len) {
			skip -= segs[i].len;
			continue;
		}
		chunk = segs[i].len - skip;
		if (chunk > len)
			chunk = len;
		memcpy(segs[i].p + skip, b, chunk);
		b += chunk;
		len -= chunk;
		skip = 0;
	}
}

/* is [sector, sector + bytes / 512) inside the image (bytes % 512 == 0) */
static bool in_range(struct vm_devices *d, uint64_t sector, uint64_t bytes)
{
	uint64_t nsec = bytes / SECTOR;

	return bytes % SECTOR == 0 && sector <= d->vblk.sectors &&
	       nsec <= d->vblk.sectors - sector;
}

/* carries out one well-formed chain; returns the used length */
static uint32_t do_request(struct vm_devices *d, struct chain *c)
{
	static const char id[ID_BYTES] = "shadowvm-virtio-blk";
	struct vblk_state *v = &d->vblk;
	uint64_t din = c->wr_bytes - 1, dout, sector, written = 0;
	struct { uint32_t type, ioprio; uint64_t sector; } hdr;
	uint8_t status = S_OK;

	segs_copy_out(c->rd, c->nrd, 0, &hdr, sizeof(hdr));
	sector = hdr.sector;
	dout = c->rd_bytes - sizeof(hdr);
	switch (hdr.type) {
	case T_IN:
		if (!in_range(d, sector, din) ||
		    segs_io(d, c->wr, c->nwr, 0, din, sector * SECTOR, false)) {
			status = S_IOERR;
			break;
		}
		written = din;
		d->cnt.vblk_sectors_read += din / SECTOR;
		break;
	case T_OUT:
		if (v->ro || !in_range(d, sector, dout) ||
		    segs_io(d, c->rd, c->nrd, sizeof(hdr), dout,
			    sector * SECTOR, true)) {
			status = S_IOERR;
			break;
		}
		d->cnt.vblk_sectors_written += dout / SECTOR;
		break;
	case T_FLUSH:
		d->cnt.vblk_flushes++;
		if (fdatasync(v->fd) && errno != EINVAL && errno != EROFS)
			status = S_IOERR;
		break;
	case T_GET_ID:
		written = din < ID_BYTES ? din : ID_BYTES;
		segs_copy_in(c->wr, c->nwr, 0, id, written);
		break;
	default:
		status = S_UNSUPP;
		break;
	}
	if (status != S_OK)
		d->cnt.vblk_errors++;
	segs_copy_in(c->wr, c->nwr, c->wr_bytes - 1, &status, 1);
	return (uint32_t)(written + 1);
}

static void notify(struct vm_devices *d)
{
	struct vblk_state *v = &d->vblk;
	uint64_t base = (uint64_t)v->pfn << 12;
	uint8_t *table, *avail, *used;
	uint16_t avail_idx, avail_flags, head;
	unsigned int done = 0;
	struct chain c;

	d->cnt.vblk_notify++;
	if (!v->pfn)
		return;
	table = dev_guest_ram(d, base, 16 * Q);
	avail = dev_guest_ram(d, base + 16 * Q, 4 + 2 * Q + 2);
	used = dev_guest_ram(d, base + used_offset(), 4 + 8 * Q + 2);
	if (!table || !avail || !used) {
		d->cnt.vblk_bad_ring++;
		return;
	}
	avail_idx = __atomic_load_n((uint16_t *)(avail + 2), __ATOMIC_ACQUIRE);
	if ((uint16_t)(avail_idx - v->last_avail) > Q) {
		d->cnt.vblk_bad_ring++;
		return;
	}
	while (v->last_avail != avail_idx) {
		uint8_t *elem = used + 4 + 8 * (v->used_idx % Q);
		uint32_t id, len = 0;

		memcpy(&head, avail + 4 + 2 * (v->last_avail % Q), 2);
		if (walk_chain(d, table, head, &c) || c.rd_bytes < 16 ||
		    !c.wr_bytes)
			d->cnt.vblk_bad_chains++;
		else
			len = do_request(d, &c);
		d->cnt.vblk_requests++;
		id = head;
		memcpy(elem, &id, 4);
		memcpy(elem + 4, &len, 4);
		v->used_idx++;
		v->last_avail++;
		__atomic_store_n((uint16_t *)(used + 2), v->used_idx,
				 __ATOMIC_RELEASE);
		done++;
	}
	memcpy(&avail_flags, avail, 2);
	if (done && !(avail_flags & AVAIL_F_NO_INTERRUPT)) {
		v->isr |= 1;
		update_line(d);
	}
}

/* the register file as bytes: 0x14 of header, then the device config */
static void regs_image(struct vm_devices *d, uint8_t *r)
{
	struct vblk_state *v = &d->vblk;
	uint32_t f = F_SEG_MAX | F_FLUSH | (v->ro ? F_RO : 0);
	uint32_t pfn = v->queue_sel ? 0 : v->pfn, seg = SEG_MAX, bs = SECTOR;
	uint16_t num = v->queue_sel ? 0 : Q;

	memset(r, 0, VBLK_IO_SIZE);
	memcpy(r + R_HOST_FEATURES, &f, 4);
	memcpy(r + R_GUEST_FEATURES, &v->guest_features, 4);
	memcpy(r + R_QUEUE_PFN, &pfn, 4);
	memcpy(r + R_QUEUE_NUM, &num, 2);
	memcpy(r + R_QUEUE_SEL, &v->queue_sel, 2);
	r[R_STATUS] = v->status;
	r[R_ISR] = v->isr;
	memcpy(r + R_CONFIG + 0, &v->sectors, 8);	/* capacity */
	memcpy(r + R_CONFIG + 12, &seg, 4);		/* seg_max */
	memcpy(r + R_CONFIG + 20, &bs, 4);		/* blk_size */
}

uint32_t vblk_io_in(struct vm_devices *d, uint16_t off, unsigned int size)
{
	uint8_t r[VBLK_IO_SIZE + 4];
	uint32_t val = 0;

	if (off >= VBLK_IO_SIZE || size > 4)
		return 0xffffffff;
	regs_image(d, r);
	memset(r + VBLK_IO_SIZE, 0xff, 4);
	memcpy(&val, r + off, size);
	/* reading the ISR clears it and lowers INTA */
	if (off <= R_ISR && off + size > R_ISR) {
		d->vblk.isr = 0;
		update_line(d);
	}
	return val;
}

void vblk_io_out(struct vm_devices *d, uint16_t off, unsigned int size,
		 uint32_t val)
{
	struct vblk_state *v = &d->vblk;

	if (off == R_GUEST_FEATURES && size == 4) {
		v->guest_features = val & (F_SEG_MAX | F_FLUSH |
					   (v->ro ? F_RO : 0));
	} else if (off == R_QUEUE_PFN && size == 4) {
		if (v->queue_sel)
			return;
		v->pfn = val;
		v->last_avail = 0;
		v->used_idx = 0;
	} else if (off == R_QUEUE_SEL && size == 2) {
		v->queue_sel = val;
	} else if (off == R_QUEUE_NOTIFY && size == 2) {
		if ((uint16_t)val == 0)
			notify(d);
	} else if (off == R_STATUS && size == 1) {
		if (!(val & 0xff))
			reset(d);
		else
			v->status = val;
	} else {
		d->cnt.vblk_bad_access++;
	}
}

static uint32_t vblk_pio_in(struct vm_devices *d, uint16_t off,
			    unsigned int size)
{
	return vblk_io_in(d, off, size);
}

static void vblk_pio_out(struct vm_devices *d, uint16_t off,
			 unsigned int size, uint32_t val)
{
	vblk_io_out(d, off, size, val);
}

/* after a write to the command register or a BAR: where BAR0 decodes */
static void pci_changed(struct vm_devices *d, struct pci_func *f)
{
	uint16_t cmd = f->cfg[0x04] | f->cfg[0x05] << 8;
	uint16_t bar = (f->cfg[0x10] | f->cfg[0x11] << 8) & ~(VBLK_IO_SIZE - 1);
	bool on = (cmd & PCI_CMD_IO) && bar;

	d->vblk.io_base = on ? bar : 0;
	devices_move_pio(d, "virtio-blk", bar, on ? VBLK_IO_SIZE : 0);
	d->vblk.intx_disabled = cmd & PCI_CMD_INTX_DISABLE;
	update_line(d);
}

int vblk_register(struct vm_devices *d, const char *path, bool ro,
		  char *err, size_t errlen)
{
	static const struct pio_dev dev = {
		.name = "virtio-blk",
		.base = VBLK_IO_BASE,
		.len = VBLK_IO_SIZE,
		.in = vblk_pio_in,
		.out = vblk_pio_out,
	};
	struct vblk_state *v = &d->vblk;
	struct pci_func f;
	struct stat st;

	v->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (v->fd < 0 || fstat(v->fd, &st)) {
		snprintf(err, errlen, "cannot open disk image '%s': %s", path,
			 strerror(errno));
		vblk_close(d);
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(err, errlen, "disk image '%s' is not a file", path);
		vblk_close(d);
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(v->fd, 0, SEEK_END);

		st.st_size = end > 0 ? end : 0;
	}
	v->ro = ro;
	v->sectors = (uint64_t)st.st_size / SECTOR;

	memset(&f, 0, sizeof(f));
	f.devfn = VBLK_DEVFN;
	f.cfg[0x00] = 0xf4;			/* vendor 0x1af4 */
	f.cfg[0x01] = 0x1a;
	f.cfg[0x02] = 0x01;			/* device 0x1001: block */
	f.cfg[0x03] = 0x10;
	f.cfg[0x04] = PCI_CMD_IO;		/* as firmware leaves it */
	f.cfg[0x0b] = 0x01;			/* class 0x0100: storage */
	f.cfg[0x10] = (VBLK_IO_BASE & 0xff) | 1;	/* BAR0: I/O */
	f.cfg[0x11] = VBLK_IO_BASE >> 8;
	f.cfg[0x2c] = 0xf4;			/* subsystem vendor 0x1af4 */
	f.cfg[0x2d] = 0x1a;
	f.cfg[0x2e] = 0x02;			/* subsystem 2: virtio block */
	f.cfg[0x3c] = VBLK_IRQ;			/* interrupt line */
	f.cfg[0x3d] = 1;			/* interrupt pin INTA */
	f.wmask[0x04] = 0x07;			/* I/O, memory, bus master */
	f.wmask[0x05] = PCI_CMD_INTX_DISABLE >> 8;
	f.wmask[0x10] = (uint8_t)~(VBLK_IO_SIZE - 1);	/* bits 15:6 */
	f.wmask[0x11] = 0xff;
	f.wmask[0x3c] = 0xff;
	f.changed = pci_changed;

	pci_enable_bus(d);
	if (!pci_add_func(d, &f) || devices_add_pio(d, &dev)) {
		snprintf(err, errlen, "no room for the virtio-blk device");
		vblk_close(d);
		return -1;
	}
	v->io_base = VBLK_IO_BASE;
	v->present = true;
	return 0;
}

void vblk_close(struct vm_devices *d)
{
	if (d->vblk.fd >= 0)
		close(d->vblk.fd);
	d->vblk.fd = -1;
}
