/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * shadowvm userspace ABI.
 *
 * Contract: /dev/shadowvm -> VM fd -> vCPU fd, KVM-shaped. Every struct has
 * a fixed size and layout on x86-64; reserved fields must be zero on input
 * and are zero on output. A new field only ever takes reserved space, and
 * SHADOWVM_API_VERSION goes up when the meaning of anything changes.
 * Documentation/uapi.rst describes every ioctl and field.
 */
#ifndef _UAPI_LINUX_SHADOWVM_H
#define _UAPI_LINUX_SHADOWVM_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define SHADOWVM_API_VERSION	3

#define SHADOWVM_IO		0xB7

/* ---- /dev/shadowvm ioctls ---- */
#define SHADOWVM_GET_API_VERSION	_IO(SHADOWVM_IO, 0x00)
/* arg: pointer to struct shadowvm_vm_config, or 0 for defaults; returns VM fd */
#define SHADOWVM_CREATE_VM		_IOW(SHADOWVM_IO, 0x01, struct shadowvm_vm_config)
#define SHADOWVM_GET_VCPU_MMAP_SIZE	_IO(SHADOWVM_IO, 0x02)

/* ---- VM fd ioctls ---- */
#define SHADOWVM_SET_MEMORY_REGION	_IOW(SHADOWVM_IO, 0x10, struct shadowvm_memory_region)
/* arg: vCPU id (0 .. SHADOWVM_MAX_VCPUS - 1); returns vCPU fd */
#define SHADOWVM_CREATE_VCPU		_IO(SHADOWVM_IO, 0x11)
#define SHADOWVM_GET_VM_STATS		_IOR(SHADOWVM_IO, 0x12, struct shadowvm_stats)
#define SHADOWVM_GET_VM_CONFIG		_IOR(SHADOWVM_IO, 0x13, struct shadowvm_vm_config)
/* an MSI to the in-kernel local APICs; returns how many accepted it */
#define SHADOWVM_SIGNAL_MSI		_IOW(SHADOWVM_IO, 0x14, struct shadowvm_msi)

/* ---- vCPU fd ioctls ---- */
#define SHADOWVM_RUN			_IO(SHADOWVM_IO, 0x20)
#define SHADOWVM_GET_REGS		_IOR(SHADOWVM_IO, 0x21, struct shadowvm_regs)
#define SHADOWVM_SET_REGS		_IOW(SHADOWVM_IO, 0x22, struct shadowvm_regs)
#define SHADOWVM_GET_SREGS		_IOR(SHADOWVM_IO, 0x23, struct shadowvm_sregs)
#define SHADOWVM_SET_SREGS		_IOW(SHADOWVM_IO, 0x24, struct shadowvm_sregs)
#define SHADOWVM_GET_VCPU_STATS		_IOR(SHADOWVM_IO, 0x25, struct shadowvm_stats)
/* queue an external interrupt (KVM_INTERRUPT's meaning); any thread */
#define SHADOWVM_INTERRUPT		_IOW(SHADOWVM_IO, 0x26, struct shadowvm_interrupt)
/* queue an NMI; any thread */
#define SHADOWVM_NMI			_IO(SHADOWVM_IO, 0x27)
/* the local APIC's register page (xAPIC layout) */
#define SHADOWVM_GET_LAPIC		_IOR(SHADOWVM_IO, 0x2a, struct shadowvm_lapic_state)
#define SHADOWVM_SET_LAPIC		_IOW(SHADOWVM_IO, 0x2b, struct shadowvm_lapic_state)
/* vCPU: runnable, or waiting for a SIPI (an AP after power-on or INIT) */
#define SHADOWVM_GET_MP_STATE		_IOR(SHADOWVM_IO, 0x2c, struct shadowvm_mp_state)
#define SHADOWVM_SET_MP_STATE		_IOW(SHADOWVM_IO, 0x2d, struct shadowvm_mp_state)

