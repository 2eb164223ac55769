"""PAN scanning: the Luhn check and finding card-number candidates in text."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.pan_scan import find_pans, luhn_check_digit, luhn_valid
from harness.payload import synthetic_pan


def _make_pan(rng: random.Random, length: int = 16) -> str:
    body = "9999" + "".join(rng.choice("0123456789") for _ in range(length - 5))
    return body + luhn_check_digit(body)


def test_luhn_known_vectors() -> None:
    """The classic Luhn examples: 79927398713 passes, one digit off fails."""
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("")
    assert not luhn_valid("7992739871a")
    assert not luhn_valid("１２３４５６７８９０１２")  # full-width digits are not ASCII


@given(st.text(alphabet="0123456789", min_size=1, max_size=25))
def test_check_digit_always_completes_a_valid_number(payload: str) -> None:
    """payload + luhn_check_digit(payload) is Luhn-valid, and exactly one digit does that."""
    digit = luhn_check_digit(payload)
    assert luhn_valid(payload + digit)
    assert sum(luhn_valid(payload + d) for d in "0123456789") == 1


@given(
    st.text(alphabet="0123456789", min_size=2, max_size=19), st.integers(0, 18), st.integers(1, 9)
)
def test_a_single_digit_change_breaks_luhn(digits: str, pos: int, delta: int) -> None:
    """Luhn detects every single-digit substitution."""
    number = digits[:-1] + luhn_check_digit(digits[:-1]) if len(digits) > 1 else digits
    pos %= len(number)
    changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    assert not luhn_valid(changed)


def test_find_pans_in_text_with_separators() -> None:
    """Bare runs and 4-digit groups with spaces or dashes are found, normalised to digits."""
    rng = random.Random(3)
    a, b, c = _make_pan(rng), _make_pan(rng), _make_pan(rng, 19)
    spaced = " ".join(b[i : i + 4] for i in range(0, 16, 4))
    dashed = "-".join(a[i : i + 4] for i in range(0, 16, 4))
    text = f'{{"pan": "{a}"}} card {spaced}; long={c}, dashed {dashed}.'
    assert find_pans(text) == [a, b, c, a]


def test_find_pans_ignores_non_candidates() -> None:
    """Invalid checksums, too-short/too-long runs and digits inside longer runs are not PANs."""
    pan = _make_pan(random.Random(4))
    bad = pan[:-1] + str((int(pan[-1]) + 1) % 10)
    short = "12345678903"  # 11 digits
    too_long = pan + "0000"  # 20 digits: not a 12-19 digit run
    mixed = f"{pan[:4]} {pan[4:8]}-{pan[8:12]} {pan[12:]}"  # inconsistent separators
    assert find_pans(f"{bad} {short} {too_long} {mixed}") == []


def test_synthetic_pans_are_found() -> None:
    """The payload generator's synthetic PANs are valid and detected by the scanner."""
    pans = [synthetic_pan(7, i) for i in range(50)]
    assert all(luhn_valid(p) and len(p) == 16 and p.startswith("9999") for p in pans)
    assert find_pans(" ".join(pans)) == pans


@pytest.mark.parametrize("payload", ["", "12a", "１２"])
def test_check_digit_refuses_non_digits(payload: str) -> None:
    """A payload that is not ASCII digits is a ValueError."""
    with pytest.raises(ValueError, match="digits"):
        luhn_check_digit(payload)
