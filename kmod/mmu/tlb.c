// SPDX-License-Identifier: GPL-2.0
/*
 * Remote TLB flushes of the shadow MMU. Contract: kick_flush_all() marks
 * every vCPU to flush its VPID before its next entry (a shadow entry lost
 * rights or went away); kick_others_sync() and flush_remote() wait until
 * no other vCPU is still in the guest on translations from before the
 * call. Knows nothing of shadow pages; mmu_lock held by the callers.
 */
#include <linux/smp.h>
#include "mmu_internal.h"

void kick_flush_all(struct shv_vm *vm)
{
	int i;

	for (i = 0; i < SHADOWVM_MAX_VCPUS; i++) {
		struct shv_vcpu *v = vm_vcpu(vm, i);

		if (v)
			WRITE_ONCE(v->flush_pending, true);
	}
	vm->mmu->need_kick = true;
}

static void noop_ipi(void *unused)
{
}

/* Make sure no other vCPU still runs on shadow state we are about to free. */
void kick_others_sync(struct shv_vm *vm)
{
	int i;

	for (i = 0; i < SHADOWVM_MAX_VCPUS; i++) {
		struct shv_vcpu *v = vm_vcpu(vm, i);
		int cpu;

		if (!v || !v->mmu)
			continue;
		/*
		 * in_guest first: it is set (then a full barrier) only after
		 * the vCPU's cpu field is written and with preemption off, so
		 * a vCPU seen in the guest is seen on the CPU it runs on. A
		 * vCPU that left meanwhile flushes before its next entry.
		 */
		if (!READ_ONCE(v->in_guest))
			continue;
		smp_rmb();	/* in_guest before cpu: see above */
		cpu = READ_ONCE(v->cpu);
		if (cpu >= 0)
			smp_call_function_single(cpu, noop_ipi, NULL, 1);
	}
}

/* Make vCPUs in the guest drop rights removed so far; mmu_lock held. */
void flush_remote(struct shv_vm *vm)
{
	lockdep_assert_held(&vm->mmu_lock);

	if (!vm->mmu->need_kick)
		return;
	smp_mb();	/* pairs with the barrier after in_guest = true */
	kick_others_sync(vm);
	vm->mmu->need_kick = false;
}
