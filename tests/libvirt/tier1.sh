#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tier 1 body: a real libvirtd drives TCG domains with vfiohook as its qemu hook.
# Started by run.sh as PID 1 of private PID and mount namespaces (unshare -m -p):
# it reaps orphans (QEMU and the daemons are daemonized) and finally checks that
# nothing it started, nor anything vfiohook started, is left running. It mounts
# its own /run (tmpfs) and bind-mounts work directories over /etc/libvirt,
# /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt: the machine's own
# libvirt configuration, hooks, domains and logs are never seen or touched.
#
# Usage: tier1.sh WORKDIR VFIOHOOK LIBVIRTD VIRTLOGD [SIMHOST SIMDIR]
#   SIMHOST/SIMDIR: the simulated-host binary and tests/simhost; empty = no
#   simulated host (a plain directory is used as --root, sim cases are skipped;
#   env SIM_WHY says why).
# Prints "ok - ", "FAIL - ", "skip - " lines; writes "P F S" to WORKDIR/counts.

set -u
W=$1 VFIOHOOK=$2 LIBVIRTD=$3 VIRTLOGD=$4 SIMHOST=${5:-} SIMDIR=${6:-}
SIM_WHY=${SIM_WHY:-not given}
HERE=$(cd "$(dirname "$0")" && pwd)
export LC_ALL=C

# fds 3 and 4: our real stdout and stderr, for traps that may fire while a
# function's output is redirected to a file (say, domxml >dom.xml)
exec 3>&1 4>&2

P=0 F=0 S=0
ok()   { P=$((P + 1)); echo "ok - $*"; }
nok()  { F=$((F + 1)); echo "FAIL - $*"; }
skip() { S=$((S + 1)); echo "skip - $*"; }
# expect DESC WANT GOT: equal strings pass; otherwise show both.
expect() {
	if [ "$2" = "$3" ]; then ok "$1"; else nok "$1"; echo "    want: $2"; echo "    got:  $3"; fi
}
note() { echo "    $*"; }

ROOT=$W/root          # vfiohook --root
LOGDIR=$W/calls       # hook-wrapper.sh records every call here
CALLS=$LOGDIR/calls.tsv
CONF=$W/kvm.conf
MNT=$W/mnt            # simulated host mount point
SIMLOG=$W/simhost.log  # the simulated host's log of writes and bind changes
LV=$W/libvirt         # private /etc/libvirt, /var/lib/libvirt, ... sources
V() { timeout -k 5 60 virsh -q -c qemu:///system "$@"; }

# ---------------------------------------------------------------- processes
# Every process we start is appended to $W/pids as "PID NAME"; cleanup only
# ever signals PIDs from that list, and only if /proc/PID/comm still starts
# with NAME (so a recycled PID is never hit).
track() { echo "$1 $2" >>"$W/pids"; }
alive() { # PID NAME: running (not a zombie) and still that program
	local st comm
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] || return 1
	comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
	case $comm in "$2"*) return 0 ;; esac
	return 1
}
stop_pid() { # PID NAME: SIGTERM, wait up to 10 s, then SIGKILL
	local i
	alive "$1" "$2" || return 0
	kill -TERM "$1" 2>/dev/null
	for i in $(seq 100); do alive "$1" "$2" || return 0; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
	for i in $(seq 50); do alive "$1" "$2" || return 0; sleep 0.1; done
	return 1
}

