"""Fuzzing the service (issue 10): from its own OpenAPI document with schemathesis, and by raw
byte mutation of valid bodies. No 5xx other than a 503 refusal, responses conform to the document,
no card number is echoed.

Case counts: CI profile 40 schemathesis examples per operation and 300 mutations per route; full
profile (SLO_SUITE_PROFILE=full) 400 and 5,000.
"""

from __future__ import annotations

import json
import random
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from svc_support import FULL_PROFILE, Service, make_pan, record_figure, transaction

from harness.pan_scan import find_pans, plausible_iin
from reference_service import __version__
from reference_service.openapi import openapi_document

EXAMPLES = 400 if FULL_PROFILE else 40
MUTATIONS = 5000 if FULL_PROFILE else 300
schema = schemathesis.openapi.from_dict(openapi_document(__version__))
_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
_COUNTS: dict[str, int] = {"cases": 0, "server_errors": 0, "pans_echoed": 0}


_NON_DIGITS = re.compile(r"\D")


def _echoed_pans(response: str, request: str) -> list[str]:
    """Card numbers in the response that the request carried (digits compared without
    separators): an echo. Other long digit runs in a response (float fractions in /metrics or
    infer outputs) are not echoes and would pass Luhn one time in ten."""
    sent = _NON_DIGITS.sub("", request)
    return [p for p in find_pans(response) if plausible_iin(p) and p in sent]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_openapi_fuzz(case: schemathesis.Case, service: Service) -> None:
    """Every generated request gets a documented status, content type and body; never a 5xx
    other than 503 (shed or not ready), never a card number in the response."""
    response = case.call(base_url=service.base, timeout=10)
    _COUNTS["cases"] += 1
    if response.status_code >= 500 and response.status_code != 503:
        _COUNTS["server_errors"] += 1
    request = json.dumps(case.body, default=str) + str(case.query) + str(case.path_parameters)
    echoed = _echoed_pans(response.text, request)
    _COUNTS["pans_echoed"] += len(echoed)
    assert not echoed, "a card number was echoed"
    case.validate_response(response, checks=_CHECKS)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(5)
        pos = rng.randrange(len(buf) + 1) if buf else 0
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:
            buf[pos:pos] = bytes([rng.choice(b'{}[]",:\\\xff\xc3\x00 0123456789')])
        elif op == 2 and buf:
            del buf[pos : pos + rng.randint(1, 8)]
        elif op == 3:
            buf[pos:pos] = rng.choice([b"[" * 600, b'{"a":' * 300, b"\xed\xa0\x80", b"1e999"])
        else:
            buf = buf[: rng.randint(0, len(buf))]
    return bytes(buf)


@pytest.mark.parametrize("route", ["/v1/score", "/v2/models/fraud/infer"])
def test_raw_byte_mutation(service: Service, route: str) -> None:
    """Random byte mutations of valid bodies (carrying a PAN): only 2xx/4xx/503, every error a
    JSON object with `error`, no card number echoed."""
    rng = random.Random(route)
    if route == "/v1/score":
        valid = json.dumps(transaction(pan=make_pan())).encode()
    else:
        valid = json.dumps(
            {"id": "req-a", "inputs": [{"name": "features", "shape": [1, 15],
                                        "datatype": "FP32", "data": [0.5] * 15}]}
        ).encode()  # fmt: skip
    statuses: dict[int, int] = {}
    for _ in range(MUTATIONS):
        body = _mutate(rng, valid)
        r = service.client.post(route, content=body, headers={"content-type": "application/json"})
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code < 500 or r.status_code == 503, (r.status_code, r.text[:200])
        assert not _echoed_pans(r.text, body.decode("utf-8", errors="replace"))
        if r.status_code >= 400:
            doc = r.json()
            assert isinstance(doc.get("error"), str)
    _COUNTS["cases"] += MUTATIONS
    record_figure(
        f"fuzz-mutation{route.replace('/', '-')}",
        {"route": route, "cases": MUTATIONS, "statuses": statuses, "server_errors": 0},
    )


def test_zz_record_fuzz_figures() -> None:
    """Records how many schemathesis cases ran (this module's earlier tests) for the README."""
    record_figure("fuzz-openapi", dict(_COUNTS))
    assert _COUNTS["server_errors"] == 0
