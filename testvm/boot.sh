#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# testvm/boot.sh - boot the test kernel in Bochs (emulated VT-x) and run one
# script from a payload directory inside it.
#
# Usage:
#   testvm/boot.sh --payload DIR --script NAME --timeout SECONDS --out DIR
#                  [--cpu-model MODEL] [--cpus N] [--append "KERNEL ARGS"]
#                  [--log-bochs] [--quiet] [--no-echo BEGIN:END]
#                  [--stamp PREFIX]...
#
#   --payload DIR     copied to /payload in the VM's initramfs
#   --script NAME     run as `sh /payload/NAME` (cwd /payload, stdin /dev/null),
#                     stdout+stderr on the console (ttyS0)
#   --timeout SECS    wall-clock limit for Bochs (then SIGTERM, SIGKILL 30 s later)
#   --out DIR         console.log (the guest's serial console, CRs dropped),
#                     bochs.log (Bochs's log and stderr; unknown-MSR lines
#                     filtered out and counted unless --log-bochs), bochs.stdout,
#                     display.log (the term display), bochsrc, boot.iso,
#                     end (the end marker line), times (wall times)
#   --cpu-model M     Bochs CPU model (default corei7_skylake_x; env
#                     TESTVM_CPU_MODEL); core2_penryn_t9600 has VMX without
#                     EPT/VPID/unrestricted guest
#   --cpus N          vCPUs (default 1; 2 costs ~6x the CPU time)
#   --append ARGS     extra kernel command line (env TESTVM_APPEND too)
#   --log-bochs       keep Bochs's full, unfiltered log (can be 500 MB with KVM)
#   --quiet           do not stream the console to stdout
#   --no-echo B:E     do not stream the lines between a line starting with B
#                     and one starting with E (they stay in console.log)
#   --stamp PREFIX    each console line starting with PREFIX, and the end
#                     line, goes to OUT/stamps as "WALL-SECONDS LINE"
#
# Hang detection: /init starts testvm-heartbeat (testvm/heartbeat.c), which
# writes a byte to Bochs's port 0xe9 every 0.1 guest second (Bochs copies it
# to bochs.stdout at once). Once it has started, no heartbeat for
# TESTVM_HANG_SECS wall seconds (default 300) before the end marker means the
# guest kernel no longer schedules (e.g. a CPU halted with interrupts off):
# Bochs is stopped early (exit 124) instead of waiting for --timeout. The
# detector is armed by the first heartbeat byte after /init started: a
# kernel without ioperm() (CONFIG_X86_IOPL_IOPERM, e.g. the debug kernel of
# testvm/prepare-debug.sh) has no heartbeat, /init says so on the console,
# and only --timeout applies.
#
# Boot path (env TESTVM_BOOT): "pvh" (default) boots from an ISO through
# isolinux + mboot.c32 + testvm/pvhboot, which starts an LZ4 copy of the
# kernel's vmlinux at startup_64 (x86-64 boot protocol; the name "pvh" is
# historical: see testvm/pvhboot/pvhboot.c) (saves the ~45 s the emulated CPU
# spends in the bzImage's XZ decompressor); "bios" has isolinux boot the
# Debian bzImage itself. Kernel command line: console=ttyS0,115200 quiet
# loglevel=5 printk.time=1 mitigations=off nokaslr panic=-1 reboot=t
# nolapic_timer clearcpuid=xsaves,xsavec (Bochs 2.7 reports a wrong XSAVEC
# area size, which makes Linux WARN; ",ht" too on 6.12, whose topology code
# WARNs on Bochs's CPUID; clearcpuid taints the kernel with 'S').
#
# Needs build/testvm/env.sh from testvm/prepare.sh (or TESTVM_VMLINUZ and
# TESTVM_MODDIR in the environment). The VM: Debian's kernel, a busybox-static
# initramfs whose /init mounts proc, sysfs, devtmpfs, debugfs
# (/sys/kernel/debug), tracefs (/sys/kernel/tracing), devpts and tmpfs /tmp;
# Debian's irqbypass.ko, kvm.ko and kvm-intel.ko are in /payload/kvm/ (insmod
# them in that order), and msr.ko (the /dev/cpu/N/msr driver), all without
# their signatures (testvm_strip_module_sig). The env var
# TESTVM=1 is set for the script. After the
# script, /init prints "TESTVM-END-<nonce> status=N uptime=S", sleeps 1 s and
# powers off. Kernel warnings (loglevel 5) reach the console with timestamps.
#
# Exit status: the script's (0..119) when the end marker was seen and the
# kernel stayed clean; otherwise 120..125, see testvm/lib.sh.

