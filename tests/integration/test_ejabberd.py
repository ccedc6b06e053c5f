"""ejabberd_* : Debian's ejabberd 23.01 with mod_push and the operator snippet
deploy/ejabberd/pushgate.yml, pushgate as its App Server; one node, then two at once
(active/active) on the same component listener, and two that share the dead-token list
through one PostgreSQL store.

pushgate checks its component session by pinging its own JID through the server. With two
nodes on one JID, ejabberd routes that ping, and its answer, to either node: a node misses the
answer to about half of its pings and reconnects (README, "ejabberd: active/active"). These
tests run the nodes with an hour between pings, so that what they measure is ejabberd's
routing of publishes, not those reconnects."""

import json
import os
import re
import secrets
import urllib.error
import urllib.request

from ejabberd import Ejabberd
from harness import (PATIENCE, ApnsMock, Pushgate, TestPki, WorkDir, apns_app_toml, device_token, enable_push,
                     free_port, server_round_trip, wait_for, xmpp_session)

THROTTLE_MS = 5000  # the default, written out: the tests count on its window
ACCEPTED = r"accepted notification for (\S+)@localhost \((\w+)\)"


class EjabberdStack:
    """A private ejabberd with bob and `users`, and `nodes` pushgate processes (the log
    provider, one work dir each, the same component secret and app secret) connected to it."""

    def __init__(self, users=("alice",), nodes=1, extra_config="", app_toml=None, ping_interval=3600, ping_timeout=20):
        self.workdir = WorkDir()
        self.workdirs = []
        self.nodes = []
        self.users = list(users)
        self.app_secret = secrets.token_hex(16)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.ejabberd = Ejabberd(self.workdir, extra_config=extra_config)
        try:
            self.ejabberd.start()
            self.register(["bob", *self.users])
            for _ in range(nodes):
                self.add_node(app_toml)
        except BaseException:
            self.close()
            raise

    def register(self, users):
        self.ejabberd.register_many([(u, f"{u}pw") for u in users])

    def add_node(self, app_toml=None, start=True, extra=""):
        """extra: TOML appended to the node's configuration ([store], [http], ...)."""
        wd = WorkDir()
        self.workdirs.append(wd)
        if app_toml is None:
            app_toml = ('[[app]]\nname = "demo"\nservice = "log"\nsecret_file = "{secret_file}"\n'
                        f'output = "{{output}}"\nthrottle_ms = {THROTTLE_MS}\n')
        node = Pushgate(wd, self.ejabberd, app_secret=self.app_secret, app_toml=app_toml, extra=extra,
                        ping_interval=self.ping_interval, ping_timeout=self.ping_timeout)
        self.nodes.append(node)
        if start:
            node.start()
        return node

    def session(self, user, action):
        return xmpp_session(f"{user}@localhost", f"{user}pw", self.ejabberd.c2s_port, action)

    def enable(self, user, node, **fields):
        """XEP-0357 <enable/>, then the user logs out: ejabberd publishes for offline messages."""
        fields.setdefault("secret", self.app_secret)
        return self.session(user, enable_push(self.ejabberd.component_jid, node, fields))

    def send(self, messages):
        """bob sends each (to, body) as a chat message, in this order, in one session."""
        async def action(client):
            for to, body in messages:
                client.send_message(mto=f"{to}@localhost", mbody=body, mtype="chat")
            await server_round_trip(client)
            return True
        return self.session("bob", action)

    def accepted(self):
        """(user, node) of every publish ejabberd logged as answered with a result."""
        return re.findall(ACCEPTED, self.ejabberd.log())

    def wait_accepted(self, n, timeout=PATIENCE):
        try:
            wait_for(lambda: len(self.accepted()) >= n, f"ejabberd: {n} notifications accepted", timeout)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n--- ejabberd log (tail) ---\n{self.ejabberd.log()[-4000:]}\n" +
                                 "".join(f"--- pushgate {i} log (tail) ---\n{p.log()[-2000:]}\n"
                                         for i, p in enumerate(self.nodes))) from None

    def answers(self, node):
        """(outcome, token tail) of every publish this pushgate node answered."""
        return re.findall(r"event=push app=\S+ kind=\S+ token=…(\w+) from=localhost outcome=(\w+)", node.log())

    def close(self):
        try:
            for p in self.nodes:
                try:
                    assert p.stop() in (0, None), "pushgate did not stop cleanly"
                except Exception:  # noqa: BLE001 - every node is stopped, then ejabberd
                    pass
        finally:
            try:
                self.ejabberd.stop()
            finally:
                for wd in [self.workdir, *self.workdirs]:
                    wd.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _no_errors(ejabberd_log):
    bad = re.findall(r".*(?:rejected notification|Timeout sending notification).*", ejabberd_log)
    assert not bad, bad


