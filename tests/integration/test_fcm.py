"""prosody_*_fcm : real Prosody → pushgate → the HTTP/2 mock FCM (tests/mocks/fcm_mock.js)."""

import re
import time

from harness import (PATIENCE, ApnsMock, FcmMock, Pushgate, Stack, TestPki, apns_app_toml, device_token, fcm_app_toml,
                     make_service_account_key, run, wait_for, write_service_account)


class FcmStack:
    """Prosody + mock FCM + pushgate whose first app is `android` (fcm); optional apns app `ios`."""

    def __init__(self, app_extra="", token_ttl=3600, with_apns=False, sa_key=None):
        self.stack = Stack(start_pushgate=False)
        s = self.stack
        self.pki = TestPki(s.workdir)
        make_service_account_key(self.pki)
        self.mock = FcmMock(self.pki, token_ttl=token_ttl).start()
        sa = write_service_account(self.pki, f"{self.mock.endpoint}/token", key=sa_key)
        toml = fcm_app_toml("android", self.pki, self.mock.endpoint, sa, "{secret_file}", app_extra)
        self.apns = None
        if with_apns:
            self.apns = ApnsMock(self.pki).start()
            toml += apns_app_toml("ios", self.pki, self.apns.endpoint, "{secret_file}")
        s.pushgate = Pushgate(s.workdir, s.prosody, app_toml=toml)
        s.pushgate.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.mock.stop()
        if self.apns:
            self.apns.stop()
        self.stack.close()


def prosody_errors(s, pattern):
    return re.findall(pattern, s.prosody.log())


def test_prosody_to_fcm_call_and_message():
    with FcmStack() as f:
        s = f.stack
        call, message = device_token(), device_token()
        s.enable(call, type="call")
        s.enable(message, type="message")
        s.message_alice("hello there")
        s.pushgate.wait_log(r"event=push app=android .*outcome=delivered", count=2)
        st = f.mock.stats()
        assert st["delivered"] == 2 and st["rejected"] == {}, st
        by_token = {m["token"]: m for m in st["recent"]}
        c = by_token[call]
        assert c["data"]["type"] == "call" and c["android"] == {"priority": "HIGH", "ttl": "30s"}, c
        m = by_token[message]
        assert m["data"]["type"] == "message" and m["data"]["message-count"] == "1", m
        assert m["android"]["priority"] == "HIGH", m  # Prosody sent a body: an important message
        assert "hello there" not in str(st["recent"]), "message text left the server"
        assert st["tokens_issued"] == 1, st
        wait_for(lambda: len(prosody_errors(s, r"Received\[component\]: <iq [^>]*type=.result")) >= 2,
                 "two IQ results at Prosody")


def test_prosody_fcm_unregistered_is_cancel_item_not_found():
    with FcmStack() as f:
        s = f.stack
        token = device_token()
        f.mock.script(token, [{"error": "UNREGISTERED"}])
        s.enable(token, type="message")
        s.message_alice()
        wait_for(lambda: prosody_errors(s, r"Got error <cancel:item-not-found:UNREGISTERED"),
                 "Prosody logging cancel:item-not-found")
        s.pushgate.wait_log(r"event=push app=android kind=alert .*outcome=token_dead")


def test_prosody_fcm_quota_exceeded_once_is_retried_after_retry_after_and_delivered():
    with FcmStack() as f:
        s = f.stack
        token = device_token()
        f.mock.script(token, [{"error": "QUOTA_EXCEEDED", "retry_after": 1}])
        s.enable(token, type="message")
        start = time.time()
        s.message_alice()
        s.pushgate.wait_log(r"event=push app=android .*outcome=delivered")
        assert time.time() - start >= 1.0, "Retry-After: 1 was not honoured"
        st = f.mock.stats()
        assert st["rejected"] == {"QUOTA_EXCEEDED": 1} and st["delivered"] == 1, st
        assert not prosody_errors(s, r"Got error"), "Prosody saw an error for a push that was delivered"


def test_prosody_fcm_access_token_fetched_once_and_again_after_expiry_or_401():
    # The first token lives an hour, so that however long the first pushes take they share it;
    # the test shortens the lifetime of the next ones itself.
    with FcmStack(app_extra="throttle_ms = 0") as f:  # every message its own push
        s = f.stack
        for _ in range(4):
            s.enable(device_token(), type="message")
        s.message_alice()
        s.message_alice()
        wait_for(lambda: f.mock.stats()["delivered"] >= 8, "8 pushes at the mock")
        assert f.mock.stats()["tokens_issued"] == 1
        f.mock.token_endpoint(ttl=3)  # tokens issued from now on live 3 s
        f.mock.expire_tokens()  # revoked early: FCM answers 401, pushgate fetches anew and retries once
        s.message_alice()
        wait_for(lambda: f.mock.stats()["delivered"] >= 12, "12 pushes at the mock")
        st = f.mock.stats()
        assert st["tokens_issued"] == 2 and st["unauthenticated"] >= 1, st
        unauthenticated = st["unauthenticated"]
        time.sleep(3.2)  # the 3 s token has run out: pushgate must fetch a new one first
        s.message_alice()
        wait_for(lambda: f.mock.stats()["delivered"] >= 16, "16 pushes at the mock")
        st = f.mock.stats()
        # A new token, fetched because pushgate knew the old one had expired, not after a 401.
        assert st["tokens_issued"] == 3 and st["unauthenticated"] == unauthenticated, st
        assert not prosody_errors(s, r"Got error"), "a refreshed token still cost a push"


