#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tier 3: libvirt + VFIO end to end. Boots the same guest as tier 2 (run.sh),
# but the guest switches into a tmpfs root built from the host's /usr and /etc
# (9p, read-only), starts a real libvirtd with the real vfiohook binary as its
# qemu hook, and starts/destroys L2 domains that get the guest's e1000e as
# <hostdev> (guest/tier3.sh). Every result the guest reports on its second
# serial port is checked against the list below.
# Last line: "N passed, N failed"; exit status non-zero on any failure.
set -uo pipefail
TIER_ID=t3
TIER_NAME="tier 3 (libvirt + VFIO end to end)"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

EXPECTED=(
	t3.env t3.libvirtd t3.define
	t3.start t3.running.vfio-pci t3.running.state-file t3.running.group-open t3.running.l2-sees-nic
	t3.destroy t3.destroy.e1000e t3.destroy.state-gone
	t3.fail-start.refused t3.fail-start.unchanged
	t3.managed.running t3.managed.destroyed
)

require_prereqs
for tool in libvirtd virtlogd virsh; do
	command -v $tool >/dev/null ||
		skip_tier "$tool missing (packages libvirt-daemon-system libvirt-clients)"
done
check_binary
load_cache
init_work

stage=$WORK/stage
mkdir -p "$stage/vh"
install -m 755 "$KHERE/guest/init" "$stage/init"
install -m 644 "$KHERE/guest/lib.sh" "$stage/vh/lib.sh"
install -m 755 "$KHERE/guest/tier3.sh" "$stage/vh/tier3.sh"
install -m 755 "$BIN" "$stage/vh/vfiohook"
make_initrd "$stage" "$WORK/initrd.cpio"

# The guest's root is built from the host's /usr and /etc: the same libvirt,
# QEMU and libraries the binary was built against.
# $CACHE/e2e-guest is the guest's own writable cache (libvirt's QEMU
# capabilities, which take tens of seconds to probe under TCG).
mkdir -p "$CACHE/e2e-guest"
run_guest e2e 2048 "${VH_QEMU_TIMEOUT:-300}" \
	-virtfs local,path=/usr,mount_tag=usr,security_model=none,readonly=on \
	-virtfs local,path=/etc,mount_tag=etc,security_model=none,readonly=on \
	-virtfs local,path="$CACHE/e2e-guest",mount_tag=vhcache,security_model=none
collect "${EXPECTED[@]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
