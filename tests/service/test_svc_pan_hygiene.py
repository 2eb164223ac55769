"""PAN hygiene (issue 10): distinct synthetic Luhn-valid PANs sent every way a card number can
arrive, and not one comes back or lands in a file.

Each PAN is sent once, in one of these forms (round robin): in the ``pan`` field of a valid
request (200, tokenised), hidden in ``transaction_id``/``merchant_id`` with one of the separator
classes of hole 3 (422), inside a malformed body (truncated JSON, invalid UTF-8 next to it, a
deeply nested body), in a query string, in a request header. Every response body is searched for
the PAN's digits; afterwards every file the service wrote (audit segments, log) is searched for
every PAN and scanned with ``slo-harness pci scan``'s scanner. CI profile: 1,200 PANs; full
profile: 12,000.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable

import httpx
from svc_support import FULL_PROFILE, ServiceFactory, make_pan, record_figure, transaction

from harness.pci_scan import scan_paths

N_PANS = 12_000 if FULL_PROFILE else 1_200
SEPARATORS = [",", "+", "|", "*", "#", ")(", "\u200b", "O", " ", "-", ".", "_", "/", ":", "\u00a0"]
_DIGITS = re.compile(r"\D")


def _grouped(pan: str, sep: str) -> str:
    return sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))


def _forms(rng: random.Random) -> list[Callable[[httpx.Client, str], httpx.Response]]:
    def valid(c: httpx.Client, pan: str) -> httpx.Response:
        return c.post("/v1/score", json=transaction(pan=pan))

    def hidden_tx(c: httpx.Client, pan: str) -> httpx.Response:
        tx = "tx" + _grouped(pan, rng.choice(SEPARATORS))
        return c.post("/v1/score", json=transaction(transaction_id=tx))

    def hidden_merchant(c: httpx.Client, pan: str) -> httpx.Response:
        return c.post(
            "/v1/score", json=transaction(merchant_id=_grouped(pan, rng.choice(SEPARATORS)))
        )

    def truncated(c: httpx.Client, pan: str) -> httpx.Response:
        body = json.dumps(transaction(pan=pan)).encode()
        return c.post("/v1/score", content=body[: body.index(pan.encode()) + 10],
                      headers={"content-type": "application/json"})  # fmt: skip

    def bad_utf8(c: httpx.Client, pan: str) -> httpx.Response:
        body = b'{"transaction_id":"\xff' + pan.encode() + b'","pan":"' + pan.encode() + b'"}'
        return c.post("/v1/score", content=body, headers={"content-type": "application/json"})

    def nested(c: httpx.Client, pan: str) -> httpx.Response:
        body = b'{"pan":"' + pan.encode() + b'","x":' + b"[" * 3000 + b"]" * 3000 + b"}"
        return c.post("/v1/score", content=body, headers={"content-type": "application/json"})

    def query(c: httpx.Client, pan: str) -> httpx.Response:
        return c.post(f"/v1/score?pan={pan}", json=transaction(pan=pan[:-1]))

    def header(c: httpx.Client, pan: str) -> httpx.Response:
        return c.post("/v2/models/fraud/infer", json={"id": _grouped(pan, "+"), "inputs": []},
                      headers={"x-card": pan})  # fmt: skip

    return [valid, hidden_tx, hidden_merchant, truncated, bad_utf8, nested, query, header]


def test_no_pan_in_any_response_or_file(services: ServiceFactory) -> None:
    """Zero full PANs in responses, audit segments and logs, whatever form they were sent in."""
    svc = services.start("--access-log")
    rng = random.Random(11)
    forms = _forms(rng)
    pans: set[str] = set()
    while len(pans) < N_PANS:
        pans.add(make_pan(rng.choice([15, 16, 16, 16, 19])))
    statuses: dict[str, dict[int, int]] = {}
    found_in_responses = 0
    with httpx.Client(base_url=svc.base, timeout=10) as c:
        for i, pan in enumerate(sorted(pans)):
            form = forms[i % len(forms)]
            r = form(c, pan)
            counts = statuses.setdefault(form.__name__, {})
            counts[r.status_code] = counts.get(r.status_code, 0) + 1
            if pan in _DIGITS.sub("", r.text) or pan in r.text:
                found_in_responses += 1
            assert r.status_code < 500 or r.status_code == 503
    svc.stop()
    blob_hits = 0
    files = [f for f in svc.workdir.rglob("*") if f.is_file()]
    for f in files:
        data = f.read_bytes()
        blob_hits += sum(1 for p in pans if p.encode() in data)
    scanned, n_files = scan_paths([svc.workdir])
    record_figure(
        "pan_hygiene",
        {"pans_sent": len(pans), "forms": {k: v for k, v in sorted(statuses.items())},
         "found_in_responses": found_in_responses, "found_in_files": blob_hits,
         "pci_scan_findings": len(scanned), "files_scanned": n_files},
    )  # fmt: skip
    assert statuses["valid"].get(200, 0) > 0
    assert set(statuses["hidden_tx"]) == {422}
    assert set(statuses["hidden_merchant"]) == {422}
    assert found_in_responses == 0
    assert blob_hits == 0
    assert scanned == [], [str(f) for f in scanned[:3]]
