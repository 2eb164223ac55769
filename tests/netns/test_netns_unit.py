"""Parts of harness.netns that need no root: capability reasons, rule text, input checks."""

from __future__ import annotations

import shutil

import pytest

from harness.errors import LabUnavailable, UsageError
from harness.netns import (
    Hook,
    Lab,
    Namespace,
    Need,
    NftTable,
    chain_text,
    default_prefix,
    drop_rule,
    lab_support,
    loss_rule,
    reject_rule,
    require,
)
from harness.netns.tc import default_burst_bytes


def test_missing_tools_are_named_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """No nft / tc on PATH: both appear in the reason and require() raises LabUnavailable."""
    real_which = shutil.which
    monkeypatch.setattr(
        "shutil.which", lambda name: None if name in ("nft", "tc") else real_which(name)
    )
    caps = lab_support(Need.NFT, Need.TC)
    assert {Need.NFT, Need.TC} <= caps.missing
    assert "`nft` missing" in caps.reason
    assert "`tc` missing" in caps.reason
    with pytest.raises(LabUnavailable, match="nft"):
        require(Need.NFT)


def test_not_root_is_one_reason_not_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without root the reason says so once (the netns probe is implied, not repeated)."""
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    caps = lab_support()
    assert Need.ROOT in caps.missing
    assert Need.NETNS not in caps.missing
    assert caps.reason.startswith("not root")


def test_rule_text_for_each_fault_primitive() -> None:
    """drop, reject (tcp reset) and loss render as the nft rules the faults rely on."""
    assert drop_rule(src="198.18.0.1") == "ip saddr 198.18.0.1 drop"
    assert (
        reject_rule(src="198.18.0.1", dst="198.18.0.2", dport=8080)
        == "ip saddr 198.18.0.1 ip daddr 198.18.0.2 tcp dport 8080 reject with tcp reset"
    )
    assert reject_rule() == "meta l4proto tcp reject with tcp reset"
    assert loss_rule(10, dst="198.18.0.2") == "ip daddr 198.18.0.2 numgen random mod 100 < 10 drop"
    chain = chain_text("c", Hook.OUTPUT, ["drop"])
    assert "type filter hook output priority 0; policy accept;" in chain
    assert str(NftTable("inet", "slo_x")) == "inet slo_x"


@pytest.mark.parametrize(
    "call",
    [
        lambda: loss_rule(101),
        lambda: loss_rule(2.5),
        lambda: drop_rule(src="not-an-ip"),
        lambda: reject_rule(dport=0),
        lambda: NftTable("inet", "bad name"),
        lambda: NftTable("nope", "t"),
        lambda: Namespace("Bad/Name"),
        lambda: chain_text("c", Hook.INPUT, [], policy="reject"),
    ],
)
def test_bad_rule_or_name_input_is_a_usage_error(call: object) -> None:
    """Out-of-range or malformed input is refused before anything runs."""
    with pytest.raises((UsageError, ValueError)):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("labels", "subnet", "match"),
    [
        (["a"], "10.0.0.0/24", "inside 198.18.0.0/15"),
        (["a", "b", "c"], "198.18.0.0/30", "do not fit"),
        (["a", "a"], "198.18.0.0/24", "unique"),
        (["A"], "198.18.0.0/24", "expected"),
        ([], "198.18.0.0/24", "at least one"),
    ],
)
def test_lab_input_is_checked_before_anything_is_created(
    labels: list[str], subnet: str, match: str
) -> None:
    """Subnets outside 198.18.0.0/15, too small, duplicate or bad labels: UsageError."""
    with pytest.raises(UsageError, match=match):
        Lab.create(labels, subnet=subnet)


def test_prefix_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """$SLO_HARNESS_NETNS_PREFIX overrides the default; a bad one is a usage error."""
    monkeypatch.delenv("SLO_HARNESS_NETNS_PREFIX", raising=False)
    assert default_prefix() == "sloh-"
    monkeypatch.setenv("SLO_HARNESS_NETNS_PREFIX", "t1-")
    assert default_prefix() == "t1-"
    monkeypatch.setenv("SLO_HARNESS_NETNS_PREFIX", "Bad Prefix")
    with pytest.raises(UsageError):
        default_prefix()


def test_tbf_burst_holds_at_least_two_frames() -> None:
    """Slow rates still get a burst of >= 2 full frames; fast ones get 10 ms of rate."""
    assert default_burst_bytes(64_000) == 2 * 1514
    assert default_burst_bytes(800_000_000) == 1_000_000
