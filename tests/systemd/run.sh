#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# systemd tier: vfiohook's D-Bus stages (display, isolation) against a real
# systemd. Boots Debian's kernel (tests/kernel/setup.sh's cache) under QEMU
# with a busybox initramfs that switch_roots into systemd as PID 1 on a tmpfs
# root made of the host's /usr (9p, read-only) and a copy of the host's /etc,
# with two CPUs and a bochs-display (/dev/dri/card0 for a fake display
# manager). guest/test.sh runs the real vfiohook binary there (no --root) with
# guest/kvm.conf, first over the system bus, then over systemd's private socket
# only, and reports one line per check on the second serial port; every check
# listed below must be reported as passed.
#
# usage: run.sh [VFIOHOOK-BINARY]   (default $VFIOHOOK_BIN, else <repo>/build/vfiohook)
# Environment: VFIOHOOK_TEST_CACHE (see tests/kernel/setup.sh), VH_QEMU_TIMEOUT
# (seconds, default 300), VH_KEEP=1 (keep the work directory with the logs).
# Last line: "N passed, N failed" (", 1 skipped" when the tier cannot run
# here); exit status non-zero on any failure.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=${1:-${VFIOHOOK_BIN:-$REPO/build/vfiohook}}
LIMIT=${VH_QEMU_TIMEOUT:-300}

EXPECTED=(
	sd.env.systemd sd.env.display-manager sd.env.units sd.env.cpus sd.env.bus
	sd.bus.display.prepare sd.bus.display.release
	sd.bus.isolation.prepare sd.bus.isolation.release sd.bus.forged
	sd.nobus.setup
	sd.nobus.stale-socket.prepare sd.nobus.stale-socket.release
	sd.nobus.display.prepare sd.nobus.display.release
	sd.nobus.isolation.prepare sd.nobus.isolation.release
	sd.missing.refused sd.inactive.prepare sd.inactive.release
	sd.overlap.a-prepare sd.overlap.b-prepare sd.overlap.a-release sd.overlap.b-release
	sd.refuse.fails sd.refuse.rollback
	sd.jobfail.fails sd.jobfail.rollback
	sd.stopfail.prepare sd.stopfail.release
	sd.hang.fails sd.hang.rollback sd.hang.cleanup
	sd.dryrun
	sd.user.env sd.user.prepare sd.user.release
	sd.final
)

log() { echo "systemd tier: $*"; }
skip() {
	echo "SKIP: systemd tier skipped: $*"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
}
harness_fail() {
	echo "FAIL sd.harness: $*"
	echo "0 passed, 1 failed"
	exit 1
}

[ "$(id -u)" = 0 ] || skip "not root (the kernel cache and the guest's initramfs need root)"
for t in qemu-system-x86_64 timeout cpio tar bc; do
	command -v "$t" >/dev/null || skip "$t missing (run tests/deps.sh)"
done
[ -x /usr/lib/systemd/systemd ] || skip "no systemd in /usr (the guest runs the host's /usr/lib/systemd/systemd)"
for t in dbus-daemon unshare busctl; do
	command -v "$t" >/dev/null || skip "$t missing in the host's /usr (the guest uses it)"
done
qemu-system-x86_64 -device help 2>/dev/null | grep -q '"virtio-9p-pci"' ||
	skip "this QEMU has no virtio-9p (the guest's /usr is the host's, over 9p)"

case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
[ -f "$BIN" ] && [ -x "$BIN" ] || harness_fail "$BIN not found or not executable (run make first)"