/* ---- limits ---- */
#define SHADOWVM_MAX_VCPUS		8
#define SHADOWVM_MAX_MEM_SLOTS		32
/* Largest single slot: 64 GiB. */
#define SHADOWVM_MAX_SLOT_SIZE		(64ULL << 30)
/* Largest vm_config.max_shadow_pages: 262144 pages (1 GiB of shadow tables). */
#define SHADOWVM_MAX_SHADOW_PAGES	262144
/* Guest-physical addresses must stay below 2^SHADOWVM_GPA_BITS. */
#define SHADOWVM_GPA_BITS		46

/* ---- VM creation ---- */
/* vm_config.mmu_policy: every policy the module implements, numbered 1..N */
#define SHADOWVM_MMU_POLICY_DEFAULT		0	/* = WRITE_PROTECT */
#define SHADOWVM_MMU_POLICY_WRITE_PROTECT	1	/* emulate every guest PT write */
#define SHADOWVM_MMU_POLICY_UNSYNC		2	/* leaf tables may go out of sync */
#define SHADOWVM_MMU_POLICY_VTLB		3	/* no write-protection, flush on CR3/INVLPG */
#define SHADOWVM_MMU_POLICY_WP_NOEMU		4	/* write-protect, never emulate: unprotect */
/*
 * The short name of each policy (the runner's --policy), indexed by its
 * number: an initializer for a const char *[] whose length is N + 1.
 */
#define SHADOWVM_MMU_POLICY_NAMES {				\
	[SHADOWVM_MMU_POLICY_WRITE_PROTECT]	= "wp",		\
	[SHADOWVM_MMU_POLICY_UNSYNC]		= "unsync",	\
	[SHADOWVM_MMU_POLICY_VTLB]		= "vtlb",	\
	[SHADOWVM_MMU_POLICY_WP_NOEMU]		= "wp-noemu",	\
}

/* vm_config.flags */
/* HLT always exits to userspace (SHADOWVM_EXIT_HLT), never sleeps in the kernel */
#define SHADOWVM_VM_HLT_EXITS		(1u << 0)
/* hypercalls in the runner's range exit with SHADOWVM_EXIT_HYPERCALL */
#define SHADOWVM_VM_USER_HYPERCALLS	(1u << 1)
/*
 * Guest page faults on entries the guest made not present reach the
 * guest without an exit (policies that keep guest tables in sync: wp,
 * wp-noemu; long-mode guests); they are then not counted in PF_TRUE.
 */
#define SHADOWVM_VM_GUEST_PF_BYPASS	(1u << 2)
#define SHADOWVM_VM_FLAGS_ALL		(SHADOWVM_VM_HLT_EXITS | SHADOWVM_VM_USER_HYPERCALLS | \
					 SHADOWVM_VM_GUEST_PF_BYPASS)

struct shadowvm_vm_config {
	__u32 flags;			/* SHADOWVM_VM_* */
	__u32 mmu_policy;		/* SHADOWVM_MMU_POLICY_* */
	__u32 root_cache_size;		/* 0 = default (64); max 256 */
	__u32 max_shadow_pages;		/* 0 = default; cap on shadow page-table pages */
	__u64 reserved[6];		/* must be 0 */
};

/* ---- memory slots ---- */
#define SHADOWVM_MEM_READONLY		(1u << 0)

struct shadowvm_memory_region {
	__u32 slot;			/* 0 .. SHADOWVM_MAX_MEM_SLOTS - 1 */
	__u32 flags;			/* SHADOWVM_MEM_* */
	__u64 guest_phys_addr;		/* page aligned */
	__u64 memory_size;		/* page aligned; 0 deletes the slot */
	__u64 userspace_addr;		/* page aligned, in the caller's mm */
};

/* ---- registers ---- */
struct shadowvm_regs {
	__u64 rax, rbx, rcx, rdx;
	__u64 rsi, rdi, rsp, rbp;
	__u64 r8, r9, r10, r11;
	__u64 r12, r13, r14, r15;
	__u64 rip, rflags;
};

struct shadowvm_segment {
	__u64 base;
	__u32 limit;			/* byte granular: 0xffffffff with g=1 */
	__u16 selector;
	__u8  type;
	__u8  present, dpl, db, s, l, g, avl;
	__u8  unusable;
	__u8  padding;
};

