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

vh_emit() { # line (on the console with the guest's uptime, for timing)
	read -r _up _ </proc/uptime
	echo "[$_up] $1"
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
secs_since() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.2f", b - a }'; }

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
# Written without a subshell or a program per device (each costs tens of ms
# under TCG): the driver is the drivers/*/BDF entry that exists.
snapshot() { # file
	for _d in /sys/bus/pci/devices/*; do
		_b=${_d##*/}
		_dv=none
		for _x in /sys/bus/pci/drivers/*/"$_b"; do
			[ -e "$_x" ] || continue
			_dv=${_x%/*}
			_dv=${_dv##*/}
		done
		read -r _o <"$_d/driver_override" 2>/dev/null || _o="(unreadable)"
		echo "$_b driver=$_dv override=$_o"
	done >"$1"
	# state files only: the hook's lock file may stay, it holds no state
	_sf=
	for _x in /run/vfiohook/*.state; do
		[ -e "$_x" ] && _sf="$_sf${_x##*/} "
	done
	echo "state files: $_sf" >>"$1"
}
same_snapshot() { # a b: 0 if identical; prints the diff on stderr otherwise
	if cmp -s "$1" "$2"; then return 0; fi
	say "sysfs state differs ($1 vs $2):" >&2
	diff "$1" "$2" | sed 's/^/    /' >&2
	return 1
}
modloaded() { grep -q "^$1 " /proc/modules; }

# ---------------------------------------------------------------- stages' state
# Framebuffer consoles by name, never by number (fbcon may come back under
# another number once a framebuffer returns).
vtcons() {
	for _v in /sys/class/vtconsole/vtcon*; do
		[ -r "$_v/name" ] || continue
		read -r _n <"$_v/name"
		read -r _bd <"$_v/bind"
		echo "vtcon '$_n' bind=$_bd"
	done | sort
}
fbcon_bind() { # bind value of the console with "frame buffer" in its name, "gone" if none
	_fbb=gone
	for _v in /sys/class/vtconsole/vtcon*; do
		[ -r "$_v/name" ] || continue
		read -r _n <"$_v/name"
		case $_n in *"frame buffer"*) read -r _fbb <"$_v/bind" ;; esac
	done
	echo "$_fbb"
}
fbcon_name() { # name of the console with "frame buffer" in its name, empty if none
	for _v in /sys/class/vtconsole/vtcon*; do
		[ -r "$_v/name" ] || continue
		read -r _n <"$_v/name"
		case $_n in *"frame buffer"*) echo "$_n"; return 0 ;; esac
	done
}
wait_fbcon() { # bind-value [tenths]: poll until the framebuffer console has it
	_n=${2:-30}
	while [ "$_n" -gt 0 ]; do
		[ "$(fbcon_bind)" = "$1" ] && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	return 1
}
pdrv() { # platform device -> driver name, "none" when unbound, "gone" when absent
	[ -e "/sys/bus/platform/devices/$1" ] || { echo gone; return; }
	_l=$(readlink "/sys/bus/platform/devices/$1/driver" 2>/dev/null) || { echo none; return; }
	echo "${_l##*/}"
}
fbs() { # registered framebuffers, one line
	_fb=
	while read -r _l; do _fb="$_fb$_l;"; done </proc/fb
	echo "$_fb"
}
# Every hugepage pool: global and per NUMA node, each page size.
hp_pools() {
	for _p in /sys/kernel/mm/hugepages/hugepages-* /sys/devices/system/node/node*/hugepages/hugepages-*; do
		[ -r "$_p/nr_hugepages" ] || continue
		read -r _nr <"$_p/nr_hugepages"
		read -r _fr <"$_p/free_hugepages"
		echo "pool ${_p#/sys/} nr=$_nr free=$_fr"
	done
}
hp_nr() { # node size_kib -> nr_hugepages of that node's pool
	read -r _nr <"/sys/devices/system/node/node$1/hugepages/hugepages-$2kB/nr_hugepages"
	echo "$_nr"
}
modino() { # module -> inode of /sys/module/NAME (a new one after a reload)
	ls -di "/sys/module/$1" 2>/dev/null | awk '{ print $1 }'
}
# Module tools off the PATH the hook gets (busybox applet links), so that
# only libkmod can load or unload a module; and back.
MODTOOLS="modprobe rmmod insmod"
hide_modtools() {
	for _t in $MODTOOLS; do
		for _p in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
			[ -e "$_p/$_t" ] || [ -L "$_p/$_t" ] || continue
			mv "$_p/$_t" "$_p/.$_t.hidden"
		done
	done
}
modtools_on_path() { # the module tools a program would find on the hook's PATH
	for _t in $MODTOOLS; do
		for _p in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
			[ -e "$_p/$_t" ] && printf '%s ' "$_p/$_t"
		done
	done
}
unhide_modtools() {
	for _t in $MODTOOLS; do
		for _p in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
			[ -L "$_p/.$_t.hidden" ] || [ -e "$_p/.$_t.hidden" ] || continue
			mv "$_p/.$_t.hidden" "$_p/$_t"
		done
	done
}
vmstat() { # counter name -> value
	awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat
}
# Everything the stages may change: snapshot() plus the module list
# (/proc/modules names), the consoles, the firmware framebuffer devices and
# their drivers, /proc/fb and every hugepage pool.
snapshot_full() { # file
	snapshot "$1"
	{
		sed 's/ .*//; s/^/module /' /proc/modules | sort
		vtcons
		for _d in /sys/bus/platform/devices/*-framebuffer.*; do
			[ -e "$_d" ] || continue
			_dv=none
			for _x in /sys/bus/platform/drivers/*/"${_d##*/}"; do
				[ -e "$_x" ] || continue
				_dv=${_x%/*}
				_dv=${_dv##*/}
			done
			echo "platform ${_d##*/} driver=$_dv"
		done
		echo "/proc/fb: $(fbs)"
		hp_pools
	} >>"$1"
}
# The records of a state file (the header and "complete" left out), fields
# as vfiohook writes them (%20 for a space).
records() { # file
	grep -v -e '^vfiohook-state ' -e '^vm ' -e '^uuid ' -e '^complete$' "$1" 2>/dev/null
}

