"""Legacy listener benchmark (BENCHMARKS.md): pushgate's listener and stunnel side by side in
one run, both direct TLS in front of the same sink backend.
  - TLS handshakes per second with `openssl s_time -new` (TLS 1.0 and TLS 1.3)
  - relay throughput: 512 MiB through one TLS connection into the sink
  - pushgate's memory per idle connection at 10,000 connections (handshake done, backend connected)
  - each terminator's own CPU (user + system, all threads) per handshake and per MiB relayed,
    which holds still when the shared machine's load does not
Run by tests/bench/run_legacy.sh, which installs stunnel4 and builds pushgate."""

import asyncio
import json
import os
import re
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

BIN, CERT, KEY, CA = sys.argv[1:5]
SECS = int(os.environ.get("SECONDS_PER_RUN", "10"))
IDLE = int(os.environ.get("IDLE_CONNECTIONS", "0")) or min(10000, (resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 100) // 2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """A backend that reads and discards, counting bytes, in a process of its own (its
    sockets must not count against the client's descriptor limit)."""

    def __init__(self):
        import multiprocessing
        self.port = free_port()
        self._count = multiprocessing.Value("q", 0, lock=False)
        self.proc = multiprocessing.Process(target=self._run, daemon=True)
        self.proc.start()
        time.sleep(0.5)

    @property
    def received(self):
        return self._count.value

    def _run(self):
        async def handle(reader, writer):
            while True:
                data = await reader.read(1 << 18)
                if not data:
                    break
                self._count.value += len(data)
            writer.close()

        async def main():
            server = await asyncio.start_server(handle, "127.0.0.1", self.port, backlog=4096)
            await server.serve_forever()
        asyncio.run(main())


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def s_time(port, args):
    """(handshakes per second, handshakes made)"""
    out = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(SECS), *args],
                         capture_output=True, text=True).stdout
    m = re.search(r"(\d+) connections in ([\d.]+) real seconds", out)
    return (round(int(m.group(1)) / float(m.group(2)), 1), int(m.group(1))) if m else (None, None)


def throughput(port, sink, mib=512):
    ctx = ssl.create_default_context(cafile=CA)
    chunk = os.urandom(1 << 16)
    before = sink.received
    start = time.time()
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            for _ in range(mib * 16):
                s.sendall(chunk)
            # Wait until the sink has everything; the relay must not drop a byte.
            deadline = time.time() + 60
            while sink.received - before < mib << 20 and time.time() < deadline:
                time.sleep(0.01)
    took = time.time() - start
    assert sink.received - before == mib << 20, (sink.received - before, mib << 20)
    return round(mib / took, 1)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


async def open_idle(port, n):
    ctx = ssl.create_default_context(cafile=CA)
    conns = []
    sem = asyncio.Semaphore(200)

    async def one():
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
            conns.append(w)
    await asyncio.gather(*[one() for _ in range(n)])
    return conns


def main():
    # Each relayed connection holds two descriptors in pushgate (client and backend); this
    # machine's hard limit (not raisable here) caps the idle test below 10,000 (see BENCHMARKS.md).
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sink = Sink()
    work = tempfile.mkdtemp()
    ours, theirs = free_port(), free_port()
    secret = os.path.join(work, "s")
    with open(secret, "w") as f:
        f.write("x" * 16 + "\n")
    os.chmod(secret, 0o600)
    with open(os.path.join(work, "pg.toml"), "w") as f:
        f.write(f'[component]\njid = "push.bench"\nport = 1\nsecret_file = "{secret}"\n'
                f'[[app]]\nname = "a"\nservice = "log"\nsecret_file = "{secret}"\noutput = "/dev/null"\n'
                f'[legacy_tls]\nlisten = "127.0.0.1:{ours}"\nbackend = "127.0.0.1:{sink.port}"\n'
                f'cert_file = "{CERT}"\nkey_file = "{KEY}"\nmax_connections = 20000\n')
    with open(os.path.join(work, "stunnel.conf"), "w") as f:
        f.write(f"foreground = yes\npid =\n[legacy]\naccept = 127.0.0.1:{theirs}\nconnect = 127.0.0.1:{sink.port}\n"
                f"cert = {CERT}\nkey = {KEY}\nsslVersionMin = TLSv1\nciphers = DEFAULT:@SECLEVEL=0\n"
                f"securityLevel = 0\n")
    pg_log = open(os.path.join(work, "pushgate.log"), "w")
    pg = subprocess.Popen([BIN, "--config", os.path.join(work, "pg.toml"), "--log-level", "error"], stderr=pg_log)
    st = subprocess.Popen(["stunnel", os.path.join(work, "stunnel.conf")], stderr=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL)
    time.sleep(1.0)
    results = {}
    try:
        tls10 = ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"]
        for name, port, pid in (("pushgate", ours, pg.pid), ("stunnel", theirs, st.pid)):
            r = results[name] = {}
            for label, args in (("tls1.0", tls10), ("tls1.3", ["-tls1_3"])):
                before = cpu_seconds(pid)
                r["handshakes_per_s_" + label], made = s_time(port, args)
                r["cpu_ms_per_handshake_" + label] = round((cpu_seconds(pid) - before) * 1000 / made, 3) if made else None
            before = cpu_seconds(pid)
            r["relay_mib_per_s"] = throughput(port, sink)
            r["cpu_ms_per_mib"] = round((cpu_seconds(pid) - before) * 1000 / 512, 2)
        base = rss_kib(pg.pid)
        loop = asyncio.new_event_loop()
        conns = loop.run_until_complete(open_idle(ours, IDLE))
        time.sleep(1.0)
        after = rss_kib(pg.pid)
        results["pushgate"]["idle_connections"] = len(conns)
        results["pushgate"]["kib_per_idle_connection"] = round((after - base) / len(conns), 1)
        results["pushgate"]["rss_mib_at_idle_connections"] = round(after / 1024, 1)
        for w in conns:
            w.transport.abort()
        loop.close()
    except BaseException:
        with open(os.path.join(work, "pushgate.log")) as f:
            print("pushgate exited with", pg.poll(), "; its log:\n", f.read()[-4000:], file=sys.stderr)
        raise
    finally:
        pg.terminate()
        st.terminate()
        pg.wait()
        st.wait()
    print(json.dumps(results, indent=1))


main()
