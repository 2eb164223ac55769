"""What explaining the tail costs the generator per request, in CPU time (microseconds).

``python benchmarks/bench_tail.py [--n 200000] [--json PATH]``. Prints Markdown rows.

The end-to-end figure is ``benchmarks/bench_generator.py``'s overhead table (the same user with
the tail explanation on and off, alternating, on one saturated core). This benchmark splits the
cost into its pieces with ``time.process_time`` over many calls, so it holds on a busy machine
too (CPU time, not wall time), and adds the keep rate actually seen over a run:

- *traceparent*: the trace id and header line built and spliced into the request bytes (before
  the intended send time: it delays nothing that is measured, but it is generator CPU);
- *want, dropped*: the sampler's decision for a request it does not keep (most requests);
- *keep*: a kept request: the ``TracedRequest`` built, the response head's Server-Timing found
  (its raw value stored), the request stored (reservoirs, heap); parsing happens once at the end
  for the few hundred requests still kept per phase and endpoint (shown, not on the hot path);
- *per request*: traceparent + want + keep x the keep rate of a 60 s run of lognormal latencies
  at 2,000 requests/s (the running p90 keeps about 10%, the uniform sample adds a few).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from harness.files import atomic_write_bytes
from harness.load.head import with_header
from harness.measure import (
    TailSampler,
    TracedRequest,
    parse_server_timing,
    run_trace_prefix,
    server_timing_of_head,
    traceparent,
)

REQUEST = b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: slo-harness\r\n" + (
    b"Content-Type: application/json\r\nContent-Length: 380\r\n\r\n" + b"x" * 380
)
HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 231\r\n"
    b"x-request-id: 1a2b3c4dr1f\r\nserver-timing: queue;dur=0.021, decode;dur=0.254, "
    b"tokenise;dur=0.012, features;dur=0.087, model;dur=0.403, audit;dur=0.274, "
    b"encode;dur=0.121, total;dur=1.172"
)


def _per_call_us(fn: object, n: int) -> float:
    assert callable(fn)
    start = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - start) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    n = args.n
    prefix = run_trace_prefix(time.time_ns(), 7)

    def build(i: int) -> None:
        _, line = traceparent(prefix, i)
        with_header(REQUEST, line)

    rng = random.Random(1)
    latencies = [round(rng.lognormvariate(0.5, 0.4) * 1e6) for _ in range(120_000)]
    warm = TailSampler()
    for ns in latencies:  # a filled sampler: its thresholds are set, its reservoirs full
        mask = warm.want("steady", "score", ns)
        if mask:
            warm.add(mask, TracedRequest("steady", "score", "ok", "a" * 32, 0, 0, ns / 1e6, 1), ns)
    kept = sum(1 for ns in latencies if warm.want("steady", "score", ns))
    rate = kept / len(latencies)

    low = min(latencies)

    def drop(i: int) -> None:
        warm.want("steady", "score", low)

    def keep(i: int) -> None:
        r = TracedRequest("steady", "score", "ok", f"{i:032x}", 0.0, 0.0, 9.0, 8.0)
        warm.add(1 | 4, r, 9_000_000 + i, server_timing_of_head(HEAD))

    value = server_timing_of_head(HEAD) or ""

    def parse(i: int) -> None:
        parse_server_timing(value)

    costs = {
        "traceparent_us": _per_call_us(build, n),
        "want_dropped_us": _per_call_us(drop, n),
        "keep_us": _per_call_us(keep, n // 10),
        "parse_at_end_us": _per_call_us(parse, n // 10),
        "keep_rate": rate,
    }
    costs["per_request_us"] = (
        costs["traceparent_us"] + costs["want_dropped_us"] + rate * costs["keep_us"]
    )
    print("| piece | CPU per call |")
    print("|---|---|")
    print(f"| traceparent built and spliced | {costs['traceparent_us']:.2f} us |")
    print(f"| sampler decision, request dropped | {costs['want_dropped_us']:.2f} us |")
    print(f"| request kept (raw Server-Timing found, stored) | {costs['keep_us']:.2f} us |")
    parse_us = costs["parse_at_end_us"]
    print(f"| Server-Timing parsed (at the end, kept requests only) | {parse_us:.2f} us |")
    print(f"| keep rate over a 60 s run at 2,000/s | {rate:.1%} |")
    print(f"| **per request, on average** | **{costs['per_request_us']:.2f} us** |")
    if args.json:
        atomic_write_bytes(args.json, json.dumps(costs, indent=2).encode(), mode=0o644)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
