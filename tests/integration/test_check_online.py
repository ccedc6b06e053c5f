"""check_online_* : `pushgate --check --online` asks the XMPP server whether push is enabled
(urn:xmpp:push:0) and whether the encrypted-push extension Siskin/Snikket iOS need is loaded
(tigase:push:encrypt:0), against Debian's real Prosody 0.12 and ejabberd 23.01.

Both servers show these features only on a user's own account disco#info (a component asking
user@domain gets service-unavailable from Prosody, subscription-required from ejabberd), so the
full check logs in as the [check] test account, as clients do before enabling push."""

import contextlib
import os
import re
import subprocess

from harness import PATIENCE, PUSHGATE, Prosody, Pushgate, TestPki, WorkDir, free_port, iq_round_trip, xmpp_session

# The check gives up after 20 s; the process then closes its streams. This is the net around it.
TIMEOUT = PATIENCE


@contextlib.contextmanager
def _prosody_with_alice(before_start=None, with_pki=False, **prosody_args):
    """A started Prosody (options as harness.Prosody's) with the account alice/alicepw in its
    own WorkDir. Yields (workdir, prosody, pki): pki is a test PKI whose certificate Prosody
    serves when with_pki, else None. `before_start(prosody)` may edit its config first.
    Stopped and removed however the test ends."""
    w = WorkDir()
    p = None
    try:
        pki = TestPki(w) if with_pki else None
        if pki:
            prosody_args["tls"] = (pki.cert, pki.key)
        p = Prosody(w, **prosody_args)
        if before_start:
            before_start(p)
        p.register("alice", "alicepw")
        p.start()
        yield w, p, pki
    finally:
        if p is not None:
            p.stop()
        w.cleanup()


def _secret(w, name, value):
    path = w.file(name)
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
    return path


def _check(w, server, *, account=True, secret=None, jid=None, component_port=None, password="alicepw",
           name="pushgate.toml", ca_file=None, timeout=TIMEOUT):
    """Writes a configuration for `server` (a Prosody or an Ejabberd) with one `log` app and,
    with `account`, the [check] test account alice@localhost; runs --check --online on it."""
    comp = _secret(w, name + ".component.secret", secret or server.component_secret)
    app = _secret(w, name + ".app.secret", "s3cret")
    text = (f'[component]\njid = "{jid or server.component_jid}"\nhost = "127.0.0.1"\n'
            f'port = {component_port or server.component_port}\nsecret_file = "{comp}"\n\n'
            f'[[app]]\nname = "demo"\nservice = "log"\nsecret_file = "{app}"\noutput = "{w.file("pushes.jsonl")}"\n\n')
    if account:
        pw = _secret(w, name + ".check.password", password)
        text += (f'[check]\njid = "alice@localhost"\npassword_file = "{pw}"\nhost = "127.0.0.1"\n'
                 f'port = {server.c2s_port}\n' + (f'ca_file = "{ca_file}"\n' if ca_file else ""))
    path = w.file(name)
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([PUSHGATE, "--check", "--online", "--config", path], capture_output=True, text=True,
                       timeout=timeout)
    out = r.stdout + r.stderr
    # A failing check exits 1 either way: a sanitizer's report must not hide behind it.
    assert "Sanitizer" not in out and "runtime error:" not in out, out
    return r.returncode, out


def _line(out, pattern):
    """The one output line matching `pattern` (a regex); fails showing the whole output."""
    lines = [line for line in out.splitlines() if re.search(pattern, line)]
    assert len(lines) == 1, f"expected one line /{pattern}/, got {lines}:\n{out}"
    return lines[0]


def _fixes_after(out, pattern):
    """The indented `fix, …` lines right after the line matching `pattern`."""
    lines = out.splitlines()
    i = next(i for i, line in enumerate(lines) if re.search(pattern, line))
    fixes = []
    for line in lines[i + 1:]:
        if not line.startswith("    fix, "):
            break
        fixes.append(line)
    return fixes


PUSH = r"^xmpp localhost \(Prosody\): push \(urn:xmpp:push:0\): "
ENCRYPTED = r"^xmpp localhost \(Prosody\): encrypted push for Siskin/Snikket iOS \(tigase:push:encrypt:0\): "


