"""One named network namespace: create, remove (verified), run a program inside, enter it.

Why pyroute2 for create/remove (and links/addresses in :mod:`harness.netns.lab`): it speaks
netlink directly, so no ``ip`` output is parsed and errors arrive as errno values; it works here
under gevent's monkey-patching too (checked: the load generator runs in such a process).
Programs run inside a namespace through ``ip netns exec NAME`` (an argv prefix) rather than a
``preexec_fn`` setns: ``preexec_fn`` is unsafe in a threaded process, and ``ip netns exec`` also
gives the child a ``/sys`` that shows the namespace's own interfaces.

Entering a namespace in the *current thread* (:meth:`Namespace.entered`) uses ``setns(2)``
through ctypes (Python 3.11 has no ``os.setns``). Sockets opened while inside stay in that
namespace after leaving it; that is how the load generator's connections originate from the
generator's namespace while the harness keeps its own.

Naming: every namespace the project creates is ``<prefix><run id>-<label>``. The prefix is
``$SLO_HARNESS_NETNS_PREFIX`` or ``sloh-``; the pattern sweep (:func:`sweep_prefix` in
:mod:`harness.netns.cleanup`) removes exactly the names with that prefix, so tests use a unique
prefix and never touch another run's namespaces. Names stay within ``[a-z0-9-]``.

Invariants: :meth:`Namespace.remove` kills what still runs inside (those processes were started
by the harness into a namespace only it uses), unmounts the name and checks it is gone; it treats
"already gone" as success, so a sweeper and the owner may race.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.errors import NetnsError, UsageError

__all__ = [
    "NETNS_DIR",
    "PREFIX_ENV",
    "Namespace",
    "default_prefix",
    "list_namespaces",
    "new_run_id",
]

PREFIX_ENV: Final = "SLO_HARNESS_NETNS_PREFIX"
_DEFAULT_PREFIX: Final = "sloh-"
NETNS_DIR: Final = Path("/run/netns")
_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_CLONE_NEWNET: Final = 0x40000000
_KILL_GRACE_S: Final = 1.0
_REMOVE_WAIT_S: Final = 2.0

_libc = ctypes.CDLL(None, use_errno=True)


def default_prefix() -> str:
    """The project's namespace-name prefix (``$SLO_HARNESS_NETNS_PREFIX`` or ``sloh-``)."""
    prefix = os.environ.get(PREFIX_ENV, _DEFAULT_PREFIX)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", prefix):
        raise UsageError(f"${PREFIX_ENV}={prefix!r}: expected 1-31 chars of [a-z0-9-]")
    return prefix


def new_run_id() -> str:
    """Six random hex digits: concurrent labs never share a name (collisions are re-drawn)."""
    return secrets.token_hex(3)


def list_namespaces(prefix: str = "") -> list[str]:
    """Names of the named network namespaces (``/run/netns``) starting with ``prefix``, sorted."""
    try:
        names = [p.name for p in NETNS_DIR.iterdir()]
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"setns failed: {os.strerror(err)}")


@dataclass(frozen=True, slots=True)
class Namespace:
    """A named network namespace (``/run/netns/<name>``); the object itself holds no resource."""

    name: str

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name):
            raise UsageError(f"namespace name {self.name!r}: expected [a-z0-9-], 1-63 chars")

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def exists(self) -> bool:
        return self.path.exists()

    # -- life -------------------------------------------------------------------------------

    def create(self) -> None:
        """Create the namespace with ``lo`` up, IPv6 off (no link-local chatter), no routes."""
        from pyroute2 import netns as pr_netns

        if self.exists():  # never adopt a namespace somebody else made
            raise NetnsError(f"namespace {self.name} already exists")
        try:
            pr_netns.create(self.name)
        except OSError as exc:
            raise NetnsError(f"cannot create namespace {self.name}: {exc}") from exc
        with self.entered():
            for key in ("all", "default"):
                # /proc/sys/net follows the opening thread's namespace; absent without IPv6.
                with contextlib.suppress(FileNotFoundError):
                    Path(f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6").write_text("1")
        with self.iproute() as ipr:
            ipr.link("set", ifname="lo", state="up")

    def remove(self) -> bool:
        """Kill what runs inside, remove the name, verify it is gone. False if it was not there."""
        if not self.exists():
            return False
        self.kill_processes()
        from pyroute2 import netns as pr_netns

        try:
            pr_netns.remove(self.name)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise NetnsError(f"cannot remove namespace {self.name}: {exc}") from exc
        deadline = time.monotonic() + _REMOVE_WAIT_S
        while self.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.exists():
            raise NetnsError(f"namespace {self.name} still present after removal")
        return True

    # -- inside -----------------------------------------------------------------------------

    def argv(self, command: Sequence[str]) -> list[str]:
        """``command`` prefixed so that it runs inside this namespace."""
        return ["ip", "netns", "exec", self.name, *command]

    def run(
        self, command: Sequence[str], *, input_text: str | None = None, timeout_s: float = 10.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside; raise :class:`NetnsError` with its stderr when it fails."""
        try:
            done = subprocess.run(
                self.argv(command),
                input=input_text,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NetnsError(f"{self.name}: {command[0]}: {exc}") from exc
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise NetnsError(f"{self.name}: {' '.join(command[:3])}: {' | '.join(detail[-3:])}")
        return done

    def popen(self, command: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``command`` inside (``subprocess.Popen`` keyword arguments pass through)."""
        return subprocess.Popen(self.argv(command), **kwargs)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Move the *current thread* into this namespace for the block, then back.

        Sockets created inside keep their namespace. Not re-entrant across threads: each
        thread enters on its own. The original namespace is restored even on an exception.
        """
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                target = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError as exc:
                raise NetnsError(f"namespace {self.name} does not exist") from exc
            try:
                _setns(target)
            finally:
                os.close(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(own)

    @contextlib.contextmanager
    def iproute(self) -> Iterator[Any]:
        """A pyroute2 ``IPRoute`` whose netlink socket lives in this namespace.

        The whole block runs with the thread inside the namespace (keep it to netlink calls), so
        a socket pyroute2 opens lazily still lands there. Netlink errors inside the block become
        :class:`NetnsError` naming the namespace.
        """
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with self.entered(), IPRoute() as ipr:
            try:
                yield ipr
            except NetlinkError as exc:
                raise NetnsError(f"{self.name}: netlink: {exc}") from exc

    def pids(self) -> list[int]:
        """Processes whose network namespace is this one (this process excluded)."""
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            return []
        found: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if (entry / "ns" / "net").stat().st_ino == inode:
                    found.append(int(entry.name))
        return found

    def kill_processes(self) -> None:
        """SIGTERM what runs inside, SIGKILL what is left after a grace period."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + _KILL_GRACE_S
            while pids and time.monotonic() < deadline:
                time.sleep(0.02)
                pids = self.pids()
            if not pids:
                return
