"""prosody_*_apns : real Prosody → pushgate → the HTTP/2 mock APNs (tests/mocks/apns_mock.js)."""

import re
import time

from harness import (PATIENCE, ApnsMock, Stack, TestPki, apns_app_toml, device_token, free_port, wait_for)


class ApnsStack:
    """Prosody + mock APNs + pushgate whose first app is `ios` (apns); optional log app `demo`."""

    def __init__(self, app_extra="", with_log_app=False, mock=True, max_streams=None, endpoint=None):
        self.stack = Stack(start_pushgate=False)
        s = self.stack
        self.pki = TestPki(s.workdir)
        self.mock = ApnsMock(self.pki, max_streams=max_streams).start() if mock else None
        ep = endpoint or (self.mock.endpoint if self.mock else f"https://127.0.0.1:{free_port()}")
        toml = apns_app_toml("ios", self.pki, ep, "{secret_file}", app_extra)  # filled in by Pushgate
        if with_log_app:
            toml += '[[app]]\nname = "demo"\nservice = "log"\nsecret_file = "{secret_file}"\noutput = "{output}"\n'
        from harness import Pushgate
        s.pushgate = Pushgate(s.workdir, s.prosody, app_toml=toml)
        s.pushgate.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.mock:
            self.mock.stop()
        self.stack.close()


def warm_up(s):
    """One call delivered before the test's own push: the connection to the mock and the
    provider token are set up, so that the first attempt of a push with a short deadline is a
    request and its answer, not a TLS handshake and a signature on a loaded machine."""
    warm = device_token()
    s.enable(warm, type="voip")
    s.message_alice()
    s.pushgate.wait_log(r"event=push app=ios kind=voip token=…%s .*outcome=delivered" % warm[-6:])


def test_prosody_to_apns_voip_alert_background():
    with ApnsStack() as a:
        s = a.stack
        tokens = {"voip": device_token(), "message": device_token(), "background": device_token()}
        for kind, t in tokens.items():
            s.enable(t, type=kind)
        sent_after = int(time.time())
        s.message_alice("hello there")
        s.pushgate.wait_log(r"event=push app=ios .*outcome=delivered", count=3)
        st = a.mock.stats()
        assert st["delivered"] == 3, st
        assert st["by_push_type"] == {"voip": 1, "alert": 1, "background": 1}, st
        assert st["rejected"] == {}, st
        by_token = {r["token"]: r for r in st["recent"]}
        voip = by_token[tokens["voip"]]
        assert voip["headers"]["apns-topic"] == "com.example.chat.voip"
        assert voip["headers"]["apns-priority"] == "10"
        # A call is worth ringing for 30 s: expiration = the time pushgate sent it + 30.
        assert sent_after + 30 <= int(voip["headers"]["apns-expiration"]) <= int(time.time()) + 30, voip
        alert = by_token[tokens["message"]]
        assert '"mutable-content":1' in alert["body"] and alert["headers"]["apns-push-type"] == "alert"
        assert "hello there" not in alert["body"]
        bg = by_token[tokens["background"]]
        assert bg["headers"]["apns-priority"] == "5" and '"content-available":1' in bg["body"]
        wait_for(lambda: len(re.findall(r"Received\[component\]: <iq [^>]*type=.result", s.prosody.log())) >= 3,
                 "three IQ results at Prosody")


def test_prosody_apns_410_is_cancel_item_not_found():
    with ApnsStack() as a:
        s = a.stack
        token = device_token()
        a.mock.script(token, [{"status": 410, "reason": "Unregistered", "timestamp": 1795320000123}])
        s.enable(token, type="voip")
        s.message_alice()
        wait_for(lambda: re.search(r"Got error <cancel:item-not-found:Unregistered", s.prosody.log()),
                 "Prosody logging cancel:item-not-found")
        s.pushgate.wait_log(r"event=push app=ios kind=voip .*outcome=token_dead")


def test_prosody_apns_503_is_wait_after_retries_within_deadline():
    with ApnsStack(app_extra="voip_deadline_ms = 1500") as a:
        s = a.stack
        token = device_token()
        a.mock.script(token, [{"status": 503, "reason": "ServiceUnavailable"}], sticky=True)
        warm_up(s)  # "it was retried" needs the first answer well within the 1.5 s
        s.enable(token, type="voip")
        s.message_alice()
        wait_for(lambda: re.search(r"Got error <wait:internal-server-error:ServiceUnavailable", s.prosody.log()),
                 "Prosody logging a wait error")
        st = a.mock.stats()
        assert st["rejected"].get("ServiceUnavailable", 0) >= 2, st  # it was retried
        # ... within the 1.5 s deadline, counted at the mock rather than timed: the shortest
        # retry delays (50, 100, 200, 400, 800 ms) fit four retries into 1.5 s, never five, however
        # fast the machine; the default voip deadline (5 s) fits at least five on a fast one.
        assert st["rejected"]["ServiceUnavailable"] <= 5, st
        assert "NOT increasing error count" in s.prosody.log()


