"""prosody_registration_* : p2-style ad-hoc registration (XEP-0050) from a real client through
real Prosody, then pushes to the registered node, across a pushgate restart."""

import os
import re
import xml.etree.ElementTree as ET

from harness import Stack, device_token, wait_for

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
        resp = await iq.send(timeout=10)
        c = resp.xml.find(f"{{{NS_COMMANDS}}}command")
        out = {f.get("var"): f.findtext("{jabber:x:data}value") for f in c.iter("{jabber:x:data}field")}
        return c.get("status"), out
    return action


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
        wait_for(lambda: re.search(r"Got error <cancel:item-not-found", s.prosody.log()), 10,
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
                 10, "Prosody logging auth:forbidden")


def test_prosody_registration_410_from_apns_deletes_the_registration():
    from harness import ApnsMock, Pushgate, TestPki, apns_app_toml
    s = Stack(start_pushgate=False)
    try:
        pki = TestPki(s.workdir)
        mock = ApnsMock(pki).start()
        toml = apns_app_toml("ios", pki, mock.endpoint, "{secret_file}")
        s.pushgate = Pushgate(s.workdir, s.prosody, app_toml=toml,
                              extra=f'\n[store]\npath = "{s.workdir.file("pushgate.db")}"\n')
        s.pushgate.start()
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
        wait_for(lambda: re.search(r"Got error <cancel:item-not-found:Unregistered", s.prosody.log()), 10,
                 "Prosody logging cancel:item-not-found")
        assert mock.stats()["rejected"] == {"Unregistered": 1}
        mock.stop()
    finally:
        s.close()


def test_prosody_registration_node_is_refused_to_another_domain():
    with RegStack() as s:
        status, form = s.run_command("register-push-fcm", token=device_token(), **{"device-id": "phone-1"})
        # mallory on another domain of the same Prosody enables push with alice's node and secret.
        from harness import enable_push, send_message, xmpp_session
        s.prosody.register("mallory", "mallorypw", host="other.localhost")
        xmpp_session("mallory@other.localhost", "mallorypw", s.prosody.c2s_port,
                     enable_push(s.prosody.component_jid, form["node"], {"secret": form["secret"]}))
        xmpp_session("bob@localhost", "bobpw", s.prosody.c2s_port, send_message("mallory@other.localhost", "hi"))
        wait_for(lambda: re.search(r"Got error <cancel:item-not-found:no registration for this node", s.prosody.log()), 10,
                 "Prosody logging item-not-found for the other domain's publish")
        assert s.pushgate.records() == [], "a push went out for another domain's publish"
