"""The audit trail writer: durability, chaining, rotation, streams, failure and key loading.

Real files in tmp_path, the real writer thread and real fsync; the independent harness verifier
checks every trail these tests produce.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest

from harness.audit import verify_directory
from reference_service.audit import (
    GENESIS_MAC,
    AuditError,
    AuditKeyError,
    AuditMode,
    AuditRecord,
    AuditTrail,
    feature_hash,
    load_key,
    utc_timestamp,
)

KEY = bytes(range(32))
REPO = Path(__file__).resolve().parent.parent


def make_record(i: int, **changes: object) -> AuditRecord:
    """A valid record whose transaction_id is ``t<i>``."""
    fields: dict[str, object] = {
        "ts": "2025-01-31T23:59:59.123456Z",
        "request_id": f"r{i}",
        "transaction_id": f"t{i}",
        "card_token": "ct_tok",
        "last4": "4242",
        "model_version": "gbt-1",
        "model_sha256": "ab" * 32,
        "feature_hash": feature_hash(np.arange(4, dtype=np.float32)),
        "score": 0.25,
        "decision": "approve",
        "thresholds_version": "default-1",
        "reason_codes": ("LOW_RISK",),
        "degraded": False,
        "latency_ms": 1.5,
        "features": np.arange(4, dtype="<f4").tobytes(),
        "feature_schema": "fraud-features-1",
        "missing_features": (),
    }
    fields.update(changes)
    return AuditRecord(**fields)  # type: ignore[arg-type]


def run(fn: Callable[[], Awaitable[None]]) -> None:
    """Run an async test body with a hard bound, so a hang fails instead of blocking the suite."""

    async def bounded() -> None:
        await asyncio.wait_for(fn(), timeout=20)

    asyncio.run(bounded())


def lines_of(directory: Path) -> list[dict[str, object]]:
    """Every record of every segment, in file-name order."""
    out: list[dict[str, object]] = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        out.extend(json.loads(line) for line in path.read_bytes().splitlines())
    return out


def test_roundtrip_verifies_with_correct_count(tmp_path: Path) -> None:
    """Appended records are written as one intact chain the verifier counts exactly."""

    async def body() -> None:
        trail = AuditTrail(tmp_path / "a", KEY, stream_id="s1")
        await trail.start()
        for i in range(25):
            await trail.append(make_record(i))
        await trail.close()

    run(body)
    report = verify_directory(tmp_path / "a", KEY)
    assert report.ok, report.problems
    assert report.record_count == 25
    records = lines_of(tmp_path / "a")
    assert [r["seq"] for r in records] == list(range(25))
    assert records[0]["prev"] == GENESIS_MAC
    assert all(r["stream"] == "s1" for r in records)


def test_directory_and_segment_permissions(tmp_path: Path) -> None:
    """A new trail directory is 0700 and segments are 0600."""

    async def body() -> None:
        trail = AuditTrail(tmp_path / "a", KEY)
        await trail.start()
        await trail.append(make_record(0))
        await trail.close()

    run(body)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o700
    seg = next((tmp_path / "a").glob("audit-*.jsonl"))
    assert seg.stat().st_mode & 0o777 == 0o600


def test_durable_append_returns_after_fsync(tmp_path: Path) -> None:
    """In DURABLE mode the record is in the file and fsynced when append returns."""
    synced: list[int] = []

    async def body() -> None:
        trail = AuditTrail(tmp_path, KEY, on_fsync=lambda _s, n: synced.append(n))
        await trail.start()
        seg = next(tmp_path.glob("audit-*.jsonl"))
        for i in range(5):
            await trail.append(make_record(i))
            assert sum(synced) == i + 1  # the fsync covering it already happened
            assert f'"transaction_id":"t{i}"'.encode() in seg.read_bytes()
        await trail.close()

    run(body)


def test_durable_waits_for_slow_disk_async_does_not(tmp_path: Path) -> None:
    """A stalled fsync holds DURABLE appends back; ASYNC appends return at once."""
    gate = threading.Event()

    def slow_disk(_seconds: float, _count: int) -> None:
        gate.wait(10)  # runs on the writer thread, after fsync, before waiters are woken

    async def body() -> None:
        durable = AuditTrail(tmp_path / "d", KEY, on_fsync=slow_disk)
        fast = AuditTrail(tmp_path / "a", KEY, mode=AuditMode.ASYNC, on_fsync=slow_disk)
        await durable.start()
        await fast.start()
        assert fast.mode is AuditMode.ASYNC
        assert durable.mode is AuditMode.DURABLE
        pending = asyncio.ensure_future(durable.append(make_record(0)))
        await asyncio.sleep(0.2)
        assert not pending.done()
        await asyncio.wait_for(fast.append(make_record(0)), 0.5)
        gate.set()
        await pending
        await durable.close()
        await fast.close()

    run(body)
    assert verify_directory(tmp_path / "d", KEY).record_count == 1
    assert verify_directory(tmp_path / "a", KEY).record_count == 1


def test_async_mode_flushes_on_close(tmp_path: Path) -> None:
    """ASYNC appends return before writing, yet close() leaves every record on disk."""

    async def body() -> None:
        trail = AuditTrail(tmp_path, KEY, mode=AuditMode.ASYNC)
        await trail.start()
        for i in range(300):
            await trail.append(make_record(i))
        await trail.close()

    run(body)
    report = verify_directory(tmp_path, KEY)
    assert report.ok
    assert report.record_count == 300


def test_concurrent_appends_keep_order_and_batch(tmp_path: Path) -> None:
    """Many concurrent appenders get seq in call order and share fsyncs (group commit)."""
    batches: list[int] = []

    async def body() -> None:
        trail = AuditTrail(tmp_path, KEY, on_fsync=lambda _s, n: batches.append(n))
        await trail.start()
        for wave in range(4):
            await asyncio.gather(*(trail.append(make_record(wave * 100 + i)) for i in range(100)))
        await trail.close()

    run(body)
    records = lines_of(tmp_path)
    assert [r["transaction_id"] for r in records] == [f"t{i}" for i in range(400)]
    assert [r["seq"] for r in records] == list(range(400))
    assert sum(batches) == 400
    assert len(batches) < 400 / 4  # batches, not one fsync per record
    assert verify_directory(tmp_path, KEY).ok


def test_queue_depth_counts_unwritten_records(tmp_path: Path) -> None:
    """queue_depth reports records accepted but not yet durable, and drains to 0."""
    gate = threading.Event()

    def stalled(_seconds: float, _count: int) -> None:
        gate.wait(10)

    async def body() -> None:
        trail = AuditTrail(tmp_path, KEY, mode=AuditMode.ASYNC, on_fsync=stalled)
        await trail.start()
        for i in range(50):
            await trail.append(make_record(i))
        assert trail.queue_depth() > 0
        gate.set()
        await trail.close()
        assert trail.queue_depth() == 0

    run(body)


def test_rotation_keeps_the_chain_across_segments(tmp_path: Path) -> None:
    """Size rotation starts new segments that continue seq and prev; none exceeds the limit."""

    async def body() -> None:
        trail = AuditTrail(tmp_path, KEY, segment_max_bytes=2048, stream_id="rot")
        await trail.start()
        for i in range(30):
            await trail.append(make_record(i))
        await trail.close()

    run(body)
    segments = sorted(tmp_path.glob("audit-rot-*.jsonl"))
    assert [p.name for p in segments[:2]] == ["audit-rot-000001.jsonl", "audit-rot-000002.jsonl"]
    assert len(segments) >= 10
    assert all(p.stat().st_size <= 2048 for p in segments)
    last_of_first = json.loads(segments[0].read_bytes().splitlines()[-1])
    first_of_second = json.loads(segments[1].read_bytes().splitlines()[0])
    assert first_of_second["prev"] == last_of_first["mac"]
    assert first_of_second["seq"] == int(str(last_of_first["seq"])) + 1
    report = verify_directory(tmp_path, KEY)
    assert report.ok
    assert report.record_count == 30
    assert len(report.streams[0].segments) == len(segments)


def test_two_streams_in_one_directory(tmp_path: Path) -> None:
    """Two trails in one directory write separate chains, each verified on its own."""

    async def body() -> None:
        a = AuditTrail(tmp_path, KEY)
        b = AuditTrail(tmp_path, KEY)
        await a.start()
        await b.start()
        assert a.stream_id != b.stream_id
        for i in range(10):
            await asyncio.gather(a.append(make_record(i)), b.append(make_record(100 + i)))
        await a.append(make_record(99))
        await asyncio.gather(a.close(), b.close())

    run(body)
    report = verify_directory(tmp_path, KEY)
    assert report.ok
    assert sorted(s.records for s in report.streams) == [10, 11]


_CHILD = """
import asyncio, hashlib, sys
from pathlib import Path
from reference_service.audit import AuditRecord, AuditTrail

