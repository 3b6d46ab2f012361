#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# testvm/check.sh - `make check`: build everything and run the whole selftest
# suite inside the emulated VT-x test machine (Bochs).
#
# Usage: testvm/check.sh [boot.sh options, e.g. --cpu-model core2_penryn_t9600]
#
# Steps: testvm/prepare.sh; `make module KDIR=$TESTVM_KDIR`; `make runner
# selftests KSFT_DIR=build/ksft STATIC=1`; payload build/check/payload/ =
# shadowvm.ko, shadowvm, selftests/ (`make -C selftests install DESTDIR=...`,
# plus the test kernel's bzImage as selftests/vmlinuz and its ELF vmlinux
# as selftests/vmlinux for linux_guest_test)
# and guest-check.sh; testvm/boot.sh runs guest-check.sh in the VM. In the
# background meanwhile (nice 19; TESTVM_SERIAL_BUILDS=1: before the VMs),
# with their output in build/check/builds.log: the in-tree kselftest build
# (`make -C tools/testing/selftests TARGETS=shadowvm` in build/ksft-tree,
# log in build/check/ksft-tree.log) and `dkms build` for the 6.1 and 6.12
# kernels (private trees in build/dkms/, nothing installed); the run waits
# for them after the VMs and fails if they failed.
# Test binaries that need neither the module nor VT-x (emulator_test) run
# on this machine first, out of the payload (TAP in build/check/host/tap.txt;
# TESTVM_HOST_TESTS=0: in the VMs instead).
# The suite is split among TESTVM_JOBS test VMs that run at once (default:
# one per host CPU, at most 4), balanced by the measured time of each test
# binary in testvm/suite-times.txt (TESTVM_SUITE_TIMES: another such file;
# make check-debug uses testvm/suite-times-debug.txt); each VM runs its share as
# "svmtest.only=..." and its console is build/check/vmN/console.log (with
# one VM, build/check/vm/console.log, streamed live; with more, a progress
# line per test binary). Afterwards:
#   build/check/tap.txt    the TAP of run_tests.sh (kernel lines removed;
#                          with several VMs, or tests run on this machine,
#                          their streams one after the other ("host"
#                          first), renumbered, setup/teardown cases marked
#                          "(vmN)")
#   build/check/dmesg.txt  the guest's dmesg after the tests (each VM's)
#   build/check/times.txt  "WALL GUEST NAME" per test binary, slowest first:
#                          wall seconds on the host and guest (instruction
#                          clock) seconds; refresh testvm/suite-times.txt
#                          from it when the suite changes
# The last line printed is "N passed, N failed, N skipped", counted from the
# top-level "ok"/"not ok" lines ("# SKIP" counts as skipped).
#
# Environment: TESTVM_JOBS (test VMs at once), TESTVM_TIMEOUT (seconds for
# each VM, default 4800), TESTVM_BUILDS (0: no kselftest and dkms builds;
# default 1 for the whole suite, 0 for a subset), TESTVM_SERIAL_BUILDS
# (1: the kselftest and dkms builds before the VMs), TESTVM_BUILDS_WEIGHT
# (seconds of one core the background builds take, default 60: with a VM
# on every host CPU the first VM gets that much less work),
# TESTVM_CASE_TIMES (1: also build/check/case-times.txt, "WALL NAME" per
# test case),
# TESTVM_KERNEL, TESTVM_CPU_MODEL, TESTVM_APPEND, TESTVM_IGNORE (see boot.sh,
# prepare.sh and lib.sh); TESTVM_CHECK_OUT (output directory, default
# build/check; testvm/check-debug.sh uses build/check-debug).
#
# Exit status: 0 when every test passed or skipped, every skip is listed in
# selftests/expected-skips.txt, at least one test ran, the TAP plan was met
# and the VM ended cleanly; 1 otherwise.

set -euo pipefail

# shellcheck source=testvm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT=${TESTVM_CHECK_OUT:-$TESTVM_BUILD/check}
EXPECTED_SKIPS=$TESTVM_TOP/selftests/expected-skips.txt
TIMEOUT=${TESTVM_TIMEOUT:-4800}
# test VMs at once (the suite is split among them): TESTVM_JOBS, else one
# per host CPU, at most 4
JOBS=${TESTVM_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ -n "${TESTVM_JOBS:-}" ] || [ "$JOBS" -le 4 ] || JOBS=4
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
T0=$SECONDS

