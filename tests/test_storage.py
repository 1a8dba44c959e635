"""Storage: migrations, pragmas, per-user scoping, threads, recovery."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text, update

from storage import (
    ChatRepository,
    ConversationRecord,
    Database,
    MessageRecord,
    MessageStatus,
    ProcessRepository,
    ReplyOutcome,
    Role,
    UserRecord,
    UserRepository,
    upgrade_to_head,
)
from storage.chats import _TOKEN_TOTAL_OF
from storage.migrate import HEAD_REVISION, alembic_config
from storage.models import AppProcess, Base, Message, utcnow
from storage.search import alembic_include_object


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'nested' / 'folder' / 'test.db'}")
    upgrade_to_head(db.engine)
    yield db
    db.dispose()


def _chat_with_question(
    repo: ChatRepository,
) -> tuple[UserRecord, ConversationRecord, MessageRecord]:
    user = UserRepository(repo.db).ensure_user("ann")
    chat = repo.create_conversation(user.id, "t", "m")
    return user, chat, repo.add_message(chat.id, Role.USER, "q", parent_id=None)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_sqlite_database_and_its_folder_are_private(
    sqlite_database: Database, tmp_path: Path
) -> None:
    """Owner-only, since the file holds every conversation and account; SQLite gives its
    -wal and -shm files the database file's permissions."""
    folder = tmp_path / "nested" / "folder"
    assert _mode(folder) == 0o700
    for name in ("test.db", "test.db-wal", "test.db-shm"):
        assert _mode(folder / name) == 0o600, name


def test_an_administrators_folder_and_database_keep_their_permissions(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o750)
    existing = folder / "old.db"
    existing.touch()
    existing.chmod(0o640)
    for path in (existing, folder / "new.db"):
        Database(f"sqlite:///{path}").dispose()
    assert (_mode(folder), _mode(existing), _mode(folder / "new.db")) == (0o750, 0o640, 0o600)


def test_migrations_reach_head(database: Database) -> None:
    tables = set(inspect(database.engine).get_table_names())
    assert {"users", "conversations", "messages", "alembic_version"} <= tables
    with database.engine.connect() as connection:
        assert connection.scalar(text("select version_num from alembic_version")) == HEAD_REVISION


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert scripts.get_current_head() == HEAD_REVISION


def test_models_and_migrations_agree(database: Database) -> None:
    with database.engine.connect() as connection:
        # The search index (migration 0008) is written by hand, outside the metadata.
        opts = {"compare_type": True, "include_object": alembic_include_object}
        context = MigrationContext.configure(connection, opts=opts)
        assert compare_metadata(context, Base.metadata) == []


def test_migrations_are_idempotent(database: Database) -> None:
    upgrade_to_head(database.engine)  # a second start must not fail


