// SPDX-License-Identifier: GPL-2.0
/*
 * The reset line of an i8042 keyboard controller, at ports 0x60 and 0x64,
 * and nothing else: there is no keyboard or mouse. Writing command 0xfe
 * ("pulse output line 0", the CPU reset) to 0x64 ends the run with
 * RUN_RESET (the runner's exit status 124), the first of the reboot
 * methods Linux tries without ACPI (reboot=k). The status register reads
 * 0x05: input buffer empty, so a command is accepted at once, and output
 * buffer full with the data port reading 0xff, so a driver that flushes
 * the controller never empties it and finds no controller (Linux: "i8042:
 * No controller found") without waiting for timeouts. Other writes are
 * counted and dropped.
 */
#include "devices.h"

#define I8042_DATA	0x60
#define I8042_CMD	0x64
#define I8042_STATUS	0x05	/* OBF | system flag; IBF clear */
#define I8042_RESET	0xfe

static uint32_t data_in(struct vm_devices *d, uint16_t off, unsigned int size)
{
	(void)off;
	(void)size;
	d->cnt.i8042++;
	return 0xff;
}

static uint32_t status_in(struct vm_devices *d, uint16_t off, unsigned int size)
{
	(void)off;
	(void)size;
	d->cnt.i8042++;
	return I8042_STATUS;
}

static void i8042_out(struct vm_devices *d, uint16_t off, unsigned int size,
		      uint32_t val)
{
	(void)off;
	(void)size;
	(void)val;
	d->cnt.i8042++;
}

static void command_out(struct vm_devices *d, uint16_t off, unsigned int size,
			uint32_t val)
{
	i8042_out(d, off, size, val);
	if ((val & 0xff) == I8042_RESET && !d->done)
		__atomic_store_n(&d->done, DONE_RESET, __ATOMIC_RELEASE);
}

void i8042_register(struct vm_devices *d)
{
	static const struct pio_dev data = {
		.name = "i8042", .base = I8042_DATA, .len = 1,
		.in = data_in, .out = i8042_out,
	};
	static const struct pio_dev command = {
		.name = "i8042", .base = I8042_CMD, .len = 1,
		.in = status_in, .out = command_out,
	};

	devices_add_pio(d, &data);
	devices_add_pio(d, &command);
}
