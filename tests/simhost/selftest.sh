#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# selftest.sh [SIMHOST]: mount the simulated host and check its kernel
# semantics with plain shell commands.  Prints "ok: ..." or "FAIL: ..." per
# check and ends with "N passed, N failed"; exits 1 if any check failed and
# 77 if FUSE is not usable here.  SIMHOST defaults to build/simhost; when it
# does not exist the script compiles simhost.c into its temporary directory.
set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
# Run in a private mount namespace when possible: a process elsewhere that
# unshares its mount namespace while our FUSE mount exists would otherwise
# keep a copy of it, and the daemon alive, after we unmount.
if [ -z "${SIMHOST_SELFTEST_NS:-}" ] && [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	SIMHOST_SELFTEST_NS=1 exec unshare -m --propagation private bash "$here/selftest.sh" "$@"
fi
top=$(cd "$here/../.." && pwd)
sim=${1:-$top/build/simhost}
pass=0
fail=0
mnt=""
tmp=$(mktemp -d "${TMPDIR:-/tmp}/simhost-selftest.XXXXXX") || exit 1

cleanup() {
	if [ -n "$mnt" ] && mountpoint -q "$mnt" 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
# wr FILE DATA: exactly one write() of DATA to FILE; prints the error text, if
# any.  The shell's printf writes once unless DATA has a newline (it may split
# there), so such data goes through dd.
wr() {
	local r
	case $2 in
	*$'\n'*)
		printf '%s' "$2" >"$tmp/data"
		dd if="$tmp/data" of="$1" bs=65536 conv=notrunc status=none 2>"$tmp/wr.err"
		;;
	*) { printf '%s' "$2" >"$1"; } 2>"$tmp/wr.err" ;;
	esac
	r=$?
	if [ $r -ne 0 ]; then
		local err
		err=$(<"$tmp/wr.err")
		printf '%s\n' "${err##*: }"
	fi
	return $r
}
# fails_with TEXT FILE DATA: the write must fail with strerror TEXT.
fails_with() {
	local out
	if out=$(wr "$2" "$3"); then
		echo "  (write to $2 succeeded, expected: $1)"
		return 1
	fi
	[ "$out" = "$1" ] || { echo "  (got: $out, expected: $1)"; return 1; }
}
# eq A B: string equality that shows the difference.
eq() {
	[ "$1" = "$2" ] || { echo "  (got '$1', expected '$2')"; return 1; }
}
# link_of PATH: the basename of a symlink's target, empty when absent.
link_of() {
	local t
	t=$(readlink "$1" 2>/dev/null) || return 0
	basename "$t"
}
now_ms() { date +%s%3N; }
# pstate PID: the state letter of a process (R, S, D, Z...), empty when gone.
pstate() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	echo "${s%% *}"
}
# killed_writer SECONDS FILE DATA: in the background, a shell that records its
# PID in $tmp/w.pid and writes DATA to FILE, SIGKILLed after SECONDS (as a
# watchdog would).  Sets $wjob to the job's PID.
killed_writer() {
	rm -f "$tmp/w.pid"
	(timeout -s KILL "$1" sh -c 'echo $$ >"$1"; printf %s "$3" >"$2"' sh "$tmp/w.pid" "$2" "$3"; true) 2>/dev/null &
	wjob=$!
	wait_for 1 test -s "$tmp/w.pid"
}
# wait_for SECONDS COMMAND...: poll the command every 50 ms.
wait_for() {
	local end=$(($(now_ms) + ${1%.*} * 1000 + 999)) s=$1
	shift
	while ! "$@"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}
# Start simhost: mount SPEC on $mnt with the fault file $tmp/faults.
start() {
	mnt=$tmp/mnt
	mkdir -p "$mnt"
	"$sim" --spec "$1" --faults "$tmp/faults" --log "$tmp/log" "$mnt"
}
stop() {
	fusermount3 -u "$mnt" || umount "$mnt"
	mnt=""
}

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "skip: no /dev/fuse or fusermount3 here"
	exit 77
fi
if [ ! -x "$sim" ]; then
	sim=$tmp/simhost
	# shellcheck disable=SC2046
	cc -std=gnu17 -O1 $(pkg-config --cflags fuse3) -o "$sim" "$here/simhost.c" \
		$(pkg-config --libs fuse3) || { echo "FAIL: cannot build simhost"; exit 1; }
fi

# ---------------------------------------------------------------------------
# Spec parsing is strict and reports the line.
printf 'pci 0000:00:01.0 class=0x030000 vendor=0x10de device=0x1e84 colour=red\n' >"$tmp/bad1.spec"
printf '# c\n\npci 0000:00:01.0 class=0x030000 vendor=0x10de\n' >"$tmp/bad2.spec"
printf 'driver nvidia module=nvidia\n' >"$tmp/bad3.spec"
printf 'pci 0000:00:01.0 class=0x030000 vendor=0x10de device=0x1e84 driver=vfio-pci\ndriver vfio-pci ids=none\n' >"$tmp/bad4.spec"
check "spec: unknown field is an error with its line" \
	eval '"$sim" --check --spec "$tmp/bad1.spec" 2>&1 | grep -q "bad1.spec:1: unknown field .colour=red"'
check "spec: missing field is an error with its line" \
	eval '"$sim" --check --spec "$tmp/bad2.spec" 2>&1 | grep -q "bad2.spec:3: missing device="'
check "spec: undeclared module is an error" \
	eval '! "$sim" --check --spec "$tmp/bad3.spec" 2>/dev/null'
check "spec: initial binding must match the driver" \
	eval '"$sim" --check --spec "$tmp/bad4.spec" 2>&1 | grep -q "bad4.spec:1: .*cannot be bound"'
check "spec: both example hosts parse" \
	eval '"$sim" --check --spec "$here/hosts/win10.spec" && "$sim" --check --spec "$here/hosts/rx590.spec"'

# An empty host: the tree skeleton and an empty mountinfo.
printf '# nothing\n' >"$tmp/empty.spec"
if start "$tmp/empty.spec"; then
	check "empty host: proc/self/mountinfo exists and is empty" \
		eval '[ -f "$mnt/proc/self/mountinfo" ] && [ -z "$(cat "$mnt/proc/self/mountinfo")" ]'
	check "empty host: dev/vfio/vfio exists when no vfio module is declared" \
		test -e "$mnt/dev/vfio/vfio"
	check "empty host: proc/swaps has only its header, meminfo no swap" \
		eval 'eq "$(cat "$mnt/proc/swaps")" "$(printf "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority")" &&
		grep -q "^SwapTotal: *0 kB$" "$mnt/proc/meminfo"'
	check "empty host: sys/class/block, sys/block and sys/dev/block exist, empty" \
		eval '[ -d "$mnt/sys/class/block" ] && [ -z "$(find "$mnt/sys/class/block" "$mnt/sys/block" "$mnt/sys/dev/block" -mindepth 1)" ]'
	stop
else
	bad "mount the empty host"
fi

# ---------------------------------------------------------------------------
start "$here/hosts/win10.spec" || { bad "mount win10.spec"; echo "$pass passed, $fail failed"; exit 1; }
ok "mount win10.spec (daemonized after the mount was ready)"
root=$tmp/root
mkdir -p "$root/run"
ln -s "$mnt/sys" "$root/sys"
ln -s "$mnt/proc" "$root/proc"
ln -s "$mnt/dev" "$root/dev"
S=$root/sys
PCI=$S/bus/pci
GPU=$PCI/devices/0000:09:00.0
AUD=$PCI/devices/0000:09:00.1

check "attributes: class, vendor, device" \
	eq "$(cat "$GPU/class" "$GPU/vendor" "$GPU/device" | tr '\n' ' ')" "0x030000 0x10de 0x1e84 "
check "attributes: driver_override reads (null)" eq "$(cat "$GPU/driver_override")" "(null)"
check "links: driver is relative with the right depth" \
	eq "$(readlink "$GPU/driver")" "../../../../bus/pci/drivers/nvidia"
check "links: iommu_group" eq "$(readlink "$GPU/iommu_group")" "../../../../kernel/iommu_groups/16"
check "links: bus/pci/devices entry" \
	eq "$(readlink "$GPU")" "../../../devices/pci0000:00/0000:00:03.1/0000:09:00.0"
check "links: iommu_groups/16/devices entry" \
	eq "$(readlink "$S/kernel/iommu_groups/16/devices/0000:09:00.0")" \
	"../../../../devices/pci0000:00/0000:00:03.1/0000:09:00.0"
