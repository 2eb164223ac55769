"""Diagnostic hook for ``bench_soak_memory.py --tracemalloc`` (on PYTHONPATH of that run only).

In the harness and worker processes of the run (``SLO_SOAK_TRACEMALLOC=DIR`` set), SIGUSR1
starts ``tracemalloc`` (4 frames) the first time and writes a snapshot to
``DIR/tm-<pid>-<n>.snap`` every time after; the benchmark sends it once the load runs, then once
a minute. A signal, not a thread: a thread started before gevent patches ``threading`` breaks the
harness's locks. Tracing only from then on keeps imports fast and shows what the run allocates.
``bench_soak_memory.py --diff DIR`` prints the biggest growths between each process's first and
last snapshot. Not part of the harness: a measuring aid.
"""

from __future__ import annotations

import os


def _traced() -> bool:
    """The harness and its generator workers, not the reference service."""
    with open("/proc/self/cmdline", "rb") as f:
        argv = f.read()
    return b"reference_service" not in argv and (b"slo-harness" in argv or b"worker" in argv)


_DIR = os.environ.get("SLO_SOAK_TRACEMALLOC")
if _DIR and _traced():
    import signal
    import tracemalloc
    from types import FrameType

    _taken = [0]

    def _on_usr1(signum: int, frame: FrameType | None, folder: str = _DIR) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(4)
            return
        _taken[0] += 1
        path = os.path.join(folder, f"tm-{os.getpid()}-{_taken[0]:03d}.snap")
        tracemalloc.take_snapshot().dump(path)

    signal.signal(signal.SIGUSR1, _on_usr1)
