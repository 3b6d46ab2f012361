// SPDX-License-Identifier: GPL-2.0
/*
 * cpuid_test: CPUID as seen by a guest, against expectations computed from
 * the host's CPUID executed natively by the test:
 *   - vendor string equal to the host's, leaf 0 EAX <= the host's;
 *   - leaf 1 EAX equal to the host's, ECX.hypervisor (31) = 1,
 *     ECX.VMX (5) = 0, EBX[31:24] = vCPU id (checked for ids 0 and 5);
 *   - on shadowvm: one package of SHADOWVM_MAX_VCPUS cores (leaf 1 HTT
 *     and EBX[23:16], leaf 4 EAX[31:26], no cache shared between cores);
 *   - every feature bit of leaves 1 (ECX except bit 31, EDX), 7.0
 *     (EBX/ECX/EDX) and 0x80000001 (ECX/EDX) is also set on the host;
 *   - leaf 0x40000000 = { 0x40000000, "shad", "owvm", 0 };
 *   - a basic leaf above the guest's maximum returns the data of the
 *     guest's highest basic leaf (Intel rule);
 *   - on shadowvm: leaves 1, 7.0 and 0x80000001 carry exactly the host's
 *     bits among those Documentation/cpuid.rst lists as passed through
 *     (CLWB, CLFLUSHOPT, SHA, MCE, MCA, RDTSCP, RDPID, INVPCID, TSC_ADJUST
 *     ... when the host has them), every other feature bit clear; leaf
 *     0x80000007 at most the host's invariant-TSC bit.
 * Run with SVMTEST_BACKEND=kvm, the backend-independent checks run
 * against KVM.
 */
#include <cpuid.h>
#include <errno.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

/*
 * Table at TVM_DATA: entries of { leaf, subleaf, eax, ebx, ecx, edx },
 * EDI = number of entries (set by the test).
 */
GUEST_CODE(cpuid_guest,
	"mov $0x9000, %esi\n"
	"1: mov (%esi), %eax\n"
	"mov 4(%esi), %ecx\n"
	"cpuid\n"
	"mov %eax, 8(%esi)\n"
	"mov %ebx, 12(%esi)\n"
	"mov %ecx, 16(%esi)\n"
	"mov %edx, 20(%esi)\n"
	"add $24, %esi\n"
	"dec %edi\n"
	"jnz 1b\n"
	"hlt\n");

struct cpuid_ent {
	uint32_t leaf, subleaf;
	uint32_t eax, ebx, ecx, edx;
};

enum {
	E_L0, E_L1, E_L7, E_EXT1, E_HV, E_MAXBASIC, E_ABOVE1, E_ABOVE2,
	E_EXT7, E_L6, E_L15, E_L16, E_L4, E_NR
};

/*
 * The bits Documentation/cpuid.rst lists as passed through when the host
 * has them (kmod/cpuid.c's allow-lists plus the bits enabled by VMX
 * controls every VT-x CPU with the feature has: RDTSCP, RDPID, INVPCID).
 * Every other feature bit of these words must be clear.
 */
#define B(n)		(1u << (n))
#define L1_ECX_PASS	(B(0) | B(1) | B(9) | B(13) | B(17) | B(19) | B(20) | \
			 B(22) | B(23) | B(25) | B(30))
#define L1_EDX_PASS	(B(0) | B(2) | B(3) | B(4) | B(5) | B(6) | B(7) | B(8) | \
			 B(11) | B(13) | B(14) | B(15) | B(16) | B(17) | B(19) | \
			 B(23) | B(24) | B(25) | B(26) | B(27))
#define L7_EBX_PASS	(B(1) | B(3) | B(6) | B(7) | B(8) | B(9) | B(10) | B(13) | \
			 B(18) | B(19) | B(20) | B(23) | B(24) | B(29))
#define L7_ECX_PASS	(B(0) | B(8) | B(22) | B(25))
#define L7_EDX_PASS	(B(4) | B(10) | B(14))
#define LX1_ECX_PASS	(B(0) | B(5) | B(8))
#define LX1_EDX_PASS	(B(11) | B(20) | B(26) | B(27) | B(29))

