#!/bin/bash
# bench/boot.sh [HELLO_ELF] - boot time of the reference image.
#
# For each path, RUNS (default 20) boots; prints the median and p90 of
#   raw QEMU:  exec of qemu-system-x86_64 -> readiness line on the serial
#              console (microvm, and pc with qboot; KVM and TCG)
#   libvirt:   `virsh create` -> readiness line in the serial log file
#              (qemu:///system, the microvm-user and pc-user templates)
# and the guest's own boot_us (first instruction -> ready) for comparison.
# With LINUX_DIR="DIR..." (outputs of images/linux/build, e.g. of two
# kernels), also the Linux guest under raw QEMU, microvm and pc with
# qboot, TCG, exec -> its readiness line, next to the guest's uptime at
# that line; runs taken in turns across the rows, so that a change of
# the machine's load hits every row alike.  LINUX_ONLY=1 skips the
# reference image's rows.
# KVM rows are skipped, with a note, where KVM cannot run the guest
# (scripts/accel); libvirt
# rows where no libvirtd answers.  Not run by CI: the numbers depend on
# the machine and its load.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
elf=${1:-$root/build/images/hello.elf}
RUNS=${RUNS:-20}
URI=qemu:///system
CMDLINE="ip=10.0.2.15/24 gw=10.0.2.2"

[ -r "$elf" ] || { echo "no image at $elf (build it, or give its path)" >&2; exit 1; }

tmp=$(mktemp -d)
chmod 755 "$tmp"
cp "$elf" "$tmp/hello.elf"
chmod 644 "$tmp/hello.elf"
qemu_pid=
domain=
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
	[ -n "$domain" ] && virsh -q -c "$URI" destroy "$domain" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$here/template.sh"
RUN=()
[ -x "$root/scripts/nsexec" ] && RUN=("$root/scripts/nsexec")

now_ms() { echo "${EPOCHREALTIME/./}" | awk '{ printf "%.3f", $1 / 1000 }'; }

# stats FILE: "median p90" of the numbers in FILE, one a line.
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 }
		END {
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			i = int(0.9 * NR + 0.999999); if (i < 1) i = 1
			printf "%.1f %.1f", m, v[i]
		}'
}

row() {	# row PATH ACCEL RUNS MEDIAN P90 GUEST
	printf '%-30s %-6s %5s %10s %10s %12s\n' "$@"
}

# qemu_until TEXT ARG...: exec qemu-system-x86_64 with ARGs (serial
# port on stdout) and read its console until a line holds TEXT; sets t0
# (exec), t1 (that line) and line.  1 when the line did not come in 120 s.
qemu_until() {
	local text=$1
	shift
	t0=$EPOCHREALTIME
	t1=
	exec {fd}< <(exec qemu-system-x86_64 "$@" -smp 1 -nodefaults \
		-no-user-config -display none -monitor none -serial stdio \
		-netdev user,id=n0 2>/dev/null)
	qemu_pid=$!
	while IFS= read -r -t 120 -u "$fd" line; do
		case $line in
		*"$text"*)
			t1=$EPOCHREALTIME
			break
			;;
		esac
	done
	kill "$qemu_pid" 2>/dev/null
	wait "$qemu_pid" 2>/dev/null
	qemu_pid=
	exec {fd}<&-
	line=${line%$'\r'}
	[ -n "$t1" ]
}

# One raw QEMU boot: prints "exec_to_ready_ms guest_boot_ms".
raw_boot() {
	local accel=$1 machine=$2 t0 t1 line
	local -a margs
	if [ "$machine" = microvm ]; then
		margs=(-M microvm -device virtio-net-device,netdev=n0)
	else
		margs=(-M pc -bios /usr/share/qemu/qboot.rom -device virtio-net-pci,netdev=n0)
	fi
	qemu_until "summon-hello: ready " "${margs[@]}" -accel "$accel" -m 32 \
	    -kernel "$tmp/hello.elf" -append "$CMDLINE" || return 1
	awk -v a="$t0" -v b="$t1" -v g="${line##*boot_us=}" \
		'BEGIN { printf "%.3f %.3f\n", (b - a) * 1000, g / 1000 }'
}

