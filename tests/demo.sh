#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The bundled demo: the example kvm.conf and a sample domain XML against a simulated host (the
# "win10" machine of conf/kvm.conf: an RTX 2070 SUPER whose four functions share IOMMU group
# 16, fbcon on efifb, amd-pstate-epp, 32 GiB) and a simulated systemd (a display manager,
# nvidia-persistenced, the slices). Shows the configuration check, the dry-run plan, then a
# real prepare and release, and proves the host is back exactly as it was. Needs root (FUSE).
set -eu
cd "$(dirname "$0")/.."
VFIOHOOK=$PWD/build/vfiohook
T=$(mktemp -d /tmp/vfiohook-demo.XXXXXX)
cleanup() {
	[ -f "$T/systemd.pid" ] && kill "$(cat "$T/systemd.pid")" 2>/dev/null
	fusermount3 -u "$T/mnt" 2>/dev/null || umount -l "$T/mnt" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (it mounts the simulated host with FUSE)" >&2
	exit 1
fi

mkdir -p "$T/mnt" "$T/root/run/systemd"
build/simhost --spec tests/simhost/hosts/win10.spec "$T/mnt"
for d in sys proc dev; do ln -s "../mnt/$d" "$T/root/$d"; done
cat > "$T/systemd.spec" <<'EOS'
unit gdm.service active alias=display-manager.service
unit nvidia-persistenced.service active
slice system.slice
slice user.slice
scope init.scope
EOS
build/simsystemd --spec "$T/systemd.spec" --socket "$T/root/run/systemd/private" \
	--dump "$T/systemd.dump" --pidfile "$T/systemd.pid" > /dev/null
host_state() {
	sh tests/simhost/snapshot.sh "$T/mnt"
	cat "$T/systemd.dump"
}
summary() {
	printf '    hugepages 2 MiB: %s   vtcon1 bind: %s   efi-framebuffer.0: %s\n' \
		"$(cat "$T/root/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" \
		"$(cat "$T/root/sys/class/vtconsole/vtcon1/bind")" \
		"$(l=$(readlink "$T/root/sys/bus/platform/devices/efi-framebuffer.0/driver") && echo "on ${l##*/}" || echo unbound)"
	printf '    nvidia module: %s   policy0 governor: %s   ' \
		"$([ -e "$T/root/sys/module/nvidia/initstate" ] && echo loaded || echo unloaded)" \
		"$(cat "$T/root/sys/devices/system/cpu/cpufreq/policy0/scaling_governor")"
	grep -E '^(unit gdm|slice system)' "$T/systemd.dump" | tr '\n' ' '
	echo
}
VH="$VFIOHOOK --root $T/root --config conf/kvm.conf --hooks-dir hooks.d"
GPU="0000:09:00.0 0000:09:00.1 0000:09:00.2 0000:09:00.3"
drivers() {
	for d in $GPU; do
		l=$(readlink "$T/root/sys/bus/pci/devices/$d/driver" || true)
		printf '    %s  driver %-14s driver_override %s\n' "$d" "${l##*/}" \
			"$(cat "$T/root/sys/bus/pci/devices/$d/driver_override")"
	done
}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "The simulated host: IOMMU group 16 before anything happens"
ls "$T/root/sys/kernel/iommu_groups/16/devices" | sed 's/^/    /'
drivers
summary
host_state > "$T/before"

step "vfiohook check --config conf/kvm.conf"
$VFIOHOOK check --config conf/kvm.conf --root "$T/root"

step "vfiohook --dry-run win10 prepare begin < tests/sim/domains/win10.xml   (changes nothing)"
$VH --dry-run win10 prepare begin < tests/sim/domains/win10.xml | sed "s|$T/root||g; s/^/    /"

step "What libvirt does at 'virsh start win10': qemu win10 prepare begin - (XML on stdin)"
$VH -v win10 prepare begin - < tests/sim/domains/win10.xml 2>&1 | grep -v ' action: ' | sed 's/^/    /'
drivers
summary
echo "    state file: /run/vfiohook/$(ls "$T/root/run/vfiohook" | grep state)"
sed 's/^/      /' "$T/root/run/vfiohook/"*.state

step "And at shutdown: qemu win10 release end shutdown"
$VH -v win10 release end shutdown < tests/sim/domains/win10.xml 2>&1 | grep -v ' action: ' | sed 's/^/    /'
drivers
summary

step "Is the host exactly as before? (every file, link and module of /sys, every unit and slice)"
host_state > "$T/after"
if diff -u "$T/before" "$T/after"; then
	echo "    yes: $(wc -l < "$T/before") lines of host state identical"
else
	echo "    NO: the host differs" >&2
	exit 1
fi

step "A prepare that must fail: only the VGA function, its siblings still on host drivers"
printf 'vm = ( { name = "win10"; pci = { devices = [ "0000:09:00.0" ]; }; } );\n' > "$T/vga-only.conf"
chmod 600 "$T/vga-only.conf"
rc=0
$VFIOHOOK --root "$T/root" --config "$T/vga-only.conf" win10 prepare begin < tests/sim/domains/win10.xml 2>&1 |
	sed 's/^/    /' || true
$VFIOHOOK --root "$T/root" --config "$T/vga-only.conf" win10 prepare begin < tests/sim/domains/win10.xml 2>/dev/null || rc=$?
if [ "$rc" = 0 ]; then
	echo "    unexpected success" >&2
	exit 1
fi
host_state > "$T/after"
diff -q "$T/before" "$T/after" >/dev/null
echo "    exit status $rc; that line is what 'virsh start' shows; the host is unchanged"
