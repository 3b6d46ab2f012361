// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm x86 emulator: the bottom layer. Instruction fetch, linear
 * addresses (segment base, canonical checks), data accesses through the
 * shv_emu_ops callbacks, exception and callback-failure results, and the
 * commit of the working register copy to struct shv_emu_ctxt.
 *
 * Contract: every guest access of the emulator goes through this file;
 * it records the last access in the context (for error reports) and maps
 * a callback error to SHV_EMU_RETRY (-EAGAIN) or SHV_EMU_FAULT. It calls
 * no other emulator file.
 */
#include "emu_internal.h"

int shv_emu_op_failed(struct emu *e, int ret)
{
	e->c->op_error = ret;
	return ret == -EAGAIN ? SHV_EMU_RETRY : SHV_EMU_FAULT;
}

int shv_emu_raise(struct emu *e, u8 vector, bool has_error_code)
{
	e->c->exc_vector = vector;
	e->c->exc_has_error_code = has_error_code;
	e->c->exc_error_code = 0;
	return SHV_EMU_EXCEPTION;
}

static bool canonical(const struct emu *e, u64 la)
{
	unsigned int shift = e->c->la57 ? 7 : 16;

	return (u64)((s64)(la << shift) >> shift) == la;
}

/* #SS(0) for the stack segment, #GP(0) for the others */
static int seg_fault(struct emu *e, unsigned int seg)
{
	return shv_emu_raise(e, seg == SHV_EMU_SEG_SS ? SHV_EMU_VEC_SS :
			     SHV_EMU_VEC_GP, true);
}

/*
 * Outside 64-bit mode, when the caller asked for it (seg_checks): the
 * segment must be usable, writable for a write, readable for a read, and
 * [ea, ea + len) within its limit (above it for expand-down data).
 */
static int seg_check(struct emu *e, unsigned int seg, u64 ea,
		     unsigned int len, bool write)
{
	const struct shv_emu_ctxt *c = e->c;
	u32 ar = c->seg_ar[seg], type = ar & SHV_EMU_AR_TYPE;
	u64 last = ea + len - 1, limit = c->seg_limit[seg];

	if (ar & SHV_EMU_AR_UNUSABLE)
		return seg_fault(e, seg);
	if (type & SHV_EMU_AR_TYPE_CODE) {
		if (write || !(type & SHV_EMU_AR_TYPE_RW))
			return seg_fault(e, seg);
	} else if (write && !(type & SHV_EMU_AR_TYPE_RW)) {
		return seg_fault(e, seg);
	}
	if (!(type & SHV_EMU_AR_TYPE_CODE) && (type & SHV_EMU_AR_TYPE_DOWN)) {
		u64 upper = ar & SHV_EMU_AR_DB ? 0xffffffffULL : 0xffffULL;

		if (ea <= limit || last > upper)
			return seg_fault(e, seg);
	} else if (last > limit) {
		return seg_fault(e, seg);
	}
	return 0;
}

/*
 * Linear address of seg:ea (ea already truncated to the address size),
 * for an access of len bytes; write: the access writes (or reads and
 * writes). Raises #GP(0)/#SS(0) for a non-canonical address in 64-bit
 * mode and, with seg_checks, for a segment violation in the other modes.
 */
int shv_emu_lin_addr(struct emu *e, unsigned int seg, u64 ea,
		     unsigned int len, bool write, u64 *la)
{
	u64 a;
	int ret;

	if (e->mode != SHV_EMU_MODE_LONG64) {
		if (e->c->seg_checks) {
			ret = seg_check(e, seg, ea, len, write);
			if (ret)
				return ret;
		}
		*la = (u32)(e->c->seg_base[seg] + ea);
		return 0;
	}
	a = ea;
	if (seg == SHV_EMU_SEG_FS || seg == SHV_EMU_SEG_GS)
		a += e->c->seg_base[seg];
	if (!canonical(e, a) || !canonical(e, a + len - 1))
		return seg_fault(e, seg);
	*la = a;
	return 0;
}

/* Address size of the stack (rSP): SS.B outside 64-bit mode. */
unsigned int shv_emu_stack_size(const struct emu *e)
{
	if (e->mode == SHV_EMU_MODE_LONG64)
		return 8;
	if (e->c->seg_checks)
		return e->c->seg_ar[SHV_EMU_SEG_SS] & SHV_EMU_AR_DB ? 4 : 2;
	return e->mode == SHV_EMU_MODE_PROT32 ? 4 : 2;
}

static void note_access(struct emu *e, u64 la, unsigned int len, bool write)
{
	e->c->last_la = la;
	e->c->last_len = len;
	e->c->last_write = write;
}

int shv_emu_read(struct emu *e, u64 la, void *buf, unsigned int len)
{
	int ret;

	note_access(e, la, len, false);
	ret = e->ops->read(e->ctx, la, buf, len);
	return ret ? shv_emu_op_failed(e, ret) : 0;
}

int shv_emu_write(struct emu *e, u64 la, const void *buf, unsigned int len)
{
	int ret;

	note_access(e, la, len, true);
	ret = e->ops->write(e->ctx, la, buf, len);
	return ret ? shv_emu_op_failed(e, ret) : 0;
}

int shv_emu_cmpxchg(struct emu *e, u64 la, const void *old,
		    const void *new, unsigned int len, bool *swapped)
{
	int ret;

	note_access(e, la, len, true);
	*swapped = false;
	ret = e->ops->cmpxchg_op(e->ctx, la, old, new, len, swapped);
	return ret ? shv_emu_op_failed(e, ret) : 0;
}

int shv_emu_fetch(struct emu *e, unsigned int n, u64 *val)
{
	struct shv_emu_ctxt *c = e->c;
	unsigned int need = e->len + n;

	if (need > SHV_EMU_MAX_INSN_LEN)
		return shv_emu_raise(e, SHV_EMU_VEC_GP, true);
	while (c->insn_fetched < need) {
		u64 la = c->rip + c->insn_fetched;
		unsigned int chunk;
		int ret;

		if (e->mode != SHV_EMU_MODE_LONG64)
			la = (u32)(la + c->seg_base[SHV_EMU_SEG_CS]);
		/* up to the end of the page: never fetch across it needlessly */
		chunk = 4096 - (unsigned int)(la & 4095);
		if (chunk > SHV_EMU_MAX_INSN_LEN - c->insn_fetched)
			chunk = SHV_EMU_MAX_INSN_LEN - c->insn_fetched;
		ret = e->ops->fetch(e->ctx, la, c->insn + c->insn_fetched, chunk);
		if (ret)
			return shv_emu_op_failed(e, ret);
		c->insn_fetched += chunk;
	}
	*val = 0;
	memcpy(val, c->insn + e->len, n);
	e->len = need;
	return 0;
}

int shv_emu_fetch_sx(struct emu *e, unsigned int n, u64 *val)
{
	int ret = shv_emu_fetch(e, n, val);

	*val = sext(*val, n);
	return ret;
}

static u64 next_rip(const struct emu *e)
{
	u64 rip = e->c->rip + e->len;

	if (e->mode == SHV_EMU_MODE_PROT16)
		return rip & 0xffff;
	if (e->mode == SHV_EMU_MODE_PROT32)
		return (u32)rip;
	return rip;
}

void shv_emu_commit(struct emu *e, bool advance)
{
	memcpy(e->c->regs, e->regs, sizeof(e->regs));
	e->c->rflags = e->rflags;
	if (advance)
		e->c->rip = next_rip(e);
}
