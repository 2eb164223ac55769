"""Pure parts of the fault proxy: toxic validation, jitter distributions, HTTP framing."""

from __future__ import annotations

import random
import statistics
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.chaos.proxy import (
    Distribution,
    Stream,
    ToxicKind,
    describe,
    http_fault_toxic,
    latency_toxic,
    parse_proxy,
    parse_toxic,
    slicer_toxic,
    toxic_to_json,
)
from harness.chaos.proxy.framing import Framer, Kind, Piece
from harness.chaos.proxy.model import check_address
from harness.chaos.proxy.sampling import sample_delay_ms
from harness.errors import FaultError, ProxyError


# -- model ------------------------------------------------------------------------------------
def test_toxic_round_trips_with_toxiproxy_names() -> None:
    """Wire names are Toxiproxy's, Python attributes carry units; JSON round trips."""
    doc = {"type": "latency", "attributes": {"latency": 20, "jitter": 5}}
    toxic = parse_toxic(doc)
    assert toxic.name == "latency_downstream"
    assert toxic.stream is Stream.DOWNSTREAM
    assert toxic.toxicity == 1.0
    assert toxic.attrs == latency_toxic(20.0, 5.0).attrs
    again = toxic_to_json(toxic)
    assert again["attributes"] == {"latency": 20.0, "jitter": 5.0, "distribution": "uniform"}
    assert parse_toxic(again) == toxic


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"type": "latency", "attributes": {"latency": -1}}, "$.attributes.latency"),
        ({"type": "latency", "attributes": {"lag": 1}}, "lag"),
        ({"type": "bandwidth", "attributes": {"rate": 0}}, "$.attributes.rate"),
        ({"type": "latency", "toxicity": 1.5}, "$.toxicity"),
        ({"type": "nope"}, "$.type"),
        ({"type": "latency", "stream": "sideways"}, "$.stream"),
        ({"type": "http", "stream": "downstream"}, "$.stream"),
        ({"type": "http", "stream": "upstream", "attributes": {"error_code": 99}}, "error_code"),
        ({"type": "slicer", "attributes": {"average_size": 0}}, "average_size"),
    ],
)
def test_bad_toxics_name_the_field(doc: dict[str, object], where: str) -> None:
    """A bad toxic raises ProxyError (a FaultError) whose message names the field."""
    with pytest.raises(ProxyError, match=where.replace("$", r"\$").replace(".", r"\.")):
        parse_toxic(doc)
    assert issubclass(ProxyError, FaultError)


def test_builders_validate_and_describe() -> None:
    """Builders validate like the API and give timeline labels."""
    with pytest.raises(ProxyError):
        latency_toxic(-5.0)
    toxic = http_fault_toxic(error_rate=0.05, error_code=503, exclude=["/health"])
    assert toxic.kind is ToxicKind.HTTP
    assert toxic.stream is Stream.UPSTREAM
    assert describe(toxic, "scorer") == "http 5.0% -> 503, +0ms upstream -> scorer"
    assert describe(latency_toxic(20.0, toxicity=0.5), "redis").startswith("latency 20ms")
    assert slicer_toxic(64, 8, 100.0).name == "slicer_downstream"


def test_addresses_outside_loopback_and_the_lab_range_are_refused() -> None:
    """listen/upstream: loopback or 198.18.0.0/15; control: loopback only; names not resolved."""
    ok = {"name": "p", "listen": "127.0.0.1:0", "upstream": "198.18.0.2:6379"}
    assert parse_proxy(ok).upstream == "198.18.0.2:6379"
    with pytest.raises(ProxyError, match=r"\$\.upstream: 10\.0\.0\.1: refused"):
        parse_proxy({**ok, "upstream": "10.0.0.1:80"})
    with pytest.raises(ProxyError, match="names are not resolved"):
        parse_proxy({**ok, "listen": "example.com:80"})
    with pytest.raises(ProxyError, match="host:port"):
        parse_proxy({**ok, "listen": "127.0.0.1"})
    with pytest.raises(ProxyError, match="only loopback"):
        check_address("198.18.0.1", "control", loopback_only=True)
    check_address("::1", "control", loopback_only=True)


# -- sampling -----------------------------------------------------------------------------------
def _draws(dist: Distribution, n: int = 20_000) -> list[float]:
    rng = random.Random(1)
    return [sample_delay_ms(rng, 100.0, 10.0, dist) for _ in range(n)]


@pytest.mark.parametrize(
    "dist", [Distribution.NORMAL, Distribution.PARETO, Distribution.PARETONORMAL]
)
def test_table_distributions_have_mean_mu_and_sd_jitter(dist: Distribution) -> None:
    """normal, pareto, paretonormal: mean ~ latency, sd ~ jitter (netem's normalised tables)."""
    draws = _draws(dist)
    assert statistics.fmean(draws) == pytest.approx(100.0, abs=0.5)
    assert statistics.stdev(draws) == pytest.approx(10.0, rel=0.15)


