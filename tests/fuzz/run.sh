#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer, ASan, UBSan) and runs each for SECONDS
# (default 20) from its seed corpus. Prints one PASS/FAIL line per target; exit 1 on a finding.
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
if [ ! -f build-fuzz/build.ninja ]; then
  CXX=clang++ meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized >/dev/null || { echo "FAIL fuzz: meson setup (clang++)"; exit 1; }
fi
if ! build_out=$(ninja -C build-fuzz tests/fuzz/publish_parser_fuzz tests/fuzz/config_fuzz tests/fuzz/provider_input_fuzz \
    tests/fuzz/starttls_preamble_fuzz tests/fuzz/relay_fuzz tests/fuzz/server_check_fuzz 2>&1); then
  echo "FAIL fuzz: build"
  echo "$build_out" | grep -E 'error|undefined reference|FAILED' | head -n 20
  exit 1
fi
rc=0
for t in publish_parser config provider_input starttls_preamble relay server_check; do
  corpus=$(mktemp -d)
  seed=tests/fuzz/corpus/${t%_parser}
  [ "$t" = publish_parser ] && seed=tests/fuzz/corpus/publish
  if ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" \
     build-fuzz/tests/fuzz/${t}_fuzz -max_total_time="$seconds" -max_len=8192 -timeout=5 "$corpus" "$seed" \
     >"$corpus.log" 2>&1; then
    echo "PASS fuzz::${t} (${seconds}s, $(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$corpus.log" | grep -Eo '[0-9]+' || grep -Eo '#[0-9]+' "$corpus.log" | tail -n1) runs)"
  else
    echo "FAIL fuzz::${t}"; tail -n 40 "$corpus.log"; rc=1
  fi
  rm -rf "$corpus" "$corpus.log"
done
exit $rc
