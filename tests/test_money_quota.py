"""Quotas in money: a teammate's replies priced with the price list refuse the next send once
they cost the quota, beside the token quota; models without a price count nothing; only
administrators set one; migration 0011 adds it to a database in use; the Admin and Usage pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from streamlit.testing.v1 import AppTest

import ui.auth
from chatcore.chat.params import GenerationParams
from chatcore.config import load_settings
from chatcore.errors import AccountError, QuotaExceeded
from chatcore.team.keys import KeyVault, PersonalKeys
from chatcore.team.policy import AccountPolicy
from chatcore.team.prices import Price, PriceList
from chatcore.team.usage import period_start
from chatcore.wiring import Services
from storage import ChatRepository, Database, KeyRepository, UsageLedger, UserRepository
from storage.migrate import HEAD_REVISION, current_revision, upgrade_to_head
from storage.models import UsageEvent
from storage.records import QuotaPeriod, UserRecord
from storage.team_settings import TeamSettingsRepository
from tests.support.fake_openai import Behavior, FakeOpenAI
from tests.support.old_schema import migrate, populate
from tests.support.pages import services_as_admin
from tests.support.sql import statements as recorded_statements
from ui.text import plain

APP = str(Path(__file__).resolve().parent.parent / "app.py")
# gpt-4o: 100,000 × 3.5 / 1e6 + 50,000 × 14 / 1e6 = 0.35 + 0.70 = 1.05 a reply.
PRICES = {"gpt-4o": Price(Decimal("3.5"), Decimal("14"))}
COSTLY = {"prompt_tokens": 100_000, "completion_tokens": 50_000}
NOW = datetime(2030, 3, 15, 10, 30, tzinfo=UTC)


# --- sending through the chat service with the fake server ------------------------------------


def _member(services: Services, name: str = "ann") -> UserRecord:
    return services.accounts.create_user(services.local_user, name, "correct horse battery")


def _send(
    services: Services, fake_api: FakeOpenAI, user: UserRecord, model: str = "gpt-4o"
) -> None:
    fake_api.enqueue(Behavior(text="答", usage=COSTLY))
    services.chat.send(user.id, None, "问", GenerationParams(model=model))
    assert services.infra.worker.wait_idle(10)


def test_a_money_quota_refuses_the_next_send_once_the_replies_cost_reach_it(
    services: Services, fake_api: FakeOpenAI
) -> None:
    admin = services.local_user
    services.prices.set_prices(admin, PRICES)
    ann = _member(services)
    services.accounts.set_quota(admin, ann.id, None, "day", Decimal("2"))
    _send(services, fake_api, ann)  # 1.05 spent
    _send(services, fake_api, ann)  # 1.05 < 2 left it free to send: 2.10 now
    assert len(fake_api.chat_requests()) == 2
    with pytest.raises(QuotaExceeded) as refused:
        services.chat.send(ann.id, None, "再问", GenerationParams(model="gpt-4o"))
    error = refused.value
    assert error.code == "quota_money_exceeded"
    assert {k: error.params[k] for k in ("used", "limit", "currency", "period")} == {
        "used": "2.10",
        "limit": "2.00",
        "currency": "CNY",
        "period": "day",
    }
    tomorrow = period_start(QuotaPeriod.DAY, datetime.now(UTC)) + timedelta(days=1)
    assert error.params["resets"] == tomorrow.isoformat()
    assert str(error) == (
        "You have spent 2.10 CNY of your 2.00 CNY quota today; the quota resets at midnight UTC."
    )
    assert len(fake_api.chat_requests()) == 2  # nothing was sent
    # Others are not held back by ann's spending; a higher quota lets her send again.
    bob = _member(services, "bob")
    services.accounts.set_quota(admin, bob.id, None, "day", Decimal("2"))
    _send(services, fake_api, bob)
    services.accounts.set_quota(admin, ann.id, None, "day", Decimal("2.11"))
    _send(services, fake_api, ann)


def test_a_model_without_a_price_counts_nothing_toward_it(
    services: Services, fake_api: FakeOpenAI
) -> None:
    admin = services.local_user
    services.prices.set_prices(admin, PRICES)
    ann = _member(services)
    services.accounts.set_quota(admin, ann.id, None, "month", Decimal("0.01"))
    _send(services, fake_api, ann, model="deepseek-chat")
    _send(services, fake_api, ann, model="deepseek-chat")  # no price: nothing spent
    # Today's prices apply to the period's replies as soon as the model has one.
    services.prices.set_prices(admin, {**PRICES, "deepseek-chat": Price(Decimal(1), Decimal(1))})
    with pytest.raises(QuotaExceeded) as refused:
        services.chat.send(ann.id, None, "问", GenerationParams(model="gpt-4o"))
    assert refused.value.code == "quota_money_exceeded_month"
    assert refused.value.params["used"] == "0.30"  # 2 × 150,000 × 1 / 1e6
    assert "this month; the quota resets on" in str(refused.value)


def test_the_token_quota_still_works_alongside(services: Services, fake_api: FakeOpenAI) -> None:
    admin = services.local_user
    services.prices.set_prices(admin, PRICES)
    ann = _member(services)
    # The tokens run out first: 150,000 of 200,000, then 300,000.
    services.accounts.set_quota(admin, ann.id, 200_000, "day", Decimal("100"))
    _send(services, fake_api, ann)
    _send(services, fake_api, ann)
    with pytest.raises(QuotaExceeded) as refused:
        services.chat.send(ann.id, None, "问", GenerationParams(model="gpt-4o"))
    assert refused.value.code == "quota_exceeded"
    # The money runs out first: 2.10 of 2, with tokens to spare.
    services.accounts.set_quota(admin, ann.id, 10_000_000, "day", Decimal("2"))
    with pytest.raises(QuotaExceeded) as refused:
        services.chat.send(ann.id, None, "问", GenerationParams(model="gpt-4o"))
    assert refused.value.code == "quota_money_exceeded"
    # Neither: both lifted.
    lifted = services.accounts.set_quota(admin, ann.id, None, "day", None)
    assert (lifted.quota_tokens, lifted.quota_money, lifted.quota_period) == (None, None, None)
    _send(services, fake_api, ann)


def test_only_administrators_set_a_money_quota_and_only_an_amount(services: Services) -> None:
    admin = services.local_user
    ann, bob = _member(services), _member(services, "bob")
    with pytest.raises(AccountError) as refused:
        services.accounts.set_quota(ann, bob.id, None, "day", Decimal("5"))
    assert refused.value.code == "admins_only"
    with pytest.raises(AccountError) as refused:
        services.accounts.set_quota(ann, ann.id, None, None, None)
    assert refused.value.code == "admins_only"
    for amount in (0, -1, "abc", "NaN", "Infinity", 2_000_000_000, Decimal("0.00")):
        with pytest.raises(AccountError) as refused:
            services.accounts.set_quota(admin, bob.id, None, "day", amount)
        assert refused.value.code == "quota_money_not_amount", amount
        assert refused.value.params == {"maximum": 1_000_000_000}
    with pytest.raises(AccountError) as refused:
        services.accounts.set_quota(admin, bob.id, None, None, Decimal("5"))
    assert refused.value.code == "quota_period_missing"
    assert services.infra.users.get_user(bob.id) == bob  # nothing changed
    # A number input gives a float; the column keeps four places.
    limited = services.accounts.set_quota(admin, bob.id, None, "month", 12.345678)
    assert (limited.quota_tokens, limited.quota_period) == (None, "month")
    assert limited.quota_money == Decimal("12.3457")
    assert services.accounts.set_quota(admin, bob.id, None, "month", "").quota_money is None


# --- storage and the policy on SQLite and PostgreSQL -------------------------------------------


def _spend(
    database: Database, user_id: int, model: str, prompt: int, done: int, at: datetime
) -> None:
    with database.session() as session:
        session.add(
            UsageEvent(
                user_id=user_id,
                message_id=None,
                model=model,
                prompt_tokens=prompt,
                completion_tokens=done,
                total_tokens=prompt + done,
                created_at=at,
            )
        )


def _policy(database: Database) -> tuple[AccountPolicy, PriceList]:
    settings = replace(load_settings(env={}, secrets={}), api_key="sk-team")
    keys = PersonalKeys(KeyRepository(database), KeyVault(b"server secret"))
    prices = PriceList(TeamSettingsRepository(database), "CNY", require_admin=lambda _user: None)
    policy = AccountPolicy(settings, UsageLedger(database), keys, lambda: NOW, prices=prices)
    return policy, prices


@pytest.fixture
def statements(database: Database) -> Iterator[Callable[[], list[str]]]:
    """The statements run since the last call (the first call: since the test began)."""
    with recorded_statements(database) as seen:

        def taken() -> list[str]:
            found = list(seen)
            seen.clear()
            return found

        yield taken


def test_the_ledger_sums_the_periods_tokens_per_model(database: Database) -> None:
    users, ledger = UserRepository(database), UsageLedger(database)
    ann, bob = users.create_user("ann"), users.create_user("bob")
    month = period_start(QuotaPeriod.MONTH, NOW)
    _spend(database, ann.id, "gpt-4o", 1000, 1000, month - timedelta(microseconds=1))
    _spend(database, ann.id, "gpt-4o", 10, 1, month)
    _spend(database, ann.id, "gpt-4o", 20, 2, NOW)
    _spend(database, ann.id, "通义千问", 5, 5, NOW)
    _spend(database, bob.id, "gpt-4o", 777, 7, NOW)
    assert ledger.tokens_by_model(ann.id, month) == [("gpt-4o", 30, 3), ("通义千问", 5, 5)]
    assert ledger.tokens_by_model(bob.id, NOW + timedelta(seconds=1)) == []


def test_a_money_quota_is_stored_exactly_and_lifted(database: Database) -> None:
    users = UserRepository(database)
    ann = users.create_user("ann")
    assert users.set_quota(ann.id, 5000, "day", money=Decimal("12.3456"))
    limited = users.get_user(ann.id)
    assert limited is not None
    assert (limited.quota_tokens, limited.quota_period) == (5000, "day")
    assert limited.quota_money == Decimal("12.3456")
    assert users.set_quota(ann.id, None, "month", money=Decimal("999999999.9999"))
    assert users.get_user(ann.id).quota_money == Decimal("999999999.9999")  # type: ignore[union-attr]
    assert users.set_quota(ann.id, None, None)
    assert users.get_user(ann.id).quota_money is None  # type: ignore[union-attr]


@pytest.mark.parametrize("period", ["day", "month"])
def test_the_policy_prices_the_period_and_refuses_at_the_quota(
    database: Database, period: str, statements: Callable[[], list[str]]
) -> None:
    users = UserRepository(database)
    policy, prices = _policy(database)
    prices.set_prices(UserRecord(id=0, username="x", display_name="x"), PRICES)
    ann = users.create_user("ann")
    users.set_quota(ann.id, None, period, money=Decimal("1.05"))
    day = period_start(QuotaPeriod.DAY, NOW)
    # Before the period: not counted. Unpriced: counted as nothing. Today: 0.35 + 0.70.
    _spend(
        database, ann.id, "gpt-4o", 10**9, 0, period_start(QuotaPeriod.MONTH, NOW) - timedelta(1)
    )
    _spend(database, ann.id, "deepseek-chat", 10**9, 10**9, NOW)
    _spend(database, ann.id, "gpt-4o", 50_000, 25_000, day)
    assert policy.admit(ann.id) is None  # 0.525 of 1.05
    _spend(database, ann.id, "GPT-4o", 50_000, 25_000, NOW)  # the id in any case: 1.05
    with pytest.raises(QuotaExceeded) as refused:
        policy.admit(ann.id)
    assert refused.value.params["used"] == "1.05"
    assert refused.value.params["limit"] == "1.05"
    if period == "day":
        assert refused.value.code == "quota_money_exceeded"
        assert refused.value.params["resets"] == "2030-03-16T00:00:00+00:00"
    else:
        assert refused.value.code == "quota_money_exceeded_month"
        assert refused.value.params["reset_date"] == "2030-04-01"
        assert str(refused.value).endswith("the quota resets on 2030-04-01 (UTC).")

    # Without a money quota the send path stays one statement; with one, one more.
    prices.in_use()  # the price list is cached in-process, read once
    bob = users.create_user("bob")
    statements()
    assert policy.admit(bob.id) is None
    assert len(statements()) == 1
    users.set_quota(bob.id, 10, "day")
    statements()
    assert policy.admit(bob.id) is None
    assert len(statements()) == 1
    users.set_quota(bob.id, 10, "day", money=Decimal(5))
    statements()
    assert policy.admit(bob.id) is None
    assert len(statements()) == 2


def test_upgrade_0010_to_0011_keeps_users_and_adds_no_money_quota(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate(db, "0010")
        rows = populate(db)
        with db.engine.begin() as connection:
            connection.execute(
                text("update users set quota_tokens = 5000, quota_period = 'day' where id = :id"),
                {"id": rows.user_id},
            )
        upgrade_to_head(db.engine)
        assert current_revision(db.engine) == HEAD_REVISION
        users = UserRepository(db)
        user = users.get_user(rows.user_id)
        assert user is not None
        assert (user.username, user.quota_tokens, user.quota_period) == ("old", 5000, "day")
        assert user.quota_money is None
        chats = ChatRepository(db)
        conversation = chats.get_conversation(rows.user_id, rows.conversation_id)
        assert conversation is not None and conversation.title == "旧对话"
        assert [m.id for m in chats.thread(conversation)] == [rows.question_id, rows.reply_id]
        assert users.set_quota(user.id, 5000, "day", money=Decimal("8.5"))

        migrate(db, "0010", down=True)
        columns = {column["name"] for column in inspect(db.engine).get_columns("users")}
        assert "quota_money" not in columns and "quota_tokens" in columns
        with db.engine.connect() as connection:
            assert connection.scalar(text("select count(*) from messages")) == 2
            assert connection.scalar(text("select quota_tokens from users")) == 5000
        upgrade_to_head(db.engine)
        assert users.get_user(rows.user_id).quota_money is None  # type: ignore[union-attr]
    finally:
        db.dispose()


# --- the Admin and Usage pages ------------------------------------------------------------------


@pytest.fixture
def app_services(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[Services]:
    yield from services_as_admin(monkeypatch, fake_api, tmp_path)


def _boss(services: Services) -> UserRecord:
    boss = services.infra.users.find_user("boss")
    assert boss is not None
    return boss


def test_the_admin_page_sets_a_money_quota(app_services: Services) -> None:
    lin = app_services.accounts.create_user(_boss(app_services), "lin", "correct horse battery")
    at = AppTest.from_file(APP, default_timeout=20).run()
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="admin_selected_user").set_value(lin.id).run()
    money = at.number_input(key=f"quota_money_{lin.id}")
    assert money.value is None and "CNY" in money.label
    money.set_value(25.5)
    at.radio(key=f"quota_period_{lin.id}").set_value("day")
    next(b for b in at.button if b.label == "Save quota").click().run()
    assert not at.exception, at.exception
    assert any(plain("Quota for lin saved") in s.value for s in at.success)
    saved = app_services.infra.users.get_user(lin.id)
    assert saved is not None
    assert (saved.quota_tokens, saved.quota_period, saved.quota_money) == (
        None,
        "day",
        Decimal("25.5"),
    )
    table = at.dataframe[0].value
    assert "CN¥25.50 per day" in list(table["Quota"])
    assert at.number_input(key=f"quota_money_{lin.id}").value == 25.5
    # Emptied, it is lifted.
    at.number_input(key=f"quota_money_{lin.id}").set_value(None)
    next(b for b in at.button if b.label == "Save quota").click().run()
    assert not at.exception, at.exception
    lifted = app_services.infra.users.get_user(lin.id)
    assert lifted is not None and (lifted.quota_money, lifted.quota_period) == (None, None)


def test_the_usage_page_shows_the_money_quota_and_what_is_spent(
    app_services: Services, fake_api: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    boss = _boss(app_services)
    app_services.prices.set_prices(boss, {"gpt-4o": Price(Decimal("2.5"), Decimal("10"))})
    boss = app_services.accounts.set_quota(boss, boss.id, None, "month", Decimal("10"))
    monkeypatch.setattr(ui.auth, "_resolve", lambda _services: boss)
    fake_api.enqueue(
        Behavior(text="hi", usage={"prompt_tokens": 20_000, "completion_tokens": 1_000})
    )
    chat = AppTest.from_file(APP, default_timeout=20).run()
    chat.chat_input[0].set_value("count me").run()
    assert app_services.infra.worker.wait_idle(10)
    at = AppTest.from_file(APP, default_timeout=20).run()
    at.switch_page("pages/usage.py").run()
    assert not at.exception, at.exception
    # 20,000 × 2.5 / 1e6 + 1,000 × 10 / 1e6 = 0.06 of 10
    [quota] = [m for m in at.metric if m.label == "Your money quota this month (UTC)"]
    assert "CN¥0.06" in quota.value and "CN¥10.00" in quota.value, quota.value
    note = "Replies of models without a price count nothing toward the money quota."
    assert any(note in caption.value for caption in at.caption)
    # Without a price, nothing is spent, and the page names the model.
    app_services.prices.set_prices(boss, {})
    at.run()
    assert not at.exception, at.exception
    [quota] = [m for m in at.metric if m.label == "Your money quota this month (UTC)"]
    assert quota.value.startswith("CN¥0.00"), quota.value
    named = note[:-1] + ": " + plain("gpt-4o") + "."
    assert any(named in caption.value for caption in at.caption)
