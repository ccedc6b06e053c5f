"""api_abuse_* : the local HTTP API keeps serving while a client on a TCP connection misbehaves:
idle or slow connections, a flood of header bytes, TLS handshakes never finished, more
connections than its address may hold. Legitimate requests come from 127.0.0.1; attackers
that must be told apart by address connect from 127.0.0.2."""

import contextlib
import shutil
import http.client
import re
import signal
import socket
import ssl
import tempfile
import threading
import time

from prometheus_client.parser import text_string_to_metric_families

from harness import PATIENCE, device_token, wait_for
from test_http_api import ApiStack, curl, make_client_pki

ATTACKER = "127.0.0.2"


def timed_request(port, method="GET", path="/health", body=None, context=None):
    """One request on a new connection; returns (status or the error, seconds taken)."""
    start = time.monotonic()
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=PATIENCE, context=context)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.monotonic() - start
    except OSError as e:
        return repr(e), time.monotonic() - start
    finally:
        conn.close()


def held(m):
    """Connections the front door holds, from its own gauge, less the /metrics request that asked."""
    return m[("pushgate_api_connections", ())] - 1


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def connect(port, source=None):
    s = socket.socket()
    if source:
        s.bind((source, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def metrics(*curl_args):
    code, body = curl(*curl_args)
    assert code == 200, body
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(body) for s in fam.samples}


def refused(m, reason):
    return m[("pushgate_api_connections_refused_total", (("reason", reason),))]


def push_body(a):
    return '{"node":"%s","secret":"%s","type":"call"}' % (device_token(), a.push_secret)


def test_api_abuse_200_idle_connections_do_not_delay_health():
    with ApiStack(http_extra="max_connections_per_address = 500") as a, contextlib.ExitStack() as sockets:
        for _ in range(200):
            sockets.enter_context(connect(a.port))
        wait_for(lambda: held(a.metrics()) >= 200, "pushgate holding the 200 idle connections")
        status, took = timed_request(a.port)
        print(f"  GET /health with 200 idle connections open: {status} in {took * 1000:.0f} ms")
        assert status == 200 and took < 1.0, (status, took)
        # Stopping is clean with them still open.
        assert a.stack.pushgate.stop() == 0


def test_api_abuse_100_slow_header_connections_do_not_delay_health_or_push():
    with ApiStack(http_extra="max_connections_per_address = 500") as a, contextlib.ExitStack() as sockets:
        assert timed_request(a.port, "POST", "/push", push_body(a))[0] == 200  # the provider connection is up
        slow = [sockets.enter_context(connect(a.port)) for _ in range(100)]
        for s in slow:
            s.sendall(b"GET /health HTTP/1.1\r\nX-Slow: ")
        stop = threading.Event()

        def trickle():
            while not stop.wait(0.1):  # one header byte per connection every 100 ms
                for s in slow:
                    with contextlib.suppress(OSError):
                        s.send(b"a")
        sender = threading.Thread(target=trickle)
        sender.start()
        try:
            wait_for(lambda: held(a.metrics()) >= 100, "pushgate holding the 100 slow connections")
            health = timed_request(a.port)
            push = timed_request(a.port, "POST", "/push", push_body(a))
        finally:
            stop.set()
            sender.join()
        print(f"  with 100 slow-header connections: GET /health {health[0]} in {health[1] * 1000:.0f} ms, "
              f"POST /push {push[0]} in {push[1] * 1000:.0f} ms")
        assert health[0] == 200 and health[1] < 1.0, health
        assert push[0] == 200 and push[1] < 1.0, push
        # The whole-request deadline cuts them off with 408 although each sends a byte every 100 ms.
        first = slow[0].recv(4096)
        assert first.startswith(b"HTTP/1.1 408 "), first
        wait_for(lambda: refused(a.metrics(), "request_timeout") >= 100, "100 request timeouts counted")
        log = a.stack.pushgate.log()
        assert len(re.findall(r"event=api_connection_refused reason=request_timeout", log)) == 1, log[-3000:]


def test_api_abuse_40_mib_of_headers_are_cut_off_with_431_and_memory_stays_flat():
    with ApiStack() as a, connect(a.port) as s:
        pid = a.stack.pushgate.proc.pid
        base = rss_kib(pid)
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.wait(0.01):
                peak[0] = max(peak[0], rss_kib(pid))
        sampler = threading.Thread(target=sample)
        sampler.start()
        line = b"X-Flood: " + b"SECRETFLOOD" * 90 + b"\r\n"
        chunk = line * 64
        sent = 0
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            while sent < 40 * 1024 * 1024:
                s.sendall(chunk)  # blocks while pushgate does not read
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = s.recv(4096)
        except ConnectionResetError:
            answer = b""
        done.set()
        sampler.join()
        peak[0] = max(peak[0], rss_kib(pid))
        print(f"  header flood: cut off after {sent // 1024} KiB sent, answer {answer[:12]!r}, "
              f"RSS {base // 1024} MiB -> peak {peak[0] // 1024} MiB (+{peak[0] - base} KiB)")
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer
        # pushgate reads 32 KiB and a short linger; the rest of `sent` sat in loopback socket buffers.
        assert sent < 16 * 1024 * 1024, f"{sent} bytes of headers were taken before the connection closed"
        assert (peak[0] - base) < 16 * 1024, f"RSS grew by {(peak[0] - base) // 1024} MiB"
        assert refused(a.metrics(), "headers_too_large") == 1
        log = a.stack.pushgate.log()
        assert re.search(r"event=api_connection_refused reason=headers_too_large client=127\.0\.0\.1", log), log[-2000:]
        assert "SECRETFLOOD" not in log
        assert timed_request(a.port)[0] == 200


def test_api_abuse_unfinished_tls_handshakes_do_not_block_a_client_with_a_certificate():
    d = tempfile.mkdtemp()
    ca, cert, key = make_client_pki(d, "ops")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, d, True)
        _unfinished_tls_handshakes(ca, cert, key)


