#!/usr/bin/env bash
# Starts a throwaway PostgreSQL (Debian's postgresql package) for the tests, on a free
# loopback port, owned by the postgres user in a temp dir. Prints two lines:
#   PUSHGATE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:PORT/pushgate_test
#   PUSHGATE_TEST_POSTGRES_DIR=DIR
# Stop it with: runuser -u postgres -- pg_ctl -D DIR/data stop -m fast
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
dir=$(mktemp -d /tmp/pushgate-pg-XXXXXX)
chown postgres "$dir"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres pushgate_test
echo "PUSHGATE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$port/pushgate_test"
echo "PUSHGATE_TEST_POSTGRES_DIR=$dir"
