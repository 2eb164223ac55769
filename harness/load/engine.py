"""The open-model engine of one generator process: a scheduler greenlet and a pool of slots.

Design (wrk2's measurement, k6's arrival-rate executor, inside Locust):

- **Phases are a rate schedule, not user counts.** The scenario's phases (warm-up, steady, ramp,
  step, spike, soak) are laid back to back into one piecewise-linear arrival rate r(t);
  :func:`harness.load.schedule.intended_times` turns it into intended send times (constant or
  Poisson). Locust's user count never changes during a run: it is the concurrency cap. (In the
  plugin mode a ``LoadTestShape`` only holds that count and ends the test when the schedule is
  done; see :mod:`harness.load.plugin`.)
- **One scheduler greenlet** walks the intended send times (a Locust worker walks only its share,
  ``part=(k, n)``). For each arrival it builds the request bytes first, then sleeps until the
  intended time with a precise :mod:`~harness.load.pacing` waker, then hands the request to an
  idle **slot** and yields so the slot sends at once.
- **Slots are Locust users** (:class:`~harness.load.user.SloUser`): each owns one keep-alive
  connection (the lean client of :mod:`~harness.load.http`) and runs one request at a time.
  Idle slots wait on a LIFO stack, so the fewest connections stay hot and the rest never
  connect. The number of users is the scenario's ``max_concurrency`` (k6's ``maxVUs``).
- **Never lower the offered rate.** If every slot is busy at an intended time, the arrival waits
  for the next free slot while its intended clock keeps running; arrivals behind it queue the
  same way and go out as soon as slots free up, late but sent and measured. Each arrival delayed
  this way is a *cap hit* (counted and reported). Only arrivals still waiting when the drain
  deadline passes (schedule end + timeout + 1 s) are counted *unsent*; requests in flight at
  that point are still waited for (each ends within its timeout), so sent + unsent = offered.
- **Two clocks per request**: the Recorder gets the intended, actual-send and completion times
  (monotonic ns); it derives the CO-corrected latency (from intended) and the service time (from
  send). Locust's ``events.request`` is fired too, with the intended-clock response time, so
  Locust's own stats and web UI stay usable; they are never used for verdicts.
- **Trace context and the tail**: every request carries a W3C ``traceparent`` (trace id from the
  run and the arrival index; spliced into the request bytes before the intended time). On
  completion a :class:`~harness.measure.TailSampler` decides in one comparison whether the request
  is kept (slowest, above the running p90/p99, or the uniform sample); only kept requests get
  their ``Server-Timing`` header parsed and their client-side marks stored (``self.tails``).
- **Self-watch**: the scheduler records its own wake-up lateness (generator-caused lag) for
  arrivals not held back by the cap; a sampler greenlet records this process's CPU every
  interval (:mod:`~harness.load.health`).

Every loop is bounded: the arrival walk by the schedule, slot waits and the drain by the drain
deadline, spins by :mod:`~harness.load.pacing`.
"""

from __future__ import annotations

import gc
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import gevent
from gevent.event import Event
from gevent.hub import Waiter, get_hub

from harness.load import pacing, schedule
from harness.load.health import CpuSampler, ProcessHealth
from harness.load.http import HttpConnection, Reply
from harness.load.outcomes import ResponseJudge
from harness.load.workload import RequestSource, host_port
from harness.measure import (
    ClientMarks,
    LatencyHistogram,
    Outcome,
    Recorder,
    ResponseTally,
    TailSampler,
    TracedRequest,
    run_trace_prefix,
    server_timing_of_head,
    traceparent,
)
from harness.spec import Expect, Scenario, ScheduledPhase

__all__ = ["DRAIN_MARGIN_S", "Engine", "HttpStatusError", "Job", "RequestLog", "Station"]

#: Extra time after the schedule's end plus the request timeout before stragglers are abandoned.
DRAIN_MARGIN_S: Final = 1.0
_COMPLETION_MARGIN_NS: Final = 500_000_000
_LONG_DIGITS: Final = re.compile(rb"[0-9]{12,}")
_log = logging.getLogger(__name__)
#: The judge of requests that bring none: 2xx OK, 503 shed, the rest failed.
DEFAULT_JUDGE: Final = ResponseJudge(Expect(), (503,))


@dataclass(slots=True)
class Job:
    """One request on its way: what to send, when it was meant to go, and who records it."""

    engine: Engine
    phase: str
    endpoint: str
    method: str
    path: str
    data: bytes
    intended_ns: int  # time.monotonic_ns() of this process
    judge: ResponseJudge = DEFAULT_JUDGE  # classifies the response (harness.load.outcomes)
    trace_id: str = ""  # W3C trace id (32 hex digits) of the traceparent the request carries