def test_uniform_is_latency_plus_minus_jitter() -> None:
    """uniform: within [mu - j, mu + j], sd j / sqrt(3)."""
    draws = _draws(Distribution.UNIFORM)
    assert min(draws) >= 90.0
    assert max(draws) <= 110.0
    assert statistics.stdev(draws) == pytest.approx(10.0 / 3**0.5, rel=0.05)


def test_pareto_is_right_skewed() -> None:
    """pareto: a long right tail (p99 far above the median, the median below the mean)."""
    draws = sorted(_draws(Distribution.PARETO))
    median, p99 = draws[len(draws) // 2], draws[len(draws) * 99 // 100]
    assert median < statistics.fmean(draws)
    assert p99 - median > 2 * (median - draws[len(draws) // 100])


@given(
    mean_ms=st.floats(0, 1000),
    jitter_ms=st.floats(0, 1000),
    dist=st.sampled_from(Distribution),
    seed=st.integers(0, 2**32),
)
def test_samples_are_never_negative_and_are_reproducible(
    mean_ms: float, jitter_ms: float, dist: Distribution, seed: int
) -> None:
    """Every sample is >= 0, and the same seed gives the same sample."""
    first = sample_delay_ms(random.Random(seed), mean_ms, jitter_ms, dist)
    assert first >= 0.0
    assert first == sample_delay_ms(random.Random(seed), mean_ms, jitter_ms, dist)


# -- framing ------------------------------------------------------------------------------------
REQUESTS = (
    b"GET /a?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    b"POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
    b"HEAD /d HTTP/1.1\r\nConnection: close\r\n\r\n"
)
RESPONSES = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"  # answers HEAD: no body follows
)


def _feed_split(framer: Framer, data: bytes, cuts: list[int]) -> list[Piece]:
    pieces: list[Piece] = []
    last = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        pieces += framer.feed(data[last:cut])
        last = cut
    return pieces


def _summary(pieces: list[Piece]) -> tuple[bytes, list[bytes], int, list[int]]:
    data = b"".join(p.data for p in pieces)
    paths = [p.head.path for p in pieces if p.head is not None]
    statuses = [p.head.status for p in pieces if p.head is not None]
    return data, paths, sum(p.end for p in pieces), statuses


@given(st.lists(st.integers(0, len(REQUESTS)), max_size=12))
def test_request_framing_is_independent_of_chunking(cuts: list[int]) -> None:
    """However the bytes are split, every byte comes out once and the 4 requests are found."""
    methods: deque[bytes] = deque()
    data, paths, ends, _ = _summary(_feed_split(Framer(Kind.REQUEST, methods), REQUESTS, cuts))
    assert data == REQUESTS
    assert paths == [b"/a", b"/b", b"/c", b"/d"]
    assert ends == 4
    assert list(methods) == [b"GET", b"POST", b"POST", b"HEAD"]


@given(st.lists(st.integers(0, len(RESPONSES)), max_size=12))
def test_response_framing_counts_final_responses(cuts: list[int]) -> None:
    """1xx is not final; 204 and a response to HEAD have no body; chunked ends at its trailer."""
    methods = deque([b"GET", b"POST", b"DELETE", b"HEAD"])
    data, _, ends, statuses = _summary(_feed_split(Framer(Kind.RESPONSE, methods), RESPONSES, cuts))
    assert data == RESPONSES
    assert statuses == [200, 100, 201, 204, 200]
    assert ends == 4
    assert not methods


def test_non_http_bytes_turn_the_framer_opaque() -> None:
    """Bytes that are not HTTP pass through unframed (a Redis client is proxied, not broken)."""
    framer = Framer(Kind.REQUEST, deque())
    pieces = framer.feed(b"*1\r\n$4\r\nPING\r\n\r\n")
    assert framer.opaque
    assert b"".join(p.data for p in pieces) == b"*1\r\n$4\r\nPING\r\n\r\n"
    assert framer.feed(b"more") == [Piece(b"more", None, False)]


def test_an_incomplete_head_is_held_until_complete() -> None:
    """Only an incomplete head is held back; it comes out whole with its head."""
    framer = Framer(Kind.REQUEST, deque())
    assert framer.feed(b"GET / HTTP/1.1\r\nHo") == []
    assert not framer.at_boundary
    (piece,) = framer.feed(b"st: x\r\n\r\n")
    assert piece.data == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert piece.end
    assert framer.at_boundary


def test_the_proxy_process_never_imports_locust_or_gevent() -> None:
    """The proxy's whole process side (server, control API) loads without Locust or gevent."""
    import subprocess
    import sys

    code = (
        "import sys, harness.chaos, harness.chaos.proxy.main;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
