/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VMX architectural constants (Intel SDM vol. 3C, appendices A-C) and the
 * VMX instruction wrappers. Nothing here holds state; everything is a name
 * for a number the SDM defines, or a single instruction that never oopses:
 * a VMfail or a fault (VMX off on this CPU) is reported and returned.
 */
#ifndef SHADOWVM_VMX_DEFS_H
#define SHADOWVM_VMX_DEFS_H

#include <linux/types.h>
#include <linux/bug.h>
#include <asm/asm.h>

/* MSRs */
#define SHV_MSR_FEATURE_CONTROL		0x3a
#define SHV_MSR_VMX_BASIC		0x480
#define SHV_MSR_VMX_PINBASED		0x481
#define SHV_MSR_VMX_PROCBASED		0x482
#define SHV_MSR_VMX_EXIT		0x483
#define SHV_MSR_VMX_ENTRY		0x484
#define SHV_MSR_VMX_MISC		0x485
#define SHV_MSR_VMX_CR0_FIXED0		0x486
#define SHV_MSR_VMX_CR0_FIXED1		0x487
#define SHV_MSR_VMX_CR4_FIXED0		0x488
#define SHV_MSR_VMX_CR4_FIXED1		0x489
#define SHV_MSR_VMX_PROCBASED2		0x48b
#define SHV_MSR_VMX_EPT_VPID_CAP	0x48c
#define SHV_MSR_VMX_TRUE_PINBASED	0x48d
#define SHV_MSR_VMX_TRUE_PROCBASED	0x48e
#define SHV_MSR_VMX_TRUE_EXIT		0x48f
#define SHV_MSR_VMX_TRUE_ENTRY		0x490

#define SHV_FC_LOCKED			(1ULL << 0)
#define SHV_FC_VMX_OUTSIDE_SMX		(1ULL << 2)

#define SHV_BASIC_TRUE_CTLS		(1ULL << 55)
#define SHV_BASIC_INOUT_INFO		(1ULL << 54)

/* Pin-based controls */
#define PIN_EXT_INTR_EXITING		(1u << 0)
#define PIN_NMI_EXITING			(1u << 3)
#define PIN_VIRTUAL_NMIS		(1u << 5)
#define PIN_PREEMPT_TIMER		(1u << 6)

/* Primary processor-based controls */
#define CPU_INTR_WINDOW_EXITING		(1u << 2)
#define CPU_USE_TSC_OFFSETTING		(1u << 3)
#define CPU_HLT_EXITING			(1u << 7)
#define CPU_INVLPG_EXITING		(1u << 9)
#define CPU_MWAIT_EXITING		(1u << 10)
#define CPU_RDPMC_EXITING		(1u << 11)
#define CPU_RDTSC_EXITING		(1u << 12)
#define CPU_CR3_LOAD_EXITING		(1u << 15)
#define CPU_CR3_STORE_EXITING		(1u << 16)
#define CPU_CR8_LOAD_EXITING		(1u << 19)
#define CPU_CR8_STORE_EXITING		(1u << 20)
#define CPU_TPR_SHADOW			(1u << 21)
#define CPU_NMI_WINDOW_EXITING		(1u << 22)
#define CPU_MOV_DR_EXITING		(1u << 23)
#define CPU_UNCOND_IO_EXITING		(1u << 24)
#define CPU_USE_IO_BITMAPS		(1u << 25)
#define CPU_MONITOR_TRAP_FLAG		(1u << 27)
#define CPU_USE_MSR_BITMAPS		(1u << 28)
#define CPU_MONITOR_EXITING		(1u << 29)
#define CPU_PAUSE_EXITING		(1u << 30)
#define CPU_ACTIVATE_SECONDARY		(1u << 31)

/* Secondary processor-based controls */
#define CPU2_VIRT_APIC_ACCESSES		(1u << 0)
#define CPU2_ENABLE_EPT			(1u << 1)
#define CPU2_DESC_TABLE_EXITING		(1u << 2)
#define CPU2_ENABLE_RDTSCP		(1u << 3)
#define CPU2_ENABLE_VPID		(1u << 5)
#define CPU2_WBINVD_EXITING		(1u << 6)
#define CPU2_UNRESTRICTED_GUEST		(1u << 7)
#define CPU2_ENABLE_INVPCID		(1u << 12)
#define CPU2_PAUSE_LOOP_EXITING		(1u << 10)
#define CPU2_RDRAND_EXITING		(1u << 11)
#define CPU2_ENABLE_VMFUNC		(1u << 13)
#define CPU2_RDSEED_EXITING		(1u << 16)
#define CPU2_ENABLE_XSAVES		(1u << 20)

