"""Seeded synthetic card transactions in the reference service's public request contract.

Why synthetic and seeded: a run must be reproducible (same seed, same requests) and must never
carry real card data (PCI DSS 6.5.5). Card numbers are generated at runtime from a fixed synthetic
BIN range, ``9999xx`` (major industry identifier 9, "for assignment by national standards
bodies": no card issuer uses it), padded with a 9-digit account number and a Luhn check digit, so
they pass the service's PAN validation and are still recognisably fake. They are never written to
any output by the harness; :meth:`PayloadGenerator.pans_in_use` lists the ones sent so tests can
scan every written file for them.

Distributions (rough, but with the shape fraud models care about):
- cards: a fixed profile per card (home country, currency, spend scale, account age, device),
  derived from a SplitMix64 hash of (seed, card index) so 10 million cards cost no memory;
  card popularity is skewed (some cards transact far more often, as in real traffic);
- amounts: log-normal around a per-card median (tens of USD), JPY in whole yen;
- merchants: common MCCs weighted by frequency; mostly domestic, ``cross_border_share`` abroad;
  the IP country matches the billing country except in a few percent of requests;
- ``fraud_share`` of requests follow a fraud-like pattern: card-not-present, high-risk MCC,
  foreign IP, unknown device, high amount, or card testing with tiny amounts.

Speed: score bodies are generated on the load generator's hot path (one per arrival), so
:meth:`PayloadGenerator.next_score_body` formats the JSON text directly (one f-string of constant
parts and drawn values) instead of building a dict and serialising it; it equals
``orjson.dumps(next_transaction())`` byte for byte (``tests/test_payload_bytes.py``).
"""

from __future__ import annotations

import bisect
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, cast

import orjson

from harness.pan_scan import luhn_check_digit
from harness.spec import PayloadSpec

__all__ = ["SYNTHETIC_BIN_PREFIX", "PayloadGenerator", "synthetic_pan"]

#: Every synthetic PAN starts with this prefix, then two digits, 9 account digits and a check digit.
SYNTHETIC_BIN_PREFIX: Final = "9999"

