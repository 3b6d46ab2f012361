// SPDX-License-Identifier: GPL-2.0
/*
 * VM-exit handlers.
 *
 * Contract: shv_handle_exit() returns >0 to re-enter the guest, 0 to
 * return to userspace with run->exit_reason filled, <0 for an ioctl error.
 * Every exit reason either has a handler here or ends the run with
 * SHADOWVM_EXIT_INTERNAL_ERROR/UNHANDLED_EXIT (never a host crash, never a
 * silent loop). shv_complete_user_exit() finishes, at the next RUN, what
 * userspace was asked to do (PIO IN data, MMIO read data).
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/mm.h>
#include <asm/processor-flags.h>
#include <asm/cpu.h>
#include "shadowvm.h"
#include "vmx_defs.h"

void shv_internal_error(struct shv_vcpu *vcpu, u32 sub, int n, const u64 *data)
{
	struct shadowvm_run *run = vcpu->run;
	int i;

	run->exit_reason = SHADOWVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = sub;
	run->internal.ndata = min(n, 16);
	for (i = 0; i < run->internal.ndata; i++)
		run->internal.data[i] = data[i];
}

static unsigned long get_gpr(struct shv_vcpu *vcpu, int reg)
{
	if (reg == SHV_RSP)
		return vmcs_read(GUEST_RSP);
	return vcpu->regs[reg];
}

static void set_gpr(struct shv_vcpu *vcpu, int reg, unsigned long val)
{
	if (reg == SHV_RSP)
		vmcs_write(GUEST_RSP, val);
	else
		vcpu->regs[reg] = val;
}

static bool cs_64bit(struct shv_vcpu *vcpu)
{
	return shv_long_mode(vcpu) && ((vmcs_read(GUEST_CS_AR_BYTES) >> 13) & 1);
}

/* ---- CPUID, HLT, simple instructions ---- */

static int handle_cpuid(struct shv_vcpu *vcpu)
{
	u32 out[4];

	shv_stat_inc(vcpu, EXIT_CPUID);
	shv_cpuid(vcpu, (u32)vcpu->regs[SHV_RAX], (u32)vcpu->regs[SHV_RCX], out);
	vcpu->regs[SHV_RAX] = out[0];
	vcpu->regs[SHV_RBX] = out[1];
	vcpu->regs[SHV_RCX] = out[2];
	vcpu->regs[SHV_RDX] = out[3];
	shv_skip_insn(vcpu);
	return 1;
}

static int handle_hlt(struct shv_vcpu *vcpu)
{
	shv_stat_inc(vcpu, EXIT_HLT);
	shv_skip_insn(vcpu);
	vcpu->run->exit_reason = SHADOWVM_EXIT_HLT;
	return 0;
}

static int inject_ud(struct shv_vcpu *vcpu)
{
	shv_queue_exception(vcpu, UD_VECTOR, false, 0);
	return 1;
}

static int inject_gp(struct shv_vcpu *vcpu)
{
	shv_queue_exception(vcpu, GP_VECTOR, true, 0);
	return 1;
}

/* ---- control and debug registers ---- */

