"""The score body's flat draws and direct formatting: the same bytes as the plain form (the
``random.Random`` methods, a dict, orjson: ``payload_reference.py``) for any configuration, and
the same bodies as before (digests of the dict-and-orjson implementation)."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from payload_reference import PlainPayload

from harness.payload import PayloadGenerator, _amount_json, _below, _json_float, _normal


def _clock(step_ms: int) -> Callable[[], float]:
    ticks = iter(range(1_700_000_000_000, 1_800_000_000_000, step_ms))
    return lambda: next(ticks) / 1000


def _pair(**kw: object) -> tuple[PayloadGenerator, PlainPayload]:
    return (
        PayloadGenerator(clock=_clock(137), **kw),  # type: ignore[arg-type]
        PlainPayload(clock=_clock(137), **kw),  # type: ignore[arg-type]
    )


shares = st.floats(0.0, 1.0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**40),
    cards=st.integers(1, 10_000_000),
    pan_share=shares,
    fraud_share=shares,
    cross_border_share=shares,
    stream=st.integers(0, 64),
)
def test_score_body_equals_the_plain_form(
    seed: int,
    cards: int,
    pan_share: float,
    fraud_share: float,
    cross_border_share: float,
    stream: int,
) -> None:
    """next_score_body() is the plain form's body byte for byte, draw after draw, and
    next_transaction() its dict; the same PANs were sent."""
    fast, plain = _pair(
        seed=seed,
        cards=cards,
        pan_share=pan_share,
        fraud_share=fraud_share,
        cross_border_share=cross_border_share,
        stream=stream,
    )
    for _ in range(60):
        assert fast.next_score_body() == plain.next_score_body()
    for _ in range(5):
        assert fast.next_transaction() == plain.next_transaction()
    assert fast.pans_in_use() == plain.pans


@given(
    st.floats(0.0, 1e6)
    | st.floats(0.48, 0.52)
    | st.floats(49_999.98, 50_000.02)
    | st.integers(0, 10**8).map(lambda c: c / 100 + 0.005)
)
def test_amount_text_is_the_rounded_clamped_float(amount: float) -> None:
    """The amount's text is orjson's number of the amount rounded to cents and clamped, also at
    half-cent ties and at the clamp bounds."""
    expected = orjson.dumps(max(0.5, min(round(amount, 2), 50_000.0))).decode()
    assert _amount_json(amount) == expected


@given(st.integers(0, 2**32), st.integers(1, 600), st.floats(-5.0, 5.0), st.floats(0.1, 3.0))
def test_flat_draws_are_the_random_methods(seed: int, n: int, mu: float, sigma: float) -> None:
    """_below draws what choice/randrange draw, _normal what normalvariate draws, from the same
    stream (the generator's state afterwards is the same too)."""
    flat, methods = random.Random(seed), random.Random(seed)
    for _ in range(20):
        assert _below(flat.getrandbits, n) == methods.randrange(n)
        assert _below(flat.getrandbits, n) == methods.choice(range(n))
        assert mu + _normal(flat.random) * sigma == methods.normalvariate(mu, sigma)
        assert math.exp(mu + _normal(flat.random)) == methods.lognormvariate(mu, 1.0)
    assert flat.getstate() == methods.getstate()


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_json_float_is_orjsons_number(value: float) -> None:
    """Every finite float is written as orjson writes it (repr only where the two agree)."""
    assert _json_float(value) == orjson.dumps(value).decode()


#: sha256 over 3,000 bodies per configuration, from the dict-and-orjson implementation
#: (commit daa41e7): the byte-level formatting must not change a single body.
BEFORE = {
    (
        7,
        10000,
        0.2,
        0.02,
        0.1,
        0,
    ): "fdc6a603adf6bbb087bd469252f4ef898a5db0de2a35f9749ff376943dbdbb2d",
    (1, 3, 1.0, 0.5, 0.9, 2): "65987611f9d97e9b43e557f8df506d910e3b2f191117c8a6e2551ff4eee30942",
    (123456789, 10_000_000, 0.0, 1.0, 0.0, 5): (
        "96eb71fc33ba68c740387fb1ec242bb13249b7b65741b1d836a435a6072e30f6"
    ),
    (42, 100, 0.5, 0.3, 0.5, 1): "b8ad97cc68b72361cccb4a97fe06b1e60be7a2f2139d9e5668a38f2180d0bdcb",
}


def test_bodies_are_the_ones_sent_before() -> None:
    """Score and infer bodies of fixed seeds hash to what the dict-and-orjson code produced."""
    for (seed, cards, pan, fraud, cross, stream), digest in BEFORE.items():
        gen = PayloadGenerator(
            seed,
            cards,
            pan,
            fraud_share=fraud,
            cross_border_share=cross,
            stream=stream,
            clock=_clock(137),
        )
        h = hashlib.sha256()
        for _ in range(3000):
            h.update(gen.next_score_body())
        assert h.hexdigest() == digest, (seed, cards, pan, fraud, cross, stream)
    gen = PayloadGenerator(
        9, 500, 0.3, fraud_share=0.2, cross_border_share=0.3, stream=1, clock=_clock(911)
    )
    h = hashlib.sha256()
    for i in range(2000):
        h.update(gen.next_infer_body(15 + i % 5, "input"))
    assert h.hexdigest() == "2bddd99a4d13298ddeb787ac05f4a4029fa54fc091c6bf537de25235a72dbf4e"
