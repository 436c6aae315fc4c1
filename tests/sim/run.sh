#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Black-box tests of the built vfiohook binary against a simulated host (tests/simhost): a
# FUSE file system whose PCI, module and mount files behave like the kernel's, with faults.
# Runs every case once per binary given (default: the normal and the sanitizer build).
# Needs root (FUSE mounts) and /dev/fuse.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dropins.sh"
. "$(dirname "$0")/doctor.sh"
. "$(dirname "$0")/import.sh"
. "$(dirname "$0")/pin.sh"
. "$(dirname "$0")/vbios.sh"
. "$(dirname "$0")/admin.sh"

if [ "$(id -u)" != 0 ] || [ ! -c /dev/fuse ]; then
	echo "simulated-host tier skipped: needs root and /dev/fuse"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
trap 'sim_down' EXIT

conf() { printf '%s\n' "$1" > "$T/kvm.conf"; chmod 600 "$T/kvm.conf"; }
WIN10_XML=$DOMAINS/win10.xml
RX590_XML=$DOMAINS/rx590.xml
GPU="0000:09:00.0 0000:09:00.1 0000:09:00.2 0000:09:00.3"

t_win10_round_trip() {
	sim_up win10
	vh win10 prepare begin < "$WIN10_XML"
	check "win10: prepare exits 0" '[ "$RC" = 0 ]'
	check "win10: prepare prints nothing on stdout" '[ -z "$OUT" ]'
	local all=yes d
	for d in $GPU; do [ "$(drv $d)" = vfio-pci ] && [ "$(override $d)" = vfio-pci ] || all=no; done
	check "win10: all four GPU functions on vfio-pci" '[ $all = yes ]'
	check "win10: bridges stay on their drivers" '[ "$(drv 0000:00:03.1)" = pcieport ]'
	check "win10: /dev/vfio/16 exists" '[ -e "$T/root/dev/vfio/16" ]'
	check "win10: state file written" '[ "$(state_files)" = 1 ]'
	vh win10 release end shutdown < "$WIN10_XML"
	check "win10: release exits 0, silent" '[ "$RC" = 0 ] && [ -z "$OUT$ERR" ]'
	check "win10: release restores the host exactly (drivers, overrides, modules)" 'unchanged'
	sim_down
}

t_win10_stages() {
	# what each stage of the example config did, and that release undid it
	sim_up win10
	local pol=$T/root/sys/devices/system/cpu/cpufreq
	vh win10 prepare begin < "$WIN10_XML"
	check "win10 stages: prepare exits 0" '[ "$RC" = 0 ]'
	check "win10 stages: 8192 pages of 2 MiB for 16 GiB (after compacting)" '[ "$(cat "$T/root/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 8192 ]'
	check "win10 stages: display manager and nvidia-persistenced stopped" '[ "$(unit_state gdm.service)" = inactive ] && [ "$(unit_state nvidia-persistenced.service)" = inactive ]'
	check "win10 stages: fbcon unbound (found by name)" '[ "$(cat "$T/root/sys/class/vtconsole/vtcon1/bind")" = 0 ]'
	check "win10 stages: efi-framebuffer.0 unbound" '[ ! -e "$T/root/sys/bus/platform/devices/efi-framebuffer.0/driver" ]'
	check "win10 stages: the nvidia modules unloaded" '[ ! -e "$T/root/sys/module/nvidia/initstate" ] && [ ! -e "$T/root/sys/module/nvidia_drm/initstate" ]'
	check "win10 stages: performance governor on every policy" '[ "$(cat "$pol"/policy*/scaling_governor | sort -u)" = performance ]'
	check "win10 stages: host slices on CPUs 0,8" 'grep -q "^slice user.slice active allowed=0,8" "$T/systemd.dump"'
	vh win10 release end shutdown < "$WIN10_XML"
	check "win10 stages: release restores sysfs exactly (consoles, framebuffer, modules, pool, governors and EPP)" 'unchanged'
	check "win10 stages: release restores systemd exactly" 'systemd_unchanged'
	sim_down
}

t_lean_process() {
	# the domain XML libvirt writes is read without libxml2 (and the ICU and libstdc++ it
	# pulls in): a prepare loads libconfig for kvm.conf, and what its stages need
	sim_up win10
	rm -f "$T"/ld.*
	LD_DEBUG=files LD_DEBUG_OUTPUT=$T/ld vh win10 prepare begin < "$WIN10_XML"
	check "lean: prepare exits 0" '[ "$RC" = 0 ]'
	check "lean: the loader's log names libconfig (kvm.conf)" 'cat "$T"/ld.* | grep -q "file=libconfig\.so"'
	check "lean: libxml2 is not loaded for libvirt's domain XML" '! cat "$T"/ld.* | grep -q "file=libxml2"'
	vh win10 release end shutdown < "$WIN10_XML"
	check "lean: release restores the host" '[ "$RC" = 0 ] && unchanged'
	# a document the strict reader leaves to libxml2 (an XML declaration, CRLF line ends)
	{ printf '<?xml version="1.0" encoding="UTF-8"?>\r\n'; sed 's/$/\r/' "$WIN10_XML"; } > "$T/crlf.xml"
	rm -f "$T"/ld.*
	LD_DEBUG=files LD_DEBUG_OUTPUT=$T/ld vh win10 prepare begin < "$T/crlf.xml"
	check "lean: a document with an XML declaration and CRLF goes to libxml2, and prepare works" \
		'[ "$RC" = 0 ] && cat "$T"/ld.* | grep -q "file=libxml2" && [ "$(drv 0000:09:00.0)" = vfio-pci ]'
	vh win10 release end shutdown < "$T/crlf.xml"
	check "lean: and release restores the host" '[ "$RC" = 0 ] && unchanged'
	rm -f "$T"/ld.*
	sim_down
}

t_stage_refusals() {
	sim_up win10
	conf 'vm = ( { name = "win10"; display = { units = [ "auto" ]; }; governor = { name = "ondemand"; }; } );'
	vh win10 prepare begin < "$WIN10_XML"
	check "governor amd-pstate-epp lacks: refused, naming the driver and what it offers" '[ "$RC" = 1 ] && one_line_error && contains "$ERR" "governor \"ondemand\" is not offered by policy" && contains "$ERR" "amd-pstate-epp offers: performance powersave"'
	check "governor refused: the display manager stopped before it runs again" 'unchanged && systemd_unchanged'
	conf 'vm = ( { name = "win10"; display = { units = [ "auto" ]; }; vtconsole = true; } );'
	echo "graphics-mode yes" > "$T/faults"
	vh win10 prepare begin < "$WIN10_XML"
	check "console in graphics mode: refused" '[ "$RC" = 1 ] && contains "$ERR" "cannot unbind vtcon1"'
	: > "$T/faults"
	check "console in graphics mode: rolled back" 'unchanged && systemd_unchanged'
	conf 'vm = ( { name = "win10"; vtconsole = true; framebuffer = true; } );'
	echo "sys/bus/platform/drivers/efi-framebuffer/unbind EIO" > "$T/faults"
	vh win10 prepare begin < "$WIN10_XML"
	check "framebuffer unbind fails: refused naming it" '[ "$RC" = 1 ] && contains "$ERR" "cannot unbind efi-framebuffer.0 from efi-framebuffer"'
	: > "$T/faults"
	check "framebuffer unbind fails: the console is bound again" 'unchanged'
	conf 'vm = ( { name = "win10"; hugepages = { pages = 14000; timeout = 30; }; } );'
	local t0=$SECONDS
	vh win10 prepare begin < "$WIN10_XML"
	check "hugepage shortfall: refused as soon as compaction brings no more (not at the 30 s bound), with got/wanted and advice" '[ "$RC" = 1 ] && [ $((SECONDS - t0)) -le 1 ] && contains "$ERR" "only 12288 of 14000 2 MiB huge pages could be had (compacting memory brought no more; memory too fragmented): ask for at most 12288"'
	conf 'vm = ( { name = "win10"; hugepages = { pages = 14000; timeout = 30; drop_caches = true; }; } );'
	vh -v win10 prepare begin < "$WIN10_XML"
	check "hugepage shortfall with drop_caches: the caches are dropped once, then it is enough" '[ "$RC" = 0 ] && [ "$(grep -c "drop_caches" "$T/simhost.log")" = 1 ]'
	vh win10 release end - < "$WIN10_XML"
	check "hugepage shortfall: the pool is back where it was" 'unchanged'
	conf 'vm = ( { name = "win10"; hugepages = { pages = 20000; timeout = 1; }; } );'
	vh win10 prepare begin < "$WIN10_XML"
	check "hugepages beyond the host's memory: refused before any write" '[ "$RC" = 1 ] && one_line_error && contains "$ERR" "20000 huge pages of 2048 KiB are more than this host could ever give: it has 32768 MiB of memory, and the kernel keeps at least 1024 MiB of it"'
	check "hugepages beyond the host's memory: nothing changed" 'unchanged'
	sim_down
	sim_up win10 'process 1234 comm=Xorg fds=4:/dev/nvidia0,5:/dev/dri/card0
process 1301 comm=gnome-shell fds=9:/dev/dri/card0'
	conf 'vm = ( { name = "win10"; modules = { unload = [ "nvidia" ]; wait = 1; }; } );'
	echo "module-refcnt nvidia 3" > "$T/faults"
	vh win10 prepare begin < "$WIN10_XML"
	check "GPU module in use: refused, naming the processes (no sleep)" '[ "$RC" = 1 ] && contains "$ERR" "module nvidia is in use by " && contains "$ERR" "Xorg (pid 1234)" && contains "$ERR" "gnome-shell (pid 1301)"'
	: > "$T/faults"
	check "GPU module in use: its holders that were unloaded are back" 'unchanged'
	sim_down
}

t_hugepages_two_vms() {
	sim_up rx590
	conf 'vm = ( { name = "a"; hugepages = { size = "2M"; pages = 300; }; }, { name = "b"; hugepages = { size = "2M"; pages = 200; }; } );'
	local pool=$T/root/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
	sed 's/<name>rx590</<name>a</; s/5e0b9a61/5e0b9a6a/' "$RX590_XML" > "$T/a.xml"
	sed 's/<name>rx590</<name>b</; s/5e0b9a61/5e0b9a6b/' "$RX590_XML" > "$T/b.xml"
	vh a prepare begin < "$T/a.xml"
	echo "hugepages-used 2048 0 300" > "$T/faults" # a's QEMU has its pages
	vh b prepare begin < "$T/b.xml"
	check "hugepages, two VMs: 300 + 200 pages" '[ "$(cat "$pool")" = 500 ]'
	echo "hugepages-used 2048 0 200" > "$T/faults" # a stopped; b's QEMU runs
	vh a release end - < "$T/a.xml"
	check "hugepages, two VMs: the first release gives back only its 300" '[ "$(cat "$pool")" = 200 ]'
	: > "$T/faults"
	vh b release end - < "$T/b.xml"
	check "hugepages, two VMs: the pool is as it was" 'unchanged'
	sim_down
}

