"""What a person watching a run sees: phase, offered and achieved rate, p50/p99, errors, lateness.

On a terminal a rich live panel (redrawn once per second by the runner's own loop, no refresh
thread); otherwise one plain line about every 5 s, so CI logs stay readable. Both go to stderr:
stdout belongs to the command's result. The numbers come from the HDR interval histograms of the
last complete intervals (:meth:`Recorder.live`), never from Locust's stats.

Cost: one ``live()`` call merges a few interval histograms (~0.5 ms) per update, in the process
that generates load when the run is local; the scheduler's lag statistics would show it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Final, Protocol, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness.measure import LiveStats

__all__ = ["LineProgress", "LiveProgress", "NoProgress", "Progress", "Snapshot", "make_progress"]

LINE_EVERY_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One progress update."""

    elapsed_s: float
    total_s: float
    phase: str
    offered_rps: float  # the schedule's rate now
    stats: LiveStats
    in_flight: int
    cap_hits: int
    workers: int


class Progress(Protocol):
    """Receives snapshots about once a second."""

    def update(self, snap: Snapshot) -> None:
        """Show ``snap``."""

    def close(self) -> None:
        """Finish the display."""


class NoProgress:
    """Shows nothing."""

    def update(self, snap: Snapshot) -> None:
        """Ignore."""

    def close(self) -> None:
        """Nothing to close."""


def _line(snap: Snapshot) -> str:
    s = snap.stats
    return (
        f"[{snap.elapsed_s:6.1f}/{snap.total_s:.0f} s] {snap.phase:<10} "
        f"offered {snap.offered_rps:7.1f}/s  done {s.completed_rps:7.1f}/s  "
        f"p50 {s.p50_ms:7.2f} ms  p99 {s.p99_ms:7.2f} ms  errors {s.errors_per_s:5.1f}/s  "
        f"late {s.late}  in flight {snap.in_flight}  cap hits {snap.cap_hits}"
    )


class LineProgress:
    """A plain line every :data:`LINE_EVERY_S` seconds."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = 0.0

    def update(self, snap: Snapshot) -> None:
        """Print a line if the last one is old enough."""
        now = time.monotonic()
        if now - self._last >= LINE_EVERY_S:
            self._last = now
            print(_line(snap), file=self._stream, flush=True)

    def close(self) -> None:
        """Nothing to close."""


class LiveProgress:
    """A rich live panel, redrawn on every update."""

    def __init__(self, console: Console) -> None:
        self._live = Live(console=console, auto_refresh=False, transient=False)
        self._live.start()

    def update(self, snap: Snapshot) -> None:
        """Redraw."""
        s = snap.stats
        table = Table(title=f"slo-harness  {snap.elapsed_s:.0f}/{snap.total_s:.0f} s", box=None)
        for col in ("phase", "offered/s", "done/s", "p50 ms", "p99 ms", "errors/s", "late"):
            table.add_column(col, justify="right")
        table.add_row(
            snap.phase,
            f"{snap.offered_rps:.1f}",
            f"{s.completed_rps:.1f}",
            f"{s.p50_ms:.2f}",
            f"{s.p99_ms:.2f}",
            f"{s.errors_per_s:.1f}",
            str(s.late),
        )
        table.caption = (
            f"in flight {snap.in_flight}  cap hits {snap.cap_hits}"
            + (f"  workers {snap.workers}" if snap.workers else "")
            + "  (ms from intended send)"
        )
        self._live.update(table, refresh=True)

    def close(self) -> None:
        """Leave the last panel on screen."""
        self._live.stop()


def make_progress(enabled: bool, stream: TextIO | None = None) -> Progress:
    """A live panel on a terminal, plain lines otherwise, nothing when disabled."""
    if not enabled:
        return NoProgress()
    out = stream or sys.stderr
    if out.isatty():
        return LiveProgress(Console(file=out))
    return LineProgress(out)
