"""Effects of the proxy's latency toxic and HTTP fault, measured with the harness's HDR core."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable

from proxy_support import (
    Proxied,
    exchange,
    get,
    median_p50_shift_ms,
    sibling,
    timed,
    within_in_some_attempt,
)

from harness.chaos.proxy import Distribution, http_fault_toxic, latency_toxic
from harness.load.http import HttpConnection, build_request
from harness.measure import LatencyHistogram


def _conns(p: Proxied) -> tuple[HttpConnection, HttpConnection]:
    return HttpConnection(*p.target), HttpConnection(*p.address)


def test_latency_20ms_moves_p50_by_20ms(http_proxied: Proxied) -> None:
    """A 20 ms latency toxic moves p50 by 20 ms +/- 2 ms against the same path without it
    (a sibling proxy of the same process), interleaved, median of 5 rounds."""
    http_proxied.handle.client.add_toxic("target", latency_toxic(20.0))
    plain, faulted = HttpConnection(*sibling(http_proxied, "plain")), _conns(http_proxied)[1]
    with plain, faulted:
        ok, shifts_ms = within_in_some_attempt(lambda: median_p50_shift_ms(plain, faulted), 18, 22)
    assert ok, shifts_ms


def _rounds(
    a: HttpConnection, b: HttpConnection, rounds: int = 5, per_round: int = 40
) -> list[tuple[list[float], list[float]]]:
    """Per round: latencies (ms) of ``per_round`` alternated requests on ``a`` and on ``b``."""
    exchange(a, get())
    exchange(b, get())
    out = []
    for _ in range(rounds):
        lat_a: list[float] = []
        lat_b: list[float] = []
        for _ in range(per_round):
            for conn, lat in ((a, lat_a), (b, lat_b)):
                start = time.perf_counter()
                assert exchange(conn, get()).status == 200
                lat.append((time.perf_counter() - start) * 1000)
        out.append((lat_a, lat_b))
    return out


def _paired(
    p: Proxied, mean_ms: float, jitter_ms: float, dist: Distribution
) -> list[tuple[list[float], list[float]]]:
    """Rounds through the jittered proxy and, alternately, a sibling proxy with the same fixed
    latency: the machine's noise is in both, the jitter only in the first."""
    fixed_address = sibling(p, "fixed")
    p.handle.client.add_toxic("target", latency_toxic(mean_ms, jitter_ms, dist, name="jit"))
    p.handle.client.add_toxic("fixed", latency_toxic(mean_ms, name="fix"))
    with HttpConnection(*p.address) as conn_j, HttpConnection(*fixed_address) as conn_f:
        return _rounds(conn_j, conn_f)


def _iqr(samples: list[float]) -> float:
    q1, _q2, q3 = statistics.quantiles(samples, n=4)
    return q3 - q1


def _median_of_rounds(
    rounds: list[tuple[list[float], list[float]]], stat: Callable[[list[float], list[float]], float]
) -> float:
    return statistics.median(stat(a, b) for a, b in rounds)


def _median_shift(a: list[float], b: list[float]) -> float:
    """Median of ``a`` minus median of ``b``. The bounds on it are 3 ms, not tighter: the
    machine's noise is right-skewed, and added to a symmetric jitter it lifts the median of the
    sum by 1-2 ms more than it lifts a fixed delay's."""
    return statistics.median(a) - statistics.median(b)


def _net_iqr(a: list[float], b: list[float]) -> float:
    """``a``'s IQR with ``b``'s (the noise's) removed in quadrature."""
    return max(_iqr(a) ** 2 - _iqr(b) ** 2, 0.0) ** 0.5


