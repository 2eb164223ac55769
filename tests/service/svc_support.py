"""Helpers for the reference service tests: real processes on loopback ports, synthetic PANs.

Every service runs as ``python -m reference_service`` in a subprocess on port 0 (the service logs
the port it bound), with its audit trail, key files and log under a pytest tmp dir. Every process
is terminated in a finalizer, killed if it does not exit.

PANs are generated at runtime (random digits in a test BIN range, Luhn check digit computed) and
every PAN a test sends is registered; at the end of the session every file under the service
tests' tmp dirs (audit segments, logs) is scanned for all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reference_service.testing import transaction as transaction
from reference_service.testing import write_key as write_key

# Test BIN range: 999999 is not an issued IIN; random digits follow, Luhn digit computed.
TEST_BIN = "999999"
SENT_PANS: set[str] = set()
SCANNED_DIRS: list[Path] = []
START_TIMEOUT_S = 20.0


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def make_pan(length: int = 16) -> str:
    """A fresh synthetic Luhn-valid PAN, registered for the end-of-session scan."""
    body = TEST_BIN + "".join(secrets.choice("0123456789") for _ in range(length - 7))
    pan = body + luhn_check_digit(body)
    SENT_PANS.add(pan)
    return pan


def grouped(digits: str, sep: str, size: int = 4) -> str:
    """``digits`` in groups of ``size`` joined by ``sep`` ("9999-9912-...")."""
    return sep.join(digits[i : i + size] for i in range(0, len(digits), size))


def bad_luhn(pan: str) -> str:
    """``pan`` with its check digit changed (fails Luhn), registered for the scan."""
    wrong = str((int(pan[-1]) + 1) % 10)
    out = pan[:-1] + wrong
    SENT_PANS.add(out)
    return out


@dataclass
class Service:
    """A running service process and what a test needs to talk to it."""

    proc: subprocess.Popen[bytes]
    base: str
    audit_dir: Path
    log_path: Path
    workdir: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base, timeout=10.0)

    def score(self, **over: Any) -> httpx.Response:
        return self.client.post("/v1/score", json=transaction(**over))

    def audit_lines(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for seg in sorted(self.audit_dir.glob("*.jsonl")):
            out.extend(json.loads(line) for line in seg.read_text().splitlines() if line)
        return out

    def log_events(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the process and wait for it; kill it if it does not exit in time."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise
        return self.proc.returncode


def _bound_port(log_path: Path, proc: subprocess.Popen[bytes], deadline: float) -> int:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode}: {log_path.read_text()}")
        for line in log_path.read_text(errors="replace").splitlines():
            if '"event":"listening"' in line:
                return int(json.loads(line)["port"])
        time.sleep(0.05)
    raise RuntimeError(f"service did not bind in time: {log_path.read_text()}")


def wait_ready(base: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base + "/v2/health/ready", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError("service did not become ready in time")


def _nofile_limit(n: int) -> Callable[[], None]:
    """A preexec function that lowers the child's open-file limit to ``n``."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    return apply


class ServiceFactory:
    """Starts services under one tmp dir and stops them all at teardown."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: list[Service] = []
        SCANNED_DIRS.append(tmp)

    def start(
        self,
        *extra: str,
        keys: bool = True,
        ready: bool = True,
        port: int = 0,
        env: dict[str, str] | None = None,
        nofile: int | None = None,
    ) -> Service:
        n = len(self.running)
        work = self.tmp / f"svc{n}"
        work.mkdir(parents=True)
        audit = work / "audit"
        log_path = work / "service.log"
        args = [sys.executable, "-m", "reference_service", "--port", str(port)]
        args += ["--audit-dir", str(audit)]
        if keys:
            args += ["--pan-key-file", str(write_key(work / "pan.key"))]
            args += ["--audit-key-file", str(write_key(work / "audit.key"))]
        args += list(extra)
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("SLO_")}
        child_env.update(env or {})
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                args,
                cwd=work,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env,
                preexec_fn=None if nofile is None else _nofile_limit(nofile),
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            bound = port or _bound_port(log_path, proc, deadline)
            base = f"http://127.0.0.1:{bound}"
            svc = Service(proc, base, audit, log_path, work)
            self.running.append(svc)
            if ready:
                wait_ready(base, deadline)
        except BaseException:
            proc.kill()
            proc.wait(5)
            raise
        return svc

    def stop_all(self) -> None:
        for svc in self.running:
            with contextlib.suppress(Exception):
                svc.stop()


def scan_for_pans(paths: list[Path], pans: set[str]) -> list[str]:
    """Files under ``paths`` containing any of ``pans`` (reported by last 4 digits only)."""
    hits: list[str] = []
    for root in paths:
        for f in root.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                hits.extend(f"{f}: PAN ending {p[-4:]}" for p in pans if p.encode() in data)
    return hits


#: ``SLO_SUITE_PROFILE=full`` runs the proof suite at full size (20 kill rounds, 20 s of overload,
#: 10,000+ PANs...); the default CI profile runs the same tests smaller, in seconds.
FULL_PROFILE = os.environ.get("SLO_SUITE_PROFILE", "ci") == "full"


def record_figure(name: str, figures: dict[str, Any]) -> None:
    """Write one test's measured figures to ``$SLO_SUITE_FIGURES/<name>.json`` (when set), for
    the README table (scripts/suite_figures.py)."""
    root = os.environ.get("SLO_SUITE_FIGURES")
    if not root:
        return
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    doc = {"profile": "full" if FULL_PROFILE else "ci", **figures}
    (path / f"{name}.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