die() {
	echo "check: FAIL: $*" >&2
	# no orphans: the background builds (if started) end first
	[ -z "${BUILDS_PID:-}" ] || wait "$BUILDS_PID" 2>/dev/null || true
	exit 1
}

# The suite as a kselftest target of a kernel tree: build/ksft-tree/ (the
# kselftest build files of linux-source-6.1, from prepare.sh) gets selftests/
# as tools/testing/selftests/shadowvm (`make -C selftests ksft-tree`), then
# `make -C tools/testing/selftests TARGETS=shadowvm` builds it there. It
# proves that the sources and the Makefile build in a kernel tree, with its
# lib.mk; the test VMs run the payload's binaries, built by the standalone
# Makefile with -O2 -g (and its warnings). So this build is unoptimised,
# CFLAGS=-O0 from the environment (which the Makefile's `CFLAGS ?=` keeps
# and its `CFLAGS +=` extends): 31 s of CPU instead of 83 s (measured
# 2026-12-02, 55 test binaries).
check_ksft_tree() {
	local tree=${KSFT_TREE:-$TESTVM_BUILD/ksft-tree}

	echo "check: in-tree kselftest build in ${tree#"$TESTVM_TOP"/}"
	make -s -C selftests ksft-tree KSRC="$tree" &&
	CFLAGS=${TESTVM_KSFT_CFLAGS:--O0} \
	make -j"$(nproc 2>/dev/null || echo 2)" -C "$tree/tools/testing/selftests" \
		TARGETS=shadowvm FORCE_TARGETS=1 >"$OUT/ksft-tree.log" 2>&1 || {
		tail -n 30 "$OUT/ksft-tree.log" >&2
		return 1
	}
	[ -x "$tree/tools/testing/selftests/shadowvm/api_test" ]
}

