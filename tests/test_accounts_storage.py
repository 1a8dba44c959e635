"""Account storage: users, the first administrator, sessions, shares, personal keys, the usage
ledger, copies of shared conversations and the 0003 migration, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, func, inspect, select, text

from storage import (
    AlreadySetUp,
    ChatRepository,
    ConversationRecord,
    Credentials,
    Database,
    KeyRepository,
    MessageStatus,
    ReplyOutcome,
    Role,
    ShareRepository,
    UsageLedger,
    UsageRow,
    UsernameTaken,
    UserRecord,
    UserRepository,
    upgrade_to_head,
)
from storage.migrate import HEAD_REVISION, current_revision
from storage.models import AuthSession, Conversation, UsageEvent
from tests.support.old_schema import migrate, populate

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ACCOUNT_TABLES = {"auth_sessions", "shares", "personal_keys", "usage_events"}


@pytest.fixture
def users(database: Database) -> UserRepository:
    return UserRepository(database)


@pytest.fixture
def shares(database: Database) -> ShareRepository:
    return ShareRepository(database)


@pytest.fixture
def keys(database: Database) -> KeyRepository:
    return KeyRepository(database)


@pytest.fixture
def ledger(database: Database) -> UsageLedger:
    return UsageLedger(database)


@pytest.fixture
def chats(database: Database) -> ChatRepository:
    return ChatRepository(database)


def _count(database: Database, table: str) -> int:
    with database.engine.connect() as connection:
        return connection.scalar(text(f"select count(*) from {table}"))


# Users -----------------------------------------------------------------------------------


def test_password_hash_never_travels_in_a_user_record(users: UserRepository) -> None:
    assert "password_hash" not in {field.name for field in dataclasses.fields(UserRecord)}
    user = users.create_user("ann", password_hash="$argon2id$secret")
    assert "$argon2id$secret" not in repr(user)
    assert not hasattr(user, "password_hash")
    credentials = users.credentials("ann")
    assert isinstance(credentials, Credentials)
    assert credentials.password_hash == "$argon2id$secret"
    assert credentials.user == user


def test_create_user_stores_every_field(users: UserRepository) -> None:
    before = datetime.now(UTC)
    admin = users.create_user(
        "Root",
        display_name="The Admin",
        role="admin",
        auth_source="oidc",
        email="root@example.com",
    )
    assert (admin.username, admin.display_name, admin.email) == (
        "Root",
        "The Admin",
        "root@example.com",
    )
    assert (admin.role, admin.auth_source, admin.disabled) == ("admin", "oidc", False)
    assert admin.is_admin
    assert admin.created_at is not None and admin.created_at.tzinfo is not None
    assert admin.created_at >= before - timedelta(seconds=5)
    member = users.create_user("bob")
    assert (member.display_name, member.role, member.auth_source) == ("bob", "member", "local")
    assert not member.is_admin
    assert (member.quota_tokens, member.quota_period, member.last_login_at) == (None, None, None)
    assert users.get_user(admin.id) == admin
    assert users.get_user(admin.id + member.id + 1000) is None


def test_usernames_are_unique_ignoring_case(users: UserRepository) -> None:
    ann = users.create_user("Ann")
    for duplicate in ("Ann", "ann", "ANN"):
        with pytest.raises(UsernameTaken):
            users.create_user(duplicate)
    assert issubclass(UsernameTaken, ValueError)
    assert users.count_users() == 1
    assert users.find_user("aNN") == ann
    assert users.find_user("ann").username == "Ann"  # stored as typed
    assert users.credentials("ANN").user.id == ann.id
    assert users.find_user("anne") is None
    assert users.credentials("nobody") is None


def test_create_user_refuses_nonsense(users: UserRepository) -> None:
    with pytest.raises(ValueError, match="blank"):
        users.create_user("  ")
    with pytest.raises(ValueError, match="role"):
        users.create_user("ann", role="owner")
    with pytest.raises(ValueError, match="auth source"):
        users.create_user("ann", auth_source="ldap")
    assert users.count_users() == 0


def test_ensure_user_creates_once(users: UserRepository) -> None:
    first = users.ensure_user(
        "carol", display_name="Carol", auth_source="proxy", email="c@example.com"
    )
    assert (first.auth_source, first.email, first.display_name) == (
        "proxy",
        "c@example.com",
        "Carol",
    )
    again = users.ensure_user("Carol", display_name="Other", auth_source="oidc")
    assert again == first  # an existing account comes back unchanged
    admin = users.ensure_user("boss", role="admin", auth_source="none")
    assert admin.is_admin and admin.auth_source == "none"
    assert users.count_users() == 2


def test_listing_and_counting_users(users: UserRepository) -> None:
    for name, role in (("carol", "member"), ("Bob", "admin"), ("ann", "admin")):
        users.create_user(name, role=role)
    assert [u.username for u in users.list_users()] == ["ann", "Bob", "carol"]
    assert users.count_users() == 3
    assert users.count_admins() == 2
    bob = users.find_user("bob")
    assert users.set_disabled(bob.id, True)
    assert users.count_admins() == 1
    assert users.count_admins(active_only=False) == 2
    assert users.count_users() == 3  # disabled accounts still exist


def test_a_login_is_recorded_and_nothing_locks(users: UserRepository) -> None:
    user = users.create_user("ann", password_hash="h")
    before = datetime.now(UTC)
    users.record_login(user.id)
    recorded = users.credentials("ann")
    assert recorded is not None and recorded.password_hash == "h"
    assert recorded.user.last_login_at is not None
    assert recorded.user.last_login_at >= before - timedelta(seconds=5)
    # Wrong passwords are throttled elsewhere (storage/signin.py), never a lock on the account.
    assert {field.name for field in dataclasses.fields(Credentials)} == {"user", "password_hash"}


def test_the_first_admin_is_a_one_time_step(users: UserRepository, database: Database) -> None:
    root = users.create_first_admin("root", "h")
    assert (root.username, root.display_name, root.role, root.auth_source) == (
        "root",
        "root",
        "admin",
        "local",
    )
    assert users.credentials("root").password_hash == "h"
    with pytest.raises(AlreadySetUp):
        users.create_first_admin("mallory", "h")
    assert [user.username for user in users.list_users()] == ["root"]
    assert _count(database, "setup_steps") == 1


def test_no_first_admin_step_once_accounts_exist(users: UserRepository, database: Database) -> None:
    """An install with accounts from before the step existed is refused, and the refused
    attempt leaves no step behind."""
    users.create_user("old")
    with pytest.raises(AlreadySetUp):
        users.create_first_admin("root", "h")
    assert users.count_users() == 1 and users.count_admins() == 0
    assert _count(database, "setup_steps") == 0


def test_setters_report_whether_the_user_exists(users: UserRepository) -> None:
    user = users.create_user("ann", password_hash="old")
    missing = user.id + 1000
    assert users.set_password_hash(user.id, "new")
    assert users.credentials("ann").password_hash == "new"
    assert users.set_role(user.id, "admin")
    assert users.get_user(user.id).is_admin
    assert users.set_quota(user.id, 50_000, "day")
    limited = users.get_user(user.id)
    assert (limited.quota_tokens, limited.quota_period) == (50_000, "day")
    assert users.set_quota(user.id, None, None)
    assert users.get_user(user.id).quota_tokens is None
    assert users.set_disabled(user.id, True)
    assert users.get_user(user.id).disabled
    assert users.set_disabled(user.id, False)
    assert not users.get_user(user.id).disabled
    for setter in (
        lambda: users.set_password_hash(missing, "x"),
        lambda: users.set_role(missing, "member"),
        lambda: users.set_disabled(missing, True),
        lambda: users.set_quota(missing, 1, "month"),
    ):
        assert setter() is False
    with pytest.raises(ValueError, match="role"):
        users.set_role(user.id, "root")
    with pytest.raises(ValueError, match="quota period"):
        users.set_quota(user.id, 10, "week")


# Sessions --------------------------------------------------------------------------------


def test_session_resolves_until_it_expires(users: UserRepository) -> None:
    user = users.create_user("ann")
    users.create_session(user.id, "a" * 64, T0 + timedelta(hours=1))
    assert users.session_user("a" * 64, T0) == user
    assert users.session_user("a" * 64, T0 + timedelta(minutes=59)) == user
    assert users.session_user("a" * 64, T0 + timedelta(hours=1)) is None
    assert users.session_user("b" * 64, T0) is None
    # A time in another zone means the same instant.
    tokyo = T0.astimezone(timezone(timedelta(hours=9)))
    assert users.session_user("a" * 64, tokyo) == user


def test_last_seen_is_written_at_most_once_a_minute(
    users: UserRepository, database: Database
) -> None:
    user = users.create_user("ann")
    users.create_session(user.id, "a" * 64, T0 + timedelta(days=1))

    def last_seen() -> datetime:
        with database.session() as session:
            value = session.scalar(select(AuthSession.last_seen_at))
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    users.session_user("a" * 64, T0)
    assert last_seen() == T0
    users.session_user("a" * 64, T0 + timedelta(seconds=30))
    assert last_seen() == T0
    users.session_user("a" * 64, T0 + timedelta(minutes=2))
    assert last_seen() == T0 + timedelta(minutes=2)


def test_disabling_signs_the_user_out(users: UserRepository, database: Database) -> None:
    ann, bob = users.create_user("ann"), users.create_user("bob")
    users.create_session(ann.id, "a" * 64, T0 + timedelta(days=1))
    users.create_session(ann.id, "b" * 64, T0 + timedelta(days=1))
    users.create_session(bob.id, "c" * 64, T0 + timedelta(days=1))
    assert users.set_disabled(ann.id, True)
    assert users.session_user("a" * 64, T0) is None
    assert _count(database, "auth_sessions") == 1  # only bob's is left
    assert users.session_user("c" * 64, T0) == bob
    # Re-enabling does not bring the old sessions back.
    assert users.set_disabled(ann.id, False)
    assert users.session_user("b" * 64, T0) is None


def test_disabled_user_is_refused_even_with_a_live_session(users: UserRepository) -> None:
    """A session row created after disabling (a race with a sign-in) still does not work."""
    ann = users.create_user("ann")
    users.set_disabled(ann.id, True)
    users.create_session(ann.id, "a" * 64, T0 + timedelta(days=1))
    assert users.session_user("a" * 64, T0) is None


def test_deleting_and_purging_sessions(users: UserRepository, database: Database) -> None:
    ann, bob = users.create_user("ann"), users.create_user("bob")
    users.create_session(ann.id, "a" * 64, T0 + timedelta(hours=1))
    users.create_session(ann.id, "b" * 64, T0 - timedelta(hours=1))
    users.create_session(ann.id, "c" * 64, T0 - timedelta(minutes=1))
    users.create_session(bob.id, "d" * 64, T0 + timedelta(hours=1))
    users.create_session(bob.id, "e" * 64, T0 + timedelta(hours=2))
    assert users.purge_expired_sessions(T0) == 2
    assert users.purge_expired_sessions(T0) == 0
    assert users.delete_session("a" * 64)
    assert not users.delete_session("a" * 64)
    assert users.session_user("a" * 64, T0) is None
    assert users.delete_user_sessions(bob.id) == 2
    assert users.delete_user_sessions(bob.id) == 0
    assert _count(database, "auth_sessions") == 0


# Shares ----------------------------------------------------------------------------------


def test_only_the_owner_shares_lists_and_revokes(
    users: UserRepository, shares: ShareRepository, chats: ChatRepository
) -> None:
    ann, bob = users.create_user("ann"), users.create_user("bob")
    chat = chats.create_conversation(ann.id, "ann's", "m")
    assert shares.create_share(bob.id, chat.id, "x" * 64) is None
    assert shares.create_share(ann.id, "0" * 32, "y" * 64) is None
    assert shares.shared_conversation("x" * 64) is None

    share = shares.create_share(ann.id, chat.id, "a" * 64)
    assert share is not None
    assert (share.conversation_id, share.user_id, share.revoked_at) == (chat.id, ann.id, None)
    assert share.created_at.tzinfo is not None
    second = shares.create_share(ann.id, chat.id, "b" * 64)
    assert [s.id for s in shares.active_shares(ann.id, chat.id)] == [share.id, second.id]
    assert shares.active_shares(bob.id, chat.id) == []
    assert shares.shared_conversation("a" * 64) == chat.id

    assert not shares.revoke_share(bob.id, share.id)
    assert shares.shared_conversation("a" * 64) == chat.id
    assert shares.revoke_share(ann.id, share.id)
    assert not shares.revoke_share(ann.id, share.id)  # already revoked
    assert shares.shared_conversation("a" * 64) is None
    assert shares.shared_conversation("b" * 64) == chat.id
    assert [s.id for s in shares.active_shares(ann.id, chat.id)] == [second.id]


def test_deleting_a_conversation_removes_its_links(
    users: UserRepository, shares: ShareRepository, chats: ChatRepository, database: Database
) -> None:
    ann = users.create_user("ann")
    chat = chats.create_conversation(ann.id, "t", "m")
    shares.create_share(ann.id, chat.id, "a" * 64)
    assert chats.delete_conversation(ann.id, chat.id)
    assert shares.shared_conversation("a" * 64) is None
    assert _count(database, "shares") == 0


# Personal keys ---------------------------------------------------------------------------


def test_personal_key_round_trip(users: UserRepository, keys: KeyRepository) -> None:
    ann, bob = users.create_user("ann"), users.create_user("bob")
    assert keys.personal_key(ann.id) is None
    assert not keys.has_personal_key(ann.id)
    keys.set_personal_key(ann.id, "gAAAA-first")
    assert keys.personal_key(ann.id) == "gAAAA-first"
    assert keys.has_personal_key(ann.id)
    keys.set_personal_key(ann.id, "gAAAA-second")
    assert keys.personal_key(ann.id) == "gAAAA-second"
    assert keys.personal_key(bob.id) is None
    assert keys.delete_personal_key(ann.id)
    assert not keys.delete_personal_key(ann.id)
    assert not keys.has_personal_key(ann.id)


# Usage -----------------------------------------------------------------------------------


def _event(user_id: int, model: str, at: datetime, prompt: int, completion: int) -> UsageEvent:
    return UsageEvent(
        user_id=user_id,
        message_id=None,
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        created_at=at,
    )


def _use_a_non_utc_session_zone(database: Database) -> None:
    """On PostgreSQL, make the server's zone differ from UTC, so a day computed in the
    session's zone instead of UTC would land the late-evening events on the wrong day."""
    if database.engine.dialect.name != "postgresql":
        return

    def set_zone(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET TIME ZONE 'Asia/Shanghai'")
        cursor.close()
        dbapi_connection.commit()

    database.engine.dispose()
    event.listen(database.engine, "connect", set_zone)
    with database.engine.connect() as connection:
        assert connection.scalar(text("show timezone")) == "Asia/Shanghai"


def test_usage_groups_by_utc_day_model_and_user(
    users: UserRepository, ledger: UsageLedger, database: Database
) -> None:
    _use_a_non_utc_session_zone(database)
    bob, ann = users.create_user("bob"), users.create_user("ann")
    day1, day2 = date(2030, 3, 1), date(2030, 3, 2)
    late = datetime(2030, 3, 1, 23, 30, tzinfo=UTC)  # already 2 March in Shanghai
    early = datetime(2030, 3, 2, 0, 30, tzinfo=UTC)
    with database.session() as session:
        session.add_all(
            [
                _event(ann.id, "gpt-4o", late - timedelta(days=3), 1000, 1000),  # too old
                _event(ann.id, "gpt-4o", late, 10, 5),
                _event(ann.id, "gpt-4o", late - timedelta(hours=20), 1, 2),
                _event(ann.id, "claude", late, 7, 3),
                _event(bob.id, "gpt-4o", late, 100, 50),
                _event(ann.id, "gpt-4o", early, 20, 10),
                _event(bob.id, "claude", early, 4, 4),
            ]
        )
    since = datetime(2030, 3, 1, tzinfo=UTC)
    rows = ledger.rows(since)
    assert all(isinstance(row, UsageRow) for row in rows)
    assert [
        (
            r.day,
            r.username,
            r.model,
            r.prompt_tokens,
            r.completion_tokens,
            r.total_tokens,
            r.replies,
        )
        for r in rows
    ] == [
        (day1, "ann", "claude", 7, 3, 10, 1),
        (day1, "ann", "gpt-4o", 11, 7, 18, 2),
        (day1, "bob", "gpt-4o", 100, 50, 150, 1),
        (day2, "ann", "gpt-4o", 20, 10, 30, 1),
        (day2, "bob", "claude", 4, 4, 8, 1),
    ]
    assert {row.user_id for row in rows if row.username == "ann"} == {ann.id}
    assert all(type(row.day) is date for row in rows)

    mine = ledger.rows(since, user_id=bob.id)
    assert [(r.day, r.model, r.total_tokens) for r in mine] == [
        (day1, "gpt-4o", 150),
        (day2, "claude", 8),
    ]
    assert ledger.rows(datetime(2031, 1, 1, tzinfo=UTC)) == []


def test_tokens_used_since_a_time(
    users: UserRepository, ledger: UsageLedger, database: Database
) -> None:
    ann, bob = users.create_user("ann"), users.create_user("bob")
    with database.session() as session:
        session.add_all(
            [
                _event(ann.id, "m", T0 - timedelta(days=1), 500, 500),
                _event(ann.id, "m", T0, 10, 5),
                _event(ann.id, "other", T0 + timedelta(hours=3), 20, 10),
                _event(bob.id, "m", T0 + timedelta(hours=1), 7, 0),
            ]
        )
    assert ledger.tokens_used(ann.id, T0) == 45  # from `since` on, inclusive
    assert ledger.tokens_used(ann.id, T0 + timedelta(seconds=1)) == 30
    assert ledger.tokens_used(ann.id, T0 - timedelta(days=2)) == 1045
    assert ledger.tokens_used(bob.id, T0) == 7
    assert ledger.tokens_used(ann.id, T0 + timedelta(days=1)) == 0


def _reply(chats: ChatRepository, chat: ConversationRecord, model: str = "gpt-4o") -> int:
    question = chats.add_message(chat.id, Role.USER, "q", parent_id=None)
    reply = chats.add_message(
        chat.id,
        Role.ASSISTANT,
        "",
        parent_id=question.id,
        status=MessageStatus.STREAMING,
        model=model,
    )
    return reply.id


def test_finish_reply_feeds_the_ledger_which_outlives_the_conversation(
    users: UserRepository, ledger: UsageLedger, chats: ChatRepository, database: Database
) -> None:
    ann, bob = users.create_user("ann"), users.create_user("bob")
    since = datetime.now(UTC) - timedelta(seconds=5)
    chat = chats.create_conversation(ann.id, "t", "gpt-4o")
    reply_id = _reply(chats, chat)
    chats.finish_reply(
        reply_id,
        ReplyOutcome(
            content="done",
            status=MessageStatus.COMPLETE,
            model="gpt-4o-2024-08-06",
            prompt_tokens=11,
            completion_tokens=22,
            total_tokens=33,
        ),
    )
    with database.session() as session:
        events = list(session.scalars(select(UsageEvent)))
    assert [
        (e.user_id, e.message_id, e.model, e.prompt_tokens, e.completion_tokens, e.total_tokens)
        for e in events
    ] == [(ann.id, reply_id, "gpt-4o-2024-08-06", 11, 22, 33)]
    assert ledger.tokens_used(ann.id, since) == 33
    assert ledger.tokens_used(bob.id, since) == 0

    assert chats.delete_conversation(ann.id, chat.id)
    assert _count(database, "messages") == 0
    assert _count(database, "usage_events") == 1
    assert ledger.tokens_used(ann.id, since) == 33  # deleting refunds nothing
    assert [r.total_tokens for r in ledger.rows(since)] == [33]


def test_finish_reply_without_usage_writes_no_event(
    users: UserRepository, chats: ChatRepository, database: Database
) -> None:
    ann = users.create_user("ann")
    chat = chats.create_conversation(ann.id, "t", "gpt-4o")
    failed = _reply(chats, chat)
    chats.finish_reply(failed, ReplyOutcome(content="", status=MessageStatus.ERROR, error="x"))
    assert _count(database, "usage_events") == 0
    # No model in the outcome: the ledger names the requested one; missing counts become 0.
    partial = _reply(chats, chat, model="requested-model")
    chats.finish_reply(
        partial, ReplyOutcome(content="a", status=MessageStatus.STOPPED, total_tokens=9)
    )
    with database.session() as session:
        event_row = session.scalars(select(UsageEvent)).one()
    assert (event_row.model, event_row.prompt_tokens, event_row.completion_tokens) == (
        "requested-model",
        0,
        0,
    )
    assert (event_row.total_tokens, event_row.message_id) == (9, partial)


# Copies of shared conversations ----------------------------------------------------------


def test_copy_takes_only_the_visible_branch(
    users: UserRepository, shares: ShareRepository, chats: ChatRepository, database: Database
) -> None:
    ann, bob = users.create_user("ann"), users.create_user("bob")
    chat = chats.create_conversation(ann.id, "original", "gpt-4o", {"temperature": 0.3})
    question = chats.add_message(chat.id, Role.USER, "q1", parent_id=None)
    chats.add_message(
        chat.id, Role.ASSISTANT, "", parent_id=question.id, status=MessageStatus.ERROR
    )
    answer = chats.add_message(chat.id, Role.ASSISTANT, "a1", parent_id=question.id, model="gpt-4o")
    calls = [{"id": "call_1", "type": "function", "function": {"name": "now", "arguments": "{}"}}]
    chats.finish_reply(
        answer.id,
        ReplyOutcome(
            content="a1",
            status=MessageStatus.COMPLETE,
            tool_calls=calls,
            finish_reason="tool_calls",
            total_tokens=5,
        ),
    )
    result = chats.add_message(
        chat.id, Role.TOOL, "noon", parent_id=answer.id, tool_call_id="call_1"
    )
    choices = chats.start_reply(
        chat.id,
        parent_id=result.id,
        user_text="q2",
        model="gpt-4o",
        request_params={"n": 2},
        settings={"temperature": 0.3},
        choices=2,
    )
    second_choice = choices[2]
    for index, reply in enumerate(choices[1:]):
        chats.finish_reply(
            reply.id,
            ReplyOutcome(content=f"choice {index}", status=MessageStatus.STOPPED),
        )
    original = chats.select_branch(ann.id, second_choice.id)
    assert original.active_leaf_id == second_choice.id
    messages_before = _count(database, "messages")

    copy = shares.copy_conversation(chat.id, bob.id, "My copy")
    assert copy.id != chat.id and len(copy.id) == 32
    assert (copy.user_id, copy.title, copy.model, copy.settings) == (
        bob.id,
        "My copy",
        "gpt-4o",
        {"temperature": 0.3},
    )
    assert chats.get_conversation(ann.id, copy.id) is None  # it is bob's
    thread = chats.load_thread(chats.get_conversation(bob.id, copy.id))
    copied = thread.messages
    assert [(m.role, m.content, m.status) for m in copied] == [
        ("user", "q1", "complete"),
        ("assistant", "a1", "complete"),
        ("tool", "noon", "complete"),
        ("user", "q2", "complete"),
        ("assistant", "choice 1", "stopped"),
    ]
    assert thread.alternatives == {}  # the other branches stayed behind
    assert _count(database, "messages") == messages_before + 5
    assert copy.active_leaf_id == copied[-1].id
    assert [m.parent_id for m in copied] == [None, *(m.id for m in copied[:-1])]
    assert all(m.conversation_id == copy.id for m in copied)
    assert not {m.id for m in copied} & {answer.id, result.id, second_choice.id}
    assert (copied[1].tool_calls, copied[1].finish_reason, copied[1].total_tokens) == (
        calls,
        "tool_calls",
        5,
    )
    assert copied[2].tool_call_id == "call_1"
    assert copied[4].choice_index == 1
    assert copied[4].choice_group == copied[4].id  # not an id in ann's conversation
    assert copied[4].request_params == {"n": 2}
    # The source is untouched.
    source = chats.load_thread(chats.get_conversation(ann.id, chat.id))
    assert [m.id for m in source.messages][-1] == second_choice.id


def test_copy_of_a_reply_still_being_written_is_stopped(
    users: UserRepository, shares: ShareRepository, chats: ChatRepository
) -> None:
    ann, bob = users.create_user("ann"), users.create_user("bob")
    chat = chats.create_conversation(ann.id, "t", "m")
    reply_id = _reply(chats, chat)
    chats.save_progress(reply_id, "so far")
    copy = shares.copy_conversation(chat.id, bob.id, "copy")
    copied = chats.thread(copy)
    assert [(m.content, m.status) for m in copied] == [
        ("q", "complete"),
        ("so far", "stopped"),
    ]
    assert chats.get_message(reply_id).status == "streaming"  # the original still streams


def test_copy_of_an_empty_or_missing_conversation(
    users: UserRepository, shares: ShareRepository, chats: ChatRepository
) -> None:
    ann, bob = users.create_user("ann"), users.create_user("bob")
    empty = chats.create_conversation(ann.id, "empty", "m")
    copy = shares.copy_conversation(empty.id, bob.id, "copy")
    assert copy.active_leaf_id is None
    assert chats.thread(copy) == []
    with pytest.raises(LookupError):
        shares.copy_conversation("0" * 32, bob.id, "copy")


# Migration -------------------------------------------------------------------------------


def test_upgrade_from_0002_keeps_users_and_their_conversations(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate(db, "0002")
        assert not ACCOUNT_TABLES & set(inspect(db.engine).get_table_names())
        rows = populate(db)
        user_id, conversation_id = rows.user_id, rows.conversation_id

        upgrade_to_head(db.engine)

        assert current_revision(db.engine) == HEAD_REVISION
        assert set(inspect(db.engine).get_table_names()) >= ACCOUNT_TABLES
        users = UserRepository(db)
        user = users.get_user(user_id)
        assert (user.username, user.display_name) == ("old", "Old")
        assert (user.role, user.disabled, user.auth_source) == ("member", False, "local")
        assert (user.email, user.quota_tokens, user.last_login_at) == (None, None, None)
        assert user.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert users.credentials("old").password_hash is None
        columns = {column["name"] for column in inspect(db.engine).get_columns("users")}
        assert not {"failed_logins", "locked_until"} & columns  # throttled, not locked (0004)
        # Adding columns to users must not cost the user their conversations.
        chats = ChatRepository(db)
        conversation = chats.get_conversation(user_id, conversation_id)
        assert conversation is not None and conversation.title == "旧对话"
        assert [m.id for m in chats.thread(conversation)] == [rows.question_id, rows.reply_id]
        # The upgraded table takes new rows with the ORM's defaults and the new features.
        newcomer = users.create_user("new", password_hash="h", role="admin")
        assert newcomer.is_admin and users.count_users() == 2
        assert ShareRepository(db).create_share(user_id, conversation_id, "a" * 64) is not None
    finally:
        db.dispose()


def test_downgrade_to_0002_keeps_users_and_their_conversations(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate(db, "0002")
        rows = populate(db)
        user_id, conversation_id = rows.user_id, rows.conversation_id
        upgrade_to_head(db.engine)
        UserRepository(db).create_session(user_id, "a" * 64, T0)

        migrate(db, "0002", down=True)

        assert current_revision(db.engine) == "0002"
        assert not ACCOUNT_TABLES & set(inspect(db.engine).get_table_names())
        columns = {column["name"] for column in inspect(db.engine).get_columns("users")}
        assert columns == {"id", "username", "display_name", "created_at"}
        with db.engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(Conversation)) == 1
            assert connection.scalar(text("select count(*) from messages")) == 2
            assert connection.scalar(text("select username from users")) == "old"
            assert connection.scalar(text("select id from conversations")) == conversation_id
    finally:
        db.dispose()
