// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm x86 emulator: the decoder. Prefixes, REX, opcode
 * classification (which instruction kind, operand size, immediate),
 * ModRM/SIB/displacement and the effective address of the memory operand.
 *
 * Contract: shv_emu_decode() fills struct emu from the instruction bytes
 * (fetched through access.c) and raises #UD/#GP for encodings the CPU
 * rejects (LOCK misuse, over-long instruction); it reads registers but
 * never guest data and never changes architectural state.
 */
#include "emu_internal.h"

/* operand size of PUSH/POP: 64 bits in 64-bit mode unless 66 (16) */
static unsigned int shv_emu_stack_opsize(const struct emu *e)
{
	if (e->mode == SHV_EMU_MODE_LONG64)
		return e->opsize == 2 ? 2 : 8;
	return e->opsize;
}

static int decode_modrm16(struct emu *e, unsigned int rm, u8 *defseg)
{
	const u64 *r = e->regs;
	u64 ea = 0, disp;
	int ret = 0;

	switch (rm) {
	case 0:
		ea = r[SHV_EMU_RBX] + r[SHV_EMU_RSI];
		break;
	case 1:
		ea = r[SHV_EMU_RBX] + r[SHV_EMU_RDI];
		break;
	case 2:
		ea = r[SHV_EMU_RBP] + r[SHV_EMU_RSI];
		*defseg = SHV_EMU_SEG_SS;
		break;
	case 3:
		ea = r[SHV_EMU_RBP] + r[SHV_EMU_RDI];
		*defseg = SHV_EMU_SEG_SS;
		break;
	case 4:
		ea = r[SHV_EMU_RSI];
		break;
	case 5:
		ea = r[SHV_EMU_RDI];
		break;
	case 6:
		if (e->mod == 0) {
			ret = shv_emu_fetch(e, 2, &disp);
			ea = disp;
		} else {
			ea = r[SHV_EMU_RBP];
			*defseg = SHV_EMU_SEG_SS;
		}
		break;
	default:
		ea = r[SHV_EMU_RBX];
		break;
	}
	if (ret)
		return ret;
	if (e->mod == 1) {
		ret = shv_emu_fetch_sx(e, 1, &disp);
		ea += disp;
	} else if (e->mod == 2) {
		ret = shv_emu_fetch(e, 2, &disp);
		ea += disp;
	}
	e->ea = ea;
	return ret;
}

static int decode_modrm(struct emu *e, u8 *defseg)
{
	unsigned int rm, base = 16, index, scale = 0;
	u64 b, sib, disp = 0, ea = 0;
	int ret;

	ret = shv_emu_fetch(e, 1, &b);
	if (ret)
		return ret;
	e->mod = b >> 6;
	e->reg = ((b >> 3) & 7) | ((e->rex & 4) << 1);
	rm = b & 7;
	if (e->mod == 3) {
		e->rm = rm | ((e->rex & 1) << 3);
		return 0;
	}
	e->mem = true;
	if (e->adsize == 2)
		return decode_modrm16(e, rm, defseg);

	if (rm == 4) {
		ret = shv_emu_fetch(e, 1, &sib);
		if (ret)
			return ret;
		scale = sib >> 6;
		index = ((sib >> 3) & 7) | ((e->rex & 2) << 2);
		if (index != 4)
			ea = e->regs[index] << scale;
		if ((sib & 7) == 5 && e->mod == 0)
			ret = shv_emu_fetch_sx(e, 4, &disp);
		else
			base = (sib & 7) | ((e->rex & 1) << 3);
	} else if (rm == 5 && e->mod == 0) {
		ret = shv_emu_fetch_sx(e, 4, &disp);
		/* RIP-relative: fixed up once the length is known */
		e->riprel = e->mode == SHV_EMU_MODE_LONG64;
	} else {
		base = rm | ((e->rex & 1) << 3);
	}
	if (ret)
		return ret;
	if (base < 16) {
		ea += e->regs[base];
		if (base == SHV_EMU_RSP || base == SHV_EMU_RBP)
			*defseg = SHV_EMU_SEG_SS;
		e->rsp_base = base == SHV_EMU_RSP;
	}
	if (e->mod == 1)
		ret = shv_emu_fetch_sx(e, 1, &disp);
	else if (e->mod == 2)
		ret = shv_emu_fetch_sx(e, 4, &disp);
	e->ea = ea + disp;
	return ret;
}

/*
 * Classify the opcode: sets kind/sub/size and whether a ModRM byte and
 * which immediate follow. Group opcodes are refined by classify_group()
 * once ModRM.reg is known.
 */
