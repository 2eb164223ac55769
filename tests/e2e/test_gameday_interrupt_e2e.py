"""Issue 10, "Interruption": SIGINT, SIGTERM and SIGKILL of the harness while a game day has a fault
of every family active at once, through the real command line.

The game day holds four faults together: the service frozen in a cgroup of ours (a process fault),
a latency toxic in the fault proxy in front of it (a proxy process), packet loss as an nft rule and
a tbf qdisc between the lab's generator and service namespaces (network faults). Before the signal
the test checks they are really in effect (so "nothing left" cannot pass vacuously) and notes what
the run created: its processes, namespaces, cgroups, ledger entries, scratch directories. After
it, none of those may remain (after ``slo-harness chaos cleanup`` for SIGKILL, which runs no
``finally``), the host's own nft tables and qdiscs are unchanged, and the outcome is honest:
exit 3 with one line and no traceback, a journal marked ``interrupted`` with every rollback
verified, written atomically (no temp file beside it), no report pretending the day completed.

SIGINT goes to the process group (Ctrl-C in a terminal), SIGTERM and SIGKILL to the harness
process alone (a CI runner's timeout, the OOM killer): its children then have to notice by
themselves. Root only (namespaces, nftables, cgroups); not serial: nothing here judges time.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil
import pytest

from harness.ledger import Ledger
from harness.measure import read_series

pytestmark = [pytest.mark.root, pytest.mark.slow]

CLI = (sys.executable, "-m", "harness.cli")
_DEADLINE_S = 60.0
FAULTS = ("frozen", "slow", "lossy", "narrow")

GAMEDAY = """\
title: interrupted with every fault family active
owner: ci
hypothesis:
  apiVersion: slo-harness/v1
  name: relaxed
  objectives:
    - {metric: latency, percentile: p99, threshold_ms: 5000}
load:
  name: interrupt-faults
  timeout_ms: 2000
  generator: {max_lag_p99_ms: 500, max_cpu_percent: 100}
  phases:
    - {name: warmup, kind: warmup, rate: 40, duration_s: 1}
    - {name: steady, kind: steady, rate: 40, duration_s: 5}
blast_radius: {targets: [service, network], max_concurrent_faults: 4}
judgement: {window: 1s, hold: 2s}
abort: [{signal: error_rate, above: 0.999, for: 60s}]
timeline:
  - {name: slow, at: 0.1s, for: 60s, fault: {kind: latency, latency_ms: 5}}
  - {name: lossy, at: 0.1s, for: 60s, fault: {kind: loss, percent: 5}}
  - {name: narrow, at: 0.1s, for: 60s, fault: {kind: network_bandwidth, rate_kbit_s: 20000}}
  - {name: frozen, at: 0.5s, for: 60s, fault: {kind: pause, method: freeze}}
recovery: 1s
"""


@dataclass
class Snapshot:
    """What the run created, seen while every fault was active."""

    pids: list[psutil.Process] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    cgroups: list[Path] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)


def _lines(stream: IO[str]) -> queue.Queue[str | None]:
    """The child's output lines on a queue (None at EOF), read by a daemon thread."""
    q: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def _wait_all_active(q: queue.Queue[str | None], seen: list[str]) -> None:
    active: set[str] = set()
    deadline = time.monotonic() + _DEADLINE_S
    while active != set(FAULTS):
        try:
            line = q.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError("the faults never were all active:\n" + "".join(seen))
        seen.append(line)
        for name in FAULTS:
            if f"] {name}:" in line and "ACTIVE" in line:
                active.add(name)


def _namespaces(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [ln.split()[0] for ln in out.stdout.splitlines() if ln.startswith(prefix)]


def _host_state() -> tuple[str, str]:
    """The host namespace's nft tables and qdiscs (a lab fault must never touch them)."""
    nft = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    tc = subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True).stdout
    return nft, tc


def _cgroup_path(undo: dict[str, Any]) -> Path | None:
    """The cgroup a ledger entry names (the freeze's; ``mount`` + ``cgroup`` in its undo)."""
    mount, name = undo.get("mount"), undo.get("cgroup")
    return Path(mount) / name if isinstance(mount, str) and isinstance(name, str) else None


def _snapshot(pid: int, prefix: str, ledger: Ledger) -> Snapshot:
    snap = Snapshot(psutil.Process(pid).children(recursive=True), _namespaces(prefix))
    for entry in ledger.entries():
        snap.kinds.add(entry.kind)
        cgroup = _cgroup_path(entry.undo)
        if cgroup is not None:
            snap.cgroups.append(cgroup)
    return snap


def _frozen(cgroups: list[Path]) -> bool:
    return any(
        "frozen 1" in (c / "cgroup.events").read_text()
        for c in cgroups
        if (c / "cgroup.events").is_file()
    )


def _gone(procs: list[psutil.Process]) -> list[str]:
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:  # children see their parent go within a second or two
        alive = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return []
        time.sleep(0.1)
    return [f"{p.pid}: {' '.join(p.cmdline()[:4])}" for p in alive]


def _ours(tmp: Path) -> list[Path]:
    """What the run put in its temp directory. ``.ses`` is onnxruntime's own session-id file
    (a timestamp and a UUID, shared by every process that loads it, no run data): not ours."""
    return [p for p in tmp.iterdir() if p.name != ".ses"]