check "links: group 16 has the six devices" \
	eq "$(ls "$S/kernel/iommu_groups/16/devices" | tr '\n' ' ')" \
	"0000:00:03.0 0000:00:03.1 0000:09:00.0 0000:09:00.1 0000:09:00.2 0000:09:00.3 "
check "links: a root-bus device's driver link has three .." \
	eq "$(readlink "$PCI/devices/0000:00:17.0/driver")" "../../../bus/pci/drivers/ahci"
check "links: driver module link" eq "$(readlink "$PCI/drivers/xhci_hcd/module")" "../../../../module/xhci_pci"
check "links: module holders" eq "$(ls "$S/module/nvidia/holders" | tr '\n' ' ')" "nvidia_modeset nvidia_uvm "
check "links: dev/block resolves to the disk under its controller" \
	eq "$(cat "$S/dev/block/8:0/dev") $(readlink "$S/dev/block/8:0")" \
	"8:0 ../../devices/pci0000:00/0000:00:17.0/block/sda"
check "block: a disk has class/block and sys/block links, empty holders/ and slaves/" \
	eval 'eq "$(readlink "$S/class/block/nvme0n1")" ../../devices/pci0000:00/0000:00:01.1/0000:01:00.0/block/nvme0n1 &&
	eq "$(readlink "$S/block/sda")" ../devices/pci0000:00/0000:00:17.0/block/sda &&
	[ -d "$S/class/block/sda/holders" ] && [ -d "$S/class/block/sda/slaves" ] &&
	[ -z "$(find "$S/class/block/sda/holders" "$S/class/block/sda/slaves" -mindepth 1)" ]'
