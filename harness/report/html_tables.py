"""The tables of ``report.html``: each a :class:`Table` of preformatted cells (layout only in
the template; every number formatted once, here). Used by :mod:`harness.report.html_report`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from harness.chaos import Journal
from harness.measure import Clock, RunResult
from harness.report.gameday import step_headers, step_rows
from harness.report.junit import format_value
from harness.report.provenance import Provenance
from harness.report.responses import secrets_line
from harness.report.stats import LatencySummary, endpoint_counts, summarise
from harness.report.view import Cell, Table
from harness.slo import Comparison, ObjectiveStatus, Verdict

__all__ = [
    "audit_table",
    "comparison_summary",
    "comparison_table",
    "facts_table",
    "faults_table",
    "gameday_table",
    "generator_table",
    "latency_table",
    "objectives_table",
    "phases_table",
    "provenance_table",
]

_STATUS_CLASS: Final = {
    ObjectiveStatus.PASS: "pass",
    ObjectiveStatus.FAIL: "fail",
    ObjectiveStatus.INSUFFICIENT: "insufficient",
}


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _int(value: int) -> str:
    return f"{value:,}"


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _latency_cells(s: LatencySummary) -> list[Cell]:
    return [Cell(_ms(s.get(k))) for k in ("p50", "p90", "p95", "p99", "p99_9", "max")]


def _pairs(pairs: Sequence[tuple[str, str]], caption: str = "") -> Table:
    return Table(("", ""), [[Cell(k, "key"), Cell(v)] for k, v in pairs], caption)


def facts_table(result: RunResult, p: Provenance) -> Table:
    model = " ".join(x for x in (result.target.model_name, result.target.model_version) if x)
    duration = (result.ended_at - result.started_at).total_seconds()
    return _pairs(
        [
            ("Scenario", f"{result.scenario.name} ({result.scenario.path})"),
            (
                "Target",
                p.target_url
                + (" (started by the harness)" if result.target.started_by_harness else ""),
            ),
            ("Model", model or "unknown"),
            ("Run", f"{_when(result.started_at)} to {_when(result.ended_at)} ({duration:.1f} s)"),
            ("Load", f"{result.workers} worker processes" if result.workers else "local runner"),
            ("Harness", f"slo-harness {p.harness_version}"),
            ("Commit", (p.git_commit or "unknown") + (" (dirty)" if p.git_dirty else "")),
            *([("Secrets used (names only)", secrets_line(result))] if result.secrets_used else []),
        ]
    )


def objectives_table(verdict: Verdict) -> Table:
    return Table(
        ("Status", "Objective", "Phase", "Endpoint", "Observed", "Required", "Samples", "Reason"),
        [
            [
                Cell(o.status.value.upper(), f"badge {_STATUS_CLASS[o.status]}"),
                Cell(o.name),
                Cell(o.phase),
                Cell(o.endpoint or "all"),
                Cell(format_value(o.observed, o.unit), "num"),
                Cell(f"{o.op} {format_value(o.threshold, o.unit)}", "num"),
                Cell("n/a" if o.samples is None else _int(o.samples), "num"),
                Cell(o.reason, "reason"),
            ]
            for o in verdict.objectives
        ],
    )


def phases_table(result: RunResult) -> Table:
    rows = []
    for p in result.phases:
        c = p.counts
        rows.append(
            [
                Cell(p.name + ("" if p.in_verdict else " (warm-up)")),
                Cell(p.kind.value),
                Cell(f"{p.start_s:.1f}"),
                Cell(f"{p.duration_s:.1f}"),
                Cell(f"{p.offered_rps:.1f}"),
                Cell(f"{p.achieved_rps:.1f}"),
                *(Cell(_int(v)) for v in (c.sent, c.ok, c.failed, c.shed, c.late, c.unsent)),
            ]
        )
    return Table(
        ("Phase", "Kind", "Start s", "Duration s", "Offered/s", "Achieved/s", "Sent", "OK",
         "Failed", "Shed", "Late", "Unsent"),
        rows,
        "Offered: the schedule's mean rate; achieved: completed responses per second. Late "
        "requests were sent after the lateness bound (and still measured); unsent ones could not "
        "be sent before the phase ended.",
        numeric_from=2,
    )  # fmt: skip


def latency_table(result: RunResult) -> Table:
    rows = []
    for p in result.phases:
        for endpoint in (None, *p.endpoints):
            intended = summarise(p.latency(endpoint=endpoint))
            service = summarise(p.latency(endpoint=endpoint, clock=Clock.SERVICE))
            ok = p.counts.ok if endpoint is None else endpoint_counts(p, endpoint).ok
            rows.append(
                [
                    Cell(p.name if endpoint is None else ""),
                    Cell(endpoint or "all endpoints"),
                    Cell(_int(ok)),
                    *_latency_cells(intended),
                    Cell(_ms(service.p50)),
                    Cell(_ms(service.p99)),
                ]
            )
    return Table(
        ("Phase", "Endpoint", "OK", "p50", "p90", "p95", "p99", "p99.9", "max", "service p50",
         "service p99"),
        rows,
        "Milliseconds from the intended send time (coordinated-omission corrected) over OK "
        "responses; service time from the actual send.",
        numeric_from=2,
    )  # fmt: skip


def generator_table(result: RunResult) -> Table:
    g = result.generator
    return _pairs(
        [
            ("Valid", "yes" if g.valid else "NO: " + "; ".join(g.reasons)),
            ("CPU (median / max)", f"{g.cpu_percent_p50:.1f}% / {g.cpu_percent_max:.1f}%"),
            (
                "Schedule lag (p99 / max)",
                f"{g.schedule_lag_p99_ms:.3f} ms / {g.schedule_lag_max_ms:.3f} ms",
            ),
            ("Concurrency (peak / cap)", f"{g.concurrency_peak:,} / {g.concurrency_cap:,}"),
            ("Cap hits", f"{g.cap_hits:,}"),
        ]
    )


def comparison_summary(c: Comparison) -> str:
    outcome = "REGRESSED" if c.regressed else "no regression"
    return (
        f"{outcome}: {c.new_label} against baseline {c.base_label}; a metric regresses only when "
        f"the change is statistically significant (alpha {c.alpha:g}) and larger than the "
        f"{c.tolerance * 100:.4g}% tolerance."
    )


def comparison_table(c: Comparison) -> Table:
    rows = []
    for m in c.metrics:
        ci = (
            f"[{m.ci_low:.3f}, {m.ci_high:.3f}]"
            if m.ci_low is not None and m.ci_high is not None
            else ""
        )
        rows.append(
            [
                Cell(
                    "REGRESSED" if m.regressed else "ok",
                    "badge " + ("fail" if m.regressed else "pass"),
                ),
                Cell(m.phase),
                Cell(m.endpoint or "all"),
                Cell(m.metric),
                Cell(f"{m.base_ms:.3f}", "num"),
                Cell(f"{m.new_ms:.3f}", "num"),
                Cell(f"{m.ratio:.3f}", "num"),
                Cell(ci, "num"),
                Cell("" if m.p_value is None else f"{m.p_value:.3g}", "num"),
                Cell(m.rule.value),
                Cell(m.reason, "reason"),
            ]
        )
    return Table(
        ("Result", "Phase", "Endpoint", "Metric", "Base ms", "New ms", "Ratio", "CI of ratio",
         "p", "Rule", "Reason"),
        rows,
    )  # fmt: skip


def faults_table(result: RunResult) -> Table | None:
    if not result.fault_windows:
        return None
    return Table(
        ("Fault", "From s", "To s"),
        [
            [Cell(w.name), Cell(f"{w.start_s:.1f}", "num"), Cell(f"{w.end_s:.1f}", "num")]
            for w in result.fault_windows
        ],
    )


def gameday_table(journal: Journal) -> Table:
    rows = [
        [Cell(v, "num" if i >= 3 and v[:1].isdigit() else "") for i, v in enumerate(row)]
        for row in step_rows(journal.steps)
    ]
    return Table(
        step_headers(),
        rows,
        "Offsets in seconds from the run start (warm-up included). Detected: end of the first "
        "rolling window that broke the hypothesis after the injection; recovered: after the "
        "rollback, until the hypothesis held for the whole hold. Budget: share of the game day's "
        "error (failed) and latency (slower than the SLO) budget burned from injection to "
        "recovery.",
    )


def audit_table(result: RunResult) -> Table | None:
    a = result.audit
    if a is None:
        return None
    return _pairs(
        [
            ("State", "intact" if a.intact else "BROKEN OR INCOMPLETE"),
            ("Records", f"{a.records:,} decision records in {a.streams} stream(s)"),
            *(("Problem", p) for p in a.problems),
        ],
        "Verified after the embedded reference service stopped: the hash chain is intact and "
        "every OK score response has its audit record.",
    )


def provenance_table(p: Provenance) -> Table:
    packages = ", ".join(f"{pkg.name} {pkg.version or 'not installed'}" for pkg in p.packages)
    return _pairs(
        [
            ("Harness version", p.harness_version),
            ("Git commit", p.git_commit or "unknown (not a git checkout)"),
            ("Working tree", {True: "dirty", False: "clean", None: "unknown"}[p.git_dirty]),
            ("Scenario file", f"{p.scenario_path} (SHA-256 {p.scenario_sha256 or 'unreadable'})"),
            (
                "SLO file",
                "embedded default"
                if p.slo_path is None
                else f"{p.slo_path} (SHA-256 {p.slo_sha256 or 'unreadable'})",
            ),
            ("Target", p.target_url),
            ("Model", " ".join(x for x in (p.model_name, p.model_version) if x) or "unknown"),
            ("Model SHA-256", p.model_sha256 or "unknown"),
            ("Host", p.host),
            ("CPU", f"{p.cpu_model} x {p.cpu_count}"),
            ("OS", f"{p.os} (kernel {p.kernel})"),
            ("Python", p.python_version),
            ("Packages", packages),
            ("Started (UTC)", p.started_at.isoformat()),
            ("Ended (UTC)", p.ended_at.isoformat()),
            ("Command line", " ".join(p.command_line)),
            *_connection_rows(p),
        ]
    )


def _connection_rows(p: Provenance) -> list[tuple[str, str]]:
    c = p.connection
    if c is None:
        return []
    rows = [
        ("Load allowed to", "; ".join(c.allowlist)),
        ("Target addresses", ", ".join(c.addresses) + " (resolved once, each checked)"),
    ]
    t = c.tls
    if t is None:
        return [*rows, ("TLS", "none (http://)")]
    verify = (
        f"verified against {t.ca_file or 'the system trust store'} as {t.server_name}"
        if t.verify
        else "NOT VERIFIED (insecure: true)"
    )
    rows.append(
        (
            "TLS",
            f"{t.negotiated_version or '?'} {t.cipher or ''} (min {t.min_version}); server "
            f"certificate {verify}",
        )
    )
    if t.server_cert_sha256:
        rows.append(
            (
                "Server certificate",
                f"{t.server_cert_subject or '?'}, SHA-256 {t.server_cert_sha256}, "
                f"valid until {t.server_cert_not_after or '?'}",
            )
        )
    if t.client_cert_file:
        rows.append(
            (
                "Client certificate (mTLS)",
                f"{t.client_cert_file}: {t.client_cert_subject or '?'}, "
                f"SHA-256 {t.client_cert_sha256 or '?'}",
            )
        )
    return rows
