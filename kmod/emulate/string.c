// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm x86 emulator: string instructions and REP.
 *
 * Contract: shv_emu_exec_string() runs up to ctxt.rep_max iterations of
 * a decoded string instruction, committing each completed iteration
 * (rSI/rDI/rCX) as the CPU does, so that a fault or an MMIO exit in the
 * middle of a REP keeps the progress made and the instruction resumes
 * where it stopped; rip advances only when the REP is finished. Uses
 * access.c for memory and alu.c for flags.
 */
#include "emu_internal.h"

static void addr_reg_add(struct emu *e, unsigned int r, u64 delta)
{
	reg_set(e, r, e->adsize, e->regs[r] + delta);
}

/* MOVS/STOS: each iteration is committed as it completes. */
int shv_emu_exec_string(struct emu *e)
{
	unsigned int size = e->size, done, n = 1;
	u64 amask = size_mask(e->adsize);
	u64 step = e->rflags & FL_DF ? -(u64)size : size;
	u64 count = 0, la, v;
	int ret = 0;

	if (e->rep) {
		count = e->regs[SHV_EMU_RCX] & amask;
		if (!count) {
			/*
			 * Intel zero-extends the 32-bit address registers
			 * even when there is nothing to do (AMD does not);
			 * shadowvm runs on Intel.
			 */
			if (e->adsize == 4) {
				if (e->kind == K_MOVS)
					addr_reg_add(e, SHV_EMU_RSI, 0);
				addr_reg_add(e, SHV_EMU_RDI, 0);
			}
			shv_emu_commit(e, true);
			return SHV_EMU_OK;
		}
		n = e->c->rep_max ? e->c->rep_max : 1;
		if (count < n)
			n = (unsigned int)count;
	}
	for (done = 0; done < n; done++) {
		v = 0;
		if (e->kind == K_MOVS) {
			ret = shv_emu_lin_addr(e, e->seg, e->regs[SHV_EMU_RSI] & amask,
					       size, &la);
			if (!ret)
				ret = shv_emu_read(e, la, &v, size);
		} else {
			v = e->regs[SHV_EMU_RAX];
		}
		if (!ret)
			ret = shv_emu_lin_addr(e, SHV_EMU_SEG_ES,
					       e->regs[SHV_EMU_RDI] & amask, size, &la);
		if (!ret)
			ret = shv_emu_write(e, la, &v, size);
		if (ret)
			break;
		if (e->kind == K_MOVS)
			addr_reg_add(e, SHV_EMU_RSI, step);
		addr_reg_add(e, SHV_EMU_RDI, step);
		if (e->rep)
			addr_reg_add(e, SHV_EMU_RCX, -1ULL);
	}
	if (ret) {
		if (done)
			shv_emu_commit(e, false);
		return ret;
	}
	shv_emu_commit(e, !e->rep || !(e->regs[SHV_EMU_RCX] & amask));
	return SHV_EMU_OK;
}