def test_check_online_prosody_with_cloud_notify_and_the_encrypted_module_is_ok():
    """Everything loaded: the component is accepted, alice's own disco#info shows both features,
    localhost lists the component for Siskin; without the account the same server is NOT CHECKED
    (and says how to check it), which does not fail the check."""
    with _prosody_with_alice(extra_modules=["cloud_notify_extensions"]) as (w, p, _):
        rc, out = _check(w, p)
        assert rc == 0, out
        assert "app demo (log): nothing to check online" in out  # the provider part, same run
        _line(out, rf"^xmpp component push\.localhost at 127\.0\.0\.1:{p.component_port}: OK, handshake accepted$")
        _line(out, rf"^xmpp account alice@localhost at 127\.0\.0\.1:{p.c2s_port}: OK, logged in without TLS \(loopback\)$")
        assert _line(out, PUSH).endswith("OK, on alice@localhost's own disco#info"), out
        assert _line(out, ENCRYPTED).endswith("OK, on alice@localhost's own disco#info"), out
        assert "OK, listed by localhost" in _line(out, r"push service push\.localhost in disco#items"), out
        assert "MISSING" not in out and "fix, " not in out, out
        _line(out, r"^pushgate: online check passed$")

        rc, out = _check(w, p, account=False, name="no-account.toml")
        assert rc == 0, out
        assert "NOT CHECKED" in _line(out, PUSH) and "[check] jid and password_file" in _line(out, PUSH), out
        assert "NOT CHECKED" in _line(out, ENCRYPTED), out
        assert "xmpp account" not in out
        _line(out, r"^pushgate: online check passed \(2 XMPP items NOT CHECKED: set \[check\] jid and password_file")


def test_check_online_prosody_without_cloud_notify_names_it_and_the_line_that_adds_it():
    with _prosody_with_alice(without_modules=["cloud_notify"]) as (w, p, _):
        rc, out = _check(w, p)
        assert rc == 1, out
        assert "MISSING" in _line(out, PUSH), out
        fixes = _fixes_after(out, PUSH)
        assert len(fixes) == 1 and fixes[0].startswith("    fix, Prosody: modules_enabled = {"), out
        assert '"cloud_notify";' in fixes[0] and "mod_push" not in fixes[0], out
        assert "MISSING" in _line(out, ENCRYPTED), out
        _line(out, r"^pushgate: online check FAILED")


def test_check_online_prosody_without_the_encrypted_module_names_it():
    """Debian's mod_cloud_notify alone: push is on, the encrypted extension is missing."""
    with _prosody_with_alice() as (w, p, _):
        rc, out = _check(w, p)
        assert rc == 1, out
        assert _line(out, PUSH).endswith("OK, on alice@localhost's own disco#info"), out
        assert "MISSING" in _line(out, ENCRYPTED), out
        fixes = _fixes_after(out, ENCRYPTED)
        assert len(fixes) == 1 and '"cloud_notify_extensions"' in fixes[0] and "lua-luaossl" in fixes[0], out
        _line(out, r"^pushgate: online check FAILED")


def test_check_online_prosody_renamed_in_its_identity_is_named_by_jabber_iq_version():
    """Prosody's `name` option renames its disco identity; its jabber:iq:version (mod_version)
    still says Prosody, so the fix is Prosody's alone, not both servers'."""
    def rename(prosody):
        with open(prosody.config) as f:
            cfg = f.read()
        with open(prosody.config, "w") as f:
            f.write('name = "Example Chat"\n' + cfg)

    with _prosody_with_alice(before_start=rename, without_modules=["cloud_notify"],
                             extra_modules=["version"]) as (w, p, _):
        rc, out = _check(w, p)
        assert rc == 1, out
        assert "MISSING" in _line(out, PUSH), out
        fixes = _fixes_after(out, PUSH)
        assert len(fixes) == 1 and fixes[0].startswith("    fix, Prosody: "), out


