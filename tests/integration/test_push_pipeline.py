"""prosody_* : the push pipeline end to end, with Debian's Prosody and mod_cloud_notify,
slixmpp clients, and pushgate's `log` provider."""

import re
import time

from harness import PATIENCE, Stack, device_token, wait_for


def _results_for_pushes(prosody_log):
    return re.findall(r"Received\[component\]: <iq [^>]*type='result'[^>]*>", prosody_log)


def test_prosody_publish_to_log_voip():
    with Stack() as s:
        token = device_token()
        s.enable(token, type="voip")
        s.message_alice("ring ring")
        rec = s.pushgate.wait_records(1)[0]
        assert rec["kind"] == "voip", rec
        assert rec["app"] == "demo"
        assert rec["token"] == "…" + token[-6:]
        assert rec["sent"] is False
        assert rec["priority"] == "high" and rec["ttl"] == 30
        assert rec["data"]["type"] == "call"
        assert rec["from"] == "localhost"
        # Prosody's privacy settings from the snippet: no body, no sender in the payload.
        assert "ring ring" not in str(rec)
        s.pushgate.wait_log(r"event=push app=demo kind=voip token=…%s from=localhost outcome=delivered" % token[-6:])
        wait_for(lambda: _results_for_pushes(s.prosody.log()), "Prosody receiving the IQ result")
        # The full token and the secrets never reach pushgate's log or the record.
        log = s.pushgate.log()
        for secret in (token, s.pushgate.app_secret, s.prosody.component_secret):
            assert secret not in log
            assert secret not in str(s.pushgate.records())


def test_prosody_wrong_secret_is_auth_forbidden():
    with Stack() as s:
        token = device_token()
        s.enable(token, secret="not-the-secret", type="message")
        s.message_alice()
        s.pushgate.wait_log(r"event=push .*outcome=forbidden reason=\"wrong secret\"")
        wait_for(lambda: re.search(r"Got error <auth:forbidden:wrong secret>", s.prosody.log()),
                 "Prosody logging auth:forbidden")
        assert s.pushgate.records() == []
        assert "not-the-secret" not in s.pushgate.log()


def test_prosody_missing_secret_is_forbidden():
    with Stack() as s:
        s.as_alice(__import__("harness").enable_push(s.prosody.component_jid, device_token(), {"type": "voip"}))
        s.message_alice()
        wait_for(lambda: "Got error <auth:forbidden:publish-options carry no secret>" in s.prosody.log(),
                 "auth:forbidden for a publish without secret")


def test_prosody_several_nodes_one_push_each():
    with Stack() as s:
        tokens = [device_token(), device_token()]
        for t in tokens:
            s.enable(t, type="message")
        s.message_alice()
        s.pushgate.wait_records(2)
        # Prosody has both answers: every publish it made was pushed, and only those.
        wait_for(lambda: len(re.findall(r"Received\[component\]: <iq [^>]*type=.result", s.prosody.log())) >= 2,
                 "2 IQ results at Prosody")
        recs = s.pushgate.records()
        assert len(recs) == 2, recs
        assert sorted(r["token"] for r in recs) == sorted("…" + t[-6:] for t in tokens)
        assert all(r["kind"] == "alert" for r in recs)


def test_prosody_push_types_and_app_selection():
    import os
    from harness import Pushgate  # noqa: F401 - documents where apps come from
    with Stack(start_pushgate=False) as s:
        # Two apps; fpush's pushModule selects the second, whose secret differs.
        second = s.workdir.file("android.secret")
        Pushgate._secret_file(second, "android-secret-value")
        first = s.workdir.file("app.secret")
        s.pushgate = Pushgate(s.workdir, s.prosody, app_secret=None, apps=None)
        s.pushgate.__init__(s.workdir, s.prosody, apps=[("ios", first), ("android", second)])
        s.pushgate.start()
        t1, t2, t3 = device_token(), device_token(), device_token()
        s.enable(t1, type="background")
        s.enable(t2, pushModule="android", secret="android-secret-value", type="call")
        s.enable(t3, app="android", secret="android-secret-value")  # no type: message
        s.message_alice()
        s.pushgate.wait_records(3)
        by_token = {r["token"]: r for r in s.pushgate.records()}
        assert by_token["…" + t1[-6:]]["app"] == "ios" and by_token["…" + t1[-6:]]["kind"] == "background"
        assert by_token["…" + t1[-6:]]["priority"] == "normal"
        assert by_token["…" + t2[-6:]]["app"] == "android" and by_token["…" + t2[-6:]]["kind"] == "voip"
        assert by_token["…" + t3[-6:]]["app"] == "android" and by_token["…" + t3[-6:]]["kind"] == "alert"
        assert os.path.exists(second)


