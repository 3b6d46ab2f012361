#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run_tests.sh - run the shadowvm kselftests (POSIX sh; busybox sh in the
# test VM, any sh on a real host via run_host.sh).
#
# Contract:
#   - run from anywhere; the test binaries are in this script's directory;
#   - loads shadowvm if it is not loaded: $SHADOWVM_KO (insmod), else
#     modprobe shadowvm; mounts debugfs; makes /dev/shadowvm if no devtmpfs
#     or mdev did;
#   - runs every *_test binary here (known ones in a fixed order, new ones
#     in between) under a per-binary timeout
#     and prints TAP 13 with one top-level "ok N"/"not ok N" line per test
#     case ("binary: test"); skips are "ok N ... # SKIP reason"; a binary
#     that crashes or times out adds a "not ok" line for it; the binaries'
#     own output is kept as "# " comment lines;
#   - ends with exactly "N passed, N failed, N skipped"; exit status 0 when
#     nothing failed, 1 otherwise.
# Environment:
#   SHADOWVM_KO       shadowvm.ko to load (module_test also reloads it)
#   KVM_MODULES_DIR   irqbypass/kvm/kvm-intel modules for kvm_coexist_test
#   SVMTEST_TIMEOUT   per-binary timeout in seconds (default: per binary)
#   SVMTEST_ONLY      space separated list of binaries to run (default all)
#   SVMTEST_LIST      1: only print the binaries it would run, in order, one
#                     per line, and exit (make check splits the suite so)
#   SVMTEST_KMEMLEAK  1: kmemleak scans after the suite and after unloading
#                     the module, each a TAP case (needs CONFIG_DEBUG_KMEMLEAK)
#   SVMTEST_NO_MODULE 1: the binaries need no module (emulator_test, the
#                     emulator's userspace unit test): nothing is loaded,
#                     unloaded or mounted, no setup or teardown cases
#                     (testvm/check.sh runs such binaries on the build
#                     machine so, with SVMTEST_ONLY)
#
# After the binaries, teardown cases: the module's own accounting
# (/sys/kernel/debug/shadowvm/module: live_vms, live_vcpus, live_pages,
# live_objects, pinned_pages, region_pins all 0), then, when this script loaded the
# module, its unload (rmmod shadowvm).
#   SVM_FUZZ_CALLS, SVM_FUZZ_SEED, SVM_FUZZ_THREADS, SVM_FUZZ_VERBOSE
#                     ioctl_fuzz_test's options (inherited by it as they are)
#   SVM_FUZZ_TIMEOUT  ioctl_fuzz_test's timeout in seconds (default 600)
#   SVM_MMU_FUZZ_SEED, SVM_MMU_FUZZ_STEPS, SVM_MMU_FUZZ_KVM_STEPS,
#   SVM_MMU_FUZZ_TIMEOUT
#                     mmu_fuzz_test's options (inherited as they are); its
#                     binary gets 1800 s, or the sum of its cases' timeouts
#                     (60 s + 60 ms a step each) when that is more
#                     (SVMTEST_TIMEOUT overrides it)

cd "$(dirname "$0")" || exit 1
HERE=$(pwd)

# Order: these first, then every other *_test binary found here
# (alphabetically), then LAST_TESTS. signal_test is last: it is the one test
# that needs a host interrupt to stop a spinning guest, and if that is broken
# the whole machine can hang.
FIRST_TESTS="module_test api_test memslot_test vcpu_test sregs_test pio_test
exits_test cpuid_test threads_test lifecycle_test runner_test emulator_test"
LAST_TESTS="kvm_coexist_test signal_test"
# built only when the emulator sources exist
OPTIONAL_TESTS="emulator_test"

