"""prosody_client_* : each real client's exchange (CLIENTS.md) replayed byte for byte through a
real Prosody to pushgate and the mock providers, checking the provider request against what the
client reads. Conversations (p2 over FCM), Siskin (Tigase over APNs + PushKit, with Prosody's
mod_cloud_notify_encrypted from the shared peers), Stork (Tigase over FCM)."""

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import xml.etree.ElementTree as ET

from harness import (PATIENCE, ApnsMock, FcmMock, Prosody, Pushgate, TestPki, WorkDir, apns_app_toml, device_token,
                     server_round_trip,
                     fcm_app_toml, make_service_account_key, wait_for, write_service_account, xmpp_session)

NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_DATA = "jabber:x:data"
PUSH = "push.localhost"


def fcm_token():
    """An FCM registration token's shape: an instance id, a colon, the rest."""
    return f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(105)}"


def raw_iq(xml_text):
    """An action that sends an IQ exactly as written (slixmpp adds only the id) and returns the
    reply as an Element (an error reply too)."""
    import slixmpp.exceptions

    async def action(client):
        iq = client.Iq()
        iq.xml = ET.fromstring(xml_text)
        iq["id"] = client.new_id()
        try:
            return (await iq.send(timeout=PATIENCE)).xml
        except slixmpp.exceptions.IqError as e:
            return e.iq.xml
    return action


def send_raw(xml_text):
    """An action that sends one stanza as written; the logout after it is processed after it."""

    async def action(client):
        client.send_raw(xml_text)
        await server_round_trip(client)  # Prosody has routed it once its own server answered
        return True
    return action


def result_form(reply):
    """{var: [values]} of a completed command's result form."""
    cmd = reply.find(f"{{{NS_COMMANDS}}}command")
    assert cmd is not None and cmd.get("status") == "completed", ET.tostring(reply)
    return {f.get("var"): [v.text for v in f.findall(f"{{{NS_DATA}}}value")] for f in cmd.iter(f"{{{NS_DATA}}}field")}, cmd


@contextlib.contextmanager
def client_stack(service, extra_modules=()):
    """Prosody (users alice and bob; `extra_modules` from the shared peers) + the mock provider
    of `service` ("apns" or "fcm") + pushgate with one app of that service and an SQLite store.
    Yields (prosody, pushgate, mock)."""
    workdir = WorkDir()
    prosody = pushgate = mock = None
    try:
        prosody = Prosody(workdir, extra_modules=extra_modules)
        prosody.register("alice", "alicepw")
        prosody.register("bob", "bobpw")
        prosody.start()
        pki = TestPki(workdir)
        if service == "apns":
            mock = ApnsMock(pki).start()
            toml = apns_app_toml("ios", pki, mock.endpoint, "{secret_file}")
        else:
            make_service_account_key(pki)
            mock = FcmMock(pki).start()
            sa = write_service_account(pki, f"{mock.endpoint}/token")
            toml = fcm_app_toml("android", pki, mock.endpoint, sa, "{secret_file}")
        pushgate = Pushgate(workdir, prosody, app_toml=toml,
                            extra=f'\n[store]\npath = "{workdir.file("pushgate.db")}"\n')
        pushgate.start()
        yield prosody, pushgate, mock
    finally:
        try:
            if pushgate is not None:
                pushgate.stop()
            if mock is not None:
                mock.stop()
            if prosody is not None:
                prosody.stop()
        finally:
            workdir.cleanup()


def as_user(prosody, user, action):
    return xmpp_session(f"{user}@localhost", f"{user}pw", prosody.c2s_port, action)


def message_alice(prosody, body):
    return as_user(prosody, "bob", send_raw(
        f"<message xmlns='jabber:client' to='alice@localhost' type='chat' id='{secrets.token_hex(6)}'>"
        f"<body>{body}</body></message>"))


def recent(mock, predicate, what):
    """Waits until the mock has recorded a request `predicate` accepts; returns it."""
    found = wait_for(lambda: [r for r in mock.stats()["recent"] if predicate(r)], what)
    return found[0]


