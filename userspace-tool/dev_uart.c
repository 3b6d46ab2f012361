// SPDX-License-Identifier: GPL-2.0
/*
 * 16550A UART at 0x3f8-0x3ff, IRQ 4 (Documentation/runner.rst).
 *
 * Transmit is instantaneous: a THR write goes to the output (uart_fd, or
 * the capture buffer when uart_fd < 0) and the THR is empty again at
 * once, so LSR always shows THRE | TEMT and, with IER.ETBEI, every THR
 * write re-arms the THR-empty interrupt. Receive: a thread reads the
 * input fd and fills a 4 KiB FIFO; the guest reads it through RBR, never
 * blocking (LSR.DR says whether a byte is there). Interrupts (IIR
 * priority: received data, then THR empty) drive IRQ 4 through
 * dev_set_irq() as a level; there is no MCR.OUT2 gate (as in QEMU).
 * Loopback (MCR bit 4) sends THR to the receiver and MCR to MSR. The
 * divisor latch, LCR, SCR and FCR hold what is written and change nothing
 * else (there is no line speed).
 *
 * Lifetime: the input thread uses d (taking d->lock) until
 * uart_stop_input() cancels and joins it.
 *
 * A terminal as input (an interactive shell on the guest's console): the
 * input thread puts it into raw mode (no local echo or line editing, no
 * signals from the keyboard, CR sent as CR: the guest's tty does all
 * that, as on a serial line) and uart_stop_input(), or exit(), puts the
 * saved mode back. Ctrl-C then reaches the guest; Ctrl-A x ends the
 * runner (as SIGINT does: the run ends, counters are printed), Ctrl-A
 * Ctrl-A sends one Ctrl-A, Ctrl-A and any other byte send both.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "devices.h"

#define IER_ERBFI	0x01
#define IER_ETBEI	0x02
#define IIR_NONE	0x01
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_FIFO	0xc0
#define LCR_DLAB	0x80
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

static void out_raw(struct vm_devices *d, const char *buf, size_t len)
{
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

void uart_flush(struct vm_devices *d)
{
	if (d->uart.tx_len)
		out_raw(d, d->uart.tx, d->uart.tx_len);
	d->uart.tx_len = 0;
}

static uint8_t iir(struct uart_state *u)
{
	uint8_t fifo = (u->fcr & 1) ? IIR_FIFO : 0;

	if ((u->ier & IER_ERBFI) && u->rx_count)
		return IIR_RDI | fifo;
	if ((u->ier & IER_ETBEI) && u->thri)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

static void update_irq(struct vm_devices *d)
{
	dev_set_irq(d, UART_IRQ, !(iir(&d->uart) & IIR_NONE));
}

static void rx_push(struct uart_state *u, uint8_t c)
{
	if (u->rx_count < UART_RX_BUF) {
		u->rx[(u->rx_head + u->rx_count) % UART_RX_BUF] = c;
		u->rx_count++;
	}
}

static uint8_t rx_pop(struct vm_devices *d)
{
	struct uart_state *u = &d->uart;
	uint8_t c;

	if (!u->rx_count)
		return 0;
	c = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_RX_BUF;
	u->rx_count--;
	d->cnt.uart_rx_bytes++;
	return c;
}

static uint32_t uart_in(struct vm_devices *d, uint16_t off, unsigned int size)
{
	struct uart_state *u = &d->uart;
	uint32_t v = 0;

	(void)size;
	if (off)
		d->cnt.uart_other++;
	switch (off) {
	case 0:
		v = (u->lcr & LCR_DLAB) ? u->dll : rx_pop(d);
		break;
	case 1:
		v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
		break;
	case 2:
		v = iir(u);
		/* reading IIR that reports THR empty clears that source */
		if ((v & 0x0f) == IIR_THRI)
			u->thri = false;
		break;
	case 3:
		v = u->lcr;
		break;
	case 4:
		v = u->mcr;
		break;
	case 5:
		v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
		break;
	case 6:
		if (u->mcr & MCR_LOOP)	/* DTR>DSR, RTS>CTS, OUT1>RI, OUT2>DCD */
			v = ((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3) |
			    ((u->mcr & 0x04) << 4) | ((u->mcr & 0x08) << 4);
		else
			v = 0xb0;	/* DCD, DSR, CTS: a cable is there */
		break;
	case 7:
		v = u->scr;
		break;
	}
	update_irq(d);
	return v;
}

