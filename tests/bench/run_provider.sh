#!/usr/bin/env bash
# Benchmark of a provider path (see BENCHMARKS.md): publish IQ → pushgate → HTTP/2 + TLS →
# a stand-in for APNs or FCM → IQ result. Runs 1, 100 and 1,000 publishes in flight, then
# 5,000/s paced. Prints one JSON line per run.
#   bash tests/bench/run_provider.sh apns|fcm
# MOCK=native (default) runs tests/bench/provider_bench_server (the mocks' checks, C++, fast
# enough); MOCK=node runs the tests' Node mock, which tops out near 18,000 requests/s here.
set -euo pipefail
service=${1:-apns}
case $service in apns|fcm) ;; *) echo "usage: $0 apns|fcm" >&2; exit 2 ;; esac
cd "$(dirname "$0")/../.."
bash deploy/install-deps.sh
[ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench pushgate tests/bench_component_load tests/provider_bench_server >/dev/null
dir=$(mktemp -d)
trap 'kill $mock 2>/dev/null; rm -rf "$dir"' EXIT
source tests/bench/pki.sh
make_bench_pki "$dir"
if [ "$service" = apns ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/key.pem" 2>/dev/null
  mock_args=(--team 9ABCDE1234 --key-id ABC123DEF4 --topic com.example.chat)
else
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/key.pem" 2>/dev/null
  mock_args=(--project bench-project --client-email pushgate@bench-project.iam.gserviceaccount.com)
fi
chmod 600 "$dir/key.pem"
openssl pkey -in "$dir/key.pem" -pubout -out "$dir/pub.pem" 2>/dev/null
mock_args+=(--cert "$dir/server.pem" --key "$dir/server.key" --pubkey "$dir/pub.pem")
if [ "${MOCK:-native}" = node ]; then
  node "tests/mocks/${service}_mock.js" --port 0 --control-port 0 "${mock_args[@]}" > "$dir/mock.out" &
else
  build-bench/tests/provider_bench_server --service "$service" "${mock_args[@]}" > "$dir/mock.out" &
fi
mock=$!
for _ in $(seq 50); do grep -q READY "$dir/mock.out" && break; sleep 0.1; done
port=$(awk '/READY/ {print $2}' "$dir/mock.out")
if [ "$service" = apns ]; then
  cat > "$dir/app.toml" <<EOT
[[app]]
name = "bench"
service = "apns"
secret_file = "@SECRET_FILE@"
topic = "com.example.chat"
team_id = "9ABCDE1234"
key_id = "ABC123DEF4"
key_file = "$dir/key.pem"
endpoint = "https://127.0.0.1:$port"
ca_file = "$dir/ca.pem"
EOT
else
  /usr/bin/python3 - "$dir" "$port" <<'EOP'
import json, os, sys
d, port = sys.argv[1], sys.argv[2]
with open(f"{d}/key.pem") as f:
    pem = f.read()
with open(f"{d}/sa.json", "w") as f:
    json.dump({"type": "service_account", "project_id": "bench-project", "private_key_id": "k1", "private_key": pem,
               "client_email": "pushgate@bench-project.iam.gserviceaccount.com",
               "token_uri": f"https://127.0.0.1:{port}/token"}, f)
os.chmod(f"{d}/sa.json", 0o600)
EOP
  cat > "$dir/app.toml" <<EOT
[[app]]
name = "bench"
service = "fcm"
secret_file = "@SECRET_FILE@"
credentials_file = "$dir/sa.json"
endpoint = "https://127.0.0.1:$port"
ca_file = "$dir/ca.pem"
EOT
fi
export PUSHGATE_BENCH_APP="$dir/app.toml"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $service, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), mock ${MOCK:-native}"
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
  echo "mock: $(curl -s "http://127.0.0.1:$(awk '/READY/ {print $3}' "$dir/mock.out")/stats" | /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); print(json.dumps({k: s.get(k) for k in ("requests","delivered","rejected","jwt_distinct","tokens_issued","connections")}))')"
else
  kill -TERM $mock; wait $mock || true
  echo "mock: $(tail -1 "$dir/mock.out")"
fi
