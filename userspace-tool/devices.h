/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Device models of the runner, written once against backend.h so that runs
 * on shadowvm and on KVM share them. Documentation/runner.rst describes
 * each device as the guest sees it.
 *
 * Registry: a device claims a port range (struct pio_dev) or an MMIO range
 * (struct mmio_dev); devices_handle() dispatches an I/O or MMIO exit to the
 * device whose range holds the first byte, item by item for string I/O.
 * What no device claims is open bus: reads return all-ones, writes are
 * dropped, and both are counted.
 *
 * Devices, one file each (their state is in struct vm_devices):
 *   dev_uart.c    16550 UART at 0x3f8, IRQ 4, input from an fd
 *   dev_exit.c    exit port 0xf4
 *   dev_pci.c     PCI configuration ports 0xcf8/0xcfc: bus 0 with a
 *                 host bridge and its functions once pci_enable_bus()
 *                 ran (Linux boots), else no device
 *   dev_virtio_blk.c  virtio-blk (legacy virtio-pci) at PCI 00:01.0,
 *                 I/O BAR0, INTx on I/O APIC pin 16 (--kernel --disk)
 *   dev_fwcfg.c   QEMU fw_cfg subset at 0x510/0x511
 *   dev_ioapic.c  I/O APIC at 0xfec00000 (when the backend has none)
 *   dev_disk.c    DMA disk, MMIO page at 0xfeb00000
 *   dev_i8042.c   i8042 reset line (0x64 command 0xfe) at 0x60/0x64
 *   dev_rtc.c     CMOS real-time clock at 0x70/0x71 (the host's UTC)
 * devices_init() registers UART, exit port, PCI, fw_cfg, i8042 and RTC; the runner
 * adds the I/O APIC and the disk (DMA disk, or virtio-blk) when it wants
 * them.
 *
 * Interrupts: dev_set_irq() drives an IRQ line (the I/O APIC in the runner
 * turns a rising edge on an unmasked pin into an MSI; with KVM's in-kernel
 * irqchip it becomes KVM_IRQ_LINE); dev_send_msi() sends an MSI through the
 * backend (SHADOWVM_SIGNAL_MSI / KVM_SIGNAL_MSI). Without a VM attached
 * (devices_attach_vm() not called) interrupts are counted as dropped.
 *
 * Concurrency: devices_handle() and every device callback run with
 * d->lock held, so several vCPU threads and the UART input thread may use
 * one struct vm_devices. The lock is taken by devices_handle() itself.
 * Lifetime: the caller owns struct vm_devices; devices_free() stops the
 * UART input thread and closes the disk image, after every vCPU thread
 * that used it has returned from vm_run_loop().
 *
 * vm_run_loop() runs a vCPU, feeding I/O and MMIO exits to the devices,
 * until the guest writes the exit port or an exit the devices cannot
 * handle (HLT, shutdown, entry failure, internal error, signal, ...).
 */
#ifndef SHADOWVM_DEVICES_H
#define SHADOWVM_DEVICES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#define UART_BASE	0x3f8
#define UART_LSR	(UART_BASE + 5)
#define UART_LSR_IDLE	0x60
#define UART_IRQ	4
#define EXIT_PORT	0xf4
#define PCI_CONFIG_ADDR	0xcf8
#define PCI_CONFIG_DATA	0xcfc
#define FW_CFG_PORT_SEL	0x510
#define FW_CFG_PORT_DATA 0x511
#define IOAPIC_BASE	0xfec00000ULL
#define IOAPIC_PINS	24
#define DISK_BASE	0xfeb00000ULL
#define DISK_MMIO_SIZE	0x1000ULL
#define PCI_MAX_FUNCS	4
#define VBLK_DEVFN	(1 << 3)	/* PCI 00:01.0 */
#define VBLK_IRQ	16		/* I/O APIC pin of its INTA */
#define VBLK_IO_BASE	0xc000		/* BAR0 as the runner programs it */
#define VBLK_IO_SIZE	0x40
#define VBLK_QUEUE_SIZE	128

struct dev_counters {
	uint64_t exits[BE_EXIT_NR];	/* userspace exits by reason */
	uint64_t io_in;			/* IN exits */
	uint64_t io_out;		/* OUT exits */
	uint64_t io_items;		/* items moved by all I/O exits */
	uint64_t uart_bytes;		/* bytes sent through the THR */
	uint64_t uart_rx_bytes;		/* bytes the guest read from the RBR */
	uint64_t uart_other;		/* other UART register accesses */
	uint64_t exit_port;		/* writes to the exit port */
	uint64_t pci_config;		/* accesses to 0xcf8-0xcff */
	uint64_t fw_cfg;		/* accesses to 0x510/0x511 */
	uint64_t i8042;			/* accesses to 0x60/0x64 */
	uint64_t rtc;			/* accesses to 0x70/0x71 */
	uint64_t port_unknown_in;	/* IN from unknown ports */
	uint64_t port_unknown_out;	/* OUT to unknown ports */
	uint64_t mmio_reads;		/* unclaimed MMIO reads */
	uint64_t mmio_writes;		/* unclaimed MMIO writes */
	uint64_t ioapic;		/* I/O APIC register accesses */
	uint64_t irq_raised;		/* rising edges of IRQ lines */
	uint64_t msi_sent;		/* MSIs the backend took */
	uint64_t irq_dropped;		/* interrupts that could not be sent */
	uint64_t disk_requests;		/* doorbell writes */
	uint64_t disk_sectors_read;
	uint64_t disk_sectors_written;
	uint64_t disk_errors;		/* requests that ended with ERROR */
	uint64_t disk_bad_access;	/* non-32-bit register accesses */
	uint64_t vblk_notify;		/* queue notifications */
	uint64_t vblk_requests;		/* requests completed */
	uint64_t vblk_sectors_read;
	uint64_t vblk_sectors_written;
	uint64_t vblk_flushes;
	uint64_t vblk_errors;		/* requests with IOERR or UNSUPP */
	uint64_t vblk_bad_chains;	/* malformed chains (used len 0) */
	uint64_t vblk_bad_ring;		/* notifies refused: ring not in RAM,
					   or an avail index beyond the ring */
	uint64_t vblk_bad_access;	/* ignored register writes */
};

struct vm_devices;

struct pio_dev {
	const char *name;
	uint16_t base, len;
	/* off = port - base; size 1, 2 or 4 */
	uint32_t (*in)(struct vm_devices *d, uint16_t off, unsigned int size);
	void (*out)(struct vm_devices *d, uint16_t off, unsigned int size,
		    uint32_t val);
};

struct mmio_dev {
	const char *name;
	uint64_t base, len;
	/* off = gpa - base; size 1, 2, 4 or 8 */
	uint64_t (*read)(struct vm_devices *d, uint64_t off, unsigned int size);
	void (*write)(struct vm_devices *d, uint64_t off, unsigned int size,
		      uint64_t val);
};

#define UART_RX_BUF	4096

struct uart_state {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thri;			/* THR-empty interrupt pending */
	uint8_t rx[UART_RX_BUF];	/* receive FIFO (ring) */
	unsigned int rx_head, rx_count;
	int in_fd;			/* input, or -1 */
	bool thread_live;
	pthread_t thread;
	int line;			/* current level of IRQ 4 */
	char tx[256];			/* output not yet written */
	unsigned int tx_len;
};

struct fwcfg_state {
	uint16_t key;
	uint32_t off;
};

struct rtc_state {
	uint8_t index;			/* last write to 0x70, less bit 7 */
	uint8_t ram[128];		/* CMOS RAM beyond the clock */
};

struct ioapic_state {
	bool present;
	uint32_t sel;			/* IOREGSEL */
	uint32_t id;
	uint64_t redir[IOAPIC_PINS];
};

struct disk_state {
	bool present;
	bool ro;
	int fd;
	uint64_t sectors;
	uint64_t desc;
	uint32_t status, completed, int_status;
	uint32_t msi_addr_lo, msi_addr_hi, msi_data, msi_ctrl;
};

/*
 * A PCI function of bus 0: 256 bytes of configuration space (type 0
 * header), the bits the guest may write, and a callback run after a
 * write that touched the command register or a BAR.
 */
struct pci_func {
	uint8_t devfn;
	uint8_t cfg[256];
	uint8_t wmask[256];
	void (*changed)(struct vm_devices *d, struct pci_func *f);
};

struct pci_bus {
	bool enabled;			/* else: "no device" everywhere */
	unsigned int nfuncs;
	struct pci_func func[PCI_MAX_FUNCS];
};

struct vblk_state {
	bool present;
	bool ro;
	int fd;
	uint64_t sectors;
	uint16_t io_base;		/* decoded BAR0, 0: not decoded */
	uint32_t guest_features;
	uint32_t pfn;			/* queue 0's page frame, 0: none */
	uint16_t queue_sel;
	uint8_t status;			/* device status register */
	uint8_t isr;			/* bit 0: used ring updated */
	uint16_t last_avail;		/* next avail ring slot to take */
	uint16_t used_idx;		/* our copy of used->idx */
	bool intx_disabled;		/* PCI command bit 10 */
};

#define DEV_MAX_PIO	16
#define DEV_MAX_MMIO	8

#define DONE_EXIT_PORT	1		/* the exit port was written */
#define DONE_RESET	2		/* the guest reset the machine */

struct vm_devices {
	int uart_fd;			/* < 0: capture into out[] */
	char *out;			/* capture buffer, NUL terminated */
	size_t out_len;
	size_t out_cap;
	int done;			/* DONE_*: the run is over */
	uint32_t exit_value;		/* value written there (its width) */
	struct dev_counters cnt;

	pthread_mutex_t lock;
	struct pio_dev pio[DEV_MAX_PIO];
	unsigned int npio;
	struct mmio_dev mmio[DEV_MAX_MMIO];
	unsigned int nmmio;

	/* set by devices_attach_vm(): guest RAM, CPUs, interrupt path */
	struct be_vm *vm;
	uint8_t *ram;
	uint64_t ram_size;
	uint32_t ncpus;
	uint32_t irq_lines;		/* level of each IRQ line, bit = irq */

	struct uart_state uart;
	struct fwcfg_state fwcfg;
	uint32_t pci_addr;		/* last value written to 0xcf8 */
	struct pci_bus pci;
	struct vblk_state vblk;
	struct ioapic_state ioapic;
	struct disk_state disk;
	struct rtc_state rtc;
};

enum run_result {
	RUN_EXIT_PORT,			/* guest wrote the exit port */
	RUN_RESET,			/* guest reset (i8042 command 0xfe) */
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
/*
 * Guest RAM [0, ram_size) at ram, ncpus for fw_cfg, and vm for interrupt
 * delivery (may be NULL: interrupts dropped).
 */
void devices_attach_vm(struct vm_devices *d, struct be_vm *vm, void *ram,
		       uint64_t ram_size, uint32_t ncpus);
/* 0, or -1 when the table is full */
int devices_add_pio(struct vm_devices *d, const struct pio_dev *dev);
/*
 * the port range of the registered device named name moves to
 * [base, base + len) (len 0: no ports; for PCI BARs); 0 or -1
 */
int devices_move_pio(struct vm_devices *d, const char *name, uint16_t base,
		     uint16_t len);
int devices_add_mmio(struct vm_devices *d, const struct mmio_dev *dev);
/* Returns 1 if the exit was an I/O or MMIO exit and has been handled. */
int devices_handle(struct vm_devices *d, struct be_exit *e);
/* *last gets the exit that ended the loop. */
enum run_result vm_run_loop(struct be_vcpu *vcpu, struct vm_devices *d,
			    struct be_exit *last);
/* the runner's exit status for an exit-port write: (value << 1) | 1 */
int devices_exit_status(const struct vm_devices *d);

/* ---- for the device files; called with d->lock held ---- */
void dev_set_irq(struct vm_devices *d, unsigned int irq, int level);
/* 0 when the backend took it, else -errno (counted as dropped) */
int dev_send_msi(struct vm_devices *d, uint64_t addr, uint32_t data);
/* guest RAM [gpa, gpa + len) as a host pointer, or NULL when not all RAM */
void *dev_guest_ram(struct vm_devices *d, uint64_t gpa, uint64_t len);

/* ---- per-device set-up ---- */
void uart_register(struct vm_devices *d);
/* read guest input from fd (non-blocking for the guest) in a thread */
int uart_start_input(struct vm_devices *d, int fd);
void uart_stop_input(struct vm_devices *d);
/* write out what the guest sent (devices_handle() does after each exit) */
void uart_flush(struct vm_devices *d);
void exit_port_register(struct vm_devices *d);
void pci_register(struct vm_devices *d);
/* PCI bus 0 answers, with the host bridge at 00:00.0 (Linux boots) */
void pci_enable_bus(struct vm_devices *d);
/* a function on bus 0 (cfg filled by the caller); NULL when full */
struct pci_func *pci_add_func(struct vm_devices *d, const struct pci_func *f);
void i8042_register(struct vm_devices *d);
void rtc_register(struct vm_devices *d);
void fwcfg_register(struct vm_devices *d);
void ioapic_register(struct vm_devices *d);
/* I/O APIC input pin irq changed level; sends the MSI on a rising edge */
void ioapic_set_irq(struct vm_devices *d, unsigned int irq, int level);
/* path opened read-write, or read-only; 0 or -1 with a message in err */
int disk_register(struct vm_devices *d, const char *path, bool ro,
		  char *err, size_t errlen);
void disk_close(struct vm_devices *d);
/*
 * virtio-blk on the raw image path (read-only with ro) at PCI 00:01.0,
 * after pci_enable_bus(); 0 or -1 with a message in err
 */
int vblk_register(struct vm_devices *d, const char *path, bool ro,
		  char *err, size_t errlen);
void vblk_close(struct vm_devices *d);
/* for unit tests: the register file of BAR0 (off < VBLK_IO_SIZE) */
uint32_t vblk_io_in(struct vm_devices *d, uint16_t off, unsigned int size);
void vblk_io_out(struct vm_devices *d, uint16_t off, unsigned int size,
		 uint32_t val);

#endif /* SHADOWVM_DEVICES_H */
