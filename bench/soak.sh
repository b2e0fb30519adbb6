#!/bin/sh
# bench/soak.sh - boot and reap for DURATION seconds (default 600);
# nothing may grow.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup >/dev/null
exec ./scripts/nsexec python3 bench/soak.py "$@"
