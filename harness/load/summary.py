"""The end-of-run summary the Locust plugin prints (and writes as JSON on request).

Numbers come from the HDR histograms of the RunResult: latency from the intended send time
(coordinated-omission corrected) next to service time (from the actual send), in milliseconds,
with three significant digits, never from Locust's rounded stats. Pure: no Locust import.
"""

from __future__ import annotations

from typing import Any, Final

from harness.measure import Clock, EndpointResponses, LatencyHistogram, Outcome, RunResult

__all__ = ["PERCENTILES", "render_summary", "summary_json"]

PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9)
Verdict = tuple[str, tuple[str, ...]] | None


def _row(hist: LatencyHistogram) -> dict[str, float]:
    values = hist.percentiles_us(PERCENTILES)
    row = {f"p{p:g}".replace(".", "_"): values[p] / 1000.0 for p in PERCENTILES}
    row["max"] = hist.max_us / 1000.0
    return row


def _responses(result: RunResult, phase: str) -> dict[str, dict[str, Any]]:
    """Per endpoint of ``phase``: status codes with counts and failure kinds with counts (the
    masked body samples stay in the report family; a console summary has no room for them)."""
    by_endpoint: dict[str, EndpointResponses] = {
        r.endpoint: r for r in result.responses if r.phase == phase
    }
    return {
        name: {
            "statuses": dict(r.statuses),
            "failures": [
                {"kind": f.kind, "outcome": f.outcome.value, "count": f.count} for f in r.failures
            ],
        }
        for name, r in sorted(by_endpoint.items())
    }


def summary_json(result: RunResult, verdict: Verdict = None) -> dict[str, Any]:
    """The summary as plain JSON-able data."""
    phases = []
    for p in result.phases:
        c = p.counts
        phases.append(
            {
                "name": p.name,
                "kind": p.kind.value,
                "in_verdict": p.in_verdict,
                "offered_rps": p.offered_rps,
                "achieved_rps": p.achieved_rps,
                "requests": {
                    "sent": c.sent,
                    "ok": c.ok,
                    "failed": c.failed,
                    "shed": c.shed,
                    "late": c.late,
                    "unsent": c.unsent,
                },
                "latency_ms": _row(p.latency()),
                "service_time_ms": _row(p.latency(clock=Clock.SERVICE)),
                "failed_latency_ms": _row(p.latency(outcomes=(Outcome.FAILED, Outcome.SHED))),
                "responses": _responses(result, p.name),
            }
        )
    g = result.generator
    return {
        "scenario": result.scenario.name,
        "target": result.target.url,
        "workers": result.workers,
        "phases": phases,
        "generator": {
            "valid": g.valid,
            "reasons": list(g.reasons),
            "cpu_percent_p50": g.cpu_percent_p50,
            "cpu_percent_max": g.cpu_percent_max,
            "schedule_lag_p99_ms": g.schedule_lag_p99_ms,
            "concurrency_cap": g.concurrency_cap,
            "concurrency_peak": g.concurrency_peak,
            "cap_hits": g.cap_hits,
        },
        "verdict": None if verdict is None else {"status": verdict[0], "reasons": list(verdict[1])},
    }


def render_summary(result: RunResult, verdict: Verdict = None) -> str:
    """A fixed-width text table per phase, then the generator's health and the verdict."""
    data = summary_json(result, verdict)
    lines = [
        f"slo-harness summary: {data['scenario']} -> {data['target']}"
        + (f" ({data['workers']} workers)" if data["workers"] else ""),
        "latency (ms) from the intended send time; service = from the actual send",
        f"{'phase':<12}{'sent':>8}{'ok':>8}{'failed':>7}{'late':>6}{'unsent':>7}"
        f"{'p50':>9}{'p90':>9}{'p99':>9}{'p99.9':>9}{'max':>9}  clock",
    ]
    for p in data["phases"]:
        r = p["requests"]
        for label, row in (("intended", p["latency_ms"]), ("service", p["service_time_ms"])):
            head = (
                f"{p['name']:<12}{r['sent']:>8}{r['ok']:>8}{r['failed'] + r['shed']:>7}"
                f"{r['late']:>6}{r['unsent']:>7}"
                if label == "intended"
                else " " * 48
            )
            lines.append(
                head
                + "".join(f"{row[k]:>9.3f}" for k in ("p50", "p90", "p99", "p99_9", "max"))
                + f"  {label}"
            )
        for endpoint, seen in p["responses"].items():
            statuses = ", ".join(f"{code}: {n:,}" for code, n in seen["statuses"].items())
            lines.append(f"{'':<12}{endpoint}: {statuses}")
    g = data["generator"]
    lines.append(
        f"generator: {'valid' if g['valid'] else 'INVALID'}; CPU p50 {g['cpu_percent_p50']:.0f}% "
        f"max {g['cpu_percent_max']:.0f}%; schedule lag p99 {g['schedule_lag_p99_ms']:.2f} ms; "
        f"slots {g['concurrency_cap']} (peak {g['concurrency_peak']}, cap hits {g['cap_hits']})"
    )
    lines.extend(f"  - {reason}" for reason in g["reasons"])
    if data["verdict"] is not None:
        lines.append(f"verdict: {data['verdict']['status'].upper()}")
        lines.extend(f"  - {reason}" for reason in data["verdict"]["reasons"])
    return "\n".join(lines)
