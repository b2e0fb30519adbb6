#!/bin/sh
# bench/rate.sh - cold starts of distinct services per second, summond
# against libvirt alone (bench/rate.py).  N=services (default 8), ROUNDS (default 3).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup >/dev/null
[ -x build/src/summond ] || { meson setup build >/dev/null; ninja -C build >/dev/null; }
exec ./scripts/nsexec python3 bench/rate.py "$@"
