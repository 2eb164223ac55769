"""Feeding a :class:`~harness.measure.observe.RunObserver` from a local run in progress.

One **observer greenlet** in the load process's gevent hub, next to the scheduler: every 20 ms it
calls the observer's ``tick`` (timed actions: the game day injects and rolls back faults there),
and 50 ms after each interval boundary it builds that interval's :class:`IntervalSample` (one
merge of the interval's histograms, well under a millisecond: the work the progress view does each
second) and calls ``interval``. It reads ``stop_reason`` after every call and aborts the engine
when it is set.

Why a greenlet and not a thread: the faults an observer applies run subprocesses (``nft``,
``tc``), netlink and HTTP calls. In this process those modules are gevent's (Locust patches
everything), which cooperate inside the hub (the scheduler keeps walking while ``nft`` runs) but
fail from a foreign OS thread ("child watchers are only available on the default loop"). The
price: an observer's *CPU* time (not its waiting) delays the scheduler, so observers keep their
per-call work small; the scheduler's lag histogram (the generator's self-check, which can make a
run invalid) shows any effect, and ``tests/load/test_observer.py`` measures it.

Shutdown: :meth:`ObserverDriver.close` delivers the remaining intervals and calls ``finished``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

import gevent

from harness.measure import Recorder, RunObserver
from harness.spec import Scenario

__all__ = ["GRACE_S", "TICK_S", "ObserverDriver"]

#: Delay after an interval's end before it is read (its completions have all been recorded).
GRACE_S: Final = 0.05
TICK_S: Final = 0.02
_log = logging.getLogger(__name__)


class ObserverDriver:
    """Drives one observer for one local run; see the module docstring."""

    def __init__(self, observer: RunObserver, recorder: Recorder, scenario: Scenario) -> None:
        self._observer = observer
        self._recorder = recorder
        self._scenario = scenario
        self._next_index = 0
        self._closed = False
        self._greenlet: gevent.Greenlet | None = None
        self.errors: list[str] = []

    @property
    def stop_reason(self) -> str | None:
        """The observer's request to stop, if any (a failed observer stops the run too)."""
        if self.errors:
            return self.errors[0]
        try:
            return self._observer.stop_reason
        except Exception as exc:  # an observer bug must not take the load down
            return f"observer failed: {exc!r}"

    def start(self, on_stop: Callable[[str], None]) -> None:
        """Start the observer greenlet; ``on_stop(reason)`` runs once when a stop is asked."""
        warmup_s = sum(p.length_s for p in self._scenario.phases if not p.in_verdict)
        self._call(self._observer.started, self._recorder.run_start_wall_ns, warmup_s)
        self._greenlet = gevent.spawn(self._loop, on_stop)

    def close(self) -> None:
        """Deliver the remaining intervals and call ``finished``; safe to call twice."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=5.0)
            self._greenlet = None
        if self._closed:
            return
        self._closed = True
        self._deliver_until(self._current_index() + 1)
        self._call(self._observer.finished)

    # -- inside the hub ------------------------------------------------------------------------
    def _call(self, func: Callable[..., object], *args: object) -> None:
        try:
            func(*args)
        except Exception as exc:
            self.errors.append(f"the observer failed: {exc!r}")
            _log.exception("the run observer failed")

    def _current_index(self) -> int:
        """Index of the interval the wall clock is in now."""
        return (time.time_ns() - self._recorder.run_start_wall_ns) // self._recorder.interval_ns

    def _deliver_until(self, end_index: int) -> None:
        """Call ``interval`` for every interval before ``end_index`` not delivered yet."""
        interval_s = self._recorder.interval_ns / 1e9
        while self._next_index < end_index:
            i = self._next_index
            sample = self._recorder.interval_sample(i, self._phase_at(i * interval_s))
            self._next_index += 1
            self._call(self._observer.interval, sample)

    def _phase_at(self, t_s: float) -> str:
        for s in self._scenario.schedule():
            if s.start_s <= t_s < s.end_s:
                return s.phase.name
        return "drain"

    def _loop(self, on_stop: Callable[[str], None]) -> None:
        interval_ns = self._recorder.interval_ns
        grace_ns = round(GRACE_S * 1e9)
        start_ns = self._recorder.run_start_wall_ns
        bound = int((self._scenario.duration_s + 3600) / TICK_S)  # ends with the run, bounded
        for _ in range(bound):
            now = time.time_ns()
            self._call(self._observer.tick, (now - start_ns) / 1e9)
            since = now - start_ns - grace_ns
            if since >= 0:
                self._deliver_until(since // interval_ns)
            reason = self.stop_reason
            if reason is not None:
                on_stop(reason)
                return
            gevent.sleep(TICK_S)
