"""The requests that explain a tail: W3C trace context, ``Server-Timing`` and a bounded sample.

Why: a histogram says *that* p99 is high; to say *why*, the report needs a few individual slow
requests (with a trace id an SRE can look up in Jaeger/Tempo when the service propagates it) and
where each spent its time. This module is the generator's side of that, pure and cheap:

- the W3C ``traceparent`` each request carries and the ``Server-Timing`` a response may bring
  are text functions of :mod:`harness.measure.tracecontext`;
- :class:`TailSampler` decides per completed request, in well under a microsecond, whether it
  is worth keeping in full (its Server-Timing parsed, its client-side marks kept). Per phase x
  endpoint ("lane") it keeps, each bounded: the :data:`TOP_N` slowest; a reservoir of requests
  above the lane's running p99 and one above its running p90 (the running percentiles come from
  a ring of the last :data:`RING` latencies, re-sorted every :data:`REFRESH` requests); and a
  uniform sample (every k-th request, k doubling when full) for the median. Everything else is
  dropped without parsing: the hot path stays one comparison and a list store per request, and
  a kept request may be stored raw (:class:`PendingRequest`), built only if still kept at the end.

Units: times are offsets from the run's start in seconds (``_s``) and durations in milliseconds
(``_ms``). Invariant: a :class:`TailSample` holds at most ``TOP_N + 2 * RESERVOIR + UNIFORM``
requests per lane, whatever the run's length (and the raw headers waiting to be parsed at most
about twice as many, :data:`RAW_PRUNE_AT` at least); all randomness comes from a seeded
``random.Random`` so a rerun keeps the same requests.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final, NamedTuple

import msgspec

from harness.measure.tracecontext import ServerStage, parse_server_timing, server_timing_of_head

__all__ = [
    "RAW_PRUNE_AT",
    "RESERVOIR",
    "RING",
    "TOP_N",
    "UNIFORM",
    "ClientMarks",
    "PendingRequest",
    "TailSample",
    "TailSampler",
    "TracedRequest",
    "decode_samples",
    "encode_samples",
    "merge_samples",
]

TOP_N: Final = 20
RESERVOIR: Final = 200
UNIFORM: Final = 256
RING: Final = 512
REFRESH: Final = 128
#: ``TailSampler._raw`` is pruned to the requests still kept once it holds this many entries
#: (or twice what the last pruning kept): most requests a reservoir takes are replaced later, and
#: their raw headers must not pile up over a long run (about 100 a second at 1,000 req/s).
RAW_PRUNE_AT: Final = 4096

#: Bits of :meth:`TailSampler.want`'s answer: why a request is kept.
_TOP, _P99, _P90, _UNIFORM = 1, 2, 4, 8


@dataclass(frozen=True, slots=True)
class ClientMarks:
    """The client's view of one exchange (ms): connecting, writing, waiting for the first
    response byte, reading the rest. ``connect_ms`` is 0 on a reused keep-alive connection."""

    connect_ms: float
    send_ms: float
    wait_ms: float
    receive_ms: float


@dataclass(frozen=True, slots=True)
class TracedRequest:
    """One kept request: what happened to it, where its time went, and how to find it."""

    phase: str
    endpoint: str
    outcome: str  # ``Outcome`` value
    trace_id: str
    intended_s: float  # offset of the intended send time from the run's start
    sent_s: float  # offset of the actual send
    latency_ms: float  # intended clock (what the client saw)
    service_ms: float  # from the actual send
    stages: tuple[ServerStage, ...] = ()  # the response's Server-Timing (empty: none sent)
    client: ClientMarks | None = None

    @property
    def degraded(self) -> bool:
        """True when any server stage says it ran degraded (``desc`` contains "degraded")."""
        return any("degraded" in s.desc.lower() for s in self.stages)


class PendingRequest(NamedTuple):
    """A kept request in the raw form the hot path can afford: the times and client marks a
    :class:`TracedRequest` is computed from, and the response head its ``Server-Timing`` is read
    from. :meth:`TailSampler.samples` builds the request only for those still kept at the end
    (most of what a reservoir takes is replaced later), with the same arithmetic as building it
    at once would have used, so the samples are the same either way (a test holds them equal).

    ``marks``: (connect, written, first byte) in monotonic ns of the connection that carried it,
    None without a response; ``head``: the response head, None without a response. A NamedTuple:
    the generator's completion builds one per kept request with ``tuple.__new__`` (a third of a
    Python ``__init__``); the sampler tells kept requests apart by trace id, never by value.
    """

    phase: str
    endpoint: str
    outcome: str
    trace_id: str
    start_ns: int
    intended_ns: int
    sent_ns: int
    done_ns: int
    marks: tuple[int, int, int] | None = None
    head: bytes | None = None

    def client(self) -> ClientMarks | None:
        """The client-side marks, when they are consistent with the request's times."""
        if self.marks is None:
            return None
        connect, written, first = self.marks
        sent, done = self.sent_ns, self.done_ns
        if not sent <= written <= first <= done:
            return None
        return ClientMarks(
            connect_ms=connect / 1e6,
            send_ms=max(written - sent - connect, 0) / 1e6,
            wait_ms=(first - written) / 1e6,
            receive_ms=(done - first) / 1e6,
        )

    def request(self) -> TracedRequest:
        """The :class:`TracedRequest` (its Server-Timing parsed from the head)."""
        start, intended = self.start_ns, self.intended_ns
        sent, done = self.sent_ns, self.done_ns
        timing = None if self.head is None else server_timing_of_head(self.head)
        return TracedRequest(
            phase=self.phase,
            endpoint=self.endpoint,
            outcome=self.outcome,
            trace_id=self.trace_id,
            intended_s=(intended - start) / 1e9,
            sent_s=(sent - start) / 1e9,
            latency_ms=(done - intended) / 1e6,
            service_ms=(done - sent) / 1e6,
            stages=() if timing is None else parse_server_timing(timing),
            client=self.client(),
        )


