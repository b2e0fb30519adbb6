#!/bin/bash
# tests/systemd/unit.sh BUILDDIR - summond.service under a real systemd.
#
# A Debian 12 tree made by mmdebstrap from Debian's packages (cached in
# $SUMMON_NSPAWN_CACHE, default /var/cache/summon-test, and made again
# when the package list below changes) is copied, summon is put in it
# with `meson install --destdir` and its sysusers.d snippet applied, and
# the copy boots under `systemd-nspawn -b` with systemd as PID 1.  The
# unit runs as the package installs it, with one drop-in: WatchdogSec=3s,
# so that the watchdog's work shows in seconds rather than minutes.
# tests/systemd/summon-check.service, enabled in multi-user.target, runs
# tests/systemd/inside.sh there and powers the container off; its TAP
# lines come back through a bind-mounted directory.
#
# libvirt: the tree has its own libvirtd (Debian's libvirt-daemon-system
# and qemu-system-x86, polkitd letting group libvirt in, as on any
# Debian host).  The host's libvirtd is not used: here it was started by
# hand without polkit, so its read-write socket lets no user but root
# in, and guests of other tests run under it; and kernel paths and
# serial logs would have to be the same files in two mount namespaces.
# The container has a network namespace of its own (--private-network):
# its guests use user-mode networking, their ports forwarded on its
# loopback, so no traffic leaves it.  QEMU runs under TCG there (no
# /dev/kvm in the container).
#
# Exit status: 0 when every check passed, 1 when one failed, 77 (skip,
# with the reason) where nspawn cannot run a container or the tree
# cannot be made.  Everything it starts it stops; the copy is removed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: unit.sh BUILDDIR}" && pwd)
CACHE=${SUMMON_NSPAWN_CACHE:-/var/cache/summon-test}
SUITE=bookworm
# systemd and the runtime libraries summond and summonctl link; libvirt's
# daemon and QEMU for guests; curl for a request through the proxy.
PKGS=systemd,systemd-sysv,dbus,libvirt0,libevent-2.1-7,libsqlite3-0
PKGS=$PKGS,libinih1,libjansson4,libvirt-daemon-system,qemu-system-x86
PKGS=$PKGS,curl,procps

