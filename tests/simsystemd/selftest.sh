#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# selftest.sh [SIMSYSTEMD [VFIOHOOK]]: checks simsystemd on its own (spec errors, busctl
# against it) and then with the real vfiohook binary (--root on a temporary root whose
# run/systemd/private is simsystemd's socket). SIMSYSTEMD defaults to build/simsystemd (compiled
# into the temporary directory when missing), VFIOHOOK to $VFIOHOOK or build/vfiohook. Prints
# "ok: ..." / "FAIL: ..." / "skip: ..." per check and ends with "N passed, N failed" (plus
# ", N skipped"); exits 1 if a check failed. The vfiohook tier needs root (vfiohook refuses a
# kvm.conf not owned by root); the busctl tier needs busctl.
# The checks are 'eval'ed strings on purpose (RC, OUT, ERR, LOG are set by vh):
# shellcheck disable=SC2016,SC2034
set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sim=${1:-$top/build/simsystemd}
vfiohook=${2:-${VFIOHOOK:-$top/build/vfiohook}}
pass=0
fail=0
skipped=0
pidfiles=()
tmp=$(mktemp -d "${TMPDIR:-/tmp}/simsystemd-selftest.XXXXXX") || exit 1

cleanup() {
	local f p
	for f in "${pidfiles[@]}"; do
		p=$(cat "$f" 2>/dev/null) && kill "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
skip() { skipped=$((skipped + 1)); echo "skip: $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
eq() { [ "$1" = "$2" ] || { echo "  (got '$1', expected '$2')"; return 1; }; }
has() { case "$1" in *"$2"*) return 0 ;; esac; echo "  ('$2' not in: $1)"; return 1; }
lacks() { case "$1" in *"$2"*) echo "  ('$2' found in: $1)"; return 1 ;; esac; }
# until_true SECONDS COMMAND...: polls every 20 ms; the last try shows its output
until_true() {
	local n=$(($1 * 50))
	shift
	while ! "$@" > /dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || { "$@"; return 1; }
		sleep 0.02
	done
}
same_dump() { # same_dump NAME: the dump is what it was at start
	diff -u "$tmp/$1.initial" "$tmp/$1.dump" | sed 's/^/  /'
	[ "${PIPESTATUS[0]}" = 0 ]
}
in_dump() { grep -qxF -- "$2" "$tmp/$1.dump" || { echo "  (no line '$2' in:"; sed 's/^/    /' "$tmp/$1.dump"; echo "  )"; return 1; }; }

if [ ! -x "$sim" ]; then
	sim=$tmp/simsystemd
	echo "compiling simsystemd into $sim"
	# shellcheck disable=SC2046
	${CC:-cc} -std=gnu17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$sim" "$here/simsystemd.c" \
		$(pkg-config --cflags --libs libsystemd) || { echo "0 passed, 1 failed"; exit 1; }
fi

# start_sim NAME SPEC SOCKET [ARGS...]: a daemon with $tmp/NAME.{dump,log,pid}
start_sim() {
	local name=$1 spec=$2 sock=$3
	shift 3
	pidfiles+=("$tmp/$name.pid")
	"$sim" --spec "$spec" --socket "$sock" --dump "$tmp/$name.dump" --log "$tmp/$name.log" \
		--pidfile "$tmp/$name.pid" --delay-ms 50 "$@" > "$tmp/$name.out" || return 1
	[ -S "$sock" ] && kill -0 "$(cat "$tmp/$name.pid")" && cp "$tmp/$name.dump" "$tmp/$name.initial"
}
gone() { ! kill -0 "$1" 2>/dev/null; }

cat > "$tmp/main.spec" <<'EOF'
# the usual desktop: gdm behind the display-manager alias
unit gdm.service active alias=display-manager.service
unit nvidia-persistenced.service inactive
unit broken.service active stop=failed   # JobRemoved "failed", stays active
unit stuck.service active stop=hang      # no JobRemoved for a stop, ever
slice system.slice
slice user.slice allowed=0-3
scope init.scope
system-state running
cpus 0-7
EOF