set -euo pipefail

# shellcheck source=testvm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	sed -n '/^# Usage:/,/^# Needs/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit "$TESTVM_E_SETUP"
}

die() {
	echo "testvm: error: $*" >&2
	exit "$TESTVM_E_SETUP"
}

PAYLOAD='' SCRIPT='' TIMEOUT='' OUT=''
CPU_MODEL=${TESTVM_CPU_MODEL:-corei7_skylake_x}
CPUS=1
APPEND=${TESTVM_APPEND:-}
LOG_BOCHS=0
QUIET=0
NO_ECHO=''
STAMPS=()

while [ $# -gt 0 ]; do
	case $1 in
	--payload) PAYLOAD=${2:-}; shift 2 || usage ;;
	--script) SCRIPT=${2:-}; shift 2 || usage ;;
	--timeout) TIMEOUT=${2:-}; shift 2 || usage ;;
	--out) OUT=${2:-}; shift 2 || usage ;;
	--cpu-model) CPU_MODEL=${2:-}; shift 2 || usage ;;
	--cpus) CPUS=${2:-}; shift 2 || usage ;;
	--append) APPEND="$APPEND ${2:-}"; shift 2 || usage ;;
	--log-bochs) LOG_BOCHS=1; shift ;;
	--quiet) QUIET=1; shift ;;
	--no-echo) NO_ECHO=${2:-}; shift 2 || usage ;;
	--stamp) STAMPS+=(--stamp "${2:-}"); shift 2 || usage ;;
	-h|--help) usage ;;
	*) echo "testvm: unknown argument '$1'" >&2; usage ;;
	esac
done

if [ -z "$PAYLOAD" ] || [ -z "$SCRIPT" ] || [ -z "$TIMEOUT" ] || [ -z "$OUT" ]; then
	usage
fi
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout wants seconds, got '$TIMEOUT'"
[[ $CPUS =~ ^[1-9][0-9]*$ ]] || die "--cpus wants a number, got '$CPUS'"
[ -d "$PAYLOAD" ] || die "payload directory '$PAYLOAD' does not exist"
[ -f "$PAYLOAD/$SCRIPT" ] || die "script '$SCRIPT' is not in the payload '$PAYLOAD'"
testvm_env || exit "$TESTVM_E_SETUP"
[ -f "$TESTVM_VMLINUZ" ] || die "kernel $TESTVM_VMLINUZ is missing: run testvm/prepare.sh"
[ -d "$TESTVM_MODDIR" ] || die "modules $TESTVM_MODDIR are missing: run testvm/prepare.sh"
for tool in bochs xorriso cpio gzip python3 timeout readelf; do
	command -v "$tool" >/dev/null || die "$tool is not installed: run testvm/prepare.sh"
done
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX is missing: install busybox-static"
testvm_need_static "$BUSYBOX" || die "$BUSYBOX is not static: install busybox-static"
ISOLINUX_BIN=/usr/lib/ISOLINUX/isolinux.bin
SYSLINUX_BIOS=/usr/lib/syslinux/modules/bios
LDLINUX_C32=$SYSLINUX_BIOS/ldlinux.c32
[ -f "$ISOLINUX_BIN" ] || die "$ISOLINUX_BIN is missing: install isolinux"
[ -f "$LDLINUX_C32" ] || die "$LDLINUX_C32 is missing: install syslinux-common"

