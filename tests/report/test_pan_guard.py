"""The PAN guard: no artifact may carry a Luhn-valid card number; machine tokens are exempt."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import IntegrityError
from harness.measure.histogram import LatencyHistogram
from harness.pan_scan import find_pans, luhn_check_digit
from harness.report.pan_guard import check_no_pans, mask_machine_tokens
from harness.report.stats import round_sig


def _pan(seed: int) -> str:
    """A synthetic Luhn-valid 16-digit test PAN built at runtime (never a literal)."""
    body = "4" + f"{seed:014d}"
    return body + luhn_check_digit(body)


@pytest.mark.parametrize("sep", ["", " ", "-"])
def test_a_pan_in_any_artifact_is_refused_without_echoing_it(sep: str) -> None:
    """A PAN (plain or grouped) anywhere in an artifact raises, naming the file, not the digits."""
    pan = _pan(12345)
    shown = sep.join(pan[i : i + 4] for i in range(0, 16, 4))
    with pytest.raises(IntegrityError) as info:
        check_no_pans({"summary.md": "ok\n", "report.html": f"<td>card {shown}</td>"})
    message = str(info.value)
    assert "report.html" in message
    assert "line 1" in message
    assert pan not in message
    assert pan[:6] not in message


def test_hex_digests_and_hdr_payloads_are_exempt() -> None:
    """SHA-256/SHA-1 hex and HDR base64 are masked, whatever digit runs they contain."""
    run = _pan(42)
    digest = run + "a" * 48  # 64 hex characters starting with a Luhn-valid 16-digit run
    payload = "HISTFAAAA" + run + "xyz=="
    assert find_pans(digest)
    assert find_pans(payload)
    check_no_pans({"MANIFEST.json": f'"sha256": "{digest}"'})  # ... the guard does not
    check_no_pans({"report.json": f'"encoded": "{payload}"'})


def test_only_whole_tokens_are_exempt() -> None:
    """A PAN glued to a longer hex-looking word is not mistaken for a digest."""
    pan = _pan(777)
    with pytest.raises(IntegrityError):
        check_no_pans({"x": f"id {pan}abc"})  # 19 chars, not a 40/64 digest


def test_svg_path_data_is_exempt_but_svg_text_is_not() -> None:
    """Glyph coordinates in d="..." are masked; a PAN elsewhere in the SVG is still caught."""
    glyph = '<path d="M 0 0 Q 2531 2678 2651 2914 L 1 1"/>'
    assert find_pans(glyph)
    check_no_pans({"report.html": glyph})
    with pytest.raises(IntegrityError):
        check_no_pans({"report.html": glyph + f"<!-- {_pan(9)} -->"})


def test_real_hdr_encodings_and_sha256_never_trip() -> None:
    """Real encodings and digests of many histograms pass the guard."""
    parts = []
    for seed in range(200):
        hist = LatencyHistogram()
        for value in range(1, 400, 1 + seed % 7):
            hist.record(value * 97 + seed)
        parts.append(hist.encode())
        parts.append(hashlib.sha256(str(seed).encode()).hexdigest())
    check_no_pans({"report.json": "\n".join(parts)})
    assert mask_machine_tokens(parts[0]) == "#" * len(parts[0])


@given(st.floats(min_value=0.0, max_value=1e9, allow_nan=False))
def test_rounded_numbers_never_look_like_a_pan(value: float) -> None:
    """Every float the writers print (six significant digits) is far shorter than a PAN."""
    assert find_pans(repr(round_sig(value))) == []
