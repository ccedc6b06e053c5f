"""ops_* : running pushgate as a service: sd_notify and the watchdog, SIGHUP reloads (applied,
refused, needing a restart), SIGTERM under load, --only, and the two parts as separate processes."""

import datetime
import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
import urllib.error
import json

from harness import (PATIENCE, ApnsMock, Pushgate, Stack, TestPki, WorkDir, Prosody, apns_app_toml, device_token,
                     free_port, recv_until, wait_for, wait_port)


class NotifySocket:
    """What systemd listens on for a Type=notify unit: an AF_UNIX datagram socket."""

    def __init__(self, workdir):
        self.path = workdir.file("notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return self.messages

    def wait(self, needle, timeout=PATIENCE, after=0):
        """Waits for a message holding `needle` at index >= after; returns its index."""
        def seen():
            self.drain()
            for i in range(after, len(self.messages)):
                if needle in self.messages[i]:
                    return i + 1
            return None
        return wait_for(seen, f"sd_notify {needle!r}", timeout) - 1

    def close(self):
        self.sock.close()


@contextlib.contextmanager
def _prosody_with_pki():
    """A work directory, a test PKI and a running Prosody; all gone afterwards."""
    workdir = WorkDir()
    try:
        pki = TestPki(workdir)
        prosody = Prosody(workdir)
        prosody.start()
        try:
            yield workdir, pki, prosody
        finally:
            prosody.stop()
    finally:
        workdir.cleanup()


def _legacy_section(port, backend_port, cert, key):
    return (f'[legacy_tls]\nlisten = "127.0.0.1:{port}"\nbackend = "127.0.0.1:{backend_port}"\n'
            f'cert_file = "{cert}"\nkey_file = "{key}"\n')


def _s_client(port, ca, *args):
    """openssl s_client through the legacy listener's STARTTLS; its output."""
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", "xmpp",
                          "-xmpphost", "localhost", "-CAfile", ca, "-brief", *args],
                         input="", capture_output=True, text=True, timeout=PATIENCE)
    return out.stdout + out.stderr