def test_ejabberd_publish_to_apns():
    """One node: an offline user's message becomes a push to the APNs mock, ejabberd's result."""
    pki_dir = WorkDir()
    mock = None
    try:
        pki = TestPki(pki_dir)
        mock = ApnsMock(pki).start()
        toml = apns_app_toml("ios", pki, mock.endpoint, "{secret_file}")
        # Pings every 5 s (the shortest allowed), each given the daemon's default 20 s: one comes back.
        with EjabberdStack(nodes=1, app_toml=toml, ping_interval=5, ping_timeout=20) as s:
            node = s.nodes[0]
            token = device_token()
            s.enable("alice", token, type="message")
            s.send([("alice", "hello from bob")])
            node.wait_log(r"event=push app=ios kind=alert token=…%s from=localhost outcome=delivered" % token[-6:])
            s.wait_accepted(1)
            assert s.accepted() == [("alice", token)]
            st = mock.stats()
            assert st["delivered"] == 1 and st["rejected"] == {}, st
            req = st["recent"][0]
            assert req["token"] == token
            assert req["headers"]["apns-topic"] == "com.example.chat"
            assert req["headers"]["apns-push-type"] == "alert"
            assert req["headers"]["apns-priority"] == "10"  # mod_push's include_body text: important
            assert '"mutable-content":1' in req["body"]
            # The snippet's privacy settings: neither the body nor the sender reach Apple.
            assert "hello from bob" not in req["body"] and "bob@" not in req["body"]
            _no_errors(s.ejabberd.log())
            for secret in (token, s.app_secret, s.ejabberd.component_secret):
                assert secret not in node.log()
            # One node alone: its pings to itself come back through ejabberd.
            node.wait_log(r"event=component_ping_answered id=pg-ping-\d+ rtt_ms=\d+")
            assert "component_ping_timeout" not in node.log()
    finally:
        if mock:
            mock.stop()
        pki_dir.cleanup()


def _provider_pushes(per_token_publishes):
    """Pushes one node sends for k publishes to one device within one throttle window: the
    first at once, the rest coalesced into one trailing push."""
    return sum(min(k, 2) for k in per_token_publishes if k)


def test_ejabberd_two_nodes_active_active():
    """Two pushgate processes on one component listener: ejabberd routes to both, every publish
    gets one answer; when one node goes away the other takes every publish at once."""
    users = [f"user{i}" for i in range(6)]
    with EjabberdStack(users=users, nodes=2) as s:
        a, b = s.nodes
        # Both sessions authenticated, and ejabberd routes the component's domain to both.
        assert s.ejabberd.component_authentications() == 2
        for node in (a, b):
            node.wait_log(r"event=component_connected")
        assert [connected for connected, _ in s.ejabberd.component_routes()] == [True, True], \
            s.ejabberd.component_routes()
        tokens = {u: device_token() for u in users}
        for u in users:
            s.enable(u, tokens[u], type="message")
        rounds = 3
        s.send([(u, f"message {r}") for r in range(rounds) for u in users])
        total = rounds * len(users)
        s.wait_accepted(total)
        wait_for(lambda: len(s.answers(a)) + len(s.answers(b)) >= total, f"{total} answers from the nodes")
        per_node = [s.answers(a), s.answers(b)]
        # Exactly one answer per publish: ejabberd logged one result for each, each node one
        # answer for each it got, and the two add up to what ejabberd published.
        assert len(s.accepted()) == total and sum(map(len, per_node)) == total, (s.accepted(), per_node)
        for u in users:
            assert s.accepted().count((u, tokens[u])) == rounds
            assert sum(tail == tokens[u][-6:] for answers in per_node for tail, _ in answers) == rounds
        # Both nodes serve (random routing: all 18 on one node has a chance of 2 in 2^18).
        assert all(per_node), (f"one node got every publish: {[len(x) for x in per_node]}; routes "
                               f"{s.ejabberd.component_routes()}\n--- node B log ---\n{b.log()[-3000:]}\n"
                               f"--- ejabberd log ---\n{s.ejabberd.log()[-6000:]}")
        # Throttling is per node: a user whose publishes were split gets a push from each node.
        counts = [[sum(tail == tokens[u][-6:] for tail, _ in answers) for u in users] for answers in per_node]
        expected = _provider_pushes(counts[0]) + _provider_pushes(counts[1])
        wait_for(lambda: len(a.records()) + len(b.records()) >= expected,
                 f"{expected} provider pushes (trailing ones included)")
        split_users = sum(1 for i in range(len(users)) if counts[0][i] and counts[1][i])
        print(f"    measured: {total} publishes from {len(users)} users -> node A {len(per_node[0])}, "
              f"node B {len(per_node[1])}; {split_users} users split over both nodes; provider pushes "
              f"{len(a.records()) + len(b.records())} (one node alone: {len(users) * 2})", flush=True)
        _no_errors(s.ejabberd.log())

        # Node A goes away: ejabberd drops its route, and node B answers every publish from now on.
        assert a.stop() == 0
        wait_for(lambda: [c for c, _ in s.ejabberd.component_routes()] == [True], "ejabberd: one route left")
        before_b = len(s.answers(b))
        s.send([(u, "after failover") for u in users])
        s.wait_accepted(total + len(users))
        wait_for(lambda: len(s.answers(b)) >= before_b + len(users), "node B answering every publish")
        assert len(s.accepted()) == total + len(users)
        _no_errors(s.ejabberd.log())


