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
:meth:`PayloadGenerator.next_score_body` is one flat function: the draws that ``random.Random``'s
``choice``, ``randrange``, ``uniform`` and ``lognormvariate`` would make are made directly (the
same ``random()`` / ``getrandbits(k)`` calls in the same order: :func:`_below`, :func:`_normal`),
so a seed gives the same stream as those methods; the JSON text is one f-string of constant parts
and drawn values (every value is ASCII that JSON needs no escape for), the per-card parts
formatted once per card. It equals ``orjson.dumps`` of the dict the plain implementation
(``rng.choice`` & co., ``tests/payload_reference.py``) builds, byte for byte, and fixed seeds'
bodies hash to what the earlier implementations sent (``tests/test_payload_bytes.py``).
"""

from __future__ import annotations

import math
import random
import time
from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, datetime
from math import exp, floor, log
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
_FOREIGN_HOMES: Final = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "CA")
_FOREIGN: Final = (*_FOREIGN_HOMES, "MX", "BR", "CN", "TR", "NG", "RU")  # a country abroad
_N_FOREIGN: Final = len(_FOREIGN)
_RISKY_IP: Final = ("NG", "RU", "CN", "BR", "RO", "VN", "ID", "UA")
_N_RISKY_IP: Final = len(_RISKY_IP)
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
#: Cumulative shares, the last exactly 1.0: ``bisect_right`` of a ``random()`` < 1 is an index.
_MCC_CUM: Final = (
    *(sum(w for _, w in _MCCS[: i + 1]) / sum(w for _, w in _MCCS) for i in range(len(_MCCS) - 1)),
    1.0,
)
_RISKY_MCCS: Final = ("5967", "7995", "4829", "6051", "5816", "7801")
_MERCHANTS_PER_MCC: Final = 500
_DECIMALS: Final = tuple(str(i) for i in range(_MERCHANTS_PER_MCC))  # a merchant id's number
_MILLIS: Final = tuple(f".{ms:03d}Z" for ms in range(1000))  # a timestamp's milliseconds
_CNP_MCCS: Final = ("5816", "5967", "4829")  # digital goods, direct marketing, transfers
_TESTING_MCCS: Final = ("5816", "5967", "5999")  # card testing: digital goods, misc. retail
_LOG_400: Final = math.log(400.0)
#: Below this, ``repr`` of a float is orjson's JSON number (both print the shortest round-trip
#: digits; from 1e16 on Python writes ``1e+16``, orjson ``1e16``); amounts stay far below.
_REPR_IS_JSON_BELOW: Final = 1e15
_MASK64: Final = (1 << 64) - 1
#: ``random.NV_MAGICCONST``, computed as the random module computes it.
_NV_MAGICCONST: Final = 4 * exp(-0.5) / math.sqrt(2.0)


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
    """A card's fixed profile, with the parts of a score body that depend only on the card
    formatted once: the currency, the billing country, the account age and device of a known
    device (with the keys around them), the token's closing field and, on first use, the PAN's.
    """

    __slots__ = (
        "billing_json",
        "country",
        "currency_json",
        "index",
        "known_json",
        "log_median",
        "pan_json",
        "token_json",
        "unknown_json",
        "yen",
    )

    def __init__(self, seed: int, index: int) -> None:
        h = _splitmix64(seed ^ (index * 0xD6E8FEB86659FD93 & _MASK64))
        country, currency, _ = _HOMES[bisect_right(_HOME_CUM, h % 100)]
        self.index, self.country, self.yen = index, country, currency == "JPY"
        median = 15.0 * exp(((h >> 8) % 1000) / 1000 * 1.6)  # 15..74 USD-ish
        self.log_median = log(median)  # the amount's log-normal centre
        age = f"{30 + (h >> 20) % 3600}.0"  # a whole number of days as a JSON float
        device = f"dev-{(h >> 32) & 0xFFFFFFFF:08x}"
        token = f"syn.{seed % 100_000}.c{index}"  # never 12+ consecutive digits
        self.currency_json = f',"currency":"{currency}","merchant_id":"m'
        self.billing_json = f'","billing_country":"{country}","ip_country":"'
        self.known_json = f',"account_age_days":{age},"device_id":"{device}","device_known":true'
        self.unknown_json = f',"account_age_days":{age},"device_id":"dev-'
        self.token_json = f'"card_token":"{token}"}}'
        self.pan_json = ""  # made on first use


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
        self._random, self._bits = self._rng.random, self._rng.getrandbits  # bound once
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
        """The JSON body of the next ``POST /v1/score`` request (see the module docstring).

        Draw order (the stream): card, fraud or not, then the pattern's merchant country, MCC,
        IP country, amount and card-present flag, the merchant id, an unknown device's id, PAN
        or token.
        """
        random, bits = self._random, self._bits
        # u**2 skews towards low indices: card i is picked with density ~ 1/sqrt(i), so a few
        # cards transact often (velocity features see repeats) and most rarely.
        index = floor(random() ** 2 * self.cards)
        card = self._card_cache.get(index) or self._card(index)
        self._counter = counter = self._counter + 1
        home = card.country
        if random() < self._fraud_share:
            amount, mcc, country, ip = _fraud(random, bits)
            present = None
        else:
            cross = random() < self._cross_border
            country = home
            if cross:
                country = _FOREIGN[_below(bits, _N_FOREIGN)]
                if country == home:
                    country = "MX" if home != "MX" else "US"
            mcc = _MCC_LIST[bisect_right(_MCC_CUM, random())]
            ip = home if random() < 0.96 else _FOREIGN[_below(bits, _N_FOREIGN)]
            amount = exp(card.log_median + _normal(random))  # lognormvariate(median, 1.0)
            present = (not cross) and mcc not in _CNP_MCCS and random() < 0.6
        merchant = bits(9)  # randrange(500): getrandbits(9) until below 500
        while merchant >= _MERCHANTS_PER_MCC:
            merchant = bits(9)
        if present is None:  # fraud: not present, an unknown device
            device = f'{card.unknown_json}{bits(32):08x}","device_known":false'
            flag = "false"
        else:
            device, flag = card.known_json, "true" if present else "false"
        ms = floor(self._clock() * 1000)
        if ms != self._last_ms:  # a new millisecond (every request below 1,000 per second)
            second, milli = divmod(ms, 1000)
            if second != self._last_s:  # formatting a datetime costs ~2 us: once a second
                self._last_s, self._second = second, _rfc3339(second)[:-5]
            self._last_ms, self._last_stamp = ms, self._second + _MILLIS[milli]
        stamp = self._last_stamp
        if random() < self._pan_share:
            self._pan_indices.add(index)
            last = card.pan_json or self._pan_json(card)
        else:
            last = card.token_json
        return (
            f'{{"transaction_id":"{self._prefix}{hex(counter)[2:]}","amount":'
            f"{_yen_json(amount) if card.yen else _amount_json(amount)}{card.currency_json}"
            f'{mcc}-{_DECIMALS[merchant]}","merchant_category_code":"{mcc}",'
            f'"merchant_country":"{country}'
            f'{card.billing_json}{ip}","card_present":{flag}{device},"timestamp":"{stamp}",{last}'
        ).encode()

    def next_transaction(self) -> dict[str, object]:
        """The next transaction as a dict: the next score body, parsed."""
        tx: dict[str, object] = orjson.loads(self.next_score_body())
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
    def _card(self, index: int) -> _Card:
        card = _Card(self.seed, index)
        if len(self._card_cache) < 100_000:
            self._card_cache[index] = card
        return card

    def _pan_json(self, card: _Card) -> str:
        card.pan_json = f'"pan":"{synthetic_pan(self.seed, card.index)}"}}'
        return card.pan_json

    def _feature_row(self, tx: dict[str, object]) -> list[float]:
        rng = self._rng
        amount = cast(float, tx["amount"])
        usd = amount * (0.0067 if tx["currency"] == "JPY" else 1.1)
        mcc = str(tx["merchant_category_code"])
        risk = 3.0 if mcc in _RISKY_MCCS else (0.0 if mcc in ("5411", "5912", "4111") else 1.0)
        hour = float(int(self._clock() // 3600) % 24)
        bits = self._bits  # randrange(a, b) is a + _below(b - a): the same draws, no frames
        count_1h = float(_below(bits, 4))
        count_24h = count_1h + _below(bits, 8)
        return [
            round(math.log1p(usd), 4),
            risk,
            1.0 if tx["card_present"] else 0.0,
            1.0 if tx["merchant_country"] != tx["billing_country"] else 0.0,
            1.0 if tx["ip_country"] != tx["billing_country"] else 0.0,
            1.0 if tx["ip_country"] != tx["merchant_country"] else 0.0,
            hour,
            float((int(hour) - 8 + _below(bits, 17)) % 24),
            cast(float, tx["account_age_days"]),
            1.0 if tx["device_known"] else 0.0,
            count_1h,
            count_24h,
            round(math.log1p(count_1h * usd), 4),
            round(math.log1p(count_24h * usd), 4),
            round(rng.gauss(0.0, 0.5), 4),
        ]


def _fraud(random: Callable[[], float], bits: Callable[[int], int]) -> tuple[float, str, str, str]:
    """(amount, MCC, merchant country, IP country) of a fraud-like transaction: card testing
    (tiny amounts, digital goods) or a cash-out (large amount, risky merchant), abroad."""
    if random() < 0.3:
        amount = 0.5 + 1.5 * random()  # uniform(0.5, 2.0): a + (b - a) * random()
        mcc = _TESTING_MCCS[_below(bits, len(_TESTING_MCCS))]
    else:
        amount = exp(_LOG_400 + _normal(random) * 0.8)  # lognormvariate(log 400, 0.8)
        mcc = _RISKY_MCCS[_below(bits, len(_RISKY_MCCS))]
    return amount, mcc, _FOREIGN[_below(bits, _N_FOREIGN)], _RISKY_IP[_below(bits, _N_RISKY_IP)]


def _below(bits: Callable[[int], int], n: int) -> int:
    """``random.Random._randbelow(n)`` (what ``choice(seq)`` with ``len(seq) == n`` and
    ``randrange(n)`` draw): ``getrandbits(n.bit_length())`` until below ``n``."""
    k = n.bit_length()
    r = bits(k)
    while r >= n:
        r = bits(k)
    return r


def _normal(random: Callable[[], float]) -> float:
    """A standard normal deviate drawn as ``random.Random.normalvariate`` draws it (Kinderman and
    Monahan's ratio of uniforms, the same ``random()`` calls): ``normalvariate(mu, s)`` is
    ``mu + _normal() * s``, and ``z * 1.0 == z`` exactly."""
    while True:
        u1 = random()
        u2 = 1.0 - random()
        z = _NV_MAGICCONST * (u1 - 0.5) / u2
        if z * z / 4.0 <= -log(u2):
            return z


def _amount_json(amount: float) -> str:
    """The JSON number of ``max(0.5, min(round(amount, 2), 50_000.0))`` (what orjson writes).

    Between the bounds, ``f"{amount:.2f}"`` has the digits ``round`` computes (both are dtoa's
    correctly rounded two decimals) and the shortest repr of the rounded float is those digits
    with one trailing zero dropped ("12.50" -> 12.5, "12.00" -> 12.0): a float tells apart every
    decimal of 15 digits, so no shorter string names it. One format instead of ``round`` (dtoa,
    snprintf, strtod) plus ``repr`` (dtoa).
    """
    if 0.5 <= amount <= 49_999.99:  # round() is monotonic: no clamp applies
        text = f"{amount:.2f}"
        return text[:-1] if text[-1] == "0" else text
    return repr(max(0.5, min(round(amount, 2), 50_000.0)))


def _yen_json(amount: float) -> str:
    """The JSON number of a yen amount: whole yen, at least 1 (the USD-ish amount * 150)."""
    return _json_float(float(max(1, round(amount * 150))))


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
