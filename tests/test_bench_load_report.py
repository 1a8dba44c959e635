"""bench.load's throughput while every teammate is active, beside the whole run's."""

from __future__ import annotations

from bench.load.report import all_active_rate
from bench.load.scenario import ReplyView, Turn


def _turn(user: int, sent: float, finished: float | None) -> Turn:
    view = ReplyView(head=f"Echo: m{user}-{sent}")
    view.complete_at = finished
    return Turn(
        user=user,
        number=0,
        process=0,
        marker=f"m{user}-{sent}",
        text="",
        view=view,
        sent_at=sent,
        finished_at=finished,
        status="finished" if finished is not None else "timeout",
    )


def test_the_rate_counts_only_turns_ending_while_everyone_is_active() -> None:
    # Teammate 0 starts at 0 and ends at 25; teammate 1 starts at 2 and ends at 18: the window
    # is 2..18 s, holding four finishes (5, 8, 15, 18), so 15 a minute; the whole run, five
    # finishes in 25 s, is 12 a minute.
    turns = [
        _turn(0, 0.0, 5.0),
        _turn(0, 10.0, 15.0),
        _turn(0, 20.0, 25.0),
        _turn(1, 2.0, 8.0),
        _turn(1, 12.0, 18.0),
    ]
    assert all_active_rate(turns) == (15.0, 16.0)


def test_no_rate_without_a_long_enough_window_or_with_a_teammate_who_finished_nothing() -> None:
    short = [_turn(0, 0.0, 5.0), _turn(1, 1.0, 6.0)]
    assert all_active_rate(short) == (None, None)  # 1..5 s: too short to mean anything
    stuck = [_turn(0, 0.0, 30.0), _turn(1, 1.0, None)]
    assert all_active_rate(stuck) == (None, None)