# `dkms build` of dkms.conf for each Debian kernel series, with a private
# dkms and source tree under build/dkms/ and the kernel's headers given by
# --kernelsourcedir: nothing is installed or loaded.
check_dkms() {
	local d=$TESTVM_BUILD/dkms series env ver

	command -v dkms >/dev/null || { echo "check: dkms is not installed" >&2; return 1; }
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
	rm -rf "$d"
	mkdir -p "$d/src/shadowvm-$ver" "$d/tree"
	cp -r Kbuild dkms.conf kmod uapi "$d/src/shadowvm-$ver/"
	rm -f "$d/src/shadowvm-$ver"/kmod/*.o "$d/src/shadowvm-$ver"/kmod/*.ko
	dkms add -m shadowvm -v "$ver" --sourcetree "$d/src" --dkmstree "$d/tree" \
		>"$d/add.log" 2>&1 || { cat "$d/add.log" >&2; return 1; }
	for series in 6.1 6.12; do
		env=$TESTVM_BUILD/testvm/env-$series.sh
		[ -f "$env" ] || TESTVM_KERNEL=$series bash testvm/prepare.sh ||
			return 1
		# shellcheck disable=SC1090
		(. "$env"
		 echo "check: dkms build for $TESTVM_ABI"
		 dkms build -m shadowvm -v "$ver" -k "$TESTVM_ABI" \
			--kernelsourcedir "$TESTVM_KDIR" --sourcetree "$d/src" \
			--dkmstree "$d/tree" >"$d/build-$series.log" 2>&1 &&
		 [ -f "$d/tree/shadowvm/$ver/$TESTVM_ABI/x86_64/module/shadowvm.ko" ]) || {
			tail -n 30 "$d/build-$series.log" >&2
			cat "$d/tree/shadowvm/$ver/build/make.log" >&2 2>/dev/null
			return 1
		}
	done
}

# binary_times STAMPS: "WALL GUEST NAME" per test binary, slowest first:
# the wall seconds (host) and guest seconds (the VM's uptime, i.e. the
# instruction clock) from its "# ---- NAME (uptime S)" line to the next one
# (boot.sh --stamp writes those lines with their wall time).
binary_times() {
	[ -s "$1" ] || return 0
	awk '
		function close_prev(w, u) {
			if (name != "")
				printf "%d %.1f %s\n", w - wall, u - up, name
			name = ""
		}
		$2 == "#" && $3 == "----" {
			u = $0
			sub(/^.*\(uptime /, "", u)
			sub(/s\).*$/, "", u)
			close_prev($1, u + 0)
			name = $4; wall = $1; up = u + 0
			next
		}
		/TESTVM-TAP-END/ { close_prev($1, up) }' "$1" | sort -rn
}

# case_times STAMPS: "WALL NAME" per test case ("binary: case"), slowest
# first: the wall seconds from its "#  RUN" line to the next stamped line
# (TESTVM_CASE_TIMES=1 stamps the RUN lines; the fixture teardown is in).
case_times() {
	[ -s "$1" ] || return 0
	awk '
		function close_prev(w) {
			if (name != "")
				printf "%.1f %s\n", w - wall, name
			name = ""
		}
		$2 == "#" && $3 == "----" { close_prev($1); bin = $4; next }
		$2 == "#" && $3 == "RUN" { close_prev($1); name = bin ": " $4; wall = $1; next }
		{ close_prev($1) }' "$1" | sort -rn
}

# suite_only [boot.sh options]: the svmtest.only= list; empty for the
# whole suite.
suite_only() {
	testvm_append_arg svmtest.only "$@"
}

# suite_env_full [boot.sh options]: true if the tests run with SVMTEST_FULL
# set (svmtest.env.SVMTEST_FULL=1 in TESTVM_APPEND or --append)
suite_env_full() {
	local full

	full=$(testvm_append_arg svmtest.env.SVMTEST_FULL "$@")
	[ -n "$full" ] && [ "$full" != 0 ]	# as svmtest_full() reads it
}

# suite_tests [boot.sh options]: the test binaries the test VMs run, in
# run_tests.sh's order, one per line: those of suite_only, else all of
# them; not the ones run on this machine (HOST_TESTS).
suite_tests() {
	local only

	only=$(suite_only "$@")
	if [ -n "$only" ]; then
		echo "$only" | tr ',' '\n' | grep -v '^$'
	else
		SVMTEST_LIST=1 sh "$OUT/payload/selftests/run_tests.sh"
	fi | grep -vxF -f <(printf '%s\n' "${HOST_TESTS[@]}" "")
}

# host_tests NAME...: run these test binaries of $OUT/host here with the
# payload's run_tests.sh (SVMTEST_NO_MODULE=1: they need no module), whose
# TAP goes into the merged stream as "host"
host_tests() {
	cp "$OUT/payload/selftests/run_tests.sh" "$OUT/host/" &&
	SVMTEST_NO_MODULE=1 SVMTEST_ONLY="$*" sh "$OUT/host/run_tests.sh"
}

# split_suite N [HEAD]: the binaries on stdin as N comma-separated lists,
# one per test VM, balanced by $TESTVM_SUITE_TIMES ("SECONDS NAME": the
# measured wall time of each binary; 60 for one not listed), heaviest
# first onto the least loaded VM, the first VM starting with HEAD seconds
# of load (the background builds' share of a core: that VM ends about that
# much sooner and the builds get its core); each list keeps the run order
# (so kvm_coexist_test and signal_test stay last in theirs). Fewer lists
# when there are fewer binaries.
split_suite() {
	awk -v jobs="$1" -v head="${2:-0}" -v wfile="${TESTVM_SUITE_TIMES:-$TESTVM_TOP/testvm/suite-times.txt}" '
		BEGIN {
			while ((getline l < wfile) > 0) {
				if (l ~ /^[ \t]*(#|$)/)
					continue
				split(l, f)
				w[f[2]] = f[1] + 0
			}
		}
		{ name[NR] = $1; weight[NR] = ($1 in w) ? w[$1] : 60 }
		END {
			n = NR
			if (jobs > n)
				jobs = n
			load[1] = head
			for (i = 1; i <= n; i++)
				idx[i] = i
			for (i = 2; i <= n; i++)
				for (k = i; k > 1 && weight[idx[k]] > weight[idx[k - 1]]; k--) {
					t = idx[k]; idx[k] = idx[k - 1]; idx[k - 1] = t
				}
			for (k = 1; k <= n; k++) {
				best = 1
				for (j = 2; j <= jobs; j++)
					if (load[j] < load[best])
						best = j
				vm[idx[k]] = best
				load[best] += weight[idx[k]]
			}
			for (j = 1; j <= jobs; j++) {
				out = ""
				for (i = 1; i <= n; i++)
					if (vm[i] == j)
						out = out (out == "" ? "" : ",") name[i]
				print out
			}
		}'
}

# shard_payload LIST DIR: DIR = the payload (hard links) with only what
# the comma-separated test binaries of LIST need: their own binaries, not
# the others', nor the benchmarks; the Linux guest's kernel, initramfs and
# disk image only with linux_guest_test. A smaller initramfs boots faster.
shard_payload() {
	local f name

	rm -rf "$2"
	cp -al "$OUT/payload" "$2" || return 1
	for f in "$2"/selftests/*; do
		name=${f##*/}
		case $name in
		*_test)
			case ",$1," in
			*",$name,"*) ;;
			*) rm -f "$f" ;;
			esac
			;;
		mmu_bench | run_bench.sh | linux_bench.sh)
			rm -f "$f"
			;;
		vmlinuz | vmlinux | linux-initramfs.cpio | linux-disk.img)
			case ",$1," in
			*,linux_guest_test,*) ;;
			*) rm -f "$f" ;;
			esac
			;;
		esac
	done
}

