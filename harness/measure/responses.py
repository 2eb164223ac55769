"""What came back, per phase and endpoint: status codes with counts, and the first few failures
of each kind with a body snippet (card-number-like digit runs masked).

Why next to the histograms: a report that says "90% errors" without saying "404 from /v1/score"
sends its reader to Locust's console. Latency lives in histograms; this is the companion count
of *what* each response was.

Keys of ``statuses``: the HTTP status as a string ("200", "503"), or for a request without a
response its transport failure ("timeout", "connect_failed", "connection_lost",
"protocol_error"). A failure *kind* groups failures for samples: ``HTTP 404``, ``HTTP 200: body
check: ...`` (a 2xx whose body check failed), ``timeout``, ... Each kind keeps its count and at
most :data:`SAMPLES_PER_KIND` snippets of at most :data:`SNIPPET_CHARS` characters.

Cost on the hot path: one dict update per response (status keys are pre-built strings); a
failure adds a second update and, for its first few samples only, a snippet decode. Processes
merge exactly: counts add, samples fill up to the bound in arrival order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import msgspec

from harness.measure.result import Outcome
from harness.pan_scan import find_pans, normalise

__all__ = [
    "SAMPLES_PER_KIND",
    "SNIPPET_CHARS",
    "EndpointResponses",
    "FailureKind",
    "ResponseTally",
    "mask_snippet",
    "status_key",
]

SAMPLES_PER_KIND: Final = 3
SNIPPET_CHARS: Final = 200
#: Bound on distinct failure kinds per (phase, endpoint): messages that vary per request (an
#: errno, a port) must not grow the table without end; the rest count under "other".
MAX_KINDS: Final = 50
_STATUS_KEYS: Final = tuple(str(i) for i in range(1000))
#: 12+ digits, optionally split by single separators: what could be (part of) a card number.
_DIGIT_RUN: Final = re.compile(r"\d(?:[\s\-._/:]?\d){11,}")
_WITHHELD: Final = "[snippet withheld: it may contain a card number]"


def status_key(status: int) -> str:
    """The ``statuses`` key of an HTTP status (cached strings: no allocation per response)."""
    return _STATUS_KEYS[status] if 0 <= status < 1000 else str(status)


def mask_snippet(raw: bytes | str) -> str:
    """A printable snippet (at most SNIPPET_CHARS) with long digit runs replaced by ``#``; the
    whole snippet is withheld if a card-number candidate survives the masking."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = _DIGIT_RUN.sub("#", normalise(text[: SNIPPET_CHARS * 2]))
    text = "".join(c if c.isprintable() else " " for c in text)[:SNIPPET_CHARS]
    return _WITHHELD if find_pans(text) else text


@dataclass(frozen=True, slots=True)
class FailureKind:
    """One kind of failure of one endpoint in one phase."""

    kind: str
    outcome: Outcome  # FAILED or SHED
    count: int
    samples: tuple[str, ...]  # masked snippets (or error messages), first ones seen


@dataclass(frozen=True, slots=True)
class EndpointResponses:
    """Statuses and failures of one endpoint in one phase."""

    phase: str
    endpoint: str
    statuses: Mapping[str, int]
    failures: tuple[FailureKind, ...] = ()


class _Failures:
    """One failure kind's running count and first samples (mutable, per process)."""

    __slots__ = ("count", "outcome", "samples")

    def __init__(self, outcome: str, count: int = 0) -> None:
        self.outcome = outcome
        self.count = count
        self.samples: list[str] = []


class _Wire(msgspec.Struct, array_like=True):
    statuses: list[tuple[str, str, str, int]]
    failures: list[tuple[str, str, str, str, int, list[str]]]