/* VM-exit controls */
#define EXIT_SAVE_DEBUG_CTLS		(1u << 2)
#define EXIT_HOST_ADDR_SPACE_SIZE	(1u << 9)
#define EXIT_LOAD_PERF_GLOBAL		(1u << 12)
#define EXIT_ACK_INTR_ON_EXIT		(1u << 15)
#define EXIT_SAVE_PAT			(1u << 18)
#define EXIT_LOAD_PAT			(1u << 19)
#define EXIT_SAVE_EFER			(1u << 20)
#define EXIT_LOAD_EFER			(1u << 21)

/* VM-entry controls */
#define ENTRY_LOAD_DEBUG_CTLS		(1u << 2)
#define ENTRY_IA32E_MODE		(1u << 9)
#define ENTRY_LOAD_PAT			(1u << 14)
#define ENTRY_LOAD_EFER			(1u << 15)

/* VPID/EPT capabilities (IA32_VMX_EPT_VPID_CAP) */
#define VPID_CAP_INVVPID		(1ULL << 32)
#define VPID_CAP_INDIVIDUAL_ADDR	(1ULL << 40)
#define VPID_CAP_SINGLE_CONTEXT		(1ULL << 41)
#define VPID_CAP_ALL_CONTEXT		(1ULL << 42)

#define INVVPID_INDIVIDUAL_ADDR		0
#define INVVPID_SINGLE_CONTEXT		1
#define INVVPID_ALL_CONTEXT		2

