#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What a packager does: make install into a staging DESTDIR, with PREFIX and SYSCONFDIR, twice
# (an edited kvm.conf must survive), then make uninstall.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
nok() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }
D=$(mktemp -d)
B=$(mktemp -d)
trap 'rm -rf "$D" "$B"' EXIT
# a systemctl that only records that it was called: make install must never call it
printf '#!/bin/sh\necho "$@" >> "%s/systemctl.called"\n' "$B" > "$B/systemctl"
chmod 755 "$B/systemctl"
mk() { PATH="$B:$PATH" make -s -C "$TOP" --no-print-directory "$@" DESTDIR="$D" PREFIX=/usr SYSCONFDIR=/etc > "$D.log" 2>&1; }

mk install
rc=$?
check "install: exit 0" '[ $rc = 0 ]'
check "install: the binary in \$(BINDIR)" '[ -x "$D/usr/bin/vfiohook" ] && "$D/usr/bin/vfiohook" --version | grep -q "^vfiohook "'
check "install: the hook is a link to the installed binary (not into DESTDIR)" '[ "$(readlink "$D/etc/libvirt/hooks/qemu")" = /usr/bin/vfiohook ]'
check "install: the example kvm.conf, root-only writable" '[ "$(stat -c %a "$D/etc/libvirt/hooks/kvm.conf")" = 644 ] && cmp -s "$TOP/conf/kvm.conf" "$D/etc/libvirt/hooks/kvm.conf"'
check "install: man pages" '[ -f "$D/usr/share/man/man8/vfiohook.8" ] && [ -f "$D/usr/share/man/man5/kvm.conf.5" ]'
check "install: example drop-ins, executable" '[ -x "$D/usr/share/doc/vfiohook/hooks.d/example/release/end/90-log-reason" ]'
check "install: the bash completion" 'cmp -s "$TOP/completion/vfiohook" "$D/usr/share/bash-completion/completions/vfiohook"'
check "install: tells to reload the libvirt daemon, and calls no systemctl" 'grep -q "reload virtqemud" "$D.log" && [ ! -e "$B/systemctl.called" ]'
echo '# edited by the admin' >> "$D/etc/libvirt/hooks/kvm.conf"
mk install
check "install again: an existing kvm.conf is kept" 'tail -n 1 "$D/etc/libvirt/hooks/kvm.conf" | grep -q "edited by the admin"'
mk uninstall
check "uninstall: binary, link, man pages and completion gone, kvm.conf kept" '[ ! -e "$D/usr/bin/vfiohook" ] && [ ! -L "$D/etc/libvirt/hooks/qemu" ] && [ ! -e "$D/usr/share/man/man8/vfiohook.8" ] && [ ! -e "$D/usr/share/bash-completion/completions/vfiohook" ] && [ -f "$D/etc/libvirt/hooks/kvm.conf" ]'
rm -f "$D.log"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
