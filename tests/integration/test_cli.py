"""cli_* : the pushgate command line, --check (and --check --online), and the operator's Prosody snippets."""

import os
import subprocess

from harness import PUSHGATE, Prosody, WorkDir


def _run(*args, env=None):
    # --check --online gives up after 20 s, then closes its streams.
    return subprocess.run([PUSHGATE, *args], capture_output=True, text=True, timeout=40, env=env)


def _secret(w, name, value="s3cret", mode=0o600):
    path = w.file(name)
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, mode)
    return path


def _config(w, text):
    path = w.file("pushgate.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def _valid(w):
    return (f'[component]\njid = "push.example.com"\nsecret_file = "{_secret(w, "c.secret")}"\n'
            f'[[app]]\nname = "ios"\nservice = "log"\nsecret_file = "{_secret(w, "a.secret")}"\n')


def test_cli_version_and_help():
    r = _run("--version")
    assert r.returncode == 0 and r.stdout.startswith("pushgate "), r
    r = _run("--help")
    assert r.returncode == 0 and "--check" in r.stdout and "--config" in r.stdout
    r = _run("--bogus")
    assert r.returncode == 2 and "unknown argument '--bogus'" in r.stderr


def test_cli_check_accepts_a_valid_config():
    w = WorkDir()
    try:
        r = _run("--check", "--config", _config(w, _valid(w)))
        assert r.returncode == 0, r.stderr
        assert "is valid" in r.stdout
    finally:
        w.cleanup()


def test_cli_check_names_a_typo_and_its_fix():
    w = WorkDir()
    try:
        r = _run("--check", "--config", _config(w, _valid(w) + "outptu = \"/tmp/x\"\n"))
        assert r.returncode == 1
        assert "unknown key 'outptu'" in r.stderr and "did you mean 'output'" in r.stderr, r.stderr
    finally:
        w.cleanup()


def test_cli_refuses_a_world_readable_secret_file():
    w = WorkDir()
    try:
        loose = _secret(w, "loose.secret", "topsecretvalue", 0o644)
        # The file is complete: its secrets are read once it has parsed.
        text = f'[component]\njid = "push.example.com"\nsecret_file = "{loose}"\n[[app]]\nname = "a"\nservice = "log"\n'
        r = _run("--check", "--config", _config(w, text))
        assert r.returncode == 1
        assert "pushgate.toml:3: [component] secret_file:" in r.stderr, r.stderr
        assert "readable by every user" in r.stderr and "chmod o-rwx" in r.stderr, r.stderr
        assert "topsecretvalue" not in r.stderr + r.stdout
    finally:
        w.cleanup()


def test_cli_no_secret_no_start():
    w = WorkDir()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
        text = '[component]\njid = "push.example.com"\n[[app]]\nname = "a"\nservice = "log"\n'
        r = _run("--config", _config(w, text), env=env)
        assert r.returncode == 1
        assert "has no secret" in r.stderr and "PUSHGATE_COMPONENT_SECRET" in r.stderr, r.stderr
        env["PUSHGATE_COMPONENT_SECRET"] = "from-env"
        env["PUSHGATE_APP_A_SECRET"] = "app-from-env"
        r = _run("--check", "--config", _config(w, text), env=env)
        assert r.returncode == 0, r.stderr
    finally:
        w.cleanup()


def test_cli_missing_config_and_bad_toml():
    r = _run("--check", "--config", "/nonexistent/pushgate.toml")
    assert r.returncode == 1 and "cannot be read" in r.stderr
    w = WorkDir()
    try:
        r = _run("--check", "--config", _config(w, "[component\njid = 1\n"))
        assert r.returncode == 1 and "not valid TOML" in r.stderr, r.stderr
    finally:
        w.cleanup()


def test_cli_example_config_passes_check():
    w = WorkDir()
    try:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(os.path.join(root, "deploy", "pushgate.toml.example")) as f:
            text = f.read()
        # Point the example's secret files at real ones; everything else stays as shipped.
        text = text.replace("/etc/pushgate/credentials/component.secret", _secret(w, "c.secret"))
        text = text.replace("/etc/pushgate/credentials/demo.secret", _secret(w, "a.secret"))
        text = text.replace("/etc/pushgate/credentials/push.secret", _secret(w, "p.secret"))
        r = _run("--check", "--config", _config(w, text))
        assert r.returncode == 0, r.stderr
    finally:
        w.cleanup()


def test_prosody_snippet_passes_prosodyctl_check_config():
    w = WorkDir()
    try:
        p = Prosody(w)
        r = p.prosodyctl("check", "config", check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "pushgate.cfg.lua" in r.stdout and "cloud-notify.cfg.lua" in r.stdout, r.stdout
        assert "All checks passed" in r.stdout, r.stdout
    finally:
        w.cleanup()


def test_prosody_legacy_tls_snippets_pass_prosodyctl_check_config():
    import shutil
    for name in ("legacy-tls-plain.cfg.lua", "legacy-tls-starttls.cfg.lua"):
        w = WorkDir()
        try:
            p = Prosody(w)
            root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            dst = os.path.join(p.dir, name)
            shutil.copyfile(os.path.join(root, "prosody-config", name), dst)
            os.chmod(dst, 0o644)
            with open(p.config, "a") as f:
                f.write(f'\nInclude "{dst}"\n')
            r = p.prosodyctl("check", "config", check=False)
            assert r.returncode == 0 and "All checks passed" in r.stdout, (name, r.stdout + r.stderr)
        finally:
            w.cleanup()


def test_prosody_cloud_notify_extensions_snippet_passes_check_and_offers_siskins_features():
    """prosody-config/cloud-notify-extensions.cfg.lua as its comments say to use it: its
    plugin_paths pointed at a prosody-modules checkout, "cloud_notify_extensions" added to
    modules_enabled. prosodyctl check config passes, and the running Prosody offers the
    account features Siskin and Snikket iOS look for before they ask for encrypted pushes."""
    from harness import iq_round_trip, peers_dir, xmpp_session
    w = WorkDir()
    p = None
    try:
        p = Prosody(w)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(os.path.join(root, "prosody-config", "cloud-notify-extensions.cfg.lua")) as f:
            snippet = f.read()
        assert 'plugin_paths = { "/usr/local/lib/prosody/modules", "/usr/local/lib/prosody-modules" }' in snippet
        assert "lua-luaossl" in snippet and "hg.prosody.im/prosody-modules" in snippet
        dst = os.path.join(p.dir, "cloud-notify-extensions.cfg.lua")
        with open(dst, "w") as f:
            f.write(snippet.replace("/usr/local/lib/prosody-modules", os.path.join(peers_dir(), "prosody-modules")))
        os.chmod(dst, 0o644)
        with open(p.config) as f:
            cfg = f.read()
        assert '"cloud_notify";' in cfg
        with open(p.config, "w") as f:
            f.write(cfg.replace('"cloud_notify";', '"cloud_notify"; "cloud_notify_extensions";') + f'\nInclude "{dst}"\n')
        r = p.prosodyctl("check", "config", check=False)
        assert r.returncode == 0 and "All checks passed" in r.stdout, r.stdout + r.stderr
        assert "cloud-notify-extensions.cfg.lua" in r.stdout, r.stdout
        p.register("alice", "alicepw")
        p.start()
        info = xmpp_session("alice@localhost", "alicepw", p.c2s_port, iq_round_trip(
            "<iq xmlns='jabber:client' type='get' to='alice@localhost'>"
            "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
        for feature in ("tigase:push:encrypt:0", "tigase:push:encrypt:aes-128-gcm", "tigase:push:priority:0",
                        "tigase:push:filter:groupchat:0", "tigase:push:filter:muted:0"):
            assert f'var="{feature}"' in info, (feature, info, p.log()[-3000:])
    finally:
        if p is not None:
            p.stop()
        w.cleanup()


def _write_expired_pair(cert_path, key_path):
    """A self-signed certificate valid only in 2020 (OpenSSL 3.0's command line cannot backdate)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2021, 1, 1)).sign(key, hashes.SHA256()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(key_path, 0o600)


def test_cli_check_names_the_problem_in_a_dozen_broken_configs():
    """Each broken configuration fails --check with exit 1 and a message naming the key or
    file at fault; none crashes, none passes."""
    import stat as _stat
    from harness import TestPki
    w = WorkDir()
    try:
        pki = TestPki(w)
        comp, app = _secret(w, "c.secret"), _secret(w, "a.secret")
        head = f'[component]\njid = "push.example.com"\nsecret_file = "{comp}"\n'
        log_app = f'[[app]]\nname = "ios"\nservice = "log"\nsecret_file = "{app}"\n'
        apns = (f'[[app]]\nname = "ios"\nservice = "apns"\nsecret_file = "{app}"\ntopic = "com.example.chat"\n'
                f'team_id = "9ABCDE1234"\nkey_id = "ABC123DEF4"\n')
        rsa = w.file("rsa.p8")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa],
                       check=True, capture_output=True)
        os.chmod(rsa, 0o600)
        open_key = w.file("open.key")
        with open(pki.key) as src, open(open_key, "w") as dst:
            dst.write(src.read())
        os.chmod(open_key, 0o644)
        expired_cert, expired_key = w.file("expired.pem"), w.file("expired.key")
        _write_expired_pair(expired_cert, expired_key)
        bad_sa = _secret(w, "sa.json", '{"type": "service_account", "project_id": "p"}')
        legacy = lambda cert, key: (f'[legacy_tls]\nbackend = "127.0.0.1:5200"\ncert_file = "{cert}"\n'
                                    f'key_file = "{key}"\n')
        cases = [
            ("typo in a key", head + log_app.replace("secret_file", "secretfile"), "unknown key 'secretfile'", "did you mean 'secret_file'"),
            ("typo in a required key", head + log_app.replace("service", "servce"), "service: is required",
             "'servce' on line 6 looks like a typo of 'service'"),
            ("typo in a section", head + log_app + "[htp]\n", "unknown section or key 'htp'", "did you mean 'http'"),
            ("port out of range", head.replace('jid', 'port = 70000\njid') + log_app, "port: must be between 1 and 65535", ""),
            ("listen without a port", head + log_app + '[http]\nlisten = "127.0.0.1"\n', "listen: '127.0.0.1' is not host:port", ""),
            ("missing secret file", head.replace(comp, "/nonexistent/c.secret") + log_app, "/nonexistent/c.secret cannot be read", "chmod 600"),
            ("world-readable secret", head.replace(comp, _secret(w, "open.secret", mode=0o644)) + log_app,
             "readable by every user", "chmod o-rwx"),
            ("RSA key where Apple wants P-256", head + apns + f'key_file = "{rsa}"\n', "is not an EC P-256 key", ".p8"),
            ("key_id of the wrong length", head + apns.replace("ABC123DEF4", "ABC") + f'key_file = "{pki.p8}"\n',
             "key_id: must be the 10-character Key ID", ""),
            ("service account without its fields", head + f'[[app]]\nname = "a"\nservice = "fcm"\nsecret_file = "{app}"\n'
             f'credentials_file = "{bad_sa}"\n', 'field "client_email" is missing', "Generate new private key"),
            ("certificate and a key of another pair", head + log_app + legacy(pki.cert, expired_key),
             "does not match certificate", ""),
            ("expired certificate", head + log_app + legacy(expired_cert, expired_key), "has expired", "renew it"),
            ("world-readable TLS key", head + log_app + legacy(pki.cert, open_key), "readable by every user", "chmod o-rwx"),
            ("not TOML", head + "[[app]\n", "not valid TOML", ""),
            ("unknown service", head + log_app.replace('"log"', '"gcm"'), "service", "apns"),
            ("store in a directory that does not exist", head + log_app + '[store]\npath = "/nonexistent-dir/p.db"\n',
             "the directory /nonexistent-dir does not exist", "StateDirectory"),
        ]
        for name, text, must, hint in cases:
            r = _run("--check", "--config", _config(w, text))
            assert r.returncode == 1, (name, r.returncode, r.stdout, r.stderr)
            assert must in r.stderr and hint in r.stderr, (name, r.stderr)
            assert "is valid" not in r.stdout, name
        assert len(cases) >= 12
        assert _stat.S_IMODE(os.stat(open_key).st_mode) == 0o644
    finally:
        w.cleanup()


def test_cli_check_online_asks_the_providers_whether_they_accept_the_keys():
    """--check --online mints an APNs provider token and an FCM OAuth2 token and sends a probe
    push: accepted keys pass; a key Apple or Google refuses, or an endpoint nobody answers,
    fails with the reason. The same run asks the XMPP server (a real Prosody here; what it
    finds there: test_check_online.py)."""
    from harness import (ApnsMock, FcmMock, TestPki, apns_app_toml, fcm_app_toml, free_port,
                         make_service_account_key, write_service_account)
    w = WorkDir()
    pki = TestPki(w)
    make_service_account_key(pki)
    apns_mock = ApnsMock(pki).start()
    fcm_mock = FcmMock(pki).start()
    prosody = Prosody(w)
    try:
        prosody.start()
        comp, app = _secret(w, "c.secret", prosody.component_secret), _secret(w, "a.secret")
        head = (f'[component]\njid = "{prosody.component_jid}"\nhost = "127.0.0.1"\nport = {prosody.component_port}\n'
                f'secret_file = "{comp}"\n')
        sa = write_service_account(pki, fcm_mock.endpoint + "/token")
        good = (head + apns_app_toml("ios", pki, apns_mock.endpoint, app) +
                fcm_app_toml("android", pki, fcm_mock.endpoint, sa, app) +
                f'[[app]]\nname = "demo"\nservice = "log"\nsecret_file = "{app}"\n')
        r = _run("--check", "--online", "--config", _config(w, good))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "app ios (apns): OK, APNs accepted the provider token" in r.stdout, r.stdout
        assert "app android (fcm): OK, FCM accepted the OAuth2 access token" in r.stdout, r.stdout
        assert "app demo (log): nothing to check online" in r.stdout
        assert "xmpp component push.localhost at 127.0.0.1:%d: OK" % prosody.component_port in r.stdout, r.stdout
        assert "online check passed" in r.stdout
        assert fcm_mock.stats()["tokens_issued"] == 1  # a real OAuth2 exchange happened

        # Keys the providers do not know: Apple answers 403 InvalidProviderToken, Google
        # refuses the service account's assertion.
        other_p8 = w.file("other.p8")
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", other_p8],
                       check=True, capture_output=True)
        os.chmod(other_p8, 0o600)
        make_service_account_key(pki, name="other-sa")
        other_sa = write_service_account(pki, fcm_mock.endpoint + "/token", name="other-sa.json")
        refused = good.replace(pki.p8, other_p8).replace(sa, other_sa)
        r = _run("--check", "--online", "--config", _config(w, refused))
        assert r.returncode == 1, r.stdout + r.stderr
        assert "app ios (apns): REFUSED, APNs did not accept the provider token" in r.stdout, r.stdout
        assert "InvalidProviderToken" in r.stdout
        assert "app android (fcm): REFUSED" in r.stdout and "invalid_grant" in r.stdout, r.stdout
        assert "online check FAILED" in r.stdout

        # Nobody listening where the configuration points.
        dead = f"https://127.0.0.1:{free_port()}"
        r = _run("--check", "--online", "--config", _config(w, good.replace(apns_mock.endpoint, dead)))
        assert r.returncode == 1, r.stdout + r.stderr
        assert "app ios (apns): UNREACHABLE" in r.stdout, r.stdout
        assert "app android (fcm): OK" in r.stdout

        # --online alone is a usage error.
        r = _run("--online", "--config", _config(w, good))
        assert r.returncode == 2 and "--online goes with --check" in r.stderr
    finally:
        apns_mock.stop()
        fcm_mock.stop()
        prosody.stop()
        w.cleanup()
