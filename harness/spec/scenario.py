"""The scenario file: what to send, to whom, at which rate, in which phases.

Parsed once at the edge (``load_scenario``) into frozen msgspec Structs; unknown keys are errors so
a typo (``rat: 300``) fails loudly instead of silently running the default. The phases and the
rate schedule they make live in :mod:`harness.spec.phases`.

Defaults and why:
- ``timeout_ms`` 2000: 40x the 50 ms SLO, so a timeout is a failure, never a latency sample hidden
  by a short cut-off; well below the 60 s histogram ceiling.
- ``max_concurrency`` 256 (k6's maxVUs): at 2,000 requests/s that absorbs 128 ms of target latency
  before the cap bites; hitting it is counted and reported, never silent.
- ``lateness_ms`` 5: a send more than 5 ms after its intended time is counted late. The measured
  wake-up overshoot of a gevent sleep here is ~0.7 ms median with a noisy tail of a few ms; 5 ms is
  above that tail, yet 10% of the 50 ms SLO, so "late" flags the generator really falling behind.
- ``generator.max_cpu_percent`` 90 (Locust's own cpu_warning level) and
  ``generator.max_lag_p99_ms`` 10: beyond that the generator, not the target, would be 20% of a
  50 ms p99 budget, and the run is declared unmeasurable (exit 3).
"""

from __future__ import annotations

import enum
import hashlib
import re
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from harness.errors import SpecError
from harness.measure import PhaseKind, PhaseMeta, ScenarioRef
from harness.spec._load import load_spec
from harness.spec._scenario_messages import sharpen
from harness.spec.phases import (
    Name,
    Phase,
    ScheduledPhase,
    Share,
    _Spec,
)
from harness.spec.requests import (
    BUILTIN_REQUESTS,
    DataOrder,
    HealthSpec,
    Method,
    RequestSpec,
    Status,
    V2Generate,
    secret_refs,
)
from harness.spec.tls import AllowText, TlsSpec, check_allow_entry, resolve_tls_files

__all__ = [
    "Arrival",
    "Endpoint",
    "GeneratorLimits",
    "MixEntry",
    "PayloadSpec",
    "Scenario",
    "load_scenario",
    "scenario_ref",
]


class Endpoint(enum.Enum):
    """What a request hits; ``value`` is also the endpoint name in histograms and reports."""

    SCORE = "score"
    INFER = "infer"
    HEALTH = "health"

    @property
    def method(self) -> str:
        """HTTP method."""
        return "GET" if self is Endpoint.HEALTH else "POST"

    @property
    def path(self) -> str:
        """Request path on the target."""
        return _PATHS[self]


_PATHS: Final = {
    Endpoint.SCORE: "/v1/score",
    Endpoint.INFER: "/v2/models/fraud/infer",
    Endpoint.HEALTH: "/v2/health/ready",
}


class Arrival(enum.Enum):
    """How intended send times are spaced: evenly (wrk2) or as a Poisson process."""

    CONSTANT = "constant"
    POISSON = "poisson"


class MixEntry(_Spec, frozen=True):
    """One endpoint's share of the requests (weights are relative, need not sum to 1)."""

    endpoint: Endpoint
    weight: Annotated[float, Meta(gt=0, le=1e6)]


class PayloadSpec(_Spec, frozen=True):
    """The synthetic transaction generator (``harness.payload``)."""

    seed: Annotated[int, Meta(ge=0, le=2**63 - 1)] = 1
    cards: Annotated[int, Meta(ge=1, le=10_000_000)] = 10_000  # distinct synthetic cards
    pan_share: Share = 0.2  # requests sending a (synthetic) PAN instead of a card_token
    fraud_share: Share = 0.02  # requests following a fraud-like pattern
    cross_border_share: Share = 0.1  # merchant country differs from the billing country


class GeneratorLimits(_Spec, frozen=True):
    """Bounds on the generator itself; beyond them the run is invalid (exit 3)."""

    max_cpu_percent: Annotated[float, Meta(gt=0, le=100)] = 90.0
    max_lag_p99_ms: Annotated[float, Meta(gt=0, le=60_000)] = 10.0