/* VMCS field encodings */
enum shv_vmcs_field {
	VIRTUAL_PROCESSOR_ID		= 0x00000000,
	GUEST_ES_SELECTOR		= 0x00000800,
	GUEST_CS_SELECTOR		= 0x00000802,
	GUEST_SS_SELECTOR		= 0x00000804,
	GUEST_DS_SELECTOR		= 0x00000806,
	GUEST_FS_SELECTOR		= 0x00000808,
	GUEST_GS_SELECTOR		= 0x0000080a,
	GUEST_LDTR_SELECTOR		= 0x0000080c,
	GUEST_TR_SELECTOR		= 0x0000080e,
	HOST_ES_SELECTOR		= 0x00000c00,
	HOST_CS_SELECTOR		= 0x00000c02,
	HOST_SS_SELECTOR		= 0x00000c04,
	HOST_DS_SELECTOR		= 0x00000c06,
	HOST_FS_SELECTOR		= 0x00000c08,
	HOST_GS_SELECTOR		= 0x00000c0a,
	HOST_TR_SELECTOR		= 0x00000c0c,
	IO_BITMAP_A			= 0x00002000,
	IO_BITMAP_B			= 0x00002002,
	MSR_BITMAP			= 0x00002004,
	VM_EXIT_MSR_STORE_ADDR		= 0x00002006,
	VM_EXIT_MSR_LOAD_ADDR		= 0x00002008,
	VM_ENTRY_MSR_LOAD_ADDR		= 0x0000200a,
	TSC_OFFSET			= 0x00002010,
	VIRTUAL_APIC_PAGE_ADDR		= 0x00002012,
	VMCS_LINK_POINTER		= 0x00002800,
	GUEST_IA32_DEBUGCTL		= 0x00002802,
	GUEST_IA32_PAT			= 0x00002804,
	GUEST_IA32_EFER			= 0x00002806,
	GUEST_PDPTR0			= 0x0000280a,
	GUEST_PDPTR1			= 0x0000280c,
	GUEST_PDPTR2			= 0x0000280e,
	GUEST_PDPTR3			= 0x00002810,
	HOST_IA32_PAT			= 0x00002c00,
	HOST_IA32_EFER			= 0x00002c02,
	PIN_BASED_VM_EXEC_CONTROL	= 0x00004000,
	CPU_BASED_VM_EXEC_CONTROL	= 0x00004002,
	EXCEPTION_BITMAP		= 0x00004004,
	PAGE_FAULT_ERROR_CODE_MASK	= 0x00004006,
	PAGE_FAULT_ERROR_CODE_MATCH	= 0x00004008,
	CR3_TARGET_COUNT		= 0x0000400a,
	VM_EXIT_CONTROLS		= 0x0000400c,
	VM_EXIT_MSR_STORE_COUNT		= 0x0000400e,
	VM_EXIT_MSR_LOAD_COUNT		= 0x00004010,
	VM_ENTRY_CONTROLS		= 0x00004012,
	VM_ENTRY_MSR_LOAD_COUNT		= 0x00004014,
	VM_ENTRY_INTR_INFO_FIELD	= 0x00004016,
	VM_ENTRY_EXCEPTION_ERROR_CODE	= 0x00004018,
	VM_ENTRY_INSTRUCTION_LEN	= 0x0000401a,
	TPR_THRESHOLD			= 0x0000401c,
	SECONDARY_VM_EXEC_CONTROL	= 0x0000401e,
	PLE_GAP				= 0x00004020,
	PLE_WINDOW			= 0x00004022,
	VM_INSTRUCTION_ERROR		= 0x00004400,
	VM_EXIT_REASON			= 0x00004402,
	VM_EXIT_INTR_INFO		= 0x00004404,
	VM_EXIT_INTR_ERROR_CODE		= 0x00004406,
	IDT_VECTORING_INFO_FIELD	= 0x00004408,
	IDT_VECTORING_ERROR_CODE	= 0x0000440a,
	VM_EXIT_INSTRUCTION_LEN		= 0x0000440c,
	VMX_INSTRUCTION_INFO		= 0x0000440e,
	GUEST_ES_LIMIT			= 0x00004800,
	GUEST_CS_LIMIT			= 0x00004802,
	GUEST_SS_LIMIT			= 0x00004804,
	GUEST_DS_LIMIT			= 0x00004806,
	GUEST_FS_LIMIT			= 0x00004808,
	GUEST_GS_LIMIT			= 0x0000480a,
	GUEST_LDTR_LIMIT		= 0x0000480c,
	GUEST_TR_LIMIT			= 0x0000480e,
	GUEST_GDTR_LIMIT		= 0x00004810,
	GUEST_IDTR_LIMIT		= 0x00004812,
	GUEST_ES_AR_BYTES		= 0x00004814,
	GUEST_CS_AR_BYTES		= 0x00004816,
	GUEST_SS_AR_BYTES		= 0x00004818,
	GUEST_DS_AR_BYTES		= 0x0000481a,
	GUEST_FS_AR_BYTES		= 0x0000481c,
	GUEST_GS_AR_BYTES		= 0x0000481e,
	GUEST_LDTR_AR_BYTES		= 0x00004820,
	GUEST_TR_AR_BYTES		= 0x00004822,
	GUEST_INTERRUPTIBILITY_INFO	= 0x00004824,
	GUEST_ACTIVITY_STATE		= 0x00004826,
	GUEST_SYSENTER_CS		= 0x0000482a,
	VMX_PREEMPTION_TIMER_VALUE	= 0x0000482e,
	HOST_IA32_SYSENTER_CS		= 0x00004c00,
	CR0_GUEST_HOST_MASK		= 0x00006000,
	CR4_GUEST_HOST_MASK		= 0x00006002,
	CR0_READ_SHADOW			= 0x00006004,
	CR4_READ_SHADOW			= 0x00006006,
	CR3_TARGET_VALUE0		= 0x00006008,
	EXIT_QUALIFICATION		= 0x00006400,
	GUEST_LINEAR_ADDRESS		= 0x0000640a,
	GUEST_CR0			= 0x00006800,
	GUEST_CR3			= 0x00006802,
	GUEST_CR4			= 0x00006804,
	GUEST_ES_BASE			= 0x00006806,
	GUEST_CS_BASE			= 0x00006808,
	GUEST_SS_BASE			= 0x0000680a,
	GUEST_DS_BASE			= 0x0000680c,
	GUEST_FS_BASE			= 0x0000680e,
	GUEST_GS_BASE			= 0x00006810,
	GUEST_LDTR_BASE			= 0x00006812,
	GUEST_TR_BASE			= 0x00006814,
	GUEST_GDTR_BASE			= 0x00006816,
	GUEST_IDTR_BASE			= 0x00006818,
	GUEST_DR7			= 0x0000681a,
	GUEST_RSP			= 0x0000681c,
	GUEST_RIP			= 0x0000681e,
	GUEST_RFLAGS			= 0x00006820,
	GUEST_PENDING_DBG_EXCEPTIONS	= 0x00006822,
	GUEST_SYSENTER_ESP		= 0x00006824,
	GUEST_SYSENTER_EIP		= 0x00006826,
	HOST_CR0			= 0x00006c00,
	HOST_CR3			= 0x00006c02,
	HOST_CR4			= 0x00006c04,
	HOST_FS_BASE			= 0x00006c06,
	HOST_GS_BASE			= 0x00006c08,
	HOST_TR_BASE			= 0x00006c0a,
	HOST_GDTR_BASE			= 0x00006c0c,
	HOST_IDTR_BASE			= 0x00006c0e,
	HOST_IA32_SYSENTER_ESP		= 0x00006c10,
	HOST_IA32_SYSENTER_EIP		= 0x00006c12,
	HOST_RSP			= 0x00006c14,
	HOST_RIP			= 0x00006c16,
};