def _send(proc: subprocess.Popen[str], sig: signal.Signals) -> None:
    if sig is signal.SIGINT:
        os.killpg(proc.pid, sig)  # Ctrl-C: the terminal signals the whole foreground group
    else:
        proc.send_signal(sig)


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"]
)
def test_a_signal_with_every_fault_family_active_leaves_nothing_behind(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """Freeze + proxy toxic + nft loss + tbf active, then the signal: every process, namespace,
    cgroup, ledger entry and scratch directory of the run is gone (after `chaos cleanup` for
    SIGKILL), the host's nft tables and qdiscs are as before, and the exit code, the last line
    and the journal say the day was interrupted with every rollback verified."""
    gd = tmp_path / "gd.yaml"
    gd.write_text(GAMEDAY)
    out, tmp, state = tmp_path / "out", tmp_path / "tmp", tmp_path / "state"
    tmp.mkdir()
    prefix = f"ti{os.getpid() % 10000}{sig.value}-"
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "SLO_HARNESS_STATE_DIR": str(state),
        "SLO_HARNESS_NETNS_PREFIX": prefix,
    }
    host_before = _host_state()
    ledger = Ledger(state)
    argv = [*CLI, "gameday", str(gd), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(
        argv, env=env, cwd=tmp_path, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    seen: list[str] = []
    snap = Snapshot()
    try:
        assert proc.stdout is not None
        q = _lines(proc.stdout)
        _wait_all_active(q, seen)
        snap = _snapshot(proc.pid, prefix, ledger)
        # In effect, not only announced: a frozen cgroup, a proxy and a service process, the
        # lab's namespaces, and a ledger entry per fault family and per resource.
        assert _frozen(snap.cgroups), snap
        cmdlines = [" ".join(p.cmdline()) for p in snap.pids]
        assert any("harness.chaos.proxy" in c for c in cmdlines), cmdlines
        assert any("reference_service" in c for c in cmdlines), cmdlines
        assert len(snap.namespaces) >= 3, snap.namespaces  # bridge + generator + service
        assert {"netns", "scratch.dir"} <= snap.kinds, snap.kinds
        assert _ours(tmp), "no scratch directory while running"
        _send(proc, sig)
        proc.wait(timeout=_DEADLINE_S)
        while (line := q.get(timeout=5)) is not None:
            seen.append(line)
    except BaseException:
        # A failing test must not leave a frozen service, a lab or a proxy behind: the kill
        # switch, scoped to this test's ledger and namespace prefix.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        subprocess.run([*CLI, "chaos", "cleanup", "--all"], env=env, capture_output=True,
                       timeout=120)  # fmt: skip
        raise
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    log = "".join(seen)
    swept = None
    if sig is signal.SIGKILL:
        entries_after_kill = ledger.entries()
        swept = subprocess.run(
            [*CLI, "chaos", "cleanup"], env=env, capture_output=True, text=True, timeout=60
        )
    # Nothing left behind, whichever way the run ended (checked before anything else, so a
    # failure below cannot strand what it found).
    leftovers = {
        "processes": _gone(snap.pids),
        "namespaces": _namespaces(prefix),
        "cgroups": [str(c) for c in snap.cgroups if c.exists()],
        "ledger entries": [f"{e.kind} {e.key}" for e in ledger.entries()],
        "temp files": [p.name for p in _ours(tmp)],
        "host nft/qdisc changes": [] if _host_state() == host_before else ["changed"],
    }
    _record(sig, proc.returncode, snap, {k: len(v) for k, v in leftovers.items()})
    if any(leftovers.values()):
        subprocess.run([*CLI, "chaos", "cleanup", "--all"], env=env, capture_output=True,
                       timeout=120)  # fmt: skip
    assert {k: v for k, v in leftovers.items() if v} == {}
    if swept is not None:
        assert proc.returncode == -signal.SIGKILL
        assert entries_after_kill, "a SIGKILLed run leaves its ledger entries for the kill switch"
        assert swept.returncode == 0, swept.stdout + swept.stderr
        assert "Traceback" not in swept.stdout + swept.stderr
        return
    assert proc.returncode == 3, log
    assert "Traceback" not in log, log
    assert log.strip().splitlines()[-1].startswith("slo-harness: error: interrupted"), log
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "interrupted", journal
    rollbacks = journal["rollbacks"]
    assert sorted(r["step"] for r in rollbacks) == sorted(FAULTS), rollbacks
    assert all(r["status"] == "succeeded" and r["verified_gone"] for r in rollbacks)
    # Written atomically, and no report claims a completed day: the journal is the record, next
    # to the interval log measured until the signal (kept raw, marked incomplete: no #[End]).
    assert sorted(p.name for p in out.iterdir()) in (
        ["journal.json"],
        ["journal.json", "latency.partial.hlog"],
    )
    partial = out / "latency.partial.hlog"
    if partial.exists():
        assert not read_series(partial).complete


def _record(sig: signal.Signals, code: int, snap: Snapshot, left: dict[str, int]) -> None:
    """The README's "interruptions and leftovers" row (scripts/suite_figures.py)."""
    root = os.environ.get("SLO_SUITE_FIGURES")
    if not root:
        return
    doc = {
        "profile": "ci",
        "signal": sig.name,
        "exit_code": code,
        "faults_active": len(FAULTS),
        "resources_seen": len(snap.pids) + len(snap.namespaces) + len(snap.cgroups),
        "ledger_kinds": sorted(snap.kinds),
        "leftovers": left,
    }
    Path(root).mkdir(parents=True, exist_ok=True)
    Path(root, f"interrupt-{sig.name}.json").write_text(json.dumps(doc, indent=2) + "\n")