# -- the scenario -------------------------------------------------------------------------------
class Scenario(_Spec, frozen=True):
    """A whole scenario file."""

    name: Name
    phases: Annotated[tuple[Phase, ...], Meta(min_length=1, max_length=100)]
    #: The reference service's calls by name (``score``/``infer``/``health``); the older form of
    #: ``requests``. Neither given: ``score`` only.
    mix: Annotated[tuple[MixEntry, ...], Meta(min_length=1, max_length=3)] | None = None
    #: What to send (``harness.spec.requests``); exclusive with ``mix``.
    requests: Annotated[tuple[RequestSpec, ...], Meta(min_length=1, max_length=100)] | None = None
    health: HealthSpec = HealthSpec()
    #: Statuses that mean "refused on purpose" (admission control): counted as shed, not failed,
    #: unless a request's ``expect.status`` lists them.
    shed_status: Annotated[tuple[Status, ...], Meta(max_length=100)] = (503,)
    description: str = ""
    target: str | None = None  # base URL; None: the harness launches the reference service
    slo: str | None = None  # SLO file, relative to the scenario file (resolved by load_scenario)
    payload: PayloadSpec = PayloadSpec()
    arrival: Arrival = Arrival.CONSTANT
    timeout_ms: Annotated[float, Meta(gt=0, le=60_000)] = 2000.0
    max_concurrency: Annotated[int, Meta(ge=1, le=100_000)] = 256
    lateness_ms: Annotated[float, Meta(ge=0, le=60_000)] = 5.0
    interval_s: Annotated[float, Meta(ge=0.1, le=60)] = 1.0
    generator: GeneratorLimits = GeneratorLimits()
    main_phase: str | None = None  # default: the first phase that is not a warm-up
    tls: TlsSpec | None = None  # https:// targets (harness/spec/tls.py); None: system trust store
    allow: Annotated[tuple[AllowText, ...], Meta(max_length=64)] = ()  # hosts/networks beyond
    # loopback and 198.18.0.0/15 that load may go to (harness/spec/tls.py)

    def __post_init__(self) -> None:
        if self.target is not None:
            _check_url(self.target)
        for i, entry in enumerate(self.allow):
            try:
                check_allow_entry(entry)
            except ValueError as exc:
                raise ValueError(f"allow[{i}]: expected {exc}") from None
        names = [p.name for p in self.phases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"phases: expected unique names, {dupes} repeated")
        seen_measured = False
        for i, p in enumerate(self.phases):
            if p.kind is PhaseKind.WARMUP and seen_measured:
                raise ValueError(
                    f"phases[{i}]: expected warm-up phases before all others ({p.name!r} follows "
                    "a measured phase)"
                )
            seen_measured = seen_measured or p.kind is not PhaseKind.WARMUP
        if not seen_measured:
            raise ValueError("phases: expected at least one phase that is not a warm-up")
        if self.main_phase is not None:
            by_name = {p.name: p for p in self.phases}
            if self.main_phase not in by_name:
                raise ValueError(f"main_phase: expected one of {names}, got {self.main_phase!r}")
            if by_name[self.main_phase].kind is PhaseKind.WARMUP:
                raise ValueError("main_phase: expected a phase that is not a warm-up")
        if self.mix is not None and self.requests is not None:
            raise ValueError("requests: expected either requests or mix, not both")
        endpoints = [m.endpoint for m in self.mix or ()]
        if len(set(endpoints)) != len(endpoints):
            raise ValueError("mix: expected each endpoint at most once")
        names = [r.name for r in self.requests or ()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"requests: expected unique names, {dupes} repeated")

    # -- derived -----------------------------------------------------------------------------
    @property
    def request_table(self) -> tuple[RequestSpec, ...]:
        """What this scenario sends: ``requests``, or the built-in entries ``mix`` names (with its
        weights), or the built-in ``score`` alone."""
        if self.requests is not None:
            return self.requests
        mix = self.mix or (MixEntry(endpoint=Endpoint.SCORE, weight=1.0),)
        return tuple(
            msgspec.structs.replace(BUILTIN_REQUESTS[m.endpoint.value], weight=m.weight)
            for m in mix
        )

    @property
    def endpoint_names(self) -> tuple[str, ...]:
        """The endpoint names requests are recorded under, in table order."""
        return tuple(r.name for r in self.request_table)

    @property
    def secrets_used(self) -> tuple[str, ...]:
        """``env:NAME`` / ``file:PATH`` references in headers (never their values)."""
        return secret_refs(self.request_table, self.health.headers)

    @property
    def main(self) -> Phase:
        """The phase that ``--rate``/``--duration`` override."""
        name = self.main_phase
        for p in self.phases:
            if (name is None and p.kind is not PhaseKind.WARMUP) or p.name == name:
                return p
        raise AssertionError("validated in __post_init__")

    @property
    def slo_path(self) -> Path | None:
        """The SLO file (absolute once loaded by :func:`load_scenario`), or None."""
        return Path(self.slo) if self.slo is not None else None

    @property
    def duration_s(self) -> float:
        """Total scheduled length of the run, seconds."""
        return sum(p.length_s for p in self.phases)

    @property
    def peak_rate(self) -> float:
        """Highest intended arrival rate anywhere in the run."""
        return max(p.peak_rate for p in self.phases)

    def schedule(self) -> tuple[ScheduledPhase, ...]:
        """Phases back to back from t = 0."""
        out: list[ScheduledPhase] = []
        t = 0.0
        for p in self.phases:
            out.append(ScheduledPhase(p, t))
            t += p.length_s
        return tuple(out)

    def phase_metas(self) -> tuple[PhaseMeta, ...]:
        """One :class:`PhaseMeta` per phase, for ``Recorder.build``."""
        return tuple(s.meta() for s in self.schedule())

    def rate_at(self, t: float) -> float:
        """Intended arrival rate at ``t`` seconds after the run start."""
        for s in self.schedule():
            if s.start_s <= t < s.end_s:
                return s.phase.rate_at(t - s.start_s)
        return 0.0

    def with_overrides(
        self,
        *,
        rate: float | None = None,
        duration_s: float | None = None,
        target: str | None = None,
        file: str = "<scenario>",
    ) -> Scenario:
        """A copy with the main phase's rate/duration and the target replaced.

        Rate: steady/soak/warmup set ``rate``; ramp sets ``to_rate`` (the peak); spike sets
        ``spike_rate``; step scales every step so the highest equals ``rate``. Duration: sets
        ``duration_s``; a spike keeps its window's offsets (it must still fit); a step scales
        every step's length proportionally. An override that makes the scenario invalid is a
        UsageError naming the flag, ``file`` and the field (see ``harness.spec._overrides``).
        """
        from harness.spec._overrides import apply_overrides

        return apply_overrides(self, rate=rate, duration_s=duration_s, target=target, file=file)


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ValueError(
            f"target: expected an http:// or https:// URL like http://127.0.0.1:8080, got {url!r}"
        )


