"""Prices and costs: the administrators' price list, the arithmetic to the cent against the
fake server's usage, the CSV both ways, the Usage page's zero-filled days, and the page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from chatcore.chat.params import GenerationParams
from chatcore.config import load_settings
from chatcore.errors import AccountError, ConfigError
from chatcore.team.prices import Price, parse_csv, shown_amount
from chatcore.team.usage_series import DayTotal, per_day, period_days, period_start
from chatcore.wiring import Services
from storage import UsageRow
from tests.support.fake_openai import Behavior, FakeOpenAI
from tests.support.pages import services_as_admin
from ui.text import plain

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PRICES = {
    "gpt-4o": Price(Decimal("3.5"), Decimal("14")),
    "deepseek-chat": Price(Decimal("2"), Decimal("8")),
}


def test_a_reply_costs_its_tokens_at_its_models_price_to_the_cent(
    services: Services, fake_api: FakeOpenAI
) -> None:
    admin = services.local_user
    services.prices.set_prices(admin, PRICES)
    fake_api.enqueue(
        Behavior(text="答", usage={"prompt_tokens": 123_456, "completion_tokens": 78_901})
    )
    view = services.chat.send(admin.id, None, "问", GenerationParams(model="gpt-4o"))
    assert services.infra.worker.wait_idle(10)
    [row] = services.usage.rows(admin, datetime.now(UTC) - timedelta(days=1), everyone=False)
    assert (row.prompt_tokens, row.completion_tokens) == (123_456, 78_901)
    cost = services.prices.cost(row.model, row.prompt_tokens, row.completion_tokens)
    # 123,456 × 3.5 / 1e6 + 78,901 × 14 / 1e6 = 0.432096 + 1.104614, exactly
    assert cost == Decimal("1.536710")
    assert shown_amount(cost, "CNY") == Decimal("1.54")
    assert shown_amount(cost, "JPY") == Decimal("2")
    uses = services.chat.token_use_by_model(admin.id, view.conversation.id)
    assert uses == [("gpt-4o", 123_456, 78_901)]
    assert services.prices.total_cost(uses) == (Decimal("1.536710"), [])


def test_small_costs_keep_two_places_below_the_minor_unit() -> None:
    assert shown_amount(Decimal("0.008755"), "CNY") == Decimal("0.0088")
    assert shown_amount(Decimal("0"), "CNY") == Decimal("0.00")
    assert shown_amount(Decimal("12.345"), "USD") == Decimal("12.35")


def test_a_model_without_a_price_costs_none(services: Services) -> None:
    services.prices.set_prices(services.local_user, PRICES)
    assert services.prices.cost("qwen-max", 1000, 1000) is None
    assert services.prices.price("GPT-4o") == PRICES["gpt-4o"]  # the id, in any case
    assert services.prices.price("gpt-4o-mini") is None  # exact id, not a prefix
    total, unpriced = services.prices.total_cost([("gpt-4o", 1_000_000, 0), ("qwen-max", 5, 5)])
    assert (total, unpriced) == (Decimal("3.5"), ["qwen-max"])
    assert services.prices.total_cost([("qwen-max", 5, 5)]) == (None, ["qwen-max"])


def test_only_administrators_change_prices(services: Services) -> None:
    admin = services.local_user
    member = services.accounts.create_user(admin, "member1", "correct horse battery")
    for action in (
        lambda: services.prices.set_prices(member, PRICES),
        lambda: services.prices.import_csv(member, b"model,input_per_million,output_per_million\n"),
    ):
        with pytest.raises(AccountError) as refused:
            action()
        assert refused.value.code == "admins_only"
    assert services.prices.prices() == {}


def test_the_csv_goes_out_and_comes_back(services: Services) -> None:
    admin = services.local_user
    data = (
        "\ufeffmodel,input_per_million,output_per_million\r\n"
        "gpt-4o,3.5,14\r\n"
        "\r\n"
        "通义千问-max,2.4,9.6\r\n"
    ).encode()
    assert services.prices.import_csv(admin, data) == 2
    assert services.prices.price("通义千问-max") == Price(Decimal("2.4"), Decimal("9.6"))
    exported = services.prices.export_csv()
    assert exported.startswith(b"\xef\xbb\xbfmodel,input_per_million,output_per_million")
    assert parse_csv(exported) == services.prices.prices()
    # An import replaces the whole list.
    assert (
        services.prices.import_csv(admin, b"model,input_per_million,output_per_million\nx,1,2") == 1
    )
    assert list(services.prices.prices()) == ["x"]


def test_a_model_id_that_looks_like_a_formula_is_never_run_by_a_spreadsheet(
    services: Services,
) -> None:
    admin = services.local_user
    services.prices.set_prices(admin, {"=HYPERLINK(1)": Price(Decimal("1"), Decimal("2"))})
    exported = services.prices.export_csv()
    assert b"\r\n'=HYPERLINK(1),1,2\r\n" in exported
    assert parse_csv(exported) == {"=HYPERLINK(1)": Price(Decimal("1"), Decimal("2"))}
    assert parse_csv(b"model,input_per_million,output_per_million\n'plain,1,2") == {
        "'plain": Price(Decimal("1"), Decimal("2"))
    }


@pytest.mark.parametrize(
    ("data", "code", "params"),
    [
        (b"gpt-4o,1,2\n", "price_csv_no_header", {}),
        (b"", "price_csv_no_header", {}),
        ("model,input_per_million,output_per_million\n".encode("utf-16"), "price_csv_not_text", {}),
        (b"\xff\xfe\x00bad", "price_csv_not_text", {}),
        (
            b"model,input_per_million,output_per_million\na,1,2\nb,1\n",
            "price_row_unreadable",
            {"row": 3},
        ),
        (
            b"model,input_per_million,output_per_million\n,1,2\n",
            "price_row_unreadable",
            {"row": 2},
        ),
        (
            b"model,input_per_million,output_per_million\na,1,2\nb,cheap,2\n",
            "price_not_a_price",
            {"row": 3, "value": "cheap"},
        ),
        (
            b"model,input_per_million,output_per_million\na,-1,2\n",
            "price_not_a_price",
            {"row": 2, "value": "-1"},
        ),
        (
            b"model,input_per_million,output_per_million\na,1,NaN\n",
            "price_not_a_price",
            {"row": 2, "value": "NaN"},
        ),
        (
            b"model,input_per_million,output_per_million\nGPT-4o,1,2\ngpt-4o,1,2\n",
            "price_model_repeated",
            {"row": 3, "model": "gpt-4o"},
        ),
    ],
)
def test_a_bad_csv_is_refused_whole_naming_its_row(
    services: Services, data: bytes, code: str, params: dict[str, object]
) -> None:
    services.prices.set_prices(services.local_user, PRICES)
    with pytest.raises(AccountError) as refused:
        services.prices.import_csv(services.local_user, data)
    assert refused.value.code == code
    assert refused.value.params == params
    assert services.prices.prices() == PRICES  # nothing changed


def test_the_currency_is_an_iso_code() -> None:
    assert load_settings(env={}, secrets={}).currency == "CNY"
    assert load_settings(env={"ANYCHAT_CURRENCY": "usd"}, secrets={}).currency == "USD"
    with pytest.raises(ConfigError) as refused:
        load_settings(env={"ANYCHAT_CURRENCY": "RMB"}, secrets={})
    assert refused.value.code == "currency_unknown"


# --- every day of the period ------------------------------------------------------------------


def _row(day: date, model: str, prompt: int, completion: int, user: str = "ann") -> UsageRow:
    return UsageRow(day, model, 1, user, prompt, completion, prompt + completion, 1)


def test_a_period_is_whole_days_ending_today() -> None:
    now = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    assert period_start(7, now) == datetime(2026, 3, 4, tzinfo=UTC)
    assert period_days(date(2026, 2, 27), date(2026, 3, 2)) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
        date(2026, 3, 2),
    ]


def test_every_day_of_the_period_is_in_the_series_an_empty_one_as_zero() -> None:
    prices = {"a": Price(Decimal("1"), Decimal("2"))}

    def cost(model: str, prompt: int, completion: int) -> Decimal | None:
        price = prices.get(model)
        return None if price is None else price.cost(prompt, completion)

    first, last = date(2026, 3, 1), date(2026, 3, 4)
    rows = [
        _row(date(2026, 3, 2), "a", 1_000_000, 500_000),
        _row(date(2026, 3, 2), "a", 1_000_000, 0, user="bob"),  # two teammates, one day
        _row(date(2026, 3, 4), "b", 10, 5),
    ]
    series = per_day(rows, first, last, cost)
    assert series == [
        DayTotal(date(2026, 3, 1), "a", 0, Decimal(0)),
        DayTotal(date(2026, 3, 1), "b", 0, None),
        DayTotal(date(2026, 3, 2), "a", 2_500_000, Decimal(3)),
        DayTotal(date(2026, 3, 2), "b", 0, None),
        DayTotal(date(2026, 3, 3), "a", 0, Decimal(0)),
        DayTotal(date(2026, 3, 3), "b", 0, None),
        DayTotal(date(2026, 3, 4), "a", 0, Decimal(0)),
        DayTotal(date(2026, 3, 4), "b", 15, None),
    ]
    one_day = per_day([_row(last, "a", 1, 1)], first, last, cost)
    assert [point.day for point in one_day] == period_days(first, last)
    assert per_day([], first, last, cost) == []


# --- the Usage page ---------------------------------------------------------------------------


@pytest.fixture
def app_services(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[Services]:
    yield from services_as_admin(monkeypatch, fake_api, tmp_path)


def test_the_usage_page_shows_the_cost_and_the_models_without_a_price(
    app_services: Services, fake_api: FakeOpenAI
) -> None:
    admin = app_services.infra.users.find_user("boss")
    assert admin is not None
    app_services.prices.set_prices(admin, {"gpt-4o": Price(Decimal("2.5"), Decimal("10"))})
    fake_api.enqueue(
        Behavior(text="hi", usage={"prompt_tokens": 20_000, "completion_tokens": 1_000})
    )
    chat = AppTest.from_file(APP, default_timeout=20).run()
    chat.chat_input[0].set_value("count me").run()
    assert app_services.infra.worker.wait_idle(10)
    chat.run()
    # Under the reply: 20,000 × 2.5 / 1e6 + 1,000 × 10 / 1e6 = 0.06
    assert any("CN¥0.06" in caption.value for caption in chat.caption), [
        c.value for c in chat.caption
    ]
    at = AppTest.from_file(APP, default_timeout=20).run()
    at.switch_page("pages/usage.py").run()
    assert not at.exception, at.exception
    assert any(metric.value == "CN¥0.06" for metric in at.metric)
    table = at.dataframe[0].value
    assert list(table["Cost (CNY)"]) == [pytest.approx(0.06)]
    assert any("today's prices" in caption.value for caption in at.caption)
    assert not at.warning
    # Without a price: tokens only, and the page says which model has none.
    app_services.prices.set_prices(admin, {})
    at.run()
    assert not at.exception, at.exception
    assert not any(metric.value.startswith("CN¥") for metric in at.metric)
    note = "No price set for: " + plain("gpt-4o")
    assert any(note in warning.value for warning in at.warning)


def test_the_admin_page_has_a_prices_section(app_services: Services) -> None:
    admin = app_services.infra.users.find_user("boss")
    assert admin is not None
    app_services.prices.set_prices(admin, PRICES)
    at = AppTest.from_file(APP, default_timeout=20).run()
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    assert "Prices" in [subheader.value for subheader in at.subheader]
    assert any("CNY" in caption.value for caption in at.caption)
    assert any(button.label == "Save prices" for button in at.button)
    next(button for button in at.button if button.label == "Save prices").click().run()
    assert not at.exception, at.exception
    assert any("Saved 2 prices." in success.value for success in at.success)
    assert app_services.prices.prices() == PRICES