t_rx590_hostdev() {
	sim_up rx590
	vh rx590 prepare begin < "$RX590_XML"
	check "rx590: prepare from <hostdev> exits 0" '[ "$RC" = 0 ]'
	check "rx590: both functions on vfio-pci" '[ "$(drv 0000:0a:00.0)" = vfio-pci ] && [ "$(drv 0000:0a:00.1)" = vfio-pci ]'
	check "rx590: onboard audio untouched" '[ "$(drv 0000:00:1f.3)" = snd_hda_intel ]'
	vh rx590 release end destroyed < "$RX590_XML"
	check "rx590: release restores the host exactly" 'unchanged'
	sim_down
}

t_fault_midway() {
	local what=$1 fault=$2 expect=$3
	sim_up win10
	printf '%s\n' "$fault" > "$T/faults"
	vh win10 prepare begin < "$WIN10_XML"
	check "$what: prepare fails" '[ "$RC" = 1 ]'
	check "$what: one clear line on stderr" 'one_line_error'
	check "$what: message says why" 'contains "$ERR" "$expect"'
	check "$what: rolled back to exactly the starting host" 'unchanged'
	vh win10 release end failed < "$WIN10_XML"
	check "$what: release after the failed start exits 0 and does nothing" '[ "$RC" = 0 ] && unchanged'
	sim_down
}

t_release_without_prepare() {
	sim_up win10
	vh win10 release end - < "$WIN10_XML"
	check "release without prepare: exit 0, nothing printed" '[ "$RC" = 0 ] && [ -z "$OUT$ERR" ]'
	check "release without prepare: nothing changed" 'unchanged'
	sim_down
}

t_double_prepare() {
	sim_up win10
	vh win10 prepare begin < "$WIN10_XML"
	snap > "$T/prepared"
	vh win10 prepare begin < "$WIN10_XML"
	check "double prepare: second one exits 0" '[ "$RC" = 0 ]'
	check "double prepare: second one changes nothing" 'diff -q "$T/prepared" <(snap)'
	vh win10 release end - < "$WIN10_XML"
	check "double prepare: one release restores the host" 'unchanged'
	sim_down
}

t_incomplete_group() {
	sim_up win10
	conf 'vm = ( { name = "win10"; pci = { devices = [ "0000:09:00.0" ]; }; } );'
	vh win10 prepare begin < "$WIN10_XML"
	check "incomplete group: refused" '[ "$RC" = 1 ] && one_line_error'
	check "incomplete group: names the group and the sibling" 'contains "$ERR" "IOMMU group 16 of 0000:09:00.0 also holds 0000:09:00.1"'
	check "incomplete group: nothing changed" 'unchanged'
	sim_down
}

t_missing_device() {
	sim_up win10
	conf 'vm = ( { name = "win10"; pci = { devices = [ "0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3", "0000:07:00.0" ]; }; } );'
	vh win10 prepare begin < "$WIN10_XML"
	check "missing device: refused with its address" '[ "$RC" = 1 ] && contains "$ERR" "0000:07:00.0 does not exist"'
	check "missing device: nothing changed" 'unchanged'
	sim_down
}

t_host_needs_device() {
	sim_up win10
	conf 'vm = ( { name = "win10"; pci = { devices = [ "0000:00:17.0" ]; }; } );'
	vh win10 prepare begin < "$WIN10_XML"
	check "root fs controller: refused" '[ "$RC" = 1 ] && contains "$ERR" "0000:00:17.0 is the controller of a mounted filesystem (/)"'
	check "root fs controller: nothing changed" 'unchanged'
	conf 'vm = ( { name = "win10"; pci = { devices = [ "0000:00:03.1" ]; }; } );'
	vh win10 prepare begin < "$WIN10_XML"
	check "bridge: refused" '[ "$RC" = 1 ] && contains "$ERR" "0000:00:03.1 is a PCI bridge"'
	check "bridge: nothing changed" 'unchanged'
	sim_down
}

t_async_and_stuck_probe() {
	sim_up win10
	echo "probe-delay 300" > "$T/faults"
	vh win10 prepare begin < "$WIN10_XML"
	check "asynchronous probe (300 ms): prepare waits for the driver link and succeeds" '[ "$RC" = 0 ] && [ "$(drv 0000:09:00.3)" = vfio-pci ]'
	vh win10 release end - < "$WIN10_XML"
	check "asynchronous probe: release waits too and restores" 'unchanged'
	echo "no-bind 0000:09:00.2" > "$T/faults"
	conf 'vm = ( { name = "win10"; pci = { devices = [ "0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3" ]; timeout = 0.5; }; } );'
	local t0=$SECONDS
	vh win10 prepare begin < "$WIN10_XML"
	# the device does not come back to its driver either: rollback cannot finish
	check "device that never binds: prepare fails within its bounds, rollback incomplete (exit 3)" '[ "$RC" = 3 ] && [ $((SECONDS - t0)) -le 3 ]'
	check "device that never binds: message names it" 'one_line_error && contains "$ERR" "0000:09:00.2 did not bind to vfio-pci within 0.5 s"'
	check "device that never binds: the others are back on their drivers" '[ "$(drv 0000:09:00.0)" = nvidia ] && [ "$(drv 0000:09:00.1)" = snd_hda_intel ]'
	check "device that never binds: only its change stays recorded" 'grep -q "^pci bdf=0000:09:00.2 driver=xhci_hcd$" "$T"/root/run/vfiohook/*.state && [ "$(grep -c "^pci" "$T"/root/run/vfiohook/*.state)" = 1 ]'
	: > "$T/faults"
	vh win10 release end failed < "$WIN10_XML"
	check "device that never binds: the release libvirt sends next finishes the job" '[ "$RC" = 0 ] && unchanged'
	sim_down
}

t_hanging_unbind() {
	sim_up win10
	echo "sys/bus/pci/drivers/nvidia/unbind hang 30" > "$T/faults"
	conf 'vm = ( { name = "win10"; pci = { devices = [ "0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3" ]; unbind_timeout = 1; }; } );'
	local t0=$SECONDS
	vh win10 prepare begin < "$WIN10_XML"
	# the killed writer is gone at once (the driver let it go): the write is over, undone
	check "hanging unbind: prepare gives up after unbind_timeout" '[ "$RC" = 1 ] && [ $((SECONDS - t0)) -le 5 ]'
	check "hanging unbind: says what hung" 'one_line_error && contains "$ERR" "cannot unbind 0000:09:00.0 from nvidia: the kernel did not finish the write within 1 s"'
	: > "$T/faults"
	check "hanging unbind: rolled back exactly" 'unchanged'
	sim_down
}

t_dry_run() {
	sim_up win10
	vh --dry-run win10 prepare begin < "$WIN10_XML"
	check "dry-run: exit 0" '[ "$RC" = 0 ]'
	check "dry-run: plans the driver_override write" 'contains "$OUT" "write $T/root/sys/bus/pci/devices/0000:09:00.0/driver_override \"vfio-pci\""'
	check "dry-run: plans loading vfio_pci" 'contains "$OUT" "load module vfio_pci"'
	check "dry-run: changes nothing" 'unchanged'
	echo "$OUT" > "$T/plan"
	vh -v win10 prepare begin < "$WIN10_XML"
	# the hugepage operation retries with compaction inside its bound; the plan says so
	sed -n 's/^vfiohook: action: //p' "$T/err" > "$T/done"
	check "dry-run: the plan is exactly what the real run did" 'diff -u "$T/plan" "$T/done"'
	check "dry-run: the real run had to compact memory for its 8192 pages" 'grep -q "hugepages: 4096 of 8192 pages; compacting memory" "$T/err"'
	vh --dry-run win10 release end - < "$WIN10_XML"
	check "dry-run release: plans clearing driver_override" 'contains "$OUT" "write $T/root/sys/bus/pci/devices/0000:09:00.0/driver_override \"\\n\""'
	check "dry-run release: state kept" '[ "$(state_files)" = 1 ]'
	vh win10 release end - < "$WIN10_XML"
	check "dry-run release then release: restored" 'unchanged'
	sim_down
}

t_other_vms_and_ops() {
	sim_up win10
	local op
	for op in "prepare begin" "start begin" "started begin" "stopped end" "release end" "reconnect begin" "migrate begin" "restore begin"; do
		# shellcheck disable=SC2086
		vh other $op - < "$WIN10_XML"
		check "unconfigured VM, $op: exit 0, no output" '[ "$RC" = 0 ] && [ -z "$OUT$ERR" ]'
	done
	for op in "start begin" "started begin" "stopped end" "reconnect begin" "migrate begin" "restore begin"; do
		# shellcheck disable=SC2086
		vh win10 $op - < "$WIN10_XML"
		check "configured VM, $op: exit 0, no output, nothing done" '[ "$RC" = 0 ] && [ -z "$OUT$ERR" ]'
	done
	check "other ops: nothing changed" 'unchanged'
	sim_down
}

t_two_vms() {
	sim_up win10
	conf 'vm = (
	  { name = "win10"; pci = { devices = [ "0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3" ]; }; },
	  { name = "nas"; pci = { devices = [ "0000:01:00.0" ]; }; },
	  { name = "thief"; pci = { devices = [ "0000:01:00.0" ]; }; }
	);'
	sed 's/<name>win10</<name>nas</; s/c6c8e3b2-0a8f/d6c8e3b2-0a8f/' "$WIN10_XML" > "$T/nas.xml"
	sed 's/<name>win10</<name>thief</; s/c6c8e3b2-0a8f/e6c8e3b2-0a8f/' "$WIN10_XML" > "$T/thief.xml"
	"$VFIOHOOK" --root "$T/root" --config "$T/kvm.conf" win10 prepare begin < "$WIN10_XML" > "$T/o1" 2>&1 &
	"$VFIOHOOK" --root "$T/root" --config "$T/kvm.conf" nas prepare begin < "$T/nas.xml" > "$T/o2" 2>&1 &
	wait
	check "two VMs at once: both prepared" '[ "$(drv 0000:09:00.0)" = vfio-pci ] && [ "$(drv 0000:01:00.0)" = vfio-pci ] && [ "$(state_files)" = 2 ]'
	vh thief prepare begin < "$T/thief.xml"
	check "a device another VM holds is refused" '[ "$RC" = 1 ] && contains "$ERR" "0000:01:00.0 is already given to VM \"nas\""'
	# the same, by check and the dry run: against the host as the two VMs left it
	mv "$T/initial" "$T/initial.saved"
	snap > "$T/initial"
	agree "agree, a device another VM holds" thief "$T/thief.xml"
	mv "$T/initial.saved" "$T/initial"
	vh thief release end failed < "$T/thief.xml"
	check "release of the refused VM leaves the other VM's device alone" '[ "$(drv 0000:01:00.0)" = vfio-pci ]'
	vh nas release end - < "$T/nas.xml"
	check "first release gives back only that VM's device" '[ "$(drv 0000:01:00.0)" = nvme ] && [ "$(drv 0000:09:00.0)" = vfio-pci ]'
	vh win10 release end - < "$WIN10_XML"
	check "both released: host exactly restored" 'unchanged'
	sim_down
}

