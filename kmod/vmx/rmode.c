// SPDX-License-Identifier: GPL-2.0
/*
 * Real mode (guest CR0.PE=0) without unrestricted guest: shadow paging
 * means no EPT, and VMX without EPT cannot enter a guest with CR0.PE=0 or
 * PG=0. As KVM did before unrestricted guest, the guest's real-mode code
 * runs in virtual-8086 mode: the hardware runs with PE=PG=1 (the shadow
 * MMU maps the paging-off context, linear = guest physical), RFLAGS.VM=1
 * and IOPL=3, segments in their v86 form (base = selector * 16, limit
 * 0xffff), a TR of limit 0 and an IDTR of limit 0, and every exception
 * intercepted. What v86 mode refuses to do at CPL 3 comes back as #GP and
 * is done here (Documentation/uapi.rst, "Real mode"):
 *
 *  - LGDT, LIDT, LMSW, MOV to/from CR0/2/3/4/8 and DR0-7, CLTS, HLT,
 *    INVD, WBINVD, INVLPG, RDMSR, WRMSR, RDTSC with CR4.TSD;
 *  - port I/O (the TSS of limit 0 has no I/O bitmap: every IN, OUT, INS,
 *    OUTS faults and goes out as a normal I/O exit);
 *  - INT n (the IDT of limit 0 refuses it): delivered through the
 *    guest's interrupt vector table, as are exceptions (#BP and #OF after
 *    the instruction, faults at it, no error codes), external interrupts
 *    and NMIs (delivered in software before the entry, never injected by
 *    VMX, since an injection would use the protected-mode IDT).
 *
 * Any other #GP is the guest's own (an offset beyond 0xffff faults in
 * real mode as in v86 mode) and goes through its vector table.
 *
 * Guest-visible state kept here while real mode is active: IOPL (the
 * hardware runs with 3), the IDTR (the vector table's base and limit) and
 * the TR (the hardware runs with an empty one); GET/SET_SREGS and
 * GET/SET_REGS show and take the guest's values (regs.c). Known
 * differences from a CPU: PUSHF shows IOPL=3, SIDT and SGDT are not
 * intercepted (SIDT shows limit 0), segments must have base = selector *
 * 16 and limit 0xffff ("unreal" mode is refused when real mode is entered
 * through SET_SREGS, and fixed up, selector = base / 16, when it is
 * entered by clearing CR0.PE with 16-byte aligned bases below 1 MiB), and
 * the 16-bit protected mode between setting CR0.PE and the far jump needs
 * CS.RPL = SS.RPL.
 *
 * Contract: everything here runs on the vCPU's thread under vcpu->lock
 * with the VMCS current; shv_rmode_deliver() may sleep (guest memory).
 * #AC, #DB, #MC, #PF and NMIs keep their normal handlers (exits.c), which
 * queue what the guest must see for delivery here.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/mm.h>
#include <asm/processor-flags.h>
#include "shadowvm.h"
#include "vmx_defs.h"
#include "exits.h"
#include "rmode.h"

/* ---- entering and leaving ---- */

/*
 * Real-mode segments from SET_SREGS (PE=0): each of CS, DS, ES, FS, GS
 * and SS must be what a real-mode load makes, base = selector * 16 and
 * limit 0xffff. The caller applies its TR/LDTR checks too (the TR comes
 * back when protected mode is entered).
 */
