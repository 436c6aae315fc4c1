# SPDX-License-Identifier: GPL-2.0-or-later
# vfiohook doctor against the simulated win10 host: tests/doctor/clean.xml has nothing to
# report, and every other fixture there reports exactly the finding ids it plants (its first
# line, <!-- doctor-expect: ID... -->; <!-- doctor-conf: TEXT --> replaces the kvm.conf below,
# <!-- doctor-host: noiommu --> runs it on the host without IOMMU groups). Sourced by run.sh
# (bash), after lib.sh; every t_ function is a test case.

DOCTOR_DIR=$TOP/tests/doctor
DOCTOR_CONF='vm = ( { name = "win10"; hugepages = { size = "2M"; pages = "auto"; };
  pci = { devices = [ "0000:09:00.0", "0000:09:00.1", "0000:09:00.2", "0000:09:00.3" ]; };
  isolation = { host_cpus = "0,8"; }; } );'

# What doctor reads of the host beyond the example host's lines: the command line and CPU
# vendor, the SMT siblings of the Ryzen 7 (CPU n and n+8 share a core), two evdev devices, and
# two AMD GPUs with the reset bug, one of them with vendor-reset's reset method.
DOCTOR_SPEC='cmdline BOOT_IMAGE=/boot/vmlinuz-6.1.0-13-amd64 root=/dev/sda ro quiet amd_iommu=on iommu=pt
cpu-vendor AuthenticAMD
core 0 cpus=0,8
core 1 cpus=1,9
core 2 cpus=2,10
core 3 cpus=3,11
core 4 cpus=4,12
core 5 cpus=5,13
core 6 cpus=6,14
core 7 cpus=7,15
input usb-Logitech_USB_Keyboard-event-kbd
input usb-Logitech_G203-event-mouse
pci 0000:0b:00.0 class=0x030000 vendor=0x1002 device=0x67df group=20 reset_method=flr,bus
pci 0000:0b:00.1 class=0x040300 vendor=0x1002 device=0xaaf0 group=20
pci 0000:0c:00.0 class=0x030000 vendor=0x1002 device=0x731f group=21 reset_method=device_specific,bus
pci 0000:0c:00.1 class=0x040300 vendor=0x1002 device=0xab38 group=21'

# doctor_up [noiommu]: the simulated win10 host with DOCTOR_SPEC (without IOMMU groups and
# amd_iommu=on: noiommu), and the files doctor reads below the root: qemu.conf, passwd, the
# users' PulseAudio sockets, GPU ROMs
doctor_up() {
	local hosts
	hosts=$(mktemp -d /tmp/vfiohook-doctor.XXXXXX)
	# the example host without the kinds of lines declared here (they may appear there one day)
	grep -Ev '^(cmdline|cpu-vendor|core|input) ' "$HOSTS/win10.spec" > "$hosts/doctor.spec"
	printf '%s\n' "$DOCTOR_SPEC" >> "$hosts/doctor.spec"
	[ "${1:-}" != noiommu ] || sed -i -e 's/ group=[0-9]*//' -e 's/ amd_iommu=on iommu=pt//' "$hosts/doctor.spec"
	HOSTS=$hosts sim_up doctor
	rm -rf "$hosts"
	local r=$T/root
	mkdir -p "$r/etc/libvirt" "$r/usr/share/vgabios" "$r/run/user/1000/pulse" "$r/run/user/1001/pulse"
	printf 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nbob:x:1001:1001:Bob:/home/bob:/bin/bash\n' > "$r/etc/passwd"
	cat > "$r/etc/libvirt/qemu.conf" <<-'EOF'
	# as the tutorials have it: QEMU runs as the desktop user (for PulseAudio)
	user = "alice"
	group = "kvm"
	cgroup_device_acl = [
	    "/dev/null", "/dev/full", "/dev/zero",
	    "/dev/random", "/dev/urandom",
	    "/dev/ptmx", "/dev/kvm",
	    "/dev/input/by-id/usb-Logitech_G203-event-mouse"   # the keyboard is not here
	]
	EOF
	python3 - "$r" <<-'EOF'
	import os, socket, struct, sys
	root = sys.argv[1]
	for uid in (1000, 1001):
	    path = "%s/run/user/%d/pulse/native" % (root, uid)
	    s = socket.socket(socket.AF_UNIX)
	    s.bind(path)
	    s.close()
	    os.chown(path, uid, uid)
	def rom(vendor, device):
	    # one legacy x86 image of 512 bytes, marked last, its bytes adding up to 0
	    b = bytearray(512)
	    b[0:3] = b"\x55\xaa\x01"
	    b[0x18:0x1a] = struct.pack("<H", 0x40)
	    b[0x40:0x58] = (b"PCIR" + struct.pack("<HHHHB", vendor, device, 0, 0x18, 0) + b"\x00\x00\x03"
	                    + struct.pack("<HH", 1, 1) + b"\x00\x80" + b"\x00\x00")
	    b[511] = (-sum(b[:511])) & 0xff
	    return bytes(b)
	d = root + "/usr/share/vgabios/"
	open(d + "rtx2070s.rom", "wb").write(rom(0x10de, 0x1e84))
	open(d + "rtx2060.rom", "wb").write(rom(0x10de, 0x1f08))
	open(d + "header.rom", "wb").write(b"NVGI" + bytes(0x3fc) + rom(0x10de, 0x1e84))
	open(d + "garbage.rom", "wb").write(bytes(range(256)) * 16)
	EOF
}