#: Optional per-request log (tests): (phase, endpoint, outcome, intended_ns, sent_ns, done_ns).
RequestLog = list[tuple[str, str, str, int, int, int]]


class Station:
    """Where the scheduler meets the slots (users) of one process; lives as long as the runner."""

    def __init__(self) -> None:
        self._hub = get_hub()
        self._idle: list[Waiter] = []
        self._freed = Event()
        self.registered = 0
        self.busy = 0
        self.peak_busy = 0
        self._all_done = Event()
        self._all_done.set()

    # -- slot (user) side ------------------------------------------------------------------
    def register(self) -> None:
        """A slot joined the pool."""
        self.registered += 1

    def unregister(self) -> None:
        """A slot left the pool (its user stopped)."""
        self.registered -= 1

    def next_job(self) -> Job:
        """Block the calling slot until the scheduler hands it a job (LIFO among idle slots)."""
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
        self.busy += 1
        if self.busy > self.peak_busy:
            self.peak_busy = self.busy
        self._all_done.clear()
        self._hub.loop.run_callback(waiter.switch, job)
        return True

    def wait_for_slot(self, deadline_ns: int) -> bool:
        """Block until some slot is idle; False if ``deadline_ns`` (monotonic) passes first."""
        for _ in range(1_000_000):  # bounded; each pass waits for an event or the deadline
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


