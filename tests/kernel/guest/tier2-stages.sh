# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# Tier 2, sourced at the end of tier2.sh (bochs-drm drives the GPU,
# snd_hda_intel its audio function): the stages that run before the PCI one.
#   * vtconsole + modules.unload + the two GPU functions: the framebuffer
#     console unbound, the GPU driver modules unloaded with libkmod (holders
#     first), both functions on vfio-pci and the group viable; release loads
#     the modules again, the drivers and the console come back;
#   * hugepages: the domain's <memory> in 2 MiB pages spread over the two NUMA
#     nodes of its numatune, only the deficit added, exactly that given back;
#     4 x 1 GiB on a 1 GiB guest refused with got/wanted, pools untouched;
#   * a failure late in prepare after all of these rolls everything back.
# Uses GPU, AUD, NIC, G, T, CONF from tier2.sh; every check id printed here
# must be in run.sh's list.

UUID_ST=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c07
UUID_HP=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c08
UUID_1G=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c0a
UUID_STLATE=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c0b
HP2=/sys/kernel/mm/hugepages/hugepages-2048kB
HP1G=/sys/kernel/mm/hugepages/hugepages-1048576kB
mods() { # which of the named modules are loaded
	for _m in "$@"; do modloaded "$_m" && printf '%s ' "$_m"; done
}

wait_drv "$GPU" bochs-drm 20
wait_fbcon 1
FBCON=$(fbcon_name)
FBCON_REC="vtcon name=$(echo "$FBCON" | sed 's/ /%20/g')"
holders=$(ls /sys/module/snd_hda_codec/holders 2>/dev/null | tr '\n' ' ')
[ "$(drv "$GPU")" = bochs-drm ] && [ "$(drv "$AUD")" = snd_hda_intel ] &&
	[ "$(mods bochs snd_hda_intel snd_hda_codec)" = "bochs snd_hda_intel snd_hda_codec " ] &&
	[ "$holders" = "snd_hda_intel " ] && [ "$(fbcon_bind)" = 1 ]
vh_result t2.stages.env $? \
	"GPU=$(drv "$GPU") AUD=$(drv "$AUD"), loaded: $(mods bochs snd_hda_intel snd_hda_codec), holders of snd_hda_codec: $holders, console '$FBCON' bind=$(fbcon_bind), /proc/fb='$(fbs)', efi-framebuffer.0: $(pdrv efi-framebuffer.0)"

# ------------------------------------------------------------ refused before any change
# Only the VGA function named, its audio sibling left on snd_hda_intel: the PCI stage refuses.
# With the console, the firmware framebuffer and the GPU's DRM module in the same config, the
# refusal must come before any of them is touched: no console switch or driver (un)bind in
# the kernel log, the same modules, the console still bound.
UUID_REF=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c0d
write_conf "$CONF" <<CONF
vm = (
  {
    name = "vh-refused";
    uuid = "$UUID_REF";
    vtconsole = true;
    framebuffer = true;
    modules = { unload = [ "bochs" ]; };
    pci = { devices = [ "$GPU" ]; };
  }
);
CONF
domain_xml vh-refused "$UUID_REF" "$GPU" >"$T/ref.xml"
dmesg >"$T/ref.k0"
cut -d' ' -f1 /proc/modules | sort >"$T/ref.m0"
run_hook "$T/ref.xml" vh-refused prepare begin -
dmesg >"$T/ref.k1"
cut -d' ' -f1 /proc/modules | sort >"$T/ref.m1"
[ "$RC" = 1 ] && one_error_line && grep -q "$AUD" "$HERR"
vh_result t2.refused.line $? "exit $RC, stderr: '$(herr)'"
tail -n +"$(($(wc -l <"$T/ref.k0") + 1))" "$T/ref.k1" >"$T/ref.knew"
! grep -Eiq 'console|fbcon|bind|bochs|vfio|snd_hda|drm' "$T/ref.knew" && cmp -s "$T/ref.m0" "$T/ref.m1" &&
	[ "$(fbcon_bind)" = 1 ] && [ "$(drv "$GPU")" = bochs-drm ] && [ ! -e "/run/vfiohook/$UUID_REF.state" ]
vh_result t2.refused.nothing-first $? \
	"new kernel log lines: '$(tr '\n' '|' <"$T/ref.knew" | cut -c1-300)', modules changed: $(cmp -s "$T/ref.m0" "$T/ref.m1" && echo no || echo yes), console bind=$(fbcon_bind), GPU=$(drv "$GPU")"

