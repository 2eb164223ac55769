"""Result values of an audit-trail verification: frozen; a broken trail is a value, not an error."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["AuditReport", "Head", "Problem", "ProblemKind", "StreamReport"]


class ProblemKind(enum.Enum):
    """What is wrong at one position of a trail (docs/AUDIT_FORMAT.md, verifier checks)."""

    TAMPERED = "tampered"
    BROKEN_LINK = "broken_link"
    SEQ_GAP = "seq_gap"
    TRUNCATED_TAIL = "truncated_tail"
    MISSING_SEGMENT = "missing_segment"
    UNPARSABLE = "unparsable"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    PAN_PRESENT = "pan_present"
    HEAD_MISSING = "head_missing"  # an expected head (seq, mac) is not in the verified chain


@dataclass(frozen=True, slots=True)
class Head:
    """A stream's chain head as recorded elsewhere (a run report): last seq and its mac."""

    stream: str
    seq: int
    mac: str

    def __str__(self) -> str:
        return f"{self.stream}:{self.seq}:{self.mac}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding. ``line`` is 1-based (None for a missing segment); ``seq`` is the chain position
    where the problem sits (the seq the record should have had), None for PAN findings on lines
    without a readable seq. ``detail`` never contains record content."""

    kind: ProblemKind
    stream: str
    file: str
    line: int | None
    seq: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class StreamReport:
    """One stream's chain: verified records up to the first problem, and its head for anchoring."""

    stream: str
    segments: tuple[str, ...]
    records: int
    last_seq: int | None
    head_mac: str | None
    ok: bool
    repairs: int = 0  # repair records (audit repair) in the verified chain


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Verdict over a whole directory. ``record_count`` counts verified records of all streams;
    ``pan_lines`` counts every line with a PAN-like number (problems list at most the first 1000);
    ``ignored`` names files that are not segments."""

    directory: str
    ok: bool
    streams: tuple[StreamReport, ...]
    record_count: int
    problems: tuple[Problem, ...]
    pan_lines: int
    ignored: tuple[str, ...]
