#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Prepare the cache used by the real-kernel test tiers (run.sh, run-e2e.sh):
#   * Debian's kernel (the package linux-image-amd64 depends on), fetched with
#     `apt-get download`, unpacked with `dpkg-deb -x` (no initramfs-tools run)
#     and indexed with `depmod -b`;
#   * the part of the guest initramfs that does not depend on the vfiohook
#     binary: busybox plus the kernel modules the guests load.
# Everything is reused between runs and rebuilt when absent. Packages are
# installed by tests/deps.sh, not here.
#
# Environment:
#   VFIOHOOK_TEST_CACHE  cache directory (default /var/cache/vfiohook-tests)
#
# Prints the variables the runners need (CACHE, KVER, KERNEL, MODROOT, BASE_CPIO) as
# shell assignments on stdout and writes them to $VFIOHOOK_TEST_CACHE/env.
# Exit status: 0 ready, 1 something is missing (the reason is on stderr).
set -euo pipefail

CACHE=${VFIOHOOK_TEST_CACHE:-/var/cache/vfiohook-tests}
# Kernel modules the guests need; their dependencies are added automatically.
#   tier 2: the fake GPU (bochs + snd-hda-intel), the NIC, vfio
#   tier 3: additionally virtio + 9p for the host /usr and /etc shares, overlay
GUEST_MODULES="vfio-pci vfio_iommu_type1 bochs snd-hda-intel e1000e virtio_pci 9pnet_virtio 9p overlay"
# Bump when the layout of the cached initramfs changes.
BASE_LAYOUT=1

# stdout carries only the final variable assignments (the runners eval
# them); everything else, including the tools' output, goes to stderr.
exec 3>&1 1>&2
say() { echo "setup: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in apt-get apt-cache dpkg-deb depmod modprobe cpio sha256sum; do
	command -v "$tool" >/dev/null || die "missing tool: $tool (run tests/deps.sh)"
done
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || die "missing busybox (package busybox-static; run tests/deps.sh)"
# The initramfs has no libraries for busybox: it must be the static build
# (ldd fails on a static executable).
if ldd "$BUSYBOX" >/dev/null 2>&1; then
	die "$BUSYBOX is dynamically linked; install busybox-static"
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # one setup at a time; concurrent runners wait here

# ---------------------------------------------------------------- kernel
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }' || true)
if [ -z "$KPKG" ]; then
	# No apt lists (offline CI machine without `apt-get update`): reuse the
	# newest kernel already in the cache, if any.
	KPKG=$(find "$CACHE/kernel" -mindepth 2 -maxdepth 2 -name .complete 2>/dev/null |
		sed 's|/\.complete$||; s|.*/||' | sort -V | tail -n 1)
	[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64 (run apt-get update) and no cached kernel"
	say "apt cannot resolve linux-image-amd64; reusing cached $KPKG"
fi
KVER=${KPKG#linux-image-}
KDIR=$CACHE/kernel/$KPKG
MODROOT=$KDIR/root
KERNEL=$MODROOT/boot/vmlinuz-$KVER

if [ ! -f "$KDIR/.complete" ] || [ ! -f "$KERNEL" ] ||
	[ ! -f "$MODROOT/lib/modules/$KVER/modules.dep.bin" ]; then
	say "fetching $KPKG (apt-get download + dpkg-deb -x)"
	rm -rf "$KDIR"
	tmp=$(mktemp -d "$CACHE/kernel.tmp.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# (root downloads into a private temp dir: no _apt sandbox)
	(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$KPKG") || die "apt-get download $KPKG failed"
	deb=$(ls "$tmp"/*.deb)
	dpkg-deb -x "$deb" "$tmp/root"
	# An unpacked .deb has no modules.dep: build the indexes (libkmod needs
	# the .bin ones, busybox modprobe the text ones).
	depmod -b "$tmp/root" "$KVER"
	dpkg-deb -f "$deb" Version >"$tmp/version"
	rm -f "$deb"
	mkdir -p "$CACHE/kernel"
	mv "$tmp" "$KDIR"
	trap - EXIT
	touch "$KDIR/.complete"
	# Older kernels (an ABI bump since the last run) are not needed any more.
	for old in "$CACHE"/kernel/linux-image-*; do
		[ "$old" = "$KDIR" ] || rm -rf "$old"
	done
fi
[ -f "$KERNEL" ] || die "no kernel image at $KERNEL"

# ---------------------------------------------------------------- initramfs base
# busybox + modules, uncompressed newc cpio: the runners append a second cpio
# with the test scripts and the binary (the kernel unpacks concatenated
# archives; no decompression under TCG).
key=$( {
	echo "layout=$BASE_LAYOUT kver=$KVER modules=$GUEST_MODULES"
	cat "$KDIR/version" 2>/dev/null || true
	sha256sum "$BUSYBOX"
} | sha256sum | cut -c1-16)
BASE_CPIO=$CACHE/initramfs/base-$KVER-$key.cpio
if [ ! -s "$BASE_CPIO" ]; then
	say "building initramfs base $BASE_CPIO"
	mkdir -p "$CACHE/initramfs"
	r=$(mktemp -d "$CACHE/initramfs/root.XXXXXX")
	trap 'rm -rf "$r"' EXIT
	mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,etc,root,lib/modules/"$KVER"}
	cp "$BUSYBOX" "$r/bin/busybox"
	for m in $GUEST_MODULES; do
		modprobe -d "$MODROOT" -S "$KVER" --show-depends "$m" ||
			die "module $m not found in $KPKG"
	done | awk '$1 == "insmod" { print $2 }' | sort -u | while read -r f; do
		rel=${f#"$MODROOT"}
		mkdir -p "$r$(dirname "$rel")"
		cp "$f" "$r$rel"
	done
	for f in modules.order modules.builtin modules.builtin.modinfo; do
		cp "$MODROOT/lib/modules/$KVER/$f" "$r/lib/modules/$KVER/"
	done
	depmod -b "$r" "$KVER"
	(cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$BASE_CPIO.tmp"
	mv "$BASE_CPIO.tmp" "$BASE_CPIO"
	rm -rf "$r"
	trap - EXIT
	# Drop bases built for other keys.
	for old in "$CACHE"/initramfs/base-*.cpio; do
		[ "$old" = "$BASE_CPIO" ] || rm -f "$old"
	done
fi

{
	printf 'CACHE=%q\n' "$CACHE"
	printf 'KVER=%q\n' "$KVER"
	printf 'KERNEL=%q\n' "$KERNEL"
	printf 'MODROOT=%q\n' "$MODROOT"
	printf 'BASE_CPIO=%q\n' "$BASE_CPIO"
} >"$CACHE/env.tmp"
mv "$CACHE/env.tmp" "$CACHE/env"
cat "$CACHE/env" >&3
