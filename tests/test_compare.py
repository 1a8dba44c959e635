"""Comparing models: one question, one request per model with everything else equal, the
replies stored as columns of one turn, each column's failure, retry and cost its own, and one
Stop for all."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from chatcore.chat.compare import columns, compared_model, compared_models, is_comparison, models_of
from chatcore.chat.params import GenerationParams
from chatcore.chat.use_cases import ConversationView
from chatcore.errors import ChatInputError, ModelNotAllowed
from chatcore.team.prices import Price
from chatcore.wiring import Services
from storage import MessageRecord, MessageStatus
from tests.support.fake_openai import Behavior, FakeOpenAI
from ui.messages import column_facts, reply_facts

THREE = ("gpt-4o", "claude-3-5-sonnet", "deepseek-chat")
PARAMS = GenerationParams(model=THREE[0], temperature=0.3, max_tokens=200, seed=7)


def me(services: Services) -> int:
    return services.local_user.id


def settle(services: Services, conversation_id: str) -> ConversationView:
    assert services.infra.worker.wait_idle(10), "replies did not finish"
    return services.chat.open(me(services), conversation_id)


def compare(
    services: Services, text: str, *, conversation: str | None = None, **changes: object
) -> ConversationView:
    params = replace(PARAMS, **changes)  # type: ignore[arg-type]
    sent = services.chat.send(me(services), conversation, text, params, compare_with=THREE[1:])
    return settle(services, sent.conversation.id)


def group_of(view: ConversationView) -> list[MessageRecord]:
    shown = view.thread[-1]
    return [m for m in view.alternatives[shown.id] if m.choice_group == shown.choice_group]


@pytest.mark.parametrize("stream", [True, False])
def test_three_models_get_three_requests_equal_but_for_the_model(
    services: Services, fake_api: FakeOpenAI, stream: bool
) -> None:
    view = compare(services, "which is best?", stream=stream, n=3)
    requests = fake_api.chat_requests()
    assert sorted(r.body["model"] for r in requests) == sorted(THREE)
    bodies = [{k: v for k, v in r.body.items() if k != "model"} for r in requests]
    assert bodies[0] == bodies[1] == bodies[2]
    assert "n" not in bodies[0]  # each model gives one column
    assert bodies[0]["messages"] == [{"role": "user", "content": "which is best?"}]
    assert (bodies[0]["temperature"], bodies[0]["max_tokens"], bodies[0]["seed"]) == (0.3, 200, 7)
    assert bodies[0].get("stream", False) is stream
    group = group_of(view)
    assert [compared_model(m) for m in group] == list(THREE)
    assert [m.choice_index for m in group] == [0, 1, 2]
    assert all(m.status == MessageStatus.COMPLETE for m in group)
    assert all(m.content == "Echo: which is best?" for m in group)
    assert view.thread[-1].id == group[0].id  # the thread goes on from the picker's model
    assert view.conversation.model == THREE[0]
    assert is_comparison(group) and models_of(group) == THREE


def test_each_reply_keeps_its_own_usage_not_a_share(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.by_model = {
        THREE[0]: Behavior(text="a", usage={"prompt_tokens": 11, "completion_tokens": 5}),
        THREE[1]: Behavior(text="b", usage={"prompt_tokens": 13, "completion_tokens": 40}),
        THREE[2]: Behavior(text="c", usage={"prompt_tokens": 17, "completion_tokens": 2}),
    }
    group = group_of(compare(services, "cost?"))
    assert [(m.prompt_tokens, m.completion_tokens, m.total_tokens) for m in group] == [
        (11, 5, 16),
        (13, 40, 53),
        (17, 2, 19),
    ]
    assert [m.content for m in group] == ["a", "b", "c"]


def test_a_failing_model_shows_its_error_while_the_others_finish(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.by_model = {THREE[1]: Behavior(status=503, error_message="overloaded")}
    group = group_of(compare(services, "try"))
    assert [m.status for m in group] == [
        MessageStatus.COMPLETE,
        MessageStatus.ERROR,
        MessageStatus.COMPLETE,
    ]
    assert group[1].error and group[1].content == ""
    assert group[0].content == group[2].content == "Echo: try"


def test_a_column_retried_asks_only_its_model_and_stays_in_its_column(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.by_model = {THREE[1]: Behavior(status=503)}
    view = compare(services, "again")
    failed = group_of(view)[1]
    fake_api.by_model = {}
    before = len(fake_api.chat_requests())
    services.chat.regenerate(me(services), failed.id, replace(PARAMS, n=2))
    view = settle(services, view.conversation.id)
    asked = fake_api.chat_requests()[before:]
    assert [r.body["model"] for r in asked] == [THREE[1]]
    assert "n" not in asked[0].body
    group = group_of(view)
    assert len(group) == 4
    retried = max(group, key=lambda m: m.id)
    assert (retried.choice_index, compared_model(retried)) == (1, THREE[1])
    assert retried.status == MessageStatus.COMPLETE
    # The thread still continues from the first column, which was selected.
    assert view.thread[-1].id == group[0].id
    assert view.conversation.model == THREE[0]
    assert [m.id for m in columns(group, view.thread[-1])] == [group[0].id, retried.id, group[2].id]
    # The failed reply stays reachable, and shown it takes its column back.
    assert [m.id for m in columns(group, failed)] == [group[0].id, failed.id, group[2].id]


def test_retrying_the_selected_column_moves_the_thread_to_the_new_reply(
    services: Services, fake_api: FakeOpenAI
) -> None:
    view = compare(services, "pick")
    second = group_of(view)[1]
    assert services.chat.switch_branch(me(services), second.id)
    services.chat.regenerate(me(services), second.id)
    view = settle(services, view.conversation.id)
    assert view.thread[-1].id > second.id
    assert view.thread[-1].choice_index == 1 and compared_model(view.thread[-1]) == THREE[1]


def test_continue_with_the_second_sends_its_reply_next(
    services: Services, fake_api: FakeOpenAI
) -> None:
    fake_api.default = Behavior(sign_model=True)
    view = compare(services, "first")
    second = group_of(view)[1]
    assert services.chat.switch_branch(me(services), second.id)
    services.chat.send(me(services), view.conversation.id, "next", PARAMS)
    view = settle(services, view.conversation.id)
    assert fake_api.chat_requests()[-1].body["messages"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": f"[{THREE[1]}] Echo: first"},
        {"role": "user", "content": "next"},
    ]
    assert view.thread[1].id == second.id


def test_one_stop_stops_every_model(services: Services, fake_api: FakeOpenAI) -> None:
    fake_api.default = Behavior(text="w " * 300, chunk_delay=0.03)
    sent = services.chat.send(me(services), None, "long", PARAMS, compare_with=THREE[1:])
    fake_api.wait_for_requests(3)
    replies = [m for m in sent.thread if m.role == "assistant"]
    live = services.infra.worker.live(replies[0].id)
    assert live is not None
    live.wait(0, 5)
    assert services.chat.stop(me(services), replies[0].id)
    view = settle(services, sent.conversation.id)
    assert {m.status for m in group_of(view)} == {MessageStatus.STOPPED}


def test_regenerate_all_compares_the_same_models_again(
    services: Services, fake_api: FakeOpenAI
) -> None:
    view = compare(services, "q")
    first_group = group_of(view)
    services.chat.regenerate(
        me(services), first_group[0].id, PARAMS, compare=models_of(first_group)
    )
    view = settle(services, view.conversation.id)
    new_group = group_of(view)
    assert {m.id for m in new_group}.isdisjoint(m.id for m in first_group)
    assert models_of(new_group) == THREE
    assert len(view.alternatives[view.thread[-1].id]) == 6
    assert len(fake_api.chat_requests()) == 6


def test_an_edited_question_can_be_compared(services: Services, fake_api: FakeOpenAI) -> None:
    sent = services.chat.send(me(services), None, "one", PARAMS)
    view = settle(services, sent.conversation.id)
    services.chat.edit(me(services), view.thread[0].id, "two", PARAMS, compare_with=THREE[1:2])
    view = settle(services, view.conversation.id)
    assert models_of(group_of(view)) == THREE[:2]
    assert [r.body["model"] for r in fake_api.chat_requests()[1:]].count(THREE[1]) == 1


def test_a_forbidden_model_refuses_the_whole_comparison_before_anything_is_saved(
    services: Services, fake_api: FakeOpenAI
) -> None:
    boss = services.infra.users.create_user("boss", role="admin")
    lin = services.infra.users.create_user("lin")
    services.model_access.set_role_models(boss, "member", [THREE[0], THREE[2]])
    with pytest.raises(ModelNotAllowed) as refused:
        services.chat.send(lin.id, None, "hi", PARAMS, compare_with=THREE[1:])
    assert refused.value.params["model"] == THREE[1]
    assert fake_api.chat_requests() == []
    assert services.chat.list_conversations(lin.id).items == []
    view = services.chat.send(lin.id, None, "hi", PARAMS, compare_with=[THREE[2]])
    assert services.infra.worker.wait_idle(10)
    assert sorted(r.body["model"] for r in fake_api.chat_requests()) == sorted([THREE[0], THREE[2]])
    services.model_access.set_role_models(boss, "member", [THREE[0]])
    other = group_of(services.chat.open(lin.id, view.conversation.id))[1]
    with pytest.raises(ModelNotAllowed):  # the other column, asked again, is refused too
        services.chat.regenerate(lin.id, other.id)
    assert len(fake_api.chat_requests()) == 2


def test_at_most_four_models_and_each_once(services: Services) -> None:
    assert compared_models("a", ["b", "a", " b ", ""]) == ("a", "b")
    assert compared_models("a", []) == ("a",)
    with pytest.raises(ChatInputError) as refused:
        services.chat.send(me(services), None, "x", PARAMS, compare_with=["m1", "m2", "m3", "m4"])
    assert refused.value.code == "too_many_compared"
    assert str(refused.value) == "Compare at most 4 models at once; 5 are chosen."


def test_a_comparison_survives_export_and_import(services: Services, fake_api: FakeOpenAI) -> None:
    view = compare(services, "keep")
    exported = services.transfer.export_json_text(me(services), view.conversation.id)
    report = services.transfer.import_file(me(services), "c.json", exported.encode())
    copy = services.chat.open(me(services), report.conversation_ids[0])
    group = group_of(copy)
    assert models_of(group) == THREE
    assert [m.content for m in group] == ["Echo: keep"] * 3


def test_each_column_is_headed_by_its_exact_cost_and_n_choices_by_an_estimate(
    services: Services, fake_api: FakeOpenAI
) -> None:
    services.prices.set_prices(
        services.local_user,
        {
            "gpt-4o": Price(Decimal("3.5"), Decimal("14")),
            "deepseek-chat": Price(Decimal("2"), Decimal("8")),
        },
    )
    fake_api.default = Behavior(usage={"prompt_tokens": 100_000, "completion_tokens": 50_000})
    group = group_of(compare(services, "price?"))
    # 100,000 × 3.5 / 1e6 + 50,000 × 14 / 1e6 = 0.35 + 0.70; deepseek 0.2 + 0.4
    assert column_facts(group[0], services.prices).endswith("150,000 tokens · CN¥1.05")
    assert column_facts(group[1], services.prices).endswith("150,000 tokens · no price set")
    assert column_facts(group[2], services.prices).endswith("150,000 tokens · CN¥0.60")
    assert "≈" not in reply_facts(group[0], services.prices)
    sent = services.chat.send(me(services), None, "n", replace(PARAMS, n=2))
    choices = group_of(settle(services, sent.conversation.id))
    assert "≈ CN¥" in reply_facts(choices[0], services.prices)


def test_the_upstreams_count_of_the_last_reply_is_used_only_when_it_covers_everything(
    services: Services, fake_api: FakeOpenAI
) -> None:
    from chatcore.chat.use_cases import upstream_count

    fake_api.default = Behavior(usage={"prompt_tokens": 30, "completion_tokens": 4})
    sent = services.chat.send(me(services), None, "count", replace(PARAMS, n=None))
    view = settle(services, sent.conversation.id)
    reply = view.thread[-1]
    assert upstream_count(view.thread, THREE[0]) == (reply.id, 34)
    assert upstream_count(view.thread, "gpt-4o-mini") is None  # another model's tokens
    assert upstream_count([*view.thread[:-1], replace(reply, model="gpt-4o-2024-08-06")], THREE[0])
    assert upstream_count([replace(reply, context_start_id=1)], THREE[0]) is None
    assert upstream_count([replace(reply, status=MessageStatus.STOPPED)], THREE[0]) is None
    assert upstream_count(group_of(compare(services, "n")), THREE[0]) is None
