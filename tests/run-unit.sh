#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs the cmocka unit test binaries given as arguments and counts their test cases.
#
#   sh tests/run-unit.sh build/tests/test-*
#
# Each binary's own output is shown. A binary that dies before cmocka's summary (a sanitizer
# report, a signal) counts every test it had not passed as failed; one that exits non-zero
# after a clean summary (a leak report at exit) counts one failure more. The last line is
# always "N passed, N failed"; the exit status is non-zero when anything failed.

set -u

total_pass=0
total_fail=0
total_skip=0
broken=""

# count REGEX TEXT: the number in the first line of TEXT that matches the sed REGEX, or empty
count() {
	printf '%s\n' "$2" | sed -n "s/$1/\\1/p" | head -n 1
}

if [ $# -eq 0 ]; then
	echo "run-unit.sh: no test binaries given" >&2
	echo "0 passed, 0 failed"
	exit 1
fi

for bin in "$@"; do
	name=${bin##*/}
	if [ ! -x "$bin" ]; then
		echo "run-unit.sh: $bin is not an executable" >&2
		total_fail=$((total_fail + 1))
		broken="$broken $name"
		continue
	fi
	echo "=== $name"
	out=$(CMOCKA_MESSAGE_OUTPUT=STDOUT "$bin" 2>&1)
	rc=$?
	printf '%s\n' "$out"

	ran=$(count '^\[==========\] Running \([0-9][0-9]*\) test(s)\.$' "$out")
	done_line=$(count '^\[==========\] \([0-9][0-9]*\) test(s) run\.$' "$out")
	pass=$(count '^\[  PASSED  \] \([0-9][0-9]*\) test(s)\.$' "$out")
	fail=$(count '^\[  FAILED  \] \([0-9][0-9]*\) test(s).*$' "$out")
	skip=$(count '^\[  SKIPPED \] \([0-9][0-9]*\) test(s).*$' "$out")
	: "${pass:=0}" "${fail:=0}" "${skip:=0}" "${ran:=0}"

	if [ -z "$done_line" ]; then
		# died before the summary: what it passed stands, the rest failed
		pass=$(printf '%s\n' "$out" | grep -c '^\[       OK \] ')
		skip=$(printf '%s\n' "$out" | grep -c '^\[  SKIPPED \] [^0-9]')
		fail=$((ran - pass - skip))
		[ "$fail" -ge 1 ] || fail=1
		echo "run-unit.sh: $name died (exit status $rc) before its summary" >&2
		broken="$broken $name"
	elif [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		echo "run-unit.sh: $name exited with status $rc after passing its tests" >&2
		fail=1
		broken="$broken $name"
	fi
	if [ "$skip" -gt 0 ]; then extra=", $skip skipped"; else extra=""; fi
	echo "--- $name: $pass passed, $fail failed$extra"
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
done

[ -z "$broken" ] || echo "broken binaries:$broken"
[ "$total_skip" -eq 0 ] || echo "$total_skip skipped"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
