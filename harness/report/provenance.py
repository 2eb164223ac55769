"""Provenance: what exactly produced a report, so an auditor can reproduce or challenge it later.

Collected once at the end of a run (git state, versions, input-file digests, host) and written
into ``report.json`` and the HTML provenance table. Every probe tolerates absence: no git binary,
not a repository, an unreadable ``/proc/cpuinfo`` or a package that is not installed give
``None`` or ``"unknown"``, never an exception, because a missing detail must not cost a run.

The command line is recorded with secret-looking option values and URL credentials replaced by
``***`` (``--token X``, ``--password=X``, ``http://user:pw@host``); the report writers' PAN guard
then refuses any card number that might still be in it.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Final

from harness.files import sha256_file
from harness.measure import TargetInfo

__all__ = [
    "KEY_PACKAGES",
    "PackageVersion",
    "Provenance",
    "collect_provenance",
    "redact_argv",
    "redact_url",
]

#: Distributions whose versions decide how a number was measured or computed.
KEY_PACKAGES: Final = (
    "slo-harness-service",  # the reference service is its own distribution (embedded runs)
    "locust",
    "hdrhistogram",
    "onnxruntime",
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
)
_GIT_TIMEOUT_S: Final = 5.0
_REDACTED: Final = "***"
_SECRET_OPTION: Final = re.compile(
    r"^--?[\w-]*(token|secret|password|passwd|api[-_]?key|auth|credential|cookie)[\w-]*$"
    r"|^--?(key|[\w-]+-key)$",
    re.IGNORECASE,
)
_URL_USERINFO: Final = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PackageVersion:
    """An installed distribution's version; ``None`` when it is not installed."""

    name: str
    version: str | None


@dataclass(frozen=True, slots=True)
class Provenance:
    """Everything that identifies how and where a run was produced."""

    harness_version: str
    git_commit: str | None  # full hex commit of the working tree, None outside a repository
    git_dirty: bool | None  # tracked files modified; None when unknown
    scenario_path: str
    scenario_sha256: str | None  # None when the file could not be read
    slo_path: str | None  # None: the embedded default SLO was used
    slo_sha256: str | None
    target_url: str
    model_name: str | None
    model_version: str | None
    model_sha256: str | None
    host: str
    cpu_model: str
    cpu_count: int
    os: str
    kernel: str
    python_version: str
    packages: tuple[PackageVersion, ...]
    started_at: datetime  # UTC
    ended_at: datetime  # UTC
    command_line: tuple[str, ...]  # redacted argv


def collect_provenance(
    *,
    scenario_path: Path,
    slo_path: Path | None,
    target: TargetInfo,
    started_at: datetime,
    ended_at: datetime,
    cwd: Path,
    argv: Sequence[str] | None = None,
) -> Provenance:
    """Gather the provenance of a run; never raises for a missing probe (see module docstring)."""
    commit, dirty = _git_state(cwd)
    return Provenance(
        harness_version=_harness_version(),
        git_commit=commit,
        git_dirty=dirty,
        scenario_path=str(scenario_path),
        scenario_sha256=_digest(scenario_path),
        slo_path=None if slo_path is None else str(slo_path),
        slo_sha256=None if slo_path is None else _digest(slo_path),
        target_url=redact_url(target.url),
        model_name=target.model_name,
        model_version=target.model_version,
        model_sha256=target.model_sha256,
        host=socket.gethostname(),
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count() or 0,
        os=platform.platform(),
        kernel=platform.release(),
        python_version=platform.python_version(),
        packages=tuple(PackageVersion(name, _version(name)) for name in KEY_PACKAGES),
        started_at=started_at,
        ended_at=ended_at,
        command_line=redact_argv(sys.argv if argv is None else argv),
    )


def redact_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """``argv`` with values of secret-looking options and URL credentials replaced by ``***``."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(_REDACTED)
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if _SECRET_OPTION.match(name):
            if eq:
                out.append(f"{name}={_REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(redact_url(arg))
    return tuple(out)


def redact_url(text: str) -> str:
    """``scheme://user:password@host`` -> ``scheme://***@host`` anywhere in ``text``."""
    return _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{_REDACTED}@", text)


def _digest(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def _harness_version() -> str:
    return _version("slo-harness") or "0.0.0+source"


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _git(cwd: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _git_state(cwd: Path) -> tuple[str | None, bool | None]:
    head = _git(cwd, "rev-parse", "--verify", "HEAD")
    if head is None:
        return None, None
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    return head.strip() or None, None if status is None else bool(status.strip())


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("model name", "Hardware", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
