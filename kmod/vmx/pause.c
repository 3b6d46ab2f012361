// SPDX-License-Identifier: GPL-2.0
/*
 * PAUSE-loop exiting (SDM vol. 3 25.1.3, 26.6.2). Contract: a vCPU that
 * spins at CPL 0 in a loop of PAUSEs less than ple_gap TSC ticks apart
 * for more than ple_window ticks exits. The handler skips the PAUSE and,
 * if another vCPU of the same VM is inside RUN but was preempted while
 * still runnable, yields this CPU to that vCPU's thread: the lock holder
 * or IPI target the spinner waits for is most likely one that cannot run.
 * Counted in EXIT_PAUSE and PAUSE_YIELDS. ple_gap=0 (or a CPU without the
 * control) leaves PAUSE loops alone.
 *
 * Lifetimes: vcpu->run_task is the thread inside SHADOWVM_RUN, published
 * by that thread with rcu_assign_pointer() and cleared before RUN
 * returns; vcpu->preempted is written by the preempt notifiers of that
 * thread. Other threads find vCPUs in vm->vcpus[] under rcu_read_lock()
 * (shv_lapic_destroy() waits for a grace period before a vCPU is freed)
 * and pin a task they see there with get_task_struct() before the read
 * section ends (a task_struct outlives a grace period after its release).
 */
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"

/* KVM's defaults: PAUSEs at most 128 ticks apart, for 4096 ticks */
static unsigned int ple_gap = 128;
module_param(ple_gap, uint, 0644);
MODULE_PARM_DESC(ple_gap, "PAUSE-loop exiting: max TSC ticks between two PAUSEs of a loop (0: off; for vCPUs created afterwards)");
static unsigned int ple_window = 4096;
module_param(ple_window, uint, 0644);
MODULE_PARM_DESC(ple_window, "PAUSE-loop exiting: TSC ticks a PAUSE loop may spin before it exits");

/* At module load: a CPU without the control shows ple_gap=0. */
void shv_pause_probe(void)
{
	if (!(shv_caps.cpu2 & CPU2_PAUSE_LOOP_EXITING))
		ple_gap = 0;
}

/* After vmcs.c wrote the secondary controls of a new vCPU's VMCS. */
void shv_pause_vmcs_setup(struct shv_vcpu *vcpu)
{
	u32 gap = READ_ONCE(ple_gap), window = READ_ONCE(ple_window);

	if (!(shv_caps.cpu2 & CPU2_PAUSE_LOOP_EXITING))
		return;
	if (!gap || !window) {
		vmcs_write(SECONDARY_VM_EXEC_CONTROL,
			   vmcs_read(SECONDARY_VM_EXEC_CONTROL) & ~CPU2_PAUSE_LOOP_EXITING);
		return;
	}
	vmcs_write(PLE_GAP, gap);
	vmcs_write(PLE_WINDOW, window);
}

/* Preempt notifier, on the vCPU's own thread: switched out while runnable? */
void shv_pause_sched_out(struct shv_vcpu *vcpu)
{
	if (current->on_rq)
		WRITE_ONCE(vcpu->preempted, true);
}

void shv_pause_sched_in(struct shv_vcpu *vcpu)
{
	WRITE_ONCE(vcpu->preempted, false);
}

/* The next vCPU after @vcpu (round robin) whose thread was preempted in RUN, pinned. */
static struct task_struct *preempted_sibling(struct shv_vcpu *vcpu, int *k)
{
	struct task_struct *t = NULL;

	rcu_read_lock();
	for (; *k < SHADOWVM_MAX_VCPUS; (*k)++) {
		int id = (vcpu->id + *k) % SHADOWVM_MAX_VCPUS;
		struct shv_vcpu *v = READ_ONCE(vcpu->vm->vcpus[id]);

		if (!v || v == vcpu || !READ_ONCE(v->preempted))
			continue;
		t = rcu_dereference(v->run_task);
		if (t && t != current) {
			get_task_struct(t);
			(*k)++;
			break;
		}
		t = NULL;
	}
	rcu_read_unlock();
	return t;
}

/* EXIT_REASON_PAUSE_INSTRUCTION (only PAUSE-loop exiting is enabled). */
int shv_handle_pause(struct shv_vcpu *vcpu)
{
	struct task_struct *t;
	int k = 1;

	shv_stat_inc(vcpu, EXIT_PAUSE);
	shv_skip_insn(vcpu);
	while ((t = preempted_sibling(vcpu, &k))) {
		int r = yield_to(t, true);

		put_task_struct(t);
		if (r > 0) {
			shv_stat_inc(vcpu, PAUSE_YIELDS);
			break;
		}
	}
	return 1;	/* run.c's cond_resched() switches to the boosted thread */
}
