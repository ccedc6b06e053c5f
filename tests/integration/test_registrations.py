"""prosody_registration_* : p2-style ad-hoc registration (XEP-0050) from a real client through
real Prosody, then pushes to the registered node, across a pushgate restart."""

import contextlib
import os
import re
import xml.etree.ElementTree as ET

from harness import PATIENCE, Stack, device_token, wait_for

NS_COMMANDS = "http://jabber.org/protocol/commands"


def command(service_jid, node, fields):
    """An action that runs one ad-hoc command and returns (status, {var: value}) of its answer."""

    async def action(client):
        iq = client.make_iq_set(ito=service_jid)
        cmd = ET.Element(f"{{{NS_COMMANDS}}}command", {"node": node, "action": "execute"})
        x = ET.SubElement(cmd, "{jabber:x:data}x", {"type": "submit"})
        for var, value in fields.items():
            f = ET.SubElement(x, "{jabber:x:data}field", {"var": var})
            ET.SubElement(f, "{jabber:x:data}value").text = value
        iq.xml.append(cmd)
        resp = await iq.send(timeout=PATIENCE)
        c = resp.xml.find(f"{{{NS_COMMANDS}}}command")
        out = {f.get("var"): f.findtext("{jabber:x:data}value") for f in c.iter("{jabber:x:data}field")}
        return c.get("status"), out
    return action


@contextlib.contextmanager
def apns_registration_stack():
    """Prosody + mock APNs (app `ios`) + pushgate with an SQLite store; yields (stack, mock)."""
    from harness import ApnsMock, Pushgate, TestPki, apns_app_toml
    s = Stack(start_pushgate=False)
    mock = None
    try:
        pki = TestPki(s.workdir)
        mock = ApnsMock(pki).start()
        toml = apns_app_toml("ios", pki, mock.endpoint, "{secret_file}")
        s.pushgate = Pushgate(s.workdir, s.prosody, app_toml=toml,
                              extra=f'\n[store]\npath = "{s.workdir.file("pushgate.db")}"\n')
        s.pushgate.start()
        yield s, mock
    finally:
        if mock:
            mock.stop()
        s.close()


class RegStack(Stack):
    def __init__(self, store="sqlite"):
        super().__init__(start_pushgate=False)
        from harness import Pushgate
        if store == "sqlite":
            extra = f'\n[store]\npath = "{self.workdir.file("pushgate.db")}"\n'
        else:
            # The real PostgreSQL tests/run.sh starts; without it this test fails, never skips.
            url = os.environ["PUSHGATE_TEST_POSTGRES_URL"]
            extra = f'\n[store]\nurl = "{url}"\n'
        self.pushgate = Pushgate(self.workdir, self.prosody, extra=extra)
        self.pushgate.start()

    def run_command(self, node, **fields):
        return self.as_alice(command(self.prosody.component_jid, node, fields))

    def restart_pushgate(self):
        assert self.pushgate.stop() == 0
        self.pushgate.start()


def test_prosody_registration_register_enable_push_restart_reregister_unregister():
    registration_lifecycle("sqlite")


def test_prosody_registration_lifecycle_on_postgresql():
    registration_lifecycle("postgresql")


def registration_lifecycle(store):
    with RegStack(store) as s:
        token = device_token()
        status, form = s.run_command("register-push-fcm", token=token, **{"device-id": "phone-1"})
        assert status == "completed" and form["jid"] == s.prosody.component_jid, form
        node, secret = form["node"], form["secret"]
        assert len(node) >= 16 and len(secret) >= 21 and token not in (node, secret)
        s.enable(node, secret=secret)
        s.message_alice()
        rec = s.pushgate.wait_records(1)[0]
        assert rec["token"] == "…" + token[-6:], rec  # the provider got the real device token, not the node
        # Registrations survive a restart.
        s.restart_pushgate()
        s.message_alice()
        recs = s.pushgate.wait_records(2)
        assert recs[1]["token"] == "…" + token[-6:], recs
        # Re-registering the same device keeps node and secret, and uses the new token.
        new_token = device_token()
        status, again = s.run_command("register-push-fcm", token=new_token, **{"device-id": "phone-1"})
        assert (again["node"], again["secret"]) == (node, secret), again
        s.message_alice()
        recs = s.pushgate.wait_records(3)
        assert recs[2]["token"] == "…" + new_token[-6:], recs
        # Unregistered: the next publish is cancel/item-not-found, so Prosody forgets the node.
        status, _ = s.run_command("unregister-push-fcm", **{"device-id": "phone-1"})
        assert status == "completed"
        s.message_alice()
        wait_for(lambda: re.search(r"Got error <cancel:item-not-found", s.prosody.log()),
                 "Prosody logging cancel:item-not-found")
        assert token not in s.pushgate.log() and new_token not in s.pushgate.log() and secret not in s.pushgate.log()


