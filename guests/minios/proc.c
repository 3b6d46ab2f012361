// SPDX-License-Identifier: GPL-2.0
/*
 * minios processes: a preemptive round-robin scheduler driven by the LAPIC
 * timer, fork/exit/wait, and the int 0x80 system calls.
 *
 * Contract:
 *  - procs[] slots: P_UNUSED -> P_EMBRYO (being built by fork, or being
 *    reaped by wait) -> P_RUNNABLE <-> P_RUNNING <-> P_SLEEPING ->
 *    P_ZOMBIE -> (parent's wait) P_EMBRYO -> P_UNUSED. State changes and
 *    the choice of the next process happen with interrupts off.
 *  - each process has its own kernel stack (kstacks[slot]) and address
 *    space. A zombie's stack and address space are freed by the parent's
 *    wait (children of an exiting process go to init), never while the
 *    zombie can still run: it last ran inside schedule(), which switched
 *    away for good. init (pid 1) ending ends the machine (finish()).
 *  - the timer interrupt preempts whatever runs with interrupts on, at CPL3
 *    or in the kernel (syscalls and page faults run with interrupts on),
 *    except the scheduler's own idle loop (in_sched).
 */
#include "kernel.h"

extern void swtch(uint32_t *old_ksp, uint32_t new_ksp);
extern char forkret[];
extern void user_main(void);
extern uint32_t baseline_free;

struct kstats kstats;
struct proc *cur;
static struct proc procs[NPROC];
static struct proc *initproc;
static uint8_t kstacks[NPROC][KSTACK_SIZE] __attribute__((aligned(4096)));
static int next_pid = 1;
static int in_sched;

static struct proc *proc_alloc(void)
{
	uint32_t fl = irq_save();
	struct proc *p = NULL;
	int i;

	for (i = 0; i < NPROC; i++) {
		if (procs[i].state == P_UNUSED) {
			p = &procs[i];
			memset(p, 0, sizeof(*p));
			p->state = P_EMBRYO;
			p->pid = next_pid++;
			p->kstack = kstacks[i];
			break;
		}
	}
	irq_restore(fl);
	return p;
}

static void proc_free_slot(struct proc *p)
{
	uint32_t fl = irq_save();

	p->state = P_UNUSED;
	irq_restore(fl);
}

/* the new process's kernel stack: tf, then forkret for swtch to return to */
static void proc_setup_stack(struct proc *p, const struct trapframe *tf)
{
	uint32_t *sp = (uint32_t *)(p->kstack + KSTACK_SIZE);
	struct trapframe *ntf;

	sp = (uint32_t *)((uint8_t *)sp - sizeof(*ntf));
	ntf = (struct trapframe *)sp;
	*ntf = *tf;
	*--sp = (uint32_t)forkret;
	*--sp = 0;	/* ebp */
	*--sp = 0;	/* ebx */
	*--sp = 0;	/* esi */
	*--sp = 0;	/* edi */
	p->ksp = (uint32_t)sp;
}

/* the tail of a first switch to a new process (called by forkret) */
void finish_switch(void)
{
}

static void switch_to(struct proc *prev, struct proc *next)
{
	cur = next;
	next->state = P_RUNNING;
	set_kernel_stack((uint32_t)next->kstack + KSTACK_SIZE);
	if (next->as.cr3 != prev->as.cr3)
		write_cr3(next->as.cr3);
	kstats.switches++;
	swtch(&prev->ksp, next->ksp);
}

/*
 * Runs the next runnable process after cur in slot order (cur itself if
 * it is the only one); waits with interrupts on when none is runnable.
 * Returns 1 when it switched away (and later back).
 */
static int do_schedule(void)
{
	uint32_t fl = irq_save();
	struct proc *prev = cur, *next, *p;
	int i, start = prev - procs, switched = 0;

	in_sched = 1;
	for (;;) {
		next = NULL;
		for (i = 1; i <= NPROC; i++) {
			p = &procs[(start + i) % NPROC];
			if (p->state == P_RUNNABLE ||
			    (p == prev && p->state == P_RUNNING)) {
				next = p;
				break;
			}
		}
		if (next)
			break;
		kstats.idle_halts++;
		asm volatile("sti; hlt; cli" : : : "memory");
	}
	in_sched = 0;
	if (next != prev) {
		if (prev->state == P_RUNNING)
			prev->state = P_RUNNABLE;
		switch_to(prev, next);
		switched = 1;
	}
	irq_restore(fl);
	return switched;
}

void schedule(void)
{
	do_schedule();
}

/* interrupts off; the caller re-checks its condition afterwards */
void sleep_on(const void *chan)
{
	cur->chan = chan;
	cur->state = P_SLEEPING;
	do_schedule();
	cur->chan = NULL;
}

