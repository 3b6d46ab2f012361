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
#include <asm/tsc.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"

#define SHV_MAX_BASIC		0x16
#define SHV_LAPIC_BUS_HZ	1000000000u	/* lapic_timer.c's timer clock */
#define SHV_MAX_EXT		0x80000008
#define SHV_HV_BASE		0x40000000

/*
 * Allow-lists: a bit reaches the guest only if the host has it and it is
 * listed. Documentation/cpuid.rst says for every bit why it is set or not.
 *
 * leaf 1 EDX: FPU DE PSE TSC MSR PAE MCE CX8 SEP PGE MCA CMOV PAT PSE36
 * CLFSH MMX FXSR SSE SSE2 SS
 */
#define L1_EDX_OK  (BIT(0) | BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(6) | BIT(7) | \
		    BIT(8) | BIT(11) | BIT(13) | BIT(14) | BIT(15) | BIT(16) | BIT(17) | \
		    BIT(19) | BIT(23) | BIT(24) | BIT(25) | BIT(26) | BIT(27))
/* leaf 1 ECX: SSE3 PCLMUL SSSE3 CX16 PCID SSE4.1 SSE4.2 MOVBE POPCNT AES RDRAND */
#define L1_ECX_OK  (BIT(0) | BIT(1) | BIT(9) | BIT(13) | BIT(17) | BIT(19) | BIT(20) | \
		    BIT(22) | BIT(23) | BIT(25) | BIT(30))
#define L1_ECX_HYPERVISOR BIT(31)
#define L1_EDX_HTT	BIT(28)	/* EBX[23:16] counts the package's logical processors */
/*
 * leaf 7.0 EBX: TSC_ADJUST BMI1 FDP_EXCPTN_ONLY SMEP BMI2 ERMS FPU-CS/DS-
 * deprecated RDSEED ADX SMAP CLFLUSHOPT CLWB SHA; INVPCID (10) separately
 */
#define L7_EBX_OK  (BIT(1) | BIT(3) | BIT(6) | BIT(7) | BIT(8) | BIT(9) | BIT(13) | \
		    BIT(18) | BIT(19) | BIT(20) | BIT(23) | BIT(24) | BIT(29))
#define L7_EBX_INVPCID	BIT(10)
/* leaf 7.0 ECX: PREFETCHWT1 GFNI CLDEMOTE; RDPID (22) separately */
#define L7_ECX_OK  (BIT(0) | BIT(8) | BIT(25))
#define L7_ECX_RDPID	BIT(22)
/* leaf 7.0 EDX: FSRM MD_CLEAR SERIALIZE */
#define L7_EDX_OK  (BIT(4) | BIT(10) | BIT(14))
/* 0x80000001 EDX: SYSCALL NX PDPE1GB LM; RDTSCP (27) separately */
#define LX1_EDX_OK (BIT(11) | BIT(20) | BIT(26) | BIT(29))
#define LX1_EDX_RDTSCP	BIT(27)
/* 0x80000001 ECX: LAHF LZCNT PREFETCHW */
#define LX1_ECX_OK (BIT(0) | BIT(5) | BIT(8))
/* leaf 6 EAX: ARAT (the LAPIC timer runs in every C-state: there are none) */
#define L6_EAX_ARAT	BIT(2)
/* 0x80000007 EDX: invariant TSC */
#define LX7_EDX_INVTSC	BIT(8)

static u32 host_max_basic, host_max_ext;
static bool has_nx, has_1g, host_tsc_aux;
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
		host_tsc_aux = d & BIT(27);		/* RDTSCP */
	}
	if (host_max_basic >= 7) {
		cpuid_count(7, 0, &a, &b, &c, &d);
		host_tsc_aux |= !!(c & BIT(22));	/* RDPID */
	}
	return 0;
}

bool shv_cpuid_host_tsc_aux(void)
{
	return host_tsc_aux;
}

/* RDTSCP and RDPID run natively under "enable RDTSCP" (else #UD) */
static bool vmx_rdtscp(void)
{
	return shv_caps.cpu2 & CPU2_ENABLE_RDTSCP;
}

