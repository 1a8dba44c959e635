"""Sending, streaming, stopping and failing, against the fake OpenAI server."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest

from chatcore.chat.params import GenerationParams
from chatcore.chat.thread import api_messages, title_from
from chatcore.chat.upstream_errors import reply_error_of
from chatcore.chat.use_cases import ConversationView
from chatcore.config import Settings
from chatcore.errors import ChatInputError, ConversationNotFound, InvalidParameter
from chatcore.wiring import Services, build_services
from storage import MessageRecord, MessageStatus
from tests.support.fake_openai import Behavior, FakeOpenAI
from tests.support.sql import statements

PARAMS = GenerationParams(model="gpt-4o")


def send(
    services: Services, text: str, params: GenerationParams = PARAMS, conv: str | None = None
) -> ConversationView:
    return services.chat.send(services.local_user.id, conv, text, params)


def finished(services: Services, view: ConversationView) -> MessageRecord:
    reply = view.thread[-1]
    assert services.infra.worker.wait_idle(10), "reply did not finish"
    return services.infra.chats.get_message(reply.id)


def test_streamed_reply_is_saved_with_usage_and_timings(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.enqueue(Behavior(text="Hello there, friend", first_token_delay=0.1))
    view = send(services, "Hi!")
    user_message, placeholder = view.thread
    assert (user_message.role, user_message.content) == ("user", "Hi!")
    assert placeholder.status == MessageStatus.STREAMING
    reply = finished(services, view)
    assert reply.content == "Hello there, friend"
    assert (reply.status, reply.finish_reason) == ("complete", "stop")
    assert (reply.prompt_tokens, reply.completion_tokens, reply.total_tokens) == (1, 3, 4)
    assert reply.first_token_ms >= 100
    assert reply.total_ms >= reply.first_token_ms
    assert reply.response_id.startswith("chatcmpl-")
    assert reply.request_id.startswith("req_")
    assert reply.model == "gpt-4o"
    assert services.chat.token_total(services.local_user.id, view.conversation.id) == 4


def test_request_carries_only_what_was_set(services: Services, fake_api: FakeOpenAI) -> None:
    finished(services, send(services, "plain"))
    body = fake_api.chat_requests()[-1].body
    assert body == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "plain"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": services.chat.request_user(services.local_user.id),
    }
    assert fake_api.chat_requests()[-1].headers["authorization"] == "Bearer sk-test-secret-key"


def test_set_values_are_sent_exactly(services: Services, fake_api: FakeOpenAI) -> None:
    params = GenerationParams(
        model="deepseek-chat",
        system_prompt="Answer in 中文.",
        temperature=0.3,
        top_p=0.9,
        max_tokens=55,
        stream=False,
    )
    finished(services, send(services, "你好", params))
    body = fake_api.chat_requests()[-1].body
    assert body == {
        "model": "deepseek-chat",
        "messages": [
            {"role": "system", "content": "Answer in 中文."},
            {"role": "user", "content": "你好"},
        ],
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 55,
        "user": services.chat.request_user(services.local_user.id),
    }


def test_follow_up_sends_the_whole_thread_and_settings_are_remembered(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.enqueue(Behavior(text="first answer"), Behavior(text="second answer"))
    params = GenerationParams(model="gpt-4o-mini", temperature=1.5)
    first = send(services, "one", params)
    finished(services, first)
    second = send(services, "two", params, conv=first.conversation.id)
    finished(services, second)
    assert fake_api.chat_requests()[-1].body["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "two"},
    ]
    stored = services.infra.chats.get_conversation(services.local_user.id, first.conversation.id)
    assert GenerationParams.from_settings(stored.settings, "x") == params
    assert stored.title == "one"


def test_non_streamed_reply(services: Services, fake_api: FakeOpenAI) -> None:
    fake_api.enqueue(Behavior(text="all at once"))
    reply = finished(services, send(services, "q", replace(PARAMS, stream=False)))
    assert (reply.content, reply.status, reply.total_tokens) == ("all at once", "complete", 4)
    assert reply.request_id.startswith("req_")
    assert "stream" not in fake_api.chat_requests()[-1].body


def test_length_finish_is_recorded(services: Services, fake_api: FakeOpenAI) -> None:
    fake_api.enqueue(Behavior(text="cut here", finish_reason="length"))
    reply = finished(services, send(services, "q"))
    assert (reply.status, reply.finish_reason) == ("complete", "length")


def test_user_message_is_saved_before_the_reply_arrives(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.enqueue(Behavior(text="slow", first_token_delay=1.0))
    view = send(services, "saved first?")
    fake_api.wait_for_requests(1)
    stored = services.infra.chats.thread(view.conversation)
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("user", "saved first?", "complete"),
        ("assistant", "", "streaming"),
    ]
    finished(services, view)


@pytest.mark.parametrize(
    ("behavior", "expected"),
    [
        (Behavior(status=401), "refused the API key (HTTP 401)"),
        (Behavior(status=403), "refused the API key (HTTP 403)"),
        (Behavior(status=429, headers={"retry-after": "7"}), "Try again in 7 seconds"),
        (Behavior(status=500, error_message="boom"), "server error (HTTP 500): boom"),
        (Behavior(status=400, error_message="context too long"), "HTTP 400): context too long"),
        (Behavior(text="a b c d e f", truncate_after=3), "ended before the reply was finished"),
        (Behavior(text="a b c d e f", malformed_after=3), "malformed chunk"),
        (Behavior(text="a b c d e f", disconnect_after=3), "connection to AnyAPI was lost"),
    ],
)
def test_failures_become_clear_messages_and_keep_the_user_message(
    services: Services, fake_api: FakeOpenAI, behavior: Behavior, expected: str
) -> None:
    fake_api.enqueue(behavior)
    view = send(services, "please answer")
    reply = finished(services, view)
    assert reply.status == MessageStatus.ERROR
    assert expected in reply.error
    assert "Traceback" not in reply.error
    # Kept as a code and its values too, from which each reader gets their own language.
    rebuilt = reply_error_of(reply)
    assert rebuilt is not None and rebuilt.code == reply.error_code
    assert rebuilt.message == reply.error
    assert reply.model == "gpt-4o"  # the requested model, when the upstream named none
    if behavior.status != 200:
        assert "(request id req_" in reply.error
    if behavior.status == 200:
        assert reply.content == "a b c "  # the partial reply is kept
    thread = services.infra.chats.thread(view.conversation)
    assert thread[0].content == "please answer"


def test_timeout_is_reported(fake_api: FakeOpenAI, settings: Settings) -> None:
    built = build_services(replace(settings, request_timeout=1.0), prefetch_models=False)
    try:
        fake_api.enqueue(Behavior(text="late", first_token_delay=3))
        reply = finished(built, send(built, "q", replace(PARAMS, stream=False)))
        assert reply.error == "AnyAPI did not answer within 1 seconds."
        assert (reply.error_code, reply.error_params) == ("timeout", {"seconds": 1.0})
    finally:
        built.close()


def test_connection_refused_is_reported(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    built = build_services(replace(settings, base_url=url), prefetch_models=False)
    try:
        reply = finished(built, send(built, "anyone there?"))
        assert reply.error == f"Could not connect to {url}. Check the address and the network."
    finally:
        built.close()


def test_retry_answers_the_same_message_again(services: Services, fake_api: FakeOpenAI) -> None:
    fake_api.enqueue(Behavior(status=500), Behavior(text="better now"))
    view = send(services, "try me")
    failed = finished(services, view)
    retried = services.chat.retry(services.local_user.id, failed.id)
    reply = finished(services, retried)
    assert reply.content == "better now"
    thread = services.infra.chats.thread(retried.conversation)
    assert [(m.role, m.content) for m in thread] == [
        ("user", "try me"),
        ("assistant", "better now"),
    ]
    failed_again = services.infra.chats.get_message(failed.id)
    assert (failed_again.status, failed_again.parent_id) == ("error", thread[0].id)  # kept
    assert fake_api.chat_requests()[-1].body["messages"] == [{"role": "user", "content": "try me"}]


def test_stop_keeps_the_partial_reply(services: Services, fake_api: FakeOpenAI) -> None:
    words = " ".join(f"w{i}" for i in range(200))
    fake_api.enqueue(Behavior(text=words, chunk_delay=0.02))
    view = send(services, "long please")
    live = services.infra.worker.live(view.thread[-1].id)
    snapshot = live.wait(-1, 5)
    while "w5" not in snapshot.text:
        snapshot = live.wait(snapshot.version, 5)
    assert services.chat.stop(services.local_user.id, view.thread[-1].id)
    reply = finished(services, view)
    assert reply.status == MessageStatus.STOPPED
    assert reply.content.startswith("w0 w1 w2 w3 w4 w5")
    assert len(reply.content) < len(words)


def test_a_followed_reply_is_checked_once_per_person_and_never_shown_to_another(
    services: Services, fake_api: FakeOpenAI
) -> None:
    """A page follows a reply in slices, asking for it about three times a second: its
    owner is read once, and someone else is refused every time."""
    fake_api.enqueue(Behavior(text=" ".join(f"w{i}" for i in range(100)), chunk_delay=0.02))
    view = send(services, "long please")
    reply_id = view.thread[-1].id
    owner = services.local_user.id
    stranger = services.infra.users.create_user("stranger").id
    first = services.chat.live(owner, reply_id)
    with statements(services.infra.chats.db) as seen:
        again = services.chat.live(owner, reply_id)
        assert seen == []
        for _ in range(2):
            with pytest.raises(ConversationNotFound):
                services.chat.live(stranger, reply_id)
        assert len(seen) >= 2  # read each time: a refusal is never remembered
    assert first is not None and again is first
    services.chat.stop(owner, reply_id)
    finished(services, view)


def test_stop_before_anything_arrived_ends_at_once(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.enqueue(Behavior(text="never shown", first_token_delay=5))
    view = send(services, "q", replace(PARAMS, stream=False))
    fake_api.wait_for_requests(1)
    started = time.monotonic()
    services.chat.stop(services.local_user.id, view.thread[-1].id)
    reply = services.infra.chats.get_message(view.thread[-1].id)
    assert time.monotonic() - started < 1
    assert (reply.status, reply.content) == ("stopped", "")


def test_reply_keeps_going_without_any_viewer_and_checkpoints(
    services: Services, fake_api: FakeOpenAI
) -> None:
    words = " ".join(f"w{i}" for i in range(60))
    fake_api.enqueue(Behavior(text=words, chunk_delay=0.04))
    view = send(services, "q")
    time.sleep(1.5)  # nobody watches; the worker checkpoints progress to the row
    midway = services.infra.chats.get_message(view.thread[-1].id)
    assert midway.status == MessageStatus.STREAMING
    assert midway.content.startswith("w0 w1")
    assert finished(services, view).content == words


def test_a_new_process_closes_only_replies_whose_process_is_gone(
    settings: Settings, fake_api: FakeOpenAI
) -> None:
    """Start-up recovery: a reply of a process that no longer beats is closed, its text kept;
    one a live process is writing is left to it (several processes share one database)."""
    first = build_services(settings, prefetch_models=False)
    fake_api.enqueue(Behavior(text="x " * 50, chunk_delay=0.2))
    live_reply = send(first, "still being written").thread[-1]
    fake_api.wait_for_requests(1)
    # What a killed process left: a reply it owned, checkpointed half-way.
    chats = first.infra.chats
    conversation = chats.create_conversation(first.local_user.id, "t", "m")
    orphan = chats.start_reply(
        conversation.id,
        parent_id=None,
        user_text="its process died",
        model="m",
        request_params={},
        settings={},
        owner_process="gone",
    )[-1]
    chats.save_progress(orphan.id, "half")
    second = build_services(settings, prefetch_models=False)
    try:
        closed = second.infra.chats.get_message(orphan.id)
        assert (closed.status, closed.content) == (MessageStatus.ERROR, "half")
        assert (closed.error_code, closed.error_params) == ("server_restarted", {})
        assert reply_error_of(closed) is not None
        untouched = second.infra.chats.get_message(live_reply.id)
        assert untouched.status == MessageStatus.STREAMING
        assert untouched.owner_process == first.infra.presence.id
    finally:
        first.close()
        second.close()
    assert first.infra.chats.get_message(live_reply.id).status == MessageStatus.STOPPED


def test_input_problems_send_nothing(services: Services, fake_api: FakeOpenAI) -> None:
    with pytest.raises(ChatInputError, match="empty"):
        send(services, "   ")
    limit = services.settings.max_message_chars
    with pytest.raises(ChatInputError, match="limit is"):
        send(services, "x" * (limit + 1))
    with pytest.raises(InvalidParameter):
        send(services, "hi", replace(PARAMS, temperature=3.0))
    with pytest.raises(ConversationNotFound):
        send(services, "hi", conv="f" * 32)
    assert fake_api.chat_requests() == []
    assert services.infra.chats.list_conversations(services.local_user.id).items == []


def test_no_key_sends_nothing(settings: Settings, fake_api: FakeOpenAI) -> None:
    built = build_services(replace(settings, api_key=None), prefetch_models=False)
    try:
        with pytest.raises(ChatInputError, match="No API key"):
            send(built, "hi")
        assert fake_api.chat_requests() == []
    finally:
        built.close()


def test_titles_come_from_the_first_line() -> None:
    assert title_from("\n  Plan   the offsite \nsecond line") == "Plan the offsite"
    long = "word " * 30
    assert title_from(long).endswith("…")
    assert len(title_from(long)) <= 61
    assert title_from("请帮我总结一下这篇文章的主要观点") == "请帮我总结一下这篇文章的主要观点"


def test_failed_and_unfinished_replies_are_not_sent_as_context(services: Services) -> None:
    conversation = services.infra.chats.create_conversation(services.local_user.id, "t", "m")
    repo = services.infra.chats
    q = repo.add_message(conversation.id, "user", "q", parent_id=None)
    bad = repo.add_message(conversation.id, "assistant", "half", parent_id=q.id, status="error")
    stopped = repo.add_message(
        conversation.id, "assistant", "part", parent_id=q.id, status="stopped"
    )
    assert api_messages([q, bad], "") == [{"role": "user", "content": "q"}]
    assert api_messages([q, stopped], "sys") == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "part"},
    ]


def test_a_whole_turn_on_postgresql(
    settings: Settings, fake_api: FakeOpenAI, postgres_url: str
) -> None:
    built = build_services(replace(settings, database_url=postgres_url), prefetch_models=False)
    try:
        fake_api.enqueue(Behavior(text="from postgres", chunk_delay=0.01))
        view = send(built, "你好, PostgreSQL")
        reply = finished(built, view)
        assert (reply.content, reply.status, reply.total_tokens) == ("from postgres", "complete", 4)
        reopened = built.chat.open(built.local_user.id, view.conversation.id)
        assert [m.content for m in reopened.thread] == ["你好, PostgreSQL", "from postgres"]
        assert built.infra.chats.list_conversations(built.local_user.id).items[0].title == (
            "你好, PostgreSQL"
        )
    finally:
        built.close()