static void uart_out(struct vm_devices *d, uint16_t off, unsigned int size,
		     uint32_t val)
{
	struct uart_state *u = &d->uart;
	uint8_t b = val;
	uint8_t old;

	(void)size;
	if (off)
		d->cnt.uart_other++;
	switch (off) {
	case 0:
		if (u->lcr & LCR_DLAB) {
			u->dll = b;
			break;
		}
		if (u->mcr & MCR_LOOP) {
			rx_push(u, b);
		} else {
			d->cnt.uart_bytes++;
			if (u->tx_len == sizeof(u->tx))
				uart_flush(d);
			u->tx[u->tx_len++] = b;
		}
		u->thri = true;		/* sent at once: THR empty again */
		break;
	case 1:
		if (u->lcr & LCR_DLAB) {
			u->dlm = b;
			break;
		}
		old = u->ier;
		u->ier = b & 0x0f;
		if (!(u->ier & IER_ETBEI))
			u->thri = false;
		else if (!(old & IER_ETBEI))
			u->thri = true;	/* enabled with THR empty */
		break;
	case 2:
		u->fcr = b & 0xc9;
		if (b & 0x02)
			u->rx_count = 0;
		break;
	case 3:
		u->lcr = b;
		break;
	case 4:
		u->mcr = b & 0x1f;
		break;
	case 7:
		u->scr = b;
		break;
	default:			/* LSR, MSR: read-only */
		break;
	}
	update_irq(d);
}

void uart_register(struct vm_devices *d)
{
	static const struct pio_dev dev = {
		.name = "uart",
		.base = UART_BASE,
		.len = 8,
		.in = uart_in,
		.out = uart_out,
	};

	devices_add_pio(d, &dev);
}

#define CTRL_A	0x01

/* the terminal's mode before raw mode, while in raw mode */
static struct termios tty_saved;
static int tty_fd = -1;

static void tty_restore(void)
{
	if (tty_fd < 0)
		return;
	tcsetattr(tty_fd, TCSADRAIN, &tty_saved);
	tty_fd = -1;
}

/* a terminal on fd into raw mode (saved for tty_restore()); 0 or -1 */
static int tty_raw(int fd)
{
	static bool registered;
	struct termios t;

	if (!isatty(fd) || tcgetattr(fd, &tty_saved))
		return -1;
	t = tty_saved;
	t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
		       ICRNL | IXON);
	t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (!registered && atexit(tty_restore))
		return -1;
	registered = true;
	if (tcsetattr(fd, TCSADRAIN, &t))
		return -1;
	tty_fd = fd;
	return 0;
}

/*
 * The escapes of a terminal: buf's n bytes with Ctrl-A pairs replaced
 * (*esc: a Ctrl-A ended the last chunk). The new length, at most n + 1
 * (a Ctrl-A held over from the last chunk and sent now), so buf must
 * have room for n + 1 bytes; or -1 for Ctrl-A x.
 */
static ssize_t tty_escapes(uint8_t *buf, ssize_t n, bool *esc)
{
	uint8_t tmp[512];
	ssize_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (!*esc && buf[i] == CTRL_A) {
			*esc = true;
			continue;
		}
		if (*esc) {
			*esc = false;
			if (buf[i] == 'x' || buf[i] == 'X')
				return -1;
			if (buf[i] != CTRL_A)
				tmp[k++] = CTRL_A;
		}
		tmp[k++] = buf[i];
	}
	memcpy(buf, tmp, k);
	return k;
}

static void *input_thread(void *arg)
{
	struct vm_devices *d = arg;
	struct uart_state *u = &d->uart;
	bool tty = !tty_raw(u->in_fd), esc = false;
	uint8_t buf[256];
	ssize_t n, i;

	for (;;) {
		/* one byte spare: a Ctrl-A held over adds one (tty_escapes()) */
		n = read(u->in_fd, buf, sizeof(buf) - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;	/* EOF: the line stays quiet */
		if (tty)
			n = tty_escapes(buf, n, &esc);
		if (n < 0) {		/* Ctrl-A x: end the run */
			tty_restore();
			kill(getpid(), SIGINT);
			return NULL;
		}
		for (i = 0; i < n;) {
			int full;

			pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
			pthread_mutex_lock(&d->lock);
			while (i < n && u->rx_count < UART_RX_BUF)
				rx_push(u, buf[i++]);
			full = i < n;
			update_irq(d);
			pthread_mutex_unlock(&d->lock);
			pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
			if (full) {	/* wait for the guest to read */
				struct timespec ts = { 0, 1000000 };

				nanosleep(&ts, NULL);
			}
		}
	}
}

int uart_start_input(struct vm_devices *d, int fd)
{
	int ret;

	if (d->uart.thread_live)
		return -EBUSY;
	d->uart.in_fd = fd;
	ret = pthread_create(&d->uart.thread, NULL, input_thread, d);
	if (ret)
		return -ret;
	d->uart.thread_live = true;
	return 0;
}

void uart_stop_input(struct vm_devices *d)
{
	if (!d->uart.thread_live)
		return;
	pthread_cancel(d->uart.thread);
	pthread_join(d->uart.thread, NULL);
	d->uart.thread_live = false;
	tty_restore();
}
