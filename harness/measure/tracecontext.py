"""W3C trace context and ``Server-Timing``: the text the tail explanation reads and writes.

- :func:`traceparent` builds the ``traceparent`` header of an arrival: the trace id is derived
  from the run's id and the arrival index (reproducible, no RNG on the hot path), the parent
  (span) id from the index. Built with the request bytes, before the intended send time.
- :func:`parse_server_timing` reads a ``Server-Timing`` header (W3C; any service that sends one,
  not only the reference service): ``name;dur=<ms>;desc="..."``, comma separated;
  :func:`server_timing_of_head` finds it in a raw response head.

Pure text functions, split from :mod:`harness.measure.tail` (the sampler) by concept. Invariant:
nothing here puts 12 or more decimal digits in a row into an id or a stage name (a report's PAN
guard would refuse it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ServerStage",
    "parse_server_timing",
    "run_trace_prefix",
    "server_timing_of_head",
    "traceparent",
]

_MAX_HEADER: Final = 4096  # a Server-Timing value longer than this is ignored (not ours to parse)
#: Digit runs this long are masked in names and descs a service sends: a report must never carry
#: anything that could be a card number (its PAN guard would refuse the whole report).
_LONG_DIGITS: Final = re.compile(r"[0-9]{8,}")


def _lettered(value: int, mark: str) -> str:
    """16 hex digits of ``value``'s low 56 bits with the letter ``mark`` at positions 0 and 8.

    Why: a trace id is printed in reports, and the reports' PAN guard (rightly) refuses any run of
    12 or more decimal digits that passes Luhn. Plain hex of a small index is all digits
    ("0000000000000123"); with a letter every 8 digits no run is longer than 7.
    """
    return f"{mark}{(value >> 28) & 0xFFFFFFF:07x}{mark}{value & 0xFFFFFFF:07x}"


def run_trace_prefix(run_start_wall_ns: int, seed: int) -> str:
    """The first 16 hex digits of every trace id of a run (a hash of the run's id)."""
    digest = hashlib.blake2b(f"{run_start_wall_ns}:{seed}".encode(), digest_size=8).digest()
    return _lettered(int.from_bytes(digest, "big"), "a")


def traceparent(prefix: str, index: int) -> tuple[str, bytes]:
    """(trace id, ``traceparent`` header line) of arrival ``index`` (0-based) of a run.

    Version 00, sampled; the parent (span) id is derived from the index too. Neither is ever all
    zeros (W3C forbids that) and neither holds more than 7 decimal digits in a row.
    """
    high, low = f"{(index >> 28) & 0xFFFFFFF:07x}", f"{index & 0xFFFFFFF:07x}"
    trace_id = f"{prefix}e{high}e{low}"  # == prefix + _lettered(index, "e"), inlined (hot)
    return trace_id, f"traceparent: 00-{trace_id}-c{high}c{low}-01\r\n".encode("ascii")


@dataclass(frozen=True, slots=True)
class ServerStage:
    """One ``Server-Timing`` metric: its name, duration (ms, None without ``dur``) and desc."""

    name: str
    dur_ms: float | None
    desc: str = ""


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    start, quoted, escaped = 0, False, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        out, escaped = [], False
        for ch in inner:
            if escaped or ch != "\\":
                out.append(ch)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return value


def parse_server_timing(value: str) -> tuple[ServerStage, ...]:
    """The metrics of a ``Server-Timing`` header value (lenient: bad parts are skipped).

    The grammar (W3C Server Timing, section 3): ``metric *( "," metric )``, a metric is a token
    name then ``;param=value`` pairs, values tokens or quoted strings; ``dur`` in milliseconds.
    A repeated name is kept once (the first), as the specification says. Runs of 8 or more
    digits in names and descs are masked ("#"): a service's text never puts a card-number
    look-alike into a report.
    """
    if len(value) > _MAX_HEADER:
        return ()
    seen: set[str] = set()
    out: list[ServerStage] = []
    quoted = '"' in value  # without quotes, str.split is exact (and ten times faster)
    for metric in _split_outside_quotes(value, ",") if quoted else value.split(","):
        fields = _split_outside_quotes(metric, ";") if quoted else metric.split(";")
        name = fields[0].strip()
        if not name or name in seen or any(c in name for c in ' "=\t'):
            continue
        dur: float | None = None
        desc = ""
        for param in fields[1:]:
            key, _, raw = param.partition("=")
            key = key.strip().lower()
            if key == "dur" and dur is None:
                try:
                    number = float(_unquote(raw))
                except ValueError:
                    continue
                if number == number and 0.0 <= number < 1e9:  # not NaN, not negative
                    dur = number
            elif key == "desc" and not desc:
                desc = _unquote(raw)[:200]
        seen.add(name)
        out.append(ServerStage(_LONG_DIGITS.sub("#", name), dur, _LONG_DIGITS.sub("#", desc)))
    return tuple(out)


def server_timing_of_head(head: bytes) -> str | None:
    """The ``Server-Timing`` value of a raw HTTP response head (all such lines joined), or None."""
    lower = head.lower()
    values: list[str] = []
    at = lower.find(b"\r\nserver-timing:")
    for _ in range(16):  # bounded: a head repeats the header a few times at most
        if at < 0:
            break
        start = at + len(b"\r\nserver-timing:")
        stop = lower.find(b"\r\n", start)
        raw = head[start : stop if stop >= 0 else None]
        values.append(raw.decode("latin-1").strip())
        at = lower.find(b"\r\nserver-timing:", start) if stop >= 0 else -1
    return ", ".join(values) if values else None
