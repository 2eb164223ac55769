"""Independent verifier of the reference service's audit trail (docs/AUDIT_FORMAT.md).

Written from the format document, not from the writer, and importing nothing from
reference_service: an auditor that shares code with the audited system would share its bugs. The
MAC is checked over the exact bytes of the line (the fixed-shape ``mac`` suffix cut off), so this
module needs no canonical JSON serialiser of its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec

from harness.audit.model import AuditReport, Head, Problem, ProblemKind, StreamReport
from harness.audit.pan_gate import pan_column
from harness.audit.record_shape import v3_members_valid
from harness.errors import ArtifactError

__all__ = [
    "RecordVisitor",
    "VerifiedRecord",
    "decode_features",
    "stream_names",
    "verify_directory",
]

#: The newest decision-record format; versions 2 and 3 are accepted. A version-1 record lacks
#: ``thresholds_version`` and so is reported as MISSING_FIELD (members are checked for presence
#: before ``v``'s value).
FORMAT_VERSION = 3
#: ``v`` of a repair record (its members did not change with version 3).
REPAIR_FORMAT_VERSION = 2
GENESIS = "0" * 64
MAX_PAN_PROBLEMS = 1000
_SEGMENT = re.compile(r"audit-(?P<stream>[A-Za-z0-9][A-Za-z0-9_-]{0,63})-(?P<num>\d{6,})\.jsonl")
_LOCK = re.compile(r"\.audit-[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.lock")
_MAC_SUFFIX = re.compile(rb',"mac":"([0-9a-f]{64})"\}\Z')
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LAST4 = re.compile(r"[0-9]{4}")
_TS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def _is_str(v: object) -> bool:
    return isinstance(v, str)


def _is_hex64(v: object) -> bool:
    return isinstance(v, str) and _HEX64.fullmatch(v) is not None


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_last4(v: object) -> bool:
    return v is None or (isinstance(v, str) and _LAST4.fullmatch(v) is not None)


def _is_latency(v: object) -> bool:
    return isinstance(v, int | float) and _is_number(v) and v >= 0


def decode_features(v: object) -> bytes | None:
    """The bytes of a ``features`` member (standard base64, padded, a multiple of 4 bytes: float32
    values), or None when it is not that."""
    if not isinstance(v, str) or not v:
        return None
    try:
        raw = base64.b64decode(v.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return raw if raw and len(raw) % 4 == 0 else None


# (member, predicate, what was expected) in document order; "mac" is checked separately.
_FIELDS: tuple[tuple[str, Callable[[object], bool], str], ...] = (
    ("v", lambda v: type(v) is int and v in (2, 3), "format version 2 or 3"),
    ("stream", _is_str, "a string"),
    ("seq", lambda v: type(v) is int and v >= 0, "an integer >= 0"),
    ("prev", _is_hex64, "64 lowercase hex digits"),
    ("ts", lambda v: isinstance(v, str) and _TS.fullmatch(v) is not None, "RFC 3339 UTC, 6 digits"),
    ("request_id", _is_str, "a string"),
    ("transaction_id", _is_str, "a string"),
    ("card_token", lambda v: isinstance(v, str) and not v.isdigit(), "a token, not digits"),
    ("last4", _is_last4, "4 digits or null"),
    ("model_version", _is_str, "a string"),
    ("model_sha256", _is_hex64, "64 lowercase hex digits"),
    ("feature_hash", _is_hex64, "64 lowercase hex digits"),
    ("score", _is_number, "a finite number"),
    ("decision", lambda v: v in ("approve", "review", "decline"), "approve, review or decline"),
    ("thresholds_version", lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    ("reason_codes", lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v),
     "an array of strings"),
    ("degraded", lambda v: isinstance(v, bool), "a boolean"),
    ("latency_ms", _is_latency, "a finite number >= 0"),
)  # fmt: skip

#: Version 3 adds the model input as scored (docs/AUDIT_FORMAT.md).
_FIELDS_V3: tuple[tuple[str, Callable[[object], bool], str], ...] = (
    *_FIELDS,
    ("features", lambda v: decode_features(v) is not None,
     "base64 of little-endian float32 bytes"),
    ("feature_schema", lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    ("missing_features", lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v),
     "an array of strings"),
)  # fmt: skip


#: Members of a repair record (written by ``slo-harness audit repair``, docs/AUDIT_FORMAT.md).
REPAIR_TYPE = "repair"
_REPAIR_FIELDS: tuple[tuple[str, Callable[[object], bool], str], ...] = (
    ("v", lambda v: type(v) is int and v == REPAIR_FORMAT_VERSION,
     f"format version {REPAIR_FORMAT_VERSION}"),
    ("type", lambda v: v == REPAIR_TYPE, "repair"),
    ("stream", _is_str, "a string"),
    ("seq", lambda v: type(v) is int and v >= 0, "an integer >= 0"),
    ("prev", _is_hex64, "64 lowercase hex digits"),
    ("ts", lambda v: isinstance(v, str) and _TS.fullmatch(v) is not None, "RFC 3339 UTC, 6 digits"),
    ("segment", _is_str, "a string"),
    ("offset", lambda v: type(v) is int and v >= 0, "an integer >= 0"),
    ("quarantine_file", _is_str, "a string"),
    ("quarantined_bytes", lambda v: type(v) is int and v >= 0, "an integer >= 0"),
    ("quarantined_sha256", _is_hex64, "64 lowercase hex digits"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class VerifiedRecord:
    """Where a decision record sits in its verified chain (``record`` is the parsed line)."""

    record: dict[str, object]
    file: str
    line: int
    mac: str
    #: the decoded ``features`` bytes of a format-3 record (verified against feature_hash)
    features: bytes | None = None


#: Called with each decision record whose HMAC, members, seq and prev verified, in chain order
#: per stream (repair records are not passed). Used by replay and the decision dossier.
RecordVisitor = Callable[[VerifiedRecord], None]


@dataclass(slots=True)
class _Chain:
    """Running state of one stream while its lines are read."""

    stream: str
    mac: hmac.HMAC
    next_seq: int = 0
    prev: str = GENESIS
    records: int = 0
    broken: Problem | None = None
    pans: list[Problem] = field(default_factory=list)
    repairs: int = 0
    #: seq -> mac of the records an expected head names (filled while reading)
    wanted: dict[int, str | None] = field(default_factory=dict)
    visit: RecordVisitor | None = None
    scan_pans: bool = True


def _problem(chain: _Chain, kind: ProblemKind, file: str, line: int | None, detail: str) -> Problem:
    return Problem(kind, chain.stream, file, line, chain.next_seq, detail)


_FAST_JSON: Final = msgspec.json.Decoder()


def _loads(raw: bytes) -> object:
    """``json.loads(raw)``, the verifier's reference parser, about 4x faster: msgspec first (it
    gives the same values on everything it accepts, big integers included; a test holds them
    equal), json.loads for what msgspec refuses (NaN, 1e400, lone surrogates, a BOM), so the
    verdict on odd lines does not change. Raises ValueError like json.loads."""
    try:
        return _FAST_JSON.decode(raw)
    except msgspec.DecodeError:
        return json.loads(raw)


def _check_members(
    chain: _Chain,
    obj: dict[str, object],
    fields: tuple[tuple[str, Callable[[object], bool], str], ...],
    file: str,
    lineno: int,
) -> Problem | None:
    """The reference member check: presence, then each predicate in document order."""
    missing = [name for name, _, _ in fields if name not in obj]
    if missing:
        detail = "missing member(s): " + ", ".join(missing)
        return _problem(chain, ProblemKind.MISSING_FIELD, file, lineno, detail)
    for name, ok, expected in fields:
        if not ok(obj[name]):
            detail = f"member {name}: expected {expected}"
            return _problem(chain, ProblemKind.INVALID_FIELD, file, lineno, detail)
    return None


def _check_record(chain: _Chain, raw: bytes, file: str, lineno: int) -> Problem | None:
    """Verify one complete line (without its newline); advance the chain when it is intact."""
    try:
        obj = _loads(raw)
    except ValueError:
        return _problem(chain, ProblemKind.UNPARSABLE, file, lineno, "line is not valid JSON")
    if not isinstance(obj, dict):
        return _problem(chain, ProblemKind.UNPARSABLE, file, lineno, "line is not a JSON object")
    if "mac" not in obj:
        return _problem(chain, ProblemKind.MISSING_FIELD, file, lineno, "member mac is missing")
    suffix = _MAC_SUFFIX.search(raw)
    if suffix is None:
        return _problem(chain, ProblemKind.TAMPERED, file, lineno, "mac is not the final member")
    digest = chain.mac.copy()
    digest.update(raw[: suffix.start()] + b"}")
    if not hmac.compare_digest(digest.hexdigest().encode("ascii"), suffix.group(1)):
        return _problem(chain, ProblemKind.TAMPERED, file, lineno, "HMAC does not verify")
    if obj.get("type") == REPAIR_TYPE:
        fields = _REPAIR_FIELDS
    else:
        fields = _FIELDS_V3 if obj.get("v") == 3 else _FIELDS
    features: bytes | None = None
    if fields is _FIELDS_V3 and v3_members_valid(obj):
        # the fast path: every member checked in C (record_shape.py); its check is implied by
        # the table's, which runs whenever it says no and then names the member
        features = decode_features(obj["features"])
    if features is None:
        problem = _check_members(chain, obj, fields, file, lineno)
        if problem is not None:
            return problem
        features = decode_features(obj["features"]) if fields is _FIELDS_V3 else None
    if features is not None and hashlib.sha256(features).hexdigest() != obj["feature_hash"]:
        detail = "member feature_hash: expected the SHA-256 of the decoded features"
        return _problem(chain, ProblemKind.INVALID_FIELD, file, lineno, detail)
    if obj["stream"] != chain.stream:
        detail = "member stream differs from the stream in the file name"
        return _problem(chain, ProblemKind.INVALID_FIELD, file, lineno, detail)
    if obj["seq"] != chain.next_seq:
        detail = f"seq {obj['seq']} where {chain.next_seq} was expected"
        return _problem(chain, ProblemKind.SEQ_GAP, file, lineno, detail)
    if obj["prev"] != chain.prev:
        detail = "prev is not the mac of the previous record"
        return _problem(chain, ProblemKind.BROKEN_LINK, file, lineno, detail)
    chain.prev = suffix.group(1).decode("ascii")
    if chain.visit is not None and fields is not _REPAIR_FIELDS:
        chain.visit(VerifiedRecord(obj, file, lineno, chain.prev, features))
    if chain.next_seq in chain.wanted:
        chain.wanted[chain.next_seq] = chain.prev
    chain.next_seq += 1
    chain.records += 1
    chain.repairs += fields is _REPAIR_FIELDS
    return None


def _seq_of(raw: bytes) -> int | None:
    m = re.search(rb'"seq":(\d{1,18})[,}]', raw)
    return int(m.group(1)) if m else None


def _read_segment(chain: _Chain, path: Path, pan_budget: list[int]) -> None:
    """Check every line of one segment (chain checks stop at the stream's first problem)."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            complete = raw.endswith(b"\n")
            body = raw[:-1] if complete else raw
            column = pan_column(body) if chain.scan_pans else None
            if column is not None:
                pan_budget[0] += 1  # lines with PANs in the whole directory
                if pan_budget[0] <= MAX_PAN_PROBLEMS:
                    chain.pans.append(
                        Problem(ProblemKind.PAN_PRESENT, chain.stream, path.name, lineno,
                                _seq_of(body), f"PAN-like number at byte {column}")
                    )  # fmt: skip
            if chain.broken is not None:
                continue
            if not complete:
                detail = "last line has no newline: torn or truncated write"
                chain.broken = _problem(
                    chain, ProblemKind.TRUNCATED_TAIL, path.name, lineno, detail
                )
                continue
            chain.broken = _check_record(chain, body, path.name, lineno)


def _verify_stream(
    directory: Path,
    stream: str,
    segs: list[tuple[int, str]],
    key: bytes,
    pan_budget: list[int],
    heads: list[Head],
    visit: RecordVisitor | None,
    scan_pans: bool,
) -> tuple[StreamReport, list[Problem]]:
    chain = _Chain(stream=stream, mac=hmac.new(key, digestmod=hashlib.sha256), visit=visit)
    chain.scan_pans = scan_pans
    chain.wanted = {h.seq: None for h in heads}
    for expected, (number, name) in enumerate(segs, start=1):
        if chain.broken is None and number != expected:
            missing = f"audit-{stream}-{expected:06d}.jsonl"
            detail = f"segment {expected} is missing (next present: {number})"
            chain.broken = _problem(chain, ProblemKind.MISSING_SEGMENT, missing, None, detail)
        _read_segment(chain, directory / name, pan_budget)
    report = StreamReport(
        stream=stream,
        segments=tuple(name for _, name in segs),
        records=chain.records,
        last_seq=chain.next_seq - 1 if chain.records else None,
        head_mac=chain.prev if chain.records else None,
        ok=chain.broken is None and not chain.pans,
        repairs=chain.repairs,
    )
    problems = ([chain.broken] if chain.broken else []) + chain.pans
    problems += [_head_problem(chain, h) for h in heads if chain.wanted.get(h.seq) != h.mac]
    return report, problems


def _head_problem(chain: _Chain, head: Head) -> Problem:
    found = chain.wanted.get(head.seq)
    if found is None:
        detail = (
            f"expected head seq {head.seq} is not in the verified chain (it ends at seq "
            f"{chain.next_seq - 1}): newest records or segments were removed or are broken"
        )
    else:
        detail = f"record seq {head.seq} has a different mac than the expected head"
    return Problem(ProblemKind.HEAD_MISSING, chain.stream, "-", None, head.seq, detail)


def stream_names(directory: Path) -> list[str]:
    """The stream ids that have segment files in ``directory`` (sorted; [] if unreadable)."""
    try:
        names = [p.name for p in directory.iterdir()]
    except OSError:
        return []
    return sorted({m.group("stream") for n in names if (m := _SEGMENT.fullmatch(n))})


def verify_directory(
    directory: Path,
    key: bytes,
    expect_heads: tuple[Head, ...] | list[Head] = (),
    *,
    visit: RecordVisitor | None = None,
    scan_pans: bool = True,
    only_streams: frozenset[str] | None = None,
) -> AuditReport:
    """Verify every stream in ``directory``; every ``expect_heads`` entry (a head recorded
    elsewhere, e.g. in a run report) must be in its stream's verified chain with the same mac,
    so removed newest records, segments or whole streams are found. ``visit`` sees every verified
    decision record (streams in name order, records in chain order). ``scan_pans=False`` skips
    the PAN scan (the costliest check, about three quarters of the time per line) and keeps
    every chain check; only ``audit replay --skip-pan-scan`` asks for it. ``only_streams`` limits
    the check to those streams (a parallel replay splits a directory by stream). Raises
    ArtifactError if the directory cannot be listed."""
    try:
        names = sorted(p.name for p in directory.iterdir())
    except OSError as exc:
        raise ArtifactError(f"cannot read audit directory {directory}: {exc.strerror}") from None
    streams: dict[str, list[tuple[int, str]]] = {}
    ignored: list[str] = []
    for name in names:
        m = _SEGMENT.fullmatch(name)
        if m and (directory / name).is_file():
            streams.setdefault(m.group("stream"), []).append((int(m.group("num")), name))
        elif not _LOCK.fullmatch(name):
            ignored.append(name)
    reports: list[StreamReport] = []
    problems: list[Problem] = []
    pan_budget = [0]
    for stream in sorted(set(streams) | {h.stream for h in expect_heads}):
        if only_streams is not None and stream not in only_streams:
            continue
        heads = [h for h in expect_heads if h.stream == stream]
        segs = sorted(streams.get(stream, []))
        report, found = _verify_stream(
            directory, stream, segs, key, pan_budget, heads, visit, scan_pans
        )
        reports.append(report)
        problems.extend(found)
    return AuditReport(
        directory=str(directory),
        ok=not problems,
        streams=tuple(reports),
        record_count=sum(r.records for r in reports),
        problems=tuple(problems),
        pan_lines=pan_budget[0],
        ignored=tuple(ignored),
    )