# Boot path: "pvh" (default) has syslinux's mboot.c32 load testvm/pvhboot,
# which unpacks an LZ4 copy of vmlinux and enters Linux's startup_64:
# this skips the kernel's XZ self-decompression (~45 s of emulated CPU).
# "bios" boots the Debian bzImage directly with isolinux.
BOOT_MODE=${TESTVM_BOOT:-pvh}
case $BOOT_MODE in
pvh)
	if ! PVHBOOT=$(testvm_pvhboot) || ! VMLINUX_LZ4=$(testvm_vmlinux_lz4); then
		echo "testvm: warning: cannot prepare the PVH boot path: booting the bzImage" >&2
		BOOT_MODE=bios
	fi
	;;
bios) ;;
*) die "TESTVM_BOOT=$BOOT_MODE: use pvh or bios" ;;
esac
HEARTBEAT=$(testvm_heartbeat) || die "cannot build testvm/heartbeat.c"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PAYLOAD=$(cd "$PAYLOAD" && pwd)
rm -f "$OUT"/{console.log,bochs.log,bochs.fifo,bochs.stdout,bochs.stderr} \
      "$OUT"/{display.log,bochsrc,bochs.rc,boot.iso,end,times,port,stamps}
WORK=$(mktemp -d "$OUT/.work.XXXXXX")

NONCE=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
END_MARKER="TESTVM-END-$NONCE"
START_MARKER="TESTVM-START-$NONCE"

LISTENER_PID='' BOCHS_PID='' CAT_PID='' FILTER_PID=''
# Stop Bochs (bochs-bin, the child of timeout(1) $BOCHS_PID): SIGTERM, then
# SIGKILL, which bochs-bin may need. timeout(1) then ends by itself.
stop_bochs() {
	local child _

	[ -n "$BOCHS_PID" ] || return 0
	child=$(pgrep -P "$BOCHS_PID" 2>/dev/null | head -n 1 || true)
	kill "${child:-$BOCHS_PID}" 2>/dev/null || true
	for _ in $(seq 25); do
		kill -0 "$BOCHS_PID" 2>/dev/null || return 0
		sleep 0.2
	done
	kill -KILL "${child:-$BOCHS_PID}" 2>/dev/null || true
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local pid

	stop_bochs
	for pid in $CAT_PID $LISTENER_PID $FILTER_PID; do
		kill "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK" "$OUT/bochs.fifo"
}
trap cleanup EXIT
trap 'echo "testvm: interrupted" >&2; exit 130' INT TERM

T_START=$SECONDS

# --- initramfs --------------------------------------------------------------
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,payload/kvm}
cp "$BUSYBOX" "$ROOT/bin/busybox"
cp "$HEARTBEAT" "$ROOT/sbin/testvm-heartbeat"
for applet in $("$BUSYBOX" --list-full); do
	[ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$ROOT/etc/passwd"
echo 'root:x:0:' >"$ROOT/etc/group"
# The kernel opens /dev/console for /init before devtmpfs is mounted.
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || true

cp -a "$PAYLOAD/." "$ROOT/payload/"
# msr.ko: host_state_test loads it when /dev/cpu/0/msr is missing.
for mod in irqbypass kvm kvm-intel msr; do
	src=$(find "$TESTVM_MODDIR/kernel" -name "$mod.ko" -o -name "$mod.ko.xz" \
		-o -name "$mod.ko.zst" -o -name "$mod.ko.gz" | head -n 1)
	if [ -z "$src" ] && [ "$mod" = msr ]; then
		echo "testvm: warning: msr.ko not found under $TESTVM_MODDIR" >&2
		continue
	fi
	[ -n "$src" ] || die "$mod.ko not found under $TESTVM_MODDIR"
	case $src in
	*.xz) xz -dc "$src" >"$ROOT/payload/kvm/$mod.ko" ;;
	*.zst) command -v zstd >/dev/null || die "zstd is needed for $src"
	       zstd -qdc "$src" >"$ROOT/payload/kvm/$mod.ko" ;;
	*.gz) gzip -dc "$src" >"$ROOT/payload/kvm/$mod.ko" ;;
	*) cp "$src" "$ROOT/payload/kvm/$mod.ko" ;;
	esac
