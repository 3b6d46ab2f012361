// SPDX-License-Identifier: GPL-2.0
/*
 * sregs_test: SET_SREGS validation.
 * One test per state VMX cannot enter: each must fail with EINVAL and leave
 * the vCPU's state unchanged. A valid non-default state must be accepted
 * and read back field for field (get/set round trip), and the plain
 * get -> set -> get round trip must be the identity.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

#define X86_CR0_PE	(1ULL << 0)
#define X86_CR0_NW	(1ULL << 29)
#define X86_CR0_CD	(1ULL << 30)
#define X86_CR0_PG	(1ULL << 31)
#define X86_CR4_PAE	(1ULL << 5)
#define X86_CR4_VMXE	(1ULL << 13)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)

FIXTURE(sregs) {
	int dev, vm, vcpu;
	struct shadowvm_sregs orig;
};

FIXTURE_VARIANT(sregs) {
	const char *what;
	void (*mutate)(struct shadowvm_sregs *s);
};

FIXTURE_SETUP(sregs)
{
	self->vm = -1;
	self->vcpu = -1;
	OPEN_DEV_OR_SKIP(self->dev);
	self->vm = ioctl(self->dev, SHADOWVM_CREATE_VM, 0);
	ASSERT_LE(0, self->vm) TH_LOG("CREATE_VM: %s", strerror(errno));
	self->vcpu = ioctl(self->vm, SHADOWVM_CREATE_VCPU, 0);
	ASSERT_LE(0, self->vcpu) TH_LOG("CREATE_VCPU: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(self->vcpu, SHADOWVM_GET_SREGS, &self->orig));
}

FIXTURE_TEARDOWN(sregs)
{
	if (self->vcpu >= 0)
		close(self->vcpu);
	if (self->vm >= 0)
		close(self->vm);
}

/* real mode with the flat 4 GiB segments: "unreal" mode, refused */
static void m_real_mode(struct shadowvm_sregs *s)
{
	s->cr0 &= ~X86_CR0_PE;
}

static void m_pg_without_pe(struct shadowvm_sregs *s)
{
	s->cr0 = (s->cr0 & ~X86_CR0_PE) | X86_CR0_PG;
}

static void m_cr0_high_bits(struct shadowvm_sregs *s)
{
	s->cr0 |= 1ULL << 32;
}

static void m_nw_without_cd(struct shadowvm_sregs *s)
{
	s->cr0 = (s->cr0 & ~X86_CR0_CD) | X86_CR0_NW;
}

static void m_cr4_reserved(struct shadowvm_sregs *s)
{
	s->cr4 |= 1ULL << 63;
}

static void m_cr4_vmxe(struct shadowvm_sregs *s)
{
	s->cr4 |= X86_CR4_VMXE;
}

static void m_efer_reserved(struct shadowvm_sregs *s)
{
	s->efer |= 1ULL << 1;
}

static void m_lme_pg_no_pae(struct shadowvm_sregs *s)
{
	/* identity page tables are not needed: entry checks come first */
	s->efer |= EFER_LME | EFER_LMA;
	s->cr0 |= X86_CR0_PG;
	s->cr4 &= ~X86_CR4_PAE;
	s->cr3 = 0x10000;
}

static void m_lma_without_lme(struct shadowvm_sregs *s)
{
	s->efer |= EFER_LMA;
}

static void m_lme_pg_without_lma(struct shadowvm_sregs *s)
{
	s->efer = (s->efer | EFER_LME) & ~EFER_LMA;
	s->cr0 |= X86_CR0_PG;
	s->cr4 |= X86_CR4_PAE;
	s->cr3 = 0x10000;
}

static void m_cs_unusable(struct shadowvm_sregs *s)
{
	s->cs.unusable = 1;
}

static void m_cs_data_type(struct shadowvm_sregs *s)
{
	s->cs.type = 3;
}

static void m_ss_dpl_ne_cs_dpl(struct shadowvm_sregs *s)
{
	s->ss.dpl = 3;
	s->ss.selector |= 3;
}

static void m_tr_unusable(struct shadowvm_sregs *s)
{
	s->tr.unusable = 1;
}

static void m_tr_not_busy_tss(struct shadowvm_sregs *s)
{
	s->tr.type = 9;		/* available, not busy */
}

static void m_cr3_above_maxphyaddr(struct shadowvm_sregs *s)
{
	s->cr3 = 1ULL << 62;
}

static void m_reserved_field(struct shadowvm_sregs *s)
{
	s->reserved[0] = 1;
}

static void m_reserved_last(struct shadowvm_sregs *s)
{
	s->reserved[3] = 0x8000;
}