ALL_TESTS=$FIRST_TESTS
for f in ./*_test; do
	t=${f#./}
	[ -x "$f" ] || continue
	case " $(echo $FIRST_TESTS $LAST_TESTS) " in
	*" $t "*) ;;
	*) ALL_TESTS="$ALL_TESTS $t" ;;
	esac
done
ALL_TESTS="$ALL_TESTS $LAST_TESTS"
TESTS=${SVMTEST_ONLY:-$ALL_TESTS}

if [ "$SVMTEST_LIST" = 1 ]; then
	for t in $TESTS; do
		echo "$t"
	done
	exit 0
fi

# "# ---- NAME (uptime S)" opens each binary's output: testvm/check.sh
# times the binaries by these lines (wall time on the host)
uptime_s() {
	cut -d' ' -f1 /proc/uptime 2>/dev/null
}

n=0
passed=0
failed=0
skipped=0

# report ok|notok NAME [SKIP-REASON]
report() {
	n=$((n + 1))
	if [ "$1" = ok ]; then
		if [ -n "$3" ]; then
			echo "ok $n $2 # SKIP $3"
			skipped=$((skipped + 1))
		else
			echo "ok $n $2"
			passed=$((passed + 1))
		fi
	else
		echo "not ok $n $2"
		failed=$((failed + 1))
	fi
}

timeout_for() {
	if [ -n "$SVMTEST_TIMEOUT" ]; then
		echo "$SVMTEST_TIMEOUT"
		return
	fi
	case $1 in
	lifecycle_test) echo 2400 ;;
	kvm_coexist_test) echo 1200 ;;
	runner_platform_test) echo 1200 ;;
	minios_test) echo 1800 ;;
	linux_guest_test) echo 2400 ;;
	ioctl_fuzz_test) echo "${SVM_FUZZ_TIMEOUT:-600}" ;;
	mmu_fuzz_test)
		# its cases' harness timeouts (60 s + 60 ms a step): 12 policy
		# cases, 3 KVM cases that run their steps twice
		steps=${SVM_MMU_FUZZ_STEPS:-0}
		case $steps in *[!0-9]*|'') steps=0 ;; esac
		ksteps=${SVM_MMU_FUZZ_KVM_STEPS:-$steps}
		case $ksteps in *[!0-9]*|'') ksteps=$steps ;; esac
		t=$((12 * (60 + steps * 60 / 1000) + 6 * (60 + ksteps * 60 / 1000)))
		[ "$t" -gt 1800 ] && echo "$t" || echo 1800 ;;
	*) echo 600 ;;
	esac
}

# "timeout SECS" (coreutils, busybox >= 1.30) or "timeout -t SECS" (older)
if timeout 5 true 2>/dev/null; then
	TIMEOUT_STYLE=new
elif timeout -t 5 true 2>/dev/null; then
	TIMEOUT_STYLE=old
else
	TIMEOUT_STYLE=none
fi

run_with_timeout() {
	secs=$1
	shift
	case $TIMEOUT_STYLE in
	new) timeout -s KILL "$secs" "$@" ;;
	old) timeout -s KILL -t "$secs" "$@" ;;
	*) "$@" ;;
	esac
}

# the harness forks each test into its own process group: after a timeout,
# kill what is left of exactly this binary
kill_leftovers() {
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[ "$exe" = "$HERE/$1" ] && kill -9 "${p#/proc/}" 2>/dev/null
	done
}

module_loaded() {
	[ -e /sys/module/shadowvm/initstate ]
}

load_module() {
	module_loaded && return 0
	if [ -n "$SHADOWVM_KO" ]; then
		msg=$(insmod "$SHADOWVM_KO" 2>&1) || {
			echo "# insmod $SHADOWVM_KO: $msg"
			return 1
		}
	else
		msg=$(modprobe shadowvm 2>&1) || {
			echo "# modprobe shadowvm: $msg"
			return 1
		}
	fi
	module_loaded
}

ensure_dev() {
	i=0
	while [ ! -c /dev/shadowvm ] && [ $i -lt 20 ]; do
		sleep 0.1 2>/dev/null || sleep 1
		i=$((i + 1))
	done
	if [ ! -c /dev/shadowvm ] && [ -r /sys/class/misc/shadowvm/dev ]; then
		dev=$(cat /sys/class/misc/shadowvm/dev)
		mknod /dev/shadowvm c "${dev%%:*}" "${dev##*:}"
	fi
	[ -c /dev/shadowvm ]
}

# parse_binary NAME STATEFILE: turn the harness' TAP on stdin into
# top-level lines as it streams; runs in a pipeline subshell, so the
# counters go back to the caller through STATEFILE
parse_binary() {
	t=$1
	cur=
	plan=0
	seen=0
	bin_failed=0
	while IFS= read -r line; do
		case $line in
		"TAP version"*)
			;;
		1..*)
			plan=${line#1..}
			;;
		"#  RUN "*)
			cur=${line#\#  RUN }
			cur=$(echo "$cur" | sed 's/^ *//; s/ \.\.\.$//')
			echo "$line"
			;;
		"ok "*)
			seen=$((seen + 1))
			rest=${line#ok }
			rest=${rest#* }
			case $rest in
			"# SKIP"*)
				report ok "$t: $cur" "${rest#\# SKIP }"
				;;
			*"# SKIP"*)
				report ok "$t: ${rest%% \# SKIP*}" \
					"${rest#*\# SKIP }"
				;;
			*)
				report ok "$t: $rest"
				;;
			esac
			;;
		"not ok "*)
			seen=$((seen + 1))
			bin_failed=1
			rest=${line#not ok }
			rest=${rest#* }
			report notok "$t: $rest"
			;;
		"#"*)
			echo "$line"
			;;
		*)
			echo "# $line"
			;;
		esac
	done
	echo "$n $passed $failed $skipped $seen $plan $bin_failed" >"$2"
}

