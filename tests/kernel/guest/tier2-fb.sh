# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# Tier 2, sourced by tier2.sh before bochs is loaded: the display function has
# no driver, so OVMF's firmware framebuffer (efi-framebuffer.0, efifb) still
# sits on it and fbcon runs on that framebuffer. framebuffer = true (with
# vtconsole = true, as a desktop host would have it) must unbind it through its
# driver link, record it, move the GPU to vfio-pci and bind it again on
# release; a late failure must roll all of it back.
# Uses GPU, AUD, NIC, G, T, CONF from tier2.sh; every check id printed here
# must be in run.sh's list.

UUID_FB=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c05
UUID_FBLATE=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c06
EFB=efi-framebuffer.0
efifb_probes() { dmesg | grep -c 'EFI VGA frame buffer device'; }
has_efi_fb() { case $(fbs) in *"EFI VGA"*) return 0 ;; esac; return 1; }

FBCON=$(fbcon_name)
FBCON_REC="vtcon name=$(echo "$FBCON" | sed 's/ /%20/g')"
[ "$(drv "$GPU")" = none ] && [ "$(drv "$AUD")" = snd_hda_intel ] &&
	[ "$(pdrv $EFB)" = efi-framebuffer ] && has_efi_fb && [ "$(fbcon_bind)" = 1 ]
vh_result t2.fb.env $? \
	"GPU driver=$(drv "$GPU") (bochs not loaded) AUD=$(drv "$AUD"), $EFB driver=$(pdrv $EFB), /proc/fb='$(fbs)', console '$FBCON' bind=$(fbcon_bind)"

# ------------------------------------------------------------ prepare / release
write_conf "$CONF" <<CONF
vm = (
  {
    name = "vh-fb";
    uuid = "$UUID_FB";
    vtconsole = true;
    framebuffer = true;
    pci = {
      devices = [ "$GPU", "$AUD" ];
      timeout = 5.0;
    };
  }
);
CONF
domain_xml vh-fb "$UUID_FB" "$GPU" "$AUD" >"$T/fb.xml"
snapshot_full "$T/fb0"
run_hook "$T/fb.xml" vh-fb prepare begin -
[ "$RC" = 0 ] && quiet_ok
vh_result t2.fb.prepare.exit $? "exit $RC, output: '$(herr)'"

# Unbound through its driver link -- or removed by the kernel itself when
# vfio-pci took the device (aperture hand-over since 6.0): say which.
efb_prep=$(pdrv $EFB)
{ [ "$efb_prep" = none ] || [ "$efb_prep" = gone ]; } && ! has_efi_fb && [ "$(fbcon_bind)" != 1 ]
vh_result t2.fb.prepare.unbound $? \
	"$EFB after prepare: $([ "$efb_prep" = gone ] && echo "removed by the kernel" || echo "driver=$efb_prep"), /proc/fb='$(fbs)', console '$FBCON': $(fbcon_bind)"

records "/run/vfiohook/$UUID_FB.state" >"$T/fb.rec"
ln_vt=$(grep -n -x -F "$FBCON_REC" "$T/fb.rec" | cut -d: -f1)
ln_fb=$(grep -n -x -F "framebuffer device=$EFB driver=efi-framebuffer" "$T/fb.rec" | cut -d: -f1)
[ -n "$ln_vt" ] && [ -n "$ln_fb" ] && [ "$ln_vt" -lt "$ln_fb" ]
vh_result t2.fb.prepare.recorded $? \
	"state records: $(tr '\n' '|' <"$T/fb.rec")"

[ "$(drv "$GPU")" = vfio-pci ] && [ "$(drv "$AUD")" = vfio-pci ]
vh_result t2.fb.prepare.vfio-pci $? "GPU=$(drv "$GPU") AUD=$(drv "$AUD")"
/vh/vfio-viable "$G" "$GPU" "$AUD" >"$T/viable" 2>&1
vh_result t2.fb.prepare.viable $? "$(cat "$T/viable")"

# Release through the shell mode with -v: the same dispatch, and its log
# shows what the framebuffer stage did (a warning if the device is gone).
run_verbose "$T/fb.xml" vh-fb release end destroyed
[ "$RC" = 0 ] && [ ! -s "$HOUT" ]
vh_result t2.fb.release.exit $? "exit $RC, stdout $(wc -c <"$HOUT")B"
wait_drv "$AUD" snd_hda_intel 20
if [ -e "/sys/bus/platform/devices/$EFB" ]; then
	EFB_KEPT=1
	[ "$(pdrv $EFB)" = efi-framebuffer ] && has_efi_fb
	vh_result t2.fb.release.rebound $? \
		"the kernel kept $EFB while vfio-pci held the GPU; after release: driver=$(pdrv $EFB), /proc/fb='$(fbs)', log: '$(grep -F "$EFB" "$HERR" | tr '\n' ' ')'"
else
	EFB_KEPT=0
	grep -q "framebuffer: $EFB is gone" "$HERR" && ! grep -q -i 'cannot' "$HERR"
	vh_result t2.fb.release.rebound $? \
		"the kernel removed $EFB (vfio-pci's aperture hand-over): release must warn and not fail: exit $RC, log: '$(grep -F "$EFB" "$HERR" | tr '\n' ' ')'"