t_foreign_vfio_device() {
	# a device the admin put on vfio-pci while the VM ran: vfiohook loaded vfio-pci for the
	# VM, but unloading it at release would unbind that device too
	sim_up win10
	vh win10 prepare begin < "$WIN10_XML"
	echo vfio-pci > "$T/root/sys/bus/pci/devices/0000:01:00.0/driver_override"
	echo 0000:01:00.0 > "$T/root/sys/bus/pci/devices/0000:01:00.0/driver/unbind"
	echo 0000:01:00.0 > "$T/root/sys/bus/pci/drivers_probe"
	vh win10 release end - < "$WIN10_XML"
	check "foreign vfio-pci device: release exits 0" '[ "$RC" = 0 ]'
	check "foreign vfio-pci device: stays on vfio-pci (module kept loaded)" '[ "$(drv 0000:01:00.0)" = vfio-pci ]'
	check "foreign vfio-pci device: the GPU is back on its drivers" '[ "$(drv 0000:09:00.0)" = nvidia ] && [ "$(drv 0000:09:00.3)" = nvidia-gpu ]'
	sim_down
}

SYSTEMD_SPEC='unit gdm.service active alias=display-manager.service
unit nvidia-persistenced.service active
unit lightdm.service inactive
slice system.slice
slice user.slice
scope init.scope'
ALL_STAGES='display = { units = [ "auto", "nvidia-persistenced.service", "lightdm.service" ]; timeout = 5; };
    vtconsole = true;
    framebuffer = true;
    modules = { unload = [ "nvidia" ]; };
    isolation = { host_cpus = "0,8"; };'

