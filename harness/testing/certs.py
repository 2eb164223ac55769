"""A throwaway PKI for TLS tests and the mTLS example: a CA, a server and a client certificate,
generated on the spot (never committed, never trusted anywhere else).

``python harness/testing/certs.py DIR`` writes ``ca.pem``, ``server.pem``/``server.key`` (valid for
``localhost``, ``127.0.0.1`` and ``::1``), ``client.pem``/``client.key`` (signed by the same CA,
for mTLS) and ``other-ca.pem`` (a CA that signed nothing here: verifying against it must fail).
Keys are ECDSA P-256 (fast to make: the whole set takes a few milliseconds), files 0600, the
certificates valid from an hour ago for ``days`` days.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.files import atomic_write_bytes

__all__ = ["Pki", "make_test_pki"]

_NAMES = ("localhost",)
_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class Pki:
    """Paths of a generated PKI (see the module docstring)."""

    folder: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "slo-harness test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _builder(
    subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
    )


def _ca(common: str, days: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(common, _name(common), key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    common: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    days: int,
    *,
    server: bool,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(common, ca_cert.subject, key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server:
        alt: list[x509.GeneralName] = [x509.DNSName(n) for n in _NAMES]
        alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in _ADDRESSES]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write(path: Path, data: bytes) -> Path:
    atomic_write_bytes(path, data, mode=0o600)
    return path


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_test_pki(folder: Path, *, days: int = 2) -> Pki:
    """Generate the PKI into ``folder`` (created if needed; files overwritten)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca("slo-harness test CA", days)
    other, _ = _ca("slo-harness unrelated CA", days)
    server_cert, server_key = _leaf("localhost", ca, days, server=True)
    client_cert, client_key = _leaf("slo-harness load generator", ca, days, server=False)
    return Pki(
        folder=folder,
        ca=_write(folder / "ca.pem", _pem(ca[0])),
        server_cert=_write(folder / "server.pem", _pem(server_cert)),
        server_key=_write(folder / "server.key", _key_pem(server_key)),
        client_cert=_write(folder / "client.pem", _pem(client_cert)),
        client_key=_write(folder / "client.key", _key_pem(client_key)),
        other_ca=_write(folder / "other-ca.pem", _pem(other)),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args(argv)
    pki = make_test_pki(args.folder, days=args.days)
    print(pki.folder)


if __name__ == "__main__":
    main()
