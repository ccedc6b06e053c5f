"""store_* : the registration store off the event loop. A PostgreSQL that stops answering
(every process of the test cluster SIGSTOPped, as a hung server or a black-holed network
looks to a client) must not freeze pushgate: /health answers at once and says the store is
down and why, a publish that needs the store is answered `wait` before the database returns,
and everything works again once it does. One user's flood of commands meanwhile is bounded."""

import json
import os
import re
import secrets
import signal
import time
import urllib.request

from harness import PATIENCE, Pushgate, Stack, device_token, free_port, wait_for
from test_registrations import command


def postgres_pids():
    """The postmaster of the test cluster (tests/support/postgres.sh) and its children."""
    data = os.path.join(os.environ["PUSHGATE_TEST_POSTGRES_DIR"], "data")
    with open(os.path.join(data, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == postmaster:
            pids.append(int(entry))
    return pids


def signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def health(port):
    """(seconds the answer took, parsed body)."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=PATIENCE) as r:
            body = r.read()
    except urllib.error.HTTPError as e:
        body = e.read()
    return time.monotonic() - start, json.loads(body)


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=PATIENCE) as r:
        return r.read().decode()


class PostgresStack(Stack):
    """Prosody + pushgate on the test PostgreSQL, with [http] for /health and /metrics."""

    def __init__(self):
        super().__init__(start_pushgate=False)
        self.port = free_port()
        secret_file = self.workdir.file("push.secret")
        with open(secret_file, "w") as f:
            f.write(secrets.token_hex(12) + "\n")
        os.chmod(secret_file, 0o600)
        # The real PostgreSQL tests/run.sh starts; without it this test fails, never skips.
        url = os.environ["PUSHGATE_TEST_POSTGRES_URL"]
        extra = (f'\n[store]\nurl = "{url}"\n'
                 f'\n[http]\nlisten = "127.0.0.1:{self.port}"\npush_secret_file = "{secret_file}"\n')
        self.pushgate = Pushgate(self.workdir, self.prosody, extra=extra)
        self.pushgate.start()

    def run_command(self, node, **fields):
        return self.as_alice(command(self.prosody.component_jid, node, fields))


def test_store_postgresql_frozen_health_degraded_publish_wait_then_recovers():
    with PostgresStack() as s:
        token = device_token()
        status, form = s.run_command("register-push-fcm", token=token, **{"device-id": "phone-frozen"})
        assert status == "completed", form
        s.enable(form["node"], secret=form["secret"])
        s.message_alice("before")
        s.pushgate.wait_records(1)
        took, body = health(s.port)
        assert body["status"] == "ok" and body["store"]["up"] is True, body

        pids = postgres_pids()
        assert len(pids) >= 3, pids  # the postmaster, pushgate's backend and PostgreSQL's own workers
        signal_all(pids, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            # PostgreSQL stays frozen until everything below was seen: what it proves happens
            # "while the store does not answer" by construction, not by a clock.
            # A publish that needs the store, while it does not answer.
            s.message_alice("during")
            published_at = time.monotonic()
            # /health answers at once all along, and soon says the store is down and why.
            slowest, degraded = 0.0, None
            deadline = time.monotonic() + PATIENCE  # a safety net, not a claim
            while degraded is None and time.monotonic() < deadline:
                took, body = health(s.port)
                slowest = max(slowest, took)
                if body["status"] == "degraded" and body["store"]["up"] is False:
                    degraded = (time.monotonic() - frozen_at, body)
                else:
                    time.sleep(0.1)
            assert slowest < 1.0, f"/health took {slowest:.2f}s while PostgreSQL was frozen"
            assert degraded is not None, "/health never said degraded while PostgreSQL was frozen"
            assert "postgresql" in degraded[1]["store"]["error"] and degraded[1]["store"]["backend"] == "postgresql"
            assert "registration store is down" in degraded[1]["hint"], degraded[1]
            # Prosody hears `wait` (it keeps the registration), before the database returns.
            wait_for(lambda: re.search(r"Got error <wait:internal-server-error:registration store: [^>]*>.*NOT increasing "
                                       r"error count", s.prosody.log()),
                     "Prosody logging the wait error for the publish made during the freeze")
            answered_after = time.monotonic() - published_at
            assert "pushgate_store_up{backend=\"postgresql\"} 0" in metrics(s.port)
            print(f"    /health slowest {slowest * 1000:.0f} ms, degraded after {degraded[0]:.2f} s; "
                  f"publish answered wait after {answered_after:.2f} s", flush=True)
        finally:
            signal_all(pids, signal.SIGCONT)
        # The log names the cause, once per change, not an empty "PostgreSQL: ".
        log = s.pushgate.log()
        assert re.search(r'event=store_error backend=postgresql .*error="[^"]*(did not answer|timeout expired)', log), log[-3000:]
        assert 'error="PostgreSQL: "' not in log

        # Back: /health is ok again, and a publish and a registration work.
        wait_for(lambda: health(s.port)[1]["store"]["up"], "/health saying the store is up again")
        s.message_alice("after")
        records = s.pushgate.wait_records(2)
        assert records[-1]["token"] == "…" + token[-6:], records
        status, _ = s.run_command("register-push-fcm", token=device_token(), **{"device-id": "phone-2"})
        assert status == "completed"
        s.pushgate.wait_log(r"event=store_recovered backend=postgresql")
        assert 'pushgate_store_seconds_bucket{op="find"' in metrics(s.port)
        # The database is shared with the other tests: leave no registration behind.
        for device in ("phone-frozen", "phone-2"):
            assert s.run_command("unregister-push-fcm", **{"device-id": device})[0] == "completed"


def test_store_one_users_command_flood_while_the_store_hangs_is_bounded():
    """While PostgreSQL hangs, one user sends 40 registrations at once: 32 (a user's bound on
    commands in progress) wait for the store and get `wait` at its deadline, the other 8 are
    answered resource-constraint at once, before the store is asked."""
    import asyncio
    import slixmpp.exceptions

    async def flood(client):
        async def one(i):
            try:
                await command("push.localhost", "register-push-fcm",
                              {"token": device_token(), "device-id": f"flood-{i}"})(client)
                return "completed"
            except slixmpp.exceptions.IqError as e:
                return e.condition
        return await asyncio.gather(*(one(i) for i in range(40)))

    with PostgresStack() as s:
        pids = postgres_pids()
        signal_all(pids, signal.SIGSTOP)
        try:
            answers = s.as_alice(flood)
        finally:
            signal_all(pids, signal.SIGCONT)
        assert sorted(answers) == ["internal-server-error"] * 32 + ["resource-constraint"] * 8, answers
        wait_for(lambda: health(s.port)[1]["store"]["up"], "/health saying the store is up again")
        # The call that was running when the store froze may have registered its device once
        # the store came back: the database is shared with the other tests, leave nothing.
        async def unregister_all(client):
            for i in range(40):
                await command("push.localhost", "unregister-push-fcm", {"device-id": f"flood-{i}"})(client)
        s.as_alice(unregister_all)