class ResponseTally:
    """The mutable tally of one generator process (see the module docstring)."""

    __slots__ = ("_failures", "_statuses")

    def __init__(self) -> None:
        self._statuses: dict[tuple[str, str, str], int] = {}
        self._failures: dict[tuple[str, str, str], _Failures] = {}

    def status(self, phase: str, endpoint: str, key: str) -> None:
        """Count one response (or transport failure) under ``key``."""
        k = (phase, endpoint, key)
        statuses = self._statuses
        statuses[k] = statuses.get(k, 0) + 1

    def status_counts(self) -> dict[tuple[str, str, str], int]:
        """The live counts behind :meth:`status`, (phase, endpoint, key) -> responses, for a hot
        path that counts inline (the generator's completion); the same dict for the tally's life."""
        return self._statuses

    def failure(
        self, phase: str, endpoint: str, kind: str, outcome: Outcome, sample: bytes | str
    ) -> None:
        """Count one failure of ``kind``; keep its sample while the kind is below the bound."""
        self._add_failure(phase, endpoint, kind, outcome.value, 1, (sample,))

    def _add_failure(
        self,
        phase: str,
        endpoint: str,
        kind: str,
        outcome: str,
        count: int,
        samples: tuple[bytes | str, ...] | list[str],
    ) -> None:
        key = (phase, endpoint, kind)
        entry = self._failures.get(key)
        if entry is None:
            kinds = sum(1 for p, e, _ in self._failures if p == phase and e == endpoint)
            if kinds >= MAX_KINDS:
                key = (phase, endpoint, "other")
                entry = self._failures.get(key)
            if entry is None:
                entry = self._failures[key] = _Failures(outcome)
        entry.count += count
        kept = entry.samples
        for sample in samples:
            if len(kept) >= SAMPLES_PER_KIND:
                break
            kept.append(mask_snippet(sample))

    def merge(self, other: ResponseTally) -> None:
        """Add another process's tally (exact counts; samples up to the bound)."""
        for k, n in other._statuses.items():
            self._statuses[k] = self._statuses.get(k, 0) + n
        for (phase, endpoint, kind), f in other._failures.items():
            self._add_failure(phase, endpoint, kind, f.outcome, f.count, f.samples)

    def to_wire(self) -> bytes:
        """msgpack bytes for a worker's final report."""
        wire = _Wire(
            [(*k, n) for k, n in self._statuses.items()],
            [
                (p, e, kind, f.outcome, f.count, f.samples)
                for (p, e, kind), f in self._failures.items()
            ],
        )
        return msgspec.msgpack.encode(wire)

    @classmethod
    def from_wire(cls, data: bytes) -> ResponseTally:
        """Inverse of :meth:`to_wire` (raises ``msgspec.DecodeError`` on bad bytes)."""
        wire = msgspec.msgpack.decode(data, type=_Wire)
        tally = cls()
        for phase, endpoint, key, n in wire.statuses:
            tally._statuses[(phase, endpoint, key)] = n
        for phase, endpoint, kind, outcome, n, samples in wire.failures:
            entry = tally._failures[(phase, endpoint, kind)] = _Failures(outcome, n)
            entry.samples.extend(samples[:SAMPLES_PER_KIND])
        return tally

    def build(self) -> tuple[EndpointResponses, ...]:
        """The frozen per-(phase, endpoint) view, sorted by phase then endpoint."""
        groups: dict[tuple[str, str], dict[str, int]] = {}
        for (phase, endpoint, key), n in self._statuses.items():
            groups.setdefault((phase, endpoint), {})[key] = n
        failures: dict[tuple[str, str], list[FailureKind]] = {}
        for (phase, endpoint, kind), f in self._failures.items():
            groups.setdefault((phase, endpoint), {})
            failures.setdefault((phase, endpoint), []).append(
                FailureKind(kind, Outcome(f.outcome), f.count, tuple(f.samples))
            )
        return tuple(
            EndpointResponses(
                phase,
                endpoint,
                dict(sorted(statuses.items())),
                tuple(
                    sorted(failures.get((phase, endpoint), []), key=lambda f: (-f.count, f.kind))
                ),
            )
            for (phase, endpoint), statuses in sorted(groups.items())
        )
