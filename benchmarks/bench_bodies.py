"""What building a request costs the generator, per body kind (issue 9).

``python benchmarks/bench_bodies.py`` (``--n`` requests per kind and repeat, ``--repeats``,
``--json PATH``). Prints a Markdown table: CPU microseconds per request (process time, so a
busy shared machine inflates it less than wall time; median of the repeats) to
pick the entry, build the body and serialise the whole request, i.e. what the scheduler does one
arrival ahead of each intended send time (``ScenarioWorkload.next``). It is never inside a
measured latency; it bounds the rate one generator process can offer (at 20 us per request,
building takes 2% of a core at 1,000 requests/s).

Kinds: the built-in ``score`` (fraud_transaction), a ``template`` (the issue's own-api body),
a template reading CSV rows, a ``v2_infer`` body for a two-input model from metadata, the
built-in ``infer`` (fraud features), ``file``, ``none`` and a Python ``factory``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from harness.files import atomic_write_bytes
from harness.load.workload import ScenarioWorkload
from harness.spec import Scenario
from harness.target import V2Model, V2Tensor

URL = "http://127.0.0.1:8080"
TEMPLATE = (
    '{"request_id": "{{ uuid() }}", "amount_cents": {{ randint(1, 500000) }}, '
    '"country": "{{ choice(["DE", "FR", "US"]) }}"}'
)
FACTORY = "def build(rng, index):\n    return 'POST', '/x', {}, {'i': index, 'r': rng.random()}\n"
MODELS = [
    V2Model("/v2/models/pair", "pair", ("1",),
            (V2Tensor("amount", "FP32", (-1, 3)), V2Tensor("count", "INT64", (-1, 1)))),
    V2Model("/v2/models/fraud", "fraud", ("1",), (V2Tensor("input", "FP32", (-1, 15)),)),
]  # fmt: skip


def _kinds(folder: Path) -> dict[str, dict[str, Any]]:
    rows = folder / "rows.csv"
    rows.write_text("card,amount\n" + "".join(f"c{i},{i}\n" for i in range(1000)))
    (folder / "blob.bin").write_bytes(b"x" * 512)
    (folder / "bench_factory.py").write_text(FACTORY)
    return {
        "fraud_transaction (built-in score)": {"mix": [{"endpoint": "score", "weight": 1}]},
        "template (issue example)": {"requests": [{"name": "t", "body": {"template": TEMPLATE}}]},
        "template + CSV row": {"requests": [{"name": "t", "body": {
            "template": '{"card": "{{ row.card }}", "n": {{ seq }}, "id": "{{ uuid() }}"}',
            "data": {"file": str(rows)}}}]},
        "v2_infer, 2 inputs from metadata": {
            "requests": [{"name": "m", "body": {"v2_infer": {"model": "pair"}}}]},
        "v2_infer fraud features (built-in infer)": {"mix": [{"endpoint": "infer", "weight": 1}]},
        "file (512 B)": {"requests": [{"name": "f", "body": {"file": str(folder / "blob.bin")}}]},
        "none (GET)": {"requests": [{"name": "g"}]},
        "factory": {"requests": [{"name": "h", "factory": "bench_factory:build",
                                  "factory_path": str(folder)}]},
    }  # fmt: skip


def measure(config: dict[str, Any], n: int, repeats: int) -> float:
    """Median microseconds per ``next()`` over ``repeats`` runs of ``n`` requests."""
    scenario = msgspec.convert(
        {"name": "b", "phases": [{"name": "s", "kind": "steady", "rate": 1, "duration_s": 1}],
         **config},
        Scenario,
    )  # fmt: skip
    workload = ScenarioWorkload(scenario, URL, models=MODELS)
    for _ in range(1000):
        workload.next()
    runs = []
    for _ in range(repeats):
        start = time.process_time_ns()
        for _ in range(n):
            workload.next()
        runs.append((time.process_time_ns() - start) / n / 1000)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-bodies-") as tmp:
        results = {k: measure(c, args.n, args.repeats) for k, c in _kinds(Path(tmp)).items()}
    print("| Body kind | Build cost per request (us, median) |")
    print("|---|---|")
    for kind, us in results.items():
        print(f"| {kind} | {us:.1f} |")
    if args.json:
        atomic_write_bytes(args.json, json.dumps(results, indent=2).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
