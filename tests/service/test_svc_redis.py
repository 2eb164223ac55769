"""With a real redis-server, velocity per card accumulates across requests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from svc_support import ServiceFactory, make_pan

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    """A throwaway redis-server on a free loopback port, no persistence; killed afterwards."""
    binary = shutil.which("redis-server")
    assert binary is not None  # the `redis` marker skips the test when it is absent
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*args, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _zcard(port: int, key: str) -> int:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    try:
        return int(client.zcard(key))
    finally:
        client.close()


def test_velocity_counts_rise_in_redis(services: ServiceFactory, redis_port: int) -> None:
    """Each decision adds one entry to the card's window; HIGH_VELOCITY_1H appears after 5."""
    url = f"redis://127.0.0.1:{redis_port}/0"
    svc = services.start("--redis-url", url, "--feature-budget-ms", "200")
    pan = make_pan()
    token = ""
    flagged = []
    for i in range(7):
        r = svc.score(pan=pan, amount=10.0 + i)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["degraded"] is False
        token = body["card_token"]
        flagged.append("HIGH_VELOCITY_1H" in body["reason_codes"])
        # Writes are off the request path: wait until this one has landed.
        deadline = time.monotonic() + 5
        while _zcard(redis_port, "slo:vel:" + token) < i + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _zcard(redis_port, "slo:vel:" + token) == i + 1
    # Prior transactions 0..4 are below the default threshold of 5; the 6th and 7th see >= 5.
    assert flagged == [False] * 5 + [True] * 2
    # Nothing in Redis holds the PAN: keys and members are the token, time and amount.
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=2)
    try:
        keys = [k.decode() if isinstance(k, bytes) else k for k in client.keys("*")]
        members = client.zrange("slo:vel:" + token, 0, -1)
    finally:
        client.close()
    assert all(pan not in k for k in keys)
    assert all(pan.encode() not in m for m in members)
