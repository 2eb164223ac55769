"""Where load may go: the target-address rule every sender checks before its first packet.

Load goes only to loopback or to the 198.18.0.0/15 benchmarking range (RFC 2544) that the
project's own network namespaces use. Host names other than ``localhost`` are refused rather than
resolved: DNS could point them anywhere. Only ``http://`` is accepted: the generator's lean
client (:mod:`harness.load`) speaks plain HTTP/1.1 and nothing else.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

from harness.errors import UsageError

__all__ = ["ALLOWED_NETWORK", "check_target_allowed"]

#: RFC 2544 benchmarking range; the project's network namespaces live here.
ALLOWED_NETWORK: Final = ipaddress.ip_network("198.18.0.0/15")


def check_target_allowed(url: str) -> None:
    """Raise UsageError unless ``url`` is ``http://`` to loopback or 198.18.0.0/15."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        raise UsageError(f"target {url!r}: not a valid URL ({exc})") from None
    if parts.scheme != "http" or not host:
        raise UsageError(
            f"target {url!r}: expected an http:// URL such as http://127.0.0.1:8080 "
            "(the generator speaks plain HTTP/1.1)"
        )
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(
            f"target {url!r}: host names other than localhost are not allowed; "
            "use a loopback address or one in 198.18.0.0/15"
        ) from None
    if address.is_loopback or (address.version == 4 and address in ALLOWED_NETWORK):
        return
    raise UsageError(
        f"target {url!r}: load may only go to loopback (127.0.0.0/8, ::1) or to the project's "
        "network namespaces (198.18.0.0/15)"
    )
