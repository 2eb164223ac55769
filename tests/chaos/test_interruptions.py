"""Every way a run can end takes real process faults off and leaves nothing behind.

The harness side runs as a subprocess (programs/driver.py) so real signals reach it. Each test
first checks the faults are really in effect (the server is stopped, cgroups exist, hogs run), so
an assertion that "nothing is left" cannot pass vacuously, then ends the run its way and checks:
no process with the run's tags, no cgroup it created, no ledger entry, no listening port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec
import pytest

from harness.chaos.procs import ProcessRef, tagged_pids, wait_until
from harness.ledger import Ledger

DRIVER = Path(__file__).parent / "programs" / "driver.py"
_TIMEOUT_S = 30.0


@dataclass
class Run:
    proc: subprocess.Popen[str]
    state_dir: Path
    release: Path
    ready: dict[str, Any]
    lines: list[str]

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def read_until(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        return _read_until(self.proc.stdout, prefix, self.lines)

    def finish(self) -> tuple[int, list[dict[str, Any]]]:
        code = self.proc.wait(timeout=_TIMEOUT_S)
        assert self.proc.stdout is not None
        rest = self.proc.stdout.read()
        self.lines += rest.splitlines()
        records = [ln for ln in self.lines if ln.startswith("RECORDS ")]
        return code, (msgspec.json.decode(records[-1][8:]) if records else [])


def _read_until(stream: IO[str], prefix: str, lines: list[str]) -> str:
    deadline = time.monotonic() + _TIMEOUT_S
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    raise AssertionError(f"no {prefix!r} line; output so far: {lines}")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    runs: list[Run] = []

    def _start(mode: str, root: bool) -> Run:
        env = {
            **os.environ,
            "SLO_HARNESS_STATE_DIR": str(tmp_path / "state"),
            "DRIVER_RELEASE": str(tmp_path / "release"),
        }
        argv = [sys.executable, str(DRIVER), mode, *(["--root"] if root else [])]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        run = Run(proc, tmp_path / "state", tmp_path / "release", {}, [])
        runs.append(run)
        run.ready = msgspec.json.decode(run.read_until("READY "))
        return run

    yield _start
    for run in runs:  # a failed test must not leave its driver or what it started
        if run.proc.poll() is None:
            run.proc.kill()
        run.proc.wait()
        for stream in (run.proc.stdin, run.proc.stdout, run.proc.stderr):
            if stream is not None:
                stream.close()
        subprocess.run(
            [sys.executable, "-m", "harness.cli", "chaos", "cleanup"],  # the driver is dead
            env={**os.environ, "SLO_HARNESS_STATE_DIR": str(run.state_dir)},
            capture_output=True,
            timeout=_TIMEOUT_S,
        )


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _assert_in_effect(run: Run, *, owner_dead: bool = False) -> None:
    server = ProcessRef.of(run.ready["server"])
    assert server.stopped(), "the pause fault is not in effect"
    assert all(Path(c).is_dir() for c in run.ready["cgroups"])
    # The memory hog exits by itself when its parent dies (its own bound), so only while alive.
    tags = run.ready["tags"][:3] if owner_dead else run.ready["tags"]
    assert all(tagged_pids(t) for t in tags), "a helper process is missing"
    assert Ledger(run.state_dir).entries()


def _assert_nothing_left(run: Run) -> None:
    def clean() -> bool:
        return not any(tagged_pids(t) for t in run.ready["tags"])

    assert wait_until(clean, 10.0), {t: tagged_pids(t) for t in run.ready["tags"]}
    assert not any(Path(c).exists() for c in run.ready["cgroups"])
    assert Ledger(run.state_dir).entries() == []
    assert not _port_open(run.ready["port"])


def _assert_all_succeeded(records: list[dict[str, Any]], trigger: str, count: int) -> None:
    assert len(records) == count, records
    for record in records:
        assert record["status"] == "succeeded", record
        assert record["verified_gone"], record
        assert record["trigger"] == trigger, record
        assert record["injected_at_s"] <= record["rolled_back_at_s"]


# With root the runs add a cgroup freeze and a CPU throttle; without, SIGSTOP and the hogs only
# (those two cases keep some coverage on a developer machine; CI runs as root).
ROOT = pytest.param(True, marks=pytest.mark.root, id="root")
PLAIN = pytest.param(False, id="plain")


def _fault_count(root: bool) -> int:
    return 5 if root else 3


@pytest.mark.parametrize("root", [ROOT])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_rolls_back_everything(start: Any, root: bool, sig: signal.Signals) -> None:
    """SIGINT, SIGTERM and SIGHUP all take every fault off, verified, and exit 3."""
    run = start("wait", root)
    _assert_in_effect(run)
    run.proc.send_signal(sig)
    code, records = run.finish()
    assert code == 3
    _assert_all_succeeded(records, "interrupt", _fault_count(root))
    assert all(sig.name in r["detail"] for r in records)
    _assert_nothing_left(run)


@pytest.mark.parametrize("root", [ROOT])
@pytest.mark.parametrize(
    ("command", "code", "trigger"),
    [("exit", 0, "end"), ("raise", 1, "exception"), ("load-fail", 1, "load_failed")],
)
def test_end_exception_and_failed_load(
    start: Any, root: bool, command: str, code: int, trigger: str
) -> None:
    """A normal end, an exception and a failed load run each roll everything back."""
    run = start("stdin", root)
    _assert_in_effect(run)
    run.send(command)
    got, records = run.finish()
    assert got == code
    _assert_all_succeeded(records, trigger, _fault_count(root))
    _assert_nothing_left(run)


@pytest.mark.parametrize("root", [ROOT])
def test_abort_request_removes_faults_while_the_run_goes_on(start: Any, root: bool) -> None:
    """guard.abort() takes every fault off at once; the helpers' supervisors stay until the end."""
    run = start("stdin", root)
    _assert_in_effect(run)
    run.send("abort")
    run.read_until("ABORTED")
    server = ProcessRef.of(run.ready["server"])
    assert server.alive()
    assert not server.stopped()
    assert not any(Path(c).exists() for c in run.ready["cgroups"])
    assert not any(tagged_pids(t) for t in run.ready["tags"][2:])  # hog, memory: gone
    assert {e.kind for e in Ledger(run.state_dir).entries()} == {"chaos.child"}
    run.send("exit")
    code, records = run.finish()
    assert code == 0
    _assert_all_succeeded(records, "abort", _fault_count(root))
    _assert_nothing_left(run)


