# Sourced by the benchmark scripts: make_bench_pki DIR writes a throwaway CA (ca.pem) and a
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
