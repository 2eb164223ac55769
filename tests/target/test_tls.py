"""TLS to https:// targets: the client context from tls:, the pre-flight handshake and what it
says when something is wrong, the lean client over TLS and mTLS. Loopback only, test CA."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness.errors import SpecError
from harness.load import tlsio
from harness.load.http import ClientError, HttpConnection, build_request
from harness.spec import TlsSpec, load_scenario
from harness.target import client_tls, open_target, probe_target
from harness.testing import Pki

_DEADLINE_S = 3.0


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` and return it."""
    path.write_text(text, encoding="utf-8")
    return path


def _mtls(pki: Pki, **kw: object) -> TlsSpec:
    return TlsSpec(ca=str(pki.ca), cert=str(pki.client_cert), key=str(pki.client_key), **kw)  # type: ignore[arg-type]


def _exchange(conn: HttpConnection, path: str = "/x") -> int:
    reply = conn.exchange(
        build_request("GET", "localhost", path), time.monotonic_ns() + int(_DEADLINE_S * 1e9)
    )
    return reply.status


def test_mtls_preflight_records_the_session_for_provenance(mtls_target: str, pki: Pki) -> None:
    """With the test CA and the client certificate the handshake succeeds; the record holds the
    negotiated version, the server and client certificate fingerprints, never a key."""
    conn = open_target(mtls_target, tls=_mtls(pki), file="s.yaml").preflight(_DEADLINE_S)
    record = conn.record()
    assert record.scheme == "https"
    assert record.addresses == ("127.0.0.1",)
    tls = record.tls
    assert tls is not None
    assert tls.verify
    assert tls.negotiated_version in ("TLSv1.2", "TLSv1.3")
    assert tls.server_cert_subject is not None
    assert "CN=localhost" in tls.server_cert_subject
    assert tls.client_cert_subject is not None
    assert "load generator" in tls.client_cert_subject
    assert tls.server_cert_sha256
    assert len(tls.server_cert_sha256) == 64
    assert tls.ca_sha256
    assert tls.ca_file == str(pki.ca)
    assert "PRIVATE KEY" not in repr(record)


def test_a_client_without_a_certificate_is_told_the_server_wants_one(
    mtls_target: str, pki: Pki
) -> None:
    """mTLS rejects a client without a certificate; the error names $.tls.cert, no timeout."""
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        open_target(mtls_target, tls=TlsSpec(ca=str(pki.ca)), file="s.yaml").preflight(_DEADLINE_S)
    assert caught.value.path == "$.tls.cert"
    assert "requires one (mTLS)" in str(caught.value) or "right after the TLS" in str(caught.value)
    assert time.monotonic() - started < _DEADLINE_S


def test_the_lean_client_is_refused_by_mtls_without_a_certificate(
    mtls_target: str, pki: Pki
) -> None:
    """The hot-path client gets a ClientError (not a hang) from an mTLS server without a cert."""
    tls = client_tls(TlsSpec(ca=str(pki.ca)), "localhost")
    port = int(mtls_target.rsplit(":", 1)[1])
    conn = HttpConnection("127.0.0.1", port, ssl_context=tls.context, server_name="localhost")
    with pytest.raises(ClientError, match=r"(?i)certificate|closed|reset"):
        _exchange(conn)
    assert not conn.connected


def test_the_lean_client_reuses_one_tls_session(mtls_target: str, pki: Pki) -> None:
    """Over mTLS many requests share one connection: the handshake happens once, on open, and
    an idle pause does not make the client drop it."""
    tls = client_tls(_mtls(pki), "localhost")
    port = int(mtls_target.rsplit(":", 1)[1])
    with HttpConnection("127.0.0.1", port, ssl_context=tls.context, server_name="localhost") as c:
        assert _exchange(c) == 200
        first = c._sock  # the wrapped socket of the first connection
        assert [_exchange(c) for _ in range(20)] == [200] * 20
        assert c._sock is first
        time.sleep(0.6)  # past the idle check: a live TLS connection must not read as closed
        assert _exchange(c) == 200
        assert c._sock is first
        assert first is not None
        assert first.version() in ("TLSv1.2", "TLSv1.3")


