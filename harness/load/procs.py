"""The local worker processes of a distributed run (``--workers N``): start, watch, remove.

Each is ``python -m harness.entrypoints.worker`` in its own session (a Ctrl-C reaches the master,
which stops them; they also watch their parent, see :mod:`harness.load.worker`), logging to its
own temporary file whose tail is shown if one fails. Whatever happens, none outlives the block.
No Locust here: these are plain processes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Final

from harness.errors import ServiceStartError

__all__ = ["WORKER_STOP_TIMEOUT_S", "check_alive", "stop_processes", "worker_processes"]

WORKER_STOP_TIMEOUT_S: Final = 5.0


def _harness_root() -> str:
    return str(Path(__file__).resolve().parents[2])


@contextlib.contextmanager
def worker_processes(n: int, host: str, port: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """N worker processes, each logging to its own temporary file; all removed on exit."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_harness_root(), env.get("PYTHONPATH")]))
    cmd = [
        sys.executable,
        "-m",
        "harness.entrypoints.worker",
        *("--master", host, "--master-port", str(port)),
        *("--parent-pid", str(os.getpid())),
    ]
    procs: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile(prefix="slo-worker-")) for _ in range(n)]
        try:
            for log in logs:
                procs.append(
                    subprocess.Popen(
                        cmd,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                        start_new_session=True,  # a Ctrl-C reaches the master, which stops them
                    )
                )
            yield procs
        except ServiceStartError as exc:
            raise ServiceStartError(f"{exc}\n{_tail(logs)}") from None
        finally:
            stop_processes(procs)


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate, wait a little, then kill: no worker outlives the run."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + WORKER_STOP_TIMEOUT_S
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)


def _tail(logs: Sequence[IO[bytes]], lines: int = 15) -> str:
    out = []
    for i, log in enumerate(logs):
        with contextlib.suppress(OSError, ValueError):
            log.seek(0)
            text = log.read().decode("utf-8", "replace").splitlines()[-lines:]
            if text:
                out.append(f"worker {i}:\n" + "\n".join(text))
    return "\n".join(out) or "(no worker output)"


def check_alive(procs: list[subprocess.Popen[bytes]]) -> None:
    for i, proc in enumerate(procs):
        code = proc.poll()
        if code is not None:
            raise ServiceStartError(f"worker process {i} exited with code {code}")