t_stages_round_trip() {
	sim_up win10
	systemd_up "$SYSTEMD_SPEC"
	conf "vm = ( { name = \"win10\"; $ALL_STAGES
	    pci = { devices = [ \"0000:09:00.0\", \"0000:09:00.1\", \"0000:09:00.2\", \"0000:09:00.3\" ]; }; } );"
	vh win10 prepare begin < "$WIN10_XML"
	check "stages: prepare exits 0" '[ "$RC" = 0 ] && [ -z "$OUT" ]'
	check "stages: display manager (via its alias) and nvidia-persistenced stopped" '[ "$(unit_state gdm.service)" = inactive ] && [ "$(unit_state nvidia-persistenced.service)" = inactive ]'
	check "stages: the nvidia stack unloaded, holders first" '[ ! -e "$T/root/sys/module/nvidia_drm/initstate" ] && [ ! -e "$T/root/sys/module/nvidia/initstate" ] && grep -q "^kmod module=nvidia_drm$" "$T"/root/run/vfiohook/*.state'
	check "stages: GPU on vfio-pci" '[ "$(drv 0000:09:00.0)" = vfio-pci ]'
	check "stages: host slices limited to CPUs 0,8" 'grep -q "^slice system.slice active allowed=0,8" "$T/systemd.dump" && grep -q "^scope init.scope active allowed=0,8" "$T/systemd.dump"'
	vh win10 release end shutdown < "$WIN10_XML"
	check "stages: release exits 0" '[ "$RC" = 0 ]'
	check "stages: release restores the host exactly (sysfs)" 'unchanged'
	check "stages: release restores systemd exactly (units, AllowedCPUs; lightdm not started)" 'systemd_unchanged'

	# every stage has run when the PCI preflight finds a device missing: all of it undone
	conf "vm = ( { name = \"win10\"; $ALL_STAGES
	    pci = { devices = [ \"0000:09:00.0\", \"0000:09:00.1\", \"0000:09:00.2\", \"0000:09:00.3\", \"0000:07:00.0\" ]; }; } );"
	vh win10 prepare begin < "$WIN10_XML"
	check "stages: a failure after display, console and module stages fails prepare" '[ "$RC" = 1 ] && one_line_error && contains "$ERR" "0000:07:00.0 does not exist"'
	check "stages: ... and rolls back every stage (sysfs)" 'unchanged'
	check "stages: ... and rolls back every stage (systemd)" 'systemd_unchanged'

	conf "vm = ( { name = \"win10\"; $ALL_STAGES
	    pci = { devices = [ \"0000:09:00.0\", \"0000:09:00.1\", \"0000:09:00.2\", \"0000:09:00.3\" ]; }; } );"
	vh --dry-run win10 prepare begin < "$WIN10_XML"
	echo "$OUT" > "$T/plan"
	check "stages: dry-run plans the unit stops and changes nothing" 'contains "$OUT" "stop unit display-manager.service" && unchanged && systemd_unchanged'
	vh -v win10 prepare begin < "$WIN10_XML"
	sed -n 's/^vfiohook: action: //p' "$T/err" > "$T/done"
	check "stages: the dry-run plan is exactly what the real run did" 'diff -u "$T/plan" "$T/done"'
	vh win10 release end - < "$WIN10_XML"
	check "stages: second round trip restores everything" 'unchanged && systemd_unchanged'
	sim_down
}

t_stages_failures() {
	sim_up win10
	systemd_up 'unit gdm.service active alias=display-manager.service
unit broken.service active stop=failed
unit stuck.service active stop=hang
slice system.slice
slice user.slice
scope init.scope'
	conf 'vm = ( { name = "win10"; display = { units = [ "auto", "broken.service" ]; }; modules = { unload = [ "nvidia" ]; };
	    pci = { devices = [ "0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3" ]; }; } );'
	vh win10 prepare begin < "$WIN10_XML"
	check "unit whose stop fails: prepare fails naming it" '[ "$RC" = 1 ] && one_line_error && contains "$ERR" "broken.service"'
	check "unit whose stop fails: the display manager stopped before it is started again" '[ "$(unit_state gdm.service)" = active ] && systemd_unchanged && unchanged'
	conf 'vm = ( { name = "win10"; display = { units = [ "auto", "stuck.service" ]; timeout = 1; }; } );'
	local t0=$SECONDS
	vh win10 prepare begin < "$WIN10_XML"
	check "unit whose stop never ends: prepare fails within display.timeout" '[ "$RC" = 1 ] && [ $((SECONDS - t0)) -le 4 ] && contains "$ERR" "stuck.service"'
	check "unit whose stop never ends: the display manager runs again" '[ "$(unit_state gdm.service)" = active ]'
	sim_down
	# a module the host still uses: the holders are named, nothing is left changed
	sim_up win10
	conf 'vm = ( { name = "win10"; modules = { unload = [ "snd_hda_intel" ]; wait = 1; }; } );'
	echo "sys/module/snd_hda_intel EBUSY" > "$T/faults"
	vh win10 prepare begin < "$WIN10_XML"
	check "busy module: prepare fails saying it is in use" '[ "$RC" = 1 ] && contains "$ERR" "module snd_hda_intel is in use"'
	: > "$T/faults"
	check "busy module: nothing changed" 'unchanged'
	sim_down
}

t_shared_display() {
	sim_up win10
	systemd_up "$SYSTEMD_SPEC"
	conf 'vm = (
	  { name = "win10"; display = { units = [ "auto" ]; }; isolation = { host_cpus = "0,8"; };
	    governor = { name = "performance"; cpus = "1-7"; };
	    pci = { devices = [ "0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3" ]; }; },
	  { name = "nas"; display = { units = [ "auto" ]; }; isolation = { host_cpus = "0,8"; };
	    governor = { name = "performance"; cpus = "4-11"; };
	    pci = { devices = [ "0000:01:00.0" ]; }; }
	);'
	sed 's/<name>win10</<name>nas</; s/c6c8e3b2-0a8f/d6c8e3b2-0a8f/' "$WIN10_XML" > "$T/nas.xml"
	vh win10 prepare begin < "$WIN10_XML"
	vh nas prepare begin < "$T/nas.xml"
	check "shared: both VMs prepared, display manager stopped once" '[ "$RC" = 0 ] && [ "$(unit_state gdm.service)" = inactive ]'
	vh win10 release end - < "$WIN10_XML"
	check "shared: the first VM to release leaves the display manager and isolation for the other" '[ "$(unit_state gdm.service)" = inactive ] && grep -q "^slice system.slice active allowed=0,8" "$T/systemd.dump" && [ "$(drv 0000:09:00.0)" = nvidia ]'
	local pol=$T/root/sys/devices/system/cpu/cpufreq
	check "shared: governor policies only the first VM used are restored, shared ones stay" '[ "$(cat "$pol/policy1/scaling_governor")" = powersave ] && [ "$(cat "$pol/policy5/scaling_governor")" = performance ] && [ "$(cat "$pol/policy11/scaling_governor")" = performance ]'
	vh nas release end - < "$WIN10_XML"
	vh nas release end - < "$T/nas.xml"
	check "shared: the last VM to release restores them" 'systemd_unchanged && unchanged'
	sim_down
}

t_managed_reattach() {
	# libvirt reattached a managed device itself before release end: release must cope
	sim_up rx590
	vh rx590 prepare begin < "$RX590_XML"
	echo > "$T/root/sys/bus/pci/devices/0000:0a:00.1/driver_override"
	echo 0000:0a:00.1 > "$T/root/sys/bus/pci/drivers/vfio-pci/unbind"
	echo 0000:0a:00.1 > "$T/root/sys/bus/pci/drivers_probe"
	vh rx590 release end - < "$RX590_XML"
	check "device already back on its driver at release: release still exits 0" '[ "$RC" = 0 ]'
	check "device already back: host restored" 'unchanged'
	sim_down
}

t_unfinished_prepare() {
	sim_up rx590
	vh rx590 prepare begin < "$RX590_XML"
	# what a crash in the middle leaves: records without "complete"
	local f
	f=$(ls "$T/root/run/vfiohook/"*.state)
	grep -v '^complete$' "$f" > "$f.new" && chmod 600 "$f.new" && mv "$f.new" "$f"
	vh rx590 prepare begin < "$RX590_XML"
	check "unfinished earlier prepare: undone, then prepared afresh" '[ "$RC" = 0 ] && [ "$(drv 0000:0a:00.0)" = vfio-pci ] && grep -q '\''^complete$'\'' "$f"'
	vh rx590 release end - < "$RX590_XML"
	check "unfinished earlier prepare: release restores" 'unchanged'
	sim_down
}

t_bad_input() {
	sim_up win10
	vh "../x" prepare begin < "$WIN10_XML"
	check "hostile VM name ../x: refused" '[ "$RC" = 2 ] && contains "$ERR" "refusing VM name"'
	vh "../x" release end - < "$WIN10_XML"
	check "hostile VM name on release: exit 0" '[ "$RC" = 0 ]'
	printf '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n<domain><name>win10</name><uuid>&lol2;</uuid></domain>\n' > "$T/laughs.xml"
	vh win10 prepare begin < "$T/laughs.xml"
	check "entity expansion XML: refused" '[ "$RC" = 1 ] && one_line_error && contains "$ERR" "DOCTYPE"'
	printf '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<domain><name>&x;</name></domain>\n' > "$T/xxe.xml"
	vh win10 prepare begin < "$T/xxe.xml"
	check "external entity XML: refused" '[ "$RC" = 1 ] && one_line_error'
	printf '<domain><name>win10</name><devices><hostdev mode="subsystem" type="pci"><source>' > "$T/broken.xml"
	vh win10 prepare begin < "$T/broken.xml"
	check "malformed XML: prepare fails with the parser's line" '[ "$RC" = 1 ] && one_line_error && contains "$ERR" "malformed domain XML (line"'
	vh win10 release end - < "$T/broken.xml"
	check "malformed XML: release still exits 0" '[ "$RC" = 0 ]'
	{ printf '<domain><name>win10</name><description>'; head -c 17000000 /dev/zero | tr '\0' a; printf '</description></domain>'; } > "$T/huge.xml"
	vh win10 prepare begin < "$T/huge.xml"
	check "17 MB XML: refused" '[ "$RC" = 1 ] && contains "$ERR" "larger than"'
	sed 's/<name>win10</<name>other</' "$WIN10_XML" > "$T/other.xml"
	vh win10 prepare begin < "$T/other.xml"
	check "XML of another domain: refused" '[ "$RC" = 1 ] && contains "$ERR" "describes \"other\", not \"win10\""'
	conf 'vm = ( { name = "win10"; pci = { devices = [ "0000:09:00.0" ]; colour = "red"; }; } );'
	vh win10 prepare begin < "$WIN10_XML"
	check "unknown key: refused with file:line" '[ "$RC" = 2 ] && contains "$ERR" "kvm.conf:1: unknown key '\''colour'\'' in pci"'
	conf 'vm = (
  { name = "win10"; pci = { devices = [ "0000:09:00.0" ]; }; } ]'
	vh win10 prepare begin < "$WIN10_XML"
	check "syntax error: refused with file:line" '[ "$RC" = 2 ] && contains "$ERR" "kvm.conf:2: syntax error"'
	conf 'vm = ( { name = "win10"; pci = { devices = [ "0000:09:0.0" ]; }; } );'
	vh win10 prepare begin < "$WIN10_XML"
	check "bad PCI address: refused with file:line" '[ "$RC" = 2 ] && contains "$ERR" "kvm.conf:1: '\''0000:09:0.0'\'' is not a PCI address"'
	sed 's/<name>win10</<name>other</; s/c6c8e3b2-0a8f/f6c8e3b2-0a8f/' "$WIN10_XML" > "$T/other.xml"
	vh -v other prepare begin < "$T/other.xml"
	check "broken kvm.conf: a VM it cannot name starts, with a warning" '[ "$RC" = 0 ] && contains "$ERR" "is broken, but cannot name other"'
	printf 'VIRSH_GPU_VIDEO=pci_0000_09_00_0\nVIRSH_GPU_AUDIO=pci_0000_09_00_1\n' > "$T/kvm.conf"
	chmod 600 "$T/kvm.conf"
	vh check
	check "tutorial kvm.conf: explained, with the addresses converted and import offered" '[ "$RC" = 2 ] && contains "$ERR" '\''"0000:09:00.0", "0000:09:00.1"'\'' && contains "$ERR" "vfiohook import"'
	vh -v win10 prepare begin < "$WIN10_XML"
	check "tutorial kvm.conf: names no VM, so its VMs start (their drop-ins run), with the hint in the journal" '[ "$RC" = 0 ] && contains "$ERR" "vfiohook import" && contains "$ERR" "cannot name win10"'
	printf 'vm = ( { name = "x"; colour = 1; } );\n@include "more.conf"\n' > "$T/kvm.conf"
	printf 'vm2 = "win10";\n' > "$T/more.conf"
	chmod 600 "$T/kvm.conf" "$T/more.conf"
	vh win10 prepare begin < "$WIN10_XML"
	check "broken kvm.conf whose include names the VM: refused (fail closed)" '[ "$RC" = 2 ]'
	cp "$TOP/conf/kvm.conf" "$T/kvm.conf"
	chmod 666 "$T/kvm.conf"
	vh win10 prepare begin < "$WIN10_XML"
	check "world-writable kvm.conf: refused" '[ "$RC" = 2 ] && contains "$ERR" "world-writable"'
	chmod 600 "$T/kvm.conf"
	check "bad input: nothing changed" 'unchanged'
	sim_down
}

t_names_with_spaces() {
	sim_up rx590
	conf 'vm = ( { name = "my gaming vm"; pci = { devices = "hostdev"; }; } );'
	sed 's/<name>rx590</<name>my gaming vm</' "$RX590_XML" > "$T/sp.xml"
	vh "my gaming vm" prepare begin < "$T/sp.xml"
	check "VM name with spaces: prepared" '[ "$RC" = 0 ] && [ "$(drv 0000:0a:00.0)" = vfio-pci ]'
	check "VM name with spaces: state file named by UUID" '[ -f "$T/root/run/vfiohook/5e0b9a61-3c1d-4f2e-8b7a-9d4c2e1f0a37.state" ]'
	vh "my gaming vm" release end - < "$T/sp.xml"
	check "VM name with spaces: released" 'unchanged'
	sim_down
}

t_dropins() {
	sim_up rx590
	local d=$T/hooks/rx590/prepare/begin
	mkdir -p "$d" "$T/hooks/rx590/release/end"
	cat > "$d/10-first.sh" <<EOS
#!/bin/sh
echo "first \$1 \$2 \$3 \$4 \$(grep -c '<hostdev' -)" >> "$T/dropin.log"
echo "this goes to the journal, not stdout"
EOS
	cat > "$d/20-second.sh" <<EOS
#!/bin/sh
echo "second sees \$(basename \$(readlink $T/root/sys/bus/pci/devices/0000:0a:00.0/driver))" >> "$T/dropin.log"
EOS
	printf '#!/bin/sh\necho not run >> %s/dropin.log\n' "$T" > "$d/05-not-executable.sh"
	chmod 755 "$d/10-first.sh" "$d/20-second.sh"
	chmod 644 "$d/05-not-executable.sh"
	vh rx590 prepare begin < "$RX590_XML"
	check "drop-ins: prepare exits 0, nothing on stdout" '[ "$RC" = 0 ] && [ -z "$OUT" ]'
	check "drop-ins: run in order with argv and the XML on stdin" '[ "$(sed -n 1p "$T/dropin.log")" = "first rx590 prepare begin - 2" ]'
	check "drop-ins: run after the built-in stages" '[ "$(sed -n 2p "$T/dropin.log")" = "second sees vfio-pci" ]'
	check "drop-ins: non-executable files skipped" '[ "$(wc -l < "$T/dropin.log")" = 2 ]'
	printf '#!/bin/sh\necho "release saw $(basename $(readlink %s/root/sys/bus/pci/devices/0000:0a:00.0/driver))" >> %s/dropin.log\nexit 3\n' "$T" "$T" > "$T/hooks/rx590/release/end/10-fails.sh"
	chmod 755 "$T/hooks/rx590/release/end/10-fails.sh"
	vh rx590 release end - < "$RX590_XML"
	check "drop-ins: a failing release drop-in is logged, release still exits 0" '[ "$RC" = 0 ]'
	check "drop-ins: release drop-ins run before the built-in stages" '[ "$(tail -n 1 "$T/dropin.log")" = "release saw vfio-pci" ]'
	check "drop-ins: release completed after the failing drop-in" 'unchanged'
	rm -f "$T/hooks/rx590/release/end/10-fails.sh"

	printf '#!/bin/sh\necho "disk full" >&2\nexit 4\n' > "$d/30-fails.sh"
	chmod 755 "$d/30-fails.sh"
	vh rx590 prepare begin < "$RX590_XML"
	check "drop-ins: a failing prepare drop-in fails the start" '[ "$RC" = 1 ] && one_line_error && contains "$ERR" "30-fails.sh failed with exit status 4: disk full"'
	check "drop-ins: ... and rolls back the built-in stages" 'unchanged'
	rm -f "$d/30-fails.sh"

	printf '#!/bin/sh\nsleep 30\n' > "$d/30-slow.sh"
	chmod 755 "$d/30-slow.sh"
	conf 'vm = ( { name = "rx590"; pci = { devices = "hostdev"; }; scripts = { timeout = 1; }; } );'
	local t0=$SECONDS
	vh rx590 prepare begin < "$RX590_XML"
	check "drop-ins: a hanging drop-in is stopped at its bound" '[ "$RC" = 1 ] && [ $((SECONDS - t0)) -le 4 ] && contains "$ERR" "did not finish within 1 s"'
	check "drop-ins: ... and the start rolled back" 'unchanged'
	rm -f "$d/30-slow.sh"

	printf '#!/bin/sh\n(sleep 30 &)\nexit 0\n' > "$d/30-daemon.sh"
	chmod 755 "$d/30-daemon.sh"
	t0=$SECONDS
	vh rx590 prepare begin < "$RX590_XML"
	check "drop-ins: a background child holding the output does not hold up the hook" '[ "$RC" = 0 ] && [ $((SECONDS - t0)) -le 3 ]'
	vh rx590 release end - < "$RX590_XML"
	rm -f "$d/30-daemon.sh"

	printf '#!/bin/sh\nsetsid sleep 61.25 > /dev/null 2>&1 < /dev/null &\nsleep 0.3\nexit 0\n' > "$d/30-detached.sh"
	chmod 755 "$d/30-detached.sh"
	vh rx590 prepare begin < "$RX590_XML"
	check "drop-ins: a process a drop-in detached with setsid does not outlive the hook" '[ "$RC" = 0 ] && ! pgrep -f "sleep 61.25" >/dev/null'
	pkill -f "sleep 61.25"
	vh rx590 release end - < "$RX590_XML"
	rm -f "$d/30-detached.sh"

	printf '#!/bin/sh\nexit 0\n' > "$d/40-writable.sh"
	chmod 777 "$d/40-writable.sh"
	vh rx590 prepare begin < "$RX590_XML"
	check "drop-ins: a world-writable drop-in is refused" '[ "$RC" = 1 ] && contains "$ERR" "40-writable.sh"'
	check "drop-ins: ... and nothing changed" 'unchanged'
	rm -f "$d/40-writable.sh"

	mkdir -p "$T/hooks/other/started/begin"
	printf '#!/bin/sh\necho "other started" >> %s/dropin.log\nexit 1\n' "$T" > "$T/hooks/other/started/begin/x"
	chmod 755 "$T/hooks/other/started/begin/x"
	vh other started begin - < "$RX590_XML"
	check "drop-ins: run for VMs not in kvm.conf; a failing 'started' drop-in fails it" '[ "$RC" = 1 ] && [ "$(tail -n 1 "$T/dropin.log")" = "other started" ]'
	mkdir -p "$T/hooks/other/reconnect"
	cp "$T/hooks/other/started/begin/x" "$T/hooks/other/reconnect/begin"
	vh other reconnect begin - < "$RX590_XML"
	check "drop-ins: a failing reconnect drop-in still exits 0 (a failure would kill the VM)" '[ "$RC" = 0 ] && [ -z "$OUT" ]'
	sim_down
}

t_hook_mode() {
	# the installed form: any argv[0] but "vfiohook", four arguments, default paths
	if [ -e /etc/libvirt/hooks/kvm.conf ]; then
		echo "skip: hook mode with default paths (this machine has a kvm.conf)"
		return
	fi
	local d
	d=$(mktemp -d)
	ln -s "$VFIOHOOK" "$d/qemu"
	"$d/qemu" somevm prepare begin - < "$WIN10_XML" > "$d/out" 2> "$d/err"
	check "hook mode: unconfigured VM exits 0 with no output" '[ $? = 0 ] && [ ! -s "$d/out" ] && [ ! -s "$d/err" ]'
	(cd "$d" && ./qemu somevm release end shutdown < /dev/null > out 2> err)
	check "hook mode: empty stdin is fine for other VMs" '[ $? = 0 ] && [ ! -s "$d/out" ]'
	rm -rf "$d"
}


# --- decide, then act ---------------------------------------------------------------------

# agree NAME [VM XML]: `check`, `--dry-run` and the real prepare agree on this host and
# kvm.conf: the same verdict, the same line when refused, the plan exactly what was done; a
# refusal changes nothing and logs no change; a success is released again (host restored)
agree() {
	local name=$1 vm=${2:-win10} xml=${3:-$WIN10_XML} line n states
	states=$(cd "$T/root/run" && find . -type f ! -name lock -exec md5sum {} + 2>/dev/null | sort)
	vh check --xml "$xml" "$vm"
	local crc=$RC cout=$OUT
	vh --dry-run "$vm" prepare begin < "$xml"
	local drc=$RC dout=$OUT derr=$ERR
	vh -v "$vm" prepare begin < "$xml"
	sed -n 's/^vfiohook: action: //p' "$T/err" > "$T/done"
	printf '%s\n' "$dout" | grep -v '^$' > "$T/plan"
	if [ "$RC" = 0 ]; then
		n=$(grep -c . "$T/plan")
		check "$name: prepare succeeds, and so do the dry run and check" '[ "$drc" = 0 ] && [ "$crc" = 0 ] && [ -z "$derr" ]'
		check "$name: the dry-run plan is exactly what prepare did" 'diff -u "$T/plan" "$T/done"'
		check "$name: check counts the same $n change(s)" 'contains "$cout" "ok: $vm: prepare would make $n change(s)"'
		vh "$vm" release end - < "$xml"
		check "$name: release restores the host" 'unchanged && systemd_unchanged'
	else
		line=$(tail -n 1 "$T/err")
		check "$name: prepare is refused (exit 1), and so is the dry run, with the same line" '[ "$RC" = 1 ] && [ "$drc" = 1 ] && [ "$derr" = "$line" ] && [ -z "$dout" ]'
		check "$name: check reports the same error" '[ "$crc" = 1 ] && contains "$cout" "error: $vm: ${line#vfiohook: }"'
		check "$name: the refusal changed nothing and logged no change" 'snap | diff -u "$T/initial" - && systemd_unchanged && [ ! -s "$T/done" ] &&
			[ "$(cd "$T/root/run" && find . -type f ! -name lock -exec md5sum {} + 2>/dev/null | sort)" = "$states" ]'
	fi
}

EVERY_STAGE='display = { units = [ "auto", "nvidia-persistenced.service" ]; timeout = 5; };
    vtconsole = true; framebuffer = true; modules = { unload = [ "nvidia" ]; };
    hugepages = { pages = 1024; }; governor = { name = "performance"; }; isolation = { host_cpus = "0,8"; };'
allconf() { # allconf PCI-DEVICES [MORE SETTINGS]: every stage of win10, and these devices
	conf "vm = ( { name = \"win10\"; $EVERY_STAGE pci = { devices = [ $1 ]; }; ${2:-} } );"
}
GPU4='"0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3"'

t_agree() {
	sim_up win10
	agree "agree, example config"
	allconf "$GPU4"
	agree "agree, every stage"
	allconf '"0000:09:00.0"'
	agree "agree, only the VGA function (incomplete group)"
	contains "$ERR" "IOMMU group 16 of 0000:09:00.0 also holds 0000:09:00.1 (driver snd_hda_intel)"
	check "incomplete group after every stage: the sibling is named, though its driver's module stays" '[ $? = 0 ]'
	allconf "$GPU4, \"0000:07:00.0\""
	agree "agree, a device that does not exist"
	allconf '"0000:00:03.1"'
	agree "agree, a bridge"
	allconf '"0000:00:17.0"'
	agree "agree, the root filesystem's controller"
	allconf "$GPU4" 'governor = { name = "ondemand"; };'
	conf "vm = ( { name = \"win10\"; display = { units = [ \"auto\" ]; }; vtconsole = true; modules = { unload = [ \"nvidia\" ]; };
	    governor = { name = \"ondemand\"; }; pci = { devices = [ $GPU4 ]; }; } );"
	agree "agree, a governor amd-pstate-epp does not offer"
	conf "vm = ( { name = \"win10\"; display = { units = [ \"auto\", \"lightdm.service\" ]; }; vtconsole = true; pci = { devices = [ $GPU4 ]; }; } );"
	agree "agree, a unit that does not exist"
	check "a unit that does not exist: named" 'contains "$ERR" "unit lightdm.service does not exist"'
	conf "vm = ( { name = \"win10\"; vtconsole = true; hugepages = { pages = 20000; }; pci = { devices = [ $GPU4 ]; }; } );"
	agree "agree, more huge pages than the host has memory"
	# the plan sees what it unloads: snd_hda_intel's module gone, the audio function is free
	conf "vm = ( { name = \"win10\"; modules = { unload = [ \"nvidia\", \"snd_hda_intel\", \"xhci_pci\", \"i2c_nvidia_gpu\" ]; };
	    pci = { devices = [ \"0000:09:00.0\" ]; }; } );"
	agree "agree, siblings whose drivers the plan unloads"
	sim_down
	sim_up rx590
	agree "agree, rx590 from <hostdev>" rx590 "$RX590_XML"
	sim_down
}

t_busy_module() {
	# the processes that hold the GPU: refused before anything changes, named; the same
	# processes inside the display manager's cgroup go when it stops
	sim_up win10 'process 1234 comm=Xorg fds=4:/dev/nvidia0,5:/dev/dri/card0 cgroup=/system.slice/gdm.service
process 1301 comm=steam fds=9:/dev/dri/card0 cgroup=/user.slice/user-1000.slice/user@1000.service/app.slice/steam.scope'
	echo "module-refcnt nvidia 3" > "$T/faults"
	snap > "$T/initial" # with the fault's refcnt
	conf "vm = ( { name = \"win10\"; display = { units = [ \"auto\" ]; }; vtconsole = true; modules = { unload = [ \"nvidia\" ]; wait = 1; };
	    pci = { devices = [ $GPU4 ]; }; } );"
	agree "agree, a busy GPU module"
	check "busy GPU module: the process outside the stopped units is named, not the display manager's" 'contains "$ERR" "module nvidia is in use by steam (pid 1301)" && ! contains "$ERR" "Xorg" 2>/dev/null'
	sim_down
	sim_up win10 'process 1234 comm=Xorg fds=4:/dev/nvidia0,5:/dev/dri/card0 cgroup=/system.slice/gdm.service'
	echo "module-refcnt nvidia 3" > "$T/faults"
	snap > "$T/initial"
	conf "vm = ( { name = \"win10\"; display = { units = [ \"auto\" ]; }; vtconsole = true; modules = { unload = [ \"nvidia\" ]; wait = 1; };
	    pci = { devices = [ $GPU4 ]; }; } );"
	vh --dry-run win10 prepare begin < "$WIN10_XML"
	check "busy GPU module held only by the display manager's processes: planned (they go with it)" '[ "$RC" = 0 ] && contains "$OUT" "unload module nvidia"'
	vh win10 prepare begin < "$WIN10_XML"
	check "... and when its references stay after all, the unload fails as the kernel says (EAGAIN) and rolls back" '[ "$RC" = 1 ] && one_line_error && contains "$ERR" "module nvidia is in use"'
	check "... everything undone" 'unchanged && systemd_unchanged'
	sim_down
}

t_gpu_users_wait() {
	# a process that holds the GPU and lets go within modules.wait: waited for, then prepare
	# goes on; one that does not: refused at the bound, named, before anything changed
	sim_up win10 'process 4242 comm=vkcube fds=3:/dev/dri/card0'
	echo "module-refcnt nvidia 1" > "$T/faults"
	snap > "$T/initial"
	conf "vm = ( { name = \"win10\"; modules = { unload = [ \"nvidia\" ]; wait = 5; }; pci = { devices = [ $GPU4 ]; }; } );"
	( sleep 1.5; printf 'no-process 4242\n' > "$T/faults" ) &
	local t0=$SECONDS
	vh win10 prepare begin < "$WIN10_XML"
	wait
	check "GPU user that exits within modules.wait: prepare waits and succeeds" '[ "$RC" = 0 ] && [ $((SECONDS - t0)) -ge 1 ] && [ "$(drv 0000:09:00.0)" = vfio-pci ]'
	printf 'no-process 4242\n' > "$T/faults"
	vh win10 release end - < "$WIN10_XML"
	: > "$T/faults"
	echo "module-refcnt nvidia 1" > "$T/faults"
	conf "vm = ( { name = \"win10\"; modules = { unload = [ \"nvidia\" ]; wait = 1; }; pci = { devices = [ $GPU4 ]; }; } );"
	t0=$SECONDS
	vh -v win10 prepare begin < "$WIN10_XML"
	check "GPU user that stays: refused after modules.wait, naming it" '[ "$RC" = 1 ] && [ $((SECONDS - t0)) -le 3 ] && contains "$ERR" "module nvidia is in use by vkcube (pid 4242), still after 1 s"'
	check "GPU user that stays: nothing changed first" 'snap | diff -u "$T/initial" - && ! grep -q "action:" "$T/err"'
	sim_down
	# a session's compositor: goes with the display manager the plan stops
	sim_up win10 'process 1301 comm=gnome-shell fds=9:/dev/dri/card0 cgroup=/user.slice/user-1000.slice/session-2.scope'
	conf "vm = ( { name = \"win10\"; display = { units = [ \"auto\" ]; }; modules = { unload = [ \"nvidia\" ]; wait = 1; }; pci = { devices = [ $GPU4 ]; }; } );"
	vh --dry-run win10 prepare begin < "$WIN10_XML"
	check "a session compositor is not held against the plan when the display manager stops" '[ "$RC" = 0 ] && contains "$OUT" "unload module nvidia"'
	conf "vm = ( { name = \"win10\"; modules = { unload = [ \"nvidia\" ]; wait = 1; }; pci = { devices = [ $GPU4 ]; }; } );"
	echo "module-refcnt nvidia 1" > "$T/faults"
	vh win10 prepare begin < "$WIN10_XML"
	check "... but it is when nothing stops the display manager" '[ "$RC" = 1 ] && contains "$ERR" "gnome-shell (pid 1301)"'
	sim_down
}

t_user_units() {
	# the users' audio servers, through each user's own systemd manager
	sim_up win10
	mkdir -p "$T/root/run/user/1000/systemd"
	printf 'unit pipewire.service active\nunit wireplumber.service active\nunit pulseaudio.service inactive\n' > "$T/user.spec"
	"$SIMSYSTEMD" --spec "$T/user.spec" --socket "$T/root/run/user/1000/systemd/private" \
		--dump "$T/user.dump" --pidfile "$T/user.pid" --delay-ms 20 > /dev/null || { echo "simsystemd failed"; return; }
	cp "$T/user.dump" "$T/user.initial"
	conf "vm = ( { name = \"win10\"; display = { units = [ \"auto\" ];
	    user_units = [ \"pipewire.service\", \"pipewire-pulse.service\", \"wireplumber.service\", \"pulseaudio.service\" ]; };
	    pci = { devices = [ $GPU4 ]; }; } );"
	vh --dry-run win10 prepare begin < "$WIN10_XML"
	check "user units: the plan stops the active ones of user 1000, before the display manager" 'contains "$OUT" "stop unit pipewire.service of user 1000
stop unit wireplumber.service of user 1000
stop unit display-manager.service" && ! contains "$OUT" "pulseaudio" 2>/dev/null'
	vh win10 prepare begin < "$WIN10_XML"
	check "user units: stopped" '[ "$RC" = 0 ] && grep -q "^unit pipewire.service inactive" "$T/user.dump" && grep -q "^unit wireplumber.service inactive" "$T/user.dump"'
	check "user units: recorded with the user" 'grep -q "^user-unit uid=1000 unit=pipewire.service$" "$T"/root/run/vfiohook/*.state'
	vh win10 release end - < "$WIN10_XML"
	check "user units: started again, and only those" '[ "$RC" = 0 ] && diff -u "$T/user.initial" "$T/user.dump" && unchanged && systemd_unchanged'
	agree "agree, user units"
	kill "$(cat "$T/user.pid")" 2>/dev/null
	sim_down
}

