// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm x86 instruction emulator: the entry point and the execution of
 * the non-string instruction forms.
 *
 * Contract: shv_emulate() (see emulate.h) emulates exactly one instruction
 * (or a bounded number of iterations of a REP string instruction) for an
 * MMIO access or a write to a write-protected guest page table. It and
 * the files it calls include only emulate.h, use no floating point and no
 * libc beyond memcpy/memset, and build both in the kernel and in
 * userspace. All guest memory goes through the shv_emu_ops callbacks;
 * registers live in a working copy that is committed to struct
 * shv_emu_ctxt only after every access succeeded, and the memory write is
 * always the last access of an instruction, so a failed or -EAGAIN
 * callback leaves the architectural state untouched and the instruction
 * can simply be run again.
 *
 * Layering (each file calls only those below it):
 *   emulate.c  entry, operand fetch, MOV/MOVX/read-modify-write forms
 *   decode.c   prefixes, opcode classification, ModRM/SIB
 *   string.c   MOVS/STOS and REP
 *   alu.c      values and flags
 *   access.c   fetch, linear addresses, memory callbacks, commit
 */
#include "emu_internal.h"

/* Read-modify-write of the r/m destination (or of register e->dreg). */
static int exec_rmw(struct emu *e)
{
	const struct shv_emu_ctxt *c = e->c;
	unsigned int size = e->size, i;
	u64 old[2], new[2];
	bool swapped;
	int ret;

	if (!e->mem) {
		old[0] = reg_get(e, e->dreg, size);
		if (shv_emu_compute(e, old, new))
			reg_set(e, e->dreg, size, new[0]);
		return 0;
	}

	if (!(e->lock || e->kind == K_XCHG) || !e->ops->cmpxchg) {
		old[0] = 0;
		old[1] = 0;
		ret = shv_emu_read(e, e->la, old, size);
		if (ret)
			return ret;
		new[0] = 0;
		new[1] = 0;
		if (!shv_emu_compute(e, old, new))
			return 0;
		return shv_emu_write(e, e->la, new, size);
	}

	/* locked: read, compute, compare-exchange; again if we lost a race */
	for (i = 0; i < SHV_EMU_CMPXCHG_TRIES; i++) {
		memcpy(e->regs, c->regs, sizeof(e->regs));
		e->rflags = c->rflags;
		old[0] = 0;
		old[1] = 0;
		ret = shv_emu_read(e, e->la, old, size);
		if (ret)
			return ret;
		new[0] = 0;
		new[1] = 0;
		shv_emu_compute(e, old, new);
		ret = shv_emu_cmpxchg(e, e->la, old, new, size, &swapped);
		if (ret)
			return ret;
		if (swapped)
			return 0;
	}
	e->c->op_error = 0;
	return SHV_EMU_RETRY;
}

static int exec_mov(struct emu *e)
{
	unsigned int size = e->size;
	u64 v = 0;
	int ret;

	if (e->reg_dst) {
		if (e->mem) {
			ret = shv_emu_read(e, e->la, &v, size);
			if (ret)
				return ret;
		} else {
			v = reg_get(e, e->rm, size);
		}
		reg_set(e, e->reg, size, v);
		return 0;
	}
	v = e->op >= 0xc6 ? e->imm : reg_get(e, e->reg, size);
	if (e->mem)
		return shv_emu_write(e, e->la, &v, size);
	reg_set(e, e->rm, size, v);
	return 0;
}

static int exec_movx(struct emu *e)
{
	u64 v = 0;
	int ret;

	if (e->mem) {
		ret = shv_emu_read(e, e->la, &v, e->srcsize);
		if (ret)
			return ret;
	} else {
		v = reg_get(e, e->rm, e->srcsize);
	}
	if (e->sign)
		v = sext(v, e->srcsize);
	reg_set(e, e->reg, e->size, v);
	return 0;
}

static int execute(struct emu *e)
{
	unsigned int bits = e->size * 8;
	s64 off;
	int ret;

	if (e->kind == K_MOVS || e->kind == K_STOS)
		return shv_emu_exec_string(e);

	/* source operand */
	switch (e->kind) {
	case K_ALU:
	case K_TEST:
	case K_BT:
		if (e->reg_dst) {	/* reg op= r/m: the r/m is the source */
			e->src = 0;
			if (e->mem) {
				ret = shv_emu_lin_addr(e, e->seg, e->ea, e->size, &e->la);
				if (!ret)
					ret = shv_emu_read(e, e->la, &e->src, e->size);
				if (ret)
					return ret;
			} else {
				e->src = reg_get(e, e->rm, e->size);
			}
			e->mem = false;
			e->dreg = e->reg;
			break;
		}
		if (e->src_imm)
			e->src = e->imm & size_mask(e->size);
		else
			e->src = reg_get(e, e->reg, e->size);
		break;
	case K_XCHG:
	case K_XADD:
	case K_CMPXCHG:
		e->src = reg_get(e, e->reg, e->size);
		break;
	default:
		break;
	}

	/* BT with a register bit offset can address beyond the operand */
	if (e->kind == K_BT && e->mem && e->op != 0xba) {
		off = (s64)sext(e->src, e->size);
		off &= -(s64)bits;
		e->ea = (e->ea + (u64)(off / 8)) & size_mask(e->adsize);
	}

	if (e->mem) {
		ret = shv_emu_lin_addr(e, e->seg, e->ea,
				       e->kind == K_MOVX ? e->srcsize : e->size, &e->la);
		if (ret)
			return ret;
		if (e->kind == K_CMPXCHG8B && e->size == 16 && (e->la & 15))
			return shv_emu_raise(e, SHV_EMU_VEC_GP, true);
	} else if (!e->reg_dst) {
		e->dreg = e->rm;
	}

	switch (e->kind) {
	case K_MOV:
		ret = exec_mov(e);
		break;
	case K_MOVX:
		ret = exec_movx(e);
		break;
	default:
		ret = exec_rmw(e);
		break;
	}
	if (ret)
		return ret;
	shv_emu_commit(e, true);
	return SHV_EMU_OK;
}

enum shv_emu_result shv_emulate(struct shv_emu_ctxt *c,
				const struct shv_emu_ops *ops, void *ctx)
{
	struct emu e;
	int ret;

	memset(&e, 0, sizeof(e));
	e.c = c;
	e.ops = ops;
	e.ctx = ctx;
	e.mode = c->mode;
	memcpy(e.regs, c->regs, sizeof(e.regs));
	e.rflags = c->rflags;

	c->insn_len = 0;
	c->insn_fetched = 0;
	c->last_la = 0;
	c->last_len = 0;
	c->last_write = false;
	c->op_error = 0;
	c->exc_vector = 0;
	c->exc_has_error_code = false;
	c->exc_error_code = 0;

	if (e.mode != SHV_EMU_MODE_PROT16 && e.mode != SHV_EMU_MODE_PROT32 &&
	    e.mode != SHV_EMU_MODE_LONG64)
		return SHV_EMU_UNHANDLED;

	ret = shv_emu_decode(&e);
	if (e.decoded)
		c->insn_len = e.len;
	if (ret)
		return ret;
	return execute(&e);
}
