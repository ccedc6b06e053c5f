"""prosody_throttle_* : a burst of messages to one offline user becomes one push now and one
trailing push, while Prosody gets a `result` for every publish."""

import re

from harness import Stack, device_token, server_round_trip, wait_for


def burst(n):
    async def action(client):
        import asyncio
        for i in range(n):
            client.send_message(mto="alice@localhost", mbody=f"message {i}", mtype="chat")
            await asyncio.sleep(0.1)  # the scenario: 20 messages over 2 s
        await server_round_trip(client)
        return True
    return action


# The window is ten times the burst, so that all 20 publishes fall into it however slowly the
# machine lets them through (the default, 5 s, left the burst a margin of 2 to 3 times); the
# trailing push goes out when the window ends.
THROTTLE_TOML = ('[[app]]\nname = "demo"\nservice = "log"\nsecret_file = "{secret_file}"\noutput = "{output}"\n'
                 'throttle_ms = 20000\n')


def test_prosody_throttle_20_messages_in_2_s_make_2_pushes_and_20_results():
    with Stack(app_toml=THROTTLE_TOML) as s:
        s.enable(device_token(), type="message")
        s.as_bob(burst(20))
        wait_for(lambda: len(re.findall(r"Received\[component\]: <iq [^>]*type=.result", s.prosody.log())) >= 20,
                 "20 IQ results at Prosody")
        # All 20 publishes are answered; 18 were coalesced into the trailing push, which has gone:
        # nothing is left to push.
        s.pushgate.wait_log(r"event=push .*outcome=coalesced", count=18)
        s.pushgate.wait_records(2)
        s.pushgate.wait_log(r"event=push .*outcome=delivered", count=2)
        assert len(s.pushgate.records()) == 2, s.pushgate.records()
        assert "Got error" not in s.prosody.log()


def test_prosody_throttle_never_delays_calls():
    with Stack() as s:
        s.enable(device_token(), type="voip")
        s.as_bob(burst(5))
        s.pushgate.wait_records(5)
