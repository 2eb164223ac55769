"""The command line: subcommands, exit codes and error messages (never a traceback)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from harness.measure import read_series
from harness.report import verify_report_dir
from harness.testing import wait_until


def _cli(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def test_help_lists_every_subcommand() -> None:
    """`--help` names serve, run, worker, compare, audit and report."""
    proc = _cli("--help")
    assert proc.returncode == 0
    for name in ("serve", "run", "worker", "compare", "audit", "report"):
        assert name in proc.stdout


def test_unknown_option_is_a_usage_error() -> None:
    """An unknown flag exits 2."""
    proc = _cli("run", "--no-such-flag")
    assert proc.returncode == 2


@pytest.mark.parametrize(
    ("text", "path_fragment"),
    [
        ("name: x\nphases: [{name: s, kind: steady, rate: fast, duration_s: 5}]\n", "rate"),
        (
            "name: x\nphases: [{name: s, kind: steady, rate: 10, duration_s: 5, bogus: 1}]\n",
            "bogus",
        ),
        ("name: x\nphases: [\n", "YAML"),
    ],
)
def test_malformed_scenario_exits_2_with_file_and_field(
    tmp_path: Path, text: str, path_fragment: str
) -> None:
    """A malformed scenario file exits 2 naming the file and the field, with no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    proc = _cli("run", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    assert str(bad) in proc.stderr
    assert path_fragment in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_missing_scenario_file_exits_2(tmp_path: Path) -> None:
    """A scenario path that does not exist exits 2 naming it."""
    proc = _cli("run", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2
    assert "nope.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_target_exits_3(tmp_path: Path) -> None:
    """A target nobody listens on exits 3 with a clear message instead of a report of errors."""
    import socket

    with socket.socket() as s:  # a loopback port that is certainly closed once released
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _cli(
        "run",
        "scenarios/steady.yaml",
        "--target",
        f"http://127.0.0.1:{port}",
        "--duration",
        "2",
        "--no-progress",
        "--out",
        str(tmp_path / "out"),
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(port) in proc.stderr


def test_non_loopback_target_is_refused(tmp_path: Path) -> None:
    """A target outside loopback and the project's namespaces is a usage error (exit 2)."""
    proc = _cli(
        "run",
        "scenarios/steady.yaml",
        "--target",
        "http://192.0.2.10:8080",
        "--out",
        str(tmp_path / "out"),
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("bind", "expected"),
    [("0.0.0.0", "--expose-master"), ("192.0.2.1", "--expose-master"), ("eth0", "IPv4 address")],
)
def test_master_bind_off_loopback_needs_the_explicit_flag(
    tmp_path: Path, bind: str, expected: str
) -> None:
    """`run --master-bind` to a non-loopback address without --expose-master (or to something
    that is not an address) exits 2 before any load or service starts."""
    proc = _cli(
        "run",
        "scenarios/steady.yaml",
        "--target",
        "http://127.0.0.1:9",
        *("--remote-workers", "1", "--master-bind", bind),
        "--out",
        str(tmp_path / "out"),
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_report_verify_on_missing_dir_exits_2(tmp_path: Path) -> None:
    """`report verify` on a directory that does not exist is a usage error."""
    proc = _cli("report", "verify", str(tmp_path / "missing"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_audit_verify_on_missing_dir_exits_2(tmp_path: Path) -> None:
    """`audit verify` on a directory that does not exist is a usage error."""
    proc = _cli("audit", "verify", str(tmp_path / "missing"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_sigterm_stops_the_run_and_everything_it_started(tmp_path: Path) -> None:
    """SIGTERM mid-run (a cancelled CI job) exits 3 quietly and leaves no process behind."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "scenarios/steady.yaml", "--no-progress",
         "--out", str(tmp_path / "out")],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        service = wait_until(
            lambda: _embedded_service(proc.pid), timeout_s=60, what="the embedded service"
        )
        port = int(service.cmdline()[service.cmdline().index("--port") + 1])
        wait_until(
            lambda: _decisions(port) > 0, timeout_s=60, what="scoring load reaching the service"
        )
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    assert "interrupted" in err
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    # The run saved what it measured itself: the report family, incomplete (issue 10), its
    # series in latency.hlog (issue 11).
    out = tmp_path / "out"
    assert "partial results saved, marked incomplete" in err, err
    assert not (out / "latency.partial.hlog").exists()
    assert verify_report_dir(out).ok
    assert json.loads((out / "report.json").read_text())["run"]["incomplete"] is True
    assert len(read_series(out / "latency.hlog")) > 0


def _embedded_service(pid: int) -> psutil.Process | None:
    """The reference service the run at ``pid`` started, once it exists."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(pid).children(recursive=True):
            if "reference_service" in " ".join(child.cmdline()):
                return child
    return None


def _decisions(port: int) -> float:
    """Scoring decisions the service has made so far (its Prometheus counter), 0 if unreadable."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1.0, trust_env=False).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("slo_decisions_total")
    )
