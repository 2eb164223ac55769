"""``python -m harness.chaos.proxy``: the fault proxy as its own process.

Why a process of its own: the proxy must answer in microseconds while the load generator (gevent)
or a game-day runner keeps its own loop busy; in its own process, on uvloop, nothing else delays
a proxied chunk. uvloop is used when it is installed (it is a dependency of ``slo-harness`` where
it has wheels, and the proxy's figures in ``benchmarks/bench_proxy.py`` are measured on it);
without it the proxy runs on the standard asyncio loop, with the same behaviour and more
per-chunk overhead. The launcher (:mod:`~harness.chaos.proxy.launcher`) starts it; by hand::

    python -m harness.chaos.proxy --control 127.0.0.1:8474 \\
        --proxy name=scorer,listen=127.0.0.1:0,upstream=127.0.0.1:8080,protocol=http --seed 7

Once every listener is up it prints one JSON line on stdout (``{"control": URL, "pid": ...,
"proxies": {name: "host:port"}}``): the readiness signal, with the ports chosen for port 0.

It ends on SIGTERM, SIGINT or SIGHUP (listeners and connections closed), and by itself within
:data:`PARENT_POLL_S` when ``--parent-pid`` is given and that process is gone (a SIGKILLed
harness cannot stop it otherwise). Exit codes: 0 stopped, 2 bad arguments or a refused bind
(one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Final

import msgspec

from harness.chaos.proxy.control import serve_control, stop_control
from harness.chaos.proxy.model import ProxyConfig, parse_proxy, split_hostport
from harness.chaos.proxy.runtime import ProxyRegistry
from harness.errors import ProxyError

__all__ = ["PARENT_POLL_S", "loop_factory", "main"]

PARENT_POLL_S: Final = 0.2
_READY_WAIT_S: Final = 10.0


def _proxy_arg(text: str) -> ProxyConfig:
    fields: dict[str, object] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise ProxyError(f"--proxy {text!r}: expected key=value pairs (name, listen, upstream)")
        fields[key.strip()] = value.strip()
    return parse_proxy(fields, "--proxy")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.chaos.proxy")
    parser.add_argument("--control", default="127.0.0.1:0", help="control API host:port (loopback)")
    parser.add_argument(
        "--proxy", action="append", default=[], help="name=..,listen=..,upstream=.."
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when it is gone")
    parser.add_argument("--instance-id", default="", help="tag for the ledger's undo")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace, proxies: list[ProxyConfig]) -> None:
    host, port = split_hostport(args.control, "--control")
    registry = ProxyRegistry(args.seed)
    server, sock = serve_control(registry, host, port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        for config in proxies:
            await registry.create(config)
        task = loop.create_task(server.serve(sockets=[sock]))
        for _ in range(int(_READY_WAIT_S / 0.01)):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise ProxyError(f"control API did not start on {host}:{port}")
        watch = loop.create_task(_watch_parent(args.parent_pid, stop))
        bound = sock.getsockname()
        ready = {
            "control": f"http://{bound[0]}:{bound[1]}",
            "pid": os.getpid(),
            "proxies": {n: f"{p.listen[0]}:{p.listen[1]}" for n, p in registry.proxies.items()},
        }
        sys.stdout.write(msgspec.json.encode(ready).decode() + "\n")
        sys.stdout.flush()
        await stop.wait()
        watch.cancel()
        await stop_control(server, task)
    finally:
        await registry.close()
        sock.close()


async def _watch_parent(parent_pid: int | None, stop: asyncio.Event) -> None:
    if parent_pid is None:
        return
    while os.getppid() == parent_pid:
        await asyncio.sleep(PARENT_POLL_S)
    stop.set()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when uvloop is importable, else None (asyncio's default loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> None:
    """Entry point; see the module docstring for exit codes."""
    args = _parse(argv)
    try:
        proxies = [_proxy_arg(text) for text in args.proxy]
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(_serve(args, proxies))
    except ProxyError as exc:
        sys.stderr.write(f"proxy: {exc}\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        pass
    with contextlib.suppress(OSError):
        sys.stdout.flush()
