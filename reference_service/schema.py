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


class _Unpatterned(ScoreRequest, frozen=True, kw_only=True):
    """:class:`ScoreRequest` without its ``pattern`` constraints (every other constraint kept).

    msgspec checks a pattern by calling Python's ``re`` per field; the six patterns of a request
    cost more than the rest of its decoding (measured: 15 us vs 6 us for the whole decode with
    the checks below, on the service's VM). :func:`decode_score_request` decodes with this and
    checks the same fields with cheaper tests that imply the patterns (a code from the frozen
    list, ASCII digits, the card-token regex); whenever they do not all pass, the request is
    decoded again with :class:`ScoreRequest` itself, so every accepted value and every error
    message is exactly the strict decoder's.
    """

    currency: str
    merchant_category_code: str
    merchant_country: str
    billing_country: str
    ip_country: str
    pan: str | UnsetType = UNSET
    card_token: str | UnsetType = UNSET


_fast_decoder: Final = msgspec.json.Decoder(_Unpatterned)


def _pattern(field: str) -> re.Pattern[str]:
    """The compiled ``pattern`` constraint of ``ScoreRequest.<field>``."""
    info = msgspec.inspect.type_info(ScoreRequest)
    assert isinstance(info, msgspec.inspect.StructType)
    (f,) = [f for f in info.fields if f.name == field]
    t = f.type
    while not isinstance(t, msgspec.inspect.StrType):  # through ``| UnsetType`` and Meta
        if isinstance(t, msgspec.inspect.Metadata):
            t = t.type
        else:
            assert isinstance(t, msgspec.inspect.UnionType)
            (t,) = [
                x
                for x in t.types
                if isinstance(x, msgspec.inspect.StrType | msgspec.inspect.Metadata)
            ]
    assert t.pattern is not None
    return re.compile(t.pattern)


# Codes that pass both the pattern and the code list; membership implies the pattern holds.
_FAST_CURRENCIES: Final = frozenset(c for c in CURRENCIES if _pattern("currency").search(c))
_FAST_COUNTRIES: Final = frozenset(c for c in COUNTRIES if _pattern("ip_country").search(c))
_CARD_TOKEN_RE: Final = _pattern("card_token")


def _decode_fast(body: bytes) -> ScoreRequest | None:
    """The request when it decodes without patterns and passes the cheaper equivalent checks
    (which also cover the code-list checks); None: decode strictly."""
    try:
        req = _fast_decoder.decode(body)
    except (msgspec.ValidationError, *MALFORMED_ERRORS):
        return None
    mcc = req.merchant_category_code
    if not (
        req.currency in _FAST_CURRENCIES
        and req.merchant_country in _FAST_COUNTRIES
        and req.billing_country in _FAST_COUNTRIES
        and req.ip_country in _FAST_COUNTRIES
        and len(mcc) == 4
        and mcc.isascii()
        and mcc.isdigit()
    ):
        return None
    pan = req.pan
    if pan is not UNSET and not (12 <= len(pan) <= 19 and pan.isascii() and pan.isdigit()):
        return None
    token = req.card_token
    if token is not UNSET and _CARD_TOKEN_RE.search(token) is None:
        return None
    return req


def _decode_strict(body: bytes) -> ScoreRequest:
    """Decode with every constraint of :class:`ScoreRequest` and the code lists; raises the 4xx
    :class:`RequestError` a bad request gets."""
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
    return req


def decode_score_request(body: bytes) -> ScoreRequest:
    """Decode and validate a score request; raises :class:`RequestError` (4xx) on bad input."""
    req = _decode_fast(body)
    if req is None:
        req = _decode_strict(body)
    _refuse_embedded_pans(req)
    has_pan = req.pan is not UNSET
    has_token = req.card_token is not UNSET
    if has_pan == has_token:
        raise RequestError(422, "send exactly one of pan or card_token", "$.pan")
    return req