/*
 * A descriptor bit counts by its low bit only (Documentation/uapi.rst):
 * s=2 is S=0, a system segment in DS. The module once checked the whole
 * byte (non-zero: S=1) but wrote the low bit, and VM entry then failed
 * (ioctl_fuzz_test's finding 7).
 */
static void m_ds_s_even(struct shadowvm_sregs *s)
{
	s->ds.s = 2;
}

static void m_fs_present_even(struct shadowvm_sregs *s)
{
	/* present=3 is present=1, s=0xfe is S=0: a system segment in FS */
	s->fs.present = 3;
	s->fs.s = 0xfe;
}

#define BAD(name, fn) \
	FIXTURE_VARIANT_ADD(sregs, name) { .what = #name, .mutate = fn }

BAD(cr0_pe_clear_unreal_mode, m_real_mode);
BAD(cr0_pg_without_pe, m_pg_without_pe);
BAD(cr0_bits_63_32_set, m_cr0_high_bits);
BAD(cr0_nw_without_cd, m_nw_without_cd);
BAD(cr4_reserved_bit63, m_cr4_reserved);
BAD(cr4_vmxe, m_cr4_vmxe);
BAD(efer_reserved_bit1, m_efer_reserved);
BAD(efer_lme_pg_without_pae, m_lme_pg_no_pae);
BAD(efer_lma_without_lme, m_lma_without_lme);
BAD(efer_lme_pg_without_lma, m_lme_pg_without_lma);
BAD(cs_unusable, m_cs_unusable);
BAD(cs_not_code_type3, m_cs_data_type);
BAD(ss_dpl_ne_cs_dpl, m_ss_dpl_ne_cs_dpl);
BAD(tr_unusable, m_tr_unusable);
BAD(tr_type_not_busy_tss, m_tr_not_busy_tss);
BAD(cr3_above_maxphyaddr, m_cr3_above_maxphyaddr);
BAD(reserved0_nonzero, m_reserved_field);
BAD(reserved3_nonzero, m_reserved_last);
BAD(ds_s_2_is_a_system_segment, m_ds_s_even);
BAD(fs_present_3_s_0xfe_is_a_system_segment, m_fs_present_even);

TEST_F(sregs, invalid_einval_state_unchanged)
{
	struct shadowvm_sregs bad = self->orig, after;
	int ret;

	RETURN_IF_SETUP_SKIPPED();
	variant->mutate(&bad);
	ret = ioctl(self->vcpu, SHADOWVM_SET_SREGS, &bad);
	EXPECT_EQ(-1, ret) TH_LOG("%s: accepted", variant->what);
	EXPECT_EQ(EINVAL, errno) TH_LOG("%s: errno %d (%s)", variant->what,
					errno, strerror(errno));
	ASSERT_EQ(0, ioctl(self->vcpu, SHADOWVM_GET_SREGS, &after));
	if (ret)
		EXPECT_EQ(0, memcmp(&self->orig, &after, sizeof(after)))
			TH_LOG("%s: refused SET_SREGS changed the state",
			       variant->what);
}

TEST(get_set_roundtrip_identity)
{
	struct shadowvm_sregs a, b;
	int dev, vm, vcpu;

	OPEN_DEV_OR_SKIP(dev);
	vm = ioctl(dev, SHADOWVM_CREATE_VM, 0);
	ASSERT_LE(0, vm);
	vcpu = ioctl(vm, SHADOWVM_CREATE_VCPU, 0);
	ASSERT_LE(0, vcpu);
	ASSERT_EQ(0, ioctl(vcpu, SHADOWVM_GET_SREGS, &a));
	ASSERT_EQ(0, ioctl(vcpu, SHADOWVM_SET_SREGS, &a))
		TH_LOG("SET_SREGS(GET_SREGS): %s", strerror(errno));
	ASSERT_EQ(0, ioctl(vcpu, SHADOWVM_GET_SREGS, &b));
	EXPECT_EQ(0, memcmp(&a, &b, sizeof(a)));
	close(vcpu);
	close(vm);
	close(dev);
}

static void expect_seg(struct __test_metadata *_metadata, const char *name,
		       const struct shadowvm_segment *w,
		       const struct shadowvm_segment *g)
{
	EXPECT_EQ(w->base, g->base) TH_LOG("%s.base", name);
	EXPECT_EQ(w->limit, g->limit) TH_LOG("%s.limit", name);
	EXPECT_EQ(w->selector, g->selector) TH_LOG("%s.selector", name);
	EXPECT_EQ(w->type, g->type) TH_LOG("%s.type", name);
	EXPECT_EQ(w->present, g->present) TH_LOG("%s.present", name);
	EXPECT_EQ(w->dpl, g->dpl) TH_LOG("%s.dpl", name);
	EXPECT_EQ(w->db, g->db) TH_LOG("%s.db", name);
	EXPECT_EQ(w->s, g->s) TH_LOG("%s.s", name);
	EXPECT_EQ(w->g, g->g) TH_LOG("%s.g", name);
	EXPECT_EQ(w->unusable, g->unusable) TH_LOG("%s.unusable", name);
}

TEST(valid_state_accepted_and_read_back)
{
	struct shadowvm_sregs s, got;
	int dev, vm, vcpu;

	OPEN_DEV_OR_SKIP(dev);
	vm = ioctl(dev, SHADOWVM_CREATE_VM, 0);
	ASSERT_LE(0, vm);
	vcpu = ioctl(vm, SHADOWVM_CREATE_VCPU, 0);
	ASSERT_LE(0, vcpu);
	ASSERT_EQ(0, ioctl(vcpu, SHADOWVM_GET_SREGS, &s));

	/* a different but enterable state */
	s.ds.base = 0x10000;
	s.ds.limit = 0xfffff;
	s.ds.g = 0;
	s.ds.selector = 0x20;
	s.fs.base = 0x12340000;
	s.gs.selector = 0x28;
	s.gdt.base = 0x2000;
	s.gdt.limit = 0x2f;
	s.idt.base = 0x3000;
	s.idt.limit = 0x7ff;
	s.cr0 |= 1ULL << 16;		/* WP */
	s.cr2 = 0xdead000;
	s.cr3 = 0x5000;
	s.cr4 = 1ULL << 9;		/* OSFXSR */
	ASSERT_EQ(0, ioctl(vcpu, SHADOWVM_SET_SREGS, &s))
		TH_LOG("valid SET_SREGS refused: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(vcpu, SHADOWVM_GET_SREGS, &got));
	expect_seg(_metadata, "cs", &s.cs, &got.cs);
	expect_seg(_metadata, "ds", &s.ds, &got.ds);
	expect_seg(_metadata, "es", &s.es, &got.es);
	expect_seg(_metadata, "fs", &s.fs, &got.fs);
	expect_seg(_metadata, "gs", &s.gs, &got.gs);
	expect_seg(_metadata, "ss", &s.ss, &got.ss);
	expect_seg(_metadata, "tr", &s.tr, &got.tr);
	EXPECT_EQ(1, got.ldt.unusable);
	EXPECT_EQ(s.gdt.base, got.gdt.base);
	EXPECT_EQ(s.gdt.limit, got.gdt.limit);
	EXPECT_EQ(s.idt.base, got.idt.base);
	EXPECT_EQ(s.idt.limit, got.idt.limit);
	EXPECT_EQ(s.cr0, got.cr0);
	EXPECT_EQ(s.cr2, got.cr2);
	EXPECT_EQ(s.cr3, got.cr3);
	EXPECT_EQ(s.cr4, got.cr4);
	EXPECT_EQ(s.efer, got.efer);
	EXPECT_EQ(0, got.reserved[0] | got.reserved[1] | got.reserved[2] |
		     got.reserved[3]);
	close(vcpu);
	close(vm);
	close(dev);
}

/* only the low bit of each descriptor bit counts, on input as on output */
TEST(descriptor_bits_low_bits_only)
{
	struct shadowvm_sregs s, got;
	int dev, vm, vcpu;

	OPEN_DEV_OR_SKIP(dev);
	vm = ioctl(dev, SHADOWVM_CREATE_VM, 0);
	ASSERT_LE(0, vm);
	vcpu = ioctl(vm, SHADOWVM_CREATE_VCPU, 0);
	ASSERT_LE(0, vcpu);
	ASSERT_EQ(0, ioctl(vcpu, SHADOWVM_GET_SREGS, &s));
	ASSERT_EQ(1, s.ds.s);
	s.ds.s = 3;
	s.ds.present = 0x81;
	s.ds.type = 0x13;	/* 3: read/write data, accessed */
	s.es.dpl = 4;		/* 0 */
	ASSERT_EQ(0, ioctl(vcpu, SHADOWVM_SET_SREGS, &s))
		TH_LOG("SET_SREGS with high bits in descriptor bits: %s",
		       strerror(errno));
	ASSERT_EQ(0, ioctl(vcpu, SHADOWVM_GET_SREGS, &got));
	EXPECT_EQ(1, got.ds.s);
	EXPECT_EQ(1, got.ds.present);
	EXPECT_EQ(0, got.ds.unusable);
	EXPECT_EQ(3, got.ds.type);
	EXPECT_EQ(0, got.es.dpl);
	close(vcpu);
	close(vm);
	close(dev);
}

TEST_HARNESS_MAIN
