// SPDX-License-Identifier: GPL-2.0
/*
 * minios: CPU tables (GDT, TSS, IDT), trap dispatch, the xAPIC, the
 * serial console and the exit port.
 *
 * Contract: cpu_init() loads flat kernel/user segments, a TSS whose esp0
 * set_kernel_stack() updates on every switch, and an IDT whose gates are
 * interrupt gates (IF cleared on entry; handlers that may sleep or take a
 * long time re-enable interrupts themselves) except int 0x80, reachable
 * from CPL3. lapic_init() software-enables the xAPIC at 0xFEE00000 (mapped
 * uncached by mm), masks LINT0/LINT1 (so a legacy PIC cannot interfere) and
 * starts the LVT timer in periodic mode. Console output is serialised with
 * interrupts off, one line at a time.
 */
#include "kernel.h"
#include "fmt.h"

#define LAPIC_BASE	0xfee00000u
#define LAPIC_ID	0x020
#define LAPIC_VER	0x030
#define LAPIC_TPR	0x080
#define LAPIC_EOI	0x0b0
#define LAPIC_SVR	0x0f0
#define LAPIC_ESR	0x280
#define LAPIC_LVT_TIMER	0x320
#define LAPIC_LVT_LINT0	0x350
#define LAPIC_LVT_LINT1	0x360
#define LAPIC_LVT_ERR	0x370
#define LAPIC_TIMER_ICR	0x380
#define LAPIC_TIMER_CCR	0x390
#define LAPIC_TIMER_DCR	0x3e0
#define LVT_MASKED	0x10000u
#define LVT_PERIODIC	0x20000u

#define COM1		0x3f8
#define EXIT_PORT	0xf4

struct tss {
	uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
	uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
	uint32_t es, cs, ss, ds, fs, gs, ldt;
	uint16_t trap, iomap;
} __attribute__((packed));

struct gate {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

static uint64_t gdt[6];
static struct tss tss;
static struct gate idt[256];

extern char vector_0[], vector_1[], vector_2[], vector_3[], vector_4[];
extern char vector_5[], vector_6[], vector_7[], vector_8[], vector_9[];
extern char vector_10[], vector_11[], vector_12[], vector_13[];
extern char vector_14[], vector_15[], vector_16[], vector_17[];
extern char vector_18[], vector_19[], vector_20[], vector_21[];
extern char vector_32[], vector_33[], vector_128[], vector_255[];
extern char vector_other[];

static char *const exc_stubs[22] = {
	vector_0, vector_1, vector_2, vector_3, vector_4, vector_5,
	vector_6, vector_7, vector_8, vector_9, vector_10, vector_11,
	vector_12, vector_13, vector_14, vector_15, vector_16, vector_17,
	vector_18, vector_19, vector_20, vector_21,
};

static uint64_t seg_desc(uint32_t base, uint32_t limit, uint32_t type,
			 uint32_t flags)
{
	uint64_t d;

	d = (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16);
	d |= (uint64_t)type << 40;
	d |= (uint64_t)((limit >> 16) & 0xf) << 48;
	d |= (uint64_t)flags << 52;
	d |= (uint64_t)(base >> 24) << 56;
	return d;
}

static void set_gate(int vec, void *fn, int dpl)
{
	uint32_t a = (uint32_t)fn;

	idt[vec].off_lo = a & 0xffff;
	idt[vec].off_hi = a >> 16;
	idt[vec].sel = KCODE_SEL;
	idt[vec].zero = 0;
	idt[vec].type = 0x8e | (dpl << 5);	/* present 32-bit interrupt gate */
}

void set_kernel_stack(uint32_t esp0)
{
	tss.esp0 = esp0;
}

/* 8 data bits, no parity, 1 stop bit, 115200 baud, no interrupts */
static void serial_init(void)
{
	outb(COM1 + 1, 0);
	outb(COM1 + 3, 0x80);
	outb(COM1 + 0, 1);
	outb(COM1 + 1, 0);
	outb(COM1 + 3, 0x03);
}

void cpu_init(void)
{
	struct { uint16_t limit; uint32_t base; } __attribute__((packed)) d;
	int i;

	serial_init();
	gdt[0] = 0;
	gdt[1] = seg_desc(0, 0xfffff, 0x9a, 0xc);	/* kernel code */
	gdt[2] = seg_desc(0, 0xfffff, 0x92, 0xc);	/* kernel data */
	gdt[3] = seg_desc(0, 0xfffff, 0xfa, 0xc);	/* user code */
	gdt[4] = seg_desc(0, 0xfffff, 0xf2, 0xc);	/* user data */
	tss.ss0 = KDATA_SEL;
	tss.iomap = sizeof(tss);		/* no I/O bitmap: IN/OUT #GP at CPL3 */
	gdt[5] = seg_desc((uint32_t)&tss, sizeof(tss) - 1, 0x89, 0);
	d.limit = sizeof(gdt) - 1;
	d.base = (uint32_t)gdt;
	asm volatile("lgdt %0\n\t"
		     "ljmp %1, $1f\n"
		     "1:\n\t"
		     "movw %w2, %%ds\n\t"
		     "movw %w2, %%es\n\t"
		     "movw %w2, %%fs\n\t"
		     "movw %w2, %%gs\n\t"
		     "movw %w2, %%ss\n\t"
		     "ltr %w3"
		     : : "m"(d), "i"(KCODE_SEL), "r"(KDATA_SEL), "r"(TSS_SEL)
		     : "memory");

	for (i = 0; i < 256; i++)
		set_gate(i, vector_other, 0);
	for (i = 0; i < 22; i++)
		set_gate(i, exc_stubs[i], 0);
	set_gate(VEC_TIMER, vector_32, 0);
	set_gate(VEC_DISK, vector_33, 0);
	set_gate(VEC_SYSCALL, vector_128, 3);
	set_gate(VEC_SPURIOUS, vector_255, 0);
	d.limit = sizeof(idt) - 1;
	d.base = (uint32_t)idt;
	asm volatile("lidt %0" : : "m"(d) : "memory");
}

/* --- xAPIC --- */
static inline volatile uint32_t *lapic_reg(uint32_t reg)
{
	return (volatile uint32_t *)(LAPIC_BASE + reg);
}

uint32_t lapic_read(uint32_t reg)
{
	return *lapic_reg(reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	*lapic_reg(reg) = v;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

void lapic_init(uint32_t count)
{
	uint32_t ver = lapic_read(LAPIC_VER);

	if (ver == 0xffffffffu)		/* unclaimed MMIO: no timer, no MSIs */
		panic("no xAPIC at 0x%x (its registers read all-ones)",
		      LAPIC_BASE);
	/* a BIOS may have left the 8259 PIC unmasked at vectors 8-15 */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);

	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);	/* software enable */
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
	lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
	lapic_write(LAPIC_LVT_ERR, LVT_MASKED);
	lapic_write(LAPIC_TIMER_DCR, 0xb);		/* divide by 1 */
	lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, count);
	kprintf("minios: lapic id %u version 0x%x, timer periodic count %u ccr %u\n",
		lapic_read(LAPIC_ID) >> 24, ver & 0xff, count,
		lapic_read(LAPIC_TIMER_CCR));
}