# ------------------------------------------------------------ users of the GPU
# A process with /dev/dri/card0 open holds bochs. One that lets go within modules.wait is
# waited for; one that does not is named in a refusal before anything changed.
UUID_US=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c0e
write_conf "$CONF" <<CONF
vm = (
  {
    name = "vh-users";
    uuid = "$UUID_US";
    vtconsole = true;
    modules = { unload = [ "bochs" ]; wait = 4; };
  }
);
CONF
domain_xml vh-users "$UUID_US" >"$T/us.xml"
card=$(ls /dev/dri/card* 2>/dev/null | head -n 1)
sh -c 'exec sleep 2' <"$card" &
holder=$!
sleep 0.3
t0=$(uptime_s)
run_hook "$T/us.xml" vh-users prepare begin -
took=$(secs_since "$t0")
[ "$RC" = 0 ] && quiet_ok && [ -z "$(mods bochs)" ] && awk -v t="$took" 'BEGIN { exit !(t >= 1.2) }'
vh_result t2.users.waited $? "card $card held by pid $holder for 2 s: exit $RC after ${took}s, bochs loaded: '$(mods bochs)', output: '$(herr)'"
wait "$holder" 2>/dev/null
run_hook "$T/us.xml" vh-users release end destroyed
wait_drv "$GPU" bochs-drm 20
wait_fbcon 1
sed -i 's/wait = 4;/wait = 1;/' "$CONF"
card=$(ls /dev/dri/card* 2>/dev/null | head -n 1)
sh -c 'exec sleep 600' <"$card" &
holder=$!
sleep 0.3
cut -d' ' -f1 /proc/modules | sort >"$T/us.m0"
t0=$(uptime_s)
run_hook "$T/us.xml" vh-users prepare begin -
took=$(secs_since "$t0")
cut -d' ' -f1 /proc/modules | sort >"$T/us.m1"
[ "$RC" = 1 ] && one_error_line && grep -q "in use by sleep (pid $holder), still after 1 s" "$HERR" &&
	cmp -s "$T/us.m0" "$T/us.m1" && [ "$(fbcon_bind)" = 1 ] && awk -v t="$took" 'BEGIN { exit !(t < 4) }'
vh_result t2.users.refused $? "held by pid $holder for good: exit $RC after ${took}s, stderr '$(herr)', modules changed: $(cmp -s "$T/us.m0" "$T/us.m1" && echo no || echo yes), console bind=$(fbcon_bind)"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# ------------------------------------------------------------ vtconsole alone
# Nothing else touches the display here, so the console stays registered,
# unbound, and only vfiohook can bind it again (fbcon does not by itself).
UUID_VT=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2c0c
write_conf "$CONF" <<CONF
vm = (
  {
    name = "vh-vtcon";
    uuid = "$UUID_VT";
    vtconsole = true;
  }
);
CONF
domain_xml vh-vtcon "$UUID_VT" >"$T/vt.xml"
vtcons >"$T/vt0"
run_hook "$T/vt.xml" vh-vtcon prepare begin -
[ "$RC" = 0 ] && quiet_ok && [ "$(fbcon_bind)" = 0 ]
vh_result t2.vtcon.prepare $? \
	"vtconsole = true alone: exit $RC, output: '$(herr)', consoles: $(vtcons | tr '\n' ' ')"
run_hook "$T/vt.xml" vh-vtcon release end destroyed
vtcons >"$T/vt1"
[ "$RC" = 0 ] && quiet_ok && [ "$(fbcon_bind)" = 1 ] && same_snapshot "$T/vt0" "$T/vt1" &&
	[ ! -e "/run/vfiohook/$UUID_VT.state" ]
vh_result t2.vtcon.release $? \
	"exit $RC, output: '$(herr)', consoles: $(vtcons | tr '\n' ' ')(as before: $(cmp -s "$T/vt0" "$T/vt1" && echo yes || echo no))"

