"""Human and machine renderings of an :class:`AuditReport` (the CLI prints one of them)."""

from __future__ import annotations

import json
import re

from harness.audit.model import AuditReport, Head, Problem
from harness.errors import UsageError

__all__ = ["REPORT_SCHEMA_VERSION", "parse_head", "render_text", "report_json"]

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
