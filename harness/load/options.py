"""How ``slo-harness run`` asks for a run (plain data; importing it does not import Locust)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunOptions"]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Command-line choices for one run.

    ``target``/``rate``/``duration_s`` override the scenario (its main phase for rate and
    duration); ``workers`` 0 runs in this process, N > 0 starts N local Locust worker processes
    under a master bound to ``master_bind:master_port`` (0: a free port). ``scenario_path`` is
    recorded as provenance (and hashed) when given.
    """

    target: str | None = None
    rate: float | None = None
    duration_s: float | None = None
    workers: int = 0
    progress: bool = True
    master_bind: str = "127.0.0.1"
    master_port: int = 0
    scenario_path: Path | None = None
