#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# testvm/check.sh - `make check`: build everything and run the whole selftest
# suite inside the emulated VT-x test machine (Bochs).
#
# Usage: testvm/check.sh [boot.sh options, e.g. --cpu-model core2_penryn_t9600]
#
# Steps: testvm/prepare.sh; `make module KDIR=$TESTVM_KDIR`; `make runner
# selftests KSFT_DIR=build/ksft STATIC=1`; the in-tree kselftest build
# (`make -C tools/testing/selftests TARGETS=shadowvm` in build/ksft-tree,
# log in build/check/ksft-tree.log); `dkms build` for the 6.1 and 6.12
# kernels (private trees in build/dkms/, nothing installed); payload build/check/payload/ =
# shadowvm.ko, shadowvm, selftests/ (`make -C selftests install DESTDIR=...`,
# plus the test kernel's bzImage as selftests/vmlinuz for linux_guest_test)
# and guest-check.sh; testvm/boot.sh runs guest-check.sh in the VM (console
# streamed live, kept in build/check/vm/console.log). Afterwards:
#   build/check/tap.txt    the TAP of run_tests.sh (kernel lines removed)
#   build/check/dmesg.txt  the guest's dmesg after the tests
# The last line printed is "N passed, N failed, N skipped", counted from the
# top-level "ok"/"not ok" lines ("# SKIP" counts as skipped).
#
# Environment: TESTVM_TIMEOUT (seconds for the VM, default 4800),
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
T0=$SECONDS

die() {
	echo "check: FAIL: $*" >&2
	exit 1
}

# The suite as a kselftest target of a kernel tree: build/ksft-tree/ (the
# kselftest build files of linux-source-6.1, from prepare.sh) gets selftests/
# as tools/testing/selftests/shadowvm (`make -C selftests ksft-tree`), then
# `make -C tools/testing/selftests TARGETS=shadowvm` builds it there.
check_ksft_tree() {
	local tree=${KSFT_TREE:-$TESTVM_BUILD/ksft-tree}

	echo "check: in-tree kselftest build in ${tree#"$TESTVM_TOP"/}"
	make -s -C selftests ksft-tree KSRC="$tree" &&
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

cd "$TESTVM_TOP"
mkdir -p "$OUT"
testvm_build runner selftests || die "build failed (see above)"
check_ksft_tree || die "the in-tree kselftest build failed (see above)"
check_dkms || die "dkms build failed (see above)"
testvm_payload "$OUT/payload" selftests || die "cannot assemble the payload"
[ -f "$OUT/payload/selftests/run_tests.sh" ] ||
	die "'make -C selftests install' did not install run_tests.sh"
cp testvm/guest-check.sh "$OUT/payload/"
# linux_guest_test boots the test machine's own kernel as a guest
cp "$TESTVM_VMLINUZ" "$OUT/payload/selftests/vmlinuz"
T_BUILD=$SECONDS

rm -f "$OUT/tap.txt" "$OUT/dmesg.txt"
BOOT_RC=0
bash testvm/boot.sh --payload "$OUT/payload" --script guest-check.sh \
	--timeout "$TIMEOUT" --out "$OUT/vm" --stamp '# ---- ' --stamp TESTVM-TAP-END \
	--no-echo TESTVM-DMESG-BEGIN:TESTVM-DMESG-END "$@" || BOOT_RC=$?
T_VM=$SECONDS
binary_times "$OUT/vm/stamps" >"$OUT/times.txt"
CONSOLE=$OUT/vm/console.log
[ -f "$CONSOLE" ] || touch "$CONSOLE"

# Text between BEGIN and END lines (END optional: the VM may have died).
# Kernel lines (printk timestamps) interleaved with the TAP are dropped.
between() {
	awk -v b="$1" -v e="$2" -v keep_kernel="$3" '
		index($0, e) == 1 { exit }
		on && (keep_kernel || $0 !~ /^\[ *[0-9]+\.[0-9]+\] /) { print }
		index($0, b) == 1 { on = 1 }' "$CONSOLE"
}
between TESTVM-TAP-BEGIN TESTVM-TAP-END 0 >"$OUT/tap.txt"
between TESTVM-DMESG-BEGIN TESTVM-DMESG-END 1 >"$OUT/dmesg.txt"

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
echo "check: TAP in ${OUT#"$TESTVM_TOP"/}/tap.txt, dmesg in ${OUT#"$TESTVM_TOP"/}/dmesg.txt, console in ${OUT#"$TESTVM_TOP"/}/vm/console.log"
if [ "$FAILED" -gt 0 ]; then
	echo "check: failed tests:"
	grep -E '^not ok( |$)' "$OUT/tap.txt" | grep -viE '#[[:space:]]*skip' |
		sed 's/^/check:   /'
	FAIL=1
fi
if [ "$BOOT_RC" -ge "$TESTVM_E_SETUP" ]; then
	echo "check: FAIL: the test VM failed (testvm/boot.sh exit status $BOOT_RC, reason above)"
	FAIL=1
elif [ "$BOOT_RC" -ne 0 ]; then
	echo "check: FAIL: run_tests.sh exited with status $BOOT_RC"
	FAIL=1
fi
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
echo "check: wall time $(testvm_fmt_secs $((T_VM - T0))) (prepare+build $(testvm_fmt_secs $((T_BUILD - T0))), VM $(testvm_fmt_secs $((T_VM - T_BUILD))))"
[ "$FAIL" = 0 ] || echo "check: FAILED"
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
exit "$FAIL"
