#!/usr/bin/env bash
# Reload soak (BENCHMARKS.md, issue 8): 1000 SIGHUPs to a release build, each waited for;
# reload time and RSS / descriptors before and after.
#   bash tests/bench/run_reload.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/install-deps.sh
if [ ! -f build-bench/build.ninja ]; then
  meson setup build-bench --buildtype=release >/dev/null
fi
ninja -C build-bench pushgate >/dev/null
/usr/bin/python3 tests/bench/reload.py build-bench/pushgate "${1:-1000}" 2> >(grep -v 'Using slower stringprep' >&2)
