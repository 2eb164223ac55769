"""Precise wake-ups at intended send times, inside gevent.

Why not ``gevent.sleep``: libev hands ``epoll_wait`` a timeout in whole milliseconds, rounded up,
so a greenlet sleeping until an intended time wakes on average ~0.7 ms late, with a tail of
several ms (measured here: p50 0.70 ms, p99 3 ms). In an open model that overshoot is added to
every latency measured from the intended time, i.e. the generator reports its own lateness as
the target's.

What we do instead (:class:`TimerfdWaker`, Linux): arm a ``timerfd`` (``CLOCK_MONOTONIC``,
absolute, nanosecond resolution, no timer slack) :data:`SPIN_NS` before the intended time and let
gevent's hub wait for it to become readable. An fd wake-up is not subject to epoll's millisecond
rounding; what remains is the kernel's wake-up latency (~50-100 us on these VMs), which the last
:data:`SPIN_NS` absorb by yielding (``gevent.sleep(0)``, which still services other greenlets'
I/O) until the clock reaches the intended time. Measured at 200 wake-ups/s: overshoot p50 1.2 us,
p90 2.2 us, for ~2% of one core. Python 3.11 has no ``os.timerfd_create`` (3.13 does), hence the
ctypes binding to libc; :class:`SleepWaker` (coarse ``gevent.sleep`` to 1.5 ms before the time,
then the same spin) is the fallback elsewhere.

Importing this module imports Locust first, so gevent's monkey-patching happens before anything
else in the process uses sockets or threads.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from typing import Final, Protocol

import gevent
import locust  # noqa: F401  (monkey-patches the process with gevent; must come first)
from gevent.hub import get_hub

__all__ = ["SPIN_NS", "SleepWaker", "TimerfdWaker", "Waker", "make_waker"]

#: The last stretch before an intended time is covered by yielding, not by a timer.
SPIN_NS: Final = 200_000
_COARSE_MARGIN_NS: Final = 1_500_000  # gevent.sleep overshoots by up to ~1 ms (ms rounding)
_MAX_SPINS: Final = 10_000_000  # a bound on yields per wait; at ~2 us each, far beyond SPIN_NS

_CLOCK_MONOTONIC: Final = 1
_TFD_NONBLOCK: Final = os.O_NONBLOCK
_TFD_CLOEXEC: Final = 0o2000000
_TFD_TIMER_ABSTIME: Final = 1


class Waker(Protocol):
    """Blocks the calling greenlet until ``time.monotonic_ns()`` reaches a given value."""

    def wait_until(self, mono_ns: int) -> None:
        """Return at ``mono_ns`` (immediately if it has passed); other greenlets run meanwhile."""

    def close(self) -> None:
        """Release OS resources."""


def _spin_until(mono_ns: int) -> None:
    clock = time.monotonic_ns
    for _ in range(_MAX_SPINS):
        if clock() >= mono_ns:
            return
        gevent.sleep(0)


class SleepWaker:
    """Portable fallback: ``gevent.sleep`` until shortly before, then yield until the time."""

    def wait_until(self, mono_ns: int) -> None:
        """See :class:`Waker`."""
        coarse = (mono_ns - _COARSE_MARGIN_NS - time.monotonic_ns()) / 1e9
        if coarse > 0:
            gevent.sleep(coarse)
        _spin_until(mono_ns)

    def close(self) -> None:
        """Nothing to release."""


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


class TimerfdWaker:
    """Linux: a ``timerfd`` watched by gevent's hub, then a short spin (see the module doc)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._settime = libc.timerfd_settime
        self._settime.argtypes = (
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        )
        create = libc.timerfd_create
        create.argtypes = (ctypes.c_int, ctypes.c_int)
        fd = int(create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC))
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._fd = fd
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        self._hub = get_hub()
        self._watcher = self._hub.loop.io(fd, 1)  # 1 = READ

    def wait_until(self, mono_ns: int) -> None:
        """See :class:`Waker`."""
        arm = mono_ns - SPIN_NS
        if arm > time.monotonic_ns():
            value = self._spec.it_value
            value.tv_sec, value.tv_nsec = divmod(arm, 1_000_000_000)
            if self._settime(self._fd, _TFD_TIMER_ABSTIME, self._spec_ref, None) != 0:
                raise OSError(ctypes.get_errno(), "timerfd_settime failed")
            self._hub.wait(self._watcher)
            with contextlib.suppress(BlockingIOError):
                os.read(self._fd, 8)  # consume the expiration count
        _spin_until(mono_ns)

    def close(self) -> None:
        """Close the timer fd (idempotent)."""
        if self._fd >= 0:
            self._watcher.close()
            os.close(self._fd)
            self._fd = -1


def make_waker() -> Waker:
    """The most precise waker this platform offers."""
    if sys.platform.startswith("linux"):
        try:
            return TimerfdWaker()
        except (OSError, AttributeError):
            pass
    return SleepWaker()
