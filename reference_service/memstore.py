"""The in-process velocity store: an exact 1 h window, a 1-minute-bucket 24 h window, a hard
memory bound (issue 11: a day-long soak must not grow the service without limit).

Why not a deque of events per window: a ``(time, amount)`` tuple in a deque costs about 90 bytes
(tuple, two floats, the deque slot), and the old store kept every event twice (1 h and 24 h) for
24 hours: about 180 bytes per scored transaction, 15 GB for a day at 1,000 requests/s, bounded
only by 200,000 cards x 10,000 events.

Per card (:class:`_Card`) this module keeps:

* **1 h, exact**: the card's events of the last hour as two ``array('d')`` (time, USD), 16 bytes an
  event. Expired events are skipped with a head index and the arrays compacted when the dead
  prefix reaches a quarter of them (amortised O(1) per event, at most a third more than the live
  events plus 64 slots).
* **24 h, in 1-minute buckets**: one bucket per minute *with activity* (``array('i')`` minute,
  ``array('I')`` count, ``array('d')`` USD sum): 16 bytes a bucket, at most 1,440 live per card
  however busy the card is.

What a lookup at ``now`` counts (``m(t) = t // 60``, whole minutes since the epoch):

* ``count_1h`` / ``amount_1h``: exact, the card's events with ``t > now - 3600`` (an event exactly
  one hour old has left), as the old store and :class:`~reference_service.featurestore.RedisStore`.
* ``count_24h`` / ``amount_24h``: the events with ``m(t) > m(now) - 1440``: the current minute and
  the 1,439 whole minutes before it. The window's far edge moves in 1-minute steps, as production
  velocity counters commonly do (minute-bucketed counters rather than per-event logs): an event is
  counted for at least 23 h 59 min and at most 24 h, never longer, so the 24 h figures can be
  short by at most the events of the oldest minute, and never count anything older than 24 h.
* A card with more than ``max_events_per_card`` events inside one hour (default 10,000: about one
  every 0.36 s for an hour, far past any decline threshold) keeps only that many exact events;
  while an event dropped for that reason would still be inside the hour, its 1 h figures come
  from the minute buckets instead (the 24 h rule over 60 minutes): the count stays complete, only
  the edge coarsens to a minute.
* Records arriving out of time order (concurrent requests finish in any order; the wall clock can
  step back) are inserted in their place. Every call drops what has left the windows at its own
  ``now``, so with non-monotonic calls a lookup counts the events no call since their arrival has
  placed outside a window (with a monotonic clock: exactly the rules above).

The memory bound. The store accounts ``CARD_BYTES`` per card plus 16 bytes per event slot and per
bucket slot (dead prefixes included); when a record takes the total over ``max_bytes`` (default
256 MiB per worker, ``--velocity-max-mb``), the least recently recorded cards are evicted and
counted (``slo_velocity_cards_evicted_total`` on /metrics): an evicted card's history is
forgotten, so its velocity reads low until it is rebuilt; this is the price of a bound, and the
counter makes it visible. A card whose newest bucket is more than 25 h old holds nothing a lookup
could count; such least-recently-seen cards (up to four) are dropped each time a new card arrives
(counted apart, ``expired``: this loses nothing). ``benchmarks/bench_velocity_memory.py``
measures bytes per card and the total of a simulated day at 1,000 requests/s; tests hold the
Python allocations (tracemalloc) within 15% of the accounted bytes. The process's RSS carries the
allocator's overhead on top (arrays grow and shrink by ``realloc``): measured 1.3-2x the accounted
growth while a store fills; size the bound with that in mind.

The request path runs :meth:`InProcessStore.velocity` and :meth:`InProcessStore.record` once each
per decision: plain attribute and array operations, no allocation per event beyond the arrays'
amortised growth, one ``Velocity`` per lookup (an unknown card gets one shared frozen instance),
and no pruning work until the card's ``due`` time says something may have left a window.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from typing import Final, NamedTuple

from reference_service.model.features import Velocity

__all__ = [
    "BUCKET_S",
    "CARD_BYTES",
    "DEFAULT_MAX_BYTES",
    "WINDOW_1H_S",
    "WINDOW_24H_S",
    "InProcessStore",
    "StoreStats",
    "card_bytes_max",
]

WINDOW_1H_S: Final = 3600.0
WINDOW_24H_S: Final = 86400.0
#: Width of a 24 h bucket (seconds): the step in which the 24 h window's edge moves.
BUCKET_S: Final = 60.0
_BUCKETS_24H: Final = 1440
_BUCKETS_1H: Final = 60
#: A card whose newest bucket is this many minutes behind ``now`` is dropped as stale (25 h: the
#: extra hour keeps a card whose lookups run on a clock stepped back a little).
_STALE_MIN: Final = _BUCKETS_24H + 60
_EVENT_BYTES: Final = 16  # two float64 (time, USD)
_BUCKET_BYTES: Final = 16  # int32 minute + uint32 count + float64 USD
#: Fixed cost of one card: the slotted object, five empty arrays, its token string and its entry
#: in the ordered dict (measured with tracemalloc for 44-character tokens, rounded up).
CARD_BYTES: Final = 768
#: A card is pruned once ``now`` reaches its ``due`` time (its oldest event's or bucket's exit, less
#: this margin against rounding): calls in between skip the prune (one comparison, no call); the
#: prune itself applies the exact rules.
_EARLY_S: Final = 1e-3
_INF: Final = float("inf")
#: Compact an array once its dead prefix is at least this long and a quarter of the array.
_COMPACT_MIN: Final = 64
DEFAULT_MAX_BYTES: Final = 256 << 20

_EMPTY: Final = Velocity(0, 0, 0.0, 0.0)


class StoreStats(NamedTuple):
    """What /metrics shows of the store: size now, cards evicted by the bound, stale cards."""

    cards: int
    bytes: int
    evicted: int
    expired: int


def card_bytes_max(max_events_per_card: int) -> int:
    """Accounted bytes of the fullest possible card (live slots plus the largest dead prefix)."""
    events = max_events_per_card * 4 // 3 + _COMPACT_MIN
    buckets = (_BUCKETS_24H + 1) * 4 // 3 + _COMPACT_MIN
    return CARD_BYTES + events * _EVENT_BYTES + buckets * _BUCKET_BYTES


class _Card:
    """One card's windows: exact events of the last hour, minute buckets of the last day."""

    __slots__ = (
        "a1", "a24", "amt", "bcnt", "bhead", "bmin", "bsum", "c24", "due", "head", "lost", "ts"
    )  # fmt: skip

    def __init__(self) -> None:
        self.ts = array("d")  # event times (Unix s), sorted; live from ``head``
        self.amt = array("d")  # event amounts (USD), parallel to ``ts``
        self.head = 0
        self.a1 = 0.0  # USD of the live events
        self.bmin = array("i")  # bucket minutes (t // 60), sorted; live from ``bhead``
        self.bcnt = array("I")
        self.bsum = array("d")
        self.bhead = 0
        self.c24 = 0  # events in the live buckets
        self.a24 = 0.0  # USD in the live buckets
        self.lost = float("-inf")  # newest time dropped by the per-card cap
        self.due = _INF  # when something may leave a window (see ``_EARLY_S``)

    def nbytes(self) -> int:
        return CARD_BYTES + len(self.ts) * _EVENT_BYTES + len(self.bmin) * _BUCKET_BYTES

    def recent_from_buckets(self, now: float) -> tuple[int, float]:
        """Count and USD of the buckets of the last 60 minutes (the 24 h rule over 1 h)."""
        edge = int(now // BUCKET_S) - _BUCKETS_1H
        bmin, bcnt, bsum = self.bmin, self.bcnt, self.bsum
        c, a = 0, 0.0
        i = len(bmin) - 1
        while i >= self.bhead and bmin[i] > edge:
            c += bcnt[i]
            a += bsum[i]
            i -= 1
        return c, a


def _due(c: _Card) -> float:
    """When the oldest live event leaves 1 h or the oldest live bucket leaves 24 h (less margin)."""
    due = _INF
    if c.head < len(c.ts):
        due = c.ts[c.head] + (WINDOW_1H_S - _EARLY_S)
    if c.bhead < len(c.bmin):
        d = (c.bmin[c.bhead] + _BUCKETS_24H) * BUCKET_S - _EARLY_S
        if d < due:
            due = d
    return due


class InProcessStore:
    """Per-worker velocity in bounded memory; the rules and the bound are in the module docstring.

    With several workers each sees only its own traffic; use Redis for a shared view.
    """

    in_memory = True

    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, max_events_per_card: int = 10_000
    ) -> None:
        if max_events_per_card < 1:
            raise ValueError(f"max_events_per_card {max_events_per_card}: expected >= 1")
        if max_bytes < 2 * card_bytes_max(max_events_per_card):
            need = 2 * card_bytes_max(max_events_per_card)
            raise ValueError(f"max_bytes {max_bytes}: expected >= {need} (two full cards)")
        self._cards: OrderedDict[str, _Card] = OrderedDict()
        self._max_bytes = max_bytes
        self._max_events = max_events_per_card
        self._bytes = 0
        self._evicted = 0
        self._expired = 0

    def stats(self) -> StoreStats:
        return StoreStats(len(self._cards), self._bytes, self._evicted, self._expired)

    async def velocity(self, token: str, now: float) -> Velocity:
        c = self._cards.get(token)
        if c is None:
            return _EMPTY
        if now >= c.due:
            self._prune(c, now)
        if c.lost > now - WINDOW_1H_S:  # the exact log misses some of this hour: use buckets
            c1, a1 = c.recent_from_buckets(now)
        else:
            c1 = len(c.ts) - c.head
            a1 = c.a1
        a24 = c.a24
        return Velocity(c1, c.c24, a1 if a1 > 0.0 else 0.0, a24 if a24 > 0.0 else 0.0)

    async def record(self, token: str, now: float, amount_usd: float) -> None:
        # Non-finite amounts count as 0 (as in Redis): a NaN would poison the running sums.
        amount = amount_usd if amount_usd - amount_usd == 0.0 else 0.0
        cards = self._cards
        c = cards.get(token)
        if c is None:
            c = cards[token] = _Card()
            self._bytes += CARD_BYTES
            self._expire_stale(now)
        else:
            cards.move_to_end(token)
            if now >= c.due:
                self._prune(c, now)
        ts = c.ts
        if not ts or now >= ts[-1]:
            ts.append(now)
            c.amt.append(amount)
        else:  # out of order: keep ``ts`` sorted
            pos = bisect_right(ts, now, c.head)
            ts.insert(pos, now)
            c.amt.insert(pos, amount)
        c.a1 += amount
        due = now + (WINDOW_1H_S - _EARLY_S)  # this event's exit (its bucket's is later)
        if due < c.due:
            c.due = due
        if len(ts) - c.head > self._max_events:
            self._drop_oldest(c)
        m = int(now // BUCKET_S)
        bmin = c.bmin
        if bmin and bmin[-1] == m:
            c.bcnt[-1] += 1
            c.bsum[-1] += amount
        elif not bmin or bmin[-1] < m:
            bmin.append(m)
            c.bcnt.append(1)
            c.bsum.append(amount)
            self._bytes += _BUCKET_BYTES
        else:
            self._insert_bucket(c, m, amount)
        c.c24 += 1
        c.a24 += amount
        self._bytes += _EVENT_BYTES
        if self._bytes > self._max_bytes:
            self._evict()

    async def close(self) -> None:
        self._cards.clear()
        self._bytes = 0

    def _prune(self, c: _Card, now: float) -> None:
        """Drop what has left the windows at ``now``; compact arrays with a long dead prefix."""
        ts = c.ts
        h = c.head
        n = len(ts)
        horizon = now - WINDOW_1H_S
        if h < n and ts[h] <= horizon:
            amt = c.amt
            a = c.a1
            while h < n and ts[h] <= horizon:
                a -= amt[h]
                h += 1
            if h == n:
                a = 0.0  # an empty window sums to exactly 0 (sheds accumulated float error)
            c.a1 = a
            c.head = h
            if h == n or (h >= _COMPACT_MIN and 4 * h >= n):
                self._compact_events(c)
        bmin = c.bmin
        bh = c.bhead
        nb = len(bmin)
        edge = int(now // BUCKET_S) - _BUCKETS_24H
        if bh < nb and bmin[bh] <= edge:
            bcnt, bsum = c.bcnt, c.bsum
            cnt = c.c24
            a = c.a24
            while bh < nb and bmin[bh] <= edge:
                cnt -= bcnt[bh]
                a -= bsum[bh]
                bh += 1
            if bh == nb:
                a = 0.0
            c.c24 = cnt
            c.a24 = a
            c.bhead = bh
            if bh == nb or (bh >= _COMPACT_MIN and 4 * bh >= nb):
                del bmin[:bh], bcnt[:bh], bsum[:bh]
                c.bhead = 0
                self._bytes -= bh * _BUCKET_BYTES
        c.due = _due(c)

    def _compact_events(self, c: _Card) -> None:
        h = c.head
        del c.ts[:h], c.amt[:h]
        c.head = 0
        self._bytes -= h * _EVENT_BYTES

    def _drop_oldest(self, c: _Card) -> None:
        """Over the per-card cap: forget the oldest exact event (the buckets still count it)."""
        h = c.head
        t = c.ts[h]
        if t > c.lost:
            c.lost = t
        c.a1 -= c.amt[h]
        c.head = h + 1
        if c.head >= _COMPACT_MIN and 4 * c.head >= len(c.ts):
            self._compact_events(c)

    def _insert_bucket(self, c: _Card, m: int, amount: float) -> None:
        """Add to minute ``m``'s bucket, creating it in sorted place (an out-of-order record)."""
        pos = bisect_left(c.bmin, m, c.bhead)
        if c.bmin[pos] == m:  # pos < len: m is below the last bucket's minute
            c.bcnt[pos] += 1
            c.bsum[pos] += amount
            return
        c.bmin.insert(pos, m)
        c.bcnt.insert(pos, 1)
        c.bsum.insert(pos, amount)
        self._bytes += _BUCKET_BYTES

    def _expire_stale(self, now: float) -> None:
        """Drop up to four least-recently-seen cards whose buckets are all past 25 h."""
        cards = self._cards
        stale_before = int(now // BUCKET_S) - _STALE_MIN
        for _ in range(4):
            if len(cards) == 1:  # only the card just added
                return
            token = next(iter(cards))
            c = cards[token]
            if c.bmin and c.bmin[-1] >= stale_before:
                return
            del cards[token]
            self._bytes -= c.nbytes()
            self._expired += 1

    def _evict(self) -> None:
        """Forget least recently recorded cards until the accounted bytes fit the bound."""
        cards = self._cards
        while self._bytes > self._max_bytes and len(cards) > 1:
            _, c = cards.popitem(last=False)
            self._bytes -= c.nbytes()
            self._evicted += 1