def rec(i):
    return AuditRecord("2025-01-31T23:59:59.123456Z", f"r{i}", f"t{i}", "ct_tok", None, "gbt-1",
                       "ab" * 32, hashlib.sha256(bytes(8)).hexdigest(), 0.5, "review",
                       "default-1", (), True, 2.0, bytes(8), "fraud-features-1", ())

async def main():
    trail = AuditTrail(Path(sys.argv[1]), bytes(range(32)))
    await trail.start()
    await asyncio.gather(*(trail.append(rec(i)) for i in range(200)))
    await trail.close()

asyncio.run(main())
"""


def test_worker_processes_write_separate_streams(tmp_path: Path) -> None:
    """Concurrent writer processes in one directory each produce their own intact stream."""
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path)], cwd=REPO) for _ in range(3)
    ]
    try:
        codes = [p.wait(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [0, 0, 0]
    report = verify_directory(tmp_path, KEY)
    assert report.ok, report.problems
    assert [s.records for s in report.streams] == [200, 200, 200]


def test_close_is_idempotent_and_refuses_later_appends(tmp_path: Path) -> None:
    """close() twice is fine, flushes pending records, and later appends raise AuditError."""

    async def body() -> None:
        trail = AuditTrail(tmp_path, KEY)
        await trail.start()
        pending = [asyncio.ensure_future(trail.append(make_record(i))) for i in range(20)]
        await asyncio.sleep(0)  # every append has enqueued
        await trail.close()
        await trail.close()
        await asyncio.gather(*pending)
        with pytest.raises(AuditError):
            await trail.append(make_record(99))

    run(body)
    assert verify_directory(tmp_path, KEY).record_count == 20


def test_append_before_start_and_close_without_start(tmp_path: Path) -> None:
    """An unstarted trail refuses appends and closes quietly."""

    async def body() -> None:
        trail = AuditTrail(tmp_path, KEY)
        with pytest.raises(AuditError):
            await trail.append(make_record(0))
        await trail.close()

    run(body)


def test_removed_directory_fails_appends_instead_of_hanging(tmp_path: Path) -> None:
    """When the trail's directory disappears, pending and later appends raise AuditError."""

    async def body() -> None:
        trail = AuditTrail(tmp_path / "a", KEY)
        await trail.start()
        await trail.append(make_record(0))
        shutil.rmtree(tmp_path / "a")
        with pytest.raises(AuditError, match="removed"):
            await trail.append(make_record(1))
        with pytest.raises(AuditError):
            await trail.append(make_record(2))
        assert trail.failure is not None
        await trail.close()

    run(body)


