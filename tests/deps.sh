#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install the Debian 12 packages vfiohook needs to build and to run every test tier.
# Idempotent: packages already present are left alone. Must run as root.
set -eu
BUILD="gcc libc6-dev make pkg-config libconfig-dev libsystemd-dev libxml2-dev libkmod-dev libvirt-dev libcmocka-dev libfuse3-dev fuse3"
TIERS="libvirt-daemon-system libvirt-clients qemu-system-x86 busybox-static ovmf cpio kmod bc procps tar systemd dbus valgrind python3"
# the packaging tier: the .deb (debhelper, lintian), the Arch package (makepkg needs pacman and
# bsdtar), the .note.dlopen check (binutils, perl) and bash-completion's loader
PACKAGING="debhelper dpkg-dev fakeroot lintian makepkg pacman-package-manager libarchive-tools binutils perl bash-completion util-linux"
missing=""
for p in $BUILD $TIERS $PACKAGING; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
