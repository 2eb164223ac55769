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
  send). Under Locust's own command line ``events.request`` is fired too, with the
  intended-clock response time, so Locust's stats and web UI stay usable; they are never used
  for verdicts (what a completion does: :mod:`~harness.load.completion`; where scheduler and
  slots meet: :mod:`~harness.load.station`).
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
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import gevent
from gevent.event import Event
from gevent.hub import Waiter

from harness.load import pacing, schedule
from harness.load.completion import Completion, HttpStatusError
from harness.load.head import with_header
from harness.load.health import CpuSampler, ProcessHealth
from harness.load.station import DEFAULT_JUDGE, Job, RequestLog, Station
from harness.load.workload import RequestSource, host_port
from harness.measure import LatencyHistogram, Recorder, TailSampler, run_trace_prefix, traceparent
from harness.spec import Scenario, ScheduledPhase
from harness.target import ClientTls

__all__ = ["DRAIN_MARGIN_S", "Engine", "HttpStatusError", "Job", "RequestLog", "Station"]

#: Extra time after the schedule's end plus the request timeout before stragglers are abandoned.
DRAIN_MARGIN_S: Final = 1.0
_COMPLETION_MARGIN_NS: Final = 500_000_000
_new_job: Final = tuple.__new__
_log = logging.getLogger(__name__)


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
        address: str | None = None,
        tls: ClientTls | None = None,
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
        #: Slots connect to the checked address (resolved once), not to the name again; ``tls``
        #: is the https client context + server name (None: plain HTTP).
        self.host = address or self.host
        self.tls = tls
        self.timeout_ns = round(scenario.timeout_ms * 1e6)
        self.recorder = recorder
        self.name = name
        self._source = source
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
        done = Completion(
            recorder=recorder,
            station=station,
            tails=self.tails,
            fire_request=fire_request,
            request_log=request_log,
            run_start_mono_ns=self.run_start_mono_ns,
        )
        #: Status codes and failure samples per phase and endpoint (harness.measure.responses).
        self.responses = done.responses
        #: Called by a slot when its request ended (:meth:`Completion.complete`).
        self.complete = done.complete

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
            self.station.disarm()
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
        hub = gevent.get_hub()
        run_callback, yielded = hub.loop.run_callback, Waiter(hub)
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
                data = with_header(p.data, header)
            else:
                trace_id, data = "", p.data
            job = _new_job(  # Job(...) without its Python-level __new__
                Job,
                (
                    self,
                    phase,
                    p.endpoint,
                    p.method,
                    p.path,
                    data,
                    intended,
                    p.judge or DEFAULT_JUDGE,
                    trace_id,
                ),
            )
            woke = clock()
            if woke < intended:  # else the waker would return at once (behind schedule)
                waker.wait_until(intended)
                woke = clock()
            if self._abort:
                recorder.unsent(phase, 1)
                return
            if not station.try_dispatch(job):
                # Every slot is busy: the first to finish takes the job (and sends it at once).
                self.cap_hits += 1
                if not station.hand_over(job, self.drain_deadline_ns):
                    recorder.unsent(phase, 1)
                    self._give_up(arrivals)
                    return
                self._cap_wait_end_ns = self._last_dispatch_ns = clock()
                self.sent += 1
                if self._abort:
                    return
                continue
            if intended <= self._cap_wait_end_ns:
                self.cap_hits += 1  # queued behind an arrival that waited for a slot
            else:
                lag_us = (woke - intended) // 1000
                self.schedule_lag.record(lag_us if lag_us > 0 else 0)
            self.sent += 1
            self._last_dispatch_ns = clock()
            # Let the slot send now, before the next request is built: gevent.sleep(0) with
            # one Waiter for the walk instead of a new one per arrival (after get() returns it
            # holds nothing; the switch queued here is the only one that can reach it).
            run_callback(yielded.switch, None)
            yielded.get()

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
