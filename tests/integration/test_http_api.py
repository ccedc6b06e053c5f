"""http_api_* : the local HTTP API of a real pushgate, in front of the mock APNs and FCM, with
real Prosody for the component and curl as the client."""

import json
import os
import secrets
import signal
import subprocess
import time

from prometheus_client.parser import text_string_to_metric_families

from harness import (PATIENCE, ApnsMock, FcmMock, Pushgate, Stack, TestPki, apns_app_toml, device_token, fcm_app_toml,
                     free_port, make_service_account_key, run, wait_for, write_service_account)


def curl(*args):
    """Runs curl; returns (HTTP status, body). Status 0 when no HTTP answer came (TLS refused…)."""
    out = subprocess.run(["curl", "-s", "-S", "-o", "-", "-w", "\n%{http_code}", "--max-time", "20", *args],
                         capture_output=True, text=True)
    body, _, code = out.stdout.rpartition("\n")
    return int(code or 0), body


class ApiStack:
    """Prosody + mock APNs (app `ios`) [+ mock FCM (app `android`)] + pushgate serving [http]."""

    def __init__(self, http_extra="", app_extra="", with_fcm=False, tls=False, client_ca=None):
        self.stack = Stack(start_pushgate=False)
        s = self.stack
        self.pki = TestPki(s.workdir)
        self.apns = ApnsMock(self.pki).start()
        toml = apns_app_toml("ios", self.pki, self.apns.endpoint, "{secret_file}", app_extra)
        self.fcm = None
        if with_fcm:
            make_service_account_key(self.pki)
            self.fcm = FcmMock(self.pki).start()
            sa = write_service_account(self.pki, f"{self.fcm.endpoint}/token")
            toml += fcm_app_toml("android", self.pki, self.fcm.endpoint, sa, "{secret_file}", app_extra)
        self.push_secret = secrets.token_hex(12)
        secret_file = s.workdir.file("push.secret")
        with open(secret_file, "w") as f:
            f.write(self.push_secret + "\n")
        os.chmod(secret_file, 0o600)
        self.port = free_port()
        http = f'\n[http]\nlisten = "127.0.0.1:{self.port}"\npush_secret_file = "{secret_file}"\n{http_extra}\n'
        if tls:
            http += f'tls_cert = "{self.pki.cert}"\ntls_key = "{self.pki.key}"\n'
        if client_ca:
            http += f'client_ca = "{client_ca}"\n'
        s.pushgate = Pushgate(s.workdir, s.prosody, app_toml=toml, extra=http)
        s.pushgate.start()
        s.pushgate.wait_log(r"event=api_listening")
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def push(self, node, secret=None, type="call", app=None, extra_args=()):
        body = {"node": node, "secret": self.push_secret if secret is None else secret, "type": type}
        if app:
            body["app"] = app
        return curl(*extra_args, "-X", "POST", f"{self.base}/push", "-H", "Content-Type: application/json",
                    "-d", json.dumps(body))

    def health(self):
        code, body = curl(f"{self.base}/health")
        return code, json.loads(body)

    def metrics(self):
        code, body = curl(f"{self.base}/metrics")
        assert code == 200, body
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(body) for s in fam.samples}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.apns.stop()
        if self.fcm:
            self.fcm.stop()
        self.stack.close()


def test_http_api_curl_line_delivers_a_voip_push_even_with_prosody_down():
    with ApiStack() as a:
        token = device_token()
        # The line from the README, as operators script it.
        code, body = a.push(token)
        assert (code, json.loads(body)) == (200, {"outcome": "delivered"}), body
        st = a.apns.stats()
        assert st["by_push_type"] == {"voip": 1} and st["recent"][0]["token"] == token, st
        assert st["recent"][0]["headers"]["apns-topic"] == "com.example.chat.voip"
        a.stack.prosody.stop()  # the API does not need the component session
        a.stack.pushgate.wait_log(r"event=component_disconnected|event=component_reconnect_scheduled")
        code, body = a.push(device_token(), type="message")
        assert code == 200, body
        code, health = a.health()
        assert code == 200 and health["status"] == "degraded" and not health["component"]["connected"], health
        # Form bodies work too.
        code, body = curl("-X", "POST", f"{a.base}/push", "-d", f"node={device_token()}&secret={a.push_secret}&type=background")
        assert code == 200, body
        assert token not in a.stack.pushgate.log(), "a device token reached the log"
        assert a.push_secret not in a.stack.pushgate.log(), "the push secret reached the log"


