#!/bin/bash
# user_net.sh HELLO_ELF MACHINE - boots the reference image under raw QEMU
# with user-mode networking (no root, no libvirt, no bridge) and checks its
# HTTP server over a port forwarded to 127.0.0.1.
#
# MACHINE is microvm (virtio-mmio) or pc (qboot firmware, virtio-pci).
# KVM is used where scripts/accel says so, else TCG; HELLO_ACCEL overrides.
set -u

elf=$1
machine=$2
here=$(dirname "$0")
. "$here/lib.sh"

for tool in qemu-system-x86_64 curl ss; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool not installed"
		exit 77
	fi
done

case $machine in
microvm)
	machine_args=(-M microvm)
	nic=virtio-net-device
	;;
pc)
	[ -r /usr/share/qemu/qboot.rom ] || { echo "SKIP: no qboot.rom"; exit 77; }
	machine_args=(-M pc -bios /usr/share/qemu/qboot.rom)
	nic=virtio-net-pci
	;;
*)
	echo "usage: $0 HELLO_ELF microvm|pc" >&2
	exit 2
	;;
esac

accel=${HELLO_ACCEL:-}
if [ -z "$accel" ]; then
	accel=$("$here/../../scripts/accel")
fi

tmp=$(mktemp -d)
qemu_pid=
cleanup() {
	if [ -n "$qemu_pid" ]; then
		kill "$qemu_pid" 2>/dev/null
		wait "$qemu_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

port=$(free_port) || { echo "no free port" >&2; exit 1; }
echo "# $machine, accel $accel, guest port 80 on 127.0.0.1:$port"

qemu-system-x86_64 "${machine_args[@]}" -accel "$accel" -m 32 -smp 1 \
	-nodefaults -no-user-config -nographic -display none \
	-serial "file:$tmp/serial.log" \
	-kernel "$elf" -append "ip=10.0.2.15/24 gw=10.0.2.2" \
	-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:80" \
	-device "$nic,netdev=n0" 2>"$tmp/qemu.err" &
qemu_pid=$!

if wait_ready "$tmp/serial.log" "$qemu_pid" 120; then
	pass "readiness line on the serial console"
	sed 's/^/# serial: /' "$tmp/serial.log"
else
	fail "readiness line on the serial console"
	sed 's/^/# serial: /' "$tmp/serial.log" "$tmp/qemu.err"
	summary
	exit 1
fi

http_suite 127.0.0.1 "$port" 10.0.2.15

if grep -q panic "$tmp/serial.log"; then
	fail "no panic on the console"
	sed 's/^/# serial: /' "$tmp/serial.log"
else
	pass "no panic on the console"
fi
kill -0 "$qemu_pid" 2>/dev/null && pass "guest still running" || fail "guest still running"
summary
