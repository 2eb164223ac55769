"""collect_provenance: git state, file digests, host and versions; secrets never recorded."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from report_support import START

from harness.measure.result import TargetInfo
from harness.report import collect_provenance
from harness.report.provenance import KEY_PACKAGES, Provenance, redact_argv, redact_url

TARGET = TargetInfo("http://127.0.0.1:8080", False, "fraud", "1.0.0", "ef" * 32)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _collect(cwd: Path, scenario: Path, slo: Path | None = None) -> Provenance:
    return collect_provenance(
        scenario_path=scenario,
        slo_path=slo,
        target=TARGET,
        started_at=START,
        ended_at=START,
        cwd=cwd,
        argv=["slo-harness", "run", str(scenario)],
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit holding a scenario file."""
    _git(tmp_path, "init", "-q")
    (tmp_path / "steady.yaml").write_text("name: steady\n")
    _git(tmp_path, "add", "steady.yaml")
    _git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def test_git_commit_and_clean_tree(repo: Path) -> None:
    """Inside a clean checkout the commit is HEAD and the tree is not dirty."""
    prov = _collect(repo, repo / "steady.yaml")
    assert prov.git_commit == _git(repo, "rev-parse", "HEAD")
    assert prov.git_dirty is False


def test_dirty_tree_is_flagged(repo: Path) -> None:
    """A modified tracked file marks the tree dirty."""
    (repo / "steady.yaml").write_text("name: changed\n")
    assert _collect(repo, repo / "steady.yaml").git_dirty is True


def test_outside_git_is_tolerated(tmp_path: Path) -> None:
    """Outside any repository the git fields are None, not an error."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text("x")
    prov = _collect(tmp_path, scenario)
    assert (prov.git_commit, prov.git_dirty) == (None, None)


def test_input_digests_target_and_host(repo: Path) -> None:
    """Scenario and SLO digests are SHA-256 of the files; target and host facts are filled in."""
    slo = repo / "slo.yaml"
    slo.write_text("objectives: []\n")
    prov = _collect(repo, repo / "steady.yaml", slo)
    assert prov.scenario_sha256 == hashlib.sha256(b"name: steady\n").hexdigest()
    assert prov.slo_sha256 == hashlib.sha256(b"objectives: []\n").hexdigest()
    assert (prov.model_name, prov.model_version, prov.model_sha256) == ("fraud", "1.0.0", "ef" * 32)
    assert prov.host
    assert prov.cpu_count >= 1
    assert prov.cpu_model
    assert prov.python_version.startswith("3.")
    assert [p.name for p in prov.packages] == list(KEY_PACKAGES)
    assert dict((p.name, p.version) for p in prov.packages)["numpy"]  # installed here
    assert prov.started_at == START


def test_default_slo_and_unreadable_files(tmp_path: Path) -> None:
    """No SLO file means the embedded default (None); an unreadable scenario has no digest."""
    prov = _collect(tmp_path, tmp_path / "gone.yaml")
    assert (prov.slo_path, prov.slo_sha256, prov.scenario_sha256) == (None, None, None)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--token", "s3cr3t", "x"], ("run", "--token", "***", "x")),
        (["run", "--api-key=abc"], ("run", "--api-key=***")),
        (["run", "--password", "p"], ("run", "--password", "***")),
        (["run", "--key", "k"], ("run", "--key", "***")),
        (["--target", "http://u:pw@127.0.0.1:1/x"], ("--target", "http://***@127.0.0.1:1/x")),
        (["run", "--rate", "200"], ("run", "--rate", "200")),
    ],
)
def test_command_line_secrets_are_redacted(argv: list[str], expected: tuple[str, ...]) -> None:
    """Values of secret-looking options and URL credentials are replaced by ***."""
    assert redact_argv(argv) == expected


def test_target_url_credentials_are_redacted() -> None:
    """A target URL with credentials is stored without them."""
    assert redact_url("https://user:pw@127.0.0.1/") == "https://***@127.0.0.1/"
    assert redact_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
