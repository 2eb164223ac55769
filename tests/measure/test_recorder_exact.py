"""The Recorder's hot path records exactly what it recorded before it was made cheaper: a fixed
pseudo-random stream of requests (three phases, two endpoints, every outcome, late sends,
out-of-range latencies, unsent arrivals, sealed intervals) gives the same wire snapshot, byte for
byte, as the recorder of commit daa41e7 (digests taken there; hdrh and zlib are pinned in
constraints.txt, so the encoding is stable)."""

from __future__ import annotations

import hashlib
import random

from harness.measure import Outcome, Recorder

BEFORE = {
    1: "1966c1b83d6c598708ceffc9defaccb647d3ecb7a64028f766a94a27d9ca7a23",
    2: "050bae393d191aa1bfe745935400c29f857d61790c0a75db2a9dd1ef013315c0",
}


def _feed(rec: Recorder, seed: int) -> None:
    rng = random.Random(seed)
    outcomes = (Outcome.OK, Outcome.OK, Outcome.OK, Outcome.FAILED, Outcome.SHED)
    t = 0.0
    for _ in range(8000):
        t += rng.expovariate(250.0)
        phase = "warmup" if t < 3 else ("main" if t < 25 else "spike")
        endpoint = rng.choice(("score", "infer", "score"))
        lag = rng.choice((0.0, 0.0001, 0.002, 0.02, -0.00001)) * rng.random()
        service = rng.choice((0.0005, 0.003, 0.05, 1.5, 70.0)) * rng.random()
        intended = rec.monotonic_ns_at(t)
        sent = rec.monotonic_ns_at(t + lag)
        done = rec.monotonic_ns_at(t + lag + service)
        rec.offered(phase, rec.wall_ns_at(t))
        if rng.random() < 0.01:
            rec.unsent(phase, 1, at_ns=intended)
            continue
        rec.record(
            phase=phase,
            endpoint=endpoint,
            outcome=rng.choice(outcomes),
            intended_ns=intended,
            sent_ns=sent,
            done_ns=done,
        )


def test_recorded_snapshot_is_byte_identical_to_before() -> None:
    """The same requests give the same histograms, counters and intervals as before."""
    for seed, digest in BEFORE.items():
        rec = Recorder(run_start_wall_ns=1_700_000_000_000_000_000, lateness_ns=5_000_000)
        _feed(rec, seed)
        assert hashlib.sha256(rec.take_wire()).hexdigest() == digest
