"""Request entries to bytes (every body kind, headers, secrets, factories) and responses to
outcomes (expect, shed statuses, body checks), plus the status tally's merge and masking."""

from __future__ import annotations

import json
import random
from pathlib import Path

import msgspec
import pytest

from harness.errors import UsageError
from harness.load.http import Reply, RequestTimeout
from harness.load.outcomes import ResponseJudge
from harness.load.v2body import POOL_SIZE, generate_tensor
from harness.load.wire import dechunk
from harness.load.workload import ScenarioWorkload
from harness.measure import Outcome, ResponseTally, mask_snippet
from harness.payload import synthetic_pan
from harness.spec import BodyCheck, Expect, Scenario
from harness.target import V2Model, V2Tensor

URL = "http://127.0.0.1:9"


def _scenario(requests: list[dict[str, object]], **extra: object) -> Scenario:
    return msgspec.convert(
        {
            "name": "r",
            "requests": requests,
            "payload": {"seed": 5},
            "phases": [{"name": "s", "kind": "steady", "rate": 10, "duration_s": 1}],
            **extra,
        },
        Scenario,
    )


def _split(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return lines[0], dict(line.split(": ", 1) for line in lines[1:]), body


TEMPLATE = '{"id": "{{ uuid() }}", "n": {{ seq }}, "r": {{ randint(1, 9) }}, "c": "{{ row.c }}"}'


def test_template_bodies_are_seeded_and_walk_rows_in_share_order(tmp_path: Path) -> None:
    """Same seed, same bodies; two shares (k=0,1 of 2) together walk the data file in order, and
    seq is the schedule's arrival index."""
    rows = tmp_path / "rows.csv"
    rows.write_text("c\n" + "".join(f"r{i}\n" for i in range(6)))
    body = {"template": TEMPLATE, "data": {"file": str(rows)}}
    scenario = _scenario([{"name": "t", "body": body}])

    def bodies(part: tuple[int, int], n: int) -> list[dict[str, object]]:
        w = ScenarioWorkload(scenario, URL, part=part)
        return [json.loads(_split(w.next().data)[2]) for _ in range(n)]

    assert bodies((0, 1), 20) == bodies((0, 1), 20)
    first, second = bodies((0, 2), 3), bodies((1, 2), 3)
    merged = [b for pair in zip(first, second, strict=True) for b in pair]
    assert [b["c"] for b in merged] == ["r0", "r1", "r2", "r3", "r4", "r5"]
    assert [b["n"] for b in merged] == [0, 1, 2, 3, 4, 5]
    assert len({b["id"] for b in merged}) == 6


def test_random_rows_are_seeded(tmp_path: Path) -> None:
    """order: random picks rows from the seeded RNG: reproducible, and not the file order."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"c": i}) + "\n" for i in range(50)))
    body = {"template": "{{ row.c }}", "data": {"file": str(rows), "order": "random"}}
    scenario = _scenario([{"name": "t", "body": body}])
    w1, w2 = ScenarioWorkload(scenario, URL), ScenarioWorkload(scenario, URL)
    picks = [int(_split(w1.next().data)[2]) for _ in range(30)]
    assert picks == [int(_split(w2.next().data)[2]) for _ in range(30)]
    assert picks != list(range(30))


def test_file_none_headers_secrets_and_host_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file body is sent as is (octet-stream), a bodiless GET has no Content-Length, header
    secrets are resolved in the bytes only, and a Host header replaces the default."""
    blob = tmp_path / "b.bin"
    blob.write_bytes(bytes(range(256)))
    monkeypatch.setenv("ANY9_T", "sekret")
    scenario = _scenario(
        [
            {"name": "f", "method": "PUT", "path": "/blobs", "body": {"file": str(blob)}},
            {"name": "g", "path": "/q?a=1&b=2",
             "headers": {"Host": "m.example", "X-T": "${env:ANY9_T}"}},
        ]
    )  # fmt: skip
    w = ScenarioWorkload(scenario, URL)
    seen = {}
    for _ in range(40):
        p = w.next()
        seen[p.endpoint] = p
    line, headers, body = _split(seen["f"].data)
    assert (line, body) == ("PUT /blobs HTTP/1.1", bytes(range(256)))
    assert headers["Content-Type"] == "application/octet-stream"
    line, headers, body = _split(seen["g"].data)
    assert (line, body) == ("GET /q?a=1&b=2 HTTP/1.1", b"")
    assert headers["Host"] == "m.example"
    assert headers["X-T"] == "sekret"
    assert "Content-Length" not in headers
    assert "sekret" not in repr(scenario)


def test_v2_inputs_follow_the_metadata() -> None:
    """Every input is sent in its datatype with -1 dimensions replaced; many values use a pool."""
    rng = random.Random(1)
    for datatype, kind in (("FP32", float), ("FP64", float), ("INT32", int), ("INT64", int),
                           ("BOOL", bool), ("BYTES", str)):  # fmt: skip
        t = generate_tensor(V2Tensor("x", datatype, (-1, 3)), 2, rng)
        assert t["shape"] == [2, 3]
        assert t["datatype"] == datatype
        data = t["data"]
        assert isinstance(data, list)
        assert len(data) == 6
        assert all(type(v) is kind for v in data)
    model = V2Model(
        "/v2/models/m",
        "m",
        ("1",),
        (V2Tensor("a", "FP32", (-1, 4)), V2Tensor("b", "INT64", (-1, 1))),
    )
    scenario = _scenario([{"name": "m", "body": {"v2_infer": {"model": "m", "outputs": ["y"]}}}])
    p = ScenarioWorkload(scenario, URL, models=[model]).next()
    line, _, body = _split(p.data)
    doc = json.loads(body)
    assert line == "POST /v2/models/m/infer HTTP/1.1"
    assert [(i["name"], i["datatype"], i["shape"]) for i in doc["inputs"]] == [
        ("a", "FP32", [1, 4]),
        ("b", "INT64", [1, 1]),
    ]
    assert doc["outputs"] == [{"name": "y"}]
    big = V2Model("/v2/models/big", "big", (), (V2Tensor("img", "FP32", (1, 3, 64, 64)),))
    scenario = _scenario([{"name": "b", "body": {"v2_infer": {"model": "big"}}}])
    w = ScenarioWorkload(scenario, URL, models=[big])
    inputs = [json.loads(_split(w.next().data)[2])["inputs"] for _ in range(POOL_SIZE + 1)]
    assert inputs[0] == inputs[POOL_SIZE]
    assert inputs[0] != inputs[1]


def test_v2_without_metadata_is_a_usage_error() -> None:
    """A v2_infer entry whose model metadata was not read stops the run before any load."""
    scenario = _scenario([{"name": "m", "body": {"v2_infer": {"model": "nope"}}}])
    with pytest.raises(UsageError, match=r"requests\[0\] \(m\)"):
        ScenarioWorkload(scenario, URL)


def test_factory_builds_requests_and_a_bad_one_stops_early(tmp_path: Path) -> None:
    """A factory's (method, path, headers, body) is sent as returned; one returning the wrong
    shape is a UsageError when the workload is built, before any load."""
    (tmp_path / "any9_fac.py").write_text(
        "def good(rng, index):\n"
        "    return 'PATCH', f'/item/{index}', {'X-R': str(rng.randint(1, 9))}, {'i': index}\n"
        "def bad(rng, index):\n"
        "    return 'PATCH', 'no-slash', {}, None\n"
    )
    good = _scenario([{"name": "f", "factory": "any9_fac:good", "factory_path": str(tmp_path)}])
    w = ScenarioWorkload(good, URL, part=(1, 3))
    p = w.next()
    line, headers, body = _split(p.data)
    assert (p.endpoint, p.method, line) == ("f", "PATCH", "PATCH /item/1 HTTP/1.1")
    assert json.loads(body) == {"i": 1}
    assert headers["X-R"].isdigit()
    assert _split(w.next().data)[0] == "PATCH /item/4 HTTP/1.1"
    bad = _scenario([{"name": "f", "factory": "any9_fac:bad", "factory_path": str(tmp_path)}])
    with pytest.raises(UsageError, match="path must start with /"):
        ScenarioWorkload(bad, URL)


def _judge(
    expect: dict[str, object] | None = None, shed: tuple[int, ...] = (503,)
) -> ResponseJudge:
    return ResponseJudge(msgspec.convert(expect or {}, Expect), shed)


def test_judge_statuses_shed_and_errors() -> None:
    """Default: 2xx OK, 503 shed, other statuses failed; expect.status and shed_status change
    that; a transport error is failed under its own key."""
    default = _judge()
    assert default.judge(Reply(204, 0), None).outcome is Outcome.OK
    shed = default.judge(Reply(503, 5, b"busy"), None)
    assert (shed.outcome, shed.key, shed.kind, shed.sample) == (
        Outcome.SHED,
        "503",
        "HTTP 503",
        b"busy",
    )
    assert default.judge(Reply(404, 0), None).outcome is Outcome.FAILED
    timeout = default.judge(None, RequestTimeout("no complete response"))
    assert (timeout.outcome, timeout.key) == (Outcome.FAILED, "timeout")
    created = _judge({"status": [201]})
    assert created.judge(Reply(201, 0), None).outcome is Outcome.OK
    assert created.judge(Reply(200, 0), None).outcome is Outcome.FAILED
    assert _judge(shed=(429, 503)).judge(Reply(429, 0), None).outcome is Outcome.SHED
    assert _judge({"status": [503]}).judge(Reply(503, 0), None).outcome is Outcome.OK


def test_body_checks_fail_a_2xx_with_their_own_reason() -> None:
    """json_key (dotted, list indices), one_of and contains; only a configured check keeps the
    body; a failing 2xx is failed with kind 'HTTP 200: body check: ...'."""
    assert not _judge().keep_body
    judge = _judge({"body": {"json_key": "outputs.0.data", "contains": "outputs"}})
    assert judge.keep_body
    ok = b'{"outputs": [{"data": [1]}]}'
    assert judge.judge(Reply(200, len(ok), body=ok), None).outcome is Outcome.OK
    bad = judge.judge(Reply(200, 13, body=b'{"outputs":[]}'), None)
    assert (bad.outcome, bad.kind) == (Outcome.FAILED, "HTTP 200: body check: no outputs.0.data")
    one_of = _judge({"body": {"json_key": "decision", "one_of": ["approve", "review"]}})
    assert one_of.judge(Reply(200, 0, body=b'{"decision": "review"}'), None).outcome is Outcome.OK
    wrong = one_of.judge(Reply(200, 0, body=b'{"decision": "error"}'), None)
    assert wrong.kind == "HTTP 200: body check: decision not one of the expected values"
    assert "not JSON" in one_of.judge(Reply(200, 0, body=b"<html>"), None).kind
    assert msgspec.convert({"json_key": "a"}, BodyCheck).one_of is None


def test_tally_counts_merges_exactly_and_bounds_samples() -> None:
    """Counts add across processes (also through the wire), samples stay at 3 per kind."""
    a, b = ResponseTally(), ResponseTally()
    for tally, n in ((a, 5), (b, 7)):
        for i in range(n):
            tally.status("s", "e", "200")
            tally.status("s", "e", "404")
            tally.failure("s", "e", "HTTP 404", Outcome.FAILED, f"missing {i}".encode())
    a.merge(ResponseTally.from_wire(b.to_wire()))
    (row,) = a.build()
    assert row.statuses == {"200": 12, "404": 12}
    (kind,) = row.failures
    assert (kind.kind, kind.count, kind.samples) == (
        "HTTP 404", 12, ("missing 0", "missing 1", "missing 2")
    )  # fmt: skip


def test_snippets_never_carry_a_card_number() -> None:
    """A PAN in a failure body is masked however it is separated."""
    pan = synthetic_pan(1, 42)
    for text in (pan, f"{pan[:4]} {pan[4:8]} {pan[8:12]} {pan[12:]}", "-".join(pan)):
        masked = mask_snippet(f'{{"error": "bad card {text}"}}'.encode())
        assert pan not in masked.replace(" ", "").replace("-", "")
        assert "bad card" in masked or "withheld" in masked


def test_dechunk() -> None:
    """A chunked body kept for a check is its payload, without the framing."""
    assert dechunk(b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n") == b"Wikipedia"


def test_echoed_secrets_are_scrubbed_from_failure_samples() -> None:
    """A server echoing the token in an error body: the sample keeps the body, not the token."""
    judge = ResponseJudge(Expect(), (503,), ("tok-123",))
    verdict = judge.judge(Reply(401, 30, b'{"error": "bad token tok-123"}'), None)
    assert verdict.sample == b'{"error": "bad token ***"}'
