"""A card number hidden in a free-text field (formatted, glued to letters) is refused, unaudited."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from svc_support import Service, grouped, luhn_check_digit, make_pan

from reference_service.pan import contains_pan, plausible_iin

N_FEATURES = 15
# Fullwidth (U+FF10..) and Arabic-Indic (U+0660..) digits: decimal digits in other scripts.
_FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))
_SUPERSCRIPT = str.maketrans(
    "0123456789", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)
_ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10)))

# How a PAN can hide in a free-text value: separators from the brief's set, glued to letters,
# after other digit groups, in non-ASCII digits.
FORMATS: dict[str, Callable[[str], str]] = {
    "plain": lambda p: p,
    "dashes": lambda p: grouped(p, "-"),
    "spaces": lambda p: grouped(p, " "),
    "dots": lambda p: grouped(p, "."),
    "underscores": lambda p: grouped(p, "_"),
    "colons": lambda p: grouped(p, ":"),
    "slashes": lambda p: grouped(p, "/"),
    "glued-to-letters": lambda p: "tx" + p + "z",
    "glued-dashed": lambda p: "order" + grouped(p, "-") + "end",
    "after-a-date": lambda p: "2024-06-01-" + grouped(p, "-"),
    "fullwidth-digits": lambda p: "tx" + p.translate(_FULLWIDTH),
    "commas": lambda p: grouped(p, ","),
    "plus": lambda p: grouped(p, "+"),
    "pipes": lambda p: grouped(p, "|"),
    "asterisks": lambda p: grouped(p, "*"),
    "hashes": lambda p: grouped(p, "#"),
    "parentheses": lambda p: "(" + grouped(p, ")(") + ")",
    "zero-width-spaces": lambda p: grouped(p, "\u200b"),
    "letter-o": lambda p: grouped(p, "O"),
    "comma-space": lambda p: grouped(p, ", "),
    "superscript-digits": lambda p: "id" + p.translate(_SUPERSCRIPT),
}
# Characters a card token may hold (pattern [A-Za-z0-9_.:-]): the separators that pass it.
TOKEN_FORMATS = ["dashes", "dots", "underscores", "colons", "glued-to-letters", "glued-dashed"]


def _assert_refused_without_echo(r: Any, field: str, pan: str, value: str) -> None:
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert r.json()["error"]
    for leaked in (pan, value, pan[:6], pan[:-4], pan[-8:]):
        assert leaked not in r.text


@pytest.mark.parametrize("fmt", TOKEN_FORMATS)
@pytest.mark.parametrize("length", [12, 16, 19])
def test_card_token_holding_a_formatted_pan_is_refused(
    service: Service, fmt: str, length: int
) -> None:
    """card_token with a separated or glued Luhn-valid 12-19 digit run: 422 $.card_token, no echo,
    no audit record."""
    before = len(service.audit_lines())
    pan = make_pan(length)
    value = FORMATS[fmt](pan)
    r = service.score(card_token=value)
    _assert_refused_without_echo(r, "$.card_token", pan, value)
    assert len(service.audit_lines()) == before


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("field", ["transaction_id", "merchant_id", "device_id"])
def test_free_text_field_holding_a_pan_is_refused(service: Service, field: str, fmt: str) -> None:
    """An identifier holding a PAN in any format is a 422 naming the field, never echoing it,
    and leaves no audit record."""
    before = len(service.audit_lines())
    pan = make_pan()
    value = FORMATS[fmt](pan)
    r = service.score(**{field: value})
    _assert_refused_without_echo(r, f"$.{field}", pan, value)
    assert len(service.audit_lines()) == before


def test_pan_in_the_pan_field_and_an_identifier_is_still_refused(service: Service) -> None:
    """A valid pan does not excuse the same number in transaction_id."""
    pan = make_pan()
    r = service.score(pan=pan, transaction_id="tx-" + grouped(pan, " "))
    _assert_refused_without_echo(r, "$.transaction_id", pan, grouped(pan, " "))


def _luhn_digits(n: int) -> str:
    """``n`` random Luhn-valid digits starting with 1, not registered as a sent PAN (they only play
    the part of hex digits that happen to be decimal inside an id)."""
    body = "1" + "".join(secrets.choice("0123456789") for _ in range(n - 2))
    return body + luhn_check_digit(body)


def _not_luhn(pan: str) -> str:
    """``pan`` with a wrong check digit (not registered for the scan: it is no card number)."""
    return pan[:-1] + str((int(pan[-1]) + 1) % 10)


@pytest.mark.parametrize(
    "make_value",
    [
        lambda: "tx" + _not_luhn(make_pan()),  # one run of 16 digits, Luhn fails
        lambda: "tx-" + "-".join([(w := _not_luhn(make_pan()))[:8], w[8:]]),  # 8+8 groups
        lambda: "tx-" + grouped(make_pan()[:11], "-"),  # 11 digits: too short for a PAN
        # 21 digits unbroken: not searched for 12-19 digit windows (most would be Luhn-valid).
        lambda: "tx" + "".join(secrets.choice("0123456789") for _ in range(21)),
        # A UUID whose last group is all digits and Luhn-valid: a UUID, not a card number.
        lambda: "tx-" + str(uuid.uuid4())[:24] + _luhn_digits(12),
        # A digest-like hex word (32+ hex characters) with a Luhn-valid decimal stretch.
        lambda: "sha-ab" + _luhn_digits(16) + secrets.token_hex(8),
    ],
    ids=[
        "luhn-fails",
        "luhn-fails-grouped",
        "eleven-digits",
        "over-19-digits",
        "uuid-digit-tail",
        "hex-digest",
    ],
)
def test_ordinary_numeric_identifiers_are_accepted(
    service: Service, make_value: Callable[[], str]
) -> None:
    """Digit runs that are no card number (Luhn fails, < 12 or > 19 digits unbroken) pass and are
    echoed unchanged."""
    value = make_value()
    r = service.score(transaction_id=value)
    assert r.status_code == 200, r.text
    assert r.json()["transaction_id"] == value


def test_infer_id_holding_a_pan_is_refused(service: Service) -> None:
    """The V2 infer id (echoed in the answer) holding a PAN is a 400 on $.id without echo."""
    pan = make_pan()
    value = "req-" + grouped(pan, ".")
    tensor = {"name": "input", "shape": [1, N_FEATURES], "datatype": "FP32"}
    tensor["data"] = [0.0] * N_FEATURES
    r = service.client.post("/v2/models/fraud/infer", json={"id": value, "inputs": [tensor]})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "$.id"
    for leaked in (pan, value, pan[:6], pan[:-4]):
        assert leaked not in r.text


def test_detector_windows_and_limits() -> None:
    """contains_pan: found after other digit groups and in any digit script; not in Luhn-failing
    or short runs; a 20-digit unbroken number is not searched for windows."""
    pan = make_pan()
    assert contains_pan(pan)
    assert contains_pan("2024 06 01 12:00 " + grouped(pan, " ") + " 77")
    assert contains_pan("id" + pan.translate(_ARABIC_INDIC))
    assert contains_pan("a" + grouped(pan, "\t") + "b")
    assert not contains_pan(_not_luhn(pan))
    assert not contains_pan(grouped(pan[:11], "-"))
    assert not contains_pan("")
    assert not contains_pan("tx-" + "ab" * 60)
    # Hex masking stops at word boundaries: a short hex-looking glue still counts.
    assert contains_pan("ab" + pan + "cd")
    assert contains_pan(str(uuid.uuid4()) + " " + grouped(pan, "-"))


@settings(max_examples=300, deadline=None)
@given(
    body=st.text("0123456789", min_size=11, max_size=18),
    seps=st.lists(
        st.sampled_from(
            [
                "",
                "",
                "-",
                " ",
                ".",
                "_",
                ":",
                "/",
                "\t",
                "--",
                ",",
                "+",
                "|",
                "*",
                "#",
                ")(",
                "\u200b",
                "\u2060",
                "O",
                ", ",
                "\u00a0",
                "~",
                ";",
            ]
        ),
        max_size=18,
    ),
    prefix=st.text("ghijklmnopqrstuvwxyz#", max_size=6),
    suffix=st.text("ghijklmnopqrstuvwxyz#", max_size=6),
)
def test_detector_finds_any_separated_pan(
    body: str, seps: list[str], prefix: str, suffix: str
) -> None:
    """Any Luhn-valid 12-19 digit number, separators anywhere between its digits, glued to letters
    on either side, is found; unseparated with its check digit broken, it is not."""
    pan = body + luhn_check_digit(body)  # synthetic, drawn by Hypothesis; never sent anywhere
    assume(plausible_iin(pan))
    cuts = (seps + [""] * len(pan))[: len(pan) - 1]
    spread = "".join(d + s for d, s in zip(pan, [*cuts, ""], strict=True))
    assert contains_pan(prefix + spread + suffix)
    assert not contains_pan(prefix + _not_luhn(pan) + suffix)
