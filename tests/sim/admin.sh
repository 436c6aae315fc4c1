# SPDX-License-Identifier: GPL-2.0-or-later
# Black-box tests of the administrator's commands `vfiohook status` and `vfiohook groups`
# against the simulated hosts. Sourced by run.sh (bash), which sets WIN10_XML and RX590_XML.

# admin_respec SED-EXPRESSION [EXTRA-SPEC]: remount the simulated host of $T with its spec
# edited (a field added to a pci line, the groups taken away) and lines added
admin_respec() {
	fusermount3 -u "$T/mnt" 2>/dev/null || umount -l "$T/mnt"
	sed -i "$1" "$T/host.spec"
	[ -z "${2:-}" ] || printf '%s\n' "$2" >> "$T/host.spec"
	"$SIMHOST" --spec "$T/host.spec" --faults "$T/faults" --log "$T/simhost.log" "$T/mnt" || { echo "simhost failed"; exit 2; }
	snap > "$T/initial"
}

# json_ok PYTHON-EXPRESSION: $OUT parses as JSON and the expression (over d) is true
json_ok() {
	printf '%s' "$OUT" | python3 -c 'import json, re, sys
d = json.load(sys.stdin)
ok = eval(sys.argv[1])
if not ok:
    print("    JSON check failed: " + sys.argv[1])
sys.exit(0 if ok else 1)' "$1"
}

# line PATTERN: $OUT has exactly this line (fixed string)
line() { printf '%s\n' "$OUT" | grep -qxF -- "$1" || { echo "    no line '$1' in:"; printf '%s\n' "$OUT" | sed 's/^/      /' | head -40; return 1; }; }

t_admin_cli() {
	sim_up win10
	vh status --help
	check "status --help: exit 0 and the usage on stdout" '[ "$RC" = 0 ] && contains "$OUT" "Usage:" && [ -z "$ERR" ]'
	vh groups --help
	check "groups --help: exit 0 and the usage on stdout" '[ "$RC" = 0 ] && contains "$OUT" "Usage:"'
	vh status win10 extra
	check "status with two words: usage error" '[ "$RC" = 2 ] && contains "$ERR" "Usage:" && [ -z "$OUT" ]'
	vh groups 16
	check "groups with a word: usage error" '[ "$RC" = 2 ] && contains "$ERR" "Usage:" && [ -z "$OUT" ]'
	vh groups --json
	check "groups takes no --json: usage error" '[ "$RC" = 2 ]'
	vh status --xml "$WIN10_XML" win10
	check "status takes no --xml: usage error" '[ "$RC" = 2 ]'
	sim_down
}

t_status_nothing() {
	local host
	for host in win10 rx590; do
		sim_up $host
		vh status
		check "status, $host, nothing prepared: exit 0, says so" '[ "$RC" = 0 ] && [ -z "$ERR" ] && line "nothing recorded: no VM holds anything of this host (no state in /run/vfiohook)"'
		vh status $host
		check "status $host, nothing prepared: exit 0, says so for the VM" '[ "$RC" = 0 ] && line "$host: nothing recorded (not prepared by vfiohook, or released)"'
		vh status --json
		check "status --json, $host, nothing prepared: an empty array" '[ "$RC" = 0 ] && json_ok "d == []"'
		check "status, $host: changes nothing, creates no state" 'unchanged && [ ! -e "$T/root/run/vfiohook" ]'
		sim_down
	done
}