say() { printf '# %s\n' "$*"; }
skip() { say "SKIP: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root (mmdebstrap, nspawn)"
for tool in systemd-nspawn mmdebstrap systemd-sysusers systemctl; do
	command -v "$tool" >/dev/null ||
	    skip "$tool is missing (scripts/setup installs it)"
done

base=$CACHE/$SUITE
want=$(printf '%s %s\n' "$SUITE" "$PKGS" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$base.stamp" 2>/dev/null)" != "$want" ] || [ ! -d "$base" ]; then
	say "making the $SUITE tree with mmdebstrap (once; cached in $base)"
	mkdir -p "$CACHE"
	rm -rf "$base" "$base.tmp" "$base.stamp"
	if ! mmdebstrap --quiet --variant=minbase --include="$PKGS" "$SUITE" \
	    "$base.tmp" >"$CACHE/mmdebstrap.log" 2>&1; then
		tail -n 20 "$CACHE/mmdebstrap.log" | sed 's/^/# /'
		rm -rf "$base.tmp"
		skip "mmdebstrap failed (no Debian mirror?)"
	fi
	mv "$base.tmp" "$base"
	echo "$want" >"$base.stamp"
fi

run=$(mktemp -d "$CACHE/run.XXXXXX")
root=$run/root
nspawn_pid=
cleanup() {
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		kill -KILL "$nspawn_pid" 2>/dev/null
		wait "$nspawn_pid" 2>/dev/null
	fi
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Can this machine run a container at all?  (No cgroup2, no namespaces:
# skip, saying why.)
if ! out=$(systemd-nspawn -q -D "$base" --register=no --keep-unit \
    --private-network /bin/true 2>&1); then
	printf '%s\n' "$out" | sed 's/^/# /'
	skip "systemd-nspawn cannot run a container here"
fi

cp -a "$base" "$root"

# The install, as a package would do it.
if ! out=$(meson install -C "$build" --no-rebuild --quiet \
    --destdir "$root" 2>&1); then
	printf '%s\n' "$out" | sed 's/^/# /'
	echo "not ok 1 - meson install into the tree"
	exit 1
fi
prefix=$(meson introspect --buildoptions "$build" |
    python3 -c 'import json, sys
print({o["name"]: o["value"] for o in json.load(sys.stdin)}["prefix"])')
case $prefix in
/usr) sysconf=/etc ;;
*) sysconf=$prefix/etc ;;
esac
# The group libvirt is libvirt-daemon-system's; the snippet adds summon.
systemd-sysusers --root="$root" "$root$prefix/lib/sysusers.d/summon.conf" 2>&1 |
    sed 's/^/# /'
systemctl --root="$root" --quiet enable summond.service
mkdir -p "$root/etc/systemd/system/summond.service.d"
cat >"$root/etc/systemd/system/summond.service.d/watchdog.conf" <<'EOT'
# tests/systemd/unit.sh: the watchdog in seconds (the unit says 30 s).
[Service]
WatchdogSec=3s
EOT
# No libvirt default network: it wants dnsmasq, and summon needs none.
rm -f "$root/etc/libvirt/qemu/networks/autostart/default.xml"
# nspawn gives the container the host's cgroup controllers read-only
# (v1 here), where libvirt cannot make a group per guest ("Failed to
# create v1 controller cpu for group: Read-only file system"): the
# container's libvirtd puts none.  The unit is not concerned.
echo 'cgroup_controllers = [ ]' >>"$root/etc/libvirt/qemu.conf"

cat >"$root$sysconf/summon/summond.conf" <<EOT
; tests/systemd/unit.sh: the unit's own directories (state, control,
; serial-dir left at their defaults), user-mode networking.
[summond]
hypervisor = qemu:///system
templates = $prefix/share/summon/templates
on-exit = stop

[dns]
listen = 127.0.0.1:53
zone = nsp.summon.

[metrics]
listen = 127.0.0.1:9153

[network]
mode = user
user-ports = 20000-20099

[service "hello"]
kernel = $prefix/lib/summon/images/hello.elf
address = 127.0.0.2
ports = 8080:80
boot-timeout = 120s
idle-timeout = 1h

[service "serial"]
kernel = $prefix/lib/summon/images/hello.elf
address = 127.0.0.3
ports = 8080:80
ready = serial:summon-hello: ready
boot-timeout = 120s
idle-timeout = 1h
EOT

install -D -m 0755 "$here/inside.sh" "$root/usr/local/libexec/summon-check"
install -m 0644 "$here/summon-check.service" "$root/etc/systemd/system/"
systemctl --root="$root" --quiet enable summon-check.service
mkdir -p "$run/results"
printf 'CONF=%s\nPATH=%s/bin:%s/sbin:/usr/sbin:/usr/bin:/sbin:/bin\n' \
    "$sysconf/summon/summond.conf" "$prefix" "$prefix" >"$run/results/env"

say "booting the tree under systemd-nspawn (systemd $(systemctl --version |
    sed -n '1s/^systemd \([0-9]*\).*/\1/p') on the host)"
# Its own process group, so that a timeout ends all of it.
setsid systemd-nspawn -q -D "$root" --register=no --keep-unit \
    --private-network -b --bind="$run/results:/results" \
    >"$run/console.log" 2>&1 </dev/null &
nspawn_pid=$!
deadline=$((SECONDS + ${SUMMON_NSPAWN_TIMEOUT:-900}))
while kill -0 "$nspawn_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
	sleep 1
done
if kill -0 "$nspawn_pid" 2>/dev/null; then
	echo "not ok - the container did not power off in time"
	kill -KILL -- "-$nspawn_pid" 2>/dev/null
fi
wait "$nspawn_pid" 2>/dev/null
nspawn_pid=

if [ ! -s "$run/results/out" ]; then
	echo "not ok - no result from inside the container; its console:"
	tail -n 60 "$run/console.log" | sed 's/^/# /'
	exit 1
fi
cat "$run/results/out"
say "not verified here: KVM (the container has no /dev/kvm, and this"
say "host's, if any, may not run the guests: scripts/accel), bridge"
say "networking (the container's libvirtd would need a bridge of its own),"
say "the host's libvirtd (left alone); docs/operations.md"
if grep -q '^not ok' "$run/results/out" ||
    ! grep -q '^1\.\.[0-9]' "$run/results/out"; then
	say "the container's console, last lines:"
	tail -n 40 "$run/console.log" | sed 's/^/# /'
	exit 1
fi
exit 0