done
# Unsigned copies: the kernel's signature check costs every KVM load 0.11 s
# of the instruction clock (testvm_strip_module_sig in lib.sh).
testvm_strip_module_sig "$ROOT"/payload/kvm/*.ko ||
	die "cannot strip the module signatures in $ROOT/payload/kvm"

cat >"$ROOT/init" <<EOF
#!/bin/sh
# /init of the testvm initramfs (generated by testvm/boot.sh)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TESTVM=1
mount -t devtmpfs devtmpfs /dev
[ -c /dev/console ] && exec </dev/null >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
hostname testvm
(testvm-heartbeat </dev/null >/dev/null 2>&1 ||
	echo "testvm: no heartbeat (ioperm() failed: CONFIG_X86_IOPL_IOPERM?): hang detection off") &
echo "$START_MARKER uptime=\$(cut -d' ' -f1 /proc/uptime) kernel=\$(uname -r)"
cd /payload
sh /payload/$SCRIPT </dev/null
st=\$?
echo "$END_MARKER status=\$st uptime=\$(cut -d' ' -f1 /proc/uptime)"
sleep 1
poweroff -f
echo o >/proc/sysrq-trigger
sleep 100000
EOF
chmod 755 "$ROOT/init"

mkdir -p "$WORK/iso/isolinux"
# The initramfs is not compressed by default: in Bochs, the guest kernel's
# gunzip of a 50 MB initramfs costs about 40 s of emulation, more than
# loading the bigger file through the BIOS (measured on 2026-12-01: boot to
# the script 1m55s of Bochs CPU with gzip -6, 1m15s with lz4, 1m13s with
# none). TESTVM_INITRD_COMPRESS=gzip|lz4|zstd chooses a compressor (the
# kernel must have its CONFIG_RD_*; the debug kernel has only gzip).
case ${TESTVM_INITRD_COMPRESS:-none} in
gzip) COMPRESS=(gzip -6) ;;
lz4) COMPRESS=(lz4 -l -q -c) ;;
zstd) COMPRESS=(zstd -q -3 -c) ;;
none) COMPRESS=(cat) ;;
*) die "TESTVM_INITRD_COMPRESS=$TESTVM_INITRD_COMPRESS: use gzip, lz4, zstd or none" ;;
esac
(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) |
	"${COMPRESS[@]}" >"$WORK/iso/initrd.img"
cp "$ISOLINUX_BIN" "$LDLINUX_C32" "$WORK/iso/isolinux/"

# Bochs 2.7 quirks that make Linux WARN at boot: a wrong XSAVEC area size
# (all kernels) and, for 6.12's topology code, CPUID.1 EBX logical
# processors below CPUID.4's core count with HT set.
CLEAR=xsaves,xsavec
case ${TESTVM_ABI:-} in
6.1.*) ;;
*) CLEAR=$CLEAR,ht ;;
esac
CMDLINE="console=ttyS0,115200 quiet loglevel=5 printk.time=1 mitigations=off nokaslr panic=-1 reboot=t nolapic_timer clearcpuid=$CLEAR${APPEND:+ $APPEND}"
if [ "$BOOT_MODE" = pvh ]; then
	# mboot.c32 loads pvhboot with the LZ4'd vmlinux and the initramfs.
	cp "$PVHBOOT" "$WORK/iso/pvhboot.elf"
	ln -s "$VMLINUX_LZ4" "$WORK/iso/vmlinux.lz4"
	cp "$SYSLINUX_BIOS/mboot.c32" "$SYSLINUX_BIOS/libcom32.c32" "$WORK/iso/isolinux/"
	BOOT_ENTRY="KERNEL mboot.c32
  APPEND /pvhboot.elf $CMDLINE --- /vmlinux.lz4 --- /initrd.img"
else
	ln -s "$TESTVM_VMLINUZ" "$WORK/iso/vmlinuz"
	BOOT_ENTRY="KERNEL /vmlinuz
  APPEND initrd=/initrd.img $CMDLINE"
fi
cat >"$WORK/iso/isolinux/isolinux.cfg" <<EOF
DEFAULT testvm
PROMPT 0
TIMEOUT 0
LABEL testvm
  $BOOT_ENTRY
EOF
xorriso -as mkisofs -quiet -follow-links -o "$OUT/boot.iso" -b isolinux/isolinux.bin \
	-c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
	"$WORK/iso" 2>"$WORK/xorriso.log" ||
	{ cat "$WORK/xorriso.log" >&2; die "xorriso failed"; }
INITRD_KB=$(( $(stat -c %s "$WORK/iso/initrd.img") / 1024 ))
rm -rf "$ROOT" "$WORK/iso"

# --- serial listener ----------------------------------------------------------
LISTENER_ARGS=(--port-file "$OUT/port" --log "$OUT/console.log"
	       --marker "$END_MARKER" --start-marker "$START_MARKER"
	       --end-file "$OUT/end" --times-file "$OUT/times" --accept-timeout 120)
[ "$QUIET" = 1 ] && LISTENER_ARGS+=(--quiet)
[ -n "$NO_ECHO" ] && LISTENER_ARGS+=(--no-echo "$NO_ECHO")
[ "${#STAMPS[@]}" -gt 0 ] && LISTENER_ARGS+=(--stamps-file "$OUT/stamps" "${STAMPS[@]}")
python3 "$TESTVM_TOP/testvm/serial-listener.py" "${LISTENER_ARGS[@]}" &
LISTENER_PID=$!
for _ in $(seq 100); do
	[ -s "$OUT/port" ] && break
	kill -0 "$LISTENER_PID" 2>/dev/null || die "the serial listener failed to start"
	sleep 0.1
done
[ -s "$OUT/port" ] || die "the serial listener did not report its port"
PORT=$(cat "$OUT/port")

# --- Bochs ----------------------------------------------------------------------
# Bochs logs to its stderr ("log: -"), which goes through a filter into
# bochs.log: kvm_intel makes Bochs log one "RDMSR: Unknown register" line per
# VM exit (hundreds of MB per boot), which are counted and dropped unless
# --log-bochs.
mkfifo "$OUT/bochs.fifo"
awk -v keep_all="$LOG_BOCHS" '
	/(RD|WR)MSR: Unknown register/ { n++; if (!keep_all) next }
	{ print; fflush() }
	END { if (n) printf "testvm: %d unknown-MSR lines%s\n", n, keep_all ? "" : " filtered out" }' \
	<"$OUT/bochs.fifo" >"$OUT/bochs.log" &
FILTER_PID=$!

cat >"$OUT/bochsrc" <<EOF
# generated by testvm/boot.sh
megs: 1024
romimage: file=/usr/share/bochs/BIOS-bochs-latest, options=fastboot
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
cpu: model=$CPU_MODEL, count=$CPUS, ips=100000000, reset_on_triple_fault=0, ignore_bad_msrs=1
clock: sync=none, time0=946684800
pci: enabled=1, chipset=i440fx
ata0-master: type=cdrom, path=$OUT/boot.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=socket-client, dev=127.0.0.1:$PORT
display_library: term
port_e9_hack: enabled=1
log: -
panic: action=fatal
error: action=report
EOF
printf 'continue\nquit\n' >"$OUT/bochs.rc"

# Debian's bochs, or for one CPU the same build without its debugger's
# per-instruction hooks (testvm_bochs in lib.sh; TESTVM_BOCHS_PATCH=0: off).
BOCHS=$(testvm_bochs "$CPUS") || die "cannot prepare the Bochs executable"
if [ "$BOCHS" = bochs ]; then
	BOCHS_CMD=(bochs)
	BOCHS_WHAT="Debian's bochs"
else
	BOCHS_CMD=(env GUEST=guest "$BOCHS" -q)
	BOCHS_WHAT="bochs-bin without debugger hooks"
fi
echo "testvm: booting $(basename "$TESTVM_VMLINUZ") ($BOOT_MODE) on $CPU_MODEL (initramfs ${INITRD_KB} KiB, timeout ${TIMEOUT}s, $BOCHS_WHAT), script /payload/$SCRIPT"
times >"$WORK/times"
cpu_before=$(tail -n 1 "$WORK/times")
(cd "$OUT" && TERM=xterm exec timeout -k 30 "$TIMEOUT" "${BOCHS_CMD[@]}" -q -f bochsrc -rc bochs.rc \
	</dev/null >bochs.stdout 2>bochs.fifo) &
BOCHS_PID=$!
T_BOOT=$SECONDS

# The term display opens its own pty; it must be drained or Bochs blocks.
PTS=
while kill -0 "$BOCHS_PID" 2>/dev/null; do
	PTS=$(sed -n 's/.*connected to screen "\(\/dev\/pts\/[0-9]*\)".*/\1/p' \
		"$OUT/bochs.log" 2>/dev/null | head -n 1 || true)
	[ -n "$PTS" ] && break
	[ $((SECONDS - T_BOOT)) -gt 60 ] && break
	sleep 0.1
