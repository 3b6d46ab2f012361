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
 *   emulate.c  entry, operands; MOV, MOVX, MOVBE, MUL/DIV, IMUL, PUSH,
 *              POP and the read-modify-write forms
 *   decode.c   prefixes, opcode classification, ModRM/SIB
 *   string.c   MOVS/STOS/LODS/CMPS/SCAS and REP
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

	if (!(e->lock || e->kind == K_XCHG) || !e->ops->cmpxchg_op) {
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

/* Read the r/m operand (len bytes) into *v. */
static int read_rm(struct emu *e, u64 *v, unsigned int len)
{
	*v = 0;
	if (e->mem)
		return shv_emu_read(e, e->la, v, len);
	*v = reg_get(e, e->rm, len);
	return 0;
}

static u64 bswap(u64 v, unsigned int size)
{
	u64 r = 0;
	unsigned int i;

	for (i = 0; i < size; i++)
		r = (r << 8) | ((v >> (8 * i)) & 0xff);
	return r;
}

/* MOV r/m <-> reg, MOV r/m, imm, MOV moffs, MOVBE */
static int exec_mov(struct emu *e)
{
	unsigned int size = e->size;
	u64 v = 0;
	int ret;

	if (e->reg_dst) {
		ret = read_rm(e, &v, size);
		if (ret)
			return ret;
		if (e->kind == K_MOVBE)
			v = bswap(v, size);
		reg_set(e, e->reg, size, v);
		return 0;
	}
	if (e->kind == K_MOV && e->op >= 0xc6)
		v = e->imm;
	else
		v = reg_get(e, e->reg, size);
	if (e->kind == K_MOVBE)
		v = bswap(v, size);
	if (e->mem)
		return shv_emu_write(e, e->la, &v, size);
	reg_set(e, e->rm, size, v);
	return 0;
}

static int exec_movx(struct emu *e)
{
	u64 v;
	int ret = read_rm(e, &v, e->srcsize);

	if (ret)
		return ret;
	if (e->sign)
		v = sext(v, e->srcsize);
	reg_set(e, e->reg, e->size, v);
	return 0;
}

/* F6/F7 /4../7: MUL, IMUL, DIV, IDIV r/m */
static int exec_muldiv(struct emu *e)
{
	u64 v;
	int ret = read_rm(e, &v, e->size);

	if (ret)
		return ret;
	if (!shv_emu_muldiv(e, e->sub, v, e->size))
		return shv_emu_raise(e, SHV_EMU_VEC_DE, false);
	return 0;
}

/* 0F AF: reg *= r/m; 69/6B: reg = r/m * imm */
static int exec_imul2(struct emu *e)
{
	unsigned int size = e->size;
	u64 v, b;
	int ret = read_rm(e, &v, size);

	if (ret)
		return ret;
	b = e->twobyte ? reg_get(e, e->reg, size) : e->imm;
	reg_set(e, e->reg, size, shv_emu_imul(e, v, b, size));
	return 0;
}

/* FF /6: the r/m operand is read first, the stack written last */
static int exec_push(struct emu *e)
{
	unsigned int size = e->size, ss = shv_emu_stack_size(e);
	u64 v, sp, la;
	int ret = read_rm(e, &v, size);

	if (ret)
		return ret;
	sp = (e->regs[SHV_EMU_RSP] - size) & size_mask(ss);
	ret = shv_emu_lin_addr(e, SHV_EMU_SEG_SS, sp, size, true, &la);
	if (!ret)
		ret = shv_emu_write(e, la, &v, size);
	if (ret)
		return ret;
	reg_set(e, SHV_EMU_RSP, ss, sp);
	return 0;
}

/*
 * 8F /0: read the stack, then write the r/m destination, whose address
 * is computed with the incremented rSP when rSP is its base (SDM "POP").
 */
static int exec_pop(struct emu *e)
{
	unsigned int size = e->size, ss = shv_emu_stack_size(e);
	u64 v = 0, sp, la;
	int ret;

	sp = e->regs[SHV_EMU_RSP] & size_mask(ss);
	ret = shv_emu_lin_addr(e, SHV_EMU_SEG_SS, sp, size, false, &la);
	if (!ret)
		ret = shv_emu_read(e, la, &v, size);
	if (ret)
		return ret;
	reg_set(e, SHV_EMU_RSP, ss, sp + size);
	if (!e->mem) {
		reg_set(e, e->rm, size, v);
		return 0;
	}
	if (e->rsp_base)
		e->ea = (e->ea + size) & size_mask(e->adsize);
	ret = shv_emu_lin_addr(e, e->seg, e->ea, size, true, &e->la);
	if (ret)
		return ret;
	return shv_emu_write(e, e->la, &v, size);
}

/* Does the instruction write its r/m memory operand? */
static bool writes_rm(const struct emu *e)
{
	switch (e->kind) {
	case K_MOV:
	case K_MOVBE:
		return !e->reg_dst;
	case K_ALU:
		return e->sub != ALU_CMP;
	case K_BT:
		return e->sub != BT_BT;
	case K_TEST:
	case K_MOVX:
	case K_MULDIV:
	case K_IMUL2:
	case K_PUSH:
		return false;
	default:
		return true;
	}
}

static int execute(struct emu *e)
{
	unsigned int bits = e->size * 8;
	s64 off;
	int ret;

	if (e->kind >= K_MOVS)
		return shv_emu_exec_string(e);

	/* source operand */
	switch (e->kind) {
	case K_ALU:
	case K_TEST:
	case K_BT:
		if (e->reg_dst) {	/* reg op= r/m: the r/m is the source */
			e->src = 0;
			if (e->mem) {
				ret = shv_emu_lin_addr(e, e->seg, e->ea, e->size,
						       false, &e->la);
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
	case K_SHIFT:
		e->src = e->src_imm ? e->imm & 0xff : e->regs[SHV_EMU_RCX] & 0xff;
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

	if (e->kind == K_POP) {
		ret = exec_pop(e);
		if (ret)
			return ret;
		shv_emu_commit(e, true);
		return SHV_EMU_OK;
	}
	if (e->mem) {
		ret = shv_emu_lin_addr(e, e->seg, e->ea,
				       e->kind == K_MOVX ? e->srcsize : e->size,
				       writes_rm(e), &e->la);
		if (ret)
			return ret;
		if (e->kind == K_CMPXCHG8B && e->size == 16 && (e->la & 15))
			return shv_emu_raise(e, SHV_EMU_VEC_GP, true);
	} else if (!e->reg_dst) {
		e->dreg = e->rm;
	}

	switch (e->kind) {
	case K_MOV:
	case K_MOVBE:
		ret = exec_mov(e);
		break;
	case K_MOVX:
		ret = exec_movx(e);
		break;
	case K_MULDIV:
		ret = exec_muldiv(e);
		break;
	case K_IMUL2:
		ret = exec_imul2(e);
		break;
	case K_PUSH:
		ret = exec_push(e);
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
	c->string_op = false;
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
	if (e.decoded) {
		c->insn_len = e.len;
		c->string_op = e.kind >= K_MOVS;
	}
	if (ret)
		return ret;
	return execute(&e);
}