def test_prosody_registration_refuses_incomplete_forms_and_wrong_secrets():
    import slixmpp.exceptions
    with RegStack() as s:
        try:
            s.run_command("register-push-apns", **{"device-id": "x"})
            raise AssertionError("a registration without a token was accepted")
        except slixmpp.exceptions.IqError as e:
            assert e.condition == "bad-request", e
        status, form = s.run_command("register-push-apns", token=device_token(), **{"device-id": "tablet"})
        s.enable(form["node"], secret="not-the-secret")
        s.message_alice()
        wait_for(lambda: re.search(r"Got error <auth:forbidden:wrong secret for this registered node", s.prosody.log()),
                 "Prosody logging auth:forbidden")


def test_prosody_registration_410_from_apns_deletes_the_registration():
    with apns_registration_stack() as (s, mock):
        token = device_token()
        status, form = s.as_alice(command(s.prosody.component_jid, "register-push-apns",
                                          {"token": token, "device-id": "iphone"}))
        # Apple: the token is dead since a moment after the registration (a re-registration
        # after that time would keep it; the store's unit tests cover that side).
        import time
        mock.script(token, [{"status": 410, "reason": "Unregistered", "timestamp": int(time.time() * 1000) + 1000}])
        s.enable(form["node"], secret=form["secret"], type="voip")
        s.message_alice()
        s.pushgate.wait_log(r'event=registration_removed .*reason="?Unregistered')
        wait_for(lambda: re.search(r"Got error <cancel:item-not-found:Unregistered", s.prosody.log()),
                 "Prosody logging cancel:item-not-found")
        assert mock.stats()["rejected"] == {"Unregistered": 1}


def test_prosody_registration_node_is_refused_to_another_domain():
    with RegStack() as s:
        status, form = s.run_command("register-push-fcm", token=device_token(), **{"device-id": "phone-1"})
        # mallory on another domain of the same Prosody enables push with alice's node and secret.
        from harness import enable_push, send_message, xmpp_session
        s.prosody.register("mallory", "mallorypw", host="other.localhost")
        xmpp_session("mallory@other.localhost", "mallorypw", s.prosody.c2s_port,
                     enable_push(s.prosody.component_jid, form["node"], {"secret": form["secret"]}))
        xmpp_session("bob@localhost", "bobpw", s.prosody.c2s_port, send_message("mallory@other.localhost", "hi"))
        wait_for(lambda: re.search(r"Got error <cancel:item-not-found:no registration for this node", s.prosody.log()),
                 "Prosody logging item-not-found for the other domain's publish")
        assert s.pushgate.records() == [], "a push went out for another domain's publish"


def enable_node_only(service_jid, node, fields=None):
    """XEP-0357 <enable/> as Siskin sends it: the node alone, no secret; `fields`, when given,
    go in a publish-options form (a client asking for call pushes)."""

    async def action(client):
        iq = client.make_iq_set()
        enable = ET.Element("{urn:xmpp:push:0}enable", {"jid": service_jid, "node": node})
        if fields:
            form = ET.SubElement(enable, "{jabber:x:data}x", {"type": "submit"})
            for var, value in [("FORM_TYPE", "http://jabber.org/protocol/pubsub#publish-options")] + list(fields.items()):
                f = ET.SubElement(form, "{jabber:x:data}field", {"var": var})
                ET.SubElement(f, "{jabber:x:data}value").text = value
        iq.xml.append(enable)
        await iq.send(timeout=PATIENCE)
    return action


