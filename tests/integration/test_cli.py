"""cli_* : the pushgate command line, --check, and the operator's Prosody snippet."""

import os
import subprocess

from harness import PUSHGATE, Prosody, WorkDir


def _run(*args, env=None):
    return subprocess.run([PUSHGATE, *args], capture_output=True, text=True, timeout=20, env=env)


def _secret(w, name, value="s3cret", mode=0o600):
    path = w.file(name)
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, mode)
    return path


def _config(w, text):
    path = w.file("pushgate.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def _valid(w):
    return (f'[component]\njid = "push.example.com"\nsecret_file = "{_secret(w, "c.secret")}"\n'
            f'[[app]]\nname = "ios"\nservice = "log"\nsecret_file = "{_secret(w, "a.secret")}"\n')


def test_cli_version_and_help():
    r = _run("--version")
    assert r.returncode == 0 and r.stdout.startswith("pushgate "), r
    r = _run("--help")
    assert r.returncode == 0 and "--check" in r.stdout and "--config" in r.stdout
    r = _run("--bogus")
    assert r.returncode == 2 and "unknown argument '--bogus'" in r.stderr


def test_cli_check_accepts_a_valid_config():
    w = WorkDir()
    try:
        r = _run("--check", "--config", _config(w, _valid(w)))
        assert r.returncode == 0, r.stderr
        assert "is valid" in r.stdout
    finally:
        w.cleanup()


def test_cli_check_names_a_typo_and_its_fix():
    w = WorkDir()
    try:
        r = _run("--check", "--config", _config(w, _valid(w) + "outptu = \"/tmp/x\"\n"))
        assert r.returncode == 1
        assert "unknown key 'outptu'" in r.stderr and "did you mean 'output'" in r.stderr, r.stderr
    finally:
        w.cleanup()


def test_cli_refuses_a_world_readable_secret_file():
    w = WorkDir()
    try:
        loose = _secret(w, "loose.secret", "topsecretvalue", 0o644)
        text = f'[component]\njid = "push.example.com"\nsecret_file = "{loose}"\n'
        r = _run("--check", "--config", _config(w, text))
        assert r.returncode == 1
        assert "readable by every user" in r.stderr and "chmod o-rwx" in r.stderr, r.stderr
        assert "topsecretvalue" not in r.stderr + r.stdout
    finally:
        w.cleanup()


def test_cli_no_secret_no_start():
    w = WorkDir()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
        text = '[component]\njid = "push.example.com"\n[[app]]\nname = "a"\nservice = "log"\n'
        r = _run("--config", _config(w, text), env=env)
        assert r.returncode == 1
        assert "has no secret" in r.stderr and "PUSHGATE_COMPONENT_SECRET" in r.stderr, r.stderr
        env["PUSHGATE_COMPONENT_SECRET"] = "from-env"
        env["PUSHGATE_APP_A_SECRET"] = "app-from-env"
        r = _run("--check", "--config", _config(w, text), env=env)
        assert r.returncode == 0, r.stderr
    finally:
        w.cleanup()


def test_cli_missing_config_and_bad_toml():
    r = _run("--check", "--config", "/nonexistent/pushgate.toml")
    assert r.returncode == 1 and "cannot be read" in r.stderr
    w = WorkDir()
    try:
        r = _run("--check", "--config", _config(w, "[component\njid = 1\n"))
        assert r.returncode == 1 and "not valid TOML" in r.stderr, r.stderr
    finally:
        w.cleanup()


def test_cli_example_config_passes_check():
    w = WorkDir()
    try:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(os.path.join(root, "deploy", "pushgate.toml.example")) as f:
            text = f.read()
        # Point the example's secret files at real ones; everything else stays as shipped.
        text = text.replace("/etc/pushgate/credentials/component.secret", _secret(w, "c.secret"))
        text = text.replace("/etc/pushgate/credentials/demo.secret", _secret(w, "a.secret"))
        text = text.replace("/etc/pushgate/credentials/push.secret", _secret(w, "p.secret"))
        r = _run("--check", "--config", _config(w, text))
        assert r.returncode == 0, r.stderr
    finally:
        w.cleanup()


def test_prosody_snippet_passes_prosodyctl_check_config():
    w = WorkDir()
    try:
        p = Prosody(w)
        r = p.prosodyctl("check", "config", check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "pushgate.cfg.lua" in r.stdout and "All checks passed" in r.stdout
    finally:
        w.cleanup()


def test_prosody_legacy_tls_snippets_pass_prosodyctl_check_config():
    import shutil
    for name in ("legacy-tls-plain.cfg.lua", "legacy-tls-starttls.cfg.lua"):
        w = WorkDir()
        try:
            p = Prosody(w)
            root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            dst = os.path.join(p.dir, name)
            shutil.copyfile(os.path.join(root, "prosody-config", name), dst)
            os.chmod(dst, 0o644)
            with open(p.config, "a") as f:
                f.write(f'\nInclude "{dst}"\n')
            r = p.prosodyctl("check", "config", check=False)
            assert r.returncode == 0 and "All checks passed" in r.stdout, (name, r.stdout + r.stderr)
        finally:
            w.cleanup()
