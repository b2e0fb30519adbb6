#!/bin/sh
# bench/rate.sh - cold starts of distinct services per second, summond
# against libvirt alone (bench/rate.py).  N=services (default 8), ROUNDS
# (default 3).  `bench/rate.sh hosts`: summond with one, two and three
# libvirt hosts (the local one and two lab hosts, scripts/lab-host, made
# for the run and removed after it).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup >/dev/null
[ -x build/src/summond ] || { meson setup build >/dev/null; ninja -C build >/dev/null; }
if [ "${1:-}" != hosts ]; then
	exec ./scripts/nsexec python3 bench/rate.py "$@"
fi
labs="rb-a rb-b"
trap 'for h in $labs; do ./scripts/lab-host "$h" down >/dev/null || true; done' EXIT INT TERM
LAB_HOSTS=
for h in $labs; do
	uri=$(./scripts/lab-host "$h" up | tail -n 1)
	gw=$(sed -n 's/^GATEWAY=//p' "/run/summon-lab/$h/lab.env")
	LAB_HOSTS="$LAB_HOSTS$uri $gw summon-lab-$h;"
done
export LAB_HOSTS
./scripts/nsexec python3 bench/rate.py hosts
