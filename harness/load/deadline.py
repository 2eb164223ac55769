"""Per-request deadlines for the generator's cooperative sockets: one watchdog timer per hub.

Why: a gevent socket with a timeout makes every blocking call that has to wait create a
``gevent.Timeout`` (a Python object, a libev timer, start, cancel, close) and every
``settimeout`` is Python code too. On the floor benchmark (``bench_generator.py --only cost``,
level 4) that was +27 us of about 194 us per request on a quiet machine, more than any step but
building the request. Here the sockets have no timeout (a wait is one ``hub.wait``) and a
:class:`Deadline` per connection only *notes* the deadline of the exchange in flight (the
running greenlet, the deadline, one comparison; a store at its end). One :class:`Watchdog` per
hub holds a single libev timer armed at the earliest deadline it has been told of; when it fires
it compares each noted deadline with ``time.monotonic_ns()``, throws ``TimeoutError`` into every
greenlet whose deadline has passed (the greenlet is blocked in a socket wait: see the
invariants), and re-arms itself at the earliest deadline still in flight. Under a steady load
with one timeout per engine, deadlines arrive in increasing order, so the timer is re-armed
about once per timeout period, not per request.

Alternatives measured (``python benchmarks/deadline_forms.py``: the gevent floor, 10 slots, a
2 s deadline per request in each form, time-sliced in one process; CPU us per request over the
floor, median of per-cycle differences; 2026-11-30, 2 cores shared, load average 5-6; two runs
of 24 and 12 cycles, and two earlier runs of the same loop):

==============================  ============  ============  ===========
form                            24 cycles     12 cycles     earlier
==============================  ============  ============  ===========
socket timeout (before)         +26.5         +20.5         +19.5/+28.8
libev timer per connection      +3.7          +5.4          +3.3/+5.3
this watchdog                   +4.3          +5.6          +1.0/+0.9
==============================  ============  ============  ===========

Both cheap forms remove 80-95% of the cost and are within each other's noise. The watchdog is
the one kept: per request it makes no call into libev at all (a persistent timer is started and
stopped per request: two Cython calls, a heap insert and removal, and a clock read when it is
started with ``update=True``; without it libev counts from the loop's cached time and the timer
can fire *before* the deadline), and it never throws before the deadline, because it compares
each deadline with ``time.monotonic_ns()`` when it fires.

Precision: a deadline fires no earlier than ``deadline_ns`` and, on a hub that is not busy,
within about 1 ms after it: the libev timer's own resolution (epoll's timeout is in whole
milliseconds and libev rounds it up), the same as the ``gevent.Timeout`` it replaces. A busy hub
delays it as it delays any wake-up (and as it delayed the Timeout); measured in the tests' child
on the shared machine (load average about 4): 0.3-2.4 ms late. ``tests/load/
test_load_deadline.py`` checks both bounds (tolerantly) with a stalled server, a server that
stalls half-way through a response, and many slots with different deadlines.

Invariants:
- a greenlet is thrown into only while it is inside ``Deadline.start`` .. ``Deadline.stop``
  and blocked (the watchdog runs in the hub, so the greenlet is not running); a guarded region
  must yield only in socket waits (no sleeps, no locks), so the throw lands in a wait;
- the thrown ``TimeoutError`` is new per expiry and ``deadline_ns`` is cleared first: a region
  is thrown into at most once;
- the throw is synchronous (from the timer's callback, like ``gevent.Timeout``): a greenlet
  whose socket became ready in the same loop iteration cannot leave the region and be thrown
  into in its next one.

Used only where ``socket`` is gevent-patched (:func:`watchdog`); on plain blocking sockets (unit
tests, benchmarks without gevent) the client keeps per-call socket timeouts.
"""

from __future__ import annotations

import sys
import time
import weakref
from collections.abc import Callable
from typing import Any, Final

__all__ = ["Deadline", "Watchdog", "watchdog"]

_IDLE: Final = 1 << 62  # "no timer armed": later than any monotonic_ns deadline
_ATTR: Final = "_slo_harness_watchdog"