def test_prosody_restart_reconnects_and_next_push_flows():
    with Stack() as s:
        token = device_token()
        s.enable(token, type="voip")
        s.prosody.stop()
        s.pushgate.wait_log(r"event=component_disconnected")
        s.prosody.start()
        s.prosody.wait_authenticated(2)
        s.message_alice()
        rec = s.pushgate.wait_records(1)[0]
        assert rec["token"] == "…" + token[-6:]


def test_prosody_down_at_start_then_up():
    with Stack(start_pushgate=False) as s:
        s.prosody.stop()
        s.pushgate.start(wait_connected=False)
        s.pushgate.wait_log(r"event=component_connect_failed .*cause=\"Connection refused\" fix=\"nothing listens on")
        s.prosody.start()
        s.prosody.wait_authenticated(1)


def test_wrong_component_secret_is_named_and_retried():
    with Stack(start_pushgate=False) as s:
        with open(s.workdir.file("component.secret"), "w") as f:
            f.write("wrong-component-secret\n")
        s.pushgate.start(wait_connected=False)
        s.pushgate.wait_log(r"event=component_connect_failed .*does not match the server's for push\.localhost .*Prosody: Component .*component_secret.*ejabberd: .*password:")
        s.pushgate.wait_log(r"event=component_reconnect_scheduled", count=2)
        assert "wrong-component-secret" not in s.pushgate.log()
        assert s.pushgate.proc.poll() is None