def test_http_api_answers_403_400_410_404_and_503_with_clear_bodies():
    # A short deadline ends the sticky 503's retries soon; 3 s, not less, because the same
    # deadline bounds the one attempt the 410 needs (a connection to set up, on a loaded machine).
    with ApiStack(app_extra="voip_deadline_ms = 3000") as a:
        code, body = a.push(device_token(), secret="wrong")
        assert code == 403 and json.loads(body)["outcome"] == "forbidden", body
        code, body = curl("-X", "POST", f"{a.base}/push", "-H", "Content-Type: application/json", "-d", "{broken")
        assert code == 400 and "not valid JSON" in json.loads(body)["error"], body
        code, body = curl("-X", "POST", f"{a.base}/push", "-H", "Content-Type: application/json", "-d", '{"secret":"x"}')
        assert code == 400 and '"node" is missing' in json.loads(body)["error"], body
        code, body = a.push(device_token(), type="fax")
        assert code == 400 and "unknown push type" in json.loads(body)["reason"], body
        code, body = a.push(device_token(), app="windows")
        assert code == 400 and "unknown app" in json.loads(body)["reason"], body
        dead = device_token()
        a.apns.script(dead, [{"status": 410, "reason": "Unregistered", "timestamp": 1795320000123}])
        code, body = a.push(dead)
        assert code == 410 and json.loads(body) == {"outcome": "token_dead", "reason": "Unregistered (since 1795320000123 ms)"}, body
        busy = device_token()
        a.apns.script(busy, [{"status": 503, "reason": "ServiceUnavailable"}], sticky=True)
        code, body = a.push(busy)
        assert code == 503 and json.loads(body)["outcome"] == "retry", body
        code, body = curl(f"{a.base}/push")
        assert code == 405, body
        code, body = curl(f"{a.base}/nothing")
        assert code == 404 and "unknown path" in body, body
        code, body = curl("-X", "POST", f"{a.base}/push", "-d", "x" * 20000)
        assert code == 413, body


def test_http_api_rate_limit_answers_429_past_the_per_client_budget():
    import concurrent.futures
    import urllib.error
    import urllib.request
    with ApiStack(http_extra="rate_limit = 5") as a:
        def post(_):
            req = urllib.request.Request(f"{a.base}/push", method="POST", headers={"content-type": "application/json"},
                                         data=json.dumps({"node": device_token(), "secret": a.push_secret}).encode())
            try:
                with urllib.request.urlopen(req, timeout=PATIENCE) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(post, range(20)))
        codes = sorted(c for c, _ in answers)
        assert codes.count(200) == 5 and codes.count(429) == 15, codes  # a burst of 5, then refused
        body = json.loads(next(b for c, b in answers if c == 429))
        assert body["outcome"] == "rate_limited" and "rate_limit" in body["error"], body
        time.sleep(1.1)  # the bucket refills at 5/s
        assert post(0)[0] == 200
        assert a.metrics()[("pushgate_api_rate_limited_total", ())] == 15


def test_http_api_health_follows_a_provider_going_down_and_coming_back():
    # 3 s, not less: the deadline also bounds the pushes through the restarted mock, each of
    # which may have to set up a connection first.
    with ApiStack(app_extra="voip_deadline_ms = 3000\nping_interval = 1") as a:
        code, h = a.health()
        assert code == 200 and h["status"] == "ok", h
        assert [app["name"] for app in h["apps"]] == ["ios"] and h["apps"][0]["reachable"], h
        port = a.apns.port
        a.apns.stop()
        code, _ = a.push(device_token())
        assert code == 503
        code, h = a.health()
        assert code == 503 and h["status"] == "down", h
        assert not h["apps"][0]["reachable"] and h["apps"][0]["last_error"].startswith("retry: connect"), h
        a.apns = ApnsMock(a.pki, port=port).start()
        wait_for(lambda: a.push(device_token())[0] == 200, "a push through the restarted mock")
        code, h = a.health()
        assert code == 200 and h["status"] == "ok" and h["apps"][0]["last_success"], h


def test_http_api_operator_error_makes_health_degraded_never_cancel():
    with ApiStack(with_fcm=True) as a:
        token = device_token()
        a.apns.script(token, [{"status": 403, "reason": "InvalidProviderToken"}])
        code, body = a.push(token)
        assert code == 502 and json.loads(body)["outcome"] == "operator_error", body
        code, h = a.health()
        assert code == 200 and h["status"] == "degraded" and "hint" in h, h
        ios = next(app for app in h["apps"] if app["name"] == "ios")
        assert "InvalidProviderToken" in ios["last_error"], h