# show_progress: while the VMs run, one line per test binary started in
# any of them ("check: vmN MMmSS ---- NAME ...", wall time since that VM's
# Bochs started), from the stamps files of boot.sh --stamp.
show_progress() {
	local i n f seen=()

	while sleep 10; do
		for i in "${!VMDIRS[@]}"; do
			f=${VMDIRS[$i]}/stamps
			[ -f "$f" ] || continue
			n=$(wc -l <"$f")
			[ "$n" -gt "${seen[$i]:-0}" ] || continue
			sed -n "$((${seen[$i]:-0} + 1)),${n}p" "$f" |
				awk -v vm="vm$((i + 1))" '{
					t = $1; sub(/^[^ ]+ /, "")
					printf "check: %s %dm%02ds %s\n", vm, t / 60, t % 60, $0
				}'
			seen[i]=$n
		done
	done
}

# check_builds: the in-tree kselftest build, then the dkms builds; their
# output and how long each took in $OUT/builds.log; status 0 when both
# succeeded.
check_builds() {
	local t=$SECONDS

	check_ksft_tree || {
		echo "check: FAIL: the in-tree kselftest build failed (see above)"
		return 1
	}
	echo "check: in-tree kselftest build took $((SECONDS - t)) s"
	t=$SECONDS
	check_dkms || {
		echo "check: FAIL: dkms build failed (see above)"
		return 1
	}
	echo "check: dkms builds took $((SECONDS - t)) s"
}

cd "$TESTVM_TOP"
mkdir -p "$OUT"
testvm_build runner selftests || die "build failed (see above)"
testvm_payload "$OUT/payload" selftests || die "cannot assemble the payload"
# The in-tree kselftest and dkms builds only prove that the sources build
# there; the test VMs need neither. They run in the background at the
# lowest CPU priority while the VMs boot and run (on the CPU a finished or
# absent VM leaves free), and the run waits for them and fails if they
# failed, as before. TESTVM_SERIAL_BUILDS=1: before the VMs instead.
# TESTVM_BUILDS=0 skips them; the default is to run them for the whole
# suite and to skip them for a subset (svmtest.only=...), which tests
# binaries, not the packaging.
rm -f "$OUT/builds.log"
BUILDS_PID=
BUILDS=${TESTVM_BUILDS:-1}
[ -n "${TESTVM_BUILDS:-}" ] || [ -z "$(suite_only "$@")" ] || BUILDS=0
if [ "$BUILDS" = 0 ]; then
	echo "check: in-tree kselftest and dkms builds skipped (a subset of the suite; TESTVM_BUILDS=1 runs them)"
elif [ "${TESTVM_SERIAL_BUILDS:-0}" = 1 ]; then
	check_builds 2>&1 | tee "$OUT/builds.log" ||
		die "the kselftest/dkms builds failed (see above)"
else
	(renice -n 19 -p "$BASHPID" >/dev/null 2>&1 || true
	 check_builds) >"$OUT/builds.log" 2>&1 &
	BUILDS_PID=$!
	echo "check: in-tree kselftest and dkms builds run in the background (log: ${OUT#"$TESTVM_TOP"/}/builds.log)"
fi
[ -f "$OUT/payload/selftests/run_tests.sh" ] ||
	die "'make -C selftests install' did not install run_tests.sh"
