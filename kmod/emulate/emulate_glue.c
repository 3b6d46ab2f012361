// SPDX-License-Identifier: GPL-2.0
/*
 * Glue between the instruction emulator (emulate.c) and a vCPU.
 *
 * Contract: shv_emulate_insn() emulates the instruction at the guest's RIP
 * with guest memory reached through the walker (permission-checked, A/D
 * set), RAM writes going through the shadow MMU (so page-table writes
 * keep the shadows coherent) and MMIO going to userspace: a write
 * completes the instruction and exits with SHADOWVM_EXIT_MMIO; a read
 * exits first and the instruction is emulated again from the start at the
 * next RUN, when the data is there. An access that straddles two MMIO
 * pages exits once per page (both for reads and writes). Before an MMIO
 * access goes to userspace it is offered to the in-kernel devices
 * (mmio_devs[]: the local APIC); one that takes it completes it without
 * an exit. A write that crosses a page is translated on both pages before
 * either is written, so a #PF on the second page writes nothing. In
 * 16/32-bit modes the emulator checks segment limits and rights (from
 * the VMCS); a linear address that does not translate raises #PF with
 * the walker's error code and CR2 = that address. Returns like an
 * exit handler (>0 resume, 0 user exit, <0 error), or -ENOEXEC when a
 * page-table write could not be decoded (the MMU then unprotects the
 * frame).
 *
 * LOCK-prefixed read-modify-writes and XCHG with memory go through
 * op_cmpxchg(): an atomic compare-exchange on guest RAM
 * (shv_mmu_guest_cmpxchg()), so they are atomic against other vCPUs and
 * the walker's A/D updates. 1- and 2-byte and misaligned operands are
 * widened to the naturally aligned 4- or 8-byte word that contains them.
 * An operand that no such word contains (it crosses an 8-byte boundary,
 * or is 16 bytes), or one that is MMIO, is done like KVM does: as a plain
 * compare and write, not atomic against other vCPUs, counted in
 * SHADOWVM_STAT_LOCKED_AS_WRITE.
 *
 * A page-table write by the commonest store, a 64-bit-mode MOV from a
 * register (pt_store_fast(), module parameter fast_pt_store), is done
 * without the general emulator, with the same checks and effects; any
 * other instruction, or any check that fails, goes to shv_emulate(). The
 * MMU offers it first under the mmu_lock of its classification of the
 * write (shv_emulate_pt_store_locked()), which needs no lock section of
 * its own.
 *
 * No instruction is emulated for a #PF that hit the delivery of an event
 * (IDT-vectoring information valid): the faulting access was the event
 * delivery itself (IDT, GDT, stack), not the instruction at RIP. Such an
 * exit ends with SHADOWVM_INTERNAL_ERROR_DELIVERY; a delivery fault that
 * filling the shadow fixes never gets here (the MMU fixes it and the event
 * is injected again).
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"
#include "lapic.h"
#include "emulate.h"

#define CACHE_LINE	64

/*
 * In-kernel MMIO devices, asked in order before an access goes to
 * userspace. Each returns 0 if it handled the access (a read filled
 * data), -ENOENT if the address is not its own. Accesses never cross a
 * page. Adding a device = one line here. The table is constant; the
 * devices' state belongs to the vCPU or VM and lives as long as they do.
 */
struct shv_mmio_dev {
	const char *name;
	int (*read)(struct shv_vcpu *vcpu, u64 gpa, void *data, unsigned int len);
	int (*write)(struct shv_vcpu *vcpu, u64 gpa, const void *data, unsigned int len);
};

static const struct shv_mmio_dev mmio_devs[] = {
	{ "lapic", shv_lapic_mmio_read, shv_lapic_mmio_write },
};

/* 0: an in-kernel device did the access; -ENOENT: none did; else error */
static int mmio_dev_access(struct shv_vcpu *vcpu, u64 gpa, void *buf,
			   unsigned int len, bool write)
{
	unsigned int i;
	int r;

	for (i = 0; i < ARRAY_SIZE(mmio_devs); i++) {
		if (write)
			r = mmio_devs[i].write(vcpu, gpa, buf, len);
		else
			r = mmio_devs[i].read(vcpu, gpa, buf, len);
		if (r == -ENOENT)
			continue;
		if (!r)
			shv_stat_inc(vcpu, MMIO_KERNEL);
		return r;
	}
	return -ENOENT;
}