daemon_env() { (cd / && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" 3>&- 4>&-); }
start_virtlogd() {
	daemon_env "$VIRTLOGD" --daemon --pid-file "$W/virtlogd.pid" || return 1
	VIRTLOGD_PID=$(cat "$W/virtlogd.pid") && track "$VIRTLOGD_PID" virtlogd
}
start_libvirtd() { # starts libvirtd the way its unit would (cwd /, minimal env), waits until it answers
	local i
	rm -f "$W/libvirtd.pid"
	daemon_env "$LIBVIRTD" --daemon --pid-file "$W/libvirtd.pid" || return 1
	LIBVIRTD_PID=$(cat "$W/libvirtd.pid") && track "$LIBVIRTD_PID" libvirtd || return 1
	for i in $(seq 150); do
		V uri >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
qemu_pid() { cat "/run/libvirt/qemu/$1.pid" 2>/dev/null; }

# ---------------------------------------------------------------- cleanup
DOMS=()
cleanup() {
	local d p name
	trap - EXIT INT TERM
	exec 1>&3 2>&4
	if [ -n "${LIBVIRTD_PID:-}" ] && alive "$LIBVIRTD_PID" libvirtd; then
		for d in "${DOMS[@]}"; do
			V domstate "$d" 2>/dev/null | grep -q running && V destroy "$d" >/dev/null 2>&1
			V undefine "$d" >/dev/null 2>&1
		done
	fi
	# daemons and any QEMU left over, newest first, by recorded PID only
	if [ -f "$W/pids" ]; then
		tac "$W/pids" | while read -r p name; do
			[ "$p" = "${SIM_PID:-}" ] && continue
			stop_pid "$p" "$name" || echo "cleanup: pid $p ($name) did not exit"
		done
	fi
	# the simulated host last: unmount, then stop its server
	if [ -n "$SIMHOST" ] && mountpoint -q "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	if [ -n "${SIM_PID:-}" ]; then
		stop_pid "$SIM_PID" "$SIM_COMM" || echo "cleanup: simulated host pid $SIM_PID did not exit"
	fi
	# we are PID 1 here: anything but us (and ps) is a leftover, e.g. a
	# background child of vfiohook or of a drop-in
	ps -eo pid=,comm=,args= >"$W/ps.left"
	if awk '$1 != 1 && $2 != "ps" { found = 1 } END { exit !found }' "$W/ps.left"; then
		nok "processes left in the test's PID namespace after cleanup:"
		awk '$1 != 1 && $2 != "ps"' "$W/ps.left" | sed 's/^/      /'
	else
		ok "no process left in the test's PID namespace after cleanup"
	fi
	echo "$P $F $S" >"$W/counts"
}
trap cleanup EXIT
trap 'exec 1>&3 2>&4; echo "interrupted"; F=$((F + 1)); exit 1' INT TERM

# ---------------------------------------------------------------- hook log helpers
ncalls() { if [ -f "$CALLS" ]; then wc -l <"$CALLS"; else echo 0; fi; }
# events MARK VM: "op subop:rc ..." of VM's calls recorded after line MARK
events() {
	tail -n "+$(($1 + 1))" "$CALLS" 2>/dev/null |
		awk -F'\t' -v vm="$2" '$3 == vm { printf "%s%s %s:%s", sep, $4, $5, $7; sep = " " }'
}
# wait_events MARK VM N: wait (up to 15 s) until VM has N calls after MARK
wait_events() {
	local i
	for i in $(seq 150); do
		[ "$(events "$1" "$2" | wc -w)" -ge $(($3 * 2)) ] && return 0
		sleep 0.1
	done
	return 1
}
# call_pid MARK VM OP SUBOP: wrapper pid of that call (names its .out/.err files)
call_pid() {
	tail -n "+$(($1 + 1))" "$CALLS" 2>/dev/null |
		awk -F'\t' -v vm="$2" -v op="$3" -v so="$4" '$3 == vm && $4 == op && $5 == so { print $1; exit }'
}
dump_calls() {
	note "hook calls so far (pid argc vm op subop extra rc stdout-bytes stderr-bytes):"
	sed 's/^/      /' "$CALLS" 2>/dev/null
	[ ! -s "$W/dropin.log" ] || { note "drop-in log:"; sed 's/^/      /' "$W/dropin.log"; }
	note "libvirtd log (last 15 lines):"
	tail -n 15 "$LV/log/libvirtd.log" 2>/dev/null | sed 's/^/      /'
}

# ---------------------------------------------------------------- simulated host helpers
dev_dir() { echo "$ROOT/sys/bus/pci/devices/$1"; }
drv_of() { local l; l=$(readlink "$(dev_dir "$1")/driver" 2>/dev/null) && basename "$l" || echo "(none)"; }
drivers_of() { local b s=; for b in "$@"; do s="$s$b=$(drv_of "$b") "; done; echo "${s% }"; }
host_snapshot() { # canonical dump of the (simulated) host, for before/after comparison
	if [ -n "$SIMHOST" ]; then
		"$SIMDIR/snapshot.sh" "$MNT"
	else
		(cd "$ROOT" && find sys proc dev -printf '%p %y %m %s %l\n' | sort)
	fi
}
state_file() { echo "$ROOT/run/vfiohook/$1.state"; }
sim_ops() { if [ -f "$SIMLOG" ]; then wc -l <"$SIMLOG"; else echo 0; fi; }

# ---------------------------------------------------------------- domains
domxml() { # NAME UUID [DEVICE-XML]
	cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <uuid>$2</uuid>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <controller type='usb' model='none'/>
    <serial type='pty'><target port='0'/></serial>
    <memballoon model='none'/>
${3:-}
  </devices>
</domain>
EOF
}
define() { # NAME UUID [DEVICE-XML]
	domxml "$@" >"$W/dom.xml"
	V define "$W/dom.xml" >/dev/null && DOMS+=("$1")
}
hostdev_xml() { # BDF...: managed PCI <hostdev> elements
	local b d bus sl fn
	for b in "$@"; do
		IFS=:. read -r d bus sl fn <<<"$b"
		echo "    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x$d' bus='0x$bus' slot='0x$sl' function='0x$fn'/></source></hostdev>"
	done
}

# A: not in kvm.conf; the name has a space and UTF-8 (argv[1] is arbitrary)
VM_FREE="vh-t1 free é"   UUID_FREE=6d1c0e1a-0000-4000-8000-000000000001
# B: configured with a PCI address that does not exist
VM_NODEV=vh-t1-nodev      UUID_NODEV=6d1c0e1a-0000-4000-8000-000000000002
NODEV_BDF=0000:7f:1f.7
# C: configured with the GPU function only: its IOMMU group is incomplete (sim)
VM_HALF=vh-t1-half        UUID_HALF=6d1c0e1a-0000-4000-8000-000000000003
# D, D2: both configured with the whole group (both rx590 functions) and
# started at once: exactly one may get it; D2 has a space and UTF-8 in its name (sim)
VM_PAIR=vh-t1-pair        UUID_PAIR=6d1c0e1a-0000-4000-8000-000000000004
VM_PAIR2="vh-t1 pair2 ü"  UUID_PAIR2=6d1c0e1a-0000-4000-8000-000000000007
# F: devices = "hostdev", the group as managed <hostdev>s in the domain XML:
# vfiohook's prepare succeeds, then libvirt's own start fails (no VFIO here,
# and its PCI bus is empty): release must give the devices back (sim)
VM_HDEV=vh-t1-hostdev     UUID_HDEV=6d1c0e1a-0000-4000-8000-000000000006

# E: not in kvm.conf, has drop-in scripts; used with vfiohook installed as the hook itself
VM_HOOK=vh-t1-installed   UUID_HOOK=6d1c0e1a-0000-4000-8000-000000000005

# ================================================================ setup
setup_private_libvirt() {
	local d
	mount -t tmpfs -o mode=0755 vh-run /run || return 1
	mkdir -p /run/libvirt || return 1
	for d in etc lib log cache; do
		mkdir -p "$LV/$d" && chmod 0755 "$LV/$d" || return 1
	done
	mkdir -p "$LV/etc/hooks" "$LV/etc/qemu"
	# libvirtd defaults plus a debug log of hook and child-process handling
	cat >"$LV/etc/libvirtd.conf" <<-'EOF'
		log_filters="1:util.hook 1:util.command 3:*"
		log_outputs="1:file:/var/log/libvirt/libvirtd.log"
	EOF
	# an empty, read-only PCI bus over the machine's: nothing in this test,
	# not even vfiohook run without --root, can reach a real PCI device
	mount -t tmpfs -o mode=0755,size=64k vh-pci /sys/bus/pci &&
		mkdir /sys/bus/pci/devices /sys/bus/pci/drivers &&
		mount -o remount,ro /sys/bus/pci || return 1
	mount --bind "$LV/etc" /etc/libvirt &&
		mount --bind "$LV/lib" /var/lib/libvirt &&
		mount --bind "$LV/log" /var/log/libvirt &&
		mount --bind "$LV/cache" /var/cache/libvirt
}

setup_root() {
	local i
	mkdir -p "$ROOT/run" "$LOGDIR" || return 1
	if [ -z "$SIMHOST" ]; then
		# no simulated host: an empty PCI bus
		mkdir -p "$ROOT/sys/bus/pci/devices" "$ROOT/sys/bus/pci/drivers" "$ROOT/proc" "$ROOT/dev"
		return
	fi
	mkdir -p "$MNT"
	# -f: stay in the foreground, so that $! is the server and we own its PID;
	# --log: one line per write, mkdir, rmdir and bind change
	"$SIMHOST" -f --spec "$SIMDIR/hosts/rx590.spec" --log "$SIMLOG" "$MNT" >"$W/simhost.out" 2>&1 3>&- 4>&- &
	SIM_PID=$!
	SIM_COMM=$(basename "$SIMHOST" | cut -c1-15)
	track "$SIM_PID" "$SIM_COMM"
	for i in $(seq 100); do
		[ -d "$MNT/sys/bus/pci/devices" ] && break
		sleep 0.1
	done
	[ -d "$MNT/sys/bus/pci/devices" ] || { cat "$W/simhost.out"; return 1; }
	for i in sys proc dev; do ln -s "$MNT/$i" "$ROOT/$i"; done
}

# GPU: the device bound to amdgpu; GROUP: the endpoints of its IOMMU group
discover_sim() {
	local d b cls
	GPU=
	for d in "$ROOT"/sys/bus/pci/devices/*; do
		[ "$(drv_of "${d##*/}")" = amdgpu ] && { GPU=${d##*/}; break; }
	done
	[ -n "$GPU" ] || return 1
	GROUP=()
	for d in "$(dev_dir "$GPU")"/iommu_group/devices/*; do
		b=${d##*/}
		cls=$(cat "$(dev_dir "$b")/class" 2>/dev/null)
		case $cls in 0x0604*) continue ;; esac # bridges may stay
		GROUP+=("$b")
	done
	[ "${#GROUP[@]}" -ge 2 ]
}

write_conf() {
	local list="" b
	for b in "${GROUP[@]}"; do list="$list${list:+, }\"$b\""; done
	{
		echo "vm = ("
		echo "  { name = \"$VM_NODEV\"; pci = { devices = [ \"$NODEV_BDF\" ]; timeout = 5.0; }; }"
		if [ -n "$SIMHOST" ]; then
			echo ", { name = \"$VM_HALF\"; pci = { devices = [ \"$GPU\" ]; timeout = 5.0; }; }"
			echo ", { name = \"$VM_PAIR\"; uuid = \"$UUID_PAIR\"; pci = { devices = [ $list ]; timeout = 5.0; }; }"
			echo ", { name = \"$VM_PAIR2\"; pci = { devices = [ $list ]; timeout = 5.0; }; }"
			echo ", { name = \"$VM_HDEV\"; pci = { devices = \"hostdev\"; timeout = 5.0; }; }"
		fi
		echo ");"
	} >"$CONF"
	chmod 0600 "$CONF"
}

install_hook() {
	q() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }
	{
		echo "VFIOHOOK=$(q "$VFIOHOOK")"
		echo "CONF=$(q "$CONF")"
		echo "ROOT=$(q "$ROOT")"
		echo "LOGDIR=$(q "$LOGDIR")"
	} >"$LV/etc/hooks/wrapper.env"
	install -m 0755 "$HERE/hook-wrapper.sh" "$LV/etc/hooks/qemu"
}

