"""What a finished request does: judged, counted, recorded with its three clocks, and handed to
Locust's ``events.request`` only when the engine was given Locust's fire function."""

from __future__ import annotations

import random
import time
from typing import Any

import msgspec

from harness.load.completion import Completion, HttpStatusError
from harness.load.http import Reply, RequestTimeout
from harness.load.outcomes import ResponseJudge
from harness.load.station import Job
from harness.measure import Outcome, Recorder, ResponseTally
from harness.spec import Expect


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


def test_the_inlined_judge_and_tally_count_what_judge_and_status_counted() -> None:
    """A mixed stream (default, accepted-set and body-check judges; OK, shed, failed statuses;
    transport errors) gives the same tally, recorder snapshot and log as the plain form did:
    ``judge.judge`` per response, ``ResponseTally.status`` and ``Recorder.record`` by keyword."""
    rng = random.Random(7)
    judges = [
        ResponseJudge(Expect(), (503,)),
        ResponseJudge(msgspec.convert({"status": [200, 404]}, Expect), (503,)),
        ResponseJudge(msgspec.convert({"body": {"contains": "ok"}}, Expect), (503, 500)),
    ]
    done, log = _completion(None)
    plain_recorder = Recorder(run_start_wall_ns=done._recorder.run_start_wall_ns, lateness_ns=10**9)
    plain_recorder._mono_to_run_ns = done._recorder._mono_to_run_ns
    plain_tally, plain_log = ResponseTally(), []
    for i in range(3_000):
        judge = rng.choice(judges)
        status = rng.choice((200, 201, 204, 299, 302, 404, 500, 503))
        reply = None if rng.random() < 0.05 else Reply(status, 2, b"x", rng.choice((b"ok", b"no")))
        error = RequestTimeout("late") if reply is None else None
        times = (i * 1_000_000, i * 1_000_000 + rng.randrange(10**7), i * 1_000_000 + 10**8)
        job = Job(None, "steady", "score", "POST", "/", b"", times[0], judge)  # type: ignore[arg-type]
        done.complete(job, times[1], times[2], reply, error)
        verdict = judge.judge(reply, error)
        plain_tally.status("steady", "score", verdict.key)
        if verdict.outcome is not Outcome.OK:
            plain_tally.failure("steady", "score", verdict.kind, verdict.outcome, verdict.sample)
        plain_recorder.record(
            phase="steady",
            endpoint="score",
            outcome=verdict.outcome,
            intended_ns=times[0],
            sent_ns=times[1],
            done_ns=times[2],
        )
        plain_log.append(("steady", "score", verdict.outcome.value, *times))
    assert done.responses.to_wire() == plain_tally.to_wire()
    assert done._recorder.take_wire() == plain_recorder.take_wire()
    assert log == plain_log
    assert judges[2].known_ok == {}  # a body check is never skipped
