"""An example request factory for scenarios/examples/factory.yaml.

``build(rng, index)`` is called once per request, ahead of its intended send time, with the
entry's seeded ``random.Random`` (a run is reproducible) and the arrival's index in the
schedule (0, 1, 2, ... across all generator processes). Return (method, path, headers, body).
"""

from __future__ import annotations

import random


def build(rng: random.Random, index: int) -> tuple[str, str, dict[str, str], dict[str, object]]:
    """Every tenth request is a refund with a negative amount; the others are purchases."""
    refund = index % 10 == 9
    amount = rng.randint(100, 50_000)
    body = {
        "request_id": f"req-{index}",
        "kind": "refund" if refund else "purchase",
        "amount_cents": -amount if refund else amount,
        "customer": f"cust-{rng.randrange(1_000):04d}",
    }
    return "POST", "/api/risk/v3", {"Idempotency-Key": f"idem-{index}"}, body
