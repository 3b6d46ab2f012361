// SPDX-License-Identifier: GPL-2.0
/*
 * Glue between the instruction emulator (emulate.c) and a vCPU.
 *
 * Contract: svm_emulate_insn() emulates the instruction at the guest's RIP
 * with guest memory reached through the walker (permission-checked, A/D
 * set), RAM writes going through the shadow MMU (so page-table writes
 * keep the shadows coherent) and MMIO going to userspace: a write
 * completes the instruction and exits with SHADOWVM_EXIT_MMIO; a read
 * exits first and the instruction is emulated again from the start at the
 * next RUN, when the data is there. Returns like an exit handler (>0
 * resume, 0 user exit, <0 error), or -ENOEXEC when a page-table write
 * could not be decoded (the MMU then unprotects the frame).
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include "shadowvm.h"
#include "vmx_defs.h"
#include "emulate.h"

struct glue {
	struct svm_vcpu *vcpu;
	bool is_mmio;
	bool mmio_write;	/* a write went to MMIO: exit after commit */
	bool faulted;
	u64 fault_la;
	u32 fault_ec;
};

static u32 base_access(struct svm_vcpu *vcpu)
{
	return svm_cpl(vcpu) == 3 ? PFERR_USER : 0;
}

static int translate(struct glue *g, u64 la, u32 access, u64 *gpa)
{
	u32 ec = 0;
	int r = svm_mmu_gva_to_gpa(g->vcpu, la, access | base_access(g->vcpu), gpa, &ec);

	if (r == -EFAULT) {
		g->faulted = true;
		g->fault_la = la;
		g->fault_ec = ec;
	}
	return r;
}

static int op_fetch(void *ctx, u64 la, void *buf, unsigned int len)
{
	struct glue *g = ctx;
	u64 gpa;
	int r = translate(g, la, PFERR_FETCH, &gpa);

	if (r)
		return r;
	r = svm_read_gpa(g->vcpu->vm, gpa, buf, len);
	return r ? -EIO : 0;	/* executing from MMIO is not supported */
}

/* One access that does not cross a page. */
static int access_one(struct glue *g, u64 la, void *buf, unsigned int len, bool write)
{
	struct svm_vcpu *vcpu = g->vcpu;
	struct shadowvm_run *run = vcpu->run;
	u64 gpa;
	int r;

	r = translate(g, la, write ? PFERR_WRITE : 0, &gpa);
	if (r)
		return r;
	if (write)
		r = svm_mmu_guest_write(vcpu, gpa, buf, len);
	else
		r = svm_read_gpa(vcpu->vm, gpa, buf, len);
	if (r != -ENOENT && r != -EROFS)
		return r;

	/* MMIO */
	if (len > 8 || g->mmio_write)
		return -EIO;
	if (write) {
		run->mmio.phys_addr = gpa;
		run->mmio.len = len;
		run->mmio.is_write = 1;
		memset(run->mmio.data, 0, sizeof(run->mmio.data));
		memcpy(run->mmio.data, buf, len);
		g->mmio_write = true;
		return 0;
	}
	if (vcpu->mmio_ready && vcpu->mmio_gpa == gpa && vcpu->mmio_len == len) {
		memcpy(buf, run->mmio.data, len);
		vcpu->mmio_ready = false;
		return 0;
	}
	vcpu->mmio_gpa = gpa;
	vcpu->mmio_len = len;
	run->mmio.phys_addr = gpa;
	run->mmio.len = len;
	run->mmio.is_write = 0;
	memset(run->mmio.data, 0, sizeof(run->mmio.data));
	return -EAGAIN;
}

static int access_split(struct glue *g, u64 la, void *buf, unsigned int len, bool write)
{
	unsigned int first = min_t(unsigned int, len, PAGE_SIZE - offset_in_page(la));
	int r = access_one(g, la, buf, first, write);

	if (r || first == len)
		return r;
	return access_one(g, la + first, buf + first, len - first, write);
}

static int op_read(void *ctx, u64 la, void *buf, unsigned int len)
{
	return access_split(ctx, la, buf, len, false);
}

static int op_write(void *ctx, u64 la, const void *buf, unsigned int len)
{
	return access_split(ctx, la, (void *)buf, len, true);
}

