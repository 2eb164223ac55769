"""scripts/settle_disk.py: the demo's bounded wait for a quick fsync before a measured run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "settle_disk.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settle_disk", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settles_when_fsyncs_are_quick_and_leaves_no_probe_file(tmp_path: Path) -> None:
    """With a generous limit it returns settled and removes its probe file."""
    settled, _waited_s = _module().settle(str(tmp_path), 10_000.0, 3, 10.0)
    assert settled
    assert list(tmp_path.iterdir()) == []


def test_gives_up_after_the_timeout_when_no_fsync_is_quick_enough(tmp_path: Path) -> None:
    """An unreachable limit ends at the timeout, unsettled, with the probe file removed."""
    settled, waited_s = _module().settle(str(tmp_path), 0.0, 3, 0.2)
    assert not settled
    assert 0.2 <= waited_s < 5
    assert list(tmp_path.iterdir()) == []


def test_unwritable_directory_exits_2_without_traceback(tmp_path: Path) -> None:
    """A directory that cannot be created exits 2 with one line naming it."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(blocker / "sub")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "cannot probe" in proc.stderr
    assert "Traceback" not in proc.stderr
