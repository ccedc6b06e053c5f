"""package_* : the Debian package, as a newcomer on Debian 12 meets it: pushgate(8) names every
flag and key, dpkg-buildpackage builds the .deb, lintian finds no error or warning in it,
`apt-get install ./pushgate_*.deb` gives the user, the state directory, the secrets and units
that are not enabled, the installed service runs as systemd would run it, `remove` keeps the
configuration and the data, and `purge` leaves nothing of the package's behind (the
registrations too, unless asked) and keeps, naming it, a file the operator put in /etc/pushgate.

The package is built with DEB_BUILD_OPTIONS=nocheck: the suite runs the unit tests in its own
sanitizer build. tests/run.sh starts the build in the background before the unit tests
(PUSHGATE_TEST_DEB_DIR) so that its minutes overlap the rest of the suite; run alone, the test
builds it itself (tests/support/build_deb.sh).

These tests install and purge a real package on this machine: they refuse to run where
pushgate is already installed or /etc/pushgate or /var/lib/pushgate exist (they would delete
an operator's data), and skip, saying why, only where no Debian package can be installed."""

import atexit
import glob
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time

from harness import Skip, WorkDir
from test_deploy import UNITS, run_unit_as_systemd_would

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN = os.path.join(ROOT, "doc", "pushgate.8")
APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
_built = {}


def _meson_version():
    with open(os.path.join(ROOT, "meson.build")) as f:
        return re.search(r"project\('pushgate'.*?version\s*:\s*'([^']+)'", f.read(), re.S).group(1)


