// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_implicit_test: SMAP and implicit supervisor-mode accesses (SDM vol.
 * 3A 4.6.1), per paging mode and MMU policy.
 *
 * Reading a descriptor from the GDT, LDT or IDT, or the TSS, is an
 * implicit supervisor-mode access at any CPL, and with CR4.SMAP=1 such an
 * access to a user page faults even at CPL 0 with EFLAGS.AC=1, which
 * lets explicit accesses through. The #PF error code is the same for
 * both kinds, so a shadow MMU that classifies faults by a software walk
 * honouring AC calls this fault its own and, the hardware faulting again
 * on the entry it just filled, never makes progress.
 *
 * The guest's LDT (LDTR set through SET_SREGS, no LLDT) lies on a page
 * mapped user and writable. A stub at CPL 0 loads DS with an LDT
 * selector: the descriptor read is the implicit access. Each case records
 * whether a #PF came, its error code, CR2 and the faulting instruction:
 *   - SMAP=1, AC=1 and AC=0: #PF, error code P (read, supervisor), CR2 the
 *     descriptor's address, at the MOV to DS;
 *   - SMAP=1, an explicit read of the same address: allowed with AC=1
 *     (the descriptor is read), #PF with AC=0;
 *   - SMAP=0, and SMAP=1 with the LDT page made supervisor: no #PF.
 * The IDT, GDT and TSS stay on supervisor pages, so the #PF is delivered.
 *
 * The fault of the AC=1 cases comes from the CPU, which shadowvm only
 * recognises. Bochs (2.7, the test VM's CPU) does not apply SMAP to
 * implicit accesses at CPL < 3 with AC=1 (its page walk skips the SMAP
 * check whenever EFLAGS.AC=1), so there those two cases must take no #PF:
 * the test then checks that the guest gets exactly what its CPU gives and
 * makes progress, and the SDM's outcome is checked on a CPU that has it
 * (real VT-x: make check-host). The CPU is taken as Bochs when the DMI
 * BIOS version says so, or without DMI when the ACPI DSDT is Bochs's
 * (machine_is_bochs()); SVMTEST_IMPLICIT_SMAP=0 or 1 overrides.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define LDT_LA		0x40402000ULL		/* the LDT, a user page */
#define LDT_PA		GRT_SCRATCH		/* its frame */
#define STUB		(GRT_SCRATCH + 0x1000)	/* the DS-loading stub */
#define MOV_DS_IP	(STUB + 5)		/* its first MOV to DS */
#define LDT_SEL		0x4			/* index 0, TI=1, RPL 0 */
#define PF_P		1u

/* a flat data descriptor, DPL 0, writable, accessed (no write on load) */
#define FLAT_DATA	0x00cf93000000ffffULL

FIXTURE(imp) {
	struct tvm t;
	struct gp g;
	struct grt_script s;
	struct grt_cpu cpu;
	bool live;
	char err[512];
};

POLICY_VARIANTS(imp);

GRT_POLICY_FIXTURE_HOOKS(imp, MEM_SIZE);

/* what one GOP_ACCESS case recorded (slot c: res[c..c+3]) */
struct rec {
	uint32_t count, ec;
	uint64_t cr2, val, ip;
};

static struct rec rec_at(struct tvm *t, int c)
{
	uint64_t *r = grt_res(t) + c;
	struct rec x = {
		.count = (uint32_t)r[0], .ec = (uint32_t)(r[0] >> 32),
		.cr2 = r[1], .val = r[2], .ip = r[3],
	};

	return x;
}

/*
 * Is the machine Bochs? Its BIOS says so in DMI; a kernel without DMI (the
 * debug kernel of make check-debug) still has the ACPI tables, and Bochs's
 * BIOS builds its DSDT with OEM ID "BXPC" and table ID "BXDSDT" (QEMU's
 * says "BOCHS " and "BXPC": not taken for Bochs).
 */
static bool machine_is_bochs(void)
{
	char buf[64] = "";
	FILE *f;

	f = fopen("/sys/class/dmi/id/bios_version", "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
		return strncmp(buf, "Bochs", 5) == 0;
	}
	f = fopen("/sys/firmware/acpi/tables/DSDT", "r");
	if (f) {
		size_t n = fread(buf, 1, 24, f);

		fclose(f);
		return n == 24 && !memcmp(buf + 10, "BXPC", 4) &&
		       !memcmp(buf + 16, "BXDSDT", 6);
	}
	return false;
}

/* does the CPU apply SMAP to implicit accesses at CPL < 3 with EFLAGS.AC=1? */
static bool cpu_implicit_smap(void)
{
	const char *e = getenv("SVMTEST_IMPLICIT_SMAP");

	if (e && *e)
		return atoi(e) != 0;
	return !machine_is_bochs();
}

static void ldt_smap(struct __test_metadata *_metadata, struct _test_data_imp *self,
		     enum gp_mode mode)
{
	static const uint8_t stub[] = {
		0xb8, LDT_SEL, 0, 0, 0,			/* mov $LDT_SEL, %eax */
		0x8e, 0xd8,				/* mov %eax, %ds */
		0xb8, GRT_SEL_DATA, 0, 0, 0,		/* mov $GRT_SEL_DATA, %eax */
		0x8e, 0xd8,				/* mov %eax, %ds */
		0xc3,					/* ret */
	};
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP };
	const uint32_t fetch = GRT_ACC_FETCH, fetch_ac = GRT_ACC_FETCH | GRT_ACC_AC;
	const uint32_t read = GRT_ACC_READ, read_ac = GRT_ACC_READ | GRT_ACC_AC;
	struct grt_script *s = &self->s;
	uint64_t pte, cr4, cr4_smap, pte_val;
	struct be_sregs sr;
	bool implicit_smap;
	struct rec x;
	int c;

	RETURN_IF_SETUP_SKIPPED();
	if (mode == GP_MODE_32)
		env.cr4_extra = GP_CR4_PSE;
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, mode, GRT_POOL,
			     GRT_POOL_SIZE));
	ASSERT_EQ(0, gp_map(&self->g, LDT_LA, LDT_PA, GP_4K, GP_4K,
			    GP_W | GP_U | GP_A | GP_D));
	pte = gp_entry_gpa(&self->g, LDT_LA, 1, false);
	ASSERT_NE(0, pte);
	pte_val = gp_get(&self->g, pte);
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));
	ASSERT_EQ(0, grt_probe_cpu(&self->t, &self->cpu, self->err, sizeof(self->err)))
		TH_LOG("%s", self->err);
	if (!self->cpu.smap)
		SKIP(return, "the guest's CPUID has no SMAP");

	memset(tvm_ptr(&self->t, LDT_PA), 0, 0x1000);
	*(uint64_t *)tvm_ptr(&self->t, LDT_PA) = FLAT_DATA;
	memset(tvm_ptr(&self->t, STUB), 0xcc, 0x100);
	memcpy(tvm_ptr(&self->t, STUB), stub, sizeof(stub));

	/* the LDTR: base LDT_LA, one page; its selector is never reloaded */
	ASSERT_EQ(0, be_get_sregs(&self->t.vcpu, &sr));
	memset(&sr.ldt, 0, sizeof(sr.ldt));
	sr.ldt.selector = 0x50;
	sr.ldt.base = LDT_LA;
	sr.ldt.limit = 0xfff;
	sr.ldt.type = 2;
	sr.ldt.present = 1;
	ASSERT_EQ(0, be_set_sregs(&self->t.vcpu, &sr));
	cr4 = sr.cr4;
	cr4_smap = cr4 | GP_CR4_SMAP;

	gs_op(s, GOP_CR4, 0, cr4_smap, 0, 0);
	gs_access(s, STUB, fetch_ac, 0, 0);	/* implicit, AC=1 */
	gs_access(s, STUB, fetch, 0, 4);	/* implicit, AC=0 */
	gs_access(s, LDT_LA, read_ac, 0, 8);	/* explicit, AC=1 */
	gs_access(s, LDT_LA, read, 0, 12);	/* explicit, AC=0 */
	gs_access(s, STUB, fetch_ac, 0, 16);	/* implicit again, AC=1 */
	gs_op(s, GOP_CR4, 0, cr4, 0, 0);
	gs_access(s, STUB, fetch_ac, 0, 20);	/* SMAP=0 */
	gs_op(s, GOP_CR4, 0, cr4_smap, 0, 0);
	gs_op(s, GOP_WENT, 0, pte, pte_val & ~GP_U, 0);
	gs_op(s, GOP_INVLPG, 0, LDT_LA, 0, 0);
	gs_access(s, STUB, fetch_ac, 0, 24);	/* supervisor LDT page */
	gs_access(s, STUB, fetch, 0, 28);
	gs_op(s, GOP_CR4, 0, cr4, 0, 0);
	ASSERT_EQ(0, grt_exec(&self->t, s, self->err, sizeof(self->err)))
		TH_LOG("guest: %s", self->err);

	implicit_smap = cpu_implicit_smap();
	if (!implicit_smap)
		TH_LOG("the CPU does not apply SMAP to implicit accesses with AC=1 (Bochs): cases 0 and 4 must take no #PF");
	for (c = 0; c <= 16; c += 4) {
		x = rec_at(&self->t, c);
		if ((c == 0 || c == 16) && !implicit_smap) {
			EXPECT_EQ(0, x.count)
				TH_LOG("case %d: #PF ec 0x%x CR2 0x%llx IP 0x%llx", c / 4, x.ec,
				       (unsigned long long)x.cr2, (unsigned long long)x.ip);
			continue;
		}
		if (c == 8) {
			EXPECT_EQ(0, x.count)
				TH_LOG("explicit read with AC=1: #PF ec 0x%x", x.ec);
			EXPECT_EQ((uint32_t)FLAT_DATA, (uint32_t)x.val);
			continue;
		}
		EXPECT_EQ(1, x.count) TH_LOG("case %d: no #PF", c / 4);
		EXPECT_EQ(PF_P, x.ec) TH_LOG("case %d: error code", c / 4);
		EXPECT_EQ(LDT_LA, x.cr2) TH_LOG("case %d: CR2", c / 4);
		if (c != 12)
			EXPECT_EQ(MOV_DS_IP, x.ip) TH_LOG("case %d: faulting IP", c / 4);
	}
	for (c = 20; c <= 28; c += 4) {
		x = rec_at(&self->t, c);
		EXPECT_EQ(0, x.count)
			TH_LOG("case %d: #PF ec 0x%x CR2 0x%llx IP 0x%llx", c / 4, x.ec,
			       (unsigned long long)x.cr2, (unsigned long long)x.ip);
	}
}

TEST_F(imp, ldt_smap_long_mode)
{
	ldt_smap(_metadata, self, GP_MODE_LM);
}

TEST_F(imp, ldt_smap_pae)
{
	ldt_smap(_metadata, self, GP_MODE_PAE);
}

TEST_F(imp, ldt_smap_32bit)
{
	ldt_smap(_metadata, self, GP_MODE_32);
}

TEST_HARNESS_MAIN