done
if [ -n "$PTS" ]; then
	cat "$PTS" >"$OUT/display.log" 2>/dev/null &
	CAT_PID=$!
elif kill -0 "$BOCHS_PID" 2>/dev/null; then
	echo "testvm: warning: no term display pty found in bochs.log" >&2
fi

# Wait for Bochs. Once the end marker is seen, give the guest 60 s to power
# off. Before that, stop a dead guest early (see "Hang detection" above).
HANG_SECS=${TESTVM_HANG_SECS:-300}
STOPPED=0 HUNG=0 END_AT='' BEAT='' BEAT_AT='' BEAT0='' TICK=0
# Heartbeat bytes are the dots of bochs.stdout outside Bochs's own messages,
# each of which starts with the CPU's number in parentheses and runs to the
# end of its line: at a nested guest's triple fault, for one, Bochs prints
# "(0).[TICKS] ??? (physical address not available)" or the instruction,
# e.g. "(0).[TICKS] [0x...] f000:fff0 (unk. ctxt): jle .+126 (0x00000070)";
# their dots once armed the detector of a kernel without heartbeat (the
# debug kernel) and stopped it 300 s later, twice (the second time in the
# ioctl fuzzer's 1,000,000 calls). Heartbeat dots come between messages.
beats() {
	sed -E 's/\([0-9]+\).*$//' "$OUT/bochs.stdout" 2>/dev/null | tr -cd . | wc -c || true
}
while kill -0 "$BOCHS_PID" 2>/dev/null; do
	if [ -z "$END_AT" ] && [ -s "$OUT/end" ]; then
		END_AT=$SECONDS
	fi
	if [ -n "$END_AT" ] && [ $((SECONDS - END_AT)) -gt 60 ]; then
		echo "testvm: the guest did not power off 60 s after its end marker: stopping Bochs" >&2
		stop_bochs
		STOPPED=1
		break
	fi
	TICK=$((TICK + 1))
	if [ $((TICK % 25)) = 0 ] && [ -z "$END_AT" ]; then
		if [ -z "$BEAT0" ]; then
			# Count from the start of /init (Bochs's banner has dots too).
			if grep -q "$START_MARKER" "$OUT/console.log" 2>/dev/null; then
				BEAT0=$(beats)
			fi
		elif [ -z "$BEAT_AT" ]; then
			# Armed by the first heartbeat (there may be none: see above).
			if [ "$(beats)" != "$BEAT0" ]; then
				BEAT=$(beats) BEAT_AT=$SECONDS
			fi
		elif [ "$(beats)" != "$BEAT" ]; then
			BEAT=$(beats) BEAT_AT=$SECONDS
		elif [ $((SECONDS - BEAT_AT)) -ge "$HANG_SECS" ]; then
			echo "testvm: no guest heartbeat for ${HANG_SECS}s: the guest kernel hung; stopping Bochs" >&2
			stop_bochs
			HUNG=1
			break
		fi
	fi
	sleep 0.2
