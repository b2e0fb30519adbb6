#!/bin/sh
# bench/load.sh [services] [stampede] - load figures for docs/reliability.md.
# SUMMOND_EXTRA="standby-budget = 10" adds [summond] lines.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup >/dev/null
exec ./scripts/nsexec python3 bench/load.py "$@"
