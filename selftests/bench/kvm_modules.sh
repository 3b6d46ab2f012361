# SPDX-License-Identifier: GPL-2.0
#
# kvm_modules.sh - sourced (POSIX sh, busybox sh in the test VM) by
# run_bench.sh and bench/linux_bench.sh: loading and unloading Debian's
# kvm_intel with a given ept value, written once.
#
#   kvm_ko NAME [ARGS]   insmod $KVM_MODULES_DIR/NAME.ko (.ko.xz, .ko.zst,
#                        .ko.gz too) with ARGS; 1 when there is no such file
#   kvm_ept_is_on        0 when the loaded kvm_intel has ept=1 (Y)
#   kvm_load EPT         kvm_intel with ept=EPT (0 or 1): kept when it is
#                        already loaded so, reloaded when it has the other
#                        value (fails if it cannot be unloaded: a KVM VM is
#                        alive), else loaded from $KVM_MODULES_DIR (irqbypass,
#                        kvm, kvm-intel) or, without it, by modprobe when
#                        KVM_MODPROBE=1 (or MMU_BENCH_MODPROBE=1). Honest:
#                        returns 0 only when kvm_intel's ept parameter then
#                        reads EPT and /dev/kvm exists. Sets KVM_LOADED=1
#                        when it loaded the module itself.
#   kvm_unload           rmmod kvm_intel, kvm, irqbypass (errors ignored)

KVM_EPT_PARAM=/sys/module/kvm_intel/parameters/ept
# shellcheck disable=SC2034 # read by the scripts that source this
KVM_LOADED=0

kvm_ko() {
	_kvm_name=$1
	shift
	for _kvm_ext in ko ko.xz ko.zst ko.gz; do
		if [ -f "$KVM_MODULES_DIR/$_kvm_name.$_kvm_ext" ]; then
			insmod "$KVM_MODULES_DIR/$_kvm_name.$_kvm_ext" "$@"
			return
		fi
	done
	return 1
}

kvm_ept_is_on() {
	case "$(cat "$KVM_EPT_PARAM" 2>/dev/null)" in
	Y | y | 1) return 0 ;;
	esac
	return 1
}

# 0 when kvm_intel is loaded with ept=$1 and /dev/kvm is there
kvm_has_ept() {
	[ -e /sys/module/kvm_intel ] && [ -c /dev/kvm ] || return 1
	if [ "$1" = 1 ]; then
		kvm_ept_is_on
	else
		! kvm_ept_is_on
	fi
}

kvm_load() {
	kvm_has_ept "$1" && return 0
	if [ -e /sys/module/kvm_intel ]; then
		rmmod kvm_intel 2>/dev/null || return 1
	fi
	if [ -n "$KVM_MODULES_DIR" ]; then
		[ -e /sys/module/irqbypass ] || kvm_ko irqbypass
		[ -e /sys/module/kvm ] || kvm_ko kvm
		kvm_ko kvm-intel "ept=$1" || return 1
	elif [ "${KVM_MODPROBE:-${MMU_BENCH_MODPROBE:-0}}" = 1 ]; then
		modprobe kvm_intel "ept=$1" || return 1
	else
		return 1
	fi
	# shellcheck disable=SC2034
	KVM_LOADED=1
	# /dev/kvm may take a moment to appear (devtmpfs)
	for _kvm_i in 1 2 3 4 5; do
		[ -c /dev/kvm ] && break
		sleep 1
	done
	kvm_has_ept "$1"
}

kvm_unload() {
	rmmod kvm_intel 2>/dev/null
	rmmod kvm 2>/dev/null
	rmmod irqbypass 2>/dev/null
	return 0
}
