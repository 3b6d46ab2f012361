// SPDX-License-Identifier: GPL-2.0
/*
 * cr_rules_test: the guest's MOV to CR0/CR4 and WRMSR(EFER) follow the
 * SDM's consistency rules, and the PAE PDPTE registers are loaded only
 * when the SDM says so.
 *
 * #GP(0), with CR0, CR4 and EFER unchanged, for: clearing CR0.PG while
 * CR4.PCIDE=1 (leaving long mode with PCIDs on), setting CR4.PCIDE with
 * CR3[11:0] != 0 or outside long mode, clearing CR4.PAE in long mode,
 * CR0.PG=1 with CR0.PE=0, CR0.NW=1 with CR0.CD=0, CR0 bits 63:32, a
 * reserved CR4 bit, a reserved EFER bit.
 *
 * PAE paging: after the guest points a PDPTE in memory at another page
 * directory, toggling CR0.WP, EFER.NXE or CR4.SMAP keeps using the PDPTE
 * registers loaded before (no reload, no #GP); a MOV to CR3 loads the new
 * one. WRMSR(EFER) does not give back a CR0.TS that the guest cleared with
 * CLTS.
 */
#include <cpuid.h>
#include <errno.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "guest_paging.h"

FIXTURE(cr) {
	int unused;
};

FIXTURE_SETUP(cr)
{
}

FIXTURE_TEARDOWN(cr)
{
}

#define MEM_SIZE	(8u << 20)
#define CR0_CD		(1ULL << 30)
#define CR0_NW		(1ULL << 29)
#define CR0_TS		(1ULL << 3)
#define CR4_PCIDE	(1ULL << 17)
#define CR4_LA57	(1ULL << 12)
#define CR4_MCE		(1ULL << 6)
#define EFER_SCE	(1ULL << 0)

struct crt {
	struct tvm t;
	struct gp g;
	struct grt_script s;
	struct be_sregs before;
	char err[512];
};

static int crt_setup(struct crt *c, enum gp_mode mode, uint64_t cr4_extra)
{
	struct grt_env env = { .mode = mode, .cr4_extra = cr4_extra };
	enum be_kind kind = tvm_default_kind();
	int r;

	memset(c, 0, sizeof(*c));
	gs_init(&c->s);
	r = grt_create(&c->t, kind, MEM_SIZE, 0, 0, 0);
	if (r)
		return r;
	r = gp_init(&c->g, c->t.mem, MEM_SIZE, mode, GRT_POOL, GRT_POOL_SIZE);
	if (!r)
		r = grt_setup(&c->t, &c->g, &env);
	if (!r)
		r = be_get_sregs(&c->t.vcpu, &c->before);
	return r;
}

static void crt_done(struct crt *c)
{
	gs_free(&c->s);
	tvm_destroy(&c->t);
}

#define CRT_SETUP(c, mode, cr4x) do {					\
	int __r = crt_setup((c), (mode), (cr4x));			\
	if (tvm_no_device(__r))						\
		SKIP(return, "backend device missing");			\
	if (__r == -EINVAL && (cr4x))					\
		SKIP(return, "CR4 0x%llx not available here",		\
		     (unsigned long long)(cr4x));			\
	ASSERT_EQ(0, __r) TH_LOG("setting up: %s", strerror(-__r));	\
} while (0)

/* Runs the script; the last op must raise #GP and nothing may change. */
static void expect_gp(struct __test_metadata *_metadata, struct crt *c)
{
	struct grt_stopinfo st;
	struct be_sregs now;

	ASSERT_EQ(0, grt_load(&c->t, &c->s));
	grt_run(&c->t, &st);
	ASSERT_EQ(GRT_STOP_BAD, st.why)
		TH_LOG("%s", grt_describe(&c->t, &st, c->err, sizeof(c->err)));
	EXPECT_EQ(13, st.value) TH_LOG("vector %u, expected #GP", st.value);
	EXPECT_EQ(0, *grt_cb32(&c->t, CB_BAD_EC));
	ASSERT_EQ(0, be_get_sregs(&c->t.vcpu, &now));
	EXPECT_EQ(c->before.cr0, now.cr0);
	EXPECT_EQ(c->before.cr4, now.cr4);
	EXPECT_EQ(c->before.efer, now.efer);
}

TEST_F_TIMEOUT(cr, lm_clear_pg_with_pcide_is_gp, 60)
{
	struct crt c;

	CRT_SETUP(&c, GP_MODE_LM, CR4_PCIDE);
	/* PCID 1, then to compatibility mode and MOV to CR0 with PG=0 */
	gs_op(&c.s, GOP_CR3, 0, c.before.cr3 | 1, 0, 0);
	gs_op(&c.s, GOP_LM_LEAVE, 0, 0, 0, 0);
	expect_gp(_metadata, &c);
	crt_done(&c);
}