fatal() { nok "$*"; dump_calls; exit 1; }

setup_private_libvirt || fatal "private libvirt directories (tmpfs /run, bind mounts)"
setup_root || fatal "simulated host at $MNT did not come up"
GROUP=()
if [ -n "$SIMHOST" ]; then
	discover_sim || fatal "simulated host: no amdgpu device with a multi-function IOMMU group found"
	note "simulated host: GPU $GPU, IOMMU group endpoints ${GROUP[*]} ($(drivers_of "${GROUP[@]}"))"
fi
write_conf
install_hook                        # before libvirtd starts: the hook is looked up once, at start
start_virtlogd || fatal "virtlogd did not start"
start_libvirtd || fatal "libvirtd did not start or does not answer"
define "$VM_FREE" "$UUID_FREE" || fatal "virsh define $VM_FREE"
define "$VM_NODEV" "$UUID_NODEV" || fatal "virsh define $VM_NODEV"
define "$VM_HOOK" "$UUID_HOOK" || fatal "virsh define $VM_HOOK"
if [ -n "$SIMHOST" ]; then
	define "$VM_HALF" "$UUID_HALF" || fatal "virsh define $VM_HALF"
	define "$VM_PAIR" "$UUID_PAIR" || fatal "virsh define $VM_PAIR"
	define "$VM_PAIR2" "$UUID_PAIR2" || fatal "virsh define $VM_PAIR2"
	define "$VM_HDEV" "$UUID_HDEV" "$(hostdev_xml "${GROUP[@]}")" || fatal "virsh define $VM_HDEV"
