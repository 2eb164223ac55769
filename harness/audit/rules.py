"""Feature schemas and decision rules of audit format 3, re-implemented from docs/AUDIT_FORMAT.md.

A replay re-derives a decision from the record alone: the vector (columns named by the record's
``feature_schema``), the score, and the thresholds version the record names. The rules here are
the auditor's copy of the document's "Replaying a decision" section, written without importing
``reference_service`` (an auditor that shares the service's code shares its bugs); a test checks
that the built-in ``default-1`` thresholds equal the service's.

Comparisons run on the float32 values as recorded (widened exactly to Python floats), so a NaN
(missing) value compares false and adds no reason code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Final

import msgspec
from msgspec import Meta, Struct

from harness.errors import SpecError, UsageError
from harness.spec import read_yaml

__all__ = [
    "DEFAULT_THRESHOLDS",
    "FEATURE_SCHEMAS",
    "REASON_TEXT",
    "Thresholds",
    "decide",
    "explain_reason",
    "load_thresholds",
    "reason_codes",
    "schema_columns",
]

#: feature_schema -> (name, meaning) per column, in the model's input order.
FEATURE_SCHEMAS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "fraud-features-1": (
            ("amount_usd_log", "log1p(amount converted to USD)"),
            ("mcc_risk", "risk group of the merchant category code, 0 low .. 3 high"),
            ("card_present", "1 if the card was present, else 0"),
            ("cross_border", "1 if merchant country != billing country"),
            ("ip_billing_mismatch", "1 if IP country != billing country"),
            ("ip_merchant_mismatch", "1 if IP country != merchant country"),
            ("hour_utc", "hour of day in UTC, 0..23"),
            ("hour_local", "hour of day in the billing country; NaN if unknown"),
            ("account_age_days", "days since the account opened; NaN if not sent"),
            ("device_known", "1 if the device was seen before, 0 if not; NaN if not sent"),
            ("vel_count_1h", "prior transactions of the card in the last hour"),
            ("vel_count_24h", "prior transactions of the card in the last 24 h"),
            ("vel_amount_1h_usd_log", "log1p(USD spent by the card in the last hour)"),
            ("vel_amount_24h_usd_log", "log1p(USD spent by the card in the last 24 h)"),
            ("amount_vs_24h_mean_log", "log1p(amount USD) - log1p(mean prior ticket over 24 h)"),
        )
    }
)

#: Columns filled from the feature store: all NaN in a degraded decision.
VELOCITY_COLUMNS: Final = (
    "vel_count_1h",
    "vel_count_24h",
    "vel_amount_1h_usd_log",
    "vel_amount_24h_usd_log",
    "amount_vs_24h_mean_log",
)

Probability = Annotated[float, Meta(ge=0.0, le=1.0)]


class Thresholds(Struct, frozen=True, forbid_unknown_fields=True):
    """A thresholds file (the service's ``--thresholds`` format): cut-offs and flag levels."""

    version: Annotated[str, Meta(min_length=1, max_length=64)]
    review: Probability = 0.5
    decline: Probability = 0.85
    velocity_1h: Annotated[int, Meta(ge=1)] = 5
    velocity_24h: Annotated[int, Meta(ge=1)] = 20
    new_account_days: Annotated[float, Meta(ge=0)] = 30.0


#: The service's built-in rule set (used when it ran without ``--thresholds``).
DEFAULT_THRESHOLDS: Final = Thresholds(version="default-1")

REASON_TEXT: Mapping[str, str] = MappingProxyType(
    {
        "FEATURES_UNAVAILABLE": (
            "The feature store did not answer within its time budget: the card's velocity "
            "features were missing and the model scored without them (degraded decision)."
        ),
        "SCORE_ABOVE_DECLINE": "The fraud score reached the decline threshold ({decline}).",
        "SCORE_ABOVE_REVIEW": (
            "The fraud score reached the review threshold ({review}) but not decline ({decline})."
        ),
        "HIGH_VELOCITY_1H": (
            "The card had at least {velocity_1h} prior transactions in the last hour."
        ),
        "HIGH_VELOCITY_24H": (
            "The card had at least {velocity_24h} prior transactions in the last 24 hours."
        ),
        "IP_COUNTRY_MISMATCH": "The IP address's country differs from the billing country.",
        "CROSS_BORDER": "The merchant's country differs from the billing country.",
        "CARD_NOT_PRESENT": "The card was not present (remote or online purchase).",
        "HIGH_RISK_MCC": (
            "The merchant category is in the high-risk group (gambling, money transfer, "
            "quasi-cash, digital goods, direct marketing)."
        ),
        "NEW_ACCOUNT": "The account is younger than {new_account_days:g} days.",
        "UNKNOWN_DEVICE": "The device was not seen before for this account.",
    }
)


def explain_reason(code: str, th: Thresholds) -> str:
    """A reason code in words, with the thresholds that produced it."""
    text = REASON_TEXT.get(code)
    if text is None:
        return "Unknown reason code (not defined by this audit format)."
    return text.format(**msgspec.structs.asdict(th))


def schema_columns(schema: str) -> tuple[str, ...]:
    """The column names of a feature schema; UsageError for a schema this harness does not know."""
    names = _COLUMN_NAMES.get(schema)
    if names is not None:
        return names  # replay asks once per record
    columns = FEATURE_SCHEMAS.get(schema)
    if columns is None:
        known = ", ".join(sorted(FEATURE_SCHEMAS))
        raise UsageError(f"feature schema {schema!r} is unknown to this harness (knows: {known})")
    names = _COLUMN_NAMES[schema] = tuple(name for name, _ in columns)
    return names


_COLUMN_NAMES: dict[str, tuple[str, ...]] = {}


def load_thresholds(path: Path) -> Thresholds:
    """Parse a thresholds file (JSON or YAML); SpecError names file, field path and expectation."""
    data = read_yaml(path)  # bounded: size, depth, aliases, repeated keys
    try:
        th = msgspec.convert(data, Thresholds)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        where = msg.rsplit(" - at `", 1)[-1].rstrip("`") if " - at `" in msg else "$"
        raise SpecError(str(path), where, msg.split(" - at `")[0]) from None
    if th.review > th.decline:
        raise SpecError(str(path), "$.review", "a value <= $.decline")
    return th


def decide(score: float, th: Thresholds) -> str:
    """score >= decline -> decline, >= review -> review, else approve (NaN declines)."""
    if score >= th.decline or math.isnan(score):
        return "decline"
    if score >= th.review:
        return "review"
    return "approve"


def reason_codes(
    values: Sequence[float], columns: Sequence[str], decision: str, th: Thresholds
) -> list[str]:
    """The reason codes of a decision from its recorded vector (docs/AUDIT_FORMAT.md table)."""
    v = dict(zip(columns, values, strict=True))
    degraded = math.isnan(v["vel_count_1h"])
    out: list[str] = []
    if degraded:
        out.append("FEATURES_UNAVAILABLE")
    if decision == "decline":
        out.append("SCORE_ABOVE_DECLINE")
    elif decision == "review":
        out.append("SCORE_ABOVE_REVIEW")
    if not degraded:
        if v["vel_count_1h"] >= th.velocity_1h:
            out.append("HIGH_VELOCITY_1H")
        if v["vel_count_24h"] >= th.velocity_24h:
            out.append("HIGH_VELOCITY_24H")
    flags = (
        ("IP_COUNTRY_MISMATCH", v["ip_billing_mismatch"] == 1.0),
        ("CROSS_BORDER", v["cross_border"] == 1.0),
        ("CARD_NOT_PRESENT", v["card_present"] == 0.0),
        ("HIGH_RISK_MCC", v["mcc_risk"] == 3.0),
        ("NEW_ACCOUNT", v["account_age_days"] < th.new_account_days),
        ("UNKNOWN_DEVICE", v["device_known"] == 0.0),
    )
    out.extend(code for code, present in flags if present)
    return out