static int handle_cr(struct shv_vcpu *vcpu)
{
	unsigned long q = vmcs_read(EXIT_QUALIFICATION);
	int cr = q & 15, type = (q >> 4) & 3, reg = (q >> 8) & 15;
	unsigned long val;
	int r = 0;

	shv_stat_inc(vcpu, EXIT_CR_ACCESS);
	shv_sync_cr0_ts(vcpu);
	switch (type) {
	case 0:		/* MOV to CR */
		val = get_gpr(vcpu, reg);
		if (!cs_64bit(vcpu))
			val = (u32)val;
		switch (cr) {
		case 0:
			r = shv_set_cr0(vcpu, val);
			break;
		case 3:
			shv_stat_inc(vcpu, EXIT_CR3_LOAD);
			r = shv_set_cr3(vcpu, val);
			break;
		case 4:
			r = shv_set_cr4(vcpu, val);
			break;
		case 8:
			if (val > 15)
				r = 1;
			else
				vcpu->cr8 = val;
			break;
		default:
			return inject_ud(vcpu);
		}
		break;
	case 1:		/* MOV from CR */
		if (cr == 3) {
			shv_stat_inc(vcpu, EXIT_CR3_STORE);
			set_gpr(vcpu, reg, vcpu->cr3);
		} else if (cr == 8) {
			set_gpr(vcpu, reg, vcpu->cr8);
		} else {
			return inject_ud(vcpu);
		}
		break;
	case 2:		/* CLTS */
		r = shv_set_cr0(vcpu, vcpu->cr0 & ~X86_CR0_TS);
		break;
	case 3:		/* LMSW: only PE, MP, EM, TS; cannot clear PE */
		val = (q >> 16) & 0xf;
		val |= vcpu->cr0 & X86_CR0_PE;
		r = shv_set_cr0(vcpu, (vcpu->cr0 & ~0xeUL) | val);
		break;
	}
	if (r == -EOPNOTSUPP) {
		u64 d[2] = { shv_rip(vcpu), vcpu->cr0 };

		shv_info_rl("guest left protected mode (real mode is not supported)\n");
		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_BAD_STATE, 2, d);
		return 0;
	}
	if (r < 0)
		return r;
	if (r > 0)
		return inject_gp(vcpu);
	shv_skip_insn(vcpu);
	return 1;
}

static int handle_dr(struct shv_vcpu *vcpu)
{
	unsigned long q = vmcs_read(EXIT_QUALIFICATION);
	int dr = q & 7, from = (q >> 4) & 1, reg = (q >> 8) & 15;
	unsigned long val;

	shv_stat_inc(vcpu, EXIT_DR_ACCESS);
	if (shv_cpl(vcpu))
		return inject_gp(vcpu);
	if (dr == 4 || dr == 5) {
		if (vcpu->cr4 & X86_CR4_DE)
			return inject_ud(vcpu);
		dr += 2;
	}
	if (from) {
		if (dr < 4)
			val = vcpu->dr[dr];
		else if (dr == 6)
			val = vcpu->dr6 | 0xffff0ff0;
		else
			val = vcpu->dr7;
		set_gpr(vcpu, reg, val);
	} else {
		val = get_gpr(vcpu, reg);
		if (dr < 4) {
			vcpu->dr[dr] = val;	/* kept in software: no guest breakpoints */
		} else if (dr == 6) {
			if (val >> 32)
				return inject_gp(vcpu);
			vcpu->dr6 = val;
		} else {
			if (val >> 32)
				return inject_gp(vcpu);
			/* kept in software like DR0-3: no guest breakpoint arms */
			vcpu->dr7 = (val & 0xffff2bff) | 0x400;
		}
	}
	shv_skip_insn(vcpu);
	return 1;
}

/* ---- MSRs ---- */

static int handle_rdmsr(struct shv_vcpu *vcpu)
{
	u64 val;

	shv_stat_inc(vcpu, EXIT_MSR_READ);
	if (shv_get_msr(vcpu, (u32)vcpu->regs[SHV_RCX], &val))
		return inject_gp(vcpu);
	vcpu->regs[SHV_RAX] = (u32)val;
	vcpu->regs[SHV_RDX] = val >> 32;
	shv_skip_insn(vcpu);
	return 1;
}

static int handle_wrmsr(struct shv_vcpu *vcpu)
{
	u64 val = (u32)vcpu->regs[SHV_RAX] | ((u64)(u32)vcpu->regs[SHV_RDX] << 32);
	int r;

	shv_stat_inc(vcpu, EXIT_MSR_WRITE);
	r = shv_set_msr(vcpu, (u32)vcpu->regs[SHV_RCX], val);
	if (r == -EOPNOTSUPP) {
		u64 d[2] = { shv_rip(vcpu), vcpu->cr0 };

		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_BAD_STATE, 2, d);
		return 0;
	}
	if (r < 0)
		return r;
	if (r)
		return inject_gp(vcpu);
	shv_skip_insn(vcpu);
	return 1;
}

