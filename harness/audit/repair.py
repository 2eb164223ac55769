"""``audit repair``: move a torn tail out of a stream and close the gap with a chained record.

A crash (kill -9, power loss) can leave the last line of a stream's last segment half written:
``TRUNCATED_TAIL``. That line was never acknowledged (in durable mode a response waits for its
record's fsync), but until it is dealt with the stream does not verify, and deleting it by hand
would be an undocumented edit of an audit trail. The repair, as docs/AUDIT_FORMAT.md specifies:

1. verify the directory; only streams whose *only* problem is ``TRUNCATED_TAIL`` in their *last*
   segment are repaired (anything else is tampering or loss and stays visible);
2. copy the bytes after the last verified record into
   ``quarantine/<segment>.<offset>.torn`` (created exclusively, fsynced), so nothing is lost;
3. truncate the segment to the end of the last verified record and fsync it;
4. append a **repair record** chained to that record (next ``seq``, ``prev`` = its mac, HMAC
   with the audit key) that names the segment, the offset, the quarantine file, and the
   quarantined bytes' length and SHA-256; fsync.

The result verifies as intact, and the repair stays visible in the chain forever. Running it
twice changes nothing (the second run finds no torn tail). Needs the audit key: only a holder of
the key can write a record the verifier accepts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from harness.audit.model import ProblemKind
from harness.audit.verify import REPAIR_FORMAT_VERSION, REPAIR_TYPE, verify_directory
from harness.errors import ArtifactError
from harness.files import atomic_write_bytes

__all__ = ["QUARANTINE_DIR", "RepairOutcome", "repair_directory"]

QUARANTINE_DIR = "quarantine"


@dataclass(frozen=True, slots=True)
class RepairOutcome:
    """What one repair did: per repaired stream, the quarantine file; streams left alone."""

    repaired: tuple[tuple[str, str], ...]  # (stream, quarantine file name)
    refused: tuple[tuple[str, str], ...]  # (stream, why it was not repaired)


def _ts(now_s: float) -> str:
    whole = int(now_s)
    frac = int((now_s - whole) * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{frac:06d}Z"


def _sealed(record: dict[str, object], key: bytes) -> bytes:
    """The stored line of ``record`` (canonical bytes + mac as last member, newline)."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    c = canonical.encode("utf-8")
    mac = hmac.new(key, c, hashlib.sha256).hexdigest()
    return c[:-1] + f',"mac":"{mac}"}}\n'.encode("ascii")


def _cut_offset(segment: Path, last_seq: int | None) -> int:
    """Byte offset just after the record ``last_seq`` in ``segment`` (0 if it is not there)."""
    if last_seq is None:
        return 0
    offset = 0
    cut = 0
    with segment.open("rb") as fh:
        for raw in fh:
            offset += len(raw)
            if not raw.endswith(b"\n"):
                break
            try:
                seq = json.loads(raw).get("seq")
            except (ValueError, AttributeError):
                break
            if seq == last_seq:
                cut = offset
                break
    return cut


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _repair_stream(
    directory: Path, stream: str, segment: str, last_seq: int | None, head: str | None, key: bytes
) -> str:
    path = directory / segment
    cut = _cut_offset(path, last_seq)
    data = path.read_bytes()
    torn = data[cut:]
    qdir = directory / QUARANTINE_DIR
    qdir.mkdir(mode=0o700, exist_ok=True)
    qname = f"{segment}.{cut}.torn"
    # whole or absent, never over an earlier quarantine; its name durable before the cut
    atomic_write_bytes(qdir / qname, torn, mode=0o600, exclusive=True)
    _fsync_dir(qdir)
    record: dict[str, object] = {
        "v": REPAIR_FORMAT_VERSION,
        "type": REPAIR_TYPE,
        "stream": stream,
        "seq": 0 if last_seq is None else last_seq + 1,
        "prev": head or "0" * 64,
        "ts": _ts(time.time()),
        "segment": segment,
        "offset": cut,
        "quarantine_file": f"{QUARANTINE_DIR}/{qname}",
        "quarantined_bytes": len(torn),
        "quarantined_sha256": hashlib.sha256(torn).hexdigest(),
    }
    with path.open("r+b") as fh:
        fh.truncate(cut)
        fh.seek(cut)
        fh.write(_sealed(record, key))
        fh.flush()
        os.fsync(fh.fileno())
    return qname


def repair_directory(directory: Path, key: bytes) -> RepairOutcome:
    """Repair every stream of ``directory`` whose only problem is a torn tail (see module doc)."""
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: not a directory")
    report = verify_directory(directory, key)
    repaired: list[tuple[str, str]] = []
    refused: list[tuple[str, str]] = []
    for s in report.streams:
        problems = [p for p in report.problems if p.stream == s.stream]
        if not problems:
            continue
        kinds = {p.kind for p in problems}
        last_segment = s.segments[-1] if s.segments else None
        if kinds != {ProblemKind.TRUNCATED_TAIL} or problems[0].file != last_segment:
            why = ", ".join(sorted(k.value for k in kinds))
            refused.append((s.stream, f"not a torn tail of the last segment ({why}); left as is"))
            continue
        assert last_segment is not None  # a TRUNCATED_TAIL names a segment
        qname = _repair_stream(directory, s.stream, last_segment, s.last_seq, s.head_mac, key)
        repaired.append((s.stream, qname))
    return RepairOutcome(tuple(repaired), tuple(refused))
