/* SPDX-License-Identifier: GPL-2.0 */
/*
 * minios kernel: common declarations.
 *
 * Contract: a single-CPU, 32-bit protected-mode kernel entered by a
 * multiboot v1 loader. Kernel virtual addresses below USER_BASE equal
 * physical ones (identity map, supervisor only, shared by every address
 * space); user space is [USER_BASE, USER_END). One CPU, so mutual
 * exclusion is "interrupts off" (irq_save()/irq_restore()); every other
 * kernel path runs with interrupts on and may be preempted by the LAPIC
 * timer, including page-fault handling and fork's page-table copy.
 */
#ifndef MINIOS_KERNEL_H
#define MINIOS_KERNEL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

#define PAGE_SIZE	4096u
#define PAGE_SHIFT	12
#define NPROC		32
#define KSTACK_SIZE	8192u

#define KCODE_SEL	0x08
#define KDATA_SEL	0x10
#define UCODE_SEL	0x1b
#define UDATA_SEL	0x23
#define TSS_SEL		0x28

#define VEC_TIMER	0x20
#define VEC_DISK	0x21
#define VEC_SYSCALL	0x80
#define VEC_SPURIOUS	0xff

#define EFLAGS_IF	0x200

#define KERNEL_MAP_END	USER_BASE	/* identity map ends here (1 GiB) */

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* the trap frame boot.S builds on the kernel stack */
struct trapframe {
	uint32_t gs, fs, es, ds;
	uint32_t edi, esi, ebp, esp_pusha, ebx, edx, ecx, eax;
	uint32_t vector, err;
	uint32_t eip, cs, eflags;
	uint32_t esp, ss;		/* only when coming from CPL3 */
};

/* --- cpu.c: port I/O, descriptors, LAPIC, serial, printing --- */
static inline void outb(uint16_t port, uint8_t v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t irq_save(void)
{
	uint32_t fl;

	asm volatile("pushfl; popl %0; cli" : "=r"(fl) : : "memory");
	return fl;
}

static inline void irq_restore(uint32_t fl)
{
	if (fl & EFLAGS_IF)
		asm volatile("sti" : : : "memory");
}

static inline void sti(void)
{
	asm volatile("sti" : : : "memory");
}

static inline void cli(void)
{
	asm volatile("cli" : : : "memory");
}

static inline uint32_t read_cr2(void)
{
	uint32_t v;

	asm volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline void write_cr3(uint32_t v)
{
	asm volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline void invlpg(uint32_t va)
{
	asm volatile("invlpg (%0)" : : "r"(va) : "memory");
}

void cpu_init(void);
void set_kernel_stack(uint32_t esp0);
void lapic_init(uint32_t count);
void lapic_eoi(void);
uint32_t lapic_read(uint32_t reg);
void serial_write(const char *s, uint32_t len);
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void __attribute__((noreturn)) machine_exit(uint32_t value);
void __attribute__((noreturn)) panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* --- mm.c: physical pages, address spaces, faults --- */
struct aspace {
	uint32_t cr3;		/* physical: page directory, or PAE PDPT */
	void *top;		/* the PD (2-level) or the PDPT page (PAE) */
	void *upd;		/* PAE: the user page directory (PDPT[1]) */
};

extern uint32_t mm_free_pages;
void mm_init(const uint32_t (*ranges)[2], int nranges, uint32_t kernel_end);
void mm_map_mmio(uint32_t pa);
int as_create(struct aspace *as);
void as_destroy(struct aspace *as);
int as_fork(struct aspace *child, struct aspace *parent);
int as_map_user_text(struct aspace *as);
/* 0 handled, -1 the access is invalid (the caller kills the process) */
int mm_fault(struct aspace *as, uint32_t va, uint32_t err);
/* pins a user page for kernel access: its physical address, or 0 */
uint32_t as_user_page(struct aspace *as, uint32_t va, int write);
void mm_load_kernel_cr3(void);
void paging_enable(void);
const char *mm_mode_name(void);

/* --- proc.c: processes, scheduler, syscalls --- */
/* P_EMBRYO: slot taken, not schedulable (being built or being reaped) */
enum pstate { P_UNUSED, P_EMBRYO, P_RUNNABLE, P_RUNNING, P_SLEEPING, P_ZOMBIE };

struct proc {
	enum pstate state;
	int pid;
	struct proc *parent;
	struct aspace as;
	uint32_t ksp;			/* saved kernel stack pointer */
	uint8_t *kstack;		/* KSTACK_SIZE bytes */
	const void *chan;		/* what a sleeper waits for */
	int exit_status;
	/* accounting (Documentation in README.rst) */
	uint32_t faults, demand, cow, cow_reuse, disk_ops, preempted;
	uint32_t ticks, syscalls, same_fault;
	int in_mm;			/* inside a page-table update path */
	uint32_t last_fault_va;
};

struct kstats {
	uint32_t ticks, switches, preemptions, kernel_preemptions;
	uint32_t mm_preemptions;	/* of those, in fault/fork/teardown */
	uint32_t faults, demand, cow, cow_reuse, spurious, pt_pages;
	uint32_t disk_ops, disk_irqs, disk_errors, syscalls, forks, exits;
	uint32_t idle_halts;
};

extern struct kstats kstats;
extern struct proc *cur;

void proc_start_init(void) __attribute__((noreturn));
void schedule(void);
void sleep_on(const void *chan);	/* interrupts must be off */
void wakeup(const void *chan);
void timer_tick(struct trapframe *tf);
void syscall(struct trapframe *tf);
void proc_kill(const char *why, struct trapframe *tf);

/* --- disk.c: the runner's DMA disk --- */
void disk_map(void);
int disk_init(void);
void disk_tick(void);
extern uint32_t disk_missed_irqs;
int disk_present(void);
/* sector I/O between the disk and physical pages; sleeps until done */
int disk_rw(int write, uint32_t sector, const uint32_t *pages,
	    uint32_t nsect);
void disk_irq(void);

/* --- main.c --- */
struct params {
	uint32_t procs, rounds, pages, shared, timer, sectors, verbose;
	uint32_t maxpass, minticks;
};
extern struct params params;
extern uint32_t mem_kb;

#endif