/* ---- port I/O ---- */

static u8 *io_data(struct shv_vcpu *vcpu)
{
	return (u8 *)vcpu->run + SHADOWVM_RUN_IO_DATA_OFFSET;
}

#define IO_DATA_MAX (PAGE_SIZE - SHADOWVM_RUN_IO_DATA_OFFSET)

static const u32 seg_base_field[6] = {
	GUEST_ES_BASE, GUEST_CS_BASE, GUEST_SS_BASE, GUEST_DS_BASE,
	GUEST_FS_BASE, GUEST_GS_BASE,
};

static const u32 seg_limit_field[6] = {
	GUEST_ES_LIMIT, GUEST_CS_LIMIT, GUEST_SS_LIMIT, GUEST_DS_LIMIT,
	GUEST_FS_LIMIT, GUEST_GS_LIMIT,
};

static const u32 seg_ar_field[6] = {
	GUEST_ES_AR_BYTES, GUEST_CS_AR_BYTES, GUEST_SS_AR_BYTES, GUEST_DS_AR_BYTES,
	GUEST_FS_AR_BYTES, GUEST_GS_AR_BYTES,
};

static u64 addr_mask(int asize)
{
	return asize == 2 ? ~0ULL : asize == 1 ? 0xffffffffULL : 0xffffULL;
}

#define SEG_SS	2

static bool canonical48(u64 la)
{
	return (u64)(((s64)la << 16) >> 16) == la;
}

/*
 * How many of the count items of a string I/O, from offset off of segment
 * seg and in iteration order, can be done in one contiguous chunk: the
 * count stops before the first item that fails the SDM's checks (segment
 * usable, writable for INS / readable for OUTS, offset inside the limit,
 * expand-down too; canonical in 64-bit mode) and before the offset wraps
 * around the address size. 0: the first item faults (*vector: #GP or #SS).
 */
static u32 string_io_items(struct shv_vcpu *vcpu, int seg, bool in, int asize, u64 off,
			   u32 size, u32 count, bool down, int *vector)
{
	u64 mask = addr_mask(asize), base, limit, lo = 0, hi;
	bool sixty_four = cs_64bit(vcpu);
	u32 ar = 0, i;

	*vector = seg == SEG_SS ? SS_VECTOR : GP_VECTOR;
	base = (sixty_four && seg < 4) ? 0 : vmcs_read(seg_base_field[seg]);
	if (!sixty_four) {
		ar = vmcs_read(seg_ar_field[seg]);
		if (ar & AR_UNUSABLE)
			return 0;
		if (in && ((ar & 8) || !(ar & 2)))
			return 0;	/* INS needs a writable data segment */
		if (!in && (ar & 8) && !(ar & 2))
			return 0;	/* OUTS: execute-only code segment */
	}
	limit = vmcs_read(seg_limit_field[seg]);
	hi = limit;
	if (!(ar & 8) && (ar & 4)) {	/* expand-down data segment */
		lo = limit + 1;
		hi = (ar & (1u << 14)) ? 0xffffffffULL : 0xffffULL;
	}
	for (i = 0; i < count; i++) {
		u64 delta = (u64)i * size;
		u64 o;

		if (down) {
			if (delta > off)
				break;		/* wraps below 0: next chunk */
			o = off - delta;
		} else {
			if (off + delta > mask)
				break;		/* wraps above the top: next chunk */
			o = off + delta;
		}
		if (sixty_four) {
			u64 la = base + o;

			if (!canonical48(la) || !canonical48(la + size - 1))
				break;
		} else if (o < lo || o + size - 1 > hi) {
			break;
		}
	}
	return i;
}


enum { SIO_DONE, SIO_FAULT, SIO_USER };

/* An unfinished string_io_copy() as an exit-handler result. */
static int sio_handler_result(int r)
{
	if (r == SIO_FAULT)
		return 1;	/* #PF queued: resume the guest to deliver it */
	if (r == SIO_USER)
		return 0;	/* internal-error exit filled in */
	return r;		/* -errno */
}

