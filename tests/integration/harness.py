"""Real peers for integration tests: Debian's Prosody with mod_cloud_notify, the pushgate
binary, slixmpp clients, the Node mock APNs and FCM and a throwaway PKI. Every port is a free
port on 127.0.0.1; everything lives in a temp dir that is removed afterwards."""

import asyncio
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import logging

import slixmpp
import slixmpp.exceptions

logging.getLogger("slixmpp").setLevel(logging.CRITICAL)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PUSHGATE = os.environ.get("PUSHGATE_BIN", os.path.join(ROOT, "build", "pushgate"))
SNIPPET = os.path.join(ROOT, "prosody-config", "pushgate.cfg.lua")
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


def peers_dir():
    """../shared/peers/ (the real software tests run against, kept outside this repository):
    PUSHGATE_PEERS_DIR, else beside this checkout, else beside the repository it was cloned
    from (a clean clone in a temp dir). Fails, naming what it looked for, when none has it."""
    candidates = [os.environ.get("PUSHGATE_PEERS_DIR", ""), os.path.join(ROOT, "..", "shared", "peers")]
    try:
        origin = subprocess.run(["git", "-C", ROOT, "config", "remote.origin.url"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
        if origin.startswith("/"):
            candidates.append(os.path.join(origin, "..", "shared", "peers"))
    except (OSError, subprocess.SubprocessError):
        pass
    for c in candidates:
        if c and os.path.isdir(os.path.join(c, "prosody-modules")):
            return os.path.abspath(c)
    raise AssertionError("the shared peers (prosody-modules) were not found; set PUSHGATE_PEERS_DIR. Looked in: "
                         + ", ".join(c for c in candidates if c))


# How long any wait of a test waits for the event it expects: a safety net only, far above what
# any event takes on a loaded machine (a 2-core CI with sanitizer builds and a package build
# beside it), never a claim about how fast the code is. A test about a time limit measures
# that limit itself and says so.
PATIENCE = 60.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=PATIENCE):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def recv_until(sock, needle, timeout=None, max_bytes=1 << 20):
    """Reads from `sock` (plain or TLS) until the bytes received contain `needle`; returns them
    all. A peer that closes first, or sends max_bytes without it, fails the test; with
    `timeout`, so does one that goes quiet that long."""
    if timeout is not None:
        sock.settimeout(timeout)
    got = b""
    while needle not in got:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the peer closed before {needle!r}: {got[:300]!r}")
        got += chunk
        assert len(got) < max_bytes, f"{max_bytes} bytes without {needle!r}: {got[:300]!r}"
    return got


def wait_for(predicate, what="condition", timeout=PATIENCE):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


# Every long-running process a test starts, so none outlives its test: spawn() starts each in a
# process group of its own (runuser and the Prosody it starts, say), terminate() ends the group,
# and run.py calls reap_children() after every test, pass or fail, killing by PID whatever is left.
_CHILDREN = []


class Skip(Exception):
    """Raised by a test that cannot run on this machine, with the reason; run.py prints it as
    SKIP with the reason. Only for what the machine cannot do (the Debian package on a
    system without dpkg), never for a missing dependency tests/run.sh installs."""


def spawn(cmd, what=None, **kwargs):
    """subprocess.Popen in a new process group, remembered until reap_children()."""
    kwargs.setdefault("start_new_session", True)
    proc = subprocess.Popen(cmd, **kwargs)
    _CHILDREN.append((proc, what or os.path.basename(cmd[0])))
    return proc


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def terminate(proc, timeout=PATIENCE):
    """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit code. Whatever else
    is left in the process's group (a spawn()ed process) is killed too."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)  # as systemd does: a stopped process gets to handle it
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if any(p is proc for p, _ in _CHILDREN):
        _kill_group(proc)
    return proc.returncode


def reap_children():
    """Kills every spawn()ed process still running, with its group; returns what was left
    ("prosody (pid 123)"), empty when the test cleaned up after itself."""
    left = []
    for proc, what in _CHILDREN:
        if proc.poll() is None:
            left.append(f"{what} (pid {proc.pid})")
        _kill_group(proc)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
    _CHILDREN.clear()
    return left


class WorkDir:
    """A temp dir the prosody user can write (Prosody runs as that user, not root)."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="pushgate-it-")
        os.chmod(self.path, 0o755)

    def file(self, name):
        return os.path.join(self.path, name)

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


class Prosody:
    def __init__(self, workdir, component_jid="push.localhost", component_secret=None, tls=None, extra_modules=(),
                 without_modules=()):
        """tls: (cert, key) to offer STARTTLS on c2s and require it (Prosody's modern policy).
        extra_modules: modules of ../shared/peers/prosody-modules to load as well (e.g.
        "cloud_notify_extensions", which Siskin's encrypted pushes need).
        without_modules: modules of the test template's modules_enabled to leave out (e.g.
        "cloud_notify", for a server that does not offer push)."""
        self.tls = tls
        self.extra_modules = list(extra_modules)
        self.without_modules = list(without_modules)
        self.dir = os.path.join(workdir.path, "prosody")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        user = pwd.getpwnam("prosody")
        for d in (self.dir, os.path.join(self.dir, "data")):
            os.chown(d, user.pw_uid, user.pw_gid)
        self.component_jid = component_jid
        self.component_secret = component_secret or secrets.token_hex(16)
        self.c2s_port = free_port()
        self.s2s_port = free_port()
        self.component_port = free_port()
        self.config = os.path.join(self.dir, "prosody.cfg.lua")
        self.proc = None
        self._write_config()

    def _write_config(self):
        with open(SNIPPET) as f:
            snippet = f.read()
        snippet = (snippet.replace("push.example.com", self.component_jid)
                   .replace("CHANGE-ME-component-secret", self.component_secret)
                   .replace("component_ports = { 5347 }", f"component_ports = {{ {self.component_port} }}"))
        with open(os.path.join(self.dir, "pushgate.cfg.lua"), "w") as f:
            f.write(snippet)
        shutil.copyfile(os.path.join(os.path.dirname(SNIPPET), "cloud-notify.cfg.lua"),
                        os.path.join(self.dir, "cloud-notify.cfg.lua"))
        with open(os.path.join(TEMPLATES, "prosody.cfg.lua")) as f:
            cfg = f.read()
        cfg = (cfg.replace("@DIR@", self.dir).replace("@C2S_PORT@", str(self.c2s_port))
               .replace("@S2S_PORT@", str(self.s2s_port)))
        for m in self.without_modules:
            assert f' "{m}";' in cfg, f"the test Prosody template has no module {m!r} to leave out"
            cfg = cfg.replace(f' "{m}";', "")
        if self.extra_modules:
            modules = os.path.join(peers_dir(), "prosody-modules")
            cfg = cfg.replace('"offline"; "posix";', '"offline"; "posix"; ' + "".join(f'"{m}"; ' for m in self.extra_modules))
            cfg = f'plugin_paths = {{ "{modules}" }}\n' + cfg
        if self.tls:
            user = pwd.getpwnam("prosody")
            for src, name in zip(self.tls, ("tls.crt", "tls.key")):
                dst = os.path.join(self.dir, name)
                shutil.copyfile(src, dst)
                os.chown(dst, user.pw_uid, user.pw_gid)
                os.chmod(dst, 0o600)
            cfg = cfg.replace('"offline"; "posix";', '"offline"; "posix"; "tls";')
            cfg = cfg.replace("c2s_require_encryption = false",
                              f'c2s_require_encryption = true\nssl = {{ certificate = "{self.dir}/tls.crt"; key = "{self.dir}/tls.key" }}')
        with open(self.config, "w") as f:
            f.write(cfg)
        for name in ("prosody.cfg.lua", "pushgate.cfg.lua", "cloud-notify.cfg.lua"):
            os.chmod(os.path.join(self.dir, name), 0o644)

    def prosodyctl(self, *args, check=True):
        return subprocess.run(["runuser", "-u", "prosody", "--", "prosodyctl", "--config", self.config, *args],
                              capture_output=True, text=True, timeout=PATIENCE, check=check)

    def register(self, user, password, host="localhost"):
        self.prosodyctl("register", user, host, password)

    def start(self):
        self.proc = spawn(["runuser", "-u", "prosody", "--", "prosody", "-F", "--config", self.config], "prosody",
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.c2s_port)
        wait_port(self.component_port)

    def stop(self):
        if self.proc:
            terminate(self.proc)
        self.proc = None

    def log(self):
        try:
            with open(os.path.join(self.dir, "prosody.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def component_authentications(self, jid=None):
        """How often Prosody has logged that the component `jid` authenticated: Prosody's own
        word that it routes to the component from now on."""
        rx = re.escape(jid or self.component_jid) + r":component\s+info\s+External component successfully authenticated"
        return len(re.findall(rx, self.log()))

    def wait_authenticated(self, count, timeout=PATIENCE):
        """Waits until Prosody has logged `count` authentications of the component in all."""
        try:
            wait_for(lambda: self.component_authentications() >= count,
                     f"Prosody: External component successfully authenticated x{count}", timeout)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n--- prosody log (tail) ---\n{self.log()[-3000:]}") from None

    def wait_log(self, pattern, timeout=PATIENCE, count=1):
        rx = re.compile(pattern)
        try:
            wait_for(lambda: len(rx.findall(self.log())) >= count, f"prosody log /{pattern}/ x{count}", timeout)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n--- prosody log (tail) ---\n{self.log()[-3000:]}") from None


class Pushgate:
    """The daemon under test with the `log` provider writing JSON lines to a file."""

    def __init__(self, workdir, prosody, app_secret=None, apps=None, extra="", output=None, app_toml=None,
                 ping_interval=30, ping_timeout=20):
        """ping_interval, ping_timeout: the component session's XEP-0199 self-ping. A ping that
        times out ends the session, so the default timeout (the daemon's own) is far above any
        answer a loaded machine gives; a test about the ping sets its own."""
        self.workdir = workdir
        self.prosody = prosody
        self.app_secret = app_secret or secrets.token_hex(16)
        self.output = output or workdir.file("pushes.jsonl")
        self.stderr_path = workdir.file("pushgate.log")
        self.config = workdir.file("pushgate.toml")
        self.proc = None
        comp_secret = workdir.file("component.secret")
        self._secret_file(comp_secret, prosody.component_secret)
        app_file = workdir.file("app.secret")
        self._secret_file(app_file, self.app_secret)
        apps = apps or [("demo", app_file)]
        text = (f'[component]\njid = "{prosody.component_jid}"\nhost = "127.0.0.1"\nport = {prosody.component_port}\n'
                f'secret_file = "{comp_secret}"\nping_interval = {ping_interval}\nping_timeout = {ping_timeout}\n\n')
        self.app_secret_file = app_file
        if app_toml is not None:
            # Callers build [[app]] tables themselves; {secret_file} and {output} are filled in.
            text += app_toml.format(secret_file=app_file, output=self.output)
        else:
            for name, secret_file in apps:
                text += (f'[[app]]\nname = "{name}"\nservice = "log"\nsecret_file = "{secret_file}"\n'
                         f'output = "{self.output}"\n\n')
        text += extra
        with open(self.config, "w") as f:
            f.write(text)

    @staticmethod
    def _secret_file(path, value):
        with open(path, "w") as f:
            f.write(value + "\n")
        os.chmod(path, 0o600)

    def start(self, wait_connected=True, args=(), env=None):
        """Starts the daemon; with wait_connected, returns once Prosody has logged that this
        start's component session authenticated (not on our own log line: the log file is
        appended to across restarts, and only Prosody knows when it routes to us)."""
        before = self.prosody.component_authentications()
        ours_before = self.log().count("event=component_connected") if os.path.exists(self.stderr_path) else 0
        self._stderr = open(self.stderr_path, "ab")
        self.proc = spawn([PUSHGATE, "--config", self.config, "--log-level", "debug", *args], "pushgate",
                          stdout=subprocess.DEVNULL, stderr=self._stderr,
                          env=None if env is None else {**os.environ, **env})
        if wait_connected:
            self.wait_connected(before, ours_before)

    def wait_connected(self, before, ours_before=None, timeout=PATIENCE):
        """Waits until Prosody has logged more component authentications than `before` and,
        when `ours_before` is given, until pushgate has taken in Prosody's answer too (Prosody
        logs the authentication just before it sends <handshake/>), so a test that asks
        pushgate's own state next (/health) sees the session up."""
        def authenticated():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"pushgate exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            if self.prosody.component_authentications() <= before:
                return False
            return ours_before is None or self.log().count("event=component_connected") > ours_before
        try:
            wait_for(authenticated, "Prosody: External component successfully authenticated", timeout)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n--- pushgate log ---\n{self.log()[-3000:]}\n--- prosody log (tail) ---\n"
                                 f"{self.prosody.log()[-3000:]}") from None

    def log(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=PATIENCE, count=1):
        rx = re.compile(pattern)

        def found():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"pushgate exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            return len(rx.findall(self.log())) >= count
        try:
            wait_for(found, f"pushgate log /{pattern}/ x{count}", timeout)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n--- pushgate log ---\n{self.log()[-4000:]}") from None

    def records(self):
        try:
            with open(self.output) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def wait_records(self, n, timeout=PATIENCE):
        try:
            return wait_for(lambda: len(self.records()) >= n and self.records(), f"{n} push records", timeout)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n--- pushgate log ---\n{self.log()[-4000:]}\n--- prosody log (tail) ---\n"
                                 f"{self.prosody.log()[-4000:]}") from None

    def config_text(self):
        with open(self.config) as f:
            return f.read()

    def rewrite_config(self, text):
        """Replaces the configuration file (for SIGHUP tests)."""
        with open(self.config, "w") as f:
            f.write(text)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        """SIGTERM and return the exit code (must be 0 for a clean stop)."""
        if self.proc is None:
            return None
        rc = terminate(self.proc)
        self.proc = None
        self._stderr.close()
        return rc


def xmpp_session(jid, password, port, action, timeout=PATIENCE, tls_context=None):
    """Logs in a slixmpp client, awaits action(client), logs out, returns its result.
    tls_context: an ssl.SSLContext to negotiate STARTTLS with (else no TLS)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = slixmpp.ClientXMPP(jid, password)
    client.register_plugin("xep_0030")
    done = loop.create_future()

    async def on_start(_event):
        try:
            result = await action(client)
            if not done.done():
                done.set_result(result)
        except Exception as e:  # noqa: BLE001 - handed to the caller
            if not done.done():
                done.set_exception(e)

    def on_failed(_event):
        if not done.done():
            done.set_exception(AssertionError(f"login failed for {jid}"))

    client.add_event_handler("session_start", on_start)
    client.add_event_handler("failed_auth", on_failed)
    if tls_context is not None:
        client.ssl_context = tls_context
        client.connect(address=("127.0.0.1", port), force_starttls=True, disable_starttls=False)
    else:
        client.connect(address=("127.0.0.1", port), force_starttls=False, disable_starttls=True)
    try:
        return loop.run_until_complete(asyncio.wait_for(done, timeout))
    finally:
        client.disconnect(wait=2.0)
        try:
            loop.run_until_complete(asyncio.wait_for(client.disconnected, PATIENCE))
        except Exception:  # noqa: BLE001 - best effort
            pass
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


def enable_push(service_jid, node, fields):
    """An action that sends XEP-0357 <enable/> with a publish-options form."""

    async def action(client):
        iq = client.make_iq_set()
        enable = ET.Element("{urn:xmpp:push:0}enable", {"jid": service_jid, "node": node})
        form = ET.SubElement(enable, "{jabber:x:data}x", {"type": "submit"})
        all_fields = [("FORM_TYPE", "http://jabber.org/protocol/pubsub#publish-options")] + list(fields.items())
        for var, value in all_fields:
            f = ET.SubElement(form, "{jabber:x:data}field", {"var": var})
            ET.SubElement(f, "{jabber:x:data}value").text = value
        iq.xml.append(enable)
        await iq.send(timeout=PATIENCE)
        return True
    return action


async def server_round_trip(client):
    """One IQ to the user's own server and its answer: Prosody handles a client's stanzas in
    order, so everything sent before has been routed once this returns."""
    await client["xep_0030"].get_info(jid=client.boundjid.domain, local=False, timeout=PATIENCE)


def send_message(to, body):
    async def action(client):
        client.send_message(mto=to, mbody=body, mtype="chat")
        await server_round_trip(client)
        return True
    return action


def device_token():
    return secrets.token_hex(32)


class ProsodyScene:
    """A test's world around one Prosody: its WorkDir, Prosody, and whatever the subclass
    starts beside it. close() stops the subclass's own processes (stop_own), then Prosody,
    then removes the directory, each step even when the one before it failed."""

    def start_prosody(self, users=(("alice", "alicepw"), ("bob", "bobpw"))):
        self.workdir = WorkDir()
        self.prosody = Prosody(self.workdir)
        for user, password in users:
            self.prosody.register(user, password)
        self.prosody.start()

    def stop_own(self):
        pass

    def close(self):
        try:
            self.stop_own()
        finally:
            try:
                if getattr(self, "prosody", None) is not None:
                    self.prosody.stop()
            finally:
                if getattr(self, "workdir", None) is not None:
                    self.workdir.cleanup()

    def as_alice(self, action):
        return xmpp_session("alice@localhost", "alicepw", self.prosody.c2s_port, action)

    def as_bob(self, action):
        return xmpp_session("bob@localhost", "bobpw", self.prosody.c2s_port, action)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Stack(ProsodyScene):
    """Prosody with users alice and bob, and pushgate connected to it."""

    def __init__(self, start_pushgate=True, **pushgate_args):
        self.pushgate = None
        try:
            self.start_prosody()
            self.pushgate = Pushgate(self.workdir, self.prosody, **pushgate_args)
            if start_pushgate:
                self.pushgate.start()
        except BaseException:
            self.close()  # a stack that failed to start leaves nothing running
            raise

    def enable(self, node, **fields):
        fields.setdefault("secret", self.pushgate.app_secret)
        return self.as_alice(enable_push(self.prosody.component_jid, node, fields))

    def message_alice(self, body="hello"):
        return self.as_bob(send_message("alice@localhost", body))

    def stop_own(self):
        if self.pushgate is not None:
            self.pushgate.stop()


def iq_round_trip(xml_text, timeout=PATIENCE):
    """An action that sends a raw IQ (with its own to/type) and returns the reply as text."""

    async def action(client):
        iq = client.Iq()
        iq.xml = ET.fromstring(xml_text)
        iq["id"] = client.new_id()
        try:
            return str(await iq.send(timeout=timeout))
        except slixmpp.exceptions.IqError as e:
            return str(e.iq)
    return action


def run(cmd):
    subprocess.run(cmd, check=True, capture_output=True, timeout=PATIENCE)


class TestPki:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost, and an APNs .p8 key."""

    def __init__(self, workdir):
        d = os.path.join(workdir.path, "pki")
        os.makedirs(d, exist_ok=True)
        self.ca = os.path.join(d, "ca.pem")
        ca_key = os.path.join(d, "ca.key")
        self.cert = os.path.join(d, "server.pem")
        self.key = os.path.join(d, "server.key")
        ext = os.path.join(d, "san.ext")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        run(["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", self.ca, "-days", "2",
             "-subj", "/CN=pushgate test CA"])
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        self._ca_key, self._ext = ca_key, ext
        self.issue("localhost", self.cert, self.key)
        self.p8 = os.path.join(d, "AuthKey_ABC123DEF4.p8")
        self.p8_pub = os.path.join(d, "apns_pub.pem")
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.p8])
        os.chmod(self.p8, 0o600)
        run(["openssl", "pkey", "-in", self.p8, "-pubout", "-out", self.p8_pub])

    def issue(self, cn, cert_path, key_path, days=2):
        """A server certificate for 127.0.0.1/localhost with subject CN=cn, signed by the CA,
        valid for `days`; its key (mode 600). Writes over cert_path and key_path (a renewal)."""
        csr = cert_path + ".csr"
        run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key_path,
             "-out", csr, "-subj", f"/CN={cn}"])
        os.chmod(key_path, 0o600)
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self._ca_key, "-CAcreateserial",
             "-out", cert_path, "-days", str(days), "-extfile", self._ext])


