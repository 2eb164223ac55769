"""Where the scheduler meets the slots of one generator process, and what it hands them.

A :class:`Job` is one request on its way (bytes built before its intended time, the intended
time, who records it); a :class:`Station` is the meeting point: idle slots (Locust users, see
:mod:`harness.load.user`) wait on a LIFO stack so the fewest connections stay hot and the rest
never connect, and the scheduler (:mod:`harness.load.engine`) gives each job to the most recently
idle slot, or waits, bounded, for one to free up.

When every slot is busy (the concurrency cap), the scheduler parks the job at the station
(:meth:`Station.hand_over`) and the first slot to finish takes it itself in :meth:`next_job`, with
no switch to the scheduler and back: at saturation that is the path of every request, and the
job goes out at the same moment as before (when a slot frees up), with one hub round trip fewer.

Invariants: ``busy`` counts jobs handed out and not yet finished (``finished()`` once per job);
``_all_done`` is set exactly when ``busy == 0``; a waiter killed while idle is never handed a job;
a parked job is taken by exactly one slot or withdrawn by the scheduler, never both.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from gevent.event import Event
from gevent.hub import Waiter, get_hub

from harness.load.outcomes import ResponseJudge
from harness.spec import Expect

if TYPE_CHECKING:
    from harness.load.engine import Engine

__all__ = ["DEFAULT_JUDGE", "Job", "RequestLog", "Station"]

#: The judge of requests that bring none: 2xx OK, 503 shed, the rest failed.
DEFAULT_JUDGE: Final = ResponseJudge(Expect(), (503,))
_MAX_SLOT_WAITS: Final = 1_000_000

#: Optional per-request log (tests): (phase, endpoint, outcome, intended_ns, sent_ns, done_ns).
RequestLog = list[tuple[str, str, str, int, int, int]]


class Job(NamedTuple):
    """One request on its way: what to send, when it was meant to go, and who records it.

    A NamedTuple (one per request): the engine builds it with ``tuple.__new__`` directly, a
    third of a slotted dataclass's ``__init__``; fields are read by C-level getters."""

    engine: Engine
    phase: str
    endpoint: str
    method: str
    path: str
    data: bytes
    intended_ns: int  # time.monotonic_ns() of this process
    judge: ResponseJudge = DEFAULT_JUDGE  # classifies the response (harness.load.outcomes)
    trace_id: str = ""  # W3C trace id (32 hex digits) of the traceparent the request carries


class Station:
    """Where the scheduler meets the slots (users) of one process; lives as long as the runner."""

    def __init__(self) -> None:
        self._hub = get_hub()
        self._run_callback = self._hub.loop.run_callback  # once per hand-off: one lookup less
        self._idle: list[Waiter] = []
        self._freed = Event()
        self.registered = 0
        self.busy = 0
        self.peak_busy = 0
        self._all_done = Event()
        self._all_done.set()
        self._parked: Job | None = None  # the job the scheduler waits to hand over
        self._parked_waiter: Waiter | None = None
        self._timer: Any = None  # the hand-over deadline's libev timer (see _arm)
        self._deadline_ns: int | None = None

    # -- slot (user) side ------------------------------------------------------------------
    def register(self) -> None:
        """A slot joined the pool."""
        self.registered += 1

    def unregister(self) -> None:
        """A slot left the pool (its user stopped)."""
        self.registered -= 1

    def next_job(self) -> Job:
        """The parked job if the scheduler waits with one (taken at once), else block the calling
        slot until the scheduler hands it a job (LIFO among idle slots)."""
        parked, scheduler = self._parked, self._parked_waiter
        if parked is not None and scheduler is not None:
            self._parked = self._parked_waiter = None
            self._took_one()
            self._run_callback(scheduler.switch, True)
            return parked
        waiter = Waiter()
        self._idle.append(waiter)
        self._freed.set()
        try:
            job: Job = waiter.get()
        except BaseException:
            # Killed while idle (the runner stopped): never hand this waiter a job again.
            if waiter in self._idle:
                self._idle.remove(waiter)
            raise
        return job

    def new_run(self) -> None:
        """Forget the previous run's peak (a process may run several: the web UI's restarts)."""
        self.peak_busy = self.busy

    def finished(self) -> None:
        """The calling slot completed its job."""
        self.busy -= 1
        if self.busy == 0:
            self._all_done.set()

    # -- scheduler side --------------------------------------------------------------------
    def try_dispatch(self, job: Job) -> bool:
        """Give ``job`` to the most recently idle slot; False if none is idle."""
        if not self._idle:
            return False
        waiter = self._idle.pop()
        self._took_one()
        self._run_callback(waiter.switch, job)
        return True

    def hand_over(self, job: Job, deadline_ns: int) -> bool:
        """Every slot is busy: park ``job`` for the next slot that finishes (it takes the job in
        :meth:`next_job`) and block until one has; False, the job withdrawn, if ``deadline_ns``
        (monotonic) passes first."""
        if self._idle:
            return self.try_dispatch(job)
        remaining = (deadline_ns - time.monotonic_ns()) / 1e9
        if remaining <= 0:
            return False
        waiter = Waiter()
        self._parked, self._parked_waiter = job, waiter
        if deadline_ns != self._deadline_ns:  # one timer per deadline (a run's walk has one)
            self._arm(deadline_ns, remaining)
        try:
            waiter.get()
        finally:
            taken = self._parked is not job  # a slot took it (whatever woke us first)
            if not taken:
                self._parked = self._parked_waiter = None
        return taken

    def _arm(self, deadline_ns: int, remaining_s: float) -> None:
        """Wake whoever is parked when ``deadline_ns`` passes (replacing the previous deadline's
        timer): at the cap every job is handed over, and a timer per job costs more than the
        hand-over itself. :meth:`disarm` drops it when the walk ends."""
        self.disarm()
        self._timer = self._hub.loop.timer(remaining_s)
        self._timer.start(self._deadline_passed)
        self._deadline_ns = deadline_ns

    def _deadline_passed(self) -> None:
        self._deadline_ns = None  # fired: a later hand-over arms afresh (its own remaining time)
        waiter = self._parked_waiter
        if waiter is not None:
            waiter.switch(False)

    def disarm(self) -> None:
        """Drop the hand-over deadline's timer (the walk ended; idempotent)."""
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        self._deadline_ns = None

    def _took_one(self) -> None:
        self.busy += 1
        if self.busy > self.peak_busy:
            self.peak_busy = self.busy
        self._all_done.clear()

    def wait_for_slot(self, deadline_ns: int) -> bool:
        """Block until some slot is idle; False if ``deadline_ns`` (monotonic) passes first."""
        for _ in range(_MAX_SLOT_WAITS):  # bounded; each pass waits for an event or the deadline
            if self._idle:
                return True
            remaining = (deadline_ns - time.monotonic_ns()) / 1e9
            if remaining <= 0:
                return False
            self._freed.clear()
            self._freed.wait(timeout=remaining)
        return bool(self._idle)

    def wait_all_done(self, deadline_ns: int) -> bool:
        """Block until no job is in flight; False if ``deadline_ns`` passes first."""
        remaining = max((deadline_ns - time.monotonic_ns()) / 1e9, 0.0)
        return bool(self._all_done.wait(timeout=remaining))
