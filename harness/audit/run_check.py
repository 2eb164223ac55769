"""The audit objective of a run against the embedded service: is its trail intact and complete,
and does every decision reproduce from its record?

Shared by every job that starts the reference service itself (``run`` in ``harness.pipeline``,
``gameday`` in ``harness.gameday_job``): after the service was stopped (SIGTERM: it drains and
flushes its trail), :func:`check_audit_trail` verifies the chain of every stream, compares the
record count with the score requests the load saw (each OK score response needs its record; no
more records than score requests completed) and replays every record with the packaged model
and the built-in ``default-1`` thresholds the embedded service runs with. The result is the
:class:`~harness.measure.AuditCheck` on ``RunResult.audit``, which ``harness.slo.evaluate`` turns
into one more objective (``audit trail intact, decisions reproducible``).

A service that was killed and restarted during the run (a game day's ``kill`` of the whole
service) leaves one stream per process: each is verified on its own, and the counts are summed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from harness.audit.inputs import replay_inputs
from harness.audit.render import render_text
from harness.audit.replay import replay_directory
from harness.measure import AuditCheck, Clock, RunResult
from harness.spec import Endpoint

__all__ = ["check_audit_trail"]

SCORE: Final = Endpoint.SCORE.value  # the histogram name of /v1/score
#: Mismatches quoted in the audit objective's reason (all are counted).
_MISMATCHES_QUOTED: Final = 3


def check_audit_trail(directory: Path, key: bytes, result: RunResult) -> AuditCheck:
    """Verify the embedded service's chain, that every OK score response has its record, and
    that every decision reproduces from its record (replayed with the packaged model and the
    built-in thresholds the embedded service ran with)."""
    models, rules = replay_inputs((), ())
    replay = replay_directory(directory, key, models, [th for th, _ in rules])
    report = replay.audit
    problems = [render_text(report)] if not report.ok else []
    if replay.mismatch_count:
        quoted = "; ".join(
            f"{m.stream} seq {m.seq}: {', '.join(m.differences)}"
            for m in replay.mismatches[:_MISMATCHES_QUOTED]
        )
        problems.append(
            f"{replay.mismatch_count} of {replay.replayed} decisions do not reproduce from their "
            f"records (slo-harness audit replay lists them): {quoted}"
        )
    score_ok = sum(p.latency(endpoint=SCORE).count for p in result.phases)
    score_sent = sum(
        h.count + h.out_of_range
        for p in result.phases
        for k, h in p.histograms.items()
        if k.endpoint == SCORE and k.clock is Clock.INTENDED
    )
    if report.record_count < score_ok:
        problems.append(
            f"{score_ok - report.record_count} OK score responses have no audit record "
            f"({report.record_count} records for {score_ok} OK responses)"
        )
    if report.record_count > score_sent:
        problems.append(
            f"{report.record_count} audit records but only {score_sent} score requests completed"
        )
    return AuditCheck(
        intact=not problems,
        records=report.record_count,
        streams=len(report.streams),
        problems=tuple(problems),
        heads=tuple(f"{s.stream}:{s.last_seq}:{s.head_mac}" for s in report.streams if s.head_mac),
    )
