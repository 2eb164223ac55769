"""The worker process entry point (``python -m harness.entrypoints.worker``): one line, one code."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

from load_support import ROOT


def _worker(port: int, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "harness.entrypoints.worker", "--master", "127.0.0.1"]
    return subprocess.Popen(
        [*cmd, "--master-port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _finish(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """Wait for ``proc``; kill it if it overruns (then the test fails); return its stderr."""
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise AssertionError(f"worker still running after {timeout_s} s") from None
    return err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on return: nothing listens there


def test_a_failed_join_exits_3_with_one_line() -> None:
    """Nothing listens on the master's port: after --join-timeout-s the worker exits 3 (the
    CLI's code for MeasurementError) with one line naming the address, no traceback."""
    port = _closed_port()
    started = time.monotonic()
    proc = _worker(port, "--join-timeout-s", "1")
    err = _finish(proc, timeout_s=30)
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("slo-harness worker: error: could not join the master at ")
    assert f"127.0.0.1:{port} within 1 s" in line
    assert time.monotonic() - started < 20  # the option, not Locust's five minutes of retries


def test_a_bad_join_timeout_is_a_usage_error() -> None:
    """--join-timeout-s 0 is refused by the argument parser: exit 2 and what was expected."""
    proc = _worker(_closed_port(), "--join-timeout-s", "0")
    err = _finish(proc, timeout_s=30)
    assert proc.returncode == 2
    assert "seconds > 0" in err


def test_ctrl_c_while_joining_exits_3_with_one_line() -> None:
    """SIGINT while the worker waits for a master that accepted the TCP connection but never
    answers: exit 3 and one line, no traceback (Locust alone exits 1, and Python's own handler
    can raise in Locust's receiver greenlet, which prints one)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(30)
        proc = _worker(int(listener.getsockname()[1]), "--join-timeout-s", "60")
        try:
            conn, _ = listener.accept()  # the worker is inside its join now
            with conn:
                proc.send_signal(signal.SIGINT)
                err = _finish(proc, timeout_s=20)
        finally:
            if proc.poll() is None:  # accept timed out: never leave the worker behind
                proc.kill()
                proc.communicate(timeout=10)
    assert proc.returncode == 3, repr(err)
    assert err.strip() == "slo-harness worker: interrupted", repr(err)
