// SPDX-License-Identifier: GPL-2.0
/*
 * Exit port 0xf4 (isa-debug-exit style): a byte, word or dword written
 * there ends the run. The first write wins; its value (as wide as the
 * write) is kept in d->exit_value and the runner exits with
 * (value << 1) | 1, truncated to 8 bits (devices_exit_status()), the
 * convention of QEMU's isa-debug-exit that test kernels expect. Reads
 * return all-ones, like an unclaimed port.
 */
#include "devices.h"

static uint32_t exit_in(struct vm_devices *d, uint16_t off, unsigned int size)
{
	(void)d;
	(void)off;
	(void)size;
	return 0xffffffff;
}

static void exit_out(struct vm_devices *d, uint16_t off, unsigned int size,
		     uint32_t val)
{
	(void)off;
	(void)size;
	d->cnt.exit_port++;
	if (!d->done) {
		d->exit_value = val;
		__atomic_store_n(&d->done, DONE_EXIT_PORT, __ATOMIC_RELEASE);
	}
}

void exit_port_register(struct vm_devices *d)
{
	static const struct pio_dev dev = {
		.name = "exit",
		.base = EXIT_PORT,
		.len = 1,
		.in = exit_in,
		.out = exit_out,
	};

	devices_add_pio(d, &dev);
}