struct shadowvm_dtable {
	__u64 base;
	__u16 limit;
	__u16 padding[3];
};

struct shadowvm_sregs {
	struct shadowvm_segment cs, ds, es, fs, gs, ss;
	struct shadowvm_segment tr, ldt;
	struct shadowvm_dtable gdt, idt;
	__u64 cr0, cr2, cr3, cr4, cr8;
	__u64 efer;
	__u64 apic_base;
	__u64 reserved[4];		/* must be 0 */
};

/* ---- the mmap'ed run structure ---- */
#define SHADOWVM_EXIT_UNKNOWN		0
#define SHADOWVM_EXIT_IO		1
#define SHADOWVM_EXIT_MMIO		2
#define SHADOWVM_EXIT_HLT		3
#define SHADOWVM_EXIT_SHUTDOWN		4
#define SHADOWVM_EXIT_FAIL_ENTRY	5
#define SHADOWVM_EXIT_INTERNAL_ERROR	6
#define SHADOWVM_EXIT_INTR		7
#define SHADOWVM_EXIT_IRQ_WINDOW_OPEN	8
#define SHADOWVM_EXIT_HYPERCALL		9
#define SHADOWVM_EXIT_SIPI		10	/* INIT then SIPI: the AP is at vector:0 in real mode */
#define SHADOWVM_EXIT_NR		11

#define SHADOWVM_EXIT_IO_IN		0
#define SHADOWVM_EXIT_IO_OUT		1

/* internal.suberror */
/*
 * EMULATION: an instruction could not be emulated. data[0]=rip,
 *   data[1]=the linear or guest-physical address involved, data[2..3]=up
 *   to 15 instruction bytes when they could be fetched.
 * UNHANDLED_EXIT: data[0]=VMX basic exit reason, data[1]=exit
 *   qualification, data[2]=rip.
 * DELIVERY: a #PF hit the delivery of an event (interrupt or exception)
 *   and the shadow MMU cannot fix it without the emulator (the guest's
 *   IDT, GDT or stack is on MMIO, or on a write-protected guest page table
 *   that the delivery also needs shadowed; other write-protected tables
 *   are unprotected and the event delivered again):
 *   data[0]=IDT-vectoring information, data[1]=VMX exit reason,
 *   data[2]=faulting linear address, data[3]=rip.
 * NO_MEMORY: guest memory or shadow state could not be had: data[0]=the
 *   guest-physical (or linear, or CR3) address, then rip and/or -errno.
 * BAD_STATE: the guest entered a state shadowvm does not virtualize (for
 *   example it cleared CR0.PE): data[0]=rip, data[1]=cr0.
 * SPLIT_LOCK: the guest's split-locked access raised #AC from the host's
 *   split-lock detection and the host refuses to let it go on (fatal
 *   mode): data[0]=rip.
 */
#define SHADOWVM_INTERNAL_ERROR_EMULATION	1
#define SHADOWVM_INTERNAL_ERROR_UNHANDLED_EXIT	2
#define SHADOWVM_INTERNAL_ERROR_DELIVERY	3
#define SHADOWVM_INTERNAL_ERROR_NO_MEMORY	4
#define SHADOWVM_INTERNAL_ERROR_BAD_STATE	5
#define SHADOWVM_INTERNAL_ERROR_SPLIT_LOCK	6

struct shadowvm_run {
	/* in */
	__u8 request_interrupt_window;	/* exit IRQ_WINDOW_OPEN when one can be injected */
	__u8 immediate_exit;		/* RUN returns -EINTR at once when set */
	/* out */
	__u8 ready_for_interrupt_injection; /* SHADOWVM_INTERRUPT would be taken now */
	__u8 if_flag;			/* guest RFLAGS.IF */
	/* in */
	__u8 padding1[4];		/* must be 0 */

	/* out */
	__u32 exit_reason;		/* SHADOWVM_EXIT_* */
	__u32 padding2;
	__u64 exit_count;		/* hardware exits taken by this vCPU so far */

