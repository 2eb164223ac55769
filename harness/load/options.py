"""How ``slo-harness run`` asks for a run (plain data; importing it does not import Locust).

The master's address is checked here, before any process starts: Locust's master/worker
protocol has no authentication, so whoever reaches the master's port can join as a worker and is
sent the scenario (target URL, payload seed). The master therefore listens on loopback unless
the caller says otherwise explicitly (``expose_master``); the *target* rule
(:func:`harness.target.resolve_target`) is separate and relaxed only by ``allow_targets``.
"""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.errors import UsageError

__all__ = ["DEFAULT_MASTER_PORT", "DEFAULT_WORKER_WAIT_S", "WILDCARD_BINDS", "RunOptions"]

#: Locust's own default master port (``locust --master``), so ``slo-harness worker`` and
#: ``locust --worker`` find the master without a port when remote workers are expected.
DEFAULT_MASTER_PORT: Final = 5557
DEFAULT_WORKER_WAIT_S: Final = 60.0
#: Bind addresses meaning "every interface" (ZeroMQ's ``*`` and the IPv4 unspecified address).
WILDCARD_BINDS: Final = frozenset({"*", "0.0.0.0"})


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Command-line choices for one run.

    ``target``/``rate``/``duration_s`` override the scenario (its main phase for rate and
    duration). ``workers`` 0 and ``remote_workers`` 0 run in this process; otherwise a master
    bound to ``master_bind:master_port`` starts ``workers`` local Locust worker processes and
    waits up to ``worker_wait_s`` for those plus ``remote_workers`` workers started elsewhere
    (``slo-harness worker --master HOST --master-port PORT``); the schedule is split over all of
    them. ``master_port`` None means :data:`DEFAULT_MASTER_PORT` when remote workers are expected
    (they need a port known in advance) and a free port otherwise; 0 always means a free port.
    ``master_bind`` must be loopback unless ``expose_master``. ``scenario_path`` is recorded as
    provenance (and hashed) when given.
    """

    target: str | None = None
    rate: float | None = None
    duration_s: float | None = None
    workers: int = 0
    progress: bool = True
    master_bind: str = "127.0.0.1"
    master_port: int | None = None
    remote_workers: int = 0
    worker_wait_s: float = DEFAULT_WORKER_WAIT_S
    expose_master: bool = False
    scenario_path: Path | None = None
    allow_targets: tuple[str, ...] = ()  # --allow-target HOST|CIDR (beyond the default rule)
    #: Stream the interval series to this file during the run (the run's latency.hlog): memory
    #: stays bounded and an interrupted run keeps a log valid to its last interval.
    interval_log: Path | None = None

    @property
    def distributed(self) -> bool:
        """True when the run needs a master (any local or remote worker)."""
        return self.workers > 0 or self.remote_workers > 0

    @property
    def bind_host(self) -> str:
        """The address handed to ZeroMQ (``localhost`` spelled as the IPv4 loopback)."""
        return "127.0.0.1" if self.master_bind == "localhost" else self.master_bind

    @property
    def port(self) -> int:
        """The master port to bind (0: a free one); see the class docstring."""
        if self.master_port is not None:
            return self.master_port
        return DEFAULT_MASTER_PORT if self.remote_workers > 0 else 0

    def check(self) -> None:
        """Raise UsageError for contradictory or unsafe choices (before anything starts)."""
        if self.workers < 0:
            raise UsageError(f"--workers: expected 0 or more, got {self.workers}")
        if self.remote_workers < 0:
            raise UsageError(f"--remote-workers: expected 0 or more, got {self.remote_workers}")
        if not (math.isfinite(self.worker_wait_s) and self.worker_wait_s > 0):
            raise UsageError(
                f"--worker-wait-s: expected a positive number, got {self.worker_wait_s}"
            )
        if self.master_port is not None and not 0 <= self.master_port <= 65535:
            raise UsageError(f"--master-port: expected 0 to 65535, got {self.master_port}")
        _check_bind_syntax(self.master_bind)
        if not _is_loopback(self.master_bind) and not self.expose_master:
            raise UsageError(
                f"--master-bind {self.master_bind}: not a loopback address. Locust's master port "
                "has no authentication: anyone who reaches it can join as a worker and receives "
                "the scenario. Add --expose-master to bind it there anyway (the load target must "
                "still be loopback or 198.18.0.0/15)"
            )


def auto_workers() -> int:
    """``--workers auto``: one generator process per core this process may run on (its CPU
    affinity, so a container's or ``taskset``'s limit counts, not the host's core count).

    Every worker still watches itself (CPU, schedule lag: :mod:`harness.load.health`); on an
    overloaded machine (the target or other work sharing the cores) their lag exceeds the bound
    and the run is INVALID, whatever the worker count.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.IPv4Address(bind).is_loopback
    except ValueError:
        return False


def _check_bind_syntax(bind: str) -> None:
    # Locust writes "tcp://HOST:PORT", which has no room for an IPv6 literal; ZeroMQ would read a
    # host name as an interface name. Accept what binds unambiguously.
    if bind in WILDCARD_BINDS or bind == "localhost":
        return
    try:
        ipaddress.IPv4Address(bind)
    except ValueError:
        raise UsageError(
            f"--master-bind {bind!r}: expected an IPv4 address, localhost or * (every interface)"
        ) from None
