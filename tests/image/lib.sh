# lib.sh - helpers shared by the image tests (sourced, not run).
#
# The tests talk to a guest with real clients (curl, bash's /dev/tcp).
# RUN is a command prefix for every client: empty when the guest is reached
# over loopback, "ip netns exec summon" (or scripts/nsexec) when it sits on
# a bridge inside the project's namespace.

RUN=()
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }

# check DESCRIPTION EXPECTED ACTUAL
check() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1: expected '$2', got '$3'"
	fi
}

# summary: prints the closing line and returns non-zero on any failure.
summary() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

# A TCP port that nothing listens on now (where RUN runs).
free_port() {
	local port
	for _ in $(seq 50); do
		port=$((20000 + RANDOM % 20000))
		if ! "${RUN[@]}" ss -Htln "sport = :$port" | grep -q .; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# wait_ready LOG PID TIMEOUT_S: waits for the readiness line in the serial
# log; fails early if process PID (when given) has exited.
wait_ready() {
	local log=$1 pid=$2 deadline=$((SECONDS + $3))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if grep -Eq '^summon-hello: ready ip=[0-9.]+ boot_us=[0-9]+' "$log" 2>/dev/null; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			echo "guest exited before it was ready" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "no readiness line within $3 s" >&2
	return 1
}

# http_code URL [CURL ARGS...]: prints the status code ("000" on failure).
http_code() {
	local url=$1
	shift
	"${RUN[@]}" curl -s -o /dev/null -m 30 -w '%{http_code}' "$@" "$url" || true
}

# raw HOST PORT BYTES: sends BYTES (printf %b escapes) on one connection,
# prints everything the server sends until it closes (at most 20 s).
raw() {
	"${RUN[@]}" timeout 20 bash -c \
		'exec 3<>"/dev/tcp/$1/$2" || exit 1; printf "%b" "$3" >&3; cat <&3' \
		_ "$1" "$2" "$3" || true
}

# http_smoke HOST PORT: a guest answers at all, with keep-alive.
http_smoke() {
	local base="http://$1:$2" codes
	check "GET /healthz is 200" 200 "$(http_code "$base/healthz")"
	codes=$("${RUN[@]}" curl -s -m 60 -o /dev/null -o /dev/null \
		-w '%{http_code}/%{num_connects} ' "$base/" "$base/healthz" || true)
	check "keep-alive: two requests, one connection" "200/1 200/0 " "$codes"
}

# http_suite HOST PORT GUEST_IP: the HTTP behaviour every boot path must show.
http_suite() {
	local host=$1 port=$2 ip=$3 base="http://$1:$2" out codes n i

	check "GET / is 200" 200 "$(http_code "$base/")"
	out=$("${RUN[@]}" curl -s -m 30 "$base/" || true)
	case $out in
	*"Instance $ip, up "*"requests served"*) pass "GET / names the instance" ;;
	*) fail "GET / names the instance: got '$out'" ;;
	esac
	check "GET /healthz is 200" 200 "$(http_code "$base/healthz")"
	check "GET /healthz says ok" ok "$("${RUN[@]}" curl -s -m 30 "$base/healthz" | tr -d '\r\n')"
	check "GET /nope is 404" 404 "$(http_code "$base/nope")"
	check "DELETE / is 405" 405 "$(http_code "$base/" -X DELETE)"

	out=$("${RUN[@]}" curl -s -I -m 30 -w '%{http_code} %{size_download}' "$base/" || true)
	case $out in
	*"Content-Length: "[1-9]*"200 0") pass "HEAD / has headers and no body" ;;
	*) fail "HEAD / has headers and no body: got '$out'" ;;
	esac

	# One curl, three URLs: the first opens a connection, the others reuse it.
	codes=$("${RUN[@]}" curl -s -m 60 -o /dev/null -o /dev/null -o /dev/null \
		-w '%{http_code}/%{num_connects} ' "$base/" "$base/healthz" "$base/" || true)
	check "keep-alive: three requests, one connection" "200/1 200/0 200/0 " "$codes"

	out=$(raw "$host" "$port" 'GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
	check "pipelined requests answered, then closed" 2 "$(grep -c '^HTTP/1.1 200 OK' <<<"$out")"
	# Different requests in one segment: each is answered as itself.
	out=$(raw "$host" "$port" 'GET /nope HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
	check "pipelined 404 then 200" "HTTP/1.1 404 Not Found|HTTP/1.1 200 OK" "$(grep '^HTTP/1.1' <<<"$out" | tr -d '\r' | paste -sd'|')"
	# A body in the same segment as its head (as a proxy may send it).
	out=$(raw "$host" "$port" 'POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello')
	check "POST /sink with head and body in one segment" "bytes=5 fnv=4f9f2cab" "$(tail -n1 <<<"$out" | tr -d '\r\n')"

	out=$(raw "$host" "$port" 'this is not http\r\n\r\n')
	check "garbage gets 400 and a close" "HTTP/1.1 400 Bad Request" "$(head -n1 <<<"$out" | tr -d '\r')"
	out=$(raw "$host" "$port" 'GET / HTTP/1.1\r\nNo-Host: x\r\n\r\n')
	check "HTTP/1.1 without Host gets 400" "HTTP/1.1 400 Bad Request" "$(head -n1 <<<"$out" | tr -d '\r')"
	check "still serving after bad requests" 200 "$(http_code "$base/healthz")"

	n=0
	for i in $(seq 200); do
		[ "$(http_code "$base/healthz")" = 200 ] && n=$((n + 1))
	done
	check "200 sequential requests" 200 "$n"

	# The server closes these first, so each leaves a TIME-WAIT slot behind:
	# more of them than there are slots (128) must still all succeed.
	n=0
	for i in $(seq 150); do
		[ "$(http_code "$base/healthz" -H 'Connection: close')" = 200 ] && n=$((n + 1))
	done
	check "150 server-closed connections" 150 "$n"

	local dir pids=()
	dir=$(mktemp -d)
	for i in $(seq 32); do
		http_code "$base/?client=$i" >"$dir/$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	n=$(cat "$dir"/* | grep -o 200 | wc -l)
	rm -rf "$dir"
	check "32 concurrent requests" 32 "$n"
}
