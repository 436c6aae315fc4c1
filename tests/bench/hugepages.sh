#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The hugepage stage on this machine's real kernel (2 MiB pages), against
#   * the floor: one write(2) of the page count to nr_hugepages, timed in-process (the kernel's
#     own work: allocation with its reclaim and compaction, and nothing else);
#   * the tutorials' loop (alloc-hugepages.sh: write, read back, compact_memory, up to 1000
#     rounds), run by sh, killed after HP_TUTORIAL_CAP seconds;
#   * vfiohook as a user runs it: `vfiohook --config CONF VM prepare begin < XML` (a kvm.conf
#     with only the hugepage stage, a domain with <memory> and hugepage backing), whole process;
#     `release end` after it (timed too, not compared).
# on a flat machine (caches dropped and memory compacted before each run) and on a fragmented one
# the benchmark builds itself (tests/bench/fragment.c: a 4 KiB page pinned with io_uring in
# HP_FRAG_PCT % of the 2 MiB pageblocks, which compaction cannot move, plus HP_CACHE_MIB of page
# cache, read again before each run), for HP_OK_MIB (8 GiB: fits on both) and for a target more
# than the fragmented machine has (measured by a probe). The contenders take turns, in rotating
# order, so machine load hits them alike; medians of HP_RUNS runs. Before each run vfiohook (a
# copy in a private directory: builds may replace build/vfiohook meanwhile), its libraries, sh
# and the scripts are run or read once (warm page cache: a host that just ran libvirt).
# Everything is put back: the fragmenting process ends (pins go with it), memory is compacted,
# and nr_hugepages is written back to what it was. Needs root; skips (one line, exit 0) without
# a 2 MiB pool, with huge pages in use, with vfiohook state of real VMs, or when MemAvailable is
# too small for the targets.
#
#   HP_RUNS=7  HP_OK_MIB=8192  HP_FRAG_PCT=55  HP_RESERVE_MIB=2048 (memory left to the rest of
#   the machine by the fill and the probes)  HP_CACHE_MIB=512  HP_TUTORIAL_CAP=10 (seconds)
# shellcheck disable=SC2046,SC2086 # "$(hp-time ...)" and the case lists are split on purpose
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
VFIOHOOK=${VFIOHOOK:-$TOP/build/vfiohook}
HP_RUNS=${HP_RUNS:-7}
HP_OK_MIB=${HP_OK_MIB:-8192}
HP_FRAG_PCT=${HP_FRAG_PCT:-55}
HP_RESERVE_MIB=${HP_RESERVE_MIB:-2048}
HP_CACHE_MIB=${HP_CACHE_MIB:-512}
HP_TUTORIAL_CAP=${HP_TUTORIAL_CAP:-10}
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB
B=$TOP/build/bench
UUID_OK=b0e1c4a2-7d3f-4e15-9a6b-2c8d0f1e3a57
UUID_BIG=b0e1c4a2-7d3f-4e15-9a6b-2c8d0f1e3a58

skip() {
	echo "hugepage benchmark skipped: $*"
	exit 0
}
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
nr() { cat $POOL/nr_hugepages; }