BARE_SOURCE = """
domain_balancing:
  push.localhost:
    type: bare_source
    component_number: 2
"""


def test_ejabberd_bare_source_pins_a_host_to_one_node_and_drops_its_share_while_that_node_is_down():
    """domain_balancing by (bare) source: mod_push publishes from the server's domain, so every
    publish of the host goes to one node (throttling coalesces as with one node), and none
    reaches the other. While the pinned node is down its slot stays and its publishes are
    lost (ejabberd waits 32 s and logs a timeout); a node connecting again takes the slot."""
    users = [f"user{i}" for i in range(4)]
    with EjabberdStack(users=users, nodes=2, extra_config=BARE_SOURCE) as s:
        assert [c for c, _ in s.ejabberd.component_routes()] == [True, True], s.ejabberd.component_routes()
        tokens = {u: device_token() for u in users}
        for u in users:
            s.enable(u, tokens[u], type="message")
        s.send([(u, f"message {r}") for r in range(2) for u in users])
        total = 2 * len(users)
        s.wait_accepted(total)
        wait_for(lambda: sum(len(s.answers(n)) for n in s.nodes) >= total, f"{total} answers")
        per_node = [len(s.answers(n)) for n in s.nodes]
        assert sorted(per_node) == [0, total], per_node
        print(f"    measured: bare_source: {total} publishes from {len(users)} users -> "
              f"node A {per_node[0]}, node B {per_node[1]}", flush=True)
        _no_errors(s.ejabberd.log())

        pinned = s.nodes[per_node.index(total)]
        other = s.nodes[per_node.index(0)]
        assert pinned.stop() == 0
        wait_for(lambda: sorted(c for c, _ in s.ejabberd.component_routes()) == [False, True],
                 "ejabberd: the pinned node's slot empty, the other still connected")
        s.send([("user0", "while the pinned node is down")])
        s.ejabberd.wait_log(r"Timeout sending notification for user0@localhost")
        assert len(s.answers(other)) == 0, "the node of the other slot got a publish"

        # The node comes back into the free slot and serves again.
        pinned.start()
        assert [c for c, _ in s.ejabberd.component_routes()] == [True, True]
        s.send([("user1", "back")])
        s.wait_accepted(total + 1)
        assert len(s.answers(other)) == 0, (s.ejabberd.component_routes(), other.log()[-3000:],
                                            s.ejabberd.log()[-5000:])