fi
SNAP0=$(host_snapshot)
[ -n "$SNAP0" ] || fatal "host snapshot is empty"

# ================================================================ checks
# --- unconfigured VM: every event reaches the hook, each exits 0
m=$(ncalls)
if V start "$VM_FREE" >/dev/null; then ok "unconfigured VM: virsh start succeeds"; else nok "unconfigured VM: virsh start"; fi
wait_events "$m" "$VM_FREE" 3
expect "unconfigured VM: prepare, start, started reach the hook and exit 0" \
	"prepare begin:0 start begin:0 started begin:0" "$(events "$m" "$VM_FREE")"
QEMU_FREE=$(qemu_pid "$VM_FREE") && track "$QEMU_FREE" qemu-system

# --- failing prepare: start fails with vfiohook's one line, host unchanged, release harmless
# check_refused LABEL VM UUID MARK VIRSH-OUTPUT BDF...: VM's start (after hook
# call MARK) was refused by vfiohook with one line naming one of the BDFs
check_refused() {
	local label=$1 vm=$2 uuid=$3 m=$4 out=$5 pid n line b named=no
	shift 5
	wait_events "$m" "$vm" 3
	expect "$label: prepare exits 1, then stopped and release run and exit 0" \
		"prepare begin:1 stopped end:0 release end:0" "$(events "$m" "$vm")"
	pid=$(call_pid "$m" "$vm" prepare begin)
	n=$(wc -l <"$LOGDIR/$pid.err" 2>/dev/null || echo 0)
	line=$(head -n 1 "$LOGDIR/$pid.err" 2>/dev/null)
	if [ "$n" = 1 ] && [ "${line#vfiohook: }" != "$line" ]; then
		ok "$label: vfiohook wrote one stderr line starting 'vfiohook: '"
	else
		nok "$label: vfiohook stderr is not one 'vfiohook: ' line"; sed 's/^/      stderr: /' "$LOGDIR/$pid.err" 2>/dev/null
	fi
	note "message: $line"
	if [ -n "$line" ] && grep -qF -- "$line" <<<"$out"; then
		ok "$label: virsh's error contains vfiohook's message"
	else
		nok "$label: vfiohook's message missing from virsh's error"; note "virsh: $out"
	fi
	for b in "$@"; do case $line in *"$b"*) named=yes ;; esac; done
	expect "$label: the message names the device ($*)" yes "$named"
	expect "$label: domain is shut off afterwards" "shut off" "$(V domstate "$vm" 2>&1)"
	if [ ! -e "$(state_file "$uuid")" ]; then ok "$label: no state file left after release"; else
		nok "$label: state file left: $(state_file "$uuid")"; fi
}
# failed_start LABEL VM UUID BDF...: start must be refused, and the host not
# touched at all
failed_start() {
	local label=$1 vm=$2 uuid=$3 m out ops
	m=$(ncalls)
	ops=$(sim_ops)
	if out=$(V start "$vm" 2>&1); then nok "$label: virsh start succeeded"; else ok "$label: virsh start fails"; fi
	check_refused "$label" "$vm" "$uuid" "$m" "$out" "${@:4}"
	if [ "$(host_snapshot)" = "$SNAP0" ]; then ok "$label: host left as it was"; else
		nok "$label: host changed"; diff <(echo "$SNAP0") <(host_snapshot) | head -n 20 | sed 's/^/      /'
	fi
	# equal snapshots could hide a device unbound and probed again (a GPU
	# yanked from the host): the simulated host logs every write and bind
	if [ -n "$SIMHOST" ]; then
		if [ "$(sim_ops)" = "$ops" ]; then ok "$label: prepare and release wrote nothing to the host"; else
			nok "$label: the host saw writes:"; tail -n "+$((ops + 1))" "$SIMLOG" | head -n 20 | sed 's/^/      /'
		fi
	fi
}
failed_start "nonexistent device" "$VM_NODEV" "$UUID_NODEV" "$NODEV_BDF"