struct glue {
	struct shv_vcpu *vcpu;
	bool is_mmio;
	bool mmio_write;	/* a write went to MMIO: exit after commit */
	bool faulted;
	int next_frag;		/* MMIO reads consume the fragments in order */
	u64 fault_la;
	u32 fault_ec;
};

static u32 base_access(struct shv_vcpu *vcpu)
{
	return shv_cpl(vcpu) == 3 ? PFERR_USER : 0;
}

static int translate(struct glue *g, u64 la, u32 access, u64 *gpa)
{
	u32 ec = 0;
	int r = shv_mmu_gva_to_gpa(g->vcpu, la, access | base_access(g->vcpu), gpa, &ec);

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
	r = shv_read_gpa(g->vcpu->vm, gpa, buf, len);
	return r ? -EIO : 0;	/* executing from MMIO is not supported */
}

/*
 * An MMIO access of one page. A write is recorded as a fragment and
 * reported to userspace after the instruction completed. A read takes its
 * data from a fragment userspace has filled, or records a new fragment and
 * returns -EAGAIN (the instruction is emulated again at the next RUN).
 */
static int mmio_access(struct glue *g, u64 gpa, void *buf, unsigned int len, bool write)
{
	struct shv_vcpu *vcpu = g->vcpu;
	struct shv_mmio_frag *f;
	int i;

	i = mmio_dev_access(vcpu, gpa, buf, len, write);
	if (i != -ENOENT)
		return i ? -EIO : 0;
	/*
	 * A re-run issues the same accesses in the same order, so the k-th
	 * MMIO read gets the k-th fragment (two reads of one register get
	 * two device reads).
	 */
	if (!write && g->next_frag < vcpu->mmio_nr_frags) {
		f = &vcpu->mmio_frag[g->next_frag];
		if (f->done && f->gpa == gpa && f->len == len) {
			g->next_frag++;
			memcpy(buf, f->data, len);
			return 0;
		}
	}
	if (vcpu->mmio_nr_frags == ARRAY_SIZE(vcpu->mmio_frag))
		return -EIO;
	f = &vcpu->mmio_frag[vcpu->mmio_nr_frags++];
	f->gpa = gpa;
	f->len = len;
	f->done = false;
	memset(f->data, 0, sizeof(f->data));
	if (write) {
		memcpy(f->data, buf, len);
		g->mmio_write = true;
		return 0;
	}
	return -EAGAIN;
}

/* Fill the run page's mmio member for fragment i. */
static void mmio_report(struct shv_vcpu *vcpu, int i, bool write)
{
	struct shadowvm_run *run = vcpu->run;
	struct shv_mmio_frag *f = &vcpu->mmio_frag[i];

	run->exit_reason = SHADOWVM_EXIT_MMIO;
	run->mmio.phys_addr = f->gpa;
	run->mmio.len = f->len;
	run->mmio.is_write = write;
	memset(run->mmio.pad, 0, sizeof(run->mmio.pad));
	memcpy(run->mmio.data, f->data, sizeof(run->mmio.data));
	shv_stat_inc(vcpu, USER_EXIT_MMIO);
}

/*
 * At the next RUN after an MMIO exit: a read fragment gets its data and
 * the instruction is emulated again; a write's next fragment is reported.
 */
int shv_emulate_mmio_complete(struct shv_vcpu *vcpu, bool write)
{
	int i = vcpu->mmio_next, r;

	if (write) {
		if (++vcpu->mmio_next < vcpu->mmio_nr_frags) {
			vcpu->pending = SHV_PENDING_MMIO_WRITE;
			mmio_report(vcpu, vcpu->mmio_next, true);
			return 0;
		}
		vcpu->mmio_nr_frags = 0;
		return 1;
	}
	if (i < vcpu->mmio_nr_frags) {
		memcpy(vcpu->mmio_frag[i].data, vcpu->run->mmio.data,
		       vcpu->mmio_frag[i].len);
		vcpu->mmio_frag[i].done = true;
	}
	vcpu->mmio_rerun = true;
	r = shv_emulate_insn(vcpu, vcpu->mmio_frag[0].gpa, true);
	vcpu->mmio_rerun = false;
	return r;
}

