"""check_online_bounds_* : `pushgate --check --online` against fake servers that misbehave in
ways a real one does not: a c2s port that answers <proceed/> to STARTTLS and then never speaks
TLS (libstrophe 0.12.2 loops in SSL_connect: only the check's own 25 s alarm ends it), and a
component port whose answer is large but well formed (300 KB at once: within the 1 MiB bound,
which counts what TCP received, once)."""

import re
import socket
import threading
import time

from harness import PATIENCE, WorkDir, free_port
from test_check_online import _check, _line

STREAM_NS = b"xmlns:stream='http://etherx.jabber.org/streams'"


class _FakeServer:
    """One listening socket on 127.0.0.1; `serve(conn)` runs in a thread for the first client."""

    def __init__(self, serve):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.seen = b""
        self.thread = threading.Thread(target=self._run, args=(serve,), daemon=True)
        self.thread.start()

    def _run(self, serve):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(1)
            try:
                serve(self, conn)
            except OSError:
                pass

    def read_more(self, conn):
        """Adds what the client sends next to `seen`."""
        while not self.stop.is_set():
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise OSError("client closed")
            self.seen += data
            return
        raise OSError("stopped")

    def read_until(self, conn, pattern):
        """Reads until what the client sent matches `pattern` (bytes regex)."""
        while not re.search(pattern, self.seen, re.S):
            self.read_more(conn)

    def hold(self, conn):
        """Keeps the connection open, saying nothing, until the client closes it or the test ends."""
        while not self.stop.is_set():
            try:
                if not conn.recv(65536):
                    return
            except socket.timeout:
                continue

    def close(self):
        self.stop.set()
        self.sock.close()
        self.thread.join(PATIENCE)
        assert not self.thread.is_alive()


def test_check_online_bounds_a_stalled_tls_handshake_ends_the_check_at_25_s():
    def serve(fake, conn):
        fake.read_until(conn, rb"<stream:stream[^>]*>")
        conn.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' " + STREAM_NS +
                     b" id='s1' from='localhost' version='1.0'><stream:features>"
                     b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
        fake.read_until(conn, rb"<starttls[^>]*/>")
        conn.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        fake.hold(conn)  # the ClientHello is read and never answered

    w = WorkDir()
    fake = _FakeServer(serve)
    try:
        class Server:
            component_jid, component_secret = "push.localhost", "x"
            component_port = free_port()  # nothing listens: the component side ends at once
            c2s_port = fake.port
        started = time.monotonic()
        rc, out = _check(w, Server, name="stall.toml")
        took = time.monotonic() - started
        assert rc == 1, out
        assert b"<starttls" in fake.seen, (fake.seen, out)
        _line(out, r"^pushgate: online check FAILED: no answer within 25 s \(a TLS handshake or name lookup "
                   r"that never completed\)$")
        assert 24 <= took < 35, (took, out)
    finally:
        fake.close()
        w.cleanup()


def test_check_online_bounds_a_large_well_formed_answer_is_read_whole():
    items = b"".join(b"<item jid='room%d.conference.example.net' name='%s'/>" % (i, b"x" * 60) for i in range(3000))
    assert len(items) > 300_000

    def serve(fake, conn):
        fake.read_until(conn, rb"<stream:stream[^>]*>")
        conn.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " + STREAM_NS +
                     b" id='c1' from='push.localhost'>")
        fake.read_until(conn, rb"<handshake[^>]*>[0-9a-f]+</handshake>")
        conn.sendall(b"<handshake/>")
        rx = rb"<iq [^>]*?id=[\"']([^\"']+)[\"'][^>]*>\s*<query xmlns=[\"']([^\"']+)[\"']"
        while True:  # the three questions about localhost: disco#info, disco#items, version
            asked = {m.group(2): m.group(1) for m in re.finditer(rx, fake.seen)}
            if len(asked) == 3:
                break
            fake.read_more(conn)
        head = b"<iq type='result' from='localhost' to='push.localhost' id='%s'><query xmlns='%s'>"
        answer = b""
        for ns, iq_id in asked.items():
            answer += head % (iq_id, ns)
            if ns.endswith(b"disco#info"):
                answer += b"<identity category='server' type='im' name='Prosody'/>"
            elif ns.endswith(b"disco#items"):
                answer += b"<item jid='push.localhost' name='Push'/>" + items
            else:
                answer += b"<name>Prosody</name><version>0.12.3</version>"
            answer += b"</query></iq>"
        conn.sendall(answer)  # all at once
        fake.hold(conn)

    w = WorkDir()
    fake = _FakeServer(serve)
    try:
        class Server:
            component_jid, component_secret = "push.localhost", "x"
            component_port = fake.port
        rc, out = _check(w, Server, account=False, name="large.toml")
        assert "more than 1 MiB" not in out, out
        _line(out, r"^xmpp component push\.localhost at .*: OK, handshake accepted$")
        _line(out, r"^xmpp localhost \(Prosody\): push service push\.localhost in disco#items .*: OK, listed by "
                   r"localhost$")
    finally:
        fake.close()
        w.cleanup()