# all_links_inside: every symlink is relative and resolves to something inside the mount.
all_links_inside() {
	local real out
	real=$(cd "$mnt" && pwd -P)
	[ -z "$(find "$mnt" -path "$mnt/proc/[0-9]*/fd" -prune -o -type l -lname "/*" -print)" ] || return 1
	out=$(find "$mnt" -path "$mnt/proc/[0-9]*/fd" -prune -o -type l -print0 | xargs -0 realpath -e) || return 1
	[ -z "$(printf '%s\n' "$out" | grep -v "^$real/")" ]
}
check "links: every symlink is relative and resolves inside the mount" all_links_inside
check "mountinfo: the root line" \
	eq "$(cat "$root/proc/self/mountinfo")" "21 1 8:0 / / rw,relatime - ext4 /dev/sda rw"
check "module: refcnt counts loaded holders" eq "$(cat "$S/module/nvidia/refcnt")" "2"
check "module: initstate" eq "$(cat "$S/module/nvidia/initstate")" "live"
check "module: vfio_pci not loaded, no vfio-pci driver" \
	eval '[ ! -e "$S/module/vfio_pci" ] && [ ! -e "$PCI/drivers/vfio-pci" ]'
check "dev: no /dev/vfio/vfio while vfio is not loaded" test ! -e "$root/dev/vfio/vfio"
check "write-only: reading bind fails EACCES" \
	eval '! cat "$PCI/drivers/nvidia/bind" 2>"$tmp/err" && grep -q "Permission denied" "$tmp/err"'
check "write-only: reading drivers_probe fails EACCES" \
	eval '! cat "$PCI/drivers_probe" 2>/dev/null'
check "read-only: writing vendor fails EACCES" fails_with "Permission denied" "$GPU/vendor" "0x1234"
check "absent: files the spec does not create do not exist" \
	eval '[ ! -e "$GPU/remove" ] && [ ! -e "$GPU/reset" ] && [ ! -e "$S/class/drm" ] && [ ! -e "$root/proc/1/comm" ]'
check "absent: creating a file fails EACCES" fails_with "Permission denied" "$S/bus/pci/newfile" "x"
check "absent: mkdir outside sys/module fails EPERM" \
	eval '! mkdir "$S/bus/pci/foo" 2>"$tmp/err" && grep -q "Operation not permitted" "$tmp/err"'
check "absent: rm of a link fails" eval '! rm -f "$GPU/driver" 2>/dev/null && [ -L "$GPU/driver" ]'

snap0=$tmp/snap0
"$here/snapshot.sh" "$mnt" >"$snap0"
check "snapshot: lists files, contents and links" \
	eval 'grep -qx "f 644 sys/devices/pci0000:00/0000:00:03.1/0000:09:00.0/driver_override" "$snap0" &&
	      grep -qx "  | (null)" "$snap0" && grep -q "^l sys/bus/pci/devices/0000:09:00.0 -> " "$snap0" &&
	      grep -qx "f 200 sys/bus/pci/drivers_probe (write-only)" "$snap0"'

# ---------------------------------------------------------------------------
# driver_override
check "override: 'name\\n' sets" eval 'wr "$AUD/driver_override" "vfio-pci
" && eq "$(cat "$AUD/driver_override")" vfio-pci'
check "override: 'name' without newline sets" eval 'wr "$AUD/driver_override" "pci-stub" && eq "$(cat "$AUD/driver_override")" pci-stub'
check "override: stops at the first newline" eval 'wr "$AUD/driver_override" "a
b" && eq "$(cat "$AUD/driver_override")" a'
check "override: an empty open+truncate changes nothing" eval ': >"$AUD/driver_override" && eq "$(cat "$AUD/driver_override")" a'
check "override: '\\n' clears to (null)" eval 'wr "$AUD/driver_override" "
" && eq "$(cat "$AUD/driver_override")" "(null)"'
long=$(head -c 4095 /dev/zero | tr '\0' x)
check "override: 4095 bytes fail EINVAL" fails_with "Invalid argument" "$AUD/driver_override" "$long"
check "override: a failed write changes nothing" eq "$(cat "$AUD/driver_override")" "(null)"

# unbind / bind / drivers_probe
check "unbind: a device not bound to that driver fails ENODEV" \
	fails_with "No such device" "$PCI/drivers/nvidia/unbind" "0000:09:00.1"
check "unbind: an unknown device fails ENODEV" fails_with "No such device" "$PCI/drivers/nvidia/unbind" "0000:77:00.0"
check "bind: a bound, matching device fails EBUSY" fails_with "Device or resource busy" "$PCI/drivers/nvidia/bind" "0000:09:00.0"
check "bind: a non-matching driver fails ENODEV" fails_with "No such device" "$PCI/drivers/snd_hda_intel/bind" "0000:09:00.0"
check "unbind: through devices/BDF/driver/unbind" wr "$GPU/driver/unbind" "0000:09:00.0
"
check "unbind: driver link and the driver's device link are gone" \
	eval '[ ! -e "$GPU/driver" ] && [ ! -e "$PCI/drivers/nvidia/0000:09:00.0" ]'
check "bind: an unbound matching device binds" wr "$PCI/drivers/nvidia/bind" "0000:09:00.0"
check "bind: the links are back" \
	eval 'eq "$(link_of "$GPU/driver")" nvidia && [ -L "$PCI/drivers/nvidia/0000:09:00.0" ]'
check "override: survives unbind and bind" eval 'wr "$GPU/driver_override" nvidia && wr "$GPU/driver/unbind" 0000:09:00.0 &&
	wr "$PCI/drivers/nvidia/bind" 0000:09:00.0 && eq "$(cat "$GPU/driver_override")" nvidia && wr "$GPU/driver_override" "
"'
check "drivers_probe: an unknown device fails ENODEV" fails_with "No such device" "$PCI/drivers_probe" "0000:77:00.0"
check "drivers_probe: a bound device is left alone" eval 'wr "$PCI/drivers_probe" 0000:09:00.0 && eq "$(link_of "$GPU/driver")" nvidia'
wr "$GPU/driver_override" "vfio-pci" >/dev/null
wr "$GPU/driver/unbind" "0000:09:00.0" >/dev/null
check "drivers_probe: override to an unregistered driver succeeds and binds nothing" \
	eval 'wr "$PCI/drivers_probe" 0000:09:00.0 && [ ! -e "$GPU/driver" ]'
check "bind: nvidia refuses a device whose override names another driver (ENODEV)" \
	fails_with "No such device" "$PCI/drivers/nvidia/bind" "0000:09:00.0"

# modules
check "mkdir: an undeclared module fails ENOENT" \
	eval '! mkdir "$S/module/nosuch" 2>"$tmp/err" && grep -q "No such file" "$tmp/err"'
check "mkdir: a loaded module fails EEXIST" eval '! mkdir "$S/module/nvidia" 2>/dev/null'
check "mkdir: loading vfio_pci (and what it needs) succeeds" mkdir "$S/module/vfio_pci"
check "mkdir: dependencies were loaded, holders linked" \
	eval '[ -d "$S/module/vfio" ] && [ -d "$S/module/vfio_pci_core" ] && [ -L "$S/module/vfio_pci_core/holders/vfio_pci" ]'
check "mkdir: the new driver probed the waiting device at once" eq "$(link_of "$GPU/driver")" "vfio-pci"
check "vfio: dev/vfio/16 and dev/vfio/vfio exist" eval '[ -e "$root/dev/vfio/16" ] && [ -e "$root/dev/vfio/vfio" ]'
BR=$PCI/devices/0000:00:03.1
check "vfio: refuses a PCI bridge (bind fails EINVAL)" eval 'wr "$BR/driver/unbind" 0000:00:03.1 &&
	wr "$BR/driver_override" vfio-pci && fails_with "Invalid argument" "$PCI/drivers/vfio-pci/bind" 0000:00:03.1 &&
	wr "$BR/driver_override" "
" && wr "$PCI/drivers/pcieport/bind" 0000:00:03.1 && eq "$(link_of "$BR/driver")" pcieport'
check "vfio: unbinding the last group device removes dev/vfio/16" \
	eval 'wr "$GPU/driver/unbind" 0000:09:00.0 && [ ! -e "$root/dev/vfio/16" ] && [ -e "$root/dev/vfio/vfio" ]'
check "new_id: adds an id and probes matching devices" eval 'wr "$GPU/driver_override" "
" && wr "$PCI/drivers/vfio-pci/new_id" "10de 1e84" && eq "$(link_of "$GPU/driver")" vfio-pci'
check "new_id: an id that already matches fails EEXIST" fails_with "File exists" "$PCI/drivers/vfio-pci/new_id" "10de 1e84"
check "remove_id: removes it (ENODEV the second time)" eval 'wr "$PCI/drivers/vfio-pci/remove_id" "10de 1e84" &&
	fails_with "No such device" "$PCI/drivers/vfio-pci/remove_id" "10de 1e84"'
check "rmdir: a module with holders fails EAGAIN (delete_module O_NONBLOCK)" \
	eval '! rmdir "$S/module/nvidia" 2>"$tmp/err" && grep -q "Resource temporarily unavailable" "$tmp/err" &&
	grep -q "^rmdir sys/module/nvidia = -EAGAIN$" "$tmp/log"'
check "rmdir: anything but sys/module/NAME fails EPERM" \
	eval '! rmdir "$S/kernel/iommu_groups/16/devices" 2>"$tmp/err" && grep -q "not permitted" "$tmp/err"'
check "rmdir: holders first, then nvidia" \
	eval 'rmdir "$S/module/nvidia_drm" && rmdir "$S/module/nvidia_modeset" && rmdir "$S/module/nvidia_uvm" && rmdir "$S/module/nvidia"'
check "rmdir: nvidia's driver is gone and its device unbound" \
	eval '[ ! -e "$PCI/drivers/nvidia" ] && [ ! -e "$S/module/nvidia" ] && [ "$(link_of "$GPU/driver")" = vfio-pci ]'
check "rmdir: vfio_pci unbinds its devices" \
	eval 'rmdir "$S/module/vfio_pci" && [ ! -e "$GPU/driver" ] && [ ! -e "$PCI/drivers/vfio-pci" ]'
check "mkdir: loading nvidia_drm reloads nvidia, which probes the GPU" \
	eval 'mkdir "$S/module/nvidia_drm" && eq "$(link_of "$GPU/driver")" nvidia && [ -L "$S/module/nvidia_modeset/holders/nvidia_drm" ]'
mkdir "$S/module/nvidia_uvm"
rmdir "$S/module/vfio_pci_core" "$S/module/vfio_iommu_type1" 2>/dev/null
rmdir "$S/module/vfio" 2>/dev/null
check "snapshot: the full round trip restored the tree exactly" \
	eval '"$here/snapshot.sh" "$mnt" >"$tmp/snap1" && diff -u "$snap0" "$tmp/snap1"'

# ---------------------------------------------------------------------------
# Faults
F=$tmp/faults
echo "sys/bus/pci/drivers/nvidia/unbind EBUSY" >"$F"
check "fault: PATH ERRNO fails the write" fails_with "Device or resource busy" "$GPU/driver/unbind" "0000:09:00.0"
check "fault: the failed write had no effect" eq "$(link_of "$GPU/driver")" "nvidia"
echo "sys/bus/pci/devices/0000:09:00.0/driver/unbind EIO 1" >"$F"
check "fault: a path through symlinks matches, COUNT 1 fires once" \
	eval 'fails_with "Input/output error" "$GPU/driver/unbind" 0000:09:00.0 && wr "$GPU/driver/unbind" 0000:09:00.0'
check "fault: the counter survives re-reads of the same line" \
	eval 'wr "$PCI/drivers/nvidia/bind" 0000:09:00.0 && wr "$GPU/driver/unbind" 0000:09:00.0 && wr "$PCI/drivers/nvidia/bind" 0000:09:00.0'
echo "sys/module/vfio_pci ENOMEM" >"$F"
check "fault: mkdir of a module" eval '! mkdir "$S/module/vfio_pci" 2>/dev/null && [ ! -e "$S/module/vfio_pci" ]'
echo "sys/bus/pci/drivers/*/unbind EBUSY" >"$F"
check "fault: glob paths" fails_with "Device or resource busy" "$AUD/driver/unbind" "0000:09:00.1"
echo "this is not a fault" >"$F"
check "fault: a bad fault file fails writes EBADMSG" fails_with "Bad message" "$AUD/driver_override" "x"
echo "module-refcnt nvidia_uvm 1" >"$F"
check "fault: module-refcnt makes rmdir EAGAIN" \
	eval 'eq "$(cat "$S/module/nvidia_uvm/refcnt")" 1 && ! rmdir "$S/module/nvidia_uvm" 2>"$tmp/err" &&
	grep -q "Resource temporarily unavailable" "$tmp/err" && [ -d "$S/module/nvidia_uvm" ]'
echo "sys/module/nvidia_uvm EBUSY" >"$F"
check "fault: an explicit EBUSY fault on rmdir still gives EBUSY" \
	eval '! rmdir "$S/module/nvidia_uvm" 2>"$tmp/err" && grep -q "busy" "$tmp/err" && [ -d "$S/module/nvidia_uvm" ]'

echo "sys/bus/pci/drivers/nvidia/unbind hang 1" >"$F"
t0=$(now_ms)
( wr "$GPU/driver/unbind" 0000:09:00.0 >/dev/null; echo $? >"$tmp/hang.rc" ) &
hang_pid=$!
sleep 0.2
t1=$(now_ms)
check "fault: other operations go on during a hang" \
	eval 'eq "$(timeout 2 cat "$GPU/vendor")" 0x10de && [ $(($(now_ms) - t1)) -lt 500 ] && [ -L "$GPU/driver" ]'
wait "$hang_pid"
check "fault: the hung write completes after SECONDS" \
	eval 'eq "$(cat "$tmp/hang.rc")" 0 && [ $(($(now_ms) - t0)) -ge 1000 ] && [ ! -e "$GPU/driver" ]'
wr "$PCI/drivers/nvidia/bind" 0000:09:00.0 >/dev/null
echo "sys/bus/pci/drivers/nvidia/unbind hang 30" >"$F"
t0=$(now_ms)
(timeout -s KILL 0.3 bash -c "printf 0000:09:00.0 >'$GPU/driver/unbind'"; true) 2>/dev/null
check "fault: a killed writer is released at once and the write has no effect" \
	eval '[ $(($(now_ms) - t0)) -lt 2000 ] && eq "$(link_of "$GPU/driver")" nvidia'

# hang-d: a write stuck in a driver (D state) ignores the interrupt of a
# SIGKILL; the kernel keeps the killed writer until the reply, which comes
# after SECONDS, with the write done.
echo "sys/bus/pci/drivers/nvidia/unbind hang-d 2" >"$F"
t0=$(now_ms)
killed_writer 0.5 "$PCI/drivers/nvidia/unbind" 0000:09:00.0
sleep 0.8
wpid=$(cat "$tmp/w.pid" 2>/dev/null)
check "fault: hang-d: the SIGKILLed writer stays in D state, the device still bound" \
	eval '[ -n "$wpid" ] && eq "$(pstate "$wpid")" D && eq "$(link_of "$GPU/driver")" nvidia'
check "fault: hang-d: other operations go on meanwhile (they return while it is pending)" \
	eval 'eq "$(timeout 2 cat "$GPU/vendor")" 0x10de && timeout 2 ls "$PCI/drivers/nvidia" >/dev/null &&
	[ -L "$GPU/driver" ]'
check "fault: hang-d: after SECONDS the unbind takes effect and the writer is released" \
	eval 'wait_for 3 test ! -e "$GPU/driver" && [ $(($(now_ms) - t0)) -ge 1900 ] &&
	wait_for 1 eval "[ \"\$(pstate $wpid)\" != D ]" && [ ! -e "$PCI/drivers/nvidia/0000:09:00.0" ] &&
	grep -qxF "write sys/bus/pci/drivers/nvidia/unbind \"0000:09:00.0\" = 0" "$tmp/log"'
wait "$wjob"
wr "$PCI/drivers/nvidia/bind" 0000:09:00.0 >/dev/null
echo "sys/bus/pci/drivers/nvidia/unbind hang-d 0.5 1" >"$F"
t0=$(now_ms)
check "fault: hang-d: a writer that is not killed succeeds after SECONDS; COUNT 1 fires once" \
	eval 'wr "$GPU/driver/unbind" 0000:09:00.0 && [ $(($(now_ms) - t0)) -ge 450 ] && [ ! -e "$GPU/driver" ] &&
	wr "$PCI/drivers/nvidia/bind" 0000:09:00.0 && t0=$(now_ms) && wr "$GPU/driver/unbind" 0000:09:00.0 &&
	[ $(($(now_ms) - t0)) -lt 400 ] && wr "$PCI/drivers/nvidia/bind" 0000:09:00.0'

# apply-then-hang: the write takes effect at once, the reply is held
# (interruptible: a killed writer gets EINTR, the effect stays).
echo "sys/bus/pci/drivers/nvidia/unbind apply-then-hang 3" >"$F"
t0=$(now_ms)
(timeout -s KILL 0.5 bash -c "printf 0000:09:00.0 >'$GPU/driver/unbind'"; echo $? >"$tmp/ath.rc") 2>/dev/null
check "fault: apply-then-hang: the killed writer is released at once, the unbind stays done" \
	eval '[ $(($(now_ms) - t0)) -lt 2000 ] && eq "$(cat "$tmp/ath.rc")" 137 && [ ! -e "$GPU/driver" ] &&
	grep -qxF "apply-then-hang sys/bus/pci/drivers/nvidia/unbind = -EINTR" "$tmp/log"'
wr "$PCI/drivers/nvidia/bind" 0000:09:00.0 >/dev/null
for l in "sys/bus/pci/drivers/nvidia/unbind hang-d" "sys/bus/pci/drivers/nvidia/unbind apply-then-hang x" \
	"sys/bus/pci/drivers/nvidia/unbind hang-d -1"; do
	echo "$l" >"$F"
	check "fault: '$l' does not parse (EBADMSG)" fails_with "Bad message" "$AUD/driver_override" "x"
done
: >"$F"

printf 'probe-delay 300\n' >"$F"
wr "$GPU/driver/unbind" 0000:09:00.0 >/dev/null
check "fault: probe-delay: drivers_probe returns before the driver is attached" \
	eval 'wr "$PCI/drivers_probe" 0000:09:00.0 && [ ! -e "$GPU/driver" ]'
check "fault: probe-delay: the driver link appears later" wait_for 2 test -L "$GPU/driver"
printf 'no-bind 0000:09:00.0\n' >"$F"
wr "$GPU/driver/unbind" 0000:09:00.0 >/dev/null
check "fault: no-bind: drivers_probe succeeds but never binds" \
	eval 'wr "$PCI/drivers_probe" 0000:09:00.0 && sleep 0.3 && [ ! -e "$GPU/driver" ]'
: >"$F"
check "fault: an empty fault file is no faults" eval 'wr "$PCI/drivers_probe" 0000:09:00.0 && eq "$(link_of "$GPU/driver")" nvidia'
check "log: one line per write" grep -q '^write sys/bus/pci/drivers_probe "0000:09:00.0" = 0$' "$tmp/log"

# ---------------------------------------------------------------------------
# vtconsole: store_bind() always succeeds; read bind back
VT=$S/class/vtconsole
check "vtcon: class links, names and bind state" \
	eval 'eq "$(readlink "$VT/vtcon1")" ../../devices/virtual/vtconsole/vtcon1 &&
	eq "$(cat "$VT/vtcon0/name" "$VT/vtcon1/name" | tr "\n" "|")" "(S) dummy device|(M) frame buffer device|" &&
	eq "$(cat "$VT/vtcon0/bind" "$VT/vtcon1/bind" | tr -d "\n")" 01'
check "vtcon: unbinding fbcon hands the consoles to the system driver" \
	eval 'wr "$VT/vtcon1/bind" "0
" && eq "$(cat "$VT/vtcon0/bind" "$VT/vtcon1/bind" | tr -d "\n")" 10'
check "vtcon: the system driver cannot be commanded (write succeeds, nothing changes)" \
	eval 'wr "$VT/vtcon0/bind" 0 && eq "$(cat "$VT/vtcon0/bind")" 1'
echo "graphics-mode yes" >"$F"
check "vtcon: in KD_GRAPHICS mode binding succeeds but does nothing" \
	eval 'wr "$VT/vtcon1/bind" 1 && eq "$(cat "$VT/vtcon1/bind")" 0'
: >"$F"
check "vtcon: back in text mode binding works" eval 'wr "$VT/vtcon1/bind" 1 && eq "$(cat "$VT/vtcon1/bind")" 1'

# platform framebuffer
FB=$S/bus/platform/devices/efi-framebuffer.0
check "platform: efi-framebuffer.0 bound, relative links" \
	eval 'eq "$(readlink "$FB/driver")" ../../../bus/platform/drivers/efi-framebuffer &&
	eq "$(readlink "$FB")" ../../../devices/platform/efi-framebuffer.0 && eq "$(cat "$FB/modalias")" platform:efi-framebuffer'
check "platform: unbind through driver/unbind" eval 'wr "$FB/driver/unbind" efi-framebuffer.0 && [ ! -e "$FB/driver" ]'
check "platform: bind to a driver of another name fails ENODEV" \
	eval '! [ -e "$S/bus/platform/drivers/simple-framebuffer" ] && fails_with "No such device" "$S/bus/platform/drivers/efi-framebuffer/bind" simple-framebuffer.0'
check "platform: drivers_probe matches the driver by the device's base name" \
	eval 'wr "$S/bus/platform/drivers_probe" efi-framebuffer.0 && eq "$(link_of "$FB/driver")" efi-framebuffer'

# cpufreq: amd-pstate-epp
POL=$S/devices/system/cpu/cpufreq/policy3
check "cpufreq: files of an amd-pstate-epp policy" \
	eval 'eq "$(cat "$POL/scaling_driver" "$POL/scaling_available_governors" "$POL/scaling_governor" "$POL/energy_performance_preference" | tr "\n" "|")" \
	"amd-pstate-epp|performance powersave|powersave|balance_performance|" && eq "$(readlink "$S/devices/system/cpu/cpu3/cpufreq")" ../cpufreq/policy3 &&
	eq "$(cat "$S/devices/system/cpu/online")" 0-15'
check "cpufreq: an unknown governor fails EINVAL" fails_with "Invalid argument" "$POL/scaling_governor" "ondemand"
check "cpufreq: performance pins the EPP to performance" \
	eval 'wr "$POL/scaling_governor" "performance
" && eq "$(cat "$POL/energy_performance_preference")" performance'
check "cpufreq: changing the EPP under performance fails EBUSY" \
	fails_with "Device or resource busy" "$POL/energy_performance_preference" "power"
check "cpufreq: back to powersave restores the EPP" \
	eval 'wr "$POL/scaling_governor" powersave && eq "$(cat "$POL/energy_performance_preference")" balance_performance'
check "cpufreq: EPP default and bad values" \
	eval 'wr "$POL/energy_performance_preference" power && wr "$POL/energy_performance_preference" default &&
	eq "$(cat "$POL/energy_performance_preference")" balance_performance && fails_with "Invalid argument" "$POL/energy_performance_preference" fast'

# hugepages: a fragmented pool
HP=$S/kernel/mm/hugepages/hugepages-2048kB
NHP=$S/devices/system/node/node0/hugepages/hugepages-2048kB
check "hugepages: meminfo shows the default size" \
	eval 'grep -q "^Hugepagesize: *2048 kB$" "$root/proc/meminfo" && grep -q "^HugePages_Total: *0$" "$root/proc/meminfo"'
check "hugepages: a request beyond free contiguous memory comes up short, without error" \
	eval 'wr "$HP/nr_hugepages" 8192 && eq "$(cat "$HP/nr_hugepages")" 4096'
check "hugepages: compact_memory takes 1 only" \
	eval 'fails_with "Invalid argument" "$root/proc/sys/vm/compact_memory" 2 && wr "$root/proc/sys/vm/compact_memory" 1'
check "hugepages: after compaction the request is met" \
	eval 'wr "$HP/nr_hugepages" 8192 && eq "$(cat "$HP/nr_hugepages" "$NHP/nr_hugepages" "$HP/free_hugepages" | tr "\n" " ")" "8192 8192 8192 " &&
	grep -q "^HugePages_Total: *8192$" "$root/proc/meminfo" && grep -q "^Hugetlb: *16777216 kB$" "$root/proc/meminfo"'
check "hugepages: sysfs wants a plain number, proc allows spaces" \
	eval 'fails_with "Invalid argument" "$HP/nr_hugepages" " 10" && fails_with "Invalid argument" "$HP/nr_hugepages" "x" &&
	wr "$root/proc/sys/vm/nr_hugepages" " 8000 
" && eq "$(cat "$HP/nr_hugepages")" 8000'
echo "hugepages-used 2048 0 100" >"$F"
check "hugepages: shrinking below what is in use leaves surplus pages" \
	eval 'wr "$HP/nr_hugepages" 0 && eq "$(cat "$HP/nr_hugepages" "$HP/surplus_hugepages" "$root/proc/sys/vm/nr_hugepages" "$HP/free_hugepages" | tr "\n" " ")" "100 100 0 0 "'
: >"$F"
check "hugepages: surplus pages are freed once no longer used" eq "$(cat "$HP/nr_hugepages" "$HP/surplus_hugepages" | tr '\n' ' ')" "0 0 "
check "hugepages: per-node writes and 1 GiB pages" \
	eval 'wr "$NHP/nr_hugepages" 10 && eq "$(cat "$HP/nr_hugepages")" 10 && wr "$NHP/nr_hugepages" 0 &&
	wr "$S/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages" 2 && eq "$(cat "$S/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages")" 2 &&
	wr "$S/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages" 0'
echo "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages apply-then-hang 3" >"$F"
t0=$(now_ms)
(timeout -s KILL 0.5 sh -c 'echo 10 >"$1"' sh "$HP/nr_hugepages"; echo $? >"$tmp/ath.rc") 2>/dev/null
check "fault: apply-then-hang: nr_hugepages grew although the killed writer never returned" \
	eval 'eq "$(cat "$tmp/ath.rc")" 137 && eq "$(cat "$HP/nr_hugepages" "$NHP/nr_hugepages" | tr "\n" " ")" "10 10 " &&
	[ $(($(now_ms) - t0)) -lt 2000 ]'
echo "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages apply-then-hang 1 # re-armed" >"$F"
t0=$(now_ms)
( wr "$HP/nr_hugepages" 20 >/dev/null; echo $? >"$tmp/ath.rc" ) &
ath_pid=$!
sleep 0.3
check "fault: apply-then-hang: the pool has grown while the writer still waits" \
	eval 'eq "$(cat "$HP/nr_hugepages")" 20 && kill -0 "$ath_pid" 2>/dev/null'
wait "$ath_pid"
check "fault: apply-then-hang: a writer that is not killed succeeds after SECONDS" \
	eval 'eq "$(cat "$tmp/ath.rc")" 0 && [ $(($(now_ms) - t0)) -ge 950 ]'
: >"$F"
wr "$HP/nr_hugepages" 0 >/dev/null
check "drop_caches: 1 to 4" eval 'fails_with "Invalid argument" "$root/proc/sys/vm/drop_caches" 5 && wr "$root/proc/sys/vm/drop_caches" 3'

stop
check "unmount ends the daemon" wait_for 2 eval '! pgrep -f -- "--faults $tmp/faults" >/dev/null'

# ---------------------------------------------------------------------------
# rx590: acpi-cpufreq, a pool that needs drop_caches, vfio-pci removing nothing
sed 's/^hugepool 2048 node=0 .*/hugepool 2048 node=0 nr=0 max=1024 compact=2048 drop=6144/' "$here/hosts/rx590.spec" >"$tmp/rx.spec"
start "$tmp/rx.spec" || bad "mount rx590.spec (with a pool that needs drop_caches)"
if [ -n "$mnt" ]; then
	POL=$mnt/sys/devices/system/cpu/cpufreq/policy0
	HP=$mnt/sys/kernel/mm/hugepages/hugepages-2048kB
	check "rx590: acpi-cpufreq lists its governors (with the kernel's trailing space), no EPP" \
		eval 'eq "$(cat "$POL/scaling_available_governors")" "conservative ondemand userspace powersave performance schedutil " &&
		[ ! -e "$POL/energy_performance_preference" ] && wr "$POL/scaling_governor" performance && eq "$(cat "$POL/scaling_governor")" performance'
	check "rx590: compaction is not enough, drop_caches is" \
		eval 'wr "$HP/nr_hugepages" 4096 && eq "$(cat "$HP/nr_hugepages")" 1024 && wr "$mnt/proc/sys/vm/compact_memory" 1 &&
		wr "$HP/nr_hugepages" 4096 && eq "$(cat "$HP/nr_hugepages")" 2048 && wr "$mnt/proc/sys/vm/drop_caches" 3 &&
		wr "$HP/nr_hugepages" 4096 && eq "$(cat "$HP/nr_hugepages")" 4096'
	check "rx590: vfio_pci loaded, dev/vfio/vfio present" eval '[ -e "$mnt/dev/vfio/vfio" ] && [ -d "$mnt/sys/bus/pci/drivers/vfio-pci" ]'
	stop
fi

# win10 with aperture=yes on vfio-pci and a process holding the GPU
sed 's/^driver vfio-pci module=vfio_pci ids=none$/& aperture=yes/' "$here/hosts/win10.spec" >"$tmp/ap.spec"
printf 'process 1234 comm=Xorg fds=0:/dev/null,7:/dev/dri/card0,9:/dev/nvidia0\n' >>"$tmp/ap.spec"
start "$tmp/ap.spec" || bad "mount the aperture spec"
if [ -n "$mnt" ]; then
	P=$mnt/sys/bus/pci
	check "process: comm and fd links (absolute, as in procfs)" \
		eval 'eq "$(cat "$mnt/proc/1234/comm")" Xorg && eq "$(readlink "$mnt/proc/1234/fd/7")" /dev/dri/card0 &&
		eq "$(ls "$mnt/proc/1234/fd" | tr "\n" " ")" "0 7 9 "'
	echo "no-process 1234" >"$tmp/faults"
	check "process: no-process PID makes it exit" eval 'wr "$P/drivers_probe" 0000:09:00.0 && [ ! -e "$mnt/proc/1234" ]'
	: >"$tmp/faults"
	check "aperture: vfio-pci taking the boot GPU unregisters the firmware framebuffer" \
		eval 'mkdir "$mnt/sys/module/vfio_pci" && wr "$P/devices/0000:09:00.0/driver_override" vfio-pci &&
		wr "$P/devices/0000:09:00.0/driver/unbind" 0000:09:00.0 && wr "$P/drivers_probe" 0000:09:00.0 &&
		[ ! -e "$mnt/sys/bus/platform/devices/efi-framebuffer.0" ] && [ ! -e "$mnt/sys/devices/platform/efi-framebuffer.0" ]'
	check "aperture: ... and it cannot be bound again (ENODEV)" \
		fails_with "No such device" "$mnt/sys/bus/platform/drivers/efi-framebuffer/bind" efi-framebuffer.0
	stop
fi

# no-process lines already in the fault file when the host is mounted: the
# process never shows, without any write first.  And a hang-d pending when the
# file system is unmounted.
cp "$here/hosts/win10.spec" "$tmp/np.spec"
printf '%s\n' 'process 1301 comm=gnome-shell fds=9:/dev/dri/card0' 'process 1302 comm=Xwayland fds=3:/dev/dri/card0' >>"$tmp/np.spec"
printf 'module-refcnt nvidia 3\nno-process 1301\n' >"$tmp/faults"
start "$tmp/np.spec" || bad "mount the no-process spec"
if [ -n "$mnt" ]; then
	# holders: what a program finds by listing proc and opening each proc/PID/fd
	# (the globs read both directories with readdir)
	holders() {
		local d fd
		for d in "$mnt"/proc/*; do
			case ${d##*/} in *[!0-9]*) continue ;; esac
			for fd in "$d"/fd/*; do
				[ -L "$fd" ] && printf '%s:%s ' "${d##*/}" "$(readlink "$fd")"
			done
		done
	}
	check "no-process at mount time: readdir of proc does not list the PID, proc/PID/fd is gone" \
		eval 'eq "$(holders)" "1302:/dev/dri/card0 " && ! ls "$mnt/proc/1301/fd" 2>/dev/null &&
		[ ! -e "$mnt/proc/1301/comm" ] && eq "$(cat "$mnt/sys/module/nvidia/refcnt")" 5'
	printf 'module-refcnt nvidia 3\n' >"$tmp/faults"
	check "no-process: without the line the process is back at the next readdir" \
		eq "$(holders)" "1301:/dev/dri/card0 1302:/dev/dri/card0 "
	printf 'no-process 1301\n' >"$tmp/faults"
	check "no-process: a stat alone sees it gone again" eval '[ ! -e "$mnt/proc/1301" ] && [ -d "$mnt/proc/1302" ]'

	: >"$tmp/faults"
	echo "sys/bus/pci/drivers/nvidia/unbind hang-d 60" >"$tmp/faults"
	log0=$(wc -l <"$tmp/log")
	killed_writer 0.3 "$mnt/sys/bus/pci/drivers/nvidia/unbind" 0000:09:00.0
	sleep 0.5
	wpid=$(cat "$tmp/w.pid" 2>/dev/null)
	check "hang-d: the SIGKILLed writer waits in D state" eval '[ -n "$wpid" ] && eq "$(pstate "$wpid")" D'
	t0=$(now_ms)
	# as the test libraries stop it: the held file makes -u fail EBUSY, so umount -l
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
	mnt=""
	check "hang-d: unmounting answers it EINTR at once: writer released, daemon gone, no effect" \
		eval 'wait_for 3 eval "! pgrep -f -- \"--faults \$tmp/faults\" >/dev/null" && [ $(($(now_ms) - t0)) -lt 5000 ] &&
		[ "$(pstate "$wpid")" != D ] && tail -n +$((log0 + 1)) "$tmp/log" >"$tmp/log.hd" &&
		grep -qxF "hang-d sys/bus/pci/drivers/nvidia/unbind = -EINTR" "$tmp/log.hd" &&
		! grep -q "^unbound nvidia 0000:09:00.0" "$tmp/log.hd"'
	wait "$wjob"
	: >"$tmp/faults"
