"""Feature encoding: the vector layout shared by training, the service and the V2 infer route."""

from __future__ import annotations

import math
import string

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_service.model.features import (
    FEATURE_DOCS,
    FEATURE_NAMES,
    N_FEATURES,
    SUPPORTED_CURRENCIES,
    USD_PER_UNIT,
    MccRisk,
    RawFeatures,
    Velocity,
    encode,
    encode_batch,
    mcc_risk,
)

COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _raw(**overrides: object) -> RawFeatures:
    base: dict[str, object] = {
        "amount": 100.0,
        "currency": "EUR",
        "merchant_category_code": "5732",
        "card_present": False,
        "merchant_country": "DE",
        "billing_country": "FR",
        "ip_country": "NG",
        "hour_utc": 23,
        "account_age_days": 12.5,
        "device_known": False,
        "velocity": Velocity(count_1h=3, count_24h=4, amount_1h=30.0, amount_24h=80.0),
    }
    base.update(overrides)
    return RawFeatures(**base)  # type: ignore[arg-type]


def test_feature_names_are_unique_documented_and_fixed_length() -> None:
    """FEATURE_NAMES has N_FEATURES unique names, each documented."""
    assert len(FEATURE_NAMES) == N_FEATURES == len(set(FEATURE_NAMES))
    assert tuple(FEATURE_DOCS) == FEATURE_NAMES


def test_encode_values_land_in_their_named_columns() -> None:
    """Each field is converted and placed in the column its name says."""
    v = encode(_raw())
    assert v.shape == (N_FEATURES,)
    assert v.dtype == np.float32
    assert v[COL["amount_usd_log"]] == pytest.approx(math.log1p(100.0 * USD_PER_UNIT["EUR"]))
    assert v[COL["mcc_risk"]] == MccRisk.ELEVATED
    assert v[COL["card_present"]] == 0.0
    assert v[COL["cross_border"]] == 1.0
    assert v[COL["ip_billing_mismatch"]] == 1.0
    assert v[COL["ip_merchant_mismatch"]] == 1.0
    assert v[COL["hour_utc"]] == 23.0
    assert v[COL["hour_local"]] == 0.0  # FR is UTC+1: 23h UTC is midnight in Paris
    assert v[COL["account_age_days"]] == 12.5
    assert v[COL["device_known"]] == 0.0
    assert v[COL["vel_count_1h"]] == 3.0
    assert v[COL["vel_count_24h"]] == 4.0
    assert v[COL["vel_amount_1h_usd_log"]] == pytest.approx(math.log1p(30.0))
    assert v[COL["vel_amount_24h_usd_log"]] == pytest.approx(math.log1p(80.0))
    expected_ratio = math.log1p(100.0 * USD_PER_UNIT["EUR"]) - math.log1p(20.0)
    assert v[COL["amount_vs_24h_mean_log"]] == pytest.approx(expected_ratio, rel=1e-6)


def test_domestic_card_present_flags_are_zero() -> None:
    """A domestic card-present purchase has no mismatch flags and card_present = 1."""
    v = encode(_raw(card_present=True, merchant_country="FR", ip_country="FR", device_known=True))
    assert v[COL["card_present"]] == 1.0
    assert v[COL["cross_border"]] == v[COL["ip_billing_mismatch"]] == 0.0
    assert v[COL["ip_merchant_mismatch"]] == 0.0
    assert v[COL["device_known"]] == 1.0


def test_missing_optional_fields_encode_as_nan_and_nothing_else() -> None:
    """velocity=None (degraded), no age, no device -> exactly those columns are NaN."""
    v = encode(_raw(velocity=None, account_age_days=None, device_known=None))
    nan_cols = {FEATURE_NAMES[i] for i in np.flatnonzero(np.isnan(v))}
    assert nan_cols == {
        "account_age_days",
        "device_known",
        "vel_count_1h",
        "vel_count_24h",
        "vel_amount_1h_usd_log",
        "vel_amount_24h_usd_log",
        "amount_vs_24h_mean_log",
    }


def test_unknown_currency_country_and_mcc_degrade_gracefully() -> None:
    """Unknown currency -> NaN amount, country -> NaN local hour, MCC -> STANDARD."""
    v = encode(_raw(currency="XXX", billing_country="ZZ", merchant_category_code="0001"))
    assert "XXX" not in SUPPORTED_CURRENCIES
    assert math.isnan(v[COL["amount_usd_log"]])
    assert math.isnan(v[COL["hour_local"]])
    assert v[COL["mcc_risk"]] == MccRisk.STANDARD
    assert mcc_risk("7995") is MccRisk.HIGH


