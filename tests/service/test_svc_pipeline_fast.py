"""The decision path's shortcuts equal what they replace: the UTC hour, the feature hash and the
missing-feature names (the audit record carries all three; replay re-derives them)."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_service.model.features import FEATURE_NAMES, N_FEATURES
from reference_service.pipeline import _hour_utc, _missing, _sha256_hex

_OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=100, deadline=None)
@given(
    naive=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    tz=st.sampled_from([UTC, UTC, timezone(timedelta(0))]) | _OFFSETS,
)
def test_hour_utc_is_the_utc_hour(naive: datetime, tz: timezone) -> None:
    """Any offset, "Z" included: the hour of the same instant in UTC."""
    ts = naive.replace(tzinfo=tz)
    assert _hour_utc(ts) == ts.astimezone(UTC).hour


@given(data=st.binary(max_size=200))
def test_feature_hash_is_sha256(data: bytes) -> None:
    """The copied-state digest is SHA-256 of the bytes, call after call."""
    assert _sha256_hex(data) == hashlib.sha256(data).hexdigest()
    assert _sha256_hex(data) == hashlib.sha256(data).hexdigest()


@settings(max_examples=100, deadline=None)
@given(mask=st.lists(st.booleans(), min_size=N_FEATURES, max_size=N_FEATURES))
def test_missing_names_the_nan_columns_in_order(mask: list[bool]) -> None:
    """The names of the NaN columns, in column order, however often a pattern repeats."""
    row = np.array([math.nan if m else float(i) for i, m in enumerate(mask)], dtype=np.float32)
    expected = tuple(name for name, m in zip(FEATURE_NAMES, mask, strict=True) if m)
    assert _missing(row) == expected
    assert _missing(row.copy()) == expected
