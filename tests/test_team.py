"""Several teammates on one server: isolation, sharing, quotas and personal keys, end to end
through the services the pages use, against the fake OpenAI server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatcore.chat.params import GenerationParams
from chatcore.config import Settings
from chatcore.errors import ChatInputError, ConversationNotFound, QuotaExceeded
from chatcore.i18n import display_width
from chatcore.wiring import Services, build_services
from storage import UserRecord
from tests.support.fake_openai import Behavior, FakeOpenAI

PARAMS = GenerationParams(model="gpt-4o")


@pytest.fixture
def ann(services: Services) -> UserRecord:
    return services.infra.users.create_user("ann")


@pytest.fixture
def bob(services: Services) -> UserRecord:
    return services.infra.users.create_user("bob")


def chat(services: Services, user: UserRecord, text: str, conversation: str | None = None) -> str:
    view = services.chat.send(user.id, conversation, text, PARAMS)
    assert services.infra.worker.wait_idle(10)
    return view.conversation.id


def test_a_teammate_cannot_reach_another_teammates_conversation(
    services: Services, ann: UserRecord, bob: UserRecord
) -> None:
    anns = chat(services, ann, "ann's secret plan")
    repo = services.infra.chats
    assert [c.id for c in repo.list_conversations(ann.id).items] == [anns]
    assert repo.list_conversations(bob.id).items == []
    assert services.search.search(bob.id, "secret").hits == []
    with pytest.raises(ConversationNotFound):
        services.chat.open(bob.id, anns)
    with pytest.raises(ConversationNotFound):
        services.chat.send(bob.id, anns, "let me in", PARAMS)
    assert not repo.rename_conversation(bob.id, anns, "mine now")
    assert not repo.set_pinned(bob.id, anns, True)
    assert not repo.delete_conversation(bob.id, anns)
    with pytest.raises(ConversationNotFound):
        services.sharing.create(bob.id, anns)
    reply = services.chat.open(ann.id, anns).thread[-1]
    with pytest.raises(ConversationNotFound):
        services.chat.regenerate(bob.id, reply.id)
    assert not services.chat.switch_branch(bob.id, reply.id)
    assert services.chat.open(ann.id, anns).conversation.title == "ann's secret plan"


def test_a_shared_link_opens_read_only_copies_and_stops_after_revoke(
    services: Services, ann: UserRecord, bob: UserRecord
) -> None:
    anns = chat(services, ann, "how do tides work?")
    made = services.sharing.create(ann.id, anns)
    assert len(made.token) >= 32
    shared = services.sharing.open(made.token)
    assert [m.content for m in shared.thread] == ["how do tides work?", "Echo: how do tides work?"]
    copy = services.sharing.copy(bob.id, made.token)
    assert copy.user_id == bob.id and copy.id != anns
    assert [m.content for m in services.chat.open(bob.id, copy.id).thread] == [
        m.content for m in shared.thread
    ]
    assert not services.sharing.revoke(bob.id, made.share.id)  # only the owner revokes
    assert services.sharing.revoke(ann.id, made.share.id)
    with pytest.raises(ConversationNotFound):
        services.sharing.open(made.token)
    with pytest.raises(ConversationNotFound):
        services.sharing.open("not-a-real-token")


def test_quota_counts_exactly_what_the_server_reported(
    services: Services, fake_api: FakeOpenAI, ann: UserRecord
) -> None:
    fake_api.enqueue(
        Behavior(text="one", usage={"prompt_tokens": 30, "completion_tokens": 12}),
        Behavior(text="two", usage={"prompt_tokens": 40, "completion_tokens": 9}),
    )
    services.infra.users.set_quota(ann.id, 91, "day")
    first = chat(services, ann, "q1")
    chat(services, ann, "q2", first)
    used = services.infra.usage.tokens_used(ann.id, datetime(2000, 1, 1, tzinfo=UTC))
    assert used == 42 + 49 == 91
    requests_before = len(fake_api.chat_requests())
    with pytest.raises(QuotaExceeded, match="91 of your 91 tokens"):
        services.chat.send(ann.id, first, "q3", PARAMS)
    assert len(fake_api.chat_requests()) == requests_before
    assert len(services.chat.open(ann.id, first).thread) == 4  # the refused text was not saved
    # Deleting the conversation does not give the tokens back.
    services.infra.chats.delete_conversation(ann.id, first)
    with pytest.raises(QuotaExceeded):
        services.chat.send(ann.id, None, "q4", PARAMS)


def test_a_personal_key_is_used_for_that_teammates_requests_only(
    services: Services, fake_api: FakeOpenAI, ann: UserRecord, bob: UserRecord
) -> None:
    services.keys.save(ann.id, "sk-ann-personal-123")
    chat(services, ann, "with my key")
    chat(services, bob, "with the team key")
    ann_request, bob_request = fake_api.chat_requests()[-2:]
    assert ann_request.headers["authorization"] == "Bearer sk-ann-personal-123"
    assert bob_request.headers["authorization"] == "Bearer sk-test-secret-key"
    stored = services.infra.keys.personal_key(ann.id)
    assert stored is not None and "sk-ann-personal-123" not in stored
    assert services.chat.request_user(ann.id) != services.chat.request_user(bob.id)


def test_a_disabled_account_sends_nothing(
    services: Services, fake_api: FakeOpenAI, ann: UserRecord
) -> None:
    services.infra.users.set_disabled(ann.id, True)
    with pytest.raises(ChatInputError, match="disabled"):
        services.chat.send(ann.id, None, "hello", PARAMS)
    assert fake_api.chat_requests() == []


def test_an_identity_provider_cannot_open_a_local_account(services: Services) -> None:
    local = services.infra.users.create_user("admin", role="admin")
    assert services.accounts.external_user("ADMIN", source="proxy") is None
    assert services.accounts.external_user("x" * 151, source="proxy") is None
    sso = services.accounts.oidc_user("https://id.example.test", "s-1", preferred_username="admin")
    assert sso is not None and sso.id != local.id
    assert (sso.username, sso.auth_source, sso.role) == ("admin-2", "oidc", "member")
    assert services.infra.users.get_user(local.id).auth_source == "local"


def test_expired_sessions_are_purged_at_start(settings: Settings) -> None:
    now = datetime.now(UTC)
    first = build_services(settings, prefetch_models=False)
    try:
        ann = first.infra.users.create_user("ann")
        first.infra.users.create_session(ann.id, "a" * 64, now - timedelta(minutes=1))
        first.infra.users.create_session(ann.id, "b" * 64, now + timedelta(days=1))
    finally:
        first.close()
    second = build_services(settings, prefetch_models=False)
    try:
        assert second.infra.users.purge_expired_sessions(now) == 0  # already gone
        assert second.infra.users.session_user("b" * 64, now) == ann
    finally:
        second.close()


def test_chinese_conversations_are_titled_found_and_shared_intact(
    services: Services, ann: UserRecord, bob: UserRecord
) -> None:
    question = "请帮我把这份季度销售报告整理成一页摘要，重点写出华东和华南两个地区的增长原因和风险"
    anns = chat(services, ann, question)
    title = services.chat.open(ann.id, anns).conversation.title
    assert title.endswith("…") and question.startswith(title[:-1])
    assert display_width(title[:-1]) <= 60  # the text; the ellipsis follows it
    found = services.search.search(ann.id, "销售报告").hits
    assert [hit.conversation_id for hit in found] == [anns]
    assert services.search.search(bob.id, "销售报告").hits == []
    shared = services.sharing.open(services.sharing.create(ann.id, anns).token)
    assert [m.content for m in shared.thread] == [question, f"Echo: {question}"]
