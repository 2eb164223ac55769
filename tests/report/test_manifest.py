"""MANIFEST.json and verify_report_dir: any edited, missing or added artifact is named."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from harness.errors import ArtifactError
from harness.report import ARTIFACT_FILES, MANIFEST_FILE, ProblemKind, verify_report_dir
from harness.report.manifest import canonical_report_sha256


def _kinds(directory: Path) -> list[tuple[ProblemKind, str]]:
    return [(p.kind, p.file) for p in verify_report_dir(directory).problems]


def test_intact_directory_passes(report_dir: Path) -> None:
    """A freshly written directory verifies, every artifact checked."""
    result = verify_report_dir(report_dir)
    assert result.ok, result.problems
    assert set(result.checked) == set(ARTIFACT_FILES)


def test_manifest_lists_every_artifact_and_the_canonical_report(report_dir: Path) -> None:
    """The manifest has a digest and size per artifact and the canonical report digest."""
    manifest = orjson.loads((report_dir / MANIFEST_FILE).read_bytes())
    assert set(manifest["files"]) == set(ARTIFACT_FILES)
    assert manifest["algorithm"] == "sha256"
    report = (report_dir / "report.json").read_bytes()
    assert manifest["canonical_report_sha256"] == canonical_report_sha256(report)
    assert manifest["files"]["report.json"]["bytes"] == len(report)


@pytest.mark.parametrize("name", ARTIFACT_FILES)
def test_an_edited_artifact_fails_naming_the_file(report_dir: Path, name: str) -> None:
    """Changing one byte of any artifact fails verification and names that file."""
    path = report_dir / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = verify_report_dir(report_dir)
    assert not result.ok
    assert _kinds(report_dir) == [(ProblemKind.EDITED, name)]
    assert name in str(result.problems[0])


def test_a_missing_artifact_is_detected(report_dir: Path) -> None:
    """A deleted artifact is reported missing."""
    (report_dir / "windows.csv").unlink()
    assert _kinds(report_dir) == [(ProblemKind.MISSING, "windows.csv")]


def test_an_extra_file_is_detected(report_dir: Path) -> None:
    """A file the run did not write is reported unexpected."""
    (report_dir / "notes.txt").write_text("added later\n")
    assert _kinds(report_dir) == [(ProblemKind.UNEXPECTED, "notes.txt")]


def test_reformatted_report_is_edited_but_content_unchanged(report_dir: Path) -> None:
    """Re-indenting report.json is an edit; the detail says its content is unchanged."""
    path = report_dir / "report.json"
    path.write_bytes(orjson.dumps(orjson.loads(path.read_bytes())))
    [problem] = verify_report_dir(report_dir).problems
    assert problem.kind is ProblemKind.EDITED
    assert "content is unchanged" in problem.detail


def test_changed_number_in_report_says_content_changed(report_dir: Path) -> None:
    """Editing a value in report.json is reported as a content change."""
    path = report_dir / "report.json"
    path.write_bytes(path.read_bytes().replace(b'"verdict": "fail"', b'"verdict": "pass"'))
    [problem] = verify_report_dir(report_dir).problems
    assert problem.kind is ProblemKind.EDITED
    assert problem.detail.endswith("content changed")


def test_missing_manifest(report_dir: Path) -> None:
    """Without a manifest nothing can be verified, and that is a failure."""
    (report_dir / MANIFEST_FILE).unlink()
    assert _kinds(report_dir) == [(ProblemKind.MANIFEST, MANIFEST_FILE)]


def test_corrupt_manifest(report_dir: Path) -> None:
    """A manifest that is not valid JSON is a failure, not a traceback."""
    (report_dir / MANIFEST_FILE).write_text("{not json")
    [problem] = verify_report_dir(report_dir).problems
    assert problem.kind is ProblemKind.MANIFEST
    assert "malformed" in problem.detail


def test_manifest_entry_with_a_path_is_refused(report_dir: Path) -> None:
    """A manifest entry pointing outside the directory is refused as malformed."""
    path = report_dir / MANIFEST_FILE
    manifest = orjson.loads(path.read_bytes())
    manifest["files"]["../etc/passwd"] = {"sha256": "0" * 64, "bytes": 1}
    path.write_bytes(orjson.dumps(manifest))
    [problem] = verify_report_dir(report_dir).problems
    assert problem.kind is ProblemKind.MANIFEST


def test_missing_directory_is_an_artifact_error(tmp_path: Path) -> None:
    """Verifying a directory that does not exist is a usage-class error."""
    with pytest.raises(ArtifactError, match="not a directory"):
        verify_report_dir(tmp_path / "nope")