echo "hugepage stage on this machine's kernel ($(uname -r), $(($(meminfo MemTotal) / 1048576)) GiB, 2 MiB pages):"
[ "$(id -u)" = 0 ] || skip "needs root (it writes nr_hugepages, compacts memory and pins pages)"
[ -w $POOL/nr_hugepages ] || skip "this kernel has no 2 MiB hugepage pool ($POOL)"
[ -w /proc/sys/vm/compact_memory ] || skip "this kernel has no compaction (/proc/sys/vm/compact_memory)"
[ "$(meminfo Hugepagesize)" = 2048 ] || skip "the default huge page size is not 2 MiB (the tutorial loop writes /proc/sys/vm/nr_hugepages)"
[ -x "$VFIOHOOK" ] || skip "$VFIOHOOK not built"
if ls /run/vfiohook/*.state >/dev/null 2>&1; then
	skip "vfiohook state of real VMs in /run/vfiohook"
fi
ORIG=$(nr)
if [ "$(cat $POOL/free_hugepages)" != "$ORIG" ] || [ "$(cat $POOL/resv_hugepages)" != 0 ] ||
	[ "$(cat $POOL/surplus_hugepages)" != 0 ]; then
	skip "2 MiB huge pages are in use (pool $ORIG, free $(cat $POOL/free_hugepages)): it would have to take them away"
fi
val=
for v in HP_RUNS HP_OK_MIB HP_FRAG_PCT HP_RESERVE_MIB HP_CACHE_MIB HP_TUTORIAL_CAP; do
	eval "val=\$$v"
	case $val in '' | *[!0-9]*) skip "$v=$val is not a whole number" ;; esac
done
if [ "$HP_RUNS" -lt 1 ] || [ "$HP_FRAG_PCT" -lt 1 ] || [ "$HP_FRAG_PCT" -gt 90 ]; then
	skip "HP_RUNS must be at least 1, HP_FRAG_PCT between 1 and 90"
fi
OKP=$((HP_OK_MIB / 2))
# the OK target must still fit once HP_FRAG_PCT % of the pageblocks are pinned
NEED=$((HP_OK_MIB * 100 / (100 - HP_FRAG_PCT) + HP_RESERVE_MIB + HP_CACHE_MIB))
AVAIL=$(($(meminfo MemAvailable) / 1024))
[ "$AVAIL" -ge "$NEED" ] ||
	skip "MemAvailable is $AVAIL MiB; it needs $NEED MiB (a $HP_OK_MIB MiB target that still fits with $HP_FRAG_PCT % of the pageblocks pinned, $HP_RESERVE_MIB MiB left to the rest of the machine, $HP_CACHE_MIB MiB of page cache)"

mkdir -p "$B"
cc -O2 -o "$B/hp-time" tests/bench/hp-time.c || skip "cannot build tests/bench/hp-time.c"
cc -O2 -o "$B/fragment" tests/bench/fragment.c || skip "cannot build tests/bench/fragment.c"
cc -O2 -o "$B/trivial" tests/bench/trivial.c || skip "cannot build tests/bench/trivial.c"
T=$(mktemp -d)
# a copy of its own: the binary under build/ may be rebuilt while this runs
cp "$VFIOHOOK" "$T/vfiohook" || skip "cannot copy $VFIOHOOK"
VFIOHOOK=$T/vfiohook
CACHE_FILE=
FRAG_PID=
cleanup() {
	if [ -n "$FRAG_PID" ]; then
		kill "$FRAG_PID" 2>/dev/null
		wait "$FRAG_PID" 2>/dev/null
	fi
	for x in "ok $UUID_OK" "big $UUID_BIG"; do
		set -- $x
		[ -e "/run/vfiohook/$2.state" ] || continue
		echo "  warning: the state of bench-hp-$1 was left after a run: releasing it"
		"$VFIOHOOK" --config "$T/kvm.conf" "bench-hp-$1" release end < "$T/$1.xml" > /dev/null 2>&1
		rm -f "/run/vfiohook/$2.state"
	done
	echo "$ORIG" > $POOL/nr_hugepages
	echo 1 > /proc/sys/vm/compact_memory
	[ -z "$CACHE_FILE" ] || rm -f "$CACHE_FILE"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo 0 > $POOL/nr_hugepages

settle() { # the flat machine
	sync
	echo 3 > /proc/sys/vm/drop_caches
	echo 1 > /proc/sys/vm/compact_memory
}
refill() { [ -z "$CACHE_FILE" ] || cat "$CACHE_FILE" > /dev/null; }
warm() { # what every contender runs: binary, libraries, config, scripts
	[ ! -e "$T/kvm.conf" ] || "$VFIOHOOK" --dry-run --config "$T/kvm.conf" bench-hp-ok prepare begin < "$T/ok.xml" \
		> /dev/null 2>&1
	sh -c "cat /proc/sys/vm/nr_hugepages" > /dev/null
	cat tests/bench/alloc-hugepages.sh "$B/hp-time" > /dev/null
}
probe() { # how many 2 MiB pages can be had (asking for all but HP_RESERVE_MIB of MemAvailable)
	cap=$((($(meminfo MemAvailable) / 1024 - HP_RESERVE_MIB) / 2))
	echo "$cap" > $POOL/nr_hugepages
	got=$(nr)
	echo 0 > $POOL/nr_hugepages
	echo "$got $cap"
}
conf() { # kvm.conf and domains for the two targets
	cat > "$T/kvm.conf" <<EOF
vm = (
  { name = "bench-hp-ok"; uuid = "$UUID_OK"; hugepages = { pages = $OKP; timeout = 10; }; },
  { name = "bench-hp-big"; uuid = "$UUID_BIG"; hugepages = { pages = $BIGP; timeout = 10; }; }
);
EOF
	chmod 600 "$T/kvm.conf"
	for x in "ok $UUID_OK $OKP" "big $UUID_BIG $BIGP"; do
		set -- $x
		printf "<domain type='kvm'><name>bench-hp-%s</name><uuid>%s</uuid><memory unit='KiB'>%s</memory>%s</domain>\n" \
			"$1" "$2" $(($3 * 2048)) "<memoryBacking><hugepages/></memoryBacking>" > "$T/$1.xml"
	done
}

# one run: state (flat|frag) target (ok|big) method (floor|tutorial|vfiohook)
run_one() {
	state=$1 tgt=$2 m=$3 rounds=- pages=$OKP
	[ "$tgt" = ok ] || pages=$BIGP
	[ "$(nr)" = 0 ] || echo 0 > $POOL/nr_hugepages
	if [ "$state" = flat ]; then settle; else refill; fi
	warm
	case $m in
	floor)
		set -- $("$B/hp-time" write $POOL/nr_hugepages "$pages")
		got=$(nr)
		res=short
		[ "$got" -lt "$pages" ] || res=ok
		;;
	tutorial)
		set -- $("$B/hp-time" run "$HP_TUTORIAL_CAP" /dev/null "$T/out" -- /bin/sh sh "$TOP/tests/bench/alloc-hugepages.sh" "$pages")
		got=$(nr)
		rounds=$(grep -c '^Succesfully' "$T/out")
		case $2 in 0) res=ok ;; 1) res=failed ;; killed) res=killed ;; *) res=exit$2 ;; esac
		;;
	vfiohook)
		set -- $("$B/hp-time" run 0 "$T/$tgt.xml" "$T/out" -- "$VFIOHOOK" vfiohook --config "$T/kvm.conf" "bench-hp-$tgt" prepare begin)
		got=$(nr)
		case $2 in 0) res=ok ;; 1) res=failed ;; *) res=exit$2 ;; esac
		[ "$res" = ok ] || head -n 1 "$T/out" > "$T/msg.$state.$tgt"
		if [ "$res" = ok ]; then
			rel=$("$B/hp-time" run 0 "$T/$tgt.xml" "$T/out2" -- "$VFIOHOOK" vfiohook --config "$T/kvm.conf" "bench-hp-$tgt" release end)
			echo "$state $tgt release ${rel% *} $([ "${rel#* }" = 0 ] && echo ok || echo "exit${rel#* }") $(nr) -" >> "$T/results"
		fi
		;;
	esac
	echo "$state $tgt $m $1 $res $got $rounds" >> "$T/results"
	[ "$(nr)" = 0 ] || echo 0 > $POOL/nr_hugepages
}
# HP_RUNS rounds of every target and contender, in rotating order
phase() { # state
	ph=$1 r=0
	while [ "$r" -lt "$HP_RUNS" ]; do
		for tgt in ok big; do
			[ "$tgt" = ok ] || [ -n "$BIGP" ] || continue
			case $((r % 3)) in 0) order="floor tutorial vfiohook" ;; 1) order="tutorial vfiohook floor" ;; *) order="vfiohook floor tutorial" ;; esac
			for m in $order; do
				# a tutorial loop that ran into the cap once is not run again for that case
				[ "$m" != tutorial ] || ! grep -q "^$ph $tgt tutorial .* killed " "$T/results" || continue
				run_one "$ph" "$tgt" "$m"
			done
		done
		[ "$ph" != flat ] || fixed_cost
		r=$((r + 1))
	done
}
fixed_cost() { # what a process costs here, for the record
	settle
	warm
	set -- $("$B/hp-time" run 0 "$T/ok.xml" "$T/out" -- "$VFIOHOOK" vfiohook --dry-run --config "$T/kvm.conf" bench-hp-ok prepare begin)
	echo "proc ok dryrun $1 ok 0 -" >> "$T/results"
	set -- $("$B/hp-time" run 0 "$T/ok.xml" "$T/out" -- "$VFIOHOOK" vfiohook --version)
	echo "proc ok version $1 ok 0 -" >> "$T/results"
	set -- $("$B/hp-time" run 0 "$T/ok.xml" "$T/out" -- "$B/trivial" trivial)
	echo "proc ok trivial $1 ok 0 -" >> "$T/results"
}

T0=$(date +%s)
: > "$T/results"
settle
set -- $(probe)
FLAT_GOT=$1 FLAT_CAP=$2
echo "  flat machine: $FLAT_GOT pages of 2 MiB could be had of the $FLAT_CAP asked for (MemAvailable less $HP_RESERVE_MIB MiB)"

# the fragmented machine: page cache first, then the pins
FRAG=
BIGP=
if [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" != 0 ]; then
	echo "  fragmented machine skipped: io_uring is disabled (kernel.io_uring_disabled)"
else
	if [ "$HP_CACHE_MIB" -gt 0 ] && [ "$(stat -f -c %T "$B")" != tmpfs ]; then
		CACHE_FILE=$B/page-cache.bench
		truncate -s "${HP_CACHE_MIB}M" "$CACHE_FILE" # sparse: reading it makes page cache, no disk I/O
		refill
	fi
	t0=$(date +%s)
	: > "$T/frag.out" # there before the loop below reads it
	"$B/fragment" "$HP_FRAG_PCT" "$HP_RESERVE_MIB" > "$T/frag.out" 2> "$T/frag.err" &
	FRAG_PID=$!
	n=0
	while ! grep -q '^ready' "$T/frag.out" && kill -0 "$FRAG_PID" 2>/dev/null && [ $n -lt 1800 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	if grep -q '^ready' "$T/frag.out"; then
		set -- $(probe)
		g1=$1
		echo 1 > /proc/sys/vm/compact_memory
		set -- $(probe)
		g2=$1 FRAG_CAP=$2
		FRAG_GOT=$((g1 > g2 ? g1 : g2))
		refill
		FRAG=1
		echo "  fragmented machine, built in $(($(date +%s) - t0)) s: $(sed 's/^ready: //' "$T/frag.out"); ${HP_CACHE_MIB} MiB of page cache"
		echo "    $g1 pages of 2 MiB could be had of the $FRAG_CAP asked for, $g2 after compacting memory (flat: $FLAT_GOT)"
		# more than exists there, rounded up to whole GiB, and no more than the flat machine gives
		BIGP=$(((FRAG_GOT * 115 / 100 + 511) / 512 * 512))
		[ "$BIGP" -le "$FLAT_GOT" ] || BIGP=$FLAT_GOT
		[ "$BIGP" -gt "$FRAG_GOT" ] || { echo "    no target fails there that the flat machine can give: only $OKP pages are measured"; BIGP=; }
		[ "$OKP" -lt "$FRAG_GOT" ] || echo "    note: $OKP pages ($HP_OK_MIB MiB) do not fit there either; lower HP_FRAG_PCT"
	else
		echo "  fragmented machine skipped: tests/bench/fragment failed: $(cat "$T/frag.err" "$T/frag.out" | tr '\n' ' ')"
		kill "$FRAG_PID" 2>/dev/null
		wait "$FRAG_PID" 2>/dev/null
		FRAG_PID=
	fi
fi
conf
echo "  targets: $((OKP * 2 / 1024)) GiB ($OKP pages)${BIGP:+, $((BIGP * 2 / 1024)) GiB ($BIGP pages: more than the fragmented machine has)}; $HP_RUNS runs of each, interleaved"
if [ -n "$FRAG" ]; then
	phase frag
	kill "$FRAG_PID" 2>/dev/null
	wait "$FRAG_PID" 2>/dev/null
	FRAG_PID=
	sleep 1 # the rings are torn down after the process
	settle
	set -- $(probe)
	echo "  fragmented machine taken down: $1 pages of 2 MiB could be had again of the $2 asked for"
fi
phase flat

# medians and verdicts
awk -v cap="$HP_TUTORIAL_CAP" -v okp="$OKP" -v bigp="${BIGP:-0}" -v msgdir="$T" '
function fmt(us) { return us >= 1e6 ? sprintf("%.2f s", us / 1e6) : sprintf("%.1f ms", us / 1e3) }
function med(k,   n, i, j, t, a) {
	n = cnt[k]
	for (i = 1; i <= n; i++) a[i] = v[k, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	k = $1 SUBSEP $2 SUBSEP $3
	v[k, ++cnt[k]] = $4
	if ($4 > mx[k]) mx[k] = $4
	res[k] = res[k] (res[k] == "" ? "" : ",") $5
	got[k] = $6
	if ($5 == "killed") killed[k] = 1
	if ($7 != "-" && $7 > rounds[k]) rounds[k] = $7
}
function outcome(k, m, tgt,   s) {
	s = res[k]
	if (m == "floor") return "got " got[k] " of " (tgt == "ok" ? okp : bigp)
	if (m == "tutorial" && killed[k]) return "killed at the cap after " rounds[k] " of 1000 rounds"
	if (m == "tutorial") return s (rounds[k] ? " after " rounds[k] " rounds" : "")
	return s
}
END {
	printf "\n  %-19s %-12s %-16s %-12s %-10s %s\n", "machine, target", "floor write", "tutorial loop", "vfiohook", "vh/floor", "vh/tutorial"
	flatok = 1; below = 1; nfl = 0
	for (si = 1; si <= 2; si++) for (ti = 1; ti <= 2; ti++) {
		st = si == 1 ? "flat" : "frag"; tgt = ti == 1 ? "ok" : "big"
		kf = st SUBSEP tgt SUBSEP "floor"; kt = st SUBSEP tgt SUBSEP "tutorial"; kv = st SUBSEP tgt SUBSEP "vfiohook"
		if (!cnt[kv]) continue
		f = med(kf); t = med(kt); h = med(kv)
		label = sprintf("%s, %d GiB", st == "flat" ? "flat" : "fragmented", (tgt == "ok" ? okp : bigp) * 2 / 1024)
		tt = killed[kt] ? ">" fmt(cap * 1e6) : fmt(t)
		rt = killed[kt] ? sprintf("<%.2fx", h / (cap * 1e6)) : sprintf("%.2fx", h / t)
		printf "  %-19s %-12s %-16s %-12s %-10s %s\n", label, fmt(f), tt, fmt(h), sprintf("%.2fx", h / f), rt
		line[++nl] = sprintf("    %s: floor %s; tutorial %s; vfiohook %s (max %s)", label, outcome(kf, "floor", tgt),
			outcome(kt, "tutorial", tgt), outcome(kv, "vfiohook", tgt), fmt(mx[kv]))
		kr = st SUBSEP tgt SUBSEP "release"
		if (cnt[kr]) line[nl] = line[nl] sprintf("; release end %s", fmt(med(kr)))
		if (st == "flat") { ratio[++nfl] = sprintf("%.2fx (%d GiB)", h / f, (tgt == "ok" ? okp : bigp) * 2 / 1024); if (h > 2 * f) flatok = 0 }
		if (!(killed[kt] ? h < cap * 1e6 : h < t)) below = 0
		if (st == "frag" && tgt == "big") { failk = kv; failmed = h }
	}
	printf "  outcomes (every run of the case):\n"
	for (i = 1; i <= nl; i++) print line[i]
	if (failk != "") {
		getline m < (msgdir "/msg.frag.big")
		if (m != "") printf "    vfiohook said: %s\n", m
	}
	kd = "proc" SUBSEP "ok" SUBSEP "dryrun"; kx = "proc" SUBSEP "ok" SUBSEP "trivial"; kv = "proc" SUBSEP "ok" SUBSEP "version"
	if (cnt[kd]) printf "  fixed cost of a process here (medians): a trivial C program %s, vfiohook --version %s, vfiohook --dry-run of the same prepare %s (reads kvm.conf with libconfig, the XML with its own reader)\n", fmt(med(kx)), fmt(med(kv)), fmt(med(kd))
	printf "\n"
	r = ""; for (i = 1; i <= nfl; i++) r = r (i > 1 ? ", " : "") ratio[i]
	printf "goal \"hugepage prepare on the flat machine <= 2x the floor write (whole process, warm page cache)\": %s: %s\n", r, flatok ? "MET" : "NOT MET"
	printf "goal \"below the tutorial loop in every state\": %s\n", below ? "MET" : "NOT MET"
	if (failk != "") {
		ok = res[failk] !~ /ok/ && failmed < 1e6
		printf "goal \"a failing request on the fragmented machine fails in under 1 s\": %s median (max %s), %s: %s\n", fmt(failmed), fmt(mx[failk]), res[failk], ok ? "MET" : "NOT MET"
	} else
		printf "goal \"a failing request on the fragmented machine fails in under 1 s\": not measured (no fragmented machine)\n"
}' "$T/results"
# what the process loads besides itself (the loader's own log of a dry run of the same prepare)
LD_DEBUG=files LD_DEBUG_OUTPUT=$T/ld "$VFIOHOOK" --dry-run --config "$T/kvm.conf" bench-hp-ok prepare begin \
	< "$T/ok.xml" > /dev/null 2>&1
echo "  libraries a hugepage prepare loads: $(cat "$T"/ld.* 2>/dev/null | sed -n 's/.*file=\([^ ]*\) .*generating link map.*/\1/p' | sort -u | tr '\n' ' ')"
echo "  hugepage benchmark: $(($(date +%s) - T0)) s; pool back to $ORIG pages when it ends"
