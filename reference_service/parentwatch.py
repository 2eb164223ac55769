"""Shut the service down when the process that launched it dies (``--parent-pid``).

The harness starts the service in its own session (so SIGTERM reaches the uvicorn workers as a
group); a SIGKILLed harness therefore cannot take the service down with it, and the service would
live on holding its port. With ``--parent-pid`` the launcher polls, once a second, whether that
process still exists and, when it is gone, sends itself SIGTERM: the same path as an operator's
SIGTERM (uvicorn stops accepting, drains in-flight requests, the lifespan shutdown flushes and
closes the audit trail; with several workers the supervisor passes SIGTERM on to each).

A thread rather than an asyncio task: the launcher runs no event loop of its own when uvicorn
supervises several workers, and a thread works the same way before the loop exists.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__ = ["POLL_INTERVAL_S", "ParentProbe", "start_parent_watch"]

#: How often the parent is checked (seconds): a dead harness is noticed within about this long.
POLL_INTERVAL_S: Final = 1.0


class ParentProbe:
    """Answers "is process ``pid`` still alive?" as seen from this process.

    When ``pid`` is our parent at start, its death shows as a changed ``getppid()`` (we are
    re-parented to init or a subreaper), which is immune to PID reuse. Otherwise the PID is probed
    with signal 0; a zombie (exited, not yet reaped) counts as dead.
    """

    __slots__ = ("_is_parent", "pid")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._is_parent = os.getppid() == pid

    def alive(self) -> bool:
        if self._is_parent:
            return os.getppid() == self.pid
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # exists, owned by another user
        return not _is_zombie(self.pid)


def _is_zombie(pid: int) -> bool:
    """True when /proc says ``pid`` has exited (state Z or X); False where /proc is absent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # Format: "pid (comm) state ...": comm may contain spaces and parentheses, so split at the last.
    fields = stat.rpartition(")")[2].split()
    return bool(fields) and fields[0] in ("Z", "X")


def _terminate_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def start_parent_watch(
    pid: int,
    on_gone: Callable[[int], None],
    *,
    interval_s: float = POLL_INTERVAL_S,
    terminate: Callable[[], None] = _terminate_self,
) -> threading.Thread:
    """Start a daemon thread that calls ``on_gone(pid)`` then ``terminate()`` (default: SIGTERM to
    this process) once, as soon as ``pid`` is found dead."""
    probe = ParentProbe(pid)

    def run() -> None:
        while probe.alive():
            time.sleep(interval_s)
        on_gone(pid)
        terminate()

    thread = threading.Thread(target=run, name="parent-watch", daemon=True)
    thread.start()
    return thread
