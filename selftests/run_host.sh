#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run_host.sh - run the shadowvm selftests on a real VT-x host (as root).
#
# Contract: builds nothing (run `make` at the top first). Checks that this
# is a VT-x machine whose VT-x is free (no kvm_intel holding it: a loaded
# kvm_intel is fine only when idle and not enabling VMX at load), copies
# the built selftests, runner and demo.bin to a temporary directory, insmods
# kmod/shadowvm.ko (unless loaded), runs run_tests.sh there with
# SHADOWVM_KO=kmod/shadowvm.ko (module_test reloads it)
# and SVMTEST_ALLOW_MODPROBE=1 (kvm_coexist_test uses modprobe kvm_intel),
# unloads shadowvm again if this script loaded it, and exits with
# run_tests.sh's status.

set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
KO=$TOP/kmod/shadowvm.ko

die() {
	echo "run_host: $*" >&2
	exit 2
}

[ "$(id -u)" = 0 ] || die "must run as root (loads kernel modules)"
grep -qw vmx /proc/cpuinfo ||
	die "no VT-x (vmx flag) on this CPU; use 'make check' (Bochs VM) instead"
[ -r "$KO" ] || die "$KO missing: run 'make' first"
for f in selftests/bin/api_test selftests/run_tests.sh \
	 userspace-tool/shadowvm userspace-tool/demo.bin; do
	[ -e "$TOP/$f" ] || die "$f missing: run 'make' first"
done

if [ -e /sys/module/kvm_intel ]; then
	ref=$(cat /sys/module/kvm_intel/refcnt 2>/dev/null || echo 0)
	[ "$ref" -eq 0 ] ||
		die "kvm_intel is in use (live KVM VMs hold VT-x): stop them first"
	at_load=$(cat /sys/module/kvm/parameters/enable_virt_at_load \
		2>/dev/null || echo N)
	case $at_load in
	Y|y|1) die "kvm_intel holds VT-x since it was loaded (kvm.enable_virt_at_load=Y): rmmod kvm_intel first" ;;
	esac
fi

DIR=$(mktemp -d /tmp/shadowvm-selftests.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$DIR"' EXIT INT TERM
cp "$TOP"/selftests/bin/*_test "$TOP/selftests/run_tests.sh" \
   "$TOP/userspace-tool/shadowvm" "$TOP/userspace-tool/demo.bin" "$DIR/" ||
	die "copying the tests failed"

loaded_here=0
if [ ! -e /sys/module/shadowvm ]; then
	insmod "$KO" || die "insmod $KO failed (see dmesg)"
	loaded_here=1
fi

SHADOWVM_KO=$KO SVMTEST_ALLOW_MODPROBE=1 sh "$DIR/run_tests.sh"
status=$?

if [ $loaded_here -eq 1 ] && [ -e /sys/module/shadowvm ]; then
	rmmod shadowvm || echo "run_host: could not unload shadowvm" >&2
fi
exit $status