	union {
		/* SHADOWVM_EXIT_IO: data lives at (char *)run + data_offset */
		struct {
			__u8  direction;	/* SHADOWVM_EXIT_IO_IN / _OUT */
			__u8  size;		/* 1, 2 or 4 */
			__u16 port;
			__u32 count;		/* number of size-byte items */
			__u64 data_offset;
		} io;
		/* SHADOWVM_EXIT_MMIO: for reads, fill data before the next RUN */
		struct {
			__u64 phys_addr;
			__u8  data[8];
			__u32 len;
			__u8  is_write;
			__u8  pad[3];
		} mmio;
		struct {
			__u64 hardware_entry_failure_reason;	/* basic exit reason */
			__u64 exit_qualification;
		} fail_entry;
		/* SHADOWVM_EXIT_HYPERCALL: fill ret; it lands in RAX at the next RUN */
		struct {
			__u64 nr;		/* RAX */
			__u64 args[6];		/* RBX, RCX, RDX, RSI, RDI, R8 */
			__u64 ret;
		} hypercall;
		/* SHADOWVM_EXIT_SIPI: the vCPU got INIT, then a SIPI with this vector */
		struct {
			__u32 vector;		/* start-up page: vector << 12 */
			__u32 pad;
		} sipi;
		struct {
			__u32 suberror;		/* SHADOWVM_INTERNAL_ERROR_* */
			__u32 ndata;
			__u64 data[16];
		} internal;
		char padding[256];
	};
};

/* SHADOWVM_INTERRUPT argument */
struct shadowvm_interrupt {
	__u32 irq;			/* vector 0..255 (as an 8259's INTA may give) */
	__u32 reserved;			/* must be 0 */
};

/*
 * Hypercalls: VMCALL with the number in RAX, arguments in RBX, RCX, RDX,
 * RSI, RDI, R8 (32-bit code: the low halves), the result in RAX.
 */
#define SHADOWVM_HC_PING		0	/* no-op in the kernel, returns 0 */
#define SHADOWVM_HC_USER_FIRST		0x10000	/* runner range (SHADOWVM_VM_USER_HYPERCALLS) */
#define SHADOWVM_HC_USER_LAST		0x1ffff
/* hypercall results (RAX) */
#define SHADOWVM_HC_ENOSYS		(-1000)	/* unknown number (KVM's value) */
#define SHADOWVM_HC_EPERM		(-1)	/* VMCALL at CPL > 0 */

/* PIO data area in the run page: starts here, up to the page end. */
#define SHADOWVM_RUN_IO_DATA_OFFSET	1024

/* ---- statistics ---- */
/*
 * Counters indexed by SHADOWVM_STAT_*. GET_VM_STATS sums all vCPUs plus
 * VM-wide MMU counters; GET_VCPU_STATS covers one vCPU. New counters are
 * appended; nr_stats tells how many the module filled.
 */
