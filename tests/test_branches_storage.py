"""Storage of alternatives and branches: choices, sibling replies, tool messages, presets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import inspect, text

from storage import (
    ChatRepository,
    ConversationRecord,
    Database,
    MessageRecord,
    MessageStatus,
    ReplyOutcome,
    Role,
    UserRecord,
    UserRepository,
    upgrade_to_head,
)
from storage.migrate import HEAD_REVISION, current_revision
from storage.models import User
from tests.support.old_schema import migrate, populate

NEW_MESSAGE_COLUMNS = ("tool_calls", "tool_call_id", "system_fingerprint")
NEW_CHOICE_COLUMNS = ("choice_group", "choice_index")


@pytest.fixture
def ann(repo: ChatRepository) -> UserRecord:
    return UserRepository(repo.db).ensure_user("ann")


@pytest.fixture
def chat(repo: ChatRepository, ann: UserRecord) -> ConversationRecord:
    return repo.create_conversation(ann.id, "branches", "gpt-4o")


def _reload(repo: ChatRepository, user: UserRecord, chat: ConversationRecord) -> ConversationRecord:
    conversation = repo.get_conversation(user.id, chat.id)
    assert conversation is not None
    return conversation


def _ids(messages: list[MessageRecord]) -> list[int]:
    return [message.id for message in messages]


def _start(
    repo: ChatRepository, chat: ConversationRecord, choices: int, parent_id: int | None = None
) -> list[MessageRecord]:
    return repo.start_reply(
        chat.id,
        parent_id=parent_id,
        user_text="question",
        model="gpt-4o",
        request_params={"n": choices} if choices > 1 else {},
        settings={"model": "gpt-4o", "n": choices},
        choices=choices,
    )


# Choices -----------------------------------------------------------------------------------


def test_start_reply_with_choices_creates_one_group(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    question, *replies = _start(repo, chat, choices=3)
    assert (question.role, question.content, question.parent_id) == (Role.USER, "question", None)
    assert len(replies) == 3
    for index, reply in enumerate(replies):
        stored = repo.get_message(reply.id)
        assert stored is not None
        assert (stored.role, stored.status, stored.parent_id) == (
            Role.ASSISTANT,
            MessageStatus.STREAMING,
            question.id,
        )
        assert (stored.choice_group, stored.choice_index) == (replies[0].id, index)
        assert (reply.choice_group, reply.choice_index) == (replies[0].id, index)
    conversation = _reload(repo, ann, chat)
    assert conversation.active_leaf_id == replies[0].id
    assert conversation.settings == {"model": "gpt-4o", "n": 3}


def test_start_reply_with_one_choice_has_no_group(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    question, reply = _start(repo, chat, choices=1)
    stored = repo.get_message(reply.id)
    assert stored is not None
    assert (stored.choice_group, stored.choice_index) == (None, None)
    assert stored.parent_id == question.id
    assert _reload(repo, ann, chat).active_leaf_id == reply.id


def test_choices_are_alternatives_of_each_other(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    question, *replies = _start(repo, chat, choices=3)
    thread = repo.load_thread(_reload(repo, ann, chat))
    assert _ids(thread.messages) == [question.id, replies[0].id]
    assert set(thread.alternatives) == {replies[0].id}
    assert _ids(thread.alternatives[replies[0].id]) == _ids(replies)


# Threads and alternatives ------------------------------------------------------------------


def test_load_thread_lists_same_role_siblings_on_the_path(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    first = repo.add_message(chat.id, Role.USER, "first", parent_id=None)
    failed = repo.add_message(
        chat.id, Role.ASSISTANT, "", parent_id=first.id, status=MessageStatus.ERROR
    )
    retried = repo.add_message(chat.id, Role.ASSISTANT, "answer", parent_id=first.id)
    # A sibling of another role is not an alternative of the user's follow-up.
    result = repo.add_message(chat.id, Role.TOOL, "42", parent_id=retried.id, tool_call_id="c")
    follow_up = repo.add_message(chat.id, Role.USER, "more", parent_id=retried.id)
    last = repo.add_message(chat.id, Role.ASSISTANT, "sure", parent_id=follow_up.id)
    edited = repo.add_message(chat.id, Role.USER, "first, edited", parent_id=None)

    conversation = repo.select_branch(ann.id, last.id)
    assert conversation is not None
    thread = repo.load_thread(conversation)
    assert _ids(thread.messages) == [first.id, retried.id, follow_up.id, last.id]
    assert thread.messages[0].parent_id is None
    assert set(thread.alternatives) == {first.id, retried.id}
    assert _ids(thread.alternatives[first.id]) == [first.id, edited.id]
    assert _ids(thread.alternatives[retried.id]) == [failed.id, retried.id]
    assert result.id not in _ids([m for group in thread.alternatives.values() for m in group])


def test_load_thread_of_an_empty_conversation(
    repo: ChatRepository, chat: ConversationRecord
) -> None:
    thread = repo.load_thread(chat)
    assert (thread.messages, thread.alternatives) == ([], {})


@pytest.mark.parametrize("chained", [True, False], ids=["chain", "siblings"])
def test_tool_messages_are_never_alternatives(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord, chained: bool
) -> None:
    question = repo.add_message(chat.id, Role.USER, "time and sum?", parent_id=None)
    call = repo.add_message(chat.id, Role.ASSISTANT, "", parent_id=question.id)
    first = repo.add_message(chat.id, Role.TOOL, "12:00", parent_id=call.id, tool_call_id="call_1")
    second = repo.add_message(
        chat.id, Role.TOOL, "3", parent_id=first.id if chained else call.id, tool_call_id="call_2"
    )
    thread = repo.load_thread(_reload(repo, ann, chat))
    expected = (
        [question.id, call.id, first.id, second.id]
        if chained
        else [
            question.id,
            call.id,
            second.id,
        ]
    )
    assert _ids(thread.messages) == expected
    assert thread.alternatives == {}


# Switching branches ------------------------------------------------------------------------


def test_select_branch_switches_to_another_choice(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    question, *replies = _start(repo, chat, choices=3)
    conversation = repo.select_branch(ann.id, replies[2].id)
    assert conversation is not None
    assert conversation.active_leaf_id == replies[2].id
    assert _reload(repo, ann, chat).active_leaf_id == replies[2].id
    thread = repo.load_thread(conversation)
    assert _ids(thread.messages) == [question.id, replies[2].id]
    assert _ids(thread.alternatives[replies[2].id]) == _ids(replies)


def test_select_branch_lands_at_the_newest_leaf_below(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    first = repo.add_message(chat.id, Role.USER, "q", parent_id=None)
    reply_a = repo.add_message(chat.id, Role.ASSISTANT, "A", parent_id=first.id)
    edited = repo.add_message(chat.id, Role.USER, "q, edited", parent_id=None)
    reply_b1 = repo.add_message(chat.id, Role.ASSISTANT, "B1", parent_id=edited.id)
    follow_up = repo.add_message(chat.id, Role.USER, "C", parent_id=reply_b1.id)
    reply_c1 = repo.add_message(chat.id, Role.ASSISTANT, "C1", parent_id=follow_up.id)

    back = repo.select_branch(ann.id, first.id)
    assert back is not None and back.active_leaf_id == reply_a.id
    assert _ids(repo.thread(back)) == [first.id, reply_a.id]
    forward = repo.select_branch(ann.id, edited.id)
    assert forward is not None and forward.active_leaf_id == reply_c1.id
    assert _ids(repo.thread(forward)) == [edited.id, reply_b1.id, follow_up.id, reply_c1.id]
    assert _reload(repo, ann, chat).active_leaf_id == reply_c1.id


def test_select_branch_follows_the_most_recently_extended_child(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    question = repo.add_message(chat.id, Role.USER, "q", parent_id=None)
    older = repo.add_message(chat.id, Role.ASSISTANT, "older", parent_id=question.id)
    newer = repo.add_message(chat.id, Role.ASSISTANT, "newer", parent_id=question.id)
    # The older reply is continued after the newer one was written: its branch is the newest.
    follow_up = repo.add_message(chat.id, Role.USER, "go on", parent_id=older.id)
    conversation = repo.select_branch(ann.id, question.id)
    assert conversation is not None and conversation.active_leaf_id == follow_up.id
    conversation = repo.select_branch(ann.id, newer.id)
    assert conversation is not None and conversation.active_leaf_id == newer.id


def test_select_branch_refuses_other_users_and_unknown_ids(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    bob = UserRepository(repo.db).ensure_user("bob")
    _, *replies = _start(repo, chat, choices=2)
    assert repo.select_branch(bob.id, replies[1].id) is None
    assert _reload(repo, ann, chat).active_leaf_id == replies[0].id
    assert repo.select_branch(ann.id, replies[1].id + 1000) is None
    assert _reload(repo, ann, chat).active_leaf_id == replies[0].id


# Tool calls --------------------------------------------------------------------------------


def test_tool_calls_fingerprint_and_tool_call_id_are_stored(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    question, reply = _start(repo, chat, choices=1)
    arguments = json.dumps({"timezone": "Asia/Shanghai", "城市": "上海"}, ensure_ascii=False)
    tool_calls: list[dict[str, Any]] = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "current_time", "arguments": arguments},
        },
        {
            "id": "call_2",
            "type": "function",
            "function": {"name": "查询", "arguments": "{}"},
        },
    ]
    repo.finish_reply(
        reply.id,
        ReplyOutcome(
            content="",
            status=MessageStatus.COMPLETE,
            finish_reason="tool_calls",
            tool_calls=tool_calls,
            system_fingerprint="fp_44709d6fcb",
        ),
    )
    result = repo.add_message(
        chat.id, Role.TOOL, "现在是中午十二点", parent_id=reply.id, tool_call_id="call_1"
    )

    stored_reply = repo.get_message(reply.id)
    stored_result = repo.get_message(result.id)
    assert stored_reply is not None and stored_result is not None
    assert stored_reply.tool_calls == tool_calls
    assert json.loads(stored_reply.tool_calls[0]["function"]["arguments"])["城市"] == "上海"
    assert stored_reply.system_fingerprint == "fp_44709d6fcb"
    assert stored_reply.finish_reason == "tool_calls"
    assert (stored_result.tool_call_id, stored_result.content) == ("call_1", "现在是中午十二点")
    assert result.tool_call_id == "call_1"

    thread = repo.load_thread(_reload(repo, ann, chat))
    assert _ids(thread.messages) == [question.id, reply.id, result.id]
    assert thread.messages[1].tool_calls == tool_calls
    assert thread.messages[1].system_fingerprint == "fp_44709d6fcb"
    assert thread.messages[2].tool_call_id == "call_1"
    assert thread.messages[0].tool_calls is None and thread.messages[0].tool_call_id is None


# Presets -----------------------------------------------------------------------------------


def test_save_preset_creates_then_overwrites_by_name(repo: ChatRepository, ann: UserRecord) -> None:
    created = repo.save_preset(ann.id, "Terse", {"temperature": 0.2}, shared=False)
    assert (created.name, created.owner, created.shared) == ("Terse", "ann", False)
    assert created.settings == {"temperature": 0.2}
    updated = repo.save_preset(ann.id, "Terse", {"system_prompt": "简短"}, shared=True)
    assert updated.id == created.id
    assert (updated.settings, updated.shared) == ({"system_prompt": "简短"}, True)
    assert [p.id for p in repo.list_presets(ann.id)] == [created.id]
    stored = repo.get_preset(ann.id, created.id)
    assert stored is not None
    assert (stored.settings, stored.shared) == ({"system_prompt": "简短"}, True)


def test_two_users_may_use_the_same_preset_name(repo: ChatRepository, ann: UserRecord) -> None:
    bob = UserRepository(repo.db).ensure_user("bob")
    mine = repo.save_preset(ann.id, "Review", {"temperature": 0.1}, shared=False)
    theirs = repo.save_preset(bob.id, "Review", {"temperature": 0.9}, shared=False)
    assert mine.id != theirs.id
    assert [(p.owner, p.settings) for p in repo.list_presets(ann.id)] == [
        ("ann", {"temperature": 0.1})
    ]
    assert [(p.owner, p.settings) for p in repo.list_presets(bob.id)] == [
        ("bob", {"temperature": 0.9})
    ]


def test_preset_visibility_and_order(repo: ChatRepository, ann: UserRecord) -> None:
    bob = UserRepository(repo.db).ensure_user("bob")
    repo.save_preset(ann.id, "delta", {}, shared=False)
    repo.save_preset(ann.id, "Bravo", {}, shared=True)
    shared = repo.save_preset(bob.id, "alpha", {"n": 2}, shared=True)
    private = repo.save_preset(bob.id, "Charlie", {}, shared=False)

    listed = repo.list_presets(ann.id)
    assert [(p.name, p.owner) for p in listed] == [
        ("alpha", "bob"),
        ("Bravo", "ann"),
        ("delta", "ann"),
    ]
    assert [p.user_id for p in listed] == [bob.id, ann.id, ann.id]
    assert [p.name for p in repo.list_presets(bob.id)] == ["alpha", "Bravo", "Charlie"]

    visible = repo.get_preset(ann.id, shared.id)
    assert visible is not None and (visible.owner, visible.settings) == ("bob", {"n": 2})
    assert repo.get_preset(ann.id, private.id) is None
    assert repo.get_preset(ann.id, private.id + 1000) is None
    assert repo.get_preset(bob.id, private.id) is not None


def test_only_the_owner_deletes_a_preset(repo: ChatRepository, ann: UserRecord) -> None:
    bob = UserRepository(repo.db).ensure_user("bob")
    shared = repo.save_preset(bob.id, "team", {}, shared=True)
    private = repo.save_preset(bob.id, "mine", {}, shared=False)
    assert not repo.delete_preset(ann.id, shared.id)
    assert not repo.delete_preset(ann.id, private.id)
    assert repo.get_preset(ann.id, shared.id) is not None
    assert repo.delete_preset(bob.id, shared.id)
    assert repo.get_preset(bob.id, shared.id) is None
    assert not repo.delete_preset(bob.id, shared.id)
    assert [p.name for p in repo.list_presets(bob.id)] == ["mine"]


def test_deleting_a_user_deletes_their_presets(
    repo: ChatRepository, database: Database, ann: UserRecord
) -> None:
    bob = UserRepository(repo.db).ensure_user("bob")
    repo.save_preset(bob.id, "team", {}, shared=True)
    repo.save_preset(bob.id, "mine", {}, shared=False)
    kept = repo.save_preset(ann.id, "kept", {}, shared=True)
    with database.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            assert connection.scalar(text("pragma foreign_keys")) == 1
    with database.session() as session:
        row = session.get(User, bob.id)
        assert row is not None
        session.delete(row)
    with database.engine.connect() as connection:
        owners = connection.execute(text("select user_id from presets")).scalars().all()
    assert owners == [ann.id]
    assert [p.id for p in repo.list_presets(ann.id)] == [kept.id]


# Migration ---------------------------------------------------------------------------------


def test_upgrade_from_0001_keeps_existing_rows(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate(db, "0001")
        assert current_revision(db.engine) == "0001"
        assert not inspect(db.engine).has_table("presets")
        rows = populate(db)
        user_id, conversation_id = rows.user_id, rows.conversation_id
        question_id, reply_id = rows.question_id, rows.reply_id

        upgrade_to_head(db.engine)

        assert current_revision(db.engine) == HEAD_REVISION
        assert inspect(db.engine).has_table("presets")
        columns = ", ".join(NEW_MESSAGE_COLUMNS + NEW_CHOICE_COLUMNS)
        with db.engine.connect() as connection:
            rows = connection.execute(text(f"select id, {columns} from messages order by id"))
            assert [tuple(row) for row in rows] == [
                (question_id, None, None, None, None, None),
                (reply_id, None, None, None, None, None),
            ]
            assert connection.scalar(text("select username from users")) == "old"

        repo = ChatRepository(db)
        conversation = repo.get_conversation(user_id, conversation_id)
        assert conversation is not None
        assert (conversation.title, conversation.settings) == ("旧对话", {"temperature": 0.5})
        assert conversation.active_leaf_id == reply_id
        thread = repo.load_thread(conversation)
        assert [(m.role, m.content) for m in thread.messages] == [
            ("user", "你好"),
            ("assistant", "hello"),
        ]
        assert thread.messages[1].request_params == {"temperature": 0.5}
        assert thread.messages[1].total_tokens == 9
        assert thread.messages[1].tool_calls is None
        assert thread.messages[1].choice_group is None
        assert thread.alternatives == {}
        assert repo.list_presets(user_id) == []
    finally:
        db.dispose()
