"""The independent audit verifier: tampering, deletion, truncation, missing segments, PANs, golden.

Trails are written by the real writer into tmp_path and then damaged the way an attacker or a
crash would; the verifier must name the first bad record by kind, file, line and seq.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import hashlib
import json
import random
import shutil
import tempfile
from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.audit import (
    AuditReport,
    ProblemKind,
    load_audit_key,
    render_text,
    report_json,
    verify_directory,
)
from harness.errors import ArtifactError, UsageError
from harness.pan_scan import luhn_valid, pan_columns
from reference_service.audit import AuditRecord, AuditTrail

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "audit"
#: The format-2 golden trail as committed before format 3: v2 trails must keep verifying.
GOLDEN_V2_DIR = Path(__file__).resolve().parent / "golden" / "audit-v2"
GOLDEN_KEY = bytes.fromhex("5a" * 32)  # test-only key of the committed golden trail
HARNESS_AUDIT = Path(__file__).resolve().parent.parent / "harness" / "audit"


def vector(*values: float) -> dict[str, object]:
    """The format-3 members of a record scoring ``values`` (float32): bytes, hash, schema."""
    raw = np.array(values or range(15), dtype="<f4").tobytes()
    missing = tuple(f"f{i}" for i, v in enumerate(values) if v != v)
    return {
        "features": raw,
        "feature_hash": hashlib.sha256(raw).hexdigest(),
        "feature_schema": "fraud-features-1",
        "missing_features": missing,
    }


def record(i: int, *, transaction_id: str | None = None, score: float = 0.25) -> AuditRecord:
    """A valid record; ``transaction_id`` defaults to ``t<i>``."""
    return AuditRecord(
        ts=f"2025-01-31T23:59:{i % 60:02d}.{i:06d}Z",
        request_id=f"r{i}",
        transaction_id=f"t{i}" if transaction_id is None else transaction_id,
        card_token="ct_tok",
        last4="4242",
        model_version="gbt-1",
        model_sha256="ab" * 32,
        score=score,
        decision="approve",
        thresholds_version="default-1",
        reason_codes=("LOW_RISK",),
        degraded=False,
        latency_ms=1.5,
        **vector(),  # type: ignore[arg-type]  # the vector members come from vector()
    )


def write_trail(
    directory: Path,
    records: list[AuditRecord],
    *,
    key: bytes = KEY,
    stream_id: str = "s1",
    segment_max_bytes: int = 64 << 20,
) -> None:
    """Write ``records`` as one stream with the real writer (durable mode)."""

    async def body() -> None:
        trail = AuditTrail(directory, key, stream_id=stream_id, segment_max_bytes=segment_max_bytes)
        await trail.start()
        for rec in records:
            await trail.append(rec)
        await trail.close()

    asyncio.run(asyncio.wait_for(body(), timeout=20))


def only_problem(report: AuditReport) -> tuple[ProblemKind, str, int | None, int | None]:
    """(kind, file, line, seq) of the single problem the report must hold."""
    assert not report.ok
    assert len(report.problems) == 1, report.problems
    p = report.problems[0]
    return p.kind, p.file, p.line, p.seq


def segment(directory: Path, number: int = 1, stream: str = "s1") -> Path:
    return directory / f"audit-{stream}-{number:06d}.jsonl"


def synthetic_pan(rng: random.Random, length: int = 16) -> str:
    """A random Luhn-valid number starting with 4 (synthetic; generated, never stored)."""
    body = "4" + "".join(rng.choice("0123456789") for _ in range(length - 2))
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


@pytest.fixture
def trail10(tmp_path: Path) -> Path:
    write_trail(tmp_path, [record(i) for i in range(10)])
    return tmp_path


def test_intact_trail_verifies(trail10: Path) -> None:
    """An untouched trail is intact with its exact record count and head."""
    report = verify_directory(trail10, KEY)
    assert report.ok
    assert report.record_count == 10
    (stream,) = report.streams
    assert stream.last_seq == 9
    last = json.loads(segment(trail10).read_bytes().splitlines()[-1])
    assert stream.head_mac == last["mac"]


def test_tampered_score_is_reported_at_its_position(trail10: Path) -> None:
    """Changing one record's score is TAMPERED at that record's line and seq."""
    seg = segment(trail10)
    lines = seg.read_bytes().splitlines(keepends=True)
    assert b'"score":0.25' in lines[4]
    lines[4] = lines[4].replace(b'"score":0.25', b'"score":0.05')
    seg.write_bytes(b"".join(lines))
    assert only_problem(verify_directory(trail10, KEY)) == (
        ProblemKind.TAMPERED,
        seg.name,
        5,
        4,
    )
    assert verify_directory(trail10, KEY).record_count == 4


def test_deleted_record_is_a_seq_gap(trail10: Path) -> None:
    """Removing record 6 is reported as SEQ_GAP at seq 6, on the line that now follows 5."""
    seg = segment(trail10)
    lines = seg.read_bytes().splitlines(keepends=True)
    del lines[6]
    seg.write_bytes(b"".join(lines))
    kind, file, line, seq = only_problem(verify_directory(trail10, KEY))
    assert (kind, file, line, seq) == (ProblemKind.SEQ_GAP, seg.name, 7, 6)


def test_deleted_last_record_of_segment_breaks_the_next(tmp_path: Path) -> None:
    """Deleting a segment's last record shows up at the next segment's first record."""
    write_trail(tmp_path, [record(i) for i in range(6)], segment_max_bytes=1400)
    first = segment(tmp_path, 1)
    lines = first.read_bytes().splitlines(keepends=True)
    n_first = len(lines)
    first.write_bytes(b"".join(lines[:-1]))
    kind, file, line, seq = only_problem(verify_directory(tmp_path, KEY))
    assert (kind, file, line, seq) == (
        ProblemKind.SEQ_GAP,
        segment(tmp_path, 2).name,
        1,
        n_first - 1,
    )


def test_spliced_record_from_another_chain_is_a_broken_link(tmp_path: Path) -> None:
    """An authentic record with the right seq but from a different chain breaks the link."""
    write_trail(tmp_path / "a", [record(i) for i in range(6)])
    write_trail(tmp_path / "b", [record(i, transaction_id=f"other{i}") for i in range(6)])
    seg_a, seg_b = segment(tmp_path / "a"), segment(tmp_path / "b")
    lines_a = seg_a.read_bytes().splitlines(keepends=True)
    lines_a[3] = seg_b.read_bytes().splitlines(keepends=True)[3]
    seg_a.write_bytes(b"".join(lines_a))
    kind, _, line, seq = only_problem(verify_directory(tmp_path / "a", KEY))
    assert (kind, line, seq) == (ProblemKind.BROKEN_LINK, 4, 3)


def test_swapped_records_are_detected(trail10: Path) -> None:
    """Swapping two adjacent records is a SEQ_GAP at the first of them."""
    seg = segment(trail10)
    lines = seg.read_bytes().splitlines(keepends=True)
    lines[2], lines[3] = lines[3], lines[2]
    seg.write_bytes(b"".join(lines))
    kind, _, line, seq = only_problem(verify_directory(trail10, KEY))
    assert (kind, line, seq) == (ProblemKind.SEQ_GAP, 3, 2)


def test_torn_tail_is_truncated_tail(trail10: Path) -> None:
    """A file cut in the middle of its last record is TRUNCATED_TAIL; earlier records count."""
    seg = segment(trail10)
    data = seg.read_bytes()
    seg.write_bytes(data[: len(data) - 40])
    report = verify_directory(trail10, KEY)
    kind, file, line, seq = only_problem(report)
    assert (kind, file, line, seq) == (ProblemKind.TRUNCATED_TAIL, seg.name, 10, 9)
    assert report.record_count == 9


def test_missing_final_newline_is_truncated_tail(trail10: Path) -> None:
    """Even a complete last record without its newline is reported as a torn write."""
    seg = segment(trail10)
    seg.write_bytes(seg.read_bytes()[:-1])
    assert only_problem(verify_directory(trail10, KEY))[0] is ProblemKind.TRUNCATED_TAIL


def test_zero_filled_tail_is_truncated_tail(trail10: Path) -> None:
    """A crash that leaves NUL bytes after the last record is a torn tail, not tampering."""
    seg = segment(trail10)
    seg.write_bytes(seg.read_bytes() + b"\x00" * 300)
    kind, _, line, seq = only_problem(verify_directory(trail10, KEY))
    assert (kind, line, seq) == (ProblemKind.TRUNCATED_TAIL, 11, 10)


def test_removed_middle_segment(tmp_path: Path) -> None:
    """Deleting segment 2 of 4+ is MISSING_SEGMENT naming the missing file."""
    write_trail(tmp_path, [record(i) for i in range(12)], segment_max_bytes=1400)
    assert segment(tmp_path, 4).exists()
    n_first = len(segment(tmp_path, 1).read_bytes().splitlines())
    segment(tmp_path, 2).unlink()
    kind, file, line, seq = only_problem(verify_directory(tmp_path, KEY))
    assert (kind, file, line, seq) == (
        ProblemKind.MISSING_SEGMENT,
        segment(tmp_path, 2).name,
        None,
        n_first,
    )


def test_removed_first_segment(tmp_path: Path) -> None:
    """A stream whose segment 1 is gone is MISSING_SEGMENT at seq 0."""
    write_trail(tmp_path, [record(i) for i in range(6)], segment_max_bytes=1400)
    segment(tmp_path, 1).unlink()
    kind, file, _, seq = only_problem(verify_directory(tmp_path, KEY))
    assert (kind, file, seq) == (ProblemKind.MISSING_SEGMENT, segment(tmp_path, 1).name, 0)


def test_wrong_key_fails_at_record_zero(trail10: Path) -> None:
    """Verifying with another key is TAMPERED at the very first record."""
    kind, _, line, seq = only_problem(verify_directory(trail10, OTHER_KEY))
    assert (kind, line, seq) == (ProblemKind.TAMPERED, 1, 0)


def test_garbage_line_is_unparsable(trail10: Path) -> None:
    """A non-JSON line in the middle of a segment is UNPARSABLE at that line."""
    seg = segment(trail10)
    lines = seg.read_bytes().splitlines(keepends=True)
    lines.insert(3, b"not json\n")
    seg.write_bytes(b"".join(lines))
    kind, _, line, seq = only_problem(verify_directory(trail10, KEY))
    assert (kind, line, seq) == (ProblemKind.UNPARSABLE, 4, 3)


def _canonical(obj: dict[str, object]) -> bytes:
    """Canonical bytes per docs/AUDIT_FORMAT.md, built with the standard library."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sealed(obj: dict[str, object], key: bytes) -> bytes:
    """A line with a valid MAC over ``obj`` (which may break other rules on purpose)."""
    import hashlib
    import hmac

    body = _canonical(obj)
    mac = hmac.new(key, body, hashlib.sha256).hexdigest()
    return body[:-1] + f',"mac":"{mac}"}}\n'.encode()