/* One access that does not cross a page, at gpa (translated from la). */
static int access_one(struct glue *g, u64 gpa, void *buf, unsigned int len, bool write)
{
	struct shv_vcpu *vcpu = g->vcpu;
	int r;

	if (write)
		r = shv_mmu_guest_write(vcpu, gpa, buf, len);
	else
		r = shv_read_gpa(vcpu->vm, gpa, buf, len);
	if (r != -ENOENT && r != -EROFS)
		return r;

	/* MMIO, in fragments of at most 8 bytes (CMPXCHG16B: 2 x 8) */
	while (len > 8) {
		r = mmio_access(g, gpa, buf, 8, write);
		if (r)
			return r;
		gpa += 8;
		buf += 8;
		len -= 8;
	}
	return mmio_access(g, gpa, buf, len, write);
}

/*
 * An access that may cross a page: both pages are translated (and so
 * checked) before either is accessed, as the CPU does, so a #PF on the
 * second page leaves the first unwritten.
 */
static int access_split(struct glue *g, u64 la, void *buf, unsigned int len, bool write)
{
	unsigned int first = min_t(unsigned int, len, PAGE_SIZE - offset_in_page(la));
	u32 access = write ? PFERR_WRITE : 0;
	u64 gpa0, gpa1 = 0;
	int r;

	r = translate(g, la, access, &gpa0);
	if (!r && first < len)
		r = translate(g, la + first, access, &gpa1);
	if (r)
		return r;
	r = access_one(g, gpa0, buf, first, write);
	if (r || first == len)
		return r;
	return access_one(g, gpa1, buf + first, len - first, write);
}

static int op_read(void *ctx, u64 la, void *buf, unsigned int len)
{
	return access_split(ctx, la, buf, len, false);
}

static int op_write(void *ctx, u64 la, const void *buf, unsigned int len)
{
	return access_split(ctx, la, (void *)buf, len, true);
}

/*
 * A locked access that cannot be one compare-exchange: compare, then
 * write through the normal path (as KVM's emulator_cmpxchg_emulated()
 * does for page- or line-crossing accesses). Not atomic against other
 * vCPUs; counted. MMIO is written without a compare: the emulator has
 * just read the old value from the device.
 */
/* Does [la, la + len) touch MMIO (a page outside every memory slot)? */
static int touches_mmio(struct glue *g, u64 la, unsigned int len, bool *mmio)
{
	u64 end = la + len, gpa;
	u8 probe;
	int r;

	*mmio = false;
	for (; la < end; la = (la & PAGE_MASK) + PAGE_SIZE) {
		r = translate(g, la, PFERR_WRITE, &gpa);
		if (r)
			return r;
		if (shv_read_gpa(g->vcpu->vm, gpa, &probe, 1) == -ENOENT)
			*mmio = true;
	}
	return 0;
}

static int cmpxchg_as_write(struct glue *g, u64 la, const void *old, const void *new,
			    unsigned int len, bool *swapped, bool mmio)
{
	u8 cur[16];
	int r;

	/* a device is not read twice (and the fragments would not suffice) */
	if (!mmio) {
		r = touches_mmio(g, la, len, &mmio);
		if (r)
			return r;
	}

	shv_stat_inc(g->vcpu, LOCKED_AS_WRITE);
	shv_warn_rl("locked access at 0x%llx (%u bytes) emulated as a plain write\n",
		    la, len);
	if (!mmio) {
		r = access_split(g, la, cur, len, false);
		if (r)
			return r;
		if (memcmp(cur, old, len)) {
			*swapped = false;
			return 0;
		}
	}
	r = access_split(g, la, (void *)new, len, true);
	if (!r)
		*swapped = true;
	return r;
}

