#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# testvm/guest-check.sh - the `make check` script run INSIDE the test VM
# (busybox sh, as `sh /payload/guest-check.sh`; see testvm/check.sh).
#
# Runs the installed selftests with
#   SHADOWVM_KO=/payload/shadowvm.ko  KVM_MODULES_DIR=/payload/kvm
#   SHADOWVM_RUNNER=/payload/shadowvm (also on PATH)
#   SVMTEST_KMEMLEAK=1 when the kernel has kmemleak (/sys/kernel/debug/kmemleak)
# and prints their TAP between the lines "TESTVM-TAP-BEGIN" and
# "TESTVM-TAP-END status=N", then the whole dmesg between "TESTVM-DMESG-BEGIN"
# and "TESTVM-DMESG-END". Exits with run_tests.sh's status.
#
# A subset of the suite: boot with "svmtest.only=a_test,b_test" on the
# kernel command line (TESTVM_APPEND="svmtest.only=..." make check); it
# becomes run_tests.sh's SVMTEST_ONLY. "svmtest.env.NAME=VALUE" exports
# NAME=VALUE to the tests (e.g. svmtest.env.SVM_SLOT_RACE_GENERATIONS=2000).
# "svmtest.fuzz_calls=N",
# "svmtest.fuzz_seed=N", "svmtest.fuzz_threads=N" and "svmtest.fuzz_timeout=S"
# become SVM_FUZZ_CALLS, SVM_FUZZ_SEED, SVM_FUZZ_THREADS and
# SVM_FUZZ_TIMEOUT for ioctl_fuzz_test (make check-debug sets them).
# "svmtest.preempt=MODE" sets the preemption model (PREEMPT_DYNAMIC) first.

export SHADOWVM_KO=/payload/shadowvm.ko
export KVM_MODULES_DIR=/payload/kvm
export SHADOWVM_RUNNER=/payload/shadowvm
export PATH="/payload:$PATH"

for arg in $(cat /proc/cmdline); do
	case "$arg" in
	svmtest.only=*)
		SVMTEST_ONLY=$(echo "${arg#svmtest.only=}" | tr ',' ' ')
		export SVMTEST_ONLY
		;;
	svmtest.env.*=*)
		kv=${arg#svmtest.env.}
		export "${kv%%=*}=${kv#*=}"
		;;
	svmtest.fuzz_calls=*) export SVM_FUZZ_CALLS="${arg#*=}" ;;
	svmtest.fuzz_seed=*) export SVM_FUZZ_SEED="${arg#*=}" ;;
	svmtest.fuzz_threads=*) export SVM_FUZZ_THREADS="${arg#*=}" ;;
	svmtest.fuzz_timeout=*) export SVM_FUZZ_TIMEOUT="${arg#*=}" ;;
	svmtest.preempt=*) SVMTEST_PREEMPT=${arg#*=} ;;
	esac
done

# "svmtest.preempt=MODE": switch the PREEMPT_DYNAMIC preemption model to MODE
# (none, voluntary, full) before the tests. make check-debug boots with
# "preempt=none svmtest.preempt=voluntary": see testvm/check-debug.sh.
if [ -n "${SVMTEST_PREEMPT:-}" ]; then
	if echo "$SVMTEST_PREEMPT" >/sys/kernel/debug/sched/preempt 2>/dev/null; then
		echo "guest-check: preemption model: $(cat /sys/kernel/debug/sched/preempt)"
	else
		echo "guest-check: warning: cannot set the preemption model to $SVMTEST_PREEMPT"
	fi
fi

# A kernel with kmemleak (the debug kernel of `make check-debug`): scan
# after the suite and after unloading the module (TAP cases of run_tests.sh).
if [ -e /sys/kernel/debug/kmemleak ]; then
	export SVMTEST_KMEMLEAK=1
fi

# Kernel warnings (the module's rate-limited bad-input lines among them)
# go to dmesg only while the suite runs: on the console they can split a
# TAP line in two. The dmesg dump below has them all, and the harness scans
# it for problems; errors and worse still reach the console at once.
echo 4 >/proc/sys/kernel/printk 2>/dev/null || true

cd /payload/selftests || exit 1
echo "TESTVM-TAP-BEGIN"
sh /payload/selftests/run_tests.sh
st=$?
echo "TESTVM-TAP-END status=$st"
echo "TESTVM-DMESG-BEGIN"
dmesg
echo "TESTVM-DMESG-END"
exit $st
