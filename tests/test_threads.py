"""Reading part of a thread (storage/threads.py): what the page draws of a long conversation is
what a full read gives for that part, with the right count of messages left out, on SQLite and
PostgreSQL; landing on a message (a search result's link); a send that leaves the earlier
messages to the generation thread; and the chat page's tail and landing through AppTest."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import select

from chatcore.chat.generation import GenerationJob
from chatcore.chat.outgoing import without_sources
from chatcore.chat.params import GenerationParams
from chatcore.chat.thread import api_messages
from chatcore.chat.use_cases import VIEW_TAIL, ChatService
from chatcore.config import Settings, load_settings
from chatcore.wiring import build_services, close_shared_services
from storage import (
    ChatRepository,
    ConversationRecord,
    MessageRecord,
    MessageStatus,
    ReplyOutcome,
    Role,
    Thread,
    UserRecord,
    UserRepository,
)
from storage import threads as thread_reading
from storage.convert import message_record
from storage.models import Message
from tests.support.fake_openai import FakeOpenAI
from tests.support.pages import run_app

TAILS = (1, 2, 3, 5, 8, 20)


class HandOff:
    """A worker that keeps the jobs it is handed and runs none."""

    def __init__(self) -> None:
        self.jobs: list[GenerationJob] = []

    def submit(self, job: GenerationJob) -> list[Any]:
        self.jobs.append(job)
        return []


@pytest.fixture
def ann(repo: ChatRepository) -> UserRecord:
    return UserRepository(repo.db).ensure_user("ann")


@pytest.fixture
def chat(repo: ChatRepository, ann: UserRecord) -> ConversationRecord:
    return repo.create_conversation(ann.id, "threads", "gpt-4o")


@pytest.fixture
def worker() -> HandOff:
    return HandOff()


@pytest.fixture
def service(settings: Settings, repo: ChatRepository, worker: HandOff) -> ChatService:
    return ChatService(settings, repo, worker, b"secret")  # type: ignore[arg-type]


def reload(repo: ChatRepository, chat: ConversationRecord) -> ConversationRecord:
    found = repo.get_conversation(chat.user_id, chat.id)
    assert found is not None
    return found


def reference(repo: ChatRepository, conversation: ConversationRecord) -> Thread:
    """The thread as the first versions read it: every row, then a walk in Python."""
    with repo.db.session() as session:
        rows = [
            message_record(row)
            for row in session.scalars(
                select(Message).where(Message.conversation_id == conversation.id)
            )
        ]
    by_id = {row.id: row for row in rows}
    children: dict[int | None, list[MessageRecord]] = {}
    for row in sorted(rows, key=lambda row: row.id):
        children.setdefault(row.parent_id, []).append(row)
    path: list[MessageRecord] = []
    alternatives: dict[int, list[MessageRecord]] = {}
    current = by_id.get(conversation.active_leaf_id or -1)
    while current is not None:
        path.append(current)
        same = [
            row
            for row in children[current.parent_id]
            if row.role == current.role and row.role != Role.TOOL
        ]
        if len(same) > 1:
            alternatives[current.id] = same
        current = by_id.get(current.parent_id) if current.parent_id else None
    path.reverse()
    return Thread(path, alternatives)


def ids(messages: list[MessageRecord]) -> list[int]:
    return [message.id for message in messages]


def assert_parts_agree(repo: ChatRepository, conversation: ConversationRecord) -> None:
    """Every tail agrees with the full read; so does the full read with the reference."""
    full = reference(repo, conversation)
    assert repo.load_thread(conversation) == full
    assert repo.thread(conversation) == full.messages
    for tail in (*TAILS, len(full.messages) + 3):
        part = repo.load_thread(conversation, tail=tail)
        drawn = len(part.messages)
        assert drawn >= min(tail, len(full.messages))
        assert part.messages == full.messages[len(full.messages) - drawn :]
        assert part.hidden == len(full.messages) - drawn
        assert part.later == 0
        assert part.alternatives == {
            message.id: full.alternatives[message.id]
            for message in part.messages
            if message.id in full.alternatives
        }
        if drawn > tail:  # widened: only so as not to start with a tool result
            assert part.messages[drawn - tail].role == Role.TOOL
        if part.hidden:
            assert part.messages[0].role != Role.TOOL


def _finish(repo: ChatRepository, message: MessageRecord, **fields: Any) -> None:
    repo.finish_reply(
        message.id,
        ReplyOutcome(content=f"reply {message.id}", status=MessageStatus.COMPLETE, **fields),
    )


def _grow(
    repo: ChatRepository, user: UserRecord, chat: ConversationRecord, rng: random.Random
) -> None:
    """One thing a person does: a turn (maybe with n choices), a regeneration, an edit, a
    tool call with its results, or a switch to another branch."""
    conversation = reload(repo, chat)
    thread = repo.thread(conversation)
    leaf = thread[-1] if thread else None
    action = rng.choice(
        ["turn", "turn", "turn", "choices", "regenerate", "edit", "tools", "switch"]
    )
    if leaf is None or action in ("turn", "choices"):
        started = repo.start_reply(
            chat.id,
            parent_id=leaf.id if leaf else None,
            user_text=f"question {rng.random():.6f}",
            model="gpt-4o",
            request_params={},
            settings={},
            choices=rng.choice([2, 3]) if action == "choices" else 1,
        )
        for message in started[1:]:
            _finish(repo, message)
    elif action == "regenerate":
        questions = [message for message in thread if message.role == Role.USER]
        question = rng.choice(questions)
        reply = repo.start_reply(
            chat.id,
            parent_id=question.id,
            user_text=None,
            model="gpt-4o",
            request_params={},
            settings={},
        )[0]
        _finish(repo, reply)
    elif action == "edit":
        question = rng.choice([message for message in thread if message.role == Role.USER])
        started = repo.start_reply(
            chat.id,
            parent_id=question.parent_id,
            user_text="edited question",
            model="gpt-4o",
            request_params={},
            settings={},
        )
        _finish(repo, started[1])
    elif action == "tools":
        question = repo.add_message(chat.id, Role.USER, "what time is it?", parent_id=leaf.id)
        call = repo.add_message(chat.id, Role.ASSISTANT, "", parent_id=question.id)
        calls = [{"id": f"call_{call.id}_{n}", "type": "function"} for n in range(2)]
        _finish(repo, call, tool_calls=calls, finish_reason="tool_calls")
        first = repo.add_message(
            chat.id, Role.TOOL, "12:00", parent_id=call.id, tool_call_id=calls[0]["id"]
        )
        chained = rng.random() < 0.5
        second = repo.add_message(
            chat.id,
            Role.TOOL,
            "3",
            parent_id=first.id if chained else call.id,
            tool_call_id=calls[1]["id"],
        )
        repo.add_message(chat.id, Role.ASSISTANT, "It is noon.", parent_id=second.id)
    else:
        with repo.db.session() as session:
            every = list(
                session.scalars(select(Message.id).where(Message.conversation_id == chat.id))
            )
        repo.select_branch(user.id, rng.choice(every))


@pytest.mark.parametrize("cold", [False, True], ids=["depths-kept", "depths-forgotten"])
def test_tails_agree_with_full_reads_across_branches_choices_tools_and_edits(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord, cold: bool
) -> None:
    rng = random.Random(20261202)
    for step in range(60):
        _grow(repo, ann, chat, rng)
        if cold:
            thread_reading._DEPTHS.clear()  # every depth found again by walking to the start
        if step % 3 == 0 or step > 50:
            assert_parts_agree(repo, reload(repo, chat))


def test_a_tail_never_starts_with_a_tool_result_without_its_call(
    repo: ChatRepository, chat: ConversationRecord
) -> None:
    parent = None
    for number in range(10):
        role = Role.USER if number % 2 == 0 else Role.ASSISTANT
        parent = repo.add_message(chat.id, role, f"m{number}", parent_id=parent).id
    call = repo.add_message(chat.id, Role.ASSISTANT, "", parent_id=parent)
    _finish(repo, call, tool_calls=[{"id": "c1"}, {"id": "c2"}, {"id": "c3"}])
    results = []
    for number in range(3):
        results.append(
            repo.add_message(
                chat.id,
                Role.TOOL,
                f"result {number}",
                parent_id=results[-1].id if results else call.id,
                tool_call_id=f"c{number + 1}",
            )
        )
    answer = repo.add_message(chat.id, Role.ASSISTANT, "done", parent_id=results[-1].id)
    part = repo.load_thread(reload(repo, chat), tail=2)
    assert ids(part.messages) == [call.id, *ids(results), answer.id]
    assert part.hidden == 10


def test_an_empty_conversation_reads_as_an_empty_thread(
    repo: ChatRepository, chat: ConversationRecord
) -> None:
    assert repo.load_thread(chat, tail=20) == Thread([], {})
    assert repo.load_thread(chat) == Thread([], {})
    assert repo.thread(chat) == []


def _linear(repo: ChatRepository, chat: ConversationRecord, count: int) -> list[MessageRecord]:
    messages: list[MessageRecord] = []
    for number in range(count):
        role = Role.USER if number % 2 == 0 else Role.ASSISTANT
        parent = messages[-1].id if messages else None
        messages.append(repo.add_message(chat.id, role, f"message {number}", parent_id=parent))
    return messages


def test_a_message_far_up_is_read_with_its_neighbourhood_and_the_rest_counted(
    repo: ChatRepository, chat: ConversationRecord
) -> None:
    messages = _linear(repo, chat, 200)
    conversation = reload(repo, chat)
    part = repo.load_thread(conversation, tail=20, through=messages[10].id)
    span = thread_reading.LANDING_SPAN
    assert ids(part.messages) == ids(messages[9 : 10 + span])
    assert (part.hidden, part.later) == (9, 200 - 10 - span)
    # Again (its neighbourhood now remembered), and with nothing remembered: the same.
    assert repo.load_thread(conversation, tail=20, through=messages[10].id) == part
    thread_reading._DEPTHS.clear()
    assert repo.load_thread(conversation, tail=20, through=messages[10].id) == part
    more = repo.load_thread(conversation, tail=20, through=messages[10].id, above=25)
    assert ids(more.messages) == ids(messages[: 10 + span])
    assert (more.hidden, more.later) == (0, 200 - 10 - span)
    # Near the end, the part simply reaches the newest message.
    near = repo.load_thread(conversation, tail=20, through=messages[160].id)
    assert ids(near.messages) == ids(messages[159:])
    assert (near.hidden, near.later) == (159, 0)
    # Within the tail anyway: the tail as usual.
    inside = repo.load_thread(conversation, tail=20, through=messages[190].id)
    assert ids(inside.messages) == ids(messages[180:])


def test_a_message_off_the_visible_branch_or_in_another_conversation_is_not_drawn(
    repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    messages = _linear(repo, chat, 60)
    aside = repo.add_message(chat.id, Role.ASSISTANT, "an earlier answer", parent_id=messages[8].id)
    repo.select_branch(ann.id, messages[-1].id)
    other = repo.create_conversation(ann.id, "other", "gpt-4o")
    elsewhere = _linear(repo, other, 3)[1]
    conversation = reload(repo, chat)
    for stranger in (aside.id, elsewhere.id, elsewhere.id + 10_000):
        part = repo.load_thread(conversation, tail=20, through=stranger)
        assert ids(part.messages) == ids(messages[40:])
        assert (part.hidden, part.later) == (40, 0)


def test_landing_on_an_old_message_of_another_branch_switches_to_it(
    service: ChatService, repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    main = _linear(repo, chat, 8)
    # An earlier answer to question 6 with a follow-up, then the main line goes on for long.
    earlier = repo.add_message(chat.id, Role.ASSISTANT, "earlier answer", parent_id=main[6].id)
    follow = repo.add_message(chat.id, Role.USER, "follow-up", parent_id=earlier.id)
    parent = main[-1]
    for number in range(8, 120):
        role = Role.USER if number % 2 == 0 else Role.ASSISTANT
        parent = repo.add_message(chat.id, role, f"message {number}", parent_id=parent.id)
    newest = parent

    view = service.land(ann.id, chat.id, earlier.id, recent=20)
    assert ids(view.thread) == [*ids(main[:7]), earlier.id, follow.id]  # the whole branch
    assert view.hidden == 0 and view.later == 0
    assert ids(view.alternatives[earlier.id]) == [main[7].id, earlier.id]
    assert reload(repo, chat).active_leaf_id == follow.id

    # An old message of the visible branch: drawn where it is, nothing switched.
    back = service.land(ann.id, chat.id, main[2].id, recent=20)
    assert ids(back.thread) == ids(view.thread)
    assert reload(repo, chat).active_leaf_id == follow.id
    service.switch_branch(ann.id, newest.id)
    again = service.land(ann.id, chat.id, main[2].id, recent=20)
    assert ids(again.thread)[:2] == [main[1].id, main[2].id]
    assert again.hidden == 1 and again.later > 0
    assert reload(repo, chat).active_leaf_id == newest.id


def test_another_persons_message_never_lands(
    service: ChatService, repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    mine = _linear(repo, chat, 30)
    bob = UserRepository(repo.db).ensure_user("bob")
    theirs = repo.create_conversation(bob.id, "bob's", "gpt-4o")
    their_messages = _linear(repo, theirs, 4)
    repo.add_message(
        theirs.id, Role.ASSISTANT, "bob's other answer", parent_id=their_messages[0].id
    )
    their_leaf = reload(repo, theirs).active_leaf_id
    other_chat = repo.create_conversation(ann.id, "ann's other", "gpt-4o")
    other_messages = _linear(repo, other_chat, 4)
    repo.add_message(
        other_chat.id, Role.ASSISTANT, "another answer", parent_id=other_messages[0].id
    )
    other_leaf = reload(repo, other_chat).active_leaf_id

    for message_id in (their_messages[1].id, other_messages[1].id):
        view = service.land(ann.id, chat.id, message_id, recent=20)
        assert ids(view.thread) == ids(mine[10:])
        assert view.hidden == 10
    assert reload(repo, theirs).active_leaf_id == their_leaf
    assert reload(repo, other_chat).active_leaf_id == other_leaf
    assert reload(repo, chat).active_leaf_id == mine[-1].id
    with pytest.raises(Exception, match="no longer exists"):
        service.land(bob.id, chat.id, mine[3].id, recent=20)


def test_a_send_in_a_long_conversation_leaves_the_earlier_messages_to_the_worker(
    service: ChatService,
    repo: ChatRepository,
    worker: HandOff,
    ann: UserRecord,
    chat: ConversationRecord,
) -> None:
    messages = _linear(repo, chat, VIEW_TAIL + 30)
    params = GenerationParams(model="gpt-4o", system_prompt="Be brief.")
    view = service.send(ann.id, chat.id, "one more", params)
    question, reply = view.thread[-2:]
    assert (question.content, reply.status) == ("one more", MessageStatus.STREAMING)
    assert ids(view.thread[:-2]) == ids(messages[-VIEW_TAIL:])
    assert view.hidden == 30
    job = worker.jobs[-1]
    assert job.history is not None
    assert without_sources(job).request["messages"] == [{"role": "user", "content": "one more"}]
    complete = without_sources(job.with_history()).request["messages"]
    assert complete == [
        *api_messages(messages, "Be brief."),
        {"role": "user", "content": "one more"},
    ]
    # A short conversation's request is complete at once.
    short = repo.create_conversation(ann.id, "short", "gpt-4o")
    _linear(repo, short, 4)
    service.send(ann.id, short.id, "and this", params)
    assert worker.jobs[-1].history is None
    assert len(worker.jobs[-1].request["messages"]) == 6


def test_json_mode_finds_the_word_in_messages_the_view_leaves_out(
    service: ChatService, repo: ChatRepository, ann: UserRecord, chat: ConversationRecord
) -> None:
    first = repo.add_message(chat.id, Role.USER, "Answer in JSON from now on.", parent_id=None)
    parent = first
    for number in range(VIEW_TAIL + 10):
        role = Role.ASSISTANT if number % 2 == 0 else Role.USER
        parent = repo.add_message(chat.id, role, f"message {number}", parent_id=parent.id)
    params = replace(GenerationParams(model="gpt-4o"), json_mode=True)
    view = service.send(ann.id, chat.id, "next", params)  # no JsonModeUnmentioned
    assert view.thread[-2].content == "next"


def test_depths_are_learned_once_and_checked_against_their_parent() -> None:
    depths = thread_reading._Depths(size=3)
    steps = [
        thread_reading._Step(id=10 - n, parent_id=9 - n, role="user", distance=n) for n in range(3)
    ]
    depths.put("c", steps, leaf_depth=40)
    assert depths.get("c", steps[0]) == 40
    assert depths.get("c", steps[2]) == 38
    assert depths.get("other", steps[0]) is None
    assert depths.get("c", replace(steps[1], parent_id=1)) is None  # a reused id: not trusted
    depths.put("c", [thread_reading._Step(id=99, parent_id=None, role="user", distance=0)], 0)
    assert len(depths._known) == 3  # bounded: the least recently used went


# The chat page -------------------------------------------------------------------------------


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, fake_api: FakeOpenAI, tmp_path: Path) -> Path:
    monkeypatch.setenv("ANYAPI_API_KEY", "sk-threads-page-test")
    monkeypatch.setenv("ANYAPI_BASE_URL", fake_api.base_url)
    monkeypatch.setenv("ANYAPI_MAX_RETRIES", "0")
    database = tmp_path / "pages.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("ANYCHAT_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("ANYCHAT_AUTH", "none")
    return database


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    yield
    st.cache_resource.clear()
    close_shared_services()


def _page_texts(at: Any) -> list[str]:
    return [
        "\n".join(element.value for element in [*message.markdown, *message.text])
        for message in at.chat_message
    ]


@pytest.mark.usefixtures("fresh_caches")
def test_the_page_lands_on_a_message_then_goes_back_to_the_latest(app_env: Path) -> None:
    services = build_services(load_settings(), prefetch_models=False)
    try:
        repo = services.infra.chats
        chat = repo.create_conversation(services.local_user.id, "long one", "gpt-4o")
        messages = _linear(repo, chat, 120)
    finally:
        services.close()
    at = run_app({"c": chat.id, "m": str(messages[5].id)})
    span = thread_reading.LANDING_SPAN
    assert _page_texts(at) == [f"message {n}" for n in range(4, 5 + span)]
    assert "m" not in at.query_params and at.query_params["c"] == chat.id
    next(b for b in at.button if b.label == "Show 4 earlier messages").click().run()
    assert _page_texts(at) == [f"message {n}" for n in range(0, 5 + span)]
    latest = next(b for b in at.button if b.label.startswith("Show the latest"))
    assert latest.label == f"Show the latest ({120 - 5 - span} later messages)"
    latest.click().run()
    assert _page_texts(at) == [f"message {n}" for n in range(100, 120)]
    next(b for b in at.button if b.label == "Show 50 earlier messages").click().run()
    assert _page_texts(at) == [f"message {n}" for n in range(50, 120)]


@pytest.mark.usefixtures("fresh_caches")
@pytest.mark.parametrize("landing", ["abc", "²", "99999999999999999999", "-3"])
def test_a_malformed_landing_opens_the_conversation_as_it_is(app_env: Path, landing: str) -> None:
    services = build_services(load_settings(), prefetch_models=False)
    try:
        repo = services.infra.chats
        chat = repo.create_conversation(services.local_user.id, "long one", "gpt-4o")
        _linear(repo, chat, 30)
    finally:
        services.close()
    at = run_app({"c": chat.id, "m": landing})
    assert not at.exception
    assert _page_texts(at) == [f"message {n}" for n in range(10, 30)]
    assert "m" not in at.query_params
