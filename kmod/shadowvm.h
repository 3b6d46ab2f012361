/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shadowvm internal interfaces: the VM, the vCPU and the contracts between
 * the files of the module. Each .c file implements one concern and exports
 * its entry points here.
 */
#ifndef SHADOWVM_H
#define SHADOWVM_H

#include <linux/types.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/preempt.h>
#include <linux/mm_types.h>
#include <linux/printk.h>
#include <linux/srcu.h>
#include <linux/wait.h>
#include <linux/atomic.h>
#include "../uapi/linux/shadowvm.h"

#define SHV_NAME "shadowvm"

#define shv_warn_rl(fmt, ...) pr_warn_ratelimited(SHV_NAME ": " fmt, ##__VA_ARGS__)
#define shv_info_rl(fmt, ...) pr_info_ratelimited(SHV_NAME ": " fmt, ##__VA_ARGS__)

/* ---- vmx/caps.c: capabilities and per-CPU VMX operation ---- */
struct shv_vmx_caps {
	u32 revision_id;
	u32 vmcs_size;
	u32 pin, cpu, cpu2, exit, entry;	/* controls we run with */
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	u64 ept_vpid_cap;
	bool has_vpid;
	bool inout_info;	/* exit instruction info for INS/OUTS */
	u32 preempt_value;	/* VMX-preemption timer reload, 0 if unused */
	bool has_vnmi;		/* virtual NMIs and NMI-window exiting */
};
extern struct shv_vmx_caps shv_caps;

int shv_vmx_probe(void);		/* at module load; -errno + one log line */
int shv_vmx_get(void);			/* VMXON everywhere (first user) */
void shv_vmx_put(void);			/* VMXOFF everywhere (last user) */
int shv_vmx_init(void);			/* reboot and module notifiers */
void shv_vmx_exit(void);
bool shv_vmx_cpu_on(void);		/* this CPU is in VMX operation */
void shv_vmx_set_current(void *vmcs);	/* VMCS current here, or NULL */
void shv_vmx_switch_vm(const void *vm);	/* IBPB if another VM ran here */
void shv_vmx_forget_vm(const void *vm);
void shv_vmx_insn_errors(long *fails, long *faults);
int shv_vpid_alloc(void);
void shv_vpid_free(int vpid);
void *shv_alloc_vmcs(void);
void shv_free_vmcs(void *vmcs);

/* ---- main.c: module-wide accounting ---- */
struct shv_global_stats {
	atomic_t live_vms;
	atomic_t live_vcpus;
	atomic_long_t live_pages;
	atomic_long_t live_objects;
	atomic_long_t pinned_pages;
	atomic_long_t region_pins;	/* pin.c's region pins held */
};
extern struct shv_global_stats shv_global;
extern struct dentry *shv_debugfs_root;

struct page *shv_alloc_page(gfp_t extra);
void shv_free_page(struct page *page);
void *shv_zalloc(size_t size);
void shv_kfree(const void *p);

/* ---- vm.c: VMs and guest memory ---- */

/*
 * A memory slot. Immutable once published in a struct shv_memslots,
 * except for what is filled in lazily: pages[] (each entry written once,
 * under pin_lock, read locklessly) and rmap (under mmu_lock). Freed only
 * after it has left the published array and an SRCU grace period has
 * passed, and after every shadow entry that maps its pages is gone.
 */
struct shv_rmap;
struct shv_slot {
	u64 base_gfn;
	u64 npages;
	unsigned long hva;
	u32 flags;
	int id;
	struct mutex pin_lock;		/* pinning into pages[] */
	struct page **pages;		/* pinned pages, NULL until first pin */
	unsigned long *lpin;		/* pages[] held by a region pin (pin.c) */
	struct page **rpin;		/* per 2 MiB region: a region pin's first page */
	u16 *rcount;			/* per 2 MiB region: pages[] entries pinned */
	struct shv_rmap *rmap;		/* reverse map, under mmu_lock */
};

/* The 2 MiB guest-physical regions a slot touches (rpin[], rcount[]) */
static inline u64 shv_slot_region(const struct shv_slot *s, u64 idx)
{
	return ((s->base_gfn + idx) >> 9) - (s->base_gfn >> 9);
}

