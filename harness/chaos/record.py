"""What the guard reports per fault: the journal's ``rollbacks[]`` entry and its enums.

Times: ``*_at`` are UTC ISO-8601 with microseconds and a ``Z``; ``*_at_s`` are seconds since the
run's t0 (the load engine's start), so they line up with the report's latency intervals.
"""

from __future__ import annotations

import datetime as dt
import enum

import msgspec

__all__ = ["RollbackRecord", "RollbackStatus", "Trigger", "utc_text"]


class RollbackStatus(enum.Enum):
    SUCCEEDED = "succeeded"  # the fault was verified gone
    FAILED = "failed"  # still in effect (or unknowable); its ledger entry stays for cleanup


class Trigger(enum.Enum):
    """Why a fault came off."""

    SCHEDULED = "scheduled"  # its time was up (tick)
    REQUESTED = "requested"  # rollback(handle)
    END = "end"  # the guarded block ended normally
    EXCEPTION = "exception"
    LOAD_FAILED = "load_failed"  # the load callable given to run() raised
    INTERRUPT = "interrupt"  # SIGINT / SIGTERM / SIGHUP
    ABORT = "abort"  # an abort condition or an operator asked
    INJECT_FAILED = "inject_failed"  # injection raised or was not observed in effect


class RollbackRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One fault's rollback, as the journal's ``rollbacks[]`` entry."""

    fault: str
    kind: str
    injected_at: str
    injected_at_s: float
    rolled_back_at: str
    rolled_back_at_s: float
    status: RollbackStatus
    verified_gone: bool
    trigger: Trigger
    detail: str = ""


def utc_text(wall_ns: int) -> str:
    """``wall_ns`` (time.time_ns()) as ``2026-11-29T20:23:17.035484Z``."""
    stamp = dt.datetime.fromtimestamp(wall_ns / 1e9, tz=dt.UTC)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")
