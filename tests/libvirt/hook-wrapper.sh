#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Test hook for tier 1: installed as hooks/qemu of the test's private libvirt.
# Runs vfiohook with the test's --config and --root and records every call,
# one tab-separated line in $LOGDIR/calls.tsv:
#   pid  argc  vm  op  subop  extra  exit-status  stdout-bytes  stderr-bytes
# stdin (the domain XML) goes to vfiohook untouched; vfiohook's stdout is kept
# in $LOGDIR/PID.out and never replayed; its stderr is kept in $LOGDIR/PID.err
# and copied to our stderr unchanged; its exit status is ours.
# VFIOHOOK, CONF, ROOT and LOGDIR come from wrapper.env next to this file.
# shellcheck source=/dev/null
. "${0%/*}/wrapper.env"
out="$LOGDIR/$$.out"
err="$LOGDIR/$$.err"
"$VFIOHOOK" --config "$CONF" --root "$ROOT" "$@" >"$out" 2>"$err"
rc=$?
cat "$err" >&2
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$$" "$#" "$1" "$2" "$3" "$4" "$rc" \
	"$(wc -c <"$out")" "$(wc -c <"$err")" >>"$LOGDIR/calls.tsv"
exit "$rc"
