"""Where the generator's CPU per request goes (issue 11), for ``bench_generator.py``.

``python benchmarks/bench_generator.py --only profile [--quick]``:

1. **CPU per request, interleaved**: the generator saturating a zero-delay target (10 slots,
   offered far above capacity) next to the *gevent floor* (:func:`floor_saturated`: 10 greenlets,
   one gevent socket each, pre-built request bytes, ``send`` + ``recv_into`` + Content-Length,
   nothing else), alternating, each in a fresh pinned process. CPU per request is process CPU
   time (``getrusage``) over the middle of the run divided by the requests completed in it, so it
   holds on a shared machine where requests/s do not (a loaded core slows both alike; compare the
   ratio). The floor is what any gevent generator pays per request (two syscalls, the hub's
   epoll wake-up, two greenlet switches); ours minus the floor is what the harness adds.
2. **Profile**: one more saturated run under ``py-spy record --gil`` (only samples holding the
   GIL: CPU, not waiting), written as collapsed stacks (``generator-profile.txt``, the input of
   flamegraph.pl / speedscope) and as a flame graph (``generator-flame.svg``, a second py-spy
   run), and summed here by component (:data:`COMPONENTS`, first match from the leaf up wins).
   Without py-spy (``pip install py-spy``) the profile part is skipped with a note.

Saturation here means offered far above capacity, so every request's intended-clock latency is
a new maximum and the tail sampler keeps most of them (its top-N and p99 band): its row is the
worst case, not a run within capacity (there: one comparison per request, ``bench_tail.py``).
"""

from __future__ import annotations

import itertools
import resource
import shutil
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

#: (component, frame-name fragments): a sample belongs to the first component one of its frames
#: matches, looking from the leaf towards the root (so "recv_into inside _fill" is the receive).
END_OF_RUN = "end of run: the unsent rest of an overloaded schedule counted"
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (END_OF_RUN, ("Engine._give_up",)),
    ("completion: Locust's events.request", ("EventHook.fire",)),
    ("completion: Recorder (3 clocks, HDR)", ("Recorder.record",)),
    ("completion: tail sampler", ("TailSampler.", "PendingRequest", "server_timing_of_head")),
    ("completion: judge + status tally", ("ResponseJudge.judge", "ResponseTally.")),
    ("client: receive (gevent recv_into, waits)", ("HttpConnection._fill",)),
    ("client: send", ("_send ", "sendall", "SocketMixin.send")),
    ("client: parse + rest of exchange", ("HttpConnection.",)),
    ("slot: job hand-off (Station)", ("Station.next_job", "Station.finished")),
    ("slot: rest of the loop + completion glue", ("SloUser.serve", "Completion.complete")),
    ("scheduler: request bytes (body, ahead of time)", ("ScenarioWorkload.next",)),
    ("scheduler: traceparent", ("traceparent", "with_header")),
    ("scheduler: dispatch + waits", ("Station.", "pacing", "gevent.sleep", "sleep (gevent")),
    ("scheduler: rest of the walk (offered, schedule)", ("Engine._walk", "Engine._run")),
    ("gevent hub (epoll, callbacks)", ("Hub.run",)),
)
OTHER = "other (Locust runner, CPU sampler, ...)"
HOT_ROOTS = ("SloUser.serve", "Engine._run", "Hub.run")


def summarise(collapsed: str) -> tuple[Counter[str], int]:
    """Samples per component of py-spy's raw (collapsed) output, hot-path stacks only."""
    per: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if not any(root in f for f in frames for root in HOT_ROOTS):
            continue  # start-up (imports, Locust's set-up) and the result's assembly
        n = int(count)
        total += n
        per[_component(frames)] += n
    return per, total


