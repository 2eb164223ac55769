"""Effects of the TCP toxics (bandwidth, timeout, reset_peer, slicer, limit_data, slow_close)."""

from __future__ import annotations

import socket
import statistics
import time

import pytest
from proxy_support import Proxied, connect, recv_exactly

from harness.chaos.proxy import (
    Stream,
    Toxic,
    bandwidth_toxic,
    latency_toxic,
    limit_data_toxic,
    reset_peer_toxic,
    slicer_toxic,
    slow_close_toxic,
    timeout_toxic,
)


def _echo_time_s(address: tuple[str, int], size: int) -> float:
    with connect(address) as sock:
        start = time.monotonic()
        sock.sendall(b"x" * size)
        data, _ = recv_exactly(sock, size, start + 10.0)
        assert len(data) == size
        return time.monotonic() - start


def test_bandwidth_limits_throughput(tcp_proxied: Proxied) -> None:
    """rate 100 KB/s downstream: 60 KB takes ~0.6 s through the proxy, a few ms directly."""
    tcp_proxied.handle.client.add_toxic("target", bandwidth_toxic(100.0))
    direct_s = _echo_time_s(tcp_proxied.target, 60_000)
    limited_s = _echo_time_s(tcp_proxied.address, 60_000)
    assert 0.45 <= limited_s <= 1.2, limited_s
    assert direct_s < 0.2
    rate_kb_s = 60_000 / limited_s / 1000
    assert 50 <= rate_kb_s <= 135


def test_timeout_zero_holds_until_removed(tcp_proxied: Proxied) -> None:
    """timeout 0: nothing comes back and the connection stays open; after removal data flows."""
    client = tcp_proxied.handle.client
    client.add_toxic("target", timeout_toxic(0.0))
    with connect(tcp_proxied.address) as sock:
        sock.sendall(b"held")
        held, _ = recv_exactly(sock, 4, time.monotonic() + 0.5)
        assert held == b""  # swallowed, not closed: recv timed out
        client.remove_toxic("target", "timeout_downstream")
        sock.sendall(b"free")
        data, _ = recv_exactly(sock, 4, time.monotonic() + 3.0)
    assert data == b"free"


def test_timeout_closes_after_its_timeout(tcp_proxied: Proxied) -> None:
    """timeout 300 ms: no data, then the connection is closed at ~300 ms."""
    tcp_proxied.handle.client.add_toxic("target", timeout_toxic(300.0))
    with connect(tcp_proxied.address) as sock:
        start = time.monotonic()
        sock.sendall(b"lost")
        sock.settimeout(3.0)
        assert sock.recv(100) == b""  # EOF, never the echo
        elapsed_s = time.monotonic() - start
    assert 0.25 <= elapsed_s <= 1.0


def _drain(sock: socket.socket) -> None:
    while sock.recv(100):
        pass


def test_reset_peer_resets(tcp_proxied: Proxied) -> None:
    """reset_peer 200 ms: the client gets ECONNRESET at ~200 ms."""
    tcp_proxied.handle.client.add_toxic("target", reset_peer_toxic(200.0))
    with connect(tcp_proxied.address) as sock:
        start = time.monotonic()
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4, start + 1.0)[0] == b"ping"  # flows until the reset
        sock.settimeout(3.0)
        with pytest.raises(ConnectionResetError):
            _drain(sock)
        elapsed_s = time.monotonic() - start
    assert 0.15 <= elapsed_s <= 1.0


def test_slicer_cuts_data_into_small_delayed_slices(tcp_proxied: Proxied) -> None:
    """slicer 100 +/- 20 bytes, 2 ms apart: 3,000 bytes arrive in ~100-byte reads over >= 40 ms."""
    tcp_proxied.handle.client.add_toxic("target", slicer_toxic(100, 20, 2000.0))
    with connect(tcp_proxied.address) as sock:
        start = time.monotonic()
        sock.sendall(b"s" * 3000)
        data, sizes = recv_exactly(sock, 3000, start + 5.0)
        elapsed_s = time.monotonic() - start
    assert len(data) == 3000
    assert len(sizes) >= 15
    assert statistics.median(sizes) <= 120
    assert elapsed_s >= 0.04


def test_limit_data_closes_after_the_limit(tcp_proxied: Proxied) -> None:
    """limit_data 1,000 bytes: exactly 1,000 bytes of 5,000 come back, then EOF."""
    tcp_proxied.handle.client.add_toxic("target", limit_data_toxic(1000))
    with connect(tcp_proxied.address) as sock:
        sock.sendall(b"d" * 5000)
        data, _ = recv_exactly(sock, 5000, time.monotonic() + 3.0)
        sock.settimeout(2.0)
        assert sock.recv(100) == b""
    assert len(data) == 1000


def test_slow_close_delays_the_close(tcp_proxied: Proxied) -> None:
    """slow_close 300 ms: the server's close reaches the client ~300 ms late, not at once."""
    tcp_proxied.handle.client.add_toxic("target", slow_close_toxic(300.0))

    def close_delay_s(address: tuple[str, int]) -> float:
        with connect(address) as sock:
            start = time.monotonic()
            sock.sendall(b"bye")
            sock.settimeout(3.0)
            assert sock.recv(100) == b""
            return time.monotonic() - start

    assert close_delay_s(tcp_proxied.target) < 0.1
    assert 0.28 <= close_delay_s(tcp_proxied.address) <= 1.0


def test_upstream_latency_delays_the_request_direction(tcp_proxied: Proxied) -> None:
    """A latency toxic on the upstream stream delays the echo as much as a downstream one."""
    toxic = latency_toxic(50.0, stream=Stream.UPSTREAM)
    tcp_proxied.handle.client.add_toxic("target", toxic)
    assert 0.045 <= _echo_time_s(tcp_proxied.address, 10) <= 0.5


def _echo_exact(address: tuple[str, int], payload: bytes) -> bytes:
    """Send ``payload`` from one thread while reading the echo here (both bounded in time)."""
    import threading

    with connect(address) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        data, _ = recv_exactly(sock, len(payload), time.monotonic() + 20.0)
        sender.join(timeout=20.0)
    return data


@pytest.mark.parametrize("toxic", [None, latency_toxic(5.0)], ids=["no-toxic", "latency"])
def test_large_transfers_arrive_intact(tcp_proxied: Proxied, toxic: Toxic | None) -> None:
    """4 MB through the proxy and back (backpressure, queueing) arrive complete and in order."""
    if toxic is not None:
        tcp_proxied.handle.client.add_toxic("target", toxic)
    payload = bytes(range(256)) * (4 * 4096)
    assert _echo_exact(tcp_proxied.address, payload) == payload
