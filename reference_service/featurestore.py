"""Velocity features per card token over sliding 1 h / 24 h windows, in-process or in Redis.

The store is on the critical path of every decision, so :class:`BudgetedFeatures` puts a hard
budget around it (default 10 ms): on timeout or any error the decision is scored without velocity
(``degraded``) rather than late. Three layers keep that promise when Redis misbehaves:

* ``asyncio.wait_for`` bounds every lookup, whatever the client does;
* the Redis client itself has socket timeouts and no retries, so a cancelled call does not leave a
  retry loop running in the background;
* a small circuit breaker: after a run of failures lookups are skipped (degraded at once, no wait)
  for a cool-down, then one probe is let through. Without it a hung Redis would cost every request
  the full budget and shrink throughput by an order of magnitude exactly when the system is hurt.

Time is the server's wall clock at receipt, not the request's ``timestamp``: a client must not be
able to age its own history out of the window by sending old or future timestamps.

The in-process store (:mod:`reference_service.memstore`: exact 1 h, 1-minute buckets for 24 h, a
hard memory bound with LRU eviction of cards) is plain memory: its calls cannot block, so they are
awaited directly, with no timeout task around them (a task per request would cost more than the
lookup).

Writes (recording a scored transaction) happen after the decision and are not part of its budget:
they cannot change the decision already made. In-process writes complete inline (microseconds);
Redis writes run as bounded background tasks (at most ``max_pending_writes``, each under the same
budget); excess writes are dropped and counted rather than queued without limit.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from typing import Final, Protocol

from reference_service.memstore import WINDOW_1H_S, WINDOW_24H_S, InProcessStore
from reference_service.model.features import Velocity

__all__ = [
    "WINDOW_1H_S",
    "WINDOW_24H_S",
    "BudgetedFeatures",
    "FeatureStore",
    "InProcessStore",
    "LookupOutcome",
    "RedisStore",
]


class FeatureStore(Protocol):
    """Where velocity lives. ``now`` is Unix seconds; amounts are USD."""

    #: True when the store is process memory: its calls never suspend (no I/O), so callers await
    #: them inline, without a timeout task (saves a task and a loop iteration per request).
    in_memory: bool

    async def velocity(self, token: str, now: float) -> Velocity: ...

    async def record(self, token: str, now: float, amount_usd: float) -> None: ...

    async def close(self) -> None: ...


class RedisStore:
    """Velocity in Redis: one sorted set per card (score = time, member = ``time:amount:nonce``).

    A lookup is one pipelined round trip (trim + range); a write is one more (add, trim, expire).
    Keys expire a little after the 24 h window so idle cards cost nothing.
    """

    in_memory = False

    def __init__(self, url: str, timeout_s: float, key_prefix: str = "slo:vel:") -> None:
        # Imported here so the in-process default does not pay for importing redis.
        from redis.asyncio import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._redis = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self._prefix = key_prefix
        self._nonce = os.urandom(3).hex()
        self._seq = 0

    async def velocity(self, token: str, now: float) -> Velocity:
        key = self._prefix + token
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(key, now - WINDOW_24H_S, "+inf", withscores=True)
            (rows,) = await pipe.execute()
        c1 = c24 = 0
        a1 = a24 = 0.0
        h1 = now - WINDOW_1H_S
        for member, ts in rows:
            amt = float(member.split(b":", 2)[1])
            c24 += 1
            a24 += amt
            if ts > h1:
                c1 += 1
                a1 += amt
        return Velocity(c1, c24, a1, a24)

    async def record(self, token: str, now: float, amount_usd: float) -> None:
        key = self._prefix + token
        self._seq += 1
        amt = amount_usd if math.isfinite(amount_usd) else 0.0
        member = f"{now:.6f}:{amt:.6f}:{self._nonce}{self._seq}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {member: now})
            pipe.zremrangebyscore(key, "-inf", now - WINDOW_24H_S)
            pipe.expire(key, int(WINDOW_24H_S) + 3600)
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()


class LookupOutcome:
    """Why a lookup returned no velocity (label values of the degraded metric)."""

    TIMEOUT: Final = "timeout"
    ERROR: Final = "error"
    CIRCUIT_OPEN: Final = "circuit_open"
    ALL: Final = (TIMEOUT, ERROR, CIRCUIT_OPEN)


class BudgetedFeatures:
    """Runs store calls under a time budget with a circuit breaker; see the module docstring."""

    def __init__(
        self,
        store: FeatureStore,
        budget_s: float,
        *,
        failure_threshold: int = 5,
        cooldown_s: float = 1.0,
        max_pending_writes: int = 256,
        on_degraded: Callable[[str], None] | None = None,
        on_write_dropped: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.budget_s = budget_s
        self._failure_threshold = failure_threshold
        self._cooldown_s = cooldown_s
        self._failures = 0
        self._open_until = 0.0
        self._probing = False
        self._pending: set[asyncio.Task[None]] = set()
        self._max_pending = max_pending_writes
        self._on_degraded = on_degraded
        self._on_write_dropped = on_write_dropped
        self._clock = clock

    def _degraded(self, why: str) -> None:
        if self._on_degraded is not None:
            self._on_degraded(why)

    async def velocity(self, token: str, now: float) -> Velocity | None:
        """Velocity of ``token``, or None when the store did not answer within the budget."""
        if self.store.in_memory:
            return await self.store.velocity(token, now)  # memory: cannot block, cannot time out
        probing = False
        if self._failures >= self._failure_threshold:
            if self._probing or self._clock() < self._open_until:
                self._degraded(LookupOutcome.CIRCUIT_OPEN)
                return None
            self._probing = probing = True  # half-open: this request is the probe
        try:
            v = await asyncio.wait_for(self.store.velocity(token, now), self.budget_s)
        except TimeoutError:
            self._fail(LookupOutcome.TIMEOUT)
            return None
        except Exception:
            self._fail(LookupOutcome.ERROR)
            return None
        finally:
            if probing:
                self._probing = False
        self._failures = 0
        return v

    def _fail(self, why: str) -> None:
        self._failures += 1
        if self._failures >= self._failure_threshold:
            self._open_until = self._clock() + self._cooldown_s
        self._degraded(why)

    async def record(self, token: str, now: float, amount_usd: float) -> None:
        """Record a decided transaction: inline in-process, else as a bounded background task."""
        if self.store.in_memory:
            await self.store.record(token, now, amount_usd)
            return
        if len(self._pending) >= self._max_pending or self._failures >= self._failure_threshold:
            if self._on_write_dropped is not None:
                self._on_write_dropped()
            return
        task = asyncio.create_task(self._bounded_write(token, now, amount_usd))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _bounded_write(self, token: str, now: float, amount_usd: float) -> None:
        try:
            await asyncio.wait_for(self.store.record(token, now, amount_usd), self.budget_s * 5)
        except Exception:
            if self._on_write_dropped is not None:
                self._on_write_dropped()

    async def close(self, timeout_s: float = 1.0) -> None:
        """Let pending writes finish (bounded), then close the store."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)
        for t in self._pending:
            t.cancel()
        await self.store.close()