def test_http_api_metrics_move_with_pushes_and_parse_as_prometheus_text():
    with ApiStack(with_fcm=True) as a:
        before = a.metrics()
        key = ("pushgate_pushes_total", (("app", "ios"), ("kind", "voip"), ("outcome", "delivered"), ("service", "apns")))
        fkey = ("pushgate_pushes_total", (("app", "android"), ("kind", "alert"), ("outcome", "delivered"), ("service", "fcm")))
        assert before[key] == 0 and before[fkey] == 0
        for _ in range(3):
            assert a.push(device_token())[0] == 200
        assert a.push(device_token(), type="message", app="android")[0] == 200
        after = a.metrics()
        assert after[key] == 3 and after[fkey] == 1, {k: v for k, v in after.items() if k[0] == "pushgate_pushes_total" and v}
        lat = ("pushgate_provider_latency_seconds_count", (("app", "ios"), ("service", "apns")))
        assert after[lat] == 3
        assert after[("pushgate_fcm_token_fetches_total", (("project", "demo-project"),))] == 1
        assert after[("pushgate_apns_token_mints_total", (("key", "9ABCDE1234/ABC123DEF4"),))] == 1
        assert after[("pushgate_component_connected", ())] == 1
        assert after[("pushgate_api_requests_total", (("path", "/push"), ("status", "200")))] == 4
        assert any(k[0] == "pushgate_http2_connections" and v >= 1 for k, v in after.items()), after
        assert after[("pushgate_queue_depth", ())] == 0



def test_http_api_provider_counters_keep_counting_across_a_reload():
    """A reload rebuilds the providers; their counters (connections, token mints and fetches,
    retries) go on from where they were instead of falling back to 0 like a restart."""
    with ApiStack(with_fcm=True) as a:
        a.apns.script(token := device_token(), [{"status": 503, "reason": "ServiceUnavailable"}])
        assert a.push(token)[0] == 200  # one retry, then delivered
        assert a.push(device_token(), type="message", app="android")[0] == 200
        before = a.metrics()
        mints = ("pushgate_apns_token_mints_total", (("key", "9ABCDE1234/ABC123DEF4"),))
        fetches = ("pushgate_fcm_token_fetches_total", (("project", "demo-project"),))
        opened = ("pushgate_http2_connections_opened_total", ())
        retries = ("pushgate_provider_retries_total", (("app", "ios"),))
        assert before[mints] == 1 and before[fetches] == 1 and before[retries] == 1, before
        assert before[opened] >= 2, before
        a.stack.pushgate.signal(signal.SIGHUP)
        a.stack.pushgate.wait_log(r"event=reload .*result=applied")
        # /metrics is answered on the loop in a later turn than the reload: the old set, with
        # nothing in flight, is freed by then.
        kept = a.metrics()
        for key in (mints, fetches, opened, retries):
            assert kept[key] == before[key], (key, before[key], kept[key])
        # The new providers sign a new token and fetch a new one, and open new connections.
        assert a.push(device_token())[0] == 200
        assert a.push(device_token(), type="message", app="android")[0] == 200
        after = a.metrics()
        assert after[mints] == 2 and after[fetches] == 2 and after[retries] == 1, after
        assert after[opened] >= before[opened] + 2, (before[opened], after[opened])
        delivered = ("pushgate_pushes_total", (("app", "ios"), ("kind", "voip"), ("outcome", "delivered"), ("service", "apns")))
        assert after[delivered] == 2


def make_client_pki(d, name):
    """A client CA and a client certificate it signed, with openssl."""
    ca, ca_key = f"{d}/{name}-ca.pem", f"{d}/{name}-ca.key"
    cert, key, csr = f"{d}/{name}-client.pem", f"{d}/{name}-client.key", f"{d}/{name}.csr"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", f"/CN={name} client CA"])
    run(["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={name} operator"])
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2"])
    return ca, cert, key