def test_prosody_fcm_token_endpoint_down_is_wait_and_apns_unaffected():
    with FcmStack(with_apns=True, app_extra="deadline_ms = 2500") as f:
        s = f.stack
        f.mock.token_endpoint(down=True)
        android, ios = device_token(), device_token()
        s.enable(android, type="message")
        s.enable(ios, app="ios", type="message")
        s.message_alice()
        s.pushgate.wait_log(r"event=push app=ios .*outcome=delivered")
        wait_for(lambda: prosody_errors(s, r"Got error <wait:internal-server-error:token endpoint failed: HTTP 503"),
                 "Prosody logging a wait error for the FCM push")
        assert f.apns.stats()["delivered"] == 1
        # Slow instead of down (the mock holds its answer until told): APNs pushes still go at
        # once. The APNs push is delivered while FCM's token request is unanswered; one that
        # waited for the token would never be.
        f.mock.token_endpoint(down=False, hold=True)
        time.sleep(1.2)  # past the failure cool-down
        before = f.mock.stats()
        s.message_alice()
        wait_for(lambda: f.mock.stats()["token_requests"] > before["token_requests"], "the FCM push asking for a token")
        wait_for(lambda: f.apns.stats()["delivered"] >= 2, "the second APNs push")
        assert f.mock.stats()["tokens_issued"] == before["tokens_issued"], f.mock.stats()  # the request is still held
        f.mock.token_endpoint(hold=False)


def test_prosody_fcm_refused_service_account_is_operator_error_never_cancel():
    with TestPkiKey() as wrong_key:
        with FcmStack(sa_key=wrong_key.path) as f:
            s = f.stack
            s.enable(device_token(), type="call")
            s.message_alice()
            wait_for(lambda: prosody_errors(s, r"Got error <wait:internal-server-error:token endpoint refused the "
                                               r"service account: HTTP 400 invalid_grant"),
                     "Prosody logging a wait error")
            assert not prosody_errors(s, r"Got error <cancel"), "an operator mistake became cancel"
            s.pushgate.wait_log(r"level=error event=fcm_token_failed .*invalid_grant")


class TestPkiKey:
    """An RSA key the mock does not know: a service account Google would refuse."""

    def __enter__(self):
        import tempfile
        self.dir = tempfile.mkdtemp()
        self.path = self.dir + "/other.key"
        run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.path])
        return self

    def __exit__(self, *exc):
        import shutil
        shutil.rmtree(self.dir)


def test_prosody_fcm_sender_id_mismatch_is_wait_and_keeps_the_registration():
    """SENDER_ID_MISMATCH: the token belongs to another Firebase project, so our project is the
    wrong one for it (a routing or configuration mistake), not a dead device: Prosody hears
    wait, the registration stays, and the log names app, project and kind."""
    import subprocess
    from harness import PUSHGATE
    from test_registrations import command
    s = Stack(start_pushgate=False)
    mock = None
    try:
        pki = TestPki(s.workdir)
        make_service_account_key(pki)
        mock = FcmMock(pki).start()
        sa = write_service_account(pki, f"{mock.endpoint}/token")
        s.pushgate = Pushgate(s.workdir, s.prosody, app_toml=fcm_app_toml("android", pki, mock.endpoint, sa, "{secret_file}",
                                                                       "throttle_ms = 0"),
                              extra=f'\n[store]\npath = "{s.workdir.file("pushgate.db")}"\n')
        s.pushgate.start()
        token = device_token()
        status, form = s.as_alice(command(s.prosody.component_jid, "register-push-fcm",
                                          {"token": token, "android-id": "a1b2c3d4e5f60718"}))
        assert status == "completed", form
        mock.script(token, [{"error": "SENDER_ID_MISMATCH"}])
        s.enable(form["node"], secret=form["secret"])
        s.message_alice()
        s.prosody.wait_log(r"Got error <wait:internal-server-error:SENDER_ID_MISMATCH: SenderId mismatch> for "
                           r"identifier [^\n]*NOT increasing error count")
        s.pushgate.wait_log(r'level=error event=fcm_operator_error app=android reason="SENDER_ID_MISMATCH: SenderId '
                            r'mismatch" project=demo-project kind=alert token=…%s ' % token[-6:])
        assert "registration_removed" not in s.pushgate.log()
        out = subprocess.run([PUSHGATE, "registrations", "--config", s.pushgate.config], capture_output=True,
                             text=True, timeout=PATIENCE)
        assert out.returncode == 0 and out.stdout.startswith("1 registration\n"), (out.stdout, out.stderr)
        s.message_alice()
        wait_for(lambda: mock.stats()["delivered"] >= 1, "the next push delivered to the same token")
        assert mock.stats()["recent"][-1]["token"] == token
        assert not prosody_errors(s, r"Got error <cancel"), "a routing mistake became cancel"
    finally:
        if mock:
            mock.stop()
        s.close()
