"""A private ejabberd for integration tests: Debian 12's ejabberd 23.01 started through its own
ejabberdctl with a config dir, a spool (Mnesia) dir and a log dir in the test's temp dir, a node
name and cookie of its own, and every port a free one on 127.0.0.1.

No epmd: ejabberdctl's ERL_DIST_PORT puts the node and every ejabberdctl call on a fixed
distribution port (Erlang's epmd-less mode), so nothing outlives the node and nothing is
shared with any other ejabberd on the machine. The node runs as the ejabberd user (the files
are its own); the operator snippet deploy/ejabberd/pushgate.yml is included as it is, with
this test's component name, secret and port filled in.

Erlang starts its helper programs (erl_child_setup, eimp, memsup) in sessions of their own,
so a process group does not hold them all: every process of this instance carries
PUSHGATE_EJABBERD=<its dir> in its environment, and stop() ends whatever still carries it."""

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess

from harness import PATIENCE, ROOT, free_port, spawn, terminate, wait_for

SNIPPET = os.path.join(ROOT, "deploy", "ejabberd", "pushgate.yml")
TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates", "ejabberd.yml")
MARKER = "PUSHGATE_EJABBERD"


class Ejabberd:
    def __init__(self, workdir, component_jid="push.localhost", component_secret=None, extra_config=""):
        """extra_config: top-level YAML appended to the test's ejabberd.yml (domain_balancing, say)."""
        self.dir = os.path.join(workdir.path, "ejabberd")
        self.conf_dir = os.path.join(self.dir, "conf")
        self.spool = os.path.join(self.dir, "spool")
        self.logs = os.path.join(self.dir, "logs")
        self.user = pwd.getpwnam("ejabberd")
        for d in (self.dir, self.conf_dir, self.spool, self.logs):
            os.makedirs(d, exist_ok=True)
            os.chown(d, self.user.pw_uid, self.user.pw_gid)
            os.chmod(d, 0o700)
        self.component_jid = component_jid
        self.component_secret = component_secret or secrets.token_hex(16)
        self.c2s_port = free_port()
        self.component_port = free_port()
        self.dist_port = free_port()
        self.node = f"pushgate-test-{secrets.token_hex(4)}@localhost"
        self.cookie = secrets.token_hex(16)
        self.extra_config = extra_config
        self.config = os.path.join(self.conf_dir, "ejabberd.yml")
        self.ctl_config = os.path.join(self.conf_dir, "ejabberdctl.cfg")
        self.log_path = os.path.join(self.logs, "ejabberd.log")
        self.proc = None
        self._write_config()

    def _write(self, name, text, mode=0o600):
        path = os.path.join(self.conf_dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, self.user.pw_uid, self.user.pw_gid)
        os.chmod(path, mode)
        return path

    def _write_config(self):
        with open(SNIPPET) as f:
            snippet = f.read()
        for old, new in (("push.example.com", self.component_jid),
                         ("CHANGE-ME-component-secret", self.component_secret),
                         ("port: 5347", f"port: {self.component_port}")):
            assert old in snippet, f"{SNIPPET} no longer has {old!r}: the test cannot fill it in"
            snippet = snippet.replace(old, new)
        included = self._write("pushgate.yml", snippet)
        with open(TEMPLATE) as f:
            cfg = f.read()
        cfg = cfg.replace("@C2S_PORT@", str(self.c2s_port)).replace("@SNIPPET@", included)
        self._write("ejabberd.yml", cfg + self.extra_config)
        with open("/etc/ejabberd/inetrc") as f:
            self._write("inetrc", f.read(), 0o644)
        # ejabberdctl reads this instead of /etc/default/ejabberd: a private node, cookie and
        # distribution port (no epmd), and a pid file of our own.
        self._write("ejabberdctl.cfg",
                    f'ERLANG_NODE={self.node}\nERL_DIST_PORT={self.dist_port}\n'
                    f'ERL_OPTIONS="-setcookie {self.cookie} -env ERL_CRASH_DUMP_BYTES 0"\n'
                    f'EJABBERD_PID_PATH={self.dir}/ejabberd.pid\nEJABBERD_BYPASS_WARNINGS=true\n')

    def _ctl_cmd(self, *args):
        return ["ejabberdctl", "--config-dir", self.conf_dir, "--ctl-config", self.ctl_config,
                "--spool", self.spool, "--logs", self.logs, *args]

    def _env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ERL", "EJABBERD"))}
        env.update({"HOME": self.dir, "USER": "ejabberd", "LOGNAME": "ejabberd", "ERL_CRASH_DUMP_BYTES": "0",
                    MARKER: self.dir})
        return env

    def _as_ejabberd(self):
        # ejabberdctl run by root would `su` to the ejabberd user, and su starts a session of
        # its own; run by that user, it execs erl in place.
        return dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[], env=self._env(), cwd=self.spool)

    def ctl(self, *args, check=True, timeout=60):
        """ejabberdctl ARGS against this node."""
        r = subprocess.run(self._ctl_cmd(*args), capture_output=True, text=True, timeout=timeout,
                           **self._as_ejabberd())
        if check and r.returncode != 0:
            raise AssertionError(f"ejabberdctl {' '.join(args)} exited with {r.returncode}:\n{r.stdout}{r.stderr}")
        return r

    def register(self, user, password, host="localhost"):
        self.ctl("register", user, host, password)

    def register_many(self, accounts, host="localhost"):
        """Registers (user, password) pairs in one Erlang call (ejabberdctl starts a VM per call)."""
        calls = ", ".join(f'ok = rpc:call(N, ejabberd_auth, try_register, [<<"{u}">>, <<"{host}">>, <<"{p}">>])'
                          for u, p in accounts)
        self.rpc(calls)

    def rpc(self, erlang_expr, timeout=30):
        """Evaluates an Erlang expression on the node (a hidden node on the same distribution
        port, as ejabberdctl connects) and returns what it printed. `N` is the node's name."""
        name = f"rpc-{secrets.token_hex(3)}@localhost"
        code = f"N = '{self.node}', {erlang_expr}, halt()."
        r = subprocess.run(["erl", "-sname", name, "-hidden", "-noshell", "-setcookie", self.cookie,
                            "-erl_epmd_port", str(self.dist_port), "-start_epmd", "false", "-dist_listen", "false",
                            "-eval", code], capture_output=True, text=True, timeout=timeout, **self._as_ejabberd())
        if r.returncode != 0:
            raise AssertionError(f"erl rpc exited with {r.returncode}:\n{r.stdout}{r.stderr}")
        return r.stdout

    def component_routes(self, jid=None):
        """ejabberd's own routing table for the component's domain: one entry per connected
        component session (with domain_balancing, one per slot; a slot without a session has
        no pid). Returns the list of (connected, slot) pairs."""
        domain = jid or self.component_jid
        out = self.rpc(f'Rs = rpc:call(N, mnesia, dirty_read, [route, <<"{domain}">>]), '
                       'lists:foreach(fun({route, _, _, P, H}) -> io:format("~p ~p~n", [is_pid(P), H]) end, Rs)')
        return [(line.split()[0] == "true", line.split()[1]) for line in out.splitlines() if line.strip()]

    def start(self):
        before = self.log().count("is started in the node")
        self.proc = spawn(self._ctl_cmd("foreground"), "ejabberd", stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, **self._as_ejabberd())
        listening = re.compile(r"Start accepting TCP connections at 127\.0\.0\.1:%d for ejabberd_service"
                               % self.component_port)

        def started():
            if self.proc.poll() is not None:
                raise AssertionError(f"ejabberd exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            log = self.log()
            return log.count("is started in the node") > before and len(listening.findall(log)) > before
        try:
            wait_for(started, "ejabberd: is started in the node, accepting on the component port")
        except BaseException:
            self.stop()
            raise

    def stop(self):
        """ejabberdctl stop, then whatever of this instance is left is killed (pass or fail)."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.ctl("stop", check=False, timeout=30)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    pass
                terminate(self.proc)
        finally:
            self.proc = None
            self._kill_leftovers()

    def _kill_leftovers(self):
        marker = f"{MARKER}={self.dir}".encode()

        def alive():
            left = []
            for name in os.listdir("/proc"):
                if not name.isdigit():
                    continue
                try:
                    with open(f"/proc/{name}/environ", "rb") as f:
                        if marker in f.read().split(b"\0"):
                            left.append(int(name))
                except OSError:
                    continue
            return left
        for pid in alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        wait_for(lambda: not [p for p in alive() if not _is_zombie(p)], "ejabberd's processes to end")

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def component_authentications(self, jid=None):
        """How often ejabberd has logged that a component session for `jid` authenticated."""
        rx = r"Accepted external component \S+ authentication for " + re.escape(jid or self.component_jid) + " from"
        return len(re.findall(rx, self.log()))

    def wait_log(self, pattern, timeout=PATIENCE, count=1):
        rx = re.compile(pattern)
        try:
            return wait_for(lambda: len(rx.findall(self.log())) >= count and rx.findall(self.log()),
                            f"ejabberd log /{pattern}/ x{count}", timeout)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n--- ejabberd log (tail) ---\n{self.log()[-4000:]}") from None

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
