"""SIGKILL of the harness while it restarts the whole embedded service (a game day's ``kill``
with ``scope: service``): the half-started replacement does not outlive it.

The harness is SIGKILLed after the old service is gone and the new one is spawned but not yet
ready, the worst moment: no ``finally`` runs, and the new process cannot yet have been told
anything. It must notice its launcher is gone (``--parent-pid``) and stop by itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.chaos.procs import wait_until

pytestmark = pytest.mark.slow

HARNESS = """\
import sys
from pathlib import Path
from harness.target import reference_service_process

with reference_service_process(audit_dir=Path(sys.argv[1])) as service:
    print("ready", service.pid, flush=True)
    service.restart()
    print("restarted", flush=True)
"""


def _services(marker: str) -> list[psutil.Process]:
    """Live reference-service processes whose command line names ``marker`` (the audit dir)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        live = proc.info["status"] != psutil.STATUS_ZOMBIE
        if live and "reference_service" in cmdline and marker in cmdline:
            found.append(proc)
    return found


def test_sigkill_during_a_whole_service_restart_leaves_no_service(tmp_path: Path) -> None:
    """The replacement spawned by a restart exits on its own (its launcher is gone) within a few
    seconds of the harness's SIGKILL, and the first service is gone too."""
    audit = tmp_path / "audit"
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(audit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert harness.stdout is not None
        line = harness.stdout.readline()
        assert line.startswith("ready"), line
        first_pid = int(line.split()[1])
        replacement: list[psutil.Process] = []

        def spawned() -> bool:
            replacement[:] = [p for p in _services(str(audit)) if p.pid != first_pid]
            return bool(replacement)

        assert wait_until(spawned, 30.0), "the restart never spawned a new service"
        os.kill(harness.pid, signal.SIGKILL)
        harness.wait(timeout=10)
        started_s = time.monotonic()
        assert wait_until(lambda: not _services(str(audit)), 30.0), [
            p.cmdline() for p in _services(str(audit))
        ]
        assert time.monotonic() - started_s < 30
        assert not psutil.pid_exists(first_pid) or (
            psutil.Process(first_pid).status() == psutil.STATUS_ZOMBIE
        )
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait(timeout=10)
        for proc in _services(str(audit)):  # only on failure: never leave one serving
            proc.kill()
        if harness.stdout is not None:
            harness.stdout.close()
