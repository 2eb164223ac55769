"""What a per-request deadline costs under gevent, in each form we considered (issue 11, level 4
of ``bench_generator.py --only cost``): the measurement behind ``harness/load/deadline.py``.

``python benchmarks/deadline_forms.py [--cycles N] [--slice-s S]``

The gevent floor (10 greenlets, one keep-alive socket each, ``send`` + ``recv_into`` of a
Content-Length reply from the minimal C responder of ``generator_cost.py``, pinned to the other
CPU) with a 2 s deadline per request in one of four forms:

- ``none``: no deadline (the floor itself);
- ``socket timeout``: ``settimeout`` per request; gevent then makes a ``Timeout`` (a Python
  object and a libev timer, started and cancelled) for every wait (the harness before);
- ``timer per connection``: one libev timer per connection, started (``update=True``) and
  stopped per request, throwing into the greenlet when it fires;
- ``watchdog``: :class:`harness.load.deadline.Deadline` noted per request, one timer per hub
  (the harness now).

All forms run in one process, time-sliced (``--slice-s`` each, the order rotated per cycle), so
a neighbour's load hits them alike; each form's cost is the median over cycles of its CPU per
request minus the floor's in the same cycle.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FORMS = ("none", "socket timeout", "timer per connection", "watchdog")
_TIMEOUT_S = 2.0


def _cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def child(url: str, cycles: int, slice_s: float) -> dict[str, list[float]]:
    """CPU us per request of every form, per cycle (gevent-patched process)."""
    from gevent import monkey

    monkey.patch_all()
    import socket

    import gevent
    from generator_profile import read_reply

    from harness.load.deadline import Deadline, watchdog

    host, port = url.split("//")[1].split(":")
    request = b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    dog = watchdog()
    assert dog is not None
    count = [0]

    def slot(form: str, stop_at: float) -> None:
        sock = socket.create_connection((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray(65536)
        view = memoryview(buf)
        timer = gevent.get_hub().loop.timer(_TIMEOUT_S)
        deadline = Deadline(dog)
        mono = time.monotonic_ns
        for _ in range(10**9):  # bounded by the clock
            if time.monotonic() > stop_at:
                break
            if form == "socket timeout":
                sock.settimeout(_TIMEOUT_S)
            elif form == "timer per connection":
                timer.start(gevent.getcurrent().throw, TimeoutError, update=True)
            elif form == "watchdog":
                deadline.start(mono() + int(_TIMEOUT_S * 1e9))
            try:
                sock.send(request)
                read_reply(sock, view, buf)
            finally:
                if form == "timer per connection":
                    timer.stop()
                elif form == "watchdog":
                    deadline.stop()
            count[0] += 1
        timer.close()
        sock.close()

    def run(form: str) -> float:
        count[0] = 0
        stop_at = time.monotonic() + slice_s
        greenlets = [gevent.spawn(slot, form, stop_at) for _ in range(10)]
        gevent.sleep(slice_s * 0.2)
        c0, n0 = _cpu_s(), count[0]
        gevent.sleep(slice_s * 0.7)
        c1, n1 = _cpu_s(), count[0]
        gevent.joinall(greenlets, timeout=10)
        return (c1 - c0) / max(n1 - n0, 1) * 1e6

    run("none")  # warm-up
    out: dict[str, list[float]] = {form: [] for form in FORMS}
    for c in range(cycles):
        k = c % len(FORMS)
        for form in FORMS[k:] + FORMS[:k]:
            out[form].append(run(form))
    return out


def table(data: dict[str, list[float]]) -> list[str]:
    """Each form's CPU per request and its cost over the floor (median of per-cycle differences)."""
    floor = data["none"]
    lines = [
        "| deadline form | CPU us per request (median) | over the floor (median per cycle) |",
        "|---|---:|---:|",
    ]
    for form in FORMS:
        runs = data[form]
        extra = statistics.median(a - b for a, b in zip(runs, floor, strict=True))
        over = f"{extra:+.1f}" if form != "none" else ""
        lines.append(f"| {form} | {statistics.median(runs):.1f} | {over} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the forms in a pinned child against the pinned C responder; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--slice-s", type=float, default=1.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.cycles, args.slice_s)))
        return 0
    import generator_cost

    pin = (lambda cpu: ["taskset", "-c", cpu]) if shutil.which("taskset") else (lambda cpu: [])
    load0 = Path("/proc/loadavg").read_text().split()[0]
    with generator_cost.responder(pin("1")) as url:
        if url is None:
            print("needs a C compiler (cc) for the responder")
            return 3
        cmd = [*pin("0"), sys.executable, __file__, "--child", url]
        cmd += ["--cycles", str(args.cycles), "--slice-s", str(args.slice_s)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=True)
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    load1 = Path("/proc/loadavg").read_text().split()[0]
    print(f"{args.cycles} cycles of {args.slice_s} s per form; load average {load0} -> {load1}\n")
    print("\n".join(table(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
