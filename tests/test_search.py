"""Search over a person's messages and titles: storage on SQLite and PostgreSQL (the index kept
in step with every write), the use case's checks, and the snippet builder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from streamlit.testing.v1 import AppTest

from chatcore.chat.search import MAX_QUERY_CHARS, SearchService, search_terms
from chatcore.config import load_settings
from chatcore.errors import SearchError
from chatcore.wiring import Services, build_services, close_shared_services
from storage import (
    ChatRepository,
    Database,
    MessageStatus,
    ReplyOutcome,
    Role,
    SearchPage,
    SearchRepository,
    SnippetPart,
    UserRepository,
    upgrade_to_head,
)
from storage import search as search_module
from storage.models import Conversation, Message
from storage.search import ELLIPSIS, highlight, snippet
from tests.support.old_schema import migrate, populate
from ui.search import marked


@pytest.fixture
def people(database: Database) -> tuple[int, int]:
    users = UserRepository(database)
    return users.create_user("ann").id, users.create_user("bob").id


@pytest.fixture(params=["few", "many"])
def finder(
    request: pytest.FixtureRequest, database: Database, monkeypatch: pytest.MonkeyPatch
) -> SearchService:
    """On SQLite, both ways a person is searched: with few messages of everyone's, theirs are
    listed to filter the index's matches; with many, they are not."""
    if request.param == "many":  # PostgreSQL has one plan: it runs the same checks twice
        monkeypatch.setattr(search_module, "OWN_MESSAGES_LISTED", -1)
    return SearchService(SearchRepository(database))


def _chat(repo: ChatRepository, user_id: int, title: str, *texts: str, **options: bool) -> str:
    """A conversation whose messages alternate between the user and the assistant."""
    conversation = repo.create_conversation(user_id, title, "gpt-4o", **options)  # type: ignore[arg-type]
    parent = None
    for number, content in enumerate(texts):
        role = Role.USER if number % 2 == 0 else Role.ASSISTANT
        parent = repo.add_message(conversation.id, role, content, parent_id=parent).id
    return conversation.id


def _found(page: SearchPage) -> list[tuple[str, int | None]]:
    return [(hit.conversation_id, hit.message_id) for hit in page.hits]


def _marked(parts: list[SnippetPart]) -> str:
    return "".join(f"[{part.text}]" if part.is_match else part.text for part in parts)


def _ids(page: SearchPage) -> set[str]:
    return {hit.conversation_id for hit in page.hits}


# Finding -------------------------------------------------------------------------------------


def test_chinese_is_found_at_any_length_and_latin_in_any_case(
    repo: ChatRepository, finder: SearchService, people: tuple[int, int]
) -> None:
    ann, _ = people
    training = _chat(repo, ann, "训练", "请介绍一下大语言模型的训练数据", "Pandas reads CSV files.")
    other = _chat(repo, ann, "其他", "今天天气很好", "模型")  # a term at the very end
    for query, expected in [
        ("模型", {training, other}),  # two characters: no trigram of its own
        ("模", {training, other}),
        ("型", {training, other}),  # the last character of a message
        ("大语言模型", {training}),
        ("语言模", {training}),
        ("天气", {other}),
        ("pandas", {training}),
        ("PANDAS csv", {training}),
        ("cs", {training}),
        ("Csv fILES", {training}),
        ("数据 模型", {training}),  # every term, in any order
        ("很好 天气", {other}),
        ("模型 pandas", set()),  # never across two messages
        ("机器学习", set()),
    ]:
        assert _ids(finder.search(ann, query)) == expected, query