# Conversations (and Snikket Android, Cheogram, Quicksy): IqGenerator.pushTokenToAppServer and
# enablePush, as the app writes them.
def conversations_register(token, android_id, muc=None):
    fields = (f"<field var='token'><value>{token}</value></field>"
              f"<field var='android-id'><value>{android_id}</value></field>")
    if muc:
        fields += f"<field var='muc'><value>{muc}</value></field>"
    return raw_iq(f"<iq xmlns='jabber:client' type='set' to='{PUSH}'>"
                  f"<command xmlns='{NS_COMMANDS}' node='register-push-fcm' action='execute'>"
                  f"<x xmlns='{NS_DATA}' type='submit'>{fields}</x></command></iq>")


def conversations_unregister_channel(channel, android_id):
    """Conversations leaving a group chat's pushes: the channel its pushes carried, no muc."""
    return raw_iq(f"<iq xmlns='jabber:client' type='set' to='{PUSH}'>"
                  f"<command xmlns='{NS_COMMANDS}' node='unregister-push-fcm' action='execute'>"
                  f"<x xmlns='{NS_DATA}' type='submit'><field var='channel'><value>{channel}</value></field>"
                  f"<field var='android-id'><value>{android_id}</value></field></x></command></iq>")


def conversations_enable(jid, node, secret):
    return raw_iq(f"<iq xmlns='jabber:client' type='set'><enable xmlns='urn:xmpp:push:0' jid='{jid}' node='{node}'>"
                  f"<x xmlns='{NS_DATA}' type='submit'>"
                  f"<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
                  f"<field var='secret'><value>{secret}</value></field></x></enable></iq>")


def test_prosody_client_conversations_fcm_carries_the_account_hash_and_the_channel():
    with client_stack("fcm") as (prosody, pushgate, mock):
        android_id = secrets.token_hex(8)  # Settings.Secure.ANDROID_ID: 16 hex digits
        token, room = fcm_token(), "room@conference.localhost"

        async def register_and_enable(client):
            own, _ = result_form(await conversations_register(token, android_id)(client))
            group, _ = result_form(await conversations_register(token, android_id, muc=room)(client))
            for form in (own, group):
                assert form["jid"] == [PUSH] and len(form["node"][0]) >= 16 and form["secret"][0], form
            # The room's registration is enabled here by alice herself: Prosody's MUC does not
            # enable push for its occupants, and the push is the same either way.
            for form in (own, group):
                reply = await conversations_enable(form["jid"][0], form["node"][0], form["secret"][0])(client)
                assert reply.get("type") == "result", ET.tostring(reply)
            return own, group
        own, group = as_user(prosody, "alice", register_and_enable)
        message_alice(prosody, "hello")
        # What the app computes for its account, independently of pushgate.
        account = hashlib.sha1("alice@localhost".encode() + b"\0" + android_id.encode()).hexdigest()
        channel = hashlib.sha1(room.encode() + b"\0" + android_id.encode()).hexdigest()
        wait_for(lambda: len(mock.stats()["recent"]) >= 2, "two FCM messages at the mock")
        messages = mock.stats()["recent"]
        assert all(m["token"] == token and m["data"]["account"] == account for m in messages), messages
        assert sorted(m["data"].get("channel", "") for m in messages) == ["", channel], messages
        log = pushgate.log()
        assert token not in log and android_id not in log and account not in log

        # Leaving the room's pushes by its channel forgets that registration only: the next
        # message reaches the phone once, for its own account (the room's node is now unknown,
        # and Prosody hears item-not-found for it).
        reply = as_user(prosody, "alice", conversations_unregister_channel(channel, android_id))
        result_form(reply)
        message_alice(prosody, "again")
        wait_for(lambda: len(mock.stats()["recent"]) >= 3, "a third FCM message at the mock")
        prosody.wait_log(r"item-not-found")
        messages = mock.stats()["recent"]
        assert len(messages) == 3 and "channel" not in messages[2]["data"], messages
        assert messages[2]["data"]["account"] == account


