"""An ordinary user of the Prosody server as an attacker: ad-hoc commands whose sessionid and
node carry XML meant to break out of the reply. Another user, online, must receive nothing from
the push domain, and Prosody must never see the component's stream break (it logs every
authentication; there must be exactly one)."""

import asyncio
import threading
import xml.etree.ElementTree as ET

from harness import PATIENCE, Pushgate, Stack, xmpp_session

NS_COMMANDS = "http://jabber.org/protocol/commands"

PAYLOADS = [
    "'/></iq><message to='bob@localhost' from='push.localhost' type='chat'><body>phish</body></message><iq x='",
    "'/></iq><message to='bob@localhost' from='support@push.localhost' type='chat'><body>phish</body></message><iq x='",
    '"/></iq><message to="bob@localhost" type="chat"><body>phish</body></message><iq x="',
    "'><",
    "</iq>",
]


def _online(jid, password, port, ready, stop, received):
    """Logs in with presence, sets `ready` once Prosody has processed the presence, collects
    every message until `stop`, then makes one more round trip so nothing routed is missed."""

    async def action(client):
        client.add_event_handler("message", lambda m: received.append(str(m)))
        client.send_presence()
        await client["xep_0030"].get_info(jid="localhost", local=False, timeout=PATIENCE)  # presence processed
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, stop.wait, 5 * PATIENCE)
        await client["xep_0030"].get_info(jid="localhost", local=False, timeout=PATIENCE)
        return True

    return xmpp_session(jid, password, port, action, timeout=6 * PATIENCE)


def _attack(service_jid):
    """Every payload in sessionid and in node, with cancel and with execute; returns the replies."""

    async def action(client):
        replies = []
        for payload in PAYLOADS:
            for where in ("sessionid", "node"):
                for act in ("cancel", "execute"):
                    iq = client.make_iq_set(ito=service_jid)
                    attrs = {"node": "register-push-fcm", "action": act}
                    attrs[where] = payload
                    cmd = ET.Element(f"{{{NS_COMMANDS}}}command", attrs)
                    form = ET.SubElement(cmd, "{jabber:x:data}x", {"type": "submit"})
                    for var, value in (("token", "x" * 40), ("device-id", "phone-1")):
                        f = ET.SubElement(form, "{jabber:x:data}field", {"var": var})
                        ET.SubElement(f, "{jabber:x:data}value").text = value
                    iq.xml.append(cmd)
                    try:
                        replies.append(str(await iq.send(timeout=PATIENCE)))
                    except Exception as e:  # noqa: BLE001 - an IqError carries the error reply
                        replies.append(str(getattr(e, "iq", e)))
        # In order on the component's stream: once this is answered, every reply (and anything
        # a broken reply could have carried) has passed through Prosody.
        await client["xep_0030"].get_info(jid=service_jid, local=False, timeout=PATIENCE)
        return replies

    return action


def test_hostile_adhoc_attributes_inject_nothing_and_never_break_the_component_stream():
    with Stack(start_pushgate=False) as s:
        s.pushgate = Pushgate(s.workdir, s.prosody, extra=f'\n[store]\npath = "{s.workdir.file("pushgate.db")}"\n')
        s.pushgate.start()
        ready, stop, received = threading.Event(), threading.Event(), []
        result = {}
        bob = threading.Thread(target=lambda: result.setdefault(
            "bob", _online("bob@localhost", "bobpw", s.prosody.c2s_port, ready, stop, received)))
        bob.start()
        try:
            assert ready.wait(PATIENCE), "bob did not come online"
            replies = s.as_alice(_attack(s.prosody.component_jid))
        finally:
            stop.set()
            bob.join(PATIENCE)
        assert result.get("bob") is True, "bob's session failed"
        assert len(replies) == len(PAYLOADS) * 4
        # Every answer is an error or a result addressed to alice, never carrying a message.
        for r in replies:
            assert "<message" not in r and "phish" not in r, r
        assert not any("push.localhost" in m or "phish" in m for m in received), received
        # Prosody's side: one authentication, no parse error, no disconnect of the component.
        log = s.prosody.log()
        assert s.prosody.component_authentications() == 1, log[-3000:]
        assert "XML parse error" not in log and "Disconnecting component" not in log, log[-3000:]
        assert "event=component_disconnected" not in s.pushgate.log()
