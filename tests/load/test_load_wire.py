"""The per-entry request template produces exactly the bytes of a request built from scratch."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load.wire import build_request, request_builder, request_template


def _reference(
    method: str,
    host: str,
    path: str,
    body: bytes | None,
    content_type: str,
    headers: Sequence[tuple[str, str]],
) -> bytes:
    """The serialisation as first written (lines joined, then encoded), kept as the oracle."""
    own = {name.lower() for name, _ in headers}
    lines = [f"{method} {path} HTTP/1.1"]
    if "host" not in own:
        lines.append(f"Host: {host}")
    if "user-agent" not in own:
        lines.append("User-Agent: slo-harness")
    if body is not None:
        if "content-type" not in own:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + body if body else head


_TEXT = st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12
)
_NAMES = st.sampled_from(["Host", "user-agent", "Content-Type", "Authorization", "X-Id", "Accept"])


@settings(max_examples=60, deadline=None)  # no per-example deadline on shared CI cores
@given(
    method=st.sampled_from(["GET", "POST", "PUT"]),
    host=_TEXT,
    path=_TEXT.map(lambda p: "/" + p),
    bodies=st.lists(st.none() | st.binary(max_size=40), min_size=1, max_size=4),
    content_type=_TEXT,
    headers=st.lists(st.tuples(_NAMES, _TEXT), max_size=4),
)
def test_template_bytes_equal_the_reference_serialisation(
    method: str,
    host: str,
    path: str,
    bodies: list[bytes | None],
    content_type: str,
    headers: list[tuple[str, str]],
) -> None:
    """For any method, path, header set (overriding defaults or not) and bodies (none, empty,
    binary), the template built once gives the same bytes as building each request anew."""
    template = request_template(method, host, path, content_type=content_type, headers=headers)
    builder = request_builder(
        bodies.__getitem__, method, host, path, content_type=content_type, headers=headers
    )
    for i, body in enumerate(bodies):
        expected = _reference(method, host, path, body, content_type, headers)
        assert template(body) == expected
        assert builder(i) == expected
        assert (
            build_request(method, host, path, body, content_type=content_type, headers=headers)
            == expected
        )


def test_builder_lengths_on_both_sides_of_the_table() -> None:
    """Content-Length is right below, at and above the pre-formatted lengths (4,096)."""
    bodies = [b"x" * n for n in (0, 1, 4095, 4096, 4097, 70_000)]
    builder = request_builder(bodies.__getitem__, "POST", "h", "/p")
    for i, body in enumerate(bodies):
        assert builder(i) == _reference("POST", "h", "/p", body, "application/json", ())
