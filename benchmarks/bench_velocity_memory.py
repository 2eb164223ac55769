"""Memory of the reference service's in-process velocity store over a simulated day (issue 11).

The service's RSS grew about 13 MB a minute in a 1,000 req/s soak: the old store kept every event
as two tuples for 24 hours. This benchmark drives :class:`reference_service.memstore.InProcessStore`
the way the service does (``velocity`` then ``record`` per decision, the service's call order) on a
fake clock: ``--rate`` decisions per second spread uniformly over ``--cards`` cards for
``--hours`` simulated hours, and prints every simulated hour the store's accounted bytes, the
bytes per card, the cards evicted by the bound, and the CPU per decision (velocity + record).

Cards are independent in the store, so only a ``--sample`` fraction of them is simulated (their
share of the rate, a bound scaled by the same fraction) and totals are scaled back up: a
simulated day at 1,000 req/s over 20,000 cards takes a minute instead of an hour. ``--sample 1``
simulates everything. ``--traced`` also reports tracemalloc's count of the bytes really allocated
(slower), to check the accounting.

Run: ``python benchmarks/bench_velocity_memory.py`` (the published figure: 1,000 req/s, 20,000
cards like ``scenarios/service-1000rps.yaml``, 24 h, the default 256 MiB bound).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import tracemalloc

from reference_service.memstore import DEFAULT_MAX_BYTES, InProcessStore

T0 = 1_764_460_800.0  # a whole minute: 2025-11-30T00:00:00Z


async def _simulate(args: argparse.Namespace) -> dict[str, float]:
    n_cards = max(1, round(args.cards * args.sample))
    rate = args.rate * n_cards / args.cards  # the sampled cards' share of the decisions
    bound = max(int(args.max_mb * (1 << 20) * n_cards / args.cards), 1 << 20)
    store = InProcessStore(max_bytes=bound)
    rng = random.Random(args.seed)
    tokens = [f"tok_{rng.getrandbits(256):064x}"[:43] for _ in range(n_cards)]
    scale = args.cards / n_cards
    step_s = 1.0 / rate
    per_hour = round(3600.0 * rate)
    base = tracemalloc.get_traced_memory()[0] if args.traced else 0
    now = T0
    cpu_s = 0.0
    row: dict[str, float] = {}
    for hour in range(1, args.hours + 1):
        c0 = time.process_time()
        for _ in range(per_hour):
            token = tokens[rng.randrange(n_cards)]
            await store.velocity(token, now)
            await store.record(token, now, 42.5)
            now += step_s
        cpu_s += time.process_time() - c0
        st = store.stats()
        row = {
            "hour": hour,
            "events": hour * per_hour * scale,
            "cards": st.cards * scale,
            "bytes_per_card": st.bytes / max(st.cards, 1),
            "total_mb": st.bytes * scale / 1e6,
            "evicted_cards": st.evicted * scale,
            "cpu_us_per_decision": cpu_s / (hour * per_hour) * 1e6,
        }
        if args.traced:
            traced = tracemalloc.get_traced_memory()[0] - base
            row["traced_total_mb"] = traced * scale / 1e6
        print(json.dumps({k: round(v, 2) for k, v in row.items()}), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=1000.0, help="decisions per second")
    ap.add_argument("--cards", type=int, default=20_000, help="distinct cards")
    ap.add_argument("--hours", type=int, default=24, help="simulated hours")
    ap.add_argument("--sample", type=float, default=0.05, help="fraction of cards simulated")
    ap.add_argument("--max-mb", type=float, default=DEFAULT_MAX_BYTES / (1 << 20))
    ap.add_argument("--traced", action="store_true", help="also count bytes with tracemalloc")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    if not 0.0 < args.sample <= 1.0:
        ap.error("--sample: expected a fraction in (0, 1]")
    if args.traced:
        tracemalloc.start()
    last = asyncio.run(_simulate(args))
    summary = {
        "rate": args.rate,
        "cards": args.cards,
        "hours": args.hours,
        "bound_mb": args.max_mb * (1 << 20) / 1e6,
        "final_total_mb": round(last["total_mb"], 1),
        "bytes_per_card": round(last["bytes_per_card"]),
        "evicted_cards": round(last["evicted_cards"]),
        "cpu_us_per_decision": round(last["cpu_us_per_decision"], 2),
    }
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
