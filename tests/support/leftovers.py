"""Lists (and kills) every process still running that carries this test run's marker in its
environment: tests/run.sh exports PUSHGATE_TEST_RUN=<id> before it starts anything, so every
Prosody, pushgate, PostgreSQL or mock the suite started inherits it. Prints one line per
leftover and exits 1 when there was one. Usage: leftovers.py MARKER_VALUE"""

import os
import signal
import sys


def ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def main():
    marker = f"PUSHGATE_TEST_RUN={sys.argv[1]}".encode()
    mine = ancestors()
    left = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in mine:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if marker not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # gone, or a kernel thread
        left.append((int(name), cmd))
    for pid, cmd in left:
        print(f"leftover process {pid}: {cmd[:200]}")
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
