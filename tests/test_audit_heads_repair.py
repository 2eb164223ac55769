"""Hole 5 of issue 10: a vanished tail is caught against a recorded head; torn tails are repaired
as documented (quarantine + chained repair record), and nothing else is."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_audit_verify import KEY, record, segment, write_trail

from harness.audit import Head, ProblemKind, parse_head, repair_directory, verify_directory
from harness.cli import cli
from harness.errors import UsageError


def _head(directory: Path, stream: str = "s1") -> Head:
    s = next(s for s in verify_directory(directory, KEY).streams if s.stream == stream)
    assert s.last_seq is not None
    assert s.head_mac is not None
    return Head(stream, s.last_seq, s.head_mac)


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    write_trail(tmp_path, [record(i) for i in range(10)], segment_max_bytes=2048)
    return tmp_path


def test_removed_newest_records_fail_only_against_the_head(trail: Path) -> None:
    """Cutting the two newest records verifies without an anchor (the documented limit) and
    fails with HEAD_MISSING against the recorded head."""
    head = _head(trail)
    last = sorted(trail.glob("audit-s1-*.jsonl"))[-1]
    lines = last.read_bytes().splitlines(keepends=True)
    last.write_bytes(b"".join(lines[:-2]))
    assert verify_directory(trail, KEY).ok
    report = verify_directory(trail, KEY, (head,))
    assert [p.kind for p in report.problems] == [ProblemKind.HEAD_MISSING]
    assert report.problems[0].seq == head.seq


def test_removed_last_segment_or_all_segments_fail_against_the_head(trail: Path) -> None:
    """Deleting the newest segment, then every segment, is caught by the expected head."""
    head = _head(trail)
    segs = sorted(trail.glob("audit-s1-*.jsonl"))
    assert len(segs) > 1
    segs[-1].unlink()
    assert verify_directory(trail, KEY).ok
    assert not verify_directory(trail, KEY, (head,)).ok
    for s in segs[:-1]:
        s.unlink()
    report = verify_directory(trail, KEY, (head,))
    assert not report.ok
    assert [p.kind for p in report.problems] == [ProblemKind.HEAD_MISSING]


def test_a_grown_chain_still_holds_the_recorded_head(tmp_path: Path) -> None:
    """A head recorded earlier verifies while the stream grows; a wrong mac at that seq fails."""
    write_trail(tmp_path, [record(i) for i in range(5)])
    head = _head(tmp_path)
    assert verify_directory(tmp_path, KEY, (head,)).ok
    wrong = Head(head.stream, head.seq, "0" * 64)
    report = verify_directory(tmp_path, KEY, (wrong,))
    assert [p.kind for p in report.problems] == [ProblemKind.HEAD_MISSING]


def test_parse_head_names_the_expected_form() -> None:
    """STREAM:SEQ:MAC parses; anything else is a usage error saying what was expected."""
    assert parse_head(f"w1-ab:7:{'a' * 64}") == Head("w1-ab", 7, "a" * 64)
    with pytest.raises(UsageError, match="STREAM:SEQ:MAC"):
        parse_head("w1:seven:zz")


def test_torn_tail_is_quarantined_and_chained(trail: Path) -> None:
    """A half-written last line moves to quarantine/ byte for byte; a repair record chained to
    the last good record closes the stream, which then verifies (old head included); a second
    repair finds nothing to do."""
    head = _head(trail)
    last = sorted(trail.glob("audit-s1-*.jsonl"))[-1]
    torn = b'{"card_token":"ct_x","decision":"appr'
    with last.open("ab") as fh:
        fh.write(torn)
    assert verify_directory(trail, KEY).problems[0].kind is ProblemKind.TRUNCATED_TAIL
    outcome = repair_directory(trail, KEY)
    assert len(outcome.repaired) == 1
    assert outcome.refused == ()
    qfile = trail / "quarantine" / outcome.repaired[0][1]
    assert qfile.read_bytes() == torn
    report = verify_directory(trail, KEY, (head,))
    assert report.ok, report.problems
    stream = report.streams[0]
    assert stream.repairs == 1
    assert stream.last_seq == head.seq + 1
    rec = json.loads(last.read_bytes().splitlines()[-1])
    assert rec["type"] == "repair"
    assert rec["quarantined_bytes"] == len(torn)
    assert rec["quarantined_sha256"] == hashlib.sha256(torn).hexdigest()
    assert rec["prev"] == head.mac
    again = repair_directory(trail, KEY)
    assert again.repaired == ()
    assert again.refused == ()


def test_a_wholly_torn_segment_is_quarantined_entirely(trail: Path) -> None:
    """A new last segment holding only a torn line is emptied into quarantine and chained."""
    head = _head(trail)
    n = len(list(trail.glob("audit-s1-*.jsonl")))
    nxt = trail / f"audit-s1-{n + 1:06d}.jsonl"
    nxt.write_bytes(b"\x00" * 40)
    repair_directory(trail, KEY)
    assert verify_directory(trail, KEY, (head,)).ok


def test_tampering_is_never_repaired(trail: Path) -> None:
    """A tampered record is refused by repair and stays visible."""
    seg = segment(trail, 1)
    data = seg.read_bytes().replace(b'"score":0.25', b'"score":0.35', 1)
    seg.write_bytes(data)
    outcome = repair_directory(trail, KEY)
    assert outcome.repaired == ()
    assert outcome.refused
    assert verify_directory(trail, KEY).problems[0].kind is ProblemKind.TAMPERED


def test_cli_expect_head_and_repair(trail: Path, tmp_path: Path) -> None:
    """`audit verify --expect-head` exits 1 on a vanished tail; `audit repair` exits 0 after
    repairing a torn tail and names the quarantine file."""
    key_file = tmp_path / "k.key"
    key_file.write_text(KEY.hex())
    head = _head(trail)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify", str(trail), "--key-file", str(key_file),
                             "--expect-head", str(head)])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    last = sorted(trail.glob("audit-s1-*.jsonl"))[-1]
    with last.open("ab") as fh:
        fh.write(b'{"torn')
    broken = runner.invoke(cli, ["audit", "verify", str(trail), "--key-file", str(key_file)])
    assert broken.exit_code == 1
    fixed = runner.invoke(cli, ["audit", "repair", str(trail), "--key-file", str(key_file)])
    assert fixed.exit_code == 0, fixed.output
    assert "quarantine/" in fixed.output
    bad = runner.invoke(cli, ["audit", "verify", str(trail), "--key-file", str(key_file),
                              "--expect-head", "nope"])  # fmt: skip
    assert bad.exit_code == 2
