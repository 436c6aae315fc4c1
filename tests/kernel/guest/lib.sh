# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# Helpers for the test scripts that run inside the guests (sourced by busybox
# sh in tier 2 and by bash in tier 3).
#
# Results go to a dedicated serial port (ttyS1 -> a file on the host) so that
# kernel messages on the console can never split a result line. Each check
# prints exactly one line:
#     VH-OK: <id>: <what was seen>
#     VH-FAIL: <id>: <what was seen>
# and the script ends with "VH-END: <ok> ok, <fail> failed". The host compares
# the ids against its own list: a missing id is a failure too.

VH_OUT=${VH_OUT:-/dev/ttyS1}
VH_NOK=0
VH_NFAIL=0

vh_emit() { # line
	echo "$1"
	echo "$1" >>"$VH_OUT"
}
vh_ok() { # id text...
	_id=$1; shift
	VH_NOK=$((VH_NOK + 1))
	vh_emit "VH-OK: $_id: $*"
}
vh_fail() { # id text...
	_id=$1; shift
	VH_NFAIL=$((VH_NFAIL + 1))
	vh_emit "VH-FAIL: $_id: $*"
}
# vh_result id ok-flag text: ok-flag is 0 for pass (like an exit status)
vh_result() {
	if [ "$2" = 0 ]; then vh_ok "$1" "$3"; else vh_fail "$1" "$3"; fi
}
vh_end() {
	vh_emit "VH-END: $VH_NOK ok, $VH_NFAIL failed"
}
say() { echo "VH: $*"; }

# Helpers avoid spawning programs where a shell builtin does: every exec is
# slow under TCG (and in tier 3 it loads from 9p).
uptime_s() {
	read -r _up _ </proc/uptime
	echo "$_up"
}

# ---------------------------------------------------------------- PCI/sysfs
drv() { # bdf -> driver name, "none" when unbound
	_l=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) || { echo none; return; }
	echo "${_l##*/}"
}
ovr() { # bdf -> driver_override content
	read -r _o <"/sys/bus/pci/devices/$1/driver_override" 2>/dev/null || _o="(unreadable)"
	echo "$_o"
}
grp() { # bdf -> IOMMU group number, empty when none
	_l=$(readlink "/sys/bus/pci/devices/$1/iommu_group" 2>/dev/null) || return 0
	echo "${_l##*/}"
}
find_pci() { # vendor device [class] -> first matching BDF
	for _d in /sys/bus/pci/devices/*; do
		read -r _v <"$_d/vendor"
		read -r _p <"$_d/device"
		read -r _c <"$_d/class"
		[ "$_v" = "$1" ] && [ "$_p" = "$2" ] || continue
		[ -z "${3:-}" ] || [ "$_c" = "$3" ] || continue
		echo "${_d##*/}"
		return 0
	done
}
wait_drv() { # bdf driver [tenths]: poll until bound (no udev, probes may be async)
	_n=${3:-50}
	while [ "$_n" -gt 0 ]; do
		[ "$(drv "$1")" = "$2" ] && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	return 1
}
# The sysfs state the hook may change: driver link and driver_override of
# every PCI device, plus the hook's state directory.
snapshot() { # file
	for _d in /sys/bus/pci/devices/*; do
		_b=${_d##*/}
		echo "$_b driver=$(drv "$_b") override=$(ovr "$_b")"
	done >"$1"
	# state files only: the hook's lock file may stay, it holds no state
	echo "state files: $(cd /run/vfiohook 2>/dev/null && ls -- *.state 2>/dev/null | tr '\n' ' ')" >>"$1"
}
same_snapshot() { # a b: 0 if identical; prints the diff on stderr otherwise
	if cmp -s "$1" "$2"; then return 0; fi
	say "sysfs state differs ($1 vs $2):" >&2
	diff "$1" "$2" | sed 's/^/    /' >&2
	return 1
}
modloaded() { grep -q "^$1 " /proc/modules; }

# ---------------------------------------------------------------- the hook
# domain_xml name uuid [bdf...] > file: a live domain definition like the one
# libvirt writes on the hook's stdin, with one PCI <hostdev> per BDF.
domain_xml() {
	_name=$1 _uuid=$2; shift 2
	echo "<domain type='kvm' id='7'>"
	echo "  <name>$_name</name>"
	echo "  <uuid>$_uuid</uuid>"
	echo "  <memory unit='KiB'>1048576</memory>"
	echo "  <currentMemory unit='KiB'>1048576</currentMemory>"
	echo "  <vcpu placement='static'>2</vcpu>"
	echo "  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>"
	echo "  <devices>"
	echo "    <emulator>/usr/bin/qemu-system-x86_64</emulator>"
	_i=0
	for _b in "$@"; do
		_i=$((_i + 1))
		_dom=${_b%%:*} _rest=${_b#*:}
		_bus=${_rest%%:*} _sf=${_rest#*:}
		echo "    <hostdev mode='subsystem' type='pci' managed='yes'>"
		echo "      <driver name='vfio'/>"
		echo "      <source>"
		echo "        <address domain='0x$_dom' bus='0x$_bus' slot='0x${_sf%.*}' function='0x${_sf#*.}'/>"
		echo "      </source>"
		echo "      <alias name='hostdev$((_i - 1))'/>"
		echo "      <address type='pci' domain='0x0000' bus='0x0$_i' slot='0x00' function='0x0'/>"
		echo "    </hostdev>"
	done
	echo "  </devices>"
	echo "</domain>"
}

HOOK=${HOOK:-/etc/libvirt/hooks/qemu}
# run_hook xmlfile VM OP SUBOP EXTRA: invoke the hook exactly as libvirt does
# (argv[0] = the hook path, the environment libvirtd gives it, XML on stdin). Sets RC and
# leaves stdout/stderr in $HOUT/$HERR; logs everything on the console.
HOUT=/tmp/hook.out
HERR=/tmp/hook.err
run_hook() {
	_xml=$1; shift
	_t0=$(uptime_s)
	env -i LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/ \
		"$HOOK" "$@" <"$_xml" >"$HOUT" 2>"$HERR"
	RC=$?
	say "hook $* -> rc=$RC in $(awk -v a="$_t0" -v b="$(uptime_s)" 'BEGIN { printf "%.2f", b - a }')s, stdout=$(wc -c <"$HOUT")B, stderr:"
	sed 's/^/    | /' "$HERR"
}
quiet_ok() { # the hook printed nothing at all
	[ ! -s "$HOUT" ] && [ ! -s "$HERR" ]
}
one_error_line() { # stdout empty, stderr exactly one line starting "vfiohook: "
	[ ! -s "$HOUT" ] && [ "$(awk 'END { print NR }' "$HERR")" = 1 ] &&
		grep -q '^vfiohook: ' "$HERR"
}
herr() { tr '\n' ' ' <"$HERR" | cut -c1-300; }

write_conf() { # file, body on stdin: root-owned, not group/world-writable
	cat >"$1"
	chown 0:0 "$1"
	chmod 600 "$1"
}