if [ -n "$SIMHOST" ]; then
	failed_start "incomplete IOMMU group" "$VM_HALF" "$UUID_HALF" "${GROUP[@]}"

	ORIG=$(drivers_of "${GROUP[@]}")

	# --- by hand, without XML on stdin: vfiohook reads the domain from libvirtd (read-only)
	plan=$("$VFIOHOOK" --dry-run --root "$ROOT" --config "$CONF" "$VM_HDEV" prepare begin </dev/null 2>&1)
	missing=""
	for b in "${GROUP[@]}"; do
		case $plan in *"/$b/driver_override \"vfio-pci\""*) ;; *) missing="$missing $b" ;; esac
	done
	if [ -z "$missing" ]; then ok "by hand, no XML on stdin: the dry-run plan has libvirt's <hostdev>s"; else
		nok "by hand, no XML on stdin: plan lacks$missing"; note "$plan"; fi

	# --- prepare succeeds, libvirt fails the start later: release undoes it all
	m=$(ncalls)
	ops=$(sim_ops)
	if out=$(V start "$VM_HDEV" 2>&1); then nok "libvirt fails later: virsh start succeeded"; else
		ok "libvirt fails later: virsh start fails"; fi
	note "libvirt: $(grep -v '^error: Failed to start' <<<"$out" | head -n 1)"
	case $out in *vfiohook:*) nok "libvirt fails later: the error is vfiohook's, not libvirt's" ;; esac
	wait_events "$m" "$VM_HDEV" 3
	expect "libvirt fails later: prepare exits 0, then stopped and release exit 0" \
		"prepare begin:0 stopped end:0 release end:0" "$(events "$m" "$VM_HDEV")"
	moved=$(tail -n "+$((ops + 1))" "$SIMLOG" | awk '$1 == "bound" && $2 == "vfio-pci" { print $3 }' | sort | tr '\n' ' ')
	expect "libvirt fails later: prepare moved the <hostdev>s of libvirt's XML to vfio-pci" \
		"$(printf '%s\n' "${GROUP[@]}" | sort | tr '\n' ' ')" "$moved"
	expect "libvirt fails later: release gives the functions back to their drivers" "$ORIG" "$(drivers_of "${GROUP[@]}")"
	if [ "$(host_snapshot)" = "$SNAP0" ]; then ok "libvirt fails later: host snapshot equals the starting one"; else
		nok "libvirt fails later: host differs from the start"; diff <(echo "$SNAP0") <(host_snapshot) | head -n 20 | sed 's/^/      /'
	fi
	if [ ! -e "$(state_file "$UUID_HDEV")" ]; then ok "libvirt fails later: no state file left"; else
		nok "libvirt fails later: state file left: $(state_file "$UUID_HDEV")"; fi

	# --- complete group, claimed by two VMs at once (libvirt runs their hooks
	# concurrently): exactly one gets it, on vfio-pci; the other is refused
	m=$(ncalls)
	V start "$VM_PAIR" >"$W/start.1" 2>&1 &
	s1=$!
	V start "$VM_PAIR2" >"$W/start.2" 2>&1 &
	s2=$!
	wait "$s1"; r1=$?
	wait "$s2"; r2=$?
	if [ $r1 -eq 0 ] && [ $r2 -ne 0 ]; then
		WIN=$VM_PAIR UUID_WIN=$UUID_PAIR LOSE=$VM_PAIR2 UUID_LOSE=$UUID_PAIR2 out=$(cat "$W/start.2")
	else
		WIN=$VM_PAIR2 UUID_WIN=$UUID_PAIR2 LOSE=$VM_PAIR UUID_LOSE=$UUID_PAIR out=$(cat "$W/start.1")
	fi
	if [ $((r1 == 0)) -ne $((r2 == 0)) ]; then ok "complete group: exactly one of two VMs claiming it starts ($WIN)"; else
		nok "complete group: two VMs claiming it: virsh start exit statuses $r1 and $r2"
		sed 's/^/      /' "$W/start.1" "$W/start.2"
	fi
	check_refused "complete group, second claimant" "$LOSE" "$UUID_LOSE" "$m" "$out" "${GROUP[@]}"
	wait_events "$m" "$WIN" 3
	expect "complete group: $WIN: prepare, start, started exit 0" \
		"prepare begin:0 start begin:0 started begin:0" "$(events "$m" "$WIN")"
	VFIO=$(for b in "${GROUP[@]}"; do printf '%s=vfio-pci ' "$b"; done)
	expect "complete group: the group is on vfio-pci while the VM runs" "${VFIO% }" "$(drivers_of "${GROUP[@]}")"
	if [ -f "$(state_file "$UUID_WIN")" ]; then ok "complete group: state file recorded"; else
		nok "complete group: no state file $(state_file "$UUID_WIN")"; fi
	QEMU_WIN=$(qemu_pid "$WIN") && track "$QEMU_WIN" qemu-system