/* --- console --- */
void serial_write(const char *s, uint32_t len)
{
	uint32_t fl = irq_save(), i;
	int spin;

	for (i = 0; i < len; i++) {
		for (spin = 0; spin < 100000; spin++)
			if (inb(COM1 + 5) & 0x20)
				break;
		outb(COM1, s[i]);
	}
	irq_restore(fl);
}

static int kvprintf(const char *fmt, va_list ap)
{
	char buf[256];
	int n = fmt_vsn(buf, sizeof(buf), fmt, ap);

	serial_write(buf, n);
	return n;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

int bochs_shutdown;

void machine_exit(uint32_t value)
{
	const char *s = "Shutdown";

	int spin;

	cli();
	for (spin = 0; spin < 100000; spin++)	/* let the UART drain */
		if (inb(COM1 + 5) & 0x40)
			break;
	outb(EXIT_PORT, value);
	if (bochs_shutdown)	/* bare Bochs (debugging): its shutdown port */
		while (*s)
			outb(0x8900, *s++);
	for (;;)
		asm volatile("cli; hlt");
}

void panic(const char *fmt, ...)
{
	va_list ap;

	cli();
	kprintf("minios: PANIC: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\nminios: FAIL\n");
	machine_exit(3);
}

void *memset(void *d, int c, size_t n)
{
	asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *r = d;

	asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return r;
}

/* --- trap dispatch --- */
static void dump_frame(struct trapframe *tf)
{
	kprintf("minios: vector %u err 0x%x eip 0x%x cs 0x%x eflags 0x%x cr2 0x%x\n",
		tf->vector, tf->err, tf->eip, tf->cs, tf->eflags, read_cr2());
	kprintf("minios: eax %x ebx %x ecx %x edx %x esi %x edi %x ebp %x\n",
		tf->eax, tf->ebx, tf->ecx, tf->edx, tf->esi, tf->edi, tf->ebp);
}

static void page_fault(struct trapframe *tf)
{
	uint32_t va = read_cr2();
	int r = -1;

	/* CR2 is saved: from here the handler may be preempted */
	if (tf->eflags & EFLAGS_IF)
		sti();
	kstats.faults++;
	if (cur && va >= USER_BASE && va < USER_END) {
		cur->faults++;
		cur->in_mm++;
		r = mm_fault(&cur->as, va, tf->err);
		cur->in_mm--;
		if (r > 0) {
			/* nothing to do: a stale translation; bounded */
			kstats.spurious++;
			if (va == cur->last_fault_va && ++cur->same_fault > 1000)
				r = -1;
			else
				r = 0;
		} else {
			cur->same_fault = 0;
		}
		cur->last_fault_va = va;
	}
	if (r == 0)
		return;
	if (cur)	/* a user access, or the kernel on behalf of a process */
		proc_kill("bad page fault", tf);
	dump_frame(tf);
	panic("kernel page fault at 0x%x", va);
}

void trap(struct trapframe *tf)
{
	switch (tf->vector) {
	case 14:
		page_fault(tf);
		break;
	case VEC_TIMER:
		timer_tick(tf);
		break;
	case VEC_DISK:
		kstats.disk_irqs++;
		disk_irq();
		lapic_eoi();
		break;
	case VEC_SYSCALL:
		syscall(tf);
		break;
	case VEC_SPURIOUS:
		break;		/* no EOI for the spurious vector */
	default:
		if ((tf->cs & 3) == 3 && cur)
			proc_kill("exception", tf);
		dump_frame(tf);
		panic("unexpected vector %u in the kernel", tf->vector);
	}
}
