"""deploy_* : what an operator installs: the systemd units (checked by systemd-analyze), install.sh
into a staging root (with the Prosody and ejabberd snippets and pushgate(8)), and the example
configuration documenting every key pushgate reads. The Debian package: test_package.py."""

import json
import os
import re
import shutil
import stat
import subprocess

from harness import PATIENCE, PUSHGATE, WorkDir, spawn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNITS = ("pushgate.service", "pushgate-legacy-tls.service")


def _systemd_analyze():
    path = shutil.which("systemd-analyze")
    # deploy/install-deps.sh installs systemd, so a missing systemd-analyze is a broken setup,
    # not a reason to skip.
    assert path, "systemd-analyze is missing: run deploy/install-deps.sh (it installs the systemd package)"
    return path


def _verify(unit_paths, man_dir=None):
    """systemd-analyze verify prints every problem (an unknown key, a bad value) on stderr,
    some with exit status 0: both must be clean. It also runs man for Documentation=man:pushgate(8):
    man_dir is where that page is installed (a staging root's share/man), else the source's."""
    env = dict(os.environ)
    tmp = None
    if man_dir is None:
        tmp = man_dir = os.path.join(os.path.dirname(unit_paths[0]), "man")
        os.makedirs(os.path.join(man_dir, "man8"), exist_ok=True)
        shutil.copy(os.path.join(ROOT, "doc", "pushgate.8"), os.path.join(man_dir, "man8", "pushgate.8"))
    env["MANPATH"] = man_dir + ":"
    try:
        r = subprocess.run([_systemd_analyze(), "verify", *unit_paths], capture_output=True, text=True, timeout=60, env=env)
    finally:
        if tmp:
            shutil.rmtree(tmp)
    assert r.returncode == 0 and r.stderr.strip() == "" and r.stdout.strip() == "", r.stdout + r.stderr


def _units_pointing_at(workdir, binary, source_dir):
    out = []
    for unit in UNITS:
        with open(os.path.join(source_dir, unit)) as f:
            text = f.read()
        path = os.path.join(workdir.path, unit)
        with open(path, "w") as f:
            f.write(re.sub(r"/\S*/bin/pushgate", binary, text))
        out.append(path)
    return out


def test_deploy_units_pass_systemd_analyze_verify_and_are_hardened():
    w = WorkDir()
    try:
        paths = _units_pointing_at(w, PUSHGATE, os.path.join(ROOT, "deploy"))
        _verify(paths)
        for path in paths:
            with open(path) as f:
                text = f.read()
            settings = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
            for key, value in {"Type": "notify", "Restart": "always", "User": "pushgate", "ProtectSystem": "strict",
                               "PrivateTmp": "yes", "NoNewPrivileges": "yes", "WatchdogSec": "30s"}.items():
                assert settings.get(key) == value, (path, key, settings.get(key))
            assert "--check" in settings["ExecStartPre"]
            assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
            legacy = "legacy" in os.path.basename(path)
            assert ("--only legacy-tls" if legacy else "--only push") in settings["ExecStart"]
            # The capability to bind 5222 belongs to the legacy listener's unit alone.
            assert settings["CapabilityBoundingSet"] == ("CAP_NET_BIND_SERVICE" if legacy else ""), path
            if not legacy:
                assert settings["ReadWritePaths"] == "/var/lib/pushgate" and settings["StateDirectory"] == "pushgate"
            r = subprocess.run([_systemd_analyze(), "security", "--offline=yes", path], capture_output=True, text=True,
                               timeout=60)
            m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout + r.stderr)
            assert m, r.stdout + r.stderr
            assert float(m.group(1)) <= 2.0, (path, m.group(0))
        # A broken unit is caught: the check can fail.
        with open(paths[0]) as f:
            text = f.read()
        with open(paths[0], "w") as f:
            f.write(text.replace("WatchdogSec=30s", "WatchdogSec=soon"))
        try:
            _verify(paths[:1])
        except AssertionError as e:
            assert "WatchdogSec" in str(e) or "soon" in str(e), e
        else:
            raise AssertionError("systemd-analyze verify accepted WatchdogSec=soon")
    finally:
        w.cleanup()


