"""expiry_* : the expiry families of /metrics on a real pushgate. The certificate series equal
the notAfter openssl reads from the certificates the test issued, and move to the renewed ones
only once SIGHUP has loaded them; a provider token's expiry appears with the first push through
the mock APNs and FCM, and pushes that find no usable token are counted."""

import calendar
import signal
import subprocess
import time

from prometheus_client.parser import text_string_to_metric_families

from harness import Pushgate, Stack, TestPki, device_token, free_port, wait_for
from test_http_api import ApiStack, curl

CERT = "pushgate_certificate_expiry_timestamp_seconds"
TOKEN = "pushgate_provider_token_expiry_timestamp_seconds"
FAILURES = "pushgate_provider_token_failures_total"


def not_after(cert_path):
    """The certificate's notAfter as epoch seconds, as `openssl x509 -enddate` prints it."""
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", cert_path], capture_output=True, text=True,
                         check=True, timeout=30).stdout.strip()
    assert out.startswith("notAfter="), out
    return calendar.timegm(time.strptime(out[len("notAfter="):], "%b %d %H:%M:%S %Y %Z"))


def samples(text, name):
    """{frozenset(labels): value} of the samples called `name` in a /metrics answer."""
    return {frozenset(s.labels.items()): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples if s.name == name}


def test_expiry_certificates_are_the_loaded_ones_and_follow_a_renewal_after_sighup():
    s = Stack(start_pushgate=False)
    try:
        pki = TestPki(s.workdir)
        api_cert, api_key = s.workdir.file("api.pem"), s.workdir.file("api.key")
        legacy_cert, legacy_key = s.workdir.file("legacy.pem"), s.workdir.file("legacy.key")
        pki.issue("api", api_cert, api_key, days=30)
        pki.issue("legacy", legacy_cert, legacy_key, days=60)
        api_port = free_port()
        extra = (f'\n[http]\nlisten = "127.0.0.1:{api_port}"\ntls_cert = "{api_cert}"\ntls_key = "{api_key}"\n'
                 f'\n[legacy_tls]\nlisten = "127.0.0.1:{free_port()}"\nbackend = "127.0.0.1:{s.prosody.c2s_port}"\n'
                 f'backend_mode = "plain"\ncert_file = "{legacy_cert}"\nkey_file = "{legacy_key}"\n')
        s.pushgate = Pushgate(s.workdir, s.prosody, extra=extra)
        s.pushgate.start(wait_connected=False)
        s.pushgate.wait_log(r"event=api_listening")
        s.pushgate.wait_log(r"event=legacy_tls_listening")

        def certificates():
            code, body = curl("--cacert", pki.ca, f"https://127.0.0.1:{api_port}/metrics")
            assert code == 200, body
            return {dict(labels)["use"]: v for labels, v in samples(body, CERT).items()}

        first = {"http": not_after(api_cert), "legacy_tls": not_after(legacy_cert)}
        assert first["legacy_tls"] - first["http"] > 29 * 86400, first  # two certificates, told apart
        assert certificates() == first

        # Renewed on disk: the metric stays with the certificate in use until the reload.
        pki.issue("api", api_cert, api_key, days=90)
        pki.issue("legacy", legacy_cert, legacy_key, days=120)
        renewed = {"http": not_after(api_cert), "legacy_tls": not_after(legacy_cert)}
        assert renewed["http"] > first["http"] + 59 * 86400 and renewed["legacy_tls"] > first["legacy_tls"] + 59 * 86400
        assert certificates() == first
        s.pushgate.signal(signal.SIGHUP)
        s.pushgate.wait_log(r"event=reload .*result=applied")
        wait_for(lambda: certificates() == renewed, f"/metrics reporting the renewed certificates {renewed}")
    finally:
        s.close()


def test_expiry_provider_tokens_appear_with_the_first_push_and_failures_are_counted():
    # A short deadline: the push that finds no token retries until it passes.
    with ApiStack(with_fcm=True, app_extra="deadline_ms = 3000") as a:
        def metrics():
            code, body = curl(f"{a.base}/metrics")
            assert code == 200, body
            return body

        # No push yet: no token, so no expiry series at all, and no failure.
        body = metrics()
        assert samples(body, TOKEN) == {}, samples(body, TOKEN)
        assert set(samples(body, FAILURES).values()) == {0}, samples(body, FAILURES)
        ios = frozenset({("app", "ios"), ("service", "apns")})
        android = frozenset({("app", "android"), ("service", "fcm")})

        before = int(time.time())
        assert a.push(device_token())[0] == 200
        assert a.push(device_token(), type="message", app="android")[0] == 200
        after = int(time.time()) + 1
        tokens = samples(metrics(), TOKEN)
        # APNs: issued_at + 3600; FCM: the mock's expires_in (3600) from the fetch.
        assert before + 3600 <= tokens[ios] <= after + 3600, (before, tokens)
        assert before + 3600 <= tokens[android] <= after + 3600, (before, tokens)

        # APNs refuses the provider token: counted for ios.
        refused = device_token()
        a.apns.script(refused, [{"status": 403, "reason": "InvalidProviderToken"}])
        code, _ = a.push(refused)
        assert code != 200
        # FCM's access tokens are revoked and the token endpoint is down: android's pushes find
        # no token; the one it held is dropped from the metric.
        a.fcm.expire_tokens()
        a.fcm.token_endpoint(down=True)
        code, _ = a.push(device_token(), type="message", app="android")
        assert code != 200
        body = metrics()
        failures = samples(body, FAILURES)
        assert failures[ios] == 1 and failures[android] >= 1, failures
        assert android not in samples(body, TOKEN) and ios in samples(body, TOKEN), samples(body, TOKEN)
