"""What the local and the distributed run share: Locust's Environment, bounded waits on the
gevent hub, and the progress view's snapshot of a recorder.

Every wait polls every 50 ms and gives up with ``MeasurementError`` (exit 3) at its bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import gevent
from locust.env import Environment

from harness.errors import MeasurementError
from harness.load.progress import Snapshot
from harness.load.user import SloUser
from harness.measure import Recorder
from harness.spec import Scenario

__all__ = ["SPAWN_TIMEOUT_S", "locust_environment", "progress_snapshot", "wait_for"]

#: How long spawning every slot (Locust users) may take, locally or on the workers.
SPAWN_TIMEOUT_S: Final = 30.0
_POLL_S: Final = 0.05


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` (gevent sleeps) until true; MeasurementError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    for _ in range(int(timeout_s / _POLL_S) + 2):
        if condition():
            return
        if time.monotonic() >= deadline:
            break
        gevent.sleep(_POLL_S)
    raise MeasurementError(f"timed out after {timeout_s:g} s waiting for {what}")


def locust_environment(url: str | None) -> Any:
    """Locust's Environment for the harness's one user class (no stop grace: the engine drains)."""
    return Environment(user_classes=[SloUser], host=url, stop_timeout=0.0)


def progress_snapshot(
    scenario: Scenario,
    recorder: Recorder,
    *,
    in_flight: int,
    cap_hits: int,
    workers: int,
    window_s: float,
) -> Snapshot:
    """What the progress view shows now: phase, offered rate, the last ``window_s`` of stats."""
    elapsed = (time.time_ns() - recorder.run_start_wall_ns) / 1e9
    phase = next(
        (s.phase.name for s in scenario.schedule() if s.start_s <= elapsed < s.end_s), "drain"
    )
    return Snapshot(
        elapsed_s=max(elapsed, 0.0),
        total_s=scenario.duration_s,
        phase=phase if elapsed >= 0 else "starting",
        offered_rps=scenario.rate_at(elapsed),
        stats=recorder.live(window_s=window_s),
        in_flight=in_flight,
        cap_hits=cap_hits,
        workers=workers,
    )
