"""Issue 11: a `slo-harness run` SIGKILLed mid-load (nothing of it gets to run a `finally`) leaves
an interval log that `report rebuild` turns into a report covering the run up to within about
two seconds of the kill: each interval reaches the disk about 0.1 s after it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.pipeline import PARTIAL_LOG_FILE, rebuild_report
from harness.report import read_report

pytestmark = pytest.mark.slow

RATE = 50
SCENARIO = f"""\
name: sigkill
health: {{path: /ready}}
max_concurrency: 4
requests:
  - {{name: ping, method: GET, path: /ping, body: none}}
phases:
  - {{name: steady, kind: steady, rate: {RATE}, duration_s: 60}}
"""
#: How long the run measures before it is killed, and the most it may lose (1 s interval +
#: 0.1 s grace by construction; the rest is room for a loaded CI machine).
RUN_BEFORE_KILL_S = 2.5
MAX_LOSS_S = 2.0


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the generator's slots expect

    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        del request, client_address  # the killed generator resets its connections: expected


@pytest.fixture
def ok_target() -> Iterator[str]:
    """A loopback HTTP/1.1 service answering 200 at once (threads: no core burned idle)."""
    server = _Server(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _start_wall_s(log: Path) -> float | None:
    """The run's t = 0 (the log's StartTime), once the header is written."""
    try:
        for line in log.read_text().splitlines():
            if line.startswith("#[StartTime: "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def test_a_sigkilled_run_loses_at_most_the_last_two_seconds(ok_target: str, tmp_path: Path) -> None:
    """SIGKILL 2.5 s into the load (intervals 0 and 1 are due at 1.1 s and 2.1 s): `report
    rebuild` reports every interval up to within 2 s of the kill with its responses, marked
    incomplete."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "harness.cli", "run", str(scenario), "--target", ok_target]
    args += ["--no-progress", "--out", str(out)]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        start_s = None
        while start_s is None:
            assert time.monotonic() < deadline, "the run never started its interval log"
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.05)
            start_s = _start_wall_s(out / PARTIAL_LOG_FILE)
        time.sleep(max(start_s + RUN_BEFORE_KILL_S - time.time(), 0.0))
        killed_at_s = time.time() - start_s
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
    rebuild_report(out)
    result = read_report(out).result
    assert result.incomplete
    intervals = list(result.intervals)
    covered_s = max(r.start_s + r.length_s for r in intervals)
    assert killed_at_s - covered_s <= MAX_LOSS_S, (killed_at_s, covered_s)
    assert [r.start_s for r in intervals] == [float(i) for i in range(len(intervals))]
    ok = sum(r.counts.ok for r in intervals)  # arrivals before covered_s, bar a few in flight
    assert 0.8 * RATE * covered_s <= ok <= RATE * covered_s, (ok, covered_s)
    (steady,) = result.phases
    assert steady.counts.ok == ok
    assert steady.counts.failed == 0