# Siskin IM and Snikket iOS: Martin's TigasePushNotificationsModule and SiskinPushNotificationsModule.
def siskin_enable(node, key_b64, max_size):
    """Siskin's enable as Martin's TigasePushNotificationsModule writes it (prepareExtensions in
    SiskinPushNotificationsModule.swift): the groupchat filter (no room rules), no muted element
    when no chat is muted, priority, the encryption key with the register-device result's
    max-payload-size as max-size, and jingle."""
    return raw_iq(f"<iq xmlns='jabber:client' type='set'><enable xmlns='urn:xmpp:push:0' jid='{PUSH}' node='{node}'>"
                  "<groupchat xmlns='tigase:push:filter:groupchat:0'/>"
                  "<priority xmlns='tigase:push:priority:0'/>"
                  f"<encrypt xmlns='tigase:push:encrypt:0' alg='aes-128-gcm' max-size='{max_size}'>{key_b64}</encrypt>"
                  "<jingle xmlns='tigase:push:jingle:0'/>"
                  "</enable></iq>")


def register_device(provider, token, second_token=None):
    fields = (f"<field var='provider'><value>{provider}</value></field>"
              f"<field var='device-token'><value>{token}</value></field>")
    if second_token:
        fields += f"<field var='device-second-token'><value>{second_token}</value></field>"
    return raw_iq(f"<iq xmlns='jabber:client' type='set' to='{PUSH}'>"
                  f"<command xmlns='{NS_COMMANDS}' node='register-device' action='execute'>"
                  f"<x xmlns='{NS_DATA}' type='submit'>{fields}</x></command></iq>")