class Engine:
    """Drives one process's share of a scenario's schedule through a :class:`Station`."""

    def __init__(
        self,
        *,
        station: Station,
        scenario: Scenario,
        target_url: str,
        source: RequestSource,
        recorder: Recorder,
        fire_request: Callable[..., Any] | None = None,
        part: tuple[int, int] = (0, 1),
        cpu_sampler: CpuSampler | None = None,
        request_log: RequestLog | None = None,
        name: str = "local",
        explain_tail: bool = True,
    ) -> None:
        self.station = station
        station.new_run()
        self.scenario = scenario
        self.target_url = target_url
        self.host, self.port, _ = host_port(target_url)
        self.timeout_ns = round(scenario.timeout_ms * 1e6)
        self.recorder = recorder
        self.name = name
        self._source = source
        self._fire = fire_request
        self._part = part
        self._cpu = cpu_sampler
        self.request_log = request_log
        self.run_start_wall_ns = recorder.run_start_wall_ns
        # The wall-clock run start in this process's monotonic time (workers share the wall clock).
        self.run_start_mono_ns = self.run_start_wall_ns - (time.time_ns() - time.monotonic_ns())
        self.end_mono_ns = self.run_start_mono_ns + round(scenario.duration_s * 1e9)
        drain_s = scenario.timeout_ms / 1000.0 + DRAIN_MARGIN_S
        self.drain_deadline_ns = self.end_mono_ns + round(drain_s * 1e9)
        #: By then the engine has finished: the last dispatch is before the drain deadline and
        #: every request ends within its timeout.
        self.finish_deadline_ns = self.drain_deadline_ns + self.timeout_ns + _COMPLETION_MARGIN_NS
        self.schedule_lag = LatencyHistogram()
        self.cap_hits = 0
        self.cpu_samples: list[float] = []
        self.problems: list[str] = []
        self.sent = 0
        #: Status codes and failure samples per phase and endpoint (harness.measure.responses).
        self.responses = ResponseTally()
        self.finished = Event()
        self._abort = False
        self._cap_wait_end_ns = 0
        self._last_dispatch_ns = 0
        self._greenlets: list[gevent.Greenlet] = []
        self._schedule = scenario.schedule()
        #: None only when the caller turned the tail's per-request work off (the overhead
        #: benchmark's A/B switch): no traceparent, nothing kept.
        self.tails = TailSampler(seed=scenario.payload.seed + part[0]) if explain_tail else None
        self._trace_prefix = run_trace_prefix(self.run_start_wall_ns, scenario.payload.seed)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the scheduler (and the CPU sampler) greenlets."""
        # Locust, gevent and the payload tables live for the whole run: freeze them out of the
        # collector so a full collection mid-run does not stall the scheduler walking them.
        gc.collect()
        gc.freeze()
        # Ctrl-C / SIGTERM raise KeyboardInterrupt wherever the process is, often inside gevent's
        # hub, which would print it as a crash before passing it on; it is an expected stop.
        hub = gevent.get_hub()
        hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)
        self._greenlets.append(gevent.spawn(self._run))
        if self._cpu is not None:
            self._greenlets.append(gevent.spawn(self._sample_cpu))

    def abort(self) -> None:
        """Stop scheduling now (an early stop); requests already in flight still record."""
        self._abort = True
        for g in self._greenlets:
            g.kill(block=False)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the schedule is done and drained (or aborted); False on timeout."""
        return bool(self.finished.wait(timeout=timeout_s))

    def health(self) -> ProcessHealth:
        """This process's self-observations so far."""
        return ProcessHealth(
            name=self.name,
            cpu_samples=tuple(self.cpu_samples),
            schedule_lag=self.schedule_lag.copy(),
            concurrency_cap=self.station.registered,
            concurrency_peak=self.station.peak_busy,
            cap_hits=self.cap_hits,
            problems=tuple(self.problems),
        )

    def phase_at(self, mono_ns: int) -> ScheduledPhase | None:
        """The scheduled phase at ``mono_ns`` (None before the start or after the end)."""
        t = (mono_ns - self.run_start_mono_ns) / 1e9
        for sp in self._schedule:
            if sp.start_s <= t < sp.end_s:
                return sp
        return None

    # -- the scheduler -------------------------------------------------------------------------
    def _run(self) -> None:
        waker = pacing.make_waker()
        try:
            arrivals = schedule.arrivals(
                self.scenario, random.Random(self.scenario.payload.seed), part=self._part
            )
            self._walk(arrivals, waker)
            # Every request in flight ends within its timeout (the client enforces it), so this
            # wait records all of them, even those dispatched just before the drain deadline.
            last_end = self._last_dispatch_ns + self.timeout_ns + _COMPLETION_MARGIN_NS
            self.station.wait_all_done(max(self.drain_deadline_ns, last_end))
        except Exception as exc:  # a bug or an OS failure: the run must not pass as complete
            self.problems.append(f"{self.name}: the scheduler failed: {exc!r}")
            _log.exception("the scheduler failed")
        finally:
            waker.close()
            self.finished.set()
            for g in self._greenlets[1:]:
                g.kill(block=False)

    def _walk(self, arrivals: Iterator[tuple[ScheduledPhase, float]], waker: pacing.Waker) -> None:
        recorder, station = self.recorder, self.station
        start_mono, start_wall = self.run_start_mono_ns, self.run_start_wall_ns
        clock = time.monotonic_ns
        first, step = self._part
        prefix = self._trace_prefix
        tails = self.tails is not None
        for i, (scheduled, t) in enumerate(arrivals):
            if self._abort:
                return
            offset = round(t * 1e9)
            intended = start_mono + offset
            phase = scheduled.phase.name
            recorder.offered(phase, start_wall + offset)
            p = self._source.next()
            if tails:
                trace_id, header = traceparent(prefix, first + i * step)
                data = _with_header(p.data, header)
            else:
                trace_id, data = "", p.data
            job = Job(
                self,
                phase,
                p.endpoint,
                p.method,
                p.path,
                data,
                intended,
                p.judge or DEFAULT_JUDGE,
                trace_id,
            )
            waker.wait_until(intended)
            if self._abort:
                recorder.unsent(phase, 1)
                return
            woke = clock()
            if not station.try_dispatch(job):
                self.cap_hits += 1
                if not station.wait_for_slot(self.drain_deadline_ns) or self._abort:
                    recorder.unsent(phase, 1)
                    self._give_up(arrivals)
                    return
                self._cap_wait_end_ns = clock()
                station.try_dispatch(job)
            elif intended <= self._cap_wait_end_ns:
                self.cap_hits += 1  # queued behind an arrival that waited for a slot
            else:
                lag_us = (woke - intended) // 1000
                self.schedule_lag.record(lag_us if lag_us > 0 else 0)
            self.sent += 1
            self._last_dispatch_ns = clock()
            gevent.sleep(0)  # let the slot send now, before the next request is built

    def _give_up(self, arrivals: Iterator[tuple[ScheduledPhase, float]]) -> None:
        """The drain deadline passed with arrivals still waiting for a slot: count them unsent."""
        recorder = self.recorder
        per_phase: dict[str, int] = {}
        for scheduled, t in arrivals:  # bounded: the rest of the schedule, all in the past
            phase = scheduled.phase.name
            recorder.offered(phase, self.run_start_wall_ns + round(t * 1e9))
            per_phase[phase] = per_phase.get(phase, 0) + 1
        for phase, n in per_phase.items():
            recorder.unsent(phase, n)

    def _sample_cpu(self) -> None:
        assert self._cpu is not None
        interval = self.recorder.interval_ns / 1e9
        # Align samples with the schedule: from its start to its end (bounded by the run).
        gevent.sleep(max((self.run_start_mono_ns - time.monotonic_ns()) / 1e9, 0.0))
        self._cpu.sample()
        for _ in range(int(self.scenario.duration_s / interval) + 1):
            gevent.sleep(interval)
            if time.monotonic_ns() > self.end_mono_ns + self.recorder.interval_ns:
                return
            self.cpu_samples.append(self._cpu.sample())

    # -- completions (called from slots) -------------------------------------------------------
    def complete(
        self,
        job: Job,
        sent_ns: int,
        done_ns: int,
        reply: Reply | None,
        error: Exception | None,
        conn: HttpConnection | None = None,
    ) -> None:
        """Record one finished request (from the slot that ran it; ``conn``: its connection,
        whose marks and response head are read only when the tail sampler keeps the request)."""
        verdict = job.judge.judge(reply, error)
        outcome = verdict.outcome
        length = reply.body_length if reply is not None else 0
        tally = self.responses
        tally.status(job.phase, job.endpoint, verdict.key)
        if outcome is not Outcome.OK:
            tally.failure(job.phase, job.endpoint, verdict.kind, outcome, verdict.sample)
            if reply is not None:
                sample = verdict.sample
                snippet = sample[:200] if isinstance(sample, bytes) else b""
                error = HttpStatusError(reply.status, snippet, verdict.kind)
        self.recorder.record(
            phase=job.phase,
            endpoint=job.endpoint,
            outcome=outcome,
            intended_ns=job.intended_ns,
            sent_ns=sent_ns,
            done_ns=done_ns,
        )
        tails = self.tails
        if tails is not None:
            latency_ns = done_ns - job.intended_ns
            mask = tails.want(job.phase, job.endpoint, latency_ns)
            if mask:
                marks = conn if reply is not None else None  # no reply: nothing of it to read
                kept = self._traced(job, outcome, sent_ns, done_ns, marks)
                timing = None if marks is None else server_timing_of_head(marks.head)
                tails.add(mask, kept, latency_ns, timing)
        if self.request_log is not None:
            self.request_log.append(
                (job.phase, job.endpoint, outcome.value, job.intended_ns, sent_ns, done_ns)
            )
        self.station.finished()
        fire = self._fire
        if fire is not None:
            fire(
                request_type=job.method,
                name=job.path,
                response_time=(done_ns - job.intended_ns) / 1e6,
                response_length=length,
                response=None,
                context={
                    "phase": job.phase,
                    "service_time_ms": (done_ns - sent_ns) / 1e6,
                    "schedule_lag_ms": (sent_ns - job.intended_ns) / 1e6,
                },
                exception=error,
                start_time=(job.intended_ns - self.run_start_mono_ns + self.run_start_wall_ns)
                / 1e9,
                url=job.path,
            )

    def _traced(
        self,
        job: Job,
        outcome: Outcome,
        sent_ns: int,
        done_ns: int,
        conn: HttpConnection | None,
    ) -> TracedRequest:
        """The kept form of a request: times and client marks (its Server-Timing is parsed only
        if it is still kept at the end: see :meth:`TailSampler.add`)."""
        start = self.run_start_mono_ns
        marks: ClientMarks | None = None
        if conn is not None:
            written, first = conn.written_ns, conn.first_byte_ns
            if sent_ns <= written <= first <= done_ns:
                connect = conn.connect_ns
                marks = ClientMarks(
                    connect_ms=connect / 1e6,
                    send_ms=max(written - sent_ns - connect, 0) / 1e6,
                    wait_ms=(first - written) / 1e6,
                    receive_ms=(done_ns - first) / 1e6,
                )
        return TracedRequest(
            phase=job.phase,
            endpoint=job.endpoint,
            outcome=outcome.value,
            trace_id=job.trace_id,
            intended_s=(job.intended_ns - start) / 1e9,
            sent_s=(sent_ns - start) / 1e9,
            latency_ms=(done_ns - job.intended_ns) / 1e6,
            service_ms=(done_ns - sent_ns) / 1e6,
            client=marks,
        )


def _with_header(request: bytes, line: bytes) -> bytes:
    """``request`` with one more header ``line`` right after its request line."""
    at = request.find(b"\r\n") + 2
    return request[:at] + line + request[at:]


class HttpStatusError(Exception):
    """A response that is not OK: its failure kind (``HTTP 404``, ``HTTP 200: body check: ...``)
    and body snippet with long digit runs masked."""

    def __init__(self, status: int, snippet: bytes, kind: str = "") -> None:
        self.status = status
        text = _LONG_DIGITS.sub(b"#", snippet).decode("utf-8", "replace")
        super().__init__((kind or f"HTTP {status}") + (f": {text}" if text else ""))
