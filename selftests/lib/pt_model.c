// SPDX-License-Identifier: GPL-2.0
/*
 * pt_model.c - the SDM reference model of a linear-address translation
 * (vol. 3A, chapter 4) used by the shadow-MMU selftests to predict what
 * the guest must see. Contract in pt_model.h.
 */
#include <string.h>

#include "guest_paging.h"
#include "pt_model.h"

uint64_t ptm_bits(int hi, int lo)
{
	if (hi < lo)
		return 0;
	return (hi == 63 ? ~0ULL : ((1ULL << (hi + 1)) - 1)) & ~((1ULL << lo) - 1);
}

uint64_t ptm_read(const uint8_t *m, uint64_t mem_size, uint64_t gpa, int size)
{
	uint64_t v = 0;

	if (gpa + size <= mem_size)
		memcpy(&v, m + gpa, size);
	return v;
}

void ptm_write(uint8_t *m, uint64_t mem_size, uint64_t gpa, uint64_t v,
	       int size)
{
	if (gpa + size <= mem_size)
		memcpy(m + gpa, &v, size);
}

/*
 * One access, from the SDM: walk, reserved bits, rights; on success set
 * Accessed on every entry used and Dirty on the leaf of a write in m.
 */
void ptm_access(uint8_t *m, uint64_t mem_size, const struct ptm_regs *r,
		uint64_t la, uint32_t kind, bool lax, struct ptm_out *o)
{
	bool lma = r->efer & GP_EFER_LMA, pae = r->cr4 & GP_CR4_PAE;
	bool nxe = r->efer & GP_EFER_NXE, wp = r->cr0 & GP_CR0_WP;
	bool pse = r->cr4 & GP_CR4_PSE, smep = r->cr4 & GP_CR4_SMEP;
	bool smap = r->cr4 & GP_CR4_SMAP;
	bool user = kind & GRT_ACC_USER, ac = kind & GRT_ACC_AC;
	bool write = (kind & 3) == GRT_ACC_WRITE;
	bool fetch = (kind & 3) == GRT_ACC_FETCH;
	int levels = lma ? 4 : pae ? 3 : 2, esize = levels == 2 ? 4 : 8;
	int maxphy = r->maxphy;
	uint64_t table;
	uint64_t amask = levels == 2 ? 0xfffff000ULL : ptm_bits(51, 12);
	bool w = true, u = true, x = true;
	uint32_t ec = (write ? PFEC_W : 0) | (user ? PFEC_U : 0);
	int l, leaf_level = 1;

	if (fetch && (smep || (pae && nxe)))
		ec |= PFEC_I;
	memset(o, 0, sizeof(*o));
	if (!lma)
		la &= 0xffffffffULL;
	table = levels == 2 ? r->cr3 & 0xfffff000ULL : r->cr3 & ptm_bits(51, 12);
	for (l = levels; l >= 1; l--) {
		int shift = levels == 2 ? (l == 1 ? 12 : 22) : 12 + 9 * (l - 1);
		uint64_t idx, e, rsvd = 0;
		bool leaf;

		if (levels == 3 && l == 3) {
			e = r->pdptr[(la >> 30) & 3];
			if (!(e & GP_P))
				goto fault;
			table = e & ptm_bits(51, 12);
			continue;
		}
		idx = (la >> shift) & (levels == 2 ? 0x3ff : 0x1ff);
		o->used[l] = table + idx * esize;
		e = ptm_read(m, mem_size, o->used[l], esize);
		if (!(e & GP_P))
			goto fault;
		leaf = l == 1 || ((e & GP_PS) &&
				  ((l == 2 && (levels != 2 || pse)) ||
				   (l == 3 && levels == 4)));
		if (levels == 2) {
			if (l == 2 && leaf) {
				int m32 = maxphy < 40 ? maxphy : 40;

				rsvd = ptm_bits(21, 13 + (m32 > 32 ? m32 - 32 : 0));
			}
		} else {
			rsvd = levels == 3 ? ptm_bits(62, maxphy) :
					     ptm_bits(51, maxphy);
			if (!nxe)
				rsvd |= GP_NX;
			if (l == 4)
				rsvd |= GP_PS;
			if (l == 3 && leaf)
				rsvd |= r->gbpages ? ptm_bits(29, 13) : GP_PS;
			if (l == 2 && leaf)
				rsvd |= ptm_bits(20, 13);
		}
		/* (the address is noted even for a faulting leaf: if the
		 * access wrongly succeeds, the test follows where it went)
		 */
		if (leaf) {
			if (levels == 2 && l == 2)
				o->gpa = (e & 0xffc00000ULL) |
					 (((e >> 13) & 0xff) << 32) |
					 (la & 0x3fffff);
			else
				o->gpa = (e & amask & ~ptm_bits(shift - 1, 0)) |
					 (la & ptm_bits(shift - 1, 0));
		}
		if (lax)
			rsvd = 0;	/* only where it would go */
		if (e & rsvd) {
			ec |= PFEC_P | PFEC_RSVD;
			goto fault;
		}
		w &= !!(e & GP_W);
		u &= !!(e & GP_U);
		if (levels > 2 && nxe && (e & GP_NX))
			x = false;
		if (leaf) {
			leaf_level = l;
			break;
		}
		table = e & amask;
	}
	o->leaf_level = leaf_level;
	if (lax)
		return;
	/* rights (SDM 4.6) */
	if (user) {
		if (!u || (write && !w) || (fetch && !x))
			goto prot;
	} else if (fetch) {
		if (!x || (smep && u))
			goto prot;
	} else {
		if (write && !w && wp)
			goto prot;
		if (smap && u && !ac)
			goto prot;
	}
	for (l = levels; l >= leaf_level; l--) {
		uint64_t v;

		if (!o->used[l])
			continue;
		v = ptm_read(m, mem_size, o->used[l], esize) | GP_A;
		if (l == leaf_level && write)
			v |= GP_D;
		ptm_write(m, mem_size, o->used[l], v, esize);
	}
	return;
prot:
	ec |= PFEC_P;
fault:
	o->fault = true;
	o->ec = ec;
}
