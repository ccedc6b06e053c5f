"""prosody_throttle_* : a burst of messages to one offline user becomes one push now and one
trailing push, while Prosody gets a `result` for every publish."""

import re
import time

from harness import Stack, device_token, send_message, wait_for


def burst(n):
    async def action(client):
        import asyncio
        for i in range(n):
            client.send_message(mto="alice@localhost", mbody=f"message {i}", mtype="chat")
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        return True
    return action


def test_prosody_throttle_20_messages_in_2_s_make_2_pushes_and_20_results():
    with Stack() as s:
        s.enable(device_token(), type="message")
        start = time.time()
        s.as_bob(burst(20))
        assert time.time() - start < 6
        wait_for(lambda: len(re.findall(r"Received\[component\]: <iq [^>]*type=.result", s.prosody.log())) >= 20, 10,
                 "20 IQ results at Prosody")
        s.pushgate.wait_records(2, timeout=10)
        time.sleep(1.0)
        assert len(s.pushgate.records()) == 2, s.pushgate.records()
        assert "Got error" not in s.prosody.log()
        s.pushgate.wait_log(r"event=push .*outcome=coalesced", count=18)


def test_prosody_throttle_never_delays_calls():
    with Stack() as s:
        s.enable(device_token(), type="voip")
        s.as_bob(burst(5))
        s.pushgate.wait_records(5, timeout=10)