t_status_win10() {
	sim_up win10
	vh win10 prepare begin < "$WIN10_XML"
	check "status win10: prepared" '[ "$RC" = 0 ]'
	snap > "$T/prepared"
	cp "$T"/root/run/vfiohook/*.state "$T/state.before"
	vh status
	check "status win10: exit 0, one block, prepare complete" '[ "$RC" = 0 ] && [ -z "$ERR" ] && line "win10" && line "  prepare      complete" && [ "$(printf "%s\n" "$OUT" | grep -c "^[^ ]")" = 1 ]'
	check "status win10: the four GPU functions with their original drivers" 'line "  device       0000:09:00.0 on vfio-pci, original driver nvidia" && line "  device       0000:09:00.1 on vfio-pci, original driver snd_hda_intel" && line "  device       0000:09:00.2 on vfio-pci, original driver xhci_hcd" && line "  device       0000:09:00.3 on vfio-pci, original driver nvidia-gpu"'
	check "status win10: the stopped units" 'line "  unit         display-manager.service stopped" && line "  unit         nvidia-persistenced.service stopped"'
	check "status win10: console and framebuffer unbound" 'line "  console      \"(M) frame buffer device\" unbound" && line "  framebuffer  efi-framebuffer.0 unbound from efi-framebuffer"'
	check "status win10: the unloaded NVIDIA modules and the vfio modules loaded for it" 'line "  module       nvidia unloaded" && line "  module       nvidia_drm unloaded" && line "  module       nvidia_modeset unloaded" && line "  module       nvidia_uvm unloaded" && line "  vfio module  vfio_pci loaded" && line "  vfio module  vfio_iommu_type1 loaded"'
	check "status win10: the hugepages added" 'line "  hugepages    /sys/kernel/mm/hugepages/hugepages-2048kB: 0 -> 8192, 8192 added"'
	check "status win10: the 16 governors in one line, with what they were" 'line "  governor     policies 0-15 changed, were powersave (epp balance_performance)"'
	check "status win10: the slices limited" 'line "  slice        system.slice limited, AllowedCPUs was unset" && line "  slice        user.slice limited, AllowedCPUs was unset" && line "  slice        init.scope limited, AllowedCPUs was unset"'
	check "status win10: the state file and since when (ISO 8601)" 'line "  state file   /run/vfiohook/c6c8e3b2-0a8f-4a57-9d8e-3f6a2b1d7e10.state" && printf "%s\n" "$OUT" | grep -qE "^  since        [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}$"'
	check "status win10: nothing is held (no other VM)" 'line "  unit         display-manager.service stopped" && ! contains "$OUT" "held" >/dev/null'
	TZ=UTC vh status win10
	check "status win10 VM: the same block, in UTC" '[ "$RC" = 0 ] && line "win10" && contains "$OUT" "+00:00" && line "  device       0000:09:00.0 on vfio-pci, original driver nvidia"'
	vh status rx590
	check "status of a VM without state: exit 0, nothing recorded" '[ "$RC" = 0 ] && line "rx590: nothing recorded (not prepared by vfiohook, or released)"'
	vh status --json
	check "status --json win10: parses, one VM, its identity and completeness" '[ "$RC" = 0 ] && json_ok "len(d) == 1 and d[0][\"vm\"] == \"win10\" and d[0][\"uuid\"] == \"c6c8e3b2-0a8f-4a57-9d8e-3f6a2b1d7e10\" and d[0][\"complete\"] is True and d[0][\"error\"] is None and d[0][\"file\"] == \"/run/vfiohook/c6c8e3b2-0a8f-4a57-9d8e-3f6a2b1d7e10.state\" and re.fullmatch(r\"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\", d[0][\"since\"])"'
	check "status --json win10: the devices, original and current drivers" 'json_ok "[(p[\"bdf\"], p[\"driver\"], p[\"override\"], p[\"current_driver\"]) for p in d[0][\"pci\"]] == [(\"0000:09:00.0\", \"nvidia\", None, \"vfio-pci\"), (\"0000:09:00.1\", \"snd_hda_intel\", None, \"vfio-pci\"), (\"0000:09:00.2\", \"xhci_hcd\", None, \"vfio-pci\"), (\"0000:09:00.3\", \"nvidia-gpu\", None, \"vfio-pci\")]"'
	check "status --json win10: units, modules, vfio modules" 'json_ok "[u[\"unit\"] for u in d[0][\"display\"]] == [\"display-manager.service\", \"nvidia-persistenced.service\"] and sorted(m[\"module\"] for m in d[0][\"kmod\"]) == [\"nvidia\", \"nvidia_drm\", \"nvidia_modeset\", \"nvidia_uvm\"] and {\"vfio_pci\", \"vfio_iommu_type1\"} <= {m[\"module\"] for m in d[0][\"vfio\"]}"'
	check "status --json win10: hugepages, governors, slices" 'json_ok "d[0][\"hugepages\"] == [{\"pool\": \"/sys/kernel/mm/hugepages/hugepages-2048kB\", \"before\": 0, \"target\": 8192, \"added\": 8192, \"held\": False}] and len(d[0][\"governor\"]) == 16 and all(g[\"governor\"] == \"powersave\" and g[\"epp\"] == \"balance_performance\" and not g[\"held\"] for g in d[0][\"governor\"]) and sorted(i[\"unit\"] for i in d[0][\"isolation\"]) == [\"init.scope\", \"system.slice\", \"user.slice\"] and all(i[\"cpus\"] is None for i in d[0][\"isolation\"])"'
	vh status --json rx590
	check "status --json of a VM without state: []" '[ "$RC" = 0 ] && json_ok "d == []"'
	check "status changes nothing: the host and the state file are as prepare left them" 'snap | cmp -s - "$T/prepared" && cmp -s "$T"/root/run/vfiohook/*.state "$T/state.before"'
	vh win10 release end - < "$WIN10_XML"
	vh status win10
	check "status after release: nothing recorded" '[ "$RC" = 0 ] && line "win10: nothing recorded (not prepared by vfiohook, or released)" && unchanged'
	sim_down
}

t_status_rx590() {
	sim_up rx590
	vh rx590 prepare begin < "$RX590_XML"
	check "status rx590: prepared from <hostdev>" '[ "$RC" = 0 ]'
	vh status rx590
	check "status rx590: the GPU and its audio with their original drivers" '[ "$RC" = 0 ] && line "rx590" && line "  device       0000:0a:00.0 on vfio-pci, original driver amdgpu" && line "  device       0000:0a:00.1 on vfio-pci, original driver snd_hda_intel"'
	check "status rx590: amdgpu unloaded, the display manager stopped, no vfio module loaded for it" 'line "  module       amdgpu unloaded" && line "  unit         display-manager.service stopped" && ! contains "$OUT" "vfio module" >/dev/null'
	check "status rx590: hugepages and governors of the pinned vCPUs" 'printf "%s\n" "$OUT" | grep -qE "^  hugepages    /sys/kernel/mm/hugepages/hugepages-2048kB: 0 -> [0-9]+, [0-9]+ added$" && printf "%s\n" "$OUT" | grep -qE "^  governor     polic(y[0-9]+|ies [0-9,-]+) changed, were? schedutil$"'
	vh status --json
	check "status --json rx590: parses with its records" '[ "$RC" = 0 ] && json_ok "len(d) == 1 and d[0][\"vm\"] == \"rx590\" and [p[\"driver\"] for p in d[0][\"pci\"]] == [\"amdgpu\", \"snd_hda_intel\"] and d[0][\"kmod\"] == [{\"module\": \"amdgpu\", \"held\": False}] and d[0][\"vfio\"] == [] and d[0][\"hugepages\"][0][\"added\"] > 0 and all(g[\"governor\"] == \"schedutil\" and g[\"epp\"] is None for g in d[0][\"governor\"])"'
	vh rx590 release end - < "$RX590_XML"
	check "status rx590: released, host restored" 'unchanged'
	sim_down
}

t_status_shared() {
	sim_up win10
	conf 'vm = (
	  { name = "win10"; display = { units = [ "auto" ]; }; isolation = { host_cpus = "0,8"; };
	    pci = { devices = [ "0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3" ]; }; },
	  { name = "nas"; display = { units = [ "auto" ]; }; isolation = { host_cpus = "0,8"; };
	    pci = { devices = [ "0000:01:00.0" ]; }; }
	);'
	sed 's/<name>win10</<name>nas</; s/c6c8e3b2-0a8f/d6c8e3b2-0a8f/' "$WIN10_XML" > "$T/nas.xml"
	vh win10 prepare begin < "$WIN10_XML"
	vh nas prepare begin < "$T/nas.xml"
	check "status, shared: both VMs prepared" '[ "$RC" = 0 ] && [ "$(state_files)" = 2 ]'
	vh status
	check "status, shared: two blocks, sorted by name" '[ "$RC" = 0 ] && [ "$(printf "%s\n" "$OUT" | grep "^[^ ]" | tr "\n" " ")" = "nas win10 " ]'
	check "status, shared: the second VM holds the display manager the first one stopped" 'printf "%s\n" "$OUT" | sed -n "/^nas$/,/^$/p" | grep -qxF "  unit         display-manager.service stopped (held: another VM changed it first; the last VM to release restores it)" && printf "%s\n" "$OUT" | sed -n "/^win10$/,/^$/p" | grep -qxF "  unit         display-manager.service stopped"'
	check "status, shared: the slices are held too" 'printf "%s\n" "$OUT" | sed -n "/^nas$/,/^$/p" | grep -qxF "  slice        user.slice (held: another VM changed it first; the last VM to release restores it)"'
	check "status, shared: each VM its own device" 'line "  device       0000:01:00.0 on vfio-pci, original driver nvme" && line "  device       0000:09:00.0 on vfio-pci, original driver nvidia"'
	vh status --json
	check "status --json, shared: held is true for nas, false for win10" '[ "$RC" = 0 ] && json_ok "[v[\"vm\"] for v in d] == [\"nas\", \"win10\"] and d[0][\"display\"] == [{\"unit\": \"display-manager.service\", \"held\": True}] and d[1][\"display\"] == [{\"unit\": \"display-manager.service\", \"held\": False}] and all(i[\"held\"] and i[\"cpus\"] is None for i in d[0][\"isolation\"])"'
	vh win10 release end - < "$WIN10_XML"
	vh status nas
	check "status, shared: once the first VM released, the other VM restores the display manager (no longer held)" '[ "$RC" = 0 ] && line "  unit         display-manager.service stopped"'
	vh nas release end - < "$T/nas.xml"
	check "status, shared: all released" 'unchanged && systemd_unchanged'
	sim_down
}

t_status_unreadable() {
	sim_up rx590
	vh rx590 prepare begin < "$RX590_XML"
	local f d=$T/root/run/vfiohook
	f=$(ls "$d"/*.state)
	printf 'vfiohook-state 2\nvm rx590\nuuid 5e0b9a61-3c1d-4f2e-8b7a-9d4c2e1f0a37\npci bdf=0000:0a:00.0 driver=amdgpu/../x\n' > "$f"
	cp "$f" "$T/corrupt"
	printf 'garbage\n' > "$d/name-junk.state"
	chmod 600 "$d/name-junk.state"
	printf 'vfiohook-state 2\nvm loose\nuuid %%00\ncomplete\n' > "$d/name-loose.state"
	chmod 644 "$d/name-loose.state"
	vh status
	check "status, unreadable states: exit 0, nothing on stderr" '[ "$RC" = 0 ] && [ -z "$ERR" ] && [ -n "$OUT" ]'
	check "status, unreadable state: listed with the VM and its error" 'printf "%s\n" "$OUT" | sed -n "/^rx590$/,/^$/p" | grep -qxF "  error        cannot be read: line 4: pci: invalid driver \"amdgpu/../x\"" && contains "$OUT" "(vfiohook release rx590 retries it, vfiohook forget rx590 drops it)"'
	check "status, a state that says no VM: listed last as unknown, with its error" '[ "$(printf "%s\n" "$OUT" | grep "^[^ ]" | tr "\n" " ")" = "rx590 (unknown VM) (unknown VM) " ] && line "  state file   /run/vfiohook/name-junk.state" && line "  error        cannot be read: line 1: not a vfiohook state file of version 2"'
	check "status, a state file others can read: not trusted (not even its VM name), listed with why" 'line "  state file   /run/vfiohook/name-loose.state" && contains "$OUT" "  error        cannot be read: not a regular file of root'"'"'s with mode 0600 (mode 0644, owner " && ! line "loose" >/dev/null'
	vh status rx590
	check "status rx590: its unreadable state, and those that may be anybody's" '[ "$RC" = 0 ] && [ "$(printf "%s\n" "$OUT" | grep "^[^ ]" | tr "\n" " ")" = "rx590 (unknown VM) (unknown VM) " ]'
	vh status --json
	check "status --json, unreadable: the errors, no records" '[ "$RC" = 0 ] && json_ok "[(v[\"vm\"], v[\"file\"], v[\"error\"] is not None, v[\"complete\"], v[\"pci\"]) for v in d] == [(\"rx590\", \"$(printf "%s" "$f" | sed "s#.*/root##")\", True, False, []), (None, \"/run/vfiohook/name-junk.state\", True, False, []), (None, \"/run/vfiohook/name-loose.state\", True, False, [])] and d[0][\"error\"] == \"line 4: pci: invalid driver \\\"amdgpu/../x\\\"\""'
	check "status, unreadable: the files are left as they were" 'cmp -s "$f" "$T/corrupt" && [ -f "$d/name-junk.state" ] && [ -f "$d/name-loose.state" ]'
	sim_down
}

