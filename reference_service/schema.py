"""The public request/response contract of ``POST /v1/score`` as typed msgspec Structs.

One definition serves three purposes: decoding (msgspec validates types and constraints in one pass
at about 2.5 us per request, and its errors name the field path), the OpenAPI document (generated
from these Structs by :mod:`reference_service.openapi`, so the document cannot drift from what the
decoder accepts) and the response encoding.

Checks a JSON Schema keyword can express live in the Struct annotations; the few it cannot (PAN
Luhn check, exactly one of ``pan``/``card_token``, no card number inside a free-text field) are in
:func:`decode_score_request` and are mirrored into the OpenAPI document by hand (``oneOf``) or
described there. Code lists (currency/country) are annotated as ``enum`` in the schema and checked
against the frozen sets here, because msgspec would echo the rejected value in its enum error.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from reference_service.codes import COUNTRIES, CURRENCIES
from reference_service.pan import contains_pan

__all__ = [
    "MALFORMED_ERRORS",
    "MAX_BODY_BYTES",
    "Decision",
    "ErrorBody",
    "RequestError",
    "ScoreRequest",
    "ScoreResponse",
    "decode_score_request",
    "malformed_body",
    "validation_error",
]

#: Requests larger than this are refused with 413 before the body is read in full.
MAX_BODY_BYTES: Final = 64 * 1024

Currency = Annotated[
    str,
    Meta(
        pattern="^[A-Z]{3}$",
        description="ISO 4217 alphabetic code",
        extra_json_schema={"enum": sorted(CURRENCIES)},
    ),
]
Country = Annotated[
    str,
    Meta(
        pattern="^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 code",
        extra_json_schema={"enum": sorted(COUNTRIES)},
    ),
]
_NO_PAN: Final = (
    "Must not contain a card number: after Unicode NFKC, a Luhn-valid run of 12-19 digits "
    "starting like an issued card number, also split by any characters that are not letters or "
    "digits (or by a letter O) or glued to letters, is refused with 422."
)
Identifier = Annotated[str, Meta(min_length=1, max_length=128, description=_NO_PAN)]
Pan = Annotated[
    str,
    Meta(
        pattern="^[0-9]{12,19}$",
        description="Primary account number, 12-19 digits, must pass the Luhn check. "
        "Tokenised on arrival; never stored, logged or echoed.",
    ),
]
# A token must not look like a card number (nor be digits only: the audit format forbids an
# all-digit card_token, and such a token reached the audit writer as a 500 until the fuzz suite
# found it): a PAN sent in the wrong field would otherwise be
# stored verbatim in the audit trail. The pattern refuses 12+ consecutive digits; separated or
# glued forms ("4111-1111-...", "tok4111...") are caught by the Luhn run check in
# decode_score_request, which a JSON Schema pattern cannot express.
CardToken = Annotated[
    str,
    Meta(
        pattern="^(?!.*[0-9]{12})(?![0-9]+$)[A-Za-z0-9_.:-]{8,128}$",
        description="Card token (e.g. the card_token of an earlier response) instead of a PAN. "
        + _NO_PAN,
    ),
]


class Decision(StrEnum):
    """Outcome of a scored transaction."""

    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"


class ScoreRequest(Struct, frozen=True, kw_only=True):
    """A card transaction to score. Unknown fields are ignored. Exactly one of pan/card_token."""

    transaction_id: Identifier
    amount: Annotated[float, Meta(gt=0, le=1e12, description="Amount in major units")]
    currency: Currency
    merchant_id: Identifier
    merchant_category_code: Annotated[str, Meta(pattern="^[0-9]{4}$", description="ISO 18245 MCC")]
    merchant_country: Country
    billing_country: Country
    ip_country: Country
    card_present: bool
    timestamp: Annotated[datetime, Meta(tz=True, description="RFC 3339 with offset")]
    pan: Pan | UnsetType = UNSET
    card_token: CardToken | UnsetType = UNSET
    account_age_days: Annotated[float, Meta(ge=0, le=365_000)] | None = None
    device_id: Annotated[str, Meta(max_length=128, description=_NO_PAN)] | None = None
    device_known: bool | None = None


class ScoreResponse(Struct, frozen=True, kw_only=True):
    """The decision for one transaction."""

    transaction_id: str
    request_id: str
    score: Annotated[float, Meta(ge=0, le=1)]
    decision: Decision
    reason_codes: list[str]
    model_version: str
    degraded: bool
    latency_ms: float
    thresholds_version: str
    card_token: str


class ErrorBody(Struct, frozen=True, omit_defaults=True):
    """Every 4xx/5xx answer: a message and, for input errors, the JSON path of the field."""

    error: str
    field: str | None = None


class RequestError(Exception):
    """An input problem to answer with ``status`` and :class:`ErrorBody` (never a 500)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