# ------------------------------------------------------------ vtconsole + modules + pci
# snd_hda_codec is listed, not snd_hda_intel: its holder snd_hda_intel (the
# audio function's driver) must go first, else the kernel refuses (in use).
write_conf "$CONF" <<CONF
vm = (
  {
    name = "vh-stages";
    uuid = "$UUID_ST";
    vtconsole = true;
    modules = { unload = [ "bochs", "snd_hda_codec" ]; };
    pci = {
      devices = [ "$GPU", "$AUD" ];
      timeout = 5.0;
    };
  }
);
CONF
domain_xml vh-stages "$UUID_ST" "$GPU" "$AUD" >"$T/st.xml"
snapshot_full "$T/st0"
# libkmod, not modprobe/rmmod: no module tool on the hook's PATH meanwhile
hide_modtools
modtools=$(modtools_on_path)
run_hook "$T/st.xml" vh-stages prepare begin -
[ "$RC" = 0 ] && quiet_ok
vh_result t2.stages.prepare.exit $? "exit $RC, output: '$(herr)'"
records "/run/vfiohook/$UUID_ST.state" >"$T/st.rec"
[ "$(fbcon_bind)" != 1 ] && grep -q -x -F "$FBCON_REC" "$T/st.rec"
vh_result t2.stages.prepare.vtcon $? \
	"console '$FBCON': $(fbcon_bind) (bind value, or gone with the last framebuffer), recorded: $(grep -c -x -F "$FBCON_REC" "$T/st.rec")"
kmods=$(grep '^kmod ' "$T/st.rec" | tr '\n' '|')
[ -z "$(mods bochs snd_hda_intel snd_hda_codec)" ] &&
	[ "$kmods" = "kmod module=bochs|kmod module=snd_hda_intel|kmod module=snd_hda_codec|" ] && [ -z "$modtools" ]
vh_result t2.stages.prepare.modules $? \
	"still loaded of bochs snd_hda_intel snd_hda_codec: '$(mods bochs snd_hda_intel snd_hda_codec)', unloaded in this order: $kmods (module tools on the hook's PATH: '$modtools')"
[ "$(drv "$GPU")" = vfio-pci ] && [ "$(drv "$AUD")" = vfio-pci ]
vh_result t2.stages.prepare.vfio-pci $? "GPU=$(drv "$GPU") AUD=$(drv "$AUD")"
/vh/vfio-viable "$G" "$GPU" "$AUD" >"$T/viable" 2>&1
vh_result t2.stages.prepare.viable $? "$(cat "$T/viable")"

# bochs through libkmod: a softdep naming the GPU's modalias (an alias the hook leaves to
# libkmod); the sound modules without it. The loader's log tells which.
mkdir -p /etc/modprobe.d
echo "softdep bochs pre: $(cat "/sys/bus/pci/devices/$GPU/modalias")" >/etc/modprobe.d/vh-alias.conf
rm -f "$T"/ld-release.*
run_event "$T/st.xml" hook env LD_DEBUG=files LD_DEBUG_OUTPUT="$T/ld-release" "$HOOK" vh-stages release end destroyed
rc_rel=$RC
rm -f /etc/modprobe.d/vh-alias.conf
grep -q 'file=libkmod' "$T"/ld-release.*
vh_result t2.stages.release.libkmod $? \
	"a softdep naming an alias: libkmod loaded (libraries: $(cat "$T"/ld-release.* 2>/dev/null | sed -n 's/.*file=\([^ ]*\) .*generating link map.*/\1/p' | sort -u | tr '\n' ' '))"
unhide_modtools
[ "$rc_rel" = 0 ] && quiet_ok
vh_result t2.stages.release.exit $? "exit $rc_rel, output: '$(herr)'"
[ "$(mods bochs snd_hda_intel snd_hda_codec)" = "bochs snd_hda_intel snd_hda_codec " ] && [ -z "$modtools" ]
vh_result t2.stages.release.modules $? "loaded again (no module tool on PATH): $(mods bochs snd_hda_intel snd_hda_codec)"
wait_drv "$GPU" bochs-drm 20
wait_drv "$AUD" snd_hda_intel 20
[ "$(drv "$GPU")" = bochs-drm ] && [ "$(drv "$AUD")" = snd_hda_intel ]
vh_result t2.stages.release.drivers $? "GPU=$(drv "$GPU") AUD=$(drv "$AUD")"
wait_fbcon 1
[ "$(fbcon_bind)" = 1 ]
vh_result t2.stages.release.vtcon $? "console '$FBCON' bind=$(fbcon_bind), /proc/fb='$(fbs)'"
[ ! -e "/run/vfiohook/$UUID_ST.state" ]
vh_result t2.stages.release.state-gone $? "/run/vfiohook: $(ls /run/vfiohook 2>/dev/null | tr '\n' ' ')"
snapshot_full "$T/st1"
same_snapshot "$T/st0" "$T/st1"
vh_result t2.stages.release.as-before $? \
	"PCI drivers/overrides, modules, consoles, /proc/fb, hugepage pools, state files identical to before prepare"