fi

# ---------------------------------------------------------------------------
# The block layer, swap, btrfs, consoles and cgroups: what a program needs to
# find the PCI device under a file system, swap area, dm or md device.
bad_spec() { # bad_spec NAME PATTERN LINES...: --check fails, naming the line
	local name=$1 pat=$2
	shift 2
	printf '%s\n' "$@" >"$tmp/$name.spec"
	"$sim" --check --spec "$tmp/$name.spec" >"$tmp/$name.err" 2>&1 && { echo "  (accepted)"; return 1; }
	grep -q -- "$pat" "$tmp/$name.err" || { echo "  (got: $(cat "$tmp/$name.err"))"; return 1; }
}
DISK='pci 0000:00:17.0 class=0x010601 vendor=0x1022 device=0x7901
block 8:0 sda parent=0000:00:17.0
block 8:2 sda2 parent=sda'
check "spec: a block device needs exactly one of parent= and slaves=" \
	eval 'bad_spec b1 "b1.spec:4: .*not both" "$DISK" "block 254:0 dm-0 parent=sda slaves=sda2" &&
	bad_spec b2 "b2.spec:4: .*not neither" "$DISK" "block 254:0 dm-0"'
check "spec: slaves must be declared before" \
	bad_spec b3 "b3.spec:1: slaves: sda2 is not a block device declared before" "block 254:0 dm-0 slaves=sda2" "$DISK"