static int op_cmpxchg(void *ctx, u64 la, const void *old, const void *new,
		      unsigned int len, bool *swapped)
{
	struct glue *g = ctx;
	struct shv_vcpu *vcpu = g->vcpu;
	unsigned int off, wlen, tries;
	u64 gpa, wgpa, cur, o, n;
	int r;

	*swapped = false;
	if (len > 8 || offset_in_page(la) + len > PAGE_SIZE ||
	    (la & (CACHE_LINE - 1)) + len > CACHE_LINE)
		return cmpxchg_as_write(g, la, old, new, len, swapped, false);
	r = translate(g, la, PFERR_WRITE, &gpa);
	if (r)
		return r;
	/* the aligned 4- or 8-byte word that holds the operand */
	wlen = (gpa & 3) + len <= 4 ? 4 : 8;
	wgpa = gpa & ~(u64)(wlen - 1);
	off = gpa - wgpa;
	if (off + len > wlen)
		return cmpxchg_as_write(g, la, old, new, len, swapped, false);
	for (tries = 0; tries < SHV_EMU_CMPXCHG_TRIES; tries++) {
		cur = 0;
		r = shv_read_gpa(vcpu->vm, wgpa, &cur, wlen);
		if (r == -ENOENT || r == -EROFS)
			return cmpxchg_as_write(g, la, old, new, len, swapped, true);
		if (r)
			return r;
		o = cur;
		n = cur;
		memcpy((u8 *)&o + off, old, len);
		memcpy((u8 *)&n + off, new, len);
		if (o != cur)
			return 0;	/* the operand itself differs: no swap */
		r = shv_mmu_guest_cmpxchg(vcpu, wgpa, o, n, wlen, swapped);
		if (r == -ENOENT || r == -EROFS)
			return cmpxchg_as_write(g, la, old, new, len, swapped, true);
		if (r)
			return r;
		if (*swapped) {
			shv_stat_inc(vcpu, EMULATED_LOCKED);
			return 0;
		}
		/* lost a race: on the operand itself, or on its neighbours */
	}
	return 0;	/* not swapped: the emulator re-reads and tries again */
}

static const struct shv_emu_ops glue_ops = {
	.fetch = op_fetch,
	.read = op_read,
	.write = op_write,
	.cmpxchg_op = op_cmpxchg,
};

/* General register i (hardware order) of the guest; RSP is in the VMCS. */
static u64 shv_emu_gpr(struct shv_vcpu *vcpu, unsigned int i)
{
	return i == SHV_EMU_RSP ? vmcs_read(GUEST_RSP) : vcpu->regs[i];
}

/* The #PF that led here interrupted an event delivery (not the insn). */
static int delivery_fault(struct shv_vcpu *vcpu, u64 fault_la)
{
	u64 d[4] = { vmcs_read(IDT_VECTORING_INFO_FIELD), vmcs_read(VM_EXIT_REASON),
		     fault_la, shv_rip(vcpu) };

	shv_info_rl("#PF at 0x%llx during event delivery (vectoring 0x%llx) needs emulation\n",
		    fault_la, d[0]);
	shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_DELIVERY, 4, d);
	return 0;
}

static bool fast_pt_store = true;
module_param(fast_pt_store, bool, 0644);
MODULE_PARM_DESC(fast_pt_store,
		 "a guest page-table write by a plain 64-bit MOV store skips the general emulator (default Y)");

/*
 * The fast path of a guest page-table write (SHV_PF_EMULATE_PT): in
 * 64-bit code, MOV r/m32 or r/m64, r (opcode 89, an optional REX prefix
 * and no other) with a memory operand that stays within one page of RAM.
 * It does what shv_emulate() would do for that instruction, in the same
 * order: fetch (the same translation), effective address (ModRM, SIB,
 * displacement, RIP-relative), canonical check, translation for a write,
 * the write through the shadow MMU, then RIP past the instruction (MOV
 * changes no flag) and STI/MOV-SS blocking cleared. Anything else, and
 * any step that fails (a fault, MMIO, a page crossing, a read-only slot),
 * before the write: -EAGAIN, and shv_emulate() takes the instruction from
 * the start, so it reports the fault or exception itself. A RIP whose
 * instruction was another one (a guest's XCHG or LOCK AND loop) is
 * remembered, and its next page-table write goes to shv_emulate() without
 * a fetch here first (only which path runs depends on it). The MMU tries
 * the same store first inside its classification of the write
 * (shv_emulate_pt_store_locked()); this one takes what that one leaves.
 */
