#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tier 2, inside the guest (busybox, PID 1's child): the real vfiohook binary,
# installed as /etc/libvirt/hooks/qemu, against the real kernel's sysfs.
# Devices (see run.sh): a fake GPU = bochs-display (VGA function) + ich9-intel-hda
# (its audio sibling) as functions of one slot behind a root port, so one IOMMU
# group; an e1000e NIC behind another root port.
# Every check id printed here must be in run.sh's list.
# shellcheck source=lib.sh
. /vh/lib.sh

CONF=/etc/libvirt/hooks/kvm.conf
NODEV=0000:07:00.0 # a listed device that does not exist
UUID_GPU=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c01
UUID_VGA=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c02
UUID_LATE=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c03
UUID_NIC=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c04
T=/tmp/t2
mkdir -p "$T" /etc/libvirt/hooks /run

say "tier 2 start, uptime $(uptime_s)s, kernel $(uname -r)"

# ------------------------------------------------------------ environment
# No udev here: load the host drivers by hand, as a desktop would at boot.
# vfio-pci is deliberately NOT loaded: the hook must load it (libkmod).
# bochs is loaded only after the firmware-framebuffer phase below: until a
# DRM driver takes the display, OVMF's efifb (efi-framebuffer.0) sits on it.
for m in snd-hda-intel e1000e; do
	modprobe "$m" || say "modprobe $m failed"
done

ngroups=$(ls /sys/kernel/iommu_groups 2>/dev/null | wc -l)
[ "$ngroups" -gt 0 ]
vh_result t2.env.iommu $? "$ngroups IOMMU groups (intel-iommu)"

GPU=$(find_pci 0x1234 0x1111 0x038000)
AUD=$(find_pci 0x8086 0x293e)
NIC=$(find_pci 0x8086 0x10d3)
[ -n "$GPU" ] && [ -n "$AUD" ] && [ -n "$NIC" ]
vh_result t2.env.devices $? \
	"bochs-display GPU=$GPU, ich9-intel-hda AUD=$AUD, e1000e NIC=$NIC"
if [ -z "$GPU" ] || [ -z "$AUD" ] || [ -z "$NIC" ]; then
	say "devices missing, giving up"
	vh_end
	exit 1
fi

G=$(grp "$GPU")
GN=$(grp "$NIC")
members=$(ls "/sys/kernel/iommu_groups/$G/devices" 2>/dev/null | tr '\n' ' ')
[ -n "$G" ] && [ "$(grp "$AUD")" = "$G" ] &&
	[ "$members" = "$GPU $AUD " ]
vh_result t2.env.gpu-group $? "group $G holds: $members"

wait_drv "$AUD" snd_hda_intel
wait_drv "$NIC" e1000e

! modloaded vfio_pci && [ ! -e "/dev/vfio/$G" ] &&
	[ ! -e "/sys/bus/pci/devices/$NODEV" ]
vh_result t2.env.no-vfio $? \
	"vfio_pci not loaded, no /dev/vfio/$G, $NODEV does not exist"

. /vh/tier2-fb.sh

modprobe bochs || say "modprobe bochs failed"
wait_drv "$GPU" bochs-drm
[ "$(drv "$GPU")" = bochs-drm ] &&
	[ "$(drv "$AUD")" = snd_hda_intel ] && [ "$(drv "$NIC")" = e1000e ]
vh_result t2.env.host-drivers $? \
	"GPU=$(drv "$GPU") AUD=$(drv "$AUD") NIC=$(drv "$NIC")"

snapshot "$T/s0"
say "initial sysfs state:"
sed 's/^/    /' "$T/s0"

# ------------------------------------------------------------ config check
write_conf "$CONF" <<EOF
vm = (
  {
    name = "vh-gpu";
    uuid = "$UUID_GPU";
    pci = {
      devices = [ "$GPU", "$AUD" ];
      timeout = 5.0;
    };
  }
);
EOF
domain_xml vh-gpu "$UUID_GPU" "$GPU" "$AUD" >"$T/gpu.xml"
/usr/sbin/vfiohook check --config "$CONF" >"$T/check.out" 2>&1
rc=$?
sed 's/^/    check| /' "$T/check.out"
vh_result t2.check "$rc" "vfiohook check --config kvm.conf exit $rc"

