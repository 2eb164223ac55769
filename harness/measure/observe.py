"""What a live observer of a run sees: one :class:`IntervalSample` per completed 1 s interval.

The contract between ``harness.load`` (which calls the observer from a run in progress) and the
code that watches it (the game-day controller in ``harness.chaos``, which may not import
``harness.load``). Plain data and a protocol; nothing here imports Locust or gevent.

Timing: interval ``i`` covers ``[i, i+1) * length_s`` seconds after the run start (the schedule's
t = 0, warm-up included). Completions are counted by the interval in which they *completed*, so an
interval is final once the clock has passed its end; the load side delivers it shortly after
(a grace of tens of milliseconds). ``latency`` holds intended-clock latencies (coordinated-omission
corrected, microseconds) of the OK responses that completed in the interval.

Concurrency: the observer's methods are called from one greenlet of the load process, next to the
scheduler (see :mod:`harness.load.observe` for why not a thread): waiting (a subprocess, a socket)
cooperates, CPU time delays the scheduler, so each call should do little work. ``stop_reason`` is
read after every call; a non-None value ends the load early (the schedule stops; requests in
flight are still recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from harness.measure.histogram import LatencyHistogram
from harness.measure.result import RequestCounts

__all__ = ["IntervalSample", "RunObserver"]


@dataclass(frozen=True, slots=True)
class IntervalSample:
    """One completed interval of a running load, across phases and endpoints."""

    index: int
    start_s: float  # offset of the interval's start from the run start
    length_s: float
    phase: str  # the phase with the most completions (the scheduled phase when none completed)
    offered: int  # requests whose intended send time fell in the interval
    counts: RequestCounts  # completions in the interval (sent/late by send time)
    latency: LatencyHistogram  # OK responses, intended clock, us

    @property
    def end_s(self) -> float:
        """Offset of the interval's end from the run start."""
        return self.start_s + self.length_s

    @property
    def completed(self) -> int:
        """Responses of any outcome that completed in the interval."""
        c = self.counts
        return c.ok + c.failed + c.shed

    @property
    def errors(self) -> int:
        """Responses that were not OK (failed + shed): what a client saw as no decision."""
        return self.counts.failed + self.counts.shed

    @property
    def error_ratio(self) -> float | None:
        """errors / completed; None when nothing completed."""
        done = self.completed
        return self.errors / done if done else None

    @property
    def silent(self) -> bool:
        """Load was offered but nothing at all came back: a stall, worse than any threshold."""
        return self.offered > 0 and self.completed == 0

    @property
    def unanswered(self) -> bool:
        """Load was offered or completed, yet not one OK response: no decision reached anyone
        (a stall, or only timeouts and errors). Worse than any latency threshold."""
        return self.counts.ok == 0 and (self.offered > 0 or self.completed > 0)

    @property
    def completed_rps(self) -> float:
        """Completions per second."""
        return self.completed / self.length_s

    def percentile_ms(self, rank: float | None) -> float | None:
        """A latency percentile (``None`` rank: the maximum) in ms; None without OK samples."""
        if self.latency.count == 0:
            return None
        if rank is None:
            return self.latency.max_us / 1000.0
        return self.latency.percentiles_us((rank,))[rank] / 1000.0


class RunObserver(Protocol):
    """Watches a run in progress; see the module docstring for threads and timing."""

    def started(self, run_start_wall_ns: int, warmup_s: float) -> None:
        """Schedule t = 0 is ``run_start_wall_ns`` (wall clock); warm-up lasts ``warmup_s``."""

    def tick(self, elapsed_s: float) -> None:
        """Called about every 20 ms with the seconds since the run start (for timed actions)."""

    def interval(self, sample: IntervalSample) -> None:
        """One completed interval, in order, each exactly once."""

    def finished(self) -> None:
        """The load has ended (normally, stopped, or interrupted); no more calls follow."""

    @property
    def stop_reason(self) -> str | None:
        """Non-None asks the load to stop now, saying why."""
