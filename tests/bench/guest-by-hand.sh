#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The hand-written baseline of the kernel benchmark (run by busybox sh inside the guest, see
# guest-bench.sh): the changes vfiohook's prepare and release make to the guest's fake GPU,
# made with the same writes in the same order (its --dry-run plans are printed next to the
# figures), with the same waits for a driver to bind, without records, checks or rollback.
# The framebuffer console binds again by itself when bochs comes back.
# usage: by-hand.sh prepare|release GPU AUDIO
set -e
GPU=$2 AUD=$3
HP=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
PCI=/sys/bus/pci
wait_link() { # bdf driver: until the driver link names it (5 s at most)
	n=0
	while :; do
		l=$(readlink "$PCI/devices/$1/driver" 2>/dev/null) || l=
		[ "${l##*/}" != "$2" ] || return 0
		n=$((n + 1))
		[ $n -lt 5000 ] || return 1
		usleep 1000
	done
}
fbcon() { # the framebuffer console, found by name (its number changes when it comes back)
	for v in /sys/class/vtconsole/vtcon*; do
		read -r n <"$v/name"
		case $n in *"frame buffer"*) echo "$v" && return 0 ;; esac
	done
	return 1
}
case $1 in
prepare)
	echo 32 >$HP
	echo 0 >"$(fbcon)/bind"
	rmmod bochs
	modprobe -a vfio-pci vfio_iommu_type1
	for d in $GPU $AUD; do
		echo vfio-pci >"$PCI/devices/$d/driver_override"
		[ ! -e "$PCI/devices/$d/driver" ] || echo "$d" >"$PCI/devices/$d/driver/unbind"
		echo "$d" >$PCI/drivers_probe
		wait_link "$d" vfio-pci
	done
	;;
release)
	echo >"$PCI/devices/$AUD/driver_override"
	echo "$AUD" >"$PCI/drivers/vfio-pci/unbind"
	echo "$AUD" >$PCI/drivers_probe
	wait_link "$AUD" snd_hda_intel
	echo >"$PCI/devices/$GPU/driver_override"
	echo "$GPU" >"$PCI/drivers/vfio-pci/unbind"
	rmmod vfio_iommu_type1 vfio_pci vfio_pci_core irqbypass vfio_virqfd vfio
	modprobe bochs
	echo 0 >$HP
	;;
esac
