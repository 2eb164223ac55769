"""The interval log's writer greenlet: complete intervals reach the disk within about 2 s.

Why: ``<out>/latency.partial.hlog`` is what a SIGKILLed run (or a lost machine) leaves for
``slo-harness report rebuild``; every interval held in memory is an interval lost. The owner of a
run's log (the local runner, or the master of a distributed run) starts one :class:`LogFlusher`
after attaching the log; it applies :class:`harness.measure.FlushClock`'s rule:

- local run: each interval is written :data:`GRACE_S` after its end (the greenlet sleeps until
  then: no polling);
- master: each interval is written once every worker's snapshot for it has arrived (workers ship
  one right after each of their intervals closes, :mod:`harness.load.distributed`), and at the
  latest :data:`MERGE_BOUND_S` after its end with what arrived; the greenlet looks every
  :data:`POLL_S`.

Each write is one ``write`` + flush (a killed process loses none of it); the fsync that makes it
survive a lost machine runs in gevent's thread pool, so a slow disk never stalls the hub (the
scheduler's timing). Anything that arrives for an interval after it was written goes into the
next write as an additional part (see :mod:`harness.measure.intervallog`).

Cost on the hub: per interval and phase a few HDR encodings (about 1 ms), what the recorder's
drain did before, once per interval. Shutdown: :meth:`LogFlusher.stop` lets a running fsync
finish (the log is closed right after by its owner); a stop within the same greenlet is fine.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Final

import gevent
from gevent.event import Event

from harness.measure import FlushClock, IntervalLogWriter, Recorder

__all__ = ["GRACE_S", "MERGE_BOUND_S", "POLL_S", "LogFlusher", "flush_clock"]

#: After an interval's end, before it is final in one process (a completion caught between its
#: clock read and its record call is recorded by then).
GRACE_S: Final = 0.1
#: A master writes an interval at the latest this long after its end, with what arrived.
MERGE_BOUND_S: Final = 2.0
#: How often a master looks whether the snapshots that arrived completed an interval.
POLL_S: Final = 0.1
_STOP_WAIT_S: Final = 10.0
_log = logging.getLogger(__name__)


def flush_clock(recorder: Recorder, *, distributed: bool) -> FlushClock:
    """The rule for ``recorder``'s intervals: a local run's, or a master's (waits for workers)."""
    return FlushClock(
        interval_ns=recorder.interval_ns,
        grace_ns=round(GRACE_S * 1e9),
        bound_ns=round(MERGE_BOUND_S * 1e9) if distributed else None,
    )


class LogFlusher:
    """Writes ``recorder``'s complete intervals to its attached ``log`` as they become due."""

    def __init__(
        self, recorder: Recorder, log: IntervalLogWriter, clock: FlushClock, *, poll_s: float | None
    ) -> None:
        self._recorder = recorder
        self._log = log
        self._clock = clock
        self._poll_s = poll_s
        self._stop = Event()
        self._greenlet: gevent.Greenlet | None = None
        self.written = 0  # records written (first and late parts)

    def start(self) -> LogFlusher:
        """Start the writer greenlet (returns self)."""
        self._greenlet = gevent.spawn(self._loop)
        return self

    def flush_due(self) -> int:
        """Write what is due now (flushed), then fsync it off the hub; the records written."""
        due = self._clock.closed_before(self._elapsed_ns())
        written = self._recorder.flush_log(due)
        if written and (fd := self._log.fileno()) >= 0:
            try:
                gevent.get_hub().threadpool.apply(os.fsync, (fd,))
            except OSError as exc:  # the data is with the OS already; only durability is lost
                _log.warning("interval log fsync failed: %s", exc)
        self.written += written
        return written

    def stop(self) -> None:
        """Stop the greenlet (a write in progress completes); idempotent."""
        self._stop.set()
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None and greenlet is not gevent.getcurrent():
            greenlet.join(timeout=_STOP_WAIT_S)
            if not greenlet.dead:
                greenlet.kill(block=False)

    def _elapsed_ns(self) -> int:
        """Now, in ns since the run start on the recorder's time base."""
        return time.monotonic_ns() - self._recorder.monotonic_ns_at(0.0)

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self.flush_due()
                wait_s = self._clock.due_in_ns(self._elapsed_ns()) / 1e9
                if self._poll_s is not None:
                    wait_s = min(wait_s, self._poll_s)
                self._stop.wait(timeout=wait_s)
        except Exception:  # the log stays valid up to here; close_log writes the rest
            _log.exception("the interval log writer failed")
