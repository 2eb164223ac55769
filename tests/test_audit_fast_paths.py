"""The verifier's fast paths never change an answer: gated PAN scan == reference rules, and the
fast JSON parser == json.loads.

``harness.audit.pan_gate`` clears ordinary audit lines with one regex so replay and verify skip
the costly rules; if the gate ever cleared a line the rules would flag, a PAN would pass the
audit unseen. Hypothesis builds service-shaped records (orjson, sorted keys, as the writer does)
and plants Luhn-valid numbers in every member, key and number, in every separator class the
identifier rule knows, in fullwidth digits, JSON escapes, non-compact JSON and exponent forms,
and fuzzes raw JSON-ish bytes; the gated ``_pan_column`` must equal ``_pan_column_reference``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import struct

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from test_pan_identifiers import SEPARATORS

from harness.audit.pan_gate import line_is_clear
from harness.audit.pan_gate import pan_column as _pan_column
from harness.audit.pan_gate import pan_column_reference as _pan_column_reference
from harness.audit.record_shape import v3_members_valid
from harness.audit.verify import (
    _FIELDS_V3,
    _Chain,
    _check_members,
    _loads,
    decode_features,
)
from harness.pan_scan import luhn_check_digit

_MEMBERS = (
    "request_id", "transaction_id", "card_token", "last4", "model_version", "decision",
    "thresholds_version", "feature_schema", "stream", "ts", "mac", "prev", "model_sha256",
    "feature_hash", "features",
)  # fmt: skip


def _record(rng: random.Random, seq: int) -> dict[str, object]:
    """A record shaped like the service's (values random, members as docs/AUDIT_FORMAT.md)."""
    floats = [
        rng.choice([rng.random() * 5000, float(rng.randrange(30)), float("nan")]) for _ in range(15)
    ]
    raw = struct.pack("<15f", *floats)
    return {
        "v": 3, "stream": f"w{rng.randrange(9)}-{rng.getrandbits(16):x}", "seq": seq,
        "prev": rng.randbytes(32).hex(),
        "ts": f"2026-11-29T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
              f"{rng.randrange(60):02d}.{rng.randrange(10**6):06d}Z",
        "request_id": f"rq{rng.randrange(10**6):05d}z",
        "transaction_id": f"tx-{rng.randrange(10**5):05d}q{rng.getrandbits(20):05x}",
        "card_token": "ct_" + base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("="),
        "last4": f"{rng.randrange(10**4):04d}", "model_version": "1.0.0+263fe0773870",
        "model_sha256": rng.randbytes(32).hex(),
        "feature_hash": rng.randbytes(32).hex(),
        "score": rng.random() ** rng.randrange(1, 30), "decision": "approve",
        "thresholds_version": "default-1", "reason_codes": ["CARD_NOT_PRESENT", "CROSS_BORDER"],
        "degraded": False, "latency_ms": round(rng.random() * 100, 3),
        "features": base64.b64encode(raw).decode(), "feature_schema": "fraud-features-1",
        "missing_features": [], "mac": rng.randbytes(32).hex(),
    }  # fmt: skip


def _line(rec: dict[str, object]) -> bytes:
    mac = rec.pop("mac")
    return orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)[:-1] + f',"mac":"{mac}"}}'.encode()


def _pan(rng: random.Random, length: int) -> str:
    body = rng.choice(["4", "5", "9999", "37", "6011", "1", "2221", "0"])
    body += "".join(rng.choice("0123456789") for _ in range(length - 1 - len(body)))
    return body + luhn_check_digit(body)


