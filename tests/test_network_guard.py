import socket

import aiohttp
import pytest

from tests.support.network_guard import OutsideConnection, take_violations


def test_outside_connection_is_refused_and_recorded():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(OutsideConnection):
            s.connect(("192.0.2.1", 80))
    finally:
        s.close()
    assert take_violations()  # recorded; taken, as this test expected it


async def test_aiohttp_to_outside_host_is_refused():
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            await session.get("http://example.invalid/")
    assert take_violations()


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket()
    try:
        client.connect(server.getsockname())
    finally:
        client.close()
        server.close()
