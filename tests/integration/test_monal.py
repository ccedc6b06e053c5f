"""prosody_monal_* : Monal's token-as-node dialect through real Prosody 0.12 + mod_cloud_notify
to the mock APNs. Monal enables with node = its hex APNs token and publish-options holding
`pushModule` alone (no secret; CLIENTS.md, Monal `Classes/XMPPIQ.m` setPushEnableWithNode),
and needs an alert with mutable-content: 1 (its extension then fetches the messages)."""

import json
import re

from harness import ApnsMock, Pushgate, Stack, TestPki, TEAM_ID, KEY_ID, TOPIC, device_token, iq_round_trip, wait_for

# Monal's <enable/>, as its XMPPDataForm writes it: FORM_TYPE hidden, then pushModule.
MONAL_ENABLE = ("<iq xmlns='jabber:client' type='set'>"
                "<enable xmlns='urn:xmpp:push:0' jid='{jid}' node='{node}'>"
                "<x xmlns='jabber:x:data' type='submit'>"
                "<field type='hidden' var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
                "<field var='pushModule'><value>{module}</value></field>"
                "</x></enable></iq>")


def monal_app_toml(name, pki, endpoint, extra=""):
    """An apns [[app]] without secret_file, as a Monal app server has none to share."""
    return (f'[[app]]\nname = "{name}"\nservice = "apns"\ntopic = "{TOPIC}"\nteam_id = "{TEAM_ID}"\n'
            f'key_id = "{KEY_ID}"\nkey_file = "{pki.p8}"\nendpoint = "{endpoint}"\nca_file = "{pki.ca}"\n'
            f'throttle_ms = 0\n{extra}\n')


class MonalStack:
    """Prosody + mock APNs + pushgate with the given [[app]] tables and an SQLite store (the
    set-up where a refused publish used to become cancel/item-not-found)."""

    def __init__(self, app_toml):
        self.stack = Stack(start_pushgate=False)
        s = self.stack
        try:
            self.pki = TestPki(s.workdir)
            self.mock = ApnsMock(self.pki).start()
            s.pushgate = Pushgate(s.workdir, s.prosody, app_toml=app_toml(self.pki, self.mock.endpoint),
                                  extra=f'\n[store]\npath = "{s.workdir.file("pushgate.db")}"\n')
            s.pushgate.start()
        except BaseException:
            self.close()
            raise

    def enable_as_monal(self, token, module):
        reply = self.stack.as_alice(iq_round_trip(MONAL_ENABLE.format(
            jid=self.stack.prosody.component_jid, node=token, module=module)))
        assert "type=\"result\"" in reply or "type='result'" in reply, reply

    def close(self):
        if getattr(self, "mock", None):
            self.mock.stop()
        self.stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _sent_pushes(prosody_log, token):
    """Prosody's own record of each publish it sent for this node."""
    return len(re.findall(r"Sending \w+ push notification for alice@localhost to push\.localhost \(%s\)" % token,
                          prosody_log))


def test_prosody_monal_push_module_without_secret_reaches_apns_with_mutable_content():
    with MonalStack(lambda pki, ep: monal_app_toml("monalProdiOS", pki, ep, "require_secret = false")) as m:
        s = m.stack
        token = device_token()
        m.enable_as_monal(token, "monalProdiOS")
        s.message_alice("first")
        wait_for(lambda: m.mock.stats()["delivered"] >= 1, "the first push at the mock APNs")
        st = m.mock.stats()
        push = st["recent"][0]
        assert push["token"] == token, push
        assert push["headers"]["apns-push-type"] == "alert" and push["headers"]["apns-topic"] == TOPIC, push
        assert json.loads(push["body"])["aps"]["mutable-content"] == 1, push["body"]
        s.pushgate.wait_log(r"event=push app=monalProdiOS kind=alert token=…%s .*outcome=delivered" % token[-6:])
        wait_for(lambda: re.search(r"Received\[component\]: <iq [^>]*type=.result", s.prosody.log()),
                 "Prosody receiving the IQ result")
        # Prosody keeps the registration: the next message is pushed too, and it counted no error.
        s.message_alice("second")
        wait_for(lambda: m.mock.stats()["delivered"] >= 2, "the second push at the mock APNs")
        assert _sent_pushes(s.prosody.log(), token) == 2
        assert "Got error" not in s.prosody.log(), s.prosody.log()[-3000:]
        assert "require_secret = false: anyone who knows a device token" in s.pushgate.log()


def test_prosody_monal_publish_to_an_app_that_requires_a_secret_is_refused_never_cancel():
    """The same Monal publish, to an app with no secret that requires one (our configuration:
    wait) and to an app with a secret (the publish lacks it: auth). Neither is cancel, and
    Prosody keeps both registrations: the next message is published to both again."""
    secret_app = '[[app]]\nname = "monalAlpha"\nservice = "log"\nsecret_file = "{secret_file}"\noutput = "{output}"\n'
    with MonalStack(lambda pki, ep: monal_app_toml("monalProdiOS", pki, ep) + secret_app) as m:
        s = m.stack
        closed, guarded = device_token(), device_token()
        m.enable_as_monal(closed, "monalProdiOS")
        m.enable_as_monal(guarded, "monalAlpha")
        s.message_alice()
        s.prosody.wait_log(r"Got error <wait:internal-server-error:app 'monalProdiOS' has no secret_file, so it serves "
                           r"registered devices only; set require_secret = false[^>]*>[^\n]*NOT increasing error count")
        s.prosody.wait_log(r"Got error <auth:forbidden:publish-options carry no secret>")
        s.message_alice()
        s.prosody.wait_log(r"Got error <wait:internal-server-error:app 'monalProdiOS'", count=2)
        s.prosody.wait_log(r"Got error <auth:forbidden:publish-options carry no secret>", count=2)
        log = s.prosody.log()
        assert _sent_pushes(log, closed) == 2 and _sent_pushes(log, guarded) == 2
        assert "<cancel:" not in log and "Disabling push notifications" not in log, log[-3000:]
        assert m.mock.stats()["requests"] == 0 and s.pushgate.records() == []
        s.pushgate.wait_log(r"event=push app=- kind=- token=…%s .*outcome=operator_error" % closed[-6:], count=2)