# Home countries with their currency and weight (share of cards).
_HOMES: Final = (
    ("US", "USD", 45),
    ("GB", "GBP", 15),
    ("DE", "EUR", 10),
    ("FR", "EUR", 8),
    ("ES", "EUR", 5),
    ("IT", "EUR", 5),
    ("NL", "EUR", 4),
    ("CA", "CAD", 4),
    ("AU", "AUD", 2),
    ("JP", "JPY", 2),
)
_HOME_CUM: Final = tuple(sum(h[2] for h in _HOMES[: i + 1]) for i in range(len(_HOMES)))
_FOREIGN: Final = (
    "US",
    "GB",
    "DE",
    "FR",
    "ES",
    "IT",
    "NL",
    "CA",
    "MX",
    "BR",
    "CN",
    "TR",
    "NG",
    "RU",
)
_RISKY_IP: Final = ("NG", "RU", "CN", "BR", "RO", "VN", "ID", "UA")
# (MCC, weight): groceries, restaurants, fuel, fast food, retail, transport, travel, digital...
_MCCS: Final = (
    ("5411", 20),
    ("5812", 12),
    ("5541", 9),
    ("5814", 9),
    ("5999", 7),
    ("5311", 6),
    ("5912", 5),
    ("4121", 4),
    ("5732", 4),
    ("5691", 4),
    ("4111", 4),
    ("7011", 3),
    ("4511", 3),
    ("5816", 3),
    ("4900", 3),
    ("5944", 1),
    ("4829", 1),
    ("7995", 1),
    ("5967", 1),
)
_MCC_LIST: Final = tuple(m for m, _ in _MCCS)
_MCC_CUM: Final = tuple(
    sum(w for _, w in _MCCS[: i + 1]) / sum(w for _, w in _MCCS) for i in range(len(_MCCS))
)
_RISKY_MCCS: Final = ("5967", "7995", "4829", "6051", "5816", "7801")
_MERCHANTS_PER_MCC: Final = 500
_CNP_MCCS: Final = ("5816", "5967", "4829")  # digital goods, direct marketing, transfers
_LOG_400: Final = math.log(400.0)
#: Below this, ``repr`` of a float is orjson's JSON number (both print the shortest round-trip
#: digits; from 1e16 on Python writes ``1e+16``, orjson ``1e16``); amounts stay far below.
_REPR_IS_JSON_BELOW: Final = 1e15
_MASK64: Final = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """A fast, well-mixed 64-bit hash (SplitMix64 finaliser): card profiles without storage."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def synthetic_pan(seed: int, index: int) -> str:
    """The synthetic, Luhn-valid 16-digit PAN of card ``index`` under ``seed``."""
    h = _splitmix64((seed * 0x100000001B3) ^ index)
    bin_suffix = h % 100
    # 9-digit account number: index * odd multiplier mod 10^9 is a bijection on 0..10^9-1, so
    # distinct cards get distinct numbers; the seed shifts the whole range.
    account = (index * 7_919 * 4_999 + seed) % 1_000_000_000
    body = f"{SYNTHETIC_BIN_PREFIX}{bin_suffix:02d}{account:09d}"
    return body + luhn_check_digit(body)


class _Card:
    """A card's fixed profile (with its account age pre-formatted as a JSON number)."""

    __slots__ = (
        "age_days",
        "age_json",
        "country",
        "currency",
        "device",
        "index",
        "log_median",
        "median",
        "pan",
        "token",
    )

    def __init__(self, seed: int, index: int) -> None:
        h = _splitmix64(seed ^ (index * 0xD6E8FEB86659FD93 & _MASK64))
        pick = h % 100
        home = next(i for i, c in enumerate(_HOME_CUM) if pick < c)
        self.index = index
        self.country, self.currency = _HOMES[home][0], _HOMES[home][1]
        self.median = 15.0 * math.exp(((h >> 8) % 1000) / 1000 * 1.6)  # 15..74 USD-ish
        self.log_median = math.log(self.median)  # the amount's log-normal centre, once per card
        self.age_days = float(30 + (h >> 20) % 3600)
        self.age_json = _json_float(self.age_days)
        self.device = f"dev-{(h >> 32) & 0xFFFFFFFF:08x}"
        self.token = f"syn.{seed % 100_000}.c{index}"  # never 12+ consecutive digits
        self.pan: str | None = None  # made on first use


#: (transaction id, amount, card, merchant id, MCC, merchant country, IP country, card present,
#: device id, device known, timestamp, PAN or None) of one transaction.
_Draw = tuple[str, float, _Card, str, str, str, str, bool, str, bool, str, str | None]