/*
 * With EFLAGS.DF=1 a string I/O walks memory downwards: the chunk is
 * copied from its lowest address, so reverse it into instruction order.
 */
static void reverse_items(u8 *d, u32 count, u32 size)
{
	u8 tmp[4];
	u32 i, j;

	for (i = 0, j = count - 1; i < j; i++, j--) {
		memcpy(tmp, d + i * size, size);
		memcpy(d + i * size, d + j * size, size);
		memcpy(d + j * size, tmp, size);
	}
}

/*
 * Copy between guest linear memory and buf, as a string I/O does.
 * SIO_DONE, SIO_FAULT (#PF queued), SIO_USER (internal error exit), -errno.
 */
static int string_io_copy(struct shv_vcpu *vcpu, u64 la, void *buf, unsigned int len,
			  bool to_guest)
{
	u32 access = to_guest ? PFERR_WRITE : 0;
	bool la32 = !cs_64bit(vcpu);
	u32 ec;

	if (shv_cpl(vcpu) == 3)
		access |= PFERR_USER;
	while (len) {
		/* outside 64-bit mode linear addresses wrap at 4 GiB */
		if (la32)
			la = (u32)la;
		unsigned int n = min_t(unsigned int, len, PAGE_SIZE - offset_in_page(la));
		u64 gpa;
		int r;

		r = shv_mmu_gva_to_gpa(vcpu, la, access, &gpa, &ec);
		if (r == -EFAULT) {
			shv_queue_pf(vcpu, la, ec);
			return SIO_FAULT;
		}
		if (r) {
			u64 d[3] = { shv_rip(vcpu), la, r };

			shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_NO_MEMORY, 3, d);
			return SIO_USER;
		}
		if (to_guest)
			r = shv_mmu_guest_write(vcpu, gpa, buf, n);
		else
			r = shv_read_gpa(vcpu->vm, gpa, buf, n);
		if (r == -ENOENT || r == -EROFS) {
			/* string I/O to or from MMIO: not supported */
			u64 d[2] = { shv_rip(vcpu), gpa };

			shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_EMULATION, 2, d);
			return SIO_USER;
		}
		if (r)
			return r;
		la += n;
		buf += n;
		len -= n;
	}
	return SIO_DONE;
}

/*
 * Advance the string registers by @done items. Returns true when the
 * instruction is complete (RIP is advanced), false when a REP remains.
 */
static bool string_io_advance(struct shv_vcpu *vcpu, bool in, bool rep, int asize,
			      u32 size, u32 done)
{
	u64 mask = addr_mask(asize);
	int reg = in ? SHV_RDI : SHV_RSI;
	unsigned long rflags = vmcs_read(GUEST_RFLAGS);
	s64 delta = (s64)done * size * ((rflags & X86_EFLAGS_DF) ? -1 : 1);
	unsigned long v = vcpu->regs[reg];

	vcpu->regs[reg] = (v & ~mask) | ((v + delta) & mask);
	if (asize == 1)
		vcpu->regs[reg] &= 0xffffffffUL;	/* 32-bit writes zero-extend */
	if (rep) {
		unsigned long c = vcpu->regs[SHV_RCX];
		u64 left = ((c & mask) - done) & mask;

		vcpu->regs[SHV_RCX] = (c & ~mask) | left;
		if (asize == 1)
			vcpu->regs[SHV_RCX] &= 0xffffffffUL;
		if (left)
			return false;
	}
	return true;
}