# ------------------------------------------------------------ hugepages over two NUMA nodes
nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | sed 's|.*/||' | tr '\n' ' ')
[ "$nodes" = "node0 node1 " ] && [ -d "$HP1G" ] &&
	[ -d /sys/devices/system/node/node0/hugepages/hugepages-2048kB ] &&
	[ -d /sys/devices/system/node/node1/hugepages/hugepages-2048kB ] &&
	[ "$(hp_nr 0 2048)" = 0 ] && [ "$(hp_nr 1 2048)" = 0 ]
vh_result t2.hp.env $? \
	"NUMA nodes: $nodes; sizes: $(ls /sys/kernel/mm/hugepages | tr '\n' ' ')$([ -d "$HP1G" ] || echo "(no 1 GiB pages: CPU without pdpe1gb)"); 2 MiB pools node0=$(hp_nr 0 2048) node1=$(hp_nr 1 2048)"

# 4 free pages on node0 before the VM: they count towards its share there,
# only the deficit is added, and release must leave them (never "echo 0").
echo 4 >/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
write_conf "$CONF" <<CONF
vm = (
  {
    name = "vh-hp";
    uuid = "$UUID_HP";
    hugepages = { timeout = 5; };
  }
);
CONF
# 64 MiB of 2 MiB pages = 32 pages, 16 per node of nodeset 0-1
domain_xml_mem 65536 2048 0-1 vh-hp "$UUID_HP" >"$T/hp.xml"
hp_pools >"$T/hp0"
run_hook "$T/hp.xml" vh-hp prepare begin -
[ "$RC" = 0 ] && quiet_ok
vh_result t2.hp.prepare.exit $? "exit $RC, output: '$(herr)'"
read -r tot2 <"$HP2/nr_hugepages"
[ "$(hp_nr 0 2048)" = 16 ] && [ "$(hp_nr 1 2048)" = 16 ] && [ "$tot2" = 32 ]
vh_result t2.hp.prepare.split $? \
	"2 MiB pools for 64 MiB over nodeset 0-1: node0 4 -> $(hp_nr 0 2048) (want 16: 12 added to the 4 free), node1 0 -> $(hp_nr 1 2048) (want 16), total $tot2 (want 32)"
run_hook "$T/hp.xml" vh-hp release end destroyed
[ "$RC" = 0 ] && quiet_ok
vh_result t2.hp.release.exit $? "exit $RC, output: '$(herr)'"
hp_pools >"$T/hp1"
same_snapshot "$T/hp0" "$T/hp1"
vh_result t2.hp.release.exact $? \
	"after release: node0=$(hp_nr 0 2048) (want 4), node1=$(hp_nr 1 2048) (want 0); every pool as before"
echo 0 >/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages

# 4 x 1 GiB is more than this 1 GiB guest has: refused before any pool is
# written, saying so.
write_conf "$CONF" <<CONF
vm = (
  {
    name = "vh-1g";
    uuid = "$UUID_1G";
    hugepages = { size = "1G"; pages = 4; timeout = 2; };
  }
);
CONF
domain_xml_mem 4194304 1048576 "" vh-1g "$UUID_1G" >"$T/1g.xml"
snapshot_full "$T/before"
run_hook "$T/1g.xml" vh-1g prepare begin -
snapshot_full "$T/after"
[ "$RC" = 1 ] && one_error_line && grep -q "4 huge pages of 1048576 KiB are more than this host could ever give: it has .* MiB of memory" "$HERR" &&
	same_snapshot "$T/before" "$T/after"
vh_result t2.hp.beyond-memory $? "exit $RC, stderr: '$(herr)'"

# Between what is free now and what the guest could ever give (its memory less
# the 128 MiB the hook leaves the kernel): refused within the timeout, with what
# it got and what it wanted, and nothing kept. When nearly all of it is free (it
# happens after a release), a file on the guest's RAM file system holds enough
# that the most the hook accepts cannot be had.
memkb() { sed -n "s/^$1: *\([0-9]*\) kB/\1/p" /proc/meminfo; }
LIMIT=$((($(memkb MemTotal) - 131072) / 2048))
if [ $(($(memkb MemFree) / 2048 + 32)) -gt "$LIMIT" ]; then
	dd if=/dev/zero of="$T/hold" bs=1M count=$(($(memkb MemFree) / 1024 - LIMIT * 2 + 128)) 2>/dev/null