_score_decoder: Final = msgspec.json.Decoder(ScoreRequest)
#: Free-text fields that are echoed in the response or written to the audit trail (or may be in a
#: later version): none may carry a card number. Unknown fields are dropped by the decoder.
_FREE_TEXT: Final = ("transaction_id", "merchant_id", "device_id", "card_token")
_PATH_RE: Final = re.compile(r" - at `(\$[^`]*)`$")
_MISSING_RE: Final = re.compile(r"missing required field `([^`]+)`")


def _validation_error(exc: msgspec.ValidationError, status: int = 422) -> RequestError:
    """422 (or ``status``) from a msgspec validation error, with the JSON path split out.

    msgspec messages carry types, constraints and field names, never the rejected value.
    """
    text = str(exc)
    m = _PATH_RE.search(text)
    path = m.group(1) if m else "$"
    message = text[: m.start()] if m else text
    missing = _MISSING_RE.search(message)
    if missing:
        path = f"{path}.{missing.group(1)}"
    return RequestError(status, message, path)


def validation_error(exc: msgspec.ValidationError, status: int, prefix: str = "") -> RequestError:
    """``status`` from a msgspec validation error, the JSON path in ``field``."""
    err = _validation_error(exc, status)
    return RequestError(status, prefix + err.message, err.field)


#: Malformed bodies msgspec reports with exceptions other than DecodeError: invalid UTF-8 inside a
#: string (UnicodeDecodeError) and nesting deeper than the interpreter's recursion limit
#: (RecursionError, at about 1,000 levels). Both are the client's mistake: 400, never 500.
MALFORMED_ERRORS: Final = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def malformed_body(exc: Exception) -> RequestError:
    """The 400 for a body that is not well-formed UTF-8 JSON of sane depth (no content echoed)."""
    if isinstance(exc, UnicodeDecodeError):
        return RequestError(400, f"malformed JSON: invalid UTF-8 at byte {exc.start}", "$")
    if isinstance(exc, RecursionError):
        return RequestError(400, "malformed JSON: nested too deeply", "$")
    return RequestError(400, f"malformed JSON: {exc}", "$")


def _refuse_embedded_pans(req: ScoreRequest) -> None:
    """422 naming the first free-text field that holds what may be a card number (never echoed)."""
    for name in _FREE_TEXT:
        value = getattr(req, name)
        if isinstance(value, str) and contains_pan(value):
            raise RequestError(
                422,
                f"{name} contains what may be a card number (a Luhn-valid run of 12-19 digits); "
                "send a card number only in pan",
                f"$.{name}",
            )


def decode_score_request(body: bytes) -> ScoreRequest:
    """Decode and validate a score request; raises :class:`RequestError` (4xx) on bad input."""
    try:
        req = _score_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc) from None
    except MALFORMED_ERRORS as exc:
        raise malformed_body(exc) from None
    if req.currency not in CURRENCIES:
        raise RequestError(422, "unknown ISO 4217 currency code", "$.currency")
    for name in ("merchant_country", "billing_country", "ip_country"):
        if getattr(req, name) not in COUNTRIES:
            raise RequestError(422, "unknown ISO 3166-1 alpha-2 country code", f"$.{name}")
    _refuse_embedded_pans(req)
    has_pan = req.pan is not UNSET
    has_token = req.card_token is not UNSET
    if has_pan == has_token:
        raise RequestError(422, "send exactly one of pan or card_token", "$.pan")
    return req