/* Basic exit reasons */
#define EXIT_REASON_EXCEPTION_NMI	0
#define EXIT_REASON_EXTERNAL_INTERRUPT	1
#define EXIT_REASON_TRIPLE_FAULT	2
#define EXIT_REASON_INIT_SIGNAL		3
#define EXIT_REASON_SIPI		4
#define EXIT_REASON_INTERRUPT_WINDOW	7
#define EXIT_REASON_NMI_WINDOW		8
#define EXIT_REASON_TASK_SWITCH		9
#define EXIT_REASON_CPUID		10
#define EXIT_REASON_GETSEC		11
#define EXIT_REASON_HLT			12
#define EXIT_REASON_INVD		13
#define EXIT_REASON_INVLPG		14
#define EXIT_REASON_RDPMC		15
#define EXIT_REASON_RDTSC		16
#define EXIT_REASON_RSM			17
#define EXIT_REASON_VMCALL		18
#define EXIT_REASON_VMCLEAR		19
#define EXIT_REASON_VMLAUNCH		20
#define EXIT_REASON_VMPTRLD		21
#define EXIT_REASON_VMPTRST		22
#define EXIT_REASON_VMREAD		23
#define EXIT_REASON_VMRESUME		24
#define EXIT_REASON_VMWRITE		25
#define EXIT_REASON_VMOFF		26
#define EXIT_REASON_VMON		27
#define EXIT_REASON_CR_ACCESS		28
#define EXIT_REASON_DR_ACCESS		29
#define EXIT_REASON_IO_INSTRUCTION	30
#define EXIT_REASON_MSR_READ		31
#define EXIT_REASON_MSR_WRITE		32
#define EXIT_REASON_INVALID_STATE	33
#define EXIT_REASON_MSR_LOAD_FAIL	34
#define EXIT_REASON_MWAIT_INSTRUCTION	36
#define EXIT_REASON_MONITOR_TRAP_FLAG	37
#define EXIT_REASON_MONITOR_INSTRUCTION	39
#define EXIT_REASON_PAUSE_INSTRUCTION	40
#define EXIT_REASON_MCE_DURING_VMENTRY	41
#define EXIT_REASON_TPR_BELOW_THRESHOLD	43
#define EXIT_REASON_APIC_ACCESS		44
#define EXIT_REASON_GDTR_IDTR		46
#define EXIT_REASON_LDTR_TR		47
#define EXIT_REASON_EPT_VIOLATION	48
#define EXIT_REASON_EPT_MISCONFIG	49
#define EXIT_REASON_INVEPT		50
#define EXIT_REASON_RDTSCP		51
#define EXIT_REASON_PREEMPTION_TIMER	52
#define EXIT_REASON_INVVPID		53
#define EXIT_REASON_WBINVD		54
#define EXIT_REASON_XSETBV		55
#define EXIT_REASON_RDRAND		57
#define EXIT_REASON_INVPCID		58
#define EXIT_REASON_VMFUNC		59
#define EXIT_REASON_RDSEED		61
#define EXIT_REASON_XSAVES		63
#define EXIT_REASON_XRSTORS		64

#define EXIT_REASON_FAILED_VMENTRY	0x80000000u

/* Interruption-information format (exit info, IDT vectoring, entry) */
#define INTR_INFO_VECTOR_MASK		0xffu
#define INTR_INFO_TYPE_MASK		0x700u
#define INTR_INFO_DELIVER_CODE		(1u << 11)
#define INTR_INFO_NMI_UNBLOCK_IRET	(1u << 12)
#define INTR_INFO_VALID			(1u << 31)

#define INTR_TYPE_EXT_INTR		(0u << 8)
#define INTR_TYPE_NMI			(2u << 8)
#define INTR_TYPE_HARD_EXCEPTION	(3u << 8)
#define INTR_TYPE_SOFT_INTR		(4u << 8)
#define INTR_TYPE_PRIV_SW_EXCEPTION	(5u << 8)
#define INTR_TYPE_SOFT_EXCEPTION	(6u << 8)

/* Guest interruptibility state */
#define GUEST_INTR_STATE_STI		(1u << 0)
#define GUEST_INTR_STATE_MOV_SS		(1u << 1)
#define GUEST_INTR_STATE_NMI		(1u << 3)

/* Segment access-rights field */
#define AR_UNUSABLE			(1u << 16)

