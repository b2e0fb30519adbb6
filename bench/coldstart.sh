#!/bin/sh
# bench/coldstart.sh - cold/warm start times through summond vs raw QEMU.
# Needs a build (meson setup build && ninja -C build) and libvirtd
# (scripts/setup).  RUNS=N to change the number of runs (default 20).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup >/dev/null
exec ./scripts/nsexec python3 bench/coldstart.py "$@"
