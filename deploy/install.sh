#!/usr/bin/env bash
# Builds pushgate and installs it as a hardened systemd service. On Debian 12 the package is
# the simpler way (README, "Running it as a service": dpkg-buildpackage, apt install); this
# script is for other systemd-based systems, and for running from the source tree.
#
#   bash deploy/install.sh                 as root: build, install, create the pushgate user
#   DESTDIR=/srv/stage bash deploy/install.sh   the same into a staging root (packaging, tests);
#                                          the user goes into DESTDIR/etc/passwd, which must exist
#
# Installs (PREFIX defaults to /usr/local):
#   PREFIX/bin/pushgate
#   /etc/systemd/system/pushgate.service, pushgate-legacy-tls.service
#   /etc/pushgate/pushgate.toml            the example, only when none exists yet
#   /etc/pushgate/pushgate.toml.example    always the current one
#   /etc/pushgate/credentials/             owned by pushgate, mode 700; fresh random secrets
#                                          for the component, the demo app and POST /push
#   PREFIX/share/pushgate/prosody-config/  the Prosody snippets
#   PREFIX/share/pushgate/ejabberd/        the ejabberd snippet (pushgate.yml)
#   PREFIX/share/man/man8/pushgate.8       pushgate(8)
#   PREFIX/share/doc/pushgate/README.md
# Nothing already there is overwritten except the binary, the units and the example.
set -euo pipefail
cd "$(dirname "$0")/.."

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
say() { printf 'install.sh: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (it installs packages, creates a user and writes to /etc)" >&2
  exit 1
fi

bash deploy/install-deps.sh
# BUILD_DIR: an existing meson build directory to install from (the tests use theirs).
build=${BUILD_DIR:-build-release}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release --prefix="$PREFIX" >/dev/null
fi
ninja -C "$build" pushgate >/dev/null
say "built $("$build/pushgate" --version)"

# The user the service runs as: no shell, no home of its own but the state directory.
passwd_file="$DESTDIR/etc/passwd"
if ! grep -q '^pushgate:' "$passwd_file" 2>/dev/null; then
  if [ -n "$DESTDIR" ]; then
    useradd --prefix "$DESTDIR" --system --user-group --home-dir /var/lib/pushgate --no-create-home \
      --shell /usr/sbin/nologin pushgate
  else
    useradd --system --user-group --home-dir /var/lib/pushgate --no-create-home --shell /usr/sbin/nologin pushgate
  fi
  say "created system user pushgate"
fi
# Inside DESTDIR the ids come from DESTDIR's passwd, which may differ from this machine's.
uid=$(awk -F: '$1 == "pushgate" { print $3 }' "$passwd_file")
gid=$(awk -F: '$1 == "pushgate" { print $4 }' "$passwd_file")

install -D -m 0755 "$build/pushgate" "$DESTDIR$PREFIX/bin/pushgate"
for unit in pushgate.service pushgate-legacy-tls.service; do
  install -d -m 0755 "$DESTDIR/etc/systemd/system"
  sed "s|/usr/local/|$PREFIX/|g" "deploy/$unit" > "$DESTDIR/etc/systemd/system/$unit"
  chmod 0644 "$DESTDIR/etc/systemd/system/$unit"
done

install -d -m 0755 "$DESTDIR/etc/pushgate"
install -m 0644 deploy/pushgate.toml.example "$DESTDIR/etc/pushgate/pushgate.toml.example"
if [ ! -e "$DESTDIR/etc/pushgate/pushgate.toml" ]; then
  install -m 0640 deploy/pushgate.toml.example "$DESTDIR/etc/pushgate/pushgate.toml"
  chown "0:$gid" "$DESTDIR/etc/pushgate/pushgate.toml"
  say "installed /etc/pushgate/pushgate.toml (the example: edit jid and the apps)"
else
  say "kept the existing /etc/pushgate/pushgate.toml"
fi

# Secrets: readable by pushgate alone. A secret already there is never replaced.
creds="$DESTDIR/etc/pushgate/credentials"
install -d -m 0700 "$creds"
chown "$uid:$gid" "$creds"
for name in component.secret push.secret demo.secret; do
  if [ ! -e "$creds/$name" ]; then
    (umask 077 && openssl rand -hex 24 > "$creds/$name")
    chown "$uid:$gid" "$creds/$name"
    say "generated /etc/pushgate/credentials/$name"
  fi
done

install -d -m 0755 "$DESTDIR$PREFIX/share/pushgate/prosody-config" "$DESTDIR$PREFIX/share/pushgate/ejabberd" \
  "$DESTDIR$PREFIX/share/doc/pushgate" "$DESTDIR$PREFIX/share/man/man8"
install -m 0644 prosody-config/*.cfg.lua "$DESTDIR$PREFIX/share/pushgate/prosody-config/"
install -m 0644 deploy/ejabberd/pushgate.yml "$DESTDIR$PREFIX/share/pushgate/ejabberd/"
install -m 0644 doc/pushgate.8 "$DESTDIR$PREFIX/share/man/man8/pushgate.8"
install -m 0644 README.md "$DESTDIR$PREFIX/share/doc/pushgate/README.md"

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  say "systemd reloaded its units"
elif [ -z "$DESTDIR" ]; then
  say "systemd is not running on this machine (a container?): the units are installed but nothing can start them here"
fi

cat <<EOF
install.sh: done. Next:
  1. Prosody: copy pushgate.cfg.lua and cloud-notify.cfg.lua from $PREFIX/share/pushgate/prosody-config/
     into /etc/prosody/conf.d/ (Debian's prosody.cfg.lua includes conf.d/*.cfg.lua), set the
     component's name and component_secret (the content of /etc/pushgate/credentials/component.secret)
     in pushgate.cfg.lua, add "cloud_notify" to modules_enabled, then:
     prosodyctl check config && systemctl restart prosody
     (ejabberd instead: $PREFIX/share/pushgate/ejabberd/pushgate.yml says where each line goes)
  2. Edit /etc/pushgate/pushgate.toml (jid, your [[app]]s) and check it:
       $PREFIX/bin/pushgate --check --config /etc/pushgate/pushgate.toml
     add --online to ask Apple and Google whether they accept your keys, and the XMPP server
     whether push is enabled ([check] in pushgate.toml names a test account for that).
  3. systemctl enable --now pushgate     (and pushgate-legacy-tls for TLS 1.0 clients)
     journalctl -u pushgate -f           one line per event; the README maps symptoms to causes
EOF
