#!/bin/bash
# bench/resume.sh [HELLO_ELF] - what a resume costs in libvirt, call by
# call (bench/resume.c): a domain of the reference image is created from
# the microvm-user template, then suspended and resumed RUNS (default 30)
# times.  This is the floor of a warm start from `stop-mode = suspend`
# or a standby.  Not run by CI.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
elf=${1:-$root/build/images/hello.elf}
RUNS=${RUNS:-30}
URI=qemu:///system
domain="resume-bench-$$"

[ -r "$elf" ] || { echo "no image at $elf (build it, or give its path)" >&2; exit 1; }
"$root/scripts/setup" >/dev/null
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
	virsh -q -c "$URI" destroy "$domain" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
cp "$elf" "$tmp/hello.elf"
chmod 644 "$tmp/hello.elf"
cc -O2 -Wall -o "$tmp/resume" "$here/resume.c" -lvirt
if [ "$("$here/../scripts/accel")" = kvm ]; then type=kvm; else type=qemu; fi
. "$here/template.sh"
render_template microvm-user.xml "$domain" "$type" "$tmp/hello.elf" \
    "$tmp/serial.log" "" >"$tmp/domain.xml"
virsh -q -c "$URI" create "$tmp/domain.xml" >/dev/null
for _ in $(seq 300); do
	grep -aq 'summon-hello: ready ' "$tmp/serial.log" 2>/dev/null && break
	sleep 0.1
done
echo "# libvirt resume of the reference image ($type), $RUNS runs"
"$tmp/resume" "$domain" "$RUNS"
