"""Reload soak: N SIGHUPs to one pushgate, each waited for, with an APNs app and an FCM app
(a new HTTP/2 client, signer and token source per reload) and a log app. Prints the reload
time (p50/p99) and the RSS and open descriptors after the first reload and after the last,
so anything a reload leaks shows as growth.
Usage: reload.py PUSHGATE_BIN [N]"""

import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import (TestPki, WorkDir, apns_app_toml, fcm_app_toml, free_port, make_service_account_key,  # noqa: E402
                     write_service_account)


def rss_kib(pid):
    return int(re.search(r"^VmRSS:\s+(\d+) kB", open(f"/proc/{pid}/status").read(), re.M).group(1))


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class LogTail:
    def __init__(self, path):
        self.path = path
        self.f = open(path, errors="replace")
        self.partial = ""
        self.reloads = 0

    def wait_reloads(self, count, timeout=10.0):
        deadline = time.time() + timeout
        while self.reloads < count:
            chunk = self.f.readline()
            if not chunk.endswith("\n"):  # nothing new, or a line still being written
                self.partial += chunk
                if time.time() > deadline:
                    raise TimeoutError(f"reload {count} not applied within {timeout} s; log tail:\n"
                                       + open(self.path).read()[-2000:])
                time.sleep(0.0005)
                continue
            line, self.partial = self.partial + chunk, ""
            if "event=reload " in line and "result=applied" in line:
                self.reloads += 1


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    w = WorkDir()
    try:
        pki = TestPki(w)
        make_service_account_key(pki)
        secret = w.file("s.secret")
        with open(secret, "w") as f:
            f.write("bench-secret\n")
        os.chmod(secret, 0o600)
        dead = f"https://127.0.0.1:{free_port()}"  # the providers are built; no push is sent
        sa = write_service_account(pki, dead + "/token")
        config = w.file("pushgate.toml")
        with open(config, "w") as f:
            f.write(f'[component]\njid = "push.localhost"\nport = {free_port()}\nsecret_file = "{secret}"\n'
                    f'[http]\nlisten = "127.0.0.1:{free_port()}"\npush_secret_file = "{secret}"\n'
                    + apns_app_toml("ios", pki, dead, secret) + fcm_app_toml("android", pki, dead, sa, secret)
                    + f'[[app]]\nname = "demo"\nservice = "log"\nsecret_file = "{secret}"\noutput = "{w.file("out")}"\n')
        log_path = w.file("pushgate.log")
        with open(log_path, "wb") as err:
            proc = subprocess.Popen([binary, "--config", config], stderr=err)
        tail = LogTail(log_path)
        time.sleep(1.0)
        proc.send_signal(signal.SIGHUP)
        tail.wait_reloads(1)
        time.sleep(0.2)
        first_rss, first_fds = rss_kib(proc.pid), fds(proc.pid)
        times = []
        for i in range(n):
            t = time.perf_counter()
            proc.send_signal(signal.SIGHUP)
            tail.wait_reloads(i + 2)
            times.append((time.perf_counter() - t) * 1000)
        time.sleep(0.2)
        last_rss, last_fds = rss_kib(proc.pid), fds(proc.pid)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        times.sort()
        print(f"reloads: {n + 1}, each waited for; reload time p50 {times[len(times) // 2]:.2f} ms, "
              f"p99 {times[int(len(times) * 0.99)]:.2f} ms, max {times[-1]:.2f} ms")
        print(f"RSS: {first_rss} KiB after reload 1, {last_rss} KiB after reload {n + 1} ({last_rss - first_rss:+d} KiB)")
        print(f"open descriptors: {first_fds} after reload 1, {last_fds} after reload {n + 1}")
        print(f"exit code after SIGTERM: {rc}")
    finally:
        w.cleanup()


if __name__ == "__main__":
    main()