check "spec: dm_name= is only for virtual devices" \
	bad_spec b4 "b4.spec:3: dm_name=" "$DISK dm_name=x"
check "spec: mount of an undeclared MAJ:MIN needs major 0" \
	bad_spec b5 "b5.spec:4: 8:5 is not a declared block device" "$DISK" "mount 8:5 / ext4"
check "spec: a swap partition must be a declared block device" \
	bad_spec b6 "b6.spec:4: swap partition /dev/sdb1" "$DISK" "swap /dev/sdb1"
check "spec: btrfs devices must be declared" \
	bad_spec b7 "b7.spec:4: devices: nvme0n1p2 is not" "$DISK" "btrfs 0a1b2c3d-1111-2222-3333-444455556666 devices=nvme0n1p2"
check "spec: fb needs a parent bound to a driver" \
	bad_spec b8 "b8.spec:2: parent 0000:03:00.0 has no driver=" \
	"pci 0000:03:00.0 class=0x030000 vendor=0x1002 device=0x67df" "fb 0 parent=0000:03:00.0"
check "spec: cgroup= must be absolute" bad_spec b9 "b9.spec:1: cgroup=" "process 1 comm=init cgroup=init.scope"

cat >"$tmp/storage.spec" <<'EOF'
driver ahci
driver nvme
driver serial
driver amdgpu
pci 0000:00:17.0 class=0x010601 vendor=0x1022 device=0x7901 group=5 driver=ahci
pci 0000:00:01.1 class=0x060400 vendor=0x1022 device=0x1483 group=2
pci 0000:01:00.0 class=0x010802 vendor=0x144d device=0xa808 group=12 parent=0000:00:01.1 driver=nvme
pci 0000:02:00.0 class=0x010802 vendor=0x144d device=0xa809 group=13 parent=0000:00:01.1 driver=nvme
pci 0000:05:00.0 class=0x070002 vendor=0x1415 device=0xc158 group=7 driver=serial
pci 0000:03:00.0 class=0x030000 vendor=0x1002 device=0x67df group=14 driver=amdgpu boot_vga=1
block 8:0 sda parent=0000:00:17.0
block 8:2 sda2 parent=sda
block 8:3 sda3 parent=sda
block 259:0 nvme0n1 parent=0000:01:00.0
block 259:1 nvme0n1p1 parent=nvme0n1
block 259:2 nvme0n1p2 parent=nvme0n1
block 259:3 nvme1n1 parent=0000:02:00.0
block 259:4 nvme1n1p1 parent=nvme1n1
block 254:0 dm-0 slaves=sda2 dm_name=cryptroot dm_uuid=CRYPT-LUKS2-0a1b-cryptroot
block 254:1 dm-1 slaves=dm-0 dm_name=vg-root
block 9:0 md0 slaves=nvme0n1p1,nvme1n1p1 md_level=raid1
block 9:1 md0p1 parent=md0
block 252:0 zram0 slaves=none
mount 254:1 / ext4 source=/dev/mapper/vg-root
mount 9:1 /home xfs
mount 0:27 /data btrfs source=/dev/nvme0n1p2
mount 0:30 /tmp tmpfs
swap /dev/sda3
swap /dev/zram0 priority=100 size=4194300 used=1024
swap "/swap file" type=file
btrfs 0a1b2c3d-1111-2222-3333-444455556666 devices=nvme0n1p2
console tty0 ttyS4
tty ttyS4 parent=0000:05:00.0
tty tty0
fb 0 parent=0000:03:00.0
process 4242 comm=gdm cgroup=/system.slice/gdm.service
process 4243 comm=bash cgroup=/user.slice/user-1000.slice/session-2.scope
process 4244 comm=sleep
EOF
check "spec: the storage host parses" "$sim" --check --spec "$tmp/storage.spec"
start "$tmp/storage.spec" || bad "mount the storage host"
if [ -n "$mnt" ]; then
	S=$mnt/sys
	real=$(cd "$mnt" && pwd -P)
	# rp PATH: realpath relative to the mount, or ERR
	rp() { local r; r=$(realpath -e "$mnt/$1" 2>/dev/null) || { echo ERR; return; }; echo "${r#"$real"/}"; }
	check "block: dev/block of a partition resolves under the PCI device of its disk" \
		eq "$(rp sys/dev/block/8:2)" "sys/devices/pci0000:00/0000:00:17.0/block/sda/sda2"
	check "block: class/block of a partition behind a bridge, and its dev" \
		eval 'eq "$(rp sys/class/block/nvme0n1p2)" sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0/block/nvme0n1/nvme0n1p2 &&
		eq "$(cat "$S/class/block/nvme0n1p2/dev" "$S/class/block/nvme0n1p2/partition" | tr "\n" " ")" "259:2 2 "'
	check "block: a partition has holders/ but no slaves/ and no sys/block entry (add_partition)" \
		eval '[ -d "$S/class/block/sda3/holders" ] && [ -z "$(ls -A "$S/class/block/sda3/holders")" ] &&
		[ ! -e "$S/class/block/sda3/slaves" ] && [ ! -e "$S/block/sda3" ]'
	check "dm: dev/block resolves to sys/devices/virtual/block/dm-0" \
		eval 'eq "$(rp sys/dev/block/254:0)" sys/devices/virtual/block/dm-0 && eq "$(cat "$S/dev/block/254:0/dev")" 254:0 &&
		eq "$(rp sys/block/dm-0)" sys/devices/virtual/block/dm-0 && eq "$(rp sys/class/block/dm-0)" sys/devices/virtual/block/dm-0'
	check "dm: slaves/sda2 is a relative link to the partition" \
		eval 'eq "$(readlink "$S/class/block/dm-0/slaves/sda2")" ../../../../pci0000:00/0000:00:17.0/block/sda/sda2 &&
		eq "$(rp sys/class/block/dm-0/slaves/sda2)" sys/devices/pci0000:00/0000:00:17.0/block/sda/sda2'
	check "dm: the slave's holders/dm-0 links back" \
		eval 'eq "$(ls "$S/class/block/sda2/holders")" dm-0 && eq "$(rp sys/class/block/sda2/holders/dm-0)" sys/devices/virtual/block/dm-0'
	check "dm: dm/name and dm/uuid" \
		eq "$(cat "$S/class/block/dm-0/dm/name" "$S/class/block/dm-0/dm/uuid" | tr '\n' ' ')" "cryptroot CRYPT-LUKS2-0a1b-cryptroot "
	check "dm: stacking: dm-1 on dm-0, dm-0 holds dm-1, dm-1 holds nothing" \
		eval 'eq "$(rp sys/block/dm-1/slaves/dm-0)" sys/devices/virtual/block/dm-0 && eq "$(ls "$S/block/dm-0/holders")" dm-1 &&
		[ -z "$(ls -A "$S/block/dm-1/holders")" ]'
	check "md: two slaves, md/level, a partition of the md device" \
		eval 'eq "$(ls "$S/block/md0/slaves" | tr "\n" " ")" "nvme0n1p1 nvme1n1p1 " && eq "$(cat "$S/block/md0/md/level")" raid1 &&
		eq "$(ls "$S/class/block/nvme1n1p1/holders")" md0 && eq "$(rp sys/dev/block/9:1)" sys/devices/virtual/block/md0/md0p1 &&
		eq "$(rp sys/block/md0/slaves/nvme1n1p1)" sys/devices/pci0000:00/0000:00:01.1/0000:02:00.0/block/nvme1n1/nvme1n1p1'
	check "block: slaves=none is a virtual disk without slaves (zram)" \
		eval 'eq "$(rp sys/dev/block/252:0)" sys/devices/virtual/block/zram0 && [ -d "$S/block/zram0/slaves" ] &&
		[ -z "$(ls -A "$S/block/zram0/slaves")" ]'
	check "block: every block device is in class/block and dev/block, disks in sys/block" \
		eval 'eq "$(ls "$S/class/block" | wc -l) $(ls "$S/dev/block" | wc -l) $(ls "$S/block" | tr "\n" " ")" \
		"13 13 dm-0 dm-1 md0 nvme0n1 nvme1n1 sda zram0 "'
	check "mountinfo: source= (dm), the default /dev/NAME, an anonymous btrfs, tmpfs" \
		eq "$(cat "$mnt/proc/self/mountinfo")" "21 1 254:1 / / rw,relatime - ext4 /dev/mapper/vg-root rw