def _component(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in COMPONENTS:
            if any(needle in frame for needle in needles):
                return name
    return OTHER


def profile_table(per: Counter[str], total: int, cpu_us: float | None) -> list[str]:
    """Share of the per-request samples per component (and us per request, if known); the
    end-of-run accounting is shown apart (the CPU figure leaves the run's end out too)."""
    end = per.get(END_OF_RUN, 0)
    steady = total - end
    lines = [
        "| component | share of per-request CPU samples | us per request |",
        "|---|---:|---:|",
    ]
    for name, n in per.most_common():
        if name == END_OF_RUN:
            continue
        share = n / steady if steady else 0.0
        us = f"{share * cpu_us:.1f}" if cpu_us else ""
        lines.append(f"| {name} | {share * 100:.1f}% | {us} |")
    lines.append(
        f"| (apart: {END_OF_RUN}, {end / total * 100 if total else 0:.0f}% of all samples) | | |"
    )
    return lines


def run_py_spy(cmd: list[str], out: Path, fmt: str, rate: int = 250) -> bool:
    """``cmd`` under ``py-spy record --gil``; False when py-spy is not installed."""
    spy = shutil.which("py-spy") or str(Path(__import__("sys").executable).parent / "py-spy")
    if not Path(spy).exists():
        return False
    subprocess.run(
        [spy, "record", "--gil", "-r", str(rate), "-f", fmt, "-o", str(out), "--", *cmd],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return True


# -- children ------------------------------------------------------------------------------------
class CpuTrack:
    """(wall s, process CPU s) every 0.1 s from a greenlet, to read CPU over any time window."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def run(self, seconds: float) -> None:
        import gevent

        for _ in range(int(seconds / 0.1) + 1):
            use = resource.getrusage(resource.RUSAGE_SELF)
            self.points.append((time.time(), use.ru_utime + use.ru_stime))
            gevent.sleep(0.1)

    def cpu_between(self, start: float, end: float) -> float:
        """Process CPU seconds between two wall times (linear between samples)."""
        return self._at(end) - self._at(start)

    def _at(self, wall: float) -> float:
        pts = self.points
        for (t0, c0), (t1, c1) in itertools.pairwise(pts):
            if t0 <= wall <= t1:
                return c0 + (c1 - c0) * (wall - t0) / (t1 - t0 or 1.0)
        return pts[-1][1] if wall > pts[-1][0] else pts[0][1]


def cpu_per_request(track: CpuTrack, result: Any) -> float:
    """us of process CPU per completed request over the main phase's middle intervals."""
    start = result.started_at.timestamp()
    main = [i for i in result.intervals if i.phase == "main"]
    middle = main[2:-1] or main
    done = sum(i.counts.ok + i.counts.failed + i.counts.shed for i in middle)
    a = start + middle[0].start_s
    b = start + middle[-1].start_s + middle[-1].length_s
    return track.cpu_between(a, b) / max(done, 1) * 1e6


def read_reply(sock: Any, view: memoryview, buf: bytearray) -> int:
    """Read one Content-Length-framed reply into ``buf``; the offset of its head's end.

    The floor's whole client: no parser, no timeout, no copy (the floor clients here and in
    ``generator_cost.py`` share it, so both floors are the same code).
    """
    n = sock.recv_into(view)
    head_end = buf.find(b"\r\n\r\n", 0, n)
    for _ in range(65536):  # bounded: every pass reads at least one byte
        if head_end >= 0:
            break
        n += sock.recv_into(view[n:])
        head_end = buf.find(b"\r\n\r\n", 0, n)
    at = buf.find(b"Content-Length:", 0, head_end)
    need = head_end + 4 + int(buf[at + 15 : buf.find(b"\r\n", at)])
    for _ in range(65536):
        if n >= need:
            break
        n += sock.recv_into(view[n:])
    return head_end


def floor_saturated(url: str, duration_s: float, users: int = 10) -> dict[str, Any]:
    """The gevent floor at saturation: ``users`` greenlets, each send + recv on its connection."""
    import socket as _socket

    import gevent

    from harness.load import pacing  # noqa: F401  (imports Locust: the process is gevent-patched)

    host, port = url.split("//")[1].split(":")
    request = (
        b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: floor\r\n"
        b"Content-Type: application/json\r\nContent-Length: 42\r\n\r\n"
        b'{"transaction_id":"bench-1","amount":42.5}'
    )
    count = [0]
    stop_at = time.monotonic() + duration_s

    def loop() -> None:
        sock = _socket.create_connection((host, int(port)))
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        buf = bytearray(65536)
        view = memoryview(buf)
        for _ in range(10**9):  # bounded by the clock below
            if time.monotonic() > stop_at:
                break
            sock.send(request)
            read_reply(sock, view, buf)
            count[0] += 1
        sock.close()

    marks: list[tuple[float, int]] = []

    def sample() -> None:
        gevent.sleep(duration_s * 0.2)
        marks.append((_cpu_s(), count[0]))
        gevent.sleep(duration_s * 0.7)
        marks.append((_cpu_s(), count[0]))

    greenlets = [gevent.spawn(loop) for _ in range(users)]
    sampler = gevent.spawn(sample)
    gevent.joinall([*greenlets, sampler], timeout=duration_s + 30)
    (c0, n0), (c1, n1) = marks
    return {
        "cpu_us_per_req": (c1 - c0) / max(n1 - n0, 1) * 1e6,
        "rps": (n1 - n0) / (0.7 * duration_s),
    }


def _cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def cpu_table(data: dict[str, list[float]]) -> list[str]:
    """The interleaved CPU-per-request rows and the ratio to the floor."""
    ours = statistics.median(data["ours"])
    floor = statistics.median(data["floor"])
    lines = [
        "| generator (saturating a zero-delay target, 10 connections) | CPU us per request, "
        "per run | median |",
        "|---|---|---:|",
        f"| gevent floor (send + recv_into + Content-Length, nothing else) | "
        f"{', '.join(f'{x:.0f}' for x in data['floor'])} | {floor:.0f} |",
        f"| slo-harness user (fresh body, traceparent, 3 clocks, tail sampler) | "
        f"{', '.join(f'{x:.0f}' for x in data['ours'])} | {ours:.0f} |",
        f"| ratio ours / floor | | {ours / floor if floor else 0:.2f} |",
    ]
    return lines