# run_binary NAME: run it, report its tests, then its crash or timeout
run_binary() {
	t=$1
	state=${TMPDIR:-/tmp}/svmtest.$$.state
	rcfile=${TMPDIR:-/tmp}/svmtest.$$.rc
	secs=$(timeout_for "$t")
	echo 255 >"$rcfile"
	{
		run_with_timeout "$secs" "./$t" 2>&1
		echo $? >"$rcfile"
	} | parse_binary "$t" "$state"
	read -r n passed failed skipped seen plan bin_failed <"$state"
	rc=$(cat "$rcfile")
	rm -f "$state" "$rcfile"
	[ "$rc" -eq 137 ] && kill_leftovers "$t"

	if [ "$seen" -eq 0 ]; then
		# not a harness binary, or died before printing anything
		case $rc in
		0) report ok "$t" ;;
		4) report ok "$t" "exit status 4" ;;
		*) report notok "$t (exit status $rc)" ;;
		esac
	elif [ "$seen" -lt "$plan" ] || { [ "$rc" -ne 0 ] &&
		[ "$rc" -ne 4 ] && [ "$bin_failed" -eq 0 ]; }; then
		if [ "$rc" -eq 137 ]; then
			why="killed after ${secs}s timeout"
		else
			why="exit status $rc"
		fi
		report notok "$t: only $seen of $plan tests reported ($why)"
	fi
}

echo "TAP version 13"
echo "# shadowvm selftests on $(uname -r)"

if [ "$SVMTEST_NO_MODULE" != 1 ] && [ ! -e /sys/kernel/debug/shadowvm ] &&
   [ -d /sys/kernel/debug ] &&
   ! grep -q " /sys/kernel/debug debugfs" /proc/mounts 2>/dev/null; then
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
fi

kvm_before=0
[ -e /sys/module/kvm_intel ] && kvm_before=1
loaded_before=0
module_loaded && loaded_before=1

setup_ok=0
if [ "$SVMTEST_NO_MODULE" = 1 ]; then
	echo "# SVMTEST_NO_MODULE=1: no module setup or teardown"
elif load_module && ensure_dev; then
	setup_ok=1
	report ok "setup: shadowvm loaded, /dev/shadowvm present"
