"""A request kept raw (PendingRequest, what the generator's hot path stores) ends up in the
samples exactly as the same request built at once (TracedRequest + raw Server-Timing) would."""

from __future__ import annotations

import random

from harness.measure import (
    ClientMarks,
    PendingRequest,
    TailSampler,
    TracedRequest,
    server_timing_of_head,
)

START = 5_000_000_000


def _eager(p: PendingRequest) -> tuple[TracedRequest, str | None]:
    """The kept form as the completion built it before requests were kept raw."""
    marks = None
    if p.marks is not None:
        connect, written, first = p.marks
        if p.sent_ns <= written <= first <= p.done_ns:
            marks = ClientMarks(
                connect_ms=connect / 1e6,
                send_ms=max(written - p.sent_ns - connect, 0) / 1e6,
                wait_ms=(first - written) / 1e6,
                receive_ms=(p.done_ns - first) / 1e6,
            )
    request = TracedRequest(
        phase=p.phase,
        endpoint=p.endpoint,
        outcome=p.outcome,
        trace_id=p.trace_id,
        intended_s=(p.intended_ns - START) / 1e9,
        sent_s=(p.sent_ns - START) / 1e9,
        latency_ms=(p.done_ns - p.intended_ns) / 1e6,
        service_ms=(p.done_ns - p.sent_ns) / 1e6,
        client=marks,
    )
    return request, None if p.head is None else server_timing_of_head(p.head)


def _stream(seed: int, n: int) -> list[PendingRequest]:
    rng = random.Random(seed)
    heads = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 24",
        b'HTTP/1.1 200 OK\r\nServer-Timing: model;dur=1.5, queue;dur=0.2;desc="degraded"',
        b"HTTP/1.1 503 Busy\r\nserver-timing: admit;dur=0.01\r\nServer-Timing: total;dur=3",
    )
    out = []
    t = START
    for i in range(n):
        t += rng.randrange(100_000, 2_000_000)
        sent = t + rng.randrange(0, 50_000)
        done = sent + int(rng.lognormvariate(14, 1.2))
        answered = rng.random() < 0.95
        written = sent + rng.randrange(-1000, 20_000)  # sometimes inconsistent: no marks
        first = written + rng.randrange(0, max(done - written, 1))
        out.append(
            PendingRequest(
                rng.choice(("warmup", "main")),
                rng.choice(("score", "infer")),
                "ok" if answered else "failed",
                f"t{i:08x}",
                START,
                t,
                sent,
                done,
                (rng.choice((0, 0, 80_000)), written, first) if answered else None,
                rng.choice(heads) if answered else None,
            )
        )
    return out


def test_pending_requests_give_the_samples_of_eager_ones() -> None:
    """Same stream, same seed: raw-kept and eagerly built requests give identical samples."""
    for seed in (1, 2, 3):
        lazy, eager = TailSampler(seed=seed), TailSampler(seed=seed)
        for p in _stream(seed, 6000):
            latency = p.done_ns - p.intended_ns
            mask = lazy.want(p.phase, p.endpoint, latency)
            assert mask == eager.want(p.phase, p.endpoint, latency)
            if mask:
                lazy.add(mask, p, latency)
                request, timing = _eager(p)
                eager.add(mask, request, latency, timing)
        got, expected = lazy.samples(), eager.samples()
        assert got == expected
        assert any(r.stages for s in got for r in s.requests)  # Server-Timing made it through
        assert any(r.client is None for s in got for r in s.requests)
