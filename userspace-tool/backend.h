/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hypervisor backend interface shared by the runner and the selftests.
 *
 * Contract: one small vtable hides whether a VM runs on /dev/shadowvm or on
 * /dev/kvm. Both backends start a vCPU in the same flat 32-bit protected
 * mode state (paging off, CS/DS/... base 0 limit 4G, CR0 = PE|ET, RIP = 0,
 * RFLAGS = 2), take guest RAM from the caller's own memory, and report
 * every exit in the common struct be_exit. Device models are written once
 * against this interface, so a run under KVM and under shadowvm executes
 * the same userspace code.
 *
 * Error convention: every function returning int returns 0 (or a
 * non-negative count) on success and -errno on failure; errno is also left
 * set. be_run() returns 0 with *exit filled, or -EINTR with
 * exit->reason == BE_EXIT_INTR when a signal or immediate_exit stopped it.
 */
#ifndef SHADOWVM_BACKEND_H
#define SHADOWVM_BACKEND_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum be_kind {
	BE_SHADOWVM,
	BE_KVM,
};

/*
 * Values of be_vm_config.mmu_policy: 0 = the default, else one of the
 * numbers 1..N that the shadowvm uapi's SHADOWVM_MMU_POLICY_NAMES names,
 * which be_policies[] mirrors.
 */
#define BE_POLICY_DEFAULT	0
/* N, a constant expression */
#define BE_NPOLICIES							\
	(sizeof((const char *[])SHADOWVM_MMU_POLICY_NAMES) / sizeof(const char *) - 1)

struct be_policy {
	uint32_t nr;			/* SHADOWVM_MMU_POLICY_<NAME> */
	const char *name;		/* its short name: "wp", "unsync", ... */
};

/* every policy, by number (filled before main() and other constructors) */
extern const struct be_policy *const be_policies;
extern const unsigned int be_npolicies;
/* NULL when no policy has that short name */
const struct be_policy *be_policy_by_name(const char *name);
/* "default" for 0, the short name, or "?" */
const char *be_policy_name(uint32_t nr);

struct be_vm_config {
	uint32_t mmu_policy;		/* BE_POLICY_DEFAULT or a be_policies[].nr; KVM: 0 */
	uint32_t root_cache_size;	/* 0 = default */
	uint32_t max_shadow_pages;	/* 0 = default */
	uint32_t shadowvm_flags;	/* shadowvm: vm_config.flags (SHADOWVM_VM_*); KVM: 0 */
	/*
	 * KVM: create the in-kernel local APICs (KVM_CAP_SPLIT_IRQCHIP: no
	 * in-kernel I/O APIC or PIC) before the vCPUs, so that the guest has
	 * its xAPIC and MSIs work; a HLT then waits in the kernel. shadowvm:
	 * ignored (its local APIC is always in the kernel). On both, the
	 * I/O APIC is the runner's.
	 */
	bool irqchip;
};

enum be_exit_reason {
	BE_EXIT_UNKNOWN,
	BE_EXIT_IO,
	BE_EXIT_MMIO,
	BE_EXIT_HLT,
	BE_EXIT_SHUTDOWN,
	BE_EXIT_FAIL_ENTRY,
	BE_EXIT_INTERNAL,
	BE_EXIT_INTR,
	BE_EXIT_SIPI,			/* shadowvm: AP got INIT + SIPI */
	BE_EXIT_HYPERCALL,		/* shadowvm: VMCALL for userspace */
	BE_EXIT_NR,
};

#define BE_IO_IN	0
#define BE_IO_OUT	1

struct be_exit {
	enum be_exit_reason reason;
	uint32_t raw_reason;		/* the backend's own exit code */
	union {
		struct {
			int direction;	/* BE_IO_IN / BE_IO_OUT */
			unsigned int size;	/* 1, 2 or 4 */
			uint16_t port;
			uint32_t count;	/* items of size bytes */
			uint8_t *data;	/* in the run page; fill it for IN */
		} io;
		struct {
			uint64_t phys_addr;
			uint8_t *data;	/* 8 bytes in the run page */
			uint32_t len;
			bool is_write;
		} mmio;
		struct {
			uint64_t reason;	/* hardware entry failure reason */
			uint64_t qualification;
		} fail_entry;
		struct {
			uint32_t suberror;
			uint32_t ndata;
			uint64_t data[16];
		} internal;
		struct {
			uint32_t vector;	/* start at vector << 12 */
		} sipi;
		struct {
			uint64_t nr;
			uint64_t args[6];
			uint64_t ret;		/* be_complete_hypercall() */
		} hypercall;
	};
};

/* General purpose registers, same order as struct kvm_regs. */
struct be_regs {
	uint64_t rax, rbx, rcx, rdx;
	uint64_t rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11;
	uint64_t r12, r13, r14, r15;
	uint64_t rip, rflags;
};

struct be_segment {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type;
	uint8_t present, dpl, db, s, l, g, avl;
	uint8_t unusable;
};

struct be_dtable {
	uint64_t base;
	uint16_t limit;
};

struct be_sregs {
	struct be_segment cs, ds, es, fs, gs, ss;
	struct be_segment tr, ldt;
	struct be_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t efer;
	uint64_t apic_base;
};

#define BE_STATS_MAX	128

struct be_stats {
	unsigned int nr;		/* valid entries in val[] and names[] */
	uint32_t mmu_policy;
	uint64_t val[BE_STATS_MAX];
	const char *const *names;	/* names[i] describes val[i] */
};

struct backend;
struct be_vm;
struct be_vcpu;

struct backend_ops {
	const char *name;
	const char *dev_path;		/* default device node */
	int (*open)(struct backend *be, const char *path);
	void (*close)(struct backend *be);
	int (*create_vm)(struct backend *be, const struct be_vm_config *cfg,
			 struct be_vm *vm);
	void (*destroy_vm)(struct be_vm *vm);
	int (*set_memory)(struct be_vm *vm, uint32_t slot, uint64_t gpa,
			  uint64_t size, void *hva, bool readonly);
	int (*create_vcpu)(struct be_vm *vm, uint32_t id,
			   struct be_vcpu *vcpu);
	void (*destroy_vcpu)(struct be_vcpu *vcpu);
	int (*run)(struct be_vcpu *vcpu, struct be_exit *exit);
	void (*set_immediate_exit)(struct be_vcpu *vcpu, bool on);
	int (*get_regs)(struct be_vcpu *vcpu, struct be_regs *regs);
	int (*set_regs)(struct be_vcpu *vcpu, const struct be_regs *regs);
	int (*get_sregs)(struct be_vcpu *vcpu, struct be_sregs *sregs);
	int (*set_sregs)(struct be_vcpu *vcpu, const struct be_sregs *sregs);
	/* -EOPNOTSUPP when the backend has no counters */
	int (*vm_stats)(struct be_vm *vm, struct be_stats *st);
	int (*vcpu_stats)(struct be_vcpu *vcpu, struct be_stats *st);
	/*
	 * Interrupts, from any thread; NULL or -EOPNOTSUPP when the backend
	 * (or this build of it) cannot. signal_msi: an xAPIC-format MSI.
	 * irq_line: drive an in-kernel irqchip's input pin (no backend has
	 * one now: both leave the I/O APIC to the runner).
	 */
	int (*signal_msi)(struct be_vm *vm, uint64_t addr, uint32_t data);
	int (*irq_line)(struct be_vm *vm, uint32_t irq, int level);
	/* hand exit->hypercall.ret back to the guest before the next run */
	void (*complete_hypercall)(struct be_vcpu *vcpu,
				   const struct be_exit *exit);
	/*
	 * 1 when the vCPU (not running) sits in HLT waiting for an interrupt
	 * in the kernel, 0 if not, -errno; NULL when HLT always exits.
	 */
	int (*halted)(struct be_vcpu *vcpu);
	/*
	 * Park an AP in wait-for-SIPI (as after power-on) before its first
	 * run; NULL when the backend's APs start that way already.
	 */
	int (*wait_sipi)(struct be_vcpu *vcpu);
};

/* The objects are plain structs so tests can reach the raw fds. */
struct backend {
	const struct backend_ops *ops;
	int fd;				/* /dev/shadowvm or /dev/kvm */
	int vcpu_mmap_size;
};

struct be_vm {
	struct backend *be;
	int fd;
	bool irqchip;			/* KVM: in-kernel LAPICs created */
};

struct be_vcpu {
	struct be_vm *vm;
	int fd;
	uint32_t id;
	void *run;			/* the mmap'ed run page */
	size_t run_size;
};

extern const struct backend_ops be_shadowvm_ops;
extern const struct backend_ops be_kvm_ops;

const struct backend_ops *be_ops_by_kind(enum be_kind kind);
/* "shadowvm" or "kvm"; NULL for anything else. */
const struct backend_ops *be_ops_by_name(const char *name);
const char *be_exit_name(enum be_exit_reason reason);
/* Fills *sregs with the common flat 32-bit protected-mode start state. */
void be_flat32_sregs(struct be_sregs *sregs);

/*
 * Helpers the two backends share (backend.c); not for backend users.
 * All return -errno (errno set) on failure.
 */
/* -errno, or -EIO when errno is 0 */
int be_neg_errno(void);
/*
 * open path (NULL = be->ops->dev_path), check that ioctl version_req
 * returns version (-EPROTO if not), read the run-page size with
 * ioctl mmap_size_req
 */
int be_dev_open(struct backend *be, const char *path,
		unsigned long version_req, int version,
		unsigned long mmap_size_req);
void be_dev_close(struct backend *be);
void be_vm_close(struct be_vm *vm);
/*
 * fd: the new vCPU's fd (from the backend's CREATE_VCPU ioctl; < 0 = that
 * failed, errno set): fills *vcpu and maps its run page
 */
int be_vcpu_map(struct be_vm *vm, uint32_t id, int fd, struct be_vcpu *vcpu);
/* unmaps the run page and closes the fd; safe to call twice */
void be_vcpu_teardown(struct be_vcpu *vcpu);
int be_munmap(void *addr, size_t len);	/* munmap(), retried on ENOMEM */
/*
 * the backend's RUN ioctl req, then translate() the exit; on -EINTR
 * *exit says BE_EXIT_INTR with raw_reason raw_intr
 */
int be_vcpu_run(struct be_vcpu *vcpu, unsigned long req, uint32_t raw_intr,
		struct be_exit *exit,
		void (*translate)(struct be_vcpu *vcpu, struct be_exit *exit));

/* path NULL = ops->dev_path */
static inline int be_open(struct backend *be, const struct backend_ops *ops,
			  const char *path)
{
	be->ops = ops;
	be->fd = -1;
	return ops->open(be, path);
}

static inline void be_close(struct backend *be)
{
	be->ops->close(be);
}

static inline int be_create_vm(struct backend *be,
			       const struct be_vm_config *cfg,
			       struct be_vm *vm)
{
	return be->ops->create_vm(be, cfg, vm);
}

static inline void be_destroy_vm(struct be_vm *vm)
{
	vm->be->ops->destroy_vm(vm);
}

static inline int be_set_memory(struct be_vm *vm, uint32_t slot, uint64_t gpa,
				uint64_t size, void *hva, bool readonly)
{
	return vm->be->ops->set_memory(vm, slot, gpa, size, hva, readonly);
}

static inline int be_create_vcpu(struct be_vm *vm, uint32_t id,
				 struct be_vcpu *vcpu)
{
	return vm->be->ops->create_vcpu(vm, id, vcpu);
}

static inline void be_destroy_vcpu(struct be_vcpu *vcpu)
{
	vcpu->vm->be->ops->destroy_vcpu(vcpu);
}

static inline int be_run(struct be_vcpu *vcpu, struct be_exit *exit)
{
	return vcpu->vm->be->ops->run(vcpu, exit);
}

static inline void be_set_immediate_exit(struct be_vcpu *vcpu, bool on)
{
	vcpu->vm->be->ops->set_immediate_exit(vcpu, on);
}

static inline int be_get_regs(struct be_vcpu *vcpu, struct be_regs *regs)
{
	return vcpu->vm->be->ops->get_regs(vcpu, regs);
}

static inline int be_set_regs(struct be_vcpu *vcpu, const struct be_regs *regs)
{
	return vcpu->vm->be->ops->set_regs(vcpu, regs);
}

static inline int be_get_sregs(struct be_vcpu *vcpu, struct be_sregs *sregs)
{
	return vcpu->vm->be->ops->get_sregs(vcpu, sregs);
}

static inline int be_set_sregs(struct be_vcpu *vcpu,
			       const struct be_sregs *sregs)
{
	return vcpu->vm->be->ops->set_sregs(vcpu, sregs);
}

static inline int be_vm_stats(struct be_vm *vm, struct be_stats *st)
{
	return vm->be->ops->vm_stats(vm, st);
}

static inline int be_vcpu_stats(struct be_vcpu *vcpu, struct be_stats *st)
{
	return vcpu->vm->be->ops->vcpu_stats(vcpu, st);
}

static inline int be_signal_msi(struct be_vm *vm, uint64_t addr,
				uint32_t data)
{
	if (!vm->be->ops->signal_msi)
		return -EOPNOTSUPP;
	return vm->be->ops->signal_msi(vm, addr, data);
}

static inline int be_irq_line(struct be_vm *vm, uint32_t irq, int level)
{
	if (!vm->be->ops->irq_line)
		return -EOPNOTSUPP;
	return vm->be->ops->irq_line(vm, irq, level);
}

static inline void be_complete_hypercall(struct be_vcpu *vcpu,
					 const struct be_exit *exit)
{
	if (vcpu->vm->be->ops->complete_hypercall)
		vcpu->vm->be->ops->complete_hypercall(vcpu, exit);
}

static inline int be_halted(struct be_vcpu *vcpu)
{
	if (!vcpu->vm->be->ops->halted)
		return 0;
	return vcpu->vm->be->ops->halted(vcpu);
}

static inline int be_wait_sipi(struct be_vcpu *vcpu)
{
	if (!vcpu->vm->be->ops->wait_sipi)
		return 0;
	return vcpu->vm->be->ops->wait_sipi(vcpu);
}

#endif /* SHADOWVM_BACKEND_H */
