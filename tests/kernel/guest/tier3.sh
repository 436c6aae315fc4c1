#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tier 3, inside the L1 guest: host /usr over 9p, a tmpfs root (see init),
# a real libvirtd with the real vfiohook binary installed as its qemu hook, and
# an L2 domain with the L1's e1000e as <hostdev>. Every check id printed here
# must be in run-e2e.sh's list.
#
# The main domain uses managed='no': libvirt then neither detaches the NIC
# before the start (it refuses an unmanaged device that is not already on a
# VFIO driver) nor reattaches it after the stop, so a start that works and a
# NIC back on e1000e after destroy can only come from vfiohook's prepare and
# release. A second domain with managed='yes' checks that vfiohook and
# libvirt's own detach/reattach do not trip over each other (libvirt leaves a device it
# found on vfio-pci to whoever put it there).
# shellcheck source=lib.sh
. /vh/lib.sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C

UUID_L2=6a0f3e52-8c1d-4f7b-b0a4-2d7c9e1f0a01
UUID_BAD=6a0f3e52-8c1d-4f7b-b0a4-2d7c9e1f0a02
UUID_MGD=6a0f3e52-8c1d-4f7b-b0a4-2d7c9e1f0a03
NODEV=0000:07:00.0
T=/tmp/t3
vsh() { # virsh on the system connection, with its duration on the console
	local t0 rc
	t0=$(uptime_s)
	virsh -q -c qemu:///system "$@"
	rc=$?
	say "virsh $* -> exit $rc in $(since "$t0")s (uptime $(uptime_s)s)" >/dev/console
	return "$rc"
}
mkdir -p $T

say "tier 3 start, uptime $(uptime_s)s, kernel $(uname -r)"

