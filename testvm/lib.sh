# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# testvm/lib.sh - helpers shared by the testvm scripts (sourced, not run).
#
# Exit codes of testvm/boot.sh (also used by check.sh, demo.sh, bench.sh):
#   0..119  the guest script's own exit status (end marker seen, kernel clean)
#   119     also: the guest script exited with a status >= 119
#   120     harness error (bad usage, missing package or file, the serial
#           listener did not start)
#   121     the guest ended (powered off) without printing the end marker
#   122     Bochs failed: triple fault ("exception with no resolution"),
#           another Bochs PANIC, Bochs died of a signal before the guest
#           powered off, or exited before the guest printed anything
#   123     kernel problem in the console: BUG/Oops/WARNING/soft lockup/hung
#           task/general protection/KASAN/UBSAN/RCU stall/Call Trace
#   124     timeout: --timeout expired, or the guest kernel hung (no
#           heartbeat for TESTVM_HANG_SECS)
#   125     guest kernel panic
# When several apply, the lowest line of this list wins: panic, kernel
# problem, Bochs panic, timeout, missing end marker, script status.

# shellcheck disable=SC2034 # used by the scripts that source this file
TESTVM_E_SCRIPT_MAX=119
TESTVM_E_SETUP=120
TESTVM_E_NOMARKER=121
TESTVM_E_BOCHS=122
TESTVM_E_KERNEL=123
TESTVM_E_TIMEOUT=124
TESTVM_E_PANIC=125

TESTVM_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TESTVM_BUILD=${TESTVM_BUILD:-$TESTVM_TOP/build}

# Kernel messages that fail a run. Matched only on kernel lines, i.e. right
# after a printk timestamp "[   12.345678] ", so that test output cannot
# trip them. TESTVM_IGNORE (an extended regex) drops matching lines.
# The debug kernel's detectors (testvm/debug.config) print these too: KASAN
# and KFENCE ("BUG: KASAN:", "BUG: KFENCE:"), UBSAN, lockdep ("WARNING:
# possible circular locking dependency", "inconsistent lock state", ...),
# "suspicious RCU usage", "BUG: sleeping function called from invalid
# context", DEBUG_LIST ("list_add corruption"), kmemleak ("N new suspected
# memory leaks"), the hung-task detector ("INFO: task ... blocked for more
# than") and the soft-lockup watchdog.
TESTVM_KERNEL_PROBLEM_RE='BUG:|kernel BUG at|Oops|WARNING:|soft lockup|hard LOCKUP|blocked for more than|hung_task|general protection|KASAN|KFENCE|UBSAN|Call Trace:|self-detected stall|detected stalls|Kernel panic|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|sleeping function called from invalid context|bad unlock balance|lock held when returning to user space|list_(add|del) corruption|suspected memory leak|unreferenced object 0x|DEBUG_LOCKS_WARN_ON'

TESTVM_TS_RE='\[ *[0-9]+\.[0-9]+\] '

# testvm_kernel_problems FILE: print FILE's kernel problem lines, once each
# (a dmesg dump repeats what the console showed).
testvm_kernel_problems() {
	grep -aE "${TESTVM_TS_RE}.*(${TESTVM_KERNEL_PROBLEM_RE})" "$1" |
		if [ -n "${TESTVM_IGNORE:-}" ]; then
			grep -avE "$TESTVM_IGNORE"
		else
			cat
		fi | awk '!seen[$0]++' || true
}

# testvm_env: load build/testvm/env-$TESTVM_KERNEL.sh (written by
# prepare.sh; series 6.1 by default) unless the caller already exported
# TESTVM_VMLINUZ.
testvm_env() {
	local env=$TESTVM_BUILD/testvm/env-${TESTVM_KERNEL:-6.1}.sh

	[ -n "${TESTVM_VMLINUZ:-}" ] && return 0
	# An env.sh from an older prepare.sh of the same series will do.
	if [ ! -f "$env" ] &&
	   grep -qx "export TESTVM_KERNEL=${TESTVM_KERNEL:-6.1}" "${env%-*}.sh" 2>/dev/null; then
		env=${env%-*}.sh
	fi
	if [ ! -f "$env" ]; then
		echo "testvm: $env is missing: run testvm/prepare.sh first" >&2
		return 1
	fi
	# shellcheck disable=SC1090
	. "$env"
}

