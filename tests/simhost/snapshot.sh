#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# snapshot.sh MNT: a canonical, sorted dump of a simhost tree, to diff the
# tree before and after a test and prove it was restored exactly.
#   d MODE PATH               a directory
#   l PATH -> TARGET          a symlink
#   f MODE PATH               a readable file, then "  | line" per line of content
#   f MODE PATH (write-only)  a file that cannot be read (bind, unbind, ...)
# Paths are relative to MNT, sorted bytewise.
set -eu
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: snapshot.sh MNT" >&2
	exit 2
fi
cd "$1"
export LC_ALL=C
find . -mindepth 1 -printf '%P\t%y\t%m\t%l\n' | sort -t "$(printf '\t')" -k1,1 |
awk -F '\t' '
$2 == "d" { printf "d %s %s\n", $3, $1; next }
$2 == "l" { printf "l %s -> %s\n", $1, $4; next }
$2 == "f" && $3 ~ /[4567]/ {
	printf "f %s %s\n", $3, $1
	while ((r = (getline line < $1)) > 0)
		printf "  | %s\n", line
	if (r < 0)
		printf "  ! unreadable\n"
	close($1)
	next
}
$2 == "f" { printf "f %s %s (write-only)\n", $3, $1; next }
{ printf "%s %s %s\n", $2, $3, $1 }
'