enum shadowvm_stat_id {
	/* exits by VMX basic reason bucket */
	SHADOWVM_STAT_EXITS_TOTAL,
	SHADOWVM_STAT_EXIT_EXCEPTION,	/* excluding #PF */
	SHADOWVM_STAT_EXIT_PF,
	SHADOWVM_STAT_EXIT_EXTINT,
	SHADOWVM_STAT_EXIT_NMI,
	SHADOWVM_STAT_EXIT_TRIPLE_FAULT,
	SHADOWVM_STAT_EXIT_INTR_WINDOW,
	SHADOWVM_STAT_EXIT_CPUID,
	SHADOWVM_STAT_EXIT_HLT,
	SHADOWVM_STAT_EXIT_INVLPG,
	SHADOWVM_STAT_EXIT_RDTSC,
	SHADOWVM_STAT_EXIT_CR_ACCESS,
	SHADOWVM_STAT_EXIT_CR3_LOAD,
	SHADOWVM_STAT_EXIT_CR3_STORE,
	SHADOWVM_STAT_EXIT_DR_ACCESS,
	SHADOWVM_STAT_EXIT_IO,
	SHADOWVM_STAT_EXIT_MSR_READ,
	SHADOWVM_STAT_EXIT_MSR_WRITE,
	SHADOWVM_STAT_EXIT_VMX_INSN,
	SHADOWVM_STAT_EXIT_PREEMPT_TIMER,
	SHADOWVM_STAT_EXIT_OTHER,
	/* userspace round trips */
	SHADOWVM_STAT_USER_EXIT_IO,
	SHADOWVM_STAT_USER_EXIT_MMIO,
	SHADOWVM_STAT_SIGNAL_EXITS,
	/* shadow MMU */
	SHADOWVM_STAT_PF_TRUE,		/* injected into the guest */
	SHADOWVM_STAT_PF_HIDDEN,	/* fixed in the shadow, guest not told */
	SHADOWVM_STAT_PF_HIDDEN_FILL,
	SHADOWVM_STAT_PF_HIDDEN_AD,	/* guest A/D bit set by us */
	SHADOWVM_STAT_PF_HIDDEN_PT_WRITE, /* emulated guest page-table write */
	SHADOWVM_STAT_PF_HIDDEN_MMIO,
	SHADOWVM_STAT_PF_HIDDEN_UNSYNC,
	SHADOWVM_STAT_PF_HIDDEN_RESYNC,
	SHADOWVM_STAT_PF_SPURIOUS,
	SHADOWVM_STAT_SP_CREATED,
	SHADOWVM_STAT_SP_ZAPPED,
	SHADOWVM_STAT_SP_RECYCLED,
	SHADOWVM_STAT_SP_LIVE,		/* gauge */
	SHADOWVM_STAT_PT_WRITE_FLOODED,
	SHADOWVM_STAT_PT_UNPROTECT,
	SHADOWVM_STAT_ROOT_HITS,
	SHADOWVM_STAT_ROOT_MISSES,
	SHADOWVM_STAT_INVLPG,
	SHADOWVM_STAT_CR3_LOADS,
	SHADOWVM_STAT_ADDRESS_SPACES,	/* distinct guest CR3s seen */
	SHADOWVM_STAT_TLB_FLUSHES,
	SHADOWVM_STAT_PAGES_PINNED,	/* guest pages pinned so far (they stay pinned until the VM or slot goes) */
	SHADOWVM_STAT_EMULATED_INSNS,
	SHADOWVM_STAT_INJECTED_EXCEPTIONS,
	SHADOWVM_STAT_CR3_NOFLUSH,	/* CR3 loads with the PCID no-flush bit */
	SHADOWVM_STAT_EMULATED_LOCKED,	/* locked RMW/XCHG done as an atomic cmpxchg */
	SHADOWVM_STAT_LOCKED_AS_WRITE,	/* locked RMW that could not be atomic (split, MMIO) */
	SHADOWVM_STAT_PF_PREFETCHED,	/* shadow entries filled ahead of a fault (prefetch) */
	SHADOWVM_STAT_PF_PREFETCH_UNUSED, /* prefetched entries dropped before any access */
	SHADOWVM_STAT_MMIO_KERNEL,	/* MMIO accesses done by an in-kernel device (LAPIC) */
	SHADOWVM_STAT_EMULATED_STRING,	/* string instructions emulated (one REP iteration each) */
	SHADOWVM_STAT_EXIT_INVPCID,	/* guest INVPCID exits (policies that intercept INVLPG) */
	SHADOWVM_STAT_UNKNOWN_MSR,	/* RDMSR/WRMSR of an index not emulated: #GP */
	/* events (vmx/inject.c) */
	SHADOWVM_STAT_IRQ_INJECTED,	/* external interrupts injected (runner + LAPIC) */
	SHADOWVM_STAT_NMI_INJECTED,
	SHADOWVM_STAT_EVENTS_REINJECTED, /* delivery cut by an exit, redone */
	SHADOWVM_STAT_EXIT_NMI_WINDOW,
	SHADOWVM_STAT_HALTS_IN_KERNEL,	/* HLT that slept in the kernel */
	SHADOWVM_STAT_HALT_WAKEUPS,	/* ... and was woken by an event */
	SHADOWVM_STAT_HALT_NS,		/* time slept in HLT, ns */
	SHADOWVM_STAT_USER_EXIT_IRQ_WINDOW,
	SHADOWVM_STAT_HYPERCALLS,	/* VMCALL exits */
	SHADOWVM_STAT_USER_EXIT_HYPERCALL,
	/* local APIC (lapic*.c) */
	SHADOWVM_STAT_LAPIC_IRQS_ACCEPTED, /* vectors the LAPIC moved IRR -> ISR */
	SHADOWVM_STAT_LAPIC_EOIS,
	SHADOWVM_STAT_LAPIC_TIMER_FIRES,
	SHADOWVM_STAT_LAPIC_IPIS,	/* ICR writes that sent an IPI */
	SHADOWVM_STAT_LAPIC_UNSUPPORTED, /* accesses the model refuses or ignores */
	/* guest #PF bypass (SHADOWVM_VM_GUEST_PF_BYPASS) */
	SHADOWVM_STAT_PF_NOTRAP,	/* shadow entries left to the guest's own P=0 faults */
	/* large guest pages (2/4 MiB, 1 GiB) and 2 MiB shadow entries */
	SHADOWVM_STAT_LARGE_MAPPED,	/* 2 MiB shadow leaves built */
	SHADOWVM_STAT_LARGE_NO_HOST,	/* 4 KiB fills in a large page: no 2 MiB host page */
	SHADOWVM_STAT_LARGE_NO_WP,	/* 4 KiB fills in a large page: a guest table inside */
	SHADOWVM_STAT_LARGE_ZAPPED,	/* 2 MiB leaves zapped: a frame became a guest table */
	SHADOWVM_STAT_REALMODE_ENTRIES,	/* the guest entered real mode (v86 form) */
	SHADOWVM_STAT_REALMODE_EMULATED, /* real-mode instructions done after a #GP */
	SHADOWVM_STAT_REALMODE_INTS,	/* deliveries through the vector table */
	SHADOWVM_STAT_PF_WP0_EMULATED,	/* CR0.WP=0 supervisor writes kept from SMAP: emulated */
	/* PAUSE-loop exiting (vmx/pause.c) */
	SHADOWVM_STAT_EXIT_PAUSE,	/* PAUSE-loop exits */
	SHADOWVM_STAT_PAUSE_YIELDS,	/* ... that yielded to a preempted vCPU of the VM */
	SHADOWVM_STAT_NR
};

