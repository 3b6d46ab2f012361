// SPDX-License-Identifier: GPL-2.0
/*
 * Guest INVPCID (SDM vol. 2, INVPCID; vol. 3 25.1.3 and 28.2.5).
 *
 * Contract: shv_handle_invpcid() is the exit handler of an INVPCID exit,
 * which happens only when "enable INVPCID" is set (cpuid.c then shows
 * INVPCID to the guest) and the MMU policy intercepts INVLPG; under the
 * other policies the shadow never goes stale and INVPCID runs natively on
 * the VPID- and PCID-tagged hardware TLB. The handler does the checks the
 * CPU leaves to the VMM after the exit (memory operand: segment,
 * canonical form, page fault; type > 3, reserved descriptor bits, a PCID
 * with CR4.PCIDE=0, a non-canonical address: #GP(0)), then what the type
 * asks of the shadow MMU (shv_mmu_invlpg() for one address,
 * shv_mmu_flush_guest_tlb() for a whole context) and of the hardware TLB.
 * Invalidating more than asked is allowed (the TLB is a cache): the
 * shadow MMU does not tag translations with PCIDs, so every type acts on
 * all of them. Returns like an exit handler: >0 resume, 0 exit to user.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <asm/processor-flags.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"
#include "vmx/exits.h"

#define SEG_SS	2
#define SEG_FS	4
#define SEG_GS	5

static bool canonical48(u64 la)
{
	return (u64)(((s64)la << 16) >> 16) == la;
}

static u64 gpr(struct shv_vcpu *vcpu, int reg)
{
	return reg == SHV_RSP ? vmcs_read(GUEST_RSP) : vcpu->regs[reg];
}

static int inject(struct shv_vcpu *vcpu, int vector)
{
	shv_queue_exception(vcpu, vector, true, 0);
	return 1;
}

/*
 * The linear address of the 16-byte memory operand from the VM-exit
 * instruction information (SDM table 28-13) and the displacement in the
 * exit qualification; 0 or the vector (#GP/#SS) of a segment fault.
 */
static int operand_la(struct shv_vcpu *vcpu, u32 info, u64 *la)
{
	int scale = info & 3, asize = (info >> 7) & 7, seg = (info >> 15) & 7;
	int index = (info >> 18) & 15, base = (info >> 23) & 15;
	u64 off = vmcs_read(EXIT_QUALIFICATION);
	int vector = seg == SEG_SS ? SS_VECTOR : GP_VECTOR;
	u64 limit, sbase;
	u32 ar;

	if (seg > SEG_GS || asize > 2)
		return GP_VECTOR;
	if (!(info & BIT(27)))
		off += gpr(vcpu, base);
	if (!(info & BIT(22)))
		off += gpr(vcpu, index) << scale;
	if (asize == 1)
		off = (u32)off;
	else if (asize == 0)
		off = (u16)off;
	sbase = vmcs_read(GUEST_ES_BASE + 2 * seg);
	if (cs_64bit(vcpu)) {
		*la = off;
		if (seg == SEG_FS || seg == SEG_GS)
			*la += sbase;
		if (!canonical48(*la) || !canonical48(*la + 15))
			return vector;
		return 0;
	}
	ar = vmcs_read(GUEST_ES_AR_BYTES + 2 * seg);
	limit = vmcs_read(GUEST_ES_LIMIT + 2 * seg);
	if (ar & AR_UNUSABLE)
		return vector;
	if ((ar & 0xa) == 0x8)
		return vector;		/* execute-only code segment */
	if (!(ar & 8) && (ar & 4)) {	/* expand-down data segment */
		u64 top = (ar & BIT(14)) ? 0xffffffffULL : 0xffffULL;

		if (off <= limit || off + 15 > top)
			return vector;
	} else if (off + 15 > limit) {
		return vector;
	}
	*la = (u32)(sbase + off);
	return 0;
}

/* Read the descriptor; 1: resume (#PF queued), 0: internal error exit, <0. */
static int read_desc(struct shv_vcpu *vcpu, u64 la, u64 desc[2])
{
	bool la32 = !cs_64bit(vcpu);
	u8 *buf = (u8 *)desc;
	unsigned int len = 16;

	while (len) {
		unsigned int n;
		u64 gpa;
		u32 ec;
		int r;

		if (la32)
			la = (u32)la;
		n = min_t(unsigned int, len, PAGE_SIZE - offset_in_page(la));
		r = shv_mmu_gva_to_gpa(vcpu, la, 0, &gpa, &ec);
		if (r == -EFAULT) {
			shv_queue_pf(vcpu, la, ec);
			return 1;
		}
		if (!r)
			r = shv_read_gpa(vcpu->vm, gpa, buf, n);
		if (r == -ENOENT || r == -ENOMEM || r == -EOPNOTSUPP) {
			/* descriptor in MMIO, or guest RAM that cannot be pinned */
			u64 d[3] = { shv_rip(vcpu), la, r };

			shv_internal_error(vcpu, r == -ENOENT ?
					   SHADOWVM_INTERNAL_ERROR_EMULATION :
					   SHADOWVM_INTERNAL_ERROR_NO_MEMORY, 3, d);
			return 0;
		}
		if (r)
			return r;
		la += n;
		buf += n;
		len -= n;
	}
	return 2;
}

int shv_handle_invpcid(struct shv_vcpu *vcpu)
{
	u32 info = vmcs_read(VMX_INSTRUCTION_INFO);
	u64 type = gpr(vcpu, (info >> 28) & 15);
	u64 desc[2], la;
	u16 pcid;
	int r;

	shv_stat_inc(vcpu, EXIT_INVPCID);
	if (!cs_64bit(vcpu))
		type = (u32)type;
	if (shv_cpl(vcpu))
		return inject(vcpu, GP_VECTOR);	/* the CPU checks this before the exit */
	r = operand_la(vcpu, info, &la);
	if (r)
		return inject(vcpu, r);
	if (type > 3)
		return inject(vcpu, GP_VECTOR);
	r = read_desc(vcpu, la, desc);
	if (r != 2)
		return r;
	pcid = desc[0] & 0xfff;
	if (desc[0] >> 12)
		return inject(vcpu, GP_VECTOR);		/* reserved bits 63:12 */
	if (type <= 1 && pcid && !(vcpu->cr4 & X86_CR4_PCIDE))
		return inject(vcpu, GP_VECTOR);
	if (type == 0) {
		if (!canonical48(desc[1]))
			return inject(vcpu, GP_VECTOR);
		/* like INVLPG of that address (which flushes every PCID) */
		shv_mmu_invlpg(vcpu, desc[1]);
		shv_flush_tlb_gva(vcpu, desc[1]);
	} else {
		/* 1: one PCID, 2: all with globals, 3: all but globals */
		shv_mmu_flush_guest_tlb(vcpu);	/* and the VPID before the next entry */
	}
	shv_skip_insn(vcpu);
	return 1;
}