t_journal() {
	# the journal's native protocol, spoken without libsystemd: a stand-in journald receives it
	local sock=/run/systemd/journal/socket
	if ! command -v python3 > /dev/null || [ -e "$sock" ]; then
		echo "skip: journal protocol (no python3, or a real journal listens on $sock)"
		return
	fi
	sim_up rx590
	mkdir -p /run/systemd/journal
	python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
out = open(sys.argv[2], "wb")
end = time.time() + 8
while time.time() < end:
    try:
        out.write(s.recv(65536) + b"\x00\n")
        out.flush()
    except socket.timeout:
        pass
' "$sock" "$T/journal" &
	local jpid=$!
	while [ ! -S "$sock" ]; do sleep 0.05; done
	vh rx590 prepare begin < "$RX590_XML"
	vh rx590 release end - < "$RX590_XML"
	sleep 0.7
	kill "$jpid" 2>/dev/null
	wait "$jpid" 2>/dev/null
	rm -f "$sock"
	check "journal: entries with the message, priority, identifier and vfiohook's fields" 'grep -q "^MESSAGE=0000:0a:00.0: (none) -> vfio-pci$" "$T/journal" && grep -q "^SYSLOG_IDENTIFIER=vfiohook$" "$T/journal" && grep -q "^VFIOHOOK_VM=rx590$" "$T/journal" && grep -q "^VFIOHOOK_STAGE=pci$" "$T/journal" && grep -q "^PRIORITY=6$" "$T/journal"'
	check "journal: nothing went to stdout or stderr in the meantime" '[ -z "$OUT$ERR" ]'
	sim_down
}