static inline u64 shv_slot_nregions(const struct shv_slot *s)
{
	return shv_slot_region(s, s->npages - 1) + 1;
}

/* The published slot set: replaced as a whole (RCU-style) on any change. */
struct shv_memslots {
	struct shv_slot *slot[SHADOWVM_MAX_MEM_SLOTS];
};

struct shv_vcpu;
struct shv_mmu_vm;
struct shv_mmu_policy_ops;
struct shv_emu_ctxt;
struct shv_lapic;
struct seq_file;

struct shv_vm {
	refcount_t refs;
	struct mm_struct *mm;		/* creator's mm (mmgrab'ed) */
	struct mutex lock;		/* slot updates, vcpu array */
	struct mutex mmu_lock;		/* shadow MMU; never held while pinning */
	struct srcu_struct srcu;	/* readers of memslots */
	struct shv_memslots __rcu *memslots;
	struct shv_vcpu *vcpus[SHADOWVM_MAX_VCPUS];	/* READ_ONCE outside vm->lock */
	struct shadowvm_vm_config cfg;
	struct shv_mmu_vm *mmu;
	u64 mmu_stats[SHADOWVM_STAT_NR];	/* VM-wide MMU counters, under mmu_lock */
	struct shv_msr_vm *msr;		/* msr.c: unknown-MSR counters; freed with the VM */
	atomic64_t pages_pinned;	/* SHADOWVM_STAT_PAGES_PINNED (pinned without mmu_lock) */
	struct dentry *debugfs;
	int id;
};

void shv_vm_get(struct shv_vm *vm);
void shv_vm_put(struct shv_vm *vm);
long shv_create_vm(unsigned long arg);
/*
 * Guest-physical access. Every caller holds vm->srcu for reading (or
 * vm->lock): the slot it finds stays valid, and its pinned pages stay
 * pinned, until the caller's read section ends.
 */
struct shv_memslots *shv_memslots(struct shv_vm *vm);
struct shv_slot *shv_gfn_to_slot(struct shv_vm *vm, u64 gfn);
/*
 * The host page behind gfn. Pins it on first use (may sleep: never with
 * mmu_lock held; needs current->mm == vm->mm) unless nopin, where a page
 * not pinned yet gives -EAGAIN. -ENOENT: no slot (MMIO); -EROFS: write
 * to a read-only slot; -ENOMEM: RLIMIT_MEMLOCK or no memory;
 * -EOPNOTSUPP: backing memory cannot be pinned long-term.
 */
int shv_gfn_to_page(struct shv_vm *vm, u64 gfn, bool write, bool nopin, struct page **page);
#define SHV_PRESENT_MAX 16
void shv_gfns_to_pages_present(struct shv_vm *vm, u64 gfn, int n, struct page **pages);
/* A 2 MiB shadow leaf's 512 frames, pinned as the pages from first (pin.c). */
#define SHV_PIN_RUN_MAX 128
bool shv_gfns_pin_large(struct shv_vm *vm, u64 gfn, struct page *first, u64 hint);
struct page *shv_gfn_region_pin(struct shv_vm *vm, u64 gfn, bool write);
bool shv_slot_holds_2m(const struct shv_slot *s, u64 base);
bool shv_folio_holds_2m(struct page *pg, unsigned long pfn);
/* Guest-physical copy helpers (RAM only); may pin, so not under mmu_lock. */
int shv_read_gpa(struct shv_vm *vm, u64 gpa, void *buf, unsigned int len);
int shv_write_gpa(struct shv_vm *vm, u64 gpa, const void *buf, unsigned int len);
/* The same on pages already pinned (-EAGAIN otherwise): for mmu_lock holders. */
int shv_read_gpa_pinned(struct shv_vm *vm, u64 gpa, void *buf, unsigned int len);
/*
 * A naturally aligned 4- or 8-byte word (a guest table entry) of a frame
 * pinned already, with one load that a concurrent guest write cannot
 * tear: -EAGAIN when the frame is not pinned, -ENOENT outside RAM.
 */
