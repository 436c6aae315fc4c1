# SPDX-License-Identifier: GPL-2.0-or-later
# Drop-ins that misbehave: output without end, a closed output, processes left behind, a write
# blocked in the kernel. The drop-in's time limit must be a bound on the hook, the journal must
# not be flooded, and nothing a drop-in started may outlive the hook. Sourced by run.sh (bash),
# after lib.sh; every function is a test case.
#
# Each case gives its processes a marker no other process has, a number of its own with this
# run's PID as more digits (sleep 1005.25$$: other runs of this file may go on at the same
# time), so that pgrep finds only its own, and kills them at the end whatever the outcome.
R=$$

# vhb GUARD [vfiohook args...] < input: vh bounded by GUARD seconds (a hook that does not keep
# its bound must fail the check, not hang the run); also sets WALL (seconds) and CPU (user +
# system seconds of vfiohook and of the processes it reaped)
vhb() {
	local guard=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	# in a subshell, whose children's times (bash's times, second line) are these alone
	(
		timeout -k 1 "$guard" "$VFIOHOOK" --root "$T/root" --config "$T/kvm.conf" \
			--hooks-dir "$T/hooks" "$@" > "$T/out" 2> "$T/err"
		echo $? > "$T/rc"
		times > "$T/time"
	)
	t1=$(date +%s.%N)
	RC=$(cat "$T/rc")
	WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	CPU=$(tail -n 1 "$T/time" | awk '{ split($1, u, "m"); split($2, s, "m"); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}
# le A B: A <= B, as decimals
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }' || { echo "    $1 > $2"; return 1; }; }
# none_left PATTERN: no process whose command line matches PATTERN (pgrep -f)
none_left() {
	local p
	p=$(pgrep -f -- "$1") || return 0
	echo "    left running: $(ps -o pid=,args= -p "$(echo $p | tr ' ' ,)" | tr '\n' ';')"
	return 1
}
# dropin NAME BODY: an executable drop-in for prepare begin of rx590, BODY after #!/bin/sh
dropin() {
	local d=$T/hooks/rx590/prepare/begin
	mkdir -p "$d"
	printf '#!/bin/sh\n%s\n' "$2" > "$d/$1"
	chmod 755 "$d/$1"
}
# logged NAME REGEX: how many lines of drop-in NAME's output (lines matching REGEX) vfiohook
# logged (with -v, to stderr as to the journal)
logged() { grep -c "^vfiohook: scripts: $1: $2\$" "$T/err"; }
DROPIN_CONF='vm = ( { name = "rx590"; pci = { devices = "hostdev"; }; scripts = { timeout = 1; }; } );'

t_dropin_flood() {
	sim_up rx590
	conf "$DROPIN_CONF"
	local d=$T/hooks/rx590/prepare/begin
	dropin 30-flood.sh "exec yes 'flood 1003.25$R'"
	vhb 8 rx590 prepare begin < "$RX590_XML"
	check "flooding drop-in: stopped at its bound of 1 s, prepare fails within 3 s naming it (took ${WALL} s)" \
		'[ "$RC" = 1 ] && le "$WALL" 3 && one_line_error && contains "$ERR" "30-flood.sh did not finish within 1 s"'
	check "flooding drop-in: nothing of it left running" 'none_left "flood 1003\.25$R"'
	check "flooding drop-in: the start rolled back" 'unchanged'
	pkill -f "flood 1003\.25$R"
	vhb 8 -v rx590 prepare begin < "$RX590_XML"
	check "flooding drop-in, -v: at most 500 of its lines logged ($(logged 30-flood.sh "flood 1003.25$R")), then one saying the rest is dropped" \
		'[ "$RC" = 1 ] && le "$WALL" 3 && le "$(logged 30-flood.sh "flood 1003.25$R")" 500 &&
		[ "$(grep -c "30-flood.sh: more output than .*; the rest is dropped" "$T/err")" = 1 ]'
	pkill -f "flood 1003\.25$R"
	rm -f "$d/30-flood.sh"

	# a lot of output, then success: read to the end (the script is not blocked), logged in part
	dropin 30-chatty.sh 'seq 1 200000; echo "last words"; exit 0'
	conf 'vm = ( { name = "rx590"; pci = { devices = "hostdev"; }; scripts = { timeout = 20; }; } );'
	vhb 25 -v rx590 prepare begin < "$RX590_XML"
	check "chatty drop-in: succeeds (${WALL} s), its output bounded ($(logged 30-chatty.sh "[0-9]*") lines logged) and the rest dropped" \
		'[ "$RC" = 0 ] && le "$WALL" 5 && le "$(logged 30-chatty.sh "[0-9]*")" 500 && grep -q "30-chatty.sh: more output than" "$T/err" &&
		grep -q "30-chatty.sh: done" "$T/err" && ! grep -q "30-chatty.sh: 200000" "$T/err"'
	vh rx590 release end - < "$RX590_XML"
	rm -f "$d/30-chatty.sh"

	# one endless line: bounded by bytes, not by lines
	conf "$DROPIN_CONF"
	dropin 30-line.sh "exec awk -v m=1003.75$R 'BEGIN { for (;;) printf \"x\" }'"
	vhb 8 -v rx590 prepare begin < "$RX590_XML"
	check "endless line: bounded (${WALL} s), at most 64 KiB of it logged ($(grep "30-line.sh: x" "$T/err" | wc -c) bytes)" \
		'[ "$RC" = 1 ] && le "$WALL" 3 && le "$(grep "30-line.sh: x" "$T/err" | wc -c)" 80000 &&
		grep -q "30-line.sh: more output than" "$T/err"'
	check "endless line: nothing of it left running" 'none_left "m=1003\.75$R"'
	pkill -f "m=1003\.75$R"
	sim_down
}

t_dropin_closed_output() {
	sim_up rx590
	conf "$DROPIN_CONF"
	# closes its output and goes on: no end of file to wait for, only the process
	dropin 30-closed.sh "exec >&- 2>&-
sleep 1004.5$R"
	vhb 8 rx590 prepare begin < "$RX590_XML"
	check "drop-in that closed its output: stopped at its bound (${WALL} s), little CPU (${CPU} s)" \
		'[ "$RC" = 1 ] && le "$WALL" 3 && le "$CPU" 0.5 && contains "$ERR" "30-closed.sh did not finish within 1 s"'
	check "drop-in that closed its output: nothing left running" 'none_left "sleep 1004\.5$R"'
	check "drop-in that closed its output: the start rolled back" 'unchanged'
	pkill -f "sleep 1004\.5$R"
	dropin 30-closed.sh 'exec >&- 2>&-
sleep 0.8
exit 0'
	conf 'vm = ( { name = "rx590"; pci = { devices = "hostdev"; }; scripts = { timeout = 5; }; } );'
	vhb 10 rx590 prepare begin < "$RX590_XML"
	check "drop-in that closed its output and then exits 0: waited for without spinning (${WALL} s, CPU ${CPU} s)" \
		'[ "$RC" = 0 ] && le 0.7 "$WALL" && le "$WALL" 3 && le "$CPU" 0.5'
	vh rx590 release end - < "$RX590_XML"
	sim_down
}

t_dropin_leftovers() {
	sim_up rx590
	conf "$DROPIN_CONF"
	local d=$T/hooks/rx590/prepare/begin
	# detached grandchildren (a new session), output redirected; the script succeeds
	dropin 30-leave.sh "setsid sh -c 'sleep 1005.1$R & sleep 1005.2$R' > /dev/null 2>&1 < /dev/null &
sleep 0.3
exit 0"
	vhb 8 rx590 prepare begin < "$RX590_XML"
	check "detached grandchildren of a drop-in that succeeded: prepare succeeds (${WALL} s)" '[ "$RC" = 0 ] && le "$WALL" 3'
	check "detached grandchildren of a drop-in that succeeded: none left" 'none_left "sleep 1005\.[12]$R"'
	pkill -f "sleep 1005\.[12]$R"
	vh rx590 release end - < "$RX590_XML"

	# the same, three generations deep and holding the drop-in's output; the script fails
	dropin 30-leave.sh "setsid sh -c 'sh -c \"sleep 1005.3$R & sleep 1005.4$R\" & sleep 1005.5$R' &
sleep 0.3
echo 'left three generations' >&2
exit 3"
	vhb 8 rx590 prepare begin < "$RX590_XML"
	check "grandchildren holding the output of a failing drop-in: prepare fails at once with its message (${WALL} s)" \
		'[ "$RC" = 1 ] && le "$WALL" 3 && one_line_error && contains "$ERR" "30-leave.sh failed with exit status 3: left three generations"'
	check "grandchildren holding the output of a failing drop-in: none left" 'none_left "sleep 1005\.[345]$R"'
	check "grandchildren holding the output of a failing drop-in: the start rolled back" 'unchanged'
	pkill -f "sleep 1005\.[345]$R"

	# detached grandchildren, and the drop-in overruns its time
	dropin 30-leave.sh "setsid sh -c 'sleep 1006.1$R & sleep 1006.2$R' > /dev/null 2>&1 < /dev/null &
sleep 1006.3$R"
	vhb 8 rx590 prepare begin < "$RX590_XML"
	check "detached grandchildren of a drop-in that timed out: prepare fails within 3 s (${WALL} s)" \
		'[ "$RC" = 1 ] && le "$WALL" 3 && contains "$ERR" "30-leave.sh did not finish within 1 s"'
	check "detached grandchildren of a drop-in that timed out: none left" 'none_left "sleep 1006\.[123]$R"'
	check "detached grandchildren of a drop-in that timed out: the start rolled back" 'unchanged'
	pkill -f "sleep 1006\.[123]$R"
	rm -f "$d/30-leave.sh"

	# release end: every drop-in runs even after one failed; still nothing is left
	mkdir -p "$T/hooks/rx590/release/end"
	printf '#!/bin/sh\nsetsid sh -c "sleep 1006.4%s & sleep 1006.5%s" > /dev/null 2>&1 < /dev/null &\nsleep 0.3\nexit 1\n' "$R" "$R" \
		> "$T/hooks/rx590/release/end/10-leave.sh"
	chmod 755 "$T/hooks/rx590/release/end/10-leave.sh"
	vhb 8 rx590 release end - < "$RX590_XML"
	check "release drop-in that failed and left grandchildren: release exits 0, none left" \
		'[ "$RC" = 0 ] && le "$WALL" 3 && none_left "sleep 1006\.[45]$R"'
	pkill -f "sleep 1006\.[45]$R"
	sim_down
}

t_dropin_blocked() {
	sim_up rx590
	conf "$DROPIN_CONF"
	local gov=sys/devices/system/cpu/cpufreq/policy0/scaling_governor
	local script="${T##*/}/hooks/.*/30-blocked\.sh"
	# the drop-in itself is blocked in a write that the file system does not answer
	echo "$gov hang 30" > "$T/faults"
	dropin 30-blocked.sh "echo performance > $T/mnt/$gov
sleep 1007.1$R"
	vhb 8 rx590 prepare begin < "$RX590_XML"
	check "drop-in blocked in a write: prepare fails within 3 s naming it (${WALL} s)" \
		'[ "$RC" = 1 ] && le "$WALL" 3 && one_line_error && contains "$ERR" "30-blocked.sh did not finish within 1 s"'
	check "drop-in blocked in a write: nothing left running" 'none_left "$script|sleep 1007\.1$R"'
	check "drop-in blocked in a write: the write had no effect, the start rolled back" 'unchanged'
	pkill -f "$script|sleep 1007\.1$R"

	# a detached child of it is the one blocked; the drop-in succeeds
	dropin 30-blocked.sh "setsid sh -c 'echo performance > $T/mnt/$gov; sleep 1007.2$R' &
sleep 0.3
exit 0"
	vhb 8 rx590 prepare begin < "$RX590_XML"
	check "detached child blocked in a write: prepare succeeds (${WALL} s), the child is gone" \
		'[ "$RC" = 0 ] && le "$WALL" 3 && none_left "sleep 1007\.2$R"'
	pkill -f "sleep 1007\.2$R"
	: > "$T/faults"
	vh rx590 release end - < "$RX590_XML"
	check "detached child blocked in a write: released, the governor untouched" 'unchanged'

	# hang-d: the write ignores the kill as a process in D state does; the hook cannot reap it,
	# reports it and returns anyway (with EIO the write fails after its 4 s, with no effect)
	if grep -q 'hang-d' "$TOP/tests/simhost/README.md"; then
		# what it started before it got stuck stays its child (it does not die to hand them
		# to us), yet must go
		printf '%s hang-d 4\n%s EIO\n' "$gov" "$gov" > "$T/faults"
		dropin 30-blocked.sh "setsid sh -c 'sleep 1007.4$R & sleep 1007.5$R' > /dev/null 2>&1 < /dev/null &
sleep 1007.6$R &
sleep 0.3
echo performance > $T/mnt/$gov
sleep 1007.3$R"
		vhb 12 -v rx590 prepare begin < "$RX590_XML"
		check "drop-in in D state: prepare fails within timeout + 2 s (${WALL} s)" \
			'[ "$RC" = 1 ] && le "$WALL" 3 && contains "$ERR" "30-blocked.sh did not finish within 1 s"'
		check "drop-in in D state: reported as left behind" \
			'grep -q "30-blocked.sh: 1 process(es) did not end within 1.0 s of SIGKILL.*left behind: .*30-blocked.sh" "$T/err"'
		check "drop-in in D state: what it started is gone all the same" 'none_left "sleep 1007\.[456]$R"'
		pkill -f "sleep 1007\.[456]$R"
		# the write fails after its 4 s; then the killed process goes
		local i
		for i in $(seq 60); do pgrep -f "$script" > /dev/null || break; sleep 0.1; done
		check "drop-in in D state: gone once the kernel lets go of it" 'none_left "$script|sleep 1007\.[3-6]$R"'
		pkill -f "$script|sleep 1007\.[3-6]$R"
		: > "$T/faults"
		check "drop-in in D state: the start rolled back" 'unchanged'
	else
		echo "skip: drop-in in D state: the simulated host has no hang-d fault"
	fi
	sim_down
}

t_dropin_many() {
	# more drop-ins than any fixed table would hold: every one runs, in order
	sim_up rx590
	conf 'vm = ( { name = "rx590"; pci = { devices = "hostdev"; }; scripts = { timeout = 5; }; } );'
	local d=$T/hooks/rx590/prepare/begin i
	mkdir -p "$d"
	for i in $(seq 1000 1299); do
		printf '#!/bin/sh\necho %s >> %s/many.log\n' "$i" "$T" > "$d/$i.sh"
		chmod 755 "$d/$i.sh"
	done
	vhb 60 rx590 prepare begin < "$RX590_XML"
	check "300 drop-ins: all run, in order (${WALL} s)" \
		'[ "$RC" = 0 ] && [ "$(cat "$T/many.log" | tr "\n" " ")" = "$(seq 1000 1299 | tr "\n" " ")" ]'
	vh rx590 release end - < "$RX590_XML"
	sim_down
}
