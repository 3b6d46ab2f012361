/* SPDX-License-Identifier: GPL-2.0 */
/*
 * minios: a tiny vsnprintf shared by the kernel and the user program
 * (each gets its own copy: the user one lives in the user text section).
 * Formats: %d %u %x %s %c %%, with an optional '0' flag and width.
 * Always NUL-terminates when size > 0; returns the length written.
 */
#ifndef MINIOS_FMT_H
#define MINIOS_FMT_H

#include <stdarg.h>
#include <stdint.h>

static int fmt_vsn(char *buf, int size, const char *fmt, va_list ap)
{
	int n = 0;

#define FMT_PUT(ch) do { if (n < size - 1) buf[n] = (ch); n++; } while (0)
	for (; *fmt; fmt++) {
		char tmp[12], pad = ' ';
		int width = 0, len = 0, neg = 0;
		uint32_t v, base = 10;
		const char *s;

		if (*fmt != '%') {
			FMT_PUT(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		switch (*fmt) {
		case 'c':
			FMT_PUT((char)va_arg(ap, int));
			continue;
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			while (s[len])
				len++;
			while (width-- > len)
				FMT_PUT(' ');
			while (*s)
				FMT_PUT(*s++);
			continue;
		case 'd': {
			int32_t sv = va_arg(ap, int32_t);

			neg = sv < 0;
			v = neg ? (uint32_t)-sv : (uint32_t)sv;
			break;
		}
		case 'u':
			v = va_arg(ap, uint32_t);
			break;
		case 'x':
			v = va_arg(ap, uint32_t);
			base = 16;
			break;
		case 0:
			fmt--;
			continue;
		default:
			FMT_PUT('%');
			FMT_PUT(*fmt);
			continue;
		}
		do {
			tmp[len++] = "0123456789abcdef"[v % base];
			v /= base;
		} while (v);
		if (neg)
			width--;
		if (neg && pad == '0')
			FMT_PUT('-');
		while (width-- > len)
			FMT_PUT(pad);
		if (neg && pad == ' ')
			FMT_PUT('-');
		while (len)
			FMT_PUT(tmp[--len]);
	}
#undef FMT_PUT
	if (size > 0)
		buf[n < size ? n : size - 1] = 0;
	return n < size ? n : size - 1;
}

#endif