def test_check_online_names_the_refusal_wrong_secret_unknown_name_nothing_listening_wrong_password():
    with _prosody_with_alice(extra_modules=["cloud_notify_extensions"]) as (w, p, _):
        rc, out = _check(w, p, secret="not-the-secret", name="secret.toml")
        assert rc == 1, out
        line = _line(out, r"^xmpp component push\.localhost at ")
        assert "REFUSED, stream error not-authorized" in line, out
        assert "the secret does not match the server's for push.localhost (Prosody: Component \"push.localhost\" " \
            "with component_secret; ejabberd: listen: entry with module: ejabberd_service, hosts: push.localhost: " \
            "password:)" in line, out
        # The account check does not need the component: it still runs, and passes.
        assert _line(out, PUSH).endswith("OK, on alice@localhost's own disco#info"), out
        _line(out, r"^pushgate: online check FAILED")

        rc, out = _check(w, p, jid="nobody.localhost", name="name.toml")
        assert rc == 1, out
        line = _line(out, r"^xmpp component nobody\.localhost at ")
        assert "REFUSED, stream error host-unknown" in line and "the server has no component nobody.localhost" in line, out

        port = free_port()
        rc, out = _check(w, p, component_port=port, account=False, name="port.toml")
        assert rc == 1, out
        line = _line(out, r"^xmpp component push\.localhost at ")
        assert "REFUSED, Connection refused" in line and f"nothing listens on 127.0.0.1:{port}" in line, out

        rc, out = _check(w, p, password="wrong", name="password.toml")
        assert rc == 1, out
        line = _line(out, r"^xmpp account alice@localhost at ")
        assert "REFUSED, login refused" in line and "[check] password_file" in line, out
        assert "NOT CHECKED" in _line(out, PUSH) and "the [check] account did not log in" in _line(out, PUSH), out
        _line(out, r"^xmpp component push\.localhost at .*: OK")

        # --check reads the password file too, offline: one it cannot read is a warning there (the
        # daemon, which systemd starts after --check, does not need it) and a failure online.
        text = open(w.file("password.toml")).read().replace(w.file("password.toml.check.password"), w.file("none"))
        with open(w.file("nopassword.toml"), "w") as f:
            f.write(text)
        r = subprocess.run([PUSHGATE, "--check", "--config", w.file("nopassword.toml")], capture_output=True, text=True,
                           timeout=TIMEOUT)
        assert r.returncode == 0 and "warning: " in r.stdout and "[check] password_file" in r.stdout, r
        r = subprocess.run([PUSHGATE, "--check", "--online", "--config", w.file("nopassword.toml")], capture_output=True,
                           text=True, timeout=TIMEOUT)
        assert r.returncode == 1, r
        _line(r.stdout, r"^xmpp account alice@localhost: NOT USED, cannot read \[check\] password_file: ")
        assert "no login" not in r.stdout, r.stdout


