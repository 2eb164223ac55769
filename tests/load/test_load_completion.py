"""What a finished request does: judged, counted, recorded with its three clocks, and handed to
Locust's ``events.request`` only when the engine was given Locust's fire function."""

from __future__ import annotations

import time
from typing import Any

from harness.load.completion import Completion, HttpStatusError
from harness.load.http import Reply, RequestTimeout
from harness.load.station import Job
from harness.measure import Recorder


class _Slots:
    """The station's slot count (a real Station needs gevent's hub in this process)."""

    def __init__(self) -> None:
        self.busy = 3

    def finished(self) -> None:
        self.busy -= 1


def _completion(fire: Any) -> tuple[Completion, list[tuple[str, str, str, int, int, int]]]:
    log: list[tuple[str, str, str, int, int, int]] = []
    recorder = Recorder(run_start_wall_ns=time.time_ns(), lateness_ns=10**9)
    station = _Slots()
    done = Completion(
        recorder=recorder,
        station=station,  # type: ignore[arg-type]
        tails=None,
        fire_request=fire,
        request_log=log,
        run_start_mono_ns=time.monotonic_ns(),
    )
    return done, log


def _job(intended_ns: int) -> Job:
    return Job(None, "steady", "score", "POST", "/v1/score", b"", intended_ns)  # type: ignore[arg-type]


def test_completions_record_three_clocks_and_fire_locust_only_when_asked() -> None:
    """Without a fire function nothing goes to Locust; with one, each response is fired once
    with the intended-clock time, a non-2xx as an HttpStatusError and a timeout as itself; the
    log holds the exact intended/sent/done times and the tally the statuses."""
    silent, log = _completion(None)
    silent.complete(_job(1_000), 2_000, 5_000, Reply(200, 2), None)
    assert log == [("steady", "score", "ok", 1_000, 2_000, 5_000)]
    fired: list[dict[str, Any]] = []
    loud, log = _completion(lambda **kw: fired.append(kw))
    loud.complete(_job(0), 1_000_000, 3_000_000, Reply(200, 7), None)
    loud.complete(_job(0), 1_000_000, 4_000_000, Reply(404, 0, b"nope"), None)
    timeout = RequestTimeout("no complete response")
    loud.complete(_job(0), 1_000_000, 9_000_000, None, timeout)
    assert [f["response_time"] for f in fired] == [3.0, 4.0, 9.0]
    assert fired[0]["exception"] is None
    assert fired[0]["response_length"] == 7
    assert isinstance(fired[1]["exception"], HttpStatusError)
    assert fired[2]["exception"] is timeout
    assert [row[2] for row in log] == ["ok", "failed", "failed"]
    assert loud._station.busy == 0