static int handle_io(struct shv_vcpu *vcpu)
{
	unsigned long q = vmcs_read(EXIT_QUALIFICATION);
	struct shadowvm_run *run = vcpu->run;
	u32 size = (q & 7) + 1, port = q >> 16;
	bool in = q & 8, string = q & 16, rep = q & 32;
	u32 count = 1;

	shv_stat_inc(vcpu, EXIT_IO);
	if (size != 1 && size != 2 && size != 4)
		return inject_ud(vcpu);
	run->io.direction = in ? SHADOWVM_EXIT_IO_IN : SHADOWVM_EXIT_IO_OUT;
	run->io.size = size;
	run->io.port = port;
	run->io.data_offset = SHADOWVM_RUN_IO_DATA_OFFSET;

	if (!string) {
		if (in) {
			vcpu->pending = SHV_PENDING_PIO_IN;
			vcpu->pio.size = size;
		} else {
			u32 v = vcpu->regs[SHV_RAX];

			memcpy(io_data(vcpu), &v, size);
		}
		shv_skip_insn(vcpu);
	} else {
		u32 info = shv_caps.inout_info ? vmcs_read(VMX_INSTRUCTION_INFO) : 0;
		int asize = shv_caps.inout_info ? (info >> 7) & 7 :
			    (cs_64bit(vcpu) ? 2 : ((vmcs_read(GUEST_CS_AR_BYTES) >> 14) & 1));
		int seg = in ? 0 /* ES, no override */ :
			  (shv_caps.inout_info ? (info >> 15) & 7 : 3);
		u64 mask = addr_mask(asize), base, la, off;
		unsigned long rflags = vmcs_read(GUEST_RFLAGS);
		int r, vector;

		if (rep) {
			u64 c = vcpu->regs[SHV_RCX] & mask;

			if (!c) {
				shv_skip_insn(vcpu);
				return 1;
			}
			count = min_t(u64, c, IO_DATA_MAX / size);
		}
		if (seg > 5)
			return inject_ud(vcpu);
		off = vcpu->regs[in ? SHV_RDI : SHV_RSI] & mask;
		count = string_io_items(vcpu, seg, in, asize, off, size, count,
					rflags & X86_EFLAGS_DF, &vector);
		if (!count) {
			shv_queue_exception(vcpu, vector, true, 0);
			return 1;
		}
		base = (cs_64bit(vcpu) && seg < 4) ? 0 : vmcs_read(seg_base_field[seg]);
		la = base + off;
		if (rflags & X86_EFLAGS_DF)
			la -= (u64)(count - 1) * size;	/* lowest address of the chunk */
		if (!cs_64bit(vcpu))
			la = (u32)la;
		if (in) {
			vcpu->pending = SHV_PENDING_PIO_STRING_IN;
			vcpu->pio.size = size;
			vcpu->pio.count = count;
			vcpu->pio.rep = rep;
			vcpu->pio.asize = asize;
			vcpu->pio.addr = la;
		} else {
			r = string_io_copy(vcpu, la, io_data(vcpu), count * size, false);
			if (r != SIO_DONE)
				return sio_handler_result(r);
			/* items go out in instruction order */
			if (rflags & X86_EFLAGS_DF)
				reverse_items(io_data(vcpu), count, size);
			if (string_io_advance(vcpu, false, rep, asize, size, count))
				shv_skip_insn(vcpu);
		}
	}
	run->io.count = count;
	run->exit_reason = SHADOWVM_EXIT_IO;
	shv_stat_inc(vcpu, USER_EXIT_IO);
	return 0;
}