# json_ids: stdin, doctor's --json, to "ID ID ...|ERRORS|N" (sorted unique ids; ERRORS: 1 when
# one is an error; N findings), or "invalid: WHY" when it is not an array of the five fields
json_ids() {
	python3 -c '
import json, sys
try:
    v = json.load(sys.stdin)
    assert isinstance(v, list), "not an array"
    for f in v:
        assert isinstance(f, dict) and sorted(f) == ["fix", "id", "message", "severity", "why"], "fields: %r" % f
        assert f["severity"] in ("error", "warning", "hint"), "severity %r" % f["severity"]
        assert all(isinstance(f[k], str) and f[k] for k in f), "an empty field: %r" % f
    print(" ".join(sorted(set(f["id"] for f in v))) + "|" + ("1" if any(f["severity"] == "error" for f in v) else "0") + "|%d" % len(v))
except Exception as e:
    print("invalid: %s" % e)
'
}

# json_message: the message of the first finding of doctor's --json on stdin
json_message() { python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin)[0]["message"])'; }

# doctor_fixture FILE: doctor --json on it reports exactly its planted ids, exits 1 exactly when
# one is an error, and its text output has one line per finding and the summary
doctor_fixture() {
	local f=$1 name want conf got err n_json n_text
	name=$(basename "$f" .xml)
	want=$(sed -n 's/^<!-- doctor-expect:\(.*\)-->$/\1/p' "$f" | tr ' ' '\n' | grep . | sort -u | tr '\n' ' ')
	want=${want% }
	conf=$(sed -n 's/^<!-- doctor-conf: \(.*\) -->$/\1/p' "$f")
	conf "${conf:-$DOCTOR_CONF}"
	vh doctor --json --xml "$f" win10
	got=$(printf '%s' "$OUT" | json_ids)
	err=${got#*|}
	n_json=${err#*|}
	err=${err%|*}
	check "doctor $name: reports exactly ${want:-nothing}" '[ "${got%%|*}" = "$want" ] || { echo "    got: $got"; false; }'
	check "doctor $name: exit status $err (1 exactly when there is an error)" '[ "$RC" = "$err" ] && [ -z "$ERR" ]'
	vh doctor --xml "$f" win10
	n_text=$(printf '%s\n' "$OUT" | grep -cE '^(error|warning|hint): [a-z0-9-]+: .+\. .+ Fix: .+')
	check "doctor $name: text output, one line per finding, then the summary" \
		'[ "$n_text" = "$n_json" ] && [ "$(printf "%s\n" "$OUT" | wc -l)" = $((n_json + 1)) ] &&
		 printf "%s\n" "$OUT" | tail -n 1 | grep -qE "^win10: (no problems found|[0-9]+ errors?, [0-9]+ warnings?, [0-9]+ hints?)$"'
}

t_doctor_fixtures() {
	local f
	doctor_up
	for f in "$DOCTOR_DIR"/*.xml; do
		grep -q '^<!-- doctor-host: ' "$f" || doctor_fixture "$f"
	done
	check "doctor: reads the host and changes nothing" 'unchanged'
	sim_down
	doctor_up noiommu
	for f in "$DOCTOR_DIR"/*.xml; do
		grep -q '^<!-- doctor-host: noiommu -->' "$f" && doctor_fixture "$f"
	done
	sim_down
}

# every id doctor.c lists is planted by some fixture (every check can fail), and in the man page
t_doctor_coverage() {
	local ids id unplanted="" undocumented=""
	ids=$(sed -n '/^ \*   [a-z]*: /,/^ \*$/p' "$TOP/src/doctor.c" | sed 's/^ \*   [a-z]*: //; s/^ \* *//' |
		tr ', ' '\n\n' | grep -E '^[a-z0-9]+(-[a-z0-9]+)+$' | sort -u)
	for id in $ids; do
		sed -n 's/^<!-- doctor-expect:\(.*\)-->$/ \1 /p' "$DOCTOR_DIR"/*.xml | grep -q -- " $id " || unplanted="$unplanted $id"
		grep -q -- "${id//-/\\\\-}" "$TOP/man/vfiohook.8" || undocumented="$undocumented $id"
	done
	check "doctor: $(echo "$ids" | wc -l) finding ids, each planted by a fixture of tests/doctor" \
		'[ "$(echo "$ids" | wc -l)" -ge 40 ] && [ -z "$unplanted" ] || { echo "    not planted:$unplanted"; false; }'
	check "doctor: each finding id in vfiohook(8)" '[ -z "$undocumented" ] || { echo "    not in the man page:$undocumented"; false; }'
}

# the fixes are the exact change: a few of them, word for word
t_doctor_fixes() {
	local msg
	doctor_up
	doctor_fix() { # doctor_fix FIXTURE ID FIX-TEXT
		local conf
		conf=$(sed -n 's/^<!-- doctor-conf: \(.*\) -->$/\1/p' "$DOCTOR_DIR/$1.xml")
		conf "${conf:-$DOCTOR_CONF}"
		vh doctor --json --xml "$DOCTOR_DIR/$1.xml" win10
		printf '%s' "$OUT" | python3 -c 'import json, sys; sys.exit(0 if [f for f in json.load(sys.stdin) if f["id"] == sys.argv[1] and f["fix"] == sys.argv[2]] else 1)' "$2" "$3" ||
			{ echo "    got: $OUT" | head -c 600; echo; return 1; }
	}
	check "doctor fix: the topology for 12 vCPUs on an SMT host" \
		'doctor_fix cpu-topology-missing cpu-topology-missing "<topology sockets='"'1'"' dies='"'1'"' cores='"'6'"' threads='"'2'"'/> in <cpu>"'
	check "doctor fix: the free SMT sibling of the pair's first CPU" \
		'doctor_fix vcpupin-not-siblings-free vcpupin-not-siblings "<vcpupin vcpu='"'11'"' cpuset='"'14'"'/> (CPU 6'"'"'s sibling; vfiohook pin win10 prints a whole <cputune>)"'
	check "doctor fix: host_cpus = the CPUs no vCPU has" \
		'doctor_fix isolation-overlap isolation-overlap "isolation = { host_cpus = \"0,7-8,15\"; }; for win10 in kvm.conf (or \"auto\")"'
	check "doctor fix: memory rounded up to whole huge pages" \
		'doctor_fix hugepages-memory-unaligned hugepages-memory-unaligned "<memory unit='"'KiB'"'>16777216</memory> and <currentMemory unit='"'KiB'"'>16777216</currentMemory>"'
	check "doctor fix: the <hostdev> and the pci.devices entry a group lacks" \
		'doctor_fix hostdev-group-incomplete hostdev-group-incomplete "add <hostdev mode='"'subsystem'"' type='"'pci'"' managed='"'no'"'><source><address domain='"'0x0000'"' bus='"'0x09'"' slot='"'0x00'"' function='"'0x3'"'/></source></hostdev> to <devices>, and \"0000:09:00.3\" to pci.devices of win10 in kvm.conf"'
	check "doctor fix: qemu.conf's user for the audio socket's owner" \
		'doctor_fix audio-server-user audio-server-user "user = \"bob\" in /etc/libvirt/qemu.conf, then restart virtqemud"'
	sim_down
}

t_doctor_cli() {
	local x msg
	doctor_up
	conf "$DOCTOR_CONF"
	x=$T/x.xml
	vh doctor win10 extra
	check "doctor with two words: usage error" '[ "$RC" = 2 ]'
	vh doctor
	check "doctor without a VM: usage error" '[ "$RC" = 2 ]'
	vh doctor --xml "$DOCTOR_DIR/clean.xml" rx590
	check "doctor: XML of another domain refused (exit 2, naming both)" \
		'[ "$RC" = 2 ] && [ -z "$OUT" ] && contains "$ERR" "describes \"win10\", not \"rx590\""'
	vh doctor --xml "$T/none.xml" win10
	check "doctor: an XML file that is not there (exit 2)" '[ "$RC" = 2 ] && contains "$ERR" "cannot read"'
	printf '<domain><name>win10</name>' > "$x"
	vh doctor --json --xml "$x" win10
	check "doctor: malformed XML (exit 2, nothing on stdout)" '[ "$RC" = 2 ] && [ -z "$OUT" ] && contains "$ERR" "malformed"'
	printf '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<domain><name>win10</name><description>&e;</description></domain>\n' > "$x"
	vh doctor --xml "$x" win10
	check "doctor: DOCTYPE and entities refused" '[ "$RC" = 2 ] && contains "$ERR" "DOCTYPE or ENTITY"'
	vh doctor --xml "$DOCTOR_DIR/clean.xml" 'win/10'
	check "doctor: a VM name that cannot be a domain's refused" '[ "$RC" = 2 ]'

	# control bytes and quotes in what the XML names: escaped on the terminal, valid JSON
	sed 's|usb-Logitech_USB_Keyboard-event-kbd|bad"\\ \&#9;tab\&#10;line|' "$DOCTOR_DIR/clean.xml" > "$x"
	vh doctor --xml "$x" win10
	check "doctor: a control byte from the XML is escaped in the text (one line per finding)" \
		'[ "$RC" = 1 ] && contains "$OUT" "bad\"\\ \\x09tab\\x0aline" && [ "$(printf "%s\n" "$OUT" | wc -l)" = 2 ]'
	vh doctor --json --xml "$x" win10
	msg=$'the <input type=\'evdev\'> device /dev/input/by-id/bad"\\ \ttab\nline does not exist'
	check "doctor: ... and JSON-escaped in --json" \
		'[ "$(printf "%s" "$OUT" | json_ids)" = "evdev-missing|1|1" ] && [ "$(printf "%s" "$OUT" | json_message)" = "$msg" ]'

	# kvm.conf: none is fine (a VM it does not configure), a broken one is an error
	rm -f "$T/kvm.conf"
	vh doctor --json --xml "$DOCTOR_DIR/clean.xml" win10
	check "doctor without kvm.conf: the VM is not configured, and its managed='no' hostdevs and huge pages have nobody to set them up" \
		'[ "$RC" = 1 ] && [ "$(printf "%s" "$OUT" | json_ids)" = "conf-vm-missing hostdev-unmanaged hugepages-not-allocated|1|6" ]'
	conf 'vm = ( { name = "win10"; pci = { devices = [ "0000:09:00.0"; }; } );'
	vh doctor --xml "$DOCTOR_DIR/clean.xml" win10
	check "doctor with a broken kvm.conf: exit 2 with file:line" '[ "$RC" = 2 ] && [ -z "$OUT" ] && contains "$ERR" "kvm.conf:1"'
	check "doctor: the host is unchanged" 'unchanged'
	sim_down
}