def test_a_wrong_ca_and_a_wrong_name_point_at_their_fields(tls_target: str, pki: Pki) -> None:
    """Verification is on by default: an unrelated CA names $.tls.ca, a name the certificate
    does not carry names $.tls.server_name; insecure: true (written) turns it off."""
    with pytest.raises(SpecError) as caught:
        open_target(tls_target, tls=TlsSpec(ca=str(pki.other_ca))).preflight(_DEADLINE_S)
    assert caught.value.path == "$.tls.ca"
    tls = TlsSpec(ca=str(pki.ca), server_name="scoring.example")
    with pytest.raises(SpecError) as caught:
        open_target(tls_target, tls=tls).preflight(_DEADLINE_S)
    assert caught.value.path == "$.tls.server_name"
    with pytest.raises(SpecError, match=r"\$\.tls\.ca"):  # no tls: the system store, no test CA
        open_target(tls_target).preflight(_DEADLINE_S)
    insecure = open_target(tls_target, tls=TlsSpec(insecure=True)).preflight(_DEADLINE_S)
    assert insecure.tls is not None
    assert not insecure.tls.record.verify


def test_https_against_plain_http_says_so(plain_target: str, pki: Pki) -> None:
    """An https:// URL at a plain-HTTP port: exit 2 at $.target saying it speaks plain HTTP."""
    url = plain_target.replace("http://", "https://")
    started = time.monotonic()
    with pytest.raises(SpecError, match="speaks plain HTTP, not TLS") as caught:
        open_target(url, tls=TlsSpec(ca=str(pki.ca)), file="s.yaml").preflight(0.5)
    assert caught.value.file == "s.yaml"
    assert caught.value.path == "$.target"
    assert time.monotonic() - started < 3.0


def test_the_probe_speaks_tls_and_returns_the_connection_record(tls_target: str, pki: Pki) -> None:
    """The readiness probe goes over the same checked TLS connection and records it."""
    conn = open_target(tls_target, tls=TlsSpec(ca=str(pki.ca), server_name="localhost"))
    info = probe_target(tls_target, timeout_s=_DEADLINE_S, connection=conn.preflight())
    assert info.connection is not None
    assert info.connection.tls is not None
    assert info.connection.tls.server_name == "localhost"


def test_tls_on_a_plain_http_target_is_refused() -> None:
    """tls: with an http:// target would do nothing: refused at $.tls (nothing is sent)."""
    with pytest.raises(SpecError, match=r"\$\.tls: an https:// target"):
        open_target("http://127.0.0.1:1", tls=TlsSpec(insecure=True), file="s.yaml")


def test_unusable_certificate_files_name_their_field(tmp_path: Path, pki: Pki) -> None:
    """A key that does not match, an encrypted key, a CA file that is no certificate: exit 2
    at the field, before any connection."""
    other = ec.generate_private_key(ec.SECP256R1())
    plain = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    locked = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret-pass"),
    )
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(plain)
    enc = tmp_path / "enc.key"
    enc.write_bytes(locked)
    cases = [
        (TlsSpec(ca=str(pki.ca), cert=str(pki.client_cert), key=str(wrong)), "$.tls.key"),
        (TlsSpec(ca=str(pki.ca), cert=str(pki.client_cert), key=str(enc)), "$.tls.key"),
        (TlsSpec(ca=str(pki.client_key)), "$.tls.ca"),
        (TlsSpec(cert=str(pki.client_cert)), "$.tls.key"),
    ]
    for spec, field in cases:
        with pytest.raises(SpecError) as caught:
            client_tls(spec, "localhost", file="s.yaml")
        assert caught.value.file == "s.yaml"
        assert caught.value.path == field, (spec, caught.value)
        assert "secret-pass" not in str(caught.value)


SCENARIO = """\
name: tls-spec
target: https://127.0.0.1:8443
tls: {tls}
phases:
  - {{name: steady, kind: steady, rate: 10, duration_s: 1}}
"""


@pytest.mark.parametrize(
    ("tls", "path", "expected"),
    [
        ("{ca: missing.pem}", "$.tls.ca", "not found"),
        ("{ca: dir}", "$.tls.ca", "not a directory"),
        ("{ca: notpem.txt}", "$.tls.ca", "-----BEGIN"),
        ("{key: k.pem}", "$.tls.key", "together with cert"),
        ("{ca: ca.pem, insecure: true}", "$.tls.insecure", "remove one of them"),
        ("{min_version: '1.1'}", "$.tls.min_version", "1.2, 1.3"),
        ("{server_name: 'a b'}", "$.tls.server_name", "DNS host name"),
        ("{verify: false}", "$.tls.verify", "unknown field"),
    ],
)
def test_bad_tls_fields_name_file_and_field(
    tmp_path: Path, pki: Pki, tls: str, path: str, expected: str
) -> None:
    """Every bad tls: field is a SpecError with the scenario file and the field path."""
    (tmp_path / "dir").mkdir()
    write(tmp_path / "notpem.txt", "hello")
    (tmp_path / "ca.pem").write_bytes(pki.ca.read_bytes())
    scenario = write(tmp_path / "s.yaml", SCENARIO.format(tls=tls))
    with pytest.raises(SpecError) as caught:
        load_scenario(scenario)
    assert caught.value.file == str(scenario)
    assert caught.value.path == path
    assert expected in caught.value.expected


