#!/bin/sh
# bench/fuzz.sh [SECONDS] - run every fuzz target longer than CI does
# (default 300 s each), on scratch corpora seeded from tests/fuzz/corpus.
# A crash leaves its input in build-fuzz/crash-*: add it to the seed
# corpus and a regression test.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-300}
[ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=true \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C build-fuzz >/dev/null
for t in config control dns route template; do
	scratch=build-fuzz/tests/fuzz/corpus-$t
	mkdir -p "$scratch"
	echo "== $t: $secs s"
	(cd build-fuzz && ./tests/fuzz/fuzz_$t -max_total_time="$secs" \
	    -timeout=5 -rss_limit_mb=1024 "../$scratch" \
	    "../tests/fuzz/corpus/$t" 2>&1 | tail -n 3)
done
