"""The one atomic writer: whole file or nothing, fsynced, mode as asked."""

from __future__ import annotations

import stat
from pathlib import Path
from unittest import mock

import pytest

from harness.files import atomic_write_bytes, sha256_bytes, sha256_file


def test_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    """The target holds the new bytes; no hidden temp file remains; default mode is 0600."""
    path = tmp_path / "a.json"
    path.write_bytes(b"old")
    atomic_write_bytes(path, b"new bytes")
    assert path.read_bytes() == b"new bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sha256_file(path) == sha256_bytes(b"new bytes")


def test_mode_is_applied(tmp_path: Path) -> None:
    """mode=0o644 makes a result readable by others."""
    path = tmp_path / "r.json"
    atomic_write_bytes(path, b"{}", mode=0o644)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    """If the write fails (here: fsync), the old content stays and the temp file is removed."""
    path = tmp_path / "keep.txt"
    path.write_bytes(b"old")
    with (
        mock.patch("harness.files.os.fsync", side_effect=OSError("disk full")),
        pytest.raises(OSError, match="disk full"),
    ):
        atomic_write_bytes(path, b"half")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_exclusive_never_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    """exclusive=True: a new file appears whole (0600); an existing one is FileExistsError, kept."""
    path = tmp_path / "signing.key"
    atomic_write_bytes(path, b"secret", exclusive=True)
    assert path.read_bytes() == b"secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        atomic_write_bytes(path, b"other", exclusive=True)
    assert path.read_bytes() == b"secret"
    assert [p.name for p in tmp_path.iterdir()] == ["signing.key"]
    assert path.stat().st_nlink == 1
