"""The guard driven from gevent greenlets, as the game-day runner does inside a Locust process.

Monkey-patches first (as Locust does), then: a "runner" greenlet injects a real SIGSTOP pause of a
sleeper child with a 0.3 s schedule plus fake faults and calls ``tick()`` every 10 ms; a second
greenlet aborts at 0.6 s while the runner keeps injecting; a heartbeat greenlet measures the
longest gap between its 5 ms wake-ups (a blocked hub shows up there). Prints ``RESULT <json>``.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import msgspec  # noqa: E402

from harness.chaos import (  # noqa: E402
    ChildSupervisor,
    FakeFault,
    FaultGuard,
    PauseFault,
    ProcessRef,
)
from harness.errors import FaultError  # noqa: E402
from harness.ledger import Ledger, UndoStatus, register_undo  # noqa: E402

register_undo("fault.fake", lambda _e: UndoStatus.ALREADY_GONE)


def main() -> None:
    ledger = Ledger()
    gaps: list[float] = []
    stop = [False]

    def heartbeat() -> None:
        last = time.monotonic()
        while not stop[0]:
            gevent.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    argv = [sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"]
    with ChildSupervisor(argv, ledger, label="sleeper") as sleeper, FaultGuard(ledger) as guard:
        target = ProcessRef.of(sleeper.pid or 0)
        refused = [0]
        pause_seen = [False]

        def runner() -> None:
            guard.inject(PauseFault(target), duration_s=0.3)
            for i in range(200):
                pause_seen[0] |= target.stopped()
                guard.tick()
                try:
                    guard.inject(FakeFault(f"fake{i}"), duration_s=0.05)
                except FaultError:
                    refused[0] += 1
                gevent.sleep(0.01)

        def aborter() -> None:
            gevent.sleep(0.6)
            guard.abort("abort condition in a greenlet")

        beat = gevent.spawn(heartbeat)
        jobs = [gevent.spawn(runner), gevent.spawn(aborter)]
        gevent.joinall(jobs, timeout=20, raise_error=True)
        stop[0] = True
        beat.join(timeout=5)
        done = all(j.dead for j in jobs)
    result = {
        "done": done,
        "records": guard.records,
        "refused": refused[0],
        "pause_seen": pause_seen[0],
        "stopped_after": target.stopped(),
        "max_gap_s": max(gaps),
        "entries": len(ledger.entries()),
    }
    print("RESULT " + msgspec.json.encode(result).decode(), flush=True)


if __name__ == "__main__":
    main()
