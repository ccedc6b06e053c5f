#!/usr/bin/env bash
# Installs every Debian 12 package pushgate needs to build, run its demo and run its tests.
# Idempotent: packages already present are left alone; apt-get update runs only when needed.
#   bash deploy/install-deps.sh               what install.sh and the build need, and the tests' peers
#   bash deploy/install-deps.sh --packaging   and the tools that build and check the Debian
#                                             package (tests/run.sh; an operator needs only
#                                             `apt-get build-dep ./`, README "Running it as a service")
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config cmake
  # fuzz targets (tests/fuzz): clang with libFuzzer
  clang libclang-rt-14-dev
  # libraries (see meson.build)
  libstrophe-dev libssl-dev nlohmann-json3-dev libcpp-httplib-dev doctest-dev
  libuv1-dev libnghttp2-dev libpq-dev postgresql libexpat1-dev libsqlite3-dev libtomlplusplus-dev
  libsystemd-dev
  # systemd-analyze checks deploy/*.service in the tests
  systemd
  # the mock APNs server (tests/mocks) is a Node.js http2 server
  nodejs
  # real peers for the demo and the integration tests
  prosody prosody-modules lua-unbound python3-slixmpp python3-h2 python3-prometheus-client python3-cryptography openssl curl procps
  # Prosody 0.12 needs luaossl for mod_cloud_notify_encrypted (../shared/peers/prosody-modules), as Siskin uses it
  lua-luaossl
  # ejabberd 23.01, the other XMPP server the integration tests run pushgate against (mod_push)
  ejabberd
  # promtool checks deploy/prometheus's alert rules; the dashboard test scrapes pushgate with Prometheus
  prometheus
)
# dpkg-buildpackage (dpkg-dev, from build-essential) with debhelper, and lintian.
if [ "${1:-}" = "--packaging" ]; then
  packages+=(debhelper lintian)
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (it calls apt-get)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps.sh: installing ${missing[*]}" >&2
apt-get update -q >/dev/null
# Prosody's, ejabberd's and Prometheus' packages start a system service on install; we only need their
# binaries. policy-rc.d keeps them from starting (and holding port 5222/5269) on this machine.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