t_shared_release_plan() {
	sim_up win10
	conf 'vm = (
	  { name = "win10"; display = { units = [ "auto" ]; }; pci = { devices = [ "0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3" ]; }; },
	  { name = "nas"; display = { units = [ "auto" ]; }; pci = { devices = [ "0000:01:00.0" ]; }; } );'
	sed 's/<name>win10</<name>nas</; s/c6c8e3b2-0a8f/d6c8e3b2-0a8f/' "$WIN10_XML" > "$T/nas.xml"
	vh win10 prepare begin < "$WIN10_XML"
	vh --dry-run nas prepare begin < "$T/nas.xml"
	check "shared display manager: the second VM's plan does not stop it again" '[ "$RC" = 0 ] && ! contains "$OUT" "stop unit" 2>/dev/null'
	vh nas prepare begin < "$T/nas.xml"
	vh --dry-run win10 release end - < "$WIN10_XML"
	echo "$OUT" > "$T/plan"
	check "shared display manager: the dry-run release hands it over, starts nothing" 'contains "$OUT" "hand over to VM \"nas\"" && ! contains "$OUT" "start unit" 2>/dev/null'
	vh -v win10 release end - < "$WIN10_XML"
	sed -n 's/^vfiohook: action: //p' "$T/err" > "$T/done"
	check "shared display manager: the real release did exactly that" 'diff -u "$T/plan" "$T/done" && [ "$(unit_state gdm.service)" = inactive ]'
	vh --dry-run nas release end - < "$T/nas.xml"
	check "shared display manager: the last VM's release plans the start" 'contains "$OUT" "start unit display-manager.service"'
	vh nas release end - < "$T/nas.xml"
	check "shared display manager: all restored" 'unchanged && systemd_unchanged'
	sim_down
}

# host_critical NAME EXTRA-SPEC DEVICE EXPECT: passing DEVICE is refused saying EXPECT
host_critical() {
	local what=$1 expect=$4
	sim_up win10 "$2"
	conf "vm = ( { name = \"win10\"; vtconsole = true; pci = { devices = [ \"$3\" ]; }; } );"
	vh win10 prepare begin < "$WIN10_XML"
	check "host-critical, $what: refused" '[ "$RC" = 1 ] && one_line_error && contains "$ERR" "$expect"'
	check "host-critical, $what: nothing changed" 'unchanged'
	sim_down
}

NVME2='block 259:1 nvme0n1p1 parent=nvme0n1
block 259:2 nvme0n1p2 parent=nvme0n1'

t_host_critical() {
	host_critical "ext4 on a partition" "$NVME2
mount 259:2 /home ext4" 0000:01:00.0 "0000:01:00.0 is the controller of a mounted filesystem (/home)"
	host_critical "btrfs root (anonymous device)" "$NVME2
mount 0:27 /srv btrfs source=/dev/nvme0n1p2
btrfs 0d5f1c3e-1111-4222-8333-123456789abc devices=nvme0n1p2" 0000:01:00.0 "0000:01:00.0 is the controller of a mounted filesystem (/srv)"
	host_critical "ext4 on LVM on LUKS" "$NVME2
block 254:0 dm-0 slaves=nvme0n1p2 dm_name=cryptroot
block 254:1 dm-1 slaves=dm-0 dm_name=vg-home
mount 254:1 /home ext4 source=/dev/mapper/vg-home" 0000:01:00.0 "0000:01:00.0 is the controller of a mounted filesystem (/home, through nvme0n1p2, dm-0, dm-1)"
	host_critical "an unmounted but open LUKS volume" "$NVME2
block 254:0 dm-0 slaves=nvme0n1p2 dm_name=cryptdata" 0000:01:00.0 "0000:01:00.0 is under the assembled dm device dm-0 (nvme0n1p2, dm-0)"
	host_critical "md RAID1 over two NVMe" "pci 0000:02:00.0 class=0x010802 vendor=0x144d device=0xa808 group=13 parent=0000:00:01.1 driver=nvme
block 259:3 nvme1n1 parent=0000:02:00.0
block 9:0 md0 slaves=nvme0n1,nvme1n1 md_level=raid1
mount 9:0 /data ext4" 0000:02:00.0 "0000:02:00.0 is the controller of a mounted filesystem (/data, through nvme1n1, md0)"
	host_critical "swap on a partition" "$NVME2
swap /dev/nvme0n1p1" 0000:01:00.0 "0000:01:00.0 is the controller of active swap (/dev/nvme0n1p1)"
	host_critical "btrfs member not named in mountinfo" "pci 0000:02:00.0 class=0x010802 vendor=0x144d device=0xa808 group=13 parent=0000:00:01.1 driver=nvme
block 259:3 nvme1n1 parent=0000:02:00.0
$NVME2
mount 0:30 /pool btrfs source=/dev/nvme0n1p2
btrfs 7a5f1c3e-1111-4222-8333-123456789abc devices=nvme0n1p2,nvme1n1" 0000:02:00.0 "the controller of nvme1n1, a member of the mounted btrfs"
	host_critical "the serial console's card" "pci 0000:05:00.0 class=0x070002 vendor=0x1415 device=0xc158 group=20 driver=serial
driver serial
console tty0 ttyS4
tty ttyS4 parent=0000:05:00.0" 0000:05:00.0 "the device of the serial console ttyS4"
	# fail closed: what cannot be read is never taken for "not needed"
	sim_up win10
	echo "unreadable proc/self/mountinfo" > "$T/faults"
	conf "vm = ( { name = \"win10\"; pci = { devices = [ $GPU4 ]; }; } );"
	vh win10 prepare begin < "$WIN10_XML"
	check "host-critical: an unreadable mount table refuses (fail closed)" '[ "$RC" = 1 ] && contains "$ERR" "cannot tell whether the host needs 0000:09:00.0 (cannot read /proc/self/mountinfo"'
	echo "unreadable sys/dev/block" > "$T/faults"
	vh win10 prepare begin < "$WIN10_XML"
	check "host-critical: an unreadable block hierarchy refuses (fail closed)" '[ "$RC" = 1 ] && contains "$ERR" "cannot resolve the block device 8:0 of /"'
	: > "$T/faults"
	check "host-critical: fail closed changed nothing" 'unchanged'
	agree "agree, the GPU on a host with LUKS, LVM, md, btrfs and swap elsewhere"
	sim_down
}

