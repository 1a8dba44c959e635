"""The chat side in the reader's language and on the reader's clock: the sidebar's day groups,
titles cut by display width, errors said with their quoted words inert, and the chat page drawn
in Chinese."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import streamlit as st
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from chatcore.chat.history_groups import (
    GROUP_ORDER,
    OLDER,
    PINNED,
    PREVIOUS_7_DAYS,
    TODAY,
    YESTERDAY,
    group_conversations,
    group_id,
)
from chatcore.chat.thread import TITLE_WIDTH, title_from
from chatcore.config import load_settings
from chatcore.errors import InvalidParameter
from chatcore.i18n import N_, display_width, translator
from chatcore.tools.builtin import BUILTIN_TOOLS
from chatcore.wiring import close_shared_services, shared_services
from storage.models import Conversation
from tests.support.fake_openai import Behavior, FakeOpenAI
from tests.support.pages import APP
from ui.history import GROUP_HEADINGS
from ui.text import inert, plain

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
ZH = translator("zh_CN")

# -- history groups -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Chat:
    name: str
    updated_at: datetime
    pinned: bool = False


def at(text: str, zone: ZoneInfo | None = None) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=zone or UTC)


def grouped(chats: list[Chat], now: datetime, zone: ZoneInfo) -> list[tuple[str, list[str]]]:
    return [
        (group.id, [chat.name for chat in group.items])
        for group in group_conversations(chats, now, zone)
    ]


def test_groups_come_in_their_order_pinned_first_and_keep_the_list_order() -> None:
    now = at("2026-06-15 12:00")
    chats = [
        Chat("pinned old", at("2020-01-01 00:00"), pinned=True),
        Chat("pinned new", at("2026-06-15 11:00"), pinned=True),
        Chat("today b", at("2026-06-15 11:59")),
        Chat("today a", at("2026-06-15 00:00")),
        Chat("yesterday", at("2026-06-14 23:59")),
        Chat("two days", at("2026-06-13 08:00")),
        Chat("a week", at("2026-06-08 00:00")),
        Chat("eight days", at("2026-06-07 23:59")),
        Chat("years", at("2019-03-01 10:00")),
    ]
    assert grouped(chats, now, UTC) == [
        (PINNED, ["pinned old", "pinned new"]),
        (TODAY, ["today b", "today a"]),
        (YESTERDAY, ["yesterday"]),
        (PREVIOUS_7_DAYS, ["two days", "a week"]),
        (OLDER, ["eight days", "years"]),
    ]


def test_empty_groups_are_left_out_and_ids_are_stable() -> None:
    now = at("2026-06-15 12:00")
    assert grouped([], now, UTC) == []
    assert grouped([Chat("old", at("2001-01-01 00:00"))], now, UTC) == [(OLDER, ["old"])]
    assert GROUP_ORDER == ("pinned", "today", "yesterday", "previous_7_days", "older")
    assert set(GROUP_HEADINGS) == set(GROUP_ORDER)


def test_a_late_evening_in_utc_is_the_next_morning_in_shanghai() -> None:
    evening = Chat("23:30 UTC", at("2026-06-14 23:30"))  # 07:30 on the 15th in Shanghai
    shanghai_morning = at("2026-06-15 09:00", SHANGHAI)
    assert group_id(evening, shanghai_morning, SHANGHAI) == TODAY
    # The same moment for a reader in UTC, whose 15th has begun: yesterday.
    assert group_id(evening, shanghai_morning, UTC) == YESTERDAY
    # In New York both are on the evening of the 14th (19:30 and 21:00): today.
    assert group_id(evening, shanghai_morning, NEW_YORK) == TODAY


def test_midnight_on_the_readers_clock_not_utc_decides() -> None:
    chat = Chat("16:30 UTC", at("2026-06-14 16:30"))  # 00:30 on the 15th in Shanghai
    assert group_id(chat, at("2026-06-15 01:00", SHANGHAI), SHANGHAI) == TODAY
    chat = Chat("15:59 UTC", at("2026-06-14 15:59"))  # 23:59 on the 14th in Shanghai
    assert group_id(chat, at("2026-06-15 01:00", SHANGHAI), SHANGHAI) == YESTERDAY


def test_naive_times_from_the_database_are_utc() -> None:
    naive = Chat("naive", datetime(2026, 6, 14, 23, 30))
    assert group_id(naive, at("2026-06-15 09:00", SHANGHAI), SHANGHAI) == TODAY
    assert group_id(naive, datetime(2026, 6, 15, 9, 0), UTC) == YESTERDAY


def elapsed(start: datetime, end: datetime) -> timedelta:
    # Real time: subtracting datetimes of one zone would count the clock's hours instead.
    return end.astimezone(UTC) - start.astimezone(UTC)


def test_days_are_calendar_days_across_daylight_saving_changes() -> None:
    # New York springs forward on 2026-03-08: that day has 23 hours.
    spring_now = at("2026-03-09 00:30", NEW_YORK)
    just_over_a_day = Chat("23 h before", at("2026-03-08 00:30", NEW_YORK))
    assert elapsed(just_over_a_day.updated_at, spring_now) == timedelta(hours=23)
    assert group_id(just_over_a_day, spring_now, NEW_YORK) == YESTERDAY
    # And falls back on 2026-11-01: that day has 25 hours, all of them "today" at its end.
    fall_now = at("2026-11-01 23:30", NEW_YORK)
    early = Chat("00:10", at("2026-11-01 00:10", NEW_YORK))
    assert elapsed(early.updated_at, fall_now) == timedelta(hours=24, minutes=20)
    assert group_id(early, fall_now, NEW_YORK) == TODAY
    # A week back across the change is still counted in days.
    week = Chat("7 days", at("2026-03-02 23:59", NEW_YORK))
    assert group_id(week, spring_now, NEW_YORK) == PREVIOUS_7_DAYS
    assert group_id(Chat("8 days", at("2026-03-01 12:00", NEW_YORK)), spring_now, NEW_YORK) == (
        OLDER
    )


def test_a_clock_a_little_ahead_counts_as_today() -> None:
    now = at("2026-06-15 12:00")
    assert group_id(Chat("ahead", at("2026-06-16 00:01")), now, UTC) == TODAY


# -- titles -------------------------------------------------------------------------------------


def test_a_short_title_is_kept_whole() -> None:
    assert title_from("  Plan   the offsite \nsecond") == "Plan the offsite"
    assert title_from("请帮我总结一下这篇文章的主要观点") == "请帮我总结一下这篇文章的主要观点"


def test_english_titles_are_cut_as_before_at_a_word() -> None:
    exact = "x" * TITLE_WIDTH
    assert title_from(exact) == exact
    words = "The quick brown fox jumps over the lazy dog and keeps running far away"
    assert title_from(words) == "The quick brown fox jumps over the lazy dog and keeps…"
    assert title_from("y" * (TITLE_WIDTH + 5)) == "y" * TITLE_WIDTH + "…"


def test_a_chinese_title_is_cut_by_width_at_a_whole_character() -> None:
    exact = "中" * (TITLE_WIDTH // 2)  # 60 columns exactly
    assert title_from(exact) == exact
    long = "请帮我把这篇关于城市规划的长文章总结成三段话并列出其中提到的所有数据来源和作者观点"
    title = title_from(long)
    assert title.endswith("…")
    assert long.startswith(title[:-1])
    assert display_width(title[:-1]) <= TITLE_WIDTH
    assert display_width(title[:-1]) >= TITLE_WIDTH - 1
    assert len(title[:-1]) == TITLE_WIDTH // 2


def test_one_column_over_is_cut() -> None:
    over = "中" * (TITLE_WIDTH // 2) + "a"
    assert title_from(over) == "中" * (TITLE_WIDTH // 2) + "…"
    odd = "a" + "中" * (TITLE_WIDTH // 2)  # 61 columns: the last wide character does not fit
    assert title_from(odd) == "a" + "中" * (TITLE_WIDTH // 2 - 1) + "…"


def test_mixed_text_is_cut_after_a_chinese_character_not_inside_a_word() -> None:
    mixed = "请用 Python 写一个函数，读取 CSV 文件并统计每一列的平均值、最大值和最小值"
    assert title_from(mixed) == "请用 Python 写一个函数，读取 CSV 文件并统计每一列的平均值…"
    assert title_from("中" * 27 + " abcdefghij") == "中" * 27 + "…"  # not "中… abcde…"
    assert title_from("中" * 27 + "abcdefghij") == "中" * 27 + "…"
    punctuation = "中" * 29 + "，后面还有很多文字"
    assert title_from(punctuation) == "中" * 29 + "…"  # no comma left before the ellipsis


def test_emoji_count_two_columns_and_stay_whole() -> None:
    emoji = "😀" * 40
    title = title_from(emoji)
    assert title == "😀" * (TITLE_WIDTH // 2) + "…"
    # Cut inside a family: its joiners are zero-width, so the cut lands after one.
    family = "a" + "👨‍👩‍👧" * 20
    cut = title_from(family)[:-1]
    assert display_width(cut) <= TITLE_WIDTH
    assert family.startswith(cut)
    assert not cut.endswith("\u200d")  # no joiner left dangling
    assert all(unicodedata.category(char) != "Cs" for char in cut)


def test_combining_marks_stay_with_their_letter() -> None:
    decomposed = unicodedata.normalize("NFD", "é") * 70  # e + COMBINING ACUTE ACCENT, 1 column
    title = title_from(decomposed)
    body = title[:-1]
    assert display_width(body) == TITLE_WIDTH
    assert not unicodedata.combining(body[0])
    assert unicodedata.combining(body[-1])  # the last letter keeps its accent
    assert body == unicodedata.normalize("NFD", "é") * TITLE_WIDTH


# -- errors and tool labels ---------------------------------------------------------------------


def test_quoted_words_in_an_error_are_inert_however_the_sentence_shows_them() -> None:
    error = InvalidParameter(
        "tools",
        N_("Function {name!r} or {name}: {count} problems."),
        code="test_only",
        name="get_*weather*",
        count=3,
    )
    shown = inert(error)
    text = shown.template.format(**shown.params)
    assert text == f"Function '{plain('get_*weather*')}' or {plain('get_*weather*')}: 3 problems."


def test_builtin_tool_labels_are_for_people_and_specs_for_the_model() -> None:
    for tool in BUILTIN_TOOLS.values():
        assert tool.label and tool.run_label
        # The model's description is English and never a display label.
        assert tool.spec.description not in (tool.label, tool.run_label)


# -- the chat page in Chinese -------------------------------------------------------------------


@pytest.fixture
def chinese_app(
    monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path
) -> Iterator[None]:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-i18n-chat")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'chat-zh.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "none")
    monkeypatch.setenv("ANYCHAT_LANGUAGE", "zh-CN")
    yield
    st.cache_resource.clear()
    close_shared_services()


def chinese_run(conversation: str | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=20)
    app.context = {"timezone": "Asia/Shanghai"}
    if conversation:
        app.query_params["c"] = conversation
    return app.run()


def test_the_chat_page_runs_in_chinese_and_draws_through_the_catalogue(
    chinese_app: None, fake_api: FakeOpenAI
) -> None:
    app = chinese_run()
    assert not app.exception, app.exception
    reader = app.session_state["anychat_translator"]  # what ui.i18n.activate decided
    assert (reader.language, reader.timezone) == ("zh_CN", SHANGHAI)
    assert app.chat_input[0].placeholder == ZH.gettext("Message AnyChat")
    assert app.title[0].value == ZH.gettext("What can I help with?")
    assert any(button.label == ZH.gettext("New chat") for button in app.button)
    fake_api.enqueue(Behavior(text="你好！", usage={"prompt_tokens": 1234, "completion_tokens": 5}))
    app.chat_input[0].set_value("你好，请介绍一下你自己").run()
    assert not app.exception, app.exception
    shown = [caption.value for caption in app.caption]
    totals = ZH.ngettext(
        "{model} · {count} token in this conversation (every branch and choice counted)",
        "{model} · {count} tokens in this conversation (every branch and choice counted)",
        1239,
        model=plain(load_settings().default_model),
    )
    assert totals in shown
    assert any(
        ZH.gettext(
            "{prompt} prompt + {completion} completion = {total} tokens",
            prompt="1,234",
            completion="5",
            total="1,239",
        )
        in caption
        for caption in shown
    )
    # The sidebar groups by the reader's day, under translated headings.
    assert ZH.gettext("Today") in shown


def test_the_sidebar_groups_pinned_then_by_the_readers_day(chinese_app: None) -> None:
    services = shared_services(load_settings())
    user = services.local_user
    chats = services.infra.chats
    pinned = chats.create_conversation(user.id, "置顶的对话", "gpt-4o")
    services.chat.set_pinned(user.id, pinned.id, True)
    recent = chats.create_conversation(user.id, "今天的对话", "gpt-4o")
    old = chats.create_conversation(user.id, "很久以前的对话", "gpt-4o")
    with services.infra.database.session() as session:
        session.execute(
            update(Conversation)
            .where(Conversation.id == old.id)
            .values(updated_at=datetime(2020, 1, 1, 12, 0))
        )
    app = chinese_run(recent.id)
    assert not app.exception, app.exception
    sidebar = app.sidebar
    headings = [caption.value for caption in sidebar.caption]
    expected = [ZH.gettext(GROUP_HEADINGS[group]) for group in (PINNED, TODAY, OLDER)]
    assert [heading for heading in headings if heading in expected] == expected
    titles = [button.label for button in sidebar.button if button.key.startswith("open-")]
    assert titles == [plain("置顶的对话"), plain("今天的对话"), plain("很久以前的对话")]
