"""Per-request stage timings, sent back as a W3C ``Server-Timing`` header.

Why: a p99 that breaches says *that* the scoring path is slow, not *where*. The load generator
keeps this header for the requests it needs (the slow ones and a small sample) and reports which
stage explains the tail (``harness.slo.explain_tails``). The header is standard
(https://www.w3.org/TR/server-timing/), so any tool that reads it (browsers' devtools, the
harness, a tracing proxy) understands it.

Stages, in the order a request meets them (names are the header's metric names; ``dur`` is
milliseconds with microsecond resolution):

``queue``     admission: from the application receiving the request to its admission decision,
              minus the body read (the event loop's own backlog before the app sees the request
              is outside every stage: the client sees it as time not covered by ``total``)
``decode``    body read and JSON decode (and validation)
``tokenise``  PAN tokenisation (HMAC)
``features``  velocity feature lookup; ``desc="degraded"`` when it did not answer in its budget
``model``     encoding, ONNX inference, decision, reason codes, the audit record built; with
              the model on an inference thread (``reference_service.inference``) also the
              wait for a free thread and the hop back to the loop
``audit``     audit append, in durable mode including the wait for the group commit's fsync
``encode``    velocity write and response encoding
``debug``     the ``--debug-handler-delay-ms`` test hook's injected delay (absent otherwise)
``total``     the sum above, from receipt to the response handed to the server

Cost: a lap is one ``perf_counter`` call and a dict update (well under a microsecond); the header
is formatted once per response, with one ``%`` operation over a format string cached per set of
stages (eight separate float formats cost about twice as much). The timer of the request being
handled lives in a context variable: uvicorn runs each request in its own task, so concurrent
requests never share one. Invariant: ``total`` >= the sum of the stages (every lap charges the
time since the previous lap to exactly one stage).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Final

__all__ = [
    "HEADER",
    "STAGES",
    "StageTimer",
    "current",
    "lap",
    "mark_degraded",
    "start",
]

HEADER: Final = b"server-timing"
STAGES: Final = ("queue", "decode", "tokenise", "features", "model", "audit", "encode", "debug")

_timer: ContextVar[StageTimer | None] = ContextVar("slo_stage_timer", default=None)


class StageTimer:
    """Durations per stage of one request (seconds, accumulated: a stage may be lapped twice)."""

    __slots__ = ("_last", "degraded", "durations", "t0")

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self._last = t0
        self.durations: dict[str, float] = {}
        self.degraded = False

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap (or the start) to ``stage``."""
        now = time.perf_counter()
        self.durations[stage] = self.durations.get(stage, 0.0) + (now - self._last)
        self._last = now

    def header_value(self) -> bytes:
        """The ``Server-Timing`` value: stages in :data:`STAGES` order, then ``total``."""
        d = self.durations
        key: tuple[str | bool, ...] = (*d, self.degraded)
        layout = _LAYOUTS.get(key)
        if layout is None:
            layout = _LAYOUTS[key] = _layout(set(d), self.degraded)
        fmt, names = layout
        return (fmt % (*[d[n] * 1000.0 for n in names], (self._last - self.t0) * 1000.0)).encode()


#: (stage names in lap order..., degraded) -> (format string, stage names in header order).
_LAYOUTS: dict[tuple[str | bool, ...], tuple[str, tuple[str, ...]]] = {}


def _layout(present: set[str], degraded: bool) -> tuple[str, tuple[str, ...]]:
    names = tuple(name for name in STAGES if name in present)
    parts = [
        f"{name};dur=%.3f" + (';desc="degraded"' if name == "features" and degraded else "")
        for name in names
    ]
    return ", ".join([*parts, "total;dur=%.3f"]), names


def start(t0: float) -> StageTimer:
    """Begin timing the current request (``t0``: its receipt, ``perf_counter``)."""
    timer = StageTimer(t0)
    _timer.set(timer)
    return timer


def current() -> StageTimer | None:
    """The current request's timer (None outside a timed request)."""
    return _timer.get()


def lap(stage: str) -> None:
    """Lap the current request's timer, if any (cheap no-op otherwise)."""
    timer = _timer.get()
    if timer is not None:
        timer.lap(stage)


def mark_degraded() -> None:
    """Flag the current request's feature lookup as degraded."""
    timer = _timer.get()
    if timer is not None:
        timer.degraded = True