t_status_escaping() {
	# a VM name may hold any byte: JSON escapes it, the terminal gets no control byte
	sim_up win10
	mkdir -m 700 "$T/root/run/vfiohook"
	printf 'vfiohook-state 2\nvm a%%22b%%5Cc%%0Ad%%09e%%FF\nuuid %%00\ndisplay unit=gdm.service\ncomplete\n' > "$T/root/run/vfiohook/name-odd.state"
	chmod 600 "$T/root/run/vfiohook/name-odd.state"
	vh status --json
	check "status --json: quote, backslash, newline, tab escaped; a byte that is not UTF-8 is U+FFFD" '[ "$RC" = 0 ] && json_ok "d[0][\"vm\"] == \"a\\\"b\\\\c\\nd\\te\\ufffd\" and d[0][\"uuid\"] is None and d[0][\"display\"] == [{\"unit\": \"gdm.service\", \"held\": False}]"'
	vh status
	check "status: control bytes of a name are shown escaped" '[ "$RC" = 0 ] && contains "$OUT" "a\"b\\c\\x0ad\\x09e" && ! printf "%s" "$OUT" | grep -q "$(printf "\t")"'
	sim_down
}

t_groups_win10() {
	sim_up win10
	admin_respec '/^pci 0000:09:00.0 /s/$/ reset_method=flr,bus/'
	vh groups
	check "groups win10: exit 0, nothing on stderr, four groups" '[ "$RC" = 0 ] && [ -z "$ERR" ] && line "4 IOMMU groups"'
	check "groups win10: sorted numerically" '[ "$(printf "%s\n" "$OUT" | sed -n "s/^IOMMU group \([0-9]*\).*/\1/p" | tr "\n" " ")" = "2 5 12 16 " ]'
	check "groups win10: group 16 holds the GPU, the others do not" 'line "IOMMU group 16 (GPU)" && line "IOMMU group 5" && line "IOMMU group 12" && line "IOMMU group 2"'
	check "groups win10: the host bridge and the GPP bridge are marked" 'line "  0000:00:03.0  [0600] host bridge    1022:1482  driver none              bridge (stays with the host)" && line "  0000:00:03.1  [0604] PCI bridge     1022:1483  driver pcieport          bridge (stays with the host)"'
	check "groups win10: the GPU functions with class, ids, driver and reset method" 'line "  0000:09:00.0  [0300] VGA            10de:1e84  driver nvidia            reset flr bus" && line "  0000:09:00.1  [0403] audio          10de:10f8  driver snd_hda_intel" && line "  0000:09:00.2  [0c03] USB            10de:1ad8  driver xhci_hcd" && line "  0000:09:00.3  [0c80] serial bus     10de:1ad9  driver nvidia-gpu"'
	check "groups win10: storage named" 'line "  0000:00:17.0  [0106] SATA           1022:7901  driver ahci" && line "  0000:01:00.0  [0108] NVMe           144d:a808  driver nvme"'
	check "groups win10: the exact pci.devices line with the four functions, and only for the GPU group" 'line "  pci = { devices = [ \"0000:09:00.0\", \"0000:09:00.1\", \"0000:09:00.2\", \"0000:09:00.3\" ]; };" && [ "$(printf "%s\n" "$OUT" | grep -c "pci = ")" = 1 ] && line "GPU in IOMMU group 16"'
	check "groups win10: the pci line comes within group 16" '[ "$(printf "%s\n" "$OUT" | sed -n "/^IOMMU group 16/,/^$/p" | grep -c "pci = ")" = 1 ]'
	vh win10 prepare begin < "$WIN10_XML"
	vh groups
	check "groups win10, prepared: the functions shown on vfio-pci" '[ "$RC" = 0 ] && line "  0000:09:00.1  [0403] audio          10de:10f8  driver vfio-pci"'
	vh win10 release end - < "$WIN10_XML"
	check "groups win10: read only" 'unchanged'
	sim_down
}