22 21 9:1 / /home rw,relatime - xfs /dev/md0p1 rw
23 21 0:27 / /data rw,relatime - btrfs /dev/nvme0n1p2 rw
24 21 0:30 / /tmp rw,relatime - tmpfs tmpfs rw"
	check "swaps: the kernel's columns, automatic priorities, an escaped file name" \
		eq "$(cat "$mnt/proc/swaps")" "$(printf '%s\n' 'Filename				Type		Size		Used		Priority' \
		'/dev/sda3                               partition	8388604		0		-2' \
		'/dev/zram0                              partition	4194300		1024		100' \
		'/swap\040file                           file		8388604		0		-3')"
	check "swaps: meminfo SwapTotal and SwapFree" \
		eval 'grep -q "^SwapTotal: *20971508 kB$" "$mnt/proc/meminfo" && grep -q "^SwapFree: *20970484 kB$" "$mnt/proc/meminfo"'
	check "btrfs: sys/fs/btrfs/UUID/devices/NAME links to the member device" \
		eq "$(rp sys/fs/btrfs/0a1b2c3d-1111-2222-3333-444455556666/devices/nvme0n1p2)" \
		sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0/block/nvme0n1/nvme0n1p2
	check "console: class/tty/console/active" \
		eval 'eq "$(cat "$S/class/tty/console/active")" "tty0 ttyS4" && eq "$(rp sys/class/tty/console)" sys/devices/virtual/tty/console'
	check "tty: a serial card's tty has a device link to it; a virtual tty has none" \
		eval 'eq "$(rp sys/class/tty/ttyS4)" sys/devices/pci0000:00/0000:05:00.0/tty/ttyS4 &&
		eq "$(rp sys/class/tty/ttyS4/device)" sys/devices/pci0000:00/0000:05:00.0 &&
		eq "$(rp sys/class/tty/tty0)" sys/devices/virtual/tty/tty0 && [ ! -e "$S/class/tty/tty0/device" ]'
	check "fb: class/graphics/fb0/device links to the GPU, dev is 29:0" \
		eval 'eq "$(rp sys/class/graphics/fb0/device)" sys/devices/pci0000:00/0000:03:00.0 && eq "$(cat "$S/class/graphics/fb0/dev")" 29:0'
	check "fb: unbinding the GPU's driver removes fb0, binding it back restores it" \
		eval 'wr "$S/bus/pci/drivers/amdgpu/unbind" 0000:03:00.0 && [ ! -e "$S/class/graphics/fb0" ] &&
		[ ! -e "$S/devices/pci0000:00/0000:03:00.0/graphics" ] &&
		wr "$S/bus/pci/drivers/amdgpu/bind" 0000:03:00.0 && [ -L "$S/class/graphics/fb0/device" ]'
	check "tty: unbinding the serial card removes ttyS4" \
		eval 'wr "$S/bus/pci/drivers/serial/unbind" 0000:05:00.0 && [ ! -e "$S/class/tty/ttyS4" ] &&
		wr "$S/bus/pci/drivers/serial/bind" 0000:05:00.0 && [ -d "$S/class/tty/ttyS4" ]'
	check "process: cgroup= gives proc/PID/cgroup (v2), the root without it" \
		eval 'eq "$(cat "$mnt/proc/4242/cgroup")" "0::/system.slice/gdm.service" &&
		eq "$(cat "$mnt/proc/4243/cgroup")" "0::/user.slice/user-1000.slice/session-2.scope" &&
		eq "$(cat "$mnt/proc/4244/cgroup")" "0::/"'
	check "links: every symlink of the storage host is relative and resolves inside the mount" all_links_inside
	check "snapshot: lists the block layer" \
		eval '"$here/snapshot.sh" "$mnt" >"$tmp/snap-st" &&
		grep -qx "l sys/devices/virtual/block/dm-0/slaves/sda2 -> ../../../../pci0000:00/0000:00:17.0/block/sda/sda2" "$tmp/snap-st" &&
		grep -qx "d 755 sys/devices/virtual/block/dm-1/holders" "$tmp/snap-st" && grep -qx "f 444 proc/swaps" "$tmp/snap-st"'

	# unreadable PATH: open, opendir and readlink fail EACCES at PATH and below
	F=$tmp/faults
	echo "unreadable sys/dev/block" >"$F"
	check "fault: unreadable dir: opendir fails EACCES, stat works" \
		eval '! ls "$S/dev/block" 2>"$tmp/err" && grep -q "Permission denied" "$tmp/err" && [ -d "$S/dev/block" ]'
	check "fault: unreadable dir: readlink and realpath below it fail" \
		eval '! readlink "$S/dev/block/8:2" >/dev/null && eq "$(rp sys/dev/block/8:2)" ERR &&
		! cat "$S/dev/block/8:2/dev" 2>"$tmp/err" && grep -q "Permission denied" "$tmp/err"'
	check "fault: unreadable dir: other paths to the same device still work" \
		eq "$(cat "$S/class/block/sda2/dev")" 8:2
	echo "unreadable /proc/self/mountinfo" >"$F"
	check "fault: unreadable file: open fails EACCES, other files read" \
		eval '! cat "$mnt/proc/self/mountinfo" 2>"$tmp/err" && grep -q "Permission denied" "$tmp/err" &&
		cat "$mnt/proc/swaps" >/dev/null'
	echo "unreadable sys/class/block/sda2" >"$F"
	check "fault: an unreadable link: readlink fails, and so does its target reached directly" \
		eval '! readlink "$S/class/block/sda2" >/dev/null && ! cat "$S/devices/pci0000:00/0000:00:17.0/block/sda/sda2/dev" 2>/dev/null &&
		eq "$(cat "$S/devices/pci0000:00/0000:00:17.0/block/sda/dev")" 8:0'
	echo "unreadable sys/devices/virtual/block/*/slaves" >"$F"
	check "fault: an unreadable glob covers what is below its matches" \
		eval '! ls "$S/devices/virtual/block/dm-1/slaves" 2>/dev/null && ! readlink "$S/devices/virtual/block/dm-1/slaves/dm-0" >/dev/null &&
		ls "$S/devices/virtual/block/dm-1/holders" >/dev/null'
	: >"$F"
	check "fault: without the line everything reads again" \
		eval 'eq "$(rp sys/dev/block/8:2)" sys/devices/pci0000:00/0000:00:17.0/block/sda/sda2 &&
		[ -n "$(cat "$mnt/proc/self/mountinfo")" ] && eq "$(ls "$S/block/dm-1/slaves")" dm-0'
	stop
