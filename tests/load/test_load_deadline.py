"""Per-request deadlines under gevent: one watchdog timer per hub instead of a socket timeout.

The watchdog's logic runs here on a fake loop (no gevent in the pytest process); the client's
deadlines run for real in ``_deadline_child.py`` (gevent-patched, its own process): a stalled
server, a server that stalls half-way through a response, TLS, the TLS handshake, many slots
with different deadlines next to slots that keep getting answers. The bounds on lateness are
tolerant (a shared CI machine delays any wake-up); the docstring of harness.load.deadline gives
the precision measured on an idle machine.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from load_support import ROOT

from harness.load.deadline import Deadline, Watchdog

#: How late (ms) a deadline may fire here: the watchdog itself adds about 1 ms; the rest is room
#: for a loaded CI machine. A watchdog that stopped re-arming would hang (reported "hung").
_LATE_MS = 100.0


class _Timer:
    def __init__(self, loop: _Loop, after_s: float) -> None:
        self.after_s = after_s
        self.callback: Any = None
        self.active = False
        loop.timers.append(self)

    def start(self, callback: Any) -> None:
        self.callback, self.active = callback, True

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.active = False


class _Loop:
    def __init__(self) -> None:
        self.timers: list[_Timer] = []

    def timer(self, after_s: float, ref: bool = True) -> _Timer:
        assert not ref  # an armed watchdog must not keep the loop alive by itself
        return _Timer(self, after_s)

    def fire(self) -> None:
        """Run the active timer's callback (as libev would when it expires)."""
        (active,) = [t for t in self.timers if t.active]
        active.active = False
        active.callback()


class _Greenlet:
    def __init__(self, dead: bool = False) -> None:
        self.dead = dead
        self.thrown: list[BaseException] = []

    def throw(self, exc: BaseException) -> None:
        self.thrown.append(exc)


def _watched(n: int, dead: bool = False) -> tuple[_Loop, Watchdog, list[Deadline], list[_Greenlet]]:
    loop = _Loop()
    greenlets = [_Greenlet(dead) for _ in range(n)]
    current = itertools.cycle(greenlets)  # deadline k is started from greenlet k
    dog = Watchdog(loop, lambda: next(current))
    return loop, dog, [Deadline(dog) for _ in range(n)], greenlets


def _in_ms(ms: float) -> int:
    return time.monotonic_ns() + int(ms * 1e6)


def test_later_deadlines_do_not_touch_the_armed_timer() -> None:
    """Deadlines noted in increasing order arm one timer, at the first; an earlier one re-arms."""
    loop, dog, deadlines, _ = _watched(3)
    deadlines[0].start(_in_ms(500))
    deadlines[1].start(_in_ms(900))
    assert len(loop.timers) == 1
    assert 0.4 < loop.timers[0].after_s <= 0.5
    deadlines[2].start(_in_ms(100))
    assert len(loop.timers) == 2
    assert not loop.timers[0].active
    assert loop.timers[1].active
    assert dog.arms == 2


def test_a_timer_that_fires_early_throws_nothing_and_rearms() -> None:
    """The loop's cached clock can make the timer fire before the deadline: nothing is thrown,
    the timer is armed again for the same deadline."""
    loop, dog, (deadline,), (greenlet,) = _watched(1)
    at = _in_ms(10_000)
    deadline.start(at)
    loop.fire()
    assert greenlet.thrown == []
    assert dog.armed_ns == at
    assert sum(t.active for t in loop.timers) == 1


def test_only_a_passed_deadline_is_thrown_into_once_and_the_next_is_armed() -> None:
    """A passed deadline throws TimeoutError into its greenlet once; a stopped one and a future
    one are left alone, and the timer is re-armed at the future one."""
    loop, dog, (late, stopped, future), (g_late, g_stopped, g_future) = _watched(3)
    late.start(_in_ms(-1))
    stopped.start(_in_ms(-2))
    stopped.stop()
    later = _in_ms(5_000)
    future.start(later)
    loop.fire()
    assert [type(e) for e in g_late.thrown] == [TimeoutError]
    assert g_stopped.thrown == []
    assert g_future.thrown == []
    assert late.deadline_ns == 0
    assert dog.fired == 1
    assert dog.armed_ns == later
    loop.fire()  # early for `future`: nothing more is thrown
    assert len(g_late.thrown) == 1


def test_nothing_in_flight_leaves_the_timer_idle() -> None:
    """With nothing in flight a fire arms nothing; a dead greenlet is not thrown into."""
    loop, dog, (deadline,), (greenlet,) = _watched(1, dead=True)
    deadline.start(_in_ms(-1))
    loop.fire()
    assert greenlet.thrown == []
    assert dog.fired == 0
    assert not any(t.active for t in loop.timers)
    deadline.start(_in_ms(1_000))
    assert sum(t.active for t in loop.timers) == 1


@pytest.fixture(scope="module")
def under_gevent(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The cases of _deadline_child.py, run once in a gevent-patched process."""
    pki_dir = tmp_path_factory.mktemp("deadline-pki")  # pytest's, removed with its tmp tree
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "load" / "_deadline_child.py"), str(pki_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _timed_out(case: Any, message: str = "no complete response before the timeout") -> None:
    assert case != "hung"
    assert case["outcome"] == "RequestTimeout", case
    assert case["message"] == message
    assert 0.0 <= case["late_ms"] < _LATE_MS, case


def test_stalled_slots_with_different_deadlines_each_time_out_at_their_own(
    under_gevent: dict[str, Any],
) -> None:
    """8 slots on a stalled server, deadlines 40 ms apart: each RequestTimeout comes at its own
    deadline (never before), while slots on a live server get every answer."""
    many = under_gevent["many"]
    assert many != "hung"
    for case in many["stalled"]:
        _timed_out(case)
    assert many["busy"] == ["status 200"]
    assert many["busy_n"] >= 10


def test_a_response_that_stalls_half_way_times_out(under_gevent: dict[str, Any]) -> None:
    """A head and part of the body, then nothing: RequestTimeout at the deadline."""
    _timed_out(under_gevent["half"])


def test_tls_round_trip_handshake_and_connect_time_out(under_gevent: dict[str, Any]) -> None:
    """Over TLS, a stalled server and one that never answers the handshake both time out; so
    does a connect that is never accepted (both under their socket timeout, once per
    connection)."""
    _timed_out(under_gevent["tls_stall"])
    _timed_out(under_gevent["tls_handshake"], "TLS handshake timed out")
    _timed_out(under_gevent["connect"], "connect timed out")


def test_a_slot_recovers_after_a_timeout_and_is_not_interrupted_early(
    under_gevent: dict[str, Any],
) -> None:
    """After a timeout the connection is replaced and the next requests (60 ms answers under
    500 ms and 120 ms deadlines) succeed: no late throw lands in a later exchange."""
    first, second, third = under_gevent["recovers"]
    _timed_out(first)
    assert second["outcome"] == third["outcome"] == "status 200"
    # Every watchdog expiry was one of the RequestTimeouts above (the handshake's is a socket
    # timeout): 8 + half + TLS + the first of `recovers`.
    assert under_gevent["fired"] == 11


def test_a_request_past_its_deadline_is_not_sent(under_gevent: dict[str, Any]) -> None:
    """Under the watchdog, an exchange whose deadline has passed is a RequestTimeout before the
    send: the server sees only the connection's earlier request."""
    assert under_gevent["past"] == {
        "first": "status 200",
        "late": "RequestTimeout: deadline passed",
        "requests": 1,
    }
