"""The target: loopback-only policy, launching the reference service, bounded readiness probes."""

from __future__ import annotations

import contextlib
import http.server
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.errors import ServiceStartError, TargetUnreachable, UsageError
from harness.target import (
    check_target_allowed,
    launch_reference_service,
    probe_target,
    read_infer_input,
)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.5.6.7",
        "http://localhost:1/x",
        "http://[::1]:8080",
        "http://198.18.0.1:443",
        "http://198.19.255.254:80",
    ],
)
def test_loopback_and_project_namespaces_are_allowed(url: str) -> None:
    """Loopback and 198.18.0.0/15 targets pass the policy."""
    check_target_allowed(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8080",
        "http://198.20.0.1",
        "http://8.8.8.8",
        "https://8.8.8.8:8443",
        "ftp://127.0.0.1",
        "file:///etc/passwd",
        "http://[::1",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:port",
        "127.0.0.1:8080",
        "http://[2001:db8::1]:80",
    ],
)
def test_other_targets_are_refused(url: str) -> None:
    """Anything else is a UsageError that says what is allowed (host names: tests/target/)."""
    with pytest.raises(UsageError, match=r"loopback|http|valid URL"):
        check_target_allowed(url)


def _children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def _all_gone(procs: list[psutil.Process]) -> bool:
    _, alive = psutil.wait_procs(procs, timeout=5)
    return not alive


def test_launch_probe_and_clean_stop() -> None:
    """The launched service is ready, identifies its model, and is gone after the block."""
    before = set(_children())
    with launch_reference_service() as url:
        assert url.startswith("http://127.0.0.1:")
        started = [p for p in _children() if p not in before]
        assert started
        info = probe_target(url, timeout_s=5, started_by_harness=True)
        assert info.url == url
        assert info.started_by_harness
        assert info.model_name == "fraud"
        assert info.model_version
        assert info.model_sha256 is not None
        assert len(info.model_sha256) == 64
        assert read_infer_input(url) == read_infer_input(url + "/")
        assert read_infer_input(url).n_features > 0
    assert _all_gone(started)
    with pytest.raises(TargetUnreachable):
        probe_target(url, timeout_s=0.3)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_service_is_removed_when_the_block_fails(exc: type[BaseException]) -> None:
    """An exception or Ctrl-C inside the block still stops every process it started."""
    before = set(_children())
    started: list[psutil.Process] = []

    def body() -> None:
        nonlocal started
        with launch_reference_service():
            started = [p for p in _children() if p not in before]
            raise exc("boom")

    with pytest.raises(exc):
        body()
    assert started
    assert _all_gone(started)


_HARNESS_SCRIPT = """
import sys, time
from pathlib import Path
from harness.target import launch_reference_service
with launch_reference_service(audit_dir=Path(sys.argv[1])) as url:
    print(url, flush=True)
    time.sleep(120)
"""


def _gone(proc: psutil.Process) -> bool:
    """Exited: no such process, or a zombie its new parent has not reaped yet."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_service_does_not_outlive_a_sigkilled_harness(tmp_path: Path) -> None:
    """SIGKILL the harness (no cleanup code runs): its service sees --parent-pid gone and exits."""
    harness = subprocess.Popen(
        [sys.executable, "-c", _HARNESS_SCRIPT, str(tmp_path / "audit")], stdout=subprocess.PIPE
    )
    service: list[psutil.Process] = []
    try:
        assert harness.stdout is not None
        assert harness.stdout.readline().startswith(b"http://127.0.0.1:")  # service is ready
        service = psutil.Process(harness.pid).children(recursive=True)
        assert service
        harness.kill()
        harness.wait(5)
        deadline = time.monotonic() + 15  # 1 s poll + graceful shutdown, with margin
        while not all(_gone(p) for p in service):
            assert time.monotonic() < deadline, "service still running after its harness died"
            time.sleep(0.1)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait(5)
        if harness.stdout is not None:
            harness.stdout.close()
        for p in service:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()


def test_bad_arguments_give_service_start_error_with_output() -> None:
    """A service that exits at once raises ServiceStartError with its last output lines."""
    with pytest.raises(ServiceStartError, match="exited with code 2") as info:  # noqa: SIM117
        with launch_reference_service(extra_args=["--workers", "0"]):
            pytest.fail("must not be reached")
    assert "--workers" in str(info.value)


def test_slow_start_times_out_and_is_killed() -> None:
    """A service not ready within the bound raises ServiceStartError and is removed."""
    before = set(_children())
    t0 = time.monotonic()
    with (
        pytest.raises(ServiceStartError, match="not ready within"),
        launch_reference_service(
            extra_args=["--debug-start-delay-s", "30"], ready_timeout_s=1.5, stop_timeout_s=2
        ),
    ):
        pytest.fail("must not be reached")
    assert time.monotonic() - t0 < 15
    assert _all_gone([p for p in _children() if p not in before])
    assert not [p for p in _children() if p not in before]


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 404

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr access log."""


@contextlib.contextmanager
def _server(status: int) -> Iterator[str]:
    handler = type("H", (_Handler,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_non_v2_target_is_accepted_without_model_info() -> None:
    """A target that answers but has no V2 health route is reachable; model fields stay None."""
    with _server(404) as url:
        info = probe_target(url, timeout_s=2)
    assert info.url == url
    assert info.model_name is None
    assert info.model_sha256 is None


def test_never_ready_target_is_unreachable_within_the_bound() -> None:
    """A target stuck at 503 gives TargetUnreachable after about timeout_s."""
    with _server(503) as url:
        t0 = time.monotonic()
        with pytest.raises(TargetUnreachable, match="503"):
            probe_target(url, timeout_s=0.5)
        assert time.monotonic() - t0 < 3


def test_closed_port_is_unreachable_quickly() -> None:
    """Nothing listening gives TargetUnreachable naming the URL, bounded in time."""
    with _server(200) as url:
        pass  # the port is closed again now
    t0 = time.monotonic()
    with pytest.raises(TargetUnreachable, match=url):
        probe_target(url, timeout_s=0.5)
    assert time.monotonic() - t0 < 3


def test_probe_refuses_disallowed_targets() -> None:
    """The probe itself applies the loopback policy before sending anything."""
    with pytest.raises(UsageError):
        probe_target("http://192.0.2.1:80", timeout_s=0.1)


def test_infer_input_needs_v2_metadata() -> None:
    """A target without V2 model metadata gives TargetUnreachable with a clear reason."""
    with _server(404) as url, pytest.raises(TargetUnreachable, match="model metadata"):
        read_infer_input(url, timeout_s=1)