def _man_sections():
    """{".SH name" or ".SS name": its roff text} of doc/pushgate.8."""
    with open(MAN) as f:
        text = f.read()
    parts = re.split(r"^(\.S[HS] .*)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _man_documents(section_text):
    """The names a section documents: each .TP item's first line, roff escapes undone."""
    items = re.findall(r"^\.TP\n(.*)$", section_text, re.M)
    names = set()
    for item in items:
        item = item.replace("\\-", "-").replace("\\fI", " ").replace("\\fR", " ").replace("\\fB", " ")
        names.update(re.findall(r"[-A-Za-z_0-9.]+", re.sub(r"^\.\w+\s*", "", item)))
    return names


def test_package_man_page_names_every_flag_key_signal_and_exit_code_and_renders_cleanly():
    sections = _man_sections()
    with open(os.path.join(ROOT, "src", "daemon", "command_line.cpp")) as f:
        source = f.read()
    flags = set(re.findall(r'a == "(-[-a-z]+)"', source)) | {"registrations"}
    assert len(flags) >= 12, sorted(flags)  # the pattern still finds the parser's flags
    missing = sorted(flags - _man_documents(sections[".SH OPTIONS"]))
    assert not missing, f"flags pushgate reads but pushgate(8) OPTIONS does not document: {missing}"

    # Every key, under the table it belongs to (the reader function names the table).
    with open(os.path.join(ROOT, "src", "config", "config.cpp")) as f:
        config = f.read()
    tables = {"read_component": "[component]", "read_http": "[http]", "check_apns_app": "[[app]]",
              "check_fcm_app": "[[app]]", "read_app": "[[app]]", "read_store": "[store]",
              "read_legacy": "[legacy_tls]", "read_push": "[push]", "read_check": "[check]"}
    chunks = re.split(r"^(?:AppConfig|void) (\w+)\(", config, flags=re.M)
    # A new table's reader must be mapped here, or its keys would go unchecked.
    readers = {c for c in chunks[1::2] if re.match(r"(read|check)_\w+$", c)} - {"read_apps"}
    assert readers <= set(tables), f"config readers this test does not map to a table: {sorted(readers - set(tables))}"
    key_pattern = r'(?:\.(?:str|integer|boolean|strings|choice|fail)|\bnumber|\bseconds)\s*\(?\s*"([a-z_]+)"'
    checked = 0
    for i in range(1, len(chunks) - 1, 2):
        if chunks[i] not in tables:
            continue
        keys = set(re.findall(key_pattern, chunks[i + 1]))
        documented = _man_documents(sections[".SS " + tables[chunks[i]]])
        missing = sorted(keys - documented)
        assert not missing, f"keys of {tables[chunks[i]]} that pushgate(8) does not document there: {missing}"
        checked += len(keys)
    assert checked > 50, checked

    with open(os.path.join(ROOT, "src", "daemon", "signal_source.cpp")) as f:
        signals = set(re.findall(r"\bSIG[A-Z]+\b", f.read())) - {"SIG_BLOCK"}
    assert signals == {"SIGTERM", "SIGINT", "SIGHUP"}, signals
    missing = sorted(signals - _man_documents(sections[".SH SIGNALS"]))
    assert not missing, f"signals pushgate handles but pushgate(8) does not document: {missing}"

    codes = set()
    for path in ("src/main.cpp", "src/daemon/check.cpp", "src/daemon/daemon.cpp", "src/store/registrations_command.cpp"):
        with open(os.path.join(ROOT, path)) as f:
            codes |= set(re.findall(r"\breturn (\d+);", f.read()))
    assert codes >= {"0", "1", "2"}, codes
    missing = sorted(codes - _man_documents(sections[".SH EXIT STATUS"]))
    assert not missing, f"exit codes pushgate returns but pushgate(8) does not document: {missing}"

    env = set()
    for dirpath, _, files in os.walk(os.path.join(ROOT, "src")):
        for name in files:
            with open(os.path.join(dirpath, name)) as f:
                text = f.read()
            env |= set(re.findall(r'getenv\("([A-Z_]+)"\)', text)) | set(re.findall(r'"(PUSHGATE_[A-Z_]+)"', text))
    env.add("WATCHDOG_USEC")  # read by sd_watchdog_enabled() in libsystemd
    documented = _man_documents(sections[".SH ENVIRONMENT"])
    missing = sorted(v for v in env if v not in documented and not any(d.startswith(v) for d in documented))
    assert not missing, f"environment variables pushgate reads but pushgate(8) does not document: {missing}"

    with open(MAN) as f:
        assert f'"pushgate {_meson_version()}"' in f.read(), "pushgate(8)'s .TH names another version than meson.build"
    # man(1) renders it without a warning (groff's -ww: every warning).
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", MAN], capture_output=True, text=True,
                       env={**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8", "MAN_KEEP_STDERR": "1"}, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "pushgate --check --config /etc/pushgate/pushgate.toml" in r.stdout


def test_package_version_is_meson_s():
    with open(os.path.join(ROOT, "debian", "changelog")) as f:
        first = f.readline()
    m = re.match(r"pushgate \(([^)]+)\) ", first)
    assert m and m.group(1) == _meson_version(), (first, _meson_version())


def _can_install_debian_packages():
    """The reason no Debian package can be installed here, or None."""
    if not shutil.which("dpkg") or not shutil.which("apt-get"):
        return "this system has no dpkg/apt-get: the Debian package cannot be installed here (deploy/install.sh is the way)"
    if os.geteuid() != 0:
        return "not root: installing a Debian package needs root"
    return None


def _deb():
    """The path of the built pushgate_<version>_<arch>.deb: the background build tests/run.sh
    started (waited for), or one built now."""
    if "deb" in _built:
        return _built["deb"]
    for tool, package in (("dpkg-buildpackage", "dpkg-dev"), ("dh", "debhelper"), ("lintian", "lintian")):
        # deploy/install-deps.sh --packaging installs them (tests/run.sh does): missing is a broken setup.
        assert shutil.which(tool), f"{tool} is missing: bash deploy/install-deps.sh --packaging (package {package})"
    out = os.environ.get("PUSHGATE_TEST_DEB_DIR")
    if out:
        deadline = time.time() + 1500
        while not os.path.exists(os.path.join(out, "status")):
            assert time.time() < deadline, "the background package build did not finish in 25 minutes"
            time.sleep(2)
    else:
        out = tempfile.mkdtemp(prefix="pushgate-deb-")
        atexit.register(shutil.rmtree, out, True)  # the .deb serves every test of this run
        subprocess.run(["bash", os.path.join(ROOT, "tests", "support", "build_deb.sh"), out], timeout=1800)
    with open(os.path.join(out, "build.log"), errors="replace") as f:
        log = f.read()
    with open(os.path.join(out, "status")) as f:
        assert f.read().strip() == "0", "dpkg-buildpackage -us -uc -b failed:\n" + log[-4000:]
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    deb = os.path.join(out, "tree", f"pushgate_{_meson_version()}_{arch}.deb")
    assert os.path.isfile(deb), os.listdir(os.path.join(out, "tree"))
    _built["deb"] = deb
    return deb


def test_package_builds_passes_lintian_and_holds_what_it_should():
    reason = _can_install_debian_packages()
    if reason:
        raise Skip(reason)
    deb = _deb()
    r = subprocess.run(["lintian", "--fail-on", "error,warning", deb], capture_output=True, text=True, timeout=600)
    tags = [l for l in r.stdout.splitlines() if re.match(r"[EW]: ", l)]
    assert not tags and r.returncode == 0, r.stdout + r.stderr

    info = subprocess.run(["dpkg-deb", "-I", deb], capture_output=True, text=True, check=True).stdout
    fields = dict(re.findall(r"^ (\w[\w-]*): (.*)$", info, re.M))
    assert fields["Package"] == "pushgate" and fields["Version"] == _meson_version(), fields
    for lib in ("libstrophe0", "libnghttp2-14", "libuv1", "libssl3", "libpq5", "libsystemd0", "libtomlplusplus3"):
        assert lib in fields["Depends"], (lib, fields["Depends"])  # ${shlibs:Depends}
    control = tempfile.mkdtemp(prefix="pushgate-deb-control-")
    try:
        subprocess.run(["dpkg-deb", "-e", deb, os.path.join(control, "DEBIAN")], check=True)
        with open(os.path.join(control, "DEBIAN", "conffiles")) as f:
            assert f.read().split() == ["/etc/pushgate/pushgate.toml"]
    finally:
        shutil.rmtree(control)

    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    for path in ("/usr/bin/pushgate", "/etc/pushgate/pushgate.toml", "/usr/share/pushgate/pushgate.toml.example",
                 "/lib/systemd/system/pushgate.service", "/lib/systemd/system/pushgate-legacy-tls.service",
                 "/usr/lib/sysusers.d/pushgate.conf", "/usr/lib/tmpfiles.d/pushgate.conf",
                 "/usr/share/man/man8/pushgate.8.gz", "/usr/share/doc/pushgate/README.md",
                 "/usr/share/doc/pushgate/README.Debian", "/usr/share/doc/pushgate/copyright",
                 "/usr/share/pushgate/ejabberd/pushgate.yml", "/usr/share/pushgate/prometheus/pushgate-alerts.yml",
                 "/usr/share/pushgate/grafana/pushgate.json"):
        assert path in files, path
    for name in os.listdir(os.path.join(ROOT, "prosody-config")):
        assert "/usr/share/pushgate/prosody-config/" + name in files, name


def _dpkg_status():
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "pushgate"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def _apt(*args):
    r = subprocess.run(["apt-get", "-y", "-q", *args], capture_output=True, text=True, env=APT_ENV,
                       stdin=subprocess.DEVNULL, timeout=600)
    assert r.returncode == 0, f"apt-get {' '.join(args)}:\n" + r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout + r.stderr


def _user(name):
    return next((l.rstrip("\n").split(":") for l in open("/etc/passwd") if l.startswith(name + ":")), None)


def _enabled(unit):
    r = subprocess.run(["systemctl", "--root=/", "is-enabled", unit], capture_output=True, text=True)
    return r.stdout.strip()


def test_package_installs_runs_as_a_service_removes_and_purges_clean():
    reason = _can_install_debian_packages()
    if reason:
        raise Skip(reason)
    deb = _deb()
    # Someone's real installation would be purged by this test: refuse instead.
    assert _dpkg_status() in ("", "un"), f"pushgate is installed here ({_dpkg_status()}): the test would purge it"
    for path in ("/etc/pushgate", "/var/lib/pushgate"):
        assert not os.path.exists(path), f"{path} exists: the test's purge would delete it; run the test elsewhere"
    had_user = _user("pushgate") is not None
    had_group = any(l.startswith("pushgate:") for l in open("/etc/group"))
    w = WorkDir()
    try:
        # 1. apt install ./pushgate_*.deb: the user, the state directory, fresh secrets, units not enabled.
        out = _apt("install", deb)
        assert "installed, not enabled" in out, out[-2000:]
        user = _user("pushgate")
        assert user and user[5] == "/var/lib/pushgate" and user[6] == "/usr/sbin/nologin", user
        uid, gid = int(user[2]), int(user[3])
        assert uid < 1000, user  # a system user
        st = os.stat("/var/lib/pushgate")
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, 0o700), st
        st = os.stat("/etc/pushgate/pushgate.toml")
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, gid, 0o640), st
        with open("/etc/pushgate/pushgate.toml") as f, open(os.path.join(ROOT, "deploy", "pushgate.toml.example")) as e:
            assert f.read() == e.read()
        creds = "/etc/pushgate/credentials"
        st = os.stat(creds)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (uid, 0o700), st
        secrets = {}
        for name in ("component.secret", "push.secret", "demo.secret"):
            st = os.stat(os.path.join(creds, name))
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (uid, 0o600), name
            secrets[name] = open(os.path.join(creds, name)).read()
            assert re.fullmatch(r"[0-9a-f]{48}\n", secrets[name]), name
        assert len(set(secrets.values())) == 3
        for unit in UNITS:
            assert os.path.isfile(f"/lib/systemd/system/{unit}"), unit
            assert _enabled(unit) == "disabled", unit
            assert not os.path.exists(f"/etc/systemd/system/multi-user.target.wants/{unit}"), unit
        r = subprocess.run(["systemd-analyze", "verify", *[f"/lib/systemd/system/{u}" for u in UNITS]],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and (r.stdout + r.stderr).strip() == "", r.stdout + r.stderr
        assert subprocess.run(["man", "-w", "pushgate"], capture_output=True, text=True).stdout.strip() == \
            "/usr/share/man/man8/pushgate.8.gz"

        # 2. The installed binary checks the installed configuration, as root and as its user.
        r = subprocess.run(["pushgate", "--version"], capture_output=True, text=True)
        assert r.stdout == f"pushgate {_meson_version()}\n", r.stdout
        as_user = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        for prefix in ([], as_user):
            r = subprocess.run(prefix + ["/usr/bin/pushgate", "--check", "--config", "/etc/pushgate/pushgate.toml"],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0 and "is valid (1 app, component push.example.com)" in r.stdout, r.stdout + r.stderr

        # 3. The installed unit, started as systemd starts it (this machine's PID 1 is not systemd).
        run_unit_as_systemd_would(w, "/lib/systemd/system/pushgate.service", "/etc/pushgate/pushgate.toml", creds,
                                  str(uid), str(gid))
        with open("/etc/pushgate/pushgate.toml") as f:
            edited = f.read()
        assert 'jid = "push.localhost"' in edited
        with open("/var/lib/pushgate/registrations.sqlite", "w") as f:
            f.write("the registrations\n")  # stands for the data an operator would not want lost
        # The operator, configured, enables it (README: "Start"); systemctl works offline here.
        r = subprocess.run(["systemctl", "enable", "pushgate.service"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and _enabled("pushgate.service") == "enabled", r.stdout + r.stderr

        # 4. remove: the program and the units go; the configuration, the secrets and the data stay.
        _apt("remove", "pushgate")
        assert _dpkg_status() == "rc", _dpkg_status()
        for gone in ("/usr/bin/pushgate", "/lib/systemd/system/pushgate.service"):
            assert not os.path.exists(gone), gone
        assert open("/etc/pushgate/pushgate.toml").read() == edited
        for name, value in secrets.items():
            assert open(os.path.join(creds, name)).read() == value, name
        assert os.path.isfile("/var/lib/pushgate/registrations.sqlite")

        # 5. Installed again: it carries on with the same secrets, configuration and data, and the
        #    unit the operator had enabled is enabled again; the other one is not.
        _apt("install", deb)
        assert open("/etc/pushgate/pushgate.toml").read() == edited
        for name, value in secrets.items():
            assert open(os.path.join(creds, name)).read() == value, name
        assert os.path.isfile("/var/lib/pushgate/registrations.sqlite")
        assert _enabled("pushgate.service") == "enabled"
        assert _enabled("pushgate-legacy-tls.service") == "disabled"

        # 6. purge: the configuration, the generated secrets and the data go; a key the operator put
        #    in credentials/ (an APNs key can be downloaded once) stays, and purge names it. The user
        #    stays (README.Debian).
        operator_key = os.path.join(creds, "AuthKey_TEST.p8")
        with open(operator_key, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nthe operator's\n-----END PRIVATE KEY-----\n")
        out = _apt("purge", "pushgate")
        assert _dpkg_status() == "", _dpkg_status()
        assert open(operator_key).read().startswith("-----BEGIN PRIVATE KEY-----"), "purge deleted the operator's key"
        assert sorted(os.listdir("/etc/pushgate")) == ["credentials"], os.listdir("/etc/pushgate")
        assert os.listdir(creds) == ["AuthKey_TEST.p8"], os.listdir(creds)
        assert "pushgate: kept /etc/pushgate: files you added: credentials/AuthKey_TEST.p8; delete them by hand" \
            in out, out[-2000:]
        for gone in ("/etc/pushgate/pushgate.toml", *[os.path.join(creds, n) for n in secrets],
                     "/var/lib/pushgate", "/usr/bin/pushgate",
                     "/etc/systemd/system/multi-user.target.wants/pushgate.service"):
            assert not os.path.lexists(gone), f"{gone} is left after purge"
        # The operator deletes it by hand, as purge said: nothing of pushgate is left in /etc.
        shutil.rmtree("/etc/pushgate")
        left = glob.glob("/var/lib/systemd/deb-systemd-helper-*/**/pushgate*", recursive=True)
        assert not left, f"deb-systemd-helper still remembers pushgate after purge: {left}"
        statoverrides = subprocess.run(["dpkg-statoverride", "--list"], capture_output=True, text=True).stdout
        assert "/etc/pushgate" not in statoverrides, statoverrides
        assert _user("pushgate") is not None

        # 7. Asked to keep the data (keep-on-purge): purge deletes the configuration (and, with no
        #    file of the operator's there, /etc/pushgate), keeps /var/lib/pushgate.
        #    A purge forgot the operator's enable: a new installation is not enabled.
        _apt("install", deb)
        assert _enabled("pushgate.service") == "disabled"
        with open("/var/lib/pushgate/registrations.sqlite", "w") as f:
            f.write("the registrations\n")
        open("/var/lib/pushgate/keep-on-purge", "w").close()
        out = _apt("purge", "pushgate")
        assert "kept /var/lib/pushgate" in out, out[-2000:]
        assert "kept /etc/pushgate" not in out, out[-2000:]
        assert not os.path.exists("/etc/pushgate")
        assert open("/var/lib/pushgate/registrations.sqlite").read() == "the registrations\n"
        shutil.rmtree("/var/lib/pushgate")
    finally:
        # Pass or fail, the machine is left as it was: no package, no data, no user the test made.
        if _dpkg_status() not in ("", "un"):
            subprocess.run(["apt-get", "-y", "-q", "purge", "pushgate"], capture_output=True, env=APT_ENV,
                           stdin=subprocess.DEVNULL, timeout=600)
        for path in ("/etc/pushgate", "/var/lib/pushgate"):
            shutil.rmtree(path, ignore_errors=True)
        if not had_user and _user("pushgate") is not None:
            subprocess.run(["userdel", "pushgate"], capture_output=True)
        if not had_group:
            subprocess.run(["groupdel", "pushgate"], capture_output=True)
        w.cleanup()