int shv_read_word_pinned(struct shv_vm *vm, u64 gpa, unsigned int size, u64 *val);
int shv_write_gpa_pinned(struct shv_vm *vm, u64 gpa, const void *buf, unsigned int len);
/* Atomic compare-exchange of 4 or 8 bytes of guest RAM (naturally aligned). */
int shv_cmpxchg_gpa(struct shv_vm *vm, u64 gpa, u64 old, u64 new, int size, bool nopin,
		    bool *swapped);
int shv_vm_stats_fill(struct shv_vm *vm, struct shadowvm_stats *st);

/* ---- vcpu.c, cr.c: vCPU fd, register helpers, control registers ---- */
enum shv_reg {
	SHV_RAX, SHV_RCX, SHV_RDX, SHV_RBX, SHV_RSP, SHV_RBP, SHV_RSI, SHV_RDI,
	SHV_R8, SHV_R9, SHV_R10, SHV_R11, SHV_R12, SHV_R13, SHV_R14, SHV_R15,
	SHV_NR_GPRS
};

struct shv_pending_event {
	bool valid;
	u32 info;		/* VMX interruption-information format */
	u32 error_code;
	u32 insn_len;
};

struct shv_vcpu {
	struct shv_vm *vm;
	int id;
	struct mutex lock;		/* one ioctl at a time */
	int srcu_idx;			/* vm->srcu read section of the ioctl */
	void *vmcs;
	struct shadowvm_run *run;
	unsigned long regs[SHV_NR_GPRS];	/* RSP lives in the VMCS */
	void *fx_area;			/* guest FXSAVE image (512 bytes, 16-aligned) */

	/* guest-visible control state */
	u64 cr0, cr2, cr3, cr4, cr8, efer;
	u64 pdptrs[4];			/* PAE PDPTE registers, loaded with CR3 */
	bool in_guest;			/* between entry and exit (for kicks) */
	u64 dr[4], dr6, dr7;
	u64 apic_base;
	u64 msr_pat, msr_star, msr_lstar, msr_cstar, msr_fmask, msr_kgs_base;
	u64 msr_misc_enable;
	struct shv_msr_vcpu *msrs;	/* msr.c: TSC, TSC_AUX, MCE banks; freed with the vCPU */
#define SHV_NR_SWAP_MSRS 5
	u64 host_msrs[SHV_NR_SWAP_MSRS];

	int vpid;
	int cpu;			/* where the VMCS is current, or -1 */
	int last_cpu;
	bool launched;
	bool pf_filter_on;		/* VMCS #PF mask/match: P=0 faults skip the exit */
	struct preempt_notifier pn;
	bool preempted;			/* switched out while runnable (vmx/pause.c) */
	struct task_struct __rcu *run_task;	/* the thread in RUN, or NULL (vmx/pause.c) */
	bool flush_pending;		/* flush this VPID before the next entry */
	bool pending_shutdown;		/* triple fault made by event merging */
	unsigned long host_cr3, host_cr4;
	u64 host_debugctl;		/* IA32_DEBUGCTL at load; a VM exit clears it */
	struct page *io_bitmap;		/* order 1: bitmaps A and B */
	struct page *msr_bitmap;
	u16 host_ds, host_es, host_fs, host_gs, host_ldt;

	struct shv_pending_event event;	/* to inject at next entry */

	/*
	 * Real mode run in v86 mode (vmx/rmode.c); the vCPU's thread only.
	 * While active: the guest's IOPL, TR and IDTR live here, the VMCS
	 * holds their v86 stand-ins.
	 */
	struct shv_rmode {
		bool active;
		u32 insn_len;		/* an instruction decoded from a #GP */
		unsigned long iopl;	/* RFLAGS.IOPL bits */
		u16 tr_sel;
		u64 tr_base;
		u32 tr_limit, tr_ar;
		u64 idt_base;		/* the interrupt vector table */
		u32 idt_limit;
		u32 exc_bitmap;		/* the protected-mode exception bitmap */
	} rmode;