def _api_push(port, push_secret, node, type="message"):
    """POST /push on a node's HTTP API: (status, parsed JSON body)."""
    body = json.dumps({"node": node, "secret": push_secret, "type": type}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/push", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=PATIENCE) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=PATIENCE) as r:
        return r.read().decode()


def test_ejabberd_two_nodes_share_the_dead_token_list_through_postgresql():
    """Two nodes on one ejabberd (active/active) and one PostgreSQL store: the node ejabberd
    routes the publish to learns from APNs (410 Unregistered) that the token is dead and writes
    it to the store; then both nodes' HTTP APIs answer 410 token_dead for it, the other node
    without ever having pushed to it, and APNs sees that token once.

    ping_interval = 3600 (EjabberdStack's default), as in the other two-node tests: with two
    nodes on one JID ejabberd routes each node's self-ping answer to either node, so with short
    pings a node misses about half its answers and reconnects, and a publish in flight on the
    stream it closes would get no answer (README, "ejabberd: active/active")."""
    from test_several_nodes import psql  # the test PostgreSQL (tests/support/postgres.sh)
    url = os.environ["PUSHGATE_TEST_POSTGRES_URL"]  # fails, never skips, without PostgreSQL
    token = device_token()
    pki_dir = WorkDir()
    mock = None
    try:
        pki = TestPki(pki_dir)
        mock = ApnsMock(pki).start()
        mock.script(token, [{"status": 410, "reason": "Unregistered", "timestamp": 1795320000123}], sticky=True)
        toml = apns_app_toml("ios", pki, mock.endpoint, "{secret_file}")
        push_secret = secrets.token_hex(12)
        secret_file = pki_dir.file("push.secret")
        with open(secret_file, "w") as f:
            f.write(push_secret + "\n")
        os.chmod(secret_file, 0o600)
        with EjabberdStack(nodes=0, app_toml=toml) as s:
            ports = []
            for _ in range(2):
                port = free_port()
                ports.append(port)
                s.add_node(toml, extra=(f'\n[store]\nurl = "{url}"\n\n[http]\nlisten = "127.0.0.1:{port}"\n'
                                        f'push_secret_file = "{secret_file}"\n'))
            assert s.ejabberd.component_authentications() == 2
            assert [c for c, _ in s.ejabberd.component_routes()] == [True, True], s.ejabberd.component_routes()

            s.enable("alice", token, type="message")
            s.send([("alice", "hello from bob")])
            # ejabberd publishes to one node, at random: that node pushes, APNs answers 410,
            # the node answers ejabberd with an error and ejabberd disables alice's push.
            dead = r"event=push app=ios kind=alert token=…%s from=localhost outcome=token_dead" % token[-6:]
            wait_for(lambda: any(re.search(dead, n.log()) for n in s.nodes), "a node's outcome=token_dead")
            s.ejabberd.wait_log(r"rejected notification for alice@localhost \(%s" % token)
            learned = [i for i, n in enumerate(s.nodes) if re.search(dead, n.log())]
            assert len(learned) == 1, learned
            other = 1 - learned[0]
            assert not re.search(r"token=…%s" % token[-6:], s.nodes[other].log()), "the other node pushed too"
            assert mock.stats()["requests"] == 1
            wait_for(lambda: psql(f"SELECT COUNT(*) FROM dead_tokens WHERE token = '{token}' AND app = 'ios'") == "1",
                     "the dead token in PostgreSQL")

            # Both HTTP APIs refuse the token as dead, the other node first: it never pushed
            # to the token, so what it knows it read from the store.
            for i in (other, learned[0]):
                code, body = _api_push(ports[i], push_secret, token)
                assert code == 410 and body["outcome"] == "token_dead", (i, code, body)
                # From the dead-token list, not from a new request to APNs.
                assert body.get("reason") == "token reported dead earlier; not retried", (i, body)
            st = mock.stats()
            assert st["requests"] == 1, st  # APNs saw exactly one request, the publish's
            assert st["rejected"] == {"Unregistered": 1} and st["delivered"] == 0, st
            assert "pushgate_dead_token_hits_total 1" in _metrics(ports[other])
            print(f"    ejabberd routed the publish to node {'AB'[learned[0]]}; node {'AB'[other]} refused "
                  f"the token from the store", flush=True)
            assert not re.search(r"Timeout sending notification", s.ejabberd.log())
    finally:
        try:
            if mock:
                mock.stop()
        finally:
            pki_dir.cleanup()
            if "PUSHGATE_TEST_POSTGRES_URL" in os.environ:
                psql(f"DELETE FROM dead_tokens WHERE token = '{token}'")
