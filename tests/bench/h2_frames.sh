#!/usr/bin/env bash
# Counts the HTTP/2 frames pushgate exchanges with the mock APNs for 300 pushes: a loopback
# capture decrypted with the TLS keys pushgate writes to SSLKEYLOGFILE. Shows, per frame type,
# how many went each way (BENCHMARKS.md: the RST_STREAM count, libcurl vs nghttp2).
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v tshark >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q tshark >/dev/null
work=$(mktemp -d)
trap 'kill "$cap" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/pushgate" <<EOS
#!/bin/sh
SSLKEYLOGFILE=$work/keys exec $PWD/build-bench/pushgate "\$@"
EOS
chmod +x "$work/pushgate"
tshark -i lo -w "$work/cap.pcap" -f tcp >/dev/null 2>&1 &
cap=$!
sleep 2
PUSHGATE_BENCH_BIN="$work/pushgate" RUNS=1 COUNT_1=300 bash tests/bench/run_provider.sh apns | grep "in flight 1:" | cut -c1-120
sleep 1
kill "$cap" 2>/dev/null || true; wait "$cap" 2>/dev/null || true
echo "frames (type: 0 DATA, 1 HEADERS, 3 RST_STREAM, 4 SETTINGS, 6 PING, 7 GOAWAY, 8 WINDOW_UPDATE):"
tshark -r "$work/cap.pcap" -o "tls.keylog_file:$work/keys" -Y http2 -T fields -e http2.type 2>/dev/null \
  | tr ',' '\n' | sort -n | uniq -c
server=$(tshark -r "$work/cap.pcap" -Y "tls.handshake.type == 2" -T fields -e tcp.srcport 2>/dev/null | head -n1)
echo "RST_STREAM frames, sender → receiver (the mock APNs is port $server):"
tshark -r "$work/cap.pcap" -o "tls.keylog_file:$work/keys" -Y "http2.type == 3" -T fields -e tcp.srcport -e tcp.dstport 2>/dev/null \
  | awk -v s="$server" '{print ($1 == s ? "mock → pushgate" : "pushgate → mock")}' | sort | uniq -c
