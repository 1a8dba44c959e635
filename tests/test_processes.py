"""Several processes on one PostgreSQL, as two sets of services in this test process: each has
its own id, heartbeat, worker and relay connection, exactly as two app processes would.

A reply one generates is followed token by token from the other and stopped from it; a
process starting or stopping leaves the other's replies alone; a process that stops beating
has its replies closed by the other within the stale window; migrations run once when
processes start together.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text

from chatcore.chat import relay as relay_module
from chatcore.chat.live import LiveReply
from chatcore.chat.params import GenerationParams
from chatcore.chat.relay import RemoteReply
from chatcore.config import Settings
from chatcore.errors import AccountDisabled, ConversationNotFound
from chatcore.wiring import Services, build_services
from storage import Database, MessageRecord, MessageStatus, upgrade_to_head
from storage.migrate import HEAD_REVISION, current_revision
from tests.support.fake_openai import Behavior, FakeOpenAI

PARAMS = GenerationParams(model="gpt-4o")
WORDS = " ".join(f"w{i}" for i in range(120))
STALE_SECONDS = 3.0


@pytest.fixture
def team_settings(settings: Settings, postgres_url: str) -> Settings:
    return replace(settings, database_url=postgres_url, process_stale_seconds=STALE_SECONDS)


@pytest.fixture
def two_processes(team_settings: Settings) -> Iterator[tuple[Services, Services]]:
    first = build_services(team_settings, prefetch_models=False)
    second = build_services(team_settings, prefetch_models=False)
    for services in (first, second):
        assert services.infra.relay is not None and services.infra.relay.wait_listening(5)
    yield first, second
    first.close()
    second.close()


def _send(services: Services, text: str) -> MessageRecord:
    view = services.chat.send(services.local_user.id, None, text, PARAMS)
    return view.thread[-1]


def _row(services: Services, message_id: int) -> MessageRecord:
    row = services.infra.chats.get_message(message_id)
    assert row is not None
    return row


def _until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def test_a_reply_is_followed_token_by_token_from_another_process(
    two_processes: tuple[Services, Services], fake_api: FakeOpenAI
) -> None:
    first, second = two_processes
    # 6 s of tokens: ten views are far more than the once-a-second checkpoint could show,
    # with room for a machine busy enough to delay some notices.
    fake_api.enqueue(Behavior(text=WORDS, chunk_delay=0.05))
    reply = _send(first, "long please")
    assert isinstance(first.chat.live(first.local_user.id, reply.id), LiveReply)
    followed = second.chat.live(second.local_user.id, reply.id)
    assert isinstance(followed, RemoteReply)

    seen: list[str] = []
    snapshot = followed.wait(-1, 5)
    while not snapshot.done:
        if snapshot.text and (not seen or snapshot.text != seen[-1]):
            seen.append(snapshot.text)
        snapshot = followed.wait(snapshot.version, 5)
    # Grew piece by piece, each view a beginning of the next, far more often than the
    # once-a-second checkpoint could show.
    assert len(seen) >= 10
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(seen))
    final = _row(second, reply.id)
    assert final.status == MessageStatus.COMPLETE and final.content == WORDS
    assert snapshot.text == WORDS


def test_only_replies_followed_elsewhere_go_out_token_by_token(
    two_processes: tuple[Services, Services],
    fake_api: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sending every reply to every process cost a NOTIFY per reply thirty times a second.
    A reply's text goes out once a page on another process watches it, starting with all of
    it so far; every reply's end goes out."""
    first, second = two_processes
    relay = first.infra.relay
    assert relay is not None
    sent: list[tuple[int, int]] = []
    ended: list[int] = []
    publish, publish_end = relay.publish, relay.publish_end

    def counted_publish(message_id: int, offset: int, text: str) -> None:
        sent.append((message_id, offset))
        publish(message_id, offset, text)

    def counted_end(message_id: int) -> None:
        ended.append(message_id)
        publish_end(message_id)

    monkeypatch.setattr(relay, "publish", counted_publish)
    monkeypatch.setattr(relay, "publish_end", counted_end)
    fake_api.enqueue(Behavior(text=WORDS, chunk_delay=0.005))
    alone = _send(first, "nobody elsewhere watches")
    assert first.infra.worker.wait_idle(10)
    assert _until(lambda: alone.id in ended, 2)
    assert sent == []

    fake_api.enqueue(Behavior(text=WORDS, chunk_delay=0.05))
    reply = _send(first, "long please")
    assert _until(lambda: _live_has(first, reply), 5)  # part-way when the page joins
    followed = second.chat.live(second.local_user.id, reply.id)
    assert _until(lambda: any(message_id == reply.id for message_id, _ in sent), 5)
    assert next(offset for message_id, offset in sent if message_id == reply.id) == 0
    snapshot = followed.wait(-1, 5)
    while not snapshot.done:
        snapshot = followed.wait(snapshot.version, 5)
    assert snapshot.text == WORDS
    assert reply.id in ended


