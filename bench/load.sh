#!/bin/sh
# bench/load.sh [services] [stampede] - load figures for docs/reliability.md.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup >/dev/null
exec ./scripts/nsexec python3 bench/load.py "$@"
