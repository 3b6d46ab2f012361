// SPDX-License-Identifier: GPL-2.0
/*
 * Runner device models (UART, exit port, open bus) and the vCPU run loop;
 * see devices.h for the contract.
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
}

void devices_free(struct vm_devices *d)
{
	free(d->out);
	d->out = NULL;
	d->out_len = 0;
	d->out_cap = 0;
}

static void uart_emit(struct vm_devices *d, const char *buf, size_t len)
{
	d->cnt.uart_bytes += len;
	if (d->uart_fd >= 0) {
		while (len) {
			ssize_t n = write(d->uart_fd, buf, len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return;	/* output gone: drop like a real UART */
			buf += n;
			len -= n;
		}
		return;
	}
	if (d->out_len + len + 1 > d->out_cap) {
		size_t cap = d->out_cap ? d->out_cap : 256;
		char *p;

		while (cap < d->out_len + len + 1)
			cap *= 2;
		p = realloc(d->out, cap);
		if (!p)
			return;
		d->out = p;
		d->out_cap = cap;
	}
	memcpy(d->out + d->out_len, buf, len);
	d->out_len += len;
	d->out[d->out_len] = 0;
}

static uint32_t item_value(const uint8_t *p, unsigned int size)
{
	uint32_t v = 0;

	memcpy(&v, p, size > 4 ? 4 : size);	/* x86: little endian */
	return v;
}

static void io_out(struct vm_devices *d, struct be_exit *e)
{
	unsigned int size = e->io.size;
	uint32_t i;

	if (e->io.port == UART_BASE) {
		if (size == 1) {
			uart_emit(d, (const char *)e->io.data, e->io.count);
		} else {
			for (i = 0; i < e->io.count; i++) {
				char c = e->io.data[i * size];

				uart_emit(d, &c, 1);
			}
		}
	} else if (e->io.port > UART_BASE && e->io.port <= UART_BASE + 7) {
		d->cnt.uart_other++;
	} else if (e->io.port == EXIT_PORT) {
		d->cnt.exit_port++;
		if (!d->done) {
			d->done = 1;
			d->exit_value = item_value(e->io.data, size) & 0xff;
		}
	} else {
		d->cnt.port_unknown_out++;
	}
}

static void io_in(struct vm_devices *d, struct be_exit *e)
{
	unsigned int size = e->io.size;
	size_t len = (size_t)size * e->io.count;
	uint32_t v, i;

	if (e->io.port >= UART_BASE && e->io.port <= UART_BASE + 7) {
		d->cnt.uart_other++;
		v = e->io.port == UART_LSR ? UART_LSR_IDLE : 0;
		for (i = 0; i < e->io.count; i++)
			memcpy(e->io.data + (size_t)i * size, &v, size);
	} else {
		d->cnt.port_unknown_in++;
		memset(e->io.data, 0xff, len);
	}
}

int devices_handle(struct vm_devices *d, struct be_exit *e)
{
	switch (e->reason) {
	case BE_EXIT_IO:
		d->cnt.io_items += e->io.count;
		if (e->io.direction == BE_IO_OUT) {
			d->cnt.io_out++;
			io_out(d, e);
		} else {
			d->cnt.io_in++;
			io_in(d, e);
		}
		return 1;
	case BE_EXIT_MMIO:
		if (e->mmio.is_write) {
			d->cnt.mmio_writes++;
		} else {
			d->cnt.mmio_reads++;
			memset(e->mmio.data, 0xff, e->mmio.len);
		}
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
			d->cnt.exits[BE_EXIT_INTR]++;
			return RUN_INTR;
		}
		if (ret < 0)
			return RUN_ERROR;
		if ((unsigned int)last->reason < BE_EXIT_NR)
			d->cnt.exits[last->reason]++;
		if (devices_handle(d, last)) {
			if (d->done)
				return RUN_EXIT_PORT;
			continue;
		}
		switch (last->reason) {
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
