"""The recorder's side of the interval log: complete intervals leave memory for the file.

Why a module of its own: the :class:`~harness.measure.Recorder` keeps the hot path; what happens
to an interval once it is due for the log (:class:`~harness.measure.FlushClock`) is here.

:meth:`LogDrain.drain` pops the due slots from the recorder's recording slots, writes them
(``IntervalLogWriter.append``: one write, flushed) and keeps the last :data:`RECENT_KEEP`
written intervals for the live readers (progress view, a game day's observer: they read both
maps, :mod:`harness.measure.livestats`). Whatever the recorder gets for a written interval
afterwards lands in a fresh slot (the recording slot is gone) and is written by the next drain as
a *late part* of the same interval: counts always, histogram lines only when it holds responses
(see :mod:`harness.measure.intervallog`); its numbers are also added to the kept slot, so the
live readers see the sum. Each piece of data is in exactly one written part: nothing is lost or
counted twice.

Invariant: every interval below :attr:`LogDrain.logged_before` had its first part written.
"""

from __future__ import annotations

from typing import Final

from harness.measure.intervallog import IntervalLogWriter
from harness.measure.result import IntervalRecord
from harness.measure.slots import OK, Slot, add_counts, interval_record

__all__ = ["RECENT_KEEP", "LogDrain"]

#: Written intervals kept in memory for the live readers (a master's progress view reads 4).
RECENT_KEEP: Final = 8

SlotKey = tuple[int, str]


class LogDrain:
    """Moves due intervals from a recorder's slots to its interval log (see the module doc)."""

    def __init__(self, log: IntervalLogWriter, interval_s: float) -> None:
        self.log = log
        self.interval_s = interval_s
        self.recent: dict[SlotKey, Slot] = {}
        self.logged_before = 0
        self.phase_order: dict[str, int] = {}  # phases in order of first appearance

    def drain(self, slots: dict[SlotKey, Slot], before_index: int) -> int:
        """Write (and remove from ``slots``) every slot of an interval before ``before_index``;
        the number of records written."""
        order = self.phase_order
        keys = sorted(
            (k for k in slots if k[0] < before_index),
            key=lambda k: (k[0], order.setdefault(k[1], len(order))),
        )
        first: list[IntervalRecord] = []
        late: list[IntervalRecord] = []
        for key in keys:
            slot = slots.pop(key)
            # The slot leaves the recording path, so its histograms are handed over uncopied.
            record = interval_record(key[0], key[1], slot, self.interval_s, copy=False)
            (late if key[0] < self.logged_before else first).append(record)
            kept = self.recent.get(key)
            if kept is None:
                self.recent[key] = slot
            else:
                _add_part(kept, slot)
        self.logged_before = max(self.logged_before, before_index)
        if keys:
            self.log.append(first)
            self.log.append(late, late=True)
            keep_from = self.logged_before - RECENT_KEEP
            for key in [k for k in self.recent if k[0] < keep_from]:
                del self.recent[key]
        return len(keys)


def _add_part(into: Slot, more: Slot) -> None:
    """Add a late part's counts and histograms to a written slot kept for the live readers."""
    add_counts(into.counts, more.counts)
    if more.counts[OK]:  # else both histograms are empty: nothing to add
        (into.hist or into.histogram()).add(more.peek())
        into.svc.add(more.peek_service())
