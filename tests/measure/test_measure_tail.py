"""The generator's side of the tail: traceparent ids, Server-Timing parsing, the bounded sampler."""

from __future__ import annotations

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure import (
    ServerStage,
    TailSampler,
    TracedRequest,
    parse_server_timing,
    run_trace_prefix,
    server_timing_of_head,
    traceparent,
)
from harness.measure.tail import RESERVOIR, TOP_N, UNIFORM

_TRACEPARENT = re.compile(rb"^traceparent: 00-([0-9a-f]{32})-([0-9a-f]{16})-01\r\n$")
_NAMES = st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True)  # < 8 digits: none masked
_DESCS = st.text(alphabet=st.sampled_from('abc ,;="\\xyz'), max_size=12)


@given(st.integers(0, 2**63), st.integers(0, 2**32), st.integers(0, 2**56 - 1))
def test_traceparent_is_w3c_and_never_holds_a_long_digit_run(
    run_ns: int, seed: int, i: int
) -> None:
    """Version 00, 32/16 lower-case hex ids, sampled; no id is all zeros and no run of decimal
    digits is longer than 7 (the reports' PAN guard refuses 12+)."""
    trace_id, line = traceparent(run_trace_prefix(run_ns, seed), i)
    m = _TRACEPARENT.match(line)
    assert m is not None
    assert m.group(1).decode() == trace_id
    for ident in (m.group(1), m.group(2)):
        assert ident.strip(b"0")
        assert not re.search(rb"[0-9]{8}", ident)


@given(st.integers(0, 2**56 - 2))
def test_trace_ids_are_unique_per_arrival(i: int) -> None:
    """Two arrivals of one run never share a trace id; two runs do not share a prefix."""
    prefix = run_trace_prefix(1, 7)
    assert traceparent(prefix, i)[0] != traceparent(prefix, i + 1)[0]
    assert run_trace_prefix(1, 7) != run_trace_prefix(2, 7)


def _format(stages: list[ServerStage]) -> str:
    parts = []
    for s in stages:
        text = s.name
        if s.dur_ms is not None:
            text += f";dur={s.dur_ms!r}"
        if s.desc:
            escaped = s.desc.replace("\\", "\\\\").replace('"', '\\"')
            text += f';desc="{escaped}"'
        parts.append(text)
    return ", ".join(parts)


@given(
    st.lists(
        st.builds(
            ServerStage,
            _NAMES,
            st.none() | st.floats(0, 1e6, allow_nan=False),
            _DESCS,
        ),
        max_size=8,
        unique_by=lambda s: s.name,
    )
)
def test_server_timing_round_trips(stages: list[ServerStage]) -> None:
    """Any header we can format (quoted descs with commas, semicolons, escapes) parses back."""
    assert parse_server_timing(_format(stages)) == tuple(stages)


def test_server_timing_is_lenient_with_bad_parts() -> None:
    """Bad durations become None, empty and bad names are skipped, a repeated name keeps its
    first value, parameter names are case-insensitive, an oversized header is ignored."""
    got = parse_server_timing('a;dur=x, ;dur=1, b;DUR=2.5, a;dur=9, c;dur=-1, "q";dur=1, d;dur=nan')
    assert got == (
        ServerStage("a", None),
        ServerStage("b", 2.5),
        ServerStage("c", None),
        ServerStage("d", None),
    )
    assert parse_server_timing("x;dur=1," * 2000) == ()
    masked = parse_server_timing('db12345678;desc="card 4111111111111111 ok"')
    assert masked == (ServerStage("db#", None, "card # ok"),)


def test_server_timing_is_found_in_a_raw_head() -> None:
    """Header lines are matched case-insensitively and several are joined, in order."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer-Timing: db;dur=1\r\n"
        b"server-timing: app;dur=2"
    )
    assert server_timing_of_head(head) == "db;dur=1, app;dur=2"
    assert server_timing_of_head(b"HTTP/1.1 200 OK\r\nContent-Length: 2") is None


def _req(i: int, latency_ms: float, phase: str = "steady") -> TracedRequest:
    return TracedRequest(phase, "score", "ok", f"{i:032x}", i / 100, i / 100, latency_ms, 1.0)


def _feed(sampler: TailSampler, latencies: list[float]) -> None:
    for i, ms in enumerate(latencies):
        ns = round(ms * 1e6)
        mask = sampler.want("steady", "score", ns)
        if mask:
            sampler.add(mask, _req(i, ms), ns)


@settings(max_examples=30, deadline=None)
@given(st.integers(200, 6000), st.integers(0, 2**32))
def test_sampler_keeps_the_exact_slowest_and_stays_bounded(n: int, seed: int) -> None:
    """The kept set holds exactly the TOP_N slowest, at most its bound, and enough requests
    above the final p99 and around the median to explain a tail."""
    rng = random.Random(seed)
    latencies = [rng.lognormvariate(0.7, 0.5) for _ in range(n)]
    sampler = TailSampler(seed=1)
    _feed(sampler, latencies)
    (sample,) = sampler.samples()
    assert sample.seen == n
    assert len(sample.requests) <= TOP_N + 2 * RESERVOIR + UNIFORM
    kept = {r.latency_ms for r in sample.requests}
    assert set(sorted(latencies)[-TOP_N:]) <= kept
    ordered = sorted(latencies)
    p99 = ordered[int(0.99 * n)]
    above = sum(1 for ms in latencies if ms >= p99)
    assert sum(1 for ms in kept if ms >= p99) >= min(above, TOP_N)
    p40, p60 = ordered[int(0.4 * n)], ordered[int(0.6 * n)]
    assert sum(1 for ms in kept if p40 <= ms <= p60) >= 5
    assert [r.intended_s for r in sample.requests] == sorted(r.intended_s for r in sample.requests)


def test_sampler_is_deterministic_and_drops_most_requests() -> None:
    """Same stream, same kept set; a long run keeps a small fraction of its requests."""
    rng = random.Random(3)
    latencies = [rng.expovariate(1.0) for _ in range(50_000)]
    a, b = TailSampler(seed=5), TailSampler(seed=5)
    _feed(a, latencies)
    _feed(b, latencies)
    assert a.samples() == b.samples()
    assert len(a.samples()[0].requests) < 0.02 * len(latencies)


def test_samples_cross_the_wire_and_merge() -> None:
    """Workers' samples survive msgpack unchanged (stages, client marks); merged, the counts add
    and the requests unite per lane."""
    from harness.measure import ClientMarks, decode_samples, encode_samples, merge_samples

    a, b = TailSampler(seed=1), TailSampler(seed=2)
    for sampler, offset in ((a, 0), (b, 1)):
        for i in range(offset, 400, 2):
            r = TracedRequest(
                "steady", "score", "ok", f"{i:032x}", i / 100, i / 100, float(i % 37), 1.0,
                (ServerStage("audit", 1.5, "x"),), ClientMarks(0.0, 0.1, 0.5, 0.2),
            )  # fmt: skip
            ns = round(r.latency_ms * 1e6)
            mask = sampler.want("steady", "score", ns)
            if mask:
                sampler.add(mask, r, ns)
    wa, wb = (decode_samples(encode_samples(s.samples())) for s in (a, b))
    assert wa == a.samples()
    (merged,) = merge_samples([wa, wb])
    assert merged.seen == 400
    ids = {r.trace_id for r in merged.requests}
    assert ids == {r.trace_id for part in (wa, wb) for s in part for r in s.requests}
