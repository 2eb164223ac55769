"""Wait (bounded) until fsync on a directory's disk is quick again, before a measured demo run.

Why: the demo's reference service keeps a durable audit trail (every answer waits for its
record's fsync). Right after `make install` writes about a gigabyte, the disk keeps flushing
for a while even after `sync` returns (the VM's virtual disk has its own write-back), and one
such stall in the judged phase once made the demo shed 66 of 13,500 requests (availability
99.51% against >= 99.9%): a failed demo about the install, not about the service. This probes
fsync latency of a small file in DIR and returns as soon as PROBES consecutive fsyncs each took
under LIMIT_MS, or after TIMEOUT_S at most (then it says so and the run goes ahead anyway: the
report will show and explain any stall; nothing is hidden).

Usage: settle_disk.py DIR [--limit-ms 10] [--probes 20] [--timeout-s 30]
Standard library only (runs before anything else is imported). Exit 0 always unless DIR cannot
be written (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time


def _fsync_ms(path: str) -> float:
    """One 4 KiB write + fsync, in milliseconds."""
    start_s = time.perf_counter()
    with open(path, "wb") as handle:
        handle.write(os.urandom(4096))
        handle.flush()
        os.fsync(handle.fileno())
    return (time.perf_counter() - start_s) * 1000.0


def settle(directory: str, limit_ms: float, probes: int, timeout_s: float) -> tuple[bool, float]:
    """Probe until `probes` consecutive fsyncs are under `limit_ms`; (settled, seconds waited)."""
    deadline_s = time.monotonic() + timeout_s
    start_s = time.monotonic()
    fd, path = tempfile.mkstemp(prefix=".settle-", dir=directory)
    os.close(fd)
    try:
        quick = 0
        while time.monotonic() < deadline_s:
            quick = quick + 1 if _fsync_ms(path) < limit_ms else 0
            if quick >= probes:
                return True, time.monotonic() - start_s
            time.sleep(0.02)
        return False, time.monotonic() - start_s
    finally:
        os.unlink(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--limit-ms", type=float, default=10.0)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--timeout-s", type=float, default=30.0)
    args = parser.parse_args()
    try:
        os.makedirs(args.directory, exist_ok=True)
        settled, waited_s = settle(args.directory, args.limit_ms, args.probes, args.timeout_s)
    except OSError as exc:
        print(f"settle_disk: cannot probe {args.directory}: {exc.strerror}", file=sys.stderr)
        return 2
    if not settled:
        print(
            f"settle_disk: fsync in {args.directory} still slower than {args.limit_ms:g} ms after "
            f"{waited_s:.0f} s; starting anyway (the report names any audit stall)",
            file=sys.stderr,
        )
    elif waited_s > 1.0:
        print(f"settle_disk: waited {waited_s:.1f} s for the disk's write-back to settle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