int shv_rmode_check_sregs(const struct shadowvm_sregs *s, const char **why)
{
	const struct shadowvm_segment *seg[6] = { &s->es, &s->cs, &s->ss, &s->ds,
						  &s->fs, &s->gs };
	int i;

	if (s->cr0 & X86_CR0_PG) {
		*why = "CR0.PG=1 with CR0.PE=0";
		return -EINVAL;
	}
	if (s->efer & EFER_LMA) {
		*why = "EFER.LMA=1 in real mode";
		return -EINVAL;
	}
	for (i = 0; i < 6; i++) {
		if (seg[i]->base != (u64)seg[i]->selector << 4) {
			*why = "real mode: a segment base is not selector * 16 (unreal mode is not supported)";
			return -EINVAL;
		}
		if (seg[i]->limit != 0xffff) {
			*why = "real mode: a segment limit is not 0xffff (unreal mode is not supported)";
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Put the hardware into v86 form for a guest that has CR0.PE=0 now (set
 * by SET_SREGS or by clearing PE). -EINVAL: a segment cannot be
 * represented (nothing changed).
 */
int shv_rmode_enter(struct shv_vcpu *vcpu)
{
	struct shv_rmode *rm = &vcpu->rmode;
	u16 sel[6];
	unsigned long rflags;
	int i;

	if (rm->active)
		return 0;
	for (i = 0; i < 6; i++) {
		u64 base = vmcs_read(shv_seg_base_field[i]);

		sel[i] = vmcs_read(shv_seg_sel_field[i]);
		if (base == (u64)sel[i] << 4)
			continue;
		/* left protected mode: a selector real mode would load */
		if ((base & 0xf) || base > 0xffff0) {
			shv_info_rl("real mode: segment %d base 0x%llx cannot be a real-mode segment\n",
				    i, base);
			return -EINVAL;
		}
		sel[i] = base >> 4;
	}
	for (i = 0; i < 6; i++) {
		vmcs_write(shv_seg_sel_field[i], sel[i]);
		vmcs_write(shv_seg_base_field[i], (u64)sel[i] << 4);
		vmcs_write(shv_seg_limit_field[i], 0xffff);
		vmcs_write(shv_seg_ar_field[i], V86_AR);
	}
	rm->tr_sel = vmcs_read(GUEST_TR_SELECTOR);
	rm->tr_base = vmcs_read(GUEST_TR_BASE);
	rm->tr_limit = vmcs_read(GUEST_TR_LIMIT);
	rm->tr_ar = vmcs_read(GUEST_TR_AR_BYTES);
	rm->idt_base = vmcs_read(GUEST_IDTR_BASE);
	rm->idt_limit = vmcs_read(GUEST_IDTR_LIMIT);
	/* no I/O bitmap: every port access faults to rmode_gp() */
	vmcs_write(GUEST_TR_SELECTOR, 0);
	vmcs_write(GUEST_TR_BASE, 0);
	vmcs_write(GUEST_TR_LIMIT, 0);
	vmcs_write(GUEST_TR_AR_BYTES, 0x8b);
	/* no IDT: INT n faults to rmode_gp() */
	vmcs_write(GUEST_IDTR_BASE, 0);
	vmcs_write(GUEST_IDTR_LIMIT, 0);
	rflags = vmcs_read(GUEST_RFLAGS);
	rm->iopl = rflags & IOPL_MASK;
	vmcs_write(GUEST_RFLAGS, rflags | X86_EFLAGS_VM | IOPL_MASK);
	vmcs_write(GUEST_RIP, vmcs_read(GUEST_RIP) & 0xffff);
	rm->exc_bitmap = vmcs_read(EXCEPTION_BITMAP);
	vmcs_write(EXCEPTION_BITMAP, ~0u);
	rm->active = true;
	shv_stat_inc(vcpu, REALMODE_ENTRIES);
	return 0;
}

/*
 * Undo the v86 form of RFLAGS, TR, IDTR and the exception bitmap; the
 * segments are the caller's business (SET_SREGS writes its own).
 */
void shv_rmode_drop(struct shv_vcpu *vcpu)
{
	struct shv_rmode *rm = &vcpu->rmode;
	unsigned long rflags;

	if (!rm->active)
		return;
	rflags = vmcs_read(GUEST_RFLAGS) & ~(X86_EFLAGS_VM | IOPL_MASK);
	vmcs_write(GUEST_RFLAGS, rflags | rm->iopl);
	vmcs_write(GUEST_TR_SELECTOR, rm->tr_sel);
	vmcs_write(GUEST_TR_BASE, rm->tr_base);
	vmcs_write(GUEST_TR_LIMIT, rm->tr_limit);
	vmcs_write(GUEST_TR_AR_BYTES, rm->tr_ar);
	vmcs_write(GUEST_IDTR_BASE, rm->idt_base);
	vmcs_write(GUEST_IDTR_LIMIT, rm->idt_limit);
	vmcs_write(EXCEPTION_BITMAP, rm->exc_bitmap);
	rm->active = false;
}

/*
 * The guest set CR0.PE: protected mode with the real-mode segment cache
 * (16-bit, base = selector * 16) until it loads segments. VMX wants
 * CS.RPL = SS.RPL = SS.DPL = CS.DPL there; the CPL is 0. -EINVAL: CS and
 * SS selectors differ in their low bits (nothing changed).
 */
int shv_rmode_leave(struct shv_vcpu *vcpu)
{
	u16 cs = vmcs_read(GUEST_CS_SELECTOR), ss = vmcs_read(GUEST_SS_SELECTOR);
	int i;

	if (!vcpu->rmode.active)
		return 0;
	if ((cs & 3) != (ss & 3)) {
		shv_info_rl("real mode: CR0.PE set with CS.RPL %u != SS.RPL %u (not supported)\n",
			    cs & 3, ss & 3);
		return -EINVAL;
	}
	for (i = 0; i < 6; i++) {
		u32 dpl = (vmcs_read(shv_seg_sel_field[i]) & 3) << 5;

		vmcs_write(shv_seg_ar_field[i], (i == RM_CS ? 0x9b : 0x93) | dpl);
	}
	shv_rmode_drop(vcpu);
	return 0;
}

/* ---- what the guest sees ---- */

unsigned long shv_rmode_guest_rflags(struct shv_vcpu *vcpu, unsigned long hw)
{
	if (!vcpu->rmode.active)
		return hw;
	return (hw & ~(X86_EFLAGS_VM | IOPL_MASK)) | vcpu->rmode.iopl;
}

unsigned long shv_rmode_hw_rflags(struct shv_vcpu *vcpu, unsigned long guest)
{
	if (!vcpu->rmode.active)
		return guest;
	vcpu->rmode.iopl = guest & IOPL_MASK;
	return guest | X86_EFLAGS_VM | IOPL_MASK;
}

/* GET_SREGS: the guest's TR and IDTR, real-mode access rights */
void shv_rmode_get_sregs(struct shv_vcpu *vcpu, struct shadowvm_sregs *s)
{
	struct shadowvm_segment *seg[6] = { &s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs };
	struct shv_rmode *rm = &vcpu->rmode;
	int i;

	if (!rm->active)
		return;
	for (i = 0; i < 6; i++) {
		seg[i]->type = i == RM_CS ? 0xb : 3;
		seg[i]->dpl = 0;
		seg[i]->s = 1;
		seg[i]->present = 1;
		seg[i]->unusable = 0;
		seg[i]->db = 0;
		seg[i]->g = 0;
		seg[i]->l = 0;
		seg[i]->avl = 0;
	}
	s->tr.selector = rm->tr_sel;
	s->tr.base = rm->tr_base;
	s->tr.limit = rm->tr_limit;
	s->tr.type = rm->tr_ar & 15;
	s->tr.s = 0;
	s->tr.dpl = (rm->tr_ar >> 5) & 3;
	s->tr.present = (rm->tr_ar >> 7) & 1;
	s->tr.unusable = !!(rm->tr_ar & AR_UNUSABLE);
	s->tr.g = (rm->tr_ar >> 15) & 1;
	s->tr.db = (rm->tr_ar >> 14) & 1;
	s->idt.base = rm->idt_base;
	s->idt.limit = rm->idt_limit;
}

/* ---- delivery through the interrupt vector table ---- */

static int push16(struct shv_vcpu *vcpu, u16 val)
{
	u16 sp = vmcs_read(GUEST_RSP) - 2;
	u64 la = vmcs_read(GUEST_SS_BASE) + sp;

	if (shv_mmu_guest_write(vcpu, la, &val, 2))
		return -EFAULT;
	vmcs_write(GUEST_RSP, (vmcs_read(GUEST_RSP) & ~0xffffUL) | sp);
	return 0;
}

/*
 * Real-mode INT (SDM vol. 2, INT n, real-address mode): push FLAGS, CS
 * and the return IP; clear IF, TF and AC; CS:IP from the table entry.
 * 1: done; 0: the run ends (shutdown: the table does not hold the vector;
 * internal error: the stack or the table is not RAM).
 */
static int rmode_int(struct shv_vcpu *vcpu, int vector, u16 ret_ip)
{
	struct shv_rmode *rm = &vcpu->rmode;
	unsigned long rflags = vmcs_read(GUEST_RFLAGS);
	u16 flags = shv_rmode_guest_rflags(vcpu, rflags);
	u32 entry;
	u16 cs;

	if ((u32)vector * 4 + 3 > rm->idt_limit) {
		/* #GP, then #DF, then shutdown: nothing can be delivered */
		vcpu->run->exit_reason = SHADOWVM_EXIT_SHUTDOWN;
		shv_stat_inc(vcpu, EXIT_TRIPLE_FAULT);
		return 0;
	}
	if (shv_read_gpa(vcpu->vm, rm->idt_base + vector * 4, &entry, 4))
		goto bad;
	cs = vmcs_read(GUEST_CS_SELECTOR);
	if (push16(vcpu, flags) || push16(vcpu, cs) || push16(vcpu, ret_ip))
		goto bad;
	vmcs_write(GUEST_RFLAGS, rflags & ~(X86_EFLAGS_IF | X86_EFLAGS_TF | X86_EFLAGS_AC |
					    X86_EFLAGS_RF));
	vmcs_write(GUEST_CS_SELECTOR, entry >> 16);
	vmcs_write(GUEST_CS_BASE, (u64)(entry >> 16) << 4);
	vmcs_write(GUEST_RIP, entry & 0xffff);
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, vmcs_read(GUEST_INTERRUPTIBILITY_INFO) &
		   ~(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
	shv_stat_inc(vcpu, REALMODE_INTS);
	return 1;
bad: {
		u64 d[3] = { vector, rm->idt_base, vmcs_read(GUEST_SS_BASE) + (u16)vmcs_read(GUEST_RSP) };

		shv_info_rl("real mode: vector 0x%x: the vector table or the stack is not RAM\n",
			    vector);
		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_DELIVERY, 3, d);
		return 0;
	}
}

/*
 * Before the entry, after shv_events_prepare(): the event chosen for
 * injection is delivered now through the vector table. 1: enter; 0: the
 * run ends (exit filled).
 */
int shv_rmode_deliver(struct shv_vcpu *vcpu)
{
	struct shv_pending_event *ev = &vcpu->event;
	u32 type = ev->info & INTR_INFO_TYPE_MASK;
	u16 ip = vmcs_read(GUEST_RIP);

	if (!ev->valid)
		return 1;
	ev->valid = false;
	if (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_SOFT_EXCEPTION ||
	    type == INTR_TYPE_PRIV_SW_EXCEPTION)
		ip += ev->insn_len;
	if (type == INTR_TYPE_NMI)
		vmcs_write(GUEST_INTERRUPTIBILITY_INFO,
			   vmcs_read(GUEST_INTERRUPTIBILITY_INFO) | GUEST_INTR_STATE_NMI);
	return rmode_int(vcpu, ev->info & INTR_INFO_VECTOR_MASK, ip);
}

/*
 * An exception exit while real mode is active. -ENOENT: not ours (#PF,
 * #DB, #MC, NMI: the normal handlers; they queue what the guest must see
 * and shv_rmode_deliver() delivers it).
 */
int shv_rmode_exception(struct shv_vcpu *vcpu, u32 info)
{
	int vector = info & INTR_INFO_VECTOR_MASK;
	u32 type = info & INTR_INFO_TYPE_MASK;

	if (type == INTR_TYPE_NMI || vector == PF_VECTOR || vector == MC_VECTOR ||
	    vector == DB_VECTOR || vector == AC_VECTOR)
		return -ENOENT;
	shv_stat_inc(vcpu, EXIT_EXCEPTION);
	if (type == INTR_TYPE_SOFT_EXCEPTION) {	/* INT3, INTO: after the instruction */
		rm_queue_soft(vcpu, INTR_TYPE_SOFT_EXCEPTION, vector,
			   vmcs_read(VM_EXIT_INSTRUCTION_LEN));
		return 1;
	}
	if (vector == GP_VECTOR)
		return shv_rmode_gp(vcpu, vmcs_read(VM_EXIT_INTR_ERROR_CODE));
	shv_queue_exception(vcpu, vector, false, 0);
	return 1;
}

/*
 * INIT then SIPI (SDM vol. 3, 9.4.4 and table 10-1): the AP starts in
 * real mode at vector:0000 (CS base vector << 12), with the INIT state.
 */
int shv_rmode_sipi(struct shv_vcpu *vcpu, u8 vector)
{
	struct shadowvm_segment seg = { .limit = 0xffff, .type = 3, .present = 1, .s = 1 };
	struct shadowvm_sregs s;
	struct shadowvm_regs regs = { .rflags = X86_EFLAGS_FIXED };
	u32 sig[4];
	int r;

	memset(&s, 0, sizeof(s));
	s.ds = s.es = s.fs = s.gs = s.ss = seg;
	s.cs = seg;
	s.cs.type = 0xb;
	s.cs.selector = vector << 8;
	s.cs.base = (u64)vector << 12;
	s.tr = (struct shadowvm_segment){ .limit = 0xffff, .type = 11, .present = 1 };
	s.ldt = (struct shadowvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	s.gdt.limit = 0xffff;
	s.idt.limit = 0xffff;
	s.cr0 = X86_CR0_CD | X86_CR0_NW | X86_CR0_ET;
	s.apic_base = shv_lapic_get_base(vcpu);
	r = shv_set_sregs(vcpu, &s);
	if (r)
		return r;
	shv_cpuid(vcpu, 1, 0, sig);
	regs.rdx = sig[0];	/* the processor signature, as after RESET/INIT */
	vcpu->dr[0] = vcpu->dr[1] = vcpu->dr[2] = vcpu->dr[3] = 0;
	vcpu->dr6 = 0xffff0ff0;
	vcpu->dr7 = 0x400;
	vmcs_write(GUEST_DR7, vcpu->dr7);
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
	return shv_set_regs(vcpu, &regs);
}