cp testvm/guest-check.sh "$OUT/payload/"
# linux_guest_test boots the test machine's own kernel as a guest: its
# bzImage with SVMTEST_FULL=1 (make check-full), otherwise the same kernel
# as an ELF vmlinux (the guest's XZ decompression of the bzImage is most of
# a boot's cost). The payload has only the one it boots: every byte of it
# is loaded by the BIOS and unpacked by the test VM's kernel.
# TESTVM_GUEST_VMLINUZ: another kernel for that guest (make check-debug
# boots Debian's stock one there, not the debug kernel).
rm -f "$OUT/payload/selftests/vmlinuz" "$OUT/payload/selftests/vmlinux"
GUEST_VMLINUZ=${TESTVM_GUEST_VMLINUZ:-$TESTVM_VMLINUZ}
GUEST_LZ4=${TESTVM_VMLINUX_LZ4:-}
[ -z "${TESTVM_GUEST_VMLINUZ:-}" ] || GUEST_LZ4=	# that one is the test VM's kernel
if suite_env_full "$@"; then
	cp "$GUEST_VMLINUZ" "$OUT/payload/selftests/vmlinuz"
else
	VMLINUX_ELF=$(TESTVM_VMLINUZ=$GUEST_VMLINUZ TESTVM_VMLINUX_LZ4=$GUEST_LZ4 testvm_vmlinux_elf) ||
		die "cannot extract vmlinux from $GUEST_VMLINUZ"
	cp "$VMLINUX_ELF" "$OUT/payload/selftests/vmlinux"
fi
# Test binaries that need neither the module nor VT-x (the instruction
# emulator's userspace unit test) run on this machine instead of in a test
# VM: emulator_test takes half a second here and 35 s of an emulated CPU.
# TESTVM_HOST_TESTS=0 leaves them in the VMs. They run before the VMs
# boot; their TAP ("host" in the merged stream) is in $OUT/host/tap.txt.
HOST_CANDIDATES="emulator_test"
HOST_TESTS=()
rm -rf "$OUT/host"
if [ "${TESTVM_HOST_TESTS:-1}" != 0 ]; then
	ONLY=$(suite_only "$@")
	for t in $HOST_CANDIDATES; do
		[ -x "$OUT/payload/selftests/$t" ] || continue
		[ -z "$ONLY" ] || [[ ",$ONLY," == *",$t,"* ]] || continue
		mkdir -p "$OUT/host"
		mv "$OUT/payload/selftests/$t" "$OUT/host/"
		HOST_TESTS+=("$t")
	done
	if [ "${#HOST_TESTS[@]}" -gt 0 ]; then
		echo "check: on this machine: ${HOST_TESTS[*]}"
		# a failure is in the TAP, counted with the rest
		host_tests "${HOST_TESTS[@]}" >"$OUT/host/tap.txt" || true
	fi
fi
T_BUILD=$SECONDS

rm -f "$OUT/tap.txt" "$OUT/dmesg.txt" "$OUT/times.txt"
rm -rf "$OUT"/vm "$OUT"/vm[0-9]*
STAMP_ARGS=(--stamp '# ---- ' --stamp TESTVM-TAP-END)
[ "${TESTVM_CASE_TIMES:-0}" != 1 ] || STAMP_ARGS+=(--stamp '#  RUN ')
rm -f "$OUT/case-times.txt"
BOOT_RCS=()
if [ "$JOBS" -le 1 ]; then
	rc=0
	bash testvm/boot.sh --payload "$OUT/payload" --script guest-check.sh \
		--timeout "$TIMEOUT" --out "$OUT/vm" "${STAMP_ARGS[@]}" \
		--no-echo TESTVM-DMESG-BEGIN:TESTVM-DMESG-END "$@" || rc=$?
	VMDIRS=("$OUT/vm")
	BOOT_RCS=("$rc")
	SHARDS=("$(suite_tests "$@" | paste -sd,)")
