#!/bin/bash
# libvirt.sh HELLO_ELF TEMPLATE_DIR - boots the reference image through
# libvirt (qemu:///system) with each domain template and checks it with
# real clients: on a bridge (microvm.xml, pc.xml) over a libvirt network
# the test creates, and with user-mode networking (microvm-user.xml,
# pc-user.xml) over a port forwarded to loopback.
#
# Clients run where libvirtd runs: inside the network namespace that
# scripts/setup made (scripts/nsexec), so that the test network's private
# addresses are never reached from the machine's own namespace.  Skips
# (77) when no libvirtd answers.
set -u

elf=$1
templates=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

URI=qemu:///system
NET=summon-imgtest
BRIDGE=smnimg0
GW=10.98.0.1
GUEST=10.98.0.10
MAC=52:54:00:62:00:0a

for tool in virsh curl ss ping; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool not installed"
		exit 77
	fi
done
if ! timeout 10 virsh -c "$URI" uri >/dev/null 2>&1; then
	echo "SKIP: no libvirtd answers on $URI (run scripts/setup)"
	exit 77
fi
if [ -x "$root/scripts/nsexec" ]; then
	RUN=("$root/scripts/nsexec")
elif [ -e /var/run/netns/summon ]; then
	RUN=(ip netns exec summon)
fi
if [ "$("$here/../../scripts/accel")" = kvm ]; then domain_type=kvm; else domain_type=qemu; fi

tmp=$(mktemp -d)
chmod 755 "$tmp"
domain=
cleanup() {
	[ -n "$domain" ] && virsh -q -c "$URI" destroy "$domain" >/dev/null 2>&1
	virsh -q -c "$URI" net-destroy "$NET" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

# QEMU runs as libvirt's user and may not reach the build tree.
cp "$elf" "$tmp/hello.elf"
chmod 644 "$tmp/hello.elf"

virsh -q -c "$URI" net-destroy "$NET" >/dev/null 2>&1	# a crashed earlier run
# libvirt 9.0 records a network's MAC addresses under its dnsmasq state
# directory even when no dnsmasq runs, but creates that directory only
# when it starts one: without it, attaching a guest fails.
mkdir -p /var/lib/libvirt/dnsmasq
# stp='off': with STP on, the kernel enforces a forward delay of at least
# 2 s, and each new tap stays deaf for listening + learning (~4 s) after
# the guest is already up.
cat >"$tmp/net.xml" <<EOT
<network>
  <name>$NET</name>
  <bridge name='$BRIDGE' stp='off' delay='0'/>
  <dns enable='no'/>
  <ip address='$GW' netmask='255.255.255.0'/>
</network>
EOT
if virsh -q -c "$URI" net-create "$tmp/net.xml" >/dev/null; then
	pass "network $NET created"
else
	fail "network $NET created"
	summary
	exit 1
fi
# Guard: the bridge must be where the clients run, or their traffic to the
# guest's private address would leave through the default route.
if ! "${RUN[@]}" ip link show "$BRIDGE" >/dev/null 2>&1; then
	fail "bridge $BRIDGE is visible where the clients run (${RUN[*]:-here})"
	summary
	exit 1
fi

# render TEMPLATE OUT CMDLINE [HOSTFWD]: the substitution summond performs,
# by hand (no value here needs XML escaping); no initrd, so summond would
# drop the <initrd> element.
render() {
	sed -e '/<initrd>\${initrd}<\/initrd>/d' \
	    -e "s|\${domain_type}|$domain_type|g" \
	    -e "s|\${name}|$domain|g" \
	    -e "s|\${metadata}||g" \
	    -e "s|\${kernel}|$tmp/hello.elf|g" \
	    -e "s|\${cmdline}|$3|g" \
	    -e "s|\${memory_kib}|32768|g" \
	    -e "s|\${vcpus}|1|g" \
	    -e "s|\${mac}|$MAC|g" \
	    -e "s|\${network}|$NET|g" \
	    -e "s|\${serial_log}|$tmp/$domain.log|g" \
	    -e "s|\${hostfwd}|${4:-}|g" \
	    "$1" >"$2"
	if grep -q '\${' "$2"; then
		echo "unsubstituted variable in $1:" >&2
		grep '\${' "$2" >&2
		return 1
	fi
}

# boot TEMPLATE CMDLINE [HOSTFWD]: creates a transient domain from the
# template and waits for its readiness line.
boot() {
	local template=$1
	# Not "summon-...": summond treats such domains as its own and reaps
	# those no service owns, and its tests may run alongside this one.
	domain="hello-imgtest-$$-${template%.xml}"
	render "$templates/$template" "$tmp/$domain.xml" "$2" "${3:-}" || return 1
	if ! virsh -q -c "$URI" create "$tmp/$domain.xml" >/dev/null; then
		fail "$template: virsh create"
		return 1
	fi
	if ! wait_ready "$tmp/$domain.log" "" 120; then
		fail "$template: readiness line"
		sed 's/^/# serial: /' "$tmp/$domain.log" 2>/dev/null
		return 1
	fi
	pass "$template: created, readiness line on the serial log"
	grep 'ready ip=' "$tmp/$domain.log" | sed 's/^/# /'
}

shutdown_domain() {
	local template=$1
	if grep -q panic "$tmp/$domain.log"; then
		fail "$template: no panic"
	fi
	if virsh -q -c "$URI" destroy "$domain" >/dev/null; then
		pass "$template: destroyed"
	else
		fail "$template: destroyed"
	fi
	domain=
}

for template in microvm.xml pc.xml; do
	echo "# $template on network $NET, guest $GUEST, domain type $domain_type"
	boot "$template" "ip=$GUEST/24 gw=$GW" || continue
	if "${RUN[@]}" ping -c 3 -i 0.3 -W 10 "$GUEST" >/dev/null; then
		pass "$template: ping $GUEST"
	else
		fail "$template: ping $GUEST"
	fi
	if [ "$template" = microvm.xml ]; then
		http_suite "$GUEST" 80 "$GUEST"
	else
		http_smoke "$GUEST" 80
	fi
	shutdown_domain "$template"
done

for template in microvm-user.xml pc-user.xml; do
	port=$(free_port) || { fail "$template: free port"; continue; }
	echo "# $template, guest port 80 on 127.0.0.1:$port, domain type $domain_type"
	boot "$template" "ip=10.0.2.15/24 gw=10.0.2.2" "hostfwd=tcp:127.0.0.1:$port-:80" ||
		continue
	http_smoke 127.0.0.1 "$port"
	shutdown_domain "$template"
done

if virsh -q -c "$URI" net-destroy "$NET" >/dev/null; then
	pass "network $NET removed"
else
	fail "network $NET removed"
fi
summary
