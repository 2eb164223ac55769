"""Test hooks that make the service slow in one named stage, on purpose (never on by default).

Why: the harness's tail explanation (``harness.slo.explain_tails``) must be shown to name the
right stage when a real cause is present. Two causes the README documents are reproduced here,
each on every N-th event so the slowdown lands in the tail (not the median):

* ``--debug-fsync-delay-ms D --debug-fsync-delay-every N``: a disk that stalls. After every N-th
  group-commit fsync the audit writer thread sleeps D ms before the batch's waiters are woken, so
  every durable decision in that batch (and the records queued behind it) waits, as on a real
  fsync stall;
* ``--debug-feature-delay-ms D --debug-feature-delay-every N``: a slow feature store. Every N-th
  velocity lookup takes D ms; with D above ``--feature-budget-ms`` the lookup times out and the
  decision is scored degraded, as with a slow Redis. The wrapped store reports itself as not in
  memory so lookups run under the budget (``BudgetedFeatures``).

Both hooks are hidden flags (``argparse.SUPPRESS``), like ``--debug-handler-delay-ms``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from reference_service.featurestore import FeatureStore
from reference_service.model.features import Velocity

__all__ = ["SlowStore", "stalling_fsync"]


class SlowStore:
    """A :class:`FeatureStore` whose every ``every``-th lookup takes ``delay_s`` longer."""

    in_memory = False

    def __init__(self, inner: FeatureStore, delay_s: float, every: int) -> None:
        if every < 1:
            raise ValueError("every must be >= 1")
        self._inner = inner
        self._delay_s = delay_s
        self._every = every
        self._n = 0

    async def velocity(self, token: str, now: float) -> Velocity:
        self._n += 1
        if self._n % self._every == 0:
            await asyncio.sleep(self._delay_s)
        return await self._inner.velocity(token, now)

    async def record(self, token: str, now: float, amount_usd: float) -> None:
        await self._inner.record(token, now, amount_usd)

    async def close(self) -> None:
        await self._inner.close()


def stalling_fsync(
    hook: Callable[[float, int], None], delay_s: float, every: int
) -> Callable[[float, int], None]:
    """An fsync hook that sleeps ``delay_s`` after every ``every``-th fsync, then calls ``hook``.

    It runs on the audit writer thread after the fsync and before the batch's waiters are woken,
    so the sleep is seen by the clients exactly like a slower fsync (and by the metrics too).
    """
    if every < 1:
        raise ValueError("every must be >= 1")
    count = 0

    def stalled(seconds: float, records: int) -> None:
        nonlocal count
        count += 1
        if count % every == 0:
            time.sleep(delay_s)
            seconds += delay_s
        hook(seconds, records)

    return stalled
