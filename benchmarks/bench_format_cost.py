"""What audit format 3 (the model input in every record) costs: before/after in one run.

Extracts a *before* tree (``--before REF``, a commit writing format 2) with ``git archive`` next to
the current checkout (*after*) and measures both, interleaved round by round so machine noise hits
them alike; the figures are medians over rounds, and the load average is printed so contention is
on the record:

* record size: the service's own decision path (``ScorePipeline``: tokenise, features, ONNX,
  decide) on 2,000 seeded requests, each record encoded by that tree's ``ChainEncoder``;
* audit append throughput: that tree's ``benchmarks/bench_audit.py`` (1 round per call);
* service throughput per core: that tree's ``benchmarks/bench_service.py`` (one worker pinned to
  one core, durable audit, ``wrk -c16`` pinned to the other; needs wrk and taskset).

Each tree runs with ``PYTHONPATH`` pointing at it (ahead of the editable install), same venv.

    .venv/bin/python benchmarks/bench_format_cost.py --before <commit> [--rounds 3] \
        [--only reference_service/audit/record.py reference_service/pipeline.py ...]

``--only`` builds *before* from HEAD with just those paths from ``--before``, so commits merged
since then do not blur the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_SIZE_SNIPPET = r"""
import asyncio, json, random, statistics, sys
from reference_service.audit.record import ChainEncoder
from reference_service.decision import DEFAULT_THRESHOLDS
from reference_service.featurestore import BudgetedFeatures, InProcessStore
from reference_service.model import OnnxScorer
from reference_service.pan import PanTokenizer
from reference_service.pipeline import ScorePipeline

sizes = []
enc = ChainEncoder(bytes(32), "size")
class Sink:
    async def append(self, rec):
        sizes.append(len(enc.encode(rec)))
rng = random.Random(7)
pipe = ScorePipeline(tokenizer=PanTokenizer(bytes(range(32))),
                     features=BudgetedFeatures(InProcessStore(), 0.01), scorer=OnnxScorer.load(),
                     thresholds=DEFAULT_THRESHOLDS, audit=Sink(), on_decision=lambda _: None,
                     on_cpu=lambda _: None)
async def main():
    for i in range(2000):
        body = {"transaction_id": f"tx-{i}q", "amount": round(rng.uniform(1, 900), 2),
                "currency": "EUR", "merchant_id": "m", "merchant_category_code":
                rng.choice(["5411", "5967", "7995"]), "merchant_country": "DE",
                "billing_country": "DE", "ip_country": rng.choice(["DE", "FR"]),
                "card_present": rng.random() < 0.5, "timestamp": "2026-11-29T12:00:00Z",
                "card_token": f"ct_bench{rng.randrange(300)}x"}
        if rng.random() < 0.7:
            body["account_age_days"] = rng.uniform(0, 900)
        await pipe.handle(json.dumps(body).encode(), f"r{i}x", 0.0)
asyncio.run(main())
print(json.dumps({"mean": statistics.fmean(sizes), "median": statistics.median(sizes)}))
"""


def _run(tree: Path, argv: list[str], timeout_s: float) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    return done.stdout


def record_size(tree: Path) -> dict[str, float]:
    out: dict[str, float] = json.loads(_run(tree, ["-c", _SIZE_SNIPPET], 300).splitlines()[-1])
    return out


def append_rates(tree: Path, records: int) -> dict[str, float]:
    """records/s per "config@concurrency" from one bench_audit round."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        argv = ["benchmarks/bench_audit.py", "--records", str(records), "--repeats", "1"]
        _run(tree, [*argv, "--json", str(out)], 600)
        doc = json.loads(out.read_text())
    return {f"{r['config']}@{r['concurrency']}": r["records_per_s"] for r in doc["results"]}


_ROW = re.compile(r"\| 1 worker, 1 core, durable audit, wrk -c16 \| ([0-9,]+) \|")


def service_rate(tree: Path, duration_s: int) -> float:
    argv = ["benchmarks/bench_service.py", "--skip-inprocess", "--connections", "16"]
    out = _run(tree, [*argv, "--duration", str(duration_s)], duration_s + 120)
    m = _ROW.search(out)
    if m is None:
        raise SystemExit(f"bench_service printed no -c16 row:\n{out}")
    return float(m.group(1).replace(",", ""))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="git ref of a tree writing format 2")
    ap.add_argument(
        "--only",
        nargs="*",
        default=None,
        metavar="PATH",
        help="take only these paths from --before, the rest from the working tree (isolates the "
        "format change from other commits)",
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    ap.add_argument("--records", type=int, default=4000, help="appends per bench_audit run")
    ap.add_argument("--skip-service", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-format-") as tmp:
        before = Path(tmp) / "before"
        before.mkdir()
        base = "HEAD" if args.only else args.before
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", base], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        if args.only:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.before, *args.only],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        trees = {"before": before, "after": ROOT}
        print(f"load average at start: {_load()}")
        sizes = {name: record_size(tree) for name, tree in trees.items()}
        appends: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        service: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                appends[name].append(append_rates(tree, args.records))
                if not args.skip_service:
                    service[name].append(service_rate(tree, args.duration))
        print(f"load average at end: {_load()}")
    print(f"\nbefore = {args.before}, after = working tree; medians of {args.rounds} rounds\n")
    print("| measure | before (format 2) | after (format 3) | after / before |")
    print("|---|---:|---:|---:|")
    b, a = sizes["before"]["mean"], sizes["after"]["mean"]
    print(f"| audit record, mean bytes (service path) | {b:,.0f} | {a:,.0f} | {a / b:.2f} |")
    for key in appends["after"][0]:
        if not key.startswith("durable@"):
            continue
        rb = statistics.median(r[key] for r in appends["before"])
        ra = statistics.median(r[key] for r in appends["after"])
        print(f"| durable append, {key.split('@')[1]} appenders, records/s | {rb:,.0f} "
              f"| {ra:,.0f} | {ra / rb:.2f} |")  # fmt: skip
    if not args.skip_service:
        sb, sa = statistics.median(service["before"]), statistics.median(service["after"])
        print(f"| service, 1 worker on 1 core, durable audit, wrk -c16, req/s | {sb:,.0f} "
              f"| {sa:,.0f} | {sa / sb:.2f} |")  # fmt: skip
        print(f"\nservice rounds before: {service['before']}, after: {service['after']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
