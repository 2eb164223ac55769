"""The generator's CPU per request: this tree against another, and step by step from the floor
(issue 11, "Cost per request"), for ``bench_generator.py``.

``python benchmarks/bench_generator.py --only cost [--before REF] [--quick]``:

1. **A/B against a git ref** (``--before REF``, default ``main``): the tree at REF is extracted
   with ``git archive`` into a temporary folder and its ``harness`` put first on ``PYTHONPATH``
   (ahead of the editable install) for the *before* children; *after* is this tree. Both run the
   same child (``--child ours``: the slo-harness user, 50,000 req/s offered, 10 slots), pinned to
   the generator's CPU, alternating within each round, against :func:`responder`: a minimal C
   epoll server on the other CPU (so the target costs next to nothing and is never the limit).
   CPU per request is ``getrusage`` over the run's middle seconds divided by the requests
   completed in them: on a shared machine requests/s swing with the neighbours, CPU per request
   less, and the ratio measured within one round (after / before, adjacent runs), median over
   the rounds, is what to read; the ratio of the medians is shown beside it.
2. **Floor steps** (``--child steps``, one process): the gevent floor (10 greenlets, one socket
   each: ``send`` + ``recv_into`` + Content-Length of pre-built bytes) with the work a latency-exact
   open-model generator cannot skip added one step per level (:data:`STEPS`), each step the
   harness's own code for it: the request built per arrival (the fraud-transaction body, the
   head), the W3C ``traceparent``, the hand-off from one scheduler greenlet to an idle slot (the
   open model: a slot never decides when to send), a per-request deadline (the harness's form:
   the connection's ``Deadline`` noted per request, one watchdog timer per hub, sockets without
   a timeout; :mod:`harness.load.deadline`), the three clocks into the Recorder's HDR histograms,
   the tail
   sampler; the last level is the harness itself (its Engine, client and Completion, without
   Locust around the slots). All levels run in one process, time-sliced (1 s each, the order
   rotated every cycle), so a neighbour's load hits every level alike; the differences between
   neighbours are what each step costs, and the last step is the harness's own glue (framing
   and head parse, judge, status tally, completion, the engine's walk) beyond the minimal form
   of each step.

Needs ``cc`` for the responder (else the Python zero-delay target is used and said so).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: A minimal HTTP/1.1 keep-alive responder: epoll, read until a full request (head +
#: Content-Length), answer a fixed 24-byte JSON body. No allocation per request.
RESPONDER_C = r"""
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <signal.h>
#define MAXC 1024
static char bufs[MAXC][65536]; static int lens[MAXC];
static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
  "Content-Length: 24\r\n\r\n{\"ok\":true,\"score\":0.01}";