void wakeup(const void *chan)
{
	uint32_t fl = irq_save();
	int i;

	for (i = 0; i < NPROC; i++)
		if (procs[i].state == P_SLEEPING && procs[i].chan == chan)
			procs[i].state = P_RUNNABLE;
	irq_restore(fl);
}

void timer_tick(struct trapframe *tf)
{
	int in_mm;

	kstats.ticks++;
	if (cur)
		cur->ticks++;
	lapic_eoi();
	disk_tick();
	if (in_sched || !cur || cur->state != P_RUNNING)
		return;
	in_mm = cur->in_mm;
	if (do_schedule()) {
		kstats.preemptions++;
		cur->preempted++;
		if ((tf->cs & 3) == 0)
			kstats.kernel_preemptions++;
		if (in_mm)
			kstats.mm_preemptions++;
	}
}

/* --- exit, wait, the end of the machine --- */
static void __attribute__((noreturn)) finish(int status)
{
	uint32_t leaked;
	int i, others = 0;

	for (i = 0; i < NPROC; i++)
		if (&procs[i] != cur && procs[i].state != P_UNUSED)
			others++;
	mm_load_kernel_cr3();
	as_destroy(&cur->as);
	leaked = baseline_free - mm_free_pages;
	kprintf("minios: init exited with %d; %d processes left\n", status,
		others);
	kprintf("minios: totals ticks=%u switches=%u preemptions=%u kernel_preemptions=%u mm_preemptions=%u idle_halts=%u\n",
		kstats.ticks, kstats.switches, kstats.preemptions,
		kstats.kernel_preemptions, kstats.mm_preemptions,
		kstats.idle_halts);
	kprintf("minios: totals faults=%u demand=%u cow=%u cow_reuse=%u spurious=%u forks=%u exits=%u syscalls=%u\n",
		kstats.faults, kstats.demand, kstats.cow, kstats.cow_reuse,
		kstats.spurious, kstats.forks, kstats.exits, kstats.syscalls);
	kprintf("minios: totals disk_ops=%u disk_irqs=%u disk_missed_irqs=%u disk_errors=%u leaked_pages=%u\n",
		kstats.disk_ops, kstats.disk_irqs, disk_missed_irqs,
		kstats.disk_errors, leaked);
	if (status || others || leaked || kstats.disk_errors) {
		kprintf("minios: FAIL\n");
		machine_exit(1);
	}
	kprintf("minios: PASS\n");
	machine_exit(0);
}

static void __attribute__((noreturn)) do_exit(int status)
{
	int i;

	cli();
	cur->exit_status = status;
	for (i = 0; i < NPROC; i++) {
		if (procs[i].state != P_UNUSED && procs[i].parent == cur) {
			procs[i].parent = initproc;
			if (procs[i].state == P_ZOMBIE)
				wakeup(initproc);
		}
	}
	if (cur == initproc)
		finish(status);
	kstats.exits++;
	cur->state = P_ZOMBIE;
	wakeup(cur->parent);
	do_schedule();
	panic("zombie %d ran again", cur->pid);
}

void proc_kill(const char *why, struct trapframe *tf)
{
	kprintf("minios: pid %d killed: %s: vector %u err 0x%x eip 0x%x cr2 0x%x\n",
		cur->pid, why, tf->vector, tf->err, tf->eip, read_cr2());
	do_exit(128 + (int)tf->vector);
}

static int sys_wait(uint32_t status_va)
{
	uint32_t fl = irq_save();
	struct proc *p, *z;
	int i, have, pid, status;

	for (;;) {
		have = 0;
		z = NULL;
		for (i = 0; i < NPROC; i++) {
			p = &procs[i];
			if (p->state == P_UNUSED || p->parent != cur)
				continue;
			have = 1;
			if (p->state == P_ZOMBIE) {
				z = p;
				break;
			}
		}
		if (z || !have)
			break;
		sleep_on(cur);
	}
	if (!z) {
		irq_restore(fl);
		return -1;
	}
	z->state = P_EMBRYO;	/* ours to tear down */
	irq_restore(fl);
	pid = z->pid;
	status = z->exit_status;
	if (cur == initproc || params.verbose)
		kprintf("minios: pid %d exited %d: faults %u demand %u cow %u cow_reuse %u disk %u preempted %u ticks %u syscalls %u\n",
			pid, status, z->faults, z->demand, z->cow,
			z->cow_reuse, z->disk_ops, z->preempted, z->ticks,
			z->syscalls);
	cur->in_mm++;
	as_destroy(&z->as);
	cur->in_mm--;
	proc_free_slot(z);
	if (status_va) {
		if (status_va < USER_LAZY || status_va > USER_END - 4)
			return -1;
		*(volatile int *)status_va = status;
	}
	return pid;
}