def test_a_follower_asks_again_to_watch_while_the_reply_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The owner may have missed the first ask (its listening connection was being
    replaced): each re-read of a reply still being written asks again; a finished one not."""
    monkeypatch.setattr(relay_module, "REREAD_SECONDS", 0.0)
    rows = [
        SimpleNamespace(status=MessageStatus.STREAMING, content="par"),
        SimpleNamespace(status=MessageStatus.COMPLETE, content="partial, then whole"),
    ]
    asked: list[int] = []
    reply = RemoteReply(7, lambda: rows[0], "", watch=lambda: asked.append(7))  # type: ignore[arg-type,return-value]
    snapshot = reply.wait(-1, 0)
    assert (snapshot.text, asked) == ("par", [7])
    rows.pop(0)
    snapshot = reply.wait(snapshot.version, 0)
    assert snapshot.done and snapshot.text == "partial, then whole"
    assert asked == [7]


def test_stop_on_another_process_ends_the_stream(
    two_processes: tuple[Services, Services], fake_api: FakeOpenAI
) -> None:
    """The owner closes the upstream stream and keeps the partial text. (It takes a few tens
    of milliseconds; the waits below are bounds for a busy machine, not speed goals.)"""
    first, second = two_processes
    fake_api.enqueue(Behavior(text=WORDS, chunk_delay=0.05))
    reply = _send(first, "long please")
    assert _until(lambda: "w5" in _row(first, reply.id).content or _live_has(first, reply), 5)
    assert second.chat.stop(second.local_user.id, reply.id)
    assert _until(lambda: _row(second, reply.id).status == MessageStatus.STOPPED, 10)
    stopped = _row(second, reply.id)
    assert stopped.content.startswith("w0 w1 w2") and len(stopped.content) < len(WORDS)
    assert _until(lambda: fake_api.chat_requests()[-1].client_disconnected, 2)


def _live_has(services: Services, reply: MessageRecord) -> bool:
    live = services.infra.worker.live(reply.id)
    return live is not None and "w5" in live.text()


def test_another_process_restarting_leaves_a_reply_unharmed(
    team_settings: Settings, fake_api: FakeOpenAI
) -> None:
    first = build_services(team_settings, prefetch_models=False)
    second = build_services(team_settings, prefetch_models=False)
    try:
        fake_api.enqueue(Behavior(text=WORDS, chunk_delay=0.01))
        reply = _send(first, "long please")
        fake_api.wait_for_requests(1)
        second.close()
        second = build_services(team_settings, prefetch_models=False)
        assert first.infra.worker.wait_idle(10)
        final = _row(second, reply.id)
        assert (final.status, final.content) == (MessageStatus.COMPLETE, WORDS)
    finally:
        first.close()
        second.close()


def test_a_process_that_stops_beating_has_its_replies_closed_by_another(
    two_processes: tuple[Services, Services], fake_api: FakeOpenAI
) -> None:
    first, second = two_processes
    user = first.local_user.id
    chats = first.infra.chats
    conversation = chats.create_conversation(user, "t", "gpt-4o")
    # A reply owned by a process that beat once and then died (killed with SIGKILL).
    first.infra.processes.register("killed", "elsewhere", 99)
    orphan = chats.start_reply(
        conversation.id,
        parent_id=None,
        user_text="question",
        model="gpt-4o",
        request_params={"stream": True},
        settings={},
        owner_process="killed",
    )[-1]
    chats.save_progress(orphan.id, "partial text")
    followed = second.chat.live(user, orphan.id)
    assert followed is not None
    started = time.monotonic()
    snapshot = followed.wait(-1, 1)
    while not snapshot.done and time.monotonic() - started < STALE_SECONDS * 3:
        snapshot = followed.wait(snapshot.version, 1)
    assert snapshot.done, "the reply of a dead process was never closed"
    # The reaper's beat closes it and tells followers at once (a bound, not a speed goal).
    assert time.monotonic() - started <= STALE_SECONDS * 3 + 2
    closed = _row(second, orphan.id)
    assert (closed.status, closed.content) == (MessageStatus.ERROR, "partial text")
    assert closed.error_code == "server_restarted"
    # Retry on the other process answers it.
    retried = second.chat.retry(user, orphan.id)
    assert second.infra.worker.wait_idle(10)
    answer = _row(second, retried.thread[-1].id)
    assert answer.status == MessageStatus.COMPLETE and answer.content == "Echo: question"


def test_stop_of_a_reply_whose_process_died_closes_it_as_stopped(
    two_processes: tuple[Services, Services],
) -> None:
    first, second = two_processes
    user = first.local_user.id
    conversation = first.infra.chats.create_conversation(user, "t", "gpt-4o")
    orphan = first.infra.chats.start_reply(
        conversation.id,
        parent_id=None,
        user_text="q",
        model="gpt-4o",
        request_params={},
        settings={},
        owner_process="never-registered",
    )[-1]
    first.infra.chats.save_progress(orphan.id, "kept")
    assert second.chat.stop(user, orphan.id)
    assert (_row(first, orphan.id).status, _row(first, orphan.id).content) == ("stopped", "kept")


def test_a_disabled_account_is_refused_on_every_process(
    two_processes: tuple[Services, Services],
) -> None:
    first, second = two_processes
    admin = first.infra.users.create_user("boss", role="admin")
    mate = first.accounts.create_user(admin, "mate", "another long password")
    first.accounts.set_disabled(admin, mate.id, True)
    with pytest.raises(AccountDisabled):
        second.chat.send(mate.id, None, "hello", PARAMS)


def test_nobody_follows_or_stops_someone_elses_reply(
    two_processes: tuple[Services, Services], fake_api: FakeOpenAI
) -> None:
    first, second = two_processes
    admin = first.infra.users.create_user("boss", role="admin")
    other = first.accounts.create_user(admin, "other", "another long password")
    fake_api.enqueue(Behavior(text=WORDS, chunk_delay=0.01))
    reply = _send(first, "mine")
    with pytest.raises(ConversationNotFound):
        second.chat.live(other.id, reply.id)
    with pytest.raises(ConversationNotFound):
        second.chat.stop(other.id, reply.id)
    assert second.chat.message(other.id, reply.id) is None
    assert first.infra.worker.wait_idle(10)


def _fresh_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_processes_starting_together_migrate_once(
    dialect: str, postgres_url: str, tmp_path: Path
) -> None:
    url = postgres_url if dialect == "postgresql" else f"sqlite:///{tmp_path / 'together.db'}"
    if dialect == "postgresql":
        _fresh_schema(url)
    databases = [Database(url) for _ in range(4)]
    errors: list[BaseException] = []
    gate = threading.Barrier(len(databases))

    def start(database: Database) -> None:
        try:
            gate.wait()
            upgrade_to_head(database.engine)
            # None serves before the schema is current.
            assert current_revision(database.engine) == HEAD_REVISION
        except BaseException as exc:  # reported below, from the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(database,)) for database in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with databases[0].engine.connect() as connection:
        versions = connection.scalars(text("select version_num from alembic_version")).all()
    assert versions == [HEAD_REVISION]
    for database in databases:
        database.dispose()