def _low_tail(a: list[float], b: list[float]) -> float:
    """How far ``a``'s p5 lies below ``b``'s median."""
    return statistics.median(b) - sorted(a)[len(a) // 20]


def test_normal_jitter_has_its_standard_deviation(http_proxied: Proxied) -> None:
    """latency 25 ms, jitter 6 ms, normal: same median as a fixed 25 ms path, sd ~6 ms (IQR =
    1.349 sd, net of the noise the fixed path sees), p5 ~10 ms under the median; each a median
    over 5 rounds."""
    rounds = _paired(http_proxied, 25.0, 6.0, Distribution.NORMAL)
    assert abs(_median_of_rounds(rounds, _median_shift)) <= 3.0
    assert 4.5 <= _median_of_rounds(rounds, _net_iqr) / 1.349 <= 8.0
    assert _median_of_rounds(rounds, _low_tail) >= 6.0


def test_uniform_jitter_stays_in_its_band(http_proxied: Proxied) -> None:
    """latency 20 +/- 8 ms uniform: nothing below 12 ms (noise only adds), centred on a fixed
    20 ms path, and the IQR net of noise ~8 ms (U(12, 28)); medians over 5 rounds."""
    rounds = _paired(http_proxied, 20.0, 8.0, Distribution.UNIFORM)
    assert min(min(a) for a, _b in rounds) >= 11.9
    assert abs(_median_of_rounds(rounds, _median_shift)) <= 3.0
    assert 6.0 <= _median_of_rounds(rounds, _net_iqr) <= 10.5


def test_http_abort_5_percent_over_2000_requests(http_proxied: Proxied) -> None:
    """error_rate 0.05 gives 5% +/- 1.5% 503s over 2,000 requests on one keep-alive connection."""
    client = http_proxied.handle.client
    before = client.stats("target")["connections_total"]
    client.add_toxic("target", http_fault_toxic(error_rate=0.05, error_code=503))
    statuses = []
    with HttpConnection(*http_proxied.address) as conn:
        for _ in range(2000):
            statuses.append(exchange(conn, get()).status)
    share = statuses.count(503) / len(statuses)
    assert 0.035 <= share <= 0.065, share
    assert set(statuses) == {200, 503}
    stats = client.stats("target")
    assert stats["connections_total"] == before + 1  # the faulted requests kept the connection
    assert stats["requests_aborted"] == statuses.count(503)


def test_http_error_body_and_excluded_path(http_proxied: Proxied) -> None:
    """Every request fails with the configured code and body, except on an excluded path."""
    toxic = http_fault_toxic(error_rate=1.0, error_code=429, error_body='{"e":"slow down"}')
    http_proxied.handle.client.add_toxic("target", toxic)
    http_proxied.handle.client.update_toxic(
        "target",
        http_fault_toxic(
            error_rate=1.0, error_code=429, error_body='{"e":"slow down"}', exclude=["/health"]
        ),
    )
    with HttpConnection(*http_proxied.address) as conn:
        failed = exchange(conn, get("/v1/score"))
        passed = exchange(conn, get("/health?x=1"))
    assert failed.status == 429
    assert failed.body_length == len('{"e":"slow down"}')
    assert passed.status == 200


def test_http_delay_per_request(http_proxied: Proxied) -> None:
    """average_delay 15 ms +/- 5 ms: no request under 10 ms (noise only adds), the same median
    as a sibling proxy with a fixed 15 ms latency (which has the same timer-wake noise), the
    spread that of U(10, 20) net of that noise; medians over 5 rounds."""
    toxic = http_fault_toxic(average_delay_ms=15.0, delay_variation_ms=5.0)
    fixed_address = sibling(http_proxied, "fixed")
    http_proxied.handle.client.add_toxic("target", toxic)
    http_proxied.handle.client.add_toxic("fixed", latency_toxic(15.0))
    with (
        HttpConnection(*http_proxied.address) as delayed_conn,
        HttpConnection(*fixed_address) as fixed_conn,
    ):
        rounds = _rounds(delayed_conn, fixed_conn)
    assert min(min(a) for a, _b in rounds) >= 9.9
    assert abs(_median_of_rounds(rounds, _median_shift)) <= 3.0
    assert 3.0 <= _median_of_rounds(rounds, _net_iqr) <= 7.5  # U(10, 20): IQR 5 ms


def test_http_fault_frames_bodies_and_pipelined_requests(http_proxied: Proxied) -> None:
    """Content-Length and chunked bodies are forwarded whole; pipelined responses keep order."""
    http_proxied.handle.client.add_toxic(
        "target", http_fault_toxic(error_rate=1.0, error_code=503, exclude=["/keep"])
    )
    body = b"x" * 5000
    chunked = (
        b"POST /keep HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n"
    )
    pipelined = (
        build_request("POST", "t", "/keep", body)
        + build_request("POST", "t", "/fail", b"y" * 100)
        + chunked
        + build_request("GET", "t", "/fail")
    )
    with socket.create_connection(http_proxied.address, timeout=5.0) as sock:
        sock.sendall(pipelined)
        received = b""
        deadline = time.monotonic() + 5.0
        while received.count(b"HTTP/1.1") < 4 and time.monotonic() < deadline:
            received += sock.recv(65536)
    statuses = [int(part[:3]) for part in received.split(b"HTTP/1.1 ")[1:]]
    assert statuses == [200, 503, 200, 503]
    assert b'{"received":5000}' in received
    assert b'{"received":8}' in received


def test_runtime_changes_keep_open_connections(http_proxied: Proxied) -> None:
    """Adding, changing and removing toxics leaves the open keep-alive connection in use."""
    client = http_proxied.handle.client
    before = client.stats("target")["connections_total"]
    hist = LatencyHistogram()
    with HttpConnection(*http_proxied.address) as conn:
        exchange(conn, get())
        client.add_toxic("target", latency_toxic(30.0, name="lat"))
        slow = [timed(conn, get(), hist) for _ in range(3)]
        client.update_toxic("target", latency_toxic(5.0, name="lat"))
        client.add_toxic("target", http_fault_toxic(error_rate=1.0, error_code=502))
        faulted = exchange(conn, get())
        client.remove_toxic("target", "lat")
        client.remove_toxic("target", "http_upstream")
        fine = exchange(conn, get())
        assert conn.connected
    assert all(r.status == 200 for r in slow)
    assert hist.percentile_us(0) >= 29_000
    assert faulted.status == 502
    assert fine.status == 200
    stats = client.stats("target")
    assert stats["connections_total"] == before + 1


def test_toxicity_applies_to_a_share_of_connections(http_proxied: Proxied) -> None:
    """toxicity 0.5: about half of 40 new connections get the latency, the others none."""
    http_proxied.handle.client.add_toxic("target", latency_toxic(40.0, toxicity=0.5))
    slow = 0
    for _ in range(40):
        with HttpConnection(*http_proxied.address) as conn:
            start = time.perf_counter()
            exchange(conn, get())
            slow += (time.perf_counter() - start) > 0.035
    assert 10 <= slow <= 30, slow
