"""Per-run service keys: written whole, private, never over an existing file (issue 12)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness.target import ServiceKeys


def test_keys_are_private_hex_and_distinct(tmp_path: Path) -> None:
    """Both keys are 32 random bytes in hex, mode 0600, the audit key the one returned."""
    keys = ServiceKeys.create(tmp_path)
    audit = (tmp_path / "audit.key").read_text()
    pan = (tmp_path / "pan.key").read_text()
    assert bytes.fromhex(audit) == keys.audit_key
    assert len(keys.audit_key) == 32
    assert len(bytes.fromhex(pan)) == 32
    assert pan != audit
    for name in ("audit.key", "pan.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.key", "pan.key"]  # no temp files
    assert keys.service_args() == (
        "--audit-key-file", str(tmp_path / "audit.key"),
        "--pan-key-file", str(tmp_path / "pan.key"),
    )  # fmt: skip


def test_an_existing_key_is_never_replaced(tmp_path: Path) -> None:
    """A key file already there stops the run's keys (FileExistsError) and stays as it was."""
    (tmp_path / "pan.key").write_text("mine")
    with pytest.raises(FileExistsError):
        ServiceKeys.create(tmp_path)
    assert (tmp_path / "pan.key").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
