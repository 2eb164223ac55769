"""The in-process velocity store against a naive exact reference; its memory bound (issue 11)."""

from __future__ import annotations

import asyncio
import bisect
import math
import tracemalloc
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_service.memstore import CARD_BYTES, InProcessStore, card_bytes_max
from reference_service.metrics import Metrics
from reference_service.model.features import Velocity

T0 = 1_764_460_800.0  # a whole minute (2025-11-30T00:00:00Z)


@dataclass
class _RefCard:
    """Lists of (time, USD): filtered on every call, by the rules in the store's docstring."""

    hour: list[tuple[float, float]] = field(default_factory=list)
    day: list[tuple[float, float]] = field(default_factory=list)
    lost: float = -math.inf

    def prune(self, now: float) -> None:
        self.hour = [e for e in self.hour if e[0] > now - 3600.0]
        self.day = [e for e in self.day if e[0] // 60 > now // 60 - 1440]


class _Reference:
    """The naive model: every event kept in lists, every window recomputed from scratch."""

    def __init__(self, cap: int) -> None:
        self.cards: dict[str, _RefCard] = {}
        self.cap = cap

    def record(self, token: str, now: float, amount: float) -> None:
        card = self.cards.setdefault(token, _RefCard())
        card.prune(now)
        # Sorted by time, a later record after equal times: the store drops the first of those.
        bisect.insort(card.hour, (now, amount), key=lambda e: e[0])
        card.day.append((now, amount))
        if len(card.hour) > self.cap:
            oldest = card.hour.pop(0)
            card.lost = max(card.lost, oldest[0])

    def velocity(self, token: str, now: float) -> tuple[int, int, float, float]:
        card = self.cards.get(token)
        if card is None:
            return (0, 0, 0.0, 0.0)
        card.prune(now)
        hour = card.hour
        if card.lost > now - 3600.0:
            hour = [e for e in card.day if e[0] // 60 > now // 60 - 60]
        return (len(hour), len(card.day), sum(a for _, a in hour), sum(a for _, a in card.day))


def _same(got: Velocity, want: tuple[int, int, float, float]) -> bool:
    c1, c24, a1, a24 = want
    return (
        got.count_1h == c1
        and got.count_24h == c24
        and math.isclose(got.amount_1h, a1, rel_tol=1e-9, abs_tol=1e-6)
        and math.isclose(got.amount_24h, a24, rel_tol=1e-9, abs_tol=1e-6)
    )


_BUSY = st.floats(0.0, 90.0)
_STEP = st.one_of(
    _BUSY,  # busy minutes, most of the time
    _BUSY,
    _BUSY,
    _BUSY,
    st.sampled_from([0.0, 60.0, 3600.0, 86400.0, 86340.0, 3540.0]),  # exactly on the edges
    st.floats(3000.0, 4000.0),  # across the 1 h edge
    st.floats(80_000.0, 90_000.0),  # across the 24 h edge
)
_OP = st.tuples(
    st.booleans(),  # True: record, False: look up
    st.sampled_from(["tok_a", "tok_b"]),
    _STEP,
    st.floats(0.01, 5000.0),
)


def _replay(ops: list[tuple[bool, str, float, float]], cap: int, back_s: float = 0.0) -> None:
    store = InProcessStore(max_bytes=1 << 30, max_events_per_card=cap)
    ref = _Reference(cap)

    async def run() -> None:
        now = T0
        for i, (is_record, token, step, amount) in enumerate(ops):
            now += step
            t = now - back_s * (i % 3 == 1)  # every third call a little in the past
            if is_record:
                await store.record(token, t, amount)
                ref.record(token, t, amount)
            else:
                got = await store.velocity(token, t)
                assert _same(got, ref.velocity(token, t)), (i, got, ref.velocity(token, t))

    asyncio.run(run())


@settings(max_examples=150, deadline=None)
@given(st.lists(_OP, max_size=120))
def test_windows_match_the_naive_reference(ops: list[tuple[bool, str, float, float]]) -> None:
    """Monotonic clock: 1 h exact and 24 h by the 1-minute rule, equal to recomputing from lists."""
    _replay(ops, cap=10_000)


@settings(max_examples=100, deadline=None)
@given(st.lists(_OP, max_size=120), st.integers(1, 3))
def test_per_card_cap_falls_back_to_minute_buckets(
    ops: list[tuple[bool, str, float, float]], cap: int
) -> None:
    """Past the per-card cap the 1 h figures come from minute buckets, still complete."""
    _replay(ops, cap=cap)


@settings(max_examples=100, deadline=None)
@given(st.lists(_OP, max_size=120), st.floats(0.001, 30.0))
def test_out_of_order_records_land_in_place(
    ops: list[tuple[bool, str, float, float]], back_s: float
) -> None:
    """Calls up to 30 s in the past (concurrent requests, clock steps) keep the windows right."""
    _replay(ops, cap=4, back_s=back_s)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.0, 600.0), st.floats(0.01, 5000.0)), min_size=1, max_size=40),
    st.integers(1, 50),
)
def test_lookups_across_every_edge_after_unordered_records(
    events: list[tuple[float, float]], cap: int
) -> None:
    """Records in any time order, then lookups just before, at and after each 1 h and 24 h edge."""
    store = InProcessStore(max_bytes=1 << 30, max_events_per_card=cap)
    ref = _Reference(cap)
    probes: set[float] = set()
    for off, _ in events:
        minute_start = T0 + off // 60 * 60
        for d in (-0.001, 0.0, 0.001):
            probes |= {T0 + off + 3600.0 + d, minute_start + 3600.0 + d, minute_start + 86400.0 + d}

    async def run() -> None:
        for off, amount in events:
            await store.record("c", T0 + off, amount)
            ref.record("c", T0 + off, amount)
        for t in sorted(probes):
            got = await store.velocity("c", t)
            assert _same(got, ref.velocity("c", t)), (t - T0, got, ref.velocity("c", t))

    asyncio.run(run())


