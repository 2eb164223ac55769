"""The service's command line refuses bad configuration with exit code 2 and a clear message."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env_free = {"PATH": "/usr/bin:/bin"}
    return subprocess.run(  # bounded: every case exits during preflight
        [sys.executable, "-m", "reference_service", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        env=env_free,
        check=False,
    )


def _keys(tmp_path: Path) -> list[str]:
    pan = tmp_path / "pan.key"
    audit = tmp_path / "audit.key"
    pan.write_text(secrets.token_hex(32))
    audit.write_text(secrets.token_hex(32))
    return ["--pan-key-file", str(pan), "--audit-key-file", str(audit)]


def test_refuses_non_loopback_host(tmp_path: Path) -> None:
    """Binding 0.0.0.0 without --allow-non-loopback is refused (project network rule)."""
    p = _run("--host", "0.0.0.0", cwd=tmp_path)
    assert p.returncode == 2
    assert "non-loopback" in p.stderr


def test_bad_thresholds_file_names_file_and_field(tmp_path: Path) -> None:
    """A thresholds file with a wrong type exits 2 naming the file and the field path."""
    th = tmp_path / "th.yaml"
    th.write_text("version: v1\nreview: high\n")
    p = _run(
        "--thresholds", str(th), "--audit-dir", str(tmp_path / "a"), *_keys(tmp_path), cwd=tmp_path
    )
    assert p.returncode == 2
    assert str(th) in p.stderr
    assert "$.review" in p.stderr


def test_review_above_decline_is_refused(tmp_path: Path) -> None:
    """review > decline is a configuration error."""
    th = tmp_path / "th.json"
    th.write_text('{"version": "v2", "review": 0.9, "decline": 0.5}')
    p = _run(
        "--thresholds", str(th), "--audit-dir", str(tmp_path / "a"), *_keys(tmp_path), cwd=tmp_path
    )
    assert p.returncode == 2
    assert "review" in p.stderr


def test_short_key_is_refused_without_echo(tmp_path: Path) -> None:
    """A too-short key file exits 2 naming the file but not the key."""
    short = tmp_path / "pan.key"
    secret = secrets.token_hex(8)
    short.write_text(secret)
    audit = tmp_path / "audit.key"
    audit.write_text(secrets.token_hex(32))
    args = ["--pan-key-file", str(short), "--audit-key-file", str(audit)]
    p = _run(*args, "--audit-dir", str(tmp_path / "a"), cwd=tmp_path)
    assert p.returncode == 2
    assert str(short) in p.stderr
    assert secret not in p.stderr


def test_same_key_for_pan_and_audit_is_refused(tmp_path: Path) -> None:
    """The PAN key and the audit key must be different keys."""
    key = tmp_path / "k"
    key.write_text(secrets.token_hex(32))
    args = ["--pan-key-file", str(key), "--audit-key-file", str(key)]
    p = _run(*args, "--audit-dir", str(tmp_path / "a"), cwd=tmp_path)
    assert p.returncode == 2
    assert "differ" in p.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--workers", "0"], "--workers"),
        (["--feature-budget-ms", "0"], "--feature-budget-ms"),
        (["--velocity-max-mb", "8"], "--velocity-max-mb"),
        (["--max-in-flight", "0"], "--max-in-flight"),
        (["--audit-mode", "sometimes"], "--audit-mode"),
        (["--parent-pid", "0"], "--parent-pid"),
    ],
)
def test_bad_flag_values(tmp_path: Path, args: list[str], needle: str) -> None:
    """Out-of-range flag values exit 2 naming the flag."""
    p = _run(*args, cwd=tmp_path)
    assert p.returncode == 2
    assert needle in p.stderr


def test_help_lists_the_harness_flags(tmp_path: Path) -> None:
    """--help documents the flags `slo-harness serve` passes through."""
    p = _run("--help", cwd=tmp_path)
    assert p.returncode == 0
    for flag in ("--host", "--port", "--workers", "--audit-dir", "--redis-url"):
        assert flag in p.stdout