fi
if [ "$EFB_KEPT" = 1 ]; then
	wait_fbcon 1
	[ "$(fbcon_bind)" = 1 ]
	vh_result t2.fb.release.vtcon $? \
		"console '$FBCON' bind=$(fbcon_bind) ($(grep -q 'vtcon.*bound again' "$HERR" && echo "bound again by vfiohook" || echo "vfiohook did not bind it: it was bound already (fbcon takes it back by itself when the framebuffer returns) or could not be"))"
else
	# no framebuffer left: there is no such console to bind; vfiohook says so
	[ "$(fbcon_bind)" = gone ] && grep -q "no console named" "$HERR"
	vh_result t2.fb.release.vtcon $? \
		"no framebuffer left, console '$FBCON': $(fbcon_bind); log: '$(grep vtcon "$HERR" | tr '\n' ' ')'"
fi
# Without the firmware framebuffer device nothing about it can come back:
# compare the rest.
sans_fb() { grep -v -e '^platform ' -e '^/proc/fb: ' -e '^vtcon ' "$1" >"$1.sans"; }
snapshot_full "$T/fb1"
if [ "$EFB_KEPT" = 1 ]; then
	same_snapshot "$T/fb0" "$T/fb1"
else
	sans_fb "$T/fb0"
	sans_fb "$T/fb1"
	same_snapshot "$T/fb0.sans" "$T/fb1.sans"
fi
vh_result t2.fb.release.as-before $? \
	"PCI drivers/overrides, modules, consoles, $EFB, /proc/fb, hugepage pools, state files identical to before prepare$([ "$EFB_KEPT" = 1 ] || echo " (framebuffer lines left out: the kernel removed $EFB)")"

# ------------------------------------------------------------ failure late in prepare
# hugepages (64 MiB of 2 MiB pages over both NUMA nodes), vtcon, framebuffer
# and kmod (the audio function's driver module; bochs is not loaded) run, the
# GPU functions go to vfio-pci, then the NIC never binds (the bind-mounted
# driver_override of tier2.sh's late failure): all of it must be undone.
write_conf "$CONF" <<CONF
vm = (
  {
    name = "vh-fblate";
    uuid = "$UUID_FBLATE";
    vtconsole = true;
    framebuffer = true;
    modules = { unload = [ "snd_hda_intel" ]; };
    hugepages = { timeout = 5; };
    pci = {
      devices = [ "$GPU", "$AUD", "$NIC" ];
      timeout = 1.0;
    };
  }
);
CONF
domain_xml_mem 65536 2048 0-1 vh-fblate "$UUID_FBLATE" "$GPU" "$AUD" "$NIC" >"$T/fblate.xml"
snapshot_full "$T/before"
p0=$(efifb_probes)
h0=$(vmstat htlb_buddy_alloc_success)
is0=$(modino snd_hda_intel)
cp "/sys/bus/pci/devices/$NIC/driver_override" "$T/fake_override"
if mount -o bind "$T/fake_override" "/sys/bus/pci/devices/$NIC/driver_override"; then
	run_hook "$T/fblate.xml" vh-fblate prepare begin -
	umount "/sys/bus/pci/devices/$NIC/driver_override"
else
	say "cannot bind-mount over $NIC/driver_override"
	RC=not-run
fi
wait_drv "$NIC" e1000e 20
wait_drv "$AUD" snd_hda_intel 20
[ "$EFB_KEPT" = 1 ] && wait_fbcon 1
snapshot_full "$T/after"
p1=$(efifb_probes)
h1=$(vmstat htlb_buddy_alloc_success)
is1=$(modino snd_hda_intel)
[ "$RC" = 1 ] && one_error_line && grep -q "$NIC" "$HERR"
vh_result t2.fb.late-fail.exit $? \
	"exit $RC, stdout $(wc -c <"$HOUT")B, stderr: '$(herr)'"
if [ "$EFB_KEPT" = 1 ]; then
	same_snapshot "$T/before" "$T/after"
else
	sans_fb "$T/before"
	sans_fb "$T/after"
	same_snapshot "$T/before.sans" "$T/after.sans"
fi
vh_result t2.fb.late-fail.unchanged $? \
	"PCI drivers/overrides, modules, consoles, $EFB, /proc/fb, hugepage pools, state files identical before/after"
# Late for real: 32 huge pages were allocated (and given back), efifb was
# unbound and probed again, snd_hda_intel unloaded and loaded again (a new
# /sys/module directory).
[ "$((h1 - h0))" -ge 32 ] && { [ "$EFB_KEPT" = 0 ] || [ "$p1" -gt "$p0" ]; } &&
	[ -n "$is0" ] && [ -n "$is1" ] && [ "$is0" != "$is1" ]
vh_result t2.fb.late-fail.was-late $? \
	"huge pages allocated during the failed prepare: $((h1 - h0)) (htlb_buddy_alloc_success), efifb probed $p0 time(s) before, $p1 after, /sys/module/snd_hda_intel inode $is0 -> $is1"