else
	# the background builds need a core: with a VM on every core, the
	# first VM gets TESTVM_BUILDS_WEIGHT (default 60) seconds less work
	HEAD=0
	if [ -n "$BUILDS_PID" ] && [ "$JOBS" -ge "$(nproc 2>/dev/null || echo 1)" ]; then
		HEAD=${TESTVM_BUILDS_WEIGHT:-60}
	fi
	mapfile -t SHARDS < <(suite_tests "$@" | split_suite "$JOBS" "$HEAD")
	VMDIRS=()
	PIDS=()
	for i in "${!SHARDS[@]}"; do
		d=$OUT/vm$((i + 1))
		VMDIRS+=("$d")
		mkdir -p "$d"
		echo "check: vm$((i + 1)) runs: ${SHARDS[$i]//,/ }"
		shard_payload "${SHARDS[$i]}" "$d/payload" ||
			die "cannot assemble vm$((i + 1))'s payload"
		bash testvm/boot.sh --payload "$d/payload" --script guest-check.sh \
			--timeout "$TIMEOUT" --out "$d" "${STAMP_ARGS[@]}" --quiet \
			"$@" --append "svmtest.only=${SHARDS[$i]}" >"$d/boot.log" 2>&1 &
		PIDS+=($!)
		# one at a time through boot.sh's builds (shared caches): the
		# next VM starts once this one's serial listener is up
		while kill -0 "${PIDS[$i]}" 2>/dev/null && [ ! -s "$d/port" ]; do
			sleep 1
		done
	done
	show_progress &
	PROGRESS_PID=$!
	for i in "${!PIDS[@]}"; do
		rc=0
		wait "${PIDS[$i]}" || rc=$?
		BOOT_RCS+=("$rc")
	done
	kill "$PROGRESS_PID" 2>/dev/null || true
	wait "$PROGRESS_PID" 2>/dev/null || true
	for i in "${!VMDIRS[@]}"; do
		grep -E '^testvm: ' "${VMDIRS[$i]}/boot.log" | sed "s/^testvm: /check: vm$((i + 1)): /"
	done
fi
T_VM=$SECONDS
BUILDS_RC=0
if [ -n "$BUILDS_PID" ]; then
	wait "$BUILDS_PID" || BUILDS_RC=$?
	T_WAITED=$((SECONDS - T_VM))
	[ "$BUILDS_RC" = 0 ] || tail -n 40 "$OUT/builds.log"
	grep '^check: .* took ' "$OUT/builds.log" || true
	[ "$T_WAITED" -lt 2 ] || echo "check: waited $T_WAITED s for them after the VMs"
fi
T_END=$SECONDS

# Text between BEGIN and END lines of console $1 (END optional: the VM may
# have died). Kernel lines (printk timestamps) interleaved with the TAP are
# dropped.
between() {
	[ -f "$1" ] || return 0
	awk -v b="$2" -v e="$3" -v keep_kernel="$4" '
		index($0, e) == 1 { exit }
		on && (keep_kernel || $0 !~ /^\[ *[0-9]+\.[0-9]+\] /) { print }
		index($0, b) == 1 { on = 1 }' "$1"
}
if [ "${#VMDIRS[@]}" -eq 1 ] && [ "${#HOST_TESTS[@]}" -eq 0 ]; then
	between "${VMDIRS[0]}/console.log" TESTVM-TAP-BEGIN TESTVM-TAP-END 0 >"$OUT/tap.txt"
	between "${VMDIRS[0]}/console.log" TESTVM-DMESG-BEGIN TESTVM-DMESG-END 1 >"$OUT/dmesg.txt"
	binary_times "${VMDIRS[0]}/stamps" >"$OUT/times.txt"
	[ "${TESTVM_CASE_TIMES:-0}" != 1 ] ||
		case_times "${VMDIRS[0]}/stamps" >"$OUT/case-times.txt"