else
	skip "simulated-host cases (incomplete group, libvirt failing after prepare, two claimants, complete-group cycle, crash): no simulated host ($SIM_WHY)"
fi

# --- daemon restart with running VMs: reconnect exits 0, VMs keep running
RUNNING=("$VM_FREE")
[ -n "$SIMHOST" ] && RUNNING+=("$WIN")
m=$(ncalls)
if stop_pid "$LIBVIRTD_PID" libvirtd; then ok "libvirtd stopped (SIGTERM) with VMs running"; else nok "libvirtd did not stop"; fi
if alive "$QEMU_FREE" qemu-system; then ok "QEMU survives the daemon's exit"; else nok "QEMU of $VM_FREE died with the daemon"; fi
start_libvirtd || fatal "libvirtd did not restart"
ok "libvirtd restarted"
for vm in "${RUNNING[@]}"; do
	wait_events "$m" "$vm" 1
	expect "restart: $vm: reconnect reaches the hook and exits 0" "reconnect begin:0" "$(events "$m" "$vm")"
	expect "restart: $vm: still running" running "$(V domstate "$vm" 2>&1)"
done
expect "restart: same QEMU process" "$QEMU_FREE" "$(qemu_pid "$VM_FREE")"
if [ -n "$SIMHOST" ]; then
	expect "restart: reconnect leaves the group on vfio-pci" "${VFIO% }" "$(drivers_of "${GROUP[@]}")"
fi

# --- destroy: stopped and release exit 0; release gives the devices back
if [ -n "$SIMHOST" ]; then
	m=$(ncalls)
	if V destroy "$WIN" >/dev/null; then ok "complete group: virsh destroy"; else nok "complete group: virsh destroy"; fi
	wait_events "$m" "$WIN" 2
	expect "complete group: stopped and release exit 0" "stopped end:0 release end:0" "$(events "$m" "$WIN")"
	expect "complete group: release gives the functions back to their drivers" "$ORIG" "$(drivers_of "${GROUP[@]}")"
	if [ "$(host_snapshot)" = "$SNAP0" ]; then ok "complete group: host snapshot equals the starting one"; else
		nok "complete group: host differs from the start"; diff <(echo "$SNAP0") <(host_snapshot) | head -n 20 | sed 's/^/      /'
	fi
	if [ ! -e "$(state_file "$UUID_WIN")" ]; then ok "complete group: state file removed by release"; else
		nok "complete group: state file left after release: $(state_file "$UUID_WIN")"; fi

	# --- QEMU dies while libvirtd is down: on its restart libvirt cannot
	# reconnect, runs stopped and release instead, and the devices come back
	m=$(ncalls)
	V start "$WIN" >/dev/null || nok "crash: virsh start $WIN"
	QEMU_WIN=$(qemu_pid "$WIN") && track "$QEMU_WIN" qemu-system
	expect "crash: the group is on vfio-pci again" "${VFIO% }" "$(drivers_of "${GROUP[@]}")"
	m=$(ncalls)
	stop_pid "$LIBVIRTD_PID" libvirtd || nok "crash: libvirtd did not stop"
	kill -KILL "$QEMU_WIN"
	start_libvirtd || fatal "libvirtd did not restart"
	wait_events "$m" "$VM_FREE" 1
	wait_events "$m" "$WIN" 2
	expect "crash: $VM_FREE: reconnect exits 0 again" "reconnect begin:0" "$(events "$m" "$VM_FREE")"
	expect "crash: $WIN: stopped and release run and exit 0 (no reconnect)" \
		"stopped end:0 release end:0" "$(events "$m" "$WIN")"
	expect "crash: $WIN is shut off" "shut off" "$(V domstate "$WIN" 2>&1)"
	expect "crash: release gives the functions back to their drivers" "$ORIG" "$(drivers_of "${GROUP[@]}")"
	if [ "$(host_snapshot)" = "$SNAP0" ]; then ok "crash: host snapshot equals the starting one"; else
		nok "crash: host differs from the start"; diff <(echo "$SNAP0") <(host_snapshot) | head -n 20 | sed 's/^/      /'
	fi
	if [ ! -e "$(state_file "$UUID_WIN")" ]; then ok "crash: state file removed by release"; else
		nok "crash: state file left after release: $(state_file "$UUID_WIN")"; fi
