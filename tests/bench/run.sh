#!/usr/bin/env bash
# Benchmark of the push pipeline (see BENCHMARKS.md): a release build of pushgate with the
# `log` provider writing to /dev/null, driven over XEP-0114 by bench_component_load, which
# plays Prosody's side. Prints one JSON line per run.
#   saturation: 3 runs of 100,000 publishes, at most 5,000 unanswered
#   latency:    50,000 publishes paced at 10,000/s
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/install-deps.sh
[ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench pushgate tests/bench_component_load >/dev/null
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for i in 1 2 3; do
  echo "saturation: $(build-bench/tests/bench_component_load build-bench/pushgate 100000 0 5000)"
done
echo "rate 10000/s: $(build-bench/tests/bench_component_load build-bench/pushgate 50000 10000)"
