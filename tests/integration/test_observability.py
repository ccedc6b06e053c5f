"""observability_* : the operator's kit in deploy/ checked against real tools. promtool (Debian's
prometheus package) checks and unit-tests the alert rules; Debian's Prometheus, started on
loopback, scrapes a real pushgate that has pushed through the mock APNs and FCM, registered a
device and served an old TLS client, and then every query of the Grafana dashboard returns
data, and no alert rule's expression matches anything on that healthy pushgate."""

import json
import math
import os
import re
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request

from harness import (PATIENCE, ROOT, ApnsMock, FcmMock, Pushgate, Stack, TestPki, apns_app_toml, device_token,
                     fcm_app_toml, free_port, make_service_account_key, spawn, terminate, wait_for,
                     write_service_account)
from test_http_api import curl
from test_registrations import command

RULES = os.path.join(ROOT, "deploy", "prometheus", "pushgate-alerts.yml")
RULE_TESTS = os.path.join(ROOT, "deploy", "prometheus", "pushgate-alerts.test.yml")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "pushgate.json")

# What Grafana puts in for the dashboard's variables: every job, instance and app ("All").
VARIABLES = {"job": ".*", "instance": ".*", "app": ".*", "__rate_interval": "1m", "__interval": "15s",
             "__range": "5m", "datasource": "prometheus"}


def tool(name):
    path = shutil.which(name)
    assert path, f"{name} is not installed: Debian's prometheus package provides it (deploy/install-deps.sh)"
    return path


def test_observability_alert_rules_check_and_unit_tests():
    out = subprocess.run([tool("promtool"), "check", "rules", RULES], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout, out.stdout
    # The test file names the rules relative to itself.
    out = subprocess.run([tool("promtool"), "test", "rules", os.path.basename(RULE_TESTS)], capture_output=True,
                         text=True, timeout=120, cwd=os.path.dirname(RULE_TESTS))
    assert out.returncode == 0, out.stdout + out.stderr
    # Every alert has a test that fires it (an exp_alerts entry with labels).
    with open(RULES) as f:
        alerts = set(re.findall(r"^\s*- alert: (\w+)", f.read(), re.M))
    with open(RULE_TESTS) as f:
        tests = f.read()
    fired = set(re.findall(r"alertname: (\w+)\n\s*exp_alerts:\n\s*- exp_labels", tests))
    assert alerts and alerts == fired, f"alerts without a firing test: {sorted(alerts - fired)}"


def substitute(expr):
    def var(m):
        name = m.group(1) or m.group(2)
        assert name in VARIABLES, f"the dashboard uses ${name}, which this test does not know: {expr}"
        return VARIABLES[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", var, expr)


def dashboard_queries():
    """(panel title, expr) of every target of every panel, rows included."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((p["title"], t["expr"]))
            walk(p.get("panels", []))
    walk(dash["panels"])
    return dash, out


class Prometheus:
    """Debian's prometheus on loopback, scraping pushgate every second, with the alert rules."""

    def __init__(self, workdir, target):
        self.dir = workdir.file("prometheus")
        os.makedirs(os.path.join(self.dir, "data"))
        self.port = free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {RULES}\n"
                    f"scrape_configs:\n  - job_name: pushgate\n    static_configs:\n      - targets: ['{target}']\n")
        self.log_path = os.path.join(self.dir, "prometheus.log")
        with open(self.log_path, "w") as log:
            self.proc = spawn([tool("prometheus"), f"--config.file={config}",
                               f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
                               f"--web.listen-address=127.0.0.1:{self.port}"], "prometheus",
                              stdout=log, stderr=log)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def get(self, path, **params):
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=PATIENCE) as r:
            return json.loads(r.read())

    def query(self, expr):
        """The instant vector `expr` evaluates to now: [(labels, value)]."""
        j = self.get("/api/v1/query", query=expr)
        assert j["status"] == "success", j
        assert j["data"]["resultType"] in ("vector", "scalar"), j
        if j["data"]["resultType"] == "scalar":
            return [({}, float(j["data"]["result"][1]))]
        return [(r["metric"], float(r["value"][1])) for r in j["data"]["result"]]

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def value(self, expr):
        r = self.query(expr)
        return r[0][1] if r else None

    def stop(self):
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None


