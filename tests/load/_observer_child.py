"""Runs a local load with and without a live observer in a fresh process (Locust patches whatever
imports it) and prints one JSON line: the intervals the observer saw, the schedule lag of both
runs, and, with ``--stop-at S``, how a stop requested by the observer ended the run.

Usage: ``python tests/load/_observer_child.py SCENARIO_JSON [--stop-at S]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from typing import Any


class Observer:
    """Records what it is given; with ``subprocess_at`` runs one subprocess then (as a fault
    injection running ``nft`` does)."""

    def __init__(self, stop_at: float | None, subprocess_at: float | None) -> None:
        self.stop_at = stop_at
        self.subprocess_at = subprocess_at
        self.started_at: int | None = None
        self.indices: list[int] = []
        self.completed: list[int] = []
        self.ticks = 0
        self.subprocesses = 0
        self.finished_calls = 0
        self._last_second = -1
        self._stop: str | None = None

    def started(self, run_start_wall_ns: int, warmup_s: float) -> None:
        self.started_at = run_start_wall_ns

    def tick(self, elapsed_s: float) -> None:
        self.ticks += 1
        if self.subprocess_at is not None and elapsed_s >= self.subprocess_at:
            self.subprocess_at = None
            subprocess.run(["true"], check=True)  # the wait cooperates; the fork does not
            self.subprocesses += 1
        if self.stop_at is not None and elapsed_s >= self.stop_at:
            self._stop = "test stop"

    def interval(self, sample: Any) -> None:
        self.indices.append(sample.index)
        self.completed.append(sample.completed)

    def finished(self) -> None:
        self.finished_calls += 1

    @property
    def stop_reason(self) -> str | None:
        return self._stop


def main() -> None:
    import msgspec

    from harness.load import RunOptions, run_scenario
    from harness.spec.scenario import Scenario

    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--stop-at", type=float)
    parser.add_argument("--subprocess-at", type=float)
    args = parser.parse_args()
    scenario = msgspec.json.decode(args.scenario, type=Scenario)
    options = RunOptions(progress=False)
    out: dict[str, Any] = {}
    if args.stop_at is None:
        plain = run_scenario(scenario, options)
        out["lag_p99_plain_ms"] = plain.generator.schedule_lag_p99_ms
    observer = Observer(args.stop_at, args.subprocess_at)
    started = time.monotonic()
    result = run_scenario(scenario, options, observer)
    counts = [p.counts for p in result.phases]
    out.update(
        wall_s=time.monotonic() - started,
        lag_p99_observed_ms=result.generator.schedule_lag_p99_ms,
        lag_max_observed_ms=result.generator.schedule_lag_max_ms,
        indices=observer.indices,
        completed=observer.completed,
        ticks=observer.ticks,
        subprocesses=observer.subprocesses,
        finished_calls=observer.finished_calls,
        sent=sum(c.sent for c in counts),
        answered=sum(c.ok + c.failed + c.shed for c in counts),
        intervals_completed=sum(
            r.counts.ok + r.counts.failed + r.counts.shed for r in result.intervals
        ),
        reasons=list(result.generator.reasons),
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