static int classify(struct emu *e, bool *modrm, unsigned int *immsz)
{
	unsigned int op = e->op;
	bool byteop = !(op & 1);

	*modrm = true;
	*immsz = 0;
	e->size = byteop ? 1 : e->opsize;

	if (e->threebyte) {
		/* 0F 38 F0/F1: MOVBE (with F2: CRC32, not emulated) */
		if ((op & 0xfe) != 0xf0 || e->rep == 0xf2)
			return SHV_EMU_UNHANDLED;
		e->kind = K_MOVBE;
		e->size = e->opsize;
		e->reg_dst = op == 0xf0;
		return 0;
	}
	if (e->twobyte) {
		switch (op) {
		case 0xaf:
			e->kind = K_IMUL2;
			e->size = e->opsize;
			e->reg_dst = true;
			return 0;
		case 0xa3: case 0xab: case 0xb3: case 0xbb:
			e->kind = K_BT;
			e->sub = (op >> 3) & 3;
			e->size = e->opsize;
			e->lockable = e->sub != BT_BT;
			return 0;
		case 0xba:
			e->kind = K_BT;
			e->size = e->opsize;
			e->src_imm = true;
			*immsz = 1;
			return 0;
		case 0xb0: case 0xb1:
			e->kind = K_CMPXCHG;
			e->lockable = true;
			return 0;
		case 0xc0: case 0xc1:
			e->kind = K_XADD;
			e->lockable = true;
			return 0;
		case 0xb6: case 0xb7: case 0xbe: case 0xbf:
			e->kind = K_MOVX;
			e->size = e->opsize;
			e->srcsize = (op & 1) ? 2 : 1;
			e->sign = op & 8;
			e->reg_dst = true;
			return 0;
		case 0xc7:
			e->kind = K_CMPXCHG8B;
			e->size = e->rex & 8 ? 16 : 8;
			e->lockable = true;
			return 0;
		default:
			return SHV_EMU_UNHANDLED;
		}
	}

	if (op < 0x40 && (op & 7) < 6) {
		e->kind = K_ALU;
		e->sub = op >> 3;
		switch (op & 7) {
		case 0: case 1:		/* r/m, reg */
			e->lockable = e->sub != ALU_CMP;
			break;
		case 2: case 3:		/* reg, r/m */
			e->reg_dst = true;
			break;
		default:		/* AL/eAX, imm: rm stays 0 = rAX */
			*modrm = false;
			*immsz = e->size == 1 ? 1 : (e->size == 2 ? 2 : 4);
			e->src_imm = true;
			break;
		}
		return 0;
	}

	switch (op) {
	case 0x63:
		if (e->mode != SHV_EMU_MODE_LONG64)
			return SHV_EMU_UNHANDLED;	/* ARPL */
		e->kind = K_MOVX;
		e->size = e->opsize;
		e->srcsize = e->opsize == 2 ? 2 : 4;
		e->sign = true;
		e->reg_dst = true;
		return 0;
	case 0x82:
		if (e->mode == SHV_EMU_MODE_LONG64)
			return SHV_EMU_UNHANDLED;
		*immsz = 1;
		e->kind = K_ALU;
		e->src_imm = true;
		return 0;
	case 0x80: case 0x81: case 0x83:
		e->kind = K_ALU;
		e->src_imm = true;
		*immsz = op == 0x81 ? (e->size == 2 ? 2 : 4) : 1;
		return 0;
	case 0x84: case 0x85:
		e->kind = K_TEST;
		return 0;
	case 0x86: case 0x87:
		e->kind = K_XCHG;
		e->lockable = true;
		return 0;
	case 0x88: case 0x89:
		e->kind = K_MOV;
		return 0;
	case 0x8a: case 0x8b:
		e->kind = K_MOV;
		e->reg_dst = true;
		return 0;
	case 0xa0: case 0xa1: case 0xa2: case 0xa3:
		e->kind = K_MOV;
		e->size = (op & 1) ? e->opsize : 1;
		e->reg_dst = !(op & 2);
		*modrm = false;
		*immsz = e->adsize;	/* moffs */
		return 0;
	case 0x69: case 0x6b:
		e->kind = K_IMUL2;
		e->size = e->opsize;
		e->reg_dst = true;
		*immsz = op == 0x6b ? 1 : (e->size == 2 ? 2 : 4);
		return 0;
	case 0x8f:
		e->kind = K_POP;
		e->size = shv_emu_stack_opsize(e);
		return 0;
	case 0xa4: case 0xa5:
		e->kind = K_MOVS;
		*modrm = false;
		return 0;
	case 0xa6: case 0xa7:
		e->kind = K_CMPS;
		*modrm = false;
		return 0;
	case 0xaa: case 0xab:
		e->kind = K_STOS;
		*modrm = false;
		return 0;
	case 0xac: case 0xad:
		e->kind = K_LODS;
		*modrm = false;
		return 0;
	case 0xae: case 0xaf:
		e->kind = K_SCAS;
		*modrm = false;
		return 0;
	case 0xc0: case 0xc1:
		e->kind = K_SHIFT;
		e->src_imm = true;
		*immsz = 1;
		return 0;
	case 0xd0: case 0xd1:
		e->kind = K_SHIFT;
		e->src_imm = true;
		e->imm = 1;
		return 0;
	case 0xd2: case 0xd3:
		e->kind = K_SHIFT;	/* count in CL */
		return 0;
	case 0xc6: case 0xc7:
		e->kind = K_MOV;
		*immsz = e->size == 1 ? 1 : (e->size == 2 ? 2 : 4);
		return 0;
	case 0xf6: case 0xf7:
	case 0xfe: case 0xff:
		return 0;		/* refined by classify_group() */
	default:
		return SHV_EMU_UNHANDLED;
	}
}