def test_authentic_record_missing_a_member(trail10: Path) -> None:
    """A correctly MAC'd record lacking a member is MISSING_FIELD, not TAMPERED."""
    seg = segment(trail10)
    lines = seg.read_bytes().splitlines(keepends=True)
    obj = json.loads(lines[2])
    del obj["mac"], obj["feature_hash"]
    lines[2] = _sealed(obj, KEY)
    seg.write_bytes(b"".join(lines))
    report = verify_directory(trail10, KEY)
    assert only_problem(report)[0] is ProblemKind.MISSING_FIELD
    assert "feature_hash" in report.problems[0].detail


def test_authentic_record_with_invalid_member(trail10: Path) -> None:
    """A correctly MAC'd record with an impossible decision is INVALID_FIELD."""
    seg = segment(trail10)
    lines = seg.read_bytes().splitlines(keepends=True)
    obj = json.loads(lines[2])
    del obj["mac"]
    obj["decision"] = "maybe"
    lines[2] = _sealed(obj, KEY)
    seg.write_bytes(b"".join(lines))
    kind, _, line, seq = only_problem(verify_directory(trail10, KEY))
    assert (kind, line, seq) == (ProblemKind.INVALID_FIELD, 3, 2)


def test_version_1_record_without_thresholds_version_is_missing_field(trail10: Path) -> None:
    """An authentic format-1 record (no thresholds_version) is MISSING_FIELD naming the member."""
    seg = segment(trail10)
    lines = seg.read_bytes().splitlines(keepends=True)
    obj = json.loads(lines[0])
    del obj["mac"], obj["thresholds_version"]
    obj["v"] = 1
    lines[0] = _sealed(obj, KEY)
    seg.write_bytes(b"".join(lines))
    report = verify_directory(trail10, KEY)
    kind, _, line, seq = only_problem(report)
    assert (kind, line, seq) == (ProblemKind.MISSING_FIELD, 1, 0)
    assert report.problems[0].detail == "missing member(s): thresholds_version"