int shv_complete_user_exit(struct shv_vcpu *vcpu)
{
	int pending = vcpu->pending;
	int r;

	vcpu->pending = SHV_PENDING_NONE;
	switch (pending) {
	case SHV_PENDING_PIO_IN: {
		u32 v = 0;
		unsigned long *rax = &vcpu->regs[SHV_RAX];

		memcpy(&v, io_data(vcpu), vcpu->pio.size);
		if (vcpu->pio.size == 1)
			*rax = (*rax & ~0xffUL) | (v & 0xff);
		else if (vcpu->pio.size == 2)
			*rax = (*rax & ~0xffffUL) | (v & 0xffff);
		else
			*rax = v;	/* 32-bit results zero-extend */
		return 1;
	}
	case SHV_PENDING_PIO_STRING_IN: {
		unsigned long rflags = vmcs_read(GUEST_RFLAGS);
		u32 size = vcpu->pio.size, count = vcpu->pio.count;
		u8 *d = io_data(vcpu);

		if (rflags & X86_EFLAGS_DF)
			reverse_items(d, count, size);
		r = string_io_copy(vcpu, vcpu->pio.addr, d, count * size, true);
		if (r != SIO_DONE)
			return sio_handler_result(r);
		if (string_io_advance(vcpu, true, vcpu->pio.rep, vcpu->pio.asize, size, count))
			shv_skip_insn(vcpu);
		return 1;
	}
	case SHV_PENDING_MMIO:
		/* re-run the instruction: its MMIO read now finds the data */
		return shv_emulate_mmio_complete(vcpu, false);
	case SHV_PENDING_MMIO_WRITE:
		/* the other half of a split write, or done */
		return shv_emulate_mmio_complete(vcpu, true);
	default:
		return 1;
	}
}

/* ---- exceptions ---- */

/*
 * #PF: the MMU classifies and fixes what it can, and says what is left
 * to do here: emulate (MMIO, or a write to a write-protected guest
 * table, which is unprotected if it cannot be emulated) or report an
 * internal error.
 */
static int handle_pf(struct shv_vcpu *vcpu)
{
	u64 la = vmcs_read(EXIT_QUALIFICATION);
	struct shv_pf_result pf = { 0 };
	int r;

	r = shv_mmu_page_fault(vcpu, la, vmcs_read(VM_EXIT_INTR_ERROR_CODE), &pf);
	switch (r) {
	case SHV_PF_EMULATE_MMIO:
		return shv_emulate_insn(vcpu, la, true);
	case SHV_PF_EMULATE_PT:
		r = shv_emulate_insn(vcpu, la, false);
		if (r != -ENOEXEC)
			return r;
		if (shv_mmu_unprotect(vcpu, pf.gfn)) {
			u64 d[2] = { shv_rip(vcpu), pf.addr };

			shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_EMULATION, 2, d);
			return 0;
		}
		return 1;	/* re-execute natively */
	case SHV_PF_NO_MEMORY: {
		u64 d[3] = { pf.addr, pf.err, shv_rip(vcpu) };

		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_NO_MEMORY, 3, d);
		return 0;
	}
	default:
		return r;	/* SHV_PF_RESUME (1) or -EINTR */
	}
}

static int handle_exception(struct shv_vcpu *vcpu)
{
	u32 info = vmcs_read(VM_EXIT_INTR_INFO);
	int vector = info & INTR_INFO_VECTOR_MASK;
	u32 type = info & INTR_INFO_TYPE_MASK;

	if (type == INTR_TYPE_NMI)
		return 1;	/* re-raised on the host already */
	if (vector == MC_VECTOR) {
		/* the host's machine-check handler ran at the exit */
		shv_stat_inc(vcpu, EXIT_OTHER);
		return 1;
	}
	if (vector == PF_VECTOR) {
		shv_stat_inc(vcpu, EXIT_PF);
		return handle_pf(vcpu);
	}
	shv_stat_inc(vcpu, EXIT_EXCEPTION);
	/* not intercepted otherwise: reflect it */
	shv_queue_exception(vcpu, vector, info & INTR_INFO_DELIVER_CODE,
			    vmcs_read(VM_EXIT_INTR_ERROR_CODE));
	return 1;
}

/* DR6 bits a #DB exit reports in its exit qualification (SDM 28.2.1) */
#define DR6_TRAP_BITS	0xfULL
#define DR6_BD_BIT	(1ULL << 13)
#define DR6_BS_BIT	(1ULL << 14)

/*
 * #DB: intercepted so that the hardware DR6 never changes under the guest
 * (a #DB that causes a VM exit does not write DR6; its bits are in the
 * exit qualification). They go into the guest's software DR6, which MOV
 * from DR6 reads, and the exception is reflected.
 */
