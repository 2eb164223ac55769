"""One C-level check of a format-3 decision record's members, in front of the verifier's table.

``verify._FIELDS_V3`` is the reference: a predicate and an "expected ..." text per member, in
document order, so a bad record is reported at its first bad member. Calling 21 Python predicates
per line is a fifth of a replay's time; :func:`v3_members_valid` asks msgspec to convert the parsed
object into :class:`_V3` (types, patterns, bounds checked in C) and adds the three predicates a
type cannot say. It implies every predicate of the table (the ``Literal`` and ``int`` types refuse
``True`` and ``3.0`` as the predicates do; patterns are anchored with ``\\A``/``\\Z`` like
``fullmatch``), so True lets the caller skip the table; False (or any doubt) means "run the table",
which then names the member. A test holds the two equal on mutated records.
"""

from __future__ import annotations

import math
from typing import Annotated, Final, Literal

import msgspec

__all__ = ["v3_members_valid"]

_Hex64 = Annotated[str, msgspec.Meta(pattern=r"\A[0-9a-f]{64}\Z")]
_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
_TS: Final = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z\Z"


class _V3(msgspec.Struct):
    """The members of a format-3 decision record and what each must be (docs/AUDIT_FORMAT.md)."""

    v: Literal[3]
    stream: str
    seq: Annotated[int, msgspec.Meta(ge=0)]
    prev: _Hex64
    ts: Annotated[str, msgspec.Meta(pattern=_TS)]
    request_id: str
    transaction_id: str
    card_token: str
    last4: Annotated[str, msgspec.Meta(pattern=r"\A[0-9]{4}\Z")] | None
    model_version: str
    model_sha256: _Hex64
    feature_hash: _Hex64
    score: float
    decision: Literal["approve", "review", "decline"]
    thresholds_version: _NonEmpty
    reason_codes: list[str]
    degraded: bool
    latency_ms: float
    features: str
    feature_schema: _NonEmpty
    missing_features: list[str]


def v3_members_valid(obj: dict[str, object]) -> bool:
    """True when every member of the format-3 table is present and valid in ``obj`` (a parsed
    JSON object), except ``features``, whose check is its decoding (the caller does that)."""
    try:
        msgspec.convert(obj, _V3)
    except msgspec.ValidationError:
        return False
    card, score, latency = obj["card_token"], obj["score"], obj["latency_ms"]
    return (
        isinstance(card, str)
        and not card.isdigit()
        and isinstance(score, int | float)
        and math.isfinite(score)
        and isinstance(latency, int | float)
        and math.isfinite(latency)
        and latency >= 0
    )
