#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tier 1 of the real-component tests: a real libvirtd, started by hand (no
# systemd), runs vfiohook as its qemu hook for TCG domains (no disk, 32 MiB).
#
# Usage: run.sh [VFIOHOOK]
#   VFIOHOOK  the built binary: $1, else env VFIOHOOK, else ../../build/vfiohook
#             relative to this script.
#   env SIMHOST  simulated-host binary (default ../../build/simhost); when it or
#             tests/simhost is missing, the simulated-host cases are skipped.
#   env KEEP=1   keep the work directory (hook call log, libvirtd log).
#
# The test runs in private mount and PID namespaces (tier1.sh) with its own /run,
# /etc/libvirt, /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt, so
# the machine's libvirt configuration, hooks and domains are never touched.
# It refuses to run while a libvirtd/virtqemud it did not start is running.
# Last line: "N passed, N failed, N skipped"; exit status 1 on any failure.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
VFIOHOOK=${1:-${VFIOHOOK:-$HERE/../../build/vfiohook}}
SIMHOST=${SIMHOST:-$HERE/../../build/simhost}
SIMDIR=$HERE/../simhost
START=$(date +%s.%N)

skip_tier() {
	echo "tier 1 (real libvirtd) skipped: $*"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
}

[ "$(id -u)" = 0 ] || skip_tier "needs root (starts libvirtd, mounts a private /run and /etc/libvirt)"
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
for tool in libvirtd virtlogd virsh qemu-system-x86_64 unshare mountpoint timeout flock bc; do
	command -v "$tool" >/dev/null || skip_tier "$tool not installed (tests/deps.sh installs what is needed)"
done
unshare -m -p -f --mount-proc --propagation private true 2>/dev/null ||
	skip_tier "cannot create private mount and PID namespaces (unshare -m -p)"
for d in /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
	[ -d "$d" ] || skip_tier "$d missing (libvirt-daemon-system not installed?)"
done
# one run at a time (two would share cgroup and domain names): lock this script
exec 9<"$0"
flock -w 300 9 || skip_tier "another run of this tier holds the lock for more than 5 minutes"
while read -r c; do
	p=${c%/comm}
	# a zombie (a daemon that exited, not yet reaped by PID 1) does not count
	[ "$(awk '{print $3}' "$p/stat" 2>/dev/null)" = Z ] ||
		skip_tier "a $(cat "$c") not started by this test is running (pid ${p#/proc/}); refusing to disturb it"
done < <(grep -lx -e libvirtd -e virtqemud /proc/[0-9]*/comm 2>/dev/null)

if [ ! -x "$VFIOHOOK" ] || [ -d "$VFIOHOOK" ]; then
	echo "FAIL - vfiohook binary not found or not executable: $VFIOHOOK (run make first)"
	echo "0 passed, 1 failed"
	exit 1
fi
VFIOHOOK=$(cd "$(dirname "$VFIOHOOK")" && pwd)/$(basename "$VFIOHOOK")

SIM_WHY=
if [ ! -d "$SIMDIR" ]; then SIM_WHY="tests/simhost is missing"
elif [ ! -x "$SIMHOST" ]; then SIM_WHY="$SIMHOST not built (make build/simhost)"
elif [ ! -f "$SIMDIR/hosts/rx590.spec" ] || [ ! -x "$SIMDIR/snapshot.sh" ]; then SIM_WHY="tests/simhost has no hosts/rx590.spec or snapshot.sh"
elif [ ! -c /dev/fuse ]; then SIM_WHY="no /dev/fuse"
fi
if [ -n "$SIM_WHY" ]; then
	SIMHOST=
else
	SIMHOST=$(cd "$(dirname "$SIMHOST")" && pwd)/$(basename "$SIMHOST")
	SIMDIR=$(cd "$SIMDIR" && pwd)
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/vfiohook-libvirt.XXXXXX") || exit 1
P=0 F=0 S=0
ok()  { P=$((P + 1)); echo "ok - $*"; }
nok() { F=$((F + 1)); echo "FAIL - $*"; }

# shellcheck disable=SC2317 # (used from a trap)
kid() { awk '{print $1}' "/proc/$1/task/$1/children" 2>/dev/null; } # first child of PID
finish() {
	trap - EXIT
	if [ "${KEEP:-0}" = 1 ] || [ "$F" -ne 0 ]; then
		echo "work directory kept: $W"
	else
		rm -rf "$W"
	fi
	printf 'tier 1 wall time: %.1f s\n' "$(echo "$(date +%s.%N) - $START" | bc)"
	echo "$P passed, $F failed, $S skipped"
	[ "$F" -eq 0 ]
	exit
}
trap 'nok "run.sh ended early"; finish' EXIT
INTERRUPTED=

# what the machine's own libvirt setup looks like, to prove it is left alone
fingerprint() {
	find /etc/libvirt/hooks /etc/libvirt/qemu /run/libvirt /var/lib/libvirt/qemu \
		-printf '%p %y %m %u %s %T@ %l\n' 2>/dev/null | sort
}
BEFORE=$(fingerprint)

# tier1.sh runs as PID 1 of new PID and mount namespaces: it reaps the
# daemons' orphans at once (as systemd would), and when it exits the kernel
# kills whatever is left in there; no process can outlive the test.
# unshare ignores SIGTERM and does not pass it on; --kill-child=SIGTERM sends
# SIGTERM to tier1.sh if unshare itself dies (timeout's SIGKILL after 300+30 s)
SIM_WHY=$SIM_WHY timeout -k 30 300 \
	unshare -m -p -f --mount-proc --kill-child=SIGTERM --propagation private \
	bash "$HERE/tier1.sh" "$W" "$VFIOHOOK" "$(command -v libvirtd)" "$(command -v virtlogd)" \
	"$SIMHOST" "$SIMDIR" 9<&- &
inner=$!
# on ^C or SIGTERM: SIGTERM to tier1.sh (child of unshare, child of timeout),
# which cleans up and reports; wait for it, then carry on and fail
# shellcheck disable=SC2317 # (a trap)
stop_inner() {
	local init
	INTERRUPTED=1
	init=$(kid "$(kid "$inner")")
	[ -z "$init" ] || kill -TERM "$init"
}
trap stop_inner INT TERM
while :; do
	wait "$inner"
	rc=$?
	kill -0 "$inner" 2>/dev/null || break
done
trap - INT TERM
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	# timed out: tier1.sh got SIGTERM only now; let it clean up and report
	echo "tier 1 timed out after 300 s"
	for _ in $(seq 600); do [ -f "$W/counts" ] && break; sleep 0.1; done
fi
if read -r p f s <"$W/counts" 2>/dev/null; then
	P=$((P + p)) F=$((F + f)) S=$((S + s))
else
	nok "tier1.sh ended without reporting (exit status $rc)"
fi
[ "$rc" -eq 0 ] || [ "$F" -ne 0 ] || nok "tier1.sh exited with status $rc"

if [ "$(fingerprint)" = "$BEFORE" ]; then ok "the machine's libvirt hooks, domains and runtime dirs are untouched"; else
	nok "the machine's libvirt files changed:"; diff <(echo "$BEFORE") <(fingerprint) | sed 's/^/      /'
fi
[ -z "$INTERRUPTED" ] || nok "interrupted"
finish