def test_sqlite_pragmas(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as connection:
        assert connection.scalar(text("pragma journal_mode")) == "wal"
        assert connection.scalar(text("pragma foreign_keys")) == 1
        assert connection.scalar(text("pragma busy_timeout")) == 5000


def test_conversations_are_listed_newest_first_and_paginated(repo: ChatRepository) -> None:
    user = UserRepository(repo.db).ensure_user("ann")
    created = [repo.create_conversation(user.id, f"chat {i}", "gpt-4o") for i in range(5)]
    # Activity moves a conversation to the top.
    repo.add_message(created[1].id, Role.USER, "bump", parent_id=None)
    first = repo.list_conversations(user.id, limit=2)
    assert [c.title for c in first.items] == ["chat 1", "chat 4"]
    assert first.has_more
    last = repo.list_conversations(user.id, offset=4, limit=2)
    assert [c.title for c in last.items] == ["chat 0"]
    assert not last.has_more


def test_pinned_conversations_come_first(repo: ChatRepository) -> None:
    user = UserRepository(repo.db).ensure_user("ann")
    older = repo.create_conversation(user.id, "older", "m")
    repo.create_conversation(user.id, "newer", "m")
    assert repo.set_pinned(user.id, older.id, True)
    titles = [c.title for c in repo.list_conversations(user.id).items]
    assert titles == ["older", "newer"]
    assert repo.list_conversations(user.id).items[0].pinned


def test_users_cannot_reach_each_others_conversations(repo: ChatRepository) -> None:
    ann, bob = (
        UserRepository(repo.db).ensure_user("ann"),
        UserRepository(repo.db).ensure_user("bob"),
    )
    chat = repo.create_conversation(ann.id, "ann's", "m")
    assert repo.get_conversation(bob.id, chat.id) is None
    assert repo.get_conversation(bob.id, "0" * 32) is None
    assert repo.list_conversations(bob.id).items == []
    assert not repo.rename_conversation(bob.id, chat.id, "mine now")
    assert not repo.delete_conversation(bob.id, chat.id)
    assert repo.get_conversation(ann.id, chat.id).title == "ann's"


def test_conversation_ids_are_random(repo: ChatRepository) -> None:
    user = UserRepository(repo.db).ensure_user("ann")
    ids = {repo.create_conversation(user.id, "t", "m").id for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_rename_and_delete_cascade(repo: ChatRepository, database: Database) -> None:
    user = UserRepository(repo.db).ensure_user("ann")
    chat = repo.create_conversation(user.id, "old", "m")
    question = repo.add_message(chat.id, Role.USER, "q", parent_id=None)
    repo.add_message(chat.id, Role.ASSISTANT, "a", parent_id=question.id)
    assert repo.rename_conversation(user.id, chat.id, "new")
    assert repo.get_conversation(user.id, chat.id).title == "new"
    assert repo.delete_conversation(user.id, chat.id)
    assert repo.get_conversation(user.id, chat.id) is None
    with database.engine.connect() as connection:
        assert connection.scalar(text("select count(*) from messages")) == 0


def test_thread_follows_the_active_branch(repo: ChatRepository, database: Database) -> None:
    user, chat, question = _chat_with_question(repo)
    failed = repo.add_message(
        chat.id, Role.ASSISTANT, "", parent_id=question.id, status=MessageStatus.ERROR
    )
    retried = repo.add_message(chat.id, Role.ASSISTANT, "answer", parent_id=question.id)
    conversation = repo.get_conversation(user.id, chat.id)
    assert [m.id for m in repo.thread(conversation)] == [question.id, retried.id]
    # The other branch is still stored and reachable from its own leaf.
    other = dataclasses.replace(conversation, active_leaf_id=failed.id)
    assert [m.id for m in repo.thread(other)] == [question.id, failed.id]
    with database.engine.connect() as connection:
        assert connection.scalar(text("select count(*) from messages")) == 3


def test_records_are_plain_dataclasses(repo: ChatRepository) -> None:
    user = UserRepository(repo.db).ensure_user("ann")
    chat = repo.create_conversation(user.id, "t", "m", {"temperature": 0.5})
    message = repo.add_message(chat.id, Role.USER, "q", parent_id=None)
    assert isinstance(message, MessageRecord)
    assert dataclasses.is_dataclass(message) and dataclasses.is_dataclass(chat)
    assert chat.settings == {"temperature": 0.5}
    assert message.created_at.tzinfo is not None


def test_finish_reply_stores_everything_and_sums_tokens(repo: ChatRepository) -> None:
    user, chat, question = _chat_with_question(repo)
    reply = repo.add_message(
        chat.id, Role.ASSISTANT, "", parent_id=question.id, status=MessageStatus.STREAMING
    )
    repo.save_progress(reply.id, "partial")
    assert repo.get_message(reply.id).content == "partial"
    repo.finish_reply(
        reply.id,
        ReplyOutcome(
            content="done",
            status=MessageStatus.COMPLETE,
            finish_reason="stop",
            model="gpt-4o-2024",
            prompt_tokens=3,
            completion_tokens=4,
            total_tokens=7,
            first_token_ms=120,
            total_ms=300,
            response_id="chatcmpl-1",
            request_id="req_1",
        ),
    )
    saved = repo.get_message(reply.id)
    assert (saved.content, saved.status, saved.total_tokens) == ("done", "complete", 7)
    assert (saved.response_id, saved.request_id, saved.first_token_ms) == (
        "chatcmpl-1",
        "req_1",
        120,
    )
    assert repo.token_total(user.id, chat.id) == 7
    other = UserRepository(repo.db).ensure_user("bob")
    assert repo.token_total(other.id, chat.id) is None  # someone else's: not even a zero
    assert repo.token_total(user.id, "no-such-conversation") is None


def test_a_conversations_token_total_is_read_from_the_index_alone(
    sqlite_database: Database,
) -> None:
    """Every page run sums the open conversation's tokens: from the covering index, never
    from the messages' rows (which grow with the conversation); the ownership check is one
    lookup of the conversation by its key."""
    statement = _TOKEN_TOTAL_OF.params(conversation_id="c", user_id=1).compile(
        sqlite_database.engine, compile_kwargs={"literal_binds": True}
    )
    with sqlite_database.engine.connect() as connection:
        plan = " ".join(
            str(row[-1]) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {statement}"))
        )
    assert "COVERING INDEX ix_messages_conversation_tokens" in plan
    assert "SCAN" not in plan, plan


def test_only_replies_of_processes_that_stopped_beating_are_closed(
    repo: ChatRepository,
) -> None:
    processes = ProcessRepository(repo.db)
    processes.register("alive", "host", 1)
    processes.register("silent", "host", 2)
    _, chat, question = _chat_with_question(repo)

    def streaming(owner: str | None) -> int:
        reply = repo.add_message(
            chat.id, Role.ASSISTANT, "half", parent_id=question.id, status=MessageStatus.STREAMING
        )
        with repo.db.session() as session:
            session.execute(
                update(Message).where(Message.id == reply.id).values(owner_process=owner)
            )
        return reply.id

    kept, stale, gone, legacy = (
        streaming("alive"),
        streaming("silent"),
        streaming("x"),
        streaming(None),
    )
    with repo.db.session() as session:  # "silent" last beat a minute ago
        session.execute(
            update(AppProcess)
            .where(AppProcess.id == "silent")
            .values(beat_at=utcnow() - timedelta(seconds=60))
        )
    closed = processes.close_orphaned_replies(30, "stopped", code="restart", params={"n": 1})
    assert sorted(closed) == sorted([stale, gone, legacy])
    assert repo.get_message(kept).status == MessageStatus.STREAMING
    for message_id in (stale, gone, legacy):
        saved = repo.get_message(message_id)
        assert (saved.status, saved.error, saved.content) == ("error", "stopped", "half")
        assert (saved.error_code, saved.error_params) == ("restart", {"n": 1})
    assert processes.alive("alive", 30) and not processes.alive("silent", 30)
    assert processes.close_orphaned_replies(30, "stopped") == []
    processes.beat("silent", "host", 2)  # it was only paused: it comes back
    assert processes.alive("silent", 30)
    processes.unregister("alive")
    assert not processes.alive("alive", 30)


def test_a_reply_error_keeps_its_code_and_values(repo: ChatRepository) -> None:
    _, chat, question = _chat_with_question(repo)
    reply = repo.add_message(
        chat.id, Role.ASSISTANT, "", parent_id=question.id, status=MessageStatus.STREAMING
    )
    outcome = ReplyOutcome(
        content="",
        status=MessageStatus.ERROR,
        error="AnyAPI did not answer within 5 seconds.",
        error_code="timeout",
        error_params={"seconds": 5.0},
    )
    repo.finish_reply(reply.id, outcome)
    saved = repo.get_message(reply.id)
    assert (saved.error, saved.error_code, saved.error_params) == (
        "AnyAPI did not answer within 5 seconds.",
        "timeout",
        {"seconds": 5.0},
    )
