"""Folders, the archive, bulk actions, temporary chats and retention: storage on SQLite and
PostgreSQL, then the use cases."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, event, update

from chatcore.chat.library import BulkScope
from chatcore.chat.params import GenerationParams
from chatcore.config import Settings
from chatcore.errors import AccountError, LibraryError
from chatcore.wiring import Services, build_services
from storage import ChatRepository, Database, UserRepository
from storage import library as library_module
from storage.library import FolderNameTaken, LibraryRepository
from storage.models import Conversation
from tests.support.fake_openai import FakeOpenAI

NOW = datetime.now(UTC)


@pytest.fixture
def library(database: Database) -> LibraryRepository:
    return LibraryRepository(database)


@pytest.fixture
def people(database: Database) -> tuple[int, int]:
    users = UserRepository(database)
    return users.create_user("ann").id, users.create_user("bob").id


def _conversation(repo: ChatRepository, user_id: int, title: str, **kwargs: object) -> str:
    return repo.create_conversation(user_id, title, "gpt-4o", **kwargs).id  # type: ignore[arg-type]


def _last_used(database: Database, conversation_id: str, moment: datetime) -> None:
    with database.session() as session:
        session.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(updated_at=moment)
        )


def _titles(repo: ChatRepository, user_id: int, **kwargs: object) -> list[str]:
    page = repo.list_conversations(user_id, limit=100, **kwargs)  # type: ignore[arg-type]
    return [conversation.title for conversation in page.items]


def test_folders_are_each_persons_own(
    library: LibraryRepository, repo: ChatRepository, people: tuple[int, int]
) -> None:
    ann, bob = people
    work = library.create_folder(ann, "Work")
    library.create_folder(ann, "阅读")
    library.create_folder(bob, "Work")  # the same name is another person's business
    with pytest.raises(FolderNameTaken):
        library.create_folder(ann, "Work")
    first = _conversation(repo, ann, "plan")
    assert library.move_conversation(ann, first, work.id)
    assert [(f.name, f.conversations) for f in library.list_folders(ann)] == [
        ("Work", 1),
        ("阅读", 0),
    ]
    assert not library.move_conversation(bob, first, None)  # not his conversation
    bobs = library.list_folders(bob)[0]
    assert not library.move_conversation(ann, first, bobs.id)  # not her folder
    assert repo.get_conversation(ann, first).folder_id == work.id  # type: ignore[union-attr]
    assert library.get_folder(bob, work.id) is None
    assert not library.delete_folder(bob, work.id)
    assert not library.update_folder(bob, work.id, name="Mine", preset_id=None)


def test_filed_conversations_leave_the_history_and_return_when_the_folder_goes(
    library: LibraryRepository, repo: ChatRepository, people: tuple[int, int]
) -> None:
    ann, _bob = people
    folder = library.create_folder(ann, "Project")
    filed = _conversation(repo, ann, "filed", folder_id=folder.id)
    _conversation(repo, ann, "loose")
    assert _titles(repo, ann) == ["loose"]
    assert _titles(repo, ann, folder_id=folder.id) == ["filed"]
    assert library.delete_folder(ann, folder.id)
    assert sorted(_titles(repo, ann)) == ["filed", "loose"]
    assert repo.get_conversation(ann, filed).folder_id is None  # type: ignore[union-attr]
    assert library.list_folders(ann) == []


def test_a_folder_keeps_only_a_preset_its_owner_can_see(
    library: LibraryRepository, repo: ChatRepository, people: tuple[int, int]
) -> None:
    ann, bob = people
    private = repo.save_preset(bob, "bob's", {"temperature": 0.1}, shared=False)
    shared = repo.save_preset(bob, "team", {"temperature": 0.2}, shared=True)
    assert library.create_folder(ann, "A", private.id).preset_id is None
    folder = library.create_folder(ann, "B", shared.id)
    assert folder.preset_id == shared.id
    assert library.update_folder(ann, folder.id, name="B2", preset_id=None)
    assert library.get_folder(ann, folder.id).preset_id is None  # type: ignore[union-attr]
    with pytest.raises(FolderNameTaken):
        library.update_folder(ann, folder.id, name="A", preset_id=None)
    repo.delete_preset(bob, shared.id)  # gone from under the folder: the link clears
    library.update_folder(ann, folder.id, name="B3", preset_id=shared.id)
    assert library.get_folder(ann, folder.id).preset_id is None  # type: ignore[union-attr]


def test_archive_hides_and_restores(
    library: LibraryRepository, repo: ChatRepository, people: tuple[int, int]
) -> None:
    ann, bob = people
    folder = library.create_folder(ann, "F")
    kept = _conversation(repo, ann, "kept")
    hidden = _conversation(repo, ann, "hidden", folder_id=folder.id)
    assert library.set_archived(ann, hidden, True)
    assert not library.set_archived(bob, kept, True)
    assert _titles(repo, ann) == ["kept"]
    assert _titles(repo, ann, folder_id=folder.id) == []
    assert _titles(repo, ann, archived=True) == ["hidden"]  # from every folder
    assert library.list_folders(ann)[0].conversations == 0
    assert library.set_archived(ann, hidden, False)
    assert _titles(repo, ann, folder_id=folder.id) == ["hidden"]


def test_bulk_actions_touch_exactly_their_scope(
    database: Database,
    library: LibraryRepository,
    repo: ChatRepository,
    people: tuple[int, int],
) -> None:
    ann, bob = people
    folder = library.create_folder(ann, "Old project")
    in_folder = [_conversation(repo, ann, f"f{i}", folder_id=folder.id) for i in range(3)]
    old = [_conversation(repo, ann, f"old{i}") for i in range(2)]
    recent = _conversation(repo, ann, "recent")
    bobs_old = _conversation(repo, bob, "bob's old")
    temporary_old = _conversation(repo, ann, "temporary", temporary=True)
    for conversation_id in [*old, bobs_old, temporary_old, in_folder[0]]:
        _last_used(database, conversation_id, NOW - timedelta(days=40))
    cutoff = NOW - timedelta(days=30)

    assert library.count_matching(ann, folder_id=folder.id) == 3
    assert library.count_matching(ann, before=cutoff) == 3  # old0, old1, f0
    assert library.count_matching(ann, folder_id=folder.id, before=cutoff) == 1
    assert library.archive_matching(ann, before=cutoff) == 3
    assert library.count_matching(ann, before=cutoff, archived=False) == 0
    assert _titles(repo, ann) == ["recent"]
    assert library.delete_matching(ann, folder_id=folder.id) == 3  # archived f0 included
    assert library.list_folders(ann)[0].conversations == 0
    assert all(repo.get_conversation(ann, c) is None for c in in_folder)
    assert repo.get_conversation(ann, recent) is not None
    assert repo.get_conversation(bob, bobs_old) is not None
    assert repo.get_conversation(ann, temporary_old) is not None  # bulk never sees them


def test_temporary_chats_are_never_listed_and_end_when_left_or_abandoned(
    database: Database,
    library: LibraryRepository,
    repo: ChatRepository,
    people: tuple[int, int],
) -> None:
    ann, bob = people
    left = _conversation(repo, ann, "left", temporary=True)
    abandoned = _conversation(repo, ann, "abandoned", temporary=True)
    fresh = _conversation(repo, bob, "fresh", temporary=True)
    ordinary = _conversation(repo, ann, "ordinary")
    message = repo.add_message(left, "user", "secret plans", parent_id=None)
    assert _titles(repo, ann) == ["ordinary"]
    assert _titles(repo, ann, archived=True) == []
    assert not library.delete_temporary(bob, left)
    assert not library.delete_temporary(ann, ordinary)  # only a temporary chat ends so
    assert library.delete_temporary(ann, left)
    assert repo.get_message(message.id) is None  # its messages go with it
    _last_used(database, abandoned, NOW - timedelta(hours=25))
    assert library.purge_temporary(NOW - timedelta(hours=24)) == 1
    assert repo.get_conversation(ann, abandoned) is None
    assert repo.get_conversation(bob, fresh) is not None
    assert repo.get_conversation(ann, ordinary) is not None


def test_retention_counts_then_deletes_everyones_old_conversations(
    database: Database,
    library: LibraryRepository,
    repo: ChatRepository,
    people: tuple[int, int],
) -> None:
    ann, bob = people
    assert library.retention_days() is None  # off by default
    old = [_conversation(repo, ann, "a"), _conversation(repo, bob, "b")]
    repo.set_pinned(ann, old[0], True)
    library.set_archived(bob, old[1], True)
    kept = _conversation(repo, ann, "c")
    for conversation_id in old:
        _last_used(database, conversation_id, NOW - timedelta(days=100))
    cutoff = NOW - timedelta(days=90)
    assert library.count_not_updated_since(cutoff) == 2
    library.set_retention_days(90)
    assert library.retention_days() == 90
    assert library.delete_not_updated_since(cutoff) == 2
    assert repo.get_conversation(ann, kept) is not None
    library.set_retention_days(None)
    assert library.retention_days() is None


def test_bulk_deletions_take_a_few_conversations_per_transaction(
    database: Database,
    library: LibraryRepository,
    repo: ChatRepository,
    people: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLite has one writer: a long deletion in one transaction would hold every
    teammate's sends past the busy timeout, so other writers get in between batches."""
    ann, bob = people
    monkeypatch.setattr(library_module, "DELETE_BATCH", 2)
    doomed = [_conversation(repo, ann, f"d{i}") for i in range(5)]
    for conversation_id in doomed:
        repo.add_message(conversation_id, "user", "hello", parent_id=None)
    bobs = _conversation(repo, bob, "bob's")
    for conversation_id in [*doomed[:3], bobs]:
        _last_used(database, conversation_id, NOW - timedelta(days=100))
    commits: list[Connection] = []

    def count(connection: Connection) -> None:
        commits.append(connection)

    event.listen(database.engine, "commit", count)
    try:
        assert library.delete_matching(ann, before=NOW - timedelta(days=30)) == 3
        deleted_old = len(commits)
        assert library.delete_matching(ann) == 2
        deleted_rest = len(commits) - deleted_old
        assert library.delete_not_updated_since(NOW - timedelta(days=30)) == 1
    finally:
        event.remove(database.engine, "commit", count)
    assert deleted_old == 2  # 2 + 1: the short batch says it was the last
    assert deleted_rest == 2  # 2, then an empty batch to be sure
    assert all(repo.get_conversation(ann, c) is None for c in doomed)
    assert repo.get_conversation(bob, bobs) is None  # retention: everyone's