t_unreadable_state() {
	sim_up rx590
	vh rx590 prepare begin < "$RX590_XML"
	local f
	f=$(ls "$T"/root/run/vfiohook/*.state)
	printf 'vfiohook-state 2\nvm rx590\nuuid 5e0b9a61-3c1d-4f2e-8b7a-9d4c2e1f0a37\npci bdf=0000:0a:00.0 driver=amdgpu/../x\n' > "$f"
	cp "$f" "$T/corrupt"
	vh rx590 release end - < "$RX590_XML"
	check "unreadable state: release exits 0, says so on stderr, keeps the file" '[ "$RC" = 0 ] && contains "$ERR" "cannot read /run/vfiohook/" && cmp -s "$f" "$T/corrupt"'
	vh rx590 started begin - < "$RX590_XML"
	check "unreadable state: reported on the VM's other events too" '[ "$RC" = 0 ] && contains "$ERR" "cannot read /run/vfiohook/"'
	vh rx590 prepare begin < "$RX590_XML"
	check "unreadable state: prepare refuses, saying how to resolve it" '[ "$RC" = 1 ] && contains "$ERR" "vfiohook release rx590" && contains "$ERR" "vfiohook forget rx590" && cmp -s "$f" "$T/corrupt"'
	vh release rx590
	check "unreadable state: release by hand fails (exit 1) and keeps it" '[ "$RC" = 1 ] && [ -f "$f" ]'
	vh forget rx590
	check "forget: prints the records and drops the file" '[ "$RC" = 0 ] && contains "$OUT" "pci bdf=0000:0a:00.0 driver=amdgpu/../x" && [ ! -e "$f" ]'
	vh rx590 release end - < "$RX590_XML"
	check "forget: nothing left to release (the devices stay where they are)" '[ "$RC" = 0 ] && [ "$(drv 0000:0a:00.0)" = vfio-pci ]'
	sim_down
	# release by hand retries a record that could not be undone
	sim_up rx590
	vh rx590 prepare begin < "$RX590_XML"
	check "release by hand: prepared" '[ "$RC" = 0 ]'
	echo "sys/bus/pci/drivers/vfio-pci/unbind EIO" > "$T/faults"
	vh rx590 release end - < "$RX590_XML"
	check "release by hand: a failing undo keeps its records" '[ "$RC" = 0 ] && [ "$(state_files)" = 1 ]'
	: > "$T/faults"
	vh release rx590
	check "release by hand: retries and finishes" '[ "$RC" = 0 ] && [ "$(state_files)" = 0 ] && [ "$(drv 0000:0a:00.0)" = amdgpu ] && unchanged'
	sim_down
}

t_cli_words() {
	sim_up rx590
	vh rx590 prepare bgein < "$RX590_XML"
	check "CLI: an unknown subop is a usage error with the help" '[ "$RC" = 2 ] && contains "$ERR" "Usage:"'
	vh rx590 prepair begin < "$RX590_XML"
	check "CLI: an unknown op is a usage error" '[ "$RC" = 2 ]'
	vh forget
	check "CLI: forget without a VM is a usage error" '[ "$RC" = 2 ]'
	vh check --xml "$RX590_XML"
	check "CLI: check --xml needs exactly one VM" '[ "$RC" = 2 ]'
	vh check nosuchvm
	check "CLI: check of a VM kvm.conf does not have is a usage error" '[ "$RC" = 2 ] && contains "$ERR" "nosuchvm"'
	check "CLI: nothing changed" 'unchanged'
	sim_down
}

t_hostile_inputs() {
	# the state directory and its files: only what vfiohook itself wrote is acted on
	sim_up win10
	conf 'vm = ( { name = "win10"; display = { units = [ "auto" ]; }; pci = { devices = [ "0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3" ]; }; } );'
	mkdir -p "$T/root/run/vfiohook" && chmod 777 "$T/root/run/vfiohook"
	vh win10 prepare begin < "$WIN10_XML"
	check "world-writable state directory: prepare refused with one line" '[ "$RC" = 1 ] && one_line_error && contains "$ERR" "refusing /run/vfiohook: not a directory of root'"'"'s with mode 0700"'
	check "world-writable state directory: nothing changed" 'snap | diff -u "$T/initial" - && systemd_unchanged'
	rmdir "$T/root/run/vfiohook"
	mkdir -m 700 "$T/elsewhere" && ln -s ../elsewhere "$T/root/run/vfiohook"
	vh win10 prepare begin < "$WIN10_XML"
	check "symlinked state directory: prepare refused" '[ "$RC" = 1 ] && contains "$ERR" "refusing /run/vfiohook"'
	vh win10 release end - < "$WIN10_XML"
	check "symlinked state directory: release exits 0 and says why" '[ "$RC" = 0 ] && contains "$ERR" "/run/vfiohook"'
	rm "$T/root/run/vfiohook"
	check "unsafe state directory: nothing changed" 'snap | diff -u "$T/initial" - && systemd_unchanged'
	# a record planted by another user: never acted on
	vh win10 prepare begin < "$WIN10_XML"
	check "planted records: win10 prepared" '[ "$RC" = 0 ] && [ "$(unit_state gdm.service)" = inactive ]'
	printf 'vfiohook-state 2\nvm x\nuuid %%00\ndisplay unit=display-manager.service held\ndisplay unit=nvidia-persistenced.service\ncomplete\n' > "$T/root/run/vfiohook/name-x.state"
	chown nobody "$T/root/run/vfiohook/name-x.state"
	chmod 600 "$T/root/run/vfiohook/name-x.state"
	ln -s name-x.state "$T/root/run/vfiohook/name-y.state"
	vh x release end - < "$WIN10_XML"
	check "planted records: a release of their VM starts nothing" '[ "$RC" = 0 ] && [ "$(unit_state nvidia-persistenced.service)" = active ] && contains "$ERR" "cannot read /run/vfiohook/name-x.state"'
	vh win10 release end - < "$WIN10_XML"
	check "planted records: they hold nothing for win10's release (the display manager starts)" '[ "$RC" = 0 ] && [ "$(unit_state gdm.service)" = active ]'
	rm -f "$T/root/run/vfiohook/name-x.state" "$T/root/run/vfiohook/name-y.state"
	check "planted records: host restored" 'unchanged && systemd_unchanged'
	sim_down

	# kvm.conf and its includes: a FIFO hangs nothing, directories others can write are refused
	sim_up rx590
	rm -f "$T/kvm.conf"
	mkfifo -m 600 "$T/kvm.conf"
	local t0=$SECONDS
	vh rx590 prepare begin < "$RX590_XML"
	check "FIFO as kvm.conf: refused at once as not a regular file" '[ "$RC" = 2 ] && [ $((SECONDS - t0)) -le 2 ] && contains "$ERR" "not a regular file"'
	vh other started begin - < "$RX590_XML"
	check "FIFO as kvm.conf: another VM's event does not hang either" '[ "$RC" = 0 ] && [ $((SECONDS - t0)) -le 3 ]'
	rm -f "$T/kvm.conf"
	mkfifo -m 600 "$T/inc.conf"
	conf '@include "inc.conf"'
	vh rx590 prepare begin < "$RX590_XML"
	check "FIFO as an @include: refused at once" '[ "$RC" = 2 ] && [ $((SECONDS - t0)) -le 4 ] && contains "$ERR" "inc.conf: not a regular file"'
	mkdir -m 777 "$T/open"
	printf 'vm = ( { name = "rx590"; pci = { devices = "hostdev"; }; } );\n' > "$T/open/kvm.conf"
	chmod 600 "$T/open/kvm.conf"
	"$VFIOHOOK" --root "$T/root" --config "$T/open/kvm.conf" --hooks-dir "$T/hooks" rx590 prepare begin < "$RX590_XML" > "$T/out" 2> "$T/err"
	RC=$?; ERR=$(cat "$T/err")
	check "kvm.conf in a directory others can write: refused" '[ "$RC" = 2 ] && contains "$ERR" "a directory writable by others"'
	chmod 755 "$T/open"
	printf '@include "open/inc2.conf"\n' > "$T/kvm.conf"; chmod 600 "$T/kvm.conf"
	printf 'vm = ( { name = "rx590";\n  colour = "red"; } );\n' > "$T/open/inc2.conf"
	chmod 600 "$T/open/inc2.conf"
	vh rx590 prepare begin < "$RX590_XML"
	check "an included file is parsed from the descriptor checked: errors name the file and its line" '[ "$RC" = 2 ] && contains "$ERR" "open/inc2.conf:2: unknown key '"'"'colour'"'"'"'
	check "hostile configurations: nothing changed" 'unchanged'
	sim_down
}

t_wedged_kernel() {
	# an unbind stuck in the driver (D state) that completes after the deadline: prepare
	# exits 3 at its bound, the stuck child holds no lock, and release reconciles
	sim_up win10
	conf 'vm = ( { name = "win10"; pci = { devices = [ "0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3" ]; unbind_timeout = 1; }; },
	  { name = "nas"; pci = { devices = [ "0000:01:00.0" ]; }; } );'
	sed 's/<name>win10</<name>nas</; s/c6c8e3b2-0a8f/d6c8e3b2-0a8f/' "$WIN10_XML" > "$T/nas.xml"
	echo "sys/bus/pci/drivers/nvidia/unbind hang-d 3" > "$T/faults"
	local t0=$SECONDS
	vh win10 prepare begin < "$WIN10_XML"
	check "wedged unbind: prepare ends at its bound with exit 3" '[ "$RC" = 3 ] && [ $((SECONDS - t0)) -le 3 ] && one_line_error && contains "$ERR" "did not finish the write within 1 s"'
	t0=$SECONDS
	vh nas prepare begin < "$T/nas.xml"
	check "wedged unbind: the stuck writer holds no lock (another VM prepares at once)" '[ "$RC" = 0 ] && [ $((SECONDS - t0)) -le 2 ] && [ "$(drv 0000:01:00.0)" = vfio-pci ]'
	sleep 3
	check "wedged unbind: the write completed after prepare gave up (the device is unbound)" '[ "$(drv 0000:09:00.0)" = none ]'
	check "wedged unbind: its record is still there" 'grep -q "^pci bdf=0000:09:00.0 driver=nvidia$" "$T"/root/run/vfiohook/c6c8e3b2*.state'
	: > "$T/faults"
	vh win10 release end failed < "$WIN10_XML"
	check "wedged unbind: release gives the device back to its driver" '[ "$RC" = 0 ] && [ "$(drv 0000:09:00.0)" = nvidia ]'
	vh nas release end - < "$T/nas.xml"
	check "wedged unbind: all restored" 'unchanged'
	sim_down

	# a pool write that takes effect and then does not return: hugepages.timeout is a hard
	# bound; once the writer is gone, what it got is read back and recorded
	sim_up win10
	conf 'vm = ( { name = "win10"; hugepages = { pages = 1000; timeout = 1; }; } );'
	echo "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages apply-then-hang 5" > "$T/faults"
	t0=$SECONDS
	vh win10 prepare begin < "$WIN10_XML"
	check "pool write that hangs after taking effect: prepare ends within hugepages.timeout, with the pages" '[ "$RC" = 0 ] && [ $((SECONDS - t0)) -le 3 ] && [ "$(cat "$T/root/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 1000 ]'
	check "... recorded as added, read back" 'grep -q "^hugepages pool=/sys/kernel/mm/hugepages/hugepages-2048kB before=0 target=1000 added=1000$" "$T"/root/run/vfiohook/*.state'
	: > "$T/faults"
	vh win10 release end - < "$WIN10_XML"
	check "... release gives them back" '[ "$RC" = 0 ] && unchanged'
	# one that blocks in the kernel beyond the bound and completes later: outcome unknown
	echo "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages hang-d 3" > "$T/faults"
	t0=$SECONDS
	vh win10 prepare begin < "$WIN10_XML"
	check "pool write stuck in the kernel: prepare ends at its bound with exit 3" '[ "$RC" = 3 ] && [ $((SECONDS - t0)) -le 3 ] && one_line_error && contains "$ERR" "did not return within 1 s"'
	check "... the record says what was asked for, not what came" 'grep -q "^hugepages pool=/sys/kernel/mm/hugepages/hugepages-2048kB before=0 target=1000$" "$T"/root/run/vfiohook/*.state'
	sleep 3
	: > "$T/faults"
	vh win10 release end failed < "$WIN10_XML"
	check "... once it completed, release gives back what it added, no more" '[ "$RC" = 0 ] && unchanged'
	sim_down

	# a crash (kill -9) at every operation of a prepare with every stage: release restores
	local line n=0 path unit
	sim_up win10
	allconf "$GPU4"
	cp "$T/systemd.spec" "$T/systemd.initial.spec"
	vh --dry-run win10 prepare begin < "$WIN10_XML"
	printf '%s\n' "$OUT" > "$T/plan"
	while IFS= read -r line; do
		case $line in
		"write "*) path=${line#write "$T"/root/}; path=${path%% *} ;;
		"load module "* | "unload module "*) path=sys/module/${line##* } ;;
		"stop unit "*)
			# the unit's stop job never ends: the kill comes while prepare waits for it
			path=
			# its name in the dump (the plan may name it by an alias)
			unit=$(awk -v n="${line##* }" '$1 == "unit" { if ($2 == n) print $2
				for (i = 4; i <= NF; i++) if ($i ~ /^alias=/) { k = split(substr($i, 7), a, ","); for (j = 1; j <= k; j++) if (a[j] == n) print $2 } }' "$T/systemd.spec" | head -n 1)
			systemd_up "$(sed "s/^unit $unit active.*/& stop=hang/" "$T/systemd.spec")"
			;;
		*) continue ;;
		esac
		n=$((n + 1))
		[ -z "$path" ] || echo "$path hang 60" > "$T/faults"
		: > "$T/simhost.log"
		"$VFIOHOOK" --root "$T/root" --config "$T/kvm.conf" --hooks-dir "$T/hooks" -v win10 prepare begin < "$WIN10_XML" > /dev/null 2> "$T/crash.err" &
		local pid=$! i=0
		disown "$pid" # no "Killed" notice
		# until the operation is in flight: waiting in the simulated kernel, or for this
		# unit's stop job (other stops pass through that state too: a kill there would be
		# another iteration's)
		while [ $i -lt 1000 ] && if [ -n "$path" ]; then ! grep -qs "^hang .* 60\.000s$" "$T/simhost.log"; else ! grep -qs "^unit $unit .* job=stop" "$T/systemd.dump"; fi; do
			sleep 0.05
			i=$((i + 1))
		done
		if [ $i -ge 1000 ]; then
			check "kill -9 test: '$line' came within 50 s" 'echo "the prepare said, last:"; tail -n 8 "$T/crash.err"; echo "the simulated kernel, last:"; tail -n 8 "$T/simhost.log"; echo "systemd:"; cat "$T/systemd.dump"; false'
			kill -9 "$pid" 2>/dev/null
			sim_down
			return
		fi
		# the whole run dies at once: the hook first (killed after its watchdog child, it
		# could see the child die and start rolling back), then the child, found before
		local kids
		kids=$(pgrep -P "$pid" | tr '\n' ' ')
		# shellcheck disable=SC2086 # a list of PIDs
		kill -9 "$pid" $kids 2>/dev/null
		while kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
		cp "$T"/root/run/vfiohook/*.state "$T/crash.state" 2>/dev/null
		: > "$T/faults"
		vh win10 release end crashed < "$WIN10_XML"
		if ! unchanged > "$T/crash.diff" 2>&1 || ! systemd_unchanged >> "$T/crash.diff" 2>&1; then
			check "kill -9 while '$line' is in flight: release restores the host" \
				'echo "release exit $RC: $ERR"; echo "the killed prepare said, last:"; tail -n 12 "$T/crash.err"; echo "state after the kill:"; cat "$T/crash.state"; cat "$T/crash.diff"; false'
			sim_down
			return
		fi
		[ -n "$path" ] || systemd_up "$(cat "$T/systemd.initial.spec")"
	done < "$T/plan"
	check "kill -9 in each of the $n operations of a prepare with every stage (writes, module loads and unloads, unit stops): release restores the host each time" '[ $n -ge 10 ] && [ "$(grep -c -e "^write " -e "module " -e "^stop unit " "$T/plan")" = $n ]'
	sim_down
}

t_valgrind() {
	# memcheck over a whole round trip with every stage, a refusal, and a dry run
	command -v valgrind > /dev/null || { echo "skip: valgrind not installed"; return; }
	case $VFIOHOOK in */asan/*) return ;; esac # the sanitizer build has its own checks
	sim_up win10
	allconf "$GPU4"
	VH_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --child-silent-after-fork=yes"
	vh --dry-run win10 prepare begin < "$WIN10_XML"
	check "valgrind: dry run clean" '[ "$RC" = 0 ]'
	vh win10 prepare begin < "$WIN10_XML"
	check "valgrind: prepare with every stage clean" '[ "$RC" = 0 ]'
	vh win10 release end - < "$WIN10_XML"
	check "valgrind: release clean" '[ "$RC" = 0 ] && unchanged'
	allconf '"0000:09:00.0"'
	vh win10 prepare begin < "$WIN10_XML"
	check "valgrind: a refused prepare clean" '[ "$RC" = 1 ]'
	vh check --xml "$WIN10_XML" win10
	check "valgrind: check clean" '[ "$RC" = 1 ]'
	VH_WRAP=
	sim_down
}

t_install() {
	# `vfiohook install --root`: the hook link, a foreign hook backed up, kvm.conf untouched
	local d
	d=$(mktemp -d /tmp/vfiohook-install.XXXXXX)
	mkdir -p "$d/etc/libvirt/hooks/qemu.d/win10/prepare/begin"
	printf '#!/bin/bash\nGUEST_NAME="$1"\nHOOK_NAME="$2"\nSTATE_NAME="$3"\nHOOKPATH="$BASEDIR/qemu.d/$GUEST_NAME/$HOOK_NAME/$STATE_NAME"\n' > "$d/etc/libvirt/hooks/qemu"
	chmod 755 "$d/etc/libvirt/hooks/qemu"
	printf 'VIRSH_GPU_VIDEO=pci_0000_09_00_0\n' > "$d/etc/libvirt/hooks/kvm.conf"
	cp "$d/etc/libvirt/hooks/qemu" "$d/qemu.orig"
	cp "$d/etc/libvirt/hooks/kvm.conf" "$d/kvm.orig"
	"$VFIOHOOK" --root "$d" --dry-run install > "$d/out" 2>&1
	check "install --dry-run: says what it would do, changes nothing" '[ $? = 0 ] && grep -q "link /etc/libvirt/hooks/qemu" "$d/out" && cmp -s "$d/qemu.orig" "$d/etc/libvirt/hooks/qemu" && [ ! -L "$d/etc/libvirt/hooks/qemu" ]'
	"$VFIOHOOK" --root "$d" install > "$d/out" 2>&1
	local rc=$?
	check "install: the hook is a link to the binary" '[ $rc = 0 ] && [ "$(readlink "$d/etc/libvirt/hooks/qemu")" = "$VFIOHOOK" ]'
	check "install: the foreign hook is backed up byte for byte" 'cmp -s "$d/qemu.orig" "$d"/etc/libvirt/hooks/qemu.before-vfiohook-*'
	check "install: the tutorial's dispatcher is recognised and import offered" 'grep -q "vfiohook import" "$d/out"'
	check "install: kvm.conf untouched" 'cmp -s "$d/kvm.orig" "$d/etc/libvirt/hooks/kvm.conf"'
	check "install --root: libvirt is not reloaded, it says so" 'grep -q "would reload" "$d/out"'
	"$VFIOHOOK" --root "$d" install > "$d/out" 2>&1
	check "install twice: nothing more happens" '[ $? = 0 ] && grep -q "already runs vfiohook" "$d/out" && [ "$(ls "$d"/etc/libvirt/hooks | grep -c before-vfiohook)" = 1 ]'
	"$VFIOHOOK" --root "$d" install extra > "$d/out" 2>&1
	check "install with a stray word: usage error" '[ $? = 2 ]'
	rm -rf "$d"
}

# Every test, in order. The sanitizer build runs them all but those in SLOW: they wait for
# timeouts or repeat whole runs (valgrind, a kill at every operation), which the normal
# build covers, and ASan makes each run several times slower.
TESTS=(
	t_win10_round_trip
	t_lean_process
	t_win10_stages
	t_stage_refusals
	t_hugepages_two_vms
	t_rx590_hostdev
	't_fault_midway "EBUSY unbinding the USB controller" "sys/bus/pci/drivers/xhci_hcd/unbind EBUSY" "cannot unbind 0000:09:00.2 from xhci_hcd"'
	't_fault_midway "EIO probing the last function" "sys/bus/pci/drivers_probe EIO 1" "cannot probe 0000:09:00.0"'
	't_fault_midway "vfio_pci fails to load" "sys/module/vfio_pci ENOMEM" "cannot load module vfio_pci"'
	t_release_without_prepare
	t_double_prepare
	t_incomplete_group
	t_missing_device
	t_host_needs_device
	t_async_and_stuck_probe
	t_hanging_unbind
	t_dry_run
	t_other_vms_and_ops
	t_two_vms
	t_managed_reattach
	t_foreign_vfio_device
	t_stages_round_trip
	t_stages_failures
	t_shared_display
	t_unfinished_prepare
	t_bad_input
	t_names_with_spaces
	t_dropins
	t_dropin_flood
	t_dropin_closed_output
	t_dropin_leftovers
	t_dropin_blocked
	t_dropin_many
	t_import_nvidia
	t_import_amd
	t_import_dry_run
	t_import_refusals
	t_import_no_conf
	t_hook_mode
	t_agree
	t_busy_module
	t_shared_release_plan
	t_host_critical
	t_unreadable_state
	t_cli_words
	t_hostile_inputs
	t_wedged_kernel
	t_valgrind
	t_install
	t_vbios
	t_gpu_users_wait
	t_user_units
	t_journal
	t_admin_cli
	t_status_nothing
	t_status_win10
	t_status_rx590
	t_status_shared
	t_status_unreadable
	t_status_escaping
	t_groups_win10
	t_groups_rx590
	t_groups_no_iommu
	t_pin_ryzen
	t_pin_intel
	t_pin_numa
	t_doctor_fixtures
	t_doctor_coverage
	t_doctor_fixes
	t_doctor_cli
)
SLOW=" t_wedged_kernel t_valgrind t_dropin_many t_dropin_blocked t_dropin_closed_output t_dropin_leftovers t_gpu_users_wait t_hanging_unbind t_async_and_stuck_probe t_import_refusals "

BINARIES=${*:-$TOP/build/vfiohook $TOP/build/asan/vfiohook}
for VFIOHOOK in $BINARIES; do
	VFIOHOOK=$(realpath "$VFIOHOOK")
	echo "# $VFIOHOOK"
	if [ -n "${ONLY:-}" ]; then # ONLY="t_two_vms t_dry_run": a subset, for debugging
		for t in $ONLY; do $t; done
		continue
	fi
	for t in "${TESTS[@]}"; do
		case $VFIOHOOK in */asan/*) case $SLOW in *" ${t%% *} "*) continue ;; esac ;; esac
		t0=$SECONDS
		eval "$t"
		echo "# ${t%% *}: $((SECONDS - t0)) s"
	done
done
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