done
BOCHS_RC=0
wait "$BOCHS_PID" 2>/dev/null || BOCHS_RC=$?
BOCHS_PID=
times >"$WORK/times"
cpu_after=$(tail -n 1 "$WORK/times")
T_END=$SECONDS

# Let the listener and the log filter see EOF, then stop the pty reader.
for pid in $LISTENER_PID $FILTER_PID; do
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
done
LISTENER_PID='' FILTER_PID=''
if [ -n "$CAT_PID" ]; then
	kill "$CAT_PID" 2>/dev/null || true
	wait "$CAT_PID" 2>/dev/null || true
	CAT_PID=
fi
touch "$OUT/console.log" "$OUT/bochs.log"

# --- verdict -----------------------------------------------------------------
# CPU seconds of the children waited for since $1 (a `times` line) till $2.
cpu_secs() {
	local a b

	a=$(echo "$1" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] } printf "%d", t }')
	b=$(echo "$2" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] } printf "%d", t }')
	echo $((b - a))
}

BOCHS_ALL=("$OUT/bochs.log" "$OUT/bochs.stdout")
END_LINE=$(head -n 1 "$OUT/end" 2>/dev/null || true)
SCRIPT_RC=$(echo "$END_LINE" | sed -n 's/.* status=\([0-9]*\).*/\1/p')
FIRST_WALL=$(sed -n 's/^first_wall=//p' "$OUT/times" 2>/dev/null || true)
START_WALL=$(sed -n 's/^start_wall=//p' "$OUT/times" 2>/dev/null || true)
END_WALL=$(sed -n 's/^end_wall=//p' "$OUT/times" 2>/dev/null || true)
UPTIME=$(echo "$END_LINE" | sed -n 's/.* uptime=\([0-9.]*\).*/\1/p')

