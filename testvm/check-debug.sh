#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# testvm/check-debug.sh - `make check-debug`: the whole selftest suite in the
# Bochs test VM booting the debug kernel of testvm/prepare-debug.sh (KASAN,
# KFENCE, kmemleak, lockdep + PROVE_RCU, UBSAN, DEBUG_ATOMIC_SLEEP,
# DEBUG_LIST, hung-task and soft-lockup detectors; testvm/debug.config).
#
# Usage: testvm/check-debug.sh [check.sh/boot.sh options]
#
# Steps: testvm/prepare-debug.sh (builds the kernel once, cached in
# build/debug-kernel/); then testvm/check.sh with that kernel
# (TESTVM_VMLINUZ, TESTVM_VMLINUX_LZ4, TESTVM_MODDIR, TESTVM_KDIR from
# build/debug-kernel/env.sh): the module is built against the debug kernel's
# tree, the KVM and msr modules come from its module tree. In the VM,
# run_tests.sh ends with the module's accounting check, a kmemleak scan,
# rmmod shadowvm and a second kmemleak scan (TAP cases). The run fails on a
# failed or unexpected skipped test, or on any detector report in the
# guest's dmesg (testvm/lib.sh: TESTVM_KERNEL_PROBLEM_RE); the reports are
# quoted, and kept whole in build/check-debug/dmesg.txt.
#
# The fuzzers run at the sizes of issue 10 (1,000,000 ioctl calls, 102,000
# MMU fuzzer steps per policy; see below); the other tests at make check's
# sizes (TESTVM_APPEND="svmtest.env.SVMTEST_FULL=1" for the exhaustive
# ones).
#
# Environment: as check.sh; TESTVM_TIMEOUT defaults to 14400 s here,
# TESTVM_SUITE_TIMES to testvm/suite-times-debug.txt.
# Output: build/check-debug/ (tap.txt, dmesg.txt, vm/console.log).
# Exit status: check.sh's (0 clean, 1 otherwise).

set -euo pipefail

# shellcheck source=testvm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

T0=$SECONDS
bash "$TESTVM_TOP/testvm/prepare-debug.sh" || {
	echo "check-debug: FAIL: testvm/prepare-debug.sh failed" >&2
	exit 1
}
# linux_guest_test's Linux guest stays Debian's stock kernel (prepared by
# prepare.sh, which prepare-debug.sh ran): the debug kernel is there to
# check the host while the module runs that guest; booted as the nested
# guest itself it would take hours of Bochs. The guest's initramfs takes
# that kernel's modules (guests/linux/mkinitramfs.sh reads LINUX_MODDIR).
# shellcheck disable=SC1091
. "$TESTVM_BUILD/testvm/env-6.1.sh"
export TESTVM_GUEST_VMLINUZ=$TESTVM_VMLINUZ
export LINUX_MODDIR=${LINUX_MODDIR:-$TESTVM_MODDIR}	# its initramfs's modules
# shellcheck disable=SC1091
. "$TESTVM_BUILD/debug-kernel/env.sh"
export TESTVM_CHECK_OUT=$TESTVM_BUILD/check-debug
export TESTVM_TIMEOUT=${TESTVM_TIMEOUT:-14400}
# the binaries' times on this kernel at these sizes, to balance the VMs
export TESTVM_SUITE_TIMES=${TESTVM_SUITE_TIMES:-$TESTVM_TOP/testvm/suite-times-debug.txt}
# Boot with preempt=none, then guest-check.sh restores Debian's (and
# debug.config's) voluntary preemption before the tests. Linux 6.1.192
# deadlocks at boot otherwise: the PROVE_RCU self-test of RCU Tasks
# (rcu_init_tasks_generic) calls synchronize_rcu_tasks() before the
# rcu_tasks_kthread it just created has run, so it takes the "midboot" path,
# rcu_tasks_one_gp(), which locks tasks_gp_mutex; the might_sleep() of that
# mutex_lock() is a voluntary preemption point, the new kthread runs there,
# takes tasks_gp_mutex first and sleeps waiting for callbacks while holding
# it, and kernel_init waits for the mutex forever (idle CPU, no console
# output after "Running RCU-tasks wait API self tests"). Bochs's
# instruction-count clock makes this deterministic. With preempt=none
# might_sleep() does not reschedule, kernel_init gets the mutex first, and
# the kthread only runs once the boot-time grace period is under way.
# Sizes: the ioctl fuzzer's 1,000,000 calls (about 12 times the stock
# kernel's guest time per call: 3,600 guest seconds allowed), the MMU
# fuzzer's 34,000 steps per paging mode (102,000 per policy, three modes)
# and 3,000 in its KVM cases (KVM is the second oracle; each such case
# runs its steps twice);
# minios_test's LAPIC timer at 2 ms instead of 250 us (on this kernel the
# vtlb policy's rebuild after each process switch outlasts 250 us of the
# instruction clock: the processes would hardly run). A NAME=VALUE of
# TESTVM_APPEND or of --append takes precedence (an empty VALUE does not).
APPEND="preempt=none svmtest.preempt=voluntary"
for d in svmtest.fuzz_calls=1000000 svmtest.fuzz_timeout=3600 \
	svmtest.env.SVM_MMU_FUZZ_STEPS=34000 svmtest.env.SVM_MMU_FUZZ_KVM_STEPS=3000 \
	svmtest.env.SVM_MINIOS_TIMER=2000000; do
	[ -n "$(testvm_append_arg "${d%%=*}" "$@")" ] || APPEND="$APPEND $d"
done
RC=0
bash "$TESTVM_TOP/testvm/check.sh" --append "$APPEND" "$@" || RC=$?
OUT=$TESTVM_CHECK_OUT
if [ -s "$OUT/dmesg.txt" ]; then
	# The whole of each report, not only its first line (check.sh quoted those).
	grep -aE "${TESTVM_TS_RE}.*(${TESTVM_KERNEL_PROBLEM_RE})" "$OUT/dmesg.txt" >/dev/null &&
		echo "check-debug: the reports in full: ${OUT#"$TESTVM_TOP"/}/dmesg.txt"
fi
echo "check-debug: kernel $TESTVM_ABI; wall time $(testvm_fmt_secs $((SECONDS - T0)))"
exit "$RC"
