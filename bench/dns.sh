#!/bin/sh
# bench/dns.sh - DNS answers/s of summond against NSD, in one run.
#
# The target: with the service running, summond on one core answers at
# least as many queries a second as NSD serving the same zone (ratio
# summond/NSD >= 1.0; docs/benchmarks.md).  Both servers serve
# svc.bench. (SOA, NS and hello A 127.0.0.2) on 127.0.0.1 high ports
# with rate limiting off, one after the other, each pinned to the same
# core with taskset while dnsperf runs pinned to another.  Two
# measurements per server:
#   throughput  dnsperf -c 4 -q 200 for DURATION s: answers/s, loss
#   latency     dnsperf -v at a fixed LAT_QPS for 5 s: p50/p90/p99/p99.9
# and the ratio summond/NSD.  Not run by CI.
#
# Usage: bench/dns.sh [BUILD_DIR]   (default: build; needs src/summond)
# Environment: DURATION (10), LAT_QPS (20000), NSD_PORT (25353),
#   SUMMON_PORT (25354), GUEST_PORT (25380), SERVER_CPU (0),
#   CLIENT_CPU (1).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
summond=$build/src/summond
summonctl=$build/src/summonctl
DURATION=${DURATION:-10}
LAT_QPS=${LAT_QPS:-20000}
NSD_PORT=${NSD_PORT:-25353}
SUMMON_PORT=${SUMMON_PORT:-25354}
GUEST_PORT=${GUEST_PORT:-25380}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

die() { echo "dns.sh: $*" >&2; exit 1; }

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	echo "dns.sh: installing $2" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null ||
	    die "cannot install $2"
}

need dnsperf dnsperf
need nsd nsd
need dig bind9-dnsutils
need taskset util-linux
[ -x "$summond" ] || die "no $summond: meson setup build && ninja -C build"
[ "$(nproc)" -ge 2 ] || echo "dns.sh: one CPU only: server and" \
    "dnsperf share it, the numbers mean little" >&2

tmp=$(mktemp -d /tmp/summon-bench-dns.XXXXXX)
server_pid=
guest_pid=
cleanup() {
	for p in $server_pid $guest_pid; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The zone, as summond builds it (docs/dns.md): SOA mname = the apex,
# rname hostmaster.<apex>, NS = the apex, TTL = minimum = 30.
cat >"$tmp/svc.bench.zone" <<EOF
\$ORIGIN svc.bench.
\$TTL 30
@	IN SOA svc.bench. hostmaster.svc.bench. 1 3600 600 86400 30
@	IN NS svc.bench.
hello	IN A 127.0.0.2
EOF
cat >"$tmp/nsd.conf" <<EOF
server:
	ip-address: 127.0.0.1@$NSD_PORT
	server-count: 1
	username: ""
	chroot: ""
	zonesdir: "$tmp"
	pidfile: "$tmp/nsd.pid"
	database: ""
	xfrdfile: "$tmp/xfrd.state"
	zonelistfile: "$tmp/zone.list"
	logfile: "$tmp/nsd.log"
	rrl-ratelimit: 0
	verbosity: 0
remote-control:
	control-enable: no
zone:
	name: svc.bench.
	zonefile: svc.bench.zone
EOF
# test:///default is libvirt's in-process fake: the "VM" is created at
# once and a stand-in listener on its forwarded port (user mode) passes
# the readiness probe, so the service is running, as the target asks,
# without a real boot.  dns-answer = proxy answers the same in any state.
cat >"$tmp/summond.conf" <<EOF
[summond]
state = $tmp/state.db
control = $tmp/summond.sock
hypervisor = test:///default
templates = $top/images/templates
serial-dir = $tmp
[dns]
listen = 127.0.0.1:$SUMMON_PORT
zone = svc.bench
ttl = 30
rate-limit = 0
[metrics]
listen =
[network]
mode = user
user-ports = $GUEST_PORT-$GUEST_PORT
[service "hello"]
kernel = /dev/null
address = 127.0.0.2
ports = 18080:80
EOF
echo "hello.svc.bench A" >"$tmp/queries"

wait_answer() {
	i=0
	until [ "$(dig @127.0.0.1 -p "$1" +short +time=1 +tries=1 \
	    hello.svc.bench A 2>/dev/null)" = 127.0.0.2 ]; do
		i=$((i + 1))
		[ $i -lt 50 ] || die "$2 does not answer on port $1"
		kill -0 "$server_pid" 2>/dev/null || die "$2 exited"
		sleep 0.2
	done
}

# measure NAME PORT: prints "qps lost p50 p90 p99 p999" (ms)
measure() {
	taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$2" \
	    -d "$tmp/queries" -c 4 -q 200 -l "$DURATION" >"$tmp/$1.tput" 2>&1
	qps=$(awk '/Queries per second/ { print $4 }' "$tmp/$1.tput")
	lost=$(awk '/Queries lost/ { print $3 }' "$tmp/$1.tput")
	taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$2" \
	    -d "$tmp/queries" -Q "$LAT_QPS" -l 5 -v 2>&1 |
	    awk '/^> / { print $NF * 1000 }' | sort -n >"$tmp/$1.lat"
	pct=$(awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- - - -"; exit }
		n = split("0.50 0.90 0.99 0.999", q, " ")
		for (i = 1; i <= n; i++) {
			k = int(q[i] * NR + 0.5); if (k < 1) k = 1
			printf "%.3f%s", v[k], i < n ? " " : "\n"
		} }' "$tmp/$1.lat")
	echo "$qps $lost $pct"
}

echo "dns.sh: NSD $(nsd -v 2>&1 | head -1 | awk '{print $3}'), $DURATION s" \
    "per run, servers on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU" >&2

taskset -c "$SERVER_CPU" nsd -d -c "$tmp/nsd.conf" &
server_pid=$!
wait_answer "$NSD_PORT" nsd
nsd_res=$(measure nsd "$NSD_PORT")
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
server_pid=

taskset -c "$SERVER_CPU" "$summond" -d -f "$tmp/summond.conf" \
    2>"$tmp/summond.log" &
server_pid=$!
wait_answer "$SUMMON_PORT" summond
python3 -m http.server --bind 127.0.0.1 "$GUEST_PORT" >/dev/null 2>&1 &
guest_pid=$!
timeout 10 "$summonctl" -s "$tmp/summond.sock" boot hello >/dev/null 2>&1 ||
    true
state=$("$summonctl" -s "$tmp/summond.sock" status hello 2>/dev/null |
    awk '$1 == "state" || $1 == "state:" { print $2 }')
echo "dns.sh: summond's service hello is ${state:-in an unknown state}" \
    "during the run" >&2
summon_res=$(measure summond "$SUMMON_PORT")
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
server_pid=

printf '%-8s %12s %8s %9s %9s %9s %9s\n' server "answers/s" lost \
    "p50 ms" "p90 ms" "p99 ms" "p99.9 ms"
# shellcheck disable=SC2086
printf '%-8s %12s %8s %9s %9s %9s %9s\n' nsd $nsd_res
# shellcheck disable=SC2086
printf '%-8s %12s %8s %9s %9s %9s %9s\n' summond $summon_res
echo "$summon_res $nsd_res" | awk '{
	if ($7 > 0) printf "ratio summond/nsd answers/s: %.2f (target >= 1.00)\n",
	    $1 / $7 }'