def test_prosody_apns_one_provider_token_serves_many_pushes():
    with ApnsStack(app_extra="throttle_ms = 0") as a:  # every message its own push
        s = a.stack
        for _ in range(6):
            s.enable(device_token(), type="message")
        for _ in range(3):
            s.message_alice()
        wait_for(lambda: a.mock.stats()["delivered"] >= 18, "18 pushes at the mock")
        assert a.mock.stats()["delivered"] == 18
        st = a.mock.stats()
        assert st["jwt_distinct"] == 1, st
        assert st["connections"] <= 2, st  # never a connection per push


def test_prosody_apns_goaway_mid_load_loses_no_push():
    with ApnsStack() as a:
        s = a.stack
        tokens = [device_token() for _ in range(8)]
        a.mock.script(tokens[3], [{"goaway": True}])
        for t in tokens:
            s.enable(t, type="message")
        s.message_alice()
        try:
            s.pushgate.wait_log(r"event=push app=ios .*outcome=delivered", count=8)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- mock (exit: {a.mock.proc.poll()}) ---\n{a.mock.log()[-3000:]}") from None
        st = a.mock.stats()
        assert st.get("mock_errors", 0) == 0, a.mock.log()[-3000:]
        assert st["goaways"] == 1, st
        assert st["delivered"] == 8, st
        assert st["connections"] >= 2, st  # the refused streams went out on a new connection
        # The reason Apple gives in the GOAWAY's debug data reaches the operator.
        s.pushgate.wait_log(r"event=http2_goaway .*last_stream_id=\d+ .*debug_data=.*Shutdown")


def test_prosody_apns_down_answers_wait_and_other_apps_still_serve():
    with ApnsStack(app_extra="voip_deadline_ms = 1000", with_log_app=True, mock=False) as a:
        s = a.stack
        s.enable(device_token(), type="voip")
        demo = device_token()
        s.enable(demo, app="demo", type="message")
        s.message_alice()
        rec = s.pushgate.wait_records(1)[0]
        assert rec["app"] == "demo" and rec["token"] == "…" + demo[-6:]
        wait_for(lambda: re.search(r"Got error <wait:internal-server-error:connect: .*\(deadline passed after \d+ attempts\)",
                                   s.prosody.log()), "Prosody logging a wait error for the unreachable APNs")


def test_prosody_apns_wrong_key_is_operator_error_never_cancel():
    import types
    from harness import run
    with ApnsStack() as a:
        s = a.stack
        # The mock now checks signatures against another team key: pushgate's token is invalid.
        port = a.mock.port
        a.mock.stop()
        other_pub = s.workdir.file("other_pub.pem")
        other_key = s.workdir.file("other.p8")
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", other_key])
        run(["openssl", "pkey", "-in", other_key, "-pubout", "-out", other_pub])
        pki = types.SimpleNamespace(cert=a.pki.cert, key=a.pki.key, p8_pub=other_pub)
        a.mock = ApnsMock(pki, port=port).start()
        s.enable(device_token(), type="message")
        s.message_alice()
        wait_for(lambda: re.search(r"Got error <wait:internal-server-error:InvalidProviderToken", s.prosody.log()),
                 "a wait error for InvalidProviderToken")
        s.pushgate.wait_log(r"event=apns_operator_error app=ios reason=InvalidProviderToken")
        assert "cancel" not in re.findall(r"Got error <(\w+):", s.prosody.log())


def test_prosody_apns_max_concurrent_streams_1_still_delivers_everything():
    with ApnsStack(max_streams=1) as a:
        s = a.stack
        for _ in range(6):
            s.enable(device_token(), type="message")
        s.message_alice()
        s.pushgate.wait_log(r"event=push app=ios .*outcome=delivered", count=6)
        st = a.mock.stats()
        assert st["delivered"] == 6 and st["rejected"] == {}, st
        # Streams sent before the server's SETTINGS arrive are refused (REFUSED_STREAM) and
        # libcurl retries each on a fresh connection; never more than max_connections at once.
        assert st["max_sessions_open"] <= 2, st
        # Slow start keeps almost every stream within the limit (6 pushes took 6 connections
        # without it); a new connection can still race its own SETTINGS once.
        assert st["connections"] <= 3, st