#define SHADOWVM_STATS_MAX	128

struct shadowvm_stats {
	__u32 nr_stats;			/* out: entries filled (SHADOWVM_STAT_NR) */
	__u32 mmu_policy;		/* out */
	__u64 reserved[3];
	__u64 val[SHADOWVM_STATS_MAX];
};

/* ---- local APIC ---- */
/*
 * xAPIC MSI: address 0xFEE00000 | dest APIC ID << 12 (bits 19:12) |
 * redirection hint (bit 3) | destination mode (bit 2, 1 = logical);
 * data: vector (7:0), delivery mode (10:8: fixed 0, lowest priority 1,
 * NMI 4), level (14), trigger mode (15). Other bits must be 0.
 */
struct shadowvm_msi {
	__u64 address;
	__u32 data;
	__u32 flags;			/* must be 0 */
	__u64 reserved[2];		/* must be 0 */
};

/* The xAPIC register page: register at offset o is regs[o .. o + 3]. */
struct shadowvm_lapic_state {
	__u8 regs[1024];
};

/* SHADOWVM_GET/SET_MP_STATE */
#define SHADOWVM_MP_STATE_RUNNABLE	0	/* runs at the next RUN (maybe halted) */
#define SHADOWVM_MP_STATE_WAIT_SIPI	1	/* RUN sleeps until INIT/SIPI */
struct shadowvm_mp_state {
	__u32 mp_state;			/* SHADOWVM_MP_STATE_* */
	__u32 reserved;			/* must be 0 */
};

#endif /* _UAPI_LINUX_SHADOWVM_H */