MOCKS = os.path.join(ROOT, "tests", "mocks")
TEAM_ID = "9ABCDE1234"
KEY_ID = "ABC123DEF4"
TOPIC = "com.example.chat"


class NodeMock:
    """A mock provider in tests/mocks/ (Node, HTTP/2 + TLS) with a plain-HTTP control port."""

    script_name = ""

    def __init__(self, pki, port=0):
        self.pki = pki
        self.port = port
        self.proc = None

    def args(self):
        return []

    def _stderr_file(self):
        """The mock's stderr, kept beside the test PKI (removed with the work dir): a mock
        error is then readable in log()."""
        self.stderr_path = os.path.join(os.path.dirname(self.pki.cert), f"{self.script_name}.{id(self)}.log")
        return open(self.stderr_path, "w")

    def log(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except (AttributeError, FileNotFoundError):
            return ""

    def start(self):
        with self._stderr_file() as stderr:
            self.proc = spawn(
                ["node", os.path.join(MOCKS, self.script_name), "--port", str(self.port), "--control-port", "0",
                 "--cert", self.pki.cert, "--key", self.pki.key] + self.args(), self.script_name,
                stdout=subprocess.PIPE, stderr=stderr, text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            raise AssertionError(f"{self.script_name} did not start")
        self.port, self.control_port = int(line[1]), int(line[2])
        return self

    @property
    def endpoint(self):
        return f"https://127.0.0.1:{self.port}"

    def _control(self, method, path, body=None):
        import urllib.request
        req = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=PATIENCE) as r:
            return json.loads(r.read())

    def script(self, token, responses, sticky=False):
        return self._control("POST", "/script", {"token": token, "responses": responses, "sticky": sticky})

    def release(self, token):
        """Sends the answers a {"hold": True} step keeps for `token` (apns_mock.js)."""
        return self._control("POST", "/release", {"token": token})

    def stats(self):
        return self._control("GET", "/stats")

    def stop(self):
        if self.proc:
            terminate(self.proc)
        self.proc = None


class ApnsMock(NodeMock):
    """tests/mocks/apns_mock.js: Apple's checks."""

    script_name = "apns_mock.js"

    def __init__(self, pki, max_streams=None, port=0):
        super().__init__(pki, port)
        self.max_streams = max_streams

    def args(self):
        return (["--pubkey", self.pki.p8_pub, "--team", TEAM_ID, "--key-id", KEY_ID, "--topic", TOPIC] +
                (["--max-streams", str(self.max_streams)] if self.max_streams else []))


FCM_PROJECT = "demo-project"
FCM_CLIENT_EMAIL = "pushgate@demo-project.iam.gserviceaccount.com"


class FcmMock(NodeMock):
    """tests/mocks/fcm_mock.js: Google's OAuth2 token endpoint and messages:send."""

    script_name = "fcm_mock.js"

    def __init__(self, pki, token_ttl=3600, port=0):
        super().__init__(pki, port)
        self.token_ttl = token_ttl

    def args(self):
        return ["--pubkey", self.pki.sa_pub, "--project", FCM_PROJECT, "--client-email", FCM_CLIENT_EMAIL,
                "--token-ttl", str(self.token_ttl)]

    def token_endpoint(self, **settings):
        return self._control("POST", "/token-endpoint", settings)

    def expire_tokens(self):
        return self._control("POST", "/expire-tokens", {})


def make_service_account_key(pki, name="sa"):
    """A fresh RSA key for a service account: pki.sa_key, and its public half pki.sa_pub for the mock."""
    d = os.path.dirname(pki.cert)
    pki.sa_key = os.path.join(d, f"{name}.key")
    pki.sa_pub = os.path.join(d, f"{name}_pub.pem")
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pki.sa_key])
    run(["openssl", "pkey", "-in", pki.sa_key, "-pubout", "-out", pki.sa_pub])


