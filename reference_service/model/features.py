"""Feature vector of the fraud model: the one contract between training, the service and the model.

``FEATURE_NAMES`` fixes the column order of the ONNX input tensor (``input``, FP32 ``[N, F]``).
Training, the HTTP service and the KServe V2 ``infer`` route all build vectors through
:func:`encode`, so a transaction is encoded identically wherever it is scored.

:func:`encode` sits on the request path, so it is plain Python over a handful of dict lookups and
``math`` calls (a few microseconds), with no pandas and no per-field numpy item assignment. Its
input structs are frozen msgspec Structs rather than frozen dataclasses: a frozen dataclass pays
one ``object.__setattr__`` call per field on construction (several microseconds per request).

Missing information is ``NaN`` in the vector, never a made-up default: velocity is ``NaN`` when the
feature store was unavailable (degraded scoring), account age and device flag when the request did
not carry them. The exported model imputes ``NaN`` inside the ONNX graph, so the service never
imputes by itself.

Units: money is converted to USD with the fixed table :data:`USD_PER_UNIT` (major units, e.g. yen
for JPY, dollars for USD) and log-compressed with ``log1p``; velocity amounts are already USD (the
feature store keeps them in USD) and count *prior* transactions of the card, excluding this one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import IntEnum
from types import MappingProxyType

import msgspec
import numpy as np
import numpy.typing as npt

__all__ = [
    "COUNTRY_UTC_OFFSET_HOURS",
    "FEATURE_DOCS",
    "FEATURE_NAMES",
    "FEATURE_SCHEMA",
    "MCC_RISK",
    "N_FEATURES",
    "SUPPORTED_CURRENCIES",
    "USD_PER_UNIT",
    "FeatureVector",
    "MccRisk",
    "RawFeatures",
    "Velocity",
    "encode",
    "encode_batch",
    "mcc_risk",
]

FeatureVector = npt.NDArray[np.float32]

#: Feature name -> meaning, in ONNX input column order (the model card prints this table).
FEATURE_DOCS: Mapping[str, str] = MappingProxyType(
    {
        "amount_usd_log": "log1p(amount converted to USD)",
        "mcc_risk": "risk group of the merchant category code, 0 low .. 3 high",
        "card_present": "1 if the card was present, else 0",
        "cross_border": "1 if merchant_country != billing_country",
        "ip_billing_mismatch": "1 if ip_country != billing_country",
        "ip_merchant_mismatch": "1 if ip_country != merchant_country",
        "hour_utc": "hour of day in UTC, 0..23",
        "hour_local": "hour of day in the billing country; NaN if the country is unknown",
        "account_age_days": "days since the account opened; NaN if not sent",
        "device_known": "1 if the device was seen before, 0 if not; NaN if not sent",
        "vel_count_1h": "prior transactions of the card in the last hour; NaN when degraded",
        "vel_count_24h": "prior transactions of the card in the last 24 h; NaN when degraded",
        "vel_amount_1h_usd_log": "log1p(USD spent in the last hour); NaN when degraded",
        "vel_amount_24h_usd_log": "log1p(USD spent in the last 24 h); NaN when degraded",
        "amount_vs_24h_mean_log": (
            "log1p(amount USD) - log1p(mean prior ticket over 24 h); NaN when degraded"
        ),
    }
)
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_DOCS)
N_FEATURES: int = len(FEATURE_NAMES)
#: Version of this column list, recorded with every audited vector (docs/AUDIT_FORMAT.md): a
#: replay reads the vector with the names of the schema it was written with. Any change to the
#: names, their order or their encoding gets a new version.
FEATURE_SCHEMA: str = "fraud-features-1"

_NAN = math.nan
# Counts beyond this are clipped so a wild integer cannot overflow float32 (or float()).
_COUNT_CAP = 1_000_000_000
# Account ages beyond a millennium carry no signal; the cap keeps float32 finite.
_AGE_CAP_DAYS = 365_000.0


class MccRisk(IntEnum):
    """Risk group of a merchant category code, as the model sees it (ordinal)."""

    LOW = 0
    STANDARD = 1
    ELEVATED = 2
    HIGH = 3


_MCC_GROUPS: dict[MccRisk, tuple[str, ...]] = {
    MccRisk.LOW: ("5411", "5912", "4111", "4900", "5814", "8062", "8211", "5499"),
    MccRisk.ELEVATED: ("5732", "5944", "4722", "5999", "5311", "5691", "5945", "3000", "7011"),
    # Card-testing and cash-out favourites: direct marketing, gambling, money transfer,
    # quasi-cash / crypto, digital goods, betting, prepaid top-ups.
    MccRisk.HIGH: ("5967", "7995", "4829", "6051", "5816", "7801", "7802", "6540"),
}
#: MCC -> risk group; MCCs not listed are :attr:`MccRisk.STANDARD`.
MCC_RISK: Mapping[str, MccRisk] = MappingProxyType(
    {mcc: group for group, mccs in _MCC_GROUPS.items() for mcc in mccs}
)

#: Fixed conversion table, USD per major unit of each currency (a snapshot; the model only needs
#: a stable scale, not today's rate). Currencies outside it encode their amount as NaN.
USD_PER_UNIT: Mapping[str, float] = MappingProxyType(
    {
        "USD": 1.0,
        "EUR": 1.08,
        "GBP": 1.27,
        "JPY": 0.0067,
        "CAD": 0.73,
        "AUD": 0.66,
        "CHF": 1.13,
        "SEK": 0.095,
        "NOK": 0.093,
        "DKK": 0.145,
        "PLN": 0.25,
        "CZK": 0.043,
        "HUF": 0.0027,
        "NZD": 0.60,
        "SGD": 0.74,
        "HKD": 0.128,
        "CNY": 0.138,
        "INR": 0.012,
        "KRW": 0.00073,
        "MXN": 0.058,
        "BRL": 0.20,
        "ZAR": 0.054,
        "AED": 0.272,
        "ILS": 0.27,
        "TRY": 0.031,
    }
)
SUPPORTED_CURRENCIES: frozenset[str] = frozenset(USD_PER_UNIT)

#: Standard-time UTC offset (hours) per ISO 3166 alpha-2 country, for the local-hour feature.
#: Countries spanning zones use their most populous zone; unknown countries give NaN.
COUNTRY_UTC_OFFSET_HOURS: Mapping[str, int] = MappingProxyType(
    {
        "US": -5,
        "CA": -5,
        "MX": -6,
        "BR": -3,
        "AR": -3,
        "GB": 0,
        "IE": 0,
        "PT": 0,
        "FR": 1,
        "DE": 1,
        "ES": 1,
        "IT": 1,
        "NL": 1,
        "BE": 1,
        "AT": 1,
        "CH": 1,
        "SE": 1,
        "NO": 1,
        "DK": 1,
        "PL": 1,
        "CZ": 1,
        "HU": 1,
        "FI": 2,
        "GR": 2,
        "RO": 2,
        "ZA": 2,
        "IL": 2,
        "UA": 2,
        "TR": 3,
        "RU": 3,
        "NG": 1,
        "AE": 4,
        "IN": 5,
        "CN": 8,
        "HK": 8,
        "SG": 8,
        "PH": 8,
        "KR": 9,
        "JP": 9,
        "AU": 10,
        "NZ": 12,
        "VN": 7,
        "ID": 7,
    }
)


class Velocity(msgspec.Struct, frozen=True):
    """Prior activity of one card from the feature store (excludes the transaction being scored).

    Amounts are USD; counts are non-negative integers.
    """

    count_1h: int
    count_24h: int
    amount_1h: float
    amount_24h: float


class RawFeatures(msgspec.Struct, frozen=True):
    """What the model needs to know about one transaction, before encoding.

    Countries are ISO 3166 alpha-2, currency ISO 4217, ``merchant_category_code`` four digits,
    ``amount`` > 0 in major units of ``currency``, ``hour_utc`` 0..23.
    ``velocity=None`` means the feature store did not answer in time (degraded scoring).
    """

    amount: float
    currency: str
    merchant_category_code: str
    card_present: bool
    merchant_country: str
    billing_country: str
    ip_country: str
    hour_utc: int
    account_age_days: float | None = None
    device_known: bool | None = None
    velocity: Velocity | None = None


def mcc_risk(mcc: str) -> MccRisk:
    """Risk group of a merchant category code (unknown codes are STANDARD)."""
    return MCC_RISK.get(mcc, MccRisk.STANDARD)


def _log_money(x: float) -> float:
    """log1p of a non-negative finite amount; NaN for negative, infinite or NaN input."""
    if 0.0 <= x < math.inf:
        return math.log1p(x)
    return _NAN


def _amount_usd_log(amount: float, rate: float) -> float:
    usd = amount * rate
    if usd == math.inf and 0.0 < amount < math.inf:  # finite amount overflowing on conversion
        return math.log(amount) + math.log(rate)
    return _log_money(usd)


def _count(c: int) -> float:
    return float(min(c, _COUNT_CAP)) if c >= 0 else _NAN


def _values(raw: RawFeatures) -> tuple[float, ...]:
    """The feature values of ``raw`` in FEATURE_NAMES order, as Python floats."""
    rate = USD_PER_UNIT.get(raw.currency)
    amount_log = _amount_usd_log(raw.amount, rate) if rate is not None else _NAN
    hour = raw.hour_utc
    hour_f = float(hour) if 0 <= hour < 24 else _NAN
    offset = COUNTRY_UTC_OFFSET_HOURS.get(raw.billing_country)
    hour_local = float((hour + offset) % 24) if offset is not None and hour_f == hour_f else _NAN
    age = raw.account_age_days
    age_f = min(float(age), _AGE_CAP_DAYS) if age is not None and 0.0 <= age < math.inf else _NAN
    device = raw.device_known
    billing = raw.billing_country
    ip = raw.ip_country
    v = raw.velocity
    if v is None:
        c1 = c24 = a1 = a24 = ratio = _NAN
    else:
        c1 = _count(v.count_1h)
        c24 = _count(v.count_24h)
        a1 = _log_money(v.amount_1h)
        a24 = _log_money(v.amount_24h)
        # Mean prior ticket over 24 h; no history means "this amount vs nothing": log1p(amount).
        mean24 = v.amount_24h / c24 if c24 > 0.0 else 0.0
        ratio = amount_log - _log_money(mean24)
    return (
        amount_log,
        float(MCC_RISK.get(raw.merchant_category_code, MccRisk.STANDARD)),
        1.0 if raw.card_present else 0.0,
        1.0 if raw.merchant_country != billing else 0.0,
        1.0 if ip != billing else 0.0,
        1.0 if ip != raw.merchant_country else 0.0,
        hour_f,
        hour_local,
        age_f,
        _NAN if device is None else (1.0 if device else 0.0),
        c1,
        c24,
        a1,
        a24,
        ratio,
    )


def encode(raw: RawFeatures, out: FeatureVector | None = None) -> FeatureVector:
    """Encode one transaction as a float32 vector of shape ``(N_FEATURES,)``; missing -> NaN.

    With ``out`` (a float32 array of ``N_FEATURES`` elements, e.g. a row of a preallocated batch)
    the values are written there and ``out`` is returned, avoiding an allocation.
    Never raises for a well-typed ``RawFeatures``; every element is finite or NaN (out-of-range
    values such as a negative age or an hour outside 0..23 are treated as missing).
    """
    values = _values(raw)
    if out is None:
        return np.array(values, dtype=np.float32)
    out[:] = values
    return out


def encode_batch(rows: Sequence[RawFeatures]) -> npt.NDArray[np.float32]:
    """Encode many transactions into a float32 matrix of shape ``(len(rows), N_FEATURES)``."""
    if not rows:
        return np.empty((0, N_FEATURES), dtype=np.float32)
    return np.array([_values(r) for r in rows], dtype=np.float32)
