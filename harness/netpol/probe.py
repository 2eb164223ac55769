"""Probing: observe a matrix on real enforcement, behind a small :class:`Prober` protocol.

A prober opens one connection from a source endpoint to a destination port and says what
happened (``allowed``, ``blocked``, ``error``); :func:`probe_flows` drives it over the flows of a
predicted :class:`Matrix`, cyclonus-style, with the pitfalls REFERENCE.md lists handled here once
for every prober (live lab, ``--kubeconfig`` cluster, tests' :class:`FakeProber`):

- **positive control first**: an allowed flow is probed before anything else; if it does not
  connect, enforcement (or the probe path) is broken, and the run reports
  ``enforcement_verified = False`` with no per-flow results: never "isolated" (a candidate
  whose probe cannot even run is skipped for the next allowed flow, up to 5);
- **bounded retries**: each flow is tried up to ``tries`` times (conformance probes flake,
  network-policy-api #108); a connect is definitive and stops the retries, a flow is ``blocked``
  only when every try failed, ``error`` when every try errored (the prober could not run);
- every attempt is recorded with its UTC timestamp and duration, so the evidence shows when the
  segmentation test ran (PCI DSS 11.4.5/11.4.6).

UDP needs an echo on the far side (a UDP send alone proves nothing); that is the prober's job.
"""

from __future__ import annotations

import enum
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol as TypingProtocol

import msgspec

from harness.netpol.engine import Matrix
from harness.netpol.model import Endpoint, Protocol

__all__ = [
    "FakeProber",
    "Observation",
    "ProbeAttempt",
    "ProbeResult",
    "ProbeRun",
    "Prober",
    "probe_flows",
    "utc_now",
]


class Observation(enum.Enum):
    """What one probe (or all tries of it) saw."""

    ALLOWED = "allowed"
    BLOCKED = "blocked"
    ERROR = "error"  # the probe itself could not run (exec failed, no probe pod)


class ProbeAttempt(msgspec.Struct, frozen=True):
    """One try: when (UTC, ISO 8601), what, how long, and the prober's detail."""

    at: str
    observed: Observation
    elapsed_ms: float
    detail: str = ""


class ProbeResult(msgspec.Struct, frozen=True):
    """One flow probed: prediction, expectation (None: not governed), observation, tries."""

    from_: str = msgspec.field(name="from")
    to: str = ""
    port: int = 0
    protocol: str = "TCP"
    predicted: bool = False
    expected: bool | None = None
    observed: Observation = Observation.ERROR
    tries: int = 0
    attempts: tuple[ProbeAttempt, ...] = ()

    @property
    def correct(self) -> bool | None:
        """observed == predicted; None when the probe errored (cyclonus's "no value")."""
        if self.observed is Observation.ERROR:
            return None
        return (self.observed is Observation.ALLOWED) == self.predicted


class ProbeRun(msgspec.Struct, frozen=True):
    """A whole probe run: method, time span, positive control, results and the tally."""

    method: str  # "live-lab", "kubeconfig", "fake"
    started_at: str
    finished_at: str
    enforcement_verified: bool
    control: ProbeResult | None
    results: tuple[ProbeResult, ...]
    correct: int
    wrong: int
    no_value: int
    tries_per_flow: int
    timeout_s: float
    notes: str = ""


class Prober(TypingProtocol):
    """Opens one connection and reports what happened (returns observation and detail)."""

    def connect(
        self, src: Endpoint, dst: Endpoint, port: int, protocol: Protocol, timeout_s: float
    ) -> tuple[Observation, str]:
        """Try ``src`` -> ``dst`` ``protocol``/``port`` once within ``timeout_s``."""
        ...


Key = tuple[str, str, str, int]
_CONTROL_CANDIDATES = 5  # allowed flows tried as the positive control before giving up


class FakeProber:
    """A prober over a table: ``open`` flows connect, others are blocked; ``flaky`` fail first.

    ``flaky[key] = n`` makes the first n tries of that flow report blocked (a flaky CNI);
    ``errors`` makes every try of those flows an error. Keys are ``(from, to, PROTO, port)``.
    """

    def __init__(
        self,
        open_flows: Iterable[Key],
        *,
        flaky: Mapping[Key, int] | None = None,
        errors: Iterable[Key] = (),
    ) -> None:
        self.open = set(open_flows)
        self.flaky = dict(flaky or {})
        self.errors = set(errors)
        self.calls: list[Key] = []

    def connect(
        self, src: Endpoint, dst: Endpoint, port: int, protocol: Protocol, timeout_s: float
    ) -> tuple[Observation, str]:
        key = (src.ref, dst.ref, protocol.value, port)
        self.calls.append(key)
        if key in self.errors:
            return Observation.ERROR, "fake: probe could not run"
        if self.flaky.get(key, 0) > 0:
            self.flaky[key] -= 1
            return Observation.BLOCKED, "fake: flaked"
        if key in self.open:
            return Observation.ALLOWED, "fake: connected"
        return Observation.BLOCKED, "fake: timed out"


