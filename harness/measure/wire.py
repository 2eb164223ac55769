"""The worker -> master wire format of a :class:`~harness.measure.Recorder` snapshot.

msgpack via msgspec with ``array_like`` Structs (positional arrays, no repeated key names);
histograms travel in HdrHistogram's own compressed base64 encoding, so the master's merge is
exact (counts add bucket by bucket). :func:`decode_wire` decodes and checks a whole snapshot
before anything is merged: a corrupt or foreign one (another version, run start, interval length,
histogram range or precision) is a :class:`MeasurementError` naming the bad part, and the
recorder it was meant for stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import msgspec

from harness.errors import MeasurementError
from harness.measure.histogram import LatencyHistogram
from harness.measure.result import Outcome

__all__ = [
    "N_COUNTS",
    "WIRE_VERSION",
    "Snapshot",
    "Wire",
    "WireHist",
    "WireInterval",
    "WirePhase",
    "dec",
    "decode_wire",
    "enc",
    "encode_wire",
]

#: Bumped whenever the wire layout changes; a master refuses other versions.
WIRE_VERSION: Final = 2  # 2: intervals carry the service-time histogram
#: Length of every counter list (sent, ok, failed, shed, late, unsent, out of range, offered).
N_COUNTS: Final = 8

_REF = LatencyHistogram().raw
#: Range and precision every histogram must have to add exactly.
_GEOMETRY: Final = (
    _REF.lowest_trackable_value,
    _REF.highest_trackable_value,
    _REF.significant_figures,
)
del _REF


class WireHist(msgspec.Struct, array_like=True, frozen=True):
    phase: str
    endpoint: str
    outcome: str
    intended: str
    intended_oor: int
    service: str
    service_oor: int


class WireInterval(msgspec.Struct, array_like=True, frozen=True):
    index: int
    phase: str
    counts: list[int]
    hist: str  # "" when no OK response completed in the interval
    hist_oor: int
    svc: str  # service-time histogram of the same responses ("" when empty)


class WirePhase(msgspec.Struct, array_like=True, frozen=True):
    phase: str
    counts: list[int]


class Wire(msgspec.Struct, array_like=True, frozen=True):
    version: int
    run_start_wall_ns: int
    interval_ns: int
    phases: list[WirePhase]
    hists: list[WireHist]
    intervals: list[WireInterval]
    lag: str
    lag_oor: int


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(Wire)


def encode_wire(wire: Wire) -> bytes:
    """The snapshot's bytes."""
    return _encoder.encode(wire)


def enc(hist: LatencyHistogram) -> str:
    """A histogram's compressed encoding ("" when empty)."""
    return hist.encode() if hist.count else ""


def dec(encoded: str, out_of_range: int) -> LatencyHistogram:
    """The histogram back from :func:`enc` (plus its out-of-range count)."""
    return (
        LatencyHistogram.decode(encoded, out_of_range)
        if encoded
        else LatencyHistogram(out_of_range=out_of_range)
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A decoded, checked wire snapshot: nothing in it can fail to merge."""

    phases: list[tuple[str, list[int]]]
    hists: list[tuple[tuple[str, str, Outcome], LatencyHistogram, LatencyHistogram]]
    intervals: list[tuple[int, str, list[int], LatencyHistogram | None, LatencyHistogram]]
    lag: LatencyHistogram


def decode_wire(data: bytes, run_start_wall_ns: int, interval_ns: int) -> Snapshot:
    """Decode and check every part of a snapshot (MeasurementError naming the bad part)."""
    try:
        wire = _decoder.decode(data)
        outcomes = {h.outcome: Outcome(h.outcome) for h in wire.hists}
    except (msgspec.DecodeError, ValueError) as exc:
        raise MeasurementError(f"unreadable measurement snapshot: {exc}") from None
    if wire.version != WIRE_VERSION:
        raise MeasurementError(
            f"worker snapshot has wire version {wire.version}, expected {WIRE_VERSION}"
        )
    if (wire.run_start_wall_ns, wire.interval_ns) != (run_start_wall_ns, interval_ns):
        raise MeasurementError(
            "worker snapshot disagrees on the run start or interval length "
            f"({wire.run_start_wall_ns}/{wire.interval_ns} ns vs "
            f"{run_start_wall_ns}/{interval_ns} ns)"
        )
    phases = [(wp.phase, _checked_counts(wp.counts, f"phase {wp.phase!r}")) for wp in wire.phases]
    hists = []
    for wh in wire.hists:
        where = f"{wh.phase}/{wh.endpoint}/{wh.outcome}"
        hists.append(
            (
                (wh.phase, wh.endpoint, outcomes[wh.outcome]),
                _checked_hist(wh.intended, wh.intended_oor, f"{where} intended-clock histogram"),
                _checked_hist(wh.service, wh.service_oor, f"{where} service-time histogram"),
            )
        )
    intervals = []
    for wi in wire.intervals:
        where = f"interval {wi.index} of phase {wi.phase!r}"
        if wi.index < 0:
            raise MeasurementError(f"worker snapshot has {where}: expected an index >= 0")
        hist = _checked_hist(wi.hist, wi.hist_oor, f"{where} histogram")
        svc = _checked_hist(wi.svc, 0, f"{where} service-time histogram")
        has_hist = bool(wi.hist or wi.hist_oor or wi.svc)
        counts = _checked_counts(wi.counts, where)
        intervals.append((wi.index, wi.phase, counts, hist if has_hist else None, svc))
    lag = _checked_hist(wire.lag, wire.lag_oor, "schedule-lag histogram")
    return Snapshot(phases, hists, intervals, lag)


def _checked_counts(counts: list[int], where: str) -> list[int]:
    if len(counts) != N_COUNTS or min(counts) < 0:
        raise MeasurementError(
            f"worker snapshot {where}: expected {N_COUNTS} counters >= 0, got {counts}"
        )
    return counts


def _checked_hist(encoded: str, out_of_range: int, what: str) -> LatencyHistogram:
    if out_of_range < 0:
        raise MeasurementError(f"worker snapshot {what}: out-of-range count {out_of_range} < 0")
    try:
        hist = dec(encoded, out_of_range)
    except Exception as exc:  # hdrh raises binascii.Error, zlib.error, Hdr*Exception, TypeError
        raise MeasurementError(
            f"worker snapshot {what} is unreadable: {type(exc).__name__}: {exc}"
        ) from None
    raw = hist.raw
    geometry = (raw.lowest_trackable_value, raw.highest_trackable_value, raw.significant_figures)
    if geometry != _GEOMETRY:  # another range would not add exactly (or would drop values)
        raise MeasurementError(
            f"worker snapshot {what} has range/precision {geometry}, expected {_GEOMETRY}"
        )
    return hist
