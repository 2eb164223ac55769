"""Segment files of one stream: naming, creation, locking and resuming.

File names are ``audit-<stream>-<NNNNNN>.jsonl`` (segment numbers from 1, six digits, so names
sort in chain order). Segments are created with O_EXCL and mode 0600, and the directory is fsynced
after each creation so the new name itself survives a crash. A per-stream ``flock`` on
``.audit-<stream>.lock`` guarantees one writer per stream even when a stream id is reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from dataclasses import dataclass
from pathlib import Path

from reference_service.audit.errors import AuditError
from reference_service.audit.record import GENESIS_MAC

__all__ = [
    "STREAM_ID",
    "ChainHead",
    "StreamLock",
    "create_segment",
    "fsync_dir",
    "resume_head",
    "segment_name",
]

#: Allowed stream ids: short, file-name safe.
STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SEGMENT = re.compile(r"audit-(?P<stream>.+)-(?P<num>\d{6,})\.jsonl")
_TAIL_READ = 1 << 16  # bytes read from a segment's end to find its last record (records ~0.6 KiB)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a stream's chain continues: next seq, MAC of the last record, next segment number."""

    seq: int
    prev: str
    next_segment: int


def segment_name(stream: str, number: int) -> str:
    """File name of segment ``number`` (1-based) of ``stream``."""
    return f"audit-{stream}-{number:06d}.jsonl"


def fsync_dir(directory: Path) -> None:
    """Make directory entries (a new segment's name) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_segment(directory: Path, stream: str, number: int) -> int:
    """Create segment ``number`` exclusively (0600) and fsync the directory; returns the fd."""
    path = directory / segment_name(stream, number)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        fsync_dir(directory)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _segments_of(directory: Path, stream: str) -> list[tuple[int, Path]]:
    found: list[tuple[int, Path]] = []
    for path in directory.iterdir():
        m = _SEGMENT.fullmatch(path.name)
        if m and m["stream"] == stream:
            found.append((int(m["num"]), path))
    return sorted(found)


def _last_line(path: Path) -> bytes | None:
    """The last complete line of ``path``; None if empty. Raises AuditError on a torn tail."""
    with path.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return None
        fh.seek(max(0, size - _TAIL_READ))
        tail = fh.read()
    if not tail.endswith(b"\n"):
        raise AuditError(f"{path.name} ends with a torn record; use a new stream id")
    return tail[:-1].rsplit(b"\n", 1)[-1]


def resume_head(directory: Path, stream: str) -> ChainHead:
    """Chain head of an existing stream (new streams start at genesis, segment 1).

    Only ``seq`` and ``mac`` of the last record are read; their authenticity is the verifier's
    job. A resumed stream always continues in a fresh segment: finished files are never reopened.
    """
    segments = _segments_of(directory, stream)
    if not segments:
        return ChainHead(seq=0, prev=GENESIS_MAC, next_segment=1)
    for _number, path in reversed(segments):
        line = _last_line(path)
        if line is None:
            continue
        m_seq = re.search(rb'"seq":(\d+)', line)
        m_mac = re.search(rb',"mac":"([0-9a-f]{64})"}$', line)
        if not (m_seq and m_mac):
            raise AuditError(f"cannot resume stream {stream}: last record of {path.name} malformed")
        return ChainHead(int(m_seq[1]) + 1, m_mac[1].decode("ascii"), segments[-1][0] + 1)
    return ChainHead(seq=0, prev=GENESIS_MAC, next_segment=segments[-1][0] + 1)


class StreamLock:
    """Exclusive advisory lock on one stream (released on close or process exit)."""

    __slots__ = ("_fd",)

    def __init__(self, directory: Path, stream: str) -> None:
        path = directory / f".audit-{stream}.lock"
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise AuditError(f"audit stream {stream} is already being written") from None

    def release(self) -> None:
        """Drop the lock; idempotent."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