/* Exception vectors */
#define DE_VECTOR	0
#define DB_VECTOR	1
#define NMI_VECTOR_X86	2
#define BP_VECTOR	3
#define OF_VECTOR	4
#define BR_VECTOR	5
#define UD_VECTOR	6
#define NM_VECTOR	7
#define DF_VECTOR	8
#define TS_VECTOR	10
#define NP_VECTOR	11
#define SS_VECTOR	12
#define GP_VECTOR	13
#define PF_VECTOR	14
#define MF_VECTOR	16
#define AC_VECTOR	17
#define MC_VECTOR	18
#define XM_VECTOR	19

/*
 * VMX instruction wrappers. Every one has an exception-table fixup: a VMX
 * instruction that faults (#UD because this CPU is not in VMX operation,
 * e.g. after a hotplug or reboot VMXOFF; #GP for a bad operand) lands on
 * the fault label instead of oopsing. A VMfail or a fault is counted and
 * logged (rate-limited) by shv_vmx_insn_error() in vmx.c, except for
 * VMXON and VMXOFF, whose callers handle the result. Return values: 0,
 * -EIO on VMfail, -EFAULT on a fault; vmcs_read() returns 0 on either.
 */
void shv_vmx_insn_error(const char *insn, unsigned long arg, bool fault);

static __always_inline int shv_vmxon(u64 pa)
{
	asm goto("1: vmxon %0\n\t"
		 "jna %l[fail]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : "m"(pa) : "cc", "memory" : fail, fault);
	return 0;
fail:
	return -EIO;
fault:
	return -EFAULT;
}

static __always_inline int shv_vmxoff(void)
{
	asm goto("1: vmxoff\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : : "cc", "memory" : fault);
	return 0;
fault:
	return -EFAULT;
}

static __always_inline int shv_vmclear(u64 pa)
{
	asm goto("1: vmclear %0\n\t"
		 "jna %l[fail]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : "m"(pa) : "cc", "memory" : fail, fault);
	return 0;
fail:
	shv_vmx_insn_error("VMCLEAR", pa, false);
	return -EIO;
fault:
	shv_vmx_insn_error("VMCLEAR", pa, true);
	return -EFAULT;
}

static __always_inline int shv_vmptrld(u64 pa)
{
	asm goto("1: vmptrld %0\n\t"
		 "jna %l[fail]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : "m"(pa) : "cc", "memory" : fail, fault);
	return 0;
fail:
	shv_vmx_insn_error("VMPTRLD", pa, false);
	return -EIO;
fault:
	shv_vmx_insn_error("VMPTRLD", pa, true);
	return -EFAULT;
}

/*
 * VMREAD stores through a pointer: asm goto with outputs is avoided
 * because some compilers the kernel supports miscompile it
 * (CONFIG_GCC_ASM_GOTO_OUTPUT_BROKEN).
 */
static __always_inline unsigned long vmcs_read(unsigned long field)
{
	unsigned long value;

	asm goto("1: vmread %[field], (%[out])\n\t"
		 "jna %l[fail]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : [field] "r"(field), [out] "r"(&value) : "cc", "memory"
		 : fail, fault);
	return value;
fail:
	shv_vmx_insn_error("VMREAD", field, false);
	return 0;
fault:
	shv_vmx_insn_error("VMREAD", field, true);
	return 0;
}

static __always_inline void vmcs_write(unsigned long field, unsigned long value)
{
	asm goto("1: vmwrite %[value], %[field]\n\t"
		 "jna %l[fail]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : [field] "r"(field), [value] "rm"(value) : "cc" : fail, fault);
	return;
fail:
	shv_vmx_insn_error("VMWRITE", field, false);
	return;
fault:
	shv_vmx_insn_error("VMWRITE", field, true);
}

static __always_inline int shv_invvpid(unsigned long type, u16 vpid, u64 gva)
{
	struct {
		u64 vpid : 16;
		u64 rsvd : 48;
		u64 gva;
	} desc = { vpid, 0, gva };

	asm goto("1: invvpid %0, %1\n\t"
		 "jna %l[fail]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : "m"(desc), "r"(type) : "cc", "memory" : fail, fault);
	return 0;
fail:
	shv_vmx_insn_error("INVVPID", type, false);
	return -EIO;
fault:
	shv_vmx_insn_error("INVVPID", type, true);
	return -EFAULT;
}

/* vmenter.S */
void shv_vmx_exit_target(void);
asmlinkage int shv_vmx_enter(unsigned long *regs, bool launched);

#endif /* SHADOWVM_VMX_DEFS_H */