def test_ops_sd_notify_ready_watchdog_reloading_stopping():
    with Stack(start_pushgate=False) as s:
        notify = NotifySocket(s.workdir)
        try:
            # WatchdogSec=1s: systemd sets WATCHDOG_USEC; pushgate must ping every 0.5 s.
            s.pushgate.start(env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"})
            ready = notify.wait("READY=1")
            assert "STATUS=" in notify.messages[ready] and "Prosody as push.localhost" in notify.messages[ready]
            # The status line follows the session: connected within a refresh (2 s).
            notify.wait("STATUS=connected to Prosody as push.localhost")
            # Four keep-alives arrive (every 0.5 s for WatchdogSec=1s), none in a burst.
            first = len(notify.drain())
            started = time.monotonic()
            wait_for(lambda: sum(1 for m in notify.drain()[first:] if m == "WATCHDOG=1") >= 4, "4 WATCHDOG=1")
            assert time.monotonic() - started >= 1.0, notify.messages  # not sent faster than every 0.5 s
            mark = len(notify.messages)
            s.pushgate.signal(signal.SIGHUP)
            reloading = notify.wait("RELOADING=1", after=mark)
            notify.wait("READY=1", after=reloading + 1)
            mark = len(notify.messages)
            rc = s.pushgate.stop()
            assert rc == 0
            notify.wait("STOPPING=1", after=mark)
        finally:
            notify.close()


def test_ops_no_notify_socket_runs_the_same():
    """Outside systemd (no NOTIFY_SOCKET) sd_notify is silent and nothing complains."""
    with Stack() as s:
        s.enable(device_token(), type="call")
        s.message_alice()
        s.pushgate.wait_records(1)
        assert "sd_notify_failed" not in s.pushgate.log()


def _reload(pg, pattern, count=1):
    pg.signal(signal.SIGHUP)
    pg.wait_log(pattern, count=count)


def test_ops_sighup_applies_a_new_app_and_http_secret_without_dropping_the_session():
    with Stack(start_pushgate=False) as s:
        api_port = free_port()
        old_secret = s.workdir.file("push-old.secret")
        Pushgate._secret_file(old_secret, "old-api-secret")
        http = f'[http]\nlisten = "127.0.0.1:{api_port}"\npush_secret_file = "{old_secret}"\nrate_limit = 0\n'
        s.pushgate = Pushgate(s.workdir, s.prosody, extra=http)
        s.pushgate.start()
        wait_port(api_port)
        token = device_token()
        s.enable(token, type="call")
        s.message_alice()
        s.pushgate.wait_records(1)

        def api_push(secret, app=None):
            body = {"node": device_token(), "secret": secret, "type": "message"}
            if app:
                body["app"] = app
            req = urllib.request.Request(f"http://127.0.0.1:{api_port}/push", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=PATIENCE) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        assert api_push("old-api-secret") == 200
        assert api_push("old-api-secret", app="second") == 400  # no such app yet

        # The new file: a second app with its own output, and a new API secret.
        new_secret = s.workdir.file("push-new.secret")
        Pushgate._secret_file(new_secret, "new-api-secret")
        second_out = s.workdir.file("second.jsonl")
        with open(s.pushgate.config) as f:
            text = f.read()
        text = text.replace(str(old_secret), str(new_secret))
        text += (f'[[app]]\nname = "second"\nservice = "log"\nsecret_file = "{s.pushgate.app_secret_file}"\n'
                 f'output = "{second_out}"\n')
        s.pushgate.rewrite_config(text)
        _reload(s.pushgate, r"event=reload .*result=applied apps=demo,second")

        assert api_push("old-api-secret") == 403
        assert api_push("new-api-secret", app="second") == 200
        with open(second_out) as f:
            assert len(f.readlines()) == 1
        # The registration made before the reload still pushes, over the same component session.
        s.message_alice()
        s.pushgate.wait_records(3)  # 1 before, 1 from the API (demo), 1 now
        log = s.pushgate.log()
        assert log.count("event=component_connected") == 1, log
        assert "event=component_disconnected" not in log
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/metrics", timeout=PATIENCE) as r:
            metrics = r.read().decode()
        assert 'pushgate_config_reloads_total{result="applied"} 1' in metrics
        assert 'pushgate_component_reconnects_total 0' in metrics
        assert 'pushgate_pushes_total{app="second",service="log",kind="alert",outcome="delivered"} 1' in metrics


def test_ops_sighup_with_a_broken_config_keeps_the_running_one_and_says_why():
    with Stack() as s:
        good = s.pushgate.config_text()
        broken = [
            (good.replace("ping_interval", "ping_intervall"), r"unknown key 'ping_intervall'.*did you mean 'ping_interval'"),
            (good + "[[app]]\nname = \"bad\"\nservice = \"apns\"\n", r"\[\[app\]\] 'bad' topic: is required"),
            (good.replace(str(s.pushgate.app_secret_file), "/nonexistent/app.secret"), r"secret file /nonexistent/app.secret cannot be read"),
            ("[component\n", r"not valid TOML"),
        ]
        for i, (text, why) in enumerate(broken, start=1):
            s.pushgate.rewrite_config(text)
            _reload(s.pushgate, r"event=reload_refused .*" + why, count=1)
            assert s.pushgate.log().count("event=reload_refused") == i
        assert "event=reload " not in s.pushgate.log()
        # Still running the old configuration: the app and its secret work.
        s.enable(device_token(), type="call")
        s.message_alice()
        s.pushgate.wait_records(1)
        # Fixed: the next SIGHUP applies.
        s.pushgate.rewrite_config(good)
        _reload(s.pushgate, r"event=reload .*result=applied")
        # logrotate's way: move the log provider's file away, reload, the next push starts a new file.
        os.rename(s.pushgate.output, s.pushgate.output + ".1")
        _reload(s.pushgate, r"event=reload .*result=applied", count=2)
        s.message_alice()
        wait_for(lambda: os.path.exists(s.pushgate.output) and len(s.pushgate.records()) == 1, "a new output file")
        with open(s.pushgate.output + ".1") as f:
            assert len(f.readlines()) == 1


def test_ops_sighup_names_keys_that_need_a_restart_and_keeps_them():
    with Stack() as s:
        text = s.pushgate.config_text()
        moved = text.replace(f"port = {s.prosody.component_port}", f"port = {free_port()}")
        assert moved != text
        s.pushgate.rewrite_config(moved)
        _reload(s.pushgate, r"event=reload .*result=applied .*needs_restart=1")
        assert re.search(r'event=reload_needs_restart key="\[component\] port"', s.pushgate.log()), s.pushgate.log()
        # Still connected on the old port.
        s.enable(device_token(), type="call")
        s.message_alice()
        s.pushgate.wait_records(1)
        assert s.pushgate.log().count("event=component_connected") == 1


def test_ops_sighup_component_secret_is_used_from_the_next_reconnect():
    """A rotated component secret does not drop the running session; the next connection
    uses it (here Prosody still has the old one, so the reconnect is refused by name)."""
    with Stack() as s:
        secret_file = s.workdir.file("component.secret")
        Pushgate._secret_file(secret_file, "rotated-" + s.prosody.component_secret)
        _reload(s.pushgate, r"event=reload .*result=applied")
        s.pushgate.wait_log(r"event=component_secret_changed")
        s.enable(device_token(), type="call")  # the session is still up: pushes flow
        s.message_alice()
        s.pushgate.wait_records(1)
        s.prosody.stop()
        s.prosody.start()
        s.pushgate.wait_log(r"event=component_connect_failed .*does not match the server's for push\.localhost .*component_secret")
        assert s.pushgate.log().count("event=component_connected") == 1


def test_ops_sighup_reloads_the_apns_key():
    """A new .p8 key in the same file takes effect at once: the mock (knowing only the new
    public key) accepts pushes after the reload and refused them before."""
    stack = Stack(start_pushgate=False)
    s = stack
    pki = TestPki(s.workdir)
    mock = ApnsMock(pki).start()
    try:
        old_p8 = pki.p8 + ".old"
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", old_p8],
                       check=True, capture_output=True)
        os.chmod(old_p8, 0o600)
        # The deadline bounds each push after the reload too, a new connection included: room for a loaded machine.
        toml = apns_app_toml("ios", pki, mock.endpoint, "{secret_file}", "deadline_ms = 10000\nthrottle_ms = 0")
        s.pushgate = Pushgate(s.workdir, s.prosody, app_toml=toml.replace(pki.p8, old_p8))
        s.pushgate.start()
        t = device_token()
        s.enable(t, type="message")
        s.message_alice()
        s.pushgate.wait_log(r"event=push app=ios .*outcome=operator_error")
        s.pushgate.rewrite_config(s.pushgate.config_text().replace(old_p8, pki.p8))
        _reload(s.pushgate, r"event=reload .*result=applied")
        s.message_alice()
        s.pushgate.wait_log(r"event=push app=ios .*outcome=delivered")
        # More reloads: each frees the HTTP/2 client the one before made, inside a loop turn.
        for n in (2, 3, 4):
            _reload(s.pushgate, r"event=reload .*result=applied", count=n)
        s.message_alice()
        s.pushgate.wait_log(r"event=push app=ios .*outcome=delivered", count=2)
    finally:
        mock.stop()
        stack.close()