struct mov_store {
	u64 la;			/* the memory operand's linear address */
	u64 val;		/* the register's value (len bytes of it stored) */
	unsigned int len;	/* 4 or 8 */
	unsigned int ilen;	/* the instruction's length */
};

/* 64-bit code at rip, with the fast path on, not known as another insn */
static bool mov_store_candidate(struct shv_vcpu *vcpu, u64 rip)
{
	return READ_ONCE(fast_pt_store) && rip != vcpu->pt_store_slow_rip &&
	       shv_long_mode(vcpu) && (vmcs_read(GUEST_CS_AR_BYTES) & (1u << 13));
}

/*
 * Decode the n bytes b fetched at rip: 0 with *st filled for a MOV
 * r/m32|r/m64, r with a memory operand; -EAGAIN for anything else (another
 * opcode also marks rip, see above) or too few bytes.
 */
static int decode_mov_store(struct shv_vcpu *vcpu, const u8 *b, unsigned int n, u64 rip,
			    struct mov_store *st)
{
	unsigned int i = 0, mod, rm, reg, rex = 0;
	s32 disp = 0;
	u64 ea = 0;

	if ((b[0] & 0xf0) == 0x40)
		rex = b[i++];
	if (i + 2 > n || b[i] != 0x89) {
		vcpu->pt_store_slow_rip = rip;	/* no second fetch next time */
		return -EAGAIN;
	}
	mod = b[i + 1] >> 6;
	reg = ((b[i + 1] >> 3) & 7) | ((rex & 4) << 1);
	rm = b[i + 1] & 7;
	i += 2;
	if (mod == 3)
		return -EAGAIN;
	if (rm == 4) {			/* SIB */
		unsigned int sib, index, base;

		if (i + 1 > n)
			return -EAGAIN;
		sib = b[i++];
		index = ((sib >> 3) & 7) | ((rex & 2) << 2);
		base = (sib & 7) | ((rex & 1) << 3);
		if (index != 4)
			ea = shv_emu_gpr(vcpu, index) << (sib >> 6);
		if ((sib & 7) == 5 && mod == 0)
			mod = 2;	/* disp32, no base */
		else
			ea += shv_emu_gpr(vcpu, base);
	} else if (rm == 5 && mod == 0) {
		mod = 4;		/* RIP-relative disp32 */
	} else {
		ea = shv_emu_gpr(vcpu, rm | ((rex & 1) << 3));
	}
	if (mod == 1) {
		if (i + 1 > n)
			return -EAGAIN;
		disp = (s8)b[i++];
	} else if (mod >= 2) {
		if (i + 4 > n)
			return -EAGAIN;
		memcpy(&disp, &b[i], 4);
		i += 4;
	}
	ea += (s64)disp;
	if (mod == 4)
		ea += rip + i;
	st->la = ea;
	st->len = rex & 8 ? 8 : 4;
	st->ilen = i;
	st->val = shv_emu_gpr(vcpu, reg);
	return 0;
}

/* The store is done: RIP past it (MOV: flags as before), blocking cleared */
static void mov_store_done(struct shv_vcpu *vcpu, u64 rip, const struct mov_store *st)
{
	shv_stat_inc(vcpu, EMULATED_INSNS);
	vmcs_write(GUEST_RIP, rip + st->ilen);
	shv_insn_retired(vcpu, vmcs_read(GUEST_RFLAGS));
	vcpu->mmio_nr_frags = 0;
}

static int pt_store_fast(struct shv_vcpu *vcpu)
{
	struct glue g = { .vcpu = vcpu };
	u64 rip = vmcs_read(GUEST_RIP), gpa;
	u8 b[SHV_EMU_MAX_INSN_LEN];
	struct mov_store st;
	unsigned int n, shift;

	if (!mov_store_candidate(vcpu, rip))
		return -EAGAIN;
	n = min_t(unsigned int, SHV_EMU_MAX_INSN_LEN, PAGE_SIZE - offset_in_page(rip));
	if (op_fetch(&g, rip, b, n) || decode_mov_store(vcpu, b, n, rip, &st))
		return -EAGAIN;
	shift = vcpu->cr4 & X86_CR4_LA57 ? 7 : 16;
	if ((u64)((s64)(st.la << shift) >> shift) != st.la ||
	    offset_in_page(st.la) + st.len > PAGE_SIZE)
		return -EAGAIN;	/* #GP or a split write: the emulator */
	if (translate(&g, st.la, PFERR_WRITE, &gpa))
		return -EAGAIN;
	if (shv_mmu_guest_write(vcpu, gpa, &st.val, st.len))
		return -EAGAIN;	/* nothing written */
	mov_store_done(vcpu, rip, &st);
	return 1;
}

