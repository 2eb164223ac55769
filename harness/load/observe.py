"""Feeding a :class:`~harness.measure.observe.RunObserver` from a local run in progress.

Two halves, so that whatever the observer does (inject a fault, redraw a dashboard) never runs on
the scheduler's loop:

- a **collector greenlet** in the load process's gevent hub wakes 50 ms after each interval
  boundary, builds that interval's :class:`IntervalSample` (one merge of its histograms, well
  under a millisecond; the same work the progress view does each second) and appends it to a
  deque; every 50 ms it also reads the observer's ``stop_reason`` and aborts the engine when set;
- an **observer thread** (a real OS thread: gevent's patched ``threading`` would be a greenlet)
  calls ``tick`` about every 20 ms and ``interval`` for each queued sample, in order. It touches
  no gevent object and no Recorder: the deque (``append``/``popleft`` are atomic) and plain
  attribute reads are the only things shared.

Cost to the generator: the collector's few wake-ups per second, plus whatever CPU the observer
thread takes while holding the GIL (the scheduler's lag histogram, part of the generator's
self-check, shows it). ``tests/load/test_observer.py`` measures the schedule lag with and without a
busy observer.

Shutdown: :meth:`ObserverDriver.close` delivers the remaining intervals, lets the thread call
``finished`` and waits for it (bounded by ``JOIN_TIMEOUT_S``, yielding to the hub meanwhile).
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import Final

import gevent
from gevent import monkey

from harness.measure.observe import IntervalSample, RunObserver
from harness.measure.recorder import Recorder
from harness.spec.scenario import Scenario

__all__ = ["JOIN_TIMEOUT_S", "ObserverDriver"]

#: Delay after an interval's end before it is read (its completions have all been recorded).
GRACE_S: Final = 0.05
POLL_S: Final = 0.05
THREAD_TICK_S: Final = 0.02
#: How long ``close`` waits for the observer thread to finish its last call.
JOIN_TIMEOUT_S: Final = 30.0

_real_sleep: Callable[[float], None] = monkey.get_original("time", "sleep")
_start_thread: Callable[..., int] = monkey.get_original("_thread", "start_new_thread")
_log = logging.getLogger(__name__)


class ObserverDriver:
    """Drives one observer for one local run; see the module docstring."""

    def __init__(self, observer: RunObserver, recorder: Recorder, scenario: Scenario) -> None:
        self._observer = observer
        self._recorder = recorder
        self._scenario = scenario
        self._queue: collections.deque[IntervalSample] = collections.deque()
        self._next_index = 0
        self._closing = False
        self._thread_done = False
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
        """Start the thread and the collector; ``on_stop(reason)`` runs in the hub once."""
        warmup_s = sum(p.length_s for p in self._scenario.phases if not p.in_verdict)
        self._observer.started(self._recorder.run_start_wall_ns, warmup_s)
        _start_thread(self._thread_main, ())
        self._greenlet = gevent.spawn(self._collect, on_stop)

    def close(self) -> None:
        """Deliver the remaining intervals, end the thread (bounded); safe to call twice."""
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        if self._closing:
            return
        self._push_until(self._current_index() + 1)
        self._closing = True
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while not self._thread_done and time.monotonic() < deadline:
            gevent.sleep(THREAD_TICK_S)
        if not self._thread_done:
            self.errors.append(f"the observer did not finish within {JOIN_TIMEOUT_S:g} s")

    # -- hub side ----------------------------------------------------------------------------
    def _current_index(self) -> int:
        """Index of the interval the wall clock is in now."""
        return (time.time_ns() - self._recorder.run_start_wall_ns) // self._recorder.interval_ns

    def _push_until(self, end_index: int) -> None:
        """Queue every interval before ``end_index`` not queued yet."""
        interval_s = self._recorder.interval_ns / 1e9
        while self._next_index < end_index:
            i = self._next_index
            scheduled = self._scenario_phase_at(i * interval_s)
            self._queue.append(self._recorder.interval_sample(i, scheduled))
            self._next_index += 1

    def _scenario_phase_at(self, t_s: float) -> str:
        for s in self._scenario.schedule():
            if s.start_s <= t_s < s.end_s:
                return s.phase.name
        return "drain"

    def _collect(self, on_stop: Callable[[str], None]) -> None:
        interval_ns = self._recorder.interval_ns
        grace_ns = round(GRACE_S * 1e9)
        bound = int((self._scenario.duration_s + 3600) / POLL_S)  # ends with the run, bounded
        for _ in range(bound):
            reason = self.stop_reason
            if reason is not None:
                on_stop(reason)
                return
            since_start = time.time_ns() - self._recorder.run_start_wall_ns - grace_ns
            if since_start >= 0:
                self._push_until(since_start // interval_ns)
            gevent.sleep(POLL_S)

    # -- observer thread ------------------------------------------------------------------------
    def _thread_main(self) -> None:
        observer = self._observer
        try:
            bound = int((self._scenario.duration_s + 3600) / THREAD_TICK_S)
            for _ in range(bound):
                elapsed = (time.time_ns() - self._recorder.run_start_wall_ns) / 1e9
                observer.tick(elapsed)
                while self._queue:
                    observer.interval(self._queue.popleft())
                if self._closing and not self._queue:
                    break
                _real_sleep(THREAD_TICK_S)
        except Exception as exc:  # reported by the runner; the load itself goes on
            self.errors.append(f"the observer failed: {exc!r}")
            _log.exception("the run observer failed")
        finally:
            try:
                observer.finished()
            except Exception as exc:
                self.errors.append(f"the observer failed to finish: {exc!r}")
            self._thread_done = True
