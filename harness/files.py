"""Small file helpers shared by every writer (reports, hlog, ledger, benchmark results): atomic
writes and SHA-256 digests. This is the one atomic writer of the project's Python side
(``reference_service`` keeps its own: it never imports ``harness``).

Every artifact is written to a temporary file in its final directory, flushed to disk and renamed
over the target (``os.replace`` is atomic within one filesystem), so a reader never sees a
half-written file and a crash leaves at most a hidden ``.name.*.tmp`` behind, never a truncated
artifact under its real name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write_bytes", "atomic_writer", "sha256_bytes", "sha256_file"]

_CHUNK = 1 << 20


def atomic_write_bytes(
    path: Path, data: bytes, *, mode: int | None = None, exclusive: bool = False
) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``.

    The file is created 0600 (``mkstemp``) unless ``mode`` says otherwise (e.g. 0o644 for a
    result meant to be read by others). ``exclusive``: never replace an existing ``path``
    (FileExistsError; for private keys): the finished temp file is hard-linked to its name
    (``os.link`` fails atomically when the name exists) instead of renamed over it.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)
            Path(tmp).unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_writer(path: Path, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """:func:`atomic_write_bytes` for content written piece by piece (a long interval log): the
    temp file is fsynced and renamed over ``path`` when the block ends, removed if it raises."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_bytes(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Lower-case hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