def test_rotation_into_a_vanished_directory_fails(tmp_path: Path) -> None:
    """A segment that cannot be created fails the trail; what was acknowledged still verifies."""

    async def body() -> list[BaseException | None]:
        trail = AuditTrail(tmp_path / "a", KEY, segment_max_bytes=1024, stream_id="f")
        await trail.start()
        await trail.append(make_record(0))
        # The open segment keeps its link under the new name; new segments cannot be created.
        (tmp_path / "a").rename(tmp_path / "moved")
        results = await asyncio.gather(
            *(trail.append(make_record(i)) for i in range(1, 10)), return_exceptions=True
        )
        await trail.close()
        return results

    results: list[BaseException | None] = []

    async def capture() -> None:
        results.extend(await body())

    run(capture)
    assert any(isinstance(r, AuditError) for r in results)
    acknowledged = 1 + sum(r is None for r in results)
    report = verify_directory(tmp_path / "moved", KEY)
    assert report.ok, report.problems
    assert report.record_count == acknowledged


def test_failing_fsync_hook_does_not_stop_the_writer(tmp_path: Path) -> None:
    """An exception in the metrics hook is contained; records keep being committed."""

    def broken(_s: float, _n: int) -> None:
        raise RuntimeError("metrics down")

    async def body() -> None:
        trail = AuditTrail(tmp_path, KEY, on_fsync=broken)
        await trail.start()
        for i in range(3):
            await trail.append(make_record(i))
        await trail.close()

    run(body)
    assert verify_directory(tmp_path, KEY).record_count == 3