def test_empty_thresholds_version_is_invalid_field(trail10: Path) -> None:
    """An authentic record with an empty thresholds_version is INVALID_FIELD."""
    seg = segment(trail10)
    lines = seg.read_bytes().splitlines(keepends=True)
    obj = json.loads(lines[1])
    del obj["mac"]
    obj["thresholds_version"] = ""
    lines[1] = _sealed(obj, KEY)
    seg.write_bytes(b"".join(lines))
    report = verify_directory(trail10, KEY)
    kind, _, line, seq = only_problem(report)
    assert (kind, line, seq) == (ProblemKind.INVALID_FIELD, 2, 1)
    assert "thresholds_version" in report.problems[0].detail


def test_writer_lines_match_the_documented_canonical_form(trail10: Path) -> None:
    """Each line is the stdlib-canonical body (sorted, compact, UTF-8) with mac spliced last."""
    for line in segment(trail10).read_bytes().splitlines(keepends=True):
        obj = json.loads(line)
        del obj["mac"]
        assert _sealed(obj, KEY) == line


def test_pan_in_a_record_is_flagged_without_echoing_it(tmp_path: Path) -> None:
    """A Luhn-valid PAN written into any member is PAN_PRESENT; reports never contain it."""
    rng = random.Random(7)
    pan = synthetic_pan(rng)
    write_trail(tmp_path, [record(0), record(1, transaction_id=f"order {pan}"), record(2)])
    report = verify_directory(tmp_path, KEY)
    kind, _, line, seq = only_problem(report)
    assert (kind, line, seq) == (ProblemKind.PAN_PRESENT, 2, 1)
    assert report.pan_lines == 1
    assert pan not in render_text(report)
    assert pan.encode() not in report_json(report)


