"""Human and machine renderings of an :class:`AuditReport` (the CLI prints one of them)."""

from __future__ import annotations

import json
import re

from harness.audit.model import AuditReport, Head, Problem
from harness.audit.replay import ReplayReport
from harness.errors import UsageError

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "parse_head",
    "render_replay_text",
    "render_text",
    "replay_json",
    "report_json",
]

_HEAD = re.compile(r"([A-Za-z0-9][A-Za-z0-9_-]{0,63}):([0-9]{1,18}):([0-9a-f]{64})")


def parse_head(text: str) -> Head:
    """``STREAM:SEQ:MAC`` (as ``audit verify`` prints and reports record) -> Head."""
    m = _HEAD.fullmatch(text.strip())
    if m is None:
        raise UsageError(
            f"--expect-head {text[:80]!r}: expected STREAM:SEQ:MAC (stream id, last seq, "
            "64 lowercase hex digits)"
        )
    return Head(m.group(1), int(m.group(2)), m.group(3))


REPORT_SCHEMA_VERSION = 1


def _where(p: Problem) -> str:
    line = f" line {p.line}" if p.line is not None else ""
    seq = f" seq {p.seq}" if p.seq is not None else ""
    return f"{p.file}{line}{seq}"


def render_text(report: AuditReport) -> str:
    """Multi-line summary: verdict and record count, each stream, each problem, ignored files."""
    n_streams = len(report.streams)
    verdict = "INTACT" if report.ok else "BROKEN"
    out = [
        f"audit trail {report.directory}: {verdict}: {report.record_count} records verified "
        f"in {n_streams} stream{'s' if n_streams != 1 else ''}"
    ]
    if not report.streams:
        out.append("  no audit segments found")
    for s in report.streams:
        head = "" if s.head_mac is None else f", head {s.stream}:{s.last_seq}:{s.head_mac}"
        if s.repairs:
            head += f", {s.repairs} repair record(s)"
        status = "ok" if s.ok else "BROKEN"
        out.append(f"  stream {s.stream}: {status}, {len(s.segments)} segment(s), "
                   f"{s.records} records{head}")  # fmt: skip
    for p in report.problems:
        out.append(f"  {p.kind.name} stream {p.stream} at {_where(p)}: {p.detail}")
    shown = sum(1 for p in report.problems if p.kind.name == "PAN_PRESENT")
    if report.pan_lines > shown:
        out.append(f"  ... {report.pan_lines - shown} more lines with PAN-like numbers")
    for name in report.ignored:
        out.append(f"  ignored (not a segment): {name}")
    return "\n".join(out)


def report_json(report: AuditReport) -> bytes:
    """Stable JSON document of the report (UTF-8, sorted keys, trailing newline)."""
    doc = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "directory": report.directory,
        "ok": report.ok,
        "record_count": report.record_count,
        "pan_lines": report.pan_lines,
        "streams": [
            {
                "stream": s.stream,
                "ok": s.ok,
                "segments": list(s.segments),
                "records": s.records,
                "last_seq": s.last_seq,
                "head_mac": s.head_mac,
                "repairs": s.repairs,
            }
            for s in report.streams
        ],
        "problems": [
            {
                "kind": p.kind.value,
                "stream": p.stream,
                "file": p.file,
                "line": p.line,
                "seq": p.seq,
                "detail": p.detail,
            }
            for p in report.problems
        ],
        "ignored": list(report.ignored),
    }
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def render_replay_text(report: ReplayReport) -> str:
    """The chain verdict, then the replay verdict, figures and every listed mismatch."""
    out = [render_text(report.audit)]
    verdict = "REPRODUCED" if report.mismatch_count == 0 else "NOT REPRODUCED"
    out.append(
        f"replay: {verdict}: {report.reproduced} of {report.replayed} decisions reproduce "
        f"(score tolerance {report.tolerance:g}; {report.records_per_s:,.0f} records/s)"
    )
    for sha, path in report.models:
        out.append(f"  model {path}: SHA-256 {sha}")
    if report.thresholds_versions:
        out.append("  thresholds versions: " + ", ".join(report.thresholds_versions))
    for m in report.mismatches:
        out.append(
            f"  MISMATCH stream {m.stream} seq {m.seq} ({m.file} line {m.line}) "
            f"transaction {m.transaction_id}: " + "; ".join(m.differences)
        )
    if report.mismatch_count > len(report.mismatches):
        out.append(f"  ... {report.mismatch_count - len(report.mismatches)} more mismatches")
    return "\n".join(out)


def replay_json(report: ReplayReport) -> bytes:
    """Stable JSON of a replay: the verification report plus the replay's figures."""
    doc = json.loads(report_json(report.audit))
    doc["replay"] = {
        "ok": report.ok,
        "replayed": report.replayed,
        "reproduced": report.reproduced,
        "mismatch_count": report.mismatch_count,
        "tolerance": report.tolerance,
        "records_per_s": round(report.records_per_s, 1),
        "models": [{"sha256": sha, "file": path} for sha, path in report.models],
        "thresholds_versions": list(report.thresholds_versions),
        "mismatches": [
            {
                "stream": m.stream,
                "seq": m.seq,
                "file": m.file,
                "line": m.line,
                "transaction_id": m.transaction_id,
                "differences": list(m.differences),
            }
            for m in report.mismatches
        ],
    }
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