def test_prosody_apns_slow_answer_does_not_hold_other_pushes():
    # The slow answer is held by the mock until the fast push has been delivered: a fast push
    # that waited for the slow one would never be. (The voip deadline, which would cut the held
    # request off, is out of the way.)
    with ApnsStack(app_extra="voip_deadline_ms = 600000") as a:
        s = a.stack
        slow, fast = device_token(), device_token()
        a.mock.script(slow, [{"hold": True}])
        s.enable(slow, type="voip")
        s.enable(fast, type="voip")
        s.message_alice()
        s.pushgate.wait_log(r"event=push app=ios kind=voip token=…%s .*outcome=delivered" % fast[-6:])
        assert a.mock.stats()["held"] == 1, a.mock.stats()  # the slow push is still waiting for its answer
        assert not re.search(r"event=push app=ios kind=voip token=…%s " % slow[-6:], s.pushgate.log())
        assert a.mock.release(slow)["released"] == 1
        s.pushgate.wait_log(r"event=push app=ios kind=voip token=…%s .*outcome=delivered" % slow[-6:])


def test_prosody_apns_expired_provider_token_younger_than_20_min_is_not_reminted():
    with ApnsStack(app_extra="deadline_ms = 1500") as a:
        s = a.stack
        token = device_token()
        a.mock.script(token, [{"status": 403, "reason": "ExpiredProviderToken"}], sticky=True)
        warm_up(s)  # "it was retried" needs the first answer well within the 1.5 s
        s.enable(token, type="message")
        s.message_alice()
        wait_for(lambda: re.search(r"Got error <wait:internal-server-error:ExpiredProviderToken", s.prosody.log()),
                 "a wait error after ExpiredProviderToken")
        st = a.mock.stats()
        assert st["jwt_distinct"] == 1, st  # a 1-second-old token is not re-minted (TooManyProviderTokenUpdates)
        assert st["rejected"]["ExpiredProviderToken"] >= 2, st


def test_prosody_apns_connection_outlives_a_lull():
    with ApnsStack() as a:
        s = a.stack
        s.enable(device_token(), type="voip")
        s.message_alice()
        s.pushgate.wait_log(r"event=push app=ios .*outcome=delivered")
        time.sleep(3)  # no transfer in flight: libcurl must not drop the idle connection
        s.message_alice()
        s.pushgate.wait_log(r"event=push app=ios .*outcome=delivered", count=2)
        st = a.mock.stats()
        assert st["delivered"] == 2 and st["connections"] == 1, st


def test_prosody_apns_device_token_not_for_topic_is_wait_and_keeps_the_registration():
    """A live token for another topic (a token of another app, say) is our routing, not a
    dead device: Prosody hears wait, the registration stays in the store and in Prosody, and
    the log names app, topic and kind. (A call to a registered device without a PushKit token
    goes out as a high-priority alert on the app's own topic, never to `.voip`.)"""
    import subprocess
    from harness import PUSHGATE
    from test_registrations import apns_registration_stack, command
    with apns_registration_stack() as (s, mock):
        token = device_token()
        status, form = s.as_alice(command(s.prosody.component_jid, "register-push-apns",
                                          {"token": token, "device-id": "iphone"}))
        assert status == "completed", form
        mock.script(token, [{"status": 400, "reason": "DeviceTokenNotForTopic"}])
        s.enable(form["node"], secret=form["secret"], type="voip")
        s.message_alice()
        s.prosody.wait_log(r"Got error <wait:internal-server-error:DeviceTokenNotForTopic> for identifier [^\n]*"
                           r"NOT increasing error count")
        s.pushgate.wait_log(r"level=error event=apns_operator_error app=ios reason=DeviceTokenNotForTopic "
                            r"topic=com\.example\.chat kind=alert token=…%s " % token[-6:])
        s.pushgate.wait_log(r"event=push app=ios kind=alert .*outcome=operator_error")
        assert "registration_removed" not in s.pushgate.log()
        out = subprocess.run([PUSHGATE, "registrations", "--config", s.pushgate.config], capture_output=True,
                             text=True, timeout=PATIENCE)
        assert out.returncode == 0 and out.stdout.startswith("1 registration\n"), (out.stdout, out.stderr)
        # The next push goes to the same token: the registration survived on both sides.
        s.message_alice()
        wait_for(lambda: mock.stats()["delivered"] >= 1, "the next push delivered to the same token")
        assert mock.stats()["recent"][-1]["token"] == token
        assert "<cancel:" not in s.prosody.log() and "Disabling push notifications" not in s.prosody.log()
