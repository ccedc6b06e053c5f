"""nodes_* : several pushgate nodes on one Prosody and one PostgreSQL. Prosody accepts one
connection per component JID and refuses the next with `conflict`: the second node stands by,
retries every second, and takes over when the first is gone. The dead-token list of
token-as-node pushes lives in PostgreSQL, so what one node learns the other honours."""

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import slixmpp.exceptions

from harness import (PATIENCE, ApnsMock, ProsodyScene, Pushgate, TestPki, apns_app_toml, device_token, enable_push,
                     free_port, send_message, wait_for, xmpp_session)
from test_registrations import command


class NodeDir:
    """A sub-directory of the test's work dir for one node: its config, log and pushes."""

    def __init__(self, workdir, name):
        self.path = os.path.join(workdir.path, name)
        os.makedirs(self.path, exist_ok=True)
        os.chmod(self.path, 0o755)

    def file(self, name):
        return os.path.join(self.path, name)


class Node:
    """One pushgate node: [store] url on the test PostgreSQL and [http] for /health and /push."""

    def __init__(self, workdir, prosody, name, app_secret, push_secret, app_toml=None):
        self.name = name
        self.dir = NodeDir(workdir, name)
        self.port = free_port()
        self.push_secret = push_secret
        secret_file = self.dir.file("push.secret")
        with open(secret_file, "w") as f:
            f.write(push_secret + "\n")
        os.chmod(secret_file, 0o600)
        url = os.environ["PUSHGATE_TEST_POSTGRES_URL"]  # tests/run.sh starts it: fails, never skips
        extra = (f'\n[store]\nurl = "{url}"\n'
                 f'\n[http]\nlisten = "127.0.0.1:{self.port}"\npush_secret_file = "{secret_file}"\n')
        self.pg = Pushgate(self.dir, prosody, app_secret=app_secret, extra=extra, app_toml=app_toml)

    def start_active(self):
        self.pg.start()

    def start_standby(self):
        """Starts the node while another serves the JID: returns once it says it stands by."""
        before = self.pg.log().count("event=component_standby ") if os.path.exists(self.pg.stderr_path) else 0
        self.pg.start(wait_connected=False)
        self.pg.wait_log(r"event=component_standby ", count=before + 1)

    def health(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=PATIENCE) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=PATIENCE) as r:
            return r.read().decode()

    def push(self, node, type="call"):
        """POST /push on this node's HTTP API: (status, body)."""
        body = json.dumps({"node": node, "secret": self.push_secret, "type": type}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/push", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=PATIENCE) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def kill9(self):
        """kill -9: no </stream>, nothing drained; Prosody sees the socket close. Returns the
        time of the kill."""
        t = time.monotonic()
        self.pg.proc.send_signal(signal.SIGKILL)
        self.pg.proc.wait(PATIENCE)
        self.pg.proc = None
        self.pg._stderr.close()
        return t

    def stop(self):
        if self.pg.proc is not None:
            return self.pg.stop()
        return None


class TwoNodes(ProsodyScene):
    """Prosody (users alice, bob and carol), the test PostgreSQL, nodes a and b with the same
    component secret, app secret and store. Neither started."""

    def __init__(self, app_toml_for=None):
        self.nodes = []
        self.mock = None
        try:
            self.start_prosody((("alice", "alicepw"), ("bob", "bobpw"), ("carol", "carolpw")))
            app_secret, push_secret = secrets.token_hex(16), secrets.token_hex(12)
            toml = app_toml_for(self) if app_toml_for else None
            self.a = Node(self.workdir, self.prosody, "a", app_secret, push_secret, toml)
            self.b = Node(self.workdir, self.prosody, "b", app_secret, push_secret, toml)
            self.nodes = [self.a, self.b]
            self.app_secret = app_secret
        except BaseException:
            self.close()
            raise

    def as_carol(self, action):
        # The limit is on the whole session, which lasts as long as the test needs: a net only.
        return xmpp_session("carol@localhost", "carolpw", self.prosody.c2s_port, action, timeout=5 * PATIENCE)

    def enable(self, node, **fields):
        fields.setdefault("secret", self.app_secret)
        return self.as_alice(enable_push(self.prosody.component_jid, node, fields))

    def stop_own(self):
        try:
            for n in self.nodes:
                n.stop()
        finally:
            if self.mock:
                self.mock.stop()


def psql(sql):
    out = subprocess.run(["psql", os.environ["PUSHGATE_TEST_POSTGRES_URL"], "-Atc", sql], capture_output=True,
                         text=True, timeout=30, check=True)
    return out.stdout.strip()


def registered(nodes):
    """How many of `nodes` (registration nodes) PostgreSQL holds."""
    if not nodes:
        return 0
    listed = ",".join("'" + n + "'" for n in nodes)
    return int(psql(f"SELECT COUNT(*) FROM registrations WHERE node IN ({listed})"))


def register_devices(s, prefix, count):
    """Registers `count` devices of alice (p2 style); returns {device id: (node, secret)}."""
    async def action(client):
        out = {}
        for i in range(count):
            status, form = await command(s.prosody.component_jid, "register-push-fcm",
                                         {"token": device_token(), "device-id": f"{prefix}-{i}"})(client)
            assert status == "completed", form
            out[f"{prefix}-{i}"] = (form["node"], form["secret"])
        return out
    return s.as_alice(action)


def unregister_devices(s, device_ids, session=None):
    async def action(client):
        for d in device_ids:
            await command(s.prosody.component_jid, "unregister-push-fcm", {"device-id": d})(client)
    (session or s.as_alice)(action)


class MessageStream:
    """bob sends alice (offline, push enabled) a message every `every` seconds from a thread
    until stop(): a steady stream of publishes from Prosody."""

    def __init__(self, s, every=0.1):
        self.s, self.every = s, every
        self.sent = 0
        self._stop = threading.Event()
        self._error = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        async def action(client):
            while not self._stop.is_set():
                client.send_message(mto="alice@localhost", mbody=f"m{self.sent}", mtype="chat")
                self.sent += 1
                await asyncio.sleep(self.every)
            await client["xep_0030"].get_info(jid="localhost", local=False, timeout=PATIENCE)
            return True
        try:
            # The limit is on the whole stream, which lasts as long as the test needs: a net only.
            xmpp_session("bob@localhost", "bobpw", self.s.prosody.c2s_port, action, timeout=5 * PATIENCE)
        except Exception as e:  # noqa: BLE001 - re-raised by stop()
            self._error = e

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(PATIENCE)
        if self._error:
            raise self._error
        return self.sent


def publish_accounting(log):
    """From Prosody's log: publishes it sent to the component, and the answers each got, by
    IQ id: results and errors from pushgate, and Prosody's own bounce while no node is
    connected (type wait: mod_cloud_notify logs "NOT increasing error count")."""
    published = len(re.findall(r"Sending (?:important|unimportant) push notification for alice@localhost", log))
    answers = {}
    for m in re.finditer(r"Received\[component\]: (<iq [^>]*>)", log):
        tag = m.group(1)
        if "to='localhost'" not in tag and 'to="localhost"' not in tag:
            continue  # command answers go to alice's full JID, ping answers to the component
        kind = re.search(r"type=['\"](\w+)['\"]", tag).group(1)
        iq_id = re.search(r"id=['\"]([^'\"]+)['\"]", tag).group(1)
        answers.setdefault(iq_id, []).append(kind)
    for m in re.finditer(r"Component not connected, bouncing error for: (<iq [^>]*>)", log):
        iq_id = re.search(r"id=['\"]([^'\"]+)['\"]", m.group(1)).group(1)
        answers.setdefault(iq_id, []).append("bounced")
    return published, answers


def _wait_authenticated_after(prosody, count, t0, timeout):
    """Polls Prosody's log every 10 ms until it has logged `count` component authentications;
    returns the seconds from t0 (monotonic) to when the line was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if prosody.component_authentications() >= count:
            return time.monotonic() - t0
        time.sleep(0.01)
    raise AssertionError(f"no takeover within {timeout}s\n--- prosody log (tail) ---\n{prosody.log()[-3000:]}")


def test_nodes_standby_takes_over_within_3_s_of_kill9_under_steady_publishes():
    with TwoNodes() as s:
        s.a.start_active()
        s.b.start_standby()
        # Logged once at info, however many refusals follow. A 4th attempt comes only after the
        # 3rd refusal was handled (its retry line written), so after 4 denials two retries are logged.
        s.prosody.wait_log(r"Second component attempted to connect, denying connection", count=4)
        assert s.b.pg.log().count("event=component_standby ") == 1
        assert s.b.pg.log().count("event=component_standby_retry ") >= 2  # at debug
        assert not re.search(r"level=warn event=component_connect_failed", s.b.pg.log())
        code, body = s.b.health()
        assert code == 200 and body["status"] == "standby" and body["component"]["role"] == "standby", body
        assert "pushgate_component_role{role=\"standby\"} 1" in s.b.metrics()
        assert "pushgate_component_connected 0" in s.b.metrics()
        code, body = s.a.health()
        assert code == 200 and body["status"] == "ok" and body["component"]["role"] == "active", body
        assert "pushgate_component_role{role=\"active\"} 1" in s.a.metrics()

        devices = register_devices(s, "failover", 3)
        nodes = [n for n, _ in devices.values()]
        assert registered(nodes) == 3
        node, secret = devices["failover-0"]
        s.enable(node, secret=secret)           # a registered device: each publish asks the store
        token = device_token()
        s.enable(token, type="message")          # and a token-as-node one

        stream = MessageStream(s).start()
        try:
            s.a.pg.wait_records(4)   # the stream flows through a
            auths = s.prosody.component_authentications()
            killed_at = s.a.kill9()
            gap = _wait_authenticated_after(s.prosody, auths + 1, killed_at, PATIENCE)
            print(f"    failover: kill -9 of the active node to Prosody's 'External component successfully "
                  f"authenticated' of the standby: {gap * 1000:.0f} ms", flush=True)
            s.b.pg.wait_log(r"event=component_took_over")
            before = len(s.b.pg.records())
            s.b.pg.wait_records(before + 4)  # and now through b
        finally:
            sent = stream.stop()
        assert gap < 3.0, f"the standby took {gap:.2f}s to take over"

        # Every publish Prosody made got exactly one answer: from a, from b, or Prosody's own
        # `wait` while neither was connected (mod_cloud_notify then keeps the registration).
        # The exception no node can help: a publish Prosody had already written to a's socket
        # when a was killed. mod_cloud_notify never times a publish out; it counts no error and
        # keeps the registration, and the user misses that one push. Each message makes two
        # publishes (alice has two devices); at most a message or two can be in flight at this
        # rate (a answers in about a millisecond).
        # Settled when b has answered every publish Prosody sent it: those logged after b's
        # authentication (the ones in flight at a never get an answer, so "every publish" is
        # not the event to wait for).
        def settled():
            log = s.prosody.log()
            since = log[[m.start() for m in re.finditer(r"External component successfully authenticated", log)][-1]:]
            published_to_b, answers_from_b = publish_accounting(since)
            return sum(len(v) for v in answers_from_b.values()) >= published_to_b
        wait_for(settled, "node B answering every publish Prosody sent it")
        published, answers = publish_accounting(s.prosody.log())
        twice = {k: v for k, v in answers.items() if len(v) > 1}
        assert not twice, twice
        lost_in_flight = published - len(answers)
        assert 0 <= lost_in_flight <= 4, (published, len(answers))
        bounced = sum(1 for v in answers.values() if v == ["bounced"])
        waits = len(re.findall(r"Got error <wait:[^>]*> for identifier '[^']*': NOT increasing error count",
                               s.prosody.log()))
        assert waits >= bounced, (waits, bounced)
        assert "Disabling push notifications" not in s.prosody.log()
        print(f"    {sent} messages, {published} publishes: {len(answers) - bounced} answered by a node, "
              f"{bounced} answered wait by Prosody during the gap, {lost_in_flight} in flight at the killed "
              f"node (no answer)", flush=True)

        # No registration is lost; the standby's view of them is the store's.
        assert registered(nodes) == 3
        code, body = s.b.health()
        assert body["status"] == "ok" and body["component"]["role"] == "active", body

        # The killed node, restarted, becomes the standby.
        s.a.start_standby()
        code, body = s.a.health()
        assert code == 200 and body["status"] == "standby", body
        assert s.b.health()[1]["component"]["role"] == "active"
        unregister_devices(s, list(devices))
        assert registered(nodes) == 0


def test_nodes_a_dead_token_learned_by_one_node_is_not_pushed_by_the_other():
    def apns(s):
        s.pki = TestPki(s.workdir)
        s.mock = ApnsMock(s.pki).start()
        return apns_app_toml("ios", s.pki, s.mock.endpoint, "{secret_file}")

    with TwoNodes(app_toml_for=apns) as s:
        s.a.start_active()
        s.b.start_standby()
        token = device_token()
        s.mock.script(token, [{"status": 410, "reason": "Unregistered", "timestamp": 1795320000123}], sticky=True)
        s.enable(token, type="voip")
        s.as_bob(send_message("alice@localhost", "first"))
        wait_for(lambda: re.search(r"Got error <cancel:item-not-found:Unregistered", s.prosody.log()),
                 "Prosody logging cancel:item-not-found")
        s.a.pg.wait_log(r"event=push app=ios kind=voip .*outcome=token_dead")
        assert s.mock.stats()["requests"] == 1
        wait_for(lambda: psql(f"SELECT COUNT(*) FROM dead_tokens WHERE token = '{token}' AND app = 'ios'") == "1",
                 "the dead token in PostgreSQL")

        # The standby's HTTP API serves, and knows the token is dead without asking APNs.
        code, body = s.b.push(token)
        assert code == 410, (code, body)
        assert s.mock.stats()["requests"] == 1
        assert "pushgate_dead_token_hits_total 1" in s.b.metrics()

        # After a failover, b answers Prosody's publish for it at once as well.
        auths = s.prosody.component_authentications()
        s.a.kill9()
        s.prosody.wait_authenticated(auths + 1)
        s.b.pg.wait_log(r"event=component_connected")
        s.as_bob(send_message("alice@localhost", "second"))
        wait_for(lambda: re.search(r"Got error <cancel:item-not-found:token reported dead earlier", s.prosody.log()),
                 "Prosody hearing item-not-found from b")
        assert s.mock.stats()["requests"] == 1, s.mock.stats()  # APNs saw no second request
        psql(f"DELETE FROM dead_tokens WHERE token = '{token}'")


def test_nodes_postgresql_restarted_under_load_nodes_reconnect_and_lose_nothing_acknowledged():
    # carol registers more devices than the default max_devices_per_user (20).
    many = ('[[app]]\nname = "demo"\nservice = "log"\nsecret_file = "{secret_file}"\noutput = "{output}"\n'
            'max_devices_per_user = 10000\n')
    with TwoNodes(app_toml_for=lambda _: many) as s:
        s.a.start_active()
        s.b.start_standby()
        node, secret = register_devices(s, "pgrestart-pub", 1)["pgrestart-pub-0"]
        s.enable(node, secret=secret)
        acknowledged, refused = {}, []
        stop = threading.Event()
        errors = []

        async def registrations(client):
            i = 0
            while not stop.is_set():
                device = f"pgrestart-{i}"
                i += 1
                try:
                    status, form = await command(s.prosody.component_jid, "register-push-fcm",
                                                 {"token": device_token(), "device-id": device})(client)
                    if status == "completed":
                        acknowledged[device] = form["node"]
                except slixmpp.exceptions.IqError as e:
                    refused.append((device, e.condition))
                    await asyncio.sleep(0.05)
                except slixmpp.exceptions.IqTimeout:
                    refused.append((device, "timeout"))
            return True

        def run_registrations():
            # carol registers devices while alice, offline, gets pushes for bob's messages.
            try:
                s.as_carol(registrations)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        worker = threading.Thread(target=run_registrations, daemon=True)
        worker.start()
        stream = MessageStream(s, every=0.1).start()
        try:
            wait_for(lambda: len(acknowledged) >= 5, "registrations flowing")
            pg_bin = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: [int(x) for x in v.split(".")])[-1]
            data = os.path.join(os.environ["PUSHGATE_TEST_POSTGRES_DIR"], "data")
            restarted = time.monotonic()
            # -l: the new postmaster must not hold our pipes open.
            subprocess.run(["runuser", "-u", "postgres", "--", f"/usr/lib/postgresql/{pg_bin}/bin/pg_ctl", "-D", data,
                            "-l", os.path.join(os.environ["PUSHGATE_TEST_POSTGRES_DIR"], "log"), "restart", "-m",
                            "fast", "-w"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60)
            back = time.monotonic() - restarted
            count, published_before = len(acknowledged), publish_accounting(s.prosody.log())[0]
            wait_for(lambda: len(acknowledged) >= count + 5, "registrations flowing again after the restart")
            wait_for(lambda: publish_accounting(s.prosody.log())[0] >= published_before + 10,
                     "publishes flowing again after the restart")
        finally:
            stop.set()
            worker.join(PATIENCE)
            stream.stop()
        assert not errors, errors
        # Both nodes found the database again, and every acknowledged registration is in it.
        wait_for(lambda: s.a.health()[1].get("store", {}).get("up") and s.b.health()[1].get("store", {}).get("up"),
                 "both nodes' /health saying the store is up")
        assert registered(list(acknowledged.values())) == len(acknowledged), (len(acknowledged), refused)
        # The standby's store connection works again too: a push to a registered node through it.
        code, body = s.b.push(node)
        assert code == 200, (code, body)
        # Every publish was answered once: by the node, or `wait` while the store was away.
        wait_for(lambda: (lambda p, a: p > 0 and sum(len(v) for v in a.values()) >= p)(
            *publish_accounting(s.prosody.log())), "an answer to every publish")
        published, answers = publish_accounting(s.prosody.log())
        assert not {k: v for k, v in answers.items() if len(v) > 1}
        assert len(answers) == published
        assert "Disabling push notifications" not in s.prosody.log()
        print(f"    PostgreSQL restart took {back:.2f}s; {len(acknowledged)} registrations acknowledged (all "
              f"kept), {len(refused)} answered wait/timeout meanwhile; {published} publishes answered once each",
              flush=True)
        unregister_devices(s, list(acknowledged) + [d for d, _ in refused], s.as_carol)
        unregister_devices(s, ["pgrestart-pub-0"])


def test_nodes_frozen_active_node_starves_the_watchdog_and_its_end_lets_the_standby_take_over():
    """SIGSTOP freezes the active node: its socket stays open, Prosody keeps routing to it and
    keeps refusing the standby, which cannot tell. What ends it is systemd's watchdog: the
    frozen loop sends no WATCHDOG=1, so after WatchdogSec systemd kills it, Prosody sees the
    socket close and the standby takes over. Here a NOTIFY_SOCKET stands in for systemd."""
    from test_operations import NotifySocket
    with TwoNodes() as s:
        notify = NotifySocket(s.workdir)
        try:
            # WatchdogSec=1s: pings every 0.5 s.
            s.a.pg.start(env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"})
            s.b.start_standby()
            first = len(notify.drain())
            wait_for(lambda: sum(1 for m in notify.drain()[first:] if m == "WATCHDOG=1") >= 3, "3 WATCHDOG=1")
            refusals = len(re.findall("Second component attempted to connect", s.prosody.log()))
            s.a.pg.signal(signal.SIGSTOP)
            frozen_at = time.monotonic()
            mark = len(notify.drain())
            try:
                # The standby goes on being refused for three more retries (about 3 s, three
                # times WatchdogSec): Prosody still routes to the frozen node.
                s.prosody.wait_log("Second component attempted to connect", count=refusals + 3)
                silent_for = time.monotonic() - frozen_at
                pings = [m for m in notify.drain()[mark:] if m == "WATCHDOG=1"]
                assert pings == [], pings  # systemd would have ended it after 1 s
                assert s.b.health()[1]["component"]["role"] == "standby"
            finally:
                s.a.pg.signal(signal.SIGCONT)
            # The loop turns again: the pings resume (the silence was the freeze).
            mark = len(notify.drain())
            wait_for(lambda: "WATCHDOG=1" in notify.drain()[mark:], "WATCHDOG=1 after SIGCONT")
            # What systemd does at WatchdogSec (SIGABRT, SIGKILL after TimeoutAbortSec): the
            # socket closes, the standby takes over.
            auths = s.prosody.component_authentications()
            killed_at = s.a.kill9()
            gap = _wait_authenticated_after(s.prosody, auths + 1, killed_at, PATIENCE)
            print(f"    frozen {silent_for:.1f}s with no WATCHDOG=1 (WatchdogSec=1s); standby took over "
                  f"{gap * 1000:.0f} ms after the kill", flush=True)
            assert gap < 3.0
        finally:
            notify.close()