/*
 * pt_store_fast() inside the MMU's classification of a #PF exit as a
 * write to a guest table (mmu_lock held: pt_write_locked()), for a write
 * at la to frame gfn that the shadow let through at the fault's CPL
 * (user): the instruction is fetched through the shadow's translation of
 * RIP (shv_mmu_fetch_locked()) and decoded, and if it is that MOV and its
 * operand is la itself (hence canonical, translated and permitted, the
 * walk's A/D set) and stays in the page, the store is applied under the
 * same lock (shv_mmu_pt_store_locked()): no second lock section, no kept
 * walk, no emulator entry. true: done, RIP past it; false: nothing
 * changed, and the exit goes on to shv_emulate_insn(). Not for a fault
 * in an event delivery (IDT-vectoring information valid).
 */
bool shv_emulate_pt_store_locked(struct shv_vcpu *vcpu, u64 la, u64 gfn, bool user)
{
	u64 rip = vmcs_read(GUEST_RIP);
	u8 b[SHV_EMU_MAX_INSN_LEN];
	struct mov_store st;
	unsigned int n;

	if (!mov_store_candidate(vcpu, rip) || vcpu->mmio_rerun ||
	    (vmcs_read(IDT_VECTORING_INFO_FIELD) & INTR_INFO_VALID))
		return false;
	n = shv_mmu_fetch_locked(vcpu, rip, user, b, sizeof(b));
	if (!n || decode_mov_store(vcpu, b, n, rip, &st) || st.la != la ||
	    offset_in_page(la) + st.len > PAGE_SIZE ||
	    shv_mmu_pt_store_locked(vcpu, (gfn << PAGE_SHIFT) | offset_in_page(la), st.val,
				    st.len))
		return false;
	mov_store_done(vcpu, rip, &st);
	return true;
}

