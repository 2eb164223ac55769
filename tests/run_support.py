"""Measured runs in tests on a shared machine: rerun only what the generator made unmeasurable.

`run`, `gameday` and the Locust plugin refuse to judge (exit 3, verdict INVALID) when the load
generator watched itself fall behind: its schedule lag p99 passed the scenario's bar ("could not
send on time") or its CPU stayed saturated. On CI's 2 shared cores that happens for reasons
outside the code under test (schedule lag p99 11.7 ms against a 10 ms bar was seen), so a test
whose subject is the verdict, a report or a fault may run the command again, at most twice.

Invariants (why this loosens nothing):
- only exit 3 **with** one of the generator's own reasons (:data:`GENERATOR_MADE`, the sentences
  of ``harness.load.health``) is retried; a wrong PASS/FAIL, a crash, a usage error, any other
  INVALID (too few samples, an unverified boundary, a failed fault) is returned at once;
- a test whose subject is the generator's own timing (its fidelity, its lag) never uses this;
- after the last attempt the caller gets the INVALID result and asserts on it as before, so a
  generator that is always late still fails the test.

Lives at the top of ``tests/`` (on ``sys.path`` through tests/conftest.py, rootdir import mode):
``from run_support import ...`` works from every test directory.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "ATTEMPTS",
    "GENERATOR_MADE",
    "cli",
    "generator_made_invalid",
    "retry_generator_invalid",
    "run_measured",
    "run_text",
]

#: One run plus at most two reruns.
ATTEMPTS = 3
#: The generator's own reasons for an INVALID verdict (harness/load/health.py), as printed by
#: `run`, the Locust plugin's summary, and written to report.json / journal.json.
GENERATOR_MADE = ("could not send on time", "the generator was saturated")

T = TypeVar("T")


def _generator_invalid_on_disk(out: Path) -> bool:
    """report.json's ``generator.valid`` or journal.json's ``generator_valid`` is false."""
    for name, read in (
        ("report.json", lambda d: d.get("generator", {}).get("valid")),
        ("journal.json", lambda d: d.get("generator_valid")),
    ):
        path = out / name
        if path.is_file():
            try:
                doc: dict[str, Any] = json.loads(path.read_text())
            except ValueError:
                continue
            if read(doc) is False:
                return True
    return False


def generator_made_invalid(returncode: int, output: str, out: Path | None = None) -> bool:
    """Exit 3 because the load generator, not the target, could not keep its schedule.

    ``output`` is the command's stdout + stderr; ``out`` its output directory, when it wrote one
    (report.json / journal.json say ``generator valid: false`` with the reasons).
    """
    if returncode != 3:
        return False
    if any(reason in output for reason in GENERATOR_MADE):
        return True
    return out is not None and _generator_invalid_on_disk(out)


def retry_generator_invalid(
    attempt: Callable[[], T],
    made_invalid: Callable[[T], bool],
    *,
    reset: Callable[[], None] | None = None,
    attempts: int = ATTEMPTS,
) -> T:
    """``attempt()`` again (``reset()`` first) while ``made_invalid`` says the generator made it
    INVALID, at most ``attempts`` times in all; the last result is returned whatever it is."""
    result = attempt()
    for _ in range(attempts - 1):
        if not made_invalid(result):
            break
        print("rerun: the load generator made the previous attempt INVALID")  # in -rA / failures
        if reset is not None:
            reset()
        result = attempt()
    return result


#: How long a timed-out child gets to clean up after its SIGINT before it is killed (s).
STOP_GRACE_S = 60.0


def run_text(
    argv: Sequence[str], timeout: float, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(argv, capture_output=True, text=True)``, except on a timeout: the child
    gets SIGINT first (as Ctrl-C: the harness removes the namespaces, faults and processes it
    started) and SIGKILL only :data:`STOP_GRACE_S` later; TimeoutExpired is raised as before.
    (``subprocess.run`` kills at once, which left a 9-namespace boundary lab behind.)"""
    with subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def cli(*args: str, timeout: float = 180, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -m harness.cli ARGS`` in a fresh process, output captured as text."""
    return run_text([sys.executable, "-m", "harness.cli", *args], timeout, **kwargs)


def run_measured(
    argv: Sequence[str],
    *,
    out: Path | None = None,
    timeout: float = 180,
    attempts: int = ATTEMPTS,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (a measuring command line); rerun it at most twice when it exited 3 because
    the generator could not send on time, removing ``out`` (its output directory) in between."""

    def once() -> subprocess.CompletedProcess[str]:
        return run_text(argv, timeout, **kwargs)

    def made_invalid(proc: subprocess.CompletedProcess[str]) -> bool:
        return generator_made_invalid(proc.returncode, proc.stdout + proc.stderr, out)

    def reset() -> None:
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)

    return retry_generator_invalid(once, made_invalid, reset=reset, attempts=attempts)
