"""The request decoder's fast path never changes an answer.

``decode_score_request`` decodes without msgspec's ``pattern`` constraints and checks the same
fields with cheaper equivalent tests, falling back to the strict decoder when any fails. For
near-miss values of every patterned field (lower case, wrong length, trailing newline, fullwidth
and Arabic-Indic digits, unknown codes, digit-only and PAN-bearing tokens, both or neither of
pan/card_token), it must return what the strict path returns, or raise the same status, message
and field.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from svc_support import make_pan, transaction

from reference_service import schema
from reference_service.schema import RequestError, decode_score_request

_ABSENT = object()
_PAN = make_pan()
_FIELDS: dict[str, list[Any]] = {
    "currency": ["USD", "EUR", "usd", "US", "USDD", "XXZ", "USD\n", "ＵＳＤ", 5, None],
    "merchant_country": ["NL", "nl", "N", "NLD", "ZZ", "NL\n", "ＮＬ", _ABSENT],
    "billing_country": ["DE", "de", "QQ", "DE\n", 3],
    "ip_country": ["FR", "fr", "F", "FR\n"],
    "merchant_category_code": ["5967", "596", "59670", "5967\n", "abcd", "５９６７", "٥٩٦٧", 5967],
    "pan": [_ABSENT, _PAN, _PAN + "\n", _PAN[:11], _PAN + "0000", "１" * 16, "4" * 12, 4111],
    "card_token": [
        _ABSENT, "bench_card_0001", "short", "tok_\n12345678", "123456789012", "x" * 129,
        "tok4111111111111111", "ab:cd.ef-gh", "tok_ünicode", "12345678",
    ],
    "amount": [12.5, 0, -1, 1e13, "12"],
    "transaction_id": ["t-1", "", "x" * 129],
}  # fmt: skip


def _outcome(decode: Any, body: bytes) -> tuple[Any, ...]:
    try:
        req = decode(body)
    except RequestError as exc:
        return ("error", exc.status, exc.message, exc.field)
    return ("ok", msgspec.structs.asdict(req))


def _strict(body: bytes) -> Any:
    """What the decoder did before the fast path: strict decode, then the same final checks."""
    req = schema._decode_strict(body)
    schema._refuse_embedded_pans(req)
    if (req.pan is not msgspec.UNSET) == (req.card_token is not msgspec.UNSET):
        raise RequestError(422, "send exactly one of pan or card_token", "$.pan")
    return req


def _body(changes: dict[str, Any]) -> bytes:
    """A valid card-token request with ``changes`` applied (``_ABSENT`` removes a field)."""
    doc = transaction()
    doc.pop("pan", None)
    doc["card_token"] = "bench_card_0001"
    for name, value in changes.items():
        if value is _ABSENT:
            doc.pop(name, None)
        else:
            doc[name] = value
    return json.dumps(doc).encode()


_SINGLE = [(name, value) for name, values in _FIELDS.items() for value in values]


def test_every_single_field_variant_answers_as_the_strict_decoder() -> None:
    """Each near-miss value alone (and with pan instead of card_token): same request or same
    4xx (status, message, field) as strict decoding."""
    accepted = 0
    for name, value in _SINGLE:
        for extra in ({}, {"card_token": _ABSENT, "pan": _PAN}):
            body = _body({**extra, name: value})
            ours = _outcome(decode_score_request, body)
            assert ours == _outcome(_strict, body), (name, value, extra)
            accepted += ours[0] == "ok"
    assert accepted >= 10  # the valid variants really reached the fast path's success


_CHANGES = st.lists(st.sampled_from(_SINGLE), max_size=3).map(dict)


@settings(max_examples=150, deadline=None)
@given(changes=_CHANGES)
def test_combined_variants_answer_as_the_strict_decoder(changes: dict[str, Any]) -> None:
    """Up to three fields changed at once: same outcome as strict decoding."""
    body = _body(changes)
    assert _outcome(decode_score_request, body) == _outcome(_strict, body)


def test_malformed_bodies_answer_as_before() -> None:
    """Not JSON, wrong top-level type, bad UTF-8, deep nesting: the strict path's 400/422."""
    for body in (b"", b"{", b"[]", b'"x"', b'{"amount": \xff}', b"[" * 5000 + b"]" * 5000):
        assert _outcome(decode_score_request, body) == _outcome(_strict, body)


def test_fast_checks_are_the_schemas_patterns() -> None:
    """The hand-written checks stand for these exact patterns: changing a pattern in the
    schema must come with the matching change to ``_decode_fast``."""
    assert schema._pattern("merchant_category_code").pattern == "^[0-9]{4}$"
    assert schema._pattern("pan").pattern == "^[0-9]{12,19}$"
    assert schema._FAST_CURRENCIES == schema.CURRENCIES
    assert schema._FAST_COUNTRIES == schema.COUNTRIES


def test_an_ordinary_request_takes_the_fast_path() -> None:
    """A valid request with a card token is accepted without the strict decoder."""
    doc = transaction()
    doc.pop("pan", None)
    doc["card_token"] = "bench_card_0001"
    assert schema._decode_fast(json.dumps(doc).encode()) is not None
