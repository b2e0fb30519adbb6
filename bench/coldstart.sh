#!/bin/sh
# bench/coldstart.sh - cold/warm start times through summond vs raw QEMU.
# Needs a build (meson setup build && ninja -C build) and libvirtd
# (scripts/setup).  RUNS=N to change the number of runs (default 20);
# VARIANTS=... to run some of them (bench/coldstart.py).  The Linux
# guest's rows need images/linux/build, run here (cached).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup >/dev/null
SUMMON_LINUX_DIR=$(./images/linux/build build/linux | tail -n 1)
export SUMMON_LINUX_DIR
exec ./scripts/nsexec python3 bench/coldstart.py "$@"