# ------------------------------------------------------------ release without prepare
run_hook "$T/gpu.xml" vh-gpu release end -
snapshot "$T/s"
[ "$RC" = 0 ] && quiet_ok && same_snapshot "$T/s0" "$T/s"
vh_result t2.release-noop $? \
	"release end with no prior prepare: exit $RC, output: '$(herr)', sysfs unchanged: $(cmp -s "$T/s0" "$T/s" && echo yes || echo no)"

# ------------------------------------------------------------ a VM vfiohook does not manage
# Same devices as <hostdev>, but the domain is not in kvm.conf: exit 0, touch nothing.
domain_xml vh-other 5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c09 "$GPU" "$AUD" >"$T/other.xml"
run_hook "$T/other.xml" vh-other prepare begin -
snapshot "$T/s"
[ "$RC" = 0 ] && quiet_ok && same_snapshot "$T/s0" "$T/s"
vh_result t2.unconfigured-vm $? \
	"prepare begin of a domain not in kvm.conf: exit $RC, output: '$(herr)', sysfs unchanged: $(cmp -s "$T/s0" "$T/s" && echo yes || echo no)"

# ------------------------------------------------------------ VGA function only
write_conf "$CONF" <<EOF
vm = (
  {
    name = "vh-vgaonly";
    uuid = "$UUID_VGA";
    pci = { devices = [ "$GPU" ]; };
  }
);
EOF
domain_xml vh-vgaonly "$UUID_VGA" "$GPU" >"$T/vga.xml"
run_hook "$T/vga.xml" vh-vgaonly prepare begin -
snapshot "$T/s"
[ "$RC" = 1 ] && one_error_line && grep -qi group "$HERR"
vh_result t2.vga-only.refused $? \
	"exit $RC, stderr: '$(herr)'"
grep -q "$AUD" "$HERR"
vh_result t2.vga-only.names-sibling $? \
	"the refusal names the unlisted sibling $AUD"
same_snapshot "$T/s0" "$T/s"
vh_result t2.vga-only.unchanged $? \
	"driver links, driver_override and state files identical after the refusal"

# ------------------------------------------------------------ a listed device that does not exist
write_conf "$CONF" <<EOF
vm = (
  {
    name = "vh-nodev";
    uuid = "$UUID_LATE";
    pci = {
      devices = [ "$GPU", "$AUD", "$NODEV" ];
      timeout = 2.0;
    };
  }
);
EOF
domain_xml vh-nodev "$UUID_LATE" "$GPU" "$AUD" >"$T/nodev.xml"
snapshot "$T/before"
run_hook "$T/nodev.xml" vh-nodev prepare begin -
snapshot "$T/after"
[ "$RC" = 1 ] && one_error_line && grep -q "$NODEV" "$HERR"
vh_result t2.nodev.refused $? \
	"exit $RC, stdout $(wc -c <"$HOUT")B, stderr: '$(herr)'"
same_snapshot "$T/before" "$T/after"
vh_result t2.nodev.unchanged $? \
	"driver links + driver_override of every PCI device and the state files identical before/after"

# ------------------------------------------------------------ failure late in prepare
# The third listed device (the NIC) passes every check the hook makes before
# it starts, but never reaches vfio-pci: a plain file is bind-mounted over its
# driver_override, so the hook's write has no effect, the NIC goes back to
# e1000e on the probe, and the wait for vfio-pci times out -- after both GPU
# functions were moved. The hook must give them back: the sysfs state after
# must be the state before.
write_conf "$CONF" <<EOF
vm = (
  {
    name = "vh-late";
    uuid = "$UUID_LATE";
    pci = {
      devices = [ "$GPU", "$AUD", "$NIC" ];
      timeout = 1.0;
    };
  }
);
EOF
domain_xml vh-late "$UUID_LATE" "$GPU" "$AUD" "$NIC" >"$T/late.xml"
probes0=$(dmesg | grep -c "Initialized bochs-drm .* for $GPU")
snapshot "$T/before"
cp "/sys/bus/pci/devices/$NIC/driver_override" "$T/fake_override"
if mount -o bind "$T/fake_override" "/sys/bus/pci/devices/$NIC/driver_override"; then
	run_hook "$T/late.xml" vh-late prepare begin -
	umount "/sys/bus/pci/devices/$NIC/driver_override"
else
	say "cannot bind-mount over $NIC/driver_override"
	RC=not-run
fi
wait_drv "$NIC" e1000e 20
snapshot "$T/after"
probes1=$(dmesg | grep -c "Initialized bochs-drm .* for $GPU")
[ "$RC" = 1 ] && one_error_line
vh_result t2.late-fail.exit $? \
	"exit $RC, stdout $(wc -c <"$HOUT")B, stderr: '$(herr)'"
