"""Decision counters read from a service's Prometheus ``/metrics`` (the game day's degraded count).

The reference service counts every decision (``slo_decisions_total{decision}``) and every decision
scored without its velocity features (``slo_degraded_decisions_total{cause}``: the feature store
timed out, failed or its circuit breaker was open). A game day reads both at each step's
boundaries and reports the difference, so a step can say how many decisions were degraded while
its fault was on, and judge that against the step's ``degraded_allowed``.

Honesty rules: a metric family that the exposition does not contain is *not reported* (None),
never 0; a family that is present with no samples (declared, nothing counted yet) is 0. The
reference service creates its degraded counter's children at start, so the family is present in
both its single-process and multiprocess (``--workers N``) expositions. Values are summed over
all label values (causes, decisions). Parsing is the text format's sample line
(``name{labels} value [timestamp]``); prometheus_client is the service's dependency, not the
harness's, and the two families need no more than a line match.

:class:`CounterScraper` keeps one HTTP client (bounded timeout, no proxies from the environment)
for the game day; a failed scrape (timeout, refused, non-200) is None, never an exception: a
stalled or killed service must not stop the game day's timeline.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

import httpx

from harness.target.address import check_target_allowed

__all__ = [
    "DECISIONS_METRIC",
    "DEGRADED_METRIC",
    "METRICS_PATH",
    "CounterScraper",
    "DecisionCounters",
    "parse_decision_counters",
]

METRICS_PATH: Final = "/metrics"
DECISIONS_METRIC: Final = "slo_decisions_total"
DEGRADED_METRIC: Final = "slo_degraded_decisions_total"
_SAMPLE: Final = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?[ \t]+(?P<value>\S+)(?:[ \t]+\S+)?[ \t]*$"
)
_DECLARED: Final = re.compile(r"^#[ \t]+TYPE[ \t]+(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)[ \t]")


@dataclass(frozen=True, slots=True)
class DecisionCounters:
    """Cumulative counts since the service (process) started; None: the family is not exposed."""

    decisions: float | None
    degraded: float | None


def _family(name: str) -> tuple[str, ...]:
    """Sample names that belong to counter ``name`` (``x_total``'s family is declared as ``x``)."""
    base = name.removesuffix("_total")
    return (name, base)


def parse_decision_counters(text: str) -> DecisionCounters:
    """The two counters from an exposition text (see the module docstring)."""
    wanted = {
        DECISIONS_METRIC: _family(DECISIONS_METRIC),
        DEGRADED_METRIC: _family(DEGRADED_METRIC),
    }
    sums: dict[str, float | None] = dict.fromkeys(wanted)
    for line in text.splitlines():
        declared = _DECLARED.match(line)
        if declared is not None:
            for metric, names in wanted.items():
                if declared["name"] in names and sums[metric] is None:
                    sums[metric] = 0.0
            continue
        if line.startswith("#"):
            continue
        sample = _SAMPLE.match(line)
        if sample is None or sample["name"] not in wanted:
            continue
        try:
            value = float(sample["value"])
        except ValueError:
            continue
        if math.isfinite(value) and value >= 0:
            sums[sample["name"]] = (sums[sample["name"]] or 0.0) + value
    return DecisionCounters(decisions=sums[DECISIONS_METRIC], degraded=sums[DEGRADED_METRIC])


class CounterScraper:
    """Reads :class:`DecisionCounters` from ``base_url``/metrics; see the module docstring."""

    def __init__(self, base_url: str, timeout_s: float = 0.5) -> None:
        check_target_allowed(base_url)
        self.url = base_url.rstrip("/") + METRICS_PATH
        self._client = httpx.Client(timeout=timeout_s, trust_env=False)
        self.last_error: str | None = None

    def __call__(self) -> DecisionCounters | None:
        """The counters now, or None (``last_error`` says why)."""
        try:
            response = self._client.get(self.url)
        except httpx.HTTPError as exc:
            self.last_error = f"GET {METRICS_PATH}: {exc.__class__.__name__}"
            return None
        if response.status_code != 200:
            self.last_error = f"GET {METRICS_PATH}: HTTP {response.status_code}"
            return None
        self.last_error = None
        return parse_decision_counters(response.text)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __enter__(self) -> CounterScraper:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