def _log_time(ts):
    """Seconds since the epoch of one of pushgate's ts= values (2026-11-30T21:00:00.123Z)."""
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def test_ops_sigterm_under_load_answers_every_publish_and_exits_within_5_s():
    """Ten pushes the provider answers within a second finish during the drain; three it holds
    for 20 s are answered `wait` at the 4 s deadline; thirteen publishes arriving during the
    drain are answered `wait` at once. Prosody gets a reply for every one."""
    stack = Stack(start_pushgate=False)
    s = stack
    pki = TestPki(s.workdir)
    mock = ApnsMock(pki).start()
    try:
        s.pushgate = Pushgate(s.workdir, s.prosody, app_toml=apns_app_toml("ios", pki, mock.endpoint, "{secret_file}"))
        s.pushgate.start()
        fast = [device_token() for _ in range(10)]
        slow = [device_token() for _ in range(3)]
        for t in fast:
            mock.script(t, [{"delay_ms": 1000}])
        for t in slow:
            mock.script(t, [{"delay_ms": 20000}])
        for t in fast + slow:
            s.enable(t, type="message")
        s.message_alice()
        wait_for(lambda: mock.stats()["requests"] >= 13, "13 pushes reaching the mock")
        s.pushgate.signal(signal.SIGTERM)
        s.pushgate.wait_log(r"event=shutdown signal=SIGTERM in_flight=\d+")
        # Publishes arriving during the drain are not accepted: `wait` at once, 13 of them.
        s.message_alice()
        rc = s.pushgate.stop()
        assert rc == 0
        log = s.pushgate.log()
        m = re.search(r"ts=(\S+) level=\w+ event=stopped delivered=(\d+) unfinished=(\d+) answered_wait=(\d+) "
                      r"refused_while_stopping=(\d+) replies_lost=(\d+)", log)
        assert m, log[-3000:]
        # The drain as pushgate's own clock saw it, from the signal to its last line: what
        # systemd's stop waits for, without this machine's sanitizer exit or Python around it.
        began = re.search(r"ts=(\S+) level=\w+ event=shutdown signal=SIGTERM", log).group(1)
        took = _log_time(m.group(1)) - _log_time(began)
        assert took < 5.0, f"the drain took {took:.2f} s"
        print(f"    SIGTERM to event=stopped: {took:.2f} s by pushgate's clock (the drain deadline is 4 s)")
        m = re.search(r"event=stopped delivered=(\d+) unfinished=(\d+) answered_wait=(\d+) "
                      r"refused_while_stopping=(\d+) replies_lost=(\d+)", log)
        delivered, unfinished, answered_wait, refused, lost = map(int, m.groups())
        assert (delivered, answered_wait, refused, lost) == (10, 3, 13, 0), m.group(0)
        assert mock.stats()["requests"] == 13  # nothing accepted after SIGTERM reached the provider
        wait_for(lambda: s.prosody.log().count("Got error <wait:internal-server-error:pushgate is shutting down") == 16,
                 "16 wait errors in Prosody's log")
        assert "cancel" not in re.findall(r"Got error <(\w+):", s.prosody.log())
    finally:
        mock.stop()
        stack.close()


