#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What a distribution does with the tree: the .note.dlopen ELF notes that declare the dlopen()ed
# libraries, the bash completion (driven as bash drives it, and checked against src/main.c and
# src/hook.c), the Debian package (dpkg-buildpackage, lintian, its files, its maintainer scripts
# run by dpkg against scratch roots) and the Arch package (makepkg as an unprivileged user).
# Everything is built from `make dist` of the tree in a temporary directory, removed at the end.
# Ends with "N passed, N failed[, N skipped]"; a tool that cannot be had skips its checks.
set -u
export LC_ALL=C
TOP=$(cd "$(dirname "$0")/../.." && pwd)
PASS=0 FAIL=0 SKIP=0
ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
nok() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
skip() { SKIP=$((SKIP + $1)); shift; echo "skip: $*"; }
# the check runs in a subshell: "exit 1" in it fails the check, not the script
check() { if (eval "$2"); then ok "$1"; else nok "$1"; return 1; fi; }
have() { command -v "$1" > /dev/null 2>&1; }
# makepkg refuses to run as root, and lintian warns about it: as root they run as nobody
ROOT=0
[ "$(id -u)" = 0 ] && ROOT=1
asuser() { if [ $ROOT = 1 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }
T=$(mktemp -d /tmp/vfiohook-packaging.XXXXXX)
ARCH_PID=
trap '[ -n "$ARCH_PID" ] && kill "$ARCH_PID" 2> /dev/null; rm -rf "$T"' EXIT
chmod 755 "$T" # makepkg and lintian run as nobody
VERSION=$(sed -n 's/^VERSION *:= *//p' "$TOP/Makefile")
DIST=vfiohook-$VERSION
SONAMES="libconfig.so.9 libxml2.so.2 libsystemd.so.0 libkmod.so.2 libvirt.so.0"
t0=$(date +%s)

# --- the source tree, as the packages see it ------------------------------------------------
make -s -C "$TOP" --no-print-directory dist DISTDIR="$T" > "$T/dist.log" 2>&1
check "make dist: $DIST.tar.gz, without build/ or .git" \
	'[ -f "$T/$DIST.tar.gz" ] && tar -tzf "$T/$DIST.tar.gz" > "$T/dist.list" &&
	grep -qx "$DIST/Makefile" "$T/dist.list" && grep -qx "$DIST/debian/rules" "$T/dist.list" &&
	! grep -qE "^$DIST/(build|\.git)/" "$T/dist.list"'

# --- .note.dlopen ---------------------------------------------------------------------------
# Every note of section .note.dlopen, walked as the ELF gABI lays notes out: owner "FDO", type
# 0x407c0c0a, a 4-byte aligned NUL-terminated JSON array of objects; prints "soname feature
# priority" per library, or an error line starting with "bad:".
notes() { # notes BINARY
	objcopy -O binary --only-section=.note.dlopen "$1" "$T/notes.bin" 2> /dev/null || {
		echo "bad: no .note.dlopen"
		return
	}
	perl -MJSON::PP -e '
		local $/; my $d = <STDIN>; my $o = 0; my %prio = map { $_ => 1 } qw(required recommended suggested);
		print "bad: empty section\n" unless length $d;
		while ($o + 12 <= length $d) {
			my ($nsz, $dsz, $type) = unpack "V3", substr($d, $o, 12);
			my $name = substr($d, $o + 12, $nsz);
			my $doff = $o + 12 + (($nsz + 3) & ~3);
			my $desc = substr($d, $doff, $dsz);
			$o = $doff + (($dsz + 3) & ~3);
			print "bad: owner\n" unless $name eq "FDO\0";
			printf "bad: type 0x%x\n", $type unless $type == 0x407c0c0a;
			print "bad: descriptor not NUL-terminated\n" unless $desc =~ s/\0\z//;
			my $j = eval { JSON::PP->new->decode($desc) };
			if (ref $j ne "ARRAY") { print "bad: JSON: $desc\n"; next; }
			for my $e (@$j) {
				print "bad: priority $e->{priority}\n" unless $prio{$e->{priority} // ""};
				print "bad: no feature\n" unless length($e->{feature} // "");
				print "bad: soname\n" unless ref $e->{soname} eq "ARRAY" && @{$e->{soname}};
				print "$_ $e->{feature} $e->{priority}\n" for @{$e->{soname} || []};
			}
		}
		print "bad: trailing bytes\n" if $o != length $d;
	' < "$T/notes.bin"
}
check_notes() { # check_notes LABEL BINARY
	local label=$1 bin=$2 out
	out=$(notes "$bin")
	check "$label: one FDO note of type 0x407c0c0a per library in readelf -n" \
		'[ "$(readelf -n "$bin" | grep -cE "^ *FDO +0x[0-9a-f]+[[:space:]]+(Unknown note type: \(0x407c0c0a\)|.*(DLOPEN|dlopen))")" = 5 ]'
	check "$label: readelf lists the five sonames of the dlopen()ed libraries" \
		'for s in $SONAMES; do readelf -p .note.dlopen "$bin" | grep -qF "\"soname\":[\"$s\"]" || exit 1; done'
	check "$label: each note well formed (owner, type, alignment, JSON, feature, priority)" \
		'! grep -q "^bad:" <<< "$out" && [ "$(wc -l <<< "$out")" = 5 ]'
	echo "$out" | sed "s/^/    /"
}
if ! have readelf || ! have objcopy || ! perl -MJSON::PP -e 1 2> /dev/null; then
	skip 4 ".note.dlopen: readelf, objcopy or perl's JSON::PP missing (binutils, perl)"
else
	if [ -x "$TOP/build/vfiohook" ]; then
		check_notes "build/vfiohook" "$TOP/build/vfiohook"
	else
		skip 3 ".note.dlopen of build/vfiohook: not built (make all)"
	fi
	# a library dlib.c opens that no note declares (or the reverse) is a packaging bug
	check ".note.dlopen: the same sonames as src/dlib.c opens" \
		'[ "$(grep -oE "\"lib[^\"]+\.so\.[0-9]+\"" "$TOP/src/dlib.c" | tr -d \" | sort -u)" = "$(tr " " "\n" <<< "$SONAMES" | sort -u)" ] &&
		[ "$(grep -oE "\"lib[^\"]+\.so\.[0-9]+\"" "$TOP/src/dlopen-note.c" | tr -d \" | sort -u)" = "$(tr " " "\n" <<< "$SONAMES" | sort -u)" ]'
fi

# --- bash completion ------------------------------------------------------------------------
C=$TOP/completion/vfiohook
# the words of a C table: commands[] and longopts[] of main.c, op_names and subop_names of hook.c
words() { sed -n "/$2/,/^};/p" "$TOP/$1" | grep -oE "$3" | sed -E 's/.*"([^"]+)".*/\1/' | sort; }
# what the completion function answers for a command line whose last word is being completed
comp() { # comp [-C DIR] WORD...
	local dir=$T
	[ "$1" = -C ] && dir=$2 && shift 2
	(cd "$dir" && bash --norc --noprofile -c '
		source "$1"; shift
		_vfiohook_default_config=$CONF _vfiohook_pci_devices=$PCIDIR
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_vfiohook && printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$C" "$@")
}
set_eq() { [ "$(printf '%s\n' $1 | sort -u)" = "$(printf '%s\n' $2 | sort -u)" ]; }
if ! have bash; then
	skip 14 "completion: no bash"
else
	export CONF=$T/kvm.conf PCIDIR=$T/pci
	cp "$TOP/conf/kvm.conf" "$CONF"
	cat >> "$CONF" << 'EOF'
# a third VM on one line, and names that are not VMs
vm2 = { name = "not-a-vm"; };
EOF
	sed -i 's/^vm = (/vm = ( { name = "one-line"; pci = { devices = [ "0000:01:00.0" ]; }; },/' "$CONF"
	check "completion: valid bash, registers _vfiohook for vfiohook" \
		'bash -n "$C" && [ "$(bash --norc -c "source \"$C\"; complete -p vfiohook")" = "complete -F _vfiohook vfiohook" ]'
	CMDS=$(words src/main.c '} commands\[\] = {' '^[[:space:]]*\{ "[^"]+"')
	check "completion: the subcommands are those of main.c's commands[] ($(echo $CMDS))" \
		'[ -n "$CMDS" ] && set_eq "$CMDS" "$(bash --norc -c "source \"$C\"; echo \${!_vfiohook_command_args[*]}")"'
	# what follows each word agrees with its argument counts: none (0 0), one VM (0 or 1 to 1),
	# any number (INT_MAX), or a function of its own
	check "completion: the arguments completed agree with commands[]'s argument counts" '
		sed -n "/} commands\[\] = {/,/^};/p" "$TOP/src/main.c" |
			sed -nE "s/^[[:space:]]*\{ \"([^\"]+)\", [A-Z_]+, ([0-9]+), ([A-Z_0-9]+),.*/\1 \2 \3/p" > "$T/counts"
		[ -s "$T/counts" ] || exit 1
		while read -r cmd min max; do
			kind=$(bash --norc -c "source \"$C\"; echo \"\${_vfiohook_command_args[$cmd]}\"")
			case $kind:$min:$max in
			:0:0 | vm:0:1 | vm:1:1 | vms:0:INT_MAX | _*) ;;
			*) echo "    $cmd ($min..$max arguments) completes \"$kind\""; exit 1 ;;
			esac
		done < "$T/counts"'
	LONG=$(words src/main.c 'longopts\[\] = {' '\{ "[a-z-]+", (required|no|optional)_argument' | sed 's/^/--/')
	LONGARG=$(words src/main.c 'longopts\[\] = {' '\{ "[a-z-]+", required_argument' | sed 's/^/--/')
	check "completion: the options are main.c's longopts[], the same ones take an argument" \
		'[ -n "$LONG" ] && [ -n "$LONGARG" ] && set_eq "$LONG" "$(bash --norc -c "source \"$C\"; echo \$_vfiohook_options")" &&
		set_eq "$LONGARG" "$(bash --norc -c "source \"$C\"; echo \$_vfiohook_file_options \$_vfiohook_dir_options \$_vfiohook_value_options" | tr " " "\n" | grep -- "^--")"'
	check "completion: the ops and subops are hook.c's op_names and subop_names" \
		'[ -n "$(words src/hook.c "op_names\[_HOOK_OP_MAX\] = {" "= \"[^\"]+\"")" ] &&
		set_eq "$(words src/hook.c "op_names\[_HOOK_OP_MAX\] = {" "= \"[^\"]+\"")" "$(bash --norc -c "source \"$C\"; echo \$_vfiohook_ops")" &&
		set_eq "$(words src/hook.c "subop_names\[_HOOK_SUBOP_MAX\] = {" "= \"[^\"]+\"")" "$(bash --norc -c "source \"$C\"; echo \$_vfiohook_subops")"'
	check "completion: first word: subcommands, VM names of kvm.conf, options" \
		'out=$(comp vfiohook ""); for w in $CMDS win10 rx590 one-line --config --dry-run --help; do grep -qx -- "$w" <<< "$out" || exit 1; done;
		! grep -qxE "not-a-vm|performance" <<< "$out"'
	check "completion: first word \"--d\": --dry-run" '[ "$(comp vfiohook --d)" = --dry-run ]'
	check "completion: VM names after \"release\" (not the governor names)" \
		'[ "$(comp vfiohook release "")" = "$(printf "%s\n" one-line rx590 win10)" ] && [ "$(comp vfiohook release w)" = win10 ]'
	check "completion: VM names from --config FILE, --config=FILE, -c FILE" \
		'printf "vm = ( { name = \"other\"; } );\n" > "$T/other.conf";
		[ "$(comp vfiohook --config "$T/other.conf" forget "")" = other ] &&
		[ "$(comp vfiohook --config = "$T/other.conf" forget "")" = other ] &&
		[ "$(comp vfiohook -c "$T/other.conf" check "")" = other ]'
	check "completion: check takes several VMs, each offered once" \
		'[ "$(comp vfiohook check win10 "")" = "$(printf "%s\n" one-line rx590)" ]'
	check "completion: the ops after VM" \
		'[ "$(comp vfiohook win10 "")" = "$(printf "%s\n" attach migrate prepare reconnect release restore start started stopped)" ] &&
		[ "$(comp vfiohook win10 star)" = "$(printf "%s\n" start started)" ]'
	check "completion: the subops after VM OP (also for a VM called like a subcommand)" \
		'[ "$(comp vfiohook win10 prepare "")" = "$(printf "%s\n" - begin end)" ] &&
		[ "$(comp vfiohook check prepare "")" = "$(printf "%s\n" - begin end)" ]'
	check "completion: files after --config and --xml, directories after --root" \
		'mkdir -p "$T/cw/confdir" && touch "$T/cw/kvm.conf" "$T/cw/kvm-old.conf" "$T/cw/dom.xml" &&
		[ "$(comp -C "$T/cw" vfiohook --config kvm)" = "$(printf "%s\n" kvm-old.conf kvm.conf)" ] &&
		[ "$(comp -C "$T/cw" vfiohook check --xml d)" = dom.xml ] &&
		[ "$(comp -C "$T/cw" vfiohook --root "")" = confdir ]'
	check "completion: vbios: its actions, then PCI addresses, split at \":\" as bash does, trimmed back" \
		'mkdir -p "$T/pci/0000:01:00.0" "$T/pci/0000:01:00.1" "$T/pci/0000:02:00.0" &&
		[ "$(comp vfiohook vbios "")" = "$(printf "%s\n" check dump fix)" ] &&
		[ "$(comp vfiohook vbios dump "")" = "$(printf "%s\n" 0000:01:00.0 0000:01:00.1 0000:02:00.0)" ] &&
		[ "$(comp vfiohook vbios dump 0000 : 01 : 00.)" = "$(printf "%s\n" 00.0 00.1)" ] &&
		[ "$(comp vfiohook vbios dump 0000 : 0)" = "$(printf "%s\n" 01:00.0 01:00.1 02:00.0)" ]'
fi

# --- the Arch package, built in the background while the Debian package is ---------------
A=$T/arch
mkdir -p "$A" && tar -xzf "$T/$DIST.tar.gz" -C "$A"
ARCH=0
if have makepkg && have pacman && have bsdtar && have fakeroot && { [ $ROOT = 0 ] || have runuser; }; then
	ARCH=1
	[ $ROOT = 1 ] && chown -R nobody: "$A"
	(cd "$A/$DIST" && find src -type f | sort) > "$T/src.before"
	# -c: makepkg empties its srcdir when done; the PKGBUILD must keep it out of the tree's src/
	(
		t=$(date +%s)
		cd "$A/$DIST" && asuser env HOME="$A" makepkg --nodeps --noconfirm --clean > "$T/makepkg.log" 2>&1
		echo "$? $(($(date +%s) - t))" > "$T/makepkg.rc"
	) &
	ARCH_PID=$!
fi

# --- the Debian package ---------------------------------------------------------------------
D=$T/deb
mkdir -p "$D" && tar -xzf "$T/$DIST.tar.gz" -C "$D"
if ! have dpkg-buildpackage || ! have dh || ! have fakeroot; then
	skip 1 "Debian package: dpkg-buildpackage, debhelper or fakeroot missing (tests/deps.sh installs them)"
else
	t=$(date +%s)
	# no -dbgsym package: nothing here uses it
	(cd "$D/$DIST" && DEB_BUILD_OPTIONS="noddebs ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b) > "$T/deb.log" 2>&1
	rc=$?
	DEB=$D/vfiohook_${VERSION}-1_amd64.deb
	check "dpkg-buildpackage -us -uc -b: vfiohook_${VERSION}-1_amd64.deb ($(($(date +%s) - t)) s)" '[ $rc = 0 ] && [ -f "$DEB" ]' ||
		tail -n 30 "$T/deb.log"
fi
if [ -f "${DEB:-}" ]; then
	if ! have lintian; then
		skip 1 "lintian: not installed"
	else
		t=$(date +%s)
		# as nobody: lintian warns about running as root, and needs no privilege
		asuser env HOME="$T" lintian --display-info "$D"/vfiohook_*.changes > "$T/lintian.log" 2>&1
		rc=$?
		check "lintian: no errors ($(grep -c '^W:' "$T/lintian.log") warning(s), $(($(date +%s) - t)) s)" \
			'[ $rc = 0 ] && ! grep -q "^E:" "$T/lintian.log"'
		sed 's/^/    /' "$T/lintian.log"
	fi
	dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's,^\./,/,' > "$T/deb.files"
	check "deb: the binary, man pages (gzipped), bash completion, example config and drop-ins" \
		'for f in /usr/bin/vfiohook /usr/share/man/man8/vfiohook.8.gz /usr/share/man/man5/kvm.conf.5.gz \
			/usr/share/bash-completion/completions/vfiohook /usr/share/doc/vfiohook/examples/kvm.conf.example \
			/usr/share/doc/vfiohook/examples/hooks.d/example/release/end/90-log-reason \
			/usr/share/doc/vfiohook/copyright /usr/share/doc/vfiohook/README.Debian; do grep -qxF "$f" "$T/deb.files" || { echo "missing $f"; exit 1; }; done'
	check "deb: neither kvm.conf nor the hook link shipped (the admin's files; postinst makes the link)" \
		'! grep -qE "^/etc/libvirt/hooks/(kvm\.conf|qemu)$" "$T/deb.files" && [ -z "$(dpkg-deb -f "$DEB" Conffiles 2> /dev/null)" ] &&
		! dpkg-deb -I "$DEB" conffiles > /dev/null 2>&1'
	check "deb: the dlopen()ed libraries declared: Depends libconfig9 libxml2, Recommends libsystemd0 libkmod2, Suggests libvirt0" \
		'dpkg-deb -f "$DEB" Depends | grep -q "libconfig9" && dpkg-deb -f "$DEB" Depends | grep -q "libxml2" &&
		dpkg-deb -f "$DEB" Depends | grep -q "libc6" &&
		[ "$(dpkg-deb -f "$DEB" Recommends)" = "libsystemd0, libkmod2" ] && [ "$(dpkg-deb -f "$DEB" Suggests)" = libvirt0 ]'
	dpkg-deb -x "$DEB" "$T/debx"
	if have readelf && have objcopy; then
		check_notes "deb's /usr/bin/vfiohook (stripped)" "$T/debx/usr/bin/vfiohook"
	fi
	check "deb: the example drop-ins stay executable, the completion loads" \
		'[ -x "$T/debx/usr/share/doc/vfiohook/examples/hooks.d/example/release/end/90-log-reason" ] &&
		bash --norc -c "source \"$T/debx/usr/share/bash-completion/completions/vfiohook\" && complete -p vfiohook" > /dev/null'
	if [ -r /usr/share/bash-completion/bash_completion ]; then
		# bash-completion's own loader finds the packaged file by the command's name
		check "deb: bash-completion loads completions/vfiohook on demand and completes with it" \
			'XDG_DATA_DIRS=$T/debx/usr/share BASH_COMPLETION_USER_DIR=$T/none bash --norc -c "
				source /usr/share/bash-completion/bash_completion
				__load_completion vfiohook && complete -p vfiohook | grep -q _vfiohook &&
				COMP_WORDS=(vfiohook fo) COMP_CWORD=1 && _vfiohook && [ \"\${COMPREPLY[*]}\" = forget ]"'
	else
		skip 1 "bash-completion's loader: bash-completion not installed"
	fi

	# The maintainer scripts, run by dpkg itself against scratch roots (DPKG_ROOT, no chroot).
	newroot() { # newroot DIR: an empty dpkg database
		rm -rf "$1"
		mkdir -p "$1/var/lib/dpkg/info" "$1/var/lib/dpkg/updates" "$1/var/lib/dpkg/triggers"
		: > "$1/var/lib/dpkg/status"
	}
	dp() { # dp ROOT ARGS...: dpkg on ROOT, its output in $T/dpkg.out
		local r=$1
		shift
		dpkg --root="$r" --force-script-chrootless --force-depends --force-not-root \
			--log="$T/dpkg.log" "$@" > "$T/dpkg.out" 2>&1
	}
	ours() { [ -L "$1/etc/libvirt/hooks/qemu" ] && [ "$(readlink "$1/etc/libvirt/hooks/qemu")" = /usr/bin/vfiohook ]; }
	R=$T/root
	newroot "$R"
	if [ $ROOT = 0 ]; then
		skip 9 "maintainer scripts: dpkg --root needs root here"
	else
		check "dpkg -i on an empty root: the hook link made, no kvm.conf, the binary runs" \
			'dp "$R" -i "$DEB" && ours "$R" && [ ! -e "$R/etc/libvirt/hooks/kvm.conf" ] &&
			grep -q "reload virtqemud" "$T/dpkg.out" && grep -q "no /etc/libvirt/hooks/kvm.conf" "$T/dpkg.out" &&
			"$R/usr/bin/vfiohook" --version | grep -q "^vfiohook $VERSION"'
		check "dpkg -i again (upgrade): the link kept, nothing else said about it" \
			'dp "$R" -i "$DEB" && ours "$R" && ! grep -q "installed the libvirt hook" "$T/dpkg.out"'
		printf 'vm = ( { name = "mine"; } );\n' > "$R/etc/libvirt/hooks/kvm.conf"
		mkdir -p "$R/run/vfiohook" && : > "$R/run/vfiohook/0000.state"
		check "dpkg -r: warns about a state not undone, removes our link, keeps kvm.conf" \
			'dp "$R" -r vfiohook && [ ! -e "$R/etc/libvirt/hooks/qemu" ] && [ ! -L "$R/etc/libvirt/hooks/qemu" ] &&
			[ ! -e "$R/usr/bin/vfiohook" ] && grep -q "mine" "$R/etc/libvirt/hooks/kvm.conf" &&
			grep -q "0000.state records changes" "$T/dpkg.out"'
		rm -rf "$R/run/vfiohook"
		check "dpkg -i after -r: the link made again (it was removed by the package, not the admin)" \
			'dp "$R" -i "$DEB" && ours "$R" && ! grep -q "no /etc/libvirt/hooks/kvm.conf" "$T/dpkg.out"'
		rm "$R/etc/libvirt/hooks/qemu"
		check "dpkg -i after the admin removed the link: not made again, and said so" \
			'dp "$R" -i "$DEB" && [ ! -L "$R/etc/libvirt/hooks/qemu" ] && grep -q "removed by hand" "$T/dpkg.out"'
		ln -s /usr/bin/vfiohook "$R/etc/libvirt/hooks/qemu"
		check "dpkg -P: our link and /var/lib/vfiohook gone, kvm.conf kept, nothing of the package left" \
			'dp "$R" -P vfiohook && [ ! -L "$R/etc/libvirt/hooks/qemu" ] && [ ! -e "$R/var/lib/vfiohook" ] &&
			[ -f "$R/etc/libvirt/hooks/kvm.conf" ] && [ -z "$(find "$R/usr" -type f 2> /dev/null)" ] &&
			! dpkg-query --admindir="$R/var/lib/dpkg" -W vfiohook > /dev/null 2>&1'
		R=$T/root-foreign
		newroot "$R"
		mkdir -p "$R/etc/libvirt/hooks"
		printf '#!/bin/bash\n# the tutorial dispatcher\n' > "$R/etc/libvirt/hooks/qemu"
		chmod 755 "$R/etc/libvirt/hooks/qemu"
		cp -p "$R/etc/libvirt/hooks/qemu" "$T/foreign"
		check "dpkg -i with a foreign hook: left byte for byte, pointed to 'vfiohook install' and 'vfiohook import'" \
			'dp "$R" -i "$DEB" && [ ! -L "$R/etc/libvirt/hooks/qemu" ] && cmp -s "$T/foreign" "$R/etc/libvirt/hooks/qemu" &&
			grep -q "vfiohook install" "$T/dpkg.out" && grep -q "vfiohook import" "$T/dpkg.out"'
		check "dpkg -P with a foreign hook: left alone" \
			'dp "$R" -P vfiohook && cmp -s "$T/foreign" "$R/etc/libvirt/hooks/qemu"'
		R=$T/root-other-link
		newroot "$R"
		mkdir -p "$R/etc/libvirt/hooks"
		ln -s /usr/local/bin/vfiohook "$R/etc/libvirt/hooks/qemu"
		check "dpkg -i and -P with a hook linked elsewhere (make install to /usr/local): left alone" \
			'dp "$R" -i "$DEB" && [ "$(readlink "$R/etc/libvirt/hooks/qemu")" = /usr/local/bin/vfiohook ] &&
			dp "$R" -P vfiohook && [ "$(readlink "$R/etc/libvirt/hooks/qemu")" = /usr/local/bin/vfiohook ]'
	fi
else
	skip 18 "Debian package: not built"
fi

# --- the Arch package -----------------------------------------------------------------------
if [ $ARCH = 0 ]; then
	skip 9 "Arch package: makepkg, pacman, bsdtar, fakeroot or runuser missing (tests/deps.sh installs them)"
else
	wait "$ARCH_PID"
	ARCH_PID=
	read -r rc secs < "$T/makepkg.rc"
	PKG=$(ls "$A/$DIST/vfiohook-$VERSION-1-x86_64".pkg.tar.* 2> /dev/null | head -n 1)
	check "makepkg --nodeps as nobody: $(basename "${PKG:-vfiohook-$VERSION-1-x86_64.pkg.tar.*}") ($secs s)" \
		'[ $rc = 0 ] && [ -n "$PKG" ]' || tail -n 30 "$T/makepkg.log"
	check "makepkg: the tree's src/ untouched (the build ran under build/makepkg)" \
		'(cd "$A/$DIST" && find src -type f | sort) | cmp -s - "$T/src.before" && grep -q "build/makepkg" "$T/makepkg.log"'
	if [ -n "$PKG" ]; then
		bsdtar -tf "$PKG" | sed 's,^,/,' > "$T/pkg.files"
		echo "    $(grep -vc '/$' "$T/pkg.files") files in $(basename "$PKG"):"
		grep -v '/$' "$T/pkg.files" | sed 's/^/      /'
		check "pkg: the binary, man pages, completion, example config, license, install script" \
			'for f in /usr/bin/vfiohook /usr/share/man/man8/vfiohook.8.gz /usr/share/man/man5/kvm.conf.5.gz \
				/usr/share/bash-completion/completions/vfiohook /usr/share/doc/vfiohook/kvm.conf.example \
				/usr/share/licenses/vfiohook/LICENSE /.INSTALL /.PKGINFO; do grep -qxF "$f" "$T/pkg.files" || { echo "missing $f"; exit 1; }; done'
		check "pkg: nothing in /etc (the hook link is made by vfiohook.install, kvm.conf is the admin's)" \
			'! grep -q "^/etc" "$T/pkg.files"'
		check "pkg: .PKGINFO depends on libconfig libxml2, optdepends systemd-libs kmod libvirt" \
			'bsdtar -xOf "$PKG" .PKGINFO > "$T/PKGINFO" && grep -qx "depend = libconfig" "$T/PKGINFO" &&
			grep -qx "depend = libxml2" "$T/PKGINFO" && grep -q "^optdepend = systemd-libs:" "$T/PKGINFO" &&
			grep -q "^optdepend = kmod:" "$T/PKGINFO" && grep -q "^optdepend = libvirt:" "$T/PKGINFO" &&
			grep -qx "arch = x86_64" "$T/PKGINFO"'
		mkdir -p "$T/pkgx" && bsdtar -xf "$PKG" -C "$T/pkgx"
		if have readelf && have objcopy; then
			check_notes "pkg's /usr/bin/vfiohook (stripped)" "$T/pkgx/usr/bin/vfiohook"
		fi
	else
		skip 6 "pkg: not built"
	fi
	check ".SRCINFO is makepkg --printsrcinfo of the PKGBUILD" \
		'(cd "$A/$DIST" && asuser env HOME="$A" makepkg --printsrcinfo) | cmp -s - "$TOP/.SRCINFO"'
fi
# vfiohook.install as pacman runs it (absolute paths): in a mount namespace of its own, with a
# tmpfs on /etc/libvirt/hooks
if [ -d /etc/libvirt/hooks ] && have unshare && unshare -m true 2> /dev/null; then
	check "vfiohook.install: link made when no hook, kept; foreign hook left; removed only when ours" \
		'unshare -m sh -ec "
			mount -t tmpfs none /etc/libvirt/hooks
			. \"$TOP/vfiohook.install\"
			post_install > /dev/null
			test \"\$(readlink /etc/libvirt/hooks/qemu)\" = /usr/bin/vfiohook
			post_install > /dev/null
			test \"\$(readlink /etc/libvirt/hooks/qemu)\" = /usr/bin/vfiohook
			post_remove
			test ! -e /etc/libvirt/hooks/qemu
			test ! -L /etc/libvirt/hooks/qemu
			echo foreign > /etc/libvirt/hooks/qemu
			post_install | grep -q \"vfiohook install\"
			post_remove
			test \"\$(cat /etc/libvirt/hooks/qemu)\" = foreign
		"'
else
	skip 1 "vfiohook.install: no /etc/libvirt/hooks or no mount namespace"
fi

echo "packaging: $(($(date +%s) - t0)) s"
if [ "$SKIP" -gt 0 ]; then
	echo "$PASS passed, $FAIL failed, $SKIP skipped"
else
	echo "$PASS passed, $FAIL failed"
fi
[ "$FAIL" = 0 ]