def test_pan_scanner_rules() -> None:
    """PAN-like runs and 4-digit groups are found; digests, UUIDs, floats and non-Luhn are not."""
    rng = random.Random(11)
    pan = synthetic_pan(rng)
    assert pan_columns(f'"x":"{pan}"'.encode()) == [5]
    grouped = " ".join(pan[i : i + 4] for i in range(0, 16, 4))
    assert pan_columns(grouped.encode()) == [0]
    assert pan_columns(("-".join(pan[i : i + 4] for i in range(0, 16, 4))).encode()) == [0]
    not_luhn = pan[:-1] + str((int(pan[-1]) + 1) % 10)
    assert pan_columns(not_luhn.encode()) == []
    assert pan_columns(f"0{pan[1:]}".encode()) == []  # no card range starts with 0
    assert pan_columns(f"ab{pan}cd".encode()) == []  # glued to letters: inside a digest/token
    assert pan_columns(f"0.{pan}".encode()) == []  # digits of a float's fraction
    uuid = f"1234abcd-0000-4000-8000-{synthetic_pan(rng, 12)}"
    assert pan_columns(uuid.encode()) == []


def test_no_false_pan_findings_on_realistic_records(tmp_path: Path) -> None:
    """Thousands of records with UUID ids, random digests and scores raise no PAN finding."""
    import hashlib
    import uuid

    rng = random.Random(3)
    lines: list[bytes] = []
    for i in range(3000):
        obj: dict[str, object] = {
            "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "transaction_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "score": rng.random(),
            "latency_ms": rng.random() * 10,
            "feature_hash": hashlib.sha256(str(i).encode()).hexdigest(),
            "prev": hashlib.sha256(str(-i).encode()).hexdigest(),
            "ts": f"2025-01-31T23:59:59.{rng.randrange(10**6):06d}Z",
        }
        lines.append(_canonical(obj))
    assert [line for line in lines if pan_columns(line)] == []


