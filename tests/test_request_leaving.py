"""chatcore.chat.client.on_request_leaving: the generation thread says when its request is on
its way, so the page thread that submitted it can wait until then (chatcore/chat/worker.py)."""

from __future__ import annotations

from dataclasses import replace

from chatcore.chat.client import make_client, on_request_leaving
from chatcore.chat.live import LiveReply
from chatcore.config import Settings
from storage import MessageStatus, ReplyOutcome
from tests.support.app_process import free_port
from tests.support.fake_openai import Behavior, FakeOpenAI

QUESTION = [{"role": "user", "content": "hello"}]


def test_the_callback_runs_once_when_the_request_is_written_before_its_answer(
    settings: Settings, fake_api: FakeOpenAI
) -> None:
    fake_api.enqueue(Behavior(text="hi there"))
    client = make_client(settings)
    steps: list[str] = []
    with on_request_leaving(lambda: steps.append("left")):
        reply = client.chat.completions.create(model="gpt-4o", messages=QUESTION)
        steps.append("answered")
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert reply.choices[0].message.content == "hi there"
    assert steps == ["left", "answered"]
    assert len(fake_api.chat_requests()) == 2


def test_a_request_that_cannot_connect_is_reported_as_gone_too(settings: Settings) -> None:
    closed = replace(settings, base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=0)
    client = make_client(closed)
    calls: list[str] = []
    with on_request_leaving(lambda: calls.append("left")):
        try:
            client.chat.completions.create(model="gpt-4o", messages=QUESTION)
        except Exception as error:  # the SDK's connection error
            assert "connect" in type(error).__name__.lower()
        else:
            raise AssertionError("a closed port answered")
    assert calls == ["left"]


def test_without_the_context_nothing_is_called_and_requests_still_work(
    settings: Settings, fake_api: FakeOpenAI
) -> None:
    fake_api.enqueue(Behavior(text="plain"))
    reply = make_client(settings).chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert reply.choices[0].message.content == "plain"


def test_a_reply_that_ends_before_its_request_left_releases_its_waiter() -> None:
    live = LiveReply(7)
    assert not live.wait_left(0)
    live.finish(ReplyOutcome(content="", status=MessageStatus.ERROR, error="no key"))
    assert live.wait_left(0)