fi

# ---------------------------------------------------------------------------
# proc/cmdline, proc/cpuinfo and reset_method: what `vfiohook groups` reads.
check "spec: cmdline and cpu-vendor only once, reset_method names only" \
	eval 'bad_spec c1 "c1.spec:2: cmdline declared twice" "cmdline a" "cmdline b" &&
	bad_spec c2 "c2.spec:2: cpu-vendor declared twice" "cpu-vendor GenuineIntel" "cpu-vendor AuthenticAMD" &&
	bad_spec c3 "c3.spec:1: reset_method=flr,,bus" "pci 0000:00:01.0 class=0x030000 vendor=0x10de device=0x1e84 reset_method=flr,,bus"'
cat >"$tmp/info.spec" <<'EOF'
pci 0000:00:01.0 class=0x030000 vendor=0x10de device=0x1e84 group=1 reset_method=flr,bus
pci 0000:00:02.0 class=0x040300 vendor=0x10de device=0x10f8 group=1
cpus online=0-2
cmdline BOOT_IMAGE=/boot/vmlinuz root=/dev/sda2 ro "quiet"
cpu-vendor GenuineIntel
EOF
: >"$tmp/faults"
start "$tmp/info.spec" || bad "mount the info host"
if [ -n "$mnt" ]; then
	check "proc/cmdline: the rest of the line, key=value words included, quotes removed" \
		eq "$(cat "$mnt/proc/cmdline")" "BOOT_IMAGE=/boot/vmlinuz root=/dev/sda2 ro quiet"
	check "proc/cpuinfo: one block per online CPU with vendor_id" \
		eval 'eq "$(grep -c "^processor" "$mnt/proc/cpuinfo")" 3 &&
		eq "$(sed -n "s/^vendor_id\t: //p" "$mnt/proc/cpuinfo" | sort -u)" GenuineIntel'
	check "reset_method: the names space-separated; absent when not declared" \
		eval 'eq "$(cat "$mnt/sys/bus/pci/devices/0000:00:01.0/reset_method")" "flr bus" &&
		[ ! -e "$mnt/sys/bus/pci/devices/0000:00:02.0/reset_method" ]'
	stop
