#!/usr/bin/env bash
# Registration lookup cost with 1,000,000 registrations in SQLite (BENCHMARKS.md). About 1 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/install-deps.sh
[ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench tests/bench_store_lookup >/dev/null
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), SQLite $(pkg-config --modversion sqlite3)"
for n in 10000 ${N:-1000000}; do build-bench/tests/bench_store_lookup "$dir/store-$n.db" "$n"; done