static int handle_db(struct shv_vcpu *vcpu, u32 info)
{
	u64 q = vmcs_read(EXIT_QUALIFICATION);
	struct shv_pending_event *ev = &vcpu->event;

	shv_stat_inc(vcpu, EXIT_EXCEPTION);
	vcpu->dr6 &= ~DR6_TRAP_BITS;
	vcpu->dr6 |= q & (DR6_TRAP_BITS | DR6_BD_BIT | DR6_BS_BIT);
	if ((info & INTR_INFO_TYPE_MASK) == INTR_TYPE_PRIV_SW_EXCEPTION) {
		/* INT1 (ICEBP): re-inject as the same event, past the insn */
		shv_stat_inc(vcpu, INJECTED_EXCEPTIONS);
		ev->valid = true;
		ev->info = INTR_INFO_VALID | INTR_TYPE_PRIV_SW_EXCEPTION | DB_VECTOR;
		ev->error_code = 0;
		ev->insn_len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
		return 1;
	}
	shv_queue_exception(vcpu, DB_VECTOR, false, 0);
	return 1;
}

/*
 * #AC: the guest's own alignment check (CR0.AM, EFLAGS.AC, CPL 3) is
 * reflected. Any other #AC comes from the host's split-lock detection,
 * which stays armed while the guest runs: as KVM does, the kernel's
 * handle_guest_split_lock() decides (warn mode: it warns, lets this task
 * run without detection and the guest retries the instruction); if it
 * refuses (fatal mode), RUN exits with SHADOWVM_INTERNAL_ERROR_SPLIT_LOCK.
 */
static int handle_ac(struct shv_vcpu *vcpu)
{
	unsigned long rip = shv_rip(vcpu);

	shv_stat_inc(vcpu, EXIT_EXCEPTION);
	if ((vcpu->cr0 & X86_CR0_AM) && (vmcs_read(GUEST_RFLAGS) & X86_EFLAGS_AC) &&
	    shv_cpl(vcpu) == 3) {
		shv_queue_exception(vcpu, AC_VECTOR, true, 0);
		return 1;
	}
	if (handle_guest_split_lock(rip))
		return 1;
	{
		u64 d[1] = { rip };

		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_SPLIT_LOCK, 1, d);
	}
	return 0;
}

/* The exceptions intercepted for this file's sake; -ENOENT: not one. */
static int handle_db_ac(struct shv_vcpu *vcpu)
{
	u32 info = vmcs_read(VM_EXIT_INTR_INFO);
	int vector = info & INTR_INFO_VECTOR_MASK;

	if ((info & INTR_INFO_TYPE_MASK) == INTR_TYPE_NMI)
		return -ENOENT;
	if (vector == DB_VECTOR)
		return handle_db(vcpu, info);
	if (vector == AC_VECTOR)
		return handle_ac(vcpu);
	return -ENOENT;
}

static int fail_entry(struct shv_vcpu *vcpu, u32 reason)
{
	struct shadowvm_run *run = vcpu->run;

	run->exit_reason = SHADOWVM_EXIT_FAIL_ENTRY;
	run->fail_entry.hardware_entry_failure_reason = reason & 0xffff;
	run->fail_entry.exit_qualification = vmcs_read(EXIT_QUALIFICATION);
	if ((u16)reason == EXIT_REASON_MCE_DURING_VMENTRY)
		shv_info_rl("VM entry failed: machine check during entry (host handler ran)\n");
	else
		shv_info_rl("VM entry failed: reason %u qualification %lu (invalid guest state)\n",
			    reason & 0xffff, vmcs_read(EXIT_QUALIFICATION));
	return 0;
}

