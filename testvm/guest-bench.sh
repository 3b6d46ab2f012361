#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# testvm/guest-bench.sh - the `make bench` script run INSIDE the test VM
# (busybox sh): runs /payload/selftests/run_bench.sh with the same
# environment as guest-check.sh plus the MMU_BENCH_* settings bench.sh
# wrote into /payload/bench.env (MMU_BENCH=0 skips it), then
# linux_bench.sh (the Linux guest rows; LINUX_BENCH=0 skips them), output
# between "TESTVM-BENCH-BEGIN" and "TESTVM-BENCH-END status=N".

export SHADOWVM_KO=/payload/shadowvm.ko
export KVM_MODULES_DIR=/payload/kvm
export SHADOWVM_RUNNER=/payload/shadowvm
export PATH="/payload:$PATH"
# shellcheck disable=SC1091
[ -f /payload/bench.env ] && . /payload/bench.env

cd /payload/selftests || exit 1
echo "TESTVM-BENCH-BEGIN"
st=0
if [ "${MMU_BENCH:-1}" = 1 ]; then
	sh /payload/selftests/run_bench.sh
	st=$?
else
	echo "# MMU bench skipped (MMU_BENCH=0)"
fi
# the Linux guest rows (selftests/bench/linux_bench.sh), when bench.sh
# put the kernel into the payload
if [ -f /payload/selftests/vmlinuz ] && [ "${LINUX_BENCH:-1}" = 1 ]; then
	sh /payload/selftests/linux_bench.sh || st=1
fi
echo "TESTVM-BENCH-END status=$st"
exit $st