def test_check_online_beside_a_running_daemon_says_the_jid_is_in_use_and_leaves_the_daemon_connected():
    """Prosody's default component_conflict_resolve = "kick_new" refuses the check's component
    connection with conflict, after checking the secret: not a failure, and the account part
    still runs. The daemon keeps its session and still answers through Prosody."""
    with _prosody_with_alice(extra_modules=["cloud_notify_extensions"]) as (w, p, _):
        daemon = Pushgate(w, p)
        daemon.start()
        try:
            rc, out = _check(w, p, name="beside.toml")
            assert rc == 0, out
            line = _line(out, r"^xmpp component push\.localhost at ")
            assert line.endswith(": OK, secret accepted; the JID is in use (pushgate is running?): domain "
                                 "disco#info/items not asked from the component"), out
            assert _line(out, PUSH).endswith("OK, on alice@localhost's own disco#info"), out
            _line(out, r"^pushgate: online check passed")
            p.wait_log(r"Second component attempted to connect, denying connection")
            assert p.component_authentications() == 1, p.log()[-3000:]
            assert "event=component_disconnected" not in daemon.log(), daemon.log()[-3000:]
            info = xmpp_session("alice@localhost", "alicepw", p.c2s_port, iq_round_trip(
                "<iq xmlns='jabber:client' type='get' to='push.localhost'>"
                "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
            assert 'type="result"' in info and "urn:xmpp:push:0" in info, (info, daemon.log()[-3000:])
        finally:
            assert daemon.stop() == 0


def test_check_online_logs_in_over_starttls_and_names_an_untrusted_certificate():
    """Prosody's usual policy: c2s requires STARTTLS. The account logs in over TLS when the
    server's certificate is trusted ([check] ca_file here: the test CA), and says why not when
    it is not."""
    with _prosody_with_alice(extra_modules=["cloud_notify_extensions"], with_pki=True) as (w, p, pki):
        rc, out = _check(w, p, ca_file=pki.ca, name="tls.toml")
        assert rc == 0, out
        _line(out, r"^xmpp account alice@localhost at .*: OK, logged in over TLS$")
        assert _line(out, ENCRYPTED).endswith("OK, on alice@localhost's own disco#info"), out

        rc, out = _check(w, p, name="untrusted.toml")
        assert rc == 1, out
        line = _line(out, r"^xmpp account alice@localhost at ")
        assert "REFUSED, TLS failed" in line and "[check] ca_file" in line, out


def test_check_online_ejabberd_with_and_without_mod_push():
    """ejabberd 23.01: mod_push shows push on the account; the encrypted extension does not
    exist there, which is said (UNAVAILABLE) and does not fail the check. Without mod_push,
    the line that adds it."""
    from ejabberd import Ejabberd
    ej_push = r"^xmpp localhost \(ejabberd\): push \(urn:xmpp:push:0\): "
    for with_push in (True, False):
        w = WorkDir()
        e = Ejabberd(w)
        try:
            if not with_push:
                snippet = os.path.join(e.conf_dir, "pushgate.yml")
                with open(snippet) as f:
                    text = f.read()
                text, n = re.subn(r"\n  mod_push:\n(?:    .*\n)+", "\n  mod_ping: {}\n", text)
                assert n == 1, text
                with open(snippet, "w") as f:
                    f.write(text)
            e.start()
            e.register("alice", "alicepw")
            rc, out = _check(w, e)
            _line(out, r"^xmpp component push\.localhost at .*: OK, handshake accepted$")
            assert "UNAVAILABLE" in _line(out, r"^xmpp localhost \(ejabberd\): encrypted push "), out
            if with_push:
                assert rc == 0, out
                assert _line(out, ej_push).endswith("OK, on alice@localhost's own disco#info"), out
            else:
                assert rc == 1, out
                assert "MISSING" in _line(out, ej_push), out
                fixes = _fixes_after(out, ej_push)
                assert len(fixes) == 1 and "mod_push: {}" in fixes[0] and "cloud_notify" not in fixes[0], out
        finally:
            e.stop()
            w.cleanup()


def test_check_online_stops_reading_a_component_port_that_floods_and_waits_out_one_that_is_silent():
    """Bounded: a 'server' that answers the stream header with an endless stanza is dropped after
    1 MiB, with the cause; one that accepts TCP and says nothing is given up on after 20 s."""
    import socket
    import threading
    w = WorkDir()
    flood, silent = socket.socket(), socket.socket()
    stop = threading.Event()
    sent = [0]

    def serve_flood():
        conn, _ = flood.accept()
        with conn:
            conn.recv(4096)  # pushgate's stream header
            conn.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                         b"xmlns:stream='http://etherx.jabber.org/streams' id='x' from='push.localhost'><iq><query>")
            chunk = b"<feature var='" + b"x" * 4000 + b"'/>"
            try:
                while not stop.is_set():
                    conn.sendall(chunk)
                    sent[0] += len(chunk)
            except OSError:
                pass  # pushgate closed the connection: what the test wants
    try:
        for s in (flood, silent):
            s.bind(("127.0.0.1", 0))
            s.listen(1)
        t = threading.Thread(target=serve_flood, daemon=True)
        t.start()

        class Fake:
            component_jid, component_secret = "push.localhost", "x"
            component_port = flood.getsockname()[1]
        rc, out = _check(w, Fake, account=False, name="flood.toml")
        assert rc == 1, out
        line = _line(out, r"^xmpp component push\.localhost at ")
        assert "UNREACHABLE, the server sent more than 1 MiB without finishing its answers: stopped reading it" in line
        assert "REFUSED" not in out, out
        stop.set()
        t.join(PATIENCE)
        assert not t.is_alive()
        assert sent[0] < 64 * 1024 * 1024, sent[0]  # stopped long before the 20 s were up

        Fake.component_port = silent.getsockname()[1]
        rc, out = _check(w, Fake, account=False, name="silent.toml")
        assert rc == 1, out
        assert "UNREACHABLE, no handshake within 20 s" in _line(out, r"^xmpp component push\.localhost at "), out
    finally:
        stop.set()
        flood.close()
        silent.close()
        w.cleanup()