t_groups_rx590() {
	sim_up rx590
	vh groups
	check "groups rx590: numeric order (9 before 13 and 14)" '[ "$RC" = 0 ] && [ "$(printf "%s\n" "$OUT" | sed -n "s/^IOMMU group \([0-9]*\).*/\1/p" | tr "\n" " ")" = "9 13 14 " ]'
	check "groups rx590: the root port marked, the GPU group line with both functions" 'line "IOMMU group 14 (GPU)" && line "  0000:00:01.0  [0604] PCI bridge     8086:1901  driver pcieport          bridge (stays with the host)" && line "  pci = { devices = [ \"0000:0a:00.0\", \"0000:0a:00.1\" ]; };"'
	check "groups rx590: no reset_method file, no reset shown" 'line "  0000:0a:00.0  [0300] VGA            1002:67df  driver amdgpu" && ! contains "$OUT" "reset" >/dev/null'
	sim_down
	# a GPU that shares its group with another card: all go together, and it says so
	sim_up rx590
	admin_respec 's/^\(pci 0000:00:1f.3 .*\) group=13/\1 group=14/'
	vh groups
	check "groups: a group with more than the GPU card lists every endpoint and warns" '[ "$RC" = 0 ] && line "  pci = { devices = [ \"0000:00:1f.3\", \"0000:0a:00.0\", \"0000:0a:00.1\" ]; };" && contains "$OUT" "note: this group holds devices beyond the GPU card"'
	sim_down
}

