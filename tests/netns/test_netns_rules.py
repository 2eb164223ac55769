"""nftables and tc inside a lab: reject refuses at once, drop times out, loss drops about N% of
packets, tbf caps throughput; every rule and qdisc comes off and nothing touches the host."""

from __future__ import annotations

import select
import socket
import subprocess
import threading
import time

import pytest
from netns_support import connect_from, tcp_listener, timed_connect

from harness.netns import (
    Hook,
    Lab,
    Need,
    NftTable,
    apply_table,
    chain_text,
    delete_table,
    drop_rule,
    lab_support,
    list_tables,
    loss_rule,
    reject_rule,
    remove_root_qdisc,
    root_qdisc,
    tbf_limit,
)

_CAPS = lab_support(Need.NFT, Need.TC)
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not _CAPS.ok, reason=_CAPS.reason or "lab supported"),
]

_TABLE = NftTable("inet", "slo_test")


def _host_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def test_reject_refuses_fast_drop_times_out_and_both_come_off(lab3: Lab) -> None:
    """reject: ECONNREFUSED in < 0.5 s; drop: timeout after 1 s; deleted: connects again."""
    a, b = lab3.host("a"), lab3.host("b")
    server = tcp_listener(b)
    port = server.getsockname()[1]
    host_before = _host_tables()
    try:
        assert timed_connect(a, str(b.address), port, 1.0)[0] == "ok"
        chain = chain_text("inbound", Hook.INPUT, [reject_rule(src=str(a.address), dport=port)])
        apply_table(b.namespace, _TABLE, chain)
        assert list_tables(b.namespace) == [_TABLE]
        outcome, took_s = timed_connect(a, str(b.address), port, 1.0)
        assert (outcome, took_s < 0.5) == ("refused", True)
        # Same table name again: replaced atomically, not added to.
        apply_table(
            b.namespace, _TABLE, chain_text("inbound", Hook.INPUT, [drop_rule(src=str(a.address))])
        )
        outcome, took_s = timed_connect(a, str(b.address), port, 1.0)
        assert (outcome, took_s >= 0.9) == ("timeout", True)
        # c is not partitioned from b.
        assert timed_connect(lab3.host("c"), str(b.address), port, 1.0)[0] == "ok"
        assert _host_tables() == host_before, "a lab rule reached the host's ruleset"
        assert delete_table(b.namespace, _TABLE)
        assert not delete_table(b.namespace, _TABLE)
        assert list_tables(b.namespace) == []
        assert timed_connect(a, str(b.address), port, 1.0)[0] == "ok"
    finally:
        server.close()


def test_conntrack_is_per_namespace_and_lets_replies_through(lab3: Lab) -> None:
    """b: input policy drop + `ct state established,related accept` + a->b:port: a reaches b,
    b reaches a (its replies are established), c is dropped; without ct, b->a's replies die."""
    a, b, c = lab3.host("a"), lab3.host("b"), lab3.host("c")
    on_b, on_a = tcp_listener(b), tcp_listener(a)
    port_b, port_a = on_b.getsockname()[1], on_a.getsockname()[1]
    allow = f"ip saddr {a.address} tcp dport {port_b} accept"
    try:
        for stateful, b_to_a in ((True, "ok"), (False, "timeout")):
            rules = (["ct state established,related accept"] if stateful else []) + [allow]
            apply_table(
                b.namespace, _TABLE, chain_text("ingress", Hook.INPUT, rules, policy="drop")
            )
            assert timed_connect(a, str(b.address), port_b, 1.0)[0] == "ok"
            assert timed_connect(c, str(b.address), port_b, 0.5)[0] == "timeout"
            assert timed_connect(b, str(a.address), port_a, 0.5)[0] == b_to_a
            on_b.settimeout(0.05)
            while True:  # drain accepted connections so the backlog stays small
                try:
                    on_b.accept()[0].close()
                except TimeoutError:
                    break
    finally:
        on_b.close()
        on_a.close()


def _udp_delivery(lab: Lab, count: int) -> int:
    """Send ``count`` datagrams a -> b in batches of 50 (no socket-buffer drops); count arrivals."""
    a, b = lab.host("a"), lab.host("b")
    with b.namespace.entered():
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind((str(b.address), 0))
    with a.namespace.entered():
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    received = 0
    try:
        rx.setblocking(False)
        for start in range(0, count, 50):
            for _ in range(min(50, count - start)):
                tx.sendto(b"x" * 64, rx.getsockname())
            deadline = time.monotonic() + 0.2
            while time.monotonic() < deadline:
                if not select.select([rx], [], [], 0.02)[0]:
                    continue
                while True:
                    try:
                        rx.recv(128)
                    except BlockingIOError:
                        break
                    received += 1
    finally:
        rx.close()
        tx.close()
    return received


def test_random_loss_drops_about_n_percent_of_packets(lab3: Lab) -> None:
    """No rule: 600/600 datagrams arrive; 20% loss rule: 20% +/- 7% are lost (binomial, ~4 sd)."""
    assert _udp_delivery(lab3, 600) == 600
    a = lab3.host("a")
    rules = [loss_rule(20, src=str(a.address))]
    apply_table(lab3.host("b").namespace, _TABLE, chain_text("loss", Hook.INPUT, rules))
    lost = 1 - _udp_delivery(lab3, 600) / 600
    assert 0.13 <= lost <= 0.27, f"lost {lost:.1%}"


def _throughput_bytes_s(lab: Lab, total_bytes: int) -> float:
    """Bytes per second of one TCP bulk transfer a -> b."""
    a, b = lab.host("a"), lab.host("b")
    server = tcp_listener(b)
    client = connect_from(a, str(b.address), server.getsockname()[1], timeout_s=2.0)
    conn, _ = server.accept()
    payload = b"\0" * 65536

    def send() -> None:
        sent = 0
        while sent < total_bytes:
            sent += client.send(payload[: total_bytes - sent])
        client.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)
    start = time.perf_counter()
    sender.start()
    got = 0
    conn.settimeout(10.0)
    try:
        while chunk := conn.recv(1 << 16):
            got += len(chunk)
        elapsed = time.perf_counter() - start
    finally:
        sender.join(timeout=10)
        for s in (conn, client, server):
            s.close()
    assert got == total_bytes
    return got / elapsed


def test_tbf_caps_throughput_and_comes_off(lab3: Lab) -> None:
    """tbf 8 Mbit/s on a's eth0: ~1 MB/s (+/- 25%), >= 5x below unlimited; removal restores it."""
    a = lab3.host("a")
    unlimited = _throughput_bytes_s(lab3, 4_000_000)
    tbf_limit(a.namespace, a.ifname, 8_000_000)
    qdisc = root_qdisc(a.namespace, a.ifname)
    assert qdisc is not None
    assert (qdisc.kind, qdisc.rate_bytes_s) == ("tbf", 1_000_000)
    assert qdisc.burst_bytes is not None
    assert qdisc.burst_bytes >= 1514
    limited = _throughput_bytes_s(lab3, 1_000_000)
    assert 750_000 <= limited <= 1_250_000, f"{limited:.0f} B/s"
    assert unlimited >= 5 * limited, (unlimited, limited)
    assert remove_root_qdisc(a.namespace, a.ifname)
    assert not remove_root_qdisc(a.namespace, a.ifname)
    after = root_qdisc(a.namespace, a.ifname)
    assert after is not None
    assert after.is_default
