/* SPDX-License-Identifier: GPL-2.0 */
/*
 * backend_abi.h - what the shadowvm and KVM backends share, written once.
 *
 * The two uapis use the same field names for registers, segments, special
 * registers and the run page (shadowvm's is modelled on KVM's) but different
 * struct types, so the field-by-field conversions between them and the
 * common format of backend.h are macros here, expanded once per ABI:
 *
 *	BE_SEG_COPY(dst, src)		every field of a segment
 *	BE_SREGS_COPY(dst, src, seg)	segments (with seg()), GDT/IDT, CRs, EFER
 *	BE_REGS_COPY(dst, src)		the 18 general purpose registers
 *	BE_DEFINE_REGS_FNS(prefix, regs_type, GET, SET)
 *		prefix_get_regs() and prefix_set_regs(): the GET/SET ioctls
 *	BE_DEFINE_SET_MEMORY(prefix, region_type, READONLY, SET)
 *		prefix_set_memory(): one memory slot by the SET ioctl
 *	BE_DEFINE_SEG_FNS(prefix, seg_type)
 *		prefix_seg_from() and prefix_seg_to()
 *	BE_DEFINE_GET_SREGS(prefix, sregs_type, GET)
 *		prefix_get_sregs() (set_sregs differs: KVM's reads first)
 *	BE_DEFINE_RUN_FNS(prefix, run_type, P, extra_fail_entry, extra_default)
 *		prefix_translate_exit(vcpu, exit): the run page's exit,
 *		P_EXIT_* codes, to a struct be_exit; prefix_run() by the
 *		P_RUN ioctl; prefix_set_immediate_exit()
 *
 * The code that needs no ABI type (vCPU fd + run page set-up and teardown,
 * the error path of the RUN ioctl) is in backend.c (backend.h).
 * Only the two backend_*.c files include this header.
 */
#ifndef SHADOWVM_BACKEND_ABI_H
#define SHADOWVM_BACKEND_ABI_H

#include <string.h>
#include <sys/ioctl.h>

#include "backend.h"

#define BE_SEG_COPY(d, s) do {						\
	(d)->base = (s)->base;						\
	(d)->limit = (s)->limit;					\
	(d)->selector = (s)->selector;					\
	(d)->type = (s)->type;						\
	(d)->present = (s)->present;					\
	(d)->dpl = (s)->dpl;						\
	(d)->db = (s)->db;						\
	(d)->s = (s)->s;						\
	(d)->l = (s)->l;						\
	(d)->g = (s)->g;						\
	(d)->avl = (s)->avl;						\
	(d)->unusable = (s)->unusable;					\
} while (0)

/* everything but apic_base, whose handling differs per backend */
#define BE_SREGS_COPY(d, s, seg) do {					\
	seg(&(d)->cs, &(s)->cs);					\
	seg(&(d)->ds, &(s)->ds);					\
	seg(&(d)->es, &(s)->es);					\
	seg(&(d)->fs, &(s)->fs);					\
	seg(&(d)->gs, &(s)->gs);					\
	seg(&(d)->ss, &(s)->ss);					\
	seg(&(d)->tr, &(s)->tr);					\
	seg(&(d)->ldt, &(s)->ldt);					\
	(d)->gdt.base = (s)->gdt.base;					\
	(d)->gdt.limit = (s)->gdt.limit;				\
	(d)->idt.base = (s)->idt.base;					\
	(d)->idt.limit = (s)->idt.limit;				\
	(d)->cr0 = (s)->cr0;						\
	(d)->cr2 = (s)->cr2;						\
	(d)->cr3 = (s)->cr3;						\
	(d)->cr4 = (s)->cr4;						\
	(d)->cr8 = (s)->cr8;						\
	(d)->efer = (s)->efer;						\
} while (0)

#define BE_REGS_COPY(d, s) do {						\
	(d)->rax = (s)->rax; (d)->rbx = (s)->rbx; (d)->rcx = (s)->rcx;	\
	(d)->rdx = (s)->rdx; (d)->rsi = (s)->rsi; (d)->rdi = (s)->rdi;	\
	(d)->rsp = (s)->rsp; (d)->rbp = (s)->rbp; (d)->r8 = (s)->r8;	\
	(d)->r9 = (s)->r9; (d)->r10 = (s)->r10; (d)->r11 = (s)->r11;	\
	(d)->r12 = (s)->r12; (d)->r13 = (s)->r13; (d)->r14 = (s)->r14;	\
	(d)->r15 = (s)->r15; (d)->rip = (s)->rip;			\
	(d)->rflags = (s)->rflags;					\
} while (0)

#define BE_DEFINE_REGS_FNS(prefix, regs_type, GET, SET)		\
static int prefix##_get_regs(struct be_vcpu *vcpu, struct be_regs *regs) \
{									\
	regs_type r;							\
									\
	if (ioctl(vcpu->fd, GET, &r) < 0)				\
		return be_neg_errno();					\
	BE_REGS_COPY(regs, &r);						\
	return 0;							\
}									\
									\
static int prefix##_set_regs(struct be_vcpu *vcpu,			\
			     const struct be_regs *regs)		\
{									\
	regs_type r;							\
									\
	memset(&r, 0, sizeof(r));					\
	BE_REGS_COPY(&r, regs);						\
	if (ioctl(vcpu->fd, SET, &r) < 0)				\
		return be_neg_errno();					\
	return 0;							\
}