grep -q "$NIC" "$HERR"
vh_result t2.late-fail.names-device $? \
	"the error names $NIC"
same_snapshot "$T/before" "$T/after"
vh_result t2.late-fail.unchanged $? \
	"driver links + driver_override of every PCI device and the state files identical before/after"
# Did the failure really come late, i.e. was the GPU taken from bochs-drm and
# given back (bochs-drm probes it again)? Else this would not test rollback.
[ "$probes1" -gt "$probes0" ]
vh_result t2.late-fail.was-late $? \
	"bochs-drm probed $GPU $probes0 time(s) before, $probes1 after the failed prepare"

# ------------------------------------------------------------ prepare
write_conf "$CONF" <<EOF
vm = (
  {
    name = "vh-gpu";
    uuid = "$UUID_GPU";
    pci = {
      devices = [ "$GPU", "$AUD" ];
      timeout = 5.0;
    };
  }
);
EOF
# A vfio-pci the kernel refuses (modprobe.d gives one of its parameters a bad value), after
# the same modprobe loaded a softdep of it: prepare fails with one line, and the softdep is
# unloaded with the rest.
mkdir -p /etc/modprobe.d
printf 'softdep vfio-pci pre: overlay\noptions vfio-pci disable_idle_d3=xyz\n' >/etc/modprobe.d/vh-bad.conf
snapshot_full "$T/mf0"
mf_was=$(modloaded overlay && echo loaded || echo "not loaded")
run_hook "$T/gpu.xml" vh-gpu prepare begin -
rm -f /etc/modprobe.d/vh-bad.conf
snapshot_full "$T/mf1"
[ "$RC" = 1 ] && one_error_line && grep -q vfio "$HERR"
vh_result t2.modfail.exit $? "exit $RC, stderr: '$(herr)'"
[ "$mf_was" = "not loaded" ] && ! modloaded overlay && ! modloaded vfio_pci && same_snapshot "$T/mf0" "$T/mf1"
vh_result t2.modfail.unchanged $? \
	"overlay $mf_was before, $(modloaded overlay && echo loaded || echo "not loaded") after; PCI, modules, consoles and state files as before"

snapshot "$T/s0" # reference for the full cycle (vfio_pci may be loaded now)
# vfio-pci is not loaded here (the late failure above unloaded it again): the hook loads it
# itself, from depmod's indexes, honouring modprobe.d, without libkmod (the loader's log)
mkdir -p /etc/modprobe.d
echo "options vfio-pci disable_idle_d3=1" >/etc/modprobe.d/vh-vfio.conf
rm -f "$T"/ld-prepare.*
run_event "$T/gpu.xml" hook env LD_DEBUG=files LD_DEBUG_OUTPUT="$T/ld-prepare" "$HOOK" vh-gpu prepare begin -
rm -f /etc/modprobe.d/vh-vfio.conf
[ "$RC" = 0 ] && quiet_ok
vh_result t2.prepare.exit $? \
	"exit $RC, output: '$(herr)'"
[ "$(drv "$GPU")" = vfio-pci ] && [ "$(drv "$AUD")" = vfio-pci ]
vh_result t2.prepare.vfio-pci $? \
	"GPU=$(drv "$GPU") AUD=$(drv "$AUD") (overrides: $(ovr "$GPU"), $(ovr "$AUD"))"
modloaded vfio_pci && modloaded vfio_iommu_type1
vh_result t2.prepare.modules $? \
	"loaded: $(grep -o -E '^vfio[a-z0-9_]*' /proc/modules | tr '\n' ' ')"
[ "$(cat /sys/module/vfio_pci/parameters/disable_idle_d3 2>/dev/null)" = Y ] &&
	grep -q 'file=libc.so' "$T"/ld-prepare.* && ! grep -q 'file=libkmod' "$T"/ld-prepare.*
vh_result t2.prepare.modprobe-options $? \
	"vfio_pci disable_idle_d3=$(cat /sys/module/vfio_pci/parameters/disable_idle_d3 2>/dev/null) (modprobe.d: disable_idle_d3=1); libraries loaded: $(cat "$T"/ld-prepare.* 2>/dev/null | sed -n 's/.*file=\([^ ]*\) .*generating link map.*/\1/p' | sort -u | tr '\n' ' ')"
