"""Admission control: refuse work at once when accepting it would break the latency budget.

A worker is one event loop on one core, so a request admitted behind ``k`` others waits for about
``k`` service times of CPU. Queueing beyond ``latency_budget / service_time`` requests therefore
guarantees answers later than the budget; a fast 503 + ``Retry-After`` is better for a caller with a
50 ms deadline (it can fall back to rules or retry elsewhere) than a slow answer it has already
abandoned.

The service time is measured, not guessed: :meth:`Admission.observe` takes the CPU-bound part of
each request (decode, features, model, encode, measured with ``perf_counter`` around synchronous
sections, so time spent awaiting I/O such as the audit fsync does not count) and keeps an
exponentially weighted mean. A fixed per-request protocol overhead (HTTP parsing, ASGI plumbing,
measured around 150 us per request with uvicorn + httptools) is added because the handler cannot see
it. ``max_in_flight`` overrides the derivation (tests force tiny limits with it).
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["Admission"]

#: Per-request cost outside the handler (HTTP parse, ASGI calls, socket writes), seconds.
PROTOCOL_OVERHEAD_S: Final = 150e-6
#: Floor and ceiling of the derived limit: never starve, never queue unboundedly.
MIN_LIMIT: Final = 4
MAX_LIMIT: Final = 4096


class Admission:
    """Counts in-flight requests of one worker and decides whether one more may start."""

    __slots__ = ("_alpha", "_budget_s", "_fixed", "_limit", "_service_s", "in_flight")

    def __init__(
        self,
        latency_budget_s: float,
        max_in_flight: int | None = None,
        initial_service_s: float = 250e-6,
        alpha: float = 0.02,
    ) -> None:
        self._budget_s = latency_budget_s
        self._fixed = max_in_flight
        self._alpha = alpha
        self._service_s = initial_service_s
        self.in_flight = 0
        self._limit = max_in_flight if max_in_flight is not None else self._derive()

    @property
    def limit(self) -> int:
        """Current maximum number of requests in flight."""
        return self._limit

    @property
    def service_time_s(self) -> float:
        """Smoothed CPU time of one request inside the handler, seconds."""
        return self._service_s

    def _derive(self) -> int:
        per_request = self._service_s + PROTOCOL_OVERHEAD_S
        return max(MIN_LIMIT, min(MAX_LIMIT, math.floor(self._budget_s / per_request)))

    def try_enter(self) -> bool:
        """Admit one request (and count it) or refuse it."""
        if self.in_flight >= self._limit:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        """An admitted request finished (whatever its outcome)."""
        self.in_flight -= 1

    def observe(self, cpu_s: float) -> None:
        """Fold one request's measured handler CPU time into the estimate and the limit."""
        self._service_s += self._alpha * (cpu_s - self._service_s)
        if self._fixed is None:
            self._limit = self._derive()
