#!/bin/sh
# bench/proxy.sh - summond's proxy against a direct connection and
# HAProxy (mode tcp), with a native loopback backend and with the
# reference image: see bench/proxy.py for what is measured and the
# environment variables that change it.  Not run by CI.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup >/dev/null
for p in wrk haproxy curl; do
	command -v $p >/dev/null || DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $p >/dev/null
done
[ -x build/src/summond ] || { meson setup build >/dev/null; ninja -C build >/dev/null; }
exec ./scripts/nsexec python3 bench/proxy.py "$@"