# Use cases --------------------------------------------------------------------------------


def _admin(services: Services) -> object:
    return services.local_user  # single-user mode's account administers itself


def test_a_new_chat_in_a_folder_is_filed_and_starts_from_its_preset(
    services: Services, fake_api: FakeOpenAI
) -> None:
    me = services.local_user.id
    preset = services.presets.save(
        me, "Translator", GenerationParams(model="gpt-4o", temperature=0.3), shared=False
    )
    folder = services.library.create_folder(me, "  Translations  ", preset.id)
    assert folder.name == "Translations"
    params = services.library.new_chat_params(me, folder.id)
    assert params is not None and params.temperature == 0.3
    view = services.chat.send(me, None, "翻译这句话", params, folder_id=folder.id)
    assert services.infra.worker.wait_idle(10)
    assert view.conversation.folder_id == folder.id
    assert services.chat.list_conversations(me).items == []
    assert [c.id for c in services.chat.list_conversations(me, folder_id=folder.id).items] == [
        view.conversation.id
    ]
    services.presets.delete(me, preset.id)
    assert services.library.new_chat_params(me, folder.id) is None


def test_folder_names_are_checked(services: Services) -> None:
    me = services.local_user.id
    for name, code in (("   ", "folder_name_missing"), ("x" * 101, "folder_name_too_long")):
        with pytest.raises(LibraryError) as refused:
            services.library.create_folder(me, name)
        assert refused.value.code == code
    services.library.create_folder(me, "数据")
    with pytest.raises(LibraryError) as taken:
        services.library.create_folder(me, " 数据 ")
    assert taken.value.code == "folder_name_taken"
    with pytest.raises(LibraryError) as gone:
        services.library.update_folder(me, 9999, "x", None)
    assert gone.value.code == "folder_not_found"
    with pytest.raises(LibraryError) as nowhere:
        services.library.move(me, "nope", None)
    assert nowhere.value.code == "folder_not_found"


