"""Hole 9 of issue 10: a SIGKILLed run's scratch directory (keys, audit trail) is removed by the
next start or by `slo-harness cleanup`; a live run's is never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.ledger import Ledger
from harness.scratch import scratch_dir, sweep_scratch


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setenv("SLO_HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    return Ledger(tmp_path / "state")


def test_scratch_dir_is_removed_and_released(ledger: Ledger) -> None:
    """Normal exit: the directory is gone and the ledger holds nothing."""
    with scratch_dir(ledger) as d:
        (d / "audit.key").write_text("k")
        assert d.stat().st_mode & 0o777 == 0o700
    assert not d.exists()
    assert ledger.entries() == []


def test_sigkilled_owner_leftovers_are_swept(ledger: Ledger, tmp_path: Path) -> None:
    """A process that made a scratch dir and was SIGKILLed leaves it; the sweep (as the next
    `run` does) and `slo-harness cleanup` remove it; a live owner's dir is kept."""
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from harness.ledger import Ledger
        from harness.scratch import scratch_dir
        with scratch_dir(Ledger(Path({str(ledger.state_dir)!r}))) as d:
            (d / "audit.key").write_text("secret")
            print(d, flush=True)
            time.sleep(60)
        """
    )
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None
        left = Path(child.stdout.readline().decode().strip())
        assert left.is_dir()
        assert sweep_scratch(ledger) == []  # owner alive: untouched
        assert left.is_dir()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        time.sleep(0.1)
        assert left.is_dir()  # SIGKILL ran no finally
        result = CliRunner().invoke(cli, ["cleanup"])
        assert result.exit_code == 0, result.output
        assert "removed" in result.output
        assert not left.exists()
        assert ledger.entries() == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
