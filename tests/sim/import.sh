# SPDX-License-Identifier: GPL-2.0-or-later
# `vfiohook import`: the passthrough tutorial's hooks (tests/import/nvidia and tests/import/amd,
# written as the tutorials have them) put under the simulated host's --root, converted, the
# result checked and planned on the simulated host, and undone byte for byte. Sourced by run.sh
# (bash), after lib.sh; every t_ function is a test case.
#
# import works on DIR/etc/libvirt/hooks under --root: the binary is called directly (vh passes
# --config and --hooks-dir of the sim, which import does not use).
IMPORT_FIXTURES=$TOP/tests/import

# imp_up HOST FIXTURE: a simulated host with the tutorial's tree under its root; sets R (the
# root), H (its hooks directory) and keeps a pristine copy of etc in $T/pristine
imp_up() {
	sim_up "$1"
	R=$T/root
	H=$R/etc/libvirt/hooks
	cp -a "$IMPORT_FIXTURES/$2/etc" "$R/"
	mkdir -p "$T/pristine"
}
imp_snapshot() { cp -a "$R/etc" "$T/pristine/"; }
# imp ARGS...: the binary on the root; sets RC, OUT, ERR
imp() {
	"$VFIOHOOK" --root "$R" "$@" > "$T/out" 2> "$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}
# every file and directory of the tree with its mode, owner and group (and, with mtime, the
# modification time of each: a file made and removed again changes its directory's)
imp_listing() { (cd "$1" && find . -printf "%p %y %m %u %g${2:+ %T@}\n" | LC_ALL=C sort); }
# the tree is exactly the pristine copy: contents, modes, owners (and what is not there)
imp_pristine() {
	diff -r "$T/pristine/etc" "$R/etc" | sed 's/^/    /' | head -20
	[ "${PIPESTATUS[0]}" = 0 ] || return 1
	diff -u <(imp_listing "$T/pristine/etc") <(imp_listing "$R/etc") | sed 's/^/    /' | head -20
	[ "${PIPESTATUS[0]}" = 0 ]
}
imp_backup() { ls -d "$H"/vfiohook-import-* 2>/dev/null; }
# the commands of a script: neither comments nor blank lines
imp_commands() { grep -v '^[[:space:]]*#' "$1" | grep -v '^[[:space:]]*$'; }
# the commands of every file left in qemu.d that do one of the stages' steps
imp_steps_left() {
	find "$H/qemu.d" -type f -exec grep -vh '^[[:space:]]*#' {} + |
		grep -E "nodedev-|modprobe|rmmod|vtconsole|framebuffer|nr_hugepages|compact_memory|scaling_governor|cpupower|systemctl (stop|start)"
}
# count PATTERN FILE: lines of FILE matching the fixed string PATTERN
count() { grep -cF -- "$1" "$2"; }
# prepare as libvirt would run it with the imported kvm.conf and the drop-ins left, planned only
imp_plan() {
	"$VFIOHOOK" --root "$R" --config "$H/kvm.conf" --hooks-dir "$H/qemu.d" --dry-run "$1" prepare begin \
		< "$2" > "$T/plan" 2> "$T/plan.err"
	RC=$?
	ERR=$(cat "$T/plan.err")
}
# the imported kvm.conf on the simulated host for real, with no drop-in at all (they would run on
# this machine): its stages do what the scripts did, and release restores everything
imp_round_trip() {
	local vm=$1 xml=$2
	"$VFIOHOOK" --root "$R" --config "$H/kvm.conf" --hooks-dir "$T/hooks" "$vm" prepare begin < "$xml" \
		> "$T/out" 2> "$T/err"
	RC=$?
	ERR=$(cat "$T/err")
}

t_import_nvidia() {
	imp_up win10 nvidia
	local pol=$T/root/sys/devices/system/cpu/cpufreq d b
	# what a real host has: modes and owners that undo must give back as they were
	chmod 700 "$H/qemu.d/win10/release/end/stop.sh"
	chmod 640 "$H/kvm.conf"
	chown 1000:1000 "$H/qemu.d/win10/prepare/begin/start.sh"
	# the domain's definition where libvirt keeps it: its <memory> agrees with VM_MEMORY
	mkdir -p "$R/etc/libvirt/qemu"
	cp "$WIN10_XML" "$R/etc/libvirt/qemu/win10.xml"
	imp_snapshot

	imp import
	check "import nvidia: exits 0, nothing on stderr" '[ "$RC" = 0 ] && [ -z "$ERR" ]'
	check "import nvidia: the report says what is next (vfiohook install)" 'contains "$OUT" "vfiohook install"'
	check "import nvidia: the report names the line it does not understand" \
		'contains "$OUT" "nvidia-xconfig --query-gpu-info" && contains "$OUT" "systemctl restart my-rgb.service"'
	check "import nvidia: one backup directory vfiohook-import-DATE" \
		'[ "$(imp_backup | wc -l)" = 1 ] && [[ "$(basename "$(imp_backup)")" =~ ^vfiohook-import-[0-9]{8}-[0-9]{6}$ ]]'
	b=$(imp_backup)
	check "import nvidia: the dispatcher and the old kvm.conf moved to the backup, unchanged" \
		'[ ! -e "$H/qemu" ] && cmp -s "$b/qemu" "$T/pristine/etc/libvirt/hooks/qemu" &&
		cmp -s "$b/kvm.conf" "$T/pristine/etc/libvirt/hooks/kvm.conf"'
	check "import nvidia: the new kvm.conf is root's, mode 0600" '[ "$(stat -c "%a %u %g" "$H/kvm.conf")" = "600 0 0" ]'
	check "import nvidia: pci.devices from VIRSH_GPU_* (nodedev-detach x4)" \
		'grep -qF "pci = { devices = [ \"0000:09:00.0\", \"0000:09:00.1\", \"0000:09:00.2\", \"0000:09:00.3\" ]; };" "$H/kvm.conf"'
	check "import nvidia: display-manager.service is \"auto\"; vtconsole, framebuffer, the four modules, performance" \
		'grep -qF "display = { units = [ \"auto\" ]; };" "$H/kvm.conf" && grep -qx "    vtconsole = true;" "$H/kvm.conf" &&
		grep -qx "    framebuffer = true;" "$H/kvm.conf" &&
		grep -qF "modules = { unload = [ \"nvidia_drm\", \"nvidia_modeset\", \"nvidia_uvm\", \"nvidia\" ]; };" "$H/kvm.conf" &&
		grep -qF "governor = { name = \"performance\"; };" "$H/kvm.conf"'
	check "import nvidia: hugepages from VM_MEMORY, \"auto\" since the domain's <memory> agrees" \
		'grep -qF "hugepages = { size = \"2M\"; pages = \"auto\"; };" "$H/kvm.conf"'
	check "import nvidia: the scripts whose every line was taken over are in the backup, not in qemu.d" \
		'(for f in prepare/begin/start.sh prepare/begin/alloc_hugepages.sh prepare/begin/cpu_mode_performance.sh \
			release/end/dealloc_hugepages.sh release/end/cpu_mode_ondemand.sh; do
			[ ! -e "$H/qemu.d/win10/$f" ] && cmp -s "$b/qemu.d/win10/$f" "$T/pristine/etc/libvirt/hooks/qemu.d/win10/$f" || exit 1
		done)'
	check "import nvidia: stop.sh replaced by its one line not understood, with its shebang" \
		'[ "$(head -n 1 "$H/qemu.d/win10/release/end/stop.sh")" = "#!/bin/bash" ] &&
		[ "$(imp_commands "$H/qemu.d/win10/release/end/stop.sh")" = "nvidia-xconfig --query-gpu-info > /dev/null 2>&1" ] &&
		grep -q "now settings of" "$H/qemu.d/win10/release/end/stop.sh" && bash -n "$H/qemu.d/win10/release/end/stop.sh"'
	check "import nvidia: the replacement is root's and executable, no one else may write it" \
		'[ "$(stat -c "%a %u" "$H/qemu.d/win10/release/end/stop.sh")" = "700 0" ]'
	check "import nvidia: lights.sh (nothing in it is a setting) keeps its line, untouched" \
		'cmp -s "$H/qemu.d/win10/prepare/begin/lights.sh" "$T/pristine/etc/libvirt/hooks/qemu.d/win10/prepare/begin/lights.sh" &&
		grep -qx "systemctl restart my-rgb.service" "$H/qemu.d/win10/prepare/begin/lights.sh"'
	check "import nvidia: a script of another event sources kvm.conf no more: the variables it uses instead" \
		'! grep -q "kvm.conf\"\?$" <(imp_commands "$H/qemu.d/win10/stopped/end/log.sh") &&
		grep -qx "VM_NAME=win10" "$H/qemu.d/win10/stopped/end/log.sh" &&
		grep -qx "VIRSH_GPU_VIDEO=pci_0000_09_00_0" "$H/qemu.d/win10/stopped/end/log.sh" &&
		! grep -q "VIRSH_GPU_AUDIO" "$H/qemu.d/win10/stopped/end/log.sh" && bash -n "$H/qemu.d/win10/stopped/end/log.sh"'
	check "import nvidia: the file that was not executable is left alone" \
		'cmp -s "$H/qemu.d/win10/prepare/begin/README.txt" "$T/pristine/etc/libvirt/hooks/qemu.d/win10/prepare/begin/README.txt"'
	check "import nvidia: the manifest lists every file moved, replaced or created with mode and owner" \
		'm=$b/vfiohook-import.manifest; [ "$(grep -c "^moved \|^replaced \|^created " "$m")" = 9 ] &&
		grep -q "^moved 100755 1000 1000 [0-9a-f]\{16\} - qemu.d/win10/prepare/begin/start.sh$" "$m" &&
		grep -q "^replaced 100640 0 0 [0-9a-f]\{16\} [0-9a-f]\{16\} kvm.conf$" "$m" &&
		grep -q "^replaced 100700 0 0 .* qemu.d/win10/release/end/stop.sh$" "$m" && grep -q "^moved 100755 0 0 .* qemu$" "$m"'

	"$VFIOHOOK" --root "$R" --config "$H/kvm.conf" check --xml "$WIN10_XML" win10 > "$T/out" 2> "$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	check "import nvidia: vfiohook check passes the new kvm.conf (and its plan) on the simulated host" \
		'[ "$RC" = 0 ] && contains "$OUT" "OK, 1 VM" && contains "$OUT" "ok: win10"'

	imp_plan win10 "$WIN10_XML"
	check "import nvidia: prepare with the imported config plans (exit 0)" '[ "$RC" = 0 ]'
	check "import nvidia: the display manager stopped once" '[ "$(count "stop unit " "$T/plan")" = 1 ] && [ "$(count "stop unit display-manager.service" "$T/plan")" = 1 ]'
	check "import nvidia: the console unbound once" '[ "$(count "/sys/class/vtconsole/" "$T/plan")" = 1 ] && [ "$(count "vtcon1/bind \"0\"" "$T/plan")" = 1 ]'
	check "import nvidia: efi-framebuffer.0 unbound once" '[ "$(count "efi-framebuffer.0/driver/unbind \"efi-framebuffer.0\"" "$T/plan")" = 1 ]'
	check "import nvidia: each NVIDIA module unloaded once" \
		'(for m in nvidia_drm nvidia_modeset nvidia_uvm nvidia; do [ "$(grep -cx "unload module $m" "$T/plan")" = 1 ] || exit 1; done)'
	check "import nvidia: the four functions to vfio-pci, each once" \
		'[ "$(count "/driver_override \"vfio-pci\"" "$T/plan")" = 4 ] &&
		(for d in $GPU; do [ "$(count "$d/driver_override \"vfio-pci\"" "$T/plan")" = 1 ] || exit 1; done)'
	check "import nvidia: 8192 hugepages (16 GiB) once" '[ "$(count "nr_hugepages \"8192\"" "$T/plan")" = 1 ] && [ "$(count "nr_hugepages" "$T/plan")" = 1 ]'
	check "import nvidia: performance on each of the 16 policies, once" '[ "$(count "scaling_governor \"performance\"" "$T/plan")" = 16 ]'
	check "import nvidia: the only drop-in left to run is lights.sh" \
		'[ "$(grep "^run " "$T/plan")" = "run $H/qemu.d/win10/prepare/begin/lights.sh" ]'
	check "import nvidia: nothing planned twice" '[ -z "$(sort "$T/plan" | uniq -d)" ]'
	check "import nvidia: no drop-in left does a step of the stages" \
		'! imp_steps_left'

	imp_round_trip win10 "$WIN10_XML"
	check "import nvidia: a real prepare with the imported config succeeds" '[ "$RC" = 0 ]'
	local all=yes
	for d in $GPU; do [ "$(drv "$d")" = vfio-pci ] || all=no; done
	check "import nvidia: what the scripts did is done: GPU on vfio-pci, display manager stopped, console and framebuffer unbound, modules out, pages, governor" \
		'[ $all = yes ] && [ "$(unit_state gdm.service)" = inactive ] &&
		[ "$(cat "$T/root/sys/class/vtconsole/vtcon1/bind")" = 0 ] &&
		[ ! -e "$T/root/sys/bus/platform/devices/efi-framebuffer.0/driver" ] &&
		[ ! -e "$T/root/sys/module/nvidia/initstate" ] &&
		[ "$(cat "$T/root/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 8192 ] &&
		[ "$(cat "$pol"/policy*/scaling_governor | sort -u)" = performance ]'
	"$VFIOHOOK" --root "$R" --config "$H/kvm.conf" --hooks-dir "$T/hooks" win10 release end shutdown < "$WIN10_XML" > /dev/null 2>&1
	check "import nvidia: release gives the host back exactly (sysfs and systemd)" 'unchanged && systemd_unchanged'

	imp import --undo "/etc/libvirt/hooks/$(basename "$b")"
	check "import nvidia: --undo exits 0" '[ "$RC" = 0 ] && [ -z "$ERR" ]'
	check "import nvidia: --undo puts the tree back byte for byte, modes and owners included" 'imp_pristine'
	check "import nvidia: --undo removes the backup directory" '[ -z "$(imp_backup)" ]'
	sim_down
}

t_import_amd() {
	imp_up rx590 amd
	local pol=$T/root/sys/devices/system/cpu/cpufreq b
	imp_snapshot

	imp import
	check "import amd: exits 0" '[ "$RC" = 0 ] && [ -z "$ERR" ]'
	b=$(imp_backup)
	check "import amd: pci.devices are the two functions detached; VIRSH_USB (commented out) is not in it, and the report says so" \
		'grep -qF "pci = { devices = [ \"0000:0a:00.0\", \"0000:0a:00.1\" ]; };" "$H/kvm.conf" && ! grep -q "0c:00" "$H/kvm.conf" &&
		contains "$OUT" "VIRSH_USB=pci_0000_0c_00_3: detached by no script"'
	check "import amd: hugepages from VM_MEMORY=8192 as a number (no domain definition), drop_caches from the script" \
		'grep -qF "hugepages = { size = \"2M\"; pages = 4096; drop_caches = true; };" "$H/kvm.conf"'
	check "import amd: amdgpu unloaded, consoles, no framebuffer (its lines are comments), performance" \
		'grep -qF "modules = { unload = [ \"amdgpu\" ]; };" "$H/kvm.conf" && grep -qx "    vtconsole = true;" "$H/kvm.conf" &&
		! grep -q "framebuffer" "$H/kvm.conf" && grep -qF "governor = { name = \"performance\"; };" "$H/kvm.conf"'
	check "import amd: start.sh keeps the two lines that kill the user's audio servers, and only those" \
		'[ "$(imp_commands "$H/qemu.d/rx590/prepare/begin/start.sh")" = "$(printf "killall -u alice pulseaudio\nkillall -u alice pipewire-media-session")" ] &&
		bash -n "$H/qemu.d/rx590/prepare/begin/start.sh"'
	check "import amd: the report lists them as kept, with the reason" \
		'contains "$OUT" "killall -u alice pulseaudio" && contains "$OUT" "the user'"'"'s audio server"'
	check "import amd: stop.sh, every line of which was taken over, is in the backup" \
		'[ ! -e "$H/qemu.d/rx590/release/end/stop.sh" ] && [ -f "$b/qemu.d/rx590/release/end/stop.sh" ]'

	"$VFIOHOOK" --root "$R" --config "$H/kvm.conf" check > "$T/out" 2> "$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	check "import amd: vfiohook check passes the new kvm.conf on the simulated host" '[ "$RC" = 0 ] && contains "$OUT" "OK, 1 VM" && contains "$OUT" "ok: rx590"'

	imp_plan rx590 "$RX590_XML"
	check "import amd: prepare plans, and each step once: display manager, console, amdgpu, the two functions, 4096 pages, 12 policies" \
		'[ "$RC" = 0 ] && [ "$(count "stop unit display-manager.service" "$T/plan")" = 1 ] &&
		[ "$(count "/sys/class/vtconsole/" "$T/plan")" = 1 ] && [ "$(grep -cx "unload module amdgpu" "$T/plan")" = 1 ] &&
		[ "$(count "/driver_override \"vfio-pci\"" "$T/plan")" = 2 ] && [ "$(count "nr_hugepages \"4096\"" "$T/plan")" = 1 ] &&
		[ "$(count "scaling_governor \"performance\"" "$T/plan")" = 12 ] && ! grep -q framebuffer "$T/plan"'
	check "import amd: the audio lines still run, from the start.sh left" \
		'[ "$(grep "^run " "$T/plan")" = "run $H/qemu.d/rx590/prepare/begin/start.sh" ]'
	check "import amd: nothing planned twice, and no drop-in left does a step of the stages" \
		'[ -z "$(sort "$T/plan" | uniq -d)" ] && ! imp_steps_left'

	imp_round_trip rx590 "$RX590_XML"
	check "import amd: a real prepare: GPU on vfio-pci, amdgpu out, 4096 pages, performance" \
		'[ "$RC" = 0 ] && [ "$(drv 0000:0a:00.0)" = vfio-pci ] && [ "$(drv 0000:0a:00.1)" = vfio-pci ] &&
		[ ! -e "$T/root/sys/module/amdgpu/initstate" ] &&
		[ "$(cat "$T/root/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 4096 ] &&
		[ "$(cat "$pol"/policy*/scaling_governor | sort -u)" = performance ] && [ "$(unit_state gdm.service)" = inactive ]'
	"$VFIOHOOK" --root "$R" --config "$H/kvm.conf" --hooks-dir "$T/hooks" rx590 release end shutdown < "$RX590_XML" > /dev/null 2>&1
	check "import amd: release gives the host back exactly" 'unchanged && systemd_unchanged'

	imp import --undo "$b"
	check "import amd: --undo (given the full path) puts the tree back byte for byte" '[ "$RC" = 0 ] && imp_pristine && [ -z "$(imp_backup)" ]'
	sim_down
}

t_import_dry_run() {
	imp_up win10 nvidia
	imp_snapshot
	imp_listing "$R/etc" mtime > "$T/before"
	imp import --dry-run
	check "import --dry-run: exits 0" '[ "$RC" = 0 ]'
	check "import --dry-run: prints the report, the new kvm.conf and the replacement scripts" \
		'contains "$OUT" "into kvm.conf:" && contains "$OUT" "--- new /etc/libvirt/hooks/kvm.conf ---" &&
		contains "$OUT" "pci = { devices = [ \"0000:09:00.0\", \"0000:09:00.1\", \"0000:09:00.2\", \"0000:09:00.3\" ]; };" &&
		contains "$OUT" "--- new /etc/libvirt/hooks/qemu.d/win10/release/end/stop.sh ---"'
	check "import --dry-run: changes nothing (contents, modes, owners, no backup)" 'imp_pristine && [ -z "$(imp_backup)" ]'
	check "import --dry-run: not even a file made and removed (directory times unchanged)" \
		'diff -u "$T/before" <(imp_listing "$R/etc" mtime) | sed "s/^/    /" | head; [ "${PIPESTATUS[0]}" = 0 ]'
	sim_down
}

t_import_refusals() {
	local b
	# nothing to import: the dispatcher alone
	imp_up win10 nvidia
	rm -rf "$H/qemu.d" "$H/kvm.conf"
	imp_snapshot
	imp import
	check "import, nothing to import: exit 1, saying so, nothing changed" \
		'[ "$RC" = 1 ] && contains "$OUT" "nothing to import" && imp_pristine && [ -z "$(imp_backup)" ]'
	sim_down

	# kvm.conf is vfiohook's already: not replaced
	imp_up win10 nvidia
	install -m 600 "$TOP/conf/kvm.conf" "$H/kvm.conf"
	imp_snapshot
	imp import
	check "import, kvm.conf already vfiohook's: refused (exit 1), nothing changed" \
		'[ "$RC" = 1 ] && contains "$ERR" "not the tutorial'"'"'s shell-style kvm.conf" && imp_pristine && [ -z "$(imp_backup)" ]'
	sim_down

	# usage
	imp_up win10 nvidia
	imp import extra
	check "import with an argument: usage (exit 2)" '[ "$RC" = 2 ]'
	imp import --xml "$WIN10_XML"
	check "import --xml: usage (exit 2)" '[ "$RC" = 2 ]'

	# a failure half way (the replacement of stop.sh cannot be written): everything put back
	mkdir "$H/qemu.d/win10/release/end/.stop.sh.vfiohook-import"
	imp_snapshot
	imp import
	check "import failing half way: exit 1, naming what failed" '[ "$RC" = 1 ] && contains "$ERR" "stop.sh.vfiohook-import"'
	check "import failing half way: the tree is as it was, no backup left" 'imp_pristine && [ -z "$(imp_backup)" ]'
	rmdir "$H/qemu.d/win10/release/end/.stop.sh.vfiohook-import"
	rm -rf "$T/pristine/etc"
	imp_snapshot

	# --undo of what is not a backup
	imp import --undo /etc/libvirt/hooks/qemu.d
	check "import --undo of a directory that is not a backup: refused (exit 1)" '[ "$RC" = 1 ] && contains "$ERR" "not an import backup"'
	mkdir -m 700 "$H/vfiohook-import-20260101-000000"
	imp import --undo /etc/libvirt/hooks/vfiohook-import-20260101-000000
	check "import --undo of a backup-named directory without a manifest: refused, nothing changed" \
		'[ "$RC" = 1 ] && contains "$ERR" "no manifest" && [ -d "$H/vfiohook-import-20260101-000000" ] && [ -f "$H/qemu" ]'
	rmdir "$H/vfiohook-import-20260101-000000"

	imp import
	b=$(imp_backup)
	check "import for the undo cases: exit 0" '[ "$RC" = 0 ] && [ -n "$b" ]'
	sed -i '$d' "$b/vfiohook-import.manifest"
	imp import --undo "$b"
	check "import --undo of a manifest cut short: refused, nothing changed" \
		'[ "$RC" = 1 ] && contains "$ERR" "not a complete" && [ ! -e "$H/qemu" ] && [ -f "$b/qemu" ]'
	echo end >> "$b/vfiohook-import.manifest"

	# the new kvm.conf edited since: undo refuses, changing nothing; moved away, undo goes on
	echo "# edited" >> "$H/kvm.conf"
	cp -a "$H" "$T/after-import"
	imp import --undo "$b"
	check "import --undo when the new kvm.conf changed since: refused naming it, nothing changed" \
		'[ "$RC" = 1 ] && contains "$ERR" "kvm.conf: changed since the import" &&
		diff -r "$T/after-import" "$H" > /dev/null'
	rm "$H/kvm.conf"
	imp import --undo "$b" --dry-run
	check "import --undo --dry-run: says what it would do, changes nothing" \
		'[ "$RC" = 0 ] && contains "$OUT" "restore /etc/libvirt/hooks/qemu" && [ ! -e "$H/qemu" ] && [ -d "$b" ]'
	# vfiohook install linked the hook meanwhile: the link goes, the dispatcher comes back
	ln -s /usr/local/bin/vfiohook "$H/qemu"
	imp import --undo "$b"
	check "import --undo after vfiohook install: the hook link removed, the tree back byte for byte" \
		'[ "$RC" = 0 ] && contains "$OUT" "the link vfiohook install made" && imp_pristine && [ -z "$(imp_backup)" ]'
	sim_down
}

t_import_no_conf() {
	# the QaidVoid flavour: no kvm.conf, the devices written into the scripts; the hugepage
	# script needs VM_MEMORY, which nothing sets: it cannot be taken over and stays as it is
	imp_up win10 nvidia
	local b
	rm "$H/kvm.conf"
	sed -i 's/\$VIRSH_GPU_VIDEO/pci_0000_09_00_0/; s/\$VIRSH_GPU_AUDIO/pci_0000_09_00_1/; s/\$VIRSH_GPU_USB/pci_0000_09_00_2/; s/\$VIRSH_GPU_SERIAL/pci_0000_09_00_3/' \
		"$H/qemu.d/win10/prepare/begin/start.sh" "$H/qemu.d/win10/release/end/stop.sh"
	imp_snapshot
	imp import
	b=$(imp_backup)
	check "import without kvm.conf: exits 0, a kvm.conf created (root's, 0600) with the devices written in the scripts" \
		'[ "$RC" = 0 ] && [ "$(stat -c "%a %u" "$H/kvm.conf")" = "600 0" ] &&
		grep -qF "pci = { devices = [ \"0000:09:00.0\", \"0000:09:00.1\", \"0000:09:00.2\", \"0000:09:00.3\" ]; };" "$H/kvm.conf" &&
		grep -q "^created 100600 0 0 - [0-9a-f]\{16\} kvm.conf$" "$b/vfiohook-import.manifest"'
	check "import without kvm.conf: no hugepages setting; the report says VM_MEMORY is not set" \
		'! grep -q hugepages "$H/kvm.conf" && contains "$OUT" "\$VM_MEMORY is not set"'
	check "import without kvm.conf: the hugepage scripts keep every step, only their source line goes (kvm.conf is vfiohook's now)" \
		'diff <(grep -v "kvm.conf" "$T/pristine/etc/libvirt/hooks/qemu.d/win10/prepare/begin/alloc_hugepages.sh") \
			<(grep -v "kvm.conf" "$H/qemu.d/win10/prepare/begin/alloc_hugepages.sh" | grep -v "^# (vfiohook import") > /dev/null &&
		! grep -q "^source" "$H/qemu.d/win10/prepare/begin/alloc_hugepages.sh" &&
		grep -qx "echo 0 > /proc/sys/vm/nr_hugepages" "$H/qemu.d/win10/release/end/dealloc_hugepages.sh"'
	imp_plan win10 "$WIN10_XML"
	check "import without kvm.conf: prepare plans the stages once and runs the hugepage script as before" \
		'[ "$RC" = 0 ] && [ -z "$(sort "$T/plan" | uniq -d)" ] && ! grep -q nr_hugepages "$T/plan" &&
		[ "$(count "/driver_override \"vfio-pci\"" "$T/plan")" = 4 ] &&
		[ "$(grep "^run " "$T/plan")" = "$(printf "run %s\nrun %s" "$H/qemu.d/win10/prepare/begin/alloc_hugepages.sh" "$H/qemu.d/win10/prepare/begin/lights.sh")" ]'
	imp import --undo "$b"
	check "import without kvm.conf: --undo removes the kvm.conf it created, the tree back byte for byte" \
		'[ "$RC" = 0 ] && [ ! -e "$H/kvm.conf" ] && imp_pristine'
	sim_down
}