def test_short_terms_are_found_beyond_the_newest_messages(
    repo: ChatRepository,
    finder: SearchService,
    people: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the newest messages a term shorter than a trigram is found through the index's
    vocabulary: every character of a message starts one of its trigrams."""
    ann, bob = people
    old = _chat(repo, ann, "old", "深度学习的数据", "结尾是模型", "AI")
    newer = [_chat(repo, ann, f"n{number}", "无关的内容", "unrelated") for number in range(4)]
    monkeypatch.setattr(search_module, "RECENT_WINDOW", 2)  # the newest two messages only
    monkeypatch.setattr(search_module, "OWN_RECENT_WINDOW", 2)
    assert _ids(finder.search(ann, "模型")) == {old}
    # A word someone else writes more often than Ann writes messages: read from hers.
    _chat(repo, bob, "bob", *["模型模型"] * 12)
    assert _ids(finder.search(ann, "模型")) == {old}
    assert _ids(finder.search(ann, "型 深")) == set()
    assert _ids(finder.search(ann, "型")) == {old}
    assert _ids(finder.search(ann, "ai")) == {old}
    assert _ids(finder.search(ann, "深 据")) == {old}
    assert _ids(finder.search(ann, "的")) == {old, *newer}
    assert finder.search(ann, "无 模").hits == []


def test_one_hit_per_conversation_its_newest_matching_message(
    repo: ChatRepository, finder: SearchService, people: tuple[int, int]
) -> None:
    ann, _ = people
    conversation = _chat(repo, ann, "t", "数据一", "no", "数据二", "no", "Daten")
    page = finder.search(ann, "数据")
    [hit] = page.hits
    assert hit.conversation_id == conversation and hit.role == Role.USER
    assert _marked(hit.snippet) == "[数据]二"


def test_query_syntax_is_literal_text(
    repo: ChatRepository, finder: SearchService, people: tuple[int, int]
) -> None:
    ann, _ = people
    specials = [
        "100%",
        "snake_case",
        "it's",
        '"quoted"',
        "C:\\path\\file",
        "a*b",
        "AND",
        "NEAR(x",
        "-minus",
        "col:val",
        "(paren)",
        "^caret",
        "{brace}",
        "%",
        "_",
        "'",
        '"',
        "\\",
        "*",
        "-",
        ":",
        "(",
    ]
    ids = {value: _chat(repo, ann, "t", f"before {value} after") for value in specials[:13]}
    decoy = _chat(repo, ann, "t", "1000 snakeXcase its quoted C path file ab NEAR x minus")
    for value, conversation in ids.items():
        assert _ids(finder.search(ann, value)) == {conversation}, value
    for value in specials[13:]:
        found = _ids(finder.search(ann, value))  # never a syntax error
        assert decoy not in found and found, value
    assert finder.search(ann, "1000%").hits == []
    assert _ids(finder.search(ann, "NOT")) == set()  # an FTS operator alone is a word


def test_only_the_persons_own_and_never_temporary_but_archived_marked(
    database: Database, repo: ChatRepository, finder: SearchService, people: tuple[int, int]
) -> None:
    ann, bob = people
    own = _chat(repo, ann, "mine", "共享的秘密")
    _chat(repo, bob, "his", "共享的秘密")
    _chat(repo, ann, "共享 temporary", "共享的秘密", temporary=True)
    archived = _chat(repo, ann, "archived", "共享的秘密")
    with database.session() as session:
        session.execute(
            update(Conversation).where(Conversation.id == archived).values(archived=True)
        )
    hits = {hit.conversation_id: hit for hit in finder.search(ann, "秘密").hits}
    assert set(hits) == {own, archived}
    assert hits[archived].archived and not hits[own].archived
    assert _ids(finder.search(bob, "秘密")) - {own, archived} == _ids(finder.search(bob, "秘密"))
    assert finder.search(ann, "temporary").hits == []


def test_titles_are_found_and_marked_even_without_a_message(
    database: Database, repo: ChatRepository, finder: SearchService, people: tuple[int, int]
) -> None:
    ann, _ = people
    titled = _chat(repo, ann, "Budget 预算 100%", "nothing relevant")
    both = _chat(repo, ann, "预算 review", "预算 in a message")
    page = finder.search(ann, "预算")
    hits = {hit.conversation_id: hit for hit in page.hits}
    assert set(hits) == {titled, both}
    assert hits[titled].message_id is None and hits[titled].snippet == []
    assert hits[titled].role is None
    assert _marked(hits[titled].title_parts) == "Budget [预算] 100%"
    assert hits[both].message_id is not None and hits[both].role == Role.USER
    assert _ids(finder.search(ann, "100%")) == {titled}
    assert _ids(finder.search(ann, "budget 预算")) == {titled}
    with database.session() as session:
        session.execute(update(Conversation).where(Conversation.id == titled).values(folder_id=7))
    assert {hit.folder_id for hit in finder.search(ann, "budget").hits} == {7}


def test_newest_first_with_a_limit(
    database: Database, repo: ChatRepository, finder: SearchService, people: tuple[int, int]
) -> None:
    ann, _ = people
    start = datetime(2025, 1, 1, tzinfo=UTC)
    made = []
    for number in range(25):
        conversation = _chat(repo, ann, f"chat {number}", f"模型 number {number}")
        made.append(conversation)
        with database.session() as session:
            moment = start + timedelta(hours=number)
            session.execute(
                update(Message)
                .where(Message.conversation_id == conversation)
                .values(created_at=moment)
            )
            session.execute(
                update(Conversation)
                .where(Conversation.id == conversation)
                .values(updated_at=moment)
            )
    title_only = _chat(repo, ann, "模型 in the title", "nothing")
    page = finder.search(ann, "模型")
    assert len(page.hits) == 20 and page.has_more
    assert page.hits[0].conversation_id == title_only  # its last activity is now
    assert [hit.conversation_id for hit in page.hits[1:]] == made[::-1][:19]
    assert [hit.date for hit in page.hits[1:3]] == [
        start + timedelta(hours=24),
        start + timedelta(hours=23),
    ]
    smaller = finder.search(ann, "模型", limit=5)
    assert len(smaller.hits) == 5 and smaller.has_more
    everything = finder.search(ann, "模型", limit=100)
    assert len(everything.hits) == 26 and not everything.has_more
    assert len(finder.search(ann, "number", limit=10_000).hits) == 25  # capped at MAX_LIMIT


# The index follows every write -----------------------------------------------------------------


def _index_is_exact(database: Database) -> None:
    """On SQLite: the index holds exactly what a fresh index of the indexed messages holds."""
    if database.engine.dialect.name != "sqlite":
        return
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE VIRTUAL TABLE temp.expected USING fts5(content, tokenize='trigram "
                "case_sensitive 0', content='', columnsize=0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO temp.expected(rowid, content) SELECT id, content || char(31, 31) "
                "FROM messages WHERE content != '' AND status != 'streaming' AND role != 'tool'"
            )
        )
        connection.execute(
            text(
                "CREATE VIRTUAL TABLE temp.expected_terms USING fts5vocab(temp, expected, instance)"
            )
        )
        query = "SELECT term, doc, offset FROM {} ORDER BY term, doc, offset"
        actual = connection.execute(text(query.format("main.messages_fts_instances"))).all()
        expected = connection.execute(text(query.format("temp.expected_terms"))).all()
        connection.execute(
            text("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
        )
        connection.execute(text("DROP TABLE temp.expected_terms"))
        connection.execute(text("DROP TABLE temp.expected"))
    assert actual == expected


def test_the_index_follows_edits_deletes_and_cascades(
    database: Database, repo: ChatRepository, finder: SearchService, people: tuple[int, int]
) -> None:
    ann, bob = people
    kept = _chat(repo, ann, "kept", "第一条消息 alpha", "回答 beta")
    edited = _chat(repo, ann, "edited", "旧的文字 gamma")
    with database.session() as session:
        session.execute(
            update(Message)
            .where(Message.conversation_id == edited)
            .values(content="新的文字 delta")
        )
    assert finder.search(ann, "旧的").hits == [] and finder.search(ann, "gamma").hits == []
    assert _ids(finder.search(ann, "新的文字")) == {edited}
    _index_is_exact(database)

    # A message deleted, and its replies with it (parent_id cascades).
    with database.session() as session:
        first = session.scalars(
            select(Message.id).where(Message.conversation_id == kept).order_by(Message.id)
        ).first()
        session.execute(delete(Message).where(Message.id == first))
    assert finder.search(ann, "第一条").hits == [] and finder.search(ann, "回答").hits == []
    _index_is_exact(database)

    # A conversation deleted: its messages go by ON DELETE CASCADE, their index rows too.
    assert repo.delete_conversation(ann, edited)
    assert finder.search(ann, "新的").hits == [] and finder.search(ann, "文字").hits == []
    # A person deleted: conversations and messages cascade.
    _chat(repo, bob, "bob", "鲍勃的话")
    with database.session() as session:
        session.execute(text("DELETE FROM users WHERE id = :id"), {"id": bob})
    _index_is_exact(database)


def test_replies_are_found_once_they_finish_and_tool_results_never(
    database: Database, repo: ChatRepository, finder: SearchService, people: tuple[int, int]
) -> None:
    ann, _ = people
    conversation = repo.create_conversation(ann, "t", "gpt-4o")
    question, reply = repo.start_reply(
        conversation.id,
        parent_id=None,
        user_text="问题是什么",
        model="gpt-4o",
        request_params={},
        settings={},
    )
    assert _found(finder.search(ann, "问题")) == [(conversation.id, question.id)]
    repo.save_progress(reply.id, "正在生成的回答")
    assert finder.search(ann, "生成").hits == []  # streaming: not yet
    _index_is_exact(database)
    repo.finish_reply(
        reply.id, ReplyOutcome(content="正在生成的回答，完成了", status=MessageStatus.COMPLETE)
    )
    assert _found(finder.search(ann, "生成")) == [(conversation.id, reply.id)]
    assert _found(finder.search(ann, "完成")) == [(conversation.id, reply.id)]
    tool = repo.add_message(
        conversation.id, Role.TOOL, '{"result": "工具输出"}', parent_id=reply.id, tool_call_id="c1"
    )
    assert tool.id and finder.search(ann, "工具输出").hits == []
    repo.add_message(conversation.id, Role.ASSISTANT, "", parent_id=tool.id)
    _index_is_exact(database)


def test_the_migration_indexes_existing_messages(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate(db, "0007")
        # Written with plain SQL: today's models describe columns 0007 does not have yet.
        old = populate(db)
        upgrade_to_head(db.engine)
        finder = SearchService(SearchRepository(db))
        assert _ids(finder.search(old.user_id, "你好")) == {old.conversation_id}
        assert _ids(finder.search(old.user_id, "hello")) == {old.conversation_id}
        _index_is_exact(db)
    finally:
        db.dispose()


def test_postgresql_uses_the_trigram_index_for_chinese(postgres_url: str) -> None:
    database = Database(postgres_url)
    upgrade_to_head(database.engine)
    repo = ChatRepository(database)
    ann = UserRepository(database).create_user("ann").id
    _chat(repo, ann, "t", "机器学习模型")
    with database.engine.connect() as connection:
        connection.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            connection.execute(
                text("EXPLAIN SELECT id FROM messages WHERE content ILIKE '%学习模%'")
            ).scalars()
        )
        titles = "\n".join(
            connection.execute(
                text("EXPLAIN SELECT id FROM conversations WHERE title ILIKE '%zeppelin%'")
            ).scalars()
        )
        trigrams = connection.execute(text("SELECT show_trgm('学习模')")).scalar()
        block = "\n".join(
            connection.execute(
                text(
                    "EXPLAIN SELECT id FROM messages WHERE content LIKE '%学习模%' "
                    f"AND id / {search_module.SEARCH_BUCKET} = 0"
                )
            ).scalars()
        )
    database.dispose()
    assert "ix_messages_search" in plan
    assert "ix_conversations_title_trgm" in titles  # no title lowered and read one by one
    assert trigrams  # the cluster's LC_CTYPE keeps Chinese characters in trigrams
    # One block of ids through the index itself, not every match read and then filtered.
    assert "ix_messages_search" in block and "Filter" not in block


@pytest.mark.parametrize("older_read", [0, 10**9])
def test_postgresql_reads_blocks_of_ids_newest_first(
    database: Database,
    repo: ChatRepository,
    finder: SearchService,
    people: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
    older_read: int,
) -> None:
    """Blocks of a few ids: block after block (few older matches never promised), or the
    older matches all at once after the newest block; the same hits either way. SQLite
    ignores both settings."""
    ann, bob = people
    monkeypatch.setattr(search_module, "SEARCH_BUCKET", 3)
    monkeypatch.setattr(search_module, "OLDER_MATCHES_READ", older_read)
    made = [_chat(repo, ann, f"c{n}", "量子纠缠 zeppelin", "无关", "其他") for n in range(6)]
    _chat(repo, bob, "bob", *["量子纠缠 zeppelin"] * 9)
    hidden = _chat(repo, ann, "t", "量子纠缠 zeppelin", temporary=True)
    archived = _chat(repo, ann, "a", "无关", "ZEPPELIN 量子纠缠")
    with database.session() as session:
        session.execute(
            update(Conversation).where(Conversation.id == archived).values(archived=True)
        )
    page = finder.search(ann, "zeppelin 量子纠缠", limit=4)
    assert [hit.conversation_id for hit in page.hits] == [archived, *made[::-1][:3]]
    assert page.has_more and page.hits[0].archived
    everything = finder.search(ann, "纠缠 Zeppelin", limit=100)
    assert _ids(everything) == {archived, *made} and hidden not in _ids(everything)
    assert finder.search(ann, "zeppelin 其他").hits == []


@pytest.mark.parametrize("fetched", [1, 250])
def test_short_terms_alone_are_read_newest_first_until_a_page_is_full(
    repo: ChatRepository,
    finder: SearchService,
    people: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
    fetched: int,
) -> None:
    """Terms shorter than a trigram alone: PostgreSQL reads every message newest first
    through a cursor, fetched a row at a time or many; SQLite its newest messages, then the
    index's vocabulary. The newest matching message of each conversation either way."""
    ann, bob = people
    monkeypatch.setattr(search_module, "SHORT_TERMS_FETCHED", fetched)
    monkeypatch.setattr(search_module, "RECENT_WINDOW", 1)
    monkeypatch.setattr(search_module, "OWN_RECENT_WINDOW", 1)
    old = _chat(repo, ann, "old", "鲸鱼在这里", "AI 鲸鱼", "没有")
    _chat(repo, bob, "bob", *["鲸鱼 ai"] * 7)
    newer = [_chat(repo, ann, f"n{number}", "无关的内容", "鲸") for number in range(5)]
    page = finder.search(ann, "鲸鱼")
    assert _found(page) == [(old, page.hits[0].message_id)] and not page.has_more
    assert _marked(page.hits[0].snippet) == "AI [鲸鱼]"
    assert [hit.conversation_id for hit in finder.search(ann, "鲸", limit=3).hits] == (
        newer[::-1][:3]
    )
    assert _ids(finder.search(ann, "ai 鱼")) == {old}
    assert finder.search(ann, "ai 无").hits == []


def test_short_and_long_terms_together_whichever_way_the_short_one_is_read(
    repo: ChatRepository,
    finder: SearchService,
    people: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beside a longer term, a short one is looked up in the index's vocabulary when it is
    rare, or checked in each message the longer term found when it is common (SQLite)."""
    ann, bob = people
    both = _chat(repo, ann, "a", "量子 and zeppelin together", "zeppelin alone")
    apart = _chat(repo, ann, "b", "量子 alone", "zeppelin elsewhere", "only 量")
    _chat(repo, bob, "c", "量子 zeppelin of someone else")
    for read in (search_module.VOCABULARY_READ, 1):
        monkeypatch.setattr(search_module, "VOCABULARY_READ", read)
        assert _ids(finder.search(ann, "量子 zeppelin")) == {both}
        assert _ids(finder.search(ann, "ZEPPELIN 量")) == {both}
        assert _ids(finder.search(ann, "量 elsewhere")) == set()
        assert _ids(finder.search(ann, "ly 量")) == {apart}
        assert _ids(finder.search(ann, "子 tog 量")) == {both}
        assert _found(finder.search(ann, "zeppelin 子"))[0][0] == both


# The use case --------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "\x00\x1f"])
def test_an_empty_query_is_refused(finder: SearchService, query: str) -> None:
    with pytest.raises(SearchError) as refused:
        finder.search(1, query)
    assert refused.value.code == "search_query_empty"


def test_a_long_query_is_refused(finder: SearchService) -> None:
    assert finder.search(1, "模" * MAX_QUERY_CHARS).hits == []
    with pytest.raises(SearchError) as refused:
        finder.search(1, "模" * (MAX_QUERY_CHARS + 1))
    assert refused.value.code == "search_query_too_long"
    assert refused.value.params == {"limit": MAX_QUERY_CHARS, "length": MAX_QUERY_CHARS + 1}


def test_terms_are_split_on_whitespace_each_once() -> None:
    assert search_terms("  模型   data\tDATA 数据\n") == ["模型", "data", "数据"]
    assert search_terms("模型 模型训练 训练") == ["模型训练"]  # inside another: adds nothing
    assert search_terms("a\x1fb") == ["a", "b"]  # a control character separates


# Snippets --------------------------------------------------------------------------------------


def test_a_snippet_is_a_window_around_the_first_match() -> None:
    text_ = "开头" + "甲" * 100 + "模型训练" + "乙" * 100 + "结尾"
    parts = snippet(text_, ["模型"])
    joined = "".join(part.text for part in parts)
    assert parts[0] == SnippetPart(ELLIPSIS, False) and parts[-1] == SnippetPart(ELLIPSIS, False)
    assert len(joined) == 80 + 2 * len(ELLIPSIS)
    assert SnippetPart("模型", True) in parts
    assert joined.index("模型") in range(35, 45)  # about centred


def test_a_snippet_marks_every_term_in_any_case() -> None:
    parts = snippet("Read the CSV with pandas: pd.read_csv() reads csv.", ["csv", "PANDAS"])
    assert _marked(parts) == "Read the [CSV] with [pandas]: pd.read_[csv]() reads [csv]."


def test_a_snippet_near_either_end_has_one_ellipsis_and_one_line() -> None:
    start = snippet("模型 first\n\nline   " + "x" * 200, ["模型"])
    assert _marked(start).startswith("[模型] first line x") and start[-1].text == ELLIPSIS
    end = snippet("y" * 200 + " 最后的模型", ["模型"])
    assert end[0].text == ELLIPSIS and _marked(end).endswith("最后的[模型]")
    assert _marked(snippet("short 模型", ["模型"])) == "short [模型]"


def test_a_snippet_cuts_between_whole_characters() -> None:
    accent = "e\u0301"  # e and a combining acute accent
    family = "👨\u200d👩\u200d👧"
    text_ = accent * 60 + "match" + family * 30
    joined = "".join(part.text for part in snippet(text_, ["match"]))
    body = joined.strip(ELLIPSIS)
    assert not body.startswith("\u0301") and body.count("\u0301") == body.count("e")
    assert not body.endswith("\u200d") and body.count("👨") == body.count("👧")


def test_overlapping_matches_are_one_marked_part() -> None:
    assert _marked(highlight("aaaa 模型训练", ["aa", "模型", "型训"])) == "[aaaa] [模型训]练"
    assert highlight("", ["x"]) == []
    assert _marked(snippet("no match here", ["zzz"])) == "no match here"


# The sidebar's search, drawn by Streamlit ---------------------------------------------------


def test_marked_escapes_the_text_and_bolds_the_matches() -> None:
    parts = [
        SnippetPart("see *x* [link](http://e.x) # ", False),
        SnippetPart("c++", True),
        SnippetPart("\n<b>", False),
    ]
    shown = marked(parts)
    assert "**\u200cc\\+\\+\u200c**" in shown  # bold opens and closes beside punctuation
    assert "\\*x\\*" in shown and "\\[link\\]\\(http" in shown and "\\#" in shown
    assert "\n" not in shown and "\\<b\\>" in shown


def _search_sidebar() -> None:
    """The search box alone, for the reader of single-user mode."""
    import streamlit as st

    from chatcore.config import load_settings
    from chatcore.wiring import shared_services
    from ui.search import draw_search

    services = shared_services(load_settings())
    st.session_state["query_shown"] = draw_search(services, services.local_user.id)


@pytest.fixture
def page_services(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Services]:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-search-pages")
    monkeypatch.setenv("ANYAPI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'search.db'}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "none")
    built = build_services(load_settings(), prefetch_models=False)
    yield built
    built.close()
    close_shared_services()


def test_the_search_box_shows_hits_and_opens_one_at_its_message(
    page_services: Services,
) -> None:
    ann = page_services.local_user.id
    repo = ChatRepository(page_services.infra.database)
    found = _chat(repo, ann, "关于 *模型*", "介绍一下模型的训练", "模型需要数据")
    archived = _chat(repo, ann, "archived 模型", "nothing here")
    with page_services.infra.database.session() as session:
        session.execute(
            update(Conversation).where(Conversation.id == archived).values(archived=True)
        )
    at = AppTest.from_function(_search_sidebar, default_timeout=20).run()
    assert at.session_state["query_shown"] is False
    at.text_input(key="library_search").input("模型").run()
    assert at.session_state["query_shown"] is True
    labels = [button.label for button in at.button]
    assert "关于 \\***\u200c模型\u200c**\\*" in labels
    captions = [caption.value for caption in at.caption]
    assert "**\u200c模型\u200c**需要数据" in captions
    hit = next(button for button in at.button if "关于" in button.label)
    hit.click().run()
    reply_id = page_services.search.search(ann, "需要").hits[0].message_id
    assert (at.query_params["c"], at.query_params["m"]) == (found, str(reply_id))
    at.text_input(key="library_search").input("没有这个词").run()
    assert [caption.value for caption in at.caption] == ["No results."]
    assert any(caption.startswith(":material/archive: Archived · ") for caption in captions)
    at.text_input(key="library_search").input("\x00").run()  # no word in it: said so
    assert at.session_state["query_shown"] is True
    assert [caption.value for caption in at.caption] == ["Type a word to search for."]