/* INVPCID runs (or exits, under INVLPG exiting) with "enable INVPCID" */
static bool vmx_invpcid(void)
{
	return shv_caps.cpu2 & CPU2_ENABLE_INVPCID;
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

/*
 * Leaf 0x15, TSC and core crystal clock: the "crystal" is the LAPIC
 * timer's 1 GHz bus clock (ECX, Hz), TSC = crystal * EBX / EAX. Linux
 * computes crystal_khz * EBX in 32 bits, so EBX stays below 4295: the
 * ratio is the TSC in MHz over 1000, exact to 1 MHz. Linux then knows the
 * TSC frequency (X86_FEATURE_TSC_KNOWN_FREQ) and the LAPIC timer period
 * without a PIT or HPET to calibrate against. No TSC frequency known (a
 * host kernel without tsc_khz): all zero, "not enumerated".
 */
static void shv_cpuid_tsc_leaf(u32 out[4])
{
	u32 mhz = DIV_ROUND_CLOSEST(tsc_khz, 1000);

	out[3] = 0;
	if (!mhz || mhz >= 4295) {
		out[0] = out[1] = out[2] = 0;
		return;
	}
	out[0] = 1000;
	out[1] = mhz;
	out[2] = SHV_LAPIC_BUS_HZ;
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
		/* one package of SHADOWVM_MAX_VCPUS cores (leaf 4), APIC id = vCPU id */
		out[1] = (out[1] & 0xff00) | (SHADOWVM_MAX_VCPUS << 16) | ((u32)vcpu->id << 24);
		out[2] = (out[2] & L1_ECX_OK) | L1_ECX_HYPERVISOR;
		out[3] = (out[3] & L1_EDX_OK) | L1_EDX_HTT;
		/* lapic.c: xAPIC (while IA32_APIC_BASE.EN), TSC-deadline timer; no x2APIC */
		out[2] = (out[2] & ~(BIT(21) | BIT(24))) | BIT(24);
		out[3] = (out[3] & ~BIT(9)) | (shv_lapic_hw_enabled(vcpu) ? BIT(9) : 0);
		break;
	case 2:
		break;
	case 4:
		/*
		 * Cache topology: each cache private to one core (one thread
		 * shares it), SHADOWVM_MAX_VCPUS cores per package. A vCPU is
		 * a core of the package, so Linux sees its vCPUs as cores of
		 * one socket (as QEMU's default -smp) and an AP takes the boot
		 * CPU's loops_per_jiffy instead of calibrating its delay loop.
		 */
		if (out[0] & 0x1f)
			out[0] = (out[0] & 0x3ff) | ((SHADOWVM_MAX_VCPUS - 1) << 26);
		else
			out[0] = 0;
		break;
	case 6:
		/* thermal and power: only ARAT (guest timers never stop) */
		out[0] = L6_EAX_ARAT;
		out[1] = out[2] = out[3] = 0;
		break;
	case 7:
		if (sub == 0) {
			u32 ebx = out[1], ecx = out[2];

			out[0] = 0;
			out[1] &= L7_EBX_OK;
			if (vmx_invpcid())
				out[1] |= ebx & L7_EBX_INVPCID;
			out[2] &= L7_ECX_OK;
			if (vmx_rdtscp())
				out[2] |= ecx & L7_ECX_RDPID;
			out[3] &= L7_EDX_OK;
		} else {
			out[0] = out[1] = out[2] = out[3] = 0;
		}
		break;
	case 0x15:
		shv_cpuid_tsc_leaf(out);
		break;
	case 0x16:
		/* base and maximum MHz = the TSC's; bus MHz = the APIC bus */
		out[0] = out[1] = DIV_ROUND_CLOSEST(tsc_khz, 1000);
		out[2] = SHV_LAPIC_BUS_HZ / 1000000;
		out[3] = 0;
		break;
	case 0x80000000:
		out[0] = max_ext;
		break;
	case 0x80000001: {
		u32 edx = out[3];

		out[0] = out[1] = 0;
		out[2] &= LX1_ECX_OK;
		out[3] &= LX1_EDX_OK;
		if (vmx_rdtscp())
			out[3] |= edx & LX1_EDX_RDTSCP;
		break;
	}
	case 0x80000002: case 0x80000003: case 0x80000004:
		break;		/* brand string */
	case 0x80000006:
		break;		/* L2 cache description */
	case 0x80000007:
		/*
		 * The guest's TSC is the host's plus an offset: invariant
		 * when the host's is and the kernel trusts it across CPUs.
		 */
		out[0] = out[1] = out[2] = 0;
		out[3] &= check_tsc_unstable() ? 0 : LX7_EDX_INVTSC;
		break;
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