# linux_boot DIR MACHINE: one raw QEMU boot of the Linux guest in DIR:
# prints "exec_to_ready_ms guest_uptime_ms".  pc gets the command line
# without tsc_early_khz, which only microvm needs (docs/images.md).
linux_boot() {
	local dir=$1 machine=$2 t0 t1 line cmdline
	local -a margs
	cmdline=$(sed -n 's/^cmdline = //p' "$dir/service.conf")
	cmdline=${cmdline//\${ip\}/10.0.2.15}
	cmdline=${cmdline//\${gateway\}/10.0.2.2}
	cmdline=${cmdline//\${prefix\}/24}
	cmdline=${cmdline//\${name\}/bench}
	if [ "$machine" = microvm ]; then
		margs=(-M microvm -device virtio-net-device,netdev=n0)
	else
		margs=(-M pc -bios /usr/share/qemu/qboot.rom -no-acpi
		    -device virtio-net-pci,netdev=n0)
		cmdline=$(echo "$cmdline" | sed 's/ tsc_early_khz=[0-9]*//')
	fi
	qemu_until "summon-linux: ready " "${margs[@]}" -accel tcg -m 128 \
	    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
	    -append "$cmdline" || return 1
	awk -v a="$t0" -v b="$t1" -v u="${line##*uptime=}" \
		'BEGIN { printf "%.3f %.3f\n", (b - a) * 1000, u * 1000 }'
}

free_port() {
	local port
	for _ in $(seq 50); do
		port=$((20000 + RANDOM % 20000))
		"${RUN[@]}" ss -Htln "sport = :$port" | grep -q . || { echo "$port"; return; }
	done
	return 1
}

# One libvirt boot: prints "create_to_ready_ms guest_boot_ms".
libvirt_boot() {
	local template=$1 type=$2 n=$3 t0 t1 port log line
	domain="hello-bench-$$-$n"
	log="$tmp/$domain.log"
	port=$(free_port) || return 1
	render_template "$template" "$domain" "$type" "$tmp/hello.elf" "$log" \
	    "hostfwd=tcp:127.0.0.1:$port-:80" >"$tmp/$domain.xml"
	t0=$EPOCHREALTIME
	virsh -q -c "$URI" create "$tmp/$domain.xml" >/dev/null || return 1
	for _ in $(seq 30000); do
		line=$(grep -a 'summon-hello: ready ' "$log" 2>/dev/null) && break
		sleep 0.001
	done
	t1=$EPOCHREALTIME
	virsh -q -c "$URI" destroy "$domain" >/dev/null 2>&1
	domain=
	[ -n "$line" ] || return 1
	line=${line%$'\r'}
	awk -v a="$t0" -v b="$t1" -v g="${line##*boot_us=}" \
		'BEGIN { printf "%.3f %.3f\n", (b - a) * 1000, g / 1000 }'
}

# measure LABEL ACCEL COMMAND...: RUNS boots, one table row.
measure() {
	local label=$1 accel=$2 i out
	shift 2
	: >"$tmp/total"
	: >"$tmp/guest"
	for i in $(seq "$RUNS"); do
		out=$("$@" "$i") || { row "$label" "$accel" "-" "failed" "" ""; return; }
		echo "${out% *}" >>"$tmp/total"
		echo "${out#* }" >>"$tmp/guest"
	done
	read -r med p90 < <(stats "$tmp/total")
	read -r gmed _ < <(stats "$tmp/guest")
	row "$label" "$accel" "$RUNS" "$med" "$p90" "$gmed"
}

echo "# $(basename "$elf"), $RUNS runs each; times in ms"
row path accel runs median p90 guest-median
# The Linux rows, in turns: run i of every row, then run i + 1.
if [ -n "${LINUX_DIR:-}" ]; then
	rows=()
	for dir in $LINUX_DIR; do
		for machine in microvm pc; do
			rows+=("$dir $machine")
		done
	done
	for i in $(seq "$RUNS"); do
		for r in "${!rows[@]}"; do
			# shellcheck disable=SC2086
			out=$(linux_boot ${rows[$r]}) || out="failed failed"
			echo "${out% *}" >>"$tmp/ltotal.$r"
			echo "${out#* }" >>"$tmp/lguest.$r"
		done
	done
	for r in "${!rows[@]}"; do
		if grep -q failed "$tmp/ltotal.$r"; then
			row "${rows[$r]}" tcg - failed "" ""
			continue
		fi
		read -r med p90 < <(stats "$tmp/ltotal.$r")
		read -r gmed _ < <(stats "$tmp/lguest.$r")
		r_dir=${rows[$r]% *}
		row "${r_dir##*/} ${rows[$r]#* }" tcg "$RUNS" "$med" "$p90" "$gmed"
	done
	[ -n "${LINUX_ONLY:-}" ] && exit 0
fi
if [ "$("$here/../scripts/accel")" = kvm ]; then
	measure "raw qemu microvm" kvm raw_boot kvm microvm
	measure "raw qemu pc + qboot" kvm raw_boot kvm pc
else
	row "raw qemu microvm" kvm - "skipped: no usable KVM" "" ""
	row "raw qemu pc + qboot" kvm - "skipped: no usable KVM" "" ""
fi
measure "raw qemu microvm" tcg raw_boot tcg microvm
measure "raw qemu pc + qboot" tcg raw_boot tcg pc

if timeout 10 virsh -c "$URI" uri >/dev/null 2>&1; then
	if [ "$("$here/../scripts/accel")" = kvm ]; then type=kvm; else type=qemu; fi
	measure "libvirt create microvm-user" "$type" libvirt_boot microvm-user.xml "$type"
	measure "libvirt create pc-user" "$type" libvirt_boot pc-user.xml "$type"
else
	row "libvirt create" - - "skipped: no libvirtd on $URI" "" ""
fi