t_groups_no_iommu() {
	sim_up win10
	admin_respec 's/ group=[0-9]*//' 'cpu-vendor AuthenticAMD
cmdline BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=4f3e ro quiet'
	vh groups
	check "groups, no IOMMU (AMD): exit 0, says it is off" '[ "$RC" = 0 ] && [ -z "$ERR" ] && line "No IOMMU groups: the IOMMU is off (/sys/kernel/iommu_groups is empty)."'
	check "groups, no IOMMU (AMD): the vendor and the command line now" 'line "  CPU vendor           AuthenticAMD" && line "  kernel command line  BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=4f3e ro quiet"'
	check "groups, no IOMMU (AMD): AMD-Vi in the firmware, on by default, else amd_iommu=on iommu=pt" 'contains "$OUT" "AMD-Vi" && contains "$OUT" "enable it on AMD by default" && line "  2. if it stays off, add amd_iommu=on iommu=pt to the kernel command line" && ! contains "$OUT" "intel_iommu" >/dev/null'
	sim_down
	sim_up rx590
	admin_respec 's/ group=[0-9]*//' 'cpu-vendor GenuineIntel
cmdline BOOT_IMAGE=/boot/vmlinuz root=/dev/sda2 ro quiet iommu=pt intel_iommu=off'
	vh groups
	check "groups, no IOMMU (Intel): VT-d and intel_iommu=on, iommu=pt already there" '[ "$RC" = 0 ] && contains "$OUT" "VT-d" && line "  2. add intel_iommu=on to the kernel command line" && ! contains "$OUT" "amd_iommu" >/dev/null'
	check "groups, no IOMMU (Intel): intel_iommu=off is named for removal" 'line "     remove intel_iommu=off from the kernel command line: it turns the IOMMU off"'
	sim_down
	sim_up rx590
	admin_respec 's/ group=[0-9]*//' 'cpu-vendor GenuineIntel
cmdline ro intel_iommu=sm_on,on iommu=pt'
	vh groups
	check "groups, no IOMMU (Intel), parameters already set (one in a list: intel_iommu=sm_on,on): the firmware is what is missing" '[ "$RC" = 0 ] && line "  2. intel_iommu=on iommu=pt are on the kernel command line already: the firmware setting is what is missing"'
	sim_down
	sim_up rx590
	admin_respec 's/ group=[0-9]*//'
	vh groups
	check "groups, no IOMMU, vendor and command line unknown: both vendors' parameters" '[ "$RC" = 0 ] && contains "$OUT" "unknown (no vendor_id in /proc/cpuinfo)" && contains "$OUT" "intel_iommu=on (Intel) or amd_iommu=on (AMD), and iommu=pt"'
	sim_down
}
