// SPDX-License-Identifier: GPL-2.0
/*
 * DMA disk: an MMIO register page at 0xfeb00000 and a raw image file.
 * The register and descriptor layout, the error codes and the guest's
 * view are in Documentation/runner.rst ("DMA disk"); this file follows it.
 *
 * A doorbell write carries out the whole descriptor list synchronously,
 * under d->lock, with pread/pwrite between the image and guest RAM; every
 * guest-physical address and length is checked against guest RAM by
 * dev_guest_ram() before any byte moves, so a bad list only yields an
 * error status. Then INT_STATUS is set and the MSI, if enabled, is sent.
 *
 * Lifetime: the image fd is opened by disk_register() and closed by
 * disk_close() (devices_free()), after the vCPUs have stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "devices.h"

#define DISK_MAGIC	0x4b445653	/* "SVDK" */
#define DISK_VERSION	1
#define DISK_MAX_DESC	256
#define DISK_MAX_LEN	(4U << 20)
#define SECTOR		512

enum {
	R_MAGIC = 0x00, R_VERSION = 0x04, R_CAP_LO = 0x08, R_CAP_HI = 0x0c,
	R_FEATURES = 0x10, R_MAX_DESC = 0x14, R_DESC_LO = 0x18,
	R_DESC_HI = 0x1c, R_DOORBELL = 0x20, R_STATUS = 0x24,
	R_COMPLETED = 0x28, R_INT_STATUS = 0x2c, R_MSI_ADDR_LO = 0x30,
	R_MSI_ADDR_HI = 0x34, R_MSI_DATA = 0x38, R_MSI_CTRL = 0x3c,
};

#define ST_BUSY		0x1
#define ST_DONE		0x2
#define ST_ERROR	0x4

#define D_WRITE		0x1
#define D_LAST		0x2

enum {
	E_BAD_LIST = 1, E_NO_LAST, E_BAD_FLAGS, E_BAD_LEN, E_BAD_BUFFER,
	E_BAD_LBA, E_READ_ONLY, E_IO_ERROR,
};

struct disk_desc {
	uint64_t lba;
	uint64_t addr;
	uint32_t len;
	uint32_t flags;
	uint32_t status;
	uint32_t reserved;
};