#define BE_DEFINE_SET_MEMORY(prefix, region_type, READONLY, SET)	\
static int prefix##_set_memory(struct be_vm *vm, uint32_t slot,	\
			       uint64_t gpa, uint64_t size, void *hva,	\
			       bool readonly)				\
{									\
	region_type r = {						\
		.slot = slot,						\
		.flags = readonly ? READONLY : 0,			\
		.guest_phys_addr = gpa,					\
		.memory_size = size,					\
		.userspace_addr = (uintptr_t)hva,			\
	};								\
									\
	if (ioctl(vm->fd, SET, &r) < 0)					\
		return be_neg_errno();					\
	return 0;							\
}

#define BE_DEFINE_SEG_FNS(prefix, seg_type)				\
static void prefix##_seg_from(struct be_segment *d, const seg_type *s)	\
{									\
	BE_SEG_COPY(d, s);						\
}									\
									\
static void prefix##_seg_to(seg_type *d, const struct be_segment *s)	\
{									\
	memset(d, 0, sizeof(*d));					\
	BE_SEG_COPY(d, s);						\
}

#define BE_DEFINE_GET_SREGS(prefix, sregs_type, GET)			\
static int prefix##_get_sregs(struct be_vcpu *vcpu, struct be_sregs *sr) \
{									\
	sregs_type s;							\
									\
	if (ioctl(vcpu->fd, GET, &s) < 0)				\
		return be_neg_errno();					\
	memset(sr, 0, sizeof(*sr));					\
	BE_SREGS_COPY(sr, &s, prefix##_seg_from);			\
	sr->apic_base = s.apic_base;					\
	return 0;							\
}

/*
 * extra_fail_entry: a statement run for a FAIL_ENTRY exit with e and run
 * in scope (shadowvm also reports the exit qualification), or nothing.
 * extra_default: a statement run for an exit code not in the common list
 * (e->reason is BE_EXIT_UNKNOWN; it may translate backend-only exits).
 */
#define BE_DEFINE_RUN_FNS(prefix, run_type, P, extra_fail_entry,	\
			  extra_default)				\
static void prefix##_translate_exit(struct be_vcpu *vcpu,		\
				    struct be_exit *e)			\
{									\
	run_type *run = vcpu->run;					\
									\
	memset(e, 0, sizeof(*e));					\
	e->raw_reason = run->exit_reason;				\
	switch (run->exit_reason) {					\
	case P##_EXIT_IO:						\
		e->reason = BE_EXIT_IO;					\
		e->io.direction = run->io.direction == P##_EXIT_IO_OUT ? \
				  BE_IO_OUT : BE_IO_IN;			\
		e->io.size = run->io.size;				\
		e->io.port = run->io.port;				\
		e->io.count = run->io.count;				\
		if (run->io.data_offset >= vcpu->run_size ||		\
		    (uint64_t)run->io.size * run->io.count >		\
		    vcpu->run_size - run->io.data_offset) {		\
			/* would point outside the run page */		\
			e->reason = BE_EXIT_UNKNOWN;			\
			break;						\
		}							\
		e->io.data = (uint8_t *)run + run->io.data_offset;	\
		break;							\
	case P##_EXIT_MMIO:						\
		e->reason = BE_EXIT_MMIO;				\
		e->mmio.phys_addr = run->mmio.phys_addr;		\
		e->mmio.data = run->mmio.data;				\
		e->mmio.len = run->mmio.len;				\
		e->mmio.is_write = run->mmio.is_write;			\
		if (e->mmio.len > sizeof(run->mmio.data))		\
			e->reason = BE_EXIT_UNKNOWN;			\
		break;							\
	case P##_EXIT_HLT:						\
		e->reason = BE_EXIT_HLT;				\
		break;							\
	case P##_EXIT_SHUTDOWN:						\
		e->reason = BE_EXIT_SHUTDOWN;				\
		break;							\
	case P##_EXIT_FAIL_ENTRY:					\
		e->reason = BE_EXIT_FAIL_ENTRY;				\
		e->fail_entry.reason =					\
			run->fail_entry.hardware_entry_failure_reason;	\
		extra_fail_entry;					\
		break;							\
	case P##_EXIT_INTERNAL_ERROR:					\
		e->reason = BE_EXIT_INTERNAL;				\
		e->internal.suberror = run->internal.suberror;		\
		e->internal.ndata = run->internal.ndata;		\
		if (e->internal.ndata > 16)				\
			e->internal.ndata = 16;				\
		memcpy(e->internal.data, run->internal.data,		\
		       e->internal.ndata * sizeof(uint64_t));		\
		break;							\
	case P##_EXIT_INTR:						\
		e->reason = BE_EXIT_INTR;				\
		break;							\
	default:							\
		e->reason = BE_EXIT_UNKNOWN;				\
		extra_default;						\
		break;							\
	}								\
} \
									\
static int prefix##_run(struct be_vcpu *vcpu, struct be_exit *exit)	\
{									\
	return be_vcpu_run(vcpu, P##_RUN, P##_EXIT_INTR, exit,		\
			   prefix##_translate_exit);			\
}									\
									\
static void prefix##_set_immediate_exit(struct be_vcpu *vcpu, bool on)	\
{									\
	run_type *run = vcpu->run;					\
									\
	__atomic_store_n(&run->immediate_exit, on ? 1 : 0,		\
			 __ATOMIC_SEQ_CST);				\
}

#endif /* SHADOWVM_BACKEND_ABI_H */