static int classify_group(struct emu *e, unsigned int *immsz)
{
	unsigned int r = e->reg & 7;

	if (e->twobyte) {
		if (e->op == 0xba) {
			if (r < 4)
				return SHV_EMU_UNHANDLED;
			e->sub = r - 4;
			e->lockable = e->sub != BT_BT;
		} else if (e->op == 0xc7 && r != 1) {
			return SHV_EMU_UNHANDLED;
		}
		return 0;
	}
	switch (e->op) {
	case 0x80: case 0x81: case 0x82: case 0x83:
		e->sub = r;
		e->lockable = r != ALU_CMP;
		return 0;
	case 0xc6: case 0xc7:
	case 0x8f:
		return r ? SHV_EMU_UNHANDLED : 0;
	case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3:
		e->sub = r;
		return 0;
	case 0xf6: case 0xf7:
		switch (r) {
		case 0:
			e->kind = K_TEST;
			e->src_imm = true;
			*immsz = e->size == 1 ? 1 : (e->size == 2 ? 2 : 4);
			return 0;
		case 2:
			e->kind = K_NOT;
			e->lockable = true;
			return 0;
		case 3:
			e->kind = K_NEG;
			e->lockable = true;
			return 0;
		case 1:
			return SHV_EMU_UNHANDLED;
		default:
			e->kind = K_MULDIV;
			e->sub = r - 4;
			return 0;
		}
	case 0xfe: case 0xff:
		if (e->op == 0xff && r == 6) {
			e->kind = K_PUSH;
			e->size = shv_emu_stack_opsize(e);
			return 0;
		}
		if (r > 1)
			return SHV_EMU_UNHANDLED;
		e->kind = r ? K_DEC : K_INC;
		e->lockable = true;
		return 0;
	default:
		return 0;
	}
}

int shv_emu_decode(struct emu *e)
{
	bool opsz_pfx = false, adsz_pfx = false, seg_ovr = false, modrm;
	unsigned int immsz;
	u8 defseg = SHV_EMU_SEG_DS;
	u64 b;
	int ret;

	for (;;) {
		ret = shv_emu_fetch(e, 1, &b);
		if (ret)
			return ret;
		switch (b) {
		case 0x66:
			opsz_pfx = true;
			break;
		case 0x67:
			adsz_pfx = true;
			break;
		case 0xf0:
			e->lock = true;
			break;
		case 0xf2: case 0xf3:
			e->rep = b;
			break;
		case 0x26: case 0x2e: case 0x36: case 0x3e:
			e->seg = (b >> 3) & 3;
			seg_ovr = true;
			break;
		case 0x64: case 0x65:
			e->seg = SHV_EMU_SEG_FS + (b & 1);
			seg_ovr = true;
			break;
		default:
			if (e->mode == SHV_EMU_MODE_LONG64 && (b & 0xf0) == 0x40) {
				e->rex = b;	/* counts only right before the opcode */
				continue;
			}
			goto opcode;
		}
		e->rex = 0;
	}
opcode:
	if (e->mode == SHV_EMU_MODE_LONG64) {
		e->opsize = e->rex & 8 ? 8 : (opsz_pfx ? 2 : 4);
		e->adsize = adsz_pfx ? 4 : 8;
	} else if (e->mode == SHV_EMU_MODE_PROT32) {
		e->opsize = opsz_pfx ? 2 : 4;
		e->adsize = adsz_pfx ? 2 : 4;
	} else {
		e->opsize = opsz_pfx ? 4 : 2;
		e->adsize = adsz_pfx ? 4 : 2;
	}
	if (b == 0x0f) {
		e->twobyte = true;
		ret = shv_emu_fetch(e, 1, &b);
		if (ret)
			return ret;
		if (b == 0x38) {
			e->threebyte = true;
			ret = shv_emu_fetch(e, 1, &b);
			if (ret)
				return ret;
		}
	}
	e->op = b;

	ret = classify(e, &modrm, &immsz);
	if (ret)
		return ret;
	if (modrm) {
		ret = decode_modrm(e, &defseg);
		if (ret)
			return ret;
		ret = classify_group(e, &immsz);
		if (ret)
			return ret;
	}
	if (immsz) {
		if (!modrm && e->kind == K_MOV) {	/* moffs */
			ret = shv_emu_fetch(e, immsz, &e->ea);
			e->mem = true;
		} else {
			ret = shv_emu_fetch_sx(e, immsz, &e->imm);
		}
		if (ret)
			return ret;
	}
	if (e->riprel)
		e->ea += e->c->rip + e->len;
	e->ea &= size_mask(e->adsize);
	if (!seg_ovr)
		e->seg = defseg;
	e->decoded = true;

	if (e->lock && (!e->mem || !e->lockable))
		return shv_emu_raise(e, SHV_EMU_VEC_UD, false);
	if ((e->kind == K_CMPXCHG8B || e->kind == K_MOVBE) && !e->mem)
		return shv_emu_raise(e, SHV_EMU_VEC_UD, false);
	return 0;
}
