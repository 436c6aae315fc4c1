#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Benchmark (c): prepare and release on the real-kernel tier. Boots the tier-2 guest of
# tests/kernel (Debian's kernel under QEMU/TCG, the fake GPU behind an emulated IOMMU; the same
# cached kernel and initramfs, tests/kernel/lib.sh) with tests/bench/guest-bench.sh in place of
# the test script, which times vfiohook's prepare and release (hugepages, vtconsole, GPU
# module, both functions to vfio-pci, as libvirt runs the hook) against
# tests/bench/guest-by-hand.sh making the same changes, interleaved, KB_RUNS cycles of each:
# run by busybox (static, its own modprobe), and, when this host has them, by dash with kmod's
# modprobe and rmmod (dynamically linked, libkmod and libcrypto: the tools a desktop runs the
# tutorials' scripts with). Every cycle runs with the guest's address space randomization and
# without it: QEMU's TCG keeps translated code by virtual address, so with randomization each
# dynamically linked process (the hook, dash, kmod; not the static busybox) translates all the
# code it runs again, a cost no real CPU has. Prints medians and ratios of both; goal: the hook
# within 1.3x the busybox script, judged without randomization. TCG makes every exec and
# module load slow: the figures are for comparing, not absolute.
#
# Opt-in: runs only with BENCH_KERNEL=1 (about a minute; more on a loaded host). Needs root, QEMU,
# OVMF, busybox-static (tests/deps.sh); skips with one line otherwise.
#   KB_RUNS=5  KB_VERBOSE=0 (1: print the hook's plans)  VH_QEMU_TIMEOUT=300
# shellcheck disable=SC2034,SC2013 # TIER_ID, TIER_NAME and FAILED are lib.sh's; sonames are words
set -uo pipefail
TIER_ID=bench
TIER_NAME="kernel benchmark (c)"
# shellcheck source=../kernel/lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../kernel/lib.sh"
BHERE=$(cd "$(dirname "$0")" && pwd)
KB_RUNS=${KB_RUNS:-5}

skip_tier() { # lib.sh's, with a benchmark's words
	echo "kernel benchmark (c) skipped: $*"
	exit 0
}
if [ "${BENCH_KERNEL:-0}" != 1 ]; then
	skip_tier "opt-in, it boots a QEMU/TCG guest (about a minute, more on a loaded host): make bench BENCH_KERNEL=1"
fi
case $KB_RUNS in '' | *[!0-9]* | 0) skip_tier "KB_RUNS=$KB_RUNS is not a positive number" ;; esac
require_prereqs
[ -x "$BIN" ] || skip_tier "$BIN not built"
envout=$("$KHERE/setup.sh") || skip_tier "tests/kernel/setup.sh could not prepare the guest kernel and initramfs"
eval "$envout"
init_work
FAILED=1 # lib.sh's cleanup keeps the logs unless this is 0

T0=$(date +%s.%N)
stage=$WORK/stage
mkdir -p "$stage/vh" "$stage/etc/libvirt/hooks" "$stage/usr/sbin"
install -m 755 "$KHERE/guest/init" "$stage/init"
install -m 644 "$KHERE/guest/lib.sh" "$stage/vh/lib.sh"
# the init of the tier-2 guest runs /vh/tier2.sh for vh.mode=tier2
install -m 755 "$BHERE/guest-bench.sh" "$stage/vh/tier2.sh"
install -m 755 "$BHERE/guest-by-hand.sh" "$stage/vh/by-hand.sh"
echo "KB_RUNS=$KB_RUNS" >"$stage/vh/bench.env"
gcc -static -O2 -o "$stage/vh/hp-time" "$BHERE/hp-time.c" || skip_tier "cannot build a static tests/bench/hp-time.c"
# what any dynamically linked program costs there (vfiohook is one, busybox is not)
gcc -O2 -o "$stage/vh/trivial" "$BHERE/trivial.c" || skip_tier "cannot build tests/bench/trivial.c"
install -m 755 "$BIN" "$stage/etc/libvirt/hooks/qemu"
install -m 755 "$BIN" "$stage/usr/sbin/vfiohook"
# the binary's libraries and those it dlopen()s (as tests/kernel/run.sh does)
mapfile -t dl < <(dlopen_paths "$BIN" 2>/dev/null)
# the same script once more with a distribution's own tools (dash; kmod's modprobe and rmmod,
# with libkmod), as the tutorials' scripts run on a desktop, when this host has them
distro=()
if [ -x /bin/dash ] && command -v kmod >/dev/null; then
	mkdir -p "$stage/opt/distro"
	install -m 755 /bin/dash "$stage/opt/distro/sh"
	for t in modprobe rmmod; do install -m 755 "$(command -v kmod)" "$stage/opt/distro/$t"; done
	distro=(/bin/dash "$(command -v kmod)")
fi
LIBS=$(libs_cpio "$BIN" "${distro[@]}" "${dl[@]}")
make_initrd "$stage" "$WORK/initrd.cpio" "$LIBS"

