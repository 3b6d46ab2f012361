// SPDX-License-Identifier: GPL-2.0
/*
 * Device registry, exit dispatch, interrupt routing and the vCPU run loop;
 * contract in devices.h. The devices themselves are in dev_*.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices.h"

void devices_init(struct vm_devices *d, int uart_fd)
{
	memset(d, 0, sizeof(*d));
	d->uart_fd = uart_fd;
	d->ncpus = 1;
	d->disk.fd = -1;
	d->vblk.fd = -1;
	d->uart.in_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	uart_register(d);
	exit_port_register(d);
	pci_register(d);
	fwcfg_register(d);
	i8042_register(d);
	rtc_register(d);
}

void devices_free(struct vm_devices *d)
{
	uart_stop_input(d);
	disk_close(d);
	vblk_close(d);
	free(d->out);
	d->out = NULL;
	d->out_len = 0;
	d->out_cap = 0;
}

void devices_attach_vm(struct vm_devices *d, struct be_vm *vm, void *ram,
		       uint64_t ram_size, uint32_t ncpus)
{
	pthread_mutex_lock(&d->lock);
	d->vm = vm;
	d->ram = ram;
	d->ram_size = ram_size;
	d->ncpus = ncpus ? ncpus : 1;
	pthread_mutex_unlock(&d->lock);
}

int devices_add_pio(struct vm_devices *d, const struct pio_dev *dev)
{
	if (d->npio >= DEV_MAX_PIO)
		return -1;
	d->pio[d->npio++] = *dev;
	return 0;
}

int devices_move_pio(struct vm_devices *d, const char *name, uint16_t base,
		     uint16_t len)
{
	unsigned int i;

	for (i = 0; i < d->npio; i++) {
		if (strcmp(d->pio[i].name, name))
			continue;
		d->pio[i].base = base;
		d->pio[i].len = len;
		return 0;
	}
	return -1;
}

int devices_add_mmio(struct vm_devices *d, const struct mmio_dev *dev)
{
	if (d->nmmio >= DEV_MAX_MMIO)
		return -1;
	d->mmio[d->nmmio++] = *dev;
	return 0;
}

int devices_exit_status(const struct vm_devices *d)
{
	return (int)(((d->exit_value << 1) | 1) & 0xff);
}

void *dev_guest_ram(struct vm_devices *d, uint64_t gpa, uint64_t len)
{
	if (!d->ram || gpa >= d->ram_size || len > d->ram_size - gpa)
		return NULL;
	return d->ram + gpa;
}

int dev_send_msi(struct vm_devices *d, uint64_t addr, uint32_t data)
{
	int ret = d->vm ? be_signal_msi(d->vm, addr, data) : -ENODEV;

	if (ret < 0) {
		d->cnt.irq_dropped++;
		return ret;
	}
	d->cnt.msi_sent++;
	return 0;
}

void dev_set_irq(struct vm_devices *d, unsigned int irq, int level)
{
	uint32_t bit = 1u << irq;
	bool old = d->irq_lines & bit;

	if (irq >= IOAPIC_PINS || old == !!level)
		return;
	if (level) {
		d->irq_lines |= bit;
		d->cnt.irq_raised++;
	} else {
		d->irq_lines &= ~bit;
	}
	if (d->ioapic.present) {
		ioapic_set_irq(d, irq, level);
	} else if (!d->vm || be_irq_line(d->vm, irq, level) < 0) {
		if (level)
			d->cnt.irq_dropped++;
	}
}

static const struct pio_dev *find_pio(struct vm_devices *d, uint16_t port)
{
	unsigned int i;

	for (i = 0; i < d->npio; i++)
		if (port >= d->pio[i].base &&
		    port - d->pio[i].base < d->pio[i].len)
			return &d->pio[i];
	return NULL;
}

static const struct mmio_dev *find_mmio(struct vm_devices *d, uint64_t gpa,
					unsigned int len)
{
	unsigned int i;

	for (i = 0; i < d->nmmio; i++)
		if (gpa >= d->mmio[i].base &&
		    gpa - d->mmio[i].base < d->mmio[i].len &&
		    len <= d->mmio[i].len - (gpa - d->mmio[i].base))
			return &d->mmio[i];
	return NULL;
}

static void handle_io(struct vm_devices *d, struct be_exit *e)
{
	unsigned int size = e->io.size;
	const struct pio_dev *dev = find_pio(d, e->io.port);
	uint16_t off;
	uint32_t i, v;

	if (size != 1 && size != 2 && size != 4)
		return;
	if (!dev) {
		if (e->io.direction == BE_IO_OUT) {
			d->cnt.port_unknown_out++;
		} else {
			d->cnt.port_unknown_in++;
			memset(e->io.data, 0xff, (size_t)size * e->io.count);
		}
		return;
	}
	off = e->io.port - dev->base;
	for (i = 0; i < e->io.count; i++) {
		uint8_t *p = e->io.data + (size_t)i * size;

		if (e->io.direction == BE_IO_OUT) {
			v = 0;
			memcpy(&v, p, size);	/* x86: little endian */
			if (dev->out)
				dev->out(d, off, size, v);
		} else {
			v = dev->in ? dev->in(d, off, size) : 0xffffffff;
			memcpy(p, &v, size);
		}
	}
}

