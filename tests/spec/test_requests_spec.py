"""The requests: table in a scenario file: what parses, the built-in table, and bad definitions
as one SpecError naming the file and the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.spec import BUILTIN_REQUESTS, load_scenario

PHASES = "phases: [{name: s, kind: steady, rate: 10, duration_s: 5}]\n"
ISSUE_EXAMPLE = """\
name: own-api
target: http://127.0.0.1:8443
health: {path: /healthz}
requests:
  - name: risk
    weight: 9
    method: POST
    path: /api/risk/v3
    headers: {Authorization: "Bearer ${env:RISK_TOKEN}"}
    body:
      template: '{"request_id": "{{ uuid() }}", "amount_cents": {{ randint(1, 500000) }}, "country": "{{ choice(["DE", "FR", "US"]) }}"}'
    expect: {status: [200]}
  - name: ping
    weight: 1
    method: GET
    path: /healthz
phases:
  - {name: warmup, kind: warmup, rate: 50, duration_s: 5}
  - {name: steady, kind: steady, rate: 100, duration_s: 20}
"""  # noqa: E501 - the issue's file, verbatim


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_the_issue_example_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's own-api file loads as written: two entries, health path, secret by name."""
    monkeypatch.setenv("RISK_TOKEN", "t0k3n-value")
    scenario = load_scenario(_write(tmp_path, ISSUE_EXAMPLE))
    assert scenario.endpoint_names == ("risk", "ping")
    assert scenario.health.path == "/healthz"
    assert scenario.secrets_used == ("env:RISK_TOKEN",)
    risk, ping = scenario.request_table
    assert (risk.http_method, risk.http_path, risk.body_kind) == (
        "POST",
        "/api/risk/v3",
        "template",
    )
    assert (ping.http_method, ping.body_kind) == ("GET", "none")
    assert "t0k3n-value" not in repr(scenario)


def test_mix_selects_the_builtin_table() -> None:
    """scenarios/steady.yaml's mix: is the built-in score/infer/health entries with its weights."""
    scenario = load_scenario(Path("scenarios/steady.yaml"))
    table = scenario.request_table
    assert [(r.name, r.weight) for r in table] == [("score", 90), ("infer", 8), ("health", 2)]
    assert [(r.http_method, r.http_path) for r in table] == [
        ("POST", "/v1/score"),
        ("POST", "/v2/models/fraud/infer"),
        ("GET", "/v2/health/ready"),
    ]
    assert table[0].body_kind == BUILTIN_REQUESTS["score"].body_kind == "fraud_transaction"


def test_relative_files_become_absolute(tmp_path: Path) -> None:
    """Data, body and template files are resolved against the scenario file's folder."""
    (tmp_path / "rows.jsonl").write_text('{"card": "c1"}\n')
    (tmp_path / "b.bin").write_bytes(b"\x00\x01")
    text = (
        "name: x\nrequests:\n"
        "  - {name: a, body: {template: '{{ row.card }}', data: {file: rows.jsonl}}}\n"
        "  - {name: b, method: PUT, body: {file: b.bin}}\n" + PHASES
    )
    a, b = load_scenario(_write(tmp_path, text)).request_table
    assert a.body.data.file == str(tmp_path / "rows.jsonl")  # type: ignore[union-attr]
    assert b.body.file == str(tmp_path / "b.bin")  # type: ignore[union-attr]


BAD = [
    # (id, requests yaml, expected path suffix, substring of "expected")
    ("unknown body kind", "[{name: a, body: {tempalte: x}}]", "$.requests[0].body.tempalte",
     "body kind"),
    ("unknown bare body kind", "[{name: a, body: jsonn}]", "$.requests[0].body",
     "fraud_transaction"),
    ("two body kinds", "[{name: a, body: {template: x, file: y}}]", "$.requests[0].body",
     "exactly one body kind"),
    ("template name typo", "[{name: a, body: {template: '{{ uuidd() }}'}}]",
     "$.requests[0].body.template", "unknown: uuidd"),
    ("template syntax", "[{name: a, body: {template: '{{ seq '}}]", "$.requests[0].body.template",
     "valid Jinja2"),
    ("row without data", "[{name: a, body: {template: '{{ row.x }}'}}]",
     "$.requests[0].body.template", "row needs a data file"),
    ("row field typo", "[{name: a, body: {template: '{{ row.cardd }}', data: {file: rows.csv}}}]",
     "$.requests[0].body.template", "unknown: cardd"),
    ("missing data file", "[{name: a, body: {template: x, data: {file: nope.csv}}}]",
     "$.requests[0].body.data.file", "not found"),
    ("missing body file", "[{name: a, body: {file: nope.bin}}]", "$.requests[0].body.file",
     "not found"),
    ("env secret unset", "[{name: a, headers: {X-Key: '${env:ANY9_SURELY_UNSET}'}}]",
     "$.requests[0].headers.X-Key", "ANY9_SURELY_UNSET to be set"),
    ("file secret missing", "[{name: a, headers: {X-Key: '${file:nope.txt}'}}]",
     "$.requests[0].headers.X-Key", "not found"),
    ("factory missing", "[{name: a, factory: 'any9_nowhere:build'}]", "$.requests[0].factory",
     "importable module"),
    ("duplicate names", "[{name: a}, {name: a}]", "$.requests", "unique names"),
    ("bad method", "[{name: a, method: FETCH}]", "$.requests[0].method", "one of GET"),
    ("path without slash", "[{name: a, path: api}]", "$.requests[0].path", "matching regex"),
    ("framing header", "[{name: a, headers: {Content-Length: '3'}}]", "$.requests[0].headers",
     "set by the client"),
    ("bad status", "[{name: a, expect: {status: [99]}}]", "$.requests[0].expect.status[0]", ">="),
    ("empty body check", "[{name: a, expect: {body: {}}}]", "$.requests[0].expect.body",
     "json_key and/or contains"),
]  # fmt: skip


@pytest.mark.parametrize(("requests", "path", "expected"), [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])  # fmt: skip
def test_bad_definitions_name_file_and_field(
    tmp_path: Path, requests: str, path: str, expected: str
) -> None:
    """Each bad definition is one SpecError at its field path, saying what was expected."""
    (tmp_path / "rows.csv").write_text("card,amount\nc1,1\n")
    file = _write(tmp_path, f"name: x\nrequests: {requests}\n{PHASES}")
    with pytest.raises(SpecError) as info:
        load_scenario(file)
    assert info.value.file == str(file)
    assert info.value.path == path
    assert expected in info.value.expected


def test_mix_and_requests_are_exclusive(tmp_path: Path) -> None:
    """A file with both forms is refused at $.requests."""
    text = "name: x\nmix: [{endpoint: score, weight: 1}]\nrequests: [{name: a}]\n" + PHASES
    with pytest.raises(SpecError) as info:
        load_scenario(_write(tmp_path, text))
    assert info.value.path == "$.requests"


def test_cli_exits_2_naming_an_unset_secret(tmp_path: Path) -> None:
    """`slo-harness run` on a file whose secret is unset exits 2 with file and field, no load."""
    file = _write(tmp_path, "name: x\nrequests: [{name: a, headers: {Authorization: "
                  "'Bearer ${env:ANY9_SURELY_UNSET}'}}]\n" + PHASES)  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(file), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert str(file) in proc.stderr
    assert "$.requests[0].headers.Authorization" in proc.stderr
    assert "Traceback" not in proc.stderr