@dataclass(frozen=True, slots=True)
class TailSample:
    """What the generator kept of one phase x endpoint: a bounded set of :class:`TracedRequest`.

    ``seen`` counts every completed request of the lane; ``requests`` (sorted by intended time)
    are the kept ones. Which of them are "the slowest", "above p99" or "around the median" is
    decided later, against the run's exact histograms (``harness.slo.explain_tails``).
    """

    phase: str
    endpoint: str
    seen: int
    requests: tuple[TracedRequest, ...]


_Kept = TracedRequest | PendingRequest


class _Lane:
    __slots__ = (
        "hot",
        "hot_seen",
        "n",
        "p90_ns",
        "p99_ns",
        "ring",
        "stride",
        "top",
        "uniform",
        "warm",
        "warm_seen",
    )

    def __init__(self) -> None:
        self.n = 0
        self.ring: list[int] = []
        self.p90_ns = 0
        self.p99_ns = 0
        self.top: list[tuple[int, int, _Kept]] = []  # min-heap (latency, seq, request)
        self.hot: list[_Kept] = []  # reservoir above the running p99
        self.hot_seen = 0
        self.warm: list[_Kept] = []  # reservoir above the running p90
        self.warm_seen = 0
        self.uniform: list[_Kept] = []
        self.stride = 1

    def refresh(self) -> None:
        ordered = sorted(self.ring)
        last = len(ordered) - 1
        self.p90_ns = ordered[min(last, int(0.90 * len(ordered)))]
        self.p99_ns = ordered[min(last, int(0.99 * len(ordered)))]