def test_out_of_range_values_become_missing() -> None:
    """Negative age, hour 24 and negative velocity are treated as missing, not encoded raw."""
    v = encode(
        _raw(
            account_age_days=-1.0,
            hour_utc=24,
            velocity=Velocity(count_1h=-1, count_24h=0, amount_1h=-5.0, amount_24h=0.0),
        )
    )
    for name in ("account_age_days", "hour_utc", "hour_local", "vel_count_1h"):
        assert math.isnan(v[COL[name]]), name
    assert math.isnan(v[COL["vel_amount_1h_usd_log"]])
    assert v[COL["vel_count_24h"]] == 0.0


def test_encode_into_out_reuses_the_buffer() -> None:
    """encode(raw, out) writes into out (e.g. a row of a batch) and returns it."""
    batch = np.full((2, N_FEATURES), 7.0, dtype=np.float32)
    returned = encode(_raw(velocity=None), out=batch[1])
    assert returned is batch[1] or np.shares_memory(returned, batch)
    np.testing.assert_array_equal(batch[1], encode(_raw(velocity=None)))
    assert (batch[0] == 7.0).all()


def test_encode_batch_matches_row_by_row_encoding() -> None:
    """encode_batch stacks encode() results in order; empty input gives a (0, F) matrix."""
    rows = [_raw(), _raw(velocity=None), _raw(currency="JPY", amount=12000.0)]
    batch = encode_batch(rows)
    assert batch.shape == (3, N_FEATURES)
    assert batch.dtype == np.float32
    np.testing.assert_array_equal(batch, np.stack([encode(r) for r in rows]))
    assert encode_batch([]).shape == (0, N_FEATURES)


_country = st.text(alphabet=string.ascii_uppercase, min_size=2, max_size=2)
_velocity = st.builds(
    Velocity,
    count_1h=st.integers(0, 2**31 - 1),
    count_24h=st.integers(0, 2**31 - 1),
    amount_1h=st.floats(0.0, 1e15),
    amount_24h=st.floats(0.0, 1e15),
)
_valid_raw = st.builds(
    RawFeatures,
    amount=st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False),
    currency=st.sampled_from(sorted(SUPPORTED_CURRENCIES)),
    merchant_category_code=st.from_regex(r"[0-9]{4}", fullmatch=True),
    card_present=st.booleans(),
    merchant_country=_country,
    billing_country=_country,
    ip_country=_country,
    hour_utc=st.integers(0, 23),
    account_age_days=st.none() | st.floats(0.0, 1e12),
    device_known=st.none() | st.booleans(),
    velocity=st.none() | _velocity,
)
# Well-typed but out of range: anything the type allows.
_any_raw = st.builds(
    RawFeatures,
    amount=st.floats(),
    currency=st.text(max_size=5),
    merchant_category_code=st.text(max_size=6),
    card_present=st.booleans(),
    merchant_country=st.text(max_size=3),
    billing_country=st.text(max_size=3),
    ip_country=st.text(max_size=3),
    hour_utc=st.integers(),
    account_age_days=st.none() | st.floats(),
    device_known=st.none() | st.booleans(),
    velocity=st.none()
    | st.builds(
        Velocity,
        count_1h=st.integers(),
        count_24h=st.integers(),
        amount_1h=st.floats(),
        amount_24h=st.floats(),
    ),
)


def _finite_or_nan(v: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(v) | np.isnan(v)))


@given(_valid_raw)
def test_encode_valid_input_is_finite_except_declared_missing(raw: RawFeatures) -> None:
    """Valid input encodes to float32 with NaN only where a field is missing."""
    v = encode(raw)
    assert v.shape == (N_FEATURES,)
    assert v.dtype == np.float32
    assert _finite_or_nan(v)
    may_be_nan = {"hour_local"}  # billing country outside the offset table
    if raw.velocity is None:
        may_be_nan |= {n for n in FEATURE_NAMES if n.startswith(("vel_", "amount_vs"))}
    if raw.account_age_days is None:
        may_be_nan.add("account_age_days")
    if raw.device_known is None:
        may_be_nan.add("device_known")
    nan_cols = {FEATURE_NAMES[i] for i in np.flatnonzero(np.isnan(v))}
    assert nan_cols <= may_be_nan


@given(_any_raw)
def test_encode_never_raises_on_well_typed_input(raw: RawFeatures) -> None:
    """Any well-typed RawFeatures encodes without raising, every value finite or NaN."""
    v = encode(raw)
    assert v.dtype == np.float32
    assert _finite_or_nan(v)
