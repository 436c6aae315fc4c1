# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# Host side of the real-kernel tiers, sourced by run.sh and run-e2e.sh:
# prerequisites, the cached kernel/initramfs (setup.sh), the per-run initramfs
# payload, the QEMU machine both tiers boot, and reading the guest's results.
#
# Environment (all optional):
#   VFIOHOOK_BIN         binary under test (default: <repo>/build/vfiohook)
#   VFIOHOOK_TEST_CACHE  cache directory (see setup.sh)
#   VH_QEMU_TIMEOUT      seconds before QEMU is killed (per tier default)
#   VH_KEEP=1            keep the work directory (serial logs) even on success

KHERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$KHERE/../.." && pwd)
BIN=${VFIOHOOK_BIN:-$REPO/build/vfiohook}
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
WORK=
QEMU_PID=

log() { echo "$TIER_NAME: $*"; }

# Print the skip line and exit 0 (a skip is never a pass).
skip_tier() {
	echo "SKIP: $TIER_NAME skipped: $*"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
}

# Things without which the tier cannot run at all on this machine.
require_prereqs() {
	[ "$(id -u)" = 0 ] || skip_tier "not root (needs root to fetch the kernel into the cache and build the initramfs)"
	command -v qemu-system-x86_64 >/dev/null || skip_tier "qemu-system-x86_64 missing (package qemu-system-x86)"
	command -v timeout >/dev/null || skip_tier "timeout(1) missing"
	if [ ! -r "$OVMF_CODE" ] || [ ! -r "$OVMF_VARS" ]; then
		skip_tier "OVMF firmware missing ($OVMF_CODE; package ovmf)"
	fi
	command -v busybox >/dev/null || skip_tier "busybox missing (package busybox-static)"
	command -v cpio >/dev/null || skip_tier "cpio missing"
	command -v gcc >/dev/null || skip_tier "gcc missing (needed for the vfio-viable helper)"
}

cleanup() {
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill "$QEMU_PID" 2>/dev/null
		wait "$QEMU_PID" 2>/dev/null
	fi
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "${VH_KEEP:-0}" = 1 ] || [ "${FAILED:-1}" != 0 ]; then
			log "serial logs kept in $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}

init_work() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/vfiohook-$TIER_ID.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

# Cached kernel + busybox/modules initramfs (built when absent).
load_cache() {
	local envout
	if ! envout=$("$KHERE/setup.sh"); then
		echo "FAIL $TIER_ID.harness: tests/kernel/setup.sh failed"
		echo "0 passed, 1 failed"
		exit 1
	fi
	eval "$envout"
	log "kernel $KVER ($KERNEL)"
}

check_binary() {
	if [ ! -x "$BIN" ]; then
		echo "FAIL $TIER_ID.harness: $BIN not found or not executable (run make first)"
		echo "0 passed, 1 failed"
		exit 1
	fi
}

build_helper() { # out
	gcc -static -O2 -Wall -o "$1" "$KHERE/vfio-viable.c"
}

# lib_closure file...: the files and every library the dynamic loader maps
# for them (ldd), one absolute path a line.
lib_closure() {
	local f
	for f in "$@"; do
		echo "$f"
		ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
	done | sort -u
}

# Library path of a soname, as the dynamic loader's cache resolves it.
soname_path() {
	ldconfig -p | awk -v s="$1" '$1 == s && /x86-64/ { print $NF; exit }'
}

# dlopen_paths BIN: the host paths of the libraries BIN dlopen()s by soname (found in the
# binary itself), one a line; libvirt.so.0 is left out (the shell mode's, fetching a domain's
# XML: no guest has a libvirtd for it). A soname the host lacks is named on stderr.
dlopen_paths() {
	local so p
	for so in $(grep -a -o -E 'lib[A-Za-z0-9_+-]+\.so\.[0-9]+' "$1" | sort -u); do
		[ "$so" != libvirt.so.0 ] || continue
		p=$(soname_path "$so")
		if [ -n "$p" ]; then echo "$p"; else log "warning: $so (dlopen'ed by the binary) is not installed on the host" >&2; fi
	done
}