static void handle_mmio(struct vm_devices *d, struct be_exit *e)
{
	unsigned int len = e->mmio.len;
	const struct mmio_dev *dev;
	uint64_t v = 0;

	if (!len || len > 8)
		return;
	dev = find_mmio(d, e->mmio.phys_addr, len);
	if (!dev) {
		if (e->mmio.is_write) {
			d->cnt.mmio_writes++;
		} else {
			d->cnt.mmio_reads++;
			memset(e->mmio.data, 0xff, len);
		}
		return;
	}
	if (e->mmio.is_write) {
		memcpy(&v, e->mmio.data, len);
		if (dev->write)
			dev->write(d, e->mmio.phys_addr - dev->base, len, v);
	} else {
		v = dev->read ? dev->read(d, e->mmio.phys_addr - dev->base,
					  len) : ~0ULL;
		memcpy(e->mmio.data, &v, len);
	}
}

int devices_handle(struct vm_devices *d, struct be_exit *e)
{
	switch (e->reason) {
	case BE_EXIT_IO:
		pthread_mutex_lock(&d->lock);
		d->cnt.io_items += e->io.count;
		if (e->io.direction == BE_IO_OUT)
			d->cnt.io_out++;
		else
			d->cnt.io_in++;
		handle_io(d, e);
		uart_flush(d);
		pthread_mutex_unlock(&d->lock);
		return 1;
	case BE_EXIT_MMIO:
		pthread_mutex_lock(&d->lock);
		handle_mmio(d, e);
		pthread_mutex_unlock(&d->lock);
		return 1;
	default:
		return 0;
	}
}

enum run_result vm_run_loop(struct be_vcpu *vcpu, struct vm_devices *d,
			    struct be_exit *last)
{
	for (;;) {
		int ret = be_run(vcpu, last);

		if (ret == -EINTR) {
			__atomic_add_fetch(&d->cnt.exits[BE_EXIT_INTR], 1,
					   __ATOMIC_RELAXED);
			return RUN_INTR;
		}
		/* KVM: an AP woken in wait-for-SIPI without starting */
		if (ret == -EAGAIN)
			continue;
		if (ret < 0)
			return RUN_ERROR;
		if ((unsigned int)last->reason < BE_EXIT_NR)
			__atomic_add_fetch(&d->cnt.exits[last->reason], 1,
					   __ATOMIC_RELAXED);
		if (devices_handle(d, last)) {
			switch (__atomic_load_n(&d->done, __ATOMIC_ACQUIRE)) {
			case DONE_EXIT_PORT:
				return RUN_EXIT_PORT;
			case DONE_RESET:
				return RUN_RESET;
			}
			continue;
		}
		switch (last->reason) {
		case BE_EXIT_SIPI:
			/*
			 * shadowvm put the AP in real mode at vector:0000, as
			 * the CPU does; KVM does the same without an exit
			 */
			continue;
		case BE_EXIT_HYPERCALL:
			/*
			 * the runner implements none (and does not ask for
			 * them): SHADOWVM_HC_ENOSYS, KVM's -1000
			 */
			last->hypercall.ret = (uint64_t)-1000;
			be_complete_hypercall(vcpu, last);
			continue;
		case BE_EXIT_HLT:
			return RUN_HLT;
		case BE_EXIT_SHUTDOWN:
			return RUN_SHUTDOWN;
		case BE_EXIT_FAIL_ENTRY:
			return RUN_FAIL_ENTRY;
		case BE_EXIT_INTERNAL:
			return RUN_INTERNAL;
		case BE_EXIT_INTR:
			return RUN_INTR;
		default:
			return RUN_UNKNOWN;
		}
	}
}