def test_ops_only_push_and_only_legacy_tls_run_as_two_processes_from_one_config():
    with _prosody_with_pki() as (workdir, pki, prosody):
        legacy_port = free_port()
        api_port = free_port()
        metrics_port = free_port()
        extra = (f'[http]\nlisten = "127.0.0.1:{api_port}"\n' + _legacy_section(legacy_port, prosody.c2s_port, pki.cert, pki.key)
                 + f'metrics_listen = "127.0.0.1:{metrics_port}"\n')
        push = Pushgate(workdir, prosody, extra=extra)
        legacy = Pushgate(workdir, prosody, extra=extra)
        legacy.stderr_path = workdir.file("legacy.log")
        try:
            push.start(args=["--only", "push"])
            wait_port(api_port)
            assert "event=legacy_tls_off reason=\"--only push\"" in push.log()
            assert "event=legacy_tls_listening" not in push.log()
            legacy.start(wait_connected=False, args=["--only", "legacy-tls"])
            legacy.wait_log(r"event=legacy_tls_listening")
            legacy.wait_log(r"event=metrics_listening")
            out = _s_client(legacy_port, pki.ca, "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0")
            assert "Protocol version: TLSv1" in out, out
            legacy_log = legacy.log()  # started, listening and served: what it would do at start is logged
            assert "role=legacy-tls" in legacy_log
            assert "component_connect" not in legacy_log and "api_listening" not in legacy_log
            # The listener's own metrics and health, parsed as Prometheus text.
            from prometheus_client.parser import text_string_to_metric_families
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=PATIENCE) as r:
                samples = {(smp.name, tuple(sorted(smp.labels.items()))): smp.value
                           for fam in text_string_to_metric_families(r.read().decode()) for smp in fam.samples}
            assert samples[("pushgate_legacy_handshakes_total", (("version", "TLSv1"),))] == 1, samples
            assert samples[("pushgate_legacy_connections_total", ())] >= 1
            from test_expiry import not_after
            cert_expiry = ("pushgate_certificate_expiry_timestamp_seconds", (("use", "legacy_tls"),))
            assert samples[cert_expiry] == not_after(pki.cert), samples
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/health", timeout=PATIENCE) as r:
                assert json.loads(r.read())["status"] == "ok"
            # The push unit's API does not show the listener it does not run.
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/metrics", timeout=PATIENCE) as r:
                text = r.read().decode()
                assert "pushgate_legacy_" not in text and "pushgate_certificate_expiry" not in text
            # One part stopping leaves the other running.
            assert legacy.stop() == 0
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/health", timeout=PATIENCE) as r:
                assert json.loads(r.read())["component"]["connected"] is True
        finally:
            push.stop()
            legacy.stop()