def test_prosody_registration_tigase_register_device_with_a_pushkit_token():
    """Siskin's dialect: disco#info names the provider, register-device returns a node, the
    client enables with that node alone, pushes go to the device token; unregister-device makes
    Prosody forget the node."""
    import slixmpp.exceptions
    from harness import iq_round_trip
    with apns_registration_stack() as (s, mock):
        jid = s.prosody.component_jid
        info = s.as_alice(iq_round_trip(
            f"<iq xmlns='jabber:client' type='get' to='{jid}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
        assert 'var="tigase:messenger:apns:1"' in info and 'var="fcm-xmpp-api"' not in info, info

        token, pushkit = device_token(), device_token()
        status, form = s.as_alice(command(jid, "register-device", {
            "provider": "tigase:messenger:apns:1", "device-token": token, "device-second-token": pushkit}))
        # No secret: Siskin enables with the node alone.
        assert status == "completed" and set(form) == {"node", "features", "max-payload-size"}, form
        node = form["node"]
        s.as_alice(enable_node_only(jid, node))
        s.message_alice()
        wait_for(lambda: any(r["token"] == token for r in mock.stats()["recent"]), "the alert at the device token")
        alert = next(r for r in mock.stats()["recent"] if r["token"] == token)
        assert alert["headers"]["apns-push-type"] == "alert", alert

        # Calls (Prosody's <encrypted type='voip'>, the PushKit token): test_clients.py replays Siskin.

        # A provider pushgate does not serve is refused, naming the ones it does.
        try:
            s.as_alice(command(jid, "register-device", {"provider": "tigase:messenger:mpns:1", "device-token": "x"}))
            raise AssertionError("an unknown provider was accepted")
        except slixmpp.exceptions.IqError as e:
            assert e.condition == "bad-request" and "tigase:messenger:apns:1" in e.text, e

        status, _ = s.as_alice(command(jid, "unregister-device", {"provider": "tigase:messenger:apns:1",
                                                                   "device-token": token}))
        assert status == "completed"
        s.message_alice()
        wait_for(lambda: re.search(r"Got error <cancel:item-not-found", s.prosody.log()),
                 "Prosody logging cancel:item-not-found after unregister-device")
        log = s.pushgate.log()
        assert token not in log and pushkit not in log and node not in log
        assert re.search(r"event=device_registered .*dialect=tigase", log), log


def test_prosody_registration_admin_command_counts_and_forgets_devices():
    """`pushgate registrations` beside the running daemon: counts per app, forgets a device
    (with its group chat) and a token; Prosody then hears item-not-found for them."""
    import subprocess
    from harness import PUSHGATE

    def admin(*args, stdin=None):
        out = subprocess.run([PUSHGATE, "registrations", "--config", s.pushgate.config, *args], input=stdin,
                             capture_output=True, text=True, timeout=PATIENCE)
        return out.returncode, out.stdout, out.stderr

    with RegStack() as s:
        phone, tablet = device_token(), device_token()
        _, own = s.run_command("register-push-fcm", token=phone, **{"device-id": "phone-1"})
        s.run_command("register-push-fcm", token=phone, muc="room@conference.localhost",
                                **{"device-id": "phone-1"})
        s.run_command("register-device", provider="fcm-xmpp-api", **{"device-token": tablet})
        rc, out, err = admin()
        assert rc == 0 and out.startswith("3 registrations\n"), (out, err)
        assert re.search(r"^  \S+ \(log\): 3$", out, re.M), out
        rc, out, _ = admin("--delete-device", "phone-1", "--jid", "alice@localhost")
        assert rc == 0 and out == "removed 2 registrations of device phone-1 of alice@localhost\n", out
        rc, out, _ = admin("--delete-token", "-", stdin=tablet + "\n")
        assert rc == 0 and out.startswith("removed 1 registration holding token"), out
        assert tablet not in out and tablet[-6:] in out
        rc, out, _ = admin()
        assert out == "0 registrations\n", out
        # The daemon sees the same store: the forgotten nodes are item-not-found for Prosody.
        s.enable(own["node"], secret=own["secret"])
        s.message_alice()
        wait_for(lambda: re.search(r"Got error <cancel:item-not-found", s.prosody.log()),
                 "Prosody logging cancel:item-not-found for a forgotten device")
        rc, _, err = admin("--delete-device", "phone-1")
        assert rc == 1 and "--jid" in err, err
        assert phone not in s.pushgate.log() and tablet not in s.pushgate.log()


def test_prosody_registration_limits_devices_per_user_and_token_shape():
    """One user registers 100 devices: the first 20 work (Prosody's publishes to every one of
    them are delivered), the 21st and every later one is bad-request naming
    max_devices_per_user, also when 79 arrive at once; re-registering a known device and
    another user's devices still work. Tokens a provider cannot have are refused."""
    import asyncio
    import slixmpp.exceptions

    def register_many(service_jid, devices, concurrently):
        async def action(client):
            async def one(device, token):
                try:
                    _, form = await command(service_jid, "register-push-apns", {"token": token, "device-id": device})(client)
                    return "completed", form
                except slixmpp.exceptions.IqError as e:
                    return e.condition, e.text
            if concurrently:
                return await asyncio.gather(*(one(d, t) for d, t in devices))
            return [await one(d, t) for d, t in devices]
        return action

    with RegStack() as s:
        jid = s.prosody.component_jid
        devices = [(f"dev-{i}", device_token()) for i in range(100)]
        first = s.as_alice(register_many(jid, devices[:21], concurrently=False))
        assert [status for status, _ in first[:20]] == ["completed"] * 20, first
        status, text = first[20]
        assert status == "bad-request" and "max_devices_per_user = 20" in text, first[20]
        # 79 more at once: none gets in. Each is refused by the limit, or, past the 32 commands
        # one user may have in progress, with resource-constraint before the store is asked.
        rest = s.as_alice(register_many(jid, devices[21:], concurrently=True))
        assert all((status == "bad-request" and "max_devices_per_user = 20" in text) or
                   status == "resource-constraint" for status, text in rest), rest
        assert sum(1 for status, _ in rest if status == "bad-request") >= 20, rest
        # A known device registers again (a new token): same node and secret.
        new_token = device_token()
        again = s.as_alice(register_many(jid, [("dev-0", new_token)], concurrently=False))
        assert again[0][0] == "completed" and again[0][1]["node"] == first[0][1]["node"], again
        # Another user is counted on their own, and 25 registrations arriving at once from
        # nothing end with exactly 20 devices: the count and the insert are one transaction.
        bob = s.as_bob(register_many(jid, [(f"bob-{i}", device_token()) for i in range(25)], concurrently=True))
        assert sorted(status for status, _ in bob) == ["bad-request"] * 5 + ["completed"] * 20, bob

        # The first 20 work: alice enables push for each, and one message reaches all of them.
        async def enable_all(client):
            for _, form in first[:20]:
                await enable_push(jid, form["node"], {"secret": form["secret"]})(client)
        from harness import enable_push
        s.as_alice(enable_all)
        s.message_alice()
        records = s.pushgate.wait_records(20)
        sent = {r["token"] for r in records}
        expected = {"…" + t[-6:] for _, t in devices[1:20]} | {"…" + new_token[-6:]}
        assert len(records) == 20 and sent == expected, (sent, expected)

        # Token shapes: a 4 KiB token, an APNs token too long, odd-length or not hex.
        for token, names in [("ab" * 2048, "1024 bytes"), ("ab" * 101, "64 to 200"), ("a" * 65, "64 to 200"),
                             ("g" * 64, "64 to 200")]:
            refused = s.as_alice(register_many(jid, [("dev-0", token)], concurrently=False))
            assert refused[0][0] == "bad-request" and names in refused[0][1], (len(token), refused)
        log = s.pushgate.log()
        assert re.search(r"event=registration_refused .*max_devices_per_user = 20", log), log[-3000:]
