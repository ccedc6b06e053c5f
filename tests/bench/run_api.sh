#!/usr/bin/env bash
# Benchmark of the local HTTP API (see BENCHMARKS.md): wrk → POST /push → pushgate → HTTP/2 +
# TLS → the native APNs stand-in (tests/bench/provider_bench_server). 50 keep-alive
# connections for DURATION seconds (default 15); wrk reports requests/s, latency percentiles
# and non-2xx answers. No Prosody: the API does not need the component session.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/install-deps.sh
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null
[ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench pushgate tests/provider_bench_server >/dev/null
dir=$(mktemp -d)
trap 'kill $mock $pg 2>/dev/null; rm -rf "$dir"' EXIT
source tests/bench/pki.sh
make_bench_pki "$dir"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/key.p8" 2>/dev/null
chmod 600 "$dir/key.p8"
openssl pkey -in "$dir/key.p8" -pubout -out "$dir/pub.pem" 2>/dev/null
build-bench/tests/provider_bench_server --service apns --cert "$dir/server.pem" --key "$dir/server.key" \
  --pubkey "$dir/pub.pem" --team 9ABCDE1234 --key-id ABC123DEF4 --topic com.example.chat > "$dir/mock.out" &
mock=$!
for _ in $(seq 50); do grep -q READY "$dir/mock.out" && break; sleep 0.1; done
port=$(awk '/READY/ {print $2}' "$dir/mock.out")
for f in component app push; do head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/$f.secret"; chmod 600 "$dir/$f.secret"; done
api_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
write_api_bench_config "$dir" "$api_port" "$port"
${PUSHGATE_BENCH_BIN:-build-bench/pushgate} --config "$dir/pushgate.toml" --log-level error 2>"$dir/pg.log" &
pg=$!
for _ in $(seq 50); do curl -s "http://127.0.0.1:$api_port/health" >/dev/null && break; sleep 0.1; done
cat > "$dir/push.lua" <<EOT
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"node":"$(printf 'ab%.0s' $(seq 32))","secret":"$(cat "$dir/push.secret")","type":"call"}'
EOT
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
wrk -t2 -c50 -d"${DURATION:-15}"s --latency -s "$dir/push.lua" "http://127.0.0.1:$api_port/push" | sed -n '/Thread Stats/,$p'
echo "pushgate peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$pg/status)"
echo "pushgate CPU: $(awk '{printf "%.2f s", ($14+$15)/100}' /proc/$pg/stat)"
kill -TERM $pg; wait $pg || true
kill -TERM $mock; wait $mock || true
echo "mock: $(tail -1 "$dir/mock.out")"
