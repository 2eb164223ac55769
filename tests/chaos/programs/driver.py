"""The harness side of the interruption tests, run as its own process so real signals arrive.

``driver.py MODE [--root]`` starts an echo server and a sleeper under ChildSupervisors, injects
real process faults through a FaultGuard (SIGSTOP pause of the server, a CPU hog, memory
pressure; with ``--root`` also a cgroup freeze of the sleeper and a CPU throttle of the server),
prints ``READY <json>`` describing what exists, then waits for its interruption:

- ``wait``: a signal (SIGINT/SIGTERM/SIGHUP) or SIGKILL from the test;
- a stdin command: ``exit`` (normal end), ``raise`` (exception), ``load-fail`` (the load callable
  raises), ``abort`` (guard.abort, then ``ABORTED`` and wait for ``exit``);
- ``double``: also injects a slow-rollback fault that prints ``ROLLING`` and waits for the file
  named in ``READY`` before finishing (the test sends a second SIGINT meanwhile).

On the way out it prints ``RECORDS <json>``. Exit codes: 0 end, 1 exception, 3 interrupted.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from harness.chaos import (
    ChildSupervisor,
    CpuHogFault,
    CpuThrottleFault,
    FaultGuard,
    MemoryPressureFault,
    PauseFault,
    PauseMethod,
    ProcessRef,
    UndoEntry,
    tcp_ready,
)
from harness.ledger import Ledger, LedgerEntry, UndoStatus, register_undo

HERE = Path(__file__).parent


@dataclass
class SlowRollback:
    """A fault whose rollback takes until ``release`` exists (or 20 s): room for a 2nd Ctrl-C."""

    release: Path
    active: bool = False
    rollbacks: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "slow rollback"

    def undo_entry(self) -> UndoEntry:
        return UndoEntry(kind="test.slow", key="slow")

    def inject(self) -> None:
        self.active = True

    def is_active(self) -> bool:
        return self.active

    def rollback(self) -> None:
        self.rollbacks.append(time.monotonic())
        print("ROLLING", flush=True)
        deadline = time.monotonic() + 20
        while not self.release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.active = False


def _undo_slow(_entry: LedgerEntry) -> UndoStatus:
    return UndoStatus.ALREADY_GONE


register_undo("test.slow", _undo_slow)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load(guard: FaultGuard) -> str:
    """The stand-in for the load run: obeys stdin commands."""
    for line in sys.stdin:
        cmd = line.strip()
        if cmd in ("exit", "raise"):
            return cmd
        if cmd == "load-fail":
            raise ConnectionError("load generator lost its target")
        if cmd == "abort":
            guard.abort("test abort condition")
            print("ABORTED", flush=True)
    return "exit"


def main() -> int:
    mode, root = sys.argv[1], "--root" in sys.argv
    ledger = Ledger()
    port = _free_port()
    server_argv = [sys.executable, str(HERE / "echo_server.py"), str(port)]
    sleeper_argv = [sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"]
    guard = FaultGuard(ledger)
    try:
        with (
            ChildSupervisor(server_argv, ledger, tcp_ready(port), label="server") as server,
            ChildSupervisor(sleeper_argv, ledger, label="sleeper") as sleeper,
            guard,
        ):
            server_ref = ProcessRef.of(server.pid or 0)
            sleeper_ref = ProcessRef.of(sleeper.pid or 0)
            hog = CpuHogFault(workers=1, load_pct=20, max_duration_s=60)
            memory = MemoryPressureFault(size_bytes=32 * 2**20, max_duration_s=60)
            faults: list[object] = [PauseFault(server_ref), hog, memory]
            if root:
                faults.append(CpuThrottleFault(server_ref, cpus=0.5))
                faults.append(PauseFault(sleeper_ref, method=PauseMethod.FREEZE))
            release = Path(os.environ["DRIVER_RELEASE"])
            if mode == "double":
                faults.append(SlowRollback(release))
            for fault in faults:
                guard.inject(fault)  # type: ignore[arg-type]
            cgroups = [str(c.path) for f in faults if (c := getattr(f, "cgroup", None))]
            ready = {
                "port": port,
                "server": server_ref.pid,
                "sleeper": sleeper_ref.pid,
                "tags": [server.tag, sleeper.tag, hog.tag, memory.tag],
                "cgroups": cgroups,
            }
            print("READY " + msgspec.json.encode(ready).decode(), flush=True)
            if mode in ("wait", "double"):
                while True:
                    time.sleep(0.05)
            if guard.run(lambda: _load(guard)) == "raise":  # the harness's own code fails
                raise RuntimeError("the test asked for an exception")
        return 0
    finally:
        print("RECORDS " + msgspec.json.encode(guard.records).decode(), flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(3)
    except Exception as exc:
        print(f"driver: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
