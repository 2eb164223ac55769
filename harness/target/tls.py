"""TLS for ``https://`` targets: the client ``SSLContext`` from a scenario's ``tls:`` section, and a
pre-flight handshake that turns every way TLS can fail into a message a user can act on.

Why stdlib ``ssl``: the lean client (:mod:`harness.load.http`) wraps its sockets in it, and inside
the generator gevent has patched ``ssl`` into cooperative sockets, so one context type serves both
the probe (httpx) and the hot path. The context is built at call time through ``ssl.SSLContext``,
so a context made in the generator process is gevent's.

Invariants:
- verification (chain and host name) is on unless the scenario says ``insecure: true``;
- TLS 1.2 is the floor (``min_version: "1.3"`` raises it); ALPN offers only ``http/1.1``;
- an encrypted private key is refused (no password prompt can block a CI job);
- every failure names the scenario file and the ``$.tls`` field to change (exit 2), except a
  target that does not answer at all (``TargetUnreachable``, exit 3);
- an ``https://`` URL against a server that speaks plain HTTP is recognised (a second, plain
  request reads ``HTTP/1.x``) and said so, never left to time out.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from harness.errors import SpecError, TargetUnreachable, UsageError
from harness.measure import TlsRecord
from harness.spec import TlsSpec, TlsVersion
from harness.target.address import ResolvedTarget

__all__ = ["ClientTls", "client_tls", "tls_preflight"]

_VERSIONS: Final = {
    TlsVersion.TLS1_2: ssl.TLSVersion.TLSv1_2,
    TlsVersion.TLS1_3: ssl.TLSVersion.TLSv1_3,
}
#: OpenSSL reasons meaning "the bytes that came back are not TLS" (often an HTTP response).
_NOT_TLS: Final = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "HTTP_REQUEST",
        "RECORD_LAYER_FAILURE",
        "PACKET_LENGTH_TOO_LONG",
        "UNKNOWN_PROTOCOL",
        "UNEXPECTED_EOF_WHILE_READING",
    }
)
_NEEDS_CERT: Final = ("CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE")
_CERT_REFUSED: Final = ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN", "DECRYPT_ERROR")
_VERSION_MISMATCH: Final = ("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE")
#: After the handshake, how long to wait for a TLS 1.3 server's post-handshake alert (a server
#: that wants a client certificate says so only after our Finished), at least; scaled by the RTT.
_ALERT_WAIT_S: Final = 0.3
_HOSTNAME_MISMATCH: Final = 62  # X509_V_ERR_HOSTNAME_MISMATCH


class _EncryptedKey(Exception):
    """The private key asked for a password."""


@dataclass(frozen=True, slots=True)
class ClientTls:
    """What a connection needs to speak TLS to the target, and what provenance records."""

    context: ssl.SSLContext
    server_name: str  # SNI and the name verified
    record: TlsRecord
    file: str = "<scenario>"  # the scenario file, for error messages


def _fail(file: str, field: str, expected: str) -> SpecError:
    return SpecError(file, f"$.tls.{field}" if field else "$.tls", expected)


def client_tls(tls: TlsSpec | None, host: str, *, file: str = "<scenario>") -> ClientTls:
    """The client context for ``tls`` (None: defaults, system trust store) towards ``host``.

    Raises SpecError at the ``$.tls`` field whose file ssl cannot use."""
    spec = tls or TlsSpec()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname + CERT_REQUIRED
    context.minimum_version = _VERSIONS[spec.min_version]
    context.set_alpn_protocols(["http/1.1"])
    if spec.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif spec.ca is not None:
        try:
            context.load_verify_locations(cafile=spec.ca)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise _fail(file, "ca", f"a PEM bundle of CA certificates ({spec.ca}: {exc})") from None
    else:
        context.load_default_certs()
    subject = digest = None
    if spec.cert is not None:
        _load_chain(context, spec, file)
        subject, digest = _cert_identity(spec.cert)
    record = TlsRecord(
        verify=not spec.insecure,
        server_name=spec.server_name or host,
        min_version=spec.min_version.value,
        ca_file=spec.ca,
        ca_sha256=_sha256_file(spec.ca),
        client_cert_file=spec.cert,
        client_cert_sha256=digest,
        client_cert_subject=subject,
    )
    return ClientTls(context, spec.server_name or host, record, file)


def _load_chain(context: ssl.SSLContext, spec: TlsSpec, file: str) -> None:
    def no_password() -> str:
        raise _EncryptedKey

    assert spec.cert is not None
    try:
        context.load_cert_chain(spec.cert, spec.key, password=no_password)
    except _EncryptedKey:
        field = "key" if spec.key else "cert"
        raise _fail(
            file, field, "an unencrypted PEM private key (this one needs a password)"
        ) from None
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise _fail(file, "key", "the private key of tls.cert (they do not match)") from None
        if spec.key is None and "PEM lib" in str(exc):
            raise _fail(
                file, "key", f"the client certificate's private key (none inside {spec.cert})"
            ) from None
        raise _fail(file, "cert", f"a PEM client certificate and key ({exc})") from None
    except OSError as exc:
        raise _fail(file, "cert", f"a readable client certificate ({exc})") from None


def _cert_identity(path: str) -> tuple[str | None, str | None]:
    """(subject, SHA-256 of the DER) of the first certificate in a PEM file, best effort."""
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace")
        start = text.index("-----BEGIN CERTIFICATE-----")
        end = text.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
        der = ssl.PEM_cert_to_DER_cert(text[start:end])
    except (OSError, ValueError):
        return None, None
    return _der_subject(der), hashlib.sha256(der).hexdigest()


def _der_subject(der: bytes) -> str | None:
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - cryptography is a dependency
        return None
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return None


def _sha256_file(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def tls_preflight(target: ResolvedTarget, tls: ClientTls, timeout_s: float = 5.0) -> ClientTls:
    """One handshake with the target before any load; ``tls`` with what it observed recorded.

    Raises SpecError/UsageError (exit 2) with what to change, TargetUnreachable (exit 3) when
    nothing answers. Bounded: one connection, ``timeout_s`` for connect + handshake, then a
    short wait for a post-handshake alert; on a handshake that looks like plain HTTP, one more
    plain connection (same bound) to confirm.
    """
    address = target.addresses[0]
    try:
        raw = socket.create_connection((address, target.port), timeout=timeout_s)
    except OSError as exc:
        raise TargetUnreachable(
            f"target {target.url}: connect to {address} failed ({exc})"
        ) from None
    with contextlib.closing(raw):
        started = time.monotonic()
        try:
            sock = tls.context.wrap_socket(raw, server_hostname=tls.server_name)
        except ssl.SSLCertVerificationError as exc:
            raise _verify_failed(target, tls, exc) from None
        except (ssl.SSLError, TimeoutError, ConnectionError) as exc:
            raise _handshake_failed(target, tls, exc, timeout_s) from None
        with contextlib.closing(sock):
            rtt = time.monotonic() - started
            _await_alert(target, tls, sock, max(_ALERT_WAIT_S, 3 * rtt))
            return replace(tls, record=_observed(tls.record, sock))


def _await_alert(
    target: ResolvedTarget, tls: ClientTls, sock: ssl.SSLSocket, wait_s: float
) -> None:
    sock.settimeout(wait_s)
    try:
        sock.recv(1)
    except TimeoutError:
        return  # quiet: the server waits for a request, as it should
    except ssl.SSLError as exc:
        raise _handshake_failed(target, tls, exc, wait_s) from None
    except OSError:
        pass
    # EOF or a reset right after the handshake: a server that refuses us without an alert.
    if not tls.record.client_cert_file:
        raise _fail(
            tls.file,
            "cert",
            f"a client certificate: {target.url} closed the connection right after the TLS "
            "handshake, as an mTLS server does for a client without one (set tls.cert and "
            "tls.key)",
        )


def _observed(record: TlsRecord, sock: ssl.SSLSocket) -> TlsRecord:
    der = sock.getpeercert(binary_form=True)
    cipher = sock.cipher()
    not_after = None
    if der:
        with contextlib.suppress(ImportError, ValueError):
            from cryptography import x509

            cert = x509.load_der_x509_certificate(der)
            not_after = cert.not_valid_after_utc.isoformat()
    return replace(
        record,
        negotiated_version=sock.version(),
        cipher=cipher[0] if cipher else None,
        server_cert_sha256=hashlib.sha256(der).hexdigest() if der else None,
        server_cert_subject=_der_subject(der) if der else None,
        server_cert_not_after=not_after,
    )


def _verify_failed(
    target: ResolvedTarget, tls: ClientTls, exc: ssl.SSLCertVerificationError
) -> SpecError:
    reason = exc.verify_message or str(exc)
    if exc.verify_code == _HOSTNAME_MISMATCH:
        return _fail(
            tls.file,
            "server_name",
            f"a name the server's certificate carries: {target.url} presented a certificate "
            f"that is not valid for {tls.server_name!r} ({reason})",
        )
    where = f"the CA in {tls.record.ca_file}" if tls.record.ca_file else "the system trust store"
    return _fail(
        tls.file,
        "ca",
        f"the CA that signed {target.url}'s certificate: it does not verify against {where} "
        f"({reason}); set tls.ca to that CA's PEM bundle",
    )


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc).upper().replace(" ", "_")


def _handshake_failed(
    target: ResolvedTarget, tls: ClientTls, exc: BaseException, timeout_s: float
) -> HarnessErrorLike:
    reason = _reason(exc)
    if isinstance(exc, TimeoutError) or reason in _NOT_TLS or isinstance(exc, ConnectionError):
        if _speaks_plain_http(target, timeout_s):
            return SpecError(
                tls.file,
                "$.target",
                f"an http:// URL or the port where the server serves TLS: {target.url} "
                f"({target.addresses[0]}:{target.port}) speaks plain HTTP, not TLS",
            )
        if isinstance(exc, TimeoutError):
            return TargetUnreachable(
                f"target {target.url}: no TLS handshake within {timeout_s:g} s"
            )
    if any(word in reason for word in _NEEDS_CERT) and not tls.record.client_cert_file:
        return _fail(
            tls.file,
            "cert",
            f"a client certificate: {target.url} requires one (mTLS) and refused the "
            f"handshake ({reason.lower()}); set tls.cert and tls.key",
        )
    if any(word in reason for word in _CERT_REFUSED) and tls.record.client_cert_file:
        return _fail(
            tls.file,
            "cert",
            f"a client certificate {target.url} accepts: it refused "
            f"{tls.record.client_cert_file} ({reason.lower()})",
        )
    if any(word in reason for word in _VERSION_MISMATCH):
        return _fail(
            tls.file,
            "min_version",
            f"a TLS version {target.url} supports: none in common from TLS "
            f"{tls.record.min_version} up ({reason.lower()})",
        )
    return UsageError(f"target {target.url}: TLS handshake failed ({exc})")


HarnessErrorLike = SpecError | UsageError | TargetUnreachable


def _speaks_plain_http(target: ResolvedTarget, timeout_s: float) -> bool:
    """True when a plain HTTP request to the target's port gets an HTTP/1.x answer."""
    request = (
        f"GET {target.base_path or '/'} HTTP/1.1\r\nHost: {target.host_header}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii", "replace")
    try:
        with socket.create_connection(
            (target.addresses[0], target.port), timeout=min(timeout_s, 2.0)
        ) as sock:
            sock.sendall(request)
            head = sock.recv(8)
    except OSError:
        return False
    return head.startswith(b"HTTP/1.")