def test_several_streams_report_separately(tmp_path: Path) -> None:
    """A broken stream does not hide or taint the others; each has its own report."""
    write_trail(tmp_path, [record(i) for i in range(4)], stream_id="a1")
    write_trail(tmp_path, [record(i) for i in range(5)], stream_id="b2")
    seg = segment(tmp_path, 1, "b2")
    seg.write_bytes(seg.read_bytes()[:-10])
    report = verify_directory(tmp_path, KEY)
    assert [(s.stream, s.ok, s.records) for s in report.streams] == [
        ("a1", True, 4),
        ("b2", False, 4),
    ]
    assert report.record_count == 8
    assert only_problem(report)[0] is ProblemKind.TRUNCATED_TAIL


def test_empty_directory_and_ignored_files(tmp_path: Path) -> None:
    """An empty trail is intact with zero records; stray files are listed as ignored."""
    (tmp_path / "notes.txt").write_text("hello\n")
    report = verify_directory(tmp_path, KEY)
    assert report.ok
    assert report.record_count == 0
    assert report.ignored == ("notes.txt",)
    assert "no audit segments found" in render_text(report)


def test_missing_directory_is_an_artifact_error(tmp_path: Path) -> None:
    """A directory that does not exist is a usage-class error, not a verdict."""
    with pytest.raises(ArtifactError, match="cannot read audit directory"):
        verify_directory(tmp_path / "absent", KEY)


def test_text_and_json_renderings(trail10: Path) -> None:
    """Text names the verdict and count; JSON carries streams and problems with stable keys."""
    seg = segment(trail10)
    seg.write_bytes(seg.read_bytes()[:-5])
    report = verify_directory(trail10, KEY)
    text = render_text(report)
    assert "BROKEN: 9 records verified in 1 stream" in text
    assert f"TRUNCATED_TAIL stream s1 at {seg.name} line 10 seq 9" in text
    doc = json.loads(report_json(report))
    assert doc["ok"] is False
    assert doc["record_count"] == 9
    assert doc["problems"][0]["kind"] == "truncated_tail"
    assert doc["streams"][0]["records"] == 9