def broken_legacy_client(port):
    """An old client that sends broken XML: the listener answers not-well-formed and closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as s:
        s.sendall(b"<stream:stream xmlns='jabber:client' <<<")
        while s.recv(4096):
            pass


def test_observability_dashboard_queries_return_data_from_a_real_prometheus():
    dash, queries = dashboard_queries()
    assert len(queries) >= 20, queries
    s = Stack(start_pushgate=False)
    apns = fcm = prom = None
    try:
        pki = TestPki(s.workdir)
        apns = ApnsMock(pki).start()
        make_service_account_key(pki)
        fcm = FcmMock(pki).start()
        sa = write_service_account(pki, f"{fcm.endpoint}/token")
        toml = (apns_app_toml("ios", pki, apns.endpoint, "{secret_file}")
                + fcm_app_toml("android", pki, fcm.endpoint, sa, "{secret_file}"))
        push_secret_file = s.workdir.file("push.secret")
        Pushgate._secret_file(push_secret_file, "observability-push-secret")
        api_port, legacy_port = free_port(), free_port()
        # A certificate with months left, as in production: the test PKI's own 2-day ones would
        # (rightly) fire PushgateCertificateExpiringSoon on this otherwise healthy pushgate.
        legacy_cert, legacy_key = s.workdir.file("legacy.pem"), s.workdir.file("legacy.key")
        pki.issue("localhost", legacy_cert, legacy_key, days=90)
        extra = (f'\n[http]\nlisten = "127.0.0.1:{api_port}"\npush_secret_file = "{push_secret_file}"\n'
                 f'\n[store]\npath = "{s.workdir.file("pushgate.db")}"\n'
                 f'\n[legacy_tls]\nlisten = "127.0.0.1:{legacy_port}"\nbackend = "127.0.0.1:{s.prosody.c2s_port}"\n'
                 f'backend_mode = "plain"\ncert_file = "{legacy_cert}"\nkey_file = "{legacy_key}"\n')
        s.pushgate = Pushgate(s.workdir, s.prosody, app_toml=toml, extra=extra)
        s.pushgate.start()
        s.pushgate.wait_log(r"event=api_listening")
        s.pushgate.wait_log(r"event=legacy_tls_listening")

        prom = Prometheus(s.workdir, f"127.0.0.1:{api_port}")
        wait_for(prom.ready, "Prometheus ready")
        # Scraped at least once before anything happens, so every rate() below sees the change.
        wait_for(lambda: prom.value('up{job="pushgate"}') == 1, "Prometheus scraping pushgate (up == 1)")

        # A registration and an unregistration through the ad-hoc commands (the store's ops).
        status, form = s.as_alice(command(s.prosody.component_jid, "register-push-apns",
                                          {"token": device_token(), "device-id": "iphone"}))
        assert status == "completed", form
        status, _ = s.as_alice(command(s.prosody.component_jid, "unregister-push-apns", {"device-id": "iphone"}))
        assert status == "completed"

        # Pushes through POST /push: delivered by both mocks, and one token APNs calls dead.
        def push(node, app):
            body = {"node": node, "secret": "observability-push-secret", "type": "call", "app": app}
            return curl("-X", "POST", f"http://127.0.0.1:{api_port}/push", "-H", "Content-Type: application/json",
                        "-d", json.dumps(body))
        for app in ("ios", "ios", "ios", "android", "android"):
            code, body = push(device_token(), app)
            assert code == 200, (code, body)
        dead = device_token()
        apns.script(dead, [{"status": 410, "reason": "Unregistered", "timestamp": 1795320000123}])
        code, body = push(dead, "ios")
        assert json.loads(body).get("outcome") == "token_dead", (code, body)
        broken_legacy_client(legacy_port)

        # Prometheus has scraped all of it.
        wait_for(lambda: (prom.value('sum(pushgate_pushes_total{outcome="delivered"})') or 0) >= 5
                 and (prom.value('sum(pushgate_pushes_total{outcome="token_dead"})') or 0) >= 1
                 and (prom.value('sum(pushgate_store_seconds_count{op="unregister"})') or 0) >= 1
                 and (prom.value('sum(pushgate_legacy_errors_total{cause="not-well-formed"})') or 0) >= 1,
                 "Prometheus scraping the pushes, the registration and the legacy client")

        # Every query of every panel returns data, and a number somewhere (not only NaN). A
        # series born with its first request (the API's per-path counters, the store's per-op
        # histograms) has a rate() from its second scrape on: wait for that scrape.
        empty = []

        def all_have_data():
            empty[:] = []
            for title, expr in queries:
                result = prom.query(substitute(expr))
                if not result or all(math.isnan(v) for _, v in result):
                    empty.append(f"{title}: {expr} -> {result}")
            return not empty
        try:
            wait_for(all_have_data, "every dashboard query returning data")
        except TimeoutError:
            raise AssertionError("dashboard queries without data:\n" + "\n".join(empty)) from None

        # The variables' label_values() find their labels.
        for var in dash["templating"]["list"]:
            if var["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["definition"])
            assert m, var["definition"]
            result = prom.query(substitute(m.group(1)))
            assert any(m.group(2) in labels for labels, _ in result), (var["definition"], result)

        # Some answers the panels must show: pushes by outcome and app, latency, the role.
        by_outcome = {l["outcome"]: v for l, v in prom.query('sum by (outcome) (pushgate_pushes_total)')}
        assert by_outcome["delivered"] >= 5 and by_outcome["token_dead"] >= 1, by_outcome
        by_app = {l["app"]: v for l, v in prom.query('sum by (app) (pushgate_pushes_total)')}
        assert by_app["ios"] >= 4 and by_app["android"] >= 2, by_app
        assert prom.value('pushgate_component_role{role="active"}') == 1
        # The expiry panel: the legacy listener's certificate, and a token for each app that pushed.
        assert prom.value('pushgate_certificate_expiry_timestamp_seconds{use="legacy_tls"} - time()') > 89 * 86400
        tokens = {l["app"]: v for l, v in prom.query('pushgate_provider_token_expiry_timestamp_seconds - time()')}
        assert set(tokens) == {"ios", "android"} and all(3000 < v <= 3600 for v in tokens.values()), tokens
        p99 = prom.query('histogram_quantile(0.99, sum by (le) (rate(pushgate_provider_latency_seconds_bucket[1m])))')
        assert p99 and 0 < p99[0][1] < 30, p99

        # The alert rules load in a real Prometheus, evaluate without error, and none of their
        # expressions matches anything on this healthy pushgate.
        def rules_evaluated():
            groups = prom.get("/api/v1/rules")["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return rules if rules and all(not r["lastEvaluation"].startswith("0001") for r in rules) else None
        rules = wait_for(rules_evaluated, "Prometheus evaluating the alert rules")
        assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
        with open(RULES) as f:
            assert len(rules) == len(re.findall(r"^\s*- alert: ", f.read(), re.M)), [r["name"] for r in rules]
        matching = [(r["name"], prom.query(r["query"])) for r in rules]
        assert all(not result for _, result in matching), [m for m in matching if m[1]]
    finally:
        try:
            if prom:
                prom.stop()
            if apns:
                apns.stop()
            if fcm:
                fcm.stop()
        finally:
            s.close()
