"""Crash durability (issue 10): kill -9 the service under load at random moments, restart it on
the same audit directory, and prove no acknowledged decision was lost or duplicated.

Each round: start the service, drive concurrent score requests with unique transaction ids, SIGKILL
it after a random delay, repair torn tails as documented (``audit repair``), verify the whole
directory against every head recorded in earlier rounds (so nothing older vanished), and check
that every transaction that got a 200 has exactly one audit record. CI profile: 3 rounds; full
profile: 20.
"""

from __future__ import annotations

import collections
import json
import random
import secrets
import signal
import threading
import time
from pathlib import Path

import httpx
from svc_support import FULL_PROFILE, ServiceFactory, record_figure, transaction, write_key

from harness.audit import Head, repair_directory, verify_directory

ROUNDS = 20 if FULL_PROFILE else 3
CLIENTS = 8


def _load(base: str, acked: set[str], stop: threading.Event, lock: threading.Lock) -> None:
    with httpx.Client(base_url=base, timeout=5) as c:
        while not stop.is_set():
            tx = f"crash{secrets.token_hex(6)}z"
            try:
                r = c.post("/v1/score", json=transaction(transaction_id=tx))
            except httpx.HTTPError:
                continue  # the kill: no answer, no acknowledgement
            if r.status_code == 200:
                with lock:
                    acked.add(tx)


def _records(audit: Path) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for seg in audit.glob("audit-*.jsonl"):
        for line in seg.read_bytes().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and "transaction_id" in rec:
                counts[rec["transaction_id"]] += 1
    return counts


def test_kill_9_under_load_loses_and_duplicates_nothing(
    services: ServiceFactory, tmp_path: Path
) -> None:
    """Every acknowledged transaction has exactly one record after every kill; the trail
    verifies against all heads recorded before; the service comes back ready each time."""
    audit = tmp_path / "audit"
    pan_key = write_key(tmp_path / "pan.key")
    audit_key_path = write_key(tmp_path / "audit.key")
    key = bytes.fromhex(audit_key_path.read_text().strip())
    rng = random.Random(7)
    acked: set[str] = set()
    heads: list[Head] = []
    repairs = 0
    for _ in range(ROUNDS):
        svc = services.start(
            "--audit-dir", str(audit), "--pan-key-file", str(pan_key),
            "--audit-key-file", str(audit_key_path), keys=False,
        )  # fmt: skip
        stop, lock = threading.Event(), threading.Lock()
        threads = [
            threading.Thread(target=_load, args=(svc.base, acked, stop, lock), daemon=True)
            for _ in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 1.5))
        svc.proc.send_signal(signal.SIGKILL)
        svc.proc.wait(10)
        stop.set()
        for t in threads:
            t.join(10)
        outcome = repair_directory(audit, key)
        repairs += len(outcome.repaired)
        assert outcome.refused == ()
        report = verify_directory(audit, key, tuple(heads))
        assert report.ok, report.problems
        heads = [
            Head(s.stream, s.last_seq, s.head_mac)
            for s in report.streams
            if s.last_seq is not None and s.head_mac is not None
        ]
        counts = _records(audit)
        lost = [tx for tx in acked if counts[tx] != 1]
        assert not lost, f"{len(lost)} acknowledged decisions without exactly one record"
        assert max(counts.values(), default=1) == 1, "a decision was recorded twice"
    assert acked
    record_figure(
        "crash",
        {"kills": ROUNDS, "acknowledged": len(acked), "lost": 0, "duplicated": 0,
         "torn_tails_repaired": repairs, "streams": len(heads)},
    )  # fmt: skip
