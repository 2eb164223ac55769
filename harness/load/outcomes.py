"""How a response is judged: OK, failed or shed, and under which status key and failure kind.

One :class:`ResponseJudge` per request entry, built once: accepted statuses (the entry's
``expect.status``, default any 2xx), the scenario's shed statuses (default 503, unless the entry
accepts them), and the optional body check. The check runs only when configured (only then does
the client keep the body), so a plain entry costs a set lookup per response.

A 2xx whose body check fails is *failed*, with its own kind (``HTTP 200: body check: ...``), so
a service answering 200 with an error document is not counted as serving.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import orjson

from harness.load.http import (
    ClientError,
    ConnectFailed,
    ConnectionLost,
    ProtocolError,
    Reply,
    RequestTimeout,
)
from harness.measure import Outcome, status_key
from harness.spec import BodyCheck, Expect

__all__ = ["BodyCheckFailed", "ResponseJudge", "Verdict", "error_key"]

_ERROR_KEYS: Final = (
    (RequestTimeout, "timeout"),
    (ConnectFailed, "connect_failed"),
    (ConnectionLost, "connection_lost"),
    (ProtocolError, "protocol_error"),
)
_MISSING: Final = object()


def error_key(error: BaseException | None) -> str:
    """The ``statuses`` key of a request that got no response."""
    for cls, key in _ERROR_KEYS:
        if isinstance(error, cls):
            return key
    return "client_error" if isinstance(error, ClientError) else "error"


class BodyCheckFailed(Exception):
    """A 2xx response whose body failed the entry's ``expect.body`` check."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"HTTP {status}: body check: {reason}")


@dataclass(frozen=True, slots=True)
class Verdict:
    """One response judged: outcome, status key, and for a failure its kind and sample."""

    outcome: Outcome
    key: str
    kind: str = ""
    sample: bytes | str = b""


class ResponseJudge:
    """The judge of one request entry (see the module docstring)."""

    __slots__ = ("_accepted", "_check", "_ok", "_secrets", "_shed", "keep_body", "known_ok")

    def __init__(
        self, expect: Expect, shed_status: tuple[int, ...], secrets: tuple[str, ...] = ()
    ) -> None:
        self._accepted = frozenset(expect.status) if expect.status else None
        self._shed = frozenset(s for s in shed_status if not expect.accepts(s))
        self._check = _Check(expect.body) if expect.body is not None else None
        self._ok: dict[int, Verdict] = {}  # one shared verdict per OK status: no allocation
        #: The OK verdicts of statuses judged without a body check (none when the entry has
        #: one): for them :meth:`judge` is this lookup, which a caller may do itself.
        self.known_ok: dict[int, Verdict] = self._ok if self._check is None else {}
        #: Secret header values of the entry: a server that echoes them (an error page quoting
        #: the Authorization header) must not carry them into a report.
        self._secrets = tuple(s.encode() for s in secrets)
        #: Whether the client must keep the whole body (only for a body check).
        self.keep_body = self._check is not None

    def judge(self, reply: Reply | None, error: BaseException | None) -> Verdict:
        """The verdict on one request: ``reply`` is None when ``error`` ended it."""
        if reply is None:
            key = error_key(error)
            return Verdict(Outcome.FAILED, key, key, str(error) if error is not None else key)
        status = reply.status
        accepted = self._accepted
        if (200 <= status < 300) if accepted is None else (status in accepted):
            check = self._check
            if check is None or (reason := check.failure(reply.body)) is None:
                ok = self._ok.get(status)
                if ok is None:
                    ok = self._ok[status] = Verdict(Outcome.OK, status_key(status))
                return ok
            kind = f"HTTP {status}: body check: {reason}"
            return Verdict(Outcome.FAILED, status_key(status), kind, self._scrub(reply.body))
        outcome = Outcome.SHED if status in self._shed else Outcome.FAILED
        return Verdict(outcome, status_key(status), f"HTTP {status}", self._scrub(reply.snippet))

    def _scrub(self, sample: bytes) -> bytes:
        for secret in self._secrets:
            sample = sample.replace(secret, b"***")
        return sample


class _Check:
    """A compiled ``expect.body`` check."""

    __slots__ = ("_contains", "_one_of", "_path", "_spec")

    def __init__(self, spec: BodyCheck) -> None:
        self._spec = spec
        self._contains = spec.contains.encode() if spec.contains is not None else None
        self._path: tuple[str | int, ...] = (
            tuple(int(p) if p.isdigit() else p for p in spec.json_key.split("."))
            if spec.json_key is not None
            else ()
        )
        self._one_of = spec.one_of

    def failure(self, body: bytes) -> str | None:
        """Why ``body`` fails the check (None: it passes)."""
        if self._contains is not None and self._contains not in body:
            return f"does not contain {self._spec.contains!r}"
        if not self._path:
            return None
        try:
            node: object = orjson.loads(body)
        except orjson.JSONDecodeError:
            return "not JSON"
        for part in self._path:
            node = _step(node, part)
            if node is _MISSING:
                return f"no {self._spec.json_key}"
        if self._one_of is not None and not any(
            node == v and isinstance(node, bool) == isinstance(v, bool) for v in self._one_of
        ):
            return f"{self._spec.json_key} not one of the expected values"
        return None


def _step(node: object, part: str | int) -> object:
    if isinstance(part, int) and isinstance(node, list):
        return node[part] if 0 <= part < len(node) else _MISSING
    if isinstance(node, dict):
        return node.get(str(part), _MISSING)
    return _MISSING