int shv_handle_exit(struct shv_vcpu *vcpu, u32 reason)
{
	u16 basic = reason & 0xffff;

	if (reason & EXIT_REASON_FAILED_VMENTRY)
		return fail_entry(vcpu, reason);

	switch (basic) {
	case EXIT_REASON_EXCEPTION_NMI: {
		int r = handle_db_ac(vcpu);

		if (r != -ENOENT)
			return r;
		return handle_exception(vcpu);
	}
	case EXIT_REASON_EXTERNAL_INTERRUPT:
		shv_stat_inc(vcpu, EXIT_EXTINT);
		return 1;
	case EXIT_REASON_TRIPLE_FAULT:
		shv_stat_inc(vcpu, EXIT_TRIPLE_FAULT);
		vcpu->run->exit_reason = SHADOWVM_EXIT_SHUTDOWN;
		vcpu->event.valid = false;
		return 0;
	case EXIT_REASON_PREEMPTION_TIMER:
		shv_stat_inc(vcpu, EXIT_PREEMPT_TIMER);
		return 1;
	case EXIT_REASON_INIT_SIGNAL:
	case EXIT_REASON_SIPI:
		shv_stat_inc(vcpu, EXIT_OTHER);
		return 1;
	case EXIT_REASON_CPUID:
		return handle_cpuid(vcpu);
	case EXIT_REASON_HLT:
		return handle_hlt(vcpu);
	case EXIT_REASON_INVLPG:
		shv_stat_inc(vcpu, EXIT_INVLPG);
		shv_stat_inc(vcpu, INVLPG);
		shv_mmu_invlpg(vcpu, vmcs_read(EXIT_QUALIFICATION));
		shv_flush_tlb_gva(vcpu, vmcs_read(EXIT_QUALIFICATION));
		shv_skip_insn(vcpu);
		return 1;
	case EXIT_REASON_INVD:
	case EXIT_REASON_WBINVD:
		shv_stat_inc(vcpu, EXIT_OTHER);
		shv_skip_insn(vcpu);	/* guest RAM is coherent: nothing to do */
		return 1;
	case EXIT_REASON_CR_ACCESS:
		return handle_cr(vcpu);
	case EXIT_REASON_DR_ACCESS:
		return handle_dr(vcpu);
	case EXIT_REASON_IO_INSTRUCTION:
		return handle_io(vcpu);
	case EXIT_REASON_MSR_READ:
		return handle_rdmsr(vcpu);
	case EXIT_REASON_MSR_WRITE:
		return handle_wrmsr(vcpu);
	case EXIT_REASON_RDPMC:
		shv_stat_inc(vcpu, EXIT_OTHER);
		return inject_gp(vcpu);
	case EXIT_REASON_VMCALL: case EXIT_REASON_VMCLEAR: case EXIT_REASON_VMLAUNCH:
	case EXIT_REASON_VMPTRLD: case EXIT_REASON_VMPTRST: case EXIT_REASON_VMREAD:
	case EXIT_REASON_VMRESUME: case EXIT_REASON_VMWRITE: case EXIT_REASON_VMOFF:
	case EXIT_REASON_VMON: case EXIT_REASON_INVEPT: case EXIT_REASON_INVVPID:
	case EXIT_REASON_VMFUNC: case EXIT_REASON_GETSEC:
	case EXIT_REASON_MWAIT_INSTRUCTION: case EXIT_REASON_MONITOR_INSTRUCTION:
	case EXIT_REASON_XSETBV: case EXIT_REASON_RSM: case EXIT_REASON_INVPCID:
	case EXIT_REASON_RDTSCP: case EXIT_REASON_XSAVES: case EXIT_REASON_XRSTORS:
		shv_stat_inc(vcpu, EXIT_VMX_INSN);
		return inject_ud(vcpu);
	case EXIT_REASON_MSR_LOAD_FAIL:
	case EXIT_REASON_MCE_DURING_VMENTRY:
		return fail_entry(vcpu, reason);
	default: {
		u64 d[3] = { basic, vmcs_read(EXIT_QUALIFICATION), shv_rip(vcpu) };

		shv_stat_inc(vcpu, EXIT_OTHER);
		shv_info_rl("unhandled VM exit %u at rip 0x%llx\n", basic, d[2]);
		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_UNHANDLED_EXIT, 3, d);
		return 0;
	}
	}
}
