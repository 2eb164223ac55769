"""The served OpenAPI document agrees with what the service really accepts and returns."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from svc_support import Service, make_pan, transaction

# jsonschema's own date-time check needs an optional package; RFC 3339 with an offset is enough.
_checker = FormatChecker()
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@_checker.checks("date-time", raises=ValueError)  # type: ignore[untyped-decorator]
def _date_time(value: object) -> bool:
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value)
    return True


def _validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return Draft202012Validator(schema, format_checker=_checker)


def _samples() -> list[tuple[str, dict[str, Any]]]:
    no_card = transaction()
    del no_card["card_token"]
    no_amount = transaction()
    del no_amount["amount"]
    return [
        ("minimal-token", transaction()),
        ("pan", transaction(pan=make_pan(), card_token=None)),
        ("pan-19", transaction(pan=make_pan(19), card_token=None)),
        ("optional-fields", transaction(account_age_days=12.5, device_id="d1", device_known=False)),
        ("unknown-field", transaction(extra={"a": 1})),
        ("offset-timestamp", transaction(timestamp="2024-06-01T14:00:00.250+02:00")),
        ("null-optional", transaction(device_known=None, account_age_days=None)),
        ("no-card", no_card),
        ("both-cards", transaction(pan=make_pan())),
        ("null-token", {**transaction(), "card_token": None}),
        ("no-amount", no_amount),
        ("negative-amount", transaction(amount=-5)),
        ("string-amount", transaction(amount="5")),
        ("bad-currency", transaction(currency="ABC")),
        ("bad-country", transaction(billing_country="XX")),
        ("lower-country", transaction(billing_country="us")),
        ("mcc-letters", transaction(merchant_category_code="54a1")),
        ("empty-txid", transaction(transaction_id="")),
        ("long-txid", transaction(transaction_id="t" * 129)),
        ("pan-short", transaction(pan="4" * 11, card_token=None)),
        ("pan-dashes", transaction(pan="9999-9999-9999-9999", card_token=None)),
        ("token-short", transaction(card_token="abc")),
        ("token-pan-like", transaction(card_token="tok_999999123412341234")),
        ("naive-timestamp", transaction(timestamp="2024-06-01T12:00:00")),
        ("card-present-int", transaction(card_present=1)),
        ("age-negative", transaction(account_age_days=-3)),
    ]


@pytest.fixture(scope="module")
def doc(service: Service) -> dict[str, Any]:
    served: dict[str, Any] = service.client.get("/openapi.json").json()
    return served


def test_document_is_valid_openapi_shape(doc: dict[str, Any]) -> None:
    """Every component schema is itself a valid JSON Schema (2020-12)."""
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises SchemaError naming the problem


def test_schema_and_service_agree_on_samples(service: Service, doc: dict[str, Any]) -> None:
    """For each sample request: valid per the schema <=> the service answers 200."""
    request_v = _validator(doc, "ScoreRequest")
    response_v = _validator(doc, "ScoreResponse")
    error_v = _validator(doc, "ErrorBody")
    disagreements = []
    for name, body in _samples():
        schema_ok = request_v.is_valid(body)
        r = service.client.post("/v1/score", json=body)
        if schema_ok != (r.status_code == 200):
            disagreements.append((name, schema_ok, r.status_code, r.text))
        (response_v if r.status_code == 200 else error_v).validate(r.json())
    assert not disagreements


def test_luhn_is_the_documented_exception(service: Service, doc: dict[str, Any]) -> None:
    """A Luhn-invalid PAN is schema-valid (JSON Schema cannot express Luhn) but refused; the
    pan field's description says so."""
    pan = make_pan()
    wrong = pan[:-1] + str((int(pan[-1]) + 1) % 10)
    body = transaction(pan=wrong, card_token=None)
    assert _validator(doc, "ScoreRequest").is_valid(body)
    assert service.client.post("/v1/score", json=body).status_code == 422
    assert (
        "Luhn" in doc["components"]["schemas"]["ScoreRequest"]["properties"]["pan"]["description"]
    )
