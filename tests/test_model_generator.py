"""Synthetic transaction generator: seeded determinism, realistic fields and rates."""

from __future__ import annotations

import re

import numpy as np
import pytest

from reference_service.model.features import (
    COUNTRY_UTC_OFFSET_HOURS,
    FEATURE_NAMES,
    SUPPORTED_CURRENCIES,
    encode_batch,
)
from reference_service.model.generator import DEFAULT_SEED, SyntheticData, generate


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return generate(20_000, DEFAULT_SEED)


def test_same_seed_gives_identical_data() -> None:
    """Two draws with one seed are equal row for row and label for label."""
    a, b = generate(3_000, 7), generate(3_000, 7)
    assert a.rows == b.rows
    np.testing.assert_array_equal(a.labels, b.labels)


def test_different_seeds_give_different_data() -> None:
    """Another seed gives another data set."""
    assert generate(500, 1).rows != generate(500, 2).rows


def test_zero_rows_is_empty_and_negative_is_refused() -> None:
    """n=0 yields an empty set with fraud_rate 0; negative n is refused."""
    empty = generate(0, 1)
    assert empty.rows == ()
    assert empty.fraud_rate == 0.0
    with pytest.raises(ValueError, match="n must be"):
        generate(-1, 1)


def test_fields_are_well_formed(data: SyntheticData) -> None:
    """Codes are ISO-shaped, amounts positive, hours 0..23, velocity non-negative."""
    known = set(COUNTRY_UTC_OFFSET_HOURS)
    for r in data.rows:
        assert r.amount > 0
        assert r.currency in SUPPORTED_CURRENCIES
        assert re.fullmatch(r"[0-9]{4}", r.merchant_category_code)
        assert {r.merchant_country, r.billing_country, r.ip_country} <= known
        assert 0 <= r.hour_utc <= 23
        assert r.account_age_days is None or r.account_age_days >= 0
        if r.card_present:
            assert r.device_known is None
            assert r.ip_country == r.merchant_country
        if r.velocity is not None:
            v = r.velocity
            assert 0 <= v.count_1h <= v.count_24h
            assert v.amount_1h >= 0
            assert v.amount_24h >= 0
    assert all(r.amount == int(r.amount) for r in data.rows if r.currency == "JPY")


def test_fraud_rate_and_missing_rates_are_realistic(data: SyntheticData) -> None:
    """About 2% fraud; velocity missing about 5%; account age missing about 3%."""
    assert 0.01 <= data.fraud_rate <= 0.03
    n = len(data.rows)
    assert 0.04 <= sum(r.velocity is None for r in data.rows) / n <= 0.06
    assert 0.02 <= sum(r.account_age_days is None for r in data.rows) / n <= 0.04
    card_present = sum(r.card_present for r in data.rows) / n
    assert 0.5 <= card_present <= 0.6
    assert len({r.currency for r in data.rows}) >= 10


def test_fraud_follows_the_documented_patterns(data: SyntheticData) -> None:
    """Card-not-present, IP mismatch, new accounts and bursts raise the fraud rate."""
    y = data.labels.astype(bool)

    def rate(mask: list[bool]) -> float:
        m = np.array(mask)
        return float(y[m].mean())

    cnp = [not r.card_present for r in data.rows]
    assert rate(cnp) > 2 * rate([not c for c in cnp])
    mismatch = [r.ip_country != r.billing_country and not r.card_present for r in data.rows]
    assert rate(mismatch) > 2 * data.fraud_rate
    young = [r.account_age_days is not None and r.account_age_days < 30 for r in data.rows]
    assert rate(young) > 2 * data.fraud_rate
    burst = [r.velocity is not None and r.velocity.count_1h >= 4 for r in data.rows]
    assert rate(burst) > 3 * data.fraud_rate


def test_generated_rows_encode_with_nan_only_where_missing(data: SyntheticData) -> None:
    """Encoding generated rows gives NaN velocity exactly for rows without velocity."""
    x = encode_batch(data.rows)
    no_velocity = np.array([r.velocity is None for r in data.rows])
    np.testing.assert_array_equal(np.isnan(x[:, FEATURE_NAMES.index("vel_count_1h")]), no_velocity)
    always_present = [FEATURE_NAMES.index(n) for n in ("amount_usd_log", "mcc_risk", "hour_local")]
    assert not np.isnan(x[:, always_present]).any()