else
	# one TAP stream: each VM's lines in turn, renumbered; the per-VM
	# setup/teardown cases are told apart by "(vmN)"; the plan is the sum
	# of the VMs' plans (none if a VM printed none)
	# (the tests run on this machine first, as "host")
	{
		if [ "${#HOST_TESTS[@]}" -gt 0 ]; then
			echo "# ==== this machine runs: ${HOST_TESTS[*]}"
			sed "s/^/host /" "$OUT/host/tap.txt"
		fi
		for i in "${!VMDIRS[@]}"; do
			echo "# ==== vm$((i + 1)) runs: ${SHARDS[$i]//,/ }"
			between "${VMDIRS[$i]}/console.log" TESTVM-TAP-BEGIN TESTVM-TAP-END 0 |
				sed "s/^/vm$((i + 1)) /"
		done
	} | awk -v nvm="$(( ${#VMDIRS[@]} + (${#HOST_TESTS[@]} > 0) ))" '
		BEGIN { print "TAP version 13" }
		{
			vm = ""
			if ($1 ~ /^(vm[0-9]+|host)$/) { vm = $1; sub(/^[^ ]+ /, "") }
		}
		/^TAP version/ { next }
		/^1\.\.[0-9]+/ { plan += substr($1, 4); plans++; next }
		/^[0-9]+ passed, [0-9]+ failed/ { print "# " vm ": " $0; next }
		/^(not )?ok [0-9]+ / {
			n++
			res = ($1 == "not") ? "not ok" : "ok"
			rest = $0
			sub(/^(not )?ok [0-9]+ /, "", rest)
			if (rest ~ /^(setup|teardown):/) {
				if (match(rest, / # [Ss][Kk][Ii][Pp]/))
					rest = substr(rest, 1, RSTART - 1) " (" vm ")" substr(rest, RSTART)
				else
					rest = rest " (" vm ")"
			}
			print res " " n " " rest
			next
		}
		{ print }
		END { if (plans == nvm) print "1.." plan }' >"$OUT/tap.txt"
	for i in "${!VMDIRS[@]}"; do
		echo "==== vm$((i + 1)) dmesg"
		between "${VMDIRS[$i]}/console.log" TESTVM-DMESG-BEGIN TESTVM-DMESG-END 1
	done >"$OUT/dmesg.txt"
	for d in "${VMDIRS[@]}"; do
		binary_times "$d/stamps"
	done | sort -rn >"$OUT/times.txt"
	if [ "${TESTVM_CASE_TIMES:-0}" = 1 ]; then
		for d in "${VMDIRS[@]}"; do
			case_times "$d/stamps"
		done | sort -rn >"$OUT/case-times.txt"
	fi
fi

# passed failed skipped plan bailed
read -r PASSED FAILED SKIPPED PLAN BAILED < <(awk '
	function skip(l) { return l ~ /#[ \t]*[Ss][Kk][Ii][Pp]/ }
	/^ok( |$)/ { if (skip($0)) s++; else p++; next }
	/^not ok( |$)/ { if (skip($0)) s++; else f++; next }
	/^1\.\.[0-9]+/ { if (plan == "") { plan = $1; sub(/^1\.\./, "", plan) } }
	/^Bail out!/ { bail = 1 }
	END { printf "%d %d %d %s %d\n", p, f, s, plan == "" ? "-" : plan, bail }' \
	"$OUT/tap.txt")
TOTAL=$((PASSED + FAILED + SKIPPED))

FAIL=0
CONSOLES=$(printf '%s/console.log ' "${VMDIRS[@]#"$TESTVM_TOP"/}")
echo "check: TAP in ${OUT#"$TESTVM_TOP"/}/tap.txt, dmesg in ${OUT#"$TESTVM_TOP"/}/dmesg.txt, console in ${CONSOLES% }"
if [ "$FAILED" -gt 0 ]; then
	echo "check: failed tests:"
	grep -E '^not ok( |$)' "$OUT/tap.txt" | grep -viE '#[[:space:]]*skip' |
		sed 's/^/check:   /'
	FAIL=1
fi
for i in "${!BOOT_RCS[@]}"; do
	rc=${BOOT_RCS[$i]}
	vm=
	[ "${#BOOT_RCS[@]}" -gt 1 ] && vm=" vm$((i + 1))"
	if [ "$rc" -ge "$TESTVM_E_SETUP" ]; then
		echo "check: FAIL: the test VM$vm failed (testvm/boot.sh exit status $rc, reason above${vm:+; its log: ${VMDIRS[$i]#"$TESTVM_TOP"/}/boot.log})"
		FAIL=1
	elif [ "$rc" -ne 0 ]; then
		echo "check: FAIL: run_tests.sh$vm exited with status $rc"
		FAIL=1
	fi
done
if [ "$TOTAL" -eq 0 ]; then
	echo "check: FAIL: no test ran"
	FAIL=1
fi
if [ "$PLAN" != - ] && [ "$PLAN" -ne "$TOTAL" ]; then
	echo "check: FAIL: the TAP plan announced $PLAN tests, $TOTAL reported"
	FAIL=1
fi
if [ "$BAILED" = 1 ]; then
	echo "check: FAIL: the TAP stream bailed out:"
	grep '^Bail out!' "$OUT/tap.txt" | sed 's/^/check:   /'
	FAIL=1
fi
# Skips must be expected: selftests/expected-skips.txt lists "binary: test"
# and the reason; any other skip fails the run.
UNEXPECTED=$(awk -v list="$EXPECTED_SKIPS" '
	BEGIN {
		while ((getline l < list) > 0) {
			if (l ~ /^[ \t]*(#|$)/) continue
			sub(/[ \t][ \t]+.*$/, "", l)
			want[l] = 1
		}
	}
	/^ok [0-9]+ .*#[ \t]*[Ss][Kk][Ii][Pp]/ {
		name = $0
		sub(/^ok [0-9]+ /, "", name)
		reason = name
		sub(/[ \t]*#[ \t]*[Ss][Kk][Ii][Pp].*$/, "", name)
		sub(/^.*#[ \t]*[Ss][Kk][Ii][Pp][ \t]*/, "", reason)
		if (name in want) seen[name] = 1
		else printf "%s (%s)\n", name, reason
	}
	END {
		for (n in want)
			if (!(n in seen)) printf "NOTE %s\n", n > "/dev/stderr"
	}' "$OUT/tap.txt" 2>"$OUT/.skips-not-seen")
if [ -n "$UNEXPECTED" ]; then
	echo "check: FAIL: unexpected skips (not in ${EXPECTED_SKIPS#"$TESTVM_TOP"/}):"
	echo "$UNEXPECTED" | sed 's/^/check:   /'
	FAIL=1
fi
if [ -s "$OUT/.skips-not-seen" ] && [ "$TOTAL" -gt 0 ] && [ -z "${TESTVM_APPEND:-}" ]; then
	echo "check: note: expected skips that did not skip (ran, or were not run):"
	sed 's/^NOTE /check:   /' "$OUT/.skips-not-seen"
fi
rm -f "$OUT/.skips-not-seen"
if [ "$BUILDS_RC" != 0 ]; then
	echo "check: FAIL: the in-tree kselftest or dkms build failed (${OUT#"$TESTVM_TOP"/}/builds.log)"
	FAIL=1
fi
PROBLEMS=$(testvm_kernel_problems "$OUT/dmesg.txt")
if [ -n "$PROBLEMS" ]; then
	echo "check: FAIL: kernel problems in the guest's dmesg:"
	echo "$PROBLEMS" | head -n 20 | sed 's/^/check:   /'
	FAIL=1
fi
GUEST_SUMMARY=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$OUT/tap.txt" | tail -n 1 || true)
if [ -n "$GUEST_SUMMARY" ] &&
   [ "$(echo "$GUEST_SUMMARY" | sed 's/, [0-9]* skipped$//')" != "$PASSED passed, $FAILED failed" ]; then
	echo "check: note: run_tests.sh said '$GUEST_SUMMARY'; the TAP lines say otherwise"
fi

if [ -s "$OUT/times.txt" ]; then
	echo "check: slowest test binaries (wall s, guest s; all in ${OUT#"$TESTVM_TOP"/}/times.txt):"
	head -n 8 "$OUT/times.txt" | sed 's/^/check:   /'
fi
# What each failed case said, last before the summary (a CI log shows its
# tail): the last lines it quoted (guest console, runner output:
# "FILE:LINE:CASE:what| text"), then its own messages.
if [ "$FAILED" -gt 0 ]; then
	awk '
		/^#  RUN / { no = 0; nq = 0; next }
		/^# / {
			if ($0 ~ /^# [^ ]+:[0-9]+:[^ ]+:[a-z]+\| /)
				q[nq++ % 6] = $0
			else if (no < 12)
				own[no++] = $0
			next
		}
		/^not ok / && $0 !~ /#[ \t]*[Ss][Kk][Ii][Pp]/ {
			if (shown++ >= 4) next
			h = $0
			sub(/^not ok [0-9]+ /, "", h)
			print "--- " h " said:"
			for (i = (nq > 6 ? nq - 6 : 0); i < nq; i++) print q[i % 6]
			for (i = 0; i < no; i++) print own[i]
		}' "$OUT/tap.txt" | cut -c1-300 | sed 's/^/check: /'
fi
echo "check: wall time $(testvm_fmt_secs $((T_END - T0))) (prepare+build $(testvm_fmt_secs $((T_BUILD - T0))), VM $(testvm_fmt_secs $((T_VM - T_BUILD)))$([ "$T_END" -le "$T_VM" ] || echo ", then the background builds $(testvm_fmt_secs $((T_END - T_VM)))"))"
[ "$FAIL" = 0 ] || echo "check: FAILED"
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
exit "$FAIL"