def _install(w):
    """deploy/install.sh into a staging root under w, with this suite's build; (stage, env, result)."""
    stage = os.path.join(w.path, "stage")
    os.makedirs(os.path.join(stage, "etc"))
    for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        shutil.copy2(os.path.join("/etc", name), os.path.join(stage, "etc", name))
    env = {**os.environ, "DESTDIR": stage, "BUILD_DIR": os.path.dirname(PUSHGATE)}
    r = subprocess.run(["bash", os.path.join(ROOT, "deploy", "install.sh")], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return stage, env, r


def test_deploy_install_sh_into_a_staging_root():
    w = WorkDir()
    try:
        stage, env, r = _install(w)
        assert "systemctl enable --now pushgate" in r.stdout
        host_has_user = any(l.startswith("pushgate:") for l in open("/etc/passwd"))
        assert host_has_user or "created system user pushgate" in r.stdout, r.stdout

        user = [l for l in open(os.path.join(stage, "etc", "passwd")) if l.startswith("pushgate:")]
        assert len(user) == 1 and user[0].rstrip().endswith(":/var/lib/pushgate:/usr/sbin/nologin"), user
        uid = int(user[0].split(":")[2])
        binary = os.path.join(stage, "usr/local/bin/pushgate")
        assert os.access(binary, os.X_OK)
        assert subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.startswith("pushgate ")
        creds = os.path.join(stage, "etc/pushgate/credentials")
        st = os.stat(creds)
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == uid
        secrets = {}
        for name in ("component.secret", "push.secret", "demo.secret"):
            st = os.stat(os.path.join(creds, name))
            assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == uid, name
            secrets[name] = open(os.path.join(creds, name)).read()
            assert re.fullmatch(r"[0-9a-f]{48}\n", secrets[name]), name
        assert len(set(secrets.values())) == 3
        config = os.path.join(stage, "etc/pushgate/pushgate.toml")
        assert stat.S_IMODE(os.stat(config).st_mode) == 0o640
        for rel in ("usr/local/share/pushgate/prosody-config/pushgate.cfg.lua",
                    "usr/local/share/pushgate/prosody-config/cloud-notify.cfg.lua", "usr/local/share/doc/pushgate/README.md",
                    "etc/pushgate/pushgate.toml.example"):
            assert os.path.isfile(os.path.join(stage, rel)), rel
        # The ejabberd snippet and pushgate(8), as the source tree has them.
        for rel, source in (("usr/local/share/pushgate/ejabberd/pushgate.yml", "deploy/ejabberd/pushgate.yml"),
                            ("usr/local/share/man/man8/pushgate.8", "doc/pushgate.8")):
            with open(os.path.join(stage, rel), "rb") as a, open(os.path.join(ROOT, source), "rb") as b:
                assert a.read() == b.read(), rel
            assert stat.S_IMODE(os.stat(os.path.join(stage, rel)).st_mode) == 0o644, rel
        r = subprocess.run(["man", "-w", "-M", os.path.join(stage, "usr/local/share/man"), "pushgate"],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.strip().endswith("man8/pushgate.8"), r.stdout + r.stderr

        # The installed units point at the installed binary and pass systemd-analyze.
        units_dir = os.path.join(stage, "etc/systemd/system")
        for unit in UNITS:
            assert "ExecStart=/usr/local/bin/pushgate --only" in open(os.path.join(units_dir, unit)).read()
        _verify(_units_pointing_at(w, binary, units_dir), man_dir=os.path.join(stage, "usr/local/share/man"))

        # The installed configuration checks once its paths are the staged ones; before that,
        # the failure names the missing file and the fix.
        r = subprocess.run([binary, "--check", "--config", config], capture_output=True, text=True)
        if not os.path.exists("/etc/pushgate/credentials/component.secret"):
            assert r.returncode == 1 and "/etc/pushgate/credentials/component.secret cannot be read" in r.stderr, r.stderr
        staged = os.path.join(w.path, "staged.toml")
        with open(config) as f, open(staged, "w") as out:
            out.write(f.read().replace("/etc/pushgate/credentials/", creds + "/"))
        r = subprocess.run([binary, "--check", "--config", staged], capture_output=True, text=True)
        assert r.returncode == 0 and "is valid" in r.stdout, r.stdout + r.stderr

        # Running it again keeps the secrets and the edited configuration.
        with open(config, "a") as f:
            f.write("# edited by the operator\n")
        r = subprocess.run(["bash", os.path.join(ROOT, "deploy", "install.sh")], env=env, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "kept the existing /etc/pushgate/pushgate.toml" in r.stdout
        assert open(config).read().endswith("# edited by the operator\n")
        for name, value in secrets.items():
            assert open(os.path.join(creds, name)).read() == value
        assert sum(1 for l in open(os.path.join(stage, "etc", "passwd")) if l.startswith("pushgate:")) == 1
    finally:
        w.cleanup()


def test_deploy_example_config_documents_every_key_pushgate_reads():
    with open(os.path.join(ROOT, "src", "config", "config.cpp")) as f:
        source = f.read()
    # The TableReader calls (choice: the enum keys), and the range-checked number and seconds helpers.
    keys = set(re.findall(r'(?:\.(?:str|integer|boolean|strings|choice)|\bnumber|\bseconds)\s*\(?\s*"([a-z_]+)"', source))
    assert len(keys) > 50, sorted(keys)  # the pattern still finds the reader's calls
    with open(os.path.join(ROOT, "deploy", "pushgate.toml.example")) as f:
        example = f.read()
    documented = set(re.findall(r"^#?\s*([a-z_]+)\s*=", example, re.M))
    missing = sorted(keys - documented)
    assert not missing, f"keys pushgate reads but deploy/pushgate.toml.example does not show: {missing}"


def test_deploy_quick_start_runs_the_whole_chain_and_explains_it():
    """The README's first command, on this suite's build: Prosody, pushgate with the log
    provider and two clients, printed step by step."""
    build_dir = os.path.relpath(os.path.dirname(PUSHGATE), ROOT)
    r = subprocess.run(["bash", "deploy/run.sh"], cwd=ROOT, env={**os.environ, "BUILD_DIR": build_dir},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    steps = re.findall(r"^\[(\d)\] ", out, re.M)
    assert steps == ["1", "2", "3", "4", "5", "6"], out
    record = json.loads(re.search(r"^    (\{.*?^    \})", out, re.M | re.S).group(1))
    assert record["kind"] == "voip" and record["sent"] is False and record["data"]["type"] == "call", record
    token_tail = re.search(r"a device token \(…([0-9a-f]{6})\)", out).group(1)
    assert record["token"] == "…" + token_tail  # the token is shown by its last 6 characters only
    assert re.search(r"event=push app=demo kind=voip .*outcome=delivered", out)
    assert "type='result'" in out
    assert "bash deploy/install.sh" in out


def test_deploy_installed_service_runs_as_its_user_the_way_systemd_starts_it():
    """The closest this machine (no systemd as PID 1) gets to `systemctl start pushgate`, for
    install.sh's staging root: see run_unit_as_systemd_would."""
    w = WorkDir()
    try:
        stage, _, _ = _install(w)
        user = [l for l in open(os.path.join(stage, "etc", "passwd")) if l.startswith("pushgate:")][0].split(":")
        run_unit_as_systemd_would(w, os.path.join(stage, "etc/systemd/system/pushgate.service"),
                                  os.path.join(stage, "etc/pushgate/pushgate.toml"),
                                  os.path.join(stage, "etc/pushgate/credentials"), user[2], user[3],
                                  lambda a: stage + a if a.startswith(("/usr/local/bin/", "/etc/pushgate/")) else a)
    finally:
        w.cleanup()


def run_unit_as_systemd_would(w, unit_file, config, creds, uid, gid, installed_path=lambda a: a):
    """The installed unit's ExecStartPre and ExecStart, run as the installed user's uid and gid
    with NOTIFY_SOCKET and WATCHDOG_USEC as systemd sets them, against a real Prosody using
    the generated component secret; a push through Prosody and one through POST /push; then
    ExecReload and a stop. Edits `config` as an operator would (Prosody's component name and
    port, a free API port, the credentials directory `creds`). `installed_path` maps a path
    in the unit to where it is on this machine (a staging root). Stops all it started."""
    import signal
    import urllib.request
    from harness import Prosody, enable_push, free_port, send_message, wait_for, wait_port, xmpp_session
    from test_operations import NotifySocket
    prosody = proc = notify = None
    try:
        secret = {n: open(os.path.join(creds, n)).read().strip() for n in ("component.secret", "push.secret", "demo.secret")}

        prosody = Prosody(w, component_jid="push.localhost", component_secret=secret["component.secret"])
        prosody.register("alice", "alicepw")
        prosody.register("bob", "bobpw")
        prosody.start()

        # The operator's edit of the installed pushgate.toml: Prosody's component name and
        # port, a free API port, and (staging only) the staged credentials directory.
        api_port = free_port()
        with open(config) as f:
            text = f.read()
        text = (text.replace('jid = "push.example.com"', 'jid = "push.localhost"')
                .replace("port = 5347 ", f"port = {prosody.component_port} ")
                .replace('listen = "127.0.0.1:5281"', f'listen = "127.0.0.1:{api_port}"')
                .replace("/etc/pushgate/credentials/", creds + "/"))
        with open(config, "w") as f:
            f.write(text)

        unit = dict(re.findall(r"^(\w+)=(.*)$", open(unit_file).read(), re.M))
        def command(line):
            return [installed_path(a) for a in line.split()]
        as_user = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs"]

        r = subprocess.run(as_user + command(unit["ExecStartPre"]), capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "is valid" in r.stdout, r.stdout + r.stderr

        notify = NotifySocket(w)
        os.chmod(notify.path, 0o777)  # systemd's socket is writable by the service
        out_path, err_path = w.file("service.out"), w.file("service.err")
        env = {**os.environ, "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"}
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = spawn(as_user + command(unit["ExecStart"]), "pushgate (installed unit)", stdout=out, stderr=err, env=env)
        ready = notify.wait("READY=1")
        status = open(f"/proc/{proc.pid}/status").read()
        assert re.search(rf"^Uid:\t{uid}\t{uid}\t{uid}\t{uid}$", status, re.M), status  # not root
        assert re.search(r"^NoNewPrivs:\t1$", status, re.M)
        wait_for(lambda: prosody.component_authentications() >= 1, "Prosody: the component authenticated")

        token = "f" * 60 + "c0ffee"
        xmpp_session("alice@localhost", "alicepw", prosody.c2s_port,
                     enable_push("push.localhost", token, {"secret": secret["demo.secret"], "type": "call"}))
        xmpp_session("bob@localhost", "bobpw", prosody.c2s_port, send_message("alice@localhost", "ring"))
        record = wait_for(lambda: [json.loads(l) for l in open(out_path) if l.startswith("{")], "the push record")[0]
        assert record["kind"] == "voip" and record["token"] == "…c0ffee" and record["app"] == "demo", record

        wait_port(api_port)
        req = urllib.request.Request(f"http://127.0.0.1:{api_port}/push", method="POST",
                                     data=json.dumps({"node": token, "secret": secret["push.secret"], "type": "message"}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=PATIENCE) as resp:
            assert json.loads(resp.read()) == {"outcome": "delivered"}

        assert unit["ExecReload"] == "/bin/kill -HUP $MAINPID"
        proc.send_signal(signal.SIGHUP)
        notify.wait("READY=1", after=notify.wait("RELOADING=1", after=ready + 1) + 1)
        notify.wait("WATCHDOG=1")  # WATCHDOG_USEC=2 s: a keep-alive every second
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=PATIENCE) == 0
        notify.wait("STOPPING=1")
        log = open(err_path).read()
        assert "event=reload " in log and "result=applied" in log, log[-2000:]
        for s in secret.values():
            assert s not in log and s not in open(out_path).read()
        assert token not in log
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        if notify is not None:
            notify.close()
        if prosody is not None:
            prosody.stop()