echo "testvm: Bochs ran $(testvm_fmt_secs $((T_END - T_BOOT))) wall, $(testvm_fmt_secs "$(cpu_secs "$cpu_before" "$cpu_after")") CPU" \
	"(first console output at ${FIRST_WALL:--}s, script started at ${START_WALL:--}s, end marker at ${END_WALL:--}s wall, guest uptime ${UPTIME:--}s);" \
	"total with initramfs $(testvm_fmt_secs $((T_END - T_START)))"
grep -h '^testvm: [0-9]* unknown-MSR lines' "$OUT/bochs.log" | sed 's/^testvm: /testvm: bochs.log: /' || true

PANIC_LINES=$(grep -aE "${TESTVM_TS_RE}.*Kernel panic" "$OUT/console.log" | head -n 5 || true)
PROBLEMS=$(testvm_kernel_problems "$OUT/console.log")
# Bochs reports the guest's ACPI power-off as a PANIC too: not a failure.
TRIPLE=$(grep -ahE 'exception with no resolution|>>PANIC<<' "${BOCHS_ALL[@]}" 2>/dev/null |
	grep -v 'ACPI control: soft power off' | head -n 5 || true)
POWEROFF=$(cat "${BOCHS_ALL[@]}" 2>/dev/null | grep -ac 'ACPI control: soft power off' || true)
# timeout(1) says 124 (SIGTERM worked) or 137 (SIGKILL was needed); other
# statuses above 128 are Bochs dying of a signal. Bochs 2.7 sometimes
# crashes while exiting after the guest's power-off: only a warning then.
TIMED_OUT=0 DIED=0
if [ "$STOPPED" = 0 ] && [ "$HUNG" = 0 ] && [ "$BOCHS_RC" -gt 123 ]; then
	if [ $((T_END - T_BOOT)) -ge $((TIMEOUT - 2)) ]; then
		TIMED_OUT=1
	elif [ "${POWEROFF:-0}" = 0 ]; then
		DIED=1
	else
		echo "testvm: warning: Bochs exited with status $BOCHS_RC after the guest powered off"
	fi