def _dress(rng: random.Random, pan: str) -> str:
    """``pan`` in one of the forms a scanner knows (or a near miss)."""
    form = rng.randrange(7)
    if form == 0:
        return pan
    if form == 1:  # groups of 4 with one separator
        sep = rng.choice(list(SEPARATORS.values()))
        return sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))
    if form == 2:  # a random separator after random digits
        seps = [*SEPARATORS.values(), "", "", ""]
        return "".join(d + rng.choice(seps) for d in pan)
    if form == 3:  # fullwidth digits
        return "".join(chr(0xFF10 + int(d)) for d in pan)
    if form == 4:  # 4-6-5 / 4-6-4
        sep = rng.choice(" -.")
        return f"{pan[:4]}{sep}{pan[4:10]}{sep}{pan[10:]}"
    if form == 5:  # glued to letters, digits or a decimal
        return rng.choice(["x", "1", "1.5", "ab-", "O"]) + pan + rng.choice(["", "z", "9", ".5"])
    return pan[: rng.randrange(4, len(pan))]  # too short


def _planted(rng: random.Random) -> bytes:
    rec = _record(rng, rng.randrange(10**6))
    pan = _pan(rng, rng.randrange(12, 20))
    where = rng.randrange(6)
    if where <= 2:
        member = rng.choice(_MEMBERS)
        text = _dress(rng, pan)
        old = str(rec.get(member, ""))
        cut = rng.randrange(len(old) + 1)
        rec[member] = old[:cut] + text + old[cut:] if rng.random() < 0.5 else text
    elif where == 3:  # a number member holds it
        rec[rng.choice(["seq", "score", "latency_ms"])] = rng.choice(
            [
                int(pan),
                float(pan),
                float(f"0.{pan}"),
                float(f"{pan[:4]}.{pan[4:]}"),
                float(f"{pan}e5"),
                int(pan[:11]),
            ]
        )
    elif where == 4:  # a key, or a list item
        rec[rng.choice(["reason_codes", "missing_features"])] = [_dress(rng, pan)]
        rec[f"x{_dress(rng, pan)}"] = "y"
    else:
        rec["features"] = (
            base64.b64encode(rng.randbytes(30)).decode()
            + rng.choice(["+", "/", "A"])
            + pan
            + rng.choice(["/", "=", "B"])
        )
    line = _line(rec)
    style = rng.randrange(5)
    if style == 4:  # bare digit groups outside any string (not JSON; the strict rule still reads)
        grouped = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
        bare = rng.choice([grouped, f"1e-{pan}", f"1E+{pan}", f"-{pan}", f"{pan}e-5"])
        line = line[:-1] + f',"n":{bare}}}'.encode()
    if style == 1:  # escaped non-ASCII, non-compact
        line = json.dumps(json.loads(line)).encode()
    elif style == 2:  # a digit written as a JSON escape
        line = line.replace(b"1", b"\\u0031", rng.randrange(1, 4))
    return line


def _agree(line: bytes) -> None:
    expected = _pan_column_reference(line)
    assert _pan_column(line) == expected, line
    if expected is not None:
        assert not line_is_clear(line)


@settings(max_examples=100, deadline=None)
@given(st.randoms(use_true_random=False))
def test_gated_scan_equals_the_reference_on_planted_pans(rng: random.Random) -> None:
    """Service-shaped lines with a PAN planted anywhere, in any known form: same answer."""
    _agree(_planted(rng))


_FUZZ = "0123456789" * 3 + '"{}[],:.-+eEOo _/=|*#xaf\\\u00a0\uff11'


@settings(max_examples=200, deadline=None)
@given(st.text(_FUZZ, max_size=80))
def test_gated_scan_equals_the_reference_on_fuzzed_bytes(text: str) -> None:
    """Arbitrary JSON-ish text (broken quotes, escapes, non-ASCII): same answer."""
    _agree(text.encode())
    _agree(b'{"transaction_id":"' + text.encode() + b'","score":0.5}')


def test_planted_pans_are_found_and_ordinary_records_are_cleared() -> None:
    """On 2,000 seeded planted lines the reference finds PANs in a few hundred and the gate clears
    none of those; 500 ordinary service-shaped records are all cleared by the gate (the reason
    replay is fast), and their scan finds nothing."""
    rng = random.Random(14)
    found = 0
    for _ in range(2000):
        line = _planted(rng)
        if _pan_column_reference(line) is not None:
            found += 1
            assert _pan_column(line) is not None
    assert found > 400
    ordinary = [_line(_record(rng, i)) for i in range(500)]
    assert all(line_is_clear(line) for line in ordinary)
    assert all(_pan_column_reference(line) is None for line in ordinary)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_NUMBER = st.from_regex(r"\A-?(?:0|[1-9][0-9]{0,30})(?:\.[0-9]{1,30})?(?:[eE][+-]?[0-9]{1,3})?\Z")


