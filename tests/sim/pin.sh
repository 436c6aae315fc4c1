# SPDX-License-Identifier: GPL-2.0-or-later
# `vfiohook pin`: CPU pinning computed from the simulated host's topology (SMT siblings, L3
# groups, the GPU's NUMA node), checked against pinning worked out by hand for each host, and
# `pin --check` against domains with that very <cputune> and with one vcpupin changed. Sourced
# by run.sh (bash), after lib.sh; every t_pin_* function is a test case.
#
# The hosts (tests/simhost/hosts): ryzen-2ccx, 8 cores in two CCXs (L3 0-3,8-11 and
# 4-7,12-15), siblings n and n+8, GPU 0000:0b:00.0 with no NUMA node; intel-6c, 6 cores, one
# L3, siblings n and n+6, GPU 0000:01:00.0 on node 0; numa2, two sockets, node 0 = CPUs
# 0-3,8-11, node 1 = CPUs 4-7,12-15, siblings n and n+8, GPU 0000:81:00.0 on node 1.

# pin_xml VM BDF BODY: a domain VM in $T/VM.xml with one <hostdev> BDF, BODY in place of its
# <vcpu> (BODY: the lines from <vcpu> to </cpu> that pin printed, or just a <vcpu> line)
pin_xml() {
	local vm=$1 bdf=$2 body=$3 dom bus slot fn
	dom=${bdf%%:*}
	bus=${bdf#*:}
	bus=${bus%%:*}
	slot=${bdf##*:}
	slot=${slot%%.*}
	fn=${bdf##*.}
	cat > "$T/$vm.xml" <<EOF
<domain type='kvm'>
  <name>$vm</name>
  <uuid>7a1f0c4e-58b2-4d0e-9a53-2c6e1f3b8d90</uuid>
  <memory unit='KiB'>8388608</memory>
$body
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x$dom' bus='0x$bus' slot='0x$slot' function='0x$fn'/>
      </source>
    </hostdev>
  </devices>
</domain>
EOF
}
vcpu() { printf "  <vcpu placement='static'>%s</vcpu>" "$1"; }

# want_pins CPU...: the <vcpupin> lines of vCPUs 0, 1, ... on these CPUs, as pin prints them
want_pins() {
	local i=0 c
	for c in "$@"; do
		printf "  <vcpupin vcpu='%s' cpuset='%s'/>\n" $i "$c"
		i=$((i + 1))
	done
}
# pins_are CPU...: pin's output has exactly these vcpupin lines (shows the difference)
pins_are() {
	diff <(want_pins "$@") <(printf '%s\n' "$OUT" | grep '<vcpupin ') | sed 's/^/    /'
	[ "${PIPESTATUS[0]}" = 0 ]
}
has_line() { # has_line LINE: OUT has this exact line
	printf '%s\n' "$OUT" | grep -qxF -- "$1" || { echo "    no line '$1' in:"; printf '%s\n' "$OUT" | sed 's/^/      /'; return 1; }
}
emu_is() { has_line "  <emulatorpin cpuset='$1'/>"; }
iso_is() { has_line "isolation = { host_cpus = \"$1\"; };"; }
topo_is() { has_line "  <topology sockets='1' dies='1' cores='$1' threads='$2'/>"; }
# the domain XML part of pin's output, to paste: <vcpu> ... </cpu>
printed_xml() { printf '%s\n' "$OUT" | sed -n "/^<vcpu /,/^<\/cpu>/p"; }

pin_conf() { # pin_conf VM BDF: kvm.conf giving VM the GPU BDF
	printf 'vm = ( { name = "%s"; pci = { devices = [ "%s" ]; }; } );\n' "$1" "$2" > "$T/kvm.conf"
	chmod 600 "$T/kvm.conf"
}

# pin_round_trip WHAT VM BDF VCPU CHANGED-FROM CHANGED-TO: with OUT from pin, `pin --check` of
# a domain with exactly the printed XML says it is as computed (exit 0); with the vcpupin line
# of vCPU VCPU changed from CPU CHANGED-FROM to CHANGED-TO it names that one (exit 1)
pin_round_trip() {
	local what=$1 vm=$2 bdf=$3 printed
	local old="<vcpupin vcpu='$4' cpuset='$5'/>" new="<vcpupin vcpu='$4' cpuset='$6'/>"
	local said="vcpupin vcpu='$4' cpuset='$6', computed cpuset='$5'"
	printed=$(printed_xml)
	pin_xml "$vm" "$bdf" "$printed"
	vh pin --check --xml "$T/$vm.xml" "$vm"
	check "$what: pin --check of a domain with the printed <cputune>: no difference (exit 0)" '[ "$RC" = 0 ] && contains "$OUT" "<cputune> is as computed" && [ "$(printf "%s\n" "$OUT" | wc -l)" = 1 ]'
	# and doctor, which checks pinning and topology on its own, accepts what pin produced
	vh doctor --json --xml "$T/$vm.xml" "$vm"
	local ids
	ids=$(printf '%s' "$OUT" | python3 -c 'import json, sys; print(" ".join(f["id"] for f in json.load(sys.stdin)))' 2>&1)
	check "$what: doctor finds nothing to say about the pinning and topology pin printed" '[ "$RC" != 2 ] && ! printf "%s\n" $ids | grep -Eq "^(vcpupin-|emulatorpin-|iothreadpin-|isolation-overlap|cpu-topology-|cpu-amd-topoext|cpu-not-host-passthrough)" || { echo "    doctor: $ids"; false; }'
	pin_xml "$vm" "$bdf" "${printed/"$old"/"$new"}"
	check "$what: the domain with vcpupin $4 on CPU $6 (test set-up)" 'grep -qF "$new" "$T/$vm.xml" && ! grep -qF "$old" "$T/$vm.xml"'
	vh pin --check --xml "$T/$vm.xml" "$vm"
	check "$what: pin --check with vcpupin $4 on CPU $6 instead of $5: reported (exit 1)" '[ "$RC" = 1 ] && contains "$OUT" "$said"'
}

t_pin_ryzen() {
	sim_up ryzen-2ccx
	local gpu=0000:0b:00.0
	conf 'vm = ( { name = "other"; } );' # the VM is not in kvm.conf: its GPU is its <hostdev>
	# 8 vCPUs: core 0 (CPUs 0,8) for the host, so CCX 1 (cores 4-7) is the one L3 group that
	# holds all four cores, and no host thread shares its cache
	pin_xml win10 $gpu "$(vcpu 8)"
	vh pin --xml "$T/win10.xml" win10
	check "ryzen 8 vCPUs: exit 0, nothing on stderr" '[ "$RC" = 0 ] && [ -z "$ERR" ]'
	check "ryzen 8 vCPUs: the whole CCX 1, vCPUs 2k,2k+1 on CPUs n,n+8" 'pins_are 4 12 5 13 6 14 7 15'
	check "ryzen 8 vCPUs: <vcpu> 8, emulator and iothread on core 0 (0,8)" "has_line \"<vcpu placement='static'>8</vcpu>\" && emu_is 0,8 && has_line \"  <iothreadpin iothread='1' cpuset='0,8'/>\""
	check "ryzen 8 vCPUs: guest topology 4 cores of 2 threads, topoext (AMD)" "has_line \"<cpu mode='host-passthrough'>\" && topo_is 4 2 && has_line \"  <feature policy='require' name='topoext'/>\""
	check "ryzen 8 vCPUs: kvm.conf lines, the host keeping every CPU the VM does not get" 'iso_is 0-3,8-11 && has_line "governor = { name = \"performance\"; cpus = \"pinned\"; };"'
	pin_round_trip "ryzen 8 vCPUs" win10 $gpu 2 5 1

	# 12 vCPUs: CCX 1 whole (the largest free group), then cores 1 and 2 of CCX 0; in CPU order
	pin_xml win10 $gpu "$(vcpu 12)"
	vh pin --xml "$T/win10.xml" win10
	check "ryzen 12 vCPUs: CCX 1 and two more cores of CCX 0" '[ "$RC" = 0 ] && pins_are 1 9 2 10 4 12 5 13 6 14 7 15'
	check "ryzen 12 vCPUs: guest topology 6 cores" 'topo_is 6 2 && iso_is 0,3,8,11'

	# 6 vCPUs: one L3 group holds them; the one the host does not use
	pin_xml win10 $gpu "$(vcpu 6)"
	vh pin --xml "$T/win10.xml" win10
	check "ryzen 6 vCPUs: three cores of CCX 1, not of the host's CCX 0" '[ "$RC" = 0 ] && pins_are 4 12 5 13 6 14'

	# --host-cores 2: core 0 and the next core of the same CCX; the VM still gets CCX 1
	pin_xml win10 $gpu "$(vcpu 8)"
	vh pin --host-cores 2 --xml "$T/win10.xml" win10
	check "ryzen --host-cores 2: host on cores 0 and 1 (CPUs 0-1,8-9), VM on CCX 1" '[ "$RC" = 0 ] && pins_are 4 12 5 13 6 14 7 15 && emu_is 0-1,8-9'
	vh pin --host-cores 4 --xml "$T/win10.xml" win10
	check "ryzen --host-cores 4: the host has all of CCX 0" '[ "$RC" = 0 ] && pins_are 4 12 5 13 6 14 7 15 && emu_is 0-3,8-11 && iso_is 0-3,8-11'

	# without a domain (libvirt does not know it, no --xml): every core not kept for the host
	vh pin pin-nodomain-$$
	check "ryzen, no domain: all 7 other cores, 14 vCPUs" "[ \"\$RC\" = 0 ] && pins_are 1 9 2 10 3 11 4 12 5 13 6 14 7 15 && has_line \"<vcpu placement='static'>14</vcpu>\" && contains \"\$OUT\" \"every core not kept for the host\""
	vh pin --check pin-nodomain-$$
	check "ryzen, no domain: --check needs one (exit 2)" '[ "$RC" = 2 ] && contains "$ERR" "pin --check needs the domain XML"'

	# refusals
	pin_xml win10 $gpu "$(vcpu 7)"
	vh pin --xml "$T/win10.xml" win10
	check "ryzen 7 vCPUs (odd): refused, naming the counts that work (exit 1)" '[ "$RC" = 1 ] && [ -z "$OUT" ] && contains "$ERR" "win10 has 7 vCPUs" && contains "$ERR" "make <vcpu> a multiple of 2 (6 or 8)"'
	pin_xml win10 $gpu "$(vcpu 16)"
	vh pin --xml "$T/win10.xml" win10
	check "ryzen 16 vCPUs: more than the host can give, refused (exit 1)" '[ "$RC" = 1 ] && [ -z "$OUT" ] && contains "$ERR" "has 8 such cores and keeps 1 for itself: at most 14 vCPUs"'
	pin_xml win10 $gpu "$(vcpu 4)"
	vh pin --host-cores 8 --xml "$T/win10.xml" win10
	check "ryzen --host-cores 8: no core left, refused (exit 1)" '[ "$RC" = 1 ] && contains "$ERR" "--host-cores 8 leaves no core for win10: this host has 8 cores"'
	vh pin --host-cores 2x --xml "$T/win10.xml" win10
	check "ryzen --host-cores 2x: usage error (exit 2)" '[ "$RC" = 2 ] && contains "$ERR" "--host-cores 2x: not a number of cores"'
	vh pin --host-cores 0 --xml "$T/win10.xml" win10
	check "ryzen --host-cores 0: usage error (exit 2)" '[ "$RC" = 2 ]'
	vh pin --xml "$T/win10.xml" notwin10
	check "ryzen: a domain XML of another VM is refused" '[ "$RC" = 1 ] && contains "$ERR" "describes \"win10\", not \"notwin10\""'

	# --check of a hand-made <cputune>: siblings split, the emulator on a vCPU's CPU
	pin_xml win10 $gpu "$(vcpu 4)
  <cputune>
    <vcpupin vcpu='0' cpuset='4'/>
    <vcpupin vcpu='1' cpuset='5'/>
    <vcpupin vcpu='2' cpuset='12'/>
    <vcpupin vcpu='3' cpuset='13'/>
    <emulatorpin cpuset='0,8,13'/>
  </cputune>"
	vh pin --check --xml "$T/win10.xml" win10
	check "ryzen --check: vCPUs 0-1 on CPUs 4 and 5 (two cores) reported as siblings split" '[ "$RC" = 1 ] && contains "$OUT" "vCPUs 0-1 are on CPUs 4-5, which are threads of different cores (siblings split)" && contains "$OUT" "vCPUs 2-3 are on CPUs 12-13, which are threads of different cores"'
	check "ryzen --check: the vcpupins not as computed named, the right ones not" "contains \"\$OUT\" \"vcpupin vcpu='1' cpuset='5', computed cpuset='12'\" && ! contains \"\$OUT\" \"vcpupin vcpu='0'\" > /dev/null"
	check "ryzen --check: emulatorpin on a vCPU's CPU reported" "contains \"\$OUT\" \"emulatorpin cpuset='0,8,13' overlaps the vCPUs' CPUs (13)\""
	pin_xml win10 $gpu "$(vcpu 4)"
	vh pin --check --xml "$T/win10.xml" win10
	check "ryzen --check: a domain without <cputune> differs (exit 1)" '[ "$RC" = 1 ] && contains "$OUT" "has no <cputune>"'
	check "ryzen: pin changed nothing" 'unchanged'
	sim_down
}

t_pin_intel() {
	sim_up intel-6c
	local gpu=0000:01:00.0
	pin_conf win10 $gpu
	# 8 vCPUs: core 0 (CPUs 0,6) for the host, cores 1-4 for the VM; siblings n and n+6
	pin_xml win10 $gpu "$(vcpu 8)"
	vh pin --xml "$T/win10.xml" win10
	check "intel 8 vCPUs: cores 1-4, vCPUs 2k,2k+1 on CPUs n,n+6" '[ "$RC" = 0 ] && pins_are 1 7 2 8 3 9 4 10'
	check "intel 8 vCPUs: emulator on 0,6; 4 cores of 2 threads; no topoext (Intel)" 'emu_is 0,6 && topo_is 4 2 && ! contains "$OUT" topoext > /dev/null'
	check "intel 8 vCPUs: the GPU from kvm.conf, on node 0" 'contains "$OUT" "GPU 0000:01:00.0 on NUMA node 0" && iso_is 0,5-6,11'
	pin_round_trip "intel 8 vCPUs" win10 $gpu 7 10 11
	# all of them
	pin_xml win10 $gpu "$(vcpu 10)"
	vh pin --xml "$T/win10.xml" win10
	check "intel 10 vCPUs: every core but core 0" '[ "$RC" = 0 ] && pins_are 1 7 2 8 3 9 4 10 5 11 && iso_is 0,6'
	pin_round_trip "intel 10 vCPUs" win10 $gpu 0 1 0
	check "intel: pin changed nothing" 'unchanged'
	sim_down

	# the same CPU without SMT: 6 cores of one thread each
	local hosts
	hosts=$(mktemp -d /tmp/vfiohook-pin.XXXXXX)
	sed -e '/^core /d' -e 's/0-11/0-5/g' "$HOSTS/intel-6c.spec" > "$hosts/nosmt.spec"
	for i in 0 1 2 3 4 5; do echo "core $i cpus=$i l3=0-5" >> "$hosts/nosmt.spec"; done
	HOSTS=$hosts sim_up nosmt
	rm -rf "$hosts"
	pin_conf win10 $gpu
	pin_xml win10 $gpu "$(vcpu 3)"
	vh pin --xml "$T/win10.xml" win10
	check "no SMT, 3 vCPUs: an odd count is fine, one CPU per core" '[ "$RC" = 0 ] && pins_are 1 2 3'
	check "no SMT: guest topology threads 1, emulator on CPU 0" 'topo_is 3 1 && emu_is 0'
	pin_round_trip "no SMT 3 vCPUs" win10 $gpu 1 2 4
	pin_xml win10 $gpu "$(vcpu 6)"
	vh pin --xml "$T/win10.xml" win10
	check "no SMT, 6 vCPUs on 6 cores with one kept: refused, at most 5" '[ "$RC" = 1 ] && contains "$ERR" "at most 5 vCPUs"'
	sim_down
}

t_pin_numa() {
	sim_up numa2
	local gpu=0000:81:00.0
	pin_conf win10 $gpu
	# 8 vCPUs: the GPU is on node 1, whose four cores (CPUs 4-7,12-15) can hold them all; the
	# host keeps core 0 of package 0 (CPUs 0,8), on node 0
	pin_xml win10 $gpu "$(vcpu 8)"
	vh pin --xml "$T/win10.xml" win10
	check "numa 8 vCPUs: all of node 1 (the GPU's)" '[ "$RC" = 0 ] && pins_are 4 12 5 13 6 14 7 15 && contains "$OUT" "GPU 0000:81:00.0 on NUMA node 1"'
	local c all_node1=yes node1
	node1=$(cat "$T/root/sys/devices/system/node/node1/cpulist")
	for c in $(printf '%s\n' "$OUT" | sed -n "s/.*<vcpupin vcpu='[0-9]*' cpuset='\([0-9]*\)'.*/\1/p"); do
		case ",4,5,6,7,12,13,14,15," in *",$c,"*) ;; *) all_node1=no ;; esac
	done
	check "numa 8 vCPUs: every vCPU's CPU is in node1/cpulist ($node1), the host's not" '[ "$node1" = "4-7,12-15" ] && [ $all_node1 = yes ] && emu_is 0,8'
	check "numa 8 vCPUs: no topoext (Intel), 4 cores" '! contains "$OUT" topoext > /dev/null && topo_is 4 2'
	pin_round_trip "numa 8 vCPUs" win10 $gpu 3 13 2
	pin_xml win10 $gpu "$(vcpu 6)"
	vh pin --xml "$T/win10.xml" win10
	check "numa 6 vCPUs: three cores of node 1" '[ "$RC" = 0 ] && pins_are 4 12 5 13 6 14'
	# more than node 1 has: node 1 whole, then a core of node 0, said in a comment
	pin_xml win10 $gpu "$(vcpu 10)"
	vh pin --xml "$T/win10.xml" win10
	check "numa 10 vCPUs: node 1 whole and core 1 of node 0, with a note" "[ \"\$RC\" = 0 ] && pins_are 1 9 4 12 5 13 6 14 7 15 && contains \"\$OUT\" \"not all on the GPU's node 1\""
	# --host-cores 2: the host's cores come from node 0, never from the GPU's
	pin_xml win10 $gpu "$(vcpu 8)"
	vh pin --host-cores 2 --xml "$T/win10.xml" win10
	check "numa --host-cores 2: host on node 0 (0-1,8-9), VM on node 1" '[ "$RC" = 0 ] && pins_are 4 12 5 13 6 14 7 15 && emu_is 0-1,8-9'
	# the GPU from the domain's <hostdev> when kvm.conf does not name the VM
	conf 'vm = ( { name = "other"; } );'
	vh pin --xml "$T/win10.xml" win10
	check "numa, GPU from <hostdev>: node 1 all the same" '[ "$RC" = 0 ] && pins_are 4 12 5 13 6 14 7 15'
	# no GPU at all: no preferred node; the node with more free cores (node 1)
	pin_xml win10 0000:00:00.0 "$(vcpu 8)"
	vh pin --xml "$T/win10.xml" win10
	check "numa, GPU not on this host: the cores still from one node" '[ "$RC" = 0 ] && pins_are 4 12 5 13 6 14 7 15'
	check "numa: pin changed nothing" 'unchanged'
	sim_down

	# the GPU on node 0 (a BMC's VGA there): node 0 has fewer free cores than node 1, and
	# still the VM's cores come from it, and the host's second core from node 1
	sim_up numa2 'pci 0000:00:02.0 class=0x030000 vendor=0x1a03 device=0x2000 group=3 numa=0'
	conf 'vm = ( { name = "other"; } );'
	pin_xml win10 0000:00:02.0 "$(vcpu 6)"
	vh pin --xml "$T/win10.xml" win10
	check "numa, GPU on node 0, 6 vCPUs: the three free cores of node 0, not node 1's four" '[ "$RC" = 0 ] && pins_are 1 9 2 10 3 11 && contains "$OUT" "GPU 0000:00:02.0 on NUMA node 0"'
	vh pin --host-cores 2 --xml "$T/win10.xml" win10
	check "numa, GPU on node 0, --host-cores 2: the host's second core off the GPU's node" '[ "$RC" = 0 ] && pins_are 1 9 2 10 3 11 && emu_is 0,4,8,12'
	sim_down
}