def test_load_audit_key_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--key-file beats $SLO_AUDIT_KEY_FILE beats $SLO_AUDIT_KEY; short keys are usage errors."""
    f1, f2 = tmp_path / "one", tmp_path / "two"
    f1.write_text(KEY.hex())
    f2.write_text(OTHER_KEY.hex() + "\n")
    monkeypatch.setenv("SLO_AUDIT_KEY", "ee" * 32)
    monkeypatch.setenv("SLO_AUDIT_KEY_FILE", str(f2))
    assert load_audit_key(f1) == KEY
    assert load_audit_key() == OTHER_KEY
    monkeypatch.delenv("SLO_AUDIT_KEY_FILE")
    assert load_audit_key() == bytes.fromhex("ee" * 32)
    monkeypatch.setenv("SLO_AUDIT_KEY", "ee" * 8)
    with pytest.raises(UsageError, match=r"\$SLO_AUDIT_KEY is 8 bytes"):
        load_audit_key()
    monkeypatch.delenv("SLO_AUDIT_KEY")
    with pytest.raises(UsageError, match="no audit key"):
        load_audit_key()
    with pytest.raises(UsageError, match="cannot read"):
        load_audit_key(tmp_path / "absent")


def test_verifier_does_not_import_the_service() -> None:
    """harness/audit imports nothing from reference_service (it is an independent auditor)."""
    for path in HARNESS_AUDIT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "reference_service" for n in names), path


@pytest.fixture(scope="module")
def small_segment(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    directory = tmp_path_factory.mktemp("small")
    write_trail(directory, [record(i, score=0.1 * i) for i in range(3)])
    return segment(directory).read_bytes()


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_is_detected(small_segment: bytes, data: st.DataObject) -> None:
    """Changing any one byte of a segment to any other value makes the trail fail."""
    pos = data.draw(st.integers(0, len(small_segment) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != small_segment[pos]), label="byte")
    damaged = bytearray(small_segment)
    damaged[pos] = value
    with tempfile.TemporaryDirectory() as tmp:
        segment(Path(tmp)).write_bytes(bytes(damaged))
        report = verify_directory(Path(tmp), KEY)
    assert not report.ok


# -- golden trail: the committed format must keep verifying and the writer must reproduce it --


def golden_records() -> list[AuditRecord]:
    """Fixed records covering null last4, degraded, empty reasons, UTF-8 and long floats."""
    base = record(0)
    return [
        base,
        AuditRecord(
            ts="2025-02-01T00:00:00.000001Z",
            request_id="5b0e8e3c-5d1f-4c2a-9a47-0c1f3e2d4b6a",
            transaction_id="txn-é-ü-2",
            card_token="ct_AbC-dEf_123",
            last4=None,
            model_version="gbt-1",
            model_sha256="ab" * 32,
            score=0.12345678901234568,
            decision="review",
            thresholds_version="risk-2025.02-ü",
            reason_codes=("VELOCITY_UNAVAILABLE", "COUNTRY_MISMATCH"),
            degraded=True,
            latency_ms=12.0,
            **vector(*([0.5] * 10 + [float("nan")] * 5)),  # type: ignore[arg-type]
        ),
        AuditRecord(
            ts="2025-02-01T00:00:01.999999Z",
            request_id="r3",
            transaction_id="t3",
            card_token="ct_x",
            last4="0000",
            model_version="gbt-1",
            model_sha256="ab" * 32,
            score=1.0,
            decision="decline",
            thresholds_version="v2",
            reason_codes=(),
            degraded=False,
            latency_ms=0.0,
            **vector(*([1e-30] * 15)),  # type: ignore[arg-type]
        ),
        *(record(i) for i in range(3, 8)),
    ]


def write_golden(directory: Path) -> None:
    """Write the golden trail into ``directory`` (which must not hold one already)."""
    write_trail(
        directory, golden_records(), key=GOLDEN_KEY, stream_id="golden", segment_max_bytes=1500
    )
    for lock in directory.glob(".audit-*.lock"):
        lock.unlink()


def test_golden_trail_verifies() -> None:
    """The committed golden trail (format version 3) is intact under its test key."""
    report = verify_directory(GOLDEN_DIR, GOLDEN_KEY)
    assert report.ok, report.problems
    assert report.record_count == len(golden_records())
    assert len(report.streams[0].segments) > 1


def test_format_2_golden_trail_still_verifies() -> None:
    """A trail written in format 2 (before the feature vector) still verifies intact."""
    report = verify_directory(GOLDEN_V2_DIR, GOLDEN_KEY)
    assert report.ok, report.problems
    assert report.record_count == 8
    first = json.loads(next(iter(sorted(GOLDEN_V2_DIR.iterdir()))).read_bytes().splitlines()[0])
    assert first["v"] == 2


def test_feature_hash_must_match_the_recorded_vector(tmp_path: Path) -> None:
    """A format-3 record whose feature_hash is not the SHA-256 of its features is INVALID_FIELD,
    even with a valid MAC (written by something other than the service)."""
    bad = msgspec.structs.replace(record(0), feature_hash="cd" * 32)
    write_trail(tmp_path, [record(0), bad])
    kind, _, line, seq = only_problem(verify_directory(tmp_path, KEY))
    assert (kind, line, seq) == (ProblemKind.INVALID_FIELD, 2, 1)


def test_writer_reproduces_the_golden_trail(tmp_path: Path) -> None:
    """Today's writer produces byte-identical files for the golden records (format is stable)."""
    write_golden(tmp_path)
    produced = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in GOLDEN_DIR.iterdir()}
    assert produced == committed


def _regenerate() -> None:
    """Rewrite tests/golden/audit (only after a deliberate format change)."""
    shutil.rmtree(GOLDEN_DIR, ignore_errors=True)
    GOLDEN_DIR.parent.mkdir(parents=True, exist_ok=True)
    write_golden(GOLDEN_DIR)
    GOLDEN_DIR.chmod(0o755)  # committed files: the writer's 0700/0600 would only annoy checkouts
    for path in GOLDEN_DIR.iterdir():
        path.chmod(0o644)
    print(f"wrote {sorted(p.name for p in GOLDEN_DIR.iterdir())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="regenerate the golden audit trail")
    parser.add_argument("--regenerate-golden", action="store_true", required=True)
    parser.parse_args()
    _regenerate()