	/*
	 * Interrupts, NMIs, HLT (vmx/inject.c). Embedded in the vCPU: lives
	 * and dies with it; other threads reach it only through an open vCPU
	 * fd or the VM's vcpus[] (both keep the vCPU alive).
	 */
	struct shv_events {
		/* any thread sets these, then calls shv_vcpu_kick() */
		atomic_t ext_irq;	/* SHV_EXT_IRQ_QUEUED | vector, or 0 */
		atomic_t nmi_queued;	/* NMIs not yet injected (0..2) */
		bool kicked;		/* something changed since the vCPU looked */
		wait_queue_head_t wq;	/* the vCPU sleeps here in HLT */
		/* the vCPU's thread only (under vcpu->lock) */
		u32 held;		/* an interrupt pre-empted by an exception: info */
		bool held_nmi;		/* the same for an NMI */
		u32 windows;		/* window-exiting controls currently set */
		bool halted;		/* in HLT: sleeps before the next entry */
		bool hypercall_pending;	/* run->hypercall.ret goes to RAX at RUN */
		u8 delivery_unprotects;	/* in a row, by delivery faults (exits.c) */
	} evt;

	/* userspace round trip to complete at the next RUN */
	enum { SHV_PENDING_NONE, SHV_PENDING_PIO_IN, SHV_PENDING_PIO_STRING_IN,
	       SHV_PENDING_MMIO, SHV_PENDING_MMIO_WRITE } pending;
	struct {
		u32 port, size, count;
		bool rep;
		int asize;		/* address size: 0 16-bit, 1 32-bit, 2 64-bit */
		u64 addr;		/* INS destination linear address */
		u32 rm_insn_len;	/* real mode: the INS decoded from a #GP */
	} pio;

	/*
	 * MMIO accesses of the instruction being emulated, one per page
	 * (an access that straddles two pages has two fragments). Reads
	 * exit to userspace one fragment at a time and the instruction is
	 * emulated again until every fragment has its data (mmio_rerun);
	 * a write completes the instruction and each fragment then exits
	 * in turn (mmio_next: the fragment still to report).
	 */
	struct shv_mmio_frag {
		u64 gpa;
		u32 len;
		bool done;		/* read: data is here */
		u8 data[8];
	} mmio_frag[4];		/* a split read-modify-write: 2 + 2 */
	int mmio_nr_frags;
	int mmio_next;
	bool mmio_rerun;
	struct shv_emu_ctxt *emu;
	/* emulate_glue.c: the last RIP whose page-table write was no plain MOV */
	u64 pt_store_slow_rip;
	struct shv_lapic *lapic;	/* lapic.c; freed by shv_vcpu_free() */

	u64 exit_count;
	u64 stats[SHADOWVM_STAT_NR];
	struct shv_mmu_vcpu *mmu;
};

long shv_create_vcpu(struct shv_vm *vm, unsigned long id);
void shv_vcpu_free(struct shv_vcpu *vcpu);
unsigned long shv_rip(struct shv_vcpu *vcpu);
void shv_set_rip(struct shv_vcpu *vcpu, unsigned long rip);
void shv_skip_insn(struct shv_vcpu *vcpu);
void shv_insn_retired(struct shv_vcpu *vcpu, unsigned long rflags);
void shv_shadow_sync_rflags(void);
void shv_queue_exception(struct shv_vcpu *vcpu, int vector, bool has_error, u32 error);
void shv_queue_pf(struct shv_vcpu *vcpu, u64 cr2, u32 error);
int shv_set_cr0(struct shv_vcpu *vcpu, u64 val);
int shv_set_cr4(struct shv_vcpu *vcpu, u64 val);
int shv_set_cr3(struct shv_vcpu *vcpu, u64 val);
int shv_set_efer(struct shv_vcpu *vcpu, u64 val);
void shv_update_hw_cr(struct shv_vcpu *vcpu);
void shv_sync_cr0_ts(struct shv_vcpu *vcpu);
bool shv_long_mode(struct shv_vcpu *vcpu);
int shv_cpl(struct shv_vcpu *vcpu);
void shv_flush_tlb(struct shv_vcpu *vcpu);
u64 shv_guest_cr4_allowed(void);
#define CR0_RESERVED_HI	(~0xffffffffULL)
#define EFER_ALLOWED	(EFER_SCE | EFER_LME | EFER_LMA | EFER_NX)

