"""bench.load's throughput while every teammate is active, beside the whole run's."""

from __future__ import annotations

from typing import Any

from bench.load.report import all_active_rate, cpu_per_turn, goals, summary_table
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


def _result(
    processes: int,
    p95: float,
    *,
    run: int = 1,
    lag: float | None = None,
    rate: float = 400.0,
    lost: int = 0,
) -> dict[str, Any]:
    """The parts of one configuration's figures that the goals read."""
    return {
        "setup": {
            "database": "postgres",
            "processes": processes,
            "users": 20,
            "turns_per_user": 10,
        },
        "run": run,
        "turns_sent": 200,
        "turns_completed": 200,
        "messages_lost": lost,
        "logs": {"database_is_locked": 0},
        "first_token_overhead_ms": {"p95": p95},
        "follow": {"lag_ms": {"p95": lag}},
        "turns_per_minute": rate,
        "turns_per_minute_all_active": rate,
        "server_cores_mean": 0.6,
        "server_cpu_ms_per_turn": 90.0 + run,
        "server_to_client_cpu": 4.0 + run / 10,
    }


def _verdict(verdicts: list[dict[str, Any]], start: str) -> dict[str, Any]:
    return next(v for v in verdicts if v["goal"].startswith(start))


def test_repeated_runs_are_judged_on_their_median_and_losses_on_every_run() -> None:
    results = [
        _result(1, 211.0, run=1, rate=400),
        _result(2, 90.0, run=1, lag=48.0, rate=700),
        _result(1, 916.0, run=2, rate=380, lost=1),
        _result(2, 95.0, run=2, lag=400.0, rate=660),
        _result(1, 240.0, run=3, rate=420),
        _result(2, 99.0, run=3, lag=60.0, rate=640),
    ]
    verdicts = goals(results)
    overhead = _verdict(verdicts, "20 users, one process")
    assert (overhead["value"], overhead["met"]) == (240.0, True)
    assert overhead["note"] == "median of 3 runs: 211, 916, 240"
    lag = _verdict(verdicts, "follow lag")
    assert (lag["value"], lag["met"]) == (60.0, True)
    ratio = _verdict(verdicts, "2 processes / 1, turns/min whole run")
    assert ratio["value"] == round(660 / 400, 2) and ratio["met"]
    lost = _verdict(verdicts, "nothing lost (postgres × 1")
    assert (lost["value"], lost["met"]) == (1, False)  # one run lost a message: missed
    assert len([v for v in verdicts if v["goal"].startswith("nothing lost")]) == 2


def test_one_run_is_judged_as_before_and_the_summary_shows_median_and_range() -> None:
    single = goals([_result(1, 350.0)])
    overhead = _verdict(single, "20 users, one process")
    assert (overhead["value"], overhead["met"], overhead["note"]) == (350.0, False, "")
    rows = summary_table([_result(1, 211.0), _result(1, 916.0, run=2), _result(1, 240.0, run=3)])
    assert (
        "| postgres × 1 | 20 × 10 | 3 | 400 (400–400) | 240 (211–916) | – | 0.60 "
        "| 92 (91–93) | 4.20 (4.10–4.30) |"
    ) in rows


def test_cpu_per_turn_is_the_servers_cpu_over_the_run_per_completed_turn() -> None:
    assert cpu_per_turn(0.7, 30.0, 200) == 105.0  # 0.7 cores x 30 s = 21 s of CPU for 200 turns
    assert cpu_per_turn(0.7, None, 200) is None
    assert cpu_per_turn(0.7, 30.0, 0) is None


def _at(processes: int, users: int, rate: float, run: int = 1) -> dict[str, Any]:
    result = _result(processes, 100.0, run=run, rate=rate, lag=50.0)
    result["setup"]["users"] = users
    return result


def test_capacity_compares_each_configurations_best_rate_over_teammate_counts() -> None:
    # One process saturates at 80 teammates (160 give no more); two, each with 40 of the 80,
    # are not saturated there, and sustain more with 160.
    results = [
        _at(1, 80, 700),
        _at(2, 80, 1050),
        _at(1, 160, 690),
        _at(2, 160, 1200),
    ]
    verdicts = goals(results)
    same_count = _verdict(verdicts, "2 processes / 1, turns/min while all teammates are active")
    assert same_count["value"] == 1.5 and not same_count["met"]  # at 80: 1,050 / 700
    capacity = _verdict(verdicts, "2 processes / 1, capacity (postgres")
    assert capacity["value"] == round(1200 / 700, 2) and capacity["met"] is True
    shown = "1 process: 700 at 80, 690 at 160; 2 processes: 1050 at 80, 1200 at 160"
    assert shown in capacity["note"]


def test_capacity_is_not_judged_while_one_process_still_gains_from_more_teammates() -> None:
    results = [_at(1, 40, 500), _at(2, 40, 600), _at(1, 80, 700), _at(2, 80, 1200)]
    capacity = _verdict(goals(results), "2 processes / 1, capacity")
    assert capacity["value"] == round(1200 / 700, 2) and capacity["met"] is None
    assert "may not be saturated" in capacity["note"]
    # At one teammate count there is nothing to choose from: no capacity verdict.
    assert not [v for v in goals([_at(1, 80, 700), _at(2, 80, 1200)]) if "capacity" in v["goal"]]


def test_a_ratio_at_a_count_where_one_process_still_had_room_is_not_judged() -> None:
    results = [_at(1, 40, 500), _at(2, 40, 600), _at(1, 80, 700), _at(2, 80, 1200)]
    verdicts = goals(results)
    at_40 = _verdict(
        verdicts, "2 processes / 1, turns/min while all teammates are active (postgres, 40"
    )
    assert at_40["value"] == 1.2 and at_40["met"] is None
    assert at_40["note"].startswith("one process is not saturated here: 80 teammates gave it 700")
    at_80 = _verdict(
        verdicts, "2 processes / 1, turns/min while all teammates are active (postgres, 80"
    )
    assert at_80["met"] is True  # no larger count says otherwise
