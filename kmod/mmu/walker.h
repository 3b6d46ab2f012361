/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest page-table walker's result (see walker.c for the contract).
 */
#ifndef SHADOWVM_WALKER_H
#define SHADOWVM_WALKER_H

#include <linux/types.h>

#define ACC_X	1u
#define ACC_W	2u
#define ACC_U	4u
#define ACC_ALL	(ACC_X | ACC_W | ACC_U)

struct shv_walk {
	int levels;		/* 0 (paging off), 2, 3 or 4 */
	int leaf_level;		/* 1: 4 KiB; 2: 2/4 MiB; 3: 1 GiB */
	u64 gpa;		/* translated address */
	u64 gfn;		/* frame of gpa */
	u64 big_base_gfn;	/* first frame of a huge leaf */
	u64 table_gfn[5];	/* [l]: frame of the guest table read at level l */
	u64 pte_gpa[5];		/* [l]: where the entry of level l is (~0: PDPTE register) */
	u64 pte[5];		/* [l]: the entry of level l as used */
	unsigned int access_above[5];	/* [l]: rights granted by levels above l */
	unsigned int access;	/* rights of the whole walk (ACC_*) */
	bool dirty, global, ad_set;
	u32 error_code;		/* on -EFAULT */
	int fault_level;	/* on -EFAULT for a not-present entry: its level */
};

/*
 * Not an error-code bit: the access is an implicit supervisor-mode access
 * (SDM 4.6: to the GDT, LDT, IDT or TSS), for which SMAP ignores
 * EFLAGS.AC at any CPL. Callers that know it pass it in the access.
 */
#define SHV_PFERR_IMPLICIT	BIT(30)

struct shv_vcpu;
int shv_walk(struct shv_vcpu *vcpu, u64 la, u32 access, struct shv_walk *w, bool set_ad);
int shv_guest_levels(struct shv_vcpu *vcpu);
/*
 * Would an access (PFERR_WRITE/USER/FETCH, SHV_PFERR_IMPLICIT) fault on
 * the rights acc (ACC_*) of a successful walk, in the vCPU's current
 * CR0.WP, CR4.SMEP/SMAP, CPL and EFLAGS.AC? (SDM vol. 3A 4.6)
 */
bool shv_walk_perm_fault(struct shv_vcpu *vcpu, unsigned int acc, u32 access);
/*
 * The architectural #PF error code of a fault for an access
 * (PFERR_WRITE/USER/FETCH): at a present entry or not, for a reserved bit
 * or not.
 */
u32 shv_walk_fault_ec(struct shv_vcpu *vcpu, u32 access, bool present, bool rsvd);
bool shv_pae_pdpte_bad(struct shv_vcpu *vcpu, u64 pdpte);
/*
 * A level-1 guest entry that a walk through it would use as it is:
 * present, accessed, no reserved bit. On success *gfn, *acc (ACC_* of
 * the entry alone) and *global (its G bit) are filled.
 */
bool shv_gpte_leaf_prefetchable(struct shv_vcpu *vcpu, int levels, u64 gpte, u64 *gfn,
				unsigned int *acc, bool *global);
/*
 * The same for a guest PDE of 8-byte paging (PAE, 4-level: levels >= 3)
 * that maps a 2 MiB page (PS): *gfn is the page's first frame.
 */
bool shv_gpte_large_prefetchable(struct shv_vcpu *vcpu, int levels, u64 gpte, u64 *gfn,
				 unsigned int *acc, bool *global);

#endif
