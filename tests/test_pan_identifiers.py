"""A card number hidden in an identifier with any separator is found by every scanner, the same way.

The identifier rule lives twice (the service must not import the harness, the verifier must not
import the service): Hypothesis holds the two copies to the same answers, and both to the rule in
docs/AUDIT_FORMAT.md. False positives on ordinary ids are measured, not assumed.
"""

from __future__ import annotations

import random
import secrets
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_audit_verify import KEY, record, write_trail

from harness.audit import ProblemKind, verify_directory
from harness.pan_scan import find_pans, identifier_has_pan, luhn_check_digit, plausible_iin
from reference_service.pan import contains_pan

#: Every separator class of issue 10, plus the old ones.
SEPARATORS = {
    "comma": ",",
    "comma-space": ", ",
    "plus": "+",
    "pipe": "|",
    "asterisk": "*",
    "hash": "#",
    "parentheses": ")(",
    "zero-width-space": "\u200b",
    "word-joiner": "\u2060",
    "letter-O": "O",
    "letter-o": "o",
    "no-break-space": "\u00a0",
    "ideographic-space": "\u3000",
    "dash": "-",
    "space": " ",
    "dot": ".",
    "underscore": "_",
    "slash": "/",
    "colon": ":",
    "fullwidth-comma": "\uff0c",
}


def synthetic_pan(rng: random.Random, length: int = 16) -> str:
    """A Luhn-valid number in the 9999xx synthetic range (never an issued card)."""
    body = "9999" + "".join(rng.choice("0123456789") for _ in range(length - 5))
    return body + luhn_check_digit(body)


def grouped(pan: str, sep: str) -> str:
    return sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))


@pytest.mark.parametrize("name", sorted(SEPARATORS))
def test_every_separator_class_hides_nothing(name: str) -> None:
    """A 16-digit PAN in 4-digit groups joined by the separator is found by the identifier rule
    (service and harness copies) and by the document scanner; the document scanner finds no number
    with a wrong check digit."""
    rng = random.Random(name)
    sep = SEPARATORS[name]
    for _ in range(50):
        pan = synthetic_pan(rng)
        for text in (grouped(pan, sep), "tx" + grouped(pan, sep) + "z", f"({grouped(pan, sep)})"):
            assert contains_pan(text), name
            assert identifier_has_pan(text), name
        assert find_pans("card " + grouped(pan, sep) + " end") == [pan], name
        wrong = pan[:-1] + str((int(pan[-1]) + 1) % 10)
        assert find_pans(grouped(wrong, sep)) == []
        # (a 12-digit window of it may pass Luhn by chance; both copies must agree on it)
        assert identifier_has_pan(grouped(wrong, sep)) == contains_pan(grouped(wrong, sep))


def test_compatibility_digits_are_normalised() -> None:
    """Fullwidth, superscript and mathematical digits become ASCII digits under NFKC."""
    pan = synthetic_pan(random.Random(7))
    fullwidth = pan.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    bold = "".join(chr(0x1D7CE + int(d)) for d in pan)  # MATHEMATICAL BOLD DIGIT
    for text in (fullwidth, bold, "id-" + grouped(fullwidth, "\u200b")):
        assert contains_pan(text)
        assert identifier_has_pan(text)
        assert find_pans(text) == [pan]


_ALPHABET = "0123456789" * 4 + ",+|*#()-_ .:/Oox\u200b\u00a0ab٣"


@settings(max_examples=400, deadline=None)
@given(st.text(_ALPHABET, max_size=48))
def test_service_and_harness_rules_agree(text: str) -> None:
    """The service's contains_pan and the harness's identifier_has_pan give the same answer."""
    assert contains_pan(text) == identifier_has_pan(text)


@settings(max_examples=200, deadline=None)
@given(st.text("0123456789", min_size=11, max_size=18), st.data())
def test_service_and_harness_agree_on_hidden_pans(body: str, data: st.DataObject) -> None:
    """Random Luhn-valid numbers with random separators: both copies give the same answer, and a
    number that starts like an issued card is always found."""
    pan = body + luhn_check_digit(body)
    seps = data.draw(st.lists(st.sampled_from(["", *SEPARATORS.values()]), min_size=len(pan)))
    text = "".join(d + s for d, s in zip(pan, seps, strict=False))
    assert contains_pan(text) == identifier_has_pan(text)
    if plausible_iin(pan):
        assert identifier_has_pan(text)


def test_false_positive_rate_on_ordinary_identifiers() -> None:
    """Measured on 20,000 each: UUIDs, service request ids and letter-joined ids never trip the
    rule; random hex words and dashed order ids stay under 0.5% (their decimal-only stretches
    pass Luhn one time in ten; the IIN rule removes dates)."""
    rng = random.Random(1)
    n = 20_000

    def rate(make: object) -> float:
        assert callable(make)
        return sum(identifier_has_pan(make()) for _ in range(n)) / n

    assert rate(lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))) == 0.0
    assert rate(lambda: f"{rng.getrandbits(32):08x}r{rng.randrange(1 << 24):x}") == 0.0
    assert rate(lambda: f"syn{rng.randrange(10**6):x}s1n{rng.randrange(10**7):x}") == 0.0
    assert rate(lambda: "ct_" + secrets.token_urlsafe(32)) < 0.001
    assert rate(lambda: f"{rng.getrandbits(64):016x}") < 0.005
    order = lambda: (  # noqa: E731
        f"order-{rng.randint(2000, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        f"-{rng.randrange(10**6):06d}"
    )
    assert rate(order) < 0.005


def test_audit_verify_finds_a_pan_hidden_in_an_identifier(tmp_path: Path) -> None:
    """An authentic record whose transaction id hides a PAN behind pipes (written by something
    other than the service, which refuses it) is PAN_PRESENT, the digits never echoed."""
    pan = synthetic_pan(random.Random(3))
    hidden = "tx" + grouped(pan, "|")
    write_trail(tmp_path, [record(1, transaction_id=hidden)])
    report = verify_directory(tmp_path, KEY)
    kinds = [p.kind for p in report.problems]
    assert kinds == [ProblemKind.PAN_PRESENT]
    assert pan not in str(report.problems)
    assert pan[:12] not in str(report.problems)