fi

show_problems() {
	local n

	n=$(echo "$PROBLEMS" | grep -c . || true)
	echo "testvm: $n kernel problem line(s) in $OUT/console.log:"
	echo "$PROBLEMS" | head -n 30 | sed 's/^/testvm:   /'
	[ "$n" -le 30 ] || echo "testvm:   ... ($((n - 30)) more)"
}

if [ -n "$PANIC_LINES" ]; then
	echo "testvm: FAIL: guest kernel panic:"
	echo "$PANIC_LINES" | sed 's/^/testvm:   /'
	[ -n "$PROBLEMS" ] && show_problems
	exit "$TESTVM_E_PANIC"
fi
if [ -n "$PROBLEMS" ]; then
	echo "testvm: FAIL: kernel problem (BUG/Oops/WARNING/lockup/Call Trace) in the console${SCRIPT_RC:+; the script exited with status $SCRIPT_RC}"
	show_problems
	exit "$TESTVM_E_KERNEL"
fi
if [ "$DIED" = 1 ]; then
	echo "testvm: FAIL: Bochs died after $(testvm_fmt_secs $((T_END - T_BOOT))) (status $BOCHS_RC: signal $((BOCHS_RC - 128)); crashed or killed from outside)"
	exit "$TESTVM_E_BOCHS"
fi
if [ -n "$TRIPLE" ]; then
	echo "testvm: FAIL: Bochs panic (triple fault or emulator error):"
	echo "$TRIPLE" | sed 's/^/testvm:   /'
	exit "$TESTVM_E_BOCHS"
fi
if [ "$HUNG" = 1 ]; then
	echo "testvm: FAIL: timeout: the guest kernel hung (no heartbeat for ${HANG_SECS}s; e.g. a CPU halted with interrupts off)${SCRIPT_RC:+ (the script had exited with status $SCRIPT_RC)}; last console lines:"
	tail -n 5 "$OUT/console.log" | sed 's/^/testvm:   /'
	exit "$TESTVM_E_TIMEOUT"
fi
if [ "$TIMED_OUT" = 1 ]; then
	echo "testvm: FAIL: timeout: Bochs was stopped after ${TIMEOUT}s${SCRIPT_RC:+ (the script had exited with status $SCRIPT_RC)}; last console lines:"
	tail -n 5 "$OUT/console.log" | sed 's/^/testvm:   /'
	exit "$TESTVM_E_TIMEOUT"
fi
if [ -z "$SCRIPT_RC" ]; then
	if ! grep -q . "$OUT/console.log"; then
		echo "testvm: FAIL: Bochs exited with status $BOCHS_RC and the guest printed nothing; end of bochs.log:"
		tail -n 5 "$OUT/bochs.log" | sed 's/^/testvm:   /'
		exit "$TESTVM_E_BOCHS"
	fi
	echo "testvm: FAIL: the guest ended without its end marker (Bochs status $BOCHS_RC, power-offs seen: ${POWEROFF:-0}); last console lines:"
	tail -n 5 "$OUT/console.log" | sed 's/^/testvm:   /'
	exit "$TESTVM_E_NOMARKER"
fi
if [ "${POWEROFF:-0}" = 0 ] && [ "$STOPPED" = 0 ]; then
	echo "testvm: warning: no ACPI power-off in the Bochs log (Bochs status $BOCHS_RC)"
fi
echo "testvm: the guest script exited with status $SCRIPT_RC"
if [ "$SCRIPT_RC" -ge "$TESTVM_E_SCRIPT_MAX" ]; then
	echo "testvm: (status >= $TESTVM_E_SCRIPT_MAX is reported as $TESTVM_E_SCRIPT_MAX)"
	exit "$TESTVM_E_SCRIPT_MAX"
fi
exit "$SCRIPT_RC"