def write_service_account(pki, token_uri, key=None, name="service-account.json"):
    """A Firebase service-account JSON (chmod 600) around pki.sa_key (or `key`)."""
    path = os.path.join(os.path.dirname(pki.cert), name)
    with open(key or pki.sa_key) as f:
        pem = f.read()
    with open(path, "w") as f:
        json.dump({"type": "service_account", "project_id": FCM_PROJECT, "private_key_id": "k1", "private_key": pem,
                   "client_email": FCM_CLIENT_EMAIL, "client_id": "1", "token_uri": token_uri}, f)
    os.chmod(path, 0o600)
    return path


def fcm_app_toml(name, pki, mock_endpoint, credentials, secret_file, extra=""):
    return (f'[[app]]\nname = "{name}"\nservice = "fcm"\nsecret_file = "{secret_file}"\n'
            f'credentials_file = "{credentials}"\nendpoint = "{mock_endpoint}"\nca_file = "{pki.ca}"\n{extra}\n')


def apns_app_toml(name, pki, mock_endpoint, secret_file, extra=""):
    return (f'[[app]]\nname = "{name}"\nservice = "apns"\nsecret_file = "{secret_file}"\n'
            f'topic = "{TOPIC}"\nteam_id = "{TEAM_ID}"\nkey_id = "{KEY_ID}"\nkey_file = "{pki.p8}"\n'
            f'endpoint = "{mock_endpoint}"\nca_file = "{pki.ca}"\n{extra}\n')
