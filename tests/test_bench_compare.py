"""bench/compare's arithmetic and table, on made-up stamps: the browser run itself is for bench/,
and its figures are never asserted here."""

from __future__ import annotations

from bench.compare import MODELS, parse_args, render_table, report_data, send_figures, stats

ENVIRONMENT = {
    "cores": 2,
    "cpu": "test cpu",
    "memory_gb": 4.0,
    "os": "Linux",
    "python": "3.11",
    "streamlit": "1",
    "chromium": "1",
    "app_sources_sha256": "abc",
    "background": {"mean_cores": 0.1, "max_cores": 0.2, "by_phase": {"sends": 0.1}, "top": []},
}


def test_a_column_is_timed_from_its_own_models_first_token() -> None:
    send = send_figures(
        enter_ms=1000.0,
        visible_ms={"a": 1350.0, "b": 1420.0},
        request_ms={"a": 1090.0, "b": 1100.0},
        first_token_delay_ms=200.0,
    )
    assert send.after_first_token_ms == {"a": 60.0, "b": 120.0}
    assert send.enter_to_upstream_ms == {"a": 90.0, "b": 100.0}
    assert send.enter_to_visible_ms == {"a": 350.0, "b": 420.0}
    assert send.request_spread_ms == 10.0


def test_stats_adds_the_95th_percentile_and_survives_no_samples() -> None:
    assert stats([float(v) for v in range(1, 21)])["p95"] == 19.0
    assert stats([]) == {"n": 0}


def test_the_goal_is_each_columns_median_and_the_table_says_which_missed() -> None:
    args = parse_args(["--sends", "2", "--warmup", "0"])
    sends = [
        send_figures(
            0.0,
            {model: 300.0 + 50 * i for i, model in enumerate(MODELS)},
            {model: 10.0 for model in MODELS},
            200.0,
        )
        for _ in range(2)
    ]
    data = report_data(args, ENVIRONMENT, sends)
    assert [data["goals"][m]["met"] for m in MODELS] == [True, False, False]  # 90, 140, 190 ms
    assert data["overall"]["slowest_column_per_send_ms"]["median"] == 190.0
    table = render_table(data)
    assert "goal met for 1/3 columns" in table
    assert "MISSED" in table