static void host_cpuid(uint32_t leaf, uint32_t sub, struct cpuid_ent *e)
{
	e->leaf = leaf;
	e->subleaf = sub;
	__cpuid_count(leaf, sub, e->eax, e->ebx, e->ecx, e->edx);
}

/* Runs the guest twice: first to learn its max basic leaf, then all. */
static void guest_cpuid(struct __test_metadata *_metadata, uint32_t vcpu_id,
			struct cpuid_ent *out)
{
	struct cpuid_ent *tab;
	struct be_regs regs;
	struct be_exit e;
	struct tvm t;
	uint32_t max;

	TVM_CREATE_EX_OR_SKIP(&t, tvm_default_kind(), TVM_MEM_DEFAULT, NULL,
			      vcpu_id);
	tab = tvm_ptr(&t, TVM_DATA);
	memset(tab, 0, E_NR * sizeof(*tab));
	tab[0].leaf = 0;
	TVM_LOAD(&t, cpuid_guest);
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	regs.rdi = 1;
	ASSERT_EQ(0, be_set_regs(&t.vcpu, &regs));
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	max = tab[0].eax;
	ASSERT_LE(1, max) TH_LOG("guest max basic leaf %u", max);

	memset(tab, 0, E_NR * sizeof(*tab));
	tab[E_L0].leaf = 0;
	tab[E_L1].leaf = 1;
	tab[E_L7].leaf = 7;
	tab[E_EXT1].leaf = 0x80000001;
	tab[E_HV].leaf = 0x40000000;
	tab[E_MAXBASIC].leaf = max;
	tab[E_ABOVE1].leaf = max + 1;
	tab[E_ABOVE2].leaf = max + 0x1000;
	tab[E_EXT7].leaf = 0x80000007;
	tab[E_L6].leaf = 6;
	tab[E_L15].leaf = 0x15;
	tab[E_L16].leaf = 0x16;
	tab[E_L4].leaf = 4;
	TVM_LOAD(&t, cpuid_guest);
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	regs.rdi = E_NR;
	ASSERT_EQ(0, be_set_regs(&t.vcpu, &regs));
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	memcpy(out, tab, E_NR * sizeof(*tab));
	tvm_destroy(&t);
}

/* shadowvm only: exactly the documented pass-through bits of the host */
static void check_pass_through(struct __test_metadata *_metadata,
			       const struct cpuid_ent *g,
			       const struct cpuid_ent *h1,
			       const struct cpuid_ent *h7,
			       const struct cpuid_ent *hx1,
			       const struct cpuid_ent *hx7)
{
	/* emulated whatever the host has: hypervisor, TSC-deadline (in-kernel LAPIC) */
	EXPECT_EQ((h1->ecx & L1_ECX_PASS) | B(24) | B(31), g[E_L1].ecx)
		TH_LOG("leaf 1 ecx: host 0x%x", h1->ecx);
	/* APIC: the in-kernel xAPIC, enabled at reset; HTT: see below */
	EXPECT_EQ((h1->edx & L1_EDX_PASS) | B(9) | B(28), g[E_L1].edx)
		TH_LOG("leaf 1 edx: host 0x%x", h1->edx);
	/*
	 * Topology: one package of SHADOWVM_MAX_VCPUS cores, a thread each
	 * (leaf 1 EBX[23:16] logical processors, leaf 4 EAX[31:26] cores - 1,
	 * EAX[25:14] threads sharing a cache - 1), so that Linux puts all
	 * vCPUs in one package.
	 */
	EXPECT_EQ(SHADOWVM_MAX_VCPUS, (g[E_L1].ebx >> 16) & 0xff)
		TH_LOG("leaf 1 ebx 0x%x", g[E_L1].ebx);
	if (g[E_L0].eax >= 4 && (g[E_L4].eax & 0x1f)) {
		EXPECT_EQ(SHADOWVM_MAX_VCPUS - 1, g[E_L4].eax >> 26)
			TH_LOG("leaf 4 eax 0x%x", g[E_L4].eax);
		EXPECT_EQ(0, (g[E_L4].eax >> 14) & 0xfff)
			TH_LOG("leaf 4 eax 0x%x", g[E_L4].eax);
	}
	if (g[E_L0].eax >= 7) {
		EXPECT_EQ(h7->ebx & L7_EBX_PASS, g[E_L7].ebx)
			TH_LOG("leaf 7 ebx: host 0x%x", h7->ebx);
		EXPECT_EQ(h7->ecx & L7_ECX_PASS, g[E_L7].ecx)
			TH_LOG("leaf 7 ecx: host 0x%x", h7->ecx);
		EXPECT_EQ(h7->edx & L7_EDX_PASS, g[E_L7].edx)
			TH_LOG("leaf 7 edx: host 0x%x", h7->edx);
	}
	EXPECT_EQ(hx1->ecx & LX1_ECX_PASS, g[E_EXT1].ecx)
		TH_LOG("leaf 0x80000001 ecx: host 0x%x", hx1->ecx);
	EXPECT_EQ(hx1->edx & LX1_EDX_PASS, g[E_EXT1].edx)
		TH_LOG("leaf 0x80000001 edx: host 0x%x", hx1->edx);
	/* invariant TSC: the host's, unless its kernel distrusts its TSC */
	EXPECT_EQ(0, g[E_EXT7].edx & ~(hx7->edx & B(8)))
		TH_LOG("leaf 0x80000007 edx 0x%x, host 0x%x", g[E_EXT7].edx, hx7->edx);
	EXPECT_EQ(0, g[E_EXT7].eax | g[E_EXT7].ebx | g[E_EXT7].ecx);
}

