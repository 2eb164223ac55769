"""Hole 6 of issue 10: evidence cannot be rewritten consistently.

Symlinks are refused, never followed; stray files and directories are named; a manifest rewritten
together with the artifact it lists fails against the digest the run printed and against an
Ed25519 signature."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.errors import UsageError
from harness.files import sha256_bytes, sha256_file
from harness.report import MANIFEST_FILE, ProblemKind, verify_report_dir


def _consistent_edit(directory: Path, name: str = "junit.xml") -> None:
    """Edit an artifact and its manifest line together (what an unkeyed manifest allowed)."""
    path = directory / name
    data = path.read_bytes().replace(b"failure", b"passed!", 1) + b"<!-- edited -->"
    path.write_bytes(data)
    manifest = json.loads((directory / MANIFEST_FILE).read_bytes())
    manifest["files"][name] = {"sha256": sha256_bytes(data), "bytes": len(data)}
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def test_consistent_rewrite_passes_alone_but_fails_against_the_printed_digest(
    report_dir: Path,
) -> None:
    """The rewrite verifies without an anchor (the old hole) and fails with --expect-sha256."""
    printed = sha256_file(report_dir / MANIFEST_FILE)
    assert verify_report_dir(report_dir, expect_sha256=printed).ok
    _consistent_edit(report_dir)
    assert verify_report_dir(report_dir).ok
    result = verify_report_dir(report_dir, expect_sha256=printed)
    assert [(p.kind, p.file) for p in result.problems] == [(ProblemKind.DIGEST, MANIFEST_FILE)]
    with pytest.raises(UsageError, match="64 hex"):
        verify_report_dir(report_dir, expect_sha256="xyz")


def test_symlinked_artifact_is_refused(report_dir: Path, tmp_path: Path) -> None:
    """An artifact replaced by a symlink to an untouched copy is refused, not followed."""
    copy = tmp_path / "pristine-junit.xml"
    shutil.copy(report_dir / "junit.xml", copy)
    (report_dir / "junit.xml").unlink()
    (report_dir / "junit.xml").symlink_to(copy)
    kinds = [(p.kind, p.file) for p in verify_report_dir(report_dir).problems]
    assert (ProblemKind.SYMLINK, "junit.xml") in kinds


def test_symlinked_manifest_is_refused(report_dir: Path, tmp_path: Path) -> None:
    """A manifest that is a symlink is refused outright."""
    shutil.move(report_dir / MANIFEST_FILE, tmp_path / "m.json")
    (report_dir / MANIFEST_FILE).symlink_to(tmp_path / "m.json")
    result = verify_report_dir(report_dir)
    assert [(p.kind, p.file) for p in result.problems] == [(ProblemKind.SYMLINK, MANIFEST_FILE)]


def test_stray_file_and_directory_are_named(report_dir: Path) -> None:
    """Anything not in the manifest (file or directory) is reported."""
    (report_dir / "extra.txt").write_text("x")
    (report_dir / "sub").mkdir()
    found = {(p.kind, p.file) for p in verify_report_dir(report_dir).problems}
    assert found == {(ProblemKind.UNEXPECTED, "extra.txt"), (ProblemKind.UNEXPECTED, "sub")}


def test_signed_manifest_verifies_and_a_rewrite_does_not(report_dir: Path, tmp_path: Path) -> None:
    """keygen, sign, verify with the public key; a consistent rewrite, a missing signature and
    another key all fail; the CLI exits 0 / 1 / 2 accordingly."""
    runner = CliRunner()
    keygen = runner.invoke(cli, ["report", "keygen", str(tmp_path / "k")])
    assert keygen.exit_code == 0, keygen.output
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    again = runner.invoke(cli, ["report", "keygen", str(tmp_path / "k")])
    assert again.exit_code == 2
    signed = runner.invoke(
        cli, ["report", "sign", str(report_dir), "--key", str(tmp_path / "k.key")]
    )
    assert signed.exit_code == 0, signed.output
    pub = str(tmp_path / "k.pub")
    ok = runner.invoke(cli, ["report", "verify", str(report_dir), "--public-key", pub])
    assert ok.exit_code == 0, ok.output
    runner.invoke(cli, ["report", "keygen", str(tmp_path / "other")])
    other = runner.invoke(
        cli, ["report", "verify", str(report_dir), "--public-key", str(tmp_path / "other.pub")]
    )
    assert other.exit_code == 1
    _consistent_edit(report_dir)
    bad = runner.invoke(cli, ["report", "verify", str(report_dir), "--public-key", pub])
    assert bad.exit_code == 1
    assert "signature" in bad.output
    (report_dir / "MANIFEST.sig").unlink()
    unsigned = runner.invoke(cli, ["report", "verify", str(report_dir), "--public-key", pub])
    assert unsigned.exit_code == 1
    not_a_key = runner.invoke(
        cli, ["report", "verify", str(report_dir), "--public-key", str(report_dir / "junit.xml")]
    )
    assert not_a_key.exit_code == 2