# ---- the spec parser ----
spec_error() { # spec_error LINE EXPECTED-TEXT SPEC-TEXT
	local err
	printf '%s\n' "$3" > "$tmp/bad.spec"
	err=$("$sim" --spec "$tmp/bad.spec" --socket "$tmp/bad.sock" -f 2>&1)
	[ $? = 2 ] || { echo "  (exit status was not 2)"; return 1; }
	has "$err" "bad.spec:$1: $2" && [ ! -e "$tmp/bad.sock" ]
}
check "spec: a bad state is refused with its line number" \
	spec_error 3 "state 'running'" $'# c\nslice system.slice\nunit x.service running'
check "spec: an unknown option is refused with its line number" \
	spec_error 2 "unknown option 'foo=bar'" $'unit a.service active\nslice system.slice foo=bar'
check "spec: a name defined twice (as an alias) is refused" \
	spec_error 2 "display-manager.service is defined twice" $'unit gdm.service active alias=display-manager.service\nunit display-manager.service active'
check "spec: a slice must be named *.slice" spec_error 1 "'init.scope' does not end in .slice" 'slice init.scope'
check "spec: a bad fault is refused" spec_error 1 "stop=crash" 'unit a.service active stop=crash'

# ---- busctl against a --hello instance (busctl always sends Hello, which systemd's private
# socket does not answer: the instance vfiohook uses below refuses it, as systemd would) ----
if ! command -v busctl > /dev/null; then
	skip "busctl tier: busctl is not installed"
else
	bsock=$tmp/bus.sock
	A=unix:path=$bsock
	U=/org/freedesktop/systemd1/unit
	bus() { busctl --address="$A" "$@" 2>&1; }
	mgr() { bus call org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager "$@"; }
	prop() { bus get-property org.freedesktop.systemd1 "$U/$1" "org.freedesktop.systemd1.$2" "$3"; }
	check "daemon: returns once the socket listens, PID on stdout" start_sim bus "$tmp/main.spec" "$bsock" --hello \
		--delay-ms 500
	check "daemon: the PID printed is the pidfile's" eq "$(cat "$tmp/bus.out")" "$(cat "$tmp/bus.pid")"
	check "GetUnit resolves the alias" eq "$(mgr GetUnit s display-manager.service)" "o \"$U/gdm_2eservice\""
	check "GetUnit of an unknown unit fails (NoSuchUnit)" has "$(mgr GetUnit s nope.service)" \
		"Unit nope.service not loaded."
	check "Unit.Id is the unit's own name" eq "$(prop gdm_2eservice Unit Id)" 's "gdm.service"'
	out=$(mgr StopUnit ss display-manager.service replace)
	check "StopUnit returns a job path at once" has "$out" "o \"/org/freedesktop/systemd1/job/"
	check "the unit is deactivating while its job runs" eq "$(prop gdm_2eservice Unit ActiveState)" 's "deactivating"'
	check "the job ends: inactive, JobRemoved done" until_true 3 grep -q "JobRemoved .* gdm.service done" "$tmp/bus.log"
	check "ActiveState is inactive afterwards" eq "$(prop gdm_2eservice Unit ActiveState)" 's "inactive"'
	mgr StartUnit ss gdm.service replace > /dev/null
	check "StartUnit makes it active again" until_true 3 in_dump bus "unit gdm.service active"
	mgr StopUnit ss stuck.service replace > /dev/null
	check "a hanging stop job stays pending" in_dump bus "unit stuck.service deactivating job=stop"
	mgr StartUnit ss stuck.service replace > /dev/null
	check "a start replaces it: JobRemoved canceled" grep -q "JobRemoved .* stuck.service canceled" "$tmp/bus.log"
	check "... and the unit ends active with no job" until_true 3 in_dump bus "unit stuck.service active"
	mgr SetUnitProperties 'sba(sv)' system.slice true 1 AllowedCPUs ay 1 3 > /dev/null
	check "SetUnitProperties sets AllowedCPUs (ay)" in_dump bus "slice system.slice active allowed=0-1 effective=0-1"
	check "AllowedCPUs reads back padded to 8 bytes, like systemd" \
		eq "$(prop system_2eslice Slice AllowedCPUs)" "ay 8 3 0 0 0 0 0 0 0"
	check "EffectiveCPUs of an unrestricted unit: every online CPU" \
		eq "$(prop init_2escope Scope EffectiveCPUs)" "ay 8 255 0 0 0 0 0 0 0"
	mgr SetUnitProperties 'sba(sv)' system.slice true 1 AllowedCPUs ay 0 > /dev/null
	check "an empty array resets it" in_dump bus "slice system.slice active allowed= effective=0-7"
	check "runtime=true writes nothing persistent" in_dump bus "persistent-writes 0"
	check "AllowedCPUs as a string is refused" has "$(mgr SetUnitProperties 'sba(sv)' user.slice true 1 \
		AllowedCPUs s 0)" "array of bytes"
	check "SystemState" eq "$(bus get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 \
		org.freedesktop.systemd1.Manager SystemState)" 's "running"'
	rm -f "$tmp/bus.dump"
	kill -USR1 "$(cat "$tmp/bus.pid")"
	check "SIGUSR1 writes the dump again" until_true 3 test -s "$tmp/bus.dump"
	check "the state after these round trips is the initial one" same_dump bus
	p=$(cat "$tmp/bus.pid")
	kill "$p"
	check "SIGTERM: it exits and removes its socket" until_true 3 eval "gone $p && [ ! -e $bsock ]"