daemons_down() {
	local f pid
	for f in /run/vh-libvirtd.pid /run/vh-virtlogd.pid; do
		pid=$(cat "$f" 2>/dev/null) || continue
		kill "$pid" 2>/dev/null
	done
}
# libvirt probes QEMU's capabilities when it starts (tens of seconds under
# TCG) and caches the result; the cache is kept on the host between runs.
# libvirt checks the cached file itself (libvirtd and QEMU binary ctimes,
# versions) and probes again when it does not match.
CAPS=/var/cache/libvirt/qemu/capabilities
caps_restore() {
	[ -d /vhcache/qemu-capabilities ] || return 0
	mkdir -p $CAPS
	cp /vhcache/qemu-capabilities/*.xml $CAPS/ 2>/dev/null &&
		say "reusing cached QEMU capabilities: $(ls $CAPS | tr '\n' ' ')"
}
caps_save() {
	local f
	[ -d /vhcache ] || return 0
	mkdir -p /vhcache/qemu-capabilities
	for f in "$CAPS"/*.xml; do
		[ -f "$f" ] || continue
		cmp -s "$f" "/vhcache/qemu-capabilities/${f##*/}" && continue
		cp "$f" "/vhcache/qemu-capabilities/.${f##*/}.tmp" &&
			mv "/vhcache/qemu-capabilities/.${f##*/}.tmp" "/vhcache/qemu-capabilities/${f##*/}"
	done
}
finish() {
	daemons_down
	caps_save
	say "tier 3 done, uptime $(uptime_s)s"
	vh_end
	exit 0
}
dump_logs() {
	say "libvirtd log (tail):"
	tail -n 40 /var/log/libvirt/libvirtd.log 2>/dev/null | sed 's/^/    libvirtd| /'
	for f in /var/log/libvirt/qemu/*.log; do
		[ -f "$f" ] || continue
		say "$f (tail):"
		tail -n 15 "$f" | sed 's/^/    qemu| /'
	done
}
# domain_l2 name uuid managed > file: a small TCG domain, no disk, the NIC as hostdev
domain_l2() {
	local dom bus sf
	dom=${NIC%%:*}
	bus=${NIC#*:}
	bus=${bus%%:*}
	sf=${NIC##*:}
	cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <uuid>$2</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <serial type='pty'><target port='0'/></serial>
    <memballoon model='none'/>
    <hostdev mode='subsystem' type='pci' managed='$3'>
      <source><address domain='0x$dom' bus='0x$bus' slot='0x${sf%.*}' function='0x${sf#*.}'/></source>
    </hostdev>
  </devices>
</domain>
EOF
}
since() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }'; }
qemu_pid() { # domain -> pid of its QEMU (empty when not running)
	local p
	p=$(cat "/run/libvirt/qemu/$1.pid" 2>/dev/null) || return 0
	[ -d "/proc/$p" ] && echo "$p"
}
vfio_fds() { # pid -> the /dev/vfio paths it holds open
	find "/proc/$1/fd" -mindepth 1 -printf '%l\n' 2>/dev/null | grep '^/dev/vfio/' | sort -u | tr '\n' ' '
}

# ------------------------------------------------------------ environment
# No udev: load the NIC driver as the host's boot would. vfio is left to the hook.
modprobe e1000e || say "modprobe e1000e failed"
NIC=$(find_pci 0x8086 0x10d3)
[ -n "$NIC" ] && wait_drv "$NIC" e1000e
G=$(grp "$NIC")
[ -n "$NIC" ] && [ "$(drv "$NIC")" = e1000e ] && [ -n "$G" ] && ! modloaded vfio_pci &&
	[ ! -e /sys/bus/pci/devices/$NODEV ]
vh_result t3.env $? "NIC=$NIC driver=$(drv "$NIC") group=$G, vfio_pci loaded: $(modloaded vfio_pci && echo yes || echo no), /lib/modules/$(uname -r) present: $([ -f "/lib/modules/$(uname -r)/modules.dep.bin" ] && echo yes || echo no)"
if [ -z "$NIC" ] || [ -z "$G" ]; then finish; fi

# ------------------------------------------------------------ libvirt with vfiohook as its hook
# The root is a copy of the host's /etc: drop its domains, autostarted
# networks and any hooks, then install the binary under test as the qemu hook
# before libvirtd starts (libvirt looks for hooks only at startup).
rm -rf /etc/libvirt/hooks
mkdir -p /etc/libvirt/hooks
rm -f /etc/libvirt/qemu/*.xml /etc/libvirt/qemu/autostart/* /etc/libvirt/qemu/networks/autostart/*
install -m 755 /vh/vfiohook /etc/libvirt/hooks/qemu
write_conf /etc/libvirt/hooks/kvm.conf <<EOF
vm = (
  {
    name = "vh-l2";
    uuid = "$UUID_L2";
    pci = { devices = "hostdev"; };
  },
  {
    name = "vh-l2-managed";
    uuid = "$UUID_MGD";
    pci = { devices = "hostdev"; };
  },
  {
    name = "vh-l2-bad";
    uuid = "$UUID_BAD";
    pci = { devices = [ "$NIC", "$NODEV" ]; };
  }
);
EOF
mkdir -p /var/lib/libvirt/qemu /var/log/libvirt/qemu /var/cache/libvirt/qemu /run/libvirt /run/lock
export LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log"
caps_restore
t0=$(uptime_s)
virtlogd --daemon --pid-file /run/vh-virtlogd.pid
libvirtd --daemon --pid-file /run/vh-libvirtd.pid
for _ in $(seq 600); do
	[ -S /run/libvirt/libvirt-sock ] && break
	sleep 0.1
done
say "libvirtd socket after $(since "$t0")s"
vsh version >$T/version 2>&1
rc=$?
vh_result t3.libvirtd $rc "libvirtd up and answering after $(since "$t0")s: $(tr '\n' ' ' <$T/version)"
[ $rc = 0 ] || { dump_logs; finish; }

domain_l2 vh-l2 "$UUID_L2" no >$T/l2.xml
domain_l2 vh-l2-managed "$UUID_MGD" yes >$T/l2m.xml
domain_l2 vh-l2-bad "$UUID_BAD" no >$T/l2bad.xml
sed -i '/<hostdev/,/<\/hostdev>/d' $T/l2bad.xml # the hook must fail before libvirt looks at devices
vsh "define $T/l2.xml; define $T/l2m.xml; define $T/l2bad.xml" >$T/define.out 2>&1
vh_result t3.define $? "defined vh-l2 (hostdev managed='no'), vh-l2-managed (managed='yes'), vh-l2-bad $(tr '\n' ' ' <$T/define.out | cut -c1-300)"

# ------------------------------------------------------------ start: the hook detaches the NIC
t0=$(uptime_s)
vsh start vh-l2 >$T/start.out 2>&1
rc=$?
QPID=$(qemu_pid vh-l2)
[ $rc = 0 ] && [ -n "$QPID" ]
vh_result t3.start $? "virsh start vh-l2: exit $rc in $(since "$t0")s, QEMU pid ${QPID:-none} $(tr '\n' ' ' <$T/start.out | cut -c1-300)"
[ $rc = 0 ] || dump_logs

[ "$(drv "$NIC")" = vfio-pci ]
vh_result t3.running.vfio-pci $? "NIC driver while vh-l2 runs: $(drv "$NIC"), driver_override $(ovr "$NIC")"
[ -f /run/vfiohook/$UUID_L2.state ]
vh_result t3.running.state-file $? "/run/vfiohook: $(ls /run/vfiohook 2>/dev/null | tr '\n' ' ')"
fds=$( [ -n "$QPID" ] && vfio_fds "$QPID")
case " $fds " in *" /dev/vfio/$G "*) [ -n "$QPID" ] ;; *) false ;; esac
vh_result t3.running.group-open $? "L2 QEMU pid ${QPID:-none} holds: ${fds:-no /dev/vfio fd} (group $G)"
vsh qemu-monitor-command vh-l2 --hmp 'info pci' >$T/infopci 2>&1
grep -q -i '8086:10d3' $T/infopci
vh_result t3.running.l2-sees-nic $? "L2 'info pci': $(grep -i -B1 '8086:10d3' $T/infopci | tr -s ' \n' ' ' | cut -c1-200)"

# ------------------------------------------------------------ destroy: the hook gives it back
vsh destroy vh-l2 >$T/destroy.out 2>&1
rc=$?
for _ in $(seq 50); do [ -z "$(qemu_pid vh-l2)" ] && [ ! -d "/proc/$QPID" ] && break; sleep 0.1; done
[ $rc = 0 ] && [ ! -d "/proc/${QPID:-nonexistent}" ]
vh_result t3.destroy $? "virsh destroy vh-l2: exit $rc, QEMU ${QPID:-?} $([ -d "/proc/${QPID:-nonexistent}" ] && echo 'still running' || echo gone)"
wait_drv "$NIC" e1000e 50
[ "$(drv "$NIC")" = e1000e ] && [ "$(ovr "$NIC")" = "(null)" ]
vh_result t3.destroy.e1000e $? "NIC driver after destroy: $(drv "$NIC"), driver_override '$(ovr "$NIC")' (libvirt leaves a managed='no' device on vfio-pci: only vfiohook's release moves it back)"
[ ! -e /run/vfiohook/$UUID_L2.state ]
vh_result t3.destroy.state-gone $? "/run/vfiohook: $(ls /run/vfiohook 2>/dev/null | tr '\n' ' ')"

# ------------------------------------------------------------ a failing prepare stops the start
vsh start vh-l2-bad >$T/bad.out 2>&1
rc=$?
say "virsh start vh-l2-bad said:"
sed 's/^/    | /' $T/bad.out
[ $rc != 0 ] && grep -q 'vfiohook: ' $T/bad.out && grep -q "$NODEV" $T/bad.out
vh_result t3.fail-start.refused $? "virsh start vh-l2-bad: exit $rc: $(tr '\n' ' ' <$T/bad.out | cut -c1-300)"
state=$(vsh domstate vh-l2-bad 2>&1)
[ "$(drv "$NIC")" = e1000e ] && [ "$(ovr "$NIC")" = "(null)" ] && [ "$state" = "shut off" ] &&
	[ -z "$(ls /run/vfiohook/*.state 2>/dev/null)" ]
vh_result t3.fail-start.unchanged $? "state '$state', NIC $(drv "$NIC") override '$(ovr "$NIC")', state files: $(ls /run/vfiohook/*.state 2>/dev/null | tr '\n' ' ')"

# ------------------------------------------------------------ managed='yes' next to the hook
vsh start vh-l2-managed >$T/startm.out 2>&1
rc=$?
QPID=$(qemu_pid vh-l2-managed)
fds=$( [ -n "$QPID" ] && vfio_fds "$QPID")
[ $rc = 0 ] && [ "$(drv "$NIC")" = vfio-pci ] && [ -f /run/vfiohook/$UUID_MGD.state ] &&
	case " $fds " in *" /dev/vfio/$G "*) true ;; *) false ;; esac
vh_result t3.managed.running $? "virsh start vh-l2-managed: exit $rc, NIC $(drv "$NIC"), state file $([ -f /run/vfiohook/$UUID_MGD.state ] && echo present || echo missing), QEMU holds: ${fds:-nothing} $(tr '\n' ' ' <$T/startm.out | cut -c1-200)"
vsh destroy vh-l2-managed >/dev/null 2>&1
rc=$?
wait_drv "$NIC" e1000e 50
[ $rc = 0 ] && [ "$(drv "$NIC")" = e1000e ] && [ "$(ovr "$NIC")" = "(null)" ] &&
	[ ! -e /run/vfiohook/$UUID_MGD.state ]
vh_result t3.managed.destroyed $? "virsh destroy: exit $rc, NIC $(drv "$NIC") override '$(ovr "$NIC")', state files: $(ls /run/vfiohook/*.state 2>/dev/null | tr '\n' ' ')"

[ "$VH_NFAIL" = 0 ] || dump_logs
finish