static const struct svm_emu_ops glue_ops = {
	.fetch = op_fetch,
	.read = op_read,
	.write = op_write,
	.cmpxchg = NULL,	/* locked RMW as read+write under the vCPU */
};

int svm_emulate_insn(struct svm_vcpu *vcpu, u64 fault_la, bool is_mmio)
{
	static const u32 seg_base[SVM_EMU_NR_SEGS] = {
		GUEST_ES_BASE, GUEST_CS_BASE, GUEST_SS_BASE, GUEST_DS_BASE,
		GUEST_FS_BASE, GUEST_GS_BASE,
	};
	struct svm_emu_ctxt *c = vcpu->emu;
	struct glue g = { .vcpu = vcpu, .is_mmio = is_mmio };
	u32 cs_ar = vmcs_read(GUEST_CS_AR_BYTES);
	enum svm_emu_result res;
	int i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < 16; i++)
		c->regs[i] = vcpu->regs[i];
	c->regs[SVM_EMU_RSP] = vmcs_read(GUEST_RSP);
	c->rip = vmcs_read(GUEST_RIP);
	c->rflags = vmcs_read(GUEST_RFLAGS);
	if (svm_long_mode(vcpu) && (cs_ar & (1u << 13)))
		c->mode = SVM_EMU_MODE_LONG64;
	else if (cs_ar & (1u << 14))
		c->mode = SVM_EMU_MODE_PROT32;
	else
		c->mode = SVM_EMU_MODE_PROT16;
	for (i = 0; i < SVM_EMU_NR_SEGS; i++)
		c->seg_base[i] = vmcs_read(seg_base[i]);
	/*
	 * One REP iteration per emulation: after a flood of writes the MMU
	 * stops shadowing the frame, and the rest of the REP then runs
	 * natively instead of being emulated store by store.
	 */
	c->rep_max = 1;

	svm_stat_inc(vcpu, EMULATED_INSNS);
	res = svm_emulate(c, &glue_ops, &g);

	if (res != SVM_EMU_UNHANDLED) {
		/* REP string progress is kept even on FAULT/RETRY/EXCEPTION */
		for (i = 0; i < 16; i++)
			if (i != SVM_EMU_RSP)
				vcpu->regs[i] = c->regs[i];
		vmcs_write(GUEST_RSP, c->regs[SVM_EMU_RSP]);
		vmcs_write(GUEST_RIP, c->rip);
		vmcs_write(GUEST_RFLAGS, c->rflags | X86_EFLAGS_FIXED);
	}
	switch (res) {
	case SVM_EMU_OK: {
		u32 intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);

		if (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS))
			vmcs_write(GUEST_INTERRUPTIBILITY_INFO,
				   intr & ~(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
		if (g.mmio_write) {
			vcpu->run->exit_reason = SHADOWVM_EXIT_MMIO;
			svm_stat_inc(vcpu, USER_EXIT_MMIO);
			return 0;
		}
		return 1;
	}
	case SVM_EMU_RETRY:
		if (c->op_error == -EAGAIN) {
			vcpu->pending = SVM_PENDING_MMIO;
			vcpu->run->exit_reason = SHADOWVM_EXIT_MMIO;
			svm_stat_inc(vcpu, USER_EXIT_MMIO);
			return 0;
		}
		return 1;
	case SVM_EMU_FAULT:
		if (g.faulted) {
			svm_queue_pf(vcpu, g.fault_la, g.fault_ec);
			return 1;
		}
		break;
	case SVM_EMU_EXCEPTION:
		svm_queue_exception(vcpu, c->exc_vector, c->exc_has_error_code,
				    c->exc_error_code);
		return 1;
	case SVM_EMU_UNHANDLED:
		if (!is_mmio)
			return -ENOEXEC;
		break;
	}
	{
		u64 d[4] = { c->rip, fault_la, 0, 0 };

		memcpy(&d[2], c->insn, min_t(unsigned int, c->insn_fetched, 15));
		svm_info_rl("cannot emulate instruction at rip 0x%llx (la 0x%llx, %*ph)\n",
			    c->rip, fault_la, (int)min_t(unsigned int, c->insn_fetched, 15), c->insn);
		svm_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_EMULATION, 4, d);
		return 0;
	}
}