/*
 * Make the vCPU notice an event set by another thread (an interrupt for
 * its LAPIC, a runner injection): wake it if it sleeps in HLT, force an
 * exit if it is in the guest. Safe from any context that may sleep and
 * from hrtimer callbacks.
 */
void shv_vcpu_kick(struct shv_vcpu *vcpu);

/* ---- vmx/inject.c: interrupts, NMIs, HLT ---- */
#define SHV_EXT_IRQ_QUEUED	0x100
void shv_events_init(struct shv_vcpu *vcpu);
/* SHADOWVM_INTERRUPT / SHADOWVM_NMI: any thread, without vcpu->lock */
long shv_events_ioctl(struct shv_vcpu *vcpu, unsigned int ioctl, void __user *argp);
/* Before each entry (preemptible): choose the event to inject, set windows. */
void shv_events_prepare(struct shv_vcpu *vcpu);
/* With interrupts off, in_guest set: true if a kick came since prepare. */
bool shv_events_kicked(struct shv_vcpu *vcpu);
/* The exit recorded an interrupted delivery; NMI blocking fix-ups. */
void shv_events_after_exit(struct shv_vcpu *vcpu, u32 reason);
/* An exception is queued over a pending NMI/interrupt: keep the latter. */
void shv_events_hold(struct shv_vcpu *vcpu);
/* HLT exit: >0 resume (maybe halted), 0 exit HLT to userspace. */
int shv_handle_hlt(struct shv_vcpu *vcpu);
/* Halted: sleep until an event; 1 go on, -EINTR (exit INTR filled). */
int shv_halt_wait(struct shv_vcpu *vcpu);
/* After an exit: the runner asked for the window and it is open (0) or not (1). */
int shv_events_window_check(struct shv_vcpu *vcpu);
/* Fill run->if_flag and ready_for_interrupt_injection. */
void shv_events_to_user(struct shv_vcpu *vcpu);

/* ---- regs.c: register-state ioctls ---- */
void shv_get_regs(struct shv_vcpu *vcpu, struct shadowvm_regs *r);
int shv_set_regs(struct shv_vcpu *vcpu, struct shadowvm_regs *r);
void shv_get_sregs(struct shv_vcpu *vcpu, struct shadowvm_sregs *s);
int shv_set_sregs(struct shv_vcpu *vcpu, struct shadowvm_sregs *s);
void shv_default_sregs(struct shadowvm_sregs *s);

/* ---- vmx/run.c and vmx/vmcs.c: entering the guest ---- */
void shv_vcpu_load(struct shv_vcpu *vcpu);	/* VMCS current here, host state saved */
void shv_vcpu_put(struct shv_vcpu *vcpu);
int shv_vcpu_run(struct shv_vcpu *vcpu);
void shv_vmcs_setup(struct shv_vcpu *vcpu);
void shv_flush_tlb_gva(struct shv_vcpu *vcpu, u64 gva);

/* ---- vmx/pause.c: PAUSE-loop exits, yield to a preempted vCPU ---- */
void shv_pause_probe(void);
void shv_pause_vmcs_setup(struct shv_vcpu *vcpu);
void shv_pause_sched_out(struct shv_vcpu *vcpu);
void shv_pause_sched_in(struct shv_vcpu *vcpu);
int shv_handle_pause(struct shv_vcpu *vcpu);

/* ---- vmx/exits.c: VM-exit handlers. >0: resume guest; 0: exit to user; <0: error ---- */
int shv_handle_exit(struct shv_vcpu *vcpu, u32 reason);
int shv_complete_user_exit(struct shv_vcpu *vcpu);	/* vmx/io.c */
int shv_handle_io(struct shv_vcpu *vcpu);		/* vmx/io.c: I/O instruction exit */
int shv_handle_io_q(struct shv_vcpu *vcpu, unsigned long q, int asize, int seg);
int shv_dr_access(struct shv_vcpu *vcpu, int dr, bool from, int reg);

