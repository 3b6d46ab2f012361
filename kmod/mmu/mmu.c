// SPDX-License-Identifier: GPL-2.0
/*
 * The shadow MMU's entry points for vm.c, vcpu.c and the exit handlers:
 * lifetime of the per-VM and per-vCPU MMU state, paging-context changes
 * (CR0/CR4/EFER, CR3 load), INVLPG, and translation for the emulator
 * (a guest walk, or one of fault.c's shortcuts that are valid where the
 * walk's result is known). What each policy does at these events is
 * decided here. Guest-visible
 * contract of the MMU as a whole: the hardware CR3 of a running guest
 * points at a shadow root built by root_cache.c, the guest's own tables
 * are only read (walker.c), and every shadow page is accounted and freed
 * at VM destruction.
 */
#include "mmu_internal.h"

int shv_mmu_vm_init(struct shv_vm *vm)
{
	int i;

	vm->mmu = shv_zalloc(sizeof(*vm->mmu));
	if (!vm->mmu)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(vm->mmu->hash); i++)
		INIT_HLIST_HEAD(&vm->mmu->hash[i]);
	for (i = 0; i < ARRAY_SIZE(vm->mmu->as_hash); i++)
		INIT_HLIST_HEAD(&vm->mmu->as_hash[i]);
	INIT_LIST_HEAD(&vm->mmu->active);
	INIT_LIST_HEAD(&vm->mmu->zapped);
	INIT_LIST_HEAD(&vm->mmu->orphans);
	vm->mmu->max_pages = vm->cfg.max_shadow_pages;
	vm->mmu->policy = shv_mmu_policy_find(vm->cfg.mmu_policy);
	if (WARN_ON_ONCE(!vm->mmu->policy)) {	/* check_config() let it through */
		shv_kfree(vm->mmu);
		vm->mmu = NULL;
		return -EINVAL;
	}
	vm->mmu->pf_bypass = vm->cfg.flags & SHADOWVM_VM_GUEST_PF_BYPASS;
	return 0;
}

/*
 * May a VM with this policy leave guest not-present faults to the
 * hardware (SHADOWVM_VM_GUEST_PF_BYPASS)? -EINVAL for a policy that lets
 * guest tables go out of sync, -EOPNOTSUPP when the host's physical
 * address width leaves no reserved bit for SPTE_TRAP.
 */
int shv_mmu_pf_bypass_check(u32 policy_nr)
{
	const struct shv_mmu_policy_ops *ops = shv_mmu_policy_find(policy_nr);

	if (!ops || !ops->pf_bypass_ok)
		return -EINVAL;
	if (boot_cpu_data.x86_phys_bits > 51)
		return -EOPNOTSUPP;
	return 0;
}

/*
 * Is the vCPU's paging context one whose guest not-present faults go to
 * the guest without an exit? The exit code sets the #PF error-code
 * mask/match filter from this before each entry. The hardware runs with
 * EFER.NXE=1, so it reports the I/D bit of a fetch fault as a guest with
 * NXE or SMEP does, and only such a guest may take it from the hardware.
 */
bool shv_mmu_pf_bypass(struct shv_vcpu *vcpu)
{
	return role_traps(vcpu->vm->mmu, vcpu->mmu->base_role) &&
	       ((vcpu->efer & EFER_NX) || (vcpu->cr4 & X86_CR4_SMEP));
}

void shv_mmu_vm_destroy(struct shv_vm *vm)
{
	struct shv_as *as;
	struct hlist_node *tmp;
	int i;

	if (!vm->mmu)
		return;
	mutex_lock(&vm->mmu_lock);	/* uncontended: the last reference is gone */
	shv_mmu_zap_all(vm);
	mutex_unlock(&vm->mmu_lock);
	for (i = 0; i < ARRAY_SIZE(vm->mmu->as_hash); i++)
		hlist_for_each_entry_safe(as, tmp, &vm->mmu->as_hash[i], node)
			shv_kfree(as);
	shv_kfree(vm->mmu);
	vm->mmu = NULL;
}

int shv_mmu_vcpu_init(struct shv_vcpu *vcpu)
{
	struct shv_vm *vm = vcpu->vm;

	vcpu->mmu = shv_zalloc(sizeof(*vcpu->mmu));
	if (!vcpu->mmu)
		return -ENOMEM;
	vcpu->mmu->nr_roots = vm->cfg.root_cache_size;
	vcpu->mmu->roots = shv_zalloc(vcpu->mmu->nr_roots * sizeof(struct shv_root));
	if (!vcpu->mmu->roots) {
		shv_kfree(vcpu->mmu);
		vcpu->mmu = NULL;
		return -ENOMEM;
	}
	return 0;
}