def test_http_api_mutual_tls_refuses_clients_without_a_certificate_from_the_ca():
    import tempfile
    d = tempfile.mkdtemp()
    ca, cert, key = make_client_pki(d, "ops")
    _, other_cert, other_key = make_client_pki(d, "stranger")
    with ApiStack(tls=True, client_ca=ca) as a:
        tls = ["--cacert", a.pki.ca]
        code, body = a.push(device_token(), extra_args=[*tls, "--cert", cert, "--key", key])
        assert code == 200 and json.loads(body) == {"outcome": "delivered"}, body
        code, _ = a.push(device_token(), extra_args=tls)
        assert code == 0, "a client without a certificate got an HTTP answer"
        code, _ = a.push(device_token(), extra_args=[*tls, "--cert", other_cert, "--key", other_key])
        assert code == 0, "a client certificate from another CA got an HTTP answer"
        code, _ = curl(*tls, "--cert", cert, "--key", key, f"{a.base}/health")
        assert code == 200
        code, _ = curl("--cacert", a.pki.ca, f"{a.base}/health")
        assert code == 0
        assert a.apns.stats()["delivered"] == 1


def test_http_api_sighup_serves_a_renewed_certificate_to_new_connections():
    import re
    import signal
    import subprocess
    with ApiStack(tls=True) as a:
        s = a.stack

        def subject():
            out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{a.port}", "-brief", "-CAfile", a.pki.ca],
                                 input="", capture_output=True, text=True, timeout=PATIENCE)
            m = re.search(r"Peer certificate: (.*)", out.stdout + out.stderr)
            assert m, out.stdout + out.stderr
            return m.group(1)

        assert "CN = localhost" in subject()
        cert, key = s.workdir.file("renewed.pem"), s.workdir.file("renewed.key")
        a.pki.issue("renewed.localhost", cert, key)
        s.pushgate.rewrite_config(s.pushgate.config_text().replace(a.pki.cert, cert).replace(a.pki.key, key))
        s.pushgate.signal(signal.SIGHUP)
        s.pushgate.wait_log(r"event=reload .*result=applied")
        assert "CN = renewed.localhost" in subject()
        code, body = a.push(device_token(), extra_args=["--cacert", a.pki.ca])
        assert code == 200 and json.loads(body) == {"outcome": "delivered"}, body


def test_http_api_push_answers_alike_whether_the_loop_or_httplib_reads_it():
    """POST /push is served on the event loop unless httplib must read the request itself (here:
    a query string, which only httplib parses). The answers are the same bytes either way, over
    HTTP/1.1 and HTTP/1.0, and a kept connection carries the next request."""
    import socket

    def exchange(sock, request):
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
        while len(body) < length:
            body += sock.recv(4096)
        return head + b"\r\n\r\n" + body

    def post(body, version=b"HTTP/1.1", target=b"/push"):
        return (b"POST " + target + b" " + version + b"\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Accept-Encoding: identity\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    with ApiStack() as a:
        wrong = json.dumps({"node": device_token(), "secret": "wrong"}).encode()
        good = lambda: json.dumps({"node": device_token(), "secret": a.push_secret, "type": "call"}).encode()  # noqa: E731
        with socket.create_connection(("127.0.0.1", a.port), timeout=PATIENCE) as s:
            on_loop = [exchange(s, post(wrong)), exchange(s, post(good()))]  # one kept connection
        with socket.create_connection(("127.0.0.1", a.port), timeout=PATIENCE) as s:
            via_httplib = [exchange(s, post(wrong, target=b"/push?via=httplib")),
                           exchange(s, post(good(), target=b"/push?via=httplib"))]
        assert on_loop == via_httplib, (on_loop, via_httplib)
        assert on_loop[0].startswith(b"HTTP/1.1 403 Forbidden\r\n") and b'"outcome":"forbidden"' in on_loop[0], on_loop
        assert on_loop[1] == (b'HTTP/1.1 200 OK\r\nContent-Length: 23\r\nContent-Type: application/json\r\n'
                              b'Keep-Alive: timeout=10, max=100000\r\n\r\n{"outcome":"delivered"}'), on_loop
        answers = []
        for target in (b"/push", b"/push?via=httplib"):
            with socket.create_connection(("127.0.0.1", a.port), timeout=PATIENCE) as s:
                answers.append(exchange(s, post(good(), version=b"HTTP/1.0", target=target)))
                assert s.recv(4096) == b"", "an HTTP/1.0 connection without Keep-Alive was kept"
        assert answers[0] == answers[1] and answers[0].startswith(b"HTTP/1.1 200 OK\r\n"), answers
        assert a.metrics()[("pushgate_api_requests_total", (("path", "/push"), ("status", "200")))] == 4
