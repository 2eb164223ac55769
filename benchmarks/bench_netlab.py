"""The live enforcement lab on the reference deployment: build time, probe time, connects (root).

Run ``python benchmarks/bench_netlab.py [REPEATS]`` as root. For each deny action (``drop``, what
most CNIs do: a denied connect times out; ``reject``: a reset or ICMP error at once) it builds the
lab for ``deploy/k8s/base`` + ``policies/hardened`` + ``pci/pods.yaml`` (11 endpoints, 100
flows), probes every flow with the CLI defaults (3 tries, 0.5 s timeout, 16 at once), removes the
lab, and prints the medians of build, probe and teardown seconds with the number of connects.
No reference service here (plain listeners): its start-up is the service's figure, not the lab's.
Exit 1 if any run saw a flow other than predicted (the figures would be meaningless).

Namespaces use ``$SLO_HARNESS_NETNS_PREFIX`` (default ``sloh-``) and are removed after each run.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from harness.netpol import (
    DenyAction,
    PolicyLab,
    evaluate,
    load_manifests,
    load_probe_pods,
    probe_flows,
)

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"


def _once(deny: DenyAction) -> tuple[float, float, float, int, int]:
    pods = load_probe_pods(K8S / "pci" / "pods.yaml")
    matrix = evaluate(
        load_manifests(
            [K8S / "base", K8S / "policies" / "hardened"],
            extra_endpoints=pods.endpoints,
            extra_namespaces=pods.namespaces,
        )
    )
    t0 = time.perf_counter()
    lab = PolicyLab.build(matrix, deny=deny)
    try:
        t1 = time.perf_counter()
        run = probe_flows(matrix, lab.prober(), method="bench", tries=3, timeout_s=0.5, parallel=16)
        t2 = time.perf_counter()
    finally:
        lab.close()
    t3 = time.perf_counter()
    connects = sum(r.tries for r in run.results) + (run.control.tries if run.control else 0)
    return t1 - t0, t2 - t1, t3 - t2, connects, run.wrong + run.no_value


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    bad = 0
    print("deny    build_s  probe_s  teardown_s  connects  (medians of", repeats, "runs)")
    for deny in DenyAction:
        rows = [_once(deny) for _ in range(repeats)]
        bad += sum(r[4] for r in rows)
        med = [statistics.median(r[k] for r in rows) for k in range(4)]
        print(f"{deny.value:<7} {med[0]:7.2f}  {med[1]:7.2f}  {med[2]:10.2f}  {int(med[3]):8d}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
