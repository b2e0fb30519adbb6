#!/bin/sh
# bench/standby.sh - the standby budget against a Zipf trace: first its
# policy in simulation (bench/budget_sim.c, the real lifecycle on the
# scripted backend, seconds), then through summond and libvirt, no
# standby against standby = 1 on ten services against standby-budget =
# 10, in one run.  WAKES=N per half of the trace (default 150),
# CONFIGS="none static budget" or a subset, PLOT=FILE.svg.  Needs a
# build (meson setup build && ninja -C build) and libvirtd
# (scripts/setup).  Not run by CI.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup >/dev/null
echo "== policy, simulated (build/tests/budget_sim) =="
./build/tests/budget_sim 2>/dev/null	# its lifecycle's log: every move
echo
echo "== through summond and libvirt =="
exec ./scripts/nsexec python3 bench/standby.py "$@"