/* ---- vmx/rmode.c: real mode in v86 mode ---- */
int shv_rmode_check_sregs(const struct shadowvm_sregs *s, const char **why);
int shv_rmode_enter(struct shv_vcpu *vcpu);	/* guest CR0.PE became 0 */
int shv_rmode_leave(struct shv_vcpu *vcpu);	/* guest CR0.PE became 1 */
void shv_rmode_drop(struct shv_vcpu *vcpu);	/* SET_SREGS replaces everything */
unsigned long shv_rmode_guest_rflags(struct shv_vcpu *vcpu, unsigned long hw);
unsigned long shv_rmode_hw_rflags(struct shv_vcpu *vcpu, unsigned long guest);
void shv_rmode_get_sregs(struct shv_vcpu *vcpu, struct shadowvm_sregs *s);
int shv_rmode_exception(struct shv_vcpu *vcpu, u32 info);	/* -ENOENT: not ours */
int shv_rmode_deliver(struct shv_vcpu *vcpu);	/* before entry: vcpu->event */
int shv_rmode_sipi(struct shv_vcpu *vcpu, u8 vector);
void shv_internal_error(struct shv_vcpu *vcpu, u32 sub, int n, const u64 *data);

/* ---- cpuid.c ---- */
void shv_cpuid(struct shv_vcpu *vcpu, u32 leaf, u32 sub, u32 out[4]);
int shv_cpuid_init(void);
int shv_guest_maxphyaddr(void);
bool shv_cpuid_has_nx(void);
bool shv_cpuid_has_1g(void);
bool shv_cpuid_host_tsc_aux(void);	/* the host has IA32_TSC_AUX (RDTSCP or RDPID) */

/* ---- msr.c, msr_mce.c, invpcid.c ---- */
int shv_get_msr(struct shv_vcpu *vcpu, u32 msr, u64 *val);
int shv_set_msr(struct shv_vcpu *vcpu, u32 msr, u64 val);
int shv_msr_vcpu_init(struct shv_vcpu *vcpu);	/* at vCPU creation, VMCS loaded */
void shv_msr_vcpu_free(struct shv_vcpu *vcpu);
int shv_msr_vm_init(struct shv_vm *vm);		/* after vm->debugfs exists */
void shv_msr_vm_free(struct shv_vm *vm);
/* The guest's values of the MSRs live while the vCPU is loaded (TSC_AUX). */
void shv_msr_swap_in(struct shv_vcpu *vcpu);
void shv_msr_swap_out(struct shv_vcpu *vcpu);
int shv_handle_rdtsc(struct shv_vcpu *vcpu, bool rdtscp);	/* exit handlers */
int shv_handle_invpcid(struct shv_vcpu *vcpu);

/* ---- mmu/: the shadow MMU (mmu/mmu_internal.h lists its files) ---- */
/* The policy of a uapi SHADOWVM_MMU_POLICY_* number (not DEFAULT), or NULL. */
const struct shv_mmu_policy_ops *shv_mmu_policy_find(u32 nr);
bool shv_mmu_intercept_invlpg(struct shv_vm *vm);	/* the VM's policy wants INVLPG exits */
int shv_mmu_vm_init(struct shv_vm *vm);
void shv_mmu_vm_destroy(struct shv_vm *vm);
int shv_mmu_vcpu_init(struct shv_vcpu *vcpu);
void shv_mmu_vcpu_destroy(struct shv_vcpu *vcpu);
/* Recompute the paging context after CR0/CR4/EFER change; returns hw CR3 in *root. */
int shv_mmu_reset_context(struct shv_vcpu *vcpu);
/* Before entry: make sure a root exists. -ENOMEM: the caller reports it. */
int shv_mmu_load(struct shv_vcpu *vcpu);
int shv_mmu_new_cr3(struct shv_vcpu *vcpu, bool noflush);
/* Guest INVLPG: the policy's work; the caller flushes the hardware TLB entry. */
void shv_mmu_invlpg(struct shv_vcpu *vcpu, u64 gva);
/* Guest flush of its whole TLB without a CR3 load (INVPCID types 1-3). */
void shv_mmu_flush_guest_tlb(struct shv_vcpu *vcpu);
u64 shv_mmu_root_hpa(struct shv_vcpu *vcpu);
bool shv_mmu_root_valid(struct shv_vcpu *vcpu);
bool shv_mmu_pf_bypass(struct shv_vcpu *vcpu);
int shv_mmu_pf_bypass_check(u32 policy_nr);
int shv_mmu_guest_write(struct shv_vcpu *vcpu, u64 gpa, const void *data, unsigned int len);
/*
 * For shv_emulate_pt_store_locked(), mmu_lock held: up to n bytes of the
 * instruction at la (RIP) within its page, through the shadow's
 * translation of a fetch at CPL 3 (user) or below, from its pinned page
 * (0: none); and the store of len bytes of val at gpa in a pinned guest
 * table frame, shadows kept coherent as shv_mmu_guest_write() keeps them.
 */
