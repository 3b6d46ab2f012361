// SPDX-License-Identifier: GPL-2.0
/*
 * Port I/O exits and the completion of userspace exits. Contract: IN/OUT
 * and INS/OUTS (REP too) exit to userspace with the data in the run page
 * (SHADOWVM_RUN_IO_DATA_OFFSET), as many items per exit as fit; string
 * I/O checks segment limits, canonical addresses and alignment like the
 * hardware before any item moves. shv_complete_user_exit() finishes at
 * the next RUN what the last exit left pending (IN data into registers or
 * memory, an MMIO read into the emulated instruction).
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/mm.h>
#include <asm/processor-flags.h>
#include <asm/cpu.h>
#include "shadowvm.h"
#include "vmx_defs.h"
#include "exits.h"

/* ---- port I/O ---- */

static u8 *io_data(struct shv_vcpu *vcpu)
{
	return (u8 *)vcpu->run + SHADOWVM_RUN_IO_DATA_OFFSET;
}

#define IO_DATA_MAX (PAGE_SIZE - SHADOWVM_RUN_IO_DATA_OFFSET)

/* ES, CS, SS, DS, FS, GS: the VMX instruction-information order (exits.h) */
const u32 shv_seg_sel_field[6] = {
	GUEST_ES_SELECTOR, GUEST_CS_SELECTOR, GUEST_SS_SELECTOR, GUEST_DS_SELECTOR,
	GUEST_FS_SELECTOR, GUEST_GS_SELECTOR,
};

const u32 shv_seg_base_field[6] = {
	GUEST_ES_BASE, GUEST_CS_BASE, GUEST_SS_BASE, GUEST_DS_BASE,
	GUEST_FS_BASE, GUEST_GS_BASE,
};

const u32 shv_seg_limit_field[6] = {
	GUEST_ES_LIMIT, GUEST_CS_LIMIT, GUEST_SS_LIMIT, GUEST_DS_LIMIT,
	GUEST_FS_LIMIT, GUEST_GS_LIMIT,
};

const u32 shv_seg_ar_field[6] = {
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
	base = (sixty_four && seg < 4) ? 0 : vmcs_read(shv_seg_base_field[seg]);
	if (!sixty_four) {
		ar = vmcs_read(shv_seg_ar_field[seg]);
		if (ar & AR_UNUSABLE)
			return 0;
		if (in && ((ar & 8) || !(ar & 2)))
			return 0;	/* INS needs a writable data segment */
		if (!in && (ar & 8) && !(ar & 2))
			return 0;	/* OUTS: execute-only code segment */
	}
	limit = vmcs_read(shv_seg_limit_field[seg]);
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

int shv_handle_io(struct shv_vcpu *vcpu)
{
	unsigned long q = vmcs_read(EXIT_QUALIFICATION);
	u32 info = shv_caps.inout_info ? vmcs_read(VMX_INSTRUCTION_INFO) : 0;
	int asize = shv_caps.inout_info ? (info >> 7) & 7 :
		    (cs_64bit(vcpu) ? 2 : ((vmcs_read(GUEST_CS_AR_BYTES) >> 14) & 1));
	int seg = (q & 8) ? 0 /* ES, no override */ :
		  (shv_caps.inout_info ? (info >> 15) & 7 : 3);

	return shv_handle_io_q(vcpu, q, asize, seg);
}

/*
 * An I/O instruction given by its exit qualification (SDM table 28-5), its
 * address size (0 16-bit, 1 32-bit, 2 64-bit) and, for INS/OUTS, the data
 * segment (ES for INS): from the exit above, or decoded by vmx/rmode.c.
 */
int shv_handle_io_q(struct shv_vcpu *vcpu, unsigned long q, int asize, int seg)
{
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
		base = (cs_64bit(vcpu) && seg < 4) ? 0 : vmcs_read(shv_seg_base_field[seg]);
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
			vcpu->pio.rm_insn_len = vcpu->rmode.insn_len;
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
		if (string_io_advance(vcpu, true, vcpu->pio.rep, vcpu->pio.asize, size, count)) {
			vcpu->rmode.insn_len = vcpu->pio.rm_insn_len;
			shv_skip_insn(vcpu);
			vcpu->rmode.insn_len = 0;
		}
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