int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(0x7f000001);
  bind(lfd, (void*)&a, sizeof a); listen(lfd, 128);
  socklen_t sl = sizeof a; getsockname(lfd, (void*)&a, &sl);
  printf("READY http://127.0.0.1:%d\n", ntohs(a.sin_port)); fflush(stdout);
  int ep = epoll_create1(0); struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event evs[64]; alarm(argc > 1 ? atoi(argv[1]) : 600);  /* bounded lifetime */
  for (;;) {
    int n = epoll_wait(ep, evs, 64, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, 0, 0, SOCK_NONBLOCK)) >= 0) {
          if (c >= MAXC) { close(c); continue; }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); lens[c] = 0;
          struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
        }
        continue;
      }
      int r = read(fd, bufs[fd] + lens[fd], 65535 - lens[fd]);
      if (r <= 0) { if (r < 0 && errno == EAGAIN) continue; close(fd); continue; }
      lens[fd] += r;
      for (;;) {
        bufs[fd][lens[fd]] = 0;
        char *he = memmem(bufs[fd], lens[fd], "\r\n\r\n", 4); if (!he) break;
        int hl = he - bufs[fd] + 4, cl = 0;
        char *p = memmem(bufs[fd], hl, "Content-Length:", 15); if (p) cl = atoi(p + 15);
        if (lens[fd] < hl + cl) break;
        if (write(fd, RESP, sizeof RESP - 1) < 0) break;
        memmove(bufs[fd], bufs[fd] + hl + cl, lens[fd] - hl - cl); lens[fd] -= hl + cl;
      }
    }
  }
}
"""

#: (label, what the level adds); level K runs steps 0..K.
STEPS: tuple[tuple[str, str], ...] = (
    ("gevent floor", "send + recv_into + Content-Length of pre-built bytes, 10 greenlets"),
    ("+ request built per arrival", "ScenarioWorkload.next: fraud-transaction body + head"),
    ("+ traceparent", "the W3C header spliced into the request bytes"),
    ("+ open-model hand-off", "one scheduler greenlet -> idle slot (Station), sleep(0)"),
    (
        "+ per-request deadline",
        "Deadline.start/stop per request; one watchdog timer per hub, no socket timeout",
    ),
    ("+ 3 clocks into HDR", "Recorder.offered + Recorder.record (intended, sent, done)"),
    ("+ tail sampler", "TailSampler.want per response; kept raw when it says so (worst case)"),
    (
        "the harness's own slot and engine",
        "the real Engine (walk, waker, Station) + HttpConnection.exchange (framing, head parse, "
        "deadline) + Completion (judge, tally, Recorder, tail); no Locust around it",
    ),
)


@contextlib.contextmanager
def responder(pin: list[str]) -> Iterator[str | None]:
    """The C responder pinned by ``pin``; yields its URL (None without a C compiler)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="slo-harness-gencost-") as tmp:
        source, exe = Path(tmp) / "responder.c", Path(tmp) / "responder"
        source.write_text(RESPONDER_C)
        subprocess.run([cc, "-O2", "-o", str(exe), str(source)], check=True, capture_output=True)
        proc = subprocess.Popen([*pin, str(exe), "900"], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().split()
            if len(line) != 2 or line[0] != "READY":
                raise RuntimeError(f"the responder did not start: {line!r}")
            yield line[1]
        finally:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def tree_at(root: Path, ref: str) -> Iterator[Path]:
    """The repository's files at ``ref`` (``git archive``) in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="slo-harness-before-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", ref], check=True, capture_output=True, timeout=120
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True, timeout=120)
        yield Path(tmp)


def rev(root: Path, ref: str) -> str:
    """The short commit id of ``ref``."""
    out = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", ref],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def interleave(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Each run once per round, the order rotated every round; us per request per run."""
    names = list(runs)
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(runs[name]())
    return out


# -- the floor-steps child -----------------------------------------------------------------------
#: A floor connection: socket, buffer, its view, and its Deadline (harness.load.deadline).
_Conn = tuple[Any, bytearray, memoryview, Any]


def steps_child(url: str, slice_s: float, cycles: int, users: int = 10) -> dict[str, Any]:
    """CPU us per request of every level of :data:`STEPS`, in one process, time-sliced: each
    cycle runs every level for ``slice_s`` (the order rotated per cycle), so a neighbour's load
    on the machine hits all levels alike; per level, one figure per cycle (process CPU over the
    middle of the slice / requests completed in it)."""
    import socket as _socket

    import gevent
    import msgspec
    from generator_profile import read_reply

    from harness.load import pacing  # noqa: F401  (imports Locust: gevent-patched from here on)
    from harness.load.deadline import Deadline, watchdog
    from harness.load.engine import Engine
    from harness.load.http import ClientError, HttpConnection
    from harness.load.station import Job, Station
    from harness.load.workload import ScenarioWorkload
    from harness.measure import (
        Outcome,
        PendingRequest,
        Recorder,
        TailSampler,
        run_trace_prefix,
        traceparent,
    )
    from harness.spec.scenario import Scenario

    host, port = url.split("//")[1].split(":")
    base = {"name": "steps", "target": url, "max_concurrency": users, "timeout_ms": 1000}
    scenario = msgspec.convert(
        {**base, "phases": [{"name": "main", "kind": "steady", "rate": 1, "duration_s": 1}]},
        Scenario,
    )
    workload = ScenarioWorkload(scenario, url)
    fixed = workload.next().data
    recorder = Recorder(run_start_wall_ns=time.time_ns(), lateness_ns=5_000_000)
    tails = TailSampler(seed=1)
    prefix = run_trace_prefix(time.time_ns(), 1)
    station = Station()
    mono = time.monotonic_ns
    wall_offset = time.time_ns() - mono()
    count = [0]

    def request(level: int, i: int) -> bytes:
        data = workload.next().data if level >= 1 else fixed
        if level >= 2:
            _, line = traceparent(prefix, i)
            at = data.find(b"\r\n") + 2
            data = data[:at] + line + data[at:]
        return data

    dog = watchdog()
    assert dog is not None  # gevent-patched

    def exchange(level: int, sock: Any, view: memoryview, buf: bytearray, data: bytes) -> bytes:
        sock.send(data)
        head_end = read_reply(sock, view, buf)
        return bytes(buf[:head_end]) if level >= 6 else b""

    def guarded(level: int, conn: _Conn, job: Job, sent: int) -> bytes:
        # The harness's deadline (HttpConnection._round_trip): noted for the watchdog, no
        # socket timeout (the socket has none); 2 s after the send, as a 2 s timeout would be.
        sock, buf, view, deadline = conn
        if level < 4:
            return exchange(level, sock, view, buf, job.data)
        deadline.start(sent + 2_000_000_000)
        try:
            return exchange(level, sock, view, buf, job.data)
        finally:
            deadline.stop()

    def record(level: int, intended: int, sent: int, done: int, head: bytes) -> None:
        if level >= 5:
            recorder.offered("main", intended + wall_offset)
            recorder.record(
                phase="main",
                endpoint="score",
                outcome=Outcome.OK,
                intended_ns=intended,
                sent_ns=sent,
                done_ns=done,
            )
        if level >= 6:
            latency = done - intended
            mask = tails.want("main", "score", latency)
            if mask:  # what Completion keeps: the request raw (times, marks, head)
                marks = (0, sent, done)
                kept = PendingRequest(
                    "main", "score", "ok", f"t{intended:x}", 0, intended, sent, done, marks, head
                )
                tails.add(mask, kept, latency)
        count[0] += 1

    def connect() -> _Conn:
        sock = _socket.create_connection((host, int(port)))
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        buf = bytearray(65536)
        return sock, buf, memoryview(buf), Deadline(dog)

    def closed_loop(level: int, stop_at: float) -> None:  # levels 0-2: send when the reply is in
        sock, buf, view, _ = connect()
        for i in range(10**9):  # bounded by the clock
            if time.monotonic() > stop_at:
                break
            exchange(level, sock, view, buf, request(level, i))
            count[0] += 1
        sock.close()

    def slot(level: int) -> None:  # levels 3-6: a slot runs what the scheduler hands it
        conn = connect()
        for _ in range(10**9):
            job = station.next_job()
            if job is None:
                break
            sent = mono()
            head = guarded(level, conn, job, sent)
            record(level, job.intended_ns, sent, mono(), head)
            station.finished()
        conn[0].close()

    def release_slots() -> None:
        for _ in range(users):
            station.wait_for_slot(mono() + 5_000_000_000)
            station.try_dispatch(None)  # type: ignore[arg-type]

    def scheduler(level: int, stop_at: float) -> None:
        # Intended times of a 50,000 req/s schedule, as the full user is offered: the queue
        # grows, every latency is a new maximum (the tail sampler's worst case, like ours).
        first = mono()
        deadline = first + 5_000_000_000 + int((stop_at - time.monotonic()) * 1e9)  # one, like
        for i in range(10**9):  # the engine's drain deadline (the station arms one timer for it)
            if time.monotonic() > stop_at:
                break
            intended = first + i * 20_000
            job = Job(None, "main", "score", "POST", "/v1/score", request(level, i), intended)  # type: ignore[arg-type]
            if not station.try_dispatch(job):  # all busy: the first slot to finish takes it
                station.hand_over(job, deadline)
                continue
            gevent.sleep(0)
        station.disarm()
        release_slots()

    def harness_slot() -> None:  # level 7: SloUser.serve without Locust around it
        conn = HttpConnection(host, int(port))
        for _ in range(10**9):
            job = station.next_job()
            if job is None:
                break
            engine = job.engine
            sent = mono()
            try:
                reply = conn.exchange(job.data, sent + engine.timeout_ns, job.judge.keep_body)
                error, done = None, conn.last_read_ns
            except ClientError as exc:
                reply, error, done = None, exc, mono()
            engine.complete(job, sent, done, reply, error, conn)
            count[0] += 1
        conn.close()

    def run_level(level: int, seconds: float) -> tuple[float, int]:
        """(CPU s, requests) over the middle of one slice of ``level``."""
        count[0] = 0
        stop_at = time.monotonic() + seconds
        greenlets: list[Any] = []
        engine = None
        if level >= 7:
            phases = [{"name": "main", "kind": "steady", "rate": 50_000, "duration_s": seconds}]
            real = msgspec.convert({**base, "phases": phases}, Scenario)
            start_wall = time.time_ns() + 20_000_000
            engine = Engine(
                station=station,
                scenario=real,
                target_url=url,
                source=ScenarioWorkload(real, url),
                recorder=Recorder(run_start_wall_ns=start_wall, lateness_ns=5_000_000),
            )
            greenlets = [gevent.spawn(harness_slot) for _ in range(users)]
            gevent.sleep(0)
            engine.start()
        elif level >= 3:
            greenlets = [gevent.spawn(slot, level) for _ in range(users)]
            gevent.sleep(0)
            greenlets.append(gevent.spawn(scheduler, level, stop_at))
        else:
            greenlets = [gevent.spawn(closed_loop, level, stop_at) for _ in range(users)]
        gevent.sleep(seconds * 0.2)
        c0, n0 = _cpu_s(), count[0]
        gevent.sleep(seconds * 0.7)
        c1, n1 = _cpu_s(), count[0]
        if engine is not None:
            engine.abort()  # the unsent rest of an overloaded schedule is not what we measure
            station.wait_all_done(mono() + 5_000_000_000)
            release_slots()
        gevent.joinall(greenlets, timeout=10)
        return c1 - c0, n1 - n0

    levels = list(range(len(STEPS)))
    per: dict[str, list[float]] = {f"step{k}": [] for k in levels}
    run_level(0, slice_s)  # warm-up: connections, caches
    for c in range(cycles):
        k = c % len(levels)
        for level in levels[k:] + levels[:k]:
            cpu, n = run_level(level, slice_s)
            per[f"step{level}"].append(cpu / max(n, 1) * 1e6)
    return per


def _cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


# -- tables --------------------------------------------------------------------------------------
def ab_table(data: dict[str, list[float]], refs: dict[str, str]) -> list[str]:
    """CPU per request per tree (per run, median) and its ratio to before: of the medians, and
    the median of the ratios within each round (adjacent runs share the machine's state)."""
    before = data["before"]
    b = statistics.median(before)
    lines = [
        "| tree (slo-harness user, 50,000 req/s offered, 10 slots) | CPU us per request, "
        "per run | median | ratio of medians | ratio within rounds (median) |",
        "|---|---|---:|---:|---:|",
    ]
    for key in data:
        if key not in ("before", "after") and not key.startswith("at:"):
            continue
        runs = data[key]
        med = statistics.median(runs)
        label = {"before": f"before: {refs['before']}", "after": f"**after: {refs['after']}**"}
        paired = statistics.median(x / y for x, y in zip(runs, before, strict=False) if y)
        ratios = (
            f"{med / b:.2f} | {paired:.2f}"
            if key != "after"
            else (f"**{med / b:.2f}** | **{paired:.2f}**")
        )
        per_run = ", ".join(f"{x:.0f}" for x in runs)
        lines.append(f"| {label.get(key, refs.get(key, key))} | {per_run} | {med:.0f} | {ratios} |")
    return lines


def describe(root: Path, ref: str) -> str:
    """``+ <short id>: <subject, shortened>`` of a commit."""
    out = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%h: %s", ref],
        check=True,
        capture_output=True,
        text=True,
    )
    text = out.stdout.strip()
    return "+ " + (text if len(text) <= 90 else text[:87] + "...")


def steps_table(data: dict[str, list[float]]) -> list[str]:
    """Each floor level's CPU per request (one process, time-sliced) and each step's cost."""
    lines = [
        "| level (cumulative) | adds | CPU us per request, per cycle | median | step |",
        "|---|---|---|---:|---:|",
    ]
    previous = 0.0
    for k, (label, adds) in enumerate(STEPS):
        runs = data.get(f"step{k}", [])
        if not runs:
            continue
        med = statistics.median(runs)
        step = f"{med - previous:+.1f}" if k else ""
        per_run = ", ".join(f"{x:.0f}" for x in runs)
        lines.append(f"| {k}. {label} | {adds} | {per_run} | {med:.1f} | {step} |")
        previous = med
    return lines


def env_with_tree(tree: Path | None) -> dict[str, str]:
    """Environment variables that make a child import ``harness`` from ``tree`` (None: ours)."""
    if tree is None:
        return {}
    old = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": str(tree) + (os.pathsep + old if old else "")}
