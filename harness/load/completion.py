"""What happens when a request ends: judge it, record it, maybe keep it for the tail.

Called by the slot that ran the request (:mod:`harness.load.user`), once per request, so this is
half of the generator's hot path (the other half is the scheduler's arrival walk in
:mod:`harness.load.engine`). Per response, in order: the entry's :class:`ResponseJudge` (a set
lookup; the JSON body check only when configured), the status tally (one dict update), the
Recorder (intended, sent and done times, monotonic ns), the tail sampler's one comparison (a
request it keeps is stored raw, a :class:`~harness.measure.PendingRequest`: its client marks and
``Server-Timing`` are worked out only if it is still kept at the end), the optional test log,
the station's slot count, and Locust's ``events.request``.

Locust's event is fired only where someone reads Locust's stats: under Locust's own command line
(the plugin: its stats table and web UI). ``slo-harness run`` and its workers never read them
(verdicts, the progress view and reports use the Recorder), and firing costs Locust's whole
``StatsEntry.log`` per request (about a tenth of the hot path, ``bench_generator.py --only
profile``), so there the engine is built without ``fire_request``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from harness.load.http import HttpConnection, Reply
from harness.load.station import Job, RequestLog, Station
from harness.measure import Outcome, PendingRequest, Recorder, ResponseTally, TailSampler

__all__ = ["Completion", "HttpStatusError"]

_LONG_DIGITS: Final = re.compile(rb"[0-9]{12,}")
_OK: Final = Outcome.OK
_new_pending: Final = tuple.__new__


class Completion:
    """Records one engine's finished requests (see the module docstring)."""

    __slots__ = (
        "_fire",
        "_record",
        "_recorder",
        "_station",
        "_statuses",
        "request_log",
        "responses",
        "run_start_mono_ns",
        "run_start_wall_ns",
        "tails",
    )

    def __init__(
        self,
        *,
        recorder: Recorder,
        station: Station,
        tails: TailSampler | None,
        fire_request: Callable[..., Any] | None,
        request_log: RequestLog | None,
        run_start_mono_ns: int,
    ) -> None:
        self._recorder = recorder
        self._station = station
        self._fire = fire_request
        self.tails = tails
        self.request_log = request_log
        #: Status codes and failure samples per phase and endpoint (harness.measure.responses).
        self.responses = ResponseTally()
        self._statuses = self.responses.status_counts()
        self._record = recorder.record
        self.run_start_mono_ns = run_start_mono_ns
        self.run_start_wall_ns = recorder.run_start_wall_ns

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
        judge = job.judge
        # An OK status the judge has seen without a body check is a lookup (no call); the
        # status tally is counted inline in its dict: the same counts as judge() + status().
        verdict = judge.known_ok.get(reply.status) if reply is not None else None
        if verdict is None:
            verdict = judge.judge(reply, error)
        outcome = verdict.outcome
        phase, endpoint = job.phase, job.endpoint
        key = (phase, endpoint, verdict.key)
        statuses = self._statuses
        statuses[key] = statuses.get(key, 0) + 1
        if outcome is not _OK:
            self.responses.failure(phase, endpoint, verdict.kind, outcome, verdict.sample)
            if reply is not None:
                sample = verdict.sample
                snippet = sample[:200] if isinstance(sample, bytes) else b""
                error = HttpStatusError(reply.status, snippet, verdict.kind)
        intended_ns = job.intended_ns
        self._record(phase, endpoint, outcome, intended_ns, sent_ns, done_ns)
        tails = self.tails
        if tails is not None:
            latency_ns = done_ns - intended_ns
            mask = tails.want(phase, endpoint, latency_ns)
            if mask:  # kept raw: built (marks, Server-Timing) only if still kept at the end
                marks = head = None
                if reply is not None and conn is not None:
                    marks = (conn.connect_ns, conn.written_ns, conn.first_byte_ns)
                    head = conn.head
                kept = _new_pending(  # PendingRequest(...) without its Python-level __new__
                    PendingRequest,
                    (
                        phase,
                        endpoint,
                        "ok" if outcome is _OK else outcome.value,  # Enum.value: a Python call
                        job.trace_id,
                        self.run_start_mono_ns,
                        intended_ns,
                        sent_ns,
                        done_ns,
                        marks,
                        head,
                    ),
                )
                tails.add(mask, kept, latency_ns)
        if self.request_log is not None:
            self.request_log.append((phase, endpoint, outcome.value, intended_ns, sent_ns, done_ns))
        self._station.finished()
        if self._fire is not None:
            self._fire_event(job, sent_ns, done_ns, reply, error)

    def _fire_event(
        self, job: Job, sent_ns: int, done_ns: int, reply: Reply | None, error: Exception | None
    ) -> None:
        """Locust's ``events.request`` with the intended-clock response time (its stats, UI)."""
        assert self._fire is not None
        self._fire(
            request_type=job.method,
            name=job.path,
            response_time=(done_ns - job.intended_ns) / 1e6,
            response_length=reply.body_length if reply is not None else 0,
            response=None,
            context={
                "phase": job.phase,
                "service_time_ms": (done_ns - sent_ns) / 1e6,
                "schedule_lag_ms": (sent_ns - job.intended_ns) / 1e6,
            },
            exception=error,
            start_time=(job.intended_ns - self.run_start_mono_ns + self.run_start_wall_ns) / 1e9,
            url=job.path,
        )


class HttpStatusError(Exception):
    """A response that is not OK: its failure kind (``HTTP 404``, ``HTTP 200: body check: ...``)
    and body snippet with long digit runs masked."""

    def __init__(self, status: int, snippet: bytes, kind: str = "") -> None:
        self.status = status
        text = _LONG_DIGITS.sub(b"#", snippet).decode("utf-8", "replace")
        super().__init__((kind or f"HTTP {status}") + (f": {text}" if text else ""))