void shv_mmu_vcpu_destroy(struct shv_vcpu *vcpu)
{
	struct shv_vm *vm = vcpu->vm;
	int idx;

	if (!vcpu->mmu)
		return;
	idx = srcu_read_lock(&vm->srcu);	/* zaps reach reverse maps in slots */
	mutex_lock(&vm->mmu_lock);
	vcpu_drop_roots(vcpu);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	srcu_read_unlock(&vm->srcu, idx);
	shv_kfree(vcpu->mmu->roots);
	shv_kfree(vcpu->mmu);
	vcpu->mmu = NULL;
}

/*
 * CR0/CR4/EFER changed: recompute the context. The PDPTE registers are
 * the caller's business (vcpu.c loads them when the SDM says the
 * instruction does); they are used as they are.
 */
int shv_mmu_reset_context(struct shv_vcpu *vcpu)
{
	struct shv_vm *vm = vcpu->vm;

	mutex_lock(&vm->mmu_lock);
	/* a paging-mode change (e.g. CR4.PGE toggled) is a full TLB flush */
	if (policy(vm)->context_change)
		policy(vm)->context_change(vcpu);
	commit_zap(vm);
	vcpu->mmu->base_role = context_role(vcpu);
	vcpu->mmu->cur = NULL;
	WRITE_ONCE(vcpu->flush_pending, true);
	mutex_unlock(&vm->mmu_lock);
	return 0;
}

/* Guest MOV to CR3 (PAE: the caller loaded the PDPTE registers). */
int shv_mmu_new_cr3(struct shv_vcpu *vcpu, bool noflush)
{
	struct shv_vm *vm = vcpu->vm;
	int r;

	shv_stat_inc(vcpu, CR3_LOADS);
	if (!shv_guest_levels(vcpu))
		return 0;
	mutex_lock(&vm->mmu_lock);
	if (policy(vm)->cr3_load)
		policy(vm)->cr3_load(vcpu, noflush);
	r = switch_root(vcpu, true);
	commit_zap(vm);
	mutex_unlock(&vm->mmu_lock);
	/*
	 * A CR3 load flushes the non-global translations of its PCID. With
	 * CR4.PCIDE the hardware TLB is tagged by the guest's PCIDs, so a
	 * no-flush load (CR3 bit 63) keeps them, as the guest asked.
	 */
	if (!noflush || !(vcpu->cr4 & X86_CR4_PCIDE))
		WRITE_ONCE(vcpu->flush_pending, true);
	else
		shv_stat_inc(vcpu, CR3_NOFLUSH);
	return r;
}

void shv_mmu_invlpg(struct shv_vcpu *vcpu, u64 gva)
{
	struct shv_vm *vm = vcpu->vm;

	if (!policy(vm)->invlpg)
		return;
	mutex_lock(&vm->mmu_lock);
	policy(vm)->invlpg(vcpu, gva);
	mutex_unlock(&vm->mmu_lock);
}

/*
 * The guest flushes its whole TLB without loading CR3 (INVPCID types
 * 1-3): what the policy does at a paging-context change, which is a full
 * flush for the guest, then the VPID before the next entry.
 */
void shv_mmu_flush_guest_tlb(struct shv_vcpu *vcpu)
{
	struct shv_vm *vm = vcpu->vm;

	if (policy(vm)->context_change) {
		mutex_lock(&vm->mmu_lock);
		policy(vm)->context_change(vcpu);
		commit_zap(vm);
		mutex_unlock(&vm->mmu_lock);
	}
	WRITE_ONCE(vcpu->flush_pending, true);
}

/*
 * Translation for emulated accesses: 0, or -EFAULT with *fault_ec. Two
 * cases need no guest walk (fault.c): an access to the page of the #PF
 * exit that handed a guest page-table write to the emulator, in that
 * exit (its walk is reused), and an instruction fetch that the shadow
 * leaf mapping la lets through. Every other access, and any of those
 * that the shortcut does not allow, is walked.
 */
int shv_mmu_gva_to_gpa(struct shv_vcpu *vcpu, u64 la, u32 access, u64 *gpa, u32 *fault_ec)
{
	struct shv_walk w;
	int r;

	if (pf_walk_reuse(vcpu, la, access, gpa) || shadow_fetch_gpa(vcpu, la, access, gpa))
		return 0;
	r = shv_walk(vcpu, la, access, &w, true);	/* may pin: no lock */
	if (r == -EFAULT)
		*fault_ec = w.error_code;
	if (!r)
		*gpa = w.gpa;
	return r;
}