def test_component_answers_disco_ping_and_unknown_iqs():
    from harness import iq_round_trip
    with Stack() as s:
        disco = s.as_bob(iq_round_trip(
            "<iq xmlns='jabber:client' type='get' to='push.localhost'>"
            "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
        assert 'category="pubsub"' in disco and 'type="push"' in disco, disco
        assert 'var="urn:xmpp:push:0"' in disco
        ping = s.as_bob(iq_round_trip("<iq xmlns='jabber:client' type='get' to='push.localhost'><ping xmlns='urn:xmpp:ping'/></iq>"))
        assert 'type="result"' in ping, ping
        items = s.as_bob(iq_round_trip(
            "<iq xmlns='jabber:client' type='get' to='push.localhost'>"
            "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>"))
        assert 'type="result"' in items and "disco#items" in items, items
        version = s.as_bob(iq_round_trip("<iq xmlns='jabber:client' type='get' to='push.localhost'><query xmlns='jabber:iq:version'/></iq>"))
        assert 'type="error"' in version and "service-unavailable" in version, version


def test_malformed_and_huge_publishes_are_bad_request():
    from harness import iq_round_trip
    with Stack() as s:
        no_item = s.as_bob(iq_round_trip(
            "<iq xmlns='jabber:client' type='set' to='push.localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
            "<publish node='abc'/></pubsub></iq>"))
        assert "bad-request" in no_item and 'type="modify"' in no_item, no_item
        big = "x" * (70 * 1024)
        huge = s.as_bob(iq_round_trip(
            "<iq xmlns='jabber:client' type='set' to='push.localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
            "<publish node='abc'><item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data'>"
            f"<field var='last-message-body'><value>{big}</value></field></x></notification></item></publish>"
            "</pubsub></iq>"))
        assert "bad-request" in huge and "64 KiB" in huge, huge[:300]
        # The daemon is still there and still delivers.
        token = device_token()
        s.enable(token)
        s.message_alice()
        assert s.pushgate.wait_records(1)[0]["token"] == "…" + token[-6:]


def test_sigterm_exits_zero():
    with Stack() as s:
        assert s.pushgate.stop() == 0
        assert "event=stopped" in s.pushgate.log()


def test_prosody_full_queue_is_wait_resource_constraint_and_loop_stays_free():
    """A stalled output (a FIFO nobody reads) holds one push; with queue_size = 1 the next
    push is answered wait/resource-constraint at once, so Prosody keeps the registration."""
    import os
    import stat
    from harness import Pushgate
    with Stack(start_pushgate=False) as s:
        fifo = s.workdir.file("pushes.fifo")
        os.mkfifo(fifo, 0o600)
        read_end = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        fill = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            while True:  # fill the pipe buffer so pushgate's first write blocks
                os.write(fill, b"x" * 4096)
        except BlockingIOError:
            pass
        s.pushgate = Pushgate(s.workdir, s.prosody, output=fifo, extra="[push]\nqueue_size = 1\n")
        s.pushgate.start()
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
        s.enable(device_token(), type="message")
        s.enable(device_token(), type="message")
        s.message_alice()
        s.pushgate.wait_log(r"event=push .*outcome=queue_full")
        wait_for(lambda: "Got error <wait:resource-constraint:push queue is full (1)>" in s.prosody.log(),
                 "Prosody receiving wait/resource-constraint")
        # The stalled push completes once the reader drains the pipe: nothing was lost.
        drained = b""
        deadline = time.time() + PATIENCE  # a net: the record comes as soon as the pipe has room
        while b'"sent":false' not in drained and time.time() < deadline:
            try:
                drained += os.read(read_end, 65536)
            except BlockingIOError:
                time.sleep(0.05)
        assert b'"sent":false' in drained
        s.pushgate.wait_log(r"event=push .*outcome=delivered")
        os.close(fill)
        os.close(read_end)


def test_prosody_frozen_is_detected_by_ping_and_session_recovers():
    """SIGSTOP freezes Prosody without closing the socket: only the XEP-0199 ping notices.
    pushgate reconnects once Prosody runs again, and the next push flows."""
    import signal
    import subprocess as sp
    with Stack(ping_interval=5, ping_timeout=3) as s:
        token = device_token()
        s.enable(token, type="voip")
        # Only the server (lua) is frozen. runuser, its parent, mirrors a stopped child by
        # stopping itself, and resumes the child when it is resumed: so the child is continued
        # first and runuser after it (continued first, runuser would stop itself again and
        # never pass on the SIGTERM that ends the test).
        lua = sp.run(["pgrep", "-f", f"^lua.* -F --config {s.prosody.config}"], capture_output=True, text=True)
        pids = [int(p) for p in lua.stdout.split()]
        assert len(pids) == 1, f"prosody's lua process not found: {lua.stdout!r}"
        os_kill(pids[0], signal.SIGSTOP)
        try:
            s.pushgate.wait_log(r"event=component_ping_timeout")
        finally:
            os_kill(pids[0], signal.SIGCONT)
            os_kill(s.prosody.proc.pid, signal.SIGCONT)
        s.prosody.wait_authenticated(2)
        s.message_alice()
        assert s.pushgate.wait_records(1)[0]["token"] == "…" + token[-6:]


def os_kill(pid, sig):
    import os
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def test_wrong_component_jid_is_named_and_retried():
    with Stack(start_pushgate=False) as s:
        with open(s.pushgate.config) as f:
            text = f.read()
        with open(s.pushgate.config, "w") as f:
            f.write(text.replace('jid = "push.localhost"', 'jid = "nopush.localhost"'))
        s.pushgate.start(wait_connected=False)
        s.pushgate.wait_log(r"event=component_connect_failed .*the server has no component nopush\.localhost .*ejabberd_service")
        s.pushgate.wait_log(r"event=component_reconnect_scheduled", count=2)
        assert s.pushgate.proc.poll() is None
