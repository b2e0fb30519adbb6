#!/bin/sh
# bench/proxy.sh - summond's proxy against a direct connection and HAProxy.
#
# One running guest (the reference image, through libvirt), three paths
# to it, measured in one run, inside the guests' namespace:
#   direct   client -> guest:80
#   summond  client -> summond proxy -> guest:80
#   haproxy  client -> HAProxy (mode tcp) -> guest:80
# wrk with 64 connections gives throughput; wrk with 1 connection gives
# the latency each path adds (p50, p99).  Not run by CI.
# DURATION=seconds per run (default 10).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
DURATION=${DURATION:-10}
./scripts/setup >/dev/null
for p in wrk haproxy; do
	command -v $p >/dev/null || DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $p >/dev/null
done
[ -x build/src/summond ] || { meson setup build >/dev/null; ninja -C build >/dev/null; }
. "${SUMMON_ENV:-/run/summon-setup.env}"
nsx() { if [ -n "${SUMMON_NETNS:-}" ]; then ip netns exec "$SUMMON_NETNS" "$@"; else "$@"; fi; }

dir=$(mktemp -d /tmp/summon-proxybench.XXXXXX)
mkdir -p "$dir/serial"
cat > "$dir/summond.conf" <<EOT
[summond]
state = $dir/state.db
control = $dir/summond.sock
hypervisor = qemu:///system
templates = $top/images/templates
serial-dir = $dir/serial
on-exit = stop
[dns]
listen =
[metrics]
listen =
[network]
name = summon-pbench
bridge = smnpb0
gateway = 10.94.0.1/24
pool = 10.94.0.10-10.94.0.20
[service "web"]
kernel = $top/build/images/hello.elf
address = 127.0.0.21
ports = 8080:80
boot-timeout = 120s
idle-timeout = 1h
EOT
if [ -n "${SUMMON_NETNS:-}" ]; then
	ip netns exec "$SUMMON_NETNS" build/src/summond -d -f "$dir/summond.conf" \
	    >"$dir/summond.log" 2>&1 &
else
	build/src/summond -d -f "$dir/summond.conf" >"$dir/summond.log" 2>&1 &
fi
spid=$!
hpid=""
cleanup() {
	[ -n "$hpid" ] && kill "$hpid" 2>/dev/null
	kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	virsh -q -c qemu:///system net-destroy summon-pbench >/dev/null 2>&1
	virsh -q -c qemu:///system net-undefine summon-pbench >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
CTL="build/src/summonctl -s $dir/summond.sock"
i=0; until $CTL list >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 600 ] || exit 1; sleep 0.1; done
$CTL boot web >/dev/null
guest=$($CTL --json status web | sed -n 's/.*"guest_address": "\(.*\)".*/\1/p')

cat > "$dir/haproxy.cfg" <<EOT
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend f
  bind 127.0.0.22:8080
  default_backend b
backend b
  server g $guest:80
EOT
# Not through nsx: $! must be haproxy's own pid (ip netns exec execs).
if [ -n "${SUMMON_NETNS:-}" ]; then
	ip netns exec "$SUMMON_NETNS" haproxy -f "$dir/haproxy.cfg" -db \
	    >"$dir/haproxy.log" 2>&1 &
else
	haproxy -f "$dir/haproxy.cfg" -db >"$dir/haproxy.log" 2>&1 &
fi
hpid=$!
sleep 0.5

# run NAME URL CONNS: print "req/s p50_us p99_us"
run() {
	threads=2; [ "$3" -lt 2 ] && threads=1
	nsx wrk -t "$threads" -c "$3" -d "${DURATION}s" --latency "$2" \
	    >"$dir/wrk-$1.txt" 2>&1 || true
	awk -v name="$1" '
	function us(v) {
		if (v ~ /us$/) return v + 0
		if (v ~ /ms$/) return v * 1000
		if (v ~ /s$/) return v * 1000000
		return v
	}
	/Requests\/sec/ { rps = $2 }
	/^ +50%/ { p50 = us($2) }
	/^ +99%/ { p99 = us($2) }
	END { printf "%s %.0f %.0f %.0f\n", name, rps, p50, p99 }' "$dir/wrk-$1.txt"
}

echo "proxy benchmark: wrk ${DURATION}s per run, guest $guest (reference image, $( [ -c /dev/kvm ] && echo KVM || echo TCG))"
out=$(
	run direct  "http://$guest:80/healthz" 64
	run summond "http://127.0.0.21:8080/healthz" 64
	run haproxy "http://127.0.0.22:8080/healthz" 64
	run direct1  "http://$guest:80/healthz" 1
	run summond1 "http://127.0.0.21:8080/healthz" 1
	run haproxy1 "http://127.0.0.22:8080/healthz" 1
)
echo "$out" | awk '
{ rps[$1] = $2; p50[$1] = $3; p99[$1] = $4 }
END {
	printf "%-10s %12s %10s %10s\n", "path", "req/s (64c)", "p50 us(1c)", "p99 us(1c)"
	split("direct summond haproxy", names, " ")
	for (i = 1; i <= 3; i++) { n = names[i]
		printf "%-10s %12.0f %10.0f %10.0f\n", n, rps[n], p50[n "1"], p99[n "1"] }
	printf "summond / direct throughput: %.3f\n", rps["summond"] / rps["direct"]
	printf "summond / haproxy throughput: %.3f\n", rps["summond"] / rps["haproxy"]
	printf "added p50 latency: summond %+.0f us, haproxy %+.0f us\n", p50["summond1"] - p50["direct1"], p50["haproxy1"] - p50["direct1"]
	printf "added p99 latency: summond %+.0f us, haproxy %+.0f us\n", p99["summond1"] - p99["direct1"], p99["haproxy1"] - p99["direct1"]
}'
