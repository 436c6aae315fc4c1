# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the black-box tests: a simulated host per test, the built binary run against it.
# Sourced by run.sh (bash).

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIMHOST=${SIMHOST:-$TOP/build/simhost}
SNAPSHOT=$TOP/tests/simhost/snapshot.sh
HOSTS=$TOP/tests/simhost/hosts
DOMAINS=$TOP/tests/sim/domains
PASS=0
FAIL=0
T=""

ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
nok() {
	FAIL=$((FAIL + 1))
	echo "FAIL: $*"
	[ -z "${ERR:-}" ] || printf '%s\n' "$ERR" | tail -n 5 | sed 's/^/    last stderr: /'
}
check() { # check DESCRIPTION 'SHELL CONDITION' (evaluated in the caller's scope)
	if eval "$2"; then ok "$1"; else nok "$1"; fi
}

# sim_up HOST [EXTRA-SPEC]: a fresh simulated host in $T (mnt: the FUSE tree; root: what
# --root sees) with a simulated systemd on its private socket
sim_up() {
	T=$(mktemp -d /tmp/vfiohook-sim.XXXXXX)
	mkdir -p "$T/mnt" "$T/root/run" "$T/hooks"
	: > "$T/faults"
	cp "$HOSTS/$1.spec" "$T/host.spec"
	[ -z "${2:-}" ] || printf '%s\n' "$2" >> "$T/host.spec" # sim_up HOST EXTRA-SPEC-LINES
	"$SIMHOST" --spec "$T/host.spec" --faults "$T/faults" --log "$T/simhost.log" "$T/mnt" || { echo "simhost failed"; exit 2; }
	for d in sys proc dev; do ln -s "../mnt/$d" "$T/root/$d"; done
	cp "$TOP/conf/kvm.conf" "$T/kvm.conf"
	chmod 600 "$T/kvm.conf"
	systemd_up "$DEFAULT_SYSTEMD"
	snap > "$T/initial"
}

# the desktop of the example hosts, as systemd sees it
DEFAULT_SYSTEMD='unit gdm.service active alias=display-manager.service
unit nvidia-persistenced.service active
slice system.slice
slice user.slice
scope init.scope'


# systemd_up SPEC-TEXT: a simulated systemd on the root's private socket (run/systemd/private)
SIMSYSTEMD=${SIMSYSTEMD:-$TOP/build/simsystemd}
systemd_up() {
	[ -f "$T/systemd.pid" ] && kill "$(cat "$T/systemd.pid")" 2>/dev/null && sleep 0.05
	rm -f "$T/systemd.pid"
	printf '%s\n' "$1" > "$T/systemd.spec"
	mkdir -p "$T/root/run/systemd"
	"$SIMSYSTEMD" --spec "$T/systemd.spec" --socket "$T/root/run/systemd/private" \
		--dump "$T/systemd.dump" --pidfile "$T/systemd.pid" --delay-ms 20 > /dev/null ||
		{ echo "simsystemd failed"; exit 2; }
	cp "$T/systemd.dump" "$T/systemd.initial"
}
systemd_unchanged() {
	diff -u "$T/systemd.initial" "$T/systemd.dump" | sed 's/^/    /'
	[ "${PIPESTATUS[0]}" = 0 ]
}
unit_state() { sed -n "s/^unit $1 \([a-z]*\).*/\1/p" "$T/systemd.dump"; }

sim_down() {
	[ -n "$T" ] || return 0
	[ -f "$T/systemd.pid" ] && kill "$(cat "$T/systemd.pid")" 2>/dev/null
	fusermount3 -u "$T/mnt" 2>/dev/null || umount -l "$T/mnt" 2>/dev/null
	rm -rf "$T"
	T=""
}

snap() { sh "$SNAPSHOT" "$T/mnt"; }

# unchanged: the simulated host is exactly as it was at sim_up, and no state is left
unchanged() {
	snap > "$T/now"
	if ! diff -u "$T/initial" "$T/now" > "$T/diff"; then
		sed 's/^/    /' "$T/diff" | head -20
		return 1
	fi
	[ -z "$(ls "$T/root/run/vfiohook" 2>/dev/null | grep -v '^lock$')" ] || {
		echo "    state left: $(ls "$T/root/run/vfiohook")"
		return 1
	}
}

# vh [vfiohook args...] < input: runs the binary on the sim; sets RC, OUT (stdout), ERR (stderr)
vh() {
	# shellcheck disable=SC2086 # VH_WRAP: a command in front (valgrind), split into words
	${VH_WRAP:-} "$VFIOHOOK" --root "$T/root" --config "$T/kvm.conf" --hooks-dir "$T/hooks" "$@" \
		> "$T/out" 2> "$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

drv() { local d; d=$(readlink "$T/root/sys/bus/pci/devices/$1/driver") && basename "$d" || echo none; }
override() { cat "$T/root/sys/bus/pci/devices/$1/driver_override"; }
state_files() { ls "$T/root/run/vfiohook" 2>/dev/null | grep -c '\.state$'; }

# the one clear line libvirt shows: exactly one line, starting with "vfiohook: "
one_line_error() {
	[ "$(printf '%s\n' "$ERR" | wc -l)" = 1 ] && [ "${ERR#vfiohook: }" != "$ERR" ] || {
		echo "    stderr was: $ERR"
		return 1
	}
}
contains() { case "$1" in *"$2"*) return 0 ;; esac; echo "    '$2' not in: $1"; return 1; }
