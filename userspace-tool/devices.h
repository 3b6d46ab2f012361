/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Device models of the runner, written once against backend.h so that runs
 * on shadowvm and on KVM share them:
 *   - 16550 UART at 0x3f8..0x3ff: THR (0x3f8) writes go to the output
 *     (unbuffered write(2) to uart_fd, or appended to a capture buffer when
 *     uart_fd < 0); LSR (0x3fd) reads 0x60 (THR empty, idle); other UART
 *     registers read 0 and ignore writes.
 *   - exit port 0xf4: a byte/word/dword written there ends the run, the
 *     value (& 0xff) becomes the exit value.
 *   - anything else: port reads return all-ones, port writes are ignored;
 *     MMIO reads return all-ones, MMIO writes are ignored. All counted.
 * vm_run_loop() runs a vCPU, feeding I/O and MMIO exits to the devices,
 * until the guest writes the exit port or an exit the devices cannot
 * handle (HLT, shutdown, entry failure, internal error, signal, ...).
 */
#ifndef SHADOWVM_DEVICES_H
#define SHADOWVM_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#define UART_BASE	0x3f8
#define UART_LSR	(UART_BASE + 5)
#define UART_LSR_IDLE	0x60
#define EXIT_PORT	0xf4

struct dev_counters {
	uint64_t exits[BE_EXIT_NR];	/* userspace exits by reason */
	uint64_t io_in;			/* IN exits */
	uint64_t io_out;		/* OUT exits */
	uint64_t io_items;		/* items moved by all I/O exits */
	uint64_t uart_bytes;		/* bytes sent through the THR */
	uint64_t uart_other;		/* other UART register accesses */
	uint64_t exit_port;		/* writes to the exit port */
	uint64_t port_unknown_in;	/* IN from unknown ports */
	uint64_t port_unknown_out;	/* OUT to unknown ports */
	uint64_t mmio_reads;
	uint64_t mmio_writes;
};

struct vm_devices {
	int uart_fd;			/* < 0: capture into out[] */
	char *out;			/* capture buffer, NUL terminated */
	size_t out_len;
	size_t out_cap;
	int done;			/* the exit port was written */
	uint32_t exit_value;		/* value written there & 0xff */
	struct dev_counters cnt;
};

enum run_result {
	RUN_EXIT_PORT,			/* guest wrote the exit port */
	RUN_HLT,
	RUN_SHUTDOWN,
	RUN_FAIL_ENTRY,
	RUN_INTERNAL,
	RUN_INTR,			/* RUN returned -EINTR */
	RUN_UNKNOWN,			/* exit the runner does not know */
	RUN_ERROR,			/* RUN ioctl failed; errno set */
};

void devices_init(struct vm_devices *d, int uart_fd);
void devices_free(struct vm_devices *d);
/* Returns 1 if the exit was an I/O or MMIO exit and has been handled. */
int devices_handle(struct vm_devices *d, struct be_exit *e);
/* *last gets the exit that ended the loop. */
enum run_result vm_run_loop(struct be_vcpu *vcpu, struct vm_devices *d,
			    struct be_exit *last);

#endif /* SHADOWVM_DEVICES_H */
