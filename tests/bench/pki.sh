# Sourced by the benchmark scripts. make_bench_pki DIR writes a throwaway CA (ca.pem) and a
# server certificate for 127.0.0.1 and localhost signed by it (server.pem, server.key).
make_bench_pki() {
  local dir=$1
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 1 -subj "/CN=bench CA" 2>/dev/null
  openssl req "${ec[@]}" -keyout "$dir/server.key" -out "$dir/server.csr" -subj /CN=localhost 2>/dev/null
  echo "subjectAltName=IP:127.0.0.1,DNS:localhost" > "$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/server.pem" -days 1 -extfile "$dir/san.ext" 2>/dev/null
}

# write_api_bench_config DIR API_PORT APNS_PORT writes DIR/pushgate.toml for the POST /push
# benchmarks: the API on 127.0.0.1:API_PORT without a rate limit, one APNs app against the
# stand-in on APNS_PORT (key DIR/key.p8, CA DIR/ca.pem), secrets from DIR/{component,push,app}.secret.
# The component points at port 1: nothing listens there, the API serves without it.
write_api_bench_config() {
  local dir=$1 api_port=$2 apns_port=$3
  cat > "$dir/pushgate.toml" <<EOT
[component]
jid = "push.bench"
port = 1
secret_file = "$dir/component.secret"
[http]
listen = "127.0.0.1:$api_port"
push_secret_file = "$dir/push.secret"
rate_limit = 0
max_connections_per_address = 64
[[app]]
name = "ios"
service = "apns"
secret_file = "$dir/app.secret"
topic = "com.example.chat"
team_id = "9ABCDE1234"
key_id = "ABC123DEF4"
key_file = "$dir/key.p8"
endpoint = "https://127.0.0.1:$apns_port"
ca_file = "$dir/ca.pem"
EOT
}
