"""legacy_tls_* : old TLS clients through pushgate's legacy listener to a real Prosody, with
openssl s_client, a slixmpp client forced to TLS 1.0, and raw sockets for the bad input."""

import re
import socket
import ssl
import subprocess
import time

from harness import (PATIENCE, Prosody, Pushgate, TestPki, WorkDir, free_port, send_message, server_round_trip,
                     xmpp_session)

STREAM = ("<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
STARTTLS = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"


class LegacyStack:
    """Prosody (plain c2s on loopback, or STARTTLS required) + pushgate with [legacy_tls]."""

    def __init__(self, mode="plain", extra="", backend_port=None):
        self.mode = mode
        self.workdir = WorkDir()
        self.pki = TestPki(self.workdir)
        self.prosody = Prosody(self.workdir, tls=(self.pki.cert, self.pki.key) if mode == "starttls" else None)
        self.prosody.register("alice", "alicepw")
        self.prosody.register("bob", "bobpw")
        self.prosody.start()
        self.port = free_port()
        legacy = (f'\n[legacy_tls]\nlisten = "127.0.0.1:{self.port}"\nbackend = "127.0.0.1:{backend_port or self.prosody.c2s_port}"\n'
                  f'backend_mode = "{mode}"\ncert_file = "{self.pki.cert}"\nkey_file = "{self.pki.key}"\n{extra}\n')
        self.pushgate = Pushgate(self.workdir, self.prosody, extra=legacy)
        self.pushgate.start()
        self.pushgate.wait_log(r"event=legacy_tls_listening")

    def s_client(self, *version_args):
        out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-starttls", "xmpp",
                              "-xmpphost", "localhost", "-CAfile", self.pki.ca, "-brief", *version_args],
                             input="", capture_output=True, text=True, timeout=PATIENCE)
        return out.stdout + out.stderr

    def raw(self, data, chunks=None, until=None):
        """Sends bytes before TLS; returns everything the listener answered until it closed
        (or, with `until`, until its answer holds those bytes). A listener that neither closes
        nor answers `until` within PATIENCE ends the answer with <still-open/>."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=PATIENCE) as s:
            for part in chunks or [data]:
                s.sendall(part.encode() if isinstance(part, str) else part)
                time.sleep(0.01)
            got = b""
            try:
                while until is None or until not in got:
                    b = s.recv(65536)
                    if not b:
                        break
                    got += b
            except socket.timeout:
                got += b"<still-open/>"
            return got.decode(errors="replace")

    def close(self):
        self.pushgate.stop()
        self.prosody.stop()
        self.workdir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tls10_context(ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_verify_locations(ca)
    return ctx


def plain_context(stack):
    """A modern client's context, for bob connecting to a Prosody that requires TLS."""
    return ssl.create_default_context(cafile=stack.pki.ca)


def chat_through_listener(stack):
    """alice logs in through the listener with TLS 1.0, bob directly; they exchange a message."""
    ctx = tls10_context(stack.pki.ca)
    seen = {}

    async def alice(client):
        import asyncio
        got = asyncio.get_event_loop().create_future()
        client.add_event_handler("message", lambda m: got.done() or got.set_result(str(m["body"])))
        client.send_presence()
        await server_round_trip(client)  # Prosody has our presence: bob's message is delivered, not stored
        # bob is a second client connected to Prosody directly, on a thread (one slixmpp loop each).
        await asyncio.to_thread(xmpp_session, "bob@localhost", "bobpw", stack.prosody.c2s_port,
                                send_message("alice@localhost", "hi old phone"), PATIENCE,
                                plain_context(stack) if stack.mode == "starttls" else None)
        seen["version"] = client.transport.get_extra_info("ssl_object").version()
        seen["alice got"] = await asyncio.wait_for(got, PATIENCE)
        client.send_message(mto="bob@localhost", mbody="hello from TLS 1.0", mtype="chat")
        await server_round_trip(client)
        return True

    # slixmpp runs one client per thread here; bob's session runs nested in alice's action.
    import threading
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", xmpp_session(
        "alice@localhost", "alicepw", stack.port, alice, tls_context=ctx)))
    t.start()
    t.join(2 * PATIENCE)  # bob's session runs inside alice's
    assert result.get("r") is True, (result, stack.pushgate.log()[-3000:])
    return seen


def test_legacy_tls_s_client_reaches_tls10_and_tls13():
    with LegacyStack() as s:
        out = s.s_client("-tls1", "-cipher", "DEFAULT:@SECLEVEL=0")
        assert re.search(r"Protocol version: TLSv1\n", out), out[-2000:]
        assert "Verification: OK" in out, out[-2000:]
        out = s.s_client("-tls1_3")
        assert re.search(r"Protocol version: TLSv1.3\n", out), out[-2000:]
        # Without @SECLEVEL=0 a TLS 1.0 client is refused by its own OpenSSL, not by us.
        s.pushgate.wait_log(r"event=legacy_tls_handshake .*version=TLSv1.3", count=1)
        s.pushgate.wait_log(r"event=legacy_tls_handshake .*version=TLSv1 ", count=1)


def test_legacy_tls_tls10_client_chats_through_plain_backend():
    with LegacyStack("plain") as s:
        seen = chat_through_listener(s)
        assert seen["version"] == "TLSv1" and seen["alice got"] == "hi old phone", seen


def test_legacy_tls_tls10_client_chats_through_starttls_backend_with_prosody_requiring_tls():
    with LegacyStack("starttls") as s:
        seen = chat_through_listener(s)
        assert seen["version"] == "TLSv1" and seen["alice got"] == "hi old phone", seen
        # Prosody saw a TLS client session (its require-encryption policy held) from the listener.
        assert re.search(r"c2s\w+ .*Client is using TLS|TLS negotiation|secure = true|encrypted", s.prosody.log()) \
            or "starttls" in s.prosody.log().lower(), s.prosody.log()[-3000:]