[ -f "/run/vfiohook/$UUID_GPU.state" ]
vh_result t2.prepare.state-file $? \
	"/run/vfiohook: $(ls /run/vfiohook 2>/dev/null | tr '\n' ' ')"
snapshot "$T/s"
# Only the two GPU lines and the state files line may differ.
grep -v -e "^$GPU " -e "^$AUD " -e '^state files:' "$T/s0" >"$T/s0-others"
grep -v -e "^$GPU " -e "^$AUD " -e '^state files:' "$T/s" >"$T/s-others"
same_snapshot "$T/s0-others" "$T/s-others"
vh_result t2.prepare.others-untouched $? \
	"every other PCI device (NIC=$(drv "$NIC"), bridges) unchanged"
/vh/vfio-viable "$G" "$GPU" "$AUD" >"$T/viable" 2>&1
rc=$?
vh_result t2.prepare.viable "$rc" "$(cat "$T/viable")"

cp "/run/vfiohook/$UUID_GPU.state" "$T/state1" 2>/dev/null
run_hook "$T/gpu.xml" vh-gpu prepare begin -
[ "$RC" = 0 ] && quiet_ok
vh_result t2.prepare-twice.exit $? \
	"second prepare: exit $RC, output: '$(herr)'"
/vh/vfio-viable "$G" "$GPU" "$AUD" >"$T/viable" 2>&1
rc=$?
[ "$rc" = 0 ] && [ "$(drv "$GPU")" = vfio-pci ] &&
	[ "$(drv "$AUD")" = vfio-pci ] && cmp -s "$T/state1" "/run/vfiohook/$UUID_GPU.state"
vh_result t2.prepare-twice.unchanged $? \
	"still GPU=$(drv "$GPU") AUD=$(drv "$AUD"), $(cat "$T/viable"), state file $(cmp -s "$T/state1" "/run/vfiohook/$UUID_GPU.state" && echo unchanged || echo CHANGED)"

# ------------------------------------------------------------ release
run_hook "$T/gpu.xml" vh-gpu release end destroyed
[ "$RC" = 0 ] && quiet_ok
vh_result t2.release.exit $? \
	"exit $RC, output: '$(herr)'"
wait_drv "$GPU" bochs-drm 20
wait_drv "$AUD" snd_hda_intel 20
[ "$(drv "$GPU")" = bochs-drm ] && [ "$(drv "$AUD")" = snd_hda_intel ]
vh_result t2.release.drivers $? \
	"GPU=$(drv "$GPU") AUD=$(drv "$AUD")"
[ "$(ovr "$GPU")" = "(null)" ] && [ "$(ovr "$AUD")" = "(null)" ]
vh_result t2.release.override $? \
	"driver_override GPU='$(ovr "$GPU")' AUD='$(ovr "$AUD")'"
[ ! -e "/run/vfiohook/$UUID_GPU.state" ]
vh_result t2.release.state-gone $? \
	"/run/vfiohook: $(ls /run/vfiohook 2>/dev/null | tr '\n' ' ')"
snapshot "$T/s"
same_snapshot "$T/s0" "$T/s"
vh_result t2.release.as-before $? \
	"sysfs state identical to the one before prepare"
run_hook "$T/gpu.xml" vh-gpu release end destroyed
snapshot "$T/s2"
[ "$RC" = 0 ] && quiet_ok && same_snapshot "$T/s" "$T/s2"
vh_result t2.release-twice $? \
	"second release: exit $RC, output: '$(herr)', nothing changed"

# ------------------------------------------------------------ somebody else's vfio-pci device
# While vh-gpu runs, the NIC is put on vfio-pci by somebody else (libvirt's
# managed detach for another VM, driverctl, an admin). Releasing vh-gpu must
# leave that device alone, whatever the hook does with the modules it loaded.
run_hook "$T/gpu.xml" vh-gpu prepare begin -
rc_prep=$RC
echo vfio-pci >"/sys/bus/pci/devices/$NIC/driver_override"
echo "$NIC" >"/sys/bus/pci/devices/$NIC/driver/unbind"
echo "$NIC" >/sys/bus/pci/drivers_probe
wait_drv "$NIC" vfio-pci 20
nic_before=$(drv "$NIC")
run_hook "$T/gpu.xml" vh-gpu release end destroyed
wait_drv "$GPU" bochs-drm 20
[ "$rc_prep" = 0 ] && [ "$nic_before" = vfio-pci ] && [ "$(drv "$NIC")" = vfio-pci ] &&
	[ "$(drv "$GPU")" = bochs-drm ] && [ "$(drv "$AUD")" = snd_hda_intel ]