def test_ops_sighup_swaps_the_legacy_certificate_and_keeps_relayed_connections():
    import ssl
    with _prosody_with_pki() as (workdir, pki, prosody):
        port = free_port()
        cert = workdir.file("legacy.pem")
        key = workdir.file("legacy.key")
        subprocess.run(["cp", pki.cert, cert], check=True)
        subprocess.run(["cp", pki.key, key], check=True)
        os.chmod(key, 0o600)
        pg = Pushgate(workdir, prosody, extra=_legacy_section(port, prosody.c2s_port, cert, key))
        header = ("<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>").encode()

        def read_until(sock, needle):
            return recv_until(sock, needle, timeout=PATIENCE)

        def subject():
            out = _s_client(port, pki.ca)
            m = re.search(r"Peer certificate: (.*)", out)
            assert m, out
            return m.group(1)

        try:
            pg.start()
            pg.wait_log(r"event=legacy_tls_listening")
            assert "CN = localhost" in subject()
            # A client in the middle of its session: TLS is up, its stream not yet restarted.
            raw = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
            raw.sendall(header)
            read_until(raw, b"</stream:features>")
            raw.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            read_until(raw, b"<proceed")
            ctx = ssl.create_default_context(cafile=pki.ca)
            tls = ctx.wrap_socket(raw, server_hostname="localhost")

            # A new certificate (another CN, same CA) in the same files, then SIGHUP.
            pki.issue("reloaded.localhost", cert, key)
            _reload(pg, r"event=reload .*result=applied")
            assert "CN = reloaded.localhost" in subject()
            # The connection made before the reload still reaches Prosody.
            tls.sendall(header)
            features = read_until(tls, b"</stream:features>")
            assert b"mechanisms" in features, features
            tls.close()
            # A key that does not match the certificate: refused, the reloaded pair stays.
            subprocess.run(["cp", pki.key, key], check=True)
            _reload(pg, r"event=reload_refused .*legacy_tls.*key_file")
            assert "CN = reloaded.localhost" in subject()
        finally:
            pg.stop()


def test_ops_log_format_json_writes_one_json_object_per_line():
    """--log-format json for log shippers: every stderr line parses, the push line carries
    the outcome and the token's last 6 characters only."""
    with Stack(start_pushgate=False) as s:
        s.pushgate.start(args=["--log-format", "json"], wait_connected=False)
        s.prosody.wait_authenticated(1)
        token = device_token()
        s.enable(token, type="call")
        s.message_alice()
        s.pushgate.wait_log(r'"event":"push"')
        lines = [l for l in s.pushgate.log().splitlines() if l.strip()]
        records = [json.loads(l) for l in lines]  # every line is JSON
        assert all({"ts", "level", "event"} <= set(r) for r in records)
        push = [r for r in records if r["event"] == "push"][0]
        assert push["outcome"] == "delivered" and push["kind"] == "voip" and push["token"] == "…" + token[-6:], push
        assert token not in s.pushgate.log()
        assert s.pushgate.app_secret not in s.pushgate.log()
