#!/usr/bin/env bash
# POST /push side by side: the seed's Node.js gateway (../shared/peers/seed-gateway, its rate
# limit lifted) and pushgate (rate_limit = 0), each loaded with the same wrk script (2 threads,
# 50 keep-alive connections, `type=call` → APNs VoIP) against the same APNs stand-in over TLS.
# STANDIN=native (default): tests/bench/provider_bench_server, which checks each request as
# Apple does (ES256 provider token, apns-* headers, topic) and answers 200; STANDIN=nghttpd:
# nghttpd --echo-upload, which answers every POST 200 but tops out near 4,400 requests/s here
# (h2load alone against it), below what pushgate can send. Prints, per gateway, requests/s, p50,
# p99 and CPU µs per request (user+sys from /proc/PID/stat over the measured run), then the
# ratios and whether each meets issue 17's goal. Usage: tests/bench/run_vs_seed.sh
# Env: DURATION (default 10 s measured, after WARMUP default 3 s), PUSHGATE_PEERS_DIR,
# PERF=FILE to record a perf profile of pushgate's measured run.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bash deploy/install-deps.sh
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nghttpd >/dev/null || need+=(nghttp2-server)
command -v npm >/dev/null || need+=(npm)
[ ${#need[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
[ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench pushgate tests/provider_bench_server >/dev/null

# The shared peers: PUSHGATE_PEERS_DIR, beside this checkout, or beside the repository it was cloned from.
peers=""
origin=$(git config remote.origin.url 2>/dev/null || true)
for c in "${PUSHGATE_PEERS_DIR:-}" "$root/../shared/peers" "${origin:+$origin/../shared/peers}"; do
  if [ -n "$c" ] && [ -f "$c/seed-gateway/build.sh" ]; then peers=$(cd "$c" && pwd); break; fi
done
[ -n "$peers" ] || { echo "run_vs_seed: the shared peers (seed-gateway) were not found; set PUSHGATE_PEERS_DIR" >&2; exit 1; }

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
seed_dir=${SEED_BUILD_DIR:-$root/build-bench/seed-gateway}
bash "$peers/seed-gateway/build.sh" "$seed_dir" >/dev/null

source tests/bench/pki.sh
make_bench_pki "$dir"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/key.p8" 2>/dev/null
chmod 600 "$dir/key.p8"
# firebase-admin wants a service account to start; FCM is not used by this benchmark.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/sa.key" 2>/dev/null
/usr/bin/python3 - "$dir" <<'EOF'
import json, sys
d = sys.argv[1]
json.dump({"type": "service_account", "project_id": "bench", "private_key_id": "k1",
           "private_key": open(d + "/sa.key").read(), "client_email": "bench@bench.iam.gserviceaccount.com",
           "client_id": "1", "token_uri": "https://127.0.0.1:9/token"}, open(d + "/sa.json", "w"))
EOF
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "run_vs_seed: $1 did not answer" >&2; return 1; }

if [ "${STANDIN:-native}" = nghttpd ]; then
  apns_port=$(free_port)
  nghttpd --echo-upload "$apns_port" "$dir/server.key" "$dir/server.pem" >/dev/null 2>&1 &
  standin=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$apns_port") 2>/dev/null && break; sleep 0.1; done
else
  openssl pkey -in "$dir/key.p8" -pubout -out "$dir/pub.pem" 2>/dev/null
  build-bench/tests/provider_bench_server --service apns --cert "$dir/server.pem" --key "$dir/server.key" \
    --pubkey "$dir/pub.pem" --team 9ABCDE1234 --key-id ABC123DEF4 --topic com.example.chat > "$dir/standin.out" &
  standin=$!
  for _ in $(seq 100); do grep -q READY "$dir/standin.out" && break; sleep 0.1; done
  apns_port=$(awk '/READY/ {print $2}' "$dir/standin.out")
fi
pids+=($standin)

push_secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$dir/push.lua" <<EOT
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"node":"$token","secret":"$push_secret","type":"call"}'
EOT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# measure NAME PID URL: warm-up, then the measured run; prints one result line and keeps the figures.
measure() {
  local name=$1 pid=$2 url=$3
  wrk -t2 -c50 -d"${WARMUP:-3}"s -s "$dir/push.lua" "$url" >/dev/null
  local before after
  before=$(cpu_ticks "$pid")
  # PERF=FILE (pushgate only): a perf profile of the measured run, for `perf report -i FILE`.
  if [ -n "${PERF:-}" ] && [ "$name" = pushgate ]; then
    perf record -q -F 999 -g -p "$pid" -o "$PERF" -- sleep "${DURATION:-10}" >/dev/null 2>&1 &
  fi
  wrk -t2 -c50 -d"${DURATION:-10}"s --latency -s "$dir/push.lua" "$url" > "$dir/$name.wrk"
  after=$(cpu_ticks "$pid")
  /usr/bin/python3 - "$dir/$name.wrk" "$before" "$after" "$(getconf CLK_TCK)" "$name" > "$dir/$name.res" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
before, after, hz, name = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
p50 = ms(*re.search(r"50%\s+([\d.]+)(us|ms|s)", text).groups())
p99 = ms(*re.search(r"99%\s+([\d.]+)(us|ms|s)", text).groups())
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
cpu_us = (after - before) / hz * 1e6 / max(total, 1)
print(f"{name} {rps:.0f} {p50:.2f} {p99:.2f} {cpu_us:.1f} {bad.group(1) if bad else 0}")
print(f"{name:9s} {rps:9.0f} req/s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  CPU {cpu_us:6.1f} µs/request  "
      f"non-2xx {bad.group(1) if bad else 0}{'  socket errors: ' + errors.group(1) if errors else ''}", file=sys.stderr)
EOF
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), node $(node --version), nghttpd $(nghttpd --version | awk '{print $NF}')"

# The seed gateway, its rate limit lifted.
seed_port=$(free_port)
(cd "$seed_dir" && exec env PORT=$seed_port HOST=127.0.0.1 PUSH_SECRET=$push_secret LOG_LEVEL=error \
  APNS_KEY_PATH="$dir/key.p8" APNS_KEY_ID=ABC123DEF4 APNS_TEAM_ID=9ABCDE1234 APNS_BUNDLE_ID=com.example.chat \
  APNS_ADDRESS=127.0.0.1 APNS_PORT=$apns_port APNS_CA="$dir/ca.pem" GOOGLE_APPLICATION_CREDENTIALS="$dir/sa.json" \
  node server-nolimit.js > "$dir/seed.log" 2>&1) &
seed=$!
pids+=($seed)
wait_http "http://127.0.0.1:$seed_port/health"
seed_pid=$(pgrep -f -n "node server-nolimit.js")
measure seed "$seed_pid" "http://127.0.0.1:$seed_port/push"
kill "$seed" "$seed_pid" 2>/dev/null || true
# The seed answers 200 whatever APNs said: its own log tells whether the pushes went through.
seed_failed=$(grep -c 'VoIP push \(failed\|error\)' "$dir/seed.log" || true)
echo "seed: $seed_failed pushes logged as failed"
[ "$seed_failed" -eq 0 ] || { echo "run_vs_seed: the seed's pushes failed, so its figures are not comparable:" >&2; grep -m3 'VoIP' "$dir/seed.log" >&2; exit 1; }

# pushgate, the same stand-in, the same script.
api_port=$(free_port)
for f in component app; do head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/$f.secret"; chmod 600 "$dir/$f.secret"; done
printf '%s' "$push_secret" > "$dir/push.secret"; chmod 600 "$dir/push.secret"
write_api_bench_config "$dir" "$api_port" "$apns_port"
${PUSHGATE_BENCH_BIN:-build-bench/pushgate} --config "$dir/pushgate.toml" --log-level error 2>"$dir/pg.log" &
pg=$!
pids+=($pg)
wait_http "http://127.0.0.1:$api_port/health"
measure pushgate "$pg" "http://127.0.0.1:$api_port/push"
echo "pushgate peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$pg/status)"
kill -TERM "$pg"; wait "$pg" 2>/dev/null || true
if [ "${STANDIN:-native}" != nghttpd ]; then
  kill -TERM "$standin"; wait "$standin" 2>/dev/null || true
  echo "stand-in (both gateways): $(tail -1 "$dir/standin.out")"
fi

/usr/bin/python3 - "$dir/seed.res" "$dir/pushgate.res" <<'EOF'
import sys
def read(p):
    name, rps, p50, p99, cpu, bad = open(p).read().split()
    return dict(rps=float(rps), p50=float(p50), p99=float(p99), cpu=float(cpu), bad=int(bad))
s, g = read(sys.argv[1]), read(sys.argv[2])
t, c, l = g["rps"] / s["rps"], s["cpu"] / g["cpu"], g["p99"] / s["p99"]
ok = lambda b: "met" if b else "NOT met"
print(f"throughput  x{t:.2f} (goal >= x3)          {ok(t >= 3)}")
print(f"CPU/request x{c:.2f} less (goal >= x5 less) {ok(c >= 5)}")
print(f"p99         {l:.3f} of the seed's (goal <= 1/3) {ok(l <= 1/3)}")
if s["bad"] or g["bad"]:
    print(f"non-2xx answers: seed {s['bad']}, pushgate {g['bad']} (a gateway that answers errors is not measured fairly)")
EOF