def utc_now() -> str:
    """Current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _probe_one(
    matrix: Matrix,
    prober: Prober,
    src: int,
    slot_index: int,
    *,
    tries: int,
    timeout_s: float,
    expected: bool | None,
    clock: Callable[[], str],
) -> ProbeResult:
    slot = matrix.slots[slot_index]
    source, dest = matrix.endpoints[src], matrix.endpoints[slot.endpoint]
    attempts: list[ProbeAttempt] = []
    for _ in range(tries):
        at = clock()
        t0 = time.monotonic()
        observed, detail = prober.connect(source, dest, slot.port, slot.protocol, timeout_s)
        elapsed_ms = round((time.monotonic() - t0) * 1000.0, 3)
        attempts.append(ProbeAttempt(at, observed, elapsed_ms, detail))
        if observed is Observation.ALLOWED:
            break
    seen = {a.observed for a in attempts}
    final = (
        Observation.ALLOWED
        if Observation.ALLOWED in seen
        else Observation.ERROR
        if seen == {Observation.ERROR}
        else Observation.BLOCKED
    )
    return ProbeResult(
        from_=source.ref,
        to=dest.ref,
        port=slot.port,
        protocol=slot.protocol.value,
        predicted=matrix.is_allowed(src, slot_index),
        expected=expected,
        observed=final,
        tries=len(attempts),
        attempts=tuple(attempts),
    )


def _control_candidates(matrix: Matrix, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Up to 5 allowed flows: those asked for first, then any of the matrix."""
    out: list[tuple[int, int]] = []
    for pair in itertools.chain(pairs, matrix.pairs()):
        if matrix.is_allowed(*pair) and pair not in out:
            out.append(pair)
            if len(out) == _CONTROL_CANDIDATES:
                break
    return out


def probe_flows(
    matrix: Matrix,
    prober: Prober,
    *,
    method: str,
    flows: Iterable[tuple[int, int]] | None = None,
    expected: Mapping[tuple[int, int], bool] | None = None,
    tries: int = 3,
    timeout_s: float = 1.0,
    clock: Callable[[], str] = utc_now,
) -> ProbeRun:
    """Probe ``flows`` ((source, slot index) pairs; default: the whole matrix), control first."""
    if tries < 1:
        raise ValueError("tries must be at least 1")
    pairs = list(matrix.pairs() if flows is None else flows)
    started = clock()
    expected = expected or {}

    def one(pair: tuple[int, int], want: bool | None) -> ProbeResult:
        return _probe_one(
            matrix, prober, *pair, tries=tries, timeout_s=timeout_s, expected=want, clock=clock
        )

    # the control: an allowed flow among those asked for, else any allowed flow of the matrix;
    # a candidate whose probe cannot run (error: no pod to exec in) is skipped for the next one
    candidates = _control_candidates(matrix, pairs)
    control = None
    for pair in candidates:
        control = one(pair, None)
        if control.observed is not Observation.ERROR:
            break
    verified = control is not None and control.observed is Observation.ALLOWED
    results = [one(pair, expected.get(pair)) for pair in pairs] if verified else []
    if verified:
        notes = ""
    elif control is None:
        notes = "enforcement not verified: no allowed flow to use as a positive control"
    elif control.observed is Observation.ERROR:
        detail = control.attempts[-1].detail if control.attempts else ""
        notes = f"enforcement not verified: the positive control could not be probed ({detail})"
    else:
        notes = "enforcement not verified: the positive control did not connect"
    verdicts = [r.correct for r in results]
    return ProbeRun(
        method=method,
        started_at=started,
        finished_at=clock(),
        enforcement_verified=verified,
        control=control,
        results=tuple(results),
        correct=verdicts.count(True),
        wrong=verdicts.count(False),
        no_value=verdicts.count(None),
        tries_per_flow=tries,
        timeout_s=timeout_s,
        notes=notes,
    )