class TailSampler:
    """Keeps a bounded, representative set of requests per phase x endpoint (see the module).

    Use from one thread (greenlets take turns): ``mask = want(...)``; when non-zero, build the
    :class:`TracedRequest` and ``add(mask, request, latency_ns, server_timing)`` with the raw
    ``Server-Timing`` value: it is parsed in :meth:`samples`, only for the requests still kept
    then (a reservoir replaces most of those it ever took), so the hot path never parses.
    """

    def __init__(self, seed: int = 0) -> None:
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._rng = random.Random(seed)
        self._seq = 0
        self._raw: dict[str, str] = {}  # trace id -> raw Server-Timing, parsed in samples()
        self._raw_limit = RAW_PRUNE_AT

    def want(self, phase: str, endpoint: str, latency_ns: int) -> int:
        """Why this request is worth keeping (bit mask; 0: drop it). Updates running stats."""
        key = (phase, endpoint)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        n = lane.n
        lane.n = n + 1
        ring = lane.ring
        if len(ring) < RING:
            ring.append(latency_ns)
        else:
            ring[n % RING] = latency_ns
        if n % REFRESH == 0 or n < 64:
            lane.refresh()
        mask = 0
        top = lane.top
        if len(top) < TOP_N or latency_ns > top[0][0]:
            mask = _TOP
        if n >= 64:  # running percentiles mean something only after a few dozen requests
            if latency_ns >= lane.p99_ns:
                mask |= _P99
            elif latency_ns >= lane.p90_ns:
                mask |= _P90
        if n % lane.stride == 0:
            mask |= _UNIFORM
        return mask

    def add(
        self,
        mask: int,
        request: TracedRequest | PendingRequest,
        latency_ns: int,
        server_timing: str | None = None,
    ) -> None:
        """Keep ``request`` (``mask`` from :meth:`want` for the same request; ``server_timing``:
        its raw header value, which replaces ``request.stages`` when parsed in :meth:`samples`;
        a :class:`PendingRequest` carries its response head instead)."""
        lane = self._lanes[(request.phase, request.endpoint)]
        self._seq += 1
        if server_timing is not None:
            self._raw[request.trace_id] = server_timing
            if len(self._raw) > self._raw_limit:
                self._prune_raw()
        if mask & _TOP:
            item = (latency_ns, self._seq, request)
            if len(lane.top) < TOP_N:
                heapq.heappush(lane.top, item)
            else:
                heapq.heapreplace(lane.top, item)
        if mask & _P99:
            lane.hot_seen += 1
            self._reservoir(lane.hot, lane.hot_seen, request)
        if mask & _P90:
            lane.warm_seen += 1
            self._reservoir(lane.warm, lane.warm_seen, request)
        if mask & _UNIFORM:
            lane.uniform.append(request)
            if len(lane.uniform) >= UNIFORM:
                del lane.uniform[1::2]  # keep every other one; the stride doubles
                lane.stride *= 2

    def _prune_raw(self) -> None:
        """Forget the raw headers of requests no lane keeps any more (amortised O(1) per add:
        the next pruning waits until the dict has doubled)."""
        kept = {
            r.trace_id
            for lane in self._lanes.values()
            for group in ([r for _, _, r in lane.top], lane.hot, lane.warm, lane.uniform)
            for r in group
        }
        self._raw = {k: v for k, v in self._raw.items() if k in kept}
        self._raw_limit = max(RAW_PRUNE_AT, 2 * len(self._raw))

    def _reservoir(self, pool: list[_Kept], seen: int, request: _Kept) -> None:
        if len(pool) < RESERVOIR:
            pool.append(request)
        else:  # Algorithm R: every request seen so far is kept with equal probability
            j = self._rng.randrange(seen)
            if j < RESERVOIR:
                pool[j] = request

    def samples(self) -> tuple[TailSample, ...]:
        """Everything kept, per lane (sorted by phase, endpoint; requests by intended time)."""
        out = []
        raw = self._raw
        for (phase, endpoint), lane in sorted(self._lanes.items()):
            kept = _once([r for _, _, r in lane.top], lane.hot, lane.warm, lane.uniform)
            built = (
                r.request()
                if isinstance(r, PendingRequest)
                else replace(r, stages=parse_server_timing(raw[r.trace_id]))
                if r.trace_id in raw
                else r
                for r in kept
            )
            requests = tuple(sorted(built, key=lambda r: (r.intended_s, r.trace_id)))
            out.append(TailSample(phase, endpoint, lane.n, requests))
        return tuple(out)


def _once(*groups: Iterable[_Kept]) -> list[_Kept]:
    """The kept requests once each (by trace id; the first group that holds one wins)."""
    by_id: dict[str, _Kept] = {}
    for group in groups:
        for r in group:
            by_id.setdefault(r.trace_id, r)
    return list(by_id.values())


def _unique(*groups: Iterable[TracedRequest]) -> tuple[TracedRequest, ...]:
    by_id: dict[str, TracedRequest] = {}
    for group in groups:
        for r in group:
            by_id.setdefault(r.trace_id, r)
    return tuple(sorted(by_id.values(), key=lambda r: (r.intended_s, r.trace_id)))


def encode_samples(samples: tuple[TailSample, ...]) -> bytes:
    """The kept requests of one process, for a Locust message (msgpack)."""
    return msgspec.msgpack.encode(samples)


def decode_samples(data: bytes) -> tuple[TailSample, ...]:
    """Inverse of :func:`encode_samples`; raises ``msgspec.ValidationError`` on a bad payload."""
    return msgspec.msgpack.decode(data, type=tuple[TailSample, ...])


def merge_samples(parts: Iterable[tuple[TailSample, ...]]) -> tuple[TailSample, ...]:
    """The workers' kept requests as one run's: per lane, counts added and requests united.

    Each worker kept its own slowest, reservoirs and uniform sample of its share (every n-th
    arrival), so the union holds the run's slowest and a fair sample of the rest; it is bounded by
    the number of workers times one process's bound.
    """
    seen: dict[tuple[str, str], int] = {}
    kept: dict[tuple[str, str], list[TracedRequest]] = {}
    for part in parts:
        for s in part:
            key = (s.phase, s.endpoint)
            seen[key] = seen.get(key, 0) + s.seen
            kept.setdefault(key, []).extend(s.requests)
    return tuple(
        TailSample(phase, endpoint, seen[(phase, endpoint)], _unique(kept[(phase, endpoint)]))
        for phase, endpoint in sorted(seen)
    )