def test_a_bulk_action_needs_a_scope(services: Services) -> None:
    me = services.local_user.id
    for action in (
        services.library.count_bulk,
        services.library.count_bulk_archive,
        services.library.archive_all,
        services.library.delete_all,
    ):
        with pytest.raises(LibraryError) as refused:
            action(me, BulkScope())
        assert refused.value.code == "bulk_scope_missing"


def test_a_temporary_chat_is_sent_unlisted_and_ends_when_left(
    services: Services, fake_api: FakeOpenAI
) -> None:
    me = services.local_user.id
    view = services.chat.send(
        me, None, "off the record", GenerationParams(model="gpt-4o"), temporary=True
    )
    assert services.infra.worker.wait_idle(10)
    assert view.conversation.temporary
    assert services.chat.list_conversations(me).items == []
    assert services.chat.open(me, view.conversation.id).thread[-1].content  # still usable
    assert services.library.leave_temporary(me, view.conversation.id)
    assert services.chat.message(me, view.thread[-1].id) is None


def test_retention_is_for_administrators_and_applies_at_once(
    services: Services, fake_api: FakeOpenAI
) -> None:
    admin = services.local_user
    member = services.accounts.create_user(admin, "member1", "correct horse battery")
    old = services.infra.chats.create_conversation(member.id, "old", "m").id
    _last_used(services.infra.database, old, NOW - timedelta(days=400))
    for action in (
        lambda: services.library.retention_preview(member, 30),
        lambda: services.library.set_retention(member, 30),
    ):
        with pytest.raises(AccountError):
            action()
    with pytest.raises(LibraryError) as invalid:
        services.library.retention_preview(admin, 0)
    assert invalid.value.code == "retention_days_invalid"
    assert services.library.retention_preview(admin, 365) == 1
    assert services.library.set_retention(admin, 365) == 1
    assert services.library.retention_days() == 365
    assert services.infra.chats.get_conversation(member.id, old) is None
    assert services.library.set_retention(admin, None) == 0
    assert services.library.retention_days() is None


def test_the_sweep_runs_on_the_heartbeat(settings: Settings, fake_api: FakeOpenAI) -> None:
    """Every process deletes abandoned temporary chats by itself, with no page open."""
    built = build_services(
        replace(settings, process_stale_seconds=3, temporary_chat_hours=0.01),
        prefetch_models=False,
    )
    try:
        me = built.local_user.id
        gone = built.infra.chats.create_conversation(me, "t", "m", temporary=True).id
        _last_used(built.infra.database, gone, NOW - timedelta(minutes=5))
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while built.infra.chats.get_conversation(me, gone) and datetime.now(UTC) < deadline:
            time.sleep(0.2)
        assert built.infra.chats.get_conversation(me, gone) is None
    finally:
        built.close()