def test_edges_of_both_windows() -> None:
    """An event leaves 1 h at exactly 3,600 s and 24 h with the minute 1,440 minutes later."""
    store = InProcessStore()

    async def run() -> list[Velocity]:
        t = T0 + 30.0  # mid-minute
        await store.record("c", t, 10.0)
        return [
            await store.velocity("c", t + 3599.999),
            await store.velocity("c", t + 3600.0),
            await store.velocity("c", T0 + 86400.0 - 0.001),  # last instant of minute 1439
            await store.velocity("c", T0 + 86400.0),  # minute 1440 starts: the event's minute left
        ]

    v = asyncio.run(run())
    assert v[0] == Velocity(1, 1, 10.0, 10.0)
    assert v[1] == Velocity(0, 1, 0.0, 10.0)
    assert v[2] == Velocity(0, 1, 0.0, 10.0)
    assert v[3] == Velocity(0, 0, 0.0, 0.0)


def test_a_bound_too_small_for_two_cards_is_refused() -> None:
    """The constructor names the least bound that holds two full cards."""
    with pytest.raises(ValueError, match="max_bytes"):
        InProcessStore(max_bytes=card_bytes_max(100), max_events_per_card=100)


def test_memory_stays_bounded_with_eviction() -> None:
    """40,000 events over 2,000 cards in a 256 KiB bound: traced bytes stay under 1.15x the bound.

    The clock runs at 1,000 events per second; every 7th event goes to one of 50 hot cards (past
    their per-card cap). Accounted and traced (tracemalloc) bytes are checked every 4,000 events.
    ``benchmarks/bench_velocity_memory.py`` runs the same for a simulated day at full size.
    """
    bound = 256 << 10
    store = InProcessStore(max_bytes=bound, max_events_per_card=50)
    tokens = [f"tok_{i:039d}" for i in range(2_000)]  # 43 characters, like a real token
    peak_traced = peak_accounted = 0

    async def run() -> None:
        nonlocal peak_traced, peak_accounted
        record = store.record
        base = tracemalloc.get_traced_memory()[0]
        for i in range(40_000):
            token = tokens[(i * 7919) % 50] if i % 7 == 0 else tokens[(i * 104_729) % 2_000]
            await record(token, T0 + i * 0.001, 25.0)
            if i % 4_000 == 3_999:
                peak_accounted = max(peak_accounted, store.stats().bytes)
                peak_traced = max(peak_traced, tracemalloc.get_traced_memory()[0] - base)

    tracemalloc.start()
    try:
        asyncio.run(run())
    finally:
        tracemalloc.stop()
    stats = store.stats()
    assert stats.evicted > 0
    assert stats.cards * CARD_BYTES <= stats.bytes <= peak_accounted <= bound
    assert bound * 0.9 <= peak_traced <= bound * 1.15


def test_metrics_show_the_store_size_and_its_evictions() -> None:
    """/metrics carries cards, accounted bytes and the evicted-card counter, flushed from stats."""
    store = InProcessStore(max_bytes=2 * card_bytes_max(10), max_events_per_card=10)
    metrics = Metrics()
    metrics.watch_velocity(store.stats)

    async def fill(n: int) -> None:
        for i in range(n):
            await store.record(f"tok_{i}", T0 + i, 1.0)

    asyncio.run(fill(100))
    text = metrics.render()[0].decode()
    stats = store.stats()
    assert stats.evicted > 0
    assert f"slo_velocity_cards {float(stats.cards)}" in text
    assert f"slo_velocity_store_bytes {float(stats.bytes)}" in text
    assert f"slo_velocity_cards_evicted_total {float(stats.evicted)}" in text
    asyncio.run(fill(100))  # the same tokens again: more evictions, counted once each
    text = metrics.render()[0].decode()
    assert f"slo_velocity_cards_evicted_total {float(store.stats().evicted)}" in text
