"""component_stream_*: the component stream as the XMPP server's socket sees it, against a
fake XEP-0114 server in this process: a real Prosody cannot be told to stop reading."""

import ctypes
import hashlib
import os
import re
import secrets
import socket
import threading
import time

from harness import PATIENCE, Pushgate, WorkDir, recv_until

SYS_pidfd_getfd = 438  # Linux 5.6 and later, x86-64 and arm64 alike


def shrink_send_buffer(pid, peer_port, size=4096):
    """Finds the socket process `pid` has connected to 127.0.0.1:peer_port, takes a copy of it
    with pidfd_getfd (root, or ptrace rights over pid) and sets its SO_SNDBUF to `size`: the
    kernel then takes a large write from pushgate only in part, every time."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                continue
            fd = libc.syscall(SYS_pidfd_getfd, pidfd, int(name), 0)
            if fd < 0:
                raise OSError(ctypes.get_errno(), f"pidfd_getfd({pid}, {name})")
            s = socket.socket(fileno=fd)
            try:
                if s.family == socket.AF_INET and s.type == socket.SOCK_STREAM and s.getpeername() == ("127.0.0.1", peer_port):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
                    return
            except OSError:
                pass  # not connected
            finally:
                s.close()  # our copy only: pushgate's descriptor stays open
    finally:
        os.close(pidfd)
    raise AssertionError(f"process {pid} has no socket connected to port {peer_port}")


class FakeComponentServer:
    """Accepts one XEP-0114 connection for push.localhost, checks the handshake and answers
    <handshake/>. It has what harness.Pushgate reads of a Prosody (component_jid, _port,
    _secret, component_authentications)."""

    component_jid = "push.localhost"

    def __init__(self, rcvbuf=4096):
        self.component_secret = secrets.token_hex(8)
        self.listener = socket.socket()
        # A small receive window: pushgate's writes fill it and the kernel's buffers quickly.
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.component_port = self.listener.getsockname()[1]
        self.conn = None
        self.handshakes = 0
        self.error = None

    def component_authentications(self):
        return self.handshakes

    def serve_handshake(self, timeout=PATIENCE):
        try:
            self.listener.settimeout(timeout)
            conn, _ = self.listener.accept()
            conn.settimeout(timeout)
            recv_until(conn, b"<stream:stream", max_bytes=65536)
            stream_id = "s" + secrets.token_hex(6)
            conn.sendall(f"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                         f"xmlns:stream='http://etherx.jabber.org/streams' from='{self.component_jid}' "
                         f"id='{stream_id}'>".encode())
            got = recv_until(conn, b"</handshake>", max_bytes=65536).decode()
            m = re.search(r"<handshake[^>]*>\s*([0-9a-fA-F]+)\s*</handshake>", got)
            assert m, got
            digest = m.group(1).lower()
            assert digest == hashlib.sha1((stream_id + self.component_secret).encode()).hexdigest(), got
            conn.sendall(b"<handshake/>")
            self.conn = conn
            self.handshakes += 1
        except Exception as e:  # noqa: BLE001 - reported by the test that waits for the handshake
            self.error = e

    def close(self):
        for s in (self.conn, self.listener):
            if s is not None:
                s.close()


def test_component_stream_replies_held_by_a_slow_reader_all_arrive_with_no_further_traffic():
    """The server sends 20,000 disco#info requests without reading; pushgate answers them in
    batches that its socket cannot take at once. When the server starts reading, and sends
    nothing more, every answer must arrive. Regression: libstrophe does not count a send it has
    begun, so a batch written in part, last in its queue, used to wait for the next stanza
    from the server (here: never; pings are an hour apart)."""
    w = WorkDir()
    fake = FakeComponentServer()
    pg = Pushgate(w, fake, ping_interval=3600)
    try:
        server = threading.Thread(target=fake.serve_handshake)
        server.start()
        pg.start(wait_connected=False)
        server.join(PATIENCE)
        assert fake.conn is not None, f"no handshake: {fake.error}\n{pg.log()[-2000:]}"
        pg.wait_log(r"event=component_connected")
        shrink_send_buffer(pg.proc.pid, fake.component_port)

        count = 5000
        requests = "".join(f"<iq type='get' id='d{i}' from='localhost' to='{fake.component_jid}'>"
                           f"<query xmlns='http://jabber.org/protocol/disco#info'/></iq>" for i in range(count))
        fake.conn.sendall(requests.encode())  # pushgate reads while it cannot write

        answered = 0
        received = b""
        deadline = time.monotonic() + PATIENCE  # a bound for the failure, not a wait: answers come at once
        fake.conn.settimeout(1)
        while answered < count and time.monotonic() < deadline:
            try:
                chunk = fake.conn.recv(1 << 16)
            except socket.timeout:
                continue
            assert chunk, f"pushgate closed the stream after {answered} answers:\n{pg.log()[-2000:]}"
            # An end tag split across reads: the 4 bytes kept hold no whole one.
            received += chunk
            answered += received.count(b"</iq>")
            received = received[-4:]
        assert answered == count, (f"{answered} of {count} answers arrived; the rest waited for traffic "
                                   f"from the server\n{pg.log()[-1500:]}")
        assert "AddressSanitizer" not in pg.log()
    finally:
        pg.stop()
        fake.close()
        w.cleanup()