vh_result t2.release.foreign-vfio-kept $? \
	"NIC bound to vfio-pci by hand while vh-gpu ran: $nic_before before release of vh-gpu, $(drv "$NIC") after (GPU=$(drv "$GPU") AUD=$(drv "$AUD"), vfio modules: $(grep -o -E '^vfio[a-z0-9_]*' /proc/modules | tr '\n' ' '))"
# give the NIC back by hand
echo >"/sys/bus/pci/devices/$NIC/driver_override"
[ "$(drv "$NIC")" = none ] || echo "$NIC" >"/sys/bus/pci/devices/$NIC/driver/unbind"
echo "$NIC" >/sys/bus/pci/drivers_probe
wait_drv "$NIC" e1000e 20 || say "could not give $NIC back to e1000e"

# ------------------------------------------------------------ devices = "hostdev"
write_conf "$CONF" <<EOF
vm = (
  {
    name = "vh-nic";
    uuid = "$UUID_NIC";
    pci = { devices = "hostdev"; };
  }
);
EOF
domain_xml vh-nic "$UUID_NIC" "$NIC" >"$T/nic.xml"
snapshot "$T/s0"
run_hook "$T/nic.xml" vh-nic prepare begin -
/vh/vfio-viable "$GN" "$NIC" >"$T/viable" 2>&1
rc=$?
[ "$RC" = 0 ] && quiet_ok && [ "$(drv "$NIC")" = vfio-pci ] && [ "$rc" = 0 ]
vh_result t2.hostdev.prepare $? \
	"devices = \"hostdev\": exit $RC, NIC=$(drv "$NIC"), $(cat "$T/viable")"
run_hook "$T/nic.xml" vh-nic release end destroyed
wait_drv "$NIC" e1000e 20
snapshot "$T/s"
[ "$RC" = 0 ] && [ "$(drv "$NIC")" = e1000e ] && same_snapshot "$T/s0" "$T/s"
vh_result t2.hostdev.release $? \
	"exit $RC, NIC=$(drv "$NIC") override='$(ovr "$NIC")'"

# ------------------------------------------------------------ the viability check can fail
# Bind only the VGA function to vfio-pci by hand (its audio sibling stays on
# snd_hda_intel): vfio-viable must call that group not viable. Then undo.
modloaded vfio_pci || modprobe vfio-pci
modloaded vfio_iommu_type1 || modprobe vfio_iommu_type1
echo vfio-pci >"/sys/bus/pci/devices/$GPU/driver_override"
echo "$GPU" >"/sys/bus/pci/devices/$GPU/driver/unbind"
echo "$GPU" >/sys/bus/pci/drivers_probe
wait_drv "$GPU" vfio-pci 20
/vh/vfio-viable "$G" "$GPU" >"$T/viable" 2>&1
rc=$?
[ "$(drv "$GPU")" = vfio-pci ] && [ "$(drv "$AUD")" = snd_hda_intel ] &&
	[ "$rc" = 1 ]
vh_result t2.helper.nonviable $? \
	"GPU=$(drv "$GPU") AUD=$(drv "$AUD"): vfio-viable exit $rc: $(cat "$T/viable")"
echo >"/sys/bus/pci/devices/$GPU/driver_override"
echo "$GPU" >"/sys/bus/pci/devices/$GPU/driver/unbind"
echo "$GPU" >/sys/bus/pci/drivers_probe
wait_drv "$GPU" bochs-drm 20 || say "could not give $GPU back to bochs-drm"