fi

# ---- the real vfiohook ----
root=$tmp/root
sock=$root/run/systemd/private
mkdir -p "$root/run/systemd" "$root/sys" "$tmp/hooks"
start_sim main "$tmp/main.spec" "$sock" || { bad "simsystemd did not start"; }
if command -v busctl > /dev/null; then
	check "busctl (it sends Hello) is refused without --hello, as by systemd's private socket" \
		eval "! busctl --address=unix:path=$sock call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
		org.freedesktop.systemd1.Manager GetUnit s gdm.service > /dev/null 2>&1"
fi

if [ "$(id -u)" != 0 ]; then
	skip "vfiohook tier: not root (vfiohook refuses a kvm.conf not owned by root)"
elif [ ! -x "$vfiohook" ]; then
	skip "vfiohook tier: no vfiohook binary at $vfiohook (run make first)"
else
	cat > "$tmp/kvm.conf" <<'EOF'
vm = (
  { name = "all"; display = { units = [ "auto" ]; }; isolation = { host_cpus = "0"; }; },
  { name = "nv"; display = { units = [ "nvidia-persistenced.service" ]; }; },
  { name = "br"; display = { units = [ "auto", "broken.service" ]; }; },
  { name = "st"; display = { units = [ "stuck.service" ]; timeout = 1; }; },
  { name = "iso"; isolation = { host_cpus = "0"; }; },
  { name = "dm"; display = { units = [ "auto" ]; }; }
);
EOF
	chmod 600 "$tmp/kvm.conf"
	# vh VM OP SUBOP [vfiohook options...]: sets RC, OUT, ERR; LOG: the simulator's log of this run
	vh() {
		local vm=$1 op=$2 sub=$3 lines
		shift 3
		lines=$(wc -l < "$tmp/$inst.log")
		printf "<domain type='kvm'><name>%s</name><uuid>00000000-0000-4000-8000-%012d</uuid></domain>\n" \
			"$vm" "$(printf %s "$vm" | cksum | cut -d' ' -f1)" > "$tmp/dom.xml"
		"$vfiohook" --root "$root" --config "$tmp/kvm.conf" --hooks-dir "$tmp/hooks" "$@" \
			"$vm" "$op" "$sub" - < "$tmp/dom.xml" > "$tmp/out" 2> "$tmp/err"
		RC=$?
		OUT=$(cat "$tmp/out")
		ERR=$(cat "$tmp/err")
		LOG=$(tail -n +$((lines + 1)) "$tmp/$inst.log")
	}
	one_line() { eq "$RC" 1 && only_line "$1"; }
	only_line() { eq "$(printf '%s\n' "$ERR" | wc -l)" 1 && has "$ERR" "vfiohook: $1"; }
	no_state() {
		local f
		for f in "$root"/run/vfiohook/*; do
			[ ! -e "$f" ] || [ "${f##*/}" = lock ] || { echo "  (left: ${f##*/})"; return 1; }
		done
	}
	inst=main

	vh all prepare begin --dry-run
	check "dry run: exit 0, the plan on stdout" eval 'eq "$RC" 0 && has "$OUT" "stop unit display-manager.service"'
	check "dry run: nothing stopped or set" eval 'lacks "$LOG" StopUnit && lacks "$LOG" SetUnitProperties && same_dump main'

	vh all prepare begin
	check "prepare: exit 0, nothing on stdout" eval 'eq "$RC" 0 && eq "$OUT" ""'
	check "prepare stops gdm through the alias" eval 'has "$LOG" "StopUnit display-manager.service replace" &&
		in_dump main "unit gdm.service inactive"'
	check "prepare sets AllowedCPUs=0 on system.slice, user.slice, init.scope" eval '
		in_dump main "slice system.slice active allowed=0 effective=0" &&
		in_dump main "slice user.slice active allowed=0 effective=0" &&
		in_dump main "scope init.scope active allowed=0 effective=0"'
	check "prepare: at runtime only (runtime=true)" in_dump main "persistent-writes 0"
	vh all release end
	check "release: exit 0" eq "$RC" 0
	check "release starts it again" eval 'has "$LOG" "StartUnit display-manager.service replace" &&
		in_dump main "unit gdm.service active"'
	check "release restores user.slice's previous AllowedCPUs (0-3)" \
		in_dump main "slice user.slice active allowed=0-3 effective=0-3"
	check "round trip: dump after == dump before, no state left" eval 'same_dump main && no_state'

	vh nv prepare begin
	check "an inactive unit: prepare does not stop it" eval 'eq "$RC" 0 && lacks "$LOG" StopUnit'
	vh nv release end
	check "an inactive unit is not started by release" eval 'eq "$RC" 0 && lacks "$LOG" StartUnit &&
		same_dump main && no_state'

	vh br prepare begin
	check "a failing stop job: prepare fails with one line naming it" one_line "cannot stop broken.service"
	check "... and rolls back: gdm started again, dump as before, no state" eval '
		has "$LOG" "StartUnit display-manager.service" && same_dump main && no_state'

	t0=$(date +%s%N)
	vh st prepare begin
	ms=$((($(date +%s%N) - t0) / 1000000))
	check "a hanging stop job: prepare fails with one line" one_line "cannot stop stuck.service"
	check "... after display.timeout = 1 s (took $ms ms)" eval '[ $ms -ge 900 ] && [ $ms -lt 3000 ]'
	check "... and rolls back: the stop job replaced, the unit active, no job left" eval '
		has "$LOG" "stuck.service canceled" && same_dump main && no_state'

	# a host shutting down, where SetUnitProperties on init.scope is refused
	kill "$(cat "$tmp/main.pid")"
	until_true 3 test ! -e "$sock"
	cat > "$tmp/down.spec" <<'EOF'
unit gdm.service active alias=display-manager.service
slice system.slice
slice user.slice
scope init.scope set=denied
system-state stopping
EOF
	start_sim down "$tmp/down.spec" "$sock" || bad "simsystemd did not start"
	inst=down
	rm -rf "$root/run/vfiohook"
	vh iso prepare begin
	check "isolation refused on init.scope: prepare fails with one line" only_line "cannot set AllowedCPUs of init.scope"
	check "... and the slices already limited are reset" same_dump down
	# nothing was changed on init.scope (the call was refused), so nothing is left to undo
	check "... the host is as it was: exit 1 (not 3), no state left" eval 'eq "$RC" 1 && no_state'
	vh dm prepare begin
	check "prepare during shutdown still stops gdm" eval 'eq "$RC" 0 && in_dump down "unit gdm.service inactive"'
	vh dm release end
	check "release during shutdown (SystemState stopping) does not start gdm" eval '
		eq "$RC" 0 && lacks "$LOG" StartUnit && in_dump down "unit gdm.service inactive"'
fi

if [ $skipped -gt 0 ]; then
	echo "$pass passed, $fail failed, $skipped skipped"
else
	echo "$pass passed, $fail failed"
fi
[ $fail = 0 ]