def test_reused_stream_id_resumes_in_a_new_segment(tmp_path: Path) -> None:
    """Restarting with the same stream id continues the chain in the next segment."""

    async def write(first: int, n: int) -> None:
        trail = AuditTrail(tmp_path, KEY, stream_id="fixed")
        await trail.start()
        for i in range(first, first + n):
            await trail.append(make_record(i))
        await trail.close()

    run(lambda: write(0, 3))
    run(lambda: write(3, 2))
    report = verify_directory(tmp_path, KEY)
    assert report.ok
    assert report.record_count == 5
    assert report.streams[0].segments == ("audit-fixed-000001.jsonl", "audit-fixed-000002.jsonl")


def test_one_writer_per_stream(tmp_path: Path) -> None:
    """A second trail on a stream id that is being written refuses to start."""

    async def body() -> None:
        first = AuditTrail(tmp_path, KEY, stream_id="same")
        await first.start()
        second = AuditTrail(tmp_path, KEY, stream_id="same")
        with pytest.raises(AuditError, match="already being written"):
            await second.start()
        await first.close()

    run(body)


def test_malformed_records_are_refused_before_writing(tmp_path: Path) -> None:
    """Bad timestamps, digit-only tokens, non-finite scores, bad last4, empty thresholds_version
    raise ValueError."""
    bad = [
        make_record(0, ts="2025-01-31 23:59:59"),
        make_record(0, card_token="4" * 16),
        make_record(0, score=math.nan),
        make_record(0, latency_ms=math.inf),
        make_record(0, last4="12a4"),
        make_record(0, model_sha256="AB" * 32),
        make_record(0, thresholds_version=""),
    ]

    async def body() -> None:
        trail = AuditTrail(tmp_path, KEY)
        await trail.start()
        for rec in bad:
            with pytest.raises(ValueError, match="audit"):
                await trail.append(rec)
        await trail.close()

    run(body)
    assert verify_directory(tmp_path, KEY).record_count == 0


def test_constructor_rejects_bad_settings(tmp_path: Path) -> None:
    """Short keys, unsafe stream ids and absurd sizes are refused up front."""
    with pytest.raises(AuditKeyError):
        AuditTrail(tmp_path, b"short")
    with pytest.raises(ValueError, match="stream_id"):
        AuditTrail(tmp_path, KEY, stream_id="../x")
    with pytest.raises(ValueError, match="segment_max_bytes"):
        AuditTrail(tmp_path, KEY, segment_max_bytes=10)


def test_feature_hash_is_sha256_of_float32_le_bytes() -> None:
    """feature_hash hashes the little-endian float32 bytes whatever the input dtype or shape."""
    import hashlib

    vec = np.array([[1.0, -2.5, 3.25]], dtype=np.float64)
    expected = hashlib.sha256(np.array([1.0, -2.5, 3.25], dtype="<f4").tobytes()).hexdigest()
    assert feature_hash(vec) == expected
    assert feature_hash(vec.astype(">f4")) == expected


def test_utc_timestamp_format() -> None:
    """utc_timestamp gives RFC 3339 UTC with microseconds that records accept."""
    ts = utc_timestamp()
    assert len(ts) == 27
    assert ts.endswith("Z")
    assert ts[10] == "T"
    make_record(0, ts=ts).check()


def test_load_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys load from a hex or raw file or a hex env var; short or missing keys fail clearly."""
    hex_file = tmp_path / "k.hex"
    hex_file.write_text(KEY.hex() + "\n")
    assert load_key(path=hex_file, env_var="X_AUDIT") == KEY
    raw_file = tmp_path / "k.raw"
    raw_file.write_bytes(b"not hex at all but long enough to be a key!!\n")
    assert (
        load_key(path=raw_file, env_var="X_AUDIT")
        == b"not hex at all but long enough to be a key!!"
    )
    monkeypatch.setenv("X_AUDIT", KEY.hex().upper())
    assert load_key(path=None, env_var="X_AUDIT") == KEY
    monkeypatch.setenv("X_AUDIT", "ab" * 16)
    with pytest.raises(AuditKeyError, match=r"\$X_AUDIT is 16 bytes"):
        load_key(path=None, env_var="X_AUDIT")
    monkeypatch.delenv("X_AUDIT")
    with pytest.raises(AuditKeyError, match="no audit key"):
        load_key(path=None, env_var="X_AUDIT")
    with pytest.raises(AuditKeyError, match="cannot read"):
        load_key(path=tmp_path / "absent", env_var="X_AUDIT")
