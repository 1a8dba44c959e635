"""The send path's admission read in one query (storage/usage.py `admission`) decides exactly
as the separate reads did: the account as it is now, the quota of its own period, its key.

A send into a conversation decides it inside the transaction that writes the question
(storage/usage.py `Gate`): still as the account is at that moment, and a refusal keeps
nothing of the turn."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from chatcore.chat.params import GenerationParams
from chatcore.config import Settings, load_settings
from chatcore.errors import AccountDisabled, ConversationNotFound, MissingApiKey, QuotaExceeded
from chatcore.team.keys import KeyVault, PersonalKeys
from chatcore.team.policy import AccountPolicy
from chatcore.team.usage import check_quota, period_start
from chatcore.wiring import Services, build_services
from storage import Database, KeyRepository, UsageLedger, UserRepository
from storage.models import Message, UsageEvent
from storage.records import QuotaPeriod
from tests.support.fake_openai import FakeOpenAI

NOW = datetime(2030, 3, 15, 10, 30, tzinfo=UTC)
DAY_START = period_start(QuotaPeriod.DAY, NOW)
MONTH_START = period_start(QuotaPeriod.MONTH, NOW)


def _spend(database: Database, user_id: int, tokens: int, at: datetime) -> None:
    with database.session() as session:
        session.add(
            UsageEvent(
                user_id=user_id,
                message_id=None,
                model="m",
                prompt_tokens=tokens,
                completion_tokens=0,
                total_tokens=tokens,
                created_at=at,
            )
        )


def _admission_used(ledger: UsageLedger, user_id: int) -> int:
    found = ledger.admission(user_id, day_start=DAY_START, month_start=MONTH_START)
    assert found is not None
    return found.tokens_used


def test_admission_sums_the_users_own_period_only(database: Database) -> None:
    users, ledger = UserRepository(database), UsageLedger(database)
    ann, bob = users.create_user("ann"), users.create_user("bob")
    _spend(database, ann.id, 1000, MONTH_START - timedelta(microseconds=1))  # last month
    _spend(database, ann.id, 30, MONTH_START)  # the month's first instant counts
    _spend(database, ann.id, 200, DAY_START - timedelta(microseconds=1))  # this month, not today
    _spend(database, ann.id, 4, DAY_START)
    _spend(database, ann.id, 5, NOW)
    _spend(database, bob.id, 777, NOW)

    assert _admission_used(ledger, ann.id) == 0  # no quota: the ledger is not even summed
    for period, expected in (("day", 9), ("month", 239), (None, 239)):
        users.set_quota(ann.id, 50, period)
        assert _admission_used(ledger, ann.id) == expected, period
        user = users.get_user(ann.id)
        assert user is not None
        since = period_start(QuotaPeriod.DAY if period == "day" else QuotaPeriod.MONTH, NOW)
        assert ledger.tokens_used(ann.id, since) == expected  # as the separate read says


def test_admission_reads_the_account_and_its_key_as_they_are(database: Database) -> None:
    users, ledger, keys = UserRepository(database), UsageLedger(database), KeyRepository(database)
    ann = users.create_user("ann")
    found = ledger.admission(ann.id, day_start=DAY_START, month_start=MONTH_START)
    assert found is not None
    assert (found.user, found.key_ciphertext, found.tokens_used) == (ann, None, 0)

    keys.set_personal_key(ann.id, "ciphertext-1")
    users.set_disabled(ann.id, True)
    found = ledger.admission(ann.id, day_start=DAY_START, month_start=MONTH_START)
    assert found is not None
    assert found.key_ciphertext == "ciphertext-1" and found.user.disabled
    assert ledger.admission(ann.id + 999, day_start=DAY_START, month_start=MONTH_START) is None


def _policy(database: Database, settings: Settings) -> tuple[AccountPolicy, PersonalKeys]:
    keys = PersonalKeys(KeyRepository(database), KeyVault(b"server secret"))
    policy = AccountPolicy(settings, UsageLedger(database), keys, clock=lambda: NOW)
    return policy, keys


@pytest.mark.parametrize("period", ["day", "month"])
def test_the_policy_refuses_as_check_quota_does(database: Database, period: str) -> None:
    settings = replace(load_settings(env={}, secrets={}), api_key="sk-team")
    users, ledger = UserRepository(database), UsageLedger(database)
    policy, _keys = _policy(database, settings)
    ann = users.create_user("ann")
    users.set_quota(ann.id, 100, period)
    _spend(database, ann.id, 99, NOW)
    assert policy.admit(ann.id) is None  # the team's key
    _spend(database, ann.id, 1, NOW)
    user = users.get_user(ann.id)
    assert user is not None
    with pytest.raises(QuotaExceeded) as separate:
        check_quota(ledger, user, NOW)
    with pytest.raises(QuotaExceeded) as combined:
        policy.admit(ann.id)
    assert combined.value.code == separate.value.code
    assert combined.value.params == separate.value.params


def test_the_policy_reads_the_account_at_each_send(database: Database) -> None:
    settings = replace(load_settings(env={}, secrets={}), api_key="")
    users = UserRepository(database)
    policy, keys = _policy(database, settings)
    ann = users.create_user("ann")
    with pytest.raises(MissingApiKey):
        policy.admit(ann.id)
    keys.save(ann.id, "sk-ann-personal")
    assert policy.admit(ann.id) == "sk-ann-personal"
    users.set_disabled(ann.id, True)
    with pytest.raises(AccountDisabled):
        policy.admit(ann.id)
    users.set_disabled(ann.id, False)
    assert policy.admit(ann.id) == "sk-ann-personal"
    with pytest.raises(AccountDisabled):
        policy.admit(ann.id + 999)  # an account deleted meanwhile

    rotated = PersonalKeys(KeyRepository(database), KeyVault(b"another secret"))
    stale = AccountPolicy(settings, UsageLedger(database), rotated, clock=lambda: NOW)
    with pytest.raises(MissingApiKey):  # a key that no longer decrypts is no key
        stale.admit(ann.id)


# --- a send into a conversation, admitted in its own transaction ----------------------------

ASKED = GenerationParams(model="gpt-4o", temperature=0.25)  # not what the conversation has


@pytest.fixture
def team(settings: Settings, database_url: str) -> Iterator[Services]:
    """The services on SQLite and on PostgreSQL, with no team key: who sends with which key
    shows."""
    built = build_services(
        replace(settings, database_url=database_url, api_key=""), prefetch_models=False
    )
    yield built
    built.close()


def _started(team: Services, username: str) -> tuple[int, str]:
    """Someone with a personal key and a conversation of one finished turn."""
    user = team.infra.users.create_user(username)
    team.keys.save(user.id, f"sk-{username}-personal")
    view = team.chat.send(user.id, None, "first question", GenerationParams(model="gpt-4o"))
    assert team.infra.worker.wait_idle(10)
    return user.id, view.conversation.id


def _as_stored(team: Services, user_id: int, conversation_id: str) -> tuple[object, ...]:
    conversation = team.infra.chats.get_conversation(user_id, conversation_id)
    assert conversation is not None
    with team.infra.database.session() as session:
        messages = session.scalar(
            select(func.count()).where(Message.conversation_id == conversation_id)
        )
    return conversation, messages


def _disable(team: Services, user_id: int) -> None:
    team.infra.users.set_disabled(user_id, True)


def _use_up_the_quota(team: Services, user_id: int) -> None:
    team.infra.users.set_quota(user_id, 10, "day")
    _spend(team.infra.database, user_id, 10, datetime.now(UTC))


def _remove_the_key(team: Services, user_id: int) -> None:
    team.keys.remove(user_id)


@pytest.mark.parametrize(
    ("refuse", "refusal"),
    [
        (_disable, AccountDisabled),
        (_use_up_the_quota, QuotaExceeded),
        (_remove_the_key, MissingApiKey),
    ],
)
def test_a_refused_send_into_a_conversation_keeps_nothing(
    team: Services,
    fake_api: FakeOpenAI,
    refuse: Callable[[Services, int], None],
    refusal: type[Exception],
) -> None:
    ann, conversation = _started(team, "ann")
    before = _as_stored(team, ann, conversation)
    requests = len(fake_api.chat_requests())
    refuse(team, ann)
    with pytest.raises(refusal):
        team.chat.send(ann, conversation, "refused question", ASKED)
    # Neither the question nor the turn's settings, time or leaf: the write was rolled back.
    assert _as_stored(team, ann, conversation) == before
    assert len(fake_api.chat_requests()) == requests
    assert team.infra.worker.active_count() == 0


def test_a_send_is_admitted_as_the_account_is_at_that_moment(
    team: Services, fake_api: FakeOpenAI
) -> None:
    ann, conversation = _started(team, "ann")
    team.chat.send(ann, conversation, "with my key", ASKED)
    assert team.infra.worker.wait_idle(10)
    assert fake_api.chat_requests()[-1].headers["authorization"] == "Bearer sk-ann-personal"
    team.keys.save(ann, "sk-ann-rotated")
    view = team.chat.send(ann, conversation, "with the new one", ASKED)
    assert team.infra.worker.wait_idle(10)
    assert fake_api.chat_requests()[-1].headers["authorization"] == "Bearer sk-ann-rotated"
    assert [m.content for m in view.thread][-2:] == ["with the new one", ""]
    assert view.conversation.settings == ASKED.to_settings()
    team.infra.users.set_disabled(ann, True)
    with pytest.raises(AccountDisabled):
        team.chat.send(ann, conversation, "now disabled", ASKED)
    team.infra.users.set_disabled(ann, False)
    team.chat.send(ann, conversation, "enabled again", ASKED)
    assert team.infra.worker.wait_idle(10)
    assert len(team.chat.open(ann, conversation).thread) == 8  # four turns, none refused


def test_a_refusal_outranks_a_conversation_that_is_not_theirs(team: Services) -> None:
    """As when admission came before anything else: who may not send is told so first."""
    ann, anns = _started(team, "ann")
    bob, _bobs = _started(team, "bob")
    before = _as_stored(team, ann, anns)
    with pytest.raises(ConversationNotFound):
        team.chat.send(bob, anns, "let me in", ASKED)
    team.infra.users.set_disabled(bob, True)
    with pytest.raises(AccountDisabled):
        team.chat.send(bob, anns, "let me in", ASKED)
    with team.infra.database.engine.begin() as connection:  # an account deleted meanwhile
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": bob})
    with pytest.raises(AccountDisabled):
        team.chat.send(bob, anns, "let me in", ASKED)
    assert _as_stored(team, ann, anns) == before


@pytest.mark.parametrize(
    ("params", "compare_with", "replies"),
    [
        (ASKED, (), 1),
        (replace(ASKED, n=2), (), 2),
        (ASKED, ("gpt-4o-mini",), 2),
    ],
)
def test_every_shape_of_turn_is_written_below_the_thread_and_admitted(
    team: Services,
    params: GenerationParams,
    compare_with: tuple[str, ...],
    replies: int,
) -> None:
    """One reply, n choices, compared models: each written below the end of the thread in
    the admitted transaction (PostgreSQL writes a lone reply with the conversation)."""
    ann, conversation = _started(team, "ann")
    first_reply = team.chat.open(ann, conversation).thread[-1]
    view = team.chat.send(ann, conversation, "next", params, compare_with=compare_with)
    assert team.infra.worker.wait_idle(10)
    question, shown = view.thread[-2:]
    added = view.alternatives.get(shown.id, [shown])  # choices and columns: its siblings
    assert len(added) == replies and added[0].id == shown.id
    assert (question.content, question.parent_id) == ("next", first_reply.id)
    assert [reply.parent_id for reply in added] == [question.id] * replies
    assert view.conversation.active_leaf_id == added[0].id
    assert view.conversation.settings == params.to_settings()
    stored = team.infra.chats.get_conversation(ann, conversation)
    assert stored is not None and stored.active_leaf_id == added[0].id
    assert team.chat.open(ann, conversation).thread[-1].status == "complete"


def test_two_sends_at_once_go_one_below_the_other(team: Services) -> None:
    """The first write locks the conversation's row until the commit (as an UPDATE would), so
    a second send into it waits and goes below the first one's reply, not beside it."""
    ann, conversation = _started(team, "ann")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def send(text: str) -> None:
        try:
            start.wait(timeout=10)
            team.chat.send(ann, conversation, text, ASKED)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    senders = [threading.Thread(target=send, args=(text,)) for text in ("one", "two")]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=30)
    assert errors == []
    assert team.infra.worker.wait_idle(10)
    view = team.chat.open(ann, conversation)
    assert sorted(m.content for m in view.thread if m.role == "user") == [
        "first question",
        "one",
        "two",
    ]
    assert len(view.thread) == 6 and view.alternatives == {}  # one chain, no branch
