"""The plain form of the synthetic transaction stream, kept as the oracle of ``harness.payload``.

This is the generator as first written: a card profile object per card, ``random.Random``'s own
``choice``, ``uniform``, ``lognormvariate`` and ``randrange``, the transaction as a dict,
serialised by orjson. ``PayloadGenerator.next_score_body`` draws the same numbers through the
same ``random()``/``getrandbits`` calls and formats the JSON text itself; a property test holds
the two equal byte for byte (``test_payload_bytes.py``).
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from harness.payload import (  # the tables; the digests pin them
    _CNP_MCCS,
    _FOREIGN,
    _HOMES,
    _MCCS,
    _RISKY_IP,
    _RISKY_MCCS,
    synthetic_pan,
)

_MASK64 = (1 << 64) - 1
_TOTAL = sum(w for _, w in _MCCS)
_MCC_CUM = [sum(w for _, w in _MCCS[: i + 1]) / _TOTAL for i in range(len(_MCCS))]


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class _Card:
    def __init__(self, seed: int, index: int) -> None:
        h = _splitmix64(seed ^ (index * 0xD6E8FEB86659FD93 & _MASK64))
        cum = 0
        for country, currency, weight in _HOMES:
            cum += weight
            if h % 100 < cum:
                self.country, self.currency = country, currency
                break
        self.index = index
        self.median = 15.0 * math.exp(((h >> 8) % 1000) / 1000 * 1.6)
        self.age_days = float(30 + (h >> 20) % 3600)
        self.device = f"dev-{(h >> 32) & 0xFFFFFFFF:08x}"
        self.token = f"syn.{seed % 100_000}.c{index}"


class PlainPayload:
    """The plain generator: same constructor arguments as ``PayloadGenerator``."""

    def __init__(
        self,
        seed: int,
        cards: int,
        pan_share: float,
        *,
        fraud_share: float = 0.02,
        cross_border_share: float = 0.1,
        stream: int = 0,
        clock: Callable[[], float],
    ) -> None:
        self.seed, self.cards, self.pan_share = seed, cards, pan_share
        self.fraud_share, self.cross_border = fraud_share, cross_border_share
        self.rng = random.Random(f"{seed}/{stream}")
        self.clock = clock
        self.prefix = f"syn{seed % 1_000_000:x}s{stream:x}n"
        self.counter = 0
        self.pans: set[str] = set()

    def next_score_body(self) -> bytes:
        """The next body, as a dict serialised by orjson."""
        return orjson.dumps(self.next_transaction())

    def next_transaction(self) -> dict[str, object]:
        """The next transaction, drawn with ``random.Random``'s own methods."""
        rng = self.rng
        card = _Card(self.seed, int(rng.random() ** 2 * self.cards))
        self.counter += 1
        if rng.random() < self.fraud_share:
            if rng.random() < 0.3:
                amount, mcc = rng.uniform(0.5, 2.0), rng.choice(("5816", "5967", "5999"))
            else:
                amount, mcc = rng.lognormvariate(math.log(400.0), 0.8), rng.choice(_RISKY_MCCS)
            merchant_country = rng.choice(_FOREIGN)
            ip = rng.choice(_RISKY_IP)
            present = known = False
        else:
            cross = rng.random() < self.cross_border
            merchant_country = rng.choice(_FOREIGN) if cross else card.country
            if merchant_country == card.country and cross:
                merchant_country = "MX" if card.country != "MX" else "US"
            mcc = _MCCS[min(bisect.bisect_right(_MCC_CUM, rng.random()), len(_MCCS) - 1)][0]
            ip = card.country if rng.random() < 0.96 else rng.choice(_FOREIGN)
            amount = rng.lognormvariate(math.log(card.median), 1.0)
            present = (not cross) and mcc not in _CNP_MCCS and rng.random() < 0.6
            known = True
        if card.currency == "JPY":
            value = float(max(1, round(amount * 150)))
        else:
            value = max(0.5, min(round(amount, 2), 50_000.0))
        tx: dict[str, object] = {
            "transaction_id": f"{self.prefix}{self.counter:x}",
            "amount": value,
            "currency": card.currency,
            "merchant_id": f"m{mcc}-{rng.randrange(500)}",
            "merchant_category_code": mcc,
            "merchant_country": merchant_country,
            "billing_country": card.country,
            "ip_country": ip,
            "card_present": present,
            "account_age_days": card.age_days,
            "device_id": card.device if known else f"dev-{rng.getrandbits(32):08x}",
            "device_known": known,
            "timestamp": datetime.fromtimestamp(int(self.clock() * 1000) / 1000, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        if rng.random() < self.pan_share:
            tx["pan"] = synthetic_pan(self.seed, card.index)
            self.pans.add(str(tx["pan"]))
        else:
            tx["card_token"] = card.token
        return tx
