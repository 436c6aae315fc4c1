#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every test tier, one after the other; each ends with "N passed, N failed[, N skipped]".
# The last line adds them up. A tier that ends without such a line counts as one failure.
set -u
cd "$(dirname "$0")/.."
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
P=0 F=0 S=0 SUMMARY=""

tier() { # tier NAME COMMAND...
	name=$1
	shift
	echo "=== $name: $*"
	t0=$(date +%s)
	"$@" 2>&1 | tee "$LOG/$name"
	line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$LOG/$name" | tail -n 1)
	if [ -z "$line" ]; then
		F=$((F + 1))
		SUMMARY="$SUMMARY
  $name: no result line (counted as 1 failure)"
		return
	fi
	p=$(echo "$line" | sed -nE 's/^([A-Za-z-]+: )?([0-9]+) passed.*/\2/p')
	f=$(echo "$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p')
	s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
	P=$((P + p)) F=$((F + f)) S=$((S + ${s:-0}))
	SUMMARY="$SUMMARY
  $name: $line ($(($(date +%s) - t0)) s)"
}

tier unit sh tests/run-unit.sh build/tests/test-*
tier simulated-host bash tests/sim/run.sh build/vfiohook build/asan/vfiohook
tier simhost-selftest bash tests/simhost/selftest.sh build/simhost
tier simsystemd bash tests/simsystemd/selftest.sh build/simsystemd build/vfiohook
tier install bash tests/install/run.sh
tier packaging bash tests/packaging/run.sh
tier hugepages bash tests/hugepages/run.sh "$PWD/build/vfiohook"
tier libvirt bash tests/libvirt/run.sh "$PWD/build/vfiohook"
tier kernel bash tests/kernel/run.sh "$PWD/build/vfiohook"
tier e2e bash tests/kernel/run-e2e.sh "$PWD/build/vfiohook"
tier systemd bash tests/systemd/run.sh "$PWD/build/vfiohook"

echo "=== summary$SUMMARY"
if [ "$S" -gt 0 ]; then
	echo "$P passed, $F failed, $S skipped"
else
	echo "$P passed, $F failed"
fi
[ "$F" = 0 ]
