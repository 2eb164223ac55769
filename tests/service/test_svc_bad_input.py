"""Bad input gets a 4xx JSON error naming the field, never a 500, and leaves no audit record."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from svc_support import Service, bad_luhn, make_pan, transaction

JSON_HEADERS = {"content-type": "application/json"}


def _post_raw(service: Service, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return service.client.post("/v1/score", content=body, headers=headers or JSON_HEADERS)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b'{"transaction_id": "x", "amount": ', 400, "$"),
        (b"not json at all", 400, "$"),
        (b"[1, 2, 3]", 422, "$"),
        (json.dumps(transaction(amount="12.00")).encode(), 422, "$.amount"),
        (json.dumps(transaction(amount=0)).encode(), 422, "$.amount"),
        (json.dumps(transaction(card_present="yes")).encode(), 422, "$.card_present"),
        (json.dumps(transaction(currency="XYZ")).encode(), 422, "$.currency"),
        (json.dumps(transaction(currency="usd")).encode(), 422, "$.currency"),
        (json.dumps(transaction(ip_country="ZZ")).encode(), 422, "$.ip_country"),
        (
            json.dumps(transaction(merchant_category_code="541")).encode(),
            422,
            "$.merchant_category_code",
        ),
        (json.dumps(transaction(timestamp="yesterday")).encode(), 422, "$.timestamp"),
        (json.dumps(transaction(timestamp="2024-06-01T12:00:00")).encode(), 422, "$.timestamp"),
        (json.dumps(transaction(card_token="12345678901234")).encode(), 422, "$.card_token"),
        (json.dumps(transaction(account_age_days=-1)).encode(), 422, "$.account_age_days"),
    ],
    ids=[
        "truncated-json",
        "not-json",
        "array-not-object",
        "amount-string",
        "amount-zero",
        "bool-as-string",
        "unknown-currency",
        "lowercase-currency",
        "unknown-country",
        "mcc-3-digits",
        "timestamp-not-rfc3339",
        "timestamp-without-offset",
        "token-looks-like-pan",
        "negative-account-age",
    ],
)
def test_bad_bodies_get_4xx_with_field(
    service: Service, body: bytes, status: int, field: str
) -> None:
    """Malformed JSON is 400; contract violations are 422 with the JSON path of the field."""
    r = _post_raw(service, body)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert r.json()["error"]


@pytest.mark.parametrize("missing", ["transaction_id", "amount", "currency", "timestamp"])
def test_missing_field_is_named(service: Service, missing: str) -> None:
    """A missing required field is a 422 naming that field."""
    body = transaction()
    del body[missing]
    r = service.client.post("/v1/score", json=body)
    assert r.status_code == 422
    assert r.json()["field"] == f"$.{missing}"


def test_card_reference_must_be_exactly_one(service: Service) -> None:
    """Both or neither of pan/card_token is a 422."""
    neither = transaction()
    del neither["card_token"]
    assert service.client.post("/v1/score", json=neither).status_code == 422
    both = transaction(pan=make_pan(), card_token="tok_abcdefgh")
    r = service.client.post("/v1/score", json=both)
    assert r.status_code == 422
    assert both["pan"] not in r.text


@pytest.mark.parametrize("kind", ["luhn", "short", "letters", "number"])
def test_invalid_pan_is_rejected_without_echo(service: Service, kind: str) -> None:
    """An invalid PAN is a 422 on $.pan whose body contains no part of the PAN beyond last 4."""
    good = make_pan()
    pan: Any = {
        "luhn": bad_luhn(good),
        "short": good[:10],
        "letters": good[:8] + "abcd" + good[12:],
        "number": int(good),
    }[kind]
    r = service.score(pan=pan)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "$.pan"
    digits = str(pan)
    assert digits not in r.text
    assert digits[:6] not in r.text
    assert digits[:-4] not in r.text


def test_oversized_body_is_413(service: Service) -> None:
    """A 70 KiB body is refused with 413 (declared length over 64 KiB)."""
    big = transaction(merchant_id="m", note="x" * (70 * 1024))
    r = service.client.post("/v1/score", json=big)
    assert r.status_code == 413
    assert "exceeds" in r.json()["error"]


def test_oversized_chunked_body_is_413(service: Service) -> None:
    """A 70 KiB chunked body (no Content-Length) is refused with 413 once past the limit."""

    def chunks() -> Any:
        yield b'{"transaction_id": "big", "pad": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}'

    r = service.client.post("/v1/score", content=chunks(), headers=JSON_HEADERS)
    assert r.status_code == 413


def test_oversized_body_is_refused_before_it_is_sent(service: Service) -> None:
    """With a declared 70 KiB length the 413 arrives before the client sends the body."""
    url = urlsplit(service.base)
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 71680\r\n\r\n"
        )
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(service: Service, ctype: str | None) -> None:
    """Only application/json bodies are accepted."""
    headers = {"content-type": ctype} if ctype else {}
    body = json.dumps(transaction()).encode()
    r = service.client.post("/v1/score", content=body, headers=headers)
    assert r.status_code == 415


def test_json_with_charset_is_accepted(service: Service) -> None:
    """application/json; charset=utf-8 is JSON."""
    body = json.dumps(transaction()).encode()
    r = _post_raw(service, body, {"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 200


def test_rejected_requests_leave_no_audit_record(service: Service) -> None:
    """Only accepted decisions are audited: N bad requests add no record, 1 good adds one."""
    before = len(service.audit_lines())
    bad = [
        b"{",
        json.dumps(transaction(currency="XYZ")).encode(),
        json.dumps(transaction(pan=bad_luhn(make_pan()), card_token=None)).encode(),
    ]
    for body in bad:
        assert _post_raw(service, body).status_code in (400, 422)
    assert service.client.post("/v1/score", json=transaction(note="y" * 70_000)).status_code == 413
    assert len(service.audit_lines()) == before
    good = service.score()
    assert good.status_code == 200
    lines = service.audit_lines()
    assert len(lines) == before + 1
    assert lines[-1]["request_id"] == good.json()["request_id"]


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_EDGE_TIMESTAMPS = st.sampled_from(["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
_FIELDS = [*transaction().keys(), "pan", "account_age_days", "device_known", "device_id"]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(_FIELDS), value=_json_values | _EDGE_TIMESTAMPS)
def test_any_field_value_gets_a_clean_answer(service: Service, field: str, value: Any) -> None:
    """Whatever JSON value a field holds, the answer is 200 or a 4xx JSON error, never a 5xx."""
    body = transaction()
    if field == "pan":
        del body["card_token"]
    body[field] = value
    r = service.client.post("/v1/score", json=body)
    assert r.status_code in (200, 413, 422), r.text
    assert ("error" in r.json()) is (r.status_code != 200)


@pytest.mark.parametrize(
    "ts", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "2024-06-01T12:00:00+14:00"]
)
def test_timestamps_at_the_edges_of_the_range(service: Service, ts: str) -> None:
    """Valid RFC 3339 timestamps at the datetime range edges are scored, not a 500."""
    r = service.score(timestamp=ts)
    assert r.status_code == 200, r.text
