#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Inside the tier-2 guest of tests/kernel (busybox, run by its init as /vh/tier2.sh; staged by
# tests/bench/kernel-bench.sh): vfiohook's prepare and release of the fake GPU against
# /vh/by-hand.sh, a script that makes the same changes with the same writes, run by busybox and
# (when staged in /opt/distro) by dash with kmod's modprobe and rmmod. Prepare: 32 huge pages of
# 2 MiB, the framebuffer console unbound, the GPU's DRM module (bochs) unloaded, vfio-pci
# loaded, both GPU functions on vfio-pci; release: all of it back. They take turns (each first
# in turn), every cycle must leave the guest as it found it (snapshot_full), and every run is
# timed as a whole process by /vh/hp-time. Results on ttyS1:
#   VH-BENCH: <hook|script|distro> <prepare|release> <microseconds> <exit status> <randomize_va_space>
#   VH-BENCH: proc <dryrun|version|true|trivial> <microseconds> <exit status> <randomize_va_space>
#     (the fixed cost of a process)
#   VH-PLAN: <the hook's dry-run plan line>   VH-NOTE: <text>   VH-END: <n> cycles
# /vh/bench.env sets KB_RUNS (cycles of each).
# Every cycle runs twice: with the guest's address space randomization (randomize_va_space
# as it booted, 2) and without it (0). QEMU's TCG keeps the code it translated by virtual
# address, so with randomization every dynamically linked process translates all the code it
# runs again (busybox, static and not position-independent, is spared); no real CPU has that
# cost. Both are reported.
# shellcheck disable=SC1091,SC2046 # guest paths; "$(hp-time ...)" is split on purpose
. /vh/lib.sh
. /vh/bench.env

CONF=/etc/libvirt/hooks/kvm.conf
UUID=5f1c2a7e-0d4b-4a59-9a64-6f0a8f1b2cbe
T=/tmp/bench
mkdir -p "$T" /etc/libvirt/hooks
note() { vh_emit "VH-NOTE: $*"; }

# the host drivers, as a desktop has them at boot; vfio-pci is not loaded
for m in snd-hda-intel bochs; do
	modprobe "$m" || note "modprobe $m failed"
done
GPU=$(find_pci 0x1234 0x1111 0x038000)
AUD=$(find_pci 0x8086 0x293e)
if [ -z "$GPU" ] || [ -z "$AUD" ] || ! wait_drv "$GPU" bochs-drm 50 || ! wait_drv "$AUD" snd_hda_intel 50 ||
	! wait_fbcon 1 50; then
	note "the fake GPU is not as expected: GPU=$GPU ($(drv "$GPU")) AUD=$AUD ($(drv "$AUD")), console bind=$(fbcon_bind)"
	vh_emit "VH-END: 0 cycles"
	exit 1
fi

write_conf "$CONF" <<CONF
vm = (
  {
    name = "vh-bench";
    uuid = "$UUID";
    hugepages = { pages = 32; timeout = 10; };
    vtconsole = true;
    modules = { unload = [ "bochs" ]; };
    pci = { devices = [ "$GPU", "$AUD" ]; };
  }
);
CONF
domain_xml_mem 65536 2048 "" vh-bench "$UUID" "$GPU" "$AUD" >"$T/dom.xml"
note "GPU $GPU (bochs-drm), audio $AUD (snd_hda_intel), console '$(fbcon_name)' bound, vfio-pci not loaded"

# what the hook will do, for the record (the script's steps are the same)
/usr/sbin/vfiohook --dry-run --config "$CONF" vh-bench prepare begin <"$T/dom.xml" >"$T/plan" 2>&1
while read -r l; do vh_emit "VH-PLAN: prepare: $l"; done <"$T/plan"
# and what it loads to decide it (the loader's own log)
LD_DEBUG=files LD_DEBUG_OUTPUT=$T/ld /usr/sbin/vfiohook --dry-run --config "$CONF" vh-bench prepare begin \
	<"$T/dom.xml" >/dev/null 2>&1
note "libraries a prepare loads: $(cat "$T"/ld.* 2>/dev/null | sed -n 's/.*file=\([^ ]*\) .*generating link map.*/\1/p' | sort -u | tr '\n' ' ')"
rm -f "$T"/ld.*

