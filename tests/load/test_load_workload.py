"""Request bytes from the scenario: mix proportions, headers, bodies, per-worker streams."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import msgspec
import pytest

from harness.errors import UsageError
from harness.load.workload import ScenarioWorkload, host_port
from harness.spec.scenario import Scenario
from harness.target import InferInput


def _scenario(mix: list[dict[str, object]]) -> Scenario:
    return msgspec.convert(
        {
            "name": "w",
            "mix": mix,
            "payload": {"seed": 7},
            "phases": [{"name": "s", "kind": "steady", "rate": 10, "duration_s": 1}],
        },
        Scenario,
    )


MIX = [
    {"endpoint": "score", "weight": 90},
    {"endpoint": "infer", "weight": 8},
    {"endpoint": "health", "weight": 2},
]


def _split(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], headers, body


def test_mix_headers_and_bodies() -> None:
    """5,000 requests follow the 90/8/2 mix; each is a complete request with valid JSON."""
    source = ScenarioWorkload(
        _scenario(MIX), "http://127.0.0.1:8080", infer=InferInput("input", 15)
    )
    requests = [source.next() for _ in range(5000)]
    counts = Counter(r.endpoint for r in requests)
    assert 0.88 < counts["score"] / 5000 < 0.92
    assert 0.065 < counts["infer"] / 5000 < 0.095
    assert 0.01 < counts["health"] / 5000 < 0.03
    for r in requests[:300]:
        line, headers, body = _split(r.data)
        assert line == f"{r.method} {r.path} HTTP/1.1"
        assert headers["Host"] == "127.0.0.1:8080"
        if r.method == "POST":
            assert int(headers["Content-Length"]) == len(body)
            doc = json.loads(body)
            if r.endpoint == "infer":
                assert doc["inputs"][0]["shape"] == [1, 15]
            else:
                assert doc["transaction_id"]


def test_streams_share_a_seed_but_not_transactions() -> None:
    """Same stream: same endpoints and ids; another stream (another worker): other ids."""
    scenario = _scenario([{"endpoint": "score", "weight": 1}])
    a, b = (
        ScenarioWorkload(scenario, "http://127.0.0.1:1"),
        ScenarioWorkload(scenario, "http://127.0.0.1:1"),
    )
    other = ScenarioWorkload(scenario, "http://127.0.0.1:1", stream=1)

    def ids(source: ScenarioWorkload) -> list[str]:
        return [json.loads(_split(source.next().data)[2])["transaction_id"] for _ in range(50)]

    first = ids(a)
    assert first == ids(b)
    assert not set(first) & set(ids(other))


def test_an_inferring_mix_needs_the_model_input() -> None:
    """Without the V2 input tensor the workload refuses to start."""
    with pytest.raises(UsageError, match="infer"):
        ScenarioWorkload(_scenario(MIX), "http://127.0.0.1:1")


def test_host_port() -> None:
    """Default port 80 for http, 443 for https; other schemes are refused."""
    assert host_port("http://localhost/") == ("localhost", 80, "localhost")
    assert host_port("http://127.0.0.1:9/x") == ("127.0.0.1", 9, "127.0.0.1:9")
    assert host_port("https://127.0.0.1/") == ("127.0.0.1", 443, "127.0.0.1")
    with pytest.raises(ValueError, match="http://"):
        host_port("ftp://127.0.0.1:443")


#: sha256 over 3,000 requests of the 90/8/2 mix (seed 7, stream 1, a fixed clock), from the code
#: before the build was flattened (main at 7dcde35): entry picks, bodies and heads, byte for byte.
MIX_DIGEST = "cfac264d87acce5350de607f5a3c864e9d0bdb483d403edd2a7cc99b079aae90"


def test_requests_are_the_ones_sent_before() -> None:
    """The mix's requests (picks, heads, score and infer bodies) hash to the earlier code's."""
    source = ScenarioWorkload(
        _scenario(MIX), "http://127.0.0.1:8080", stream=1, infer=InferInput("input", 15)
    )
    ticks = iter(range(1_700_000_000_000, 1_800_000_000_000, 7))
    source._payload._clock = lambda: next(ticks) / 1000  # a fixed clock
    h = hashlib.sha256()
    for _ in range(3000):
        r = source.next()
        h.update(f"{r.endpoint} {r.method} {r.path}\n".encode())
        h.update(r.data)
    assert h.hexdigest() == MIX_DIGEST