def test_legacy_tls_offers_only_starttls_in_one_write_and_answers_its_own_header():
    with LegacyStack() as s:
        with socket.create_connection(("127.0.0.1", s.port), timeout=PATIENCE) as c:
            c.sendall(STREAM.encode())
            first = c.recv(65536).decode()
        assert 'from="localhost"' in first and 'id="' in first, first
        assert first.endswith("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
                              "</starttls></stream:features>"), first
        assert "mechanism" not in first


def test_legacy_tls_bad_input_gets_its_stream_error():
    with LegacyStack(extra="pre_tls_bytes = 1024") as s:
        cases = {
            "restricted-xml": STREAM + "<!-- hi -->",
            "invalid-namespace": STREAM.replace("jabber:client", "jabber:server"),
            "unsupported-version": STREAM.replace(" version='1.0'>", ">"),
            "policy-violation": STREAM + "<message><body>before TLS</body></message>",
            "not-well-formed": STREAM + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'></oops>",
        }
        for condition, data in cases.items():
            got = s.raw(data)
            assert f'<{condition} xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>' in got, (condition, got)
            assert got.endswith("</stream:stream>"), (condition, got)
        got = s.raw("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream/>")
        assert "<restricted-xml" in got and got.startswith("<?xml version='1.0'?><stream:stream"), got
        got = s.raw(STREAM + " " * 2000)
        assert "<policy-violation" in got, got
        got = s.raw(b"\x16\x03\x01\x00\x05hello")  # a broken ClientHello: no stream error, just closed
        assert "<stream" not in got and "still-open" not in got, got
    # Slow loris: half a header, then nothing. A listener of its own with a 1 s limit, so that
    # the cases above never race it on a slow machine.
    with LegacyStack(extra="pre_tls_seconds = 1") as s:
        got = s.raw(STREAM[:40])
        assert "<connection-timeout" in got, got


def test_legacy_tls_input_split_byte_by_byte_still_gets_proceed():
    with LegacyStack() as s:
        data = STREAM + STARTTLS
        got = s.raw(data, chunks=[data[i:i + 1] for i in range(len(data))], until=b"<proceed")
        assert "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" in got, got


def test_legacy_tls_backend_down_is_remote_connection_failed():
    with LegacyStack() as s:
        s.prosody.stop()
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=PATIENCE)
        raw.sendall((STREAM + STARTTLS).encode())
        buf = b""
        while b"<proceed" not in buf:
            buf += raw.recv(4096)
        ctx = ssl.create_default_context(cafile=s.pki.ca)
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        tls.sendall(STREAM.encode())
        got = b""
        try:
            while True:
                b = tls.recv(4096)
                if not b:
                    break
                got += b
        except (ssl.SSLError, OSError):
            pass
        tls.close()
        text = got.decode(errors="replace")
        assert '<remote-connection-failed xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>' in text, text
        s.pushgate.wait_log(r"event=legacy_tls_backend_down")


def test_legacy_tls_thousands_of_connections_do_not_break_the_component_session():
    """Regression: libstrophe waits with select(); when relayed connections took the low
    descriptors, the component's next socket landed past FD_SETSIZE and aborted pushgate."""
    with LegacyStack() as s:
        idle = []
        for _ in range(1100):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=PATIENCE)
            c.sendall(STREAM.encode())
            idle.append(c)
        s.prosody.stop()
        s.prosody.start()  # the component reconnects with a new socket
        s.prosody.wait_authenticated(2)
        assert s.pushgate.proc.poll() is None, s.pushgate.log()[-2000:]
        got = s.raw(STREAM + STARTTLS, until=b"<proceed")
        assert "<proceed" in got, got
        for c in idle:
            c.close()


def starttls_client(stack):
    """A client that does STARTTLS by hand (TLS 1.2+) and returns the TLS socket."""
    raw = socket.create_connection(("127.0.0.1", stack.port), timeout=PATIENCE)
    raw.sendall((STREAM + STARTTLS).encode())
    buf = b""
    while b"<proceed" not in buf:
        buf += raw.recv(4096)
    return ssl.create_default_context(cafile=stack.pki.ca).wrap_socket(raw, server_hostname="localhost")


def test_legacy_tls_proxy_header_v1_and_v2_reach_the_backend_before_the_stream():
    for version in ("v1", "v2"):
        backend = socket.socket()
        backend.bind(("127.0.0.1", 0))
        backend.listen(1)
        backend.settimeout(PATIENCE)
        with LegacyStack(extra=f'proxy_protocol = "{version}"', backend_port=backend.getsockname()[1]) as s:
            tls = starttls_client(s)
            tls.sendall(STREAM.encode())
            conn, _ = backend.accept()
            conn.settimeout(PATIENCE)
            got = b""
            while STREAM.encode() not in got:
                got += conn.recv(4096)
            client_port = tls.getsockname()[1]
            if version == "v1":
                assert got.startswith(f"PROXY TCP4 127.0.0.1 127.0.0.1 {client_port} {s.port}\r\n".encode()), got
            else:
                assert got[:12] == b"\r\n\r\n\x00\r\nQUIT\n" and got[12:14] == b"\x21\x11", got
                assert int.from_bytes(got[24:26], "big") == client_port and int.from_bytes(got[26:28], "big") == s.port
                assert got[28:] == STREAM.encode(), got
            conn.close()
            tls.close()
        backend.close()