/* one descriptor: 0 or an error code */
static int do_desc(struct vm_devices *d, const struct disk_desc *dd)
{
	struct disk_state *k = &d->disk;
	uint64_t nsec;
	uint8_t *buf;
	size_t done = 0;

	if ((dd->flags & ~(uint32_t)(D_WRITE | D_LAST)) || dd->reserved)
		return E_BAD_FLAGS;
	if (!dd->len || dd->len % SECTOR || dd->len > DISK_MAX_LEN)
		return E_BAD_LEN;
	buf = dev_guest_ram(d, dd->addr, dd->len);
	if (!buf)
		return E_BAD_BUFFER;
	nsec = dd->len / SECTOR;
	if (dd->lba >= k->sectors || nsec > k->sectors - dd->lba)
		return E_BAD_LBA;
	if ((dd->flags & D_WRITE) && k->ro)
		return E_READ_ONLY;
	while (done < dd->len) {
		off_t pos = (off_t)(dd->lba * SECTOR + done);
		ssize_t n;

		if (dd->flags & D_WRITE)
			n = pwrite(k->fd, buf + done, dd->len - done, pos);
		else
			n = pread(k->fd, buf + done, dd->len - done, pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return E_IO_ERROR;
		done += n;
	}
	if (dd->flags & D_WRITE)
		d->cnt.disk_sectors_written += nsec;
	else
		d->cnt.disk_sectors_read += nsec;
	return 0;
}

static void doorbell(struct vm_devices *d)
{
	struct disk_state *k = &d->disk;
	uint32_t i, err = 0;
	uint8_t *p = NULL;

	d->cnt.disk_requests++;
	k->status = ST_BUSY;
	k->completed = 0;
	for (i = 0; i < DISK_MAX_DESC; i++) {
		struct disk_desc dd;

		p = (k->desc % 16) ? NULL :
		    dev_guest_ram(d, k->desc + (uint64_t)i * sizeof(dd),
				  sizeof(dd));
		if (!p) {
			err = E_BAD_LIST;
			break;
		}
		memcpy(&dd, p, sizeof(dd));	/* the guest may change it */
		err = do_desc(d, &dd);
		/* status is the 32-bit field at offset 0x18 */
		memcpy(p + offsetof(struct disk_desc, status), &err, 4);
		if (err)
			break;
		k->completed++;
		if (dd.flags & D_LAST)
			break;
	}
	if (!err && i == DISK_MAX_DESC)
		err = E_NO_LAST;
	if (err) {
		d->cnt.disk_errors++;
		k->status = ST_DONE | ST_ERROR | err << 8 |
			    (i < 0xffff ? i : 0xffff) << 16;
	} else {
		k->status = ST_DONE;
	}
	k->int_status |= 1;
	if (k->msi_ctrl & 1)
		dev_send_msi(d, (uint64_t)k->msi_addr_hi << 32 | k->msi_addr_lo,
			     k->msi_data);
}

static uint64_t disk_read(struct vm_devices *d, uint64_t off,
			  unsigned int size)
{
	struct disk_state *k = &d->disk;

	if (size != 4 || off % 4) {
		d->cnt.disk_bad_access++;
		return ~0ULL;
	}
	switch (off) {
	case R_MAGIC: return DISK_MAGIC;
	case R_VERSION: return DISK_VERSION;
	case R_CAP_LO: return (uint32_t)k->sectors;
	case R_CAP_HI: return (uint32_t)(k->sectors >> 32);
	case R_FEATURES: return k->ro ? 1 : 0;
	case R_MAX_DESC: return DISK_MAX_DESC;
	case R_DESC_LO: return (uint32_t)k->desc;
	case R_DESC_HI: return (uint32_t)(k->desc >> 32);
	case R_STATUS: return k->status;
	case R_COMPLETED: return k->completed;
	case R_INT_STATUS: return k->int_status;
	case R_MSI_ADDR_LO: return k->msi_addr_lo;
	case R_MSI_ADDR_HI: return k->msi_addr_hi;
	case R_MSI_DATA: return k->msi_data;
	case R_MSI_CTRL: return k->msi_ctrl;
	default: return 0;		/* DOORBELL and unlisted offsets */
	}
}

static void disk_write(struct vm_devices *d, uint64_t off, unsigned int size,
		       uint64_t val)
{
	struct disk_state *k = &d->disk;
	uint32_t v = val;

	if (size != 4 || off % 4) {
		d->cnt.disk_bad_access++;
		return;
	}
	switch (off) {
	case R_DESC_LO:
		k->desc = (k->desc & ~0xffffffffULL) | v;
		break;
	case R_DESC_HI:
		k->desc = (k->desc & 0xffffffffULL) | (uint64_t)v << 32;
		break;
	case R_DOORBELL:
		doorbell(d);
		break;
	case R_INT_STATUS:
		k->int_status &= ~(v & 1);
		break;
	case R_MSI_ADDR_LO:
		k->msi_addr_lo = v;
		break;
	case R_MSI_ADDR_HI:
		k->msi_addr_hi = v;
		break;
	case R_MSI_DATA:
		k->msi_data = v;
		break;
	case R_MSI_CTRL:
		k->msi_ctrl = v & 1;
		break;
	default:			/* read-only and unlisted: ignored */
		break;
	}
}

int disk_register(struct vm_devices *d, const char *path, bool ro,
		  char *err, size_t errlen)
{
	static const struct mmio_dev dev = {
		.name = "disk",
		.base = DISK_BASE,
		.len = DISK_MMIO_SIZE,
		.read = disk_read,
		.write = disk_write,
	};
	struct disk_state *k = &d->disk;
	struct stat st;

	k->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (k->fd < 0 || fstat(k->fd, &st)) {
		snprintf(err, errlen, "cannot open disk image '%s': %s", path,
			 strerror(errno));
		disk_close(d);
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(err, errlen, "disk image '%s' is not a file", path);
		disk_close(d);
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(k->fd, 0, SEEK_END);

		st.st_size = end > 0 ? end : 0;
	}
	k->ro = ro;
	k->sectors = (uint64_t)st.st_size / SECTOR;
	k->present = true;
	devices_add_mmio(d, &dev);
	return 0;
}

void disk_close(struct vm_devices *d)
{
	if (d->disk.fd >= 0)
		close(d->disk.fd);
	d->disk.fd = -1;
}