# ---------------------------------------------------------------- the hook
# domain_xml name uuid [bdf...] > file: a live domain definition like the one
# libvirt writes on the hook's stdin, with one PCI <hostdev> per BDF.
# Optional: DX_MEM_KIB (<memory>, default 1 GiB), DX_PAGE_KIB (hugepage
# backing with that page size), DX_NODESET (<numatune> strict nodeset).
domain_xml() {
	_name=$1 _uuid=$2; shift 2
	echo "<domain type='kvm' id='7'>"
	echo "  <name>$_name</name>"
	echo "  <uuid>$_uuid</uuid>"
	echo "  <memory unit='KiB'>${DX_MEM_KIB:-1048576}</memory>"
	echo "  <currentMemory unit='KiB'>${DX_MEM_KIB:-1048576}</currentMemory>"
	# hugepage backing (DX_PAGE_KIB) and numatune (DX_NODESET), when given
	if [ -n "${DX_PAGE_KIB:-}" ]; then
		echo "  <memoryBacking>"
		echo "    <hugepages>"
		echo "      <page size='$DX_PAGE_KIB' unit='KiB'/>"
		echo "    </hugepages>"
		echo "  </memoryBacking>"
	fi
	echo "  <vcpu placement='static'>2</vcpu>"
	[ -z "${DX_NODESET:-}" ] ||
		echo "  <numatune><memory mode='strict' nodeset='$DX_NODESET'/></numatune>"
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

# domain_xml_mem mem_kib page_kib nodeset name uuid [bdf...] > file: domain_xml
# with that <memory>, hugepage backing (page_kib, "" for none) and numatune
# nodeset ("" for none).
domain_xml_mem() {
	DX_MEM_KIB=$1 DX_PAGE_KIB=$2 DX_NODESET=$3
	shift 3
	domain_xml "$@"
	unset DX_MEM_KIB DX_PAGE_KIB DX_NODESET
}

HOOK=${HOOK:-/etc/libvirt/hooks/qemu}
VFIOHOOK=${VFIOHOOK:-/usr/sbin/vfiohook}
# run_hook xmlfile VM OP SUBOP EXTRA: invoke the hook exactly as libvirt does
# (argv[0] = the hook path, the environment libvirtd gives it, XML on stdin). Sets RC and
# leaves stdout/stderr in $HOUT/$HERR; logs everything on the console.
HOUT=/tmp/hook.out
HERR=/tmp/hook.err
run_hook() {
	_xml=$1; shift
	run_event "$_xml" hook "$HOOK" "$@"
}
# run_verbose xmlfile VM OP SUBOP EXTRA: the same event through the shell
# mode with -v (same dispatch; the log goes to stderr as well: the hook mode
# logs to the journal only, and a busybox guest has none).
run_verbose() {
	_xml=$1; shift
	run_event "$_xml" vfiohook "$VFIOHOOK" -v "$@"
}
run_event() { # xmlfile label program args...
	_xml=$1 _label=$2; shift 2
	_t0=$(uptime_s)
	env -i LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/ \
		"$@" <"$_xml" >"$HOUT" 2>"$HERR"
	RC=$?
	shift
	say "$_label $* -> rc=$RC in $(secs_since "$_t0")s, stdout=$(wc -c <"$HOUT")B, stderr:"
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