/*
 * shadowvm only: leaf 6 is ARAT alone; leaf 0x15 names the 1 GHz LAPIC
 * clock as the crystal and the TSC in MHz (EBX/EAX), consistent with leaf
 * 0x16 (Documentation/cpuid.rst): what a guest kernel calibrates with.
 */
static void check_timing_leaves(struct __test_metadata *_metadata,
				const struct cpuid_ent *g)
{
	if (g[E_L0].eax < 0x16) {
		TH_LOG("max basic leaf 0x%x: no leaves 0x15/0x16 (host has none)",
		       g[E_L0].eax);
		return;
	}
	EXPECT_EQ(B(2), g[E_L6].eax);
	EXPECT_EQ(0, g[E_L6].ebx | g[E_L6].ecx | g[E_L6].edx);
	EXPECT_EQ(1000, g[E_L15].eax);
	EXPECT_EQ(1000000000u, g[E_L15].ecx);
	EXPECT_LT(0, g[E_L15].ebx);
	EXPECT_GT(4295, g[E_L15].ebx);
	EXPECT_EQ(g[E_L15].ebx, g[E_L16].eax);
	EXPECT_EQ(g[E_L16].eax, g[E_L16].ebx);
	EXPECT_EQ(1000, g[E_L16].ecx);
	TH_LOG("TSC %u MHz by leaf 0x15", g[E_L15].ebx);
}

