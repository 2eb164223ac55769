"""Synthetic transactions: the public contract, realistic shape, determinism, PAN hygiene."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from datetime import datetime

import orjson
import pytest

from harness.pan_scan import find_pans, luhn_valid
from harness.payload import SYNTHETIC_BIN_PREFIX, PayloadGenerator, synthetic_pan

FIXED_CLOCK = 1_700_000_000.0
REQUIRED = {
    "transaction_id",
    "amount",
    "currency",
    "merchant_id",
    "merchant_category_code",
    "merchant_country",
    "billing_country",
    "ip_country",
    "card_present",
    "timestamp",
}


def _gen(**kw: object) -> PayloadGenerator:
    args: dict[str, object] = {
        "seed": 1,
        "cards": 1000,
        "pan_share": 0.2,
        "clock": lambda: FIXED_CLOCK,
    }
    args.update(kw)
    return PayloadGenerator(**args)  # type: ignore[arg-type]


def _bodies(gen: PayloadGenerator, n: int) -> list[dict[str, object]]:
    return [orjson.loads(gen.next_score_body()) for _ in range(n)]


def test_bodies_follow_the_public_contract() -> None:
    """Every body has the contract's fields with valid formats and exactly one of pan/card_token."""
    for body in _bodies(_gen(), 2000):
        assert body.keys() >= REQUIRED
        assert ("pan" in body) != ("card_token" in body)
        assert isinstance(body["amount"], float)
        assert body["amount"] > 0
        assert re.fullmatch(r"[A-Z]{3}", str(body["currency"]))
        assert re.fullmatch(r"[0-9]{4}", str(body["merchant_category_code"]))
        for key in ("merchant_country", "billing_country", "ip_country"):
            assert re.fullmatch(r"[A-Z]{2}", str(body[key]))
        assert isinstance(body["card_present"], bool)
        stamp = datetime.fromisoformat(str(body["timestamp"]))
        assert stamp.utcoffset() is not None
        if "card_token" in body:
            # the service refuses tokens with 12+ consecutive digits (a PAN in the wrong field)
            assert not re.search(r"[0-9]{12}", str(body["card_token"]))
            assert re.fullmatch(r"[A-Za-z0-9_.:-]{8,128}", str(body["card_token"]))


def test_same_seed_same_bodies_other_stream_other_ids() -> None:
    """A seed reproduces the stream; another stream shares cards but not transaction ids."""
    g1, g2 = _gen(), _gen()
    assert [g1.next_score_body() for _ in range(200)] == [g2.next_score_body() for _ in range(200)]
    other = _gen(stream=1)
    ids = {b["transaction_id"] for b in _bodies(_gen(), 300)}
    other_ids = {b["transaction_id"] for b in _bodies(other, 300)}
    assert not ids & other_ids


def test_transaction_ids_are_unique() -> None:
    """No two requests of a generator share a transaction_id."""
    ids = [b["transaction_id"] for b in _bodies(_gen(), 5000)]
    assert len(set(ids)) == len(ids)


def test_pan_share_is_respected_and_pans_are_synthetic() -> None:
    """About pan_share of requests carry a Luhn-valid PAN from the synthetic 9999 range."""
    gen = _gen(pan_share=0.3)
    bodies = _bodies(gen, 5000)
    pans = [str(b["pan"]) for b in bodies if "pan" in b]
    assert len(pans) / 5000 == pytest.approx(0.3, abs=0.03)
    assert all(p.startswith(SYNTHETIC_BIN_PREFIX) and luhn_valid(p) for p in pans)
    assert set(pans) == gen.pans_in_use()


def test_no_pan_share_sends_no_pan() -> None:
    """pan_share 0 never sends a PAN."""
    gen = _gen(pan_share=0.0)
    assert all("pan" not in b for b in _bodies(gen, 500))
    assert gen.pans_in_use() == frozenset()


def test_cards_are_distinct_and_reused() -> None:
    """Each card index has its own PAN; popular cards repeat (velocity features see them)."""
    assert len({synthetic_pan(3, i) for i in range(10_000)}) == 10_000
    gen = _gen(cards=10_000, pan_share=1.0)
    counts = Counter(str(b["pan"]) for b in _bodies(gen, 5000))
    assert counts.most_common(1)[0][1] >= 5
    assert len(counts) > 1000
    assert gen.pans_in_use() <= gen.all_pans()


def test_distributions_look_like_card_traffic() -> None:
    """Amounts are skewed (median << mean), mostly domestic, a few risky fraud-like requests."""
    bodies = _bodies(_gen(seed=9, fraud_share=0.05), 10_000)
    usd = [float(b["amount"]) for b in bodies if b["currency"] == "USD"]  # type: ignore[arg-type]
    assert statistics.median(usd) < statistics.mean(usd)
    domestic = sum(b["merchant_country"] == b["billing_country"] for b in bodies) / len(bodies)
    assert 0.8 <= domestic <= 0.95
    ip_mismatch = sum(b["ip_country"] != b["billing_country"] for b in bodies) / len(bodies)
    assert 0.03 <= ip_mismatch <= 0.2
    unknown_device = sum(b["device_known"] is False for b in bodies) / len(bodies)
    assert unknown_device == pytest.approx(0.05, abs=0.015)
    assert len({b["currency"] for b in bodies}) >= 4
    assert Counter(b["merchant_category_code"] for b in bodies).most_common(1)[0][0] == "5411"


def test_infer_body_is_a_v2_request() -> None:
    """next_infer_body builds one FP32 row of the requested width under the given input name."""
    gen = _gen()
    for f in (1, 15, 40):
        body = orjson.loads(gen.next_infer_body(f, input_name="input"))
        (tensor,) = body["inputs"]
        assert tensor["name"] == "input"
        assert tensor["datatype"] == "FP32"
        assert tensor["shape"] == [1, f]
        assert len(tensor["data"]) == f
        assert all(isinstance(v, float) for v in tensor["data"])
        assert body["id"]


def test_infer_bodies_carry_no_pan() -> None:
    """V2 infer bodies are numbers only: even with pan_share 1 no PAN appears in them."""
    gen = _gen(pan_share=1.0)
    text = b"".join(gen.next_infer_body(15) for _ in range(200)).decode()
    assert not set(find_pans(text)) & gen.all_pans()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"cards": 0}, "cards"),
        ({"pan_share": 1.5}, "pan_share"),
        ({"fraud_share": -0.1}, "fraud_share"),
    ],
)
def test_bad_parameters_are_refused(kw: dict[str, object], message: str) -> None:
    """Out-of-range parameters are a ValueError naming the parameter."""
    with pytest.raises(ValueError, match=message):
        _gen(**kw)
    with pytest.raises(ValueError, match="n_features"):
        _gen().next_infer_body(0)


def test_generator_from_a_scenario_payload_section() -> None:
    """from_spec uses the scenario's seed, cards and shares."""
    from harness.spec.scenario import PayloadSpec

    spec = PayloadSpec(seed=5, cards=10, pan_share=1.0, fraud_share=0.0)
    gen = PayloadGenerator.from_spec(spec, stream=2, clock=lambda: FIXED_CLOCK)
    bodies = _bodies(gen, 200)
    assert all("pan" in b for b in bodies)
    assert gen.pans_in_use() <= gen.all_pans()
    assert len(gen.all_pans()) == 10
    assert str(bodies[0]["transaction_id"]).startswith("syn5s2n")
