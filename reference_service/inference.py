"""Where the model runs: on the event loop, or on a dedicated inference thread (a policy).

A worker is one event loop. While the loop runs a model call it reads nothing, refuses nothing
and answers nothing: at three times the capacity of a model that takes 4 ms per call, every
request arriving meanwhile (a 503 to be, a readiness probe) waits for the admitted calls of the
current loop iteration, and admitted requests wait for each other in the loop's ready queue where
admission cannot see them (measured with the model inline: 503 p50 10.5 ms at the client,
admitted p99 51.5 ms; README, "Overload"). ONNX Runtime releases the GIL for the whole of
``run``, so the same call on another thread leaves the loop free to keep turning over.

The hop has a price, though, and the packaged model does not need it: encoding plus ONNX is
about 27 us per request, and a hop (``run_in_executor`` on a dedicated pool: queue the call, wake
the thread, wake the loop with ``call_soon_threadsafe``, resume the coroutine) costs several
times that in CPU, split over two threads, plus a loop iteration (numbers: README, "Overload";
``benchmarks/bench_overload.py`` measures them). Hence :class:`InferencePolicy`:

``inline``  the model runs on the loop (no hop; the light model's right choice);
``thread``  every model call goes to the inference thread(s) (``--inference-threads``, default 1;
            ONNX Runtime's own ``intra_op_num_threads`` stays as configured);
``auto``    (default) offload while the median model call exceeds :data:`OFFLOAD_ABOVE_S`
            (0.5 ms: a call that long blocks the loop for several times the hop's cost, and
            about a hundredth of the 50 ms budget), return inline once it falls below
            :data:`INLINE_BELOW_S` (hysteresis, so a median near the line does not flap). The
            median comes from a calibration after warm-up (:func:`median_call_s`), then from
            every :data:`SAMPLE` timed calls (inline, one in :data:`INLINE_EVERY` is timed).

Invariants: the thread runs nothing but the call it is given (a pure function of its arguments;
no event-loop object is touched there); a caller passes arrays nobody writes while it waits (the
pipeline copies its shared row before offloading); results and exceptions come back on the loop.
The time a call waited for a free inference thread is reported (``on_wait``) so that admission
does not mistake waiting for the thread for the request's own no-queue time, and
:meth:`Inference.busy_s` (seconds the threads spent in calls, per thread) bounds the completion
rate admission may assume (:mod:`reference_service.admission`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any, Final, TypeVar

__all__ = [
    "INLINE_BELOW_S",
    "INLINE_EVERY",
    "OFFLOAD_ABOVE_S",
    "SAMPLE",
    "Inference",
    "InferencePolicy",
    "median_call_s",
]

T = TypeVar("T")

#: ``auto`` offloads above this median model call (seconds) ...
OFFLOAD_ABOVE_S: Final = 0.5e-3
#: ... and returns inline below this one.
INLINE_BELOW_S: Final = OFFLOAD_ABOVE_S / 2
#: Timed calls per median (a sort of this many floats every this many timed calls).
SAMPLE: Final = 256
#: Inline, one call in this many is timed (so a median every 2,048 calls: under a second at the
#: light model's rate); offloaded calls are all timed (the hop costs far more than the timing).
INLINE_EVERY: Final = 8


class InferencePolicy(StrEnum):
    """Where the model call runs (see the module docstring)."""

    INLINE = "inline"
    THREAD = "thread"
    AUTO = "auto"


def median_call_s(call: Callable[[], object], n: int = 31) -> float:
    """Median wall time of ``n`` calls of ``call`` (seconds); run it after the model's warm-up."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def _timed(fn: Callable[..., T], args: tuple[Any, ...]) -> tuple[T, float, float]:
    """Runs on the inference thread: the result, when the call started, how long it took."""
    started = time.perf_counter()
    out = fn(*args)
    return out, started, time.perf_counter() - started


class Inference:
    """Runs model calls inline or on the inference thread(s), as its policy decides."""

    __slots__ = (
        "_busy_s",
        "_clock",
        "_countdown",
        "_on_wait",
        "_pool",
        "_samples",
        "_threads",
        "offloaded",
        "p50_s",
        "policy",
    )

    def __init__(
        self,
        policy: InferencePolicy,
        threads: int = 1,
        *,
        p50_s: float = 0.0,
        on_wait: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.policy = policy
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._samples: list[float] = []
        self._busy_s = 0.0
        self._on_wait = on_wait
        self._countdown = INLINE_EVERY
        self._clock = clock  # times inline calls (tests pass a fake one)
        #: Median model call (seconds), from the calibration, then from every SAMPLE calls.
        self.p50_s = p50_s
        #: True while calls go to the inference thread(s); read it before each call.
        self.offloaded = False
        self._decide()

    def _decide(self) -> None:
        if self.policy is InferencePolicy.AUTO:
            line = INLINE_BELOW_S if self.offloaded else OFFLOAD_ABOVE_S
            offload = self.p50_s > line
        else:
            offload = self.policy is InferencePolicy.THREAD
        if offload and self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="inference")
            for _ in range(self._threads):  # start the threads now, not in the first requests
                self._pool.submit(int)
        self.offloaded = offload

    def inline(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the calling (loop) thread; one call in :data:`INLINE_EVERY` is timed
        for the policy (timing them all cost about 1 us per call, a measurable share of the light
        model's request)."""
        self._countdown -= 1
        if self._countdown:
            return fn(*args)
        self._countdown = INLINE_EVERY
        clock = self._clock
        t = clock()
        out = fn(*args)
        self._sample(clock() - t)
        return out

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on an inference thread; the loop runs other callbacks meanwhile."""
        assert self._pool is not None  # offloaded implies a pool (see _decide)
        submitted = time.perf_counter()
        loop = asyncio.get_running_loop()
        out, started, took = await loop.run_in_executor(self._pool, _timed, fn, args)
        self._busy_s += took
        if self._on_wait is not None:
            self._on_wait(max(0.0, started - submitted))
        self._sample(took)
        return out

    def _sample(self, seconds: float) -> None:
        xs = self._samples
        xs.append(seconds)
        if len(xs) >= SAMPLE:
            xs.sort()
            self.p50_s = xs[len(xs) // 2]
            xs.clear()
            if self.policy is InferencePolicy.AUTO:
                self._decide()

    def busy_s(self) -> float:
        """Seconds the inference threads spent in calls so far, per thread (a clock that runs
        at most as fast as wall time while every thread is busy)."""
        return self._busy_s / self._threads

    def close(self) -> None:
        """Wait for calls in progress, then stop the threads (idempotent)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.offloaded = False