else
	report notok "setup: cannot load shadowvm (SHADOWVM_KO=${SHADOWVM_KO:-unset})"
fi

for t in $TESTS; do
	if [ ! -x "./$t" ]; then
		case " $OPTIONAL_TESTS " in
		*" $t "*) echo "# $t: not built, not run" ;;
		*) report notok "$t: binary missing" ;;
		esac
		continue
	fi
	echo "# ---- $t (uptime $(uptime_s)s)"
	run_binary "$t"
	# a failed module_test may leave the module unloaded
	if [ $setup_ok -eq 1 ] && ! module_loaded && [ -n "$SHADOWVM_KO" ]; then
		echo "# shadowvm was not loaded after $t, loading it again"
		load_module && ensure_dev
	fi
done

if [ "$SVMTEST_NO_MODULE" = 1 ]; then
	echo "1..$n"
	echo "$passed passed, $failed failed, $skipped skipped"
	[ $failed -eq 0 ]
	exit
fi

# leave KVM as we found it
if [ $kvm_before -eq 0 ] && [ -e /sys/module/kvm_intel ]; then
	echo "# kvm_intel still loaded after the tests, unloading it"
	rmmod kvm_intel 2>/dev/null
	rmmod kvm 2>/dev/null
fi

# kmemleak_scan WHEN: one TAP case; not ok when kmemleak lists suspects
# (printed as comments). Two scans: an object must stay unreferenced for
# two scans (and 5 s) before kmemleak reports it.
kmemleak_scan() {
	k=/sys/kernel/debug/kmemleak
	if ! echo scan >$k 2>/dev/null; then
		report notok "teardown: kmemleak scan $1 (cannot write $k)"
		return
	fi
	sleep 5
	echo scan >$k
	leaks=$(grep -c '^unreferenced object' $k 2>/dev/null)
	if [ "${leaks:-0}" -eq 0 ]; then
		report ok "teardown: kmemleak scan $1"
	else
		sed 's/^/# /' $k
		report notok "teardown: kmemleak scan $1 ($leaks suspected leaks)"
		echo clear >$k
	fi
}

echo "# ---- teardown (uptime $(uptime_s)s)"

# The module's own leak accounting must be back to zero once the tests
# are done (every VM, vCPU, page and pin released).
DBG_MODULE=/sys/kernel/debug/shadowvm/module
if ! module_loaded; then
	report notok "teardown: module accounting back to zero (shadowvm is not loaded)"
elif [ ! -r $DBG_MODULE ]; then
	report notok "teardown: module accounting back to zero ($DBG_MODULE missing)"
else
	bad=
	for c in live_vms live_vcpus live_pages live_objects pinned_pages region_pins; do
		v=$(sed -n "s/^$c //p" $DBG_MODULE)
		[ "$v" = 0 ] || bad="$bad $c=${v:-missing}"
	done
	sed 's/^/# module: /' $DBG_MODULE
	if [ -z "$bad" ]; then
		report ok "teardown: module accounting back to zero"
	else
		report notok "teardown: module accounting back to zero (not zero:$bad)"
	fi
fi
[ "$SVMTEST_KMEMLEAK" = 1 ] && kmemleak_scan "after the suite"

# Unload the module when this script loaded it (the test VM; run_host.sh
# loads it itself and unloads it afterwards). Its exit checks the same
# counters again (a WARNING in dmesg).
if [ $loaded_before -eq 0 ] && [ $setup_ok -eq 1 ]; then
	if module_loaded && msg=$(rmmod shadowvm 2>&1) && ! module_loaded; then
		report ok "teardown: shadowvm unloaded"
	else
		echo "# rmmod shadowvm: ${msg:-not loaded}"
		report notok "teardown: shadowvm unloaded"
	fi
	[ "$SVMTEST_KMEMLEAK" = 1 ] && kmemleak_scan "after unloading shadowvm"
fi

echo "1..$n"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
