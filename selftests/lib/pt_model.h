/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pt_model.h - the selftests' reference model of a linear-address
 * translation, written from the SDM (vol. 3A, chapter 4) and independent
 * of the module: 32-bit, PAE and 4-level paging, 4 KiB / 4 MiB / 2 MiB /
 * 1 GiB pages, reserved bits for the mode and MAXPHYADDR, U/S, R/W with
 * CR0.WP, XD with EFER.NXE, SMEP, SMAP with EFLAGS.AC, the page-fault
 * error code (P, W, U, RSVD, I/D), and Accessed / Dirty. It runs on a copy
 * of guest memory kept by the test. Used by mmu_perm_test (the permission
 * matrix) and mmu_fuzz_test (the guest-state fuzzer).
 *
 * Contract:
 *   - ptm_access() translates one access (kind: GRT_ACC_* of
 *     guest_paging.h) of la with the registers r, on guest memory m of
 *     mem_size bytes (reads beyond it are 0, writes are dropped);
 *   - on success it sets Accessed in every entry used and Dirty in the leaf
 *     of a write, in m (not with lax); on a fault it changes nothing;
 *   - with lax, reserved bits and rights are ignored and nothing is
 *     written: o->gpa is where the access would go;
 *   - o->used[level] is the guest-physical address of the entry read at
 *     that level (1 = PTE ... 4 = PML4E; 0: not read, e.g. PAE PDPTEs,
 *     which come from r->pdptr, or levels below a fault), o->leaf_level
 *     the level of the leaf (0 when the walk faulted above it); o->gpa is
 *     noted whenever a leaf was reached, even when the access faults.
 */
#ifndef SVMTEST_PT_MODEL_H
#define SVMTEST_PT_MODEL_H

#include <stdbool.h>
#include <stdint.h>

struct ptm_regs {
	uint64_t cr0, cr3, cr4, efer;	/* cr3 without the no-flush bit */
	uint64_t pdptr[4];		/* PAE: the PDPTE registers */
	int maxphy;			/* guest MAXPHYADDR */
	bool gbpages;			/* 1 GiB pages (else PS is reserved) */
};

struct ptm_out {
	bool fault;
	uint32_t ec;			/* #PF error code when fault */
	uint64_t gpa;			/* where the access goes */
	uint64_t used[5];		/* entry addresses per level */
	int leaf_level;
};

/* bits hi..lo set (0 when hi < lo) */
uint64_t ptm_bits(int hi, int lo);
uint64_t ptm_read(const uint8_t *m, uint64_t mem_size, uint64_t gpa, int size);
void ptm_write(uint8_t *m, uint64_t mem_size, uint64_t gpa, uint64_t v,
	       int size);
void ptm_access(uint8_t *m, uint64_t mem_size, const struct ptm_regs *r,
		uint64_t la, uint32_t kind, bool lax, struct ptm_out *o);

#endif