# libs_cpio file...: print the path of a newc archive holding lib_closure of
# the files at their host paths. Cached under $CACHE, keyed by the paths,
# sizes and mtimes, so it is rebuilt only when a library changes.
libs_cpio() {
	local list key out tmp
	list=$(lib_closure "$@")
	key=$(while read -r f; do stat -L -c '%n %s %Y' "$f"; done <<<"$list" | sha256sum | cut -c1-16)
	out=$CACHE/initramfs/libs-$key.cpio
	if [ ! -s "$out" ]; then
		tmp=$(mktemp -d "$CACHE/initramfs/libs.XXXXXX")
		while read -r f; do
			mkdir -p "$tmp$(dirname "$f")"
			cp -L "$f" "$tmp$f"
		done <<<"$list"
		(cd "$tmp" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out.tmp.$$"
		mv "$out.tmp.$$" "$out"
		rm -rf "$tmp"
		find "$CACHE/initramfs" -maxdepth 1 -name 'libs-*.cpio' ! -path "$out" -mmin +60 -delete
	fi
	echo "$out"
}

# make_initrd stage out [cpio...]: the cached base archive, the given
# archives, then the payload archive built from stage (the kernel unpacks
# concatenated newc archives in order).
make_initrd() {
	local stage=$1 out=$2
	shift 2
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$WORK/payload.cpio"
	cat "$BASE_CPIO" "$@" "$WORK/payload.cpio" >"$out"
}

# run_guest mode mem_mib timeout [extra qemu args...]
# The machine both tiers use: q35 + emulated VT-d, OVMF, two NUMA nodes, a fake
# GPU (bochs-display VGA function + ich9-intel-hda audio function of one slot
# behind root port rp1: one IOMMU group) and an e1000e behind root port rp2.
# Serial: ttyS0 = console ($WORK/console.log), ttyS1 = results ($WORK/results.log).
run_guest() {
	local mode=$1 mem=$2 limit=$3 t0 t1
	shift 3
	cp "$OVMF_VARS" "$WORK/OVMF_VARS.fd"
	: >"$WORK/console.log"
	: >"$WORK/results.log"
	t0=$(date +%s.%N)
	timeout --kill-after=10 "$limit" qemu-system-x86_64 \
		-accel tcg -machine q35 -cpu max -smp 2,sockets=2 -m "$mem" \
		-object memory-backend-ram,id=m0,size=$((mem / 2))M \
		-object memory-backend-ram,id=m1,size=$((mem / 2))M \
		-numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1 \
		-drive if=pflash,format=raw,unit=0,readonly=on,file="$OVMF_CODE" \
		-drive if=pflash,format=raw,unit=1,file="$WORK/OVMF_VARS.fd" \
		-nodefaults -no-reboot -display none -monitor none \
		-device intel-iommu,intremap=on \
		-device pcie-root-port,id=rp1,chassis=1,slot=1 \
		-device bochs-display,bus=rp1,addr=0.0,multifunction=on \
		-device ich9-intel-hda,bus=rp1,addr=0.1 \
		-device pcie-root-port,id=rp2,chassis=2,slot=2 \
		-netdev hubport,id=n0,hubid=0 -device e1000e,bus=rp2,netdev=n0 \
		-kernel "$KERNEL" -initrd "$WORK/initrd.cpio" \
		-append "console=ttyS0 intel_iommu=on iommu=pt no_timer_check panic=-1 loglevel=4 vh.mode=$mode" \
		-serial file:"$WORK/console.log" -serial file:"$WORK/results.log" \
		"$@" </dev/null >"$WORK/qemu.out" 2>&1 &
	QEMU_PID=$!
	wait "$QEMU_PID"
	QEMU_RC=$?
	QEMU_PID=
	t1=$(date +%s.%N)
	QEMU_WALL=$(echo "$t1 - $t0" | bc)
	log "qemu exit $QEMU_RC after ${QEMU_WALL}s (limit ${limit}s)"
}

# collect expected-id...: print one line per check from the guest's results,
# add a failure for every expected id the guest did not report, for any id it
# reported that nobody expects, and for a guest that did not finish. Sets
# PASSED/FAILED.
collect() {
	local res=$WORK/results.log line kind id text end
	local -A status=() msg=() known=()
	PASSED=0
	FAILED=0
	for id in "$@"; do known[$id]=1; done
	while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		"VH-OK: "* | "VH-FAIL: "*)
			kind=${line%%:*}
			line=${line#*: }
			id=${line%%: *}
			text=${line#*: }
			if [ -z "${known[$id]:-}" ]; then
				echo "FAIL $id: unexpected check id from the guest ($kind: $text)"
				FAILED=$((FAILED + 1))
				continue
			fi
			if [ "$kind" = VH-FAIL ] || [ "${status[$id]:-}" = fail ]; then
				status[$id]=fail
			else
				status[$id]=ok
			fi
			msg[$id]="${msg[$id]:+${msg[$id]} | }$text"
			;;
		"VH-END: "*) end=${line#VH-END: } ;;
		esac
	done <"$res"
	for id in "$@"; do
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
	if [ -n "${end:-}" ] && [ "$QEMU_RC" = 0 ]; then
		echo "ok   $TIER_ID.guest-finished: guest reported '$end', qemu exit 0 after ${QEMU_WALL}s"
		PASSED=$((PASSED + 1))
	else
		echo "FAIL $TIER_ID.guest-finished: guest end marker '${end:-missing}', qemu exit $QEMU_RC after ${QEMU_WALL}s (124 = timeout)"
		FAILED=$((FAILED + 1))
	fi
	if [ "$FAILED" != 0 ]; then
		echo "--- last 80 lines of the guest console ($WORK/console.log):"
		tr -d '\r' <"$WORK/console.log" | tail -n 80 | sed 's/^/    /'
		[ -s "$WORK/qemu.out" ] && { echo "--- qemu:"; sed 's/^/    /' "$WORK/qemu.out"; }
	fi
}