TEST(lm_set_pcide_with_cr3_low_bits_is_gp)
{
	struct crt c;

	CRT_SETUP(&c, GP_MODE_LM, 0);
	gs_op(&c.s, GOP_CR3, 0, c.before.cr3 | 0x8, 0, 0);	/* PWT */
	c.before.cr3 |= 0x8;
	gs_op(&c.s, GOP_CR4, 0, c.before.cr4 | CR4_PCIDE, 0, 0);
	expect_gp(_metadata, &c);
	crt_done(&c);
}

TEST(pae_set_pcide_outside_long_mode_is_gp)
{
	struct crt c;

	CRT_SETUP(&c, GP_MODE_PAE, 0);
	gs_op(&c.s, GOP_CR4, 0, c.before.cr4 | CR4_PCIDE, 0, 0);
	expect_gp(_metadata, &c);
	crt_done(&c);
}

TEST(lm_clear_pae_is_gp)
{
	struct crt c;

	CRT_SETUP(&c, GP_MODE_LM, 0);
	gs_op(&c.s, GOP_CR4, 0, c.before.cr4 & ~GP_CR4_PAE, 0, 0);
	expect_gp(_metadata, &c);
	crt_done(&c);
}

TEST(cr0_pg_without_pe_is_gp)
{
	struct crt c;

	CRT_SETUP(&c, GP_MODE_32, 0);
	gs_op(&c.s, GOP_CR0, 0, c.before.cr0 & ~GP_CR0_PE, 0, 0);
	expect_gp(_metadata, &c);
	crt_done(&c);
}

TEST(cr0_nw_without_cd_is_gp)
{
	struct crt c;

	CRT_SETUP(&c, GP_MODE_32, 0);
	gs_op(&c.s, GOP_CR0, 0, (c.before.cr0 | CR0_NW) & ~CR0_CD, 0, 0);
	expect_gp(_metadata, &c);
	crt_done(&c);
}

TEST(cr0_high_bits_are_gp)
{
	struct crt c;

	CRT_SETUP(&c, GP_MODE_LM, 0);
	gs_op(&c.s, GOP_CR0, 0, c.before.cr0 | (1ULL << 32), 0, 0);
	expect_gp(_metadata, &c);
	crt_done(&c);
}

TEST(cr4_reserved_bit_is_gp)
{
	struct crt c;

	CRT_SETUP(&c, GP_MODE_LM, 0);
	gs_op(&c.s, GOP_CR4, 0, c.before.cr4 | CR4_LA57, 0, 0);
	expect_gp(_metadata, &c);
	crt_done(&c);
}

/*
 * CR4.MCE is allowed when CPUID shows MCE (leaf 1 EDX bit 7), as on the
 * hardware: a kernel enables machine checks before anything else (Linux's
 * mcheck_cpu_init() does, and dies of the #GP otherwise). The guest reads
 * its value back.
 */
TEST(cr4_mce_follows_cpuid)
{
	unsigned int a, b, cx, d;
	struct grt_stopinfo st;
	struct be_sregs now;
	struct crt c;

	__cpuid(1, a, b, cx, d);
	if (!(d & (1u << 7)))
		SKIP(return, "the host has no MCE (CPUID.1:EDX bit 7)");
	CRT_SETUP(&c, GP_MODE_LM, 0);
	gs_op(&c.s, GOP_CR4, 0, c.before.cr4 | CR4_MCE, 0, 0);
	gs_op(&c.s, GOP_END, 0, 0, 0, 0);
	ASSERT_EQ(0, grt_load(&c.t, &c.s));
	grt_run(&c.t, &st);
	ASSERT_EQ(GRT_STOP_DONE, st.why)
		TH_LOG("%s", grt_describe(&c.t, &st, c.err, sizeof(c.err)));
	ASSERT_EQ(0, be_get_sregs(&c.t.vcpu, &now));
	EXPECT_EQ(c.before.cr4 | CR4_MCE, now.cr4);
	crt_done(&c);
}

TEST(efer_reserved_bit_is_gp)
{
	struct crt c;

	CRT_SETUP(&c, GP_MODE_LM, 0);
	gs_op(&c.s, GOP_EFER, 0, c.before.efer | (1ULL << 1), 0, 0);
	expect_gp(_metadata, &c);
	crt_done(&c);
}

/* ---- PDPTE registers ---- */

#define X_LA	0x40000000ULL	/* under PDPTE 1 */
#define F1	0x300000ULL
#define F2	0x301000ULL