# ------------------------------------------------------------ vbios dump
# bochs-display's ROM BAR holds QEMU's vgabios-bochs-display.bin (one legacy
# image of 1234:1111). vbios dump must refuse it while bochs-drm holds the
# GPU, read it unbound and on vfio-pci (rom: 1, read, 0), and give a file that
# vbios check passes. The GPU goes back to bochs-drm after.
if [ -e "/sys/bus/pci/devices/$GPU/rom" ]; then
	rm -f /tmp/rom.bin /tmp/rom-vfio.bin
	/usr/sbin/vfiohook vbios dump "$GPU" /tmp/rom.bin >"$T/vb.out" 2>"$T/vb.err"
	rc=$?
	[ "$rc" = 1 ] && grep -q "in use by its driver bochs-drm" "$T/vb.err" && [ ! -e /tmp/rom.bin ]
	vh_result t2.vbios.refused-bound $? \
		"bound to $(drv "$GPU"): exit $rc, stderr: '$(cat "$T/vb.err")'"
	echo "$GPU" >"/sys/bus/pci/devices/$GPU/driver/unbind"
	/usr/sbin/vfiohook vbios dump "$GPU" /tmp/rom.bin >"$T/vb.out" 2>"$T/vb.err"
	rc=$?
	sed 's/^/    dump| /' "$T/vb.out" "$T/vb.err"
	[ "$rc" = 0 ] && [ -s /tmp/rom.bin ] && [ "$(cat "/sys/bus/pci/devices/$GPU/rom" 2>/dev/null | wc -c)" = 0 ]
	vh_result t2.vbios.dump $? \
		"unbound ($(drv "$GPU")): exit $rc, $(wc -c </tmp/rom.bin 2>/dev/null) bytes, ROM disabled again (a read of rom gives nothing), stderr: '$(cat "$T/vb.err")'"
	/usr/sbin/vfiohook vbios check /tmp/rom.bin >"$T/vb.out" 2>"$T/vb.err"
	rc=$?
	sed 's/^/    check| /' "$T/vb.out" "$T/vb.err"
	[ "$rc" = 0 ] && grep -q "image 0 at 0x0: 1234:1111, x86 BIOS" "$T/vb.out" &&
		grep -q "valid ROM: 1 image, .* for 1234:1111" "$T/vb.out"
	vh_result t2.vbios.check $? "exit $rc: $(tail -n 1 "$T/vb.out")"
	modloaded vfio_pci || modprobe vfio-pci
	echo vfio-pci >"/sys/bus/pci/devices/$GPU/driver_override"
	echo "$GPU" >/sys/bus/pci/drivers_probe
	wait_drv "$GPU" vfio-pci 20
	/usr/sbin/vfiohook vbios dump "$GPU" /tmp/rom-vfio.bin >"$T/vb.out" 2>"$T/vb.err"
	rc=$?
	[ "$(drv "$GPU")" = vfio-pci ] && [ "$rc" = 0 ] && cmp -s /tmp/rom.bin /tmp/rom-vfio.bin
	vh_result t2.vbios.dump-vfio $? \
		"on $(drv "$GPU"): exit $rc, the same bytes as unbound: $(cmp -s /tmp/rom.bin /tmp/rom-vfio.bin && echo yes || echo no), stderr: '$(cat "$T/vb.err")'"
	# this shell holds the VFIO group, as QEMU would: refused, naming the holder
	rm -f /tmp/rom-held.bin
	if exec 3<"/dev/vfio/$G"; then
		/usr/sbin/vfiohook vbios dump "$GPU" /tmp/rom-held.bin >"$T/vb.out" 2>"$T/vb.err"
		rc=$?
		exec 3<&-
		[ "$rc" = 1 ] && grep -q "holds it" "$T/vb.err" && grep -q "process $$ " "$T/vb.err" && [ ! -e /tmp/rom-held.bin ]
		vh_result t2.vbios.refused-held $? "/dev/vfio/$G open in PID $$: exit $rc, stderr: '$(cat "$T/vb.err")'"
	else
		vh_fail t2.vbios.refused-held "could not open /dev/vfio/$G to hold the group"
	fi
	echo >"/sys/bus/pci/devices/$GPU/driver_override"
	[ "$(drv "$GPU")" = none ] || echo "$GPU" >"/sys/bus/pci/devices/$GPU/driver/unbind"
	echo "$GPU" >/sys/bus/pci/drivers_probe
	wait_drv "$GPU" bochs-drm 20
	[ "$(drv "$GPU")" = bochs-drm ] && [ "$(ovr "$GPU")" = "(null)" ]
	vh_result t2.vbios.rebound $? "GPU=$(drv "$GPU") override=$(ovr "$GPU")"
else
	say "vbios: $GPU has no rom attribute in sysfs (no ROM BAR visible): the vbios checks are skipped"
	for id in refused-bound dump check dump-vfio refused-held rebound; do
		vh_fail "t2.vbios.$id" "skipped: $GPU has no ROM BAR in this guest (no /sys/bus/pci/devices/$GPU/rom)"
	done
fi

. /vh/tier2-stages.sh

say "tier 2 done, uptime $(uptime_s)s"
vh_end
