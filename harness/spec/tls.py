"""A scenario's ``tls:`` section and its ``allow:`` list: how to reach an ``https://`` target and
where load may go besides loopback and the lab range.

Both are plain data here, parsed and checked at the edge; building the ``ssl.SSLContext`` and
resolving host names happen in :mod:`harness.target` (the one target-resolution path).

``tls:`` (every field optional; without the section an ``https://`` target is verified against
the system's trust store)::

    tls:
      ca: certs/ca.pem           # PEM bundle that signed the server's certificate
      cert: certs/client.pem     # client certificate for mTLS (PEM)
      key: certs/client.key      # its private key (omit when it is inside ``cert``)
      server_name: scoring.internal   # SNI and the name verified; default: the URL's host
      min_version: "1.2"         # "1.2" (default) or "1.3"; 1.0 and 1.1 are never offered
      insecure: false            # true: no certificate verification at all

Invariants:
- certificate verification is on unless ``insecure: true`` is written; ``insecure`` with a
  ``ca`` is a contradiction and refused (the CA would silently be ignored);
- file paths are resolved against the scenario file's folder by :func:`resolve_tls_files`, and
  every file must exist, be readable and hold PEM (``-----BEGIN``) before anything starts;
- ``allow:`` entries are a host name, an IP address or a CIDR network (``10.20.0.0/16``); a
  network wider than /8 (IPv4) or /32 (IPv6) is refused: name the networks the service lives in.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Final

import msgspec
from msgspec import Meta, Struct

from harness.errors import SpecError

__all__ = [
    "AllowText",
    "TlsSpec",
    "TlsVersion",
    "check_allow_entry",
    "resolve_tls_files",
]

#: Widest networks an ``allow`` entry may name (a /0 would allow the whole Internet).
MIN_PREFIX_V4: Final = 8
MIN_PREFIX_V6: Final = 32
_HOST_NAME: Final = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_PEM_MARK: Final = b"-----BEGIN "
_MAX_PEM_BYTES: Final = 1 << 20

PathText = Annotated[str, Meta(min_length=1, max_length=4096)]
AllowText = Annotated[str, Meta(min_length=1, max_length=260)]


class TlsVersion(enum.Enum):
    """Lowest TLS version offered (TLS 1.0/1.1 never are)."""

    TLS1_2 = "1.2"
    TLS1_3 = "1.3"


class TlsSpec(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the generator talks TLS to an ``https://`` target (see the module docstring)."""

    ca: PathText | None = None
    cert: PathText | None = None
    key: PathText | None = None
    server_name: Annotated[str, Meta(min_length=1, max_length=253)] | None = None
    min_version: TlsVersion = TlsVersion.TLS1_2
    insecure: bool = False

    def __post_init__(self) -> None:
        if self.key is not None and self.cert is None:
            raise ValueError("key: expected together with cert (the client certificate)")
        if self.insecure and self.ca is not None:
            raise ValueError(
                "insecure: expected false when ca is given (insecure: true turns verification "
                "off, so the CA would be ignored); remove one of them"
            )
        if self.server_name is not None and not _HOST_NAME.match(self.server_name):
            raise ValueError(
                f"server_name: expected a DNS host name such as scoring.internal, "
                f"got {self.server_name!r}"
            )

    @property
    def mtls(self) -> bool:
        """True when a client certificate is presented."""
        return self.cert is not None


def check_allow_entry(text: str) -> str:
    """``text`` as a normalised allow entry (CIDR/IP in canonical form, host name lower-cased);
    ValueError saying what is expected otherwise."""
    entry = text.strip()
    if "/" in entry or _looks_like_ip(entry):
        try:
            network = ipaddress.ip_network(entry, strict=True)
        except ValueError as exc:
            raise ValueError(
                f"an IP address, a CIDR network such as 10.20.0.0/16, or a host name ({exc})"
            ) from None
        floor = MIN_PREFIX_V4 if network.version == 4 else MIN_PREFIX_V6
        if network.prefixlen < floor:
            raise ValueError(
                f"a network of /{floor} or narrower (got {network}): name the networks the "
                "service lives in, not the whole address space"
            )
        return str(network)
    if not _HOST_NAME.match(entry):
        raise ValueError(f"an IP address, a CIDR network or a host name, got {text!r}")
    return entry.rstrip(".").lower()


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return ":" in text or text.replace(".", "").isdigit()
    return True


def resolve_tls_files(tls: TlsSpec, base: Path, file: str) -> TlsSpec:
    """``tls`` with its file paths made absolute against ``base`` (the scenario's folder), each
    checked to be a readable PEM file; a SpecError at ``$.tls.<field>`` otherwise."""
    changes: dict[str, str] = {}
    for field in ("ca", "cert", "key"):
        value = getattr(tls, field)
        if value is None:
            continue
        path = (base / value).expanduser().resolve()
        _check_pem(path, file, f"$.tls.{field}")
        changes[field] = str(path)
    return msgspec.structs.replace(tls, **changes) if changes else tls


def _check_pem(path: Path, file: str, where: str) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(_MAX_PEM_BYTES)
    except FileNotFoundError:
        raise SpecError(file, where, f"an existing PEM file (not found: {path})") from None
    except IsADirectoryError:
        raise SpecError(file, where, f"a PEM file, not a directory ({path})") from None
    except OSError as exc:
        raise SpecError(
            file, where, f"a readable PEM file ({path}: {exc.strerror or exc})"
        ) from None
    if _PEM_MARK not in head:
        raise SpecError(file, where, f"a PEM file with a -----BEGIN block ({path} has none)")
