"""latency.hlog read by the Java reference HdrHistogram: every per-phase figure and bucket agrees.

A third-party reader (the reference implementation, whose ``HistogramLogProcessor -tag`` users run
on our logs) reads a log of generated data; per tag it must find exactly the buckets of the run's
phase histograms and the percentiles the report quotes (nearest rank). Needs ``java`` and the
HdrHistogram jar (``scripts/install-test-deps.sh`` installs Debian's libhdrhistogram-java; the
Maven 2.2.2 jar in ~/.m2 is used when present; ``SLO_HDR_JAR`` names another): skipped with the
reason otherwise. One JVM start (a few seconds) reads the whole log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.measure import (
    Clock,
    Outcome,
    PhaseKind,
    PhaseMeta,
    PhaseResult,
    Recorder,
    distribution,
    write_hlog,
)
from harness.measure.hlog import phase_tag
from harness.report.stats import summarise

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "tools" / "hdr_reference" / "HlogReference.java"
START_WALL_NS = 1_700_000_000_125_000_000
PERCENTILES = ("50", "90", "95", "99", "99.9")
_JARS = (
    Path.home() / ".m2/repository/org/hdrhistogram/HdrHistogram/2.2.2/HdrHistogram-2.2.2.jar",
    Path("/usr/share/java/HdrHistogram.jar"),
)


def _jar() -> Path | None:
    named = os.environ.get("SLO_HDR_JAR")
    candidates = (Path(named),) if named else _JARS
    return next((p for p in candidates if p.is_file()), None)


def _phases() -> list[PhaseMeta]:
    return [
        PhaseMeta("warmup", PhaseKind.WARMUP, False, 0.0, 2.5, 100.0),
        PhaseMeta("steady", PhaseKind.STEADY, True, 2.5, 3.5, 300.0),
        PhaseMeta("tiny", PhaseKind.SPIKE, True, 6.0, 1.0, 76.0),  # 76 samples: p99 by rank
    ]


def _record(recorder: Recorder, rng: np.random.Generator) -> None:
    """Generated requests: lognormal bodies, rare slow ones, phases meeting inside seconds."""
    for meta in _phases():
        n = round(meta.offered_rps * meta.duration_s)
        offsets = meta.start_s + np.sort(rng.uniform(0, meta.duration_s, n))
        service_us = rng.lognormal(np.log(3_000), 0.6, n).astype(np.int64)
        slow = rng.random(n) < 0.02
        service_us[slow] *= 40
        queued_us = rng.exponential(300, n).astype(np.int64)
        for offset, svc, queued in zip(offsets, service_us, queued_us, strict=True):
            intended = recorder.monotonic_ns_at(float(offset))
            sent = intended + int(queued) * 1000
            recorder.record(
                phase=meta.name,
                endpoint="score",
                outcome=Outcome.OK,
                intended_ns=intended,
                sent_ns=sent,
                done_ns=sent + int(svc) * 1000,
            )


def _java(jar: Path, hlog: Path) -> dict[str, Any]:
    java = shutil.which("java")
    assert java is not None
    proc = subprocess.run(
        [java, "-cp", str(jar), str(SOURCE), str(hlog), *PERCENTILES],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    return {"start": rows[0]["start_time_s"], **{row["tag"]: row for row in rows[1:]}}


@pytest.fixture(scope="module")
def jar() -> Path:
    found = _jar()
    if shutil.which("java") is None or found is None:
        pytest.skip(
            "needs java and the HdrHistogram jar (scripts/install-test-deps.sh installs "
            "libhdrhistogram-java; or set SLO_HDR_JAR)"
        )
    return found


def _check_scope(java_row: dict[str, Any], phase: PhaseResult, clock: Clock) -> None:
    hist = phase.latency(clock=clock)
    dist = distribution(hist)
    assert java_row["count"] == hist.count
    buckets = zip(dist.values_us.tolist(), dist.counts.tolist(), strict=True)
    assert java_row["buckets"] == [[v, c] for v, c in buckets]
    assert java_row["max"] == dist.max_us()
    summary = summarise(hist)  # what report.json, summary.md and report.html print
    for text, key in zip(PERCENTILES, ("p50", "p90", "p95", "p99", "p99_9"), strict=True):
        assert java_row["percentiles"][text] == dist.percentile_us(float(text)), (clock, text)
        assert summary.get(key) == java_row["percentiles"][text] / 1000.0


def test_java_reference_reads_every_phase_and_clock_as_the_report(
    jar: Path, tmp_path: Path
) -> None:
    """Per tag, Java's buckets, max and percentiles equal the phase figures of the report."""
    recorder = Recorder(run_start_wall_ns=START_WALL_NS, lateness_ns=50_000_000)
    _record(recorder, np.random.default_rng(11))
    phases, intervals = recorder.build(_phases())
    hlog = tmp_path / "latency.hlog"
    write_hlog(hlog, intervals, start_wall_s=START_WALL_NS / 1e9)
    java = _java(jar, hlog)
    assert java["start"] == pytest.approx(START_WALL_NS / 1e9, abs=5e-4)
    for phase in phases:
        _check_scope(java[phase_tag(phase.name)], phase, Clock.INTENDED)
        _check_scope(java[phase_tag(phase.name, Clock.SERVICE)], phase, Clock.SERVICE)
    total = sum(p.latency().count for p in phases)
    assert java[""]["count"] == total  # the untagged series holds every phase
    tiny = next(p for p in phases if p.name == "tiny")
    assert tiny.latency().count == 76  # the small-sample case nearest rank is about