echo "prepare and release in the tier-2 guest ($KVER under QEMU/TCG): $KB_RUNS cycle(s) of each, interleaved"
run_guest tier2 1024 "${VH_QEMU_TIMEOUT:-300}" >/dev/null
res=$WORK/results.log
tr -d '\r' <"$res" | sed -n 's/^VH-NOTE: /  /p'
if [ "${KB_VERBOSE:-0}" = 1 ]; then
	tr -d '\r' <"$res" | sed -n 's/^VH-PLAN: \(prepare\|release\): /  \1 plan: /p'
else
	echo "  the hook's plan: $(grep -c '^VH-PLAN: prepare' "$res") steps to prepare, $(grep -c '^VH-PLAN: release' "$res") to release (KB_VERBOSE=1 prints them); tests/bench/guest-by-hand.sh makes the same writes"
fi
end=$(tr -d '\r' <"$res" | sed -n 's/^VH-END: //p')
tr -d '\r' <"$res" | awk -v runs="$KB_RUNS" '
function fmt(us) { return us >= 1e6 ? sprintf("%.2f s", us / 1e6) : sprintf("%.1f ms", us / 1e3) }
function med(k,   n, i, j, t, a) {
	n = cnt[k]
	for (i = 1; i <= n; i++) a[i] = v[k, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$1 == "VH-BENCH:" && $5 == 0 { k = $2 " " $3 " " $6; v[k, ++cnt[k]] = $4; if ($6 != 0) aslr = $6 }
# the table of one randomize_va_space setting A; sets r[], dr[], met, dmet
function table(A,   i, ph, h, s, x) {
	printf "  %-10s %-16s %-16s %-8s%s\n", "", "vfiohook (hook)", "busybox script", "ratio", d ? "  dash+kmod script  ratio" : ""
	met = 1; dmet = 1
	for (i = 1; i <= 3; i++) {
		if (i < 3) { ph = i == 1 ? "prepare" : "release"; h = med("hook " ph " " A); s = med("script " ph " " A); x = d ? med("distro " ph " " A) : 0 }
		else { ph = "cycle"; h = med("hook prepare " A) + med("hook release " A); s = med("script prepare " A) + med("script release " A)
			x = d ? med("distro prepare " A) + med("distro release " A) : 0 }
		printf "  %-10s %-16s %-16s %-8s", ph, fmt(h), fmt(s), sprintf("%.2fx", h / s)
		if (d) printf "  %-17s %.2fx", fmt(x), h / x
		printf "\n"
		if (i < 3 && h > 1.3 * s) met = 0
		if (i < 3 && d && h > 1.3 * x) dmet = 0
		r[i] = sprintf("%.2fx", h / s)
		if (d) dr[i] = sprintf("%.2fx", h / x)
	}
	printf "  (medians of %d run(s) each; whole processes, started through env -i as libvirt starts the hook)\n", cnt["hook prepare " A]
	if (cnt["proc dryrun " A]) printf "  fixed cost of a process (medians): busybox true %s, a trivial dynamically linked C program %s, vfiohook --version %s, vfiohook --dry-run of the same prepare %s\n", fmt(med("proc true " A)), fmt(med("proc trivial " A)), fmt(med("proc version " A)), fmt(med("proc dryrun " A))
}
END {
	if (!cnt["hook prepare 0"] || !cnt["script prepare 0"] || !cnt["hook release 0"] || !cnt["script release 0"]) exit 1
	d = cnt["distro prepare 0"] && cnt["distro release 0"]
	if (aslr != "") {
		printf "with address space randomization (randomize_va_space=%s, as the guest boots):\n", aslr
		table(aslr)
		r1 = r[1]; r2 = r[2]; m1 = met
	}
	printf "without it (randomize_va_space=0): QEMU TCG keys the code it translated by virtual address, so with\n"
	printf "randomization every dynamically linked process translates all the code it runs again (busybox, static\n"
	printf "and not position-independent, is spared). No real CPU pays that; this table is what the goal is judged on:\n"
	table(0)
	printf "goal \"prepare and release on the real-kernel tier <= 1.3x the same changes made by hand\": prepare %s, release %s: %s\n", r[1], r[2], met ? "MET" : "NOT MET"
	if (aslr != "") printf "  (with randomization, paying TCG'"'"'s translation again in every process: prepare %s, release %s: %s)\n", r1, r2, m1 ? "within 1.3x" : "not within 1.3x"
	if (d) printf "  (against the script run by dash with kmod, as on a desktop: prepare %s, release %s: %s)\n", dr[1], dr[2], dmet ? "within 1.3x" : "not within 1.3x"
}' || { echo "kernel benchmark (c): no complete figures from the guest (end: '${end:-none}'); serial logs in $WORK"; exit 1; }
case $end in
"$KB_RUNS cycles") FAILED=0 ;;
*) echo "  the guest stopped early ($end); serial logs kept in $WORK" ;;
esac
echo "  kernel benchmark: $(printf '%.0f' "$(echo "$(date +%s.%N) - $T0" | bc)") s (guest: ${QEMU_WALL}s)"