WORK=
QEMU_PID=
KEEP=0
# QEMU (its `timeout`, which passes the signal on) if still running; the work
# directory unless the results said to keep it
cleanup() {
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill "$QEMU_PID" 2>/dev/null
		wait "$QEMU_PID" 2>/dev/null
	fi
	if [ -n "$WORK" ] && [ -d "$WORK" ] && [ "$KEEP" != 1 ]; then
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vfiohook-systemd.XXXXXX")
T0=$(date +%s.%N)

# Debian's kernel and the busybox + modules initramfs (cached; built when absent)
if ! envout=$("$REPO/tests/kernel/setup.sh" 2>"$WORK/setup.err"); then
	skip "no kernel: tests/kernel/setup.sh failed: $(tail -n 1 "$WORK/setup.err")"
fi
eval "$envout"
[ -f "${KERNEL:-}" ] && [ -f "${BASE_CPIO:-}" ] ||
	harness_fail "tests/kernel/setup.sh gave no KERNEL or BASE_CPIO: $envout"

# ------------------------------------------------------------------ initramfs
stage=$WORK/stage
mkdir -p "$stage/vh/units"
install -m 755 "$HERE/guest/init" "$stage/init"
install -m 755 "$HERE/guest/test.sh" "$stage/vh/test.sh"
install -m 600 "$HERE/guest/kvm.conf" "$stage/vh/kvm.conf"
install -m 644 "$HERE"/guest/units/* "$stage/vh/units/"
install -m 755 "$BIN" "$stage/vh/vfiohook"
# The host's /etc (users and groups, D-Bus policy, os-release, ...) for the
# guest to unpack into its tmpfs root; no secrets.
tar -C / -cf "$stage/vh/etc.tar" --exclude='etc/shadow*' --exclude='etc/gshadow*' \
	--exclude='etc/ssh/ssh_host_*' --exclude='etc/ssl/private' etc 2>"$WORK/tar.err" ||
	harness_fail "cannot pack /etc: $(tail -n 1 "$WORK/tar.err")"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$WORK/payload.cpio" ||
	harness_fail "cannot build the initramfs payload"
# the kernel unpacks concatenated newc archives in order
cat "$BASE_CPIO" "$WORK/payload.cpio" >"$WORK/initrd.cpio"
rm -rf "$stage" "$WORK/payload.cpio"

# ------------------------------------------------------------------ the guest
: >"$WORK/console.log"
: >"$WORK/results.log"
T1=$(date +%s.%N)
timeout --kill-after=10 "$LIMIT" qemu-system-x86_64 \
	-accel tcg -machine q35 -cpu max -smp 2 -m 1024 \
	-nodefaults -no-reboot -display none -monitor none \
	-device bochs-display \
	-virtfs local,path=/usr,mount_tag=usr,security_model=none,readonly=on \
	-kernel "$KERNEL" -initrd "$WORK/initrd.cpio" \
	-append "console=ttyS0 panic=-1 loglevel=4 no_timer_check systemd.unit=vh.target systemd.show_status=1 systemd.log_color=0" \
	-serial file:"$WORK/console.log" -serial file:"$WORK/results.log" \
	</dev/null >"$WORK/qemu.out" 2>&1 &
QEMU_PID=$!
wait "$QEMU_PID"
QEMU_RC=$?
QEMU_PID=
T2=$(date +%s.%N)
QEMU_WALL=$(echo "$T2 - $T1" | bc)
log "kernel $KVER, qemu exit $QEMU_RC after ${QEMU_WALL}s (limit ${LIMIT}s)"

# ------------------------------------------------------------------ results
declare -A status=() msg=() known=()
PASSED=0
FAILED=0
end=
for id in "${EXPECTED[@]}"; do known[$id]=1; done
while IFS= read -r line; do
	line=${line%$'\r'}
	case $line in
	"VH-OK: "* | "VH-FAIL: "*)
		kind=${line%%:*}
		line=${line#*: }
		id=${line%%: *}
		text=${line#*: }
		if [ -z "${known[$id]:-}" ]; then
			echo "FAIL $id: unexpected check from the guest ($kind: $text)"
			FAILED=$((FAILED + 1))
			continue
		fi
		if [ -n "${status[$id]:-}" ]; then
			status[$id]=fail
			msg[$id]="${msg[$id]} | reported twice: $kind: $text"
			continue
		fi
		if [ "$kind" = VH-OK ]; then status[$id]=ok; else status[$id]=fail; fi
		msg[$id]=$text
		;;
	"VH-END: "*) end=${line#VH-END: } ;;
	esac
done <"$WORK/results.log"
for id in "${EXPECTED[@]}"; do
	case ${status[$id]:-} in
	ok)
		echo "ok   $id: ${msg[$id]}"
		PASSED=$((PASSED + 1))
		;;
	fail)
		echo "FAIL $id: ${msg[$id]}"
		FAILED=$((FAILED + 1))
		;;
	*)
		echo "FAIL $id: no result from the guest"
		FAILED=$((FAILED + 1))
		;;
	esac
done
if [ -n "$end" ] && [ "$QEMU_RC" = 0 ]; then
	echo "ok   sd.guest-finished: $end; qemu exit 0 after ${QEMU_WALL}s"
	PASSED=$((PASSED + 1))
else
	echo "FAIL sd.guest-finished: end marker '${end:-missing}', qemu exit $QEMU_RC after ${QEMU_WALL}s (124: killed by timeout)"
	FAILED=$((FAILED + 1))
fi
if [ "$FAILED" != 0 ]; then
	echo "--- last 60 lines of the guest's console:"
	tr -d '\r' <"$WORK/console.log" | tail -n 60 | sed 's/^/    /'
	[ -s "$WORK/qemu.out" ] && { echo "--- qemu:"; sed 's/^/    /' "$WORK/qemu.out"; }
fi
log "wall time $(echo "$(date +%s.%N) - $T0" | bc | cut -c1-6)s"
if [ "${VH_KEEP:-0}" = 1 ] || [ "$FAILED" != 0 ]; then
	KEEP=1
	log "logs kept in $WORK (console.log: the guest's console, results.log: its checks)"
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