class Deadline:
    """One connection's deadline, noted per exchange (see the module docstring)."""

    __slots__ = ("__weakref__", "_getcurrent", "deadline_ns", "greenlet", "watchdog")

    def __init__(self, dog: Watchdog) -> None:
        self.watchdog = dog
        self._getcurrent = dog.current
        self.deadline_ns = 0  # 0: no exchange in flight
        self.greenlet: Any = None
        dog.watch(self)

    def start(self, deadline_ns: int) -> None:
        """The calling greenlet's socket waits raise ``TimeoutError`` once ``deadline_ns``
        (``time.monotonic_ns``) has passed, until :meth:`stop`."""
        self.greenlet = self._getcurrent()
        self.deadline_ns = deadline_ns
        dog = self.watchdog
        if deadline_ns < dog.armed_ns:
            dog.arm(deadline_ns)

    def stop(self) -> None:
        """No deadline any more (the exchange ended, whatever the way)."""
        self.deadline_ns = 0


class Watchdog:
    """The deadlines of one hub's connections and one libev timer (see the module docstring)."""

    __slots__ = ("_deadlines", "_loop", "_timer", "armed_ns", "arms", "current", "fired")

    def __init__(self, loop: Any, current: Callable[[], Any]) -> None:
        """``loop``: the hub's libev loop (``timer(after_s)``); ``current``: the running
        greenlet (``gevent.getcurrent``)."""
        self._loop = loop
        self.current = current
        self._timer: Any = None
        self._deadlines: weakref.WeakSet[Deadline] = weakref.WeakSet()
        #: The deadline the timer is armed for (``_IDLE`` when it is not armed).
        self.armed_ns = _IDLE
        #: Timers armed and expiries thrown so far (counts, for tests and the curious).
        self.arms = 0
        self.fired = 0

    def watch(self, deadline: Deadline) -> None:
        """Hold ``deadline`` (weakly: a dropped connection leaves with its Deadline)."""
        self._deadlines.add(deadline)

    def arm(self, at_ns: int) -> None:
        """Fire no later than ``at_ns`` (re-arms only for an earlier time than the armed one)."""
        if at_ns >= self.armed_ns:
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer.close()
        # libev's timer counts from the loop's cached clock, which may be behind: it can fire
        # early (harmless, _fire re-checks the real clock), never late by that.
        after_s = max(0.0, (at_ns - time.monotonic_ns()) / 1e9)
        # ref=False: the timer alone does not keep the loop alive (a guarded wait's own watcher
        # does), so an armed watchdog never delays the end of a hub.join() / gevent.wait().
        self._timer = self._loop.timer(after_s, ref=False)
        self._timer.start(self._fire)
        self.armed_ns = at_ns
        self.arms += 1

    def _fire(self) -> None:
        self.armed_ns = _IDLE
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.close()
        try:
            self._expire()
        finally:
            self._rearm()

    def _expire(self) -> None:
        now = time.monotonic_ns()
        for deadline in list(self._deadlines):
            at = deadline.deadline_ns
            if not at or at > now:
                continue
            deadline.deadline_ns = 0  # thrown at most once per region
            greenlet = deadline.greenlet
            if greenlet is None or greenlet.dead:
                continue
            self.fired += 1
            # Switches to the greenlet now (it is blocked in a socket wait: it is not running
            # and its region yields nowhere else); back here when it blocks again.
            greenlet.throw(TimeoutError("deadline passed"))

    def _rearm(self) -> None:
        pending = [d.deadline_ns for d in list(self._deadlines) if d.deadline_ns]
        if pending:
            self.arm(min(pending))


def watchdog() -> Watchdog | None:
    """The current thread's hub's watchdog when ``socket`` is gevent-patched, else None."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("socket"):
        return None
    from gevent import get_hub, getcurrent

    hub = get_hub()
    dog = getattr(hub, _ATTR, None)
    if dog is None:
        dog = Watchdog(hub.loop, getcurrent)
        setattr(hub, _ATTR, dog)
    assert isinstance(dog, Watchdog)
    return dog
