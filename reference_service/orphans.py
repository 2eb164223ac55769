"""Workers that outlive their launcher, and the files they leave: neither may survive.

A worker process (``--workers`` > 1) calls :func:`die_with_launcher` before it builds its app:

* ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel sends SIGTERM the moment the parent exits,
  however it exits (SIGKILL included); uvicorn's worker treats it as a graceful shutdown, so
  in-flight requests finish and the audit stream is flushed and closed;
* a :mod:`reference_service.parentwatch` thread as a second line (PDEATHSIG is Linux-only and
  tied to the parent *thread*): it notices a changed ``getppid()`` within a second.

At exit a worker removes its own Prometheus files (``*_<pid>.db``) and then tries to remove the
shared directory, which succeeds for the last one out. :func:`sweep_metrics_dirs` (run by every
launcher start) removes ``slo-metrics-<pid>-*`` directories whose launcher PID no longer exists.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Final

from reference_service.metrics import MULTIPROC_ENV
from reference_service.parentwatch import start_parent_watch

__all__ = [
    "LAUNCHER_PID_ENV",
    "METRICS_DIR_PREFIX",
    "die_with_launcher",
    "remove_worker_files",
    "sweep_metrics_dirs",
]

LAUNCHER_PID_ENV: Final = "SLO_SERVICE_LAUNCHER_PID"
METRICS_DIR_PREFIX: Final = "slo-metrics-"
_PR_SET_PDEATHSIG: Final = 1


def _pdeathsig(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def die_with_launcher() -> None:
    """In a worker: get SIGTERM when the launcher dies (no-op outside a multi-worker launch)."""
    raw = os.environ.get(LAUNCHER_PID_ENV)
    if not raw or not raw.isdigit():
        return
    launcher = int(raw)
    _pdeathsig(signal.SIGTERM)
    if os.getppid() != launcher:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
    start_parent_watch(launcher, lambda _pid: None)


def remove_worker_files() -> None:
    """In a worker at exit: delete this process's metrics files, then the directory if empty."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory or LAUNCHER_PID_ENV not in os.environ:
        return
    path = Path(directory)
    for f in path.glob(f"*_{os.getpid()}.db"):
        with contextlib.suppress(OSError):
            f.unlink()
    if os.getppid() != int(os.environ[LAUNCHER_PID_ENV]):  # orphaned: nobody else will clean up
        with contextlib.suppress(OSError):
            path.rmdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_metrics_dirs(root: Path | None = None) -> list[Path]:
    """Remove metrics directories left by launchers that no longer run; returns what went."""
    base = Path(root or tempfile.gettempdir())
    removed: list[Path] = []
    for d in base.glob(f"{METRICS_DIR_PREFIX}*-*"):
        pid = d.name[len(METRICS_DIR_PREFIX) :].split("-", 1)[0]
        if d.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed
