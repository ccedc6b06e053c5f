#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs (Debian packages), builds
# pushgate with AddressSanitizer and UBSan, runs the unit tests, the integration tests
# against real Prosody and a short run of each fuzz target, and ends with one line:
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh --packaging || { echo "tests: installing dependencies failed"; exit 1; }

build=build-test
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug >/dev/null \
    || { echo "tests: meson setup failed"; exit 1; }
fi
# What the suite runs: the daemon and the unit tests (the benchmarks build in their own scripts).
ninja -C "$build" pushgate tests/unit_tests || { echo "tests: build failed"; exit 1; }

# Everything the suite starts inherits this marker; the last check lists (and kills) any
# process that still carries it.
export PUSHGATE_TEST_RUN="$$-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"

# A real PostgreSQL for the registration store's tests (unit and integration), stopped at exit.
stop_postgres() {
  [ -n "${PUSHGATE_TEST_POSTGRES_DIR:-}" ] || return 0
  runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)/pg_ctl" \
    -D "$PUSHGATE_TEST_POSTGRES_DIR/data" stop -m fast >/dev/null 2>&1
  rm -rf "$PUSHGATE_TEST_POSTGRES_DIR"
  PUSHGATE_TEST_POSTGRES_DIR=
}
# The Debian package (tests/integration/test_package.py) builds in the background from here on,
# at nice 19, so that its minutes overlap the unit and integration tests instead of adding to
# them; the test waits for it. Not when a filter leaves the package's tests out. Removed at exit.
PUSHGATE_TEST_DEB_DIR=$(mktemp -d /tmp/pushgate-deb-XXXXXX)
deb_pid=
if [ $# -eq 0 ] || [[ "$1" == *package* || "test_package::" == *"$1"* ]]; then
  export PUSHGATE_TEST_DEB_DIR
  setsid bash tests/support/build_deb.sh "$PUSHGATE_TEST_DEB_DIR" >/dev/null 2>&1 &
  deb_pid=$!
fi

if pg_env=$(bash tests/support/postgres.sh); then
  eval "export ${pg_env//$'\n'/; export }"
  trap 'stop_postgres; /usr/bin/python3 tests/support/leftovers.py "$PUSHGATE_TEST_RUN" >/dev/null; rm -rf "$PUSHGATE_TEST_DEB_DIR"' EXIT
else
  trap '/usr/bin/python3 tests/support/leftovers.py "$PUSHGATE_TEST_RUN" >/dev/null; rm -rf "$PUSHGATE_TEST_DEB_DIR"' EXIT
  echo "tests: PostgreSQL did not start; its tests will fail"
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp"

passed=0
failed=0
skipped=0
# What failed, repeated just above the last line: CI shows the end of the output.
failures=""

echo "== unit tests (doctest)"
unit_out=$("$build/tests/unit_tests" 2>&1)
unit_rc=$?
echo "$unit_out" | grep -vE '^ts=.*event=log_provider_write_failed' | tail -n 25
line=$(echo "$unit_out" | grep -E '^\[doctest\] test cases:' | tail -n 1)
if [ -n "$line" ]; then
  passed=$((passed + $(echo "$line" | sed -E 's/.*\| *([0-9]+) passed.*/\1/')))
  failed=$((failed + $(echo "$line" | sed -E 's/.*\| *([0-9]+) failed.*/\1/')))
fi
if [ $unit_rc -ne 0 ] && [ -z "$line" ]; then failed=$((failed + 1)); fi
# doctest names each failing case ("TEST CASE:  ...") and each failed check ("file:line: ERROR: ...").
failures+=$(echo "$unit_out" | grep -E '^(TEST CASE:|[^ ]+:[0-9]+: (ERROR|FATAL ERROR): |  (values|logged): )' \
  | head -n 60 | sed 's/^/  unit: /')
if [ $unit_rc -ne 0 ] && [ -z "$line" ]; then failures+=$'\n'"  unit: the unit tests ended without doctest's summary (exit $unit_rc)"; fi

echo "== integration tests (Prosody $(dpkg-query -W -f='${Version}' prosody), slixmpp)"
PUSHGATE_BIN="$PWD/$build/pushgate" /usr/bin/python3 -u tests/integration/run.py "$@" 2>&1 \
  | grep -v 'Using slower stringprep' | tee /tmp/pushgate-integration.$$ 
line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' /tmp/pushgate-integration.$$ | tail -n 1)
failures+=$'\n'$(grep -E '^FAIL ' /tmp/pushgate-integration.$$ | head -n 40 | sed 's/^/  integration: /')
rm -f /tmp/pushgate-integration.$$
if [ -n "$line" ]; then
  passed=$((passed + $(echo "$line" | sed -E 's/integration: ([0-9]+) passed.*/\1/')))
  failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
  # A skipped test printed its reason on its SKIP line above.
  if [[ "$line" =~ ([0-9]+)\ skipped ]]; then skipped=$((skipped + BASH_REMATCH[1])); fi
else
  failed=$((failed + 1))
fi

echo "== fuzz targets (libFuzzer, 20 s each)"
fuzz_out=$(bash tests/fuzz/run.sh 20 2>&1)
echo "$fuzz_out"
passed=$((passed + $(echo "$fuzz_out" | grep -c '^PASS ')))
failed=$((failed + $(echo "$fuzz_out" | grep -c '^FAIL ')))
failures+=$'\n'$(echo "$fuzz_out" | grep -E '^FAIL ' | sed 's/^/  fuzz: /')

echo "== leftover processes"
stop_postgres
# The package build is the suite's own, not a test's leftover: stopped if no test waited for it.
if [ -n "$deb_pid" ] && kill -0 "$deb_pid" 2>/dev/null; then
  echo "tests: the Debian package build was still running (no test waited for it): stopped"
  kill -- "-$deb_pid" 2>/dev/null
  wait "$deb_pid" 2>/dev/null
fi
if leftovers=$(/usr/bin/python3 tests/support/leftovers.py "$PUSHGATE_TEST_RUN"); then
  echo "PASS no process the suite started is still running"
  passed=$((passed + 1))
else
  echo "$leftovers"
  echo "FAIL the suite left processes running (killed now)"
  failed=$((failed + 1))
  failures+=$'\n'"  leftovers: the suite left processes running"
fi

echo
failures=$(echo "$failures" | sed '/^$/d')
if [ -n "$failures" ]; then
  echo "== what failed"
  echo "$failures"
fi
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