def decrypt(key, payload):
    """Siskin's NotificationService: AES-128-GCM with the key and the payload's iv. Prosody
    appends 16 zero bytes where the tag belongs, so the tag is not checked: GCM's keystream is
    AES-CTR from the counter block iv || 00000002."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    iv = base64.b64decode(payload["iv"])
    data = base64.b64decode(payload["encrypted"])
    assert len(iv) == 12 and data.endswith(b"\0" * 16), payload
    d = Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02")).decryptor()
    return json.loads(d.update(data[:-16]) + d.finalize())


def test_prosody_client_siskin_encrypted_message_and_call_on_pushkit():
    with client_stack("apns", extra_modules=["cloud_notify_extensions"]) as (prosody, pushgate, mock):
        token, pushkit = device_token().upper(), device_token()  # Siskin may send upper-case hex
        key = os.urandom(16)

        async def discover_register_enable(client):
            items = await raw_iq("<iq xmlns='jabber:client' type='get' to='localhost'>"
                                 "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>")(client)
            jids = [i.get("jid") for i in items.iter("{http://jabber.org/protocol/disco#items}item")]
            assert PUSH in jids, ET.tostring(items)
            info = await raw_iq(f"<iq xmlns='jabber:client' type='get' to='{PUSH}'>"
                                "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")(client)
            q = "{http://jabber.org/protocol/disco#info}"
            identities = [(i.get("category"), i.get("type")) for i in info.iter(f"{q}identity")]
            features = [f.get("var") for f in info.iter(f"{q}feature")]
            assert ("pubsub", "push") in identities and "tigase:messenger:apns:1" in features, ET.tostring(info)
            form, cmd = result_form(await register_device("tigase:messenger:apns:1", token, pushkit)(client))
            # Siskin reads node, and asks for encryption only when features lists it.
            assert set(form) == {"node", "features", "max-payload-size"}, form
            assert form["features"] == ["tigase:push:encrypt:0", "tigase:push:encrypt:aes-128-gcm"], form
            feature_field = next(f for f in cmd.iter(f"{{{NS_DATA}}}field") if f.get("var") == "features")
            assert feature_field.get("type") == "list-multi"
            assert int(form["max-payload-size"][0]) == 3000, form
            reply = await siskin_enable(form["node"][0], base64.b64encode(key).decode(), form["max-payload-size"][0])(client)
            assert reply.get("type") == "result", ET.tostring(reply)
            return form["node"][0]
        node = as_user(prosody, "alice", discover_register_enable)
        prosody.wait_log(r"Encrypted push notifications enabled")

        message_alice(prosody, "dinner at eight?")
        alert = recent(mock, lambda r: r["token"] == token, "the alert at the device token")
        assert alert["headers"]["apns-push-type"] == "alert", alert
        assert alert["headers"]["apns-topic"] == "com.example.chat", alert
        payload = json.loads(alert["body"])
        assert set(payload) == {"aps", "account", "encrypted", "iv"}, payload
        assert payload["account"] == "alice@localhost"
        assert payload["aps"]["mutable-content"] == 1, payload
        clear = decrypt(key, payload)
        assert clear["type"] == "chat" and clear["message"] == "dinner at eight?", clear
        assert clear["sender"] == "bob@localhost", clear

        # A Jingle Message call from bob to the offline alice: PushKit, VoIP topic, type call.
        call_id = secrets.token_hex(8)
        as_user(prosody, "bob", send_raw(
            f"<message xmlns='jabber:client' to='alice@localhost' type='chat' id='{secrets.token_hex(6)}'>"
            f"<propose xmlns='urn:xmpp:jingle-message:0' id='{call_id}'>"
            "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose></message>"))
        call = recent(mock, lambda r: r["token"] == pushkit, "the call at the PushKit token")
        assert call["headers"]["apns-push-type"] == "voip", call
        assert call["headers"]["apns-topic"] == "com.example.chat.voip", call
        payload = json.loads(call["body"])
        assert set(payload) == {"aps", "account", "encrypted", "iv"}, payload
        assert payload["account"] == "alice@localhost"
        clear = decrypt(key, payload)
        assert clear["type"] == "call" and clear["sid"] == call_id and clear["media"] == ["audio"], clear
        assert clear["sender"].startswith("bob@localhost"), clear
        # Never the VoIP topic at the ordinary token.
        assert all(r["headers"]["apns-topic"] == "com.example.chat"
                   for r in mock.stats()["recent"] if r["token"] == token), mock.stats()["recent"]
        log = pushgate.log()
        assert token not in log and pushkit not in log and node not in log


def test_prosody_client_siskin_call_without_pushkit_token_rings_as_a_high_priority_alert():
    with client_stack("apns", extra_modules=["cloud_notify_extensions"]) as (prosody, pushgate, mock):
        token, key = device_token(), os.urandom(16)

        async def register_enable(client):
            form, _ = result_form(await register_device("tigase:messenger:apns:1", token)(client))
            await siskin_enable(form["node"][0], base64.b64encode(key).decode(), form["max-payload-size"][0])(client)
        as_user(prosody, "alice", register_enable)
        prosody.wait_log(r"Encrypted push notifications enabled")
        as_user(prosody, "bob", send_raw(
            "<message xmlns='jabber:client' to='alice@localhost' type='chat' id='c1'>"
            "<propose xmlns='urn:xmpp:jingle-message:0' id='call-2'>"
            "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'/></propose></message>"))
        call = recent(mock, lambda r: r["token"] == token, "the call at the ordinary token")
        assert call["headers"]["apns-push-type"] == "alert", call
        assert call["headers"]["apns-topic"] == "com.example.chat", call
        assert call["headers"]["apns-priority"] == "10", call
        payload = json.loads(call["body"])
        assert payload["aps"]["mutable-content"] == 1 and decrypt(key, payload)["type"] == "call", payload
        assert mock.stats()["rejected"] == {}, mock.stats()
        wait_for(lambda: re.search(r"Received\[component\]: <iq [^>]*type=.result", prosody.log()),
                 "Prosody receiving the result")


def test_prosody_client_stork_fcm_carries_the_bare_jid_as_account():
    with client_stack("fcm") as (prosody, pushgate, mock):
        token = fcm_token()

        async def register_enable(client):
            form, _ = result_form(await register_device("fcm-xmpp-api", token)(client))
            # Stork enables with the node alone, as Siskin does (no encryption asked).
            reply = await raw_iq(f"<iq xmlns='jabber:client' type='set'><enable xmlns='urn:xmpp:push:0' jid='{PUSH}' "
                                 f"node='{form['node'][0]}'/></iq>")(client)
            assert reply.get("type") == "result", ET.tostring(reply)
        as_user(prosody, "alice", register_enable)
        message_alice(prosody, "hi")
        msg = recent(mock, lambda m: m["token"] == token, "the FCM message")
        assert msg["data"]["account"] == "alice@localhost", msg
        assert all(isinstance(v, str) for v in msg["data"].values()), msg
        assert msg["data"]["unread-messages"] == "1", msg
