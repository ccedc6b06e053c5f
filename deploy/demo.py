"""The quick-start demo: a throwaway Prosody (with prosody-config/pushgate.cfg.lua), pushgate
with the embedded `log` provider, and two XMPP clients. Shows the push that would have been
sent, step by step. Everything runs on 127.0.0.1 in a temp dir that is removed at the end."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))

from harness import Stack, device_token, wait_for  # noqa: E402


def step(n, text):
    print(f"\n[{n}] {text}", flush=True)


def main():
    step(1, "Starting a throwaway Prosody 0.12 with mod_cloud_notify and the pushgate snippet")
    with Stack(start_pushgate=False) as s:
        p = s.prosody
        print(f"    c2s on 127.0.0.1:{p.c2s_port}, component port 127.0.0.1:{p.component_port}, "
              f"users alice@localhost and bob@localhost")
        step(2, "Starting pushgate as the component push.localhost, with the `log` provider")
        s.pushgate.start()
        print(f"    connected: {re.search(r'event=component_connected.*', s.pushgate.log()).group(0)}")

        token = device_token()
        step(3, f"alice enables push: node = a device token (…{token[-6:]}), type = voip, with the app's secret")
        s.enable(token, type="voip")
        print("    alice goes offline")

        step(4, "bob sends alice a message; Prosody stores it offline and publishes a push to pushgate")
        s.message_alice("Are you free for a call?")

        rec = s.pushgate.wait_records(1)[0]
        step(5, "pushgate recorded the push it would have sent (nothing leaves this machine):")
        print("    " + json.dumps(rec, indent=2, ensure_ascii=False).replace("\n", "\n    "))
        print(f"    pushgate's log: {re.search(r'event=push .*', s.pushgate.log()).group(0)}")

        step(6, "Prosody got pushgate's answer")
        line = wait_for(lambda: re.search(r"Received\[component\]: <iq [^>]*type='result'[^>]*>", p.log()),
                        "the IQ result in Prosody's log")
        print(f"    {line.group(0)}")
        print("    A `result` keeps alice's registration healthy; a dead device would get cancel/item-not-found.")
    print("\nDone: that was the whole chain, on this machine only. Next, a real service beside your Prosody:\n"
          "    bash deploy/install.sh     (builds, installs the systemd units, creates the pushgate user)\n"
          "then follow what it prints, or the README's \"Running it as a service\".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
