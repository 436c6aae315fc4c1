#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The hugepage stage on the real kernel of this machine (no --root): /proc/sys/vm and
# /sys/kernel/mm/hugepages are real, so is compaction. Uses a small pool (64 pages of 2 MiB)
# and always puts back the pool it found. Needs root.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
VFIOHOOK=${1:-$TOP/build/vfiohook}
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
nok() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }

if [ "$(id -u)" != 0 ] || [ ! -w $POOL/nr_hugepages ]; then
	echo "real-kernel hugepage tier skipped: needs root and $POOL"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
if [ -e /run/vfiohook ] && ls /run/vfiohook/*.state >/dev/null 2>&1; then
	echo "real-kernel hugepage tier skipped: vfiohook state of real VMs in /run/vfiohook"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
T=$(mktemp -d)
ORIG=$(cat $POOL/nr_hugepages)
cleanup() {
	echo "$ORIG" > $POOL/nr_hugepages
	rm -f /run/vfiohook/*-4b6c-4c1e-9d55-0e3f1a2b3c4d.state
	rm -rf "$T"
}
trap cleanup EXIT
nr() { cat $POOL/nr_hugepages; }
free_pages() { echo $(($(cat $POOL/free_hugepages) - $(cat $POOL/resv_hugepages))); }

cat > "$T/kvm.conf" <<'EOC'
vm = (
  { name = "hp"; hugepages = { size = "2M"; pages = "auto"; timeout = 5; }; },
  { name = "hp-fails"; hugepages = { size = "2M"; pages = 64; }; pci = { devices = [ "00ff:1f:1f.7" ]; }; }
);
EOC
chmod 600 "$T/kvm.conf"
dom() { # dom NAME: a domain with 128 MiB of hugepage-backed memory = 64 pages of 2 MiB
	printf "<domain type='kvm'><name>%s</name><uuid>%08x-4b6c-4c1e-9d55-0e3f1a2b3c4d</uuid>" "$1" "$2"
	printf "<memory unit='MiB'>128</memory><memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking></domain>\n"
}
dom hp 1 > "$T/hp.xml"
dom hp-fails 2 > "$T/hp-fails.xml"
vh() { "$VFIOHOOK" --config "$T/kvm.conf" "$@" > "$T/out" 2> "$T/err"; RC=$?; ERR=$(cat "$T/err"); }

# 1: an empty pool of free pages: exactly the 64 missing pages are added, then given back
echo "$ORIG" > $POOL/nr_hugepages
before=$(nr) avail=$(free_pages)
want=$((64 > avail ? 64 - avail : 0))
vh hp prepare begin < "$T/hp.xml"
check "prepare allocates the deficit (pool $before -> $((before + want)))" '[ "$RC" = 0 ] && [ "$(nr)" = $((before + want)) ]'
check "the 64 pages are free for QEMU" '[ "$(free_pages)" -ge 64 ]'
vh hp release end shutdown < "$T/hp.xml"
check "release gives back exactly what was added (pool $(nr))" '[ "$RC" = 0 ] && [ "$(nr)" = "$before" ]'

# 2: pages someone else reserved stay: with 100 free pages already there, nothing is added
echo $((ORIG + 100)) > $POOL/nr_hugepages
base=$(nr)
if [ "$base" -ge $((ORIG + 64)) ]; then
	vh hp prepare begin < "$T/hp.xml"
	check "enough free pages: nothing allocated" '[ "$RC" = 0 ] && [ "$(nr)" = "$base" ]'
	vh hp release end - < "$T/hp.xml"
	check "enough free pages: release leaves the pool alone (no blind 0)" '[ "$(nr)" = "$base" ]'
else
	nok "could not set up 100 spare pages (got $base)"
fi
echo "$ORIG" > $POOL/nr_hugepages

# 3: dry run plans the write and changes nothing
before=$(nr)
vh --dry-run hp prepare begin < "$T/hp.xml"
check "dry-run plans the pool write" 'grep -q "^write /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages" "$T/out"'
check "dry-run changes nothing" '[ "$(nr)" = "$before" ]'

# 4: a later stage fails: the pages are given back in the rollback
vh hp-fails prepare begin < "$T/hp-fails.xml"
check "failing later stage: prepare fails with one line" '[ "$RC" = 1 ] && [ "$(wc -l < "$T/err")" = 1 ]'
check "failing later stage: pool back to $before" '[ "$(nr)" = "$before" ]'
check "failing later stage: no state left" '! ls /run/vfiohook/*-4b6c-4c1e-9d55-0e3f1a2b3c4d.state >/dev/null 2>&1'

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