@settings(max_examples=60, deadline=None)
@given(_JSON, st.booleans(), _NUMBER, st.binary(max_size=40))
def test_fast_json_gives_what_json_loads_gives(
    value: object, ascii_only: bool, number: str, junk: bytes
) -> None:
    """Documents (big integers, any float, any text, escaped or raw UTF-8), number spellings and
    junk: the verifier's parser returns exactly json.loads's value, or raises where it raises."""
    for raw in (
        json.dumps(value, ensure_ascii=ascii_only).encode(),
        f'{{"score":{number}}}'.encode(),
        junk,
        b'{"a":' + junk + b"}",
    ):
        try:
            expected = json.loads(raw)
        except ValueError:
            try:
                _loads(raw)
            except ValueError:
                continue
            raise AssertionError(f"{raw!r} parsed, json.loads refuses it") from None
        assert repr(_loads(raw)) == repr(expected)


def test_gate_edges() -> None:
    """Hand-picked edges of the gate: 11 digits pass and 12 do not, in numbers, exponents, free
    text (an O counts as a digit) and the vector; a digest with a 12-digit run is still clear."""
    rec = _record(random.Random(1), 7)
    pan12 = "4" + "0" * 10
    pan12 += luhn_check_digit(pan12)
    cases: list[tuple[str, object, bool]] = [
        ("seq", int(pan12[:11]), True),
        ("seq", int(pan12), False),
        ("transaction_id", "tx-" + pan12[:11], True),
        ("transaction_id", "tx-" + pan12[:11] + "O", False),
        ("transaction_id", "tx-" + "-".join(pan12), False),
        ("features", "AAAA+" + pan12[:11] + "/AAA", True),
        ("features", "AAAA+" + pan12 + "/AAA", False),
        ("prev", "a" + pan12 + "b" * 51, True),
    ]
    for member, value, clear in cases:
        line = _line({**rec, member: value})
        assert line_is_clear(line) is clear, (member, value)
        _agree(line)
    exp = _line(dict(rec))[:-1] + f',"n":1e-{pan12}}}'.encode()
    assert not line_is_clear(exp)
    assert _pan_column_reference(exp) is not None


_ODD_VALUES: tuple[object, ...] = (
    None, True, False, 0, -1, 2, 3, 3.0, 2**70, 1.5, -0.5, float("nan"), float("inf"), "", "x",
    "3", "approve", "1234", "12345", "\u0663\u0664\u0665\u0666", "1234\n", "ab" * 32, "AB" * 32,
    "ab" * 32 + "\n", "2026-11-29T23:13:39.721616Z", "2026-11-29T23:13:39.721616Z\n", [], ["x"],
    [1], {},
)  # fmt: skip
_CHECKED = (*_MEMBERS, "v", "seq", "score", "latency_ms", "degraded", "reason_codes",
            "missing_features")  # fmt: skip


def test_fast_member_check_implies_the_table() -> None:
    """Every member replaced by each odd value, or removed: the C-level check passes a record only
    when the verifier's predicate table passes it (and it passes the ordinary record)."""
    base = json.loads(_line(_record(random.Random(2), 5)))
    assert v3_members_valid(base)
    chain = _Chain(stream="s", mac=hmac.new(b"k" * 32, digestmod=hashlib.sha256))
    for member in _CHECKED:
        for value in (*_ODD_VALUES, KeyError):
            obj = dict(base)
            if value is KeyError:
                del obj[member]
            else:
                obj[member] = value
            # the caller's fast path: the C-level check, then the vector's decoding
            fast = v3_members_valid(obj) and decode_features(obj["features"]) is not None
            table = _check_members(chain, obj, _FIELDS_V3, "f", 1) is None
            assert not fast or table, (member, value)