snapshot_full "$T/s0"
env_run() { # label phase program args...: one timed whole-process run, as libvirt runs the hook
	_label=$1 _phase=$2
	shift 2
	set -- $(/vh/hp-time run 0 "$T/dom.xml" "$T/out" -- "$@")
	vh_emit "VH-BENCH: $_label $_phase $1 $2 $ASLR"
	[ "$2" = 0 ] || note "$_label $_phase exit $2: $(tr '\n' ' ' <"$T/out" | cut -c1-300)"
	[ "$2" = 0 ]
}
hook() { # prepare|release
	if [ "$1" = prepare ]; then
		env_run hook prepare /usr/bin/env env -i LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			/etc/libvirt/hooks/qemu vh-bench prepare begin -
	else
		env_run hook release /usr/bin/env env -i LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			/etc/libvirt/hooks/qemu vh-bench release end -
	fi
}
script() { # prepare|release
	env_run script "$1" /usr/bin/env env -i LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/sh /vh/by-hand.sh "$1" "$GPU" "$AUD"
}
distro() { # prepare|release: the same script by dash, with kmod's modprobe and rmmod
	env_run distro "$1" /usr/bin/env env -i LC_ALL=C PATH=/opt/distro:/usr/sbin:/usr/bin:/sbin:/bin \
		/opt/distro/sh /vh/by-hand.sh "$1" "$GPU" "$AUD"
}
WHO="hook script"
[ ! -x /opt/distro/sh ] || WHO="hook script distro"
# the changes are there after prepare, gone after release
check_prepared() {
	[ "$(drv "$GPU")" = vfio-pci ] && [ "$(drv "$AUD")" = vfio-pci ] && ! modloaded bochs &&
		[ "$(fbcon_bind)" != 1 ] && [ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)" = 32 ]
}
check_released() {
	wait_drv "$GPU" bochs-drm 50 && wait_drv "$AUD" snd_hda_intel 50 && wait_fbcon 1 50 &&
		snapshot_full "$T/s1" && same_snapshot "$T/s0" "$T/s1"
}
fixed_cost() { # what a process costs here: vfiohook planning the same prepare, its --version, busybox true, a trivial dynamic program
	env_run proc dryrun /usr/bin/env env -i LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		/usr/sbin/vfiohook --dry-run --config "$CONF" vh-bench prepare begin
	env_run proc version /usr/bin/env env -i LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/vfiohook --version
	env_run proc true /usr/bin/env env -i LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/true
	env_run proc trivial /usr/bin/env env -i LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin /vh/trivial
}
cycle() { # hook|script|distro
	[ "$1" != hook ] || fixed_cost
	$1 prepare || return 1
	if [ "$1" = hook ] && [ ! -e "$T/plan.release" ]; then
		/usr/sbin/vfiohook --dry-run --config "$CONF" vh-bench release end <"$T/dom.xml" >"$T/plan.release" 2>&1
		while read -r l; do vh_emit "VH-PLAN: release: $l"; done <"$T/plan.release"
	fi
	check_prepared || { note "$1: after prepare: GPU=$(drv "$GPU") AUD=$(drv "$AUD") bochs loaded: $(modloaded bochs && echo yes || echo no) console bind=$(fbcon_bind) pool=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)"; return 1; }
	$1 release || return 1
	check_released || { note "$1: the guest is not as before after release (diff on the console)"; return 1; }
}

ASLR0=$(cat /proc/sys/kernel/randomize_va_space)
i=0
while [ "$i" -lt "$KB_RUNS" ]; do
	# each contender first in turn
	# shellcheck disable=SC2086 # a list of words
	set -- $WHO
	k=$((i % $#))
	order=
	while [ "$k" -gt 0 ]; do
		set -- "$@" "$1"
		shift
		k=$((k - 1))
	done
	order="$*"
	for ASLR in "$ASLR0" 0; do
		echo "$ASLR" >/proc/sys/kernel/randomize_va_space
		for who in $order; do
			cycle "$who" || { vh_emit "VH-END: $i cycles (stopped: $who, randomize_va_space=$ASLR)"; exit 1; }
		done
	done
	echo "$ASLR0" >/proc/sys/kernel/randomize_va_space
	i=$((i + 1))
done
vh_emit "VH-END: $i cycles"