static int sys_fork(struct trapframe *tf)
{
	struct proc *np = proc_alloc();
	struct trapframe ctf;
	uint32_t fl;
	int ret;

	if (!np)
		return -1;
	cur->in_mm++;
	ret = as_fork(&np->as, &cur->as);
	cur->in_mm--;
	if (ret) {
		proc_free_slot(np);
		return -1;
	}
	np->parent = cur;
	ctf = *tf;
	ctf.eax = 0;
	proc_setup_stack(np, &ctf);
	kstats.forks++;
	fl = irq_save();
	np->state = P_RUNNABLE;
	irq_restore(fl);
	return np->pid;
}

static int sys_write(uint32_t va, uint32_t len)
{
	char buf[512];
	uint32_t done = 0, n, i;

	if (va < USER_BASE || len > USER_END - va || len > 4096)
		return -1;
	while (done < len) {
		n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		for (i = 0; i < n; i++)	/* may fault: preemptible */
			buf[i] = ((volatile char *)va)[done + i];
		serial_write(buf, n);
		done += n;
	}
	return len;
}

/* (op | nsect << 8, sector, buf): whole pages of the caller's memory */
static int sys_disk(uint32_t opn, uint32_t sector, uint32_t va)
{
	uint32_t op = opn & 0xff, nsect = opn >> 8, pages[4], i, np;
	int ret;

	if (!disk_present() || op > DISK_OP_WRITE || !nsect || nsect > 32 ||
	    (va & (PAGE_SIZE - 1)) || va < USER_LAZY ||
	    va + nsect * 512 > USER_END)
		return -1;
	np = (nsect * 512 + PAGE_SIZE - 1) / PAGE_SIZE;
	for (i = 0; i < np; i++) {
		pages[i] = as_user_page(&cur->as, va + i * PAGE_SIZE,
					op == DISK_OP_READ);
		if (!pages[i])
			return -1;
	}
	ret = disk_rw(op == DISK_OP_WRITE, sector, pages, nsect);
	if (!ret)
		cur->disk_ops++;
	return ret;
}

static int sys_param(uint32_t id)
{
	switch (id) {
	case PARAM_PROCS: return params.procs;
	case PARAM_ROUNDS: return params.rounds;
	case PARAM_PAGES: return params.pages;
	case PARAM_SHARED: return params.shared;
	case PARAM_SECTORS: return params.sectors;
	case PARAM_DISK: return disk_present();
	case PARAM_MAXPASS: return params.maxpass;
	case PARAM_MINTICKS: return params.minticks;
	case PARAM_VERBOSE: return params.verbose;
	default: return -1;
	}
}

void syscall(struct trapframe *tf)
{
	sti();
	kstats.syscalls++;
	cur->syscalls++;
	switch (tf->eax) {
	case SYS_WRITE:
		tf->eax = sys_write(tf->ebx, tf->ecx);
		break;
	case SYS_YIELD:
		schedule();
		tf->eax = 0;
		break;
	case SYS_EXIT:
		do_exit((int)tf->ebx);
	case SYS_FORK:
		tf->eax = sys_fork(tf);
		break;
	case SYS_WAIT:
		tf->eax = sys_wait(tf->ebx);
		break;
	case SYS_GETPID:
		tf->eax = cur->pid;
		break;
	case SYS_TICKS:
		tf->eax = kstats.ticks;
		break;
	case SYS_PARAM:
		tf->eax = sys_param(tf->ebx);
		break;
	case SYS_DISK:
		tf->eax = sys_disk(tf->ebx, tf->ecx, tf->edx);
		break;
	default:
		tf->eax = -1;
	}
}

void proc_start_init(void)
{
	struct proc *p = proc_alloc();
	struct trapframe tf;
	uint32_t dummy;

	if (!p || as_create(&p->as) || as_map_user_text(&p->as))
		panic("cannot create init");
	memset(&tf, 0, sizeof(tf));
	tf.ds = tf.es = tf.fs = tf.gs = UDATA_SEL;
	tf.ss = UDATA_SEL;
	tf.cs = UCODE_SEL;
	tf.eip = (uint32_t)user_main;
	tf.esp = USER_STACK_TOP - 16;
	tf.eflags = EFLAGS_IF | 0x2;
	proc_setup_stack(p, &tf);
	initproc = p;
	p->parent = p;
	cli();
	cur = p;
	p->state = P_RUNNING;
	set_kernel_stack((uint32_t)p->kstack + KSTACK_SIZE);
	write_cr3(p->as.cr3);
	swtch(&dummy, p->ksp);
	panic("init returned to the boot stack");
}