static void check_cpuid(struct __test_metadata *_metadata, uint32_t vcpu_id)
{
	struct cpuid_ent g[E_NR], h0, h1, h7, hx0, hx1, hx7;
	char gv[13], hv[13];

	memset(g, 0, sizeof(g));
	guest_cpuid(_metadata, vcpu_id, g);
	if (_metadata->skip)
		return;
	host_cpuid(0, 0, &h0);
	host_cpuid(1, 0, &h1);
	memset(&h7, 0, sizeof(h7));
	if (h0.eax >= 7)
		host_cpuid(7, 0, &h7);
	host_cpuid(0x80000000, 0, &hx0);
	memset(&hx1, 0, sizeof(hx1));
	if (hx0.eax >= 0x80000001)
		host_cpuid(0x80000001, 0, &hx1);
	memset(&hx7, 0, sizeof(hx7));
	if (hx0.eax >= 0x80000007)
		host_cpuid(0x80000007, 0, &hx7);

	/* vendor and max leaf */
	memcpy(gv, &g[E_L0].ebx, 4);
	memcpy(gv + 4, &g[E_L0].edx, 4);
	memcpy(gv + 8, &g[E_L0].ecx, 4);
	gv[12] = 0;
	memcpy(hv, &h0.ebx, 4);
	memcpy(hv + 4, &h0.edx, 4);
	memcpy(hv + 8, &h0.ecx, 4);
	hv[12] = 0;
	EXPECT_STREQ(hv, gv);
	EXPECT_GE(h0.eax, g[E_L0].eax);

	/* leaf 1 */
	EXPECT_EQ(h1.eax, g[E_L1].eax);
	EXPECT_EQ(1u << 31, g[E_L1].ecx & (1u << 31))
		TH_LOG("hypervisor bit clear: ecx 0x%x", g[E_L1].ecx);
	EXPECT_EQ(0, g[E_L1].ecx & (1u << 5))
		TH_LOG("VMX bit set: ecx 0x%x", g[E_L1].ecx);
	EXPECT_EQ(vcpu_id, g[E_L1].ebx >> 24);

	/* features are a subset of the host's, but for what is emulated */
	EXPECT_EQ(0, g[E_L1].ecx & ~(h1.ecx | (1u << 31) | (1u << 24)))
		TH_LOG("leaf 1 ecx extra bits 0x%x", g[E_L1].ecx & ~h1.ecx);
	EXPECT_EQ(0, g[E_L1].edx & ~(h1.edx | (1u << 9) | (1u << 28)))
		TH_LOG("leaf 1 edx extra bits 0x%x", g[E_L1].edx & ~h1.edx);
	if (g[E_L0].eax >= 7) {
		EXPECT_EQ(0, g[E_L7].ebx & ~h7.ebx)
			TH_LOG("leaf 7 ebx extra 0x%x", g[E_L7].ebx & ~h7.ebx);
		EXPECT_EQ(0, g[E_L7].ecx & ~h7.ecx)
			TH_LOG("leaf 7 ecx extra 0x%x", g[E_L7].ecx & ~h7.ecx);
		EXPECT_EQ(0, g[E_L7].edx & ~h7.edx)
			TH_LOG("leaf 7 edx extra 0x%x", g[E_L7].edx & ~h7.edx);
	}
	EXPECT_EQ(0, g[E_EXT1].ecx & ~hx1.ecx)
		TH_LOG("leaf 0x80000001 ecx extra 0x%x",
		       g[E_EXT1].ecx & ~hx1.ecx);
	EXPECT_EQ(0, g[E_EXT1].edx & ~hx1.edx)
		TH_LOG("leaf 0x80000001 edx extra 0x%x",
		       g[E_EXT1].edx & ~hx1.edx);

	if (tvm_default_kind() == BE_SHADOWVM) {
		check_pass_through(_metadata, g, &h1, &h7, &hx1, &hx7);
		check_timing_leaves(_metadata, g);
	}

	/* hypervisor leaf */
	EXPECT_EQ(0x40000000, g[E_HV].eax);
	EXPECT_EQ(0, memcmp(&g[E_HV].ebx, "shad", 4))
		TH_LOG("ebx 0x%x", g[E_HV].ebx);
	EXPECT_EQ(0, memcmp(&g[E_HV].ecx, "owvm", 4))
		TH_LOG("ecx 0x%x", g[E_HV].ecx);
	EXPECT_EQ(0, g[E_HV].edx);

	/* above the max basic leaf: highest basic leaf's data */
	EXPECT_EQ(g[E_MAXBASIC].eax, g[E_ABOVE1].eax);
	EXPECT_EQ(g[E_MAXBASIC].ebx, g[E_ABOVE1].ebx);
	EXPECT_EQ(g[E_MAXBASIC].ecx, g[E_ABOVE1].ecx);
	EXPECT_EQ(g[E_MAXBASIC].edx, g[E_ABOVE1].edx);
	EXPECT_EQ(g[E_MAXBASIC].eax, g[E_ABOVE2].eax);
	EXPECT_EQ(g[E_MAXBASIC].ebx, g[E_ABOVE2].ebx);
	EXPECT_EQ(g[E_MAXBASIC].ecx, g[E_ABOVE2].ecx);
	EXPECT_EQ(g[E_MAXBASIC].edx, g[E_ABOVE2].edx);
}

TEST(cpuid_vcpu0)
{
	check_cpuid(_metadata, 0);
}

TEST(cpuid_vcpu5_apic_id)
{
	check_cpuid(_metadata, 5);
}

TEST_HARNESS_MAIN
