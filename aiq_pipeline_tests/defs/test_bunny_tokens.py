"""The Bunny resource shares one token per process: a code server's sensor ticks (each opening a client) and a
command's steps ask Bunny for a token once, not once per tick."""

from aiq_emulators.bunny.app import start_emulator
from aiq_pipeline.defs.resources import BunnyResource


def test_clients_the_resource_opens_in_one_process_share_a_token() -> None:
    with start_emulator() as (url, _):
        resource = BunnyResource(
            base_url=url, client_id="demo-bunny-client", client_secret="demo-bunny-secret", entity_id="1"
        )
        fetched = []
        for _ in range(3):
            with resource.open() as client:
                assert client.get_entity("1") is not None
                fetched.append(client.token_request_count)
    assert sum(fetched) <= 1 and fetched[1:] == [0, 0]