fi
m=$(ncalls)
if V destroy "$VM_FREE" >/dev/null; then ok "unconfigured VM: virsh destroy"; else nok "unconfigured VM: virsh destroy"; fi
wait_events "$m" "$VM_FREE" 2
expect "unconfigured VM: stopped and release reach the hook and exit 0" \
	"stopped end:0 release end:0" "$(events "$m" "$VM_FREE")"

# --- over the whole wrapper run
# free: 3 start + 1 reconnect + 2 destroy, with sim 1 more reconnect; nodev,
# half, hostdev, second claimant: 3 each; the group's winner: 3 start +
# 1 reconnect + 2 destroy + 3 start + 2 after the crash
N=$(ncalls)
want=9
[ -z "$SIMHOST" ] || want=30
expect "the hook ran once per event, no more, no less" "$want calls" "$N calls"
[ "$N" -gt 0 ] || fatal "no hook call was recorded"
expect "every call had argc 4 (VM OP SUBOP EXTRA)" "" "$(awk -F'\t' '$2 != 4' "$CALLS")"
expect "nothing was ever printed on stdout" "" "$(awk -F'\t' '$8 != 0 { print $3, $4, $5 ": " $8 " bytes" }' "$CALLS")"
want="$VM_NODEV prepare begin 1"
[ -z "$SIMHOST" ] || want+="|$VM_HALF prepare begin 1|$LOSE prepare begin 1"
expect "only the refused prepares exited non-zero" "$want" \
	"$(awk -F'\t' '$7 != 0 { printf "%s%s %s %s %s", sep, $3, $4, $5, $7; sep = "|" }' "$CALLS")"

# ================================================================ installed form
# vfiohook itself as hooks/qemu (a symlink, as make install does), with its
# defaults: /etc/libvirt/hooks/kvm.conf, /run/vfiohook, drop-ins under
# /etc/libvirt/hooks/qemu.d/VM/OP/SUBOP/ -- all private to this test, and the
# PCI bus it sees is the empty one mounted above. No wrapper now: libvirtd's
# own debug log tells what each call printed.
LIBVIRTD_LOG=$LV/log/libvirtd.log
DROPLOG=$W/dropin.log
HOOKS=$LV/etc/hooks
printf 'vm = ( { name = "%s"; pci = { devices = [ "%s" ]; }; } );\n' "$VM_NODEV" "$NODEV_BDF" >"$HOOKS/kvm.conf"
chmod 0600 "$HOOKS/kvm.conf"
# a drop-in that records its argv and stdin size and prints on stdout, which
# must not reach libvirt; one for prepare/begin, one for release/end
for ev in prepare/begin release/end; do
	mkdir -p "$HOOKS/qemu.d/$VM_HOOK/$ev"
	cat >"$HOOKS/qemu.d/$VM_HOOK/$ev/10-record" <<-EOF
		#!/bin/sh
		printf '%s|' "\$@" >>'$DROPLOG'
		echo "stdin \$(wc -c | tr -d ' ') bytes" >>'$DROPLOG'
		echo "drop-in stdout: must not reach libvirt"
	EOF
	chmod 0755 "$HOOKS/qemu.d/$VM_HOOK/$ev/10-record"
done
if ! ln -s "$VFIOHOOK" "$HOOKS/qemu.new" || ! mv -T "$HOOKS/qemu.new" "$HOOKS/qemu"; then
	fatal "install vfiohook as hooks/qemu"
fi
lm=$(wc -l <"$LIBVIRTD_LOG")
# hook_results: "VM OP SUBOP stdout='...'" per hook call libvirtd logged since
# line $lm; a call's "Calling hook" and "Result status" lines share a thread id ($3)
hook_results() {
	tail -n "+$((lm + 1))" "$LIBVIRTD_LOG" | awk '
		/virRunScript:.*Calling hook/ {
			call = $0; sub(/.* id=/, "", call); sub(/ op=/, " ", call); sub(/ subop=/, " ", call); sub(/ extra=.*/, "", call)
			pending[$3] = call; next
		}
		/virCommandRun:.*Result status/ && ($3 in pending) {
			out = $0; sub(/.* stdout: /, "", out); sub(/ stderr: .*/, "", out)
			print pending[$3] " stdout=" out; delete pending[$3]
		}'
}

if V start "$VM_HOOK" >/dev/null; then ok "installed: unconfigured VM with drop-ins starts"; else nok "installed: virsh start $VM_HOOK"; fi
if V destroy "$VM_HOOK" >/dev/null; then ok "installed: virsh destroy"; else nok "installed: virsh destroy $VM_HOOK"; fi
expect "installed: each drop-in ran once, with the hook's argv and the domain XML on stdin" \
	"$VM_HOOK|prepare|begin|-|stdin>0 $VM_HOOK|release|end|-|stdin>0" \
	"$(sed 's/stdin [1-9][0-9]* bytes/stdin>0/' "$DROPLOG" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
