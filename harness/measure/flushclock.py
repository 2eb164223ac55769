"""When an interval of the run is complete enough to be written to the interval log.

Why: the log on disk is what survives a SIGKILL or a lost machine (``slo-harness report
rebuild DIR``), so an interval must reach it as soon as nothing more is expected for it, not
when memory runs short. This module is the rule, pure and clock-free (its caller passes the
time), so it can be tested with a fake clock; :mod:`harness.load`'s log flusher applies it.

The rule (times in ns since the run start, on the recorder's time base):

- **one process** (the local runner): interval ``i`` is due ``grace_ns`` after its end. Its
  completions are recorded by completion time the moment they happen, so once the wall clock
  has passed the end (plus a little for a completion caught between its clock read and its
  record call) the interval's histograms are final.
- **a master** (distributed run): every worker sends a snapshot right after each of its
  intervals closes, saying up to where its intervals are complete (its *watermark*: every
  interval before it). Interval ``i`` is due once every expected worker that has not sent its
  final report has a watermark past ``i``, or at the latest ``bound_ns`` after its end, when it
  is written with what arrived (a slow or lost worker cannot hold the log back longer).

What may still arrive for an interval after it was written: the sent/late counts of requests
that were in flight at its end (counted by send time, recorded at completion), and a worker's
snapshot that came after the bound. Neither is lost nor counted twice: the recorder writes it as
an additional part of the same interval (same start and tag), and every reader adds the parts
(:mod:`harness.measure.intervallog`).

Invariant: :meth:`FlushClock.closed_before` never goes backwards for a non-decreasing clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = ["FlushClock"]

#: A watermark meaning "everything": a worker whose final report arrived.
_ALL: Final = 2**62


class FlushClock:
    """Which intervals are due for the log (see the module docstring); no I/O, no clock."""

    def __init__(self, *, interval_ns: int, grace_ns: int, bound_ns: int | None = None) -> None:
        if interval_ns <= 0 or grace_ns < 0:
            raise ValueError(f"need interval_ns > 0, grace_ns >= 0; got {interval_ns}, {grace_ns}")
        self.interval_ns = interval_ns
        self.grace_ns = grace_ns
        self.bound_ns = grace_ns if bound_ns is None else max(bound_ns, grace_ns)
        self._marks: dict[str, int] = {}
        self._high = 0

    def expect(self, sources: Iterable[str]) -> None:
        """The workers whose snapshots an interval waits for (each starts with nothing complete)."""
        self._marks = dict.fromkeys(sources, 0)

    def report(self, source: str, closed_before: int) -> None:
        """``source`` sent everything it has of the intervals before ``closed_before``."""
        if source in self._marks:
            self._marks[source] = max(self._marks[source], closed_before)

    def finish(self, source: str) -> None:
        """``source``'s final report arrived: it waits for nothing more."""
        if source in self._marks:
            self._marks[source] = _ALL

    def closed_before(self, elapsed_ns: int) -> int:
        """Intervals with an index below the result are due at ``elapsed_ns`` since the start."""
        by_grace = max(elapsed_ns - self.grace_ns, 0) // self.interval_ns
        due = by_grace
        if self._marks:
            waited = min(self._marks.values())
            by_bound = max(elapsed_ns - self.bound_ns, 0) // self.interval_ns
            due = max(by_bound, waited if waited >= _ALL else min(waited, by_grace))
        self._high = max(self._high, due)
        return self._high

    def due_in_ns(self, elapsed_ns: int) -> int:
        """How long until the next interval can become due by the clock alone (its grace or its
        bound), for a flusher that sleeps in between; at least 1 ms."""
        interval = self.interval_ns
        nxt_grace = ((max(elapsed_ns - self.grace_ns, 0) // interval) + 1) * interval
        nxt_bound = ((max(elapsed_ns - self.bound_ns, 0) // interval) + 1) * interval
        wait = min(nxt_grace + self.grace_ns, nxt_bound + self.bound_ns) - elapsed_ns
        return max(wait, 1_000_000)