fi
SHORT=$((($(memkb MemFree) + $(memkb MemTotal) - 131072) / 2 / 2048))
[ "$SHORT" -le "$LIMIT" ] || SHORT=$LIMIT
write_conf "$CONF" <<CONF
vm = (
  {
    name = "vh-1g";
    uuid = "$UUID_1G";
    hugepages = { size = "2M"; pages = $SHORT; timeout = 2; };
  }
);
CONF
domain_xml_mem $((SHORT * 2048)) 2048 "" vh-1g "$UUID_1G" >"$T/1g.xml"
snapshot_full "$T/before"
t0=$(uptime_s)
run_hook "$T/1g.xml" vh-1g prepare begin -
took=$(secs_since "$t0")
snapshot_full "$T/after"
[ "$RC" = 1 ] && one_error_line
vh_result t2.hp.shortfall.exit $? "exit $RC after ${took}s (timeout = 2), stdout $(wc -c <"$HOUT")B, stderr: '$(herr)'"
got=$(sed -n "s/.*only \([0-9][0-9]*\) of $SHORT 2 MiB huge pages.*/\1/p" "$HERR")
[ -n "$got" ] && [ "$got" -lt "$SHORT" ]
vh_result t2.hp.shortfall.message $? "got/wanted in the message: '${got:-none}' of $SHORT 2 MiB pages (at most $LIMIT accepted)"
rm -f "$T/hold"
same_snapshot "$T/before" "$T/after"
vh_result t2.hp.shortfall.unchanged $? \
	"every hugepage pool (2 MiB: $(cat "$HP2/nr_hugepages")), PCI, modules, consoles and state files as before"

# ------------------------------------------------------------ failure late in prepare
# Every stage before the PCI one runs (hugepages, vtcon, framebuffer -- a no-op
# now: bochs removed efi-framebuffer.0 --, the GPU modules), both GPU
# functions go to vfio-pci, then the NIC never binds: all of it undone.
write_conf "$CONF" <<CONF
vm = (
  {
    name = "vh-stlate";
    uuid = "$UUID_STLATE";
    vtconsole = true;
    framebuffer = true;
    modules = { unload = [ "bochs", "snd_hda_intel" ]; };
    hugepages = { timeout = 5; };
    pci = {
      devices = [ "$GPU", "$AUD", "$NIC" ];
      timeout = 1.0;
    };
  }
);
CONF
domain_xml_mem 65536 2048 0-1 vh-stlate "$UUID_STLATE" "$GPU" "$AUD" "$NIC" >"$T/stlate.xml"
snapshot_full "$T/before"
ib0=$(modino bochs) is0=$(modino snd_hda_intel)
h0=$(vmstat htlb_buddy_alloc_success)
cp "/sys/bus/pci/devices/$NIC/driver_override" "$T/fake_override"
if mount -o bind "$T/fake_override" "/sys/bus/pci/devices/$NIC/driver_override"; then
	run_hook "$T/stlate.xml" vh-stlate prepare begin -
	umount "/sys/bus/pci/devices/$NIC/driver_override"
else
	say "cannot bind-mount over $NIC/driver_override"
	RC=not-run
fi
wait_drv "$NIC" e1000e 20
wait_drv "$GPU" bochs-drm 20
wait_drv "$AUD" snd_hda_intel 20
wait_fbcon 1
snapshot_full "$T/after"
ib1=$(modino bochs) is1=$(modino snd_hda_intel)
h1=$(vmstat htlb_buddy_alloc_success)
[ "$RC" = 1 ] && one_error_line && grep -q "$NIC" "$HERR"
vh_result t2.stages.late-fail.exit $? \
	"exit $RC, stdout $(wc -c <"$HOUT")B, stderr: '$(herr)'"
same_snapshot "$T/before" "$T/after"
vh_result t2.stages.late-fail.unchanged $? \
	"PCI drivers/overrides, modules (/proc/modules), console bind values, /proc/fb, hugepage pools, state files identical before/after"
# Late for real: the modules were unloaded and loaded again (new
# /sys/module directories) and 32 huge pages were allocated and given back.
[ -n "$ib0" ] && [ -n "$ib1" ] && [ "$ib0" != "$ib1" ] &&
	[ -n "$is0" ] && [ -n "$is1" ] && [ "$is0" != "$is1" ] && [ "$((h1 - h0))" -ge 32 ]
vh_result t2.stages.late-fail.was-late $? \
	"/sys/module inode bochs $ib0 -> $ib1, snd_hda_intel $is0 -> $is1 (reloaded), huge pages allocated meanwhile: $((h1 - h0))"