def test_tls_paths_resolve_against_the_scenario_folder(tmp_path: Path, pki: Pki) -> None:
    """Relative tls: paths are made absolute against the scenario's folder."""
    (tmp_path / "certs").mkdir()
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / "certs" / name).write_bytes((pki.folder / name).read_bytes())
    scenario = write(
        tmp_path / "s.yaml",
        SCENARIO.format(tls="{ca: certs/ca.pem, cert: certs/client.pem, key: certs/client.key}"),
    )
    tls = load_scenario(scenario).tls
    assert tls is not None
    assert tls.mtls
    assert not tls.insecure
    assert tls.ca == str(tmp_path / "certs" / "ca.pem")
    assert tls.key == str(tmp_path / "certs" / "client.key")


def test_allow_entries_are_checked_at_their_index(tmp_path: Path) -> None:
    """A bad allow: entry is a SpecError at $.allow[i]."""
    text = SCENARIO.format(tls="{insecure: true}") + "allow: [10.20.0.0/16, 0.0.0.0/0]\n"
    with pytest.raises(SpecError) as caught:
        load_scenario(write(tmp_path / "s.yaml", text))
    assert caught.value.path == "$.allow[1]"


def test_the_shipped_mtls_example_loads_with_generated_certificates(tmp_path: Path) -> None:
    """scenarios/examples/mtls.yaml parses, and its tls: paths resolve to the certificates
    scripts/example-mtls.sh generates next to it (checked here in a copy of the layout)."""
    from harness.testing import make_test_pki

    root = Path(__file__).resolve().parents[2] / "scenarios"
    (tmp_path / "slo").mkdir()
    (tmp_path / "slo" / "default.yaml").write_bytes((root / "slo" / "default.yaml").read_bytes())
    examples = tmp_path / "examples"
    make_test_pki(examples / "mtls-certs")
    scenario = examples / "mtls.yaml"
    scenario.write_bytes((root / "examples" / "mtls.yaml").read_bytes())
    loaded = load_scenario(scenario)
    assert loaded.tls is not None
    assert loaded.tls.mtls
    assert not loaded.tls.insecure
    assert loaded.tls.cert == str(examples / "mtls-certs" / "client.pem")
    assert client_tls(loaded.tls, "127.0.0.1", file=str(scenario)).record.client_cert_subject


def test_tls_reads_a_response_in_one_socket_read_and_sees_a_server_close(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean client reads each small TLS response with one socket read (memory BIO, not
    OpenSSL's header-then-body reads); a connection the server closed while idle is replaced."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.server_cert, pki.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5.0)
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def serve() -> None:
        for requests in (10, 1):  # the first connection serves 10, then closes while idle
            raw, _ = listener.accept()
            with server_ctx.wrap_socket(raw, server_side=True) as conn:
                for _ in range(requests):
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(4096)
                    conn.sendall(response)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    pulls: list[int] = []
    real_pull = tlsio.TlsStream._pull

    def counted(self: tlsio.TlsStream) -> bool:
        pulls.append(1)
        return real_pull(self)

    monkeypatch.setattr(tlsio.TlsStream, "_pull", counted)
    tls = client_tls(TlsSpec(ca=str(pki.ca)), "localhost")
    port = listener.getsockname()[1]
    try:
        conn = HttpConnection("127.0.0.1", port, ssl_context=tls.context, server_name="localhost")
        with conn as c:
            assert _exchange(c) == 200  # handshake + first response
            pulls.clear()
            assert [_exchange(c) for _ in range(9)] == [200] * 9
            assert 9 <= len(pulls) <= 9 + 2  # one read per response (+ a late session ticket)
            time.sleep(0.6)  # the server has closed it; past the idle check
            assert _exchange(c) == 200  # on a fresh connection
    finally:
        thread.join(timeout=5)
        listener.close()
