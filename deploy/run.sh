#!/usr/bin/env bash
# The main job. Installs what it needs (Debian packages), builds pushgate, then:
#   bash deploy/run.sh                 the local demo: Prosody + pushgate (log provider) + two clients
#   bash deploy/run.sh --config FILE   the daemon with your configuration (extra flags are passed on)
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
# BUILD_DIR: another meson build directory (the test suite runs this script on its own build).
build=${BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" pushgate >/dev/null

if [ $# -gt 0 ]; then
  exec "$build/pushgate" "$@"
fi
PUSHGATE_BIN="$PWD/$build/pushgate" exec /usr/bin/python3 -u deploy/demo.py 2> >(grep -v 'Using slower stringprep' >&2)
