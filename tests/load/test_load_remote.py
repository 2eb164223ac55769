"""Remote workers: a master that waits for workers started elsewhere with `slo-harness worker`."""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import psutil
import pytest
from load_support import CHILD, ROOT, hist, run_child, scenario_json

from harness.measure.histogram import LatencyHistogram

PERCENTILES = (0.0, 50.0, 90.0, 99.0, 100.0)
JOIN_RE = re.compile(r"slo-harness worker --master \S+ --master-port \d+")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Lines:
    """A child's stream read line by line on a thread, so a test can wait for one line."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)

    def wait_for(self, pattern: re.Pattern[str], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if found := pattern.search(line):
                return found.group(0)
        raise AssertionError(f"no line matching {pattern.pattern!r}:\n{self.text()}")

    def text(self) -> str:
        while not self._queue.empty():
            self.seen.append(self._queue.get_nowait())
        return "".join(self.seen)[-3000:]


def _reap(procs: list[subprocess.Popen[Any]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _from_logs(rows: list[list[Any]], start: int) -> LatencyHistogram:
    """One histogram fed with every OK sample's (done - start) // 1000, as the recorder does."""
    h = LatencyHistogram()
    for row in rows:
        if row[2] == "ok":
            h.record((row[5] - row[start]) // 1000)
    return h


def _spec(target: str, duration_s: float) -> str:
    return scenario_json(
        target=target,
        max_concurrency=8,
        phases=[{"name": "steady", "kind": "steady", "rate": 100, "duration_s": duration_s}],
    )


def _worker(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``command`` as printed by the run, with ``python -m harness.cli`` for ``slo-harness``."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *command.split()[1:]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_remote_worker_joins_with_the_printed_command(bimodal_target: str, tmp_path: Path) -> None:
    """A run expecting one remote worker on a fixed port prints the join command; `python -m
    harness.cli worker` started with exactly that command gets its half of the schedule (a local
    worker the other), the merge is exact, and the worker exits with the run. A worker arriving
    in the middle of the run is turned away (never given users) and is still waiting after."""
    env = {**os.environ, "SLO_HARNESS_REQUEST_LOG": str(tmp_path)}
    port = _free_port()
    args = ["--workers", "1", "--remote-workers", "1", "--master-port", str(port), "--progress"]
    result = tmp_path / "result.json"
    with result.open("w") as sink:  # the child keeps its own copy of the descriptor
        run = subprocess.Popen(
            [sys.executable, str(CHILD), "run", _spec(bimodal_target, 4), *args],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
        )
    procs: list[subprocess.Popen[Any]] = [run]
    try:
        assert run.stderr is not None
        stderr = _Lines(run.stderr)
        command = stderr.wait_for(JOIN_RE, 30)
        assert command == f"slo-harness worker --master 127.0.0.1 --master-port {port}"
        joined = _worker(command, env)
        procs.append(joined)
        stderr.wait_for(re.compile(r"\] steady"), 30)  # a progress line: the schedule runs
        late = _worker(command, env)
        procs.append(late)
        assert run.wait(timeout=60) == 0, stderr.text()
        assert joined.wait(timeout=15) == 0  # the master's quit ends an admitted worker
        assert late.poll() is None  # never admitted: still retrying to join
    finally:
        _reap(procs)
    out = json.loads(result.read_text().strip().splitlines()[-1])
    assert "error" not in out, out
    assert out["workers"] == 2
    # Validity itself depends on this noisy machine (schedule lag); losing a share may not.
    lost = ("final measurements", "refused")
    assert not [r for r in out["generator"]["reasons"] if any(w in r for w in lost)], out
    steady = out["phases"][0]
    assert steady["counts"]["sent"] == steady["counts"]["ok"] == 400
    logs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("requests-*.json"))]
    assert sorted(len(rows) for rows in logs) == [200, 200]
    rows = [row for log in logs for row in log]
    for key, start in (("intended_ok", 3), ("service_ok", 4)):
        merged, truth = hist(steady[key]), _from_logs(rows, start)
        assert merged.count == truth.count == 400
        assert merged.percentiles_us(PERCENTILES) == truth.percentiles_us(PERCENTILES)
        assert list(merged.buckets()) == list(truth.buckets())


def _descendants(pid: int) -> dict[psutil.Process, str]:
    """The running descendants of ``pid`` with their command lines."""
    found = {}
    try:
        for child in psutil.Process(pid).children(recursive=True):
            found[child] = " ".join(child.cmdline())
    except psutil.NoSuchProcess:
        pass
    return found


@pytest.mark.slow
def test_missing_remote_worker_fails_within_the_wait_and_cleans_up(bimodal_target: str) -> None:
    """A remote worker that never comes: the run fails within --worker-wait-s, naming how many
    workers joined and the command to join, and its local worker process is gone afterwards."""
    wait_s = 4.0
    args = ["--workers", "1", "--remote-workers", "1", "--master-port", str(_free_port())]
    args += ["--worker-wait-s", str(wait_s)]
    run = subprocess.Popen(
        [sys.executable, str(CHILD), "run", _spec(bimodal_target, 3), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert run.stdout is not None
        children: dict[psutil.Process, str] = {}
        deadline = time.monotonic() + 60
        while run.poll() is None and time.monotonic() < deadline:
            children |= _descendants(run.pid)
            time.sleep(0.1)
        stdout = run.stdout.read()
    finally:
        _reap([run])
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["error"] == "MeasurementError", out
    assert f"timed out after {wait_s:g} s waiting for workers: 1 of 2 joined" in out["message"]
    assert "slo-harness worker --master 127.0.0.1 --master-port" in out["message"]
    assert wait_s <= out["wall_s"] < wait_s + 10
    assert any("harness.entrypoints.worker" in cmdline for cmdline in children.values())
    _, alive = psutil.wait_procs(list(children), timeout=10)
    assert not alive, [p.pid for p in alive]


@pytest.mark.slow
def test_worker_refuses_a_target_outside_the_allowed_networks() -> None:
    """A worker re-checks the target its master sends: one outside loopback/198.18.0.0/15 and the
    run's allowlist (or whose TLS files it cannot read) is refused before anything is sent, the
    master records why (the run is invalid) and the worker still exits cleanly when the master
    quits; a start its clock puts in the past or seconds away is refused too."""
    spec = scenario_json(phases=[{"name": "steady", "kind": "steady", "rate": 10, "duration_s": 2}])
    out = run_child("refuse", spec, timeout=60)
    assert out["finished"], out["worker_stderr"]
    assert len(out["problems"]) == 1
    assert "refused its share: target not allowed here" in out["problems"][0]
    assert "0.0.0.0" in out["problems"][0]
    assert out["worker_rc"] == 0, out["worker_stderr"]
    clock = out["clock"]
    assert clock["lead_1s"] is None
    assert "ahead of the master's" in clock["worker_clock_ahead"]
    assert "behind the master's" in clock["worker_clock_behind"]
    allow = out["allow"]  # the worker checks against the allowlist the master sent, itself
    assert "10.1.2.3 is not an allowed load target" in allow["remote_default"]
    assert allow["remote_allowed"] is None
    assert "$.tls.ca" in allow["tls_file_missing_here"]


def test_a_busy_master_port_is_a_usage_error(bimodal_target: str) -> None:
    """A master port already taken is a usage error naming it (Locust itself would exit 1)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run_child(
            "run",
            _spec(bimodal_target, 1),
            "--remote-workers",
            "1",
            "--master-port",
            str(port),
            timeout=60,
        )
    assert out["error"] == "UsageError", out
    assert f"127.0.0.1:{port} is already in use" in out["message"]
