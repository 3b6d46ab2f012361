// SPDX-License-Identifier: GPL-2.0
/*
 * CPUID as the guest sees it.
 *
 * Contract: the guest gets the host's vendor, family/model/stepping and
 * brand, but only the features shadowvm virtualizes (the allow-lists
 * below, intersected with the host's), plus the hypervisor bit and the
 * "shadowvm" signature at 0x40000000. A basic leaf above the maximum
 * returns the highest basic leaf's data, as Intel CPUs do. The table is
 * documented in Documentation/cpuid.rst.
 */
#include <linux/kernel.h>
#include <asm/processor.h>
#include "shadowvm.h"

#define SHV_MAX_BASIC		0x7
#define SHV_MAX_EXT		0x80000008
#define SHV_HV_BASE		0x40000000

/* leaf 1 EDX: FPU VME- DE PSE TSC MSR PAE MCE- CX8 APIC- SEP MTRR- PGE MCA- CMOV PAT PSE36 CLFSH MMX FXSR SSE SSE2 */
#define L1_EDX_OK  (BIT(0) | BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(6) | BIT(8) | \
		    BIT(11) | BIT(13) | BIT(15) | BIT(16) | BIT(17) | BIT(19) | \
		    BIT(23) | BIT(24) | BIT(25) | BIT(26))
/* leaf 1 ECX: SSE3 PCLMUL SSSE3 CX16 PCID SSE4.1 SSE4.2 MOVBE POPCNT AES RDRAND */
#define L1_ECX_OK  (BIT(0) | BIT(1) | BIT(9) | BIT(13) | BIT(17) | BIT(19) | BIT(20) | \
		    BIT(22) | BIT(23) | BIT(25) | BIT(30))
#define L1_ECX_HYPERVISOR BIT(31)
/* leaf 7.0 EBX: BMI1 BMI2 SMEP ERMS RDSEED ADX SMAP CLFLUSHOPT; ECX/EDX none */
#define L7_EBX_OK  (BIT(3) | BIT(7) | BIT(8) | BIT(9) | BIT(18) | BIT(19) | BIT(20) | BIT(23))
/* 0x80000001 EDX: SYSCALL NX PDPE1GB LM; ECX: LAHF LZCNT */
#define LX1_EDX_OK (BIT(11) | BIT(20) | BIT(26) | BIT(29))
#define LX1_ECX_OK (BIT(0) | BIT(5))

static u32 host_max_basic, host_max_ext;
static bool has_nx, has_1g;
static int guest_phys_bits;

int shv_cpuid_init(void)
{
	u32 a, b, c, d;

	cpuid(0, &host_max_basic, &b, &c, &d);
	cpuid(0x80000000, &host_max_ext, &b, &c, &d);
	guest_phys_bits = 36;
	if (host_max_ext >= 0x80000008) {
		cpuid(0x80000008, &a, &b, &c, &d);
		guest_phys_bits = min_t(int, a & 0xff, SHADOWVM_GPA_BITS);
	}
	if (host_max_ext >= 0x80000001) {
		cpuid(0x80000001, &a, &b, &c, &d);
		has_nx = d & BIT(20);
		has_1g = d & BIT(26);
	}
	return 0;
}

int shv_guest_maxphyaddr(void)
{
	return guest_phys_bits;
}

bool shv_cpuid_has_nx(void)
{
	return has_nx;
}

bool shv_cpuid_has_1g(void)
{
	return has_1g;
}

static void host_cpuid(u32 leaf, u32 sub, u32 out[4])
{
	bool ext = leaf >= 0x80000000;

	if ((!ext && leaf > host_max_basic) || (ext && leaf > host_max_ext)) {
		out[0] = out[1] = out[2] = out[3] = 0;
		return;
	}
	cpuid_count(leaf, sub, &out[0], &out[1], &out[2], &out[3]);
}

void shv_cpuid(struct shv_vcpu *vcpu, u32 leaf, u32 sub, u32 out[4])
{
	u32 max_basic = min_t(u32, SHV_MAX_BASIC, host_max_basic);
	u32 max_ext = min_t(u32, SHV_MAX_EXT, host_max_ext);

	if (leaf >= SHV_HV_BASE && leaf < SHV_HV_BASE + 0x100) {
		if (leaf == SHV_HV_BASE) {
			out[0] = SHV_HV_BASE;
			memcpy(&out[1], "shad", 4);
			memcpy(&out[2], "owvm", 4);
			out[3] = 0;
			return;
		}
		leaf = max_basic;	/* out of range: highest basic leaf */
	} else if (leaf >= 0x80000000) {
		if (leaf > max_ext)
			leaf = max_basic;
	} else if (leaf > max_basic) {
		leaf = max_basic;
	}

	host_cpuid(leaf, sub, out);
	switch (leaf) {
	case 0:
		out[0] = max_basic;
		break;
	case 1:
		out[1] = (out[1] & 0xff00) | (1u << 16) | ((u32)vcpu->id << 24);
		out[2] = (out[2] & L1_ECX_OK) | L1_ECX_HYPERVISOR;
		out[3] &= L1_EDX_OK;
		/* lapic.c: xAPIC (while IA32_APIC_BASE.EN), TSC-deadline timer; no x2APIC */
		out[2] = (out[2] & ~(BIT(21) | BIT(24))) | BIT(24);
		out[3] = (out[3] & ~BIT(9)) | (shv_lapic_hw_enabled(vcpu) ? BIT(9) : 0);
		break;
	case 2:
		break;
	case 4:
		/* cache topology: report one core, one thread per cache */
		out[0] &= 0x3ff;
		break;
	case 7:
		if (sub == 0) {
			out[0] = 0;
			out[1] &= L7_EBX_OK;
			out[2] = 0;
			out[3] = 0;
		} else {
			out[0] = out[1] = out[2] = out[3] = 0;
		}
		break;
	case 0x80000000:
		out[0] = max_ext;
		break;
	case 0x80000001:
		out[0] = out[1] = 0;
		out[2] &= LX1_ECX_OK;
		out[3] &= LX1_EDX_OK;
		break;
	case 0x80000002: case 0x80000003: case 0x80000004:
		break;		/* brand string */
	case 0x80000006:
		break;		/* L2 cache description */
	case 0x80000008:
		/* physical bits as we allow them; 48 linear bits (no LA57) */
		out[0] = (out[0] & ~0xffffu) | (48 << 8) | guest_phys_bits;
		out[1] = out[2] = out[3] = 0;
		break;
	default:
		out[0] = out[1] = out[2] = out[3] = 0;
		break;
	}
}
