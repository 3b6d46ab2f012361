// SPDX-License-Identifier: GPL-2.0
/*
 * CMOS real-time clock (MC146818 register model) at ports 0x70 (index) and
 * 0x71 (data), read-only time: registers 0x00-0x09 (seconds, minutes,
 * hours, day of week, day, month, year) and 0x32 (century) give the host's
 * UTC time at the moment of the read, in BCD; register A reads 0x26 (32.768
 * kHz time base, 1024 Hz rate, update-in-progress never set), B 0x02
 * (24-hour, BCD, no interrupts), C 0 (no interrupt flags), D 0x80 (the
 * battery is good). Writes to the time and to A-D are counted and
 * dropped (the guest cannot set the host's clock); the other 114 bytes
 * are CMOS RAM that keeps what the guest writes. Index bit 7 (the NMI
 * mask) is ignored. There is no RTC interrupt (IRQ 8).
 */
#include <time.h>

#include "devices.h"

#define RTC_INDEX	0x70
#define RTC_DATA	0x71

static uint8_t bcd(int v)
{
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/* the clock's registers; reg is neither CMOS RAM nor an alarm */
static uint8_t rtc_time(uint8_t reg)
{
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	switch (reg) {
	case 0x00:
		return bcd(tm.tm_sec);
	case 0x02:
		return bcd(tm.tm_min);
	case 0x04:
		return bcd(tm.tm_hour);
	case 0x06:
		return bcd(tm.tm_wday + 1);
	case 0x07:
		return bcd(tm.tm_mday);
	case 0x08:
		return bcd(tm.tm_mon + 1);
	case 0x09:
		return bcd(tm.tm_year % 100);
	default:			/* 0x32 */
		return bcd(19 + tm.tm_year / 100);
	}
}

static uint8_t rtc_read(struct vm_devices *d, uint8_t reg)
{
	switch (reg) {
	case 0x00: case 0x02: case 0x04: case 0x06: case 0x07: case 0x08:
	case 0x09: case 0x32:
		return rtc_time(reg);
	case 0x01: case 0x03: case 0x05:
		return 0;		/* the alarms: never set */
	case 0x0a:
		return 0x26;
	case 0x0b:
		return 0x02;
	case 0x0c:
		return 0;
	case 0x0d:
		return 0x80;
	default:
		return d->rtc.ram[reg];
	}
}

static uint32_t rtc_in(struct vm_devices *d, uint16_t off, unsigned int size)
{
	(void)size;
	d->cnt.rtc++;
	return off ? rtc_read(d, d->rtc.index) : 0xff;
}

static void rtc_out(struct vm_devices *d, uint16_t off, unsigned int size,
		    uint32_t val)
{
	(void)size;
	d->cnt.rtc++;
	if (!off)
		d->rtc.index = val & 0x7f;
	else if (d->rtc.index > 0x0d && d->rtc.index != 0x32)
		d->rtc.ram[d->rtc.index] = val;
}

void rtc_register(struct vm_devices *d)
{
	static const struct pio_dev dev = {
		.name = "rtc", .base = RTC_INDEX, .len = 2,
		.in = rtc_in, .out = rtc_out,
	};

	devices_add_pio(d, &dev);
}
