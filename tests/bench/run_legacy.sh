#!/usr/bin/env bash
# Benchmark of the legacy TLS listener against stunnel (BENCHMARKS.md). About 1.5 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/install-deps.sh
command -v stunnel >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q stunnel4 >/dev/null
[ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench pushgate >/dev/null
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
source tests/bench/pki.sh
make_bench_pki "$dir"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(stunnel -version 2>&1 | grep -m1 '^stunnel')"
/usr/bin/python3 tests/bench/legacy_tls.py build-bench/pushgate "$dir/server.pem" "$dir/server.key" "$dir/ca.pem"