# testvm_build TARGET...: prepare the machine, build the module against the
# VM's kernel headers, then the given userspace targets of the top-level
# Makefile (e.g. runner selftests) as static binaries for the VM.
testvm_build() {
	local jobs

	jobs=$(nproc 2>/dev/null || echo 2)
	bash "$TESTVM_TOP/testvm/prepare.sh" || {
		echo "testvm: testvm/prepare.sh failed" >&2
		return 1
	}
	testvm_env || return 1
	echo "testvm: building the module against $TESTVM_KDIR"
	make -j"$jobs" -C "$TESTVM_TOP" module KDIR="$TESTVM_KDIR" || {
		echo "testvm: 'make module KDIR=$TESTVM_KDIR' failed" >&2
		return 1
	}
	[ $# -gt 0 ] || return 0
	echo "testvm: building $* (static)"
	make -j"$jobs" -C "$TESTVM_TOP" "$@" KSFT_DIR="$KSFT_DIR" STATIC=1 || {
		echo "testvm: 'make $* KSFT_DIR=$KSFT_DIR STATIC=1' failed" >&2
		return 1
	}
}

# testvm_payload DIR [selftests]: fill DIR (emptied first) with shadowvm.ko
# and the runner `shadowvm`, and with `make -C selftests install
# DESTDIR=DIR/selftests` when asked. Checks that the binaries are static.
testvm_payload() {
	local dir=$1 f

	rm -rf "$dir"
	mkdir -p "$dir"
	for f in kmod/shadowvm.ko userspace-tool/shadowvm; do
		[ -f "$TESTVM_TOP/$f" ] || {
			echo "testvm: $f was not built" >&2
			return 1
		}
		cp "$TESTVM_TOP/$f" "$dir/"
	done
	testvm_need_static "$dir/shadowvm" || return 1
	if [ "${2:-}" != selftests ]; then
		testvm_strip_debug "$dir"
		return 0
	fi
	make -C "$TESTVM_TOP/selftests" install DESTDIR="$dir/selftests" \
		KSFT_DIR="$KSFT_DIR" STATIC=1 || {
		echo "testvm: 'make -C selftests install DESTDIR=$dir/selftests' failed" >&2
		return 1
	}
	# shellcheck disable=SC2046
	testvm_need_static $(find "$dir/selftests" -type f) || return 1
	testvm_strip_debug "$dir"
}

# testvm_strip_debug DIR: drop the debug info of the ELF files under DIR
# (copies in a payload): a smaller initramfs loads faster in Bochs. Symbols
# stay, so kernel traces still name the functions.
testvm_strip_debug() {
	local f

	find "$1" -type f | while read -r f; do
		if head -c 4 "$f" | grep -q 'ELF'; then
			strip --strip-debug "$f" 2>/dev/null || true
		fi
	done
}

# testvm_pvhboot: build (once) build/testvm/pvhboot.elf, the Multiboot image
# that starts vmlinux at startup_64 (x86-64 boot protocol), and print its
# path.
testvm_pvhboot() {
	local src=$TESTVM_TOP/testvm/pvhboot out=$TESTVM_BUILD/testvm/pvhboot.elf f

	for f in "$src"/*; do
		[ "$out" -nt "$f" ] || { rm -f "$out"; break; }
	done
	if [ ! -f "$out" ]; then
		gcc -m32 -march=i686 -ffreestanding -fno-pic -fno-pie \
			-fno-stack-protector -fno-asynchronous-unwind-tables \
			-mno-sse -mno-mmx -mno-80387 -O2 -Wall -nostdlib -static \
			-no-pie -Wl,-T,"$src/link.ld" -Wl,--build-id=none \
			-Wl,--no-warn-rwx-segments -o "$out.$$" \
			"$src/head.S" "$src/pvhboot.c" >&2 || return 1
		mv "$out.$$" "$out"
	fi
	echo "$out"
}

# testvm_heartbeat: build (once) build/testvm/testvm-heartbeat, the static
# guest helper of boot.sh's hang detection, and print its path.
testvm_heartbeat() {
	local src=$TESTVM_TOP/testvm/heartbeat.c out=$TESTVM_BUILD/testvm/testvm-heartbeat

	if [ ! -f "$out" ] || [ "$src" -nt "$out" ]; then
		gcc -O2 -Wall -static -o "$out.$$" "$src" >&2 || return 1
		mv "$out.$$" "$out"
	fi
	echo "$out"
}

# testvm_vmlinux_lz4: extract (once) the ELF vmlinux from $TESTVM_VMLINUZ
# (an XZ or ZSTD bzImage), compress it with lz4 -9 into build/testvm/, print
# the path. A kernel built here (testvm/prepare-debug.sh) brings its own:
# $TESTVM_VMLINUX_LZ4.
testvm_vmlinux_lz4() {
	local v=$TESTVM_VMLINUZ out setup off len unpack

	if [ -n "${TESTVM_VMLINUX_LZ4:-}" ]; then
		[ -f "$TESTVM_VMLINUX_LZ4" ] || {
			echo "testvm: $TESTVM_VMLINUX_LZ4 is missing" >&2
			return 1
		}
		echo "$TESTVM_VMLINUX_LZ4"
		return 0
	fi

	out=$TESTVM_BUILD/testvm/$(basename "$v").vmlinux.lz4
	if [ ! -f "$out" ] || [ "$v" -nt "$out" ]; then
		command -v lz4 >/dev/null || { echo "testvm: lz4 is not installed" >&2; return 1; }
		# bzImage header: setup_sects at 0x1f1, payload offset/length at 0x248.
		setup=$(od -An -tu1 -j $((0x1f1)) -N1 "$v" | tr -d ' ')
		off=$(od -An -tu4 -j $((0x248)) -N4 "$v" | tr -d ' ')
		len=$(od -An -tu4 -j $((0x24c)) -N4 "$v" | tr -d ' ')
		case $(od -An -tx1 -j $(((setup + 1) * 512 + off)) -N4 "$v" | tr -d ' ') in
		fd377a58) unpack="xz -dc" ;;
		28b52ffd) unpack="zstd -qdc" ;;
		*) echo "testvm: $v: kernel compression not XZ or ZSTD" >&2; return 1 ;;
		esac
		# The stream is followed by its 4-byte uncompressed size.
		if ! dd if="$v" iflag=skip_bytes,count_bytes status=none \
			skip=$(((setup + 1) * 512 + off)) count=$((len - 4)) |
			$unpack >"$out.$$.elf"; then
			echo "testvm: cannot extract vmlinux from $v" >&2
			rm -f "$out.$$.elf"
			return 1
		fi
		lz4 -9 -q -f "$out.$$.elf" "$out.$$" || return 1
		rm -f "$out.$$.elf"
		mv "$out.$$" "$out"
	fi
	echo "$out"
}

# testvm_strip_module_sig FILE...: drop the appended module signature
# ("~Module signature appended~") from each kernel module that has one.
# Debian signs its modules, and the test VM's kernel checks the signature
# at every insmod (a SHA-256 of the whole file, then RSA). For kvm.ko and
# kvm-intel.ko that is 0.11 s of the instruction clock per load, out of
# 0.18 s (measured 2026-12-01), and the suite loads KVM about ten times. The
# kernel does not enforce signatures (no module.sig_enforce, no Secure
# Boot), so it loads the unsigned copies as it loads shadowvm.ko, with the
# same "E" taint.
testvm_strip_module_sig() {
	python3 - "$@" <<'PYEOF'
import struct
import sys

MAGIC = b"~Module signature appended~\n"
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        data = f.read()
    if not data.endswith(MAGIC):
        continue
    # struct module_signature (12 bytes, sig_len big-endian last) + magic
    sig_len = struct.unpack(">I", data[-len(MAGIC) - 4:-len(MAGIC)])[0]
    if sig_len + 12 + len(MAGIC) > len(data):
        sys.exit("%s: bad module signature trailer" % path)
    with open(path, "wb") as f:
        f.write(data[:-(len(MAGIC) + 12 + sig_len)])
PYEOF
}

# testvm_sha256 FILE: print FILE's SHA-256 in hex.
testvm_sha256() {
	sha256sum <"$1" | cut -d' ' -f1
}

# testvm_bochs CPUS: print the Bochs executable for a machine of CPUS CPUs.
#
# Debian's bochs-bin is built with Bochs's internal debugger (the package
# configures --enable-debugger), which costs every emulated instruction a
# call to BX_CPU_C::dbg_instruction_epilog() and every memory access a call
# to bx_dbg_lin_memory_access() or bx_dbg_phy_memory_access(): about a
# third of Bochs's CPU time in the test VM (perf, 2026-12-01), and the same
# build leaves Bochs's handlers-chaining speedup off. Those hooks serve only
# the debugger's breakpoints, watchpoints, memory tracing, Ctrl-C into its
# prompt and, with several CPUs, its switch between them every few
# instructions; the test VM uses none of that with one CPU. So for one CPU,
# when the installed bochs-bin is exactly the build below, a copy in
# build/testvm has those three functions return at once (the epilogue
# returns 0: "no breakpoint"). The guest executes the same instructions and
# its instruction clock reads the same; only the host does less work.
# Anything else (another Bochs build, several CPUs, TESTVM_BOCHS_PATCH=0)
# runs Debian's binary as it is. Building Bochs without the debugger would
# be the clean fix; its source is not reachable from every machine that
# runs this suite.
TESTVM_BOCHS_SHA256=5b8b1bbe782917bbe08c3511c0e74adb969b1ac86698ce823f396327689f3ebc
TESTVM_BOCHS_FAST_SHA256=50c5332e56406a14cda9061e394dcffacb91f49432d45979d9def2c4fbe631ea
testvm_bochs() {
	local cpus=$1 stock out sites

	stock=$(command -v bochs-bin || true)
	if [ "$cpus" != 1 ] || [ "${TESTVM_BOCHS_PATCH:-1}" = 0 ] || [ -z "$stock" ] ||
	   [ "$(testvm_sha256 "$stock")" != "$TESTVM_BOCHS_SHA256" ]; then
		echo bochs
		return 0
	fi
	out=$TESTVM_BUILD/testvm/bochs-bin-nodbg
	if [ -x "$out" ] &&
	   [ "$(testvm_sha256 "$out")" = "$TESTVM_BOCHS_FAST_SHA256" ]; then
		echo "$out"
		return 0
	fi
	# file offset (= address in this PIE), expected first bytes, patch
	sites='0x14aee0 4157415641554154 31c0c3
0x134cf0 41574589c2415649 c3
0x135010 41574189ca415649 c3'
	cp "$stock" "$out.$$" || return 1
	while read -r off want patch; do
		if [ "$(od -An -tx1 -j $((off)) -N8 "$out.$$" | tr -d ' \n')" != "$want" ]; then
			rm -f "$out.$$"
			echo bochs
			return 0
		fi
		printf '%b' "$(echo "$patch" | sed 's/../\\x&/g')" |
			dd of="$out.$$" bs=1 seek=$((off)) conv=notrunc status=none || return 1
	done <<<"$sites"
	if [ "$(testvm_sha256 "$out.$$")" != "$TESTVM_BOCHS_FAST_SHA256" ]; then
		rm -f "$out.$$"
		echo bochs
		return 0
	fi
	chmod 755 "$out.$$" && mv "$out.$$" "$out"
	echo "$out"
}

# testvm_vmlinux_elf: the ELF vmlinux of $TESTVM_VMLINUZ, stripped of its
# symbols and of the zeros stored in its segments (testvm/elf-trim.py: 35
# of the 6.1 kernel's 65 MB are left), made once from testvm_vmlinux_lz4's
# copy into build/testvm/<bzImage>.vmlinux.trim; print its path.
# linux_guest_test boots it in `make check`: the bzImage's own XZ
# decompressor, run by the guest, cost a one-vCPU boot 1.27 of its 1.92 s
# of the instruction clock.
testvm_vmlinux_elf() {
	local lz out

	lz=$(testvm_vmlinux_lz4) || return 1
	out=${lz%.lz4}
	[ "$out" != "$lz" ] || out=$lz.elf
	out=$out.trim
	if [ ! -f "$out" ] || [ "$lz" -nt "$out" ] ||
	   [ "$TESTVM_TOP/testvm/elf-trim.py" -nt "$out" ]; then
		lz4 -dc "$lz" >"$out.$$" && strip --strip-all "$out.$$" &&
		python3 "$TESTVM_TOP/testvm/elf-trim.py" "$out.$$" "$out.$$.t" || {
			rm -f "$out.$$" "$out.$$.t"
			echo "testvm: cannot unpack $lz" >&2
			return 1
		}
		rm -f "$out.$$"
		mv "$out.$$.t" "$out"
	fi
	echo "$out"
}

# testvm_need_static FILE...: fail unless each ELF file is statically linked
# (the VM has no libc).
testvm_need_static() {
	local f

	for f in "$@"; do
		[ -f "$f" ] || { echo "testvm: $f is missing" >&2; return 1; }
		head -c 4 "$f" | grep -q 'ELF' || continue
		if readelf -l "$f" 2>/dev/null | grep -q 'Requesting program interpreter'; then
			echo "testvm: $f is dynamically linked; the VM needs static binaries (STATIC=1)" >&2
			return 1
		fi
	done
}

# testvm_fmt_secs SECONDS: "3m05s"
testvm_fmt_secs() {
	printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

# testvm_append_arg NAME [boot.sh options]: the value of the last "NAME="
# word of TESTVM_APPEND and of the --append options (the guest kernel's
# command line: svmtest.only=, svmtest.env.X=, ...); empty if there is none.
testvm_append_arg() {
	local name=$1 val="" a
	shift
	# shellcheck disable=SC2048,SC2086 # split --append's words too
	for a in ${TESTVM_APPEND:-} $*; do
		case $a in
		"$name"=*) val=${a#"$name"=} ;;
		esac
	done
	echo "$val"
}
