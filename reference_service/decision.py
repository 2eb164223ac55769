"""From a fraud probability to a decision and reason codes, under versioned thresholds.

Thresholds are configuration, not code: risk teams move them without a deploy, and every response
and audit record carries ``thresholds_version`` so a decision can be reconstructed with the cut-offs
that produced it. The file is JSON or YAML, parsed once at start-up into a frozen Struct; a bad file
stops start-up with the file, the field path and what was expected. Before PyYAML sees the text, a
cheap pre-check refuses what no thresholds file needs (more than :data:`MAX_THRESHOLDS_BYTES`, more
than :data:`MAX_OPENERS` brackets, indentation past :data:`MAX_INDENT` columns, aliases): deep
nesting otherwise costs PyYAML's scanner seconds (quadratic in the depth) before it fails.

Reason codes explain a decision to a reviewer: the score band plus the risk signals present in the
transaction, in a fixed order, whatever the decision (so they can be compared across decisions).
``FEATURES_UNAVAILABLE`` marks degraded scoring (velocity unknown). They are computed from the
encoded model input (the float32 vector the model scored, as the audit trail records it), not from
the request, so ``slo-harness audit replay`` re-derives them from the trail alone
(docs/AUDIT_FORMAT.md, "Replaying a decision", states the rule per code).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final

import msgspec
import yaml
from msgspec import Meta, Struct

from reference_service.model.features import FEATURE_NAMES, MccRisk
from reference_service.schema import Decision

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Reason",
    "ThresholdError",
    "Thresholds",
    "decide",
    "load_thresholds",
    "reason_codes",
]

Probability = Annotated[float, Meta(ge=0.0, le=1.0)]

#: Bounds of the text pre-check: a thresholds file is a handful of flat keys.
MAX_THRESHOLDS_BYTES: Final = 64 * 1024
MAX_OPENERS: Final = 256
MAX_INDENT: Final = 128
_ALIAS: Final = re.compile(r"(?:^|[\s\[{,])\*[^\s\]},]")


class Thresholds(Struct, frozen=True, forbid_unknown_fields=True):
    """Decision cut-offs: score >= decline -> decline, >= review -> review, else approve."""

    version: Annotated[str, Meta(min_length=1, max_length=64)]
    review: Probability = 0.5
    decline: Probability = 0.85
    #: Prior transactions of a card within 1 h / 24 h from which velocity is flagged.
    velocity_1h: Annotated[int, Meta(ge=1)] = 5
    velocity_24h: Annotated[int, Meta(ge=1)] = 20
    #: Accounts younger than this many days are flagged as new.
    new_account_days: Annotated[float, Meta(ge=0)] = 30.0


DEFAULT_THRESHOLDS: Final = Thresholds(version="default-1")


class ThresholdError(ValueError):
    """A thresholds file is unreadable or invalid; the message has file, field path, expected."""


class Reason(StrEnum):
    """Reason codes, listed in the order they appear in a response."""

    FEATURES_UNAVAILABLE = "FEATURES_UNAVAILABLE"
    SCORE_ABOVE_DECLINE = "SCORE_ABOVE_DECLINE"
    SCORE_ABOVE_REVIEW = "SCORE_ABOVE_REVIEW"
    HIGH_VELOCITY_1H = "HIGH_VELOCITY_1H"
    HIGH_VELOCITY_24H = "HIGH_VELOCITY_24H"
    IP_COUNTRY_MISMATCH = "IP_COUNTRY_MISMATCH"
    CROSS_BORDER = "CROSS_BORDER"
    CARD_NOT_PRESENT = "CARD_NOT_PRESENT"
    HIGH_RISK_MCC = "HIGH_RISK_MCC"
    NEW_ACCOUNT = "NEW_ACCOUNT"
    UNKNOWN_DEVICE = "UNKNOWN_DEVICE"


def load_thresholds(path: str | Path) -> Thresholds:
    """Parse a JSON or YAML thresholds file; raises :class:`ThresholdError` on any problem."""
    p = Path(path)
    try:
        raw = p.read_bytes()[: MAX_THRESHOLDS_BYTES + 1]
        text = raw.decode("utf-8")
        _precheck(text, p)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise ThresholdError(f"{p}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ThresholdError(f"{p}: $: expected UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise ThresholdError(f"{p}: not valid YAML/JSON: {exc}") from None
    try:
        th = msgspec.convert(data, Thresholds)
    except msgspec.ValidationError as exc:
        raise ThresholdError(f"{p}: {exc}") from None
    if th.review > th.decline:
        raise ThresholdError(f"{p}: $.review must be <= $.decline")
    return th


def _precheck(text: str, p: Path) -> None:
    """Refuse, in one pass over the text, what would make the YAML parser slow (see module doc)."""
    if len(text) > MAX_THRESHOLDS_BYTES:
        raise ThresholdError(f"{p}: $: expected a file of at most {MAX_THRESHOLDS_BYTES} bytes")
    if text.count("[") + text.count("{") > MAX_OPENERS:
        raise ThresholdError(f"{p}: $: expected at most {MAX_OPENERS} brackets (flat keys)")
    deepest = max((len(ln) - len(ln.lstrip(" -")) for ln in text.splitlines()), default=0)
    if deepest > MAX_INDENT:
        raise ThresholdError(f"{p}: $: expected indentation under {MAX_INDENT} columns")
    if _ALIAS.search(text):
        raise ThresholdError(f"{p}: $: expected no YAML aliases")


def decide(score: float, th: Thresholds) -> Decision:
    """Map a fraud probability to a decision (NaN declines: an unscorable input is not approved)."""
    if score >= th.decline or score != score:
        return Decision.DECLINE
    if score >= th.review:
        return Decision.REVIEW
    return Decision.APPROVE


_COL: Final = {name: i for i, name in enumerate(FEATURE_NAMES)}
_VEL_1H: Final = _COL["vel_count_1h"]
_VEL_24H: Final = _COL["vel_count_24h"]
_IP_MISMATCH: Final = _COL["ip_billing_mismatch"]
_CROSS_BORDER: Final = _COL["cross_border"]
_CARD_PRESENT: Final = _COL["card_present"]
_MCC_RISK: Final = _COL["mcc_risk"]
_AGE: Final = _COL["account_age_days"]
_DEVICE: Final = _COL["device_known"]
_HIGH_MCC: Final = float(MccRisk.HIGH)


# The codes' string values, read once: an enum member's ``.value`` is a descriptor call (about
# 0.5 us each on the service's VM), and a decision lists several codes.
_R_UNAVAILABLE: Final = Reason.FEATURES_UNAVAILABLE.value
_R_DECLINE: Final = Reason.SCORE_ABOVE_DECLINE.value
_R_REVIEW: Final = Reason.SCORE_ABOVE_REVIEW.value
_R_VEL_1H: Final = Reason.HIGH_VELOCITY_1H.value
_R_VEL_24H: Final = Reason.HIGH_VELOCITY_24H.value
_R_IP: Final = Reason.IP_COUNTRY_MISMATCH.value
_R_CROSS: Final = Reason.CROSS_BORDER.value
_R_CNP: Final = Reason.CARD_NOT_PRESENT.value
_R_MCC: Final = Reason.HIGH_RISK_MCC.value
_R_NEW: Final = Reason.NEW_ACCOUNT.value
_R_DEVICE: Final = Reason.UNKNOWN_DEVICE.value
_DECLINE: Final = Decision.DECLINE
_REVIEW: Final = Decision.REVIEW


def reason_codes(values: Sequence[float], decision: Decision, th: Thresholds) -> list[str]:
    """Reason codes for a decision, in :class:`Reason` order.

    ``values`` is the encoded vector as scored (``x.tolist()`` of the float32 row: exact), in
    ``FEATURE_NAMES`` order; NaN means missing, so a NaN comparison is false and adds no code.
    """
    out: list[str] = []
    c1h = values[_VEL_1H]
    degraded = c1h != c1h  # NaN
    if degraded:
        out.append(_R_UNAVAILABLE)
    if decision is _DECLINE:
        out.append(_R_DECLINE)
    elif decision is _REVIEW:
        out.append(_R_REVIEW)
    if not degraded:
        if c1h >= th.velocity_1h:
            out.append(_R_VEL_1H)
        if values[_VEL_24H] >= th.velocity_24h:
            out.append(_R_VEL_24H)
    if values[_IP_MISMATCH] == 1.0:
        out.append(_R_IP)
    if values[_CROSS_BORDER] == 1.0:
        out.append(_R_CROSS)
    if values[_CARD_PRESENT] == 0.0:
        out.append(_R_CNP)
    if values[_MCC_RISK] == _HIGH_MCC:
        out.append(_R_MCC)
    if values[_AGE] < th.new_account_days:
        out.append(_R_NEW)
    if values[_DEVICE] == 0.0:
        out.append(_R_DEVICE)
    return out
