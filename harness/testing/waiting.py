"""Polling on observable state instead of sleeping for a guessed time.

A test that sleeps "long enough" for something to happen is slow when the machine is idle and
flaky when it is busy; :func:`wait_until` checks the thing itself, often, and gives up at a
bound with a message saying what never happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None], *, timeout_s: float, what: str, interval_s: float = 0.05
) -> T:
    """The first truthy value ``probe()`` returns, polled every ``interval_s`` seconds.

    Raises TimeoutError naming ``what`` when nothing truthy came back within ``timeout_s``.
    Bounded in time and in count (at most ``timeout_s / interval_s + 1`` probes).
    """
    deadline = time.monotonic() + timeout_s
    for _ in range(int(timeout_s / interval_s) + 2):
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval_s)
    raise TimeoutError(f"{what}: not within {timeout_s:g} s")
