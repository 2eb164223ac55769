"""What each request is: endpoint by the scenario's mix, body from the seeded payload generator,
serialised to the exact bytes the client sends.

Requests are built one arrival ahead of their intended time by the scheduler (never on the send
path), so the JSON encoding and header formatting cost nothing at the moment that is measured.

Processes that split one schedule (Locust workers) pass their part index as ``stream``: they share
the cards but draw different transactions, ids and endpoint choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

from harness.load.http import build_request
from harness.load.schedule import EndpointPicker
from harness.payload import PayloadGenerator
from harness.spec import Endpoint, Scenario
from harness.target import InferInput

__all__ = ["Prepared", "RequestSource", "ScenarioWorkload", "host_port"]

_PICKER_SALT: Final = 0x5EED_0F_E1D  # keeps the mix RNG independent of the payload RNG


@dataclass(frozen=True, slots=True)
class Prepared:
    """One request ready to send.

    ``endpoint`` names its histograms, ``path`` its row in Locust's stats table.
    """

    endpoint: str
    method: str
    path: str
    data: bytes


class RequestSource(Protocol):
    """Produces the next request of the run."""

    def next(self) -> Prepared:
        """The next request, serialised."""


def host_port(url: str) -> tuple[str, int, str]:
    """(host, port, Host header) of an http(s) URL; the default port is 80 (443 for https)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    header = parts.netloc.rsplit("@", 1)[-1]
    return parts.hostname, port, header


class ScenarioWorkload:
    """The scenario's request mix as a :class:`RequestSource`."""

    def __init__(
        self,
        scenario: Scenario,
        target_url: str,
        *,
        stream: int = 0,
        infer: InferInput | None = None,
    ) -> None:
        _, _, self._host_header = host_port(target_url)
        self._base_path = urlsplit(target_url).path.rstrip("/")
        spec = scenario.payload
        self._payload = PayloadGenerator(
            spec.seed,
            spec.cards,
            spec.pan_share,
            fraud_share=spec.fraud_share,
            cross_border_share=spec.cross_border_share,
            stream=stream,
        )
        self._picker = EndpointPicker(scenario.mix, (spec.seed ^ _PICKER_SALT) + stream)
        if infer is None and any(m.endpoint is Endpoint.INFER for m in scenario.mix):
            raise ValueError("the mix sends V2 infer requests: the model's input is required")
        self._infer = infer
        health = Endpoint.HEALTH
        self._health = Prepared(
            health.value,
            health.method,
            health.path,
            build_request(health.method, self._host_header, self._base_path + health.path),
        )

    def next(self) -> Prepared:
        """See :class:`RequestSource`."""
        endpoint = self._picker.next()
        if endpoint is Endpoint.HEALTH:
            return self._health
        if endpoint is Endpoint.SCORE:
            body = self._payload.next_score_body()
        else:
            assert self._infer is not None
            body = self._payload.next_infer_body(self._infer.n_features, self._infer.name)
        path = endpoint.path
        return Prepared(
            endpoint.value,
            endpoint.method,
            path,
            build_request(endpoint.method, self._host_header, self._base_path + path, body),
        )