@pytest.mark.parametrize("root", [ROOT, PLAIN])
def test_second_ctrl_c_during_rollback_is_deferred(start: Any, root: bool) -> None:
    """A second SIGINT while faults come off is deferred: rollback finishes, all verified gone."""
    run = start("double", root)
    _assert_in_effect(run)
    run.proc.send_signal(signal.SIGINT)
    run.read_until("ROLLING")
    run.proc.send_signal(signal.SIGINT)
    run.proc.send_signal(signal.SIGINT)
    assert run.proc.stderr is not None
    _read_until(run.proc.stderr, "slo-harness: SIGINT during rollback", [])
    run.release.touch()
    code, records = run.finish()
    assert code == 3
    _assert_all_succeeded(records, "interrupt", _fault_count(root) + 1)
    _assert_nothing_left(run)


@pytest.mark.parametrize("root", [ROOT, PLAIN])
def test_sigkill_leaves_faults_that_chaos_cleanup_removes(start: Any, root: bool) -> None:
    """After SIGKILL the faults stay; `chaos cleanup` removes them all and exits 0."""
    run = start("wait", root)
    run.proc.kill()
    run.finish()
    _assert_in_effect(run, owner_dead=True)  # nobody rolled back: the server is still stopped
    env = {**os.environ, "SLO_HARNESS_STATE_DIR": str(run.state_dir)}
    cli = [sys.executable, "-m", "harness.cli", "chaos", "cleanup"]
    dry = subprocess.run([*cli, "--dry-run"], env=env, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 1
    assert "would remove" in dry.stdout
    _assert_in_effect(run, owner_dead=True)  # a dry run changes nothing
    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("removed") >= _fault_count(root), done.stdout
    assert "FAILED" not in done.stdout
    _assert_nothing_left(run)
    again = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0
    assert "nothing to clean up" in again.stdout