fi
start "$here/hosts/rx590.spec" || bad "mount rx590"
if [ -n "$mnt" ]; then
	check "proc/cmdline and proc/cpuinfo: absent when not declared" \
		eval '[ ! -e "$mnt/proc/cmdline" ] && [ ! -e "$mnt/proc/cpuinfo" ]'
	stop
fi

# ---------------------------------------------------------------------------
# input: evdev devices and their udev names, what `vfiohook doctor` looks for.
check "spec: input names and event numbers only once" \
	eval 'bad_spec i1 "i1.spec:2: input usb-kbd-event-kbd declared twice" "input usb-kbd-event-kbd" "input usb-kbd-event-kbd" &&
	bad_spec i2 "i2.spec:2: event3 declared twice" "input a-event-kbd event=3" "input b-event-mouse event=3" &&
	bad_spec i3 "i3.spec:1: .a/b. is not a /dev/input/by-id name" "input a/b"'
cat >"$tmp/input.spec" <<'EOF'
input usb-Logitech_USB_Keyboard-event-kbd
input usb-Logitech_G203-event-mouse event=7
EOF
start "$tmp/input.spec" || bad "mount the input host"
if [ -n "$mnt" ]; then
	check "input: dev/input/by-id/NAME links to ../eventN (N in spec order unless event= gives it)" \
		eval 'eq "$(readlink "$mnt/dev/input/by-id/usb-Logitech_USB_Keyboard-event-kbd")" ../event0 &&
		eq "$(readlink "$mnt/dev/input/by-id/usb-Logitech_G203-event-mouse")" ../event7 &&
		[ -e "$mnt/dev/input/by-id/usb-Logitech_G203-event-mouse" ] && [ ! -e "$mnt/dev/input/event1" ]'
	stop
fi

# ---------------------------------------------------------------------------
# core: CPU topology and L3 groups, what `vfiohook pin` reads.
check "spec: a core's CPUs once, online, in its l3=; l3= the same for the CPUs sharing it" \
	eval 'bad_spec t1 "t1.spec:2: a CPU of core 1 is in core 0 (line 1) too" "core 0 cpus=0,2" "core 1 cpus=1,2" &&
	bad_spec t2 "t2.spec:2: core 0 of package 0 declared twice" "core 0 cpus=0" "core 0 cpus=1" &&
	bad_spec t3 "t3.spec:1: l3=2-3 does not hold the core" "core 0 cpus=0,1 l3=2-3" &&
	bad_spec t4 "t4.spec:2: core 1 has CPUs that are not online" "cpus online=0-1" "core 1 cpus=1-2" &&
	bad_spec t5 "t5.spec:1: core 0 shares its L3 with core 1 (line 2), whose l3= differs" "core 0 cpus=0,2 l3=0-3" "core 1 cpus=1,3 l3=1,3"'
cat >"$tmp/topo.spec" <<'EOF'
cpus online=0-7
core 0 cpus=0,4 l3=0-1,4-5
core 1 cpus=1,5 l3=0-1,4-5
core 0 package=1 die=1 cpus=2,6 l3=2-3,6-7
core 1 package=1 die=1 cpus=3,7 l3=2-3,6-7
EOF
start "$tmp/topo.spec" || bad "mount the topology host"
if [ -n "$mnt" ]; then
	C=$mnt/sys/devices/system/cpu
	check "core: cpuN/topology of both threads (core_id, package, die, siblings)" \
		eval 'eq "$(cat $C/cpu6/topology/{core_id,physical_package_id,die_id,thread_siblings_list,core_cpus_list} | tr "\n" " ")" "0 1 1 2,6 2,6 " &&
		eq "$(cat $C/cpu1/topology/thread_siblings_list $C/cpu5/topology/{core_id,physical_package_id} | tr "\n" " ")" "1,5 1 0 "'
	check "core: cpuN/cache/index3 with level 3 and the L3's shared_cpu_list" \
		eval 'eq "$(cat $C/cpu5/cache/index3/{level,type,shared_cpu_list} | tr "\n" " ")" "3 Unified 0-1,4-5 " &&
		eq "$(cat $C/cpu3/cache/index3/shared_cpu_list)" "2-3,6-7"'
	stop
fi
start "$here/hosts/rx590.spec" || bad "mount rx590"
if [ -n "$mnt" ]; then
	check "core: no topology nor cache directory without core lines" \
		eval '[ -d "$mnt/sys/devices/system/cpu/cpu0" ] && [ ! -e "$mnt/sys/devices/system/cpu/cpu0/topology" ] &&
		[ ! -e "$mnt/sys/devices/system/cpu/cpu0/cache" ]'
	stop
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
