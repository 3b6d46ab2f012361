#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run_bench.sh - the shadow-MMU benchmark (POSIX sh; busybox sh in the test
# VM, where testvm/guest-bench.sh runs it for `make bench`).
#
# Runs mmu_bench's workloads on shadowvm under each MMU policy (every one
# mmu_bench knows), then the default policy again with other prefetch
# windows (configs wp-pfN), then on KVM with kvm_intel ept=0 from the same
# guest code, and
# prints one aligned table (guest cycles, wall time, exits, true and hidden
# page faults, and each configuration's ratio to KVM). VMXON is exclusive:
# shadowvm is unloaded before KVM runs (if this script loaded it) and KVM is
# unloaded afterwards (if this script loaded it).
# The last line starts with "mmu-bench: " (the harness's marker).
# Environment:
#   SHADOWVM_KO       shadowvm.ko to insmod when the module is not loaded
#   KVM_MODULES_DIR   irqbypass.ko, kvm.ko, kvm-intel.ko (.ko.xz/.zst too);
#                     without it KVM is skipped unless modprobe finds it
#                     and MMU_BENCH_MODPROBE=1
#   MMU_BENCH_POLICIES  default: every policy ("mmu_bench policies")
#   MMU_BENCH_PREFETCH  prefetch windows for the extra wp-pfN configs,
#                       default "0 16" ("" for none); the other configs run
#                       with the module's default window
# Exit status: 0 when every configuration ran, 1 otherwise.

cd "$(dirname "$0")" || exit 1
RES=${TMPDIR:-/tmp}/mmu-bench.$$
POLICIES=${MMU_BENCH_POLICIES:-$(./mmu_bench policies)}
PREFETCH=${MMU_BENCH_PREFETCH-0 16}
PF_PARAM=/sys/module/shadowvm/parameters/prefetch
status=0
: >"$RES"

if [ ! -e /sys/kernel/debug/shadowvm ] && [ -d /sys/kernel/debug ] &&
   ! grep -q " /sys/kernel/debug debugfs" /proc/mounts 2>/dev/null; then
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
fi

# ---- shadowvm ----
loaded_svm=0
if [ ! -e /sys/module/shadowvm/initstate ] && [ -n "$SHADOWVM_KO" ]; then
	insmod "$SHADOWVM_KO" && loaded_svm=1
fi
i=0
while [ ! -c /dev/shadowvm ] && [ -r /sys/class/misc/shadowvm/dev ] && [ $i -lt 20 ]; do
	sleep 1
	i=$((i + 1))
done
if [ ! -c /dev/shadowvm ] && [ -r /sys/class/misc/shadowvm/dev ]; then
	dev=$(cat /sys/class/misc/shadowvm/dev)
	mknod /dev/shadowvm c "${dev%%:*}" "${dev##*:}"
fi
if [ -c /dev/shadowvm ]; then
	for p in $POLICIES; do
		echo "# mmu_bench: shadowvm, $p policy"
		./mmu_bench run shadowvm "$p" >>"$RES" || status=1
	done
	if [ -n "$PREFETCH" ] && [ -w "$PF_PARAM" ]; then
		pf_default=$(cat "$PF_PARAM")
		for w in $PREFETCH; do
			echo "# mmu_bench: shadowvm, wp policy, prefetch $w"
			echo "$w" >"$PF_PARAM"
			./mmu_bench run shadowvm wp "wp-pf$w" >>"$RES" || status=1
		done
		echo "$pf_default" >"$PF_PARAM"
	fi
else
	echo "# mmu_bench: no /dev/shadowvm: shadowvm skipped"
	status=1
fi
[ $loaded_svm -eq 1 ] && rmmod shadowvm

# ---- KVM, ept=0 ----
load_ko() {
	for ext in ko ko.xz ko.zst ko.gz; do
		if [ -f "$KVM_MODULES_DIR/$1.$ext" ]; then
			insmod "$KVM_MODULES_DIR/$1.$ext" $2
			return
		fi
	done
	return 1
}

loaded_kvm=0
if [ -e /sys/module/kvm_intel ]; then
	echo "# mmu_bench: kvm_intel already loaded (ept=$(cat /sys/module/kvm_intel/parameters/ept 2>/dev/null))"
elif [ -n "$KVM_MODULES_DIR" ]; then
	[ -e /sys/module/irqbypass ] || load_ko irqbypass
	[ -e /sys/module/kvm ] || load_ko kvm
	load_ko kvm-intel ept=0 && loaded_kvm=1
elif [ "$MMU_BENCH_MODPROBE" = 1 ]; then
	modprobe kvm_intel ept=0 && loaded_kvm=1
fi
if [ -e /sys/module/kvm_intel ] && [ -c /dev/kvm ]; then
	echo "# mmu_bench: KVM, ept=$(cat /sys/module/kvm_intel/parameters/ept 2>/dev/null)"
	./mmu_bench run kvm >>"$RES" || status=1
else
	echo "# mmu_bench: KVM not available: skipped"
fi
if [ $loaded_kvm -eq 1 ]; then
	rmmod kvm_intel
	rmmod kvm 2>/dev/null
	rmmod irqbypass 2>/dev/null
fi

./mmu_bench report "$RES"
rm -f "$RES"
exit $status