if out=$(V start "$VM_NODEV" 2>&1); then
	nok "installed: start of $VM_NODEV succeeded"
elif grep -q "vfiohook: .*$NODEV_BDF" <<<"$out"; then
	ok "installed: reads /etc/libvirt/hooks/kvm.conf: start of $VM_NODEV fails with vfiohook's message"
else
	nok "installed: start of $VM_NODEV did not fail with vfiohook's message"; note "virsh: $out"
fi
want=
for e in "prepare begin" "start begin" "started begin" "stopped end" "release end"; do want+="$VM_HOOK $e stdout=''|"; done
for e in "prepare begin" "stopped end" "release end"; do want+="$VM_NODEV $e stdout=''|"; done
expect "installed: libvirt ran the hook for every event, nothing on stdout" "$want" "$(hook_results | tr '\n' '|')"
expect "installed: no state file left in /run/vfiohook" "" "$(find /run/vfiohook -name '*.state' 2>/dev/null)"

# --- drop-ins that misbehave, for a VM whose kvm.conf sets scripts.timeout: one leaves
# grandchildren in a session of their own and succeeds, then one floods its output without end
# (first start) or blocks reading a FIFO no one writes (second start). Each `virsh start` must
# fail within scripts.timeout + 2 s, and nothing a drop-in started may be left.
VM_DROP=vh-t1-dropins     UUID_DROP=6d1c0e1a-0000-4000-8000-000000000008
DROP_TIMEOUT=2
DROPDIR=$HOOKS/qemu.d/$VM_DROP/prepare/begin
# every process of these drop-ins: their scripts, and the markers of what they start
DROP_PROCS="qemu\\.d/$VM_DROP/|1009\\.[0-9]"
printf 'vm = ( { name = "%s"; pci = { devices = [ "%s" ]; }; }, { name = "%s"; scripts = { timeout = %s; }; } );\n' \
	"$VM_NODEV" "$NODEV_BDF" "$VM_DROP" "$DROP_TIMEOUT" >"$HOOKS/kvm.conf"
mkdir -p "$DROPDIR"
mkfifo "$W/never-written"
cat >"$DROPDIR/10-leave" <<-'EOF'
	#!/bin/sh
	setsid sh -c 'sleep 1009.1 & sleep 1009.2' >/dev/null 2>&1 </dev/null &
	setsid sh -c 'sh -c "sleep 1009.3 & sleep 1009.4" & sleep 1009.5' &
	sleep 0.3
	exit 0
EOF
cat >"$DROPDIR/20-flood" <<-'EOF'
	#!/bin/sh
	exec yes 'flood 1009.6'
EOF
cat >"$DROPDIR/21-block" <<-EOF
	#!/bin/sh
	read -r line <'$W/never-written'
EOF
chmod 0755 "$DROPDIR/10-leave" "$DROPDIR/20-flood" "$DROPDIR/21-block"
define "$VM_DROP" "$UUID_DROP" || nok "misbehaving drop-ins: virsh define $VM_DROP"
for bad in 20-flood 21-block; do
	other=21-block; [ "$bad" = 21-block ] && other=20-flood
	chmod 0644 "$DROPDIR/$other" # not executable: skipped
	chmod 0755 "$DROPDIR/$bad"
	t0=$(date +%s.%N)
	out=$(V start "$VM_DROP" 2>&1)
	rc=$?
	took=$(echo "$(date +%s.%N) - $t0" | bc)
	note "misbehaving drop-ins ($bad): virsh start took $took s"
	if [ "$rc" != 0 ] && grep -q "vfiohook: .*$bad did not finish within $DROP_TIMEOUT s" <<<"$out"; then
		ok "misbehaving drop-ins ($bad): virsh start fails with vfiohook's timeout message"
	else
		nok "misbehaving drop-ins ($bad): virsh start (exit $rc) did not fail with the timeout"; note "virsh: $out"
	fi
	if [ "$(echo "$took <= $DROP_TIMEOUT + 2" | bc)" = 1 ]; then
		ok "misbehaving drop-ins ($bad): virsh start returned within scripts.timeout + 2 s"
	else
		nok "misbehaving drop-ins ($bad): virsh start took $took s, more than scripts.timeout ($DROP_TIMEOUT s) + 2 s"
	fi
	left=$(pgrep -af "$DROP_PROCS")
	expect "misbehaving drop-ins ($bad): no process of theirs is left" "" "$left"
	[ -z "$left" ] || pkill -KILL -f "$DROP_PROCS"
	expect "misbehaving drop-ins ($bad): the domain is shut off" "shut off" "$(V domstate "$VM_DROP" 2>&1)"
done
rm -rf "$HOOKS/qemu.d/$VM_DROP" "$W/never-written"

[ $F -eq 0 ] || dump_calls