TEST_F_TIMEOUT(cr, pae_wp_nxe_smap_toggles_keep_pdptes, 120)
{
	struct grt_cpu cpu;
	uint64_t pdpte_gpa, pd2, pt2, *res;
	struct grt_stopinfo st;
	struct crt c;
	int i, n = 0;

	CRT_SETUP(&c, GP_MODE_PAE, 0);
	ASSERT_EQ(0, grt_probe_cpu(&c.t, &cpu, c.err, sizeof(c.err))) TH_LOG("%s", c.err);
	ASSERT_EQ(0, gp_map(&c.g, X_LA, F1, GP_4K, GP_4K, GP_W | GP_A | GP_D));
	*(uint32_t *)tvm_ptr(&c.t, F1) = 0x11111111;
	*(uint32_t *)tvm_ptr(&c.t, F2) = 0x22222222;
	pdpte_gpa = gp_entry_gpa(&c.g, X_LA, 3, false);
	ASSERT_NE(0, pdpte_gpa);
	/* a second page directory for the same GiB: X -> F2 */
	pd2 = gp_alloc(&c.g);
	pt2 = gp_alloc(&c.g);
	ASSERT_NE(0, pd2);
	ASSERT_NE(0, pt2);
	gp_set(&c.g, pd2 + ((X_LA >> 21) & 511) * 8, pt2 | GP_P | GP_W | GP_A);
	gp_set(&c.g, pt2 + ((X_LA >> 12) & 511) * 8, F2 | GP_P | GP_W | GP_A | GP_D);
	/* the runtime's own mappings under GiB 1 are none: safe to switch */

	/* PDPTE 1 was made after SET_SREGS loaded the registers: reload */
	gs_op(&c.s, GOP_CR3, 0, c.before.cr3, 0, 0);
	gs_op(&c.s, GOP_R32, 0, X_LA, 0, n++);			/* F1 */
	gs_op(&c.s, GOP_W64, 0, pdpte_gpa, pd2 | GP_P, 0);	/* PDPT in memory */
	gs_op(&c.s, GOP_CR0, 0, c.before.cr0 & ~GP_CR0_WP, 0, 0);
	gs_op(&c.s, GOP_INVLPG, 0, X_LA, 0, 0);
	gs_op(&c.s, GOP_R32, 0, X_LA, 0, n++);			/* still F1 */
	gs_op(&c.s, GOP_CR0, 0, c.before.cr0 | GP_CR0_WP, 0, 0);
	gs_op(&c.s, GOP_INVLPG, 0, X_LA, 0, 0);
	gs_op(&c.s, GOP_R32, 0, X_LA, 0, n++);			/* still F1 */
	if (cpu.nx) {
		gs_op(&c.s, GOP_EFER, 0, c.before.efer ^ GP_EFER_NXE, 0, 0);
		gs_op(&c.s, GOP_INVLPG, 0, X_LA, 0, 0);
		gs_op(&c.s, GOP_R32, 0, X_LA, 0, n++);		/* still F1 */
		gs_op(&c.s, GOP_EFER, 0, c.before.efer, 0, 0);
	}
	if (cpu.smap) {
		gs_op(&c.s, GOP_CR4, 0, c.before.cr4 | GP_CR4_SMAP, 0, 0);
		gs_op(&c.s, GOP_INVLPG, 0, X_LA, 0, 0);
		gs_op(&c.s, GOP_R32, 0, X_LA, 0, n++);		/* still F1 */
		gs_op(&c.s, GOP_CR4, 0, c.before.cr4, 0, 0);
	}
	gs_op(&c.s, GOP_CR3, 0, c.before.cr3, 0, 0);		/* loads the new one */
	gs_op(&c.s, GOP_R32, 0, X_LA, 0, n);
	gs_op(&c.s, GOP_END, 0, 0, 0, 0);
	ASSERT_EQ(0, grt_load(&c.t, &c.s));
	grt_run(&c.t, &st);
	ASSERT_EQ(GRT_STOP_DONE, st.why)
		TH_LOG("%s", grt_describe(&c.t, &st, c.err, sizeof(c.err)));
	res = grt_res(&c.t);
	for (i = 0; i < n; i++)
		EXPECT_EQ(0x11111111, (uint32_t)res[i])
			TH_LOG("read %d through the old PDPTE register: 0x%x", i,
			       (uint32_t)res[i]);
	EXPECT_EQ(0x22222222, (uint32_t)res[n]) TH_LOG("MOV to CR3 did not load the PDPTEs");
	crt_done(&c);
}

GUEST_CODE(ts_then_wrmsr,
	"mov %cr0, %eax\n"
	"or $8, %eax\n"
	"mov %eax, %cr0\n"		/* TS=1 (no exit: TS is guest-owned) */
	"mov %cr3, %eax\n"		/* an exit that syncs TS=1 into the module */
	"clts\n"			/* TS=0, no exit */
	"mov $0xc0000080, %ecx\n"
	"rdmsr\n"
	"xor $1, %eax\n"		/* toggle SCE */
	"wrmsr\n"
	"mov %cr0, %eax\n"
	"mov %eax, 0xc800\n"
	"hlt\n");

TEST(wrmsr_efer_keeps_guest_cr0_ts)
{
	struct be_sregs sr;
	struct be_exit e;
	struct tvm t;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	TVM_LOAD(&t, ts_then_wrmsr);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(0, *(uint32_t *)tvm_ptr(&t, 0xc800) & CR0_TS)
		TH_LOG("CR0 after WRMSR(EFER): 0x%x", *(uint32_t *)tvm_ptr(&t, 0xc800));
	ASSERT_EQ(0, be_get_sregs(&t.vcpu, &sr));
	EXPECT_EQ(0, sr.cr0 & CR0_TS);
	EXPECT_EQ(EFER_SCE, sr.efer & EFER_SCE);
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
