#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tier 2: the real vfiohook binary against a real kernel.
# Boots Debian's kernel under TCG (q35, emulated Intel IOMMU, OVMF) with a fake
# GPU and an e1000e, runs guest/tier2.sh inside (busybox initramfs with the
# binary, its libraries and the dlopen'ed ones) and checks every result the
# guest reports on its second serial port. guest/tier2-fb.sh (firmware
# framebuffer, before bochs is loaded) and guest/tier2-stages.sh (vtcon,
# modules, hugepages on two NUMA nodes, late failure) are sourced by it.
# Last line: "N passed, N failed"; exit status non-zero on any failure.
set -uo pipefail
TIER_ID=t2
TIER_NAME="tier 2 (real kernel)"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

# Every check the guest must report (guest/tier2.sh); a missing one fails.
EXPECTED=(
	t2.env.iommu t2.env.devices t2.env.gpu-group t2.env.host-drivers t2.env.no-vfio
	t2.check
	t2.release-noop t2.unconfigured-vm
	t2.vga-only.refused t2.vga-only.names-sibling t2.vga-only.unchanged
	t2.nodev.refused t2.nodev.unchanged
	t2.late-fail.exit t2.late-fail.names-device t2.late-fail.unchanged t2.late-fail.was-late
	t2.modfail.exit t2.modfail.unchanged
	t2.prepare.exit t2.prepare.vfio-pci t2.prepare.modules t2.prepare.modprobe-options t2.prepare.state-file
	t2.prepare.others-untouched t2.prepare.viable
	t2.prepare-twice.exit t2.prepare-twice.unchanged
	t2.release.exit t2.release.drivers t2.release.override t2.release.state-gone
	t2.release.as-before t2.release-twice t2.release.foreign-vfio-kept
	t2.hostdev.prepare t2.hostdev.release
	t2.helper.nonviable
	t2.vbios.refused-bound t2.vbios.dump t2.vbios.check t2.vbios.dump-vfio t2.vbios.refused-held t2.vbios.rebound
	t2.fb.env t2.fb.prepare.exit t2.fb.prepare.unbound t2.fb.prepare.recorded
	t2.fb.prepare.vfio-pci t2.fb.prepare.viable
	t2.fb.release.exit t2.fb.release.rebound t2.fb.release.vtcon t2.fb.release.as-before
	t2.fb.late-fail.exit t2.fb.late-fail.unchanged t2.fb.late-fail.was-late
	t2.vtcon.prepare t2.vtcon.release
	t2.stages.env t2.refused.line t2.refused.nothing-first t2.users.waited t2.users.refused t2.stages.prepare.exit t2.stages.prepare.vtcon t2.stages.prepare.modules
	t2.stages.prepare.vfio-pci t2.stages.prepare.viable
	t2.stages.release.exit t2.stages.release.libkmod t2.stages.release.modules t2.stages.release.drivers
	t2.stages.release.vtcon t2.stages.release.state-gone t2.stages.release.as-before
	t2.hp.env t2.hp.prepare.exit t2.hp.prepare.split t2.hp.release.exit t2.hp.release.exact
	t2.hp.beyond-memory t2.hp.shortfall.exit t2.hp.shortfall.message t2.hp.shortfall.unchanged
	t2.stages.late-fail.exit t2.stages.late-fail.unchanged t2.stages.late-fail.was-late
)

require_prereqs
check_binary
load_cache
init_work

T0=$(date +%s.%N)
stage=$WORK/stage
mkdir -p "$stage/vh" "$stage/etc/libvirt/hooks" "$stage/usr/sbin"
install -m 755 "$KHERE/guest/init" "$stage/init"
install -m 644 "$KHERE/guest/lib.sh" "$stage/vh/lib.sh"
install -m 755 "$KHERE/guest/tier2.sh" "$stage/vh/tier2.sh"
install -m 644 "$KHERE/guest/tier2-fb.sh" "$stage/vh/tier2-fb.sh"
install -m 644 "$KHERE/guest/tier2-stages.sh" "$stage/vh/tier2-stages.sh"
build_helper "$stage/vh/vfio-viable" || { echo "FAIL t2.harness: cannot build vfio-viable"; echo "0 passed, 1 failed"; exit 1; }
# The hook as libvirt runs it, plus the same binary under its own name for
# the shell mode (`vfiohook check`).
install -m 755 "$BIN" "$stage/etc/libvirt/hooks/qemu"
install -m 755 "$BIN" "$stage/usr/sbin/vfiohook"
# Its libraries, and those it dlopen()s, with their dependencies.
mapfile -t dl < <(dlopen_paths "$BIN")
LIBS=$(libs_cpio "$BIN" "${dl[@]}")
make_initrd "$stage" "$WORK/initrd.cpio" "$LIBS"
log "initramfs payload built in $(echo "$(date +%s.%N) - $T0" | bc)s ($(du -h "$WORK/initrd.cpio" | cut -f1))"

# The hook's own modprobe resolution (src/modprobe.c) against libkmod's, on every module of
# the same kernel, with no configuration and with tests/kernel/modprobe.d (the guest then
# loads vfio-pci and bochs through it for real).
modprobe_diff() {
	local md=$MODROOT/lib/modules/$KVER bin=$WORK/modprobe-diff conf=$KHERE/modprobe.d
	mkdir -p "$WORK/no-modprobe.d"
	if ! gcc -O2 -std=gnu17 -D_GNU_SOURCE -I"$KHERE/../../include" -o "$bin" "$KHERE/modprobe-diff.c" \
		"$KHERE/../../src/modprobe.c" -lkmod; then
		echo "FAIL t2.modprobe.build: cannot build tests/kernel/modprobe-diff.c"
		return
	fi
	"$bin" t2.modprobe.no-config "$md" -m vfio-pci -m vfio_iommu_type1 -m bochs -m amdgpu -m nouveau \
		-n vfio-pci -n no-such-module -n 'pci:v00001002d00006798sv*sd*bc03sc*i*' -n fs-ext4 \
		-c "$WORK/no-modprobe.d"
	"$bin" t2.modprobe.config "$md" -m vfio-pci -m bochs -m vfio_iommu_type1 \
		-n my-gpu-alias -n nouveau -n amdgpu -n vfio-pci \
		-c "$conf/etc" -c "$conf/run/single.conf" -c "$conf/lib" \
		-k "vfio-pci.ids=10de:1b80,10de:10f0 root=/dev/x.y vfio_pci.disable_vga=1 modprobe.blacklist=bochs,vfio-pci" 2>/dev/null
}

run_guest tier2 1024 "${VH_QEMU_TIMEOUT:-400}"
collect "${EXPECTED[@]}"
mp=$(modprobe_diff)
echo "$mp"
PASSED=$((PASSED + $(grep -c '^ok ' <<<"$mp")))
FAILED=$((FAILED + $(grep -c '^FAIL ' <<<"$mp")))
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