class PayloadGenerator:
    """Deterministic stream of request bodies. ``stream`` separates generator processes that share
    a seed (workers): same cards, different transactions and ids."""

    def __init__(
        self,
        seed: int,
        cards: int,
        pan_share: float,
        *,
        fraud_share: float = 0.02,
        cross_border_share: float = 0.1,
        stream: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if cards < 1:
            raise ValueError(f"cards must be >= 1, got {cards}")
        for name, share in (
            ("pan_share", pan_share),
            ("fraud_share", fraud_share),
            ("cross_border_share", cross_border_share),
        ):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {share}")
        self.seed, self.cards = seed, cards
        self._pan_share, self._fraud_share = pan_share, fraud_share
        self._cross_border = cross_border_share
        self._rng = random.Random(f"{seed}/{stream}")
        self._clock = clock
        # Letters between the parts: no id can form a 12+ digit run the service reads as a PAN.
        self._prefix = f"syn{seed % 1_000_000:x}s{stream:x}n"
        self._counter = 0
        self._pan_indices: set[int] = set()
        self._card_cache: dict[int, _Card] = {}
        self._last_ms, self._last_stamp = -1, ""
        self._last_s, self._second = -1, ""

    @classmethod
    def from_spec(
        cls, spec: PayloadSpec, *, stream: int = 0, clock: Callable[[], float] = time.time
    ) -> PayloadGenerator:
        """A generator configured by a scenario's ``payload:`` section."""
        return cls(
            spec.seed,
            spec.cards,
            spec.pan_share,
            fraud_share=spec.fraud_share,
            cross_border_share=spec.cross_border_share,
            stream=stream,
            clock=clock,
        )

    # -- public ------------------------------------------------------------------------------
    def next_score_body(self) -> bytes:
        """The JSON body of the next ``POST /v1/score`` request.

        The same bytes as ``orjson.dumps(self.next_transaction())`` (same draws, same key order;
        a property test holds them equal), formatted as one string: the constant parts are
        literals and only the drawn values are formatted (every value is ASCII that JSON
        needs no escape for), without the dict and the serialiser (the generator's hot path).
        """
        tid, value, card, merchant, mcc, mc, ip, present, device, known, stamp, pan = self._draw()
        last = f'"pan":"{pan}"}}' if pan is not None else f'"card_token":"{card.token}"}}'
        return (
            f'{{"transaction_id":"{tid}","amount":{_json_float(value)},'
            f'"currency":"{card.currency}","merchant_id":"{merchant}",'
            f'"merchant_category_code":"{mcc}","merchant_country":"{mc}",'
            f'"billing_country":"{card.country}","ip_country":"{ip}",'
            f'"card_present":{"true" if present else "false"},'
            f'"account_age_days":{card.age_json},"device_id":"{device}",'
            f'"device_known":{"true" if known else "false"},"timestamp":"{stamp}",{last}'
        ).encode()

    def next_transaction(self) -> dict[str, object]:
        """The next transaction as a dict (the body before serialisation)."""
        tid, value, card, merchant, mcc, mc, ip, present, device, known, stamp, pan = self._draw()
        tx: dict[str, object] = {
            "transaction_id": tid,
            "amount": value,
            "currency": card.currency,
            "merchant_id": merchant,
            "merchant_category_code": mcc,
            "merchant_country": mc,
            "billing_country": card.country,
            "ip_country": ip,
            "card_present": present,
            "account_age_days": card.age_days,
            "device_id": device,
            "device_known": known,
            "timestamp": stamp,
        }
        if pan is not None:
            tx["pan"] = pan
        else:
            tx["card_token"] = card.token
        return tx

    def next_infer_body(self, n_features: int, input_name: str = "input") -> bytes:
        """A V2 ``infer`` body: one FP32 row ``[1, n_features]`` derived from a transaction.

        The first columns follow the reference model's documented feature order (amount in USD,
        MCC risk, card present, cross-border, IP mismatches, hours, account age, device known,
        velocity); columns beyond those are small plausible noise, so any F works. Read F and the
        input name from the target's metadata (``harness.target.read_infer_input``).
        """
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        tx = self.next_transaction()
        row = self._feature_row(tx)
        rng = self._rng
        while len(row) < n_features:
            row.append(round(rng.gauss(0.0, 1.0), 4))
        body = {
            "id": str(tx["transaction_id"]),
            "inputs": [
                {
                    "name": input_name,
                    "shape": [1, n_features],
                    "datatype": "FP32",
                    "data": row[:n_features],
                }
            ],
        }
        return orjson.dumps(body)

    def pans_in_use(self) -> frozenset[str]:
        """Every synthetic PAN this generator has put into a request so far."""
        return frozenset(synthetic_pan(self.seed, i) for i in self._pan_indices)

    def all_pans(self) -> frozenset[str]:
        """Every PAN this generator could send (``cards`` of them; avoid for millions of cards)."""
        return frozenset(synthetic_pan(self.seed, i) for i in range(self.cards))

    # -- internals ---------------------------------------------------------------------------
    def _timestamp(self) -> str:
        # Formatting a datetime costs ~2 us: requests within the same millisecond share the
        # stamp, and within the same second its date-time part (== _rfc3339(ms / 1000)).
        ms = int(self._clock() * 1000)
        if ms != self._last_ms:
            second, milli = divmod(ms, 1000)
            if second != self._last_s:
                self._last_s, self._second = second, _rfc3339(second)[:-5]
            self._last_ms, self._last_stamp = ms, f"{self._second}.{milli:03d}Z"
        return self._last_stamp

    def _pick_card(self) -> int:
        # u**2 skews towards low indices: card i is picked with density ~ 1/sqrt(i), so a few
        # cards transact often (velocity features see repeats) and most rarely.
        return int(self._rng.random() ** 2 * self.cards)

    def _card(self, index: int) -> _Card:
        card = self._card_cache.get(index)
        if card is None:
            card = _Card(self.seed, index)
            if len(self._card_cache) < 100_000:
                self._card_cache[index] = card
        return card

    def _draw(self) -> _Draw:
        """One transaction's values, drawn in a fixed order (both body forms read this, so a
        seed gives the same transactions either way): card, fraud or not, then the pattern's
        merchant, IP and amount, merchant id, device, timestamp, PAN or token."""
        rng = self._rng
        card = self._card(self._pick_card())
        self._counter += 1
        tid = f"{self._prefix}{self._counter:x}"
        if rng.random() < self._fraud_share:
            if rng.random() < 0.3:  # card testing: tiny amounts, digital goods
                amount, mcc = rng.uniform(0.5, 2.0), rng.choice(("5816", "5967", "5999"))
            else:  # cash-out: large amount, risky merchant
                amount, mcc = rng.lognormvariate(_LOG_400, 0.8), rng.choice(_RISKY_MCCS)
            merchant_country = rng.choice(_FOREIGN)
            ip = rng.choice(_RISKY_IP)
            present = known = False
        else:
            cross = rng.random() < self._cross_border
            merchant_country = rng.choice(_FOREIGN) if cross else card.country
            if merchant_country == card.country and cross:
                merchant_country = "MX" if card.country != "MX" else "US"
            mcc = _MCC_LIST[min(bisect.bisect_right(_MCC_CUM, rng.random()), len(_MCC_LIST) - 1)]
            ip = card.country if rng.random() < 0.96 else rng.choice(_FOREIGN)
            amount = rng.lognormvariate(card.log_median, 1.0)
            present = (not cross) and mcc not in _CNP_MCCS and rng.random() < 0.6
            known = True
        if card.currency == "JPY":
            value: float = float(max(1, round(amount * 150)))
        else:
            value = max(0.5, min(round(amount, 2), 50_000.0))
        merchant = f"m{mcc}-{rng.randrange(_MERCHANTS_PER_MCC)}"
        device = card.device if known else f"dev-{rng.getrandbits(32):08x}"
        stamp = self._timestamp()
        pan = None
        if rng.random() < self._pan_share:
            self._pan_indices.add(card.index)
            if card.pan is None:
                card.pan = synthetic_pan(self.seed, card.index)
            pan = card.pan
        country = merchant_country
        return tid, value, card, merchant, mcc, country, ip, present, device, known, stamp, pan

    def _feature_row(self, tx: dict[str, object]) -> list[float]:
        rng = self._rng
        amount = cast(float, tx["amount"])
        usd = amount * (0.0067 if tx["currency"] == "JPY" else 1.1)
        mcc = str(tx["merchant_category_code"])
        risk = 3.0 if mcc in _RISKY_MCCS else (0.0 if mcc in ("5411", "5912", "4111") else 1.0)
        hour = float(int(self._clock() // 3600) % 24)
        count_1h = float(rng.randrange(0, 4))
        count_24h = count_1h + rng.randrange(0, 8)
        return [
            round(math.log1p(usd), 4),
            risk,
            1.0 if tx["card_present"] else 0.0,
            1.0 if tx["merchant_country"] != tx["billing_country"] else 0.0,
            1.0 if tx["ip_country"] != tx["billing_country"] else 0.0,
            1.0 if tx["ip_country"] != tx["merchant_country"] else 0.0,
            hour,
            float((int(hour) + rng.randrange(-8, 9)) % 24),
            cast(float, tx["account_age_days"]),
            1.0 if tx["device_known"] else 0.0,
            count_1h,
            count_24h,
            round(math.log1p(count_1h * usd), 4),
            round(math.log1p(count_24h * usd), 4),
            round(rng.gauss(0.0, 0.5), 4),
        ]


def _json_float(value: float) -> str:
    """``orjson.dumps(value)`` as text, for a finite float (``repr`` where both agree)."""
    if 1e-4 <= abs(value) < _REPR_IS_JSON_BELOW or value == 0.0:
        return repr(value)
    return orjson.dumps(value).decode()


def _rfc3339(epoch_s: float) -> str:
    return (
        datetime.fromtimestamp(epoch_s, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