int shv_emulate_insn(struct shv_vcpu *vcpu, u64 fault_la, bool is_mmio)
{
	static const u32 seg_base[SHV_EMU_NR_SEGS] = {
		GUEST_ES_BASE, GUEST_CS_BASE, GUEST_SS_BASE, GUEST_DS_BASE,
		GUEST_FS_BASE, GUEST_GS_BASE,
	};
	static const u32 seg_limit[SHV_EMU_NR_SEGS] = {
		GUEST_ES_LIMIT, GUEST_CS_LIMIT, GUEST_SS_LIMIT, GUEST_DS_LIMIT,
		GUEST_FS_LIMIT, GUEST_GS_LIMIT,
	};
	static const u32 seg_ar[SHV_EMU_NR_SEGS] = {
		GUEST_ES_AR_BYTES, GUEST_CS_AR_BYTES, GUEST_SS_AR_BYTES,
		GUEST_DS_AR_BYTES, GUEST_FS_AR_BYTES, GUEST_GS_AR_BYTES,
	};
	struct shv_emu_ctxt *c = vcpu->emu;
	struct glue g = { .vcpu = vcpu, .is_mmio = is_mmio };
	u32 cs_ar = vmcs_read(GUEST_CS_AR_BYTES);
	enum shv_emu_result res;
	unsigned long rflags;
	int i;

	if (!vcpu->mmio_rerun) {
		/* a fresh instruction: no MMIO fragments yet */
		vcpu->mmio_nr_frags = 0;
		vcpu->mmio_next = 0;
		if (vmcs_read(IDT_VECTORING_INFO_FIELD) & INTR_INFO_VALID)
			return delivery_fault(vcpu, fault_la);
		if (!is_mmio && fast_pt_store) {
			i = pt_store_fast(vcpu);
			if (i != -EAGAIN)
				return i;
		}
	}
	memset(c, 0, sizeof(*c));
	for (i = 0; i < 16; i++)
		c->regs[i] = vcpu->regs[i];
	c->regs[SHV_EMU_RSP] = vmcs_read(GUEST_RSP);
	c->rip = vmcs_read(GUEST_RIP);
	c->rflags = vmcs_read(GUEST_RFLAGS);
	rflags = c->rflags;	/* at the start: TF decides the single-step trap */
	if (shv_long_mode(vcpu) && (cs_ar & (1u << 13)))
		c->mode = SHV_EMU_MODE_LONG64;
	else if (cs_ar & (1u << 14))
		c->mode = SHV_EMU_MODE_PROT32;
	else
		c->mode = SHV_EMU_MODE_PROT16;
	for (i = 0; i < SHV_EMU_NR_SEGS; i++)
		c->seg_base[i] = vmcs_read(seg_base[i]);
	if (c->mode != SHV_EMU_MODE_LONG64) {
		/* the CPU checked CS when it fetched; data segments are ours */
		c->seg_checks = true;
		for (i = 0; i < SHV_EMU_NR_SEGS; i++) {
			c->seg_limit[i] = vmcs_read(seg_limit[i]);
			c->seg_ar[i] = vmcs_read(seg_ar[i]);
		}
	}
	c->la57 = !!(vcpu->cr4 & X86_CR4_LA57);
	/*
	 * One REP iteration per emulation: after a flood of writes the MMU
	 * stops shadowing the frame, and the rest of the REP then runs
	 * natively instead of being emulated store by store.
	 */
	c->rep_max = 1;

	shv_stat_inc(vcpu, EMULATED_INSNS);
	res = shv_emulate(c, &glue_ops, &g);
	if (c->string_op)
		shv_stat_inc(vcpu, EMULATED_STRING);

	if (res != SHV_EMU_UNHANDLED) {
		/* REP string progress is kept even on FAULT/RETRY/EXCEPTION */
		for (i = 0; i < 16; i++)
			if (i != SHV_EMU_RSP)
				vcpu->regs[i] = c->regs[i];
		vmcs_write(GUEST_RSP, c->regs[SHV_EMU_RSP]);
		vmcs_write(GUEST_RIP, c->rip);
		vmcs_write(GUEST_RFLAGS, c->rflags | X86_EFLAGS_FIXED);
	}
	switch (res) {
	case SHV_EMU_OK: {
		/* it completed (an MMIO write's data still goes out first) */
		shv_insn_retired(vcpu, rflags);
		if (g.mmio_write) {
			/* the written fragments follow the ones read */
			for (i = 0; i < vcpu->mmio_nr_frags; i++)
				if (!vcpu->mmio_frag[i].done)
					break;
			vcpu->mmio_next = i;
			vcpu->pending = SHV_PENDING_MMIO_WRITE;
			mmio_report(vcpu, i, true);
			return 0;
		}
		vcpu->mmio_nr_frags = 0;
		return 1;
	}
	case SHV_EMU_RETRY:
		if (c->op_error == -EAGAIN) {
			vcpu->mmio_next = vcpu->mmio_nr_frags - 1;
			vcpu->pending = SHV_PENDING_MMIO;
			mmio_report(vcpu, vcpu->mmio_next, false);
			return 0;
		}
		vcpu->mmio_nr_frags = 0;
		return 1;
	case SHV_EMU_FAULT:
		if (g.faulted) {
			shv_queue_pf(vcpu, g.fault_la, g.fault_ec);
			return 1;
		}
		break;
	case SHV_EMU_EXCEPTION:
		shv_queue_exception(vcpu, c->exc_vector, c->exc_has_error_code,
				    c->exc_error_code);
		return 1;
	case SHV_EMU_UNHANDLED:
		if (!is_mmio)
			return -ENOEXEC;
		break;
	}
	{
		u64 d[4] = { c->rip, fault_la, 0, 0 };

		memcpy(&d[2], c->insn, min_t(unsigned int, c->insn_fetched, 15));
		shv_info_rl("cannot emulate instruction at rip 0x%llx (la 0x%llx, %*ph)\n",
			    c->rip, fault_la, (int)min_t(unsigned int, c->insn_fetched, 15),
			    c->insn);
		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_EMULATION, 4, d);
		return 0;
	}
}