def _unfinished_tls_handshakes(ca, cert, key):
    with ApiStack(tls=True, client_ca=ca, http_extra="max_connections_per_address = 500") as a, \
            contextlib.ExitStack() as sockets:
        tls = ["--cacert", a.pki.ca, "--cert", cert, "--key", key]
        opened = time.monotonic()
        stalled = [sockets.enter_context(connect(a.port)) for _ in range(100)]
        for s in stalled[:50]:
            s.sendall(b"\x16\x03\x01\x02\x00")  # a ClientHello record header, then nothing
        wait_for(lambda: held(metrics(*tls, f"{a.base}/metrics")) >= 100,
                 "pushgate holding the 100 stalled handshakes")
        ctx = ssl.create_default_context(cafile=a.pki.ca)
        ctx.load_cert_chain(cert, key)
        status, took = timed_request(a.port, context=ctx)
        print(f"  GET /health over mTLS with 100 stalled handshakes: {status} in {took * 1000:.0f} ms")
        assert status == 200 and took < 1.0, (status, took)
        # Each stalled handshake is closed at its own deadline (3 s), not a worker's timeout:
        # the front door counts every one as a handshake timeout.
        for s in stalled:
            assert s.recv(4096) == b""
        closed_after = time.monotonic() - opened
        print(f"  the 100 stalled handshakes were all closed {closed_after:.1f} s after they connected")
        assert refused(metrics(*tls, f"{a.base}/metrics"), "tls_handshake_timeout") == 100
        log = a.stack.pushgate.log()
        assert len(re.findall(r"event=api_connection_refused reason=tls_handshake_timeout", log)) == 1, log[-3000:]


def test_api_abuse_connections_past_the_per_address_cap_get_429_and_others_are_served():
    with ApiStack(http_extra="max_connections_per_address = 8") as a, contextlib.ExitStack() as sockets:
        held = [sockets.enter_context(connect(a.port, ATTACKER)) for _ in range(8)]
        extra = [sockets.enter_context(connect(a.port, ATTACKER)) for _ in range(4)]
        for s in extra:
            answer = s.recv(4096)
            assert answer.startswith(b"HTTP/1.1 429 ") and b"max_connections_per_address" in answer, answer
            assert s.recv(4096) == b""
        # Another address is served; the held connections were accepted and are served too.
        status, took = timed_request(a.port)
        print(f"  GET /health from another address with {ATTACKER} at its cap: {status} in {took * 1000:.0f} ms")
        assert status == 200 and took < 1.0, (status, took)
        for s in held:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
        m = a.metrics()
        assert refused(m, "per_address_cap") == 4
        log = a.stack.pushgate.log()
        assert re.search(r"event=api_connection_refused reason=per_address_cap client=127\.0\.0\.2", log), log[-2000:]
        # A reload raises the cap for the next connections.
        p = a.stack.pushgate
        p.rewrite_config(p.config_text().replace("max_connections_per_address = 8", "max_connections_per_address = 12"))
        p.signal(signal.SIGHUP)
        p.wait_log(r"event=reload .*result=applied")
        more = [sockets.enter_context(connect(a.port, ATTACKER)) for _ in range(4)]
        for s in more:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert refused(a.metrics(), "per_address_cap") == 4
