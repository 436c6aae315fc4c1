#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# What the hook costs the host for a VM vfiohook does not manage: libvirtd runs it for every
# state change of every domain. Whole-process time of the real binary (domain XML on stdin, the
# example kvm.conf) against a trivial dynamically linked C program, and against the same
# trivial program linked with libvirt, libxml2, libsystemd and libkmod (what linking them
# instead of opening them on demand would cost). The commands take turns, so machine load hits
# them alike. With valgrind installed it also prints instruction counts, which do not depend on
# the load at all.
set -eu
cd "$(dirname "$0")/../.."
N=${N:-2000}
B=build/bench
mkdir -p $B
cc -O2 -o $B/spawn tests/bench/spawn.c
cc -O2 -o $B/trivial tests/bench/trivial.c
cc -O2 -o $B/trivial-linked tests/bench/trivial.c -Wl,--no-as-needed \
	$(pkg-config --libs libvirt libxml-2.0 libsystemd libkmod libconfig)
XML=tests/sim/domains/rx590.xml
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# the installed hook's code path, pointed at the example config and an empty root
mkdir -p "$T/root/run" "$T/hooks"
cp conf/kvm.conf "$T/kvm.conf"
HOOK="build/vfiohook vfiohook --root $T/root --config $T/kvm.conf --hooks-dir $T/hooks"

echo "whole-process time, $N runs of each (domain XML of $(wc -c < $XML) bytes on stdin):"
$B/spawn "$N" "$XML" -- $B/trivial trivial -- $B/trivial-linked trivial \
	-- $HOOK other started begin - -- $HOOK other release end - > "$T/times"
awk '
	NR == 1 { base = $1; name = "trivial C program" }
	NR == 2 { name = "trivial C program linked with libvirt & co" }
	NR == 3 { name = "vfiohook, unconfigured VM, started begin"; s = $1 }
	NR == 4 { name = "vfiohook, unconfigured VM, release end"; r = $1 }
	NR == 2 { l = $1 }
	{ printf "  %-46s median %8.1f us   mean %8.1f us\n", name, $1, $2 }
	END {
		printf "ratio vfiohook/trivial: %.2fx (started begin), %.2fx (release end); goal <= 1.50x\n", s / base, r / base
		printf "ratio linked/trivial: %.2fx (what opening the libraries on demand saves)\n", l / base
	}' "$T/times"

if command -v valgrind >/dev/null 2>&1; then
	ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" < "$XML" 2>&1 >/dev/null |
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
	a=$(ir $B/trivial)
	b=$(ir build/vfiohook --root "$T/root" --config "$T/kvm.conf" --hooks-dir "$T/hooks" other started begin -)
	c=$(ir $B/trivial-linked)
	awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {
		printf "instructions: trivial %d, vfiohook %d (%.2fx), linked %d (%.2fx)\n", a, b, b / a, c, c / a }'
fi
