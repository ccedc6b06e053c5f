#!/usr/bin/env bash
# Benchmark of the APNs path (see BENCHMARKS.md): publish IQ → pushgate → HTTP/2 + TLS →
# the mock APNs (tests/mocks/apns_mock.js) → IQ result. Runs 1, 100 and 1,000 publishes in
# flight, then 5,000/s paced. Prints one JSON line per run.
# MOCK=native (default) runs tests/bench/apns_bench_server (same checks, C++, fast enough);
# MOCK=node runs the tests' Node mock, which tops out near 18,000 requests/s here.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/install-deps.sh
[ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench pushgate tests/bench_component_load tests/apns_bench_server >/dev/null
dir=$(mktemp -d)
trap 'kill $mock 2>/dev/null; rm -rf "$dir"' EXIT
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 1 -subj "/CN=bench CA" 2>/dev/null
openssl req "${ec[@]}" -keyout "$dir/server.key" -out "$dir/server.csr" -subj /CN=localhost 2>/dev/null
echo "subjectAltName=IP:127.0.0.1" > "$dir/san.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -out "$dir/server.pem" \
  -days 1 -extfile "$dir/san.ext" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/key.p8" 2>/dev/null
chmod 600 "$dir/key.p8"
openssl pkey -in "$dir/key.p8" -pubout -out "$dir/pub.pem" 2>/dev/null
mock_args=(--cert "$dir/server.pem" --key "$dir/server.key" --pubkey "$dir/pub.pem" --team 9ABCDE1234
  --key-id ABC123DEF4 --topic com.example.chat)
if [ "${MOCK:-native}" = node ]; then
  node tests/mocks/apns_mock.js --port 0 --control-port 0 "${mock_args[@]}" > "$dir/mock.out" &
else
  build-bench/tests/apns_bench_server "${mock_args[@]}" > "$dir/mock.out" &
fi
mock=$!
for _ in $(seq 50); do grep -q READY "$dir/mock.out" && break; sleep 0.1; done
port=$(awk '/READY/ {print $2}' "$dir/mock.out")
cat > "$dir/app.toml" <<EOT
[[app]]
name = "bench"
service = "apns"
secret_file = "@SECRET_FILE@"
topic = "com.example.chat"
team_id = "9ABCDE1234"
key_id = "ABC123DEF4"
key_file = "$dir/key.p8"
endpoint = "https://127.0.0.1:$port"
ca_file = "$dir/ca.pem"
EOT
export PUSHGATE_BENCH_APP="$dir/app.toml"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), mock ${MOCK:-native}"
# PUSHGATE_BENCH_BIN runs another pushgate (a wrapper); RUNS picks runs; COUNT_1 sizes the first.
pg=${PUSHGATE_BENCH_BIN:-build-bench/pushgate}
for run in ${RUNS:-1 100 1000 rate}; do
  case $run in
    1) echo "in flight 1:    $(build-bench/tests/bench_component_load "$pg" "${COUNT_1:-5000}" 0 1)" ;;
    100) echo "in flight 100:  $(build-bench/tests/bench_component_load "$pg" 50000 0 100)" ;;
    1000) echo "in flight 1000: $(build-bench/tests/bench_component_load "$pg" 100000 0 1000)" ;;
    rate) echo "rate 5000/s:    $(build-bench/tests/bench_component_load "$pg" 50000 5000 5000)" ;;
  esac
done
if [ "${MOCK:-native}" = node ]; then
  echo "mock: $(curl -s "http://127.0.0.1:$(awk '/READY/ {print $3}' "$dir/mock.out")/stats" | /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); print(json.dumps({k: s[k] for k in ("requests","delivered","rejected","jwt_distinct","connections")}))')"
else
  kill -TERM $mock; wait $mock || true
  echo "mock: $(tail -1 "$dir/mock.out")"
fi
