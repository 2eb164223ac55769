"""Where scheduler and slots meet: the hand-over of a job at the concurrency cap."""

from __future__ import annotations

from load_support import run_child


def test_a_parked_job_goes_to_the_first_slot_that_finishes() -> None:
    """At the cap, hand_over parks the job until a slot finishes and that slot takes it; a job
    whose deadline passes is withdrawn and never run."""
    out = run_child("station")
    assert out["first"] == [True, True]
    assert out["idle_left"] is False
    assert out["parked"] is True
    assert 0.03 < out["parked_wait_s"] < 1.0  # waited for the fast slot (50 ms), not the slow
    assert out["withdrawn"] is False
    # LIFO: the slot that went idle last ("fast") got "a"; it finished first and took "c".
    assert [tuple(g) for g in out["got"]] == [("fast", "a"), ("slow", "b"), ("fast", "c")]
    assert out["busy_end"] == 0
    # One deadline for three hand-overs: two taken by the slot, the third withdrawn at it.
    assert out["reuse"] == [True, True, False]
    assert [tuple(g) for g in out["reuse_got"]] == [("one", "e"), ("one", "f"), ("one", "g")]
    assert out["last_wait_s"] > 0.1
    assert -0.005 < out["late_s"] < 0.2
