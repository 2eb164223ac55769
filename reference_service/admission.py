"""Admission control: refuse work at once when accepting it would break the latency budget.

A worker is one event loop on one core. Little's law ties the three numbers admission controls:
with ``L`` requests in flight and the worker completing ``X`` of them per second, an admitted
request spends ``W = L / X`` seconds in the worker. The limit is therefore derived from **wall
time**: ``limit = (W_min + target_s) * X_sat``, where ``X_sat`` is the capacity shown by windows
in which the worker was queueing (it refused work or ran at its limit during the window, or its
admitted requests spent more than ``target_s`` beyond ``W_min`` in it), ``W_min`` is the tracked
no-queue time of a request in the worker (the lowest window mean, allowed to drift up) and
``target_s``, the queueing delay allowed, is a quarter of the latency budget. The quarter leaves
room for what the mean does not show: the tail (p99 is a few times the mean under queueing) and
the time a request waits in socket buffers before the event loop parses it. A handler that is
slow by itself (awaiting I/O) has a high ``W_min``, not a queueing delay, and is not throttled.

An earlier version divided the budget by the *CPU* time measured inside the handler plus a
guessed protocol overhead. That misses everything that is not handler CPU (the event loop's own
work, parsing and answering the shed requests, garbage collection, audit fsync waits), so at three
times capacity it admitted about 125 requests per worker and admitted p99 passed 200 ms. The wall
measure sees all of it, and corrects itself: a limit that is too low gives a short ``W`` and thus
a higher ``(W_min + target) * X`` in the next queueing window. When the worker is already at its
limit, a request is refused before its body is read (:mod:`reference_service.app`).

Every window also bounds the estimate from above by completions per CPU-second of the worker's
thread (what the loop spent on everything: parsing, shedding, handlers): a single-threaded loop
cannot do better, and this brings the optimistic start down while traffic is still light, before
the first overload. It is only a ceiling: the limit itself stays derived from wall time. When
model calls run on inference threads (:mod:`reference_service.inference`), the loop thread no
longer spends the model's time, so the threads' busy seconds (per thread) bound the rate the same
way (:meth:`Admission.bound_by`): a thread busy ``b`` seconds for ``n`` calls completes at most
``n / b`` per second.

Waiting for a free inference thread is queueing, not the request's own time: each offloaded call
reports how long it waited (:meth:`Admission.waited`) and the no-queue time ``W_min`` is tracked
from the window's mean wall time *minus* that wait. Without this, a closed loop of 8 clients on a
4 ms model (each request waiting for the 7 before it) sets ``W_min`` to 32 ms at start-up and the
limit to about 10 in flight: 40 ms of queue behind one thread.

The capacity a queueing window shows is its completions per **busy** second of its busiest stage,
not per wall second: the loop thread is busy while it runs or waits for a CPU (its run-queue
delay, :func:`run_queue_s`, from ``/proc/thread-self/schedstat``), an inference thread while it
runs calls. A saturated stage is busy the whole window, so this is its completion rate; a stage
that idled part of it could have done more. Per wall second was wrong whenever the limit, not
the worker, was what refused: after a spell of real queueing (a machine that took the loop
thread's CPU for a second) the limit came down to 1-3; every later window refused a burst and so
counted as saturated, and its completion rate, the *admitted* demand held down by that limit,
became the capacity. The estimate could never climb back: game days shed 1-85% of requests for
seconds at a fifth of a worker's CPU capacity, the loop thread 20-40% busy and admitted requests
2-4 ms in the worker against a 12.5 ms target (README, Game days). Likewise requests that spend
longer awaiting I/O (a slow Redis hop) with the loop idle show a high capacity and do not lower
the estimate. Where the kernel gives no run-queue delay the loop counts its CPU time only.

A queueing window whose admitted requests spent more than twice the target beyond ``W_min``
replaces the capacity estimate with what it showed instead of smoothing towards it: the
optimistic start (2,500/s assumed) meets a 200/s worker at three times capacity, and smoothing took
about 2 s of windows to come down, during which the worker admitted 32 requests per loop iteration
and stalled for hundreds of milliseconds (measured: nothing accepted, nothing answered for 0.4 s).

``W_min`` drifts up (2% a window) only from windows whose busiest stage had idle time (busy for
less than ``DRIFT_BUSY_SHARE`` of the window): there the mean is the request's own time plus little
queueing, so a service that became slower by itself is followed. In a window with that stage busy
throughout, the mean is queueing behind the limit: Little's law makes it ``W_min + target`` at a
limit of ``(W_min + target) * X``, above any drift, so ``W_min`` rose 2% every window, the limit
with it and the queue with the limit. On the simulated worker (tests/service/test_svc_admission.py)
30 s at three times capacity took the limit from 10 to 49, the admitted mean wait to 31 ms and the
p99 to 80 ms (budget 50 ms); gated, the limit stays at 9, the mean wait 10.5 ms, the p99 15 ms. A
Redis hop slowed from 2 to 40 ms with the loop half idle still raises the limit from 11 to 17
within 10 s, and refusals stop within 8 s. The share is 0.9, not lower: a limit that refuses
clumped bursts while the loop idles 10-20% of the window is too low, and drifting raises it until
the loop is busy (bursts of 40 at three times capacity: at 0.8 the limit stayed at 11, the loop
83% busy, goodput 487/s of 590).

Windows are ``WINDOW_S`` long (and need ``MIN_COMPLETIONS``); unsaturated windows never lower the
limit (low traffic says nothing about capacity) but raise the capacity estimate if the worker
completed more than it. ``max_in_flight`` overrides the derivation (tests force tiny limits).
:meth:`Admission.observe` keeps the handler's CPU time only as a reported figure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

__all__ = ["TARGET_FRACTION", "Admission", "run_queue_s"]

#: Queueing delay (beyond the no-queue time) the limit allows, as a fraction of the budget.
TARGET_FRACTION: Final = 0.25
#: Completion rate assumed before anything was measured: 1 / (250 us handler + 150 us protocol).
INITIAL_RATE_PER_S: Final = 2500.0
WINDOW_S: Final = 0.2
MIN_COMPLETIONS: Final = 20
#: The no-queue time in the worker assumed before the first window closed (seconds),
#: and how fast the tracked minimum may rise per window (so a service that became slower by
#: itself is followed within seconds: 2% per 0.2 s window doubles in about 7 s).
INITIAL_WALL_S: Final = 400e-6
WALL_MIN_DRIFT: Final = 1.02
#: The drift applies only to windows whose busiest stage was busy for less than this share of
#: the window (see the module docstring: a saturated stage's window mean is queueing).
DRIFT_BUSY_SHARE: Final = 0.9
#: A window longer than this spans idle time and is discarded.
STALE_S: Final = 1.0
#: Weight of a new saturated window in the capacity estimate.
ALPHA: Final = 0.3
#: Floor and ceiling of the derived limit: never starve, never queue unboundedly. The floor is 1:
#: a worker that completes X requests/s holds the target only with at most target * X in
#: flight, which is below 4 for a slow model (or a starved CPU) under 320 completions/s.
MIN_LIMIT: Final = 1
MAX_LIMIT: Final = 4096


_SCHEDSTAT: Final = "/proc/thread-self/schedstat"


def run_queue_s() -> float:
    """Seconds the calling thread has waited on a run queue, ready but not running (the second
    field of ``/proc/thread-self/schedstat``, ns); 0.0 where the kernel does not say. About
    0.1 ms per read: once per window."""
    try:
        with open(_SCHEDSTAT, "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class Admission:
    """Counts in-flight requests of one worker and decides whether one more may start."""

    __slots__ = (
        "_alpha",
        "_clocks",
        "_completions",
        "_cpu_clock",
        "_fixed",
        "_limit",
        "_rate",
        "_runq_clock",
        "_saturated",
        "_service_s",
        "_target_s",
        "_wait_sum_s",
        "_wall_min_s",
        "_wall_sum_s",
        "_window_cpu_s",
        "_window_runq_s",
        "_window_start",
        "in_flight",
        "shed_total",
    )

    def __init__(
        self,
        latency_budget_s: float,
        max_in_flight: int | None = None,
        *,
        now: float | None = None,
        initial_rate_per_s: float = INITIAL_RATE_PER_S,
        cpu_clock: Callable[[], float] = time.thread_time,
        runq_clock: Callable[[], float] | None = None,
    ) -> None:
        self._target_s = latency_budget_s * TARGET_FRACTION
        self._fixed = max_in_flight
        self._alpha = 0.02
        self._service_s = 250e-6
        self._rate = initial_rate_per_s
        self._window_start = time.perf_counter() if now is None else now
        self._cpu_clock = cpu_clock
        self._window_cpu_s = cpu_clock()
        self._runq_clock = run_queue_s if runq_clock is None else runq_clock
        self._window_runq_s = self._runq_clock()
        self._clocks: list[tuple[Callable[[], float], float]] = []  # (busy clock, at window start)
        self._completions = 0
        self._wall_sum_s = 0.0
        self._wait_sum_s = 0.0
        self._wall_min_s: float | None = None  # unknown until the first window closes
        self._saturated = False
        self.in_flight = 0
        self.shed_total = 0
        self._limit = max_in_flight if max_in_flight is not None else self._derive()

    @property
    def limit(self) -> int:
        """Current maximum number of requests in flight."""
        return self._limit

    @property
    def capacity_per_s(self) -> float:
        """Estimated completions per second of this worker when saturated."""
        return self._rate

    @property
    def service_time_s(self) -> float:
        """Smoothed CPU time of one request inside the handler, seconds (reported only)."""
        return self._service_s

    def _derive(self) -> int:
        allowed_s = (self._wall_min_s or INITIAL_WALL_S) + self._target_s
        return max(MIN_LIMIT, min(MAX_LIMIT, math.floor(allowed_s * self._rate)))

    def full(self) -> bool:
        """True when a request arriving now would be refused (counted as a refusal)."""
        if self.in_flight >= self._limit:
            self._saturated = True
            self.shed_total += 1
            return True
        return False

    def try_enter(self) -> bool:
        """Admit one request (and count it) or refuse it."""
        if self.in_flight >= self._limit:
            self._saturated = True
            self.shed_total += 1
            return False
        self.in_flight += 1
        if self.in_flight >= self._limit:
            self._saturated = True
        return True

    def bound_by(self, busy_clock: Callable[[], float]) -> None:
        """Also bound the completion rate by ``busy_clock`` (seconds a stage every admitted
        request passes through has been busy, per server: the inference threads)."""
        self._clocks.append((busy_clock, busy_clock()))

    def waited(self, seconds: float) -> None:
        """An admitted request waited ``seconds`` for a free inference thread (queueing)."""
        self._wait_sum_s += seconds

    def leave(self, now: float | None = None, wall_s: float = 0.0) -> None:
        """An admitted request finished (whatever its outcome) after ``wall_s`` seconds in the
        worker; may close a window."""
        self.in_flight -= 1
        self._completions += 1
        self._wall_sum_s += wall_s
        t = time.perf_counter() if now is None else now
        elapsed = t - self._window_start
        if elapsed < WINDOW_S or self._completions < MIN_COMPLETIONS:
            if elapsed > STALE_S:  # traffic too thin to say anything: start a fresh window
                self._reset(t)
            return
        rate = self._completions / elapsed
        cpu_s = self._cpu_clock() - self._window_cpu_s
        mean_wall_s = self._wall_sum_s / self._completions
        # The request's own time: its wall time less what it spent waiting for a thread.
        own_s = max(0.0, self._wall_sum_s - self._wait_sum_s) / self._completions
        # Queueing shows either as refusals (the limit was reached) or as admitted requests
        # spending more than the target beyond the no-queue time in the worker: both mean the
        # X measured here is capacity. A handler that is slow by itself (awaiting I/O) is not
        # queueing: its no-queue time is high, not its excess.
        if self._wall_min_s is None:  # the first window: its mean is the first no-queue time
            self._wall_min_s = own_s
        queueing = self._saturated or mean_wall_s > self._wall_min_s + self._target_s
        excess_s = mean_wall_s - self._wall_min_s
        ceiling, shown, busy_s = self._capacity(
            rate, cpu_s, self._runq_clock() - self._window_runq_s
        )
        if elapsed <= STALE_S:
            # Drift up only from a window whose busiest stage had idle time: there the mean is
            # the request's own time. In a window with that stage busy throughout, the mean is
            # mostly queueing behind the limit; drifting towards it ratchets the limit up.
            drift = WALL_MIN_DRIFT if busy_s < DRIFT_BUSY_SHARE * elapsed else 1.0
            self._wall_min_s = min(self._wall_min_s * drift, own_s)
        if elapsed > STALE_S:
            pass  # a window spanning an idle gap measures the gap, not the worker
        elif queueing and shown < self._rate and excess_s > 2 * self._target_s:
            # Far over the target: the estimate was much too high (the optimistic start, or a
            # machine that just lost CPU). A saturated window shows capacity: take it at once;
            # smoothing would keep admitting too much for seconds.
            self._rate = shown
        elif queueing:
            self._rate += ALPHA * (shown - self._rate)
        elif rate > self._rate:
            self._rate = rate
        if elapsed <= STALE_S:
            # A sound upper bound: it brings the optimistic start down before the first overload.
            self._rate = min(self._rate, ceiling)
        self._reset(t)
        if self._fixed is None:
            self._limit = self._derive()

    def _capacity(self, rate: float, cpu_s: float, runq_s: float) -> tuple[float, float, float]:
        """(ceiling, shown, busiest) of this window: completions per second, and the busy
        seconds of its busiest stage.

        The ceiling: this thread cannot complete more than completions per CPU-second of it, nor
        a thread pool more than completions per busy second of its threads. Shown: completions
        per busy second of the busiest stage, where the loop thread is busy while it runs *or*
        waits for a CPU (a machine that gives it a fraction of a core gives it that capacity).
        A stage that was idle part of the window could have done more than the window's rate:
        at a limit held low the rate is the admitted demand, not capacity. Never below the rate.
        """
        n = self._completions
        ceiling = n / cpu_s if cpu_s > 0 else math.inf
        busiest_s = cpu_s + runq_s
        for clock, start in self._clocks:
            busy_s = clock() - start
            if busy_s > 0:
                ceiling = min(ceiling, n / busy_s)
                busiest_s = max(busiest_s, busy_s)
        shown = max(rate, n / busiest_s) if busiest_s > 0 else rate
        return ceiling, shown, busiest_s

    def _reset(self, t: float) -> None:
        self._window_start, self._completions, self._wall_sum_s, self._saturated = t, 0, 0.0, False
        self._wait_sum_s = 0.0
        self._window_cpu_s = self._cpu_clock()
        self._window_runq_s = self._runq_clock()
        self._clocks = [(clock, clock()) for clock, _ in self._clocks]

    def observe(self, cpu_s: float) -> None:
        """Fold one request's measured handler CPU time into the reported service time."""
        self._service_s += self._alpha * (cpu_s - self._service_s)
