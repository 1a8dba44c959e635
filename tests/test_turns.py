"""Turns beyond one question and one answer: n choices, regenerate, edit, tool calls, JSON mode."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from chatcore.chat.params import GenerationParams
from chatcore.chat.thread import pending_calls
from chatcore.chat.use_cases import ConversationView
from chatcore.errors import ChatInputError, JsonModeUnmentioned
from chatcore.wiring import Services
from storage import MessageRecord, MessageStatus
from tests.support.fake_openai import Behavior, FakeOpenAI

PARAMS = GenerationParams(model="gpt-4o")
CALC = {"id": "call_calc", "name": "calculator", "arguments": '{"expression": "6*7"}'}


def user_id(services: Services) -> int:
    return services.local_user.id


def settle(services: Services, conversation_id: str) -> ConversationView:
    assert services.infra.worker.wait_idle(10), "replies did not finish"
    return services.chat.open(user_id(services), conversation_id)


def texts(thread: list[MessageRecord]) -> list[tuple[str, str]]:
    return [(message.role, message.content) for message in thread]


@pytest.mark.parametrize("stream", [True, False])
def test_n_choices_are_stored_as_alternatives_of_one_turn(
    services: Services, fake_api: FakeOpenAI, stream: bool
) -> None:
    fake_api.enqueue(
        Behavior(
            text="alpha beta gamma",
            usage={"prompt_tokens": 10, "completion_tokens": 30},
            finish_reasons=["stop", "length", "stop"],
        )
    )
    params = replace(PARAMS, n=3, stream=stream)
    sent = services.chat.send(user_id(services), None, "pick one", params)
    view = settle(services, sent.conversation.id)
    first = view.thread[-1]
    choices = view.alternatives[first.id]
    assert [c.content for c in choices] == [
        "alpha beta gamma",
        "[1] alpha beta gamma",
        "[2] alpha beta gamma",
    ]
    assert [c.choice_index for c in choices] == [0, 1, 2]
    assert {c.choice_group for c in choices} == {first.id}
    assert [c.finish_reason for c in choices] == ["stop", "length", "stop"]
    # The request's usage is shared out so that the parts add up to exactly what was reported.
    assert sum(c.prompt_tokens for c in choices) == 10
    assert sum(c.completion_tokens for c in choices) == 30
    assert sum(c.total_tokens for c in choices) == 40
    assert services.chat.token_total(services.local_user.id, view.conversation.id) == 40
    assert all(c.status == MessageStatus.COMPLETE for c in choices)


def test_picking_a_choice_continues_the_thread_with_it(
    services: Services, fake_api: FakeOpenAI
) -> None:
    sent = services.chat.send(user_id(services), None, "pick", replace(PARAMS, n=3))
    view = settle(services, sent.conversation.id)
    second = view.alternatives[view.thread[-1].id][1]
    assert services.chat.switch_branch(user_id(services), second.id)
    view = services.chat.open(user_id(services), sent.conversation.id)
    assert view.thread[-1].id == second.id
    services.chat.send(user_id(services), view.conversation.id, "go on", PARAMS)
    view = settle(services, sent.conversation.id)
    assert fake_api.chat_requests()[-1].body["messages"] == [
        {"role": "user", "content": "pick"},
        {"role": "assistant", "content": "[1] Echo: pick"},
        {"role": "user", "content": "go on"},
    ]
    assert view.thread[1].id == second.id


def test_regenerate_adds_an_alternative_and_keeps_the_first(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.enqueue(Behavior(text="first take"), Behavior(text="second take"))
    sent = services.chat.send(user_id(services), None, "q", PARAMS)
    first = settle(services, sent.conversation.id).thread[-1]
    services.chat.regenerate(user_id(services), first.id)
    view = settle(services, sent.conversation.id)
    assert texts(view.thread) == [("user", "q"), ("assistant", "second take")]
    assert [m.content for m in view.alternatives[view.thread[-1].id]] == [
        "first take",
        "second take",
    ]
    # The regenerated request does not include the reply it replaces.
    assert fake_api.chat_requests()[-1].body["messages"] == [{"role": "user", "content": "q"}]
    services.chat.switch_branch(user_id(services), first.id)
    back = services.chat.open(user_id(services), sent.conversation.id)
    assert texts(back.thread) == [("user", "q"), ("assistant", "first take")]


def test_edit_and_resend_branches_and_the_old_branch_stays_reachable(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.enqueue(Behavior(text="a1"), Behavior(text="a2"), Behavior(text="b2"))
    uid = user_id(services)
    sent = services.chat.send(uid, None, "one", PARAMS)
    settle(services, sent.conversation.id)
    services.chat.send(uid, sent.conversation.id, "two", PARAMS)
    view = settle(services, sent.conversation.id)
    original = view.thread[2]
    services.chat.edit(uid, original.id, "two, edited", PARAMS)
    view = settle(services, sent.conversation.id)
    assert texts(view.thread) == [
        ("user", "one"),
        ("assistant", "a1"),
        ("user", "two, edited"),
        ("assistant", "b2"),
    ]
    assert fake_api.chat_requests()[-1].body["messages"][-1] == {
        "role": "user",
        "content": "two, edited",
    }
    questions = view.alternatives[view.thread[2].id]
    assert [m.content for m in questions] == ["two", "two, edited"]
    services.chat.switch_branch(uid, original.id)
    old = services.chat.open(uid, sent.conversation.id)
    assert texts(old.thread)[2:] == [("user", "two"), ("assistant", "a2")]


def test_editing_the_first_message_starts_a_new_root(
    services: Services, fake_api: FakeOpenAI
) -> None:
    uid = user_id(services)
    sent = services.chat.send(uid, None, "first", PARAMS)
    root = settle(services, sent.conversation.id).thread[0]
    services.chat.edit(uid, root.id, "first, better", PARAMS)
    view = settle(services, sent.conversation.id)
    assert texts(view.thread) == [("user", "first, better"), ("assistant", "Echo: first, better")]
    assert [m.content for m in view.alternatives[view.thread[0].id]] == ["first", "first, better"]


@pytest.mark.parametrize("stream", [True, False])
def test_tool_call_round_trip_with_a_built_in_tool(
    services: Services, fake_api: FakeOpenAI, stream: bool
) -> None:
    fake_api.enqueue(Behavior(tool_calls=[CALC]), Behavior(text="It is 42."))
    uid = user_id(services)
    params = replace(PARAMS, builtin_tools=("calculator",), stream=stream)
    sent = services.chat.send(uid, None, "what is 6*7?", params)
    view = settle(services, sent.conversation.id)
    asking = view.thread[-1]
    assert asking.finish_reason == "tool_calls"
    assert asking.tool_calls == [
        {
            "id": "call_calc",
            "type": "function",
            "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'},
        }
    ]
    pending = pending_calls(view.thread)
    assert pending is not None and [c["id"] for c in pending.calls] == ["call_calc"]

    services.chat.run_builtin_tool(uid, sent.conversation.id, "call_calc")
    view = settle(services, sent.conversation.id)
    assert texts(view.thread)[-2:] == [("tool", "42"), ("assistant", "It is 42.")]
    assert view.thread[-2].tool_call_id == "call_calc"
    assert pending_calls(view.thread) is None
    assert fake_api.chat_requests()[-1].body["messages"] == [
        {"role": "user", "content": "what is 6*7?"},
        {"role": "assistant", "content": None, "tool_calls": asking.tool_calls},
        {"role": "tool", "tool_call_id": "call_calc", "content": "42"},
    ]


def test_several_calls_continue_only_when_all_have_results(
    services: Services, fake_api: FakeOpenAI
) -> None:
    calls = [
        {"id": "call_a", "name": "lookup", "arguments": '{"q": "a"}'},
        {"id": "call_b", "name": "lookup", "arguments": '{"q": "b"}'},
    ]
    fake_api.enqueue(Behavior(tool_calls=calls), Behavior(text="done"))
    uid = user_id(services)
    tool = {"name": "lookup", "description": "", "parameters": {"type": "object"}}
    sent = services.chat.send(uid, None, "look both up", replace(PARAMS, tools=(tool,)))
    conversation_id = sent.conversation.id
    settle(services, conversation_id)
    services.chat.submit_tool_result(uid, conversation_id, "call_b", "B result")
    assert len(fake_api.chat_requests()) == 1
    with pytest.raises(ChatInputError, match="already been answered"):
        services.chat.submit_tool_result(uid, conversation_id, "call_b", "again")
    with pytest.raises(ChatInputError, match="not a built-in tool"):
        services.chat.run_builtin_tool(uid, conversation_id, "call_a")
    services.chat.submit_tool_result(uid, conversation_id, "call_a", "A result")
    view = settle(services, conversation_id)
    assert texts(view.thread)[-3:] == [
        ("tool", "B result"),
        ("tool", "A result"),
        ("assistant", "done"),
    ]
    assert len(fake_api.chat_requests()) == 2


def test_unanswered_calls_are_dropped_when_the_user_moves_on(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.enqueue(Behavior(tool_calls=[CALC]))
    uid = user_id(services)
    params = replace(PARAMS, builtin_tools=("calculator",))
    sent = services.chat.send(uid, None, "6*7?", params)
    settle(services, sent.conversation.id)
    services.chat.send(uid, sent.conversation.id, "never mind", params)
    settle(services, sent.conversation.id)
    assert fake_api.chat_requests()[-1].body["messages"] == [
        {"role": "user", "content": "6*7?"},
        {"role": "user", "content": "never mind"},
    ]


def test_json_mode_warns_when_nothing_mentions_json(
    services: Services, fake_api: FakeOpenAI
) -> None:
    uid = user_id(services)
    params = replace(PARAMS, json_mode=True)
    with pytest.raises(JsonModeUnmentioned, match="mentions JSON"):
        services.chat.send(uid, None, "list three fruits", params)
    assert fake_api.chat_requests() == []
    sent = services.chat.send(uid, None, "list three fruits", params, confirmed_json=True)
    settle(services, sent.conversation.id)
    prompted = replace(params, system_prompt="Answer as a json object.")
    services.chat.send(uid, None, "list three fruits", prompted)
    assert services.infra.worker.wait_idle(10)
    assert [r.body["response_format"] for r in fake_api.chat_requests()] == [
        {"type": "json_object"},
        {"type": "json_object"},
    ]


def test_json_reply_and_fingerprint_are_kept(services: Services, fake_api: FakeOpenAI) -> None:
    fake_api.enqueue(Behavior(text='{"fruits": ["apple", "梨"]}', system_fingerprint="fp_abc"))
    params = replace(PARAMS, json_mode=True, seed=7)
    sent = services.chat.send(user_id(services), None, "JSON please", params)
    reply = settle(services, sent.conversation.id).thread[-1]
    assert json.loads(reply.content) == {"fruits": ["apple", "梨"]}
    assert reply.system_fingerprint == "fp_abc"
    assert reply.request_params["seed"] == 7


def test_stop_ends_every_choice_of_a_request(services: Services, fake_api: FakeOpenAI) -> None:
    fake_api.enqueue(Behavior(text="w " * 200, chunk_delay=0.05))
    sent = services.chat.send(user_id(services), None, "long", replace(PARAMS, n=2))
    fake_api.wait_for_requests(1)
    first = sent.thread[-1]
    live = services.infra.worker.live(first.id)
    assert live is not None
    live.wait(0, 5)
    assert services.chat.stop(user_id(services), first.id)
    view = settle(services, sent.conversation.id)
    statuses = {m.status for m in view.alternatives[first.id]}
    assert statuses == {MessageStatus.STOPPED}