# -- loading -------------------------------------------------------------------------------------
_CHOICES: Final = {
    "kind": ", ".join(k.value for k in PhaseKind),
    "endpoint": ", ".join(e.value for e in Endpoint),
    "arrival": ", ".join(a.value for a in Arrival),
    "min_version": "1.2, 1.3",
    "method": ", ".join(m.value for m in Method),
    "body": "none, fraud_transaction, or a mapping with one of fraud_transaction, v2_infer, "
    "template, template_file, file",
    "order": ", ".join(o.value for o in DataOrder),
    "generate": ", ".join(g.value for g in V2Generate),
}


_BODY_FIELD: Final = re.compile(r"\.requests\[\d+\]\.body\.[^.]+$")


def load_scenario(path: Path) -> Scenario:
    """Parse and validate a scenario file; ``slo`` comes back resolved against the file's folder.

    Every problem is a :class:`SpecError` naming the file, the field path and what was expected.
    """
    try:
        scenario = load_spec(path, Scenario)
    except SpecError as exc:
        sharp = sharpen(exc, _CHOICES)
        if _BODY_FIELD.search(sharp.path) and "unknown field" in sharp.expected:
            sharp = SpecError(sharp.file, sharp.path, f"a body kind: {_CHOICES['body']}")
        raise sharp from None
    from harness.spec._requests_check import prepare_headers, prepare_requests

    if scenario.requests is not None:
        scenario = msgspec.structs.replace(
            scenario, requests=prepare_requests(scenario.requests, path)
        )
    if scenario.health.headers:
        health = msgspec.structs.replace(
            scenario.health,
            headers=prepare_headers(scenario.health.headers, "$.health.headers", path),
        )
        scenario = msgspec.structs.replace(scenario, health=health)
    if scenario.slo is not None:
        resolved = (path.parent / scenario.slo).resolve()
        if not resolved.is_file():
            raise SpecError(str(path), "$.slo", f"an existing SLO file (not found: {resolved})")
        scenario = msgspec.structs.replace(scenario, slo=str(resolved))
    if scenario.tls is not None:
        tls = resolve_tls_files(scenario.tls, path.parent, str(path))
        scenario = msgspec.structs.replace(scenario, tls=tls)
    return scenario


def scenario_ref(path: Path, scenario: Scenario) -> ScenarioRef:
    """Provenance of a scenario: its name, path and the SHA-256 of the file's bytes."""
    return ScenarioRef(scenario.name, str(path), hashlib.sha256(path.read_bytes()).hexdigest())