unsigned int shv_mmu_fetch_locked(struct shv_vcpu *vcpu, u64 la, bool user, u8 *buf,
				  unsigned int n);
int shv_mmu_pt_store_locked(struct shv_vcpu *vcpu, u64 gpa, u64 val, unsigned int len);
/* Atomic 4/8-byte compare-exchange of guest RAM (LOCK'd RMW, XCHG). */
int shv_mmu_guest_cmpxchg(struct shv_vcpu *vcpu, u64 gpa, u64 old, u64 new,
			  unsigned int len, bool *swapped);
void shv_mmu_slot_removed(struct shv_vm *vm, struct shv_slot *slot);
void shv_mmu_show_as(struct shv_vm *vm, struct seq_file *m);
/*
 * A #PF exit. The MMU never calls the emulator or raises an exit: it
 * returns what the exit handler does next, or -EINTR.
 */
enum shv_pf_action {
	SHV_PF_RESUME = 1,	/* fixed, injected into the guest, or to retry */
	SHV_PF_EMULATE_MMIO,	/* emulate: MMIO, or a write to a read-only slot */
	/* emulate a write to a write-protected guest table (pf->gfn, pf->addr); */
	/* if that fails, shv_mmu_unprotect() */
	SHV_PF_EMULATE_PT,
	/* emulate a write the guest may do but no shadow entry may grant */
	/* (CR0.WP=0, CR4.SMAP=1, EFLAGS.AC=1: a read-only user page) */
	SHV_PF_EMULATE_WRITE,
	SHV_PF_NO_MEMORY,	/* internal error NO_MEMORY at pf->addr, errno pf->err */
};

struct shv_pf_result {
	u64 addr;
	u64 gfn;
	int err;
};

int shv_mmu_page_fault(struct shv_vcpu *vcpu, u64 la, u32 error_code, struct shv_pf_result *pf);
/* Stop shadowing a guest table frame; true if it is still write-protected. */
bool shv_mmu_unprotect(struct shv_vcpu *vcpu, u64 gfn);
void shv_mmu_zap_all(struct shv_vm *vm);
/* Translate a guest linear address for an emulated access; -EFAULT with a
 * queued #PF when the guest's tables forbid it.
 */
int shv_mmu_gva_to_gpa(struct shv_vcpu *vcpu, u64 la, u32 access, u64 *gpa, u32 *fault_ec);
/* Emulator-facing accessors on guest linear memory; MMIO returns -EAGAIN
 * after preparing a user exit.
 */
int shv_emulate_insn(struct shv_vcpu *vcpu, u64 fault_la, bool is_mmio);
/* A guest-table write by a plain MOV store, done under mmu_lock; false: not done */
bool shv_emulate_pt_store_locked(struct shv_vcpu *vcpu, u64 la, u64 gfn, bool user);
/* At RUN after an MMIO exit: finish it (like an exit handler's result). */
int shv_emulate_mmio_complete(struct shv_vcpu *vcpu, bool write);

#define PFERR_PRESENT	(1u << 0)
#define PFERR_WRITE	(1u << 1)
#define PFERR_USER	(1u << 2)
#define PFERR_RSVD	(1u << 3)
#define PFERR_FETCH	(1u << 4)

/* counters are read without the vCPU lock (GET_VCPU_STATS) */
#define shv_stat_inc(vcpu, id) \
	WRITE_ONCE((vcpu)->stats[SHADOWVM_STAT_##id], (vcpu)->stats[SHADOWVM_STAT_##id] + 1)

#include "lapic.h"	/* the local APIC's interface, used by vcpu/vm/msr/regs/vmx */

#endif /* SHADOWVM_H */
