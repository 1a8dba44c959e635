"""Files of user messages in the database: written with the question, read back by every
read path in one query (none for a conversation without files), deduplicated by content,
kept across edits, copies and imports, scoped to their owner, and gone with their
conversations. Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, update

from storage import (
    AttachmentKind,
    AttachmentRecord,
    ChatRepository,
    ConversationRecord,
    Database,
    ImportedConversation,
    ImportedMessage,
    MessageRecord,
    NewAttachment,
    Role,
    TransferRepository,
    UserRecord,
    UserRepository,
    upgrade_to_head,
)
from storage.library import LibraryRepository
from storage.migrate import HEAD_REVISION, current_revision
from storage.models import AttachmentBlob, Conversation, MessageAttachment, utcnow
from storage.shares import ShareRepository
from tests.support.old_schema import migrate, populate
from tests.support.sql import statements

PNG = NewAttachment(
    name="screen.png",
    media_type="image/png",
    kind=AttachmentKind.IMAGE,
    data=b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    width=640,
    height=480,
)
NOTES = NewAttachment(
    name="笔记.txt",
    media_type="text/plain",
    kind=AttachmentKind.TEXT,
    data="第一行\nsecond line\n".encode(),
    text="第一行\nsecond line\n",
)
PDF = NewAttachment(
    name="report.pdf",
    media_type="application/pdf",
    kind=AttachmentKind.PDF,
    data=b"%PDF-1.7 not really",
    pages=3,
    text="page one",
)


@pytest.fixture
def ann(database: Database) -> UserRecord:
    return UserRepository(database).ensure_user("ann")


@pytest.fixture
def bob(database: Database) -> UserRecord:
    return UserRepository(database).ensure_user("bob")


def sha(file: NewAttachment) -> str:
    return hashlib.sha256(file.data).hexdigest()


def send(
    repo: ChatRepository,
    user: UserRecord,
    chat: ConversationRecord,
    text: str,
    files: tuple[NewAttachment, ...] = (),
) -> tuple[MessageRecord, MessageRecord]:
    """A question (with `files`) below the visible thread, and its reply finished."""
    started = repo.continue_thread(
        user.id,
        chat.id,
        user_text=text,
        model="gpt-4o",
        request_params={},
        settings={},
        tail=50,
        attachments=files,
    )
    assert started is not None
    question, reply = started.added
    return question, reply


def chat_with(
    repo: ChatRepository, user: UserRecord, *files: NewAttachment, temporary: bool = False
) -> tuple[ConversationRecord, MessageRecord]:
    chat = repo.create_conversation(user.id, "files", "gpt-4o", temporary=temporary)
    question, _ = send(repo, user, chat, "look at these", files)
    return reload(repo, chat), question


def reload(repo: ChatRepository, chat: ConversationRecord) -> ConversationRecord:
    found = repo.get_conversation(chat.user_id, chat.id)
    assert found is not None
    return found


def blob_hashes(database: Database) -> set[str]:
    with database.session() as session:
        return set(session.scalars(select(AttachmentBlob.sha256)))


def attachment_rows(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(MessageAttachment)) or 0)


def described(files: tuple[AttachmentRecord, ...]) -> list[tuple[Any, ...]]:
    """What a file is, apart from its row id and message."""
    return [
        (f.position, f.name, f.media_type, f.kind, f.sha256, f.size, f.width, f.height, f.pages)
        for f in files
    ]


def stored(file: NewAttachment, position: int) -> tuple[Any, ...]:
    """How `file` is described once stored at `position`."""
    return (
        position,
        file.name,
        file.media_type,
        file.kind,
        sha(file),
        len(file.data),
        file.width,
        file.height,
        file.pages,
    )


def test_files_are_written_with_the_question_and_every_read_returns_them(
    repo: ChatRepository, ann: UserRecord, database: Database
) -> None:
    chat = repo.create_conversation(ann.id, "files", "gpt-4o")
    started = repo.continue_thread(
        ann.id,
        chat.id,
        user_text="what is this?",
        model="gpt-4o",
        request_params={},
        settings={},
        tail=50,
        attachments=[PNG, NOTES, PDF],
    )
    assert started is not None
    question, reply = started.added
    assert described(question.attachments) == [stored(PNG, 0), stored(NOTES, 1), stored(PDF, 2)]
    assert [f.text for f in question.attachments] == [None, NOTES.text, PDF.text]
    assert {f.message_id for f in question.attachments} == {question.id}
    assert reply.attachments == ()
    assert started.view.messages == [question, reply]

    chat = reload(repo, chat)
    transfer = TransferRepository(database)
    tree = transfer.conversation_tree(ann.id, chat.id)
    assert tree is not None
    reads: dict[str, list[MessageRecord]] = {
        "get_message": [m for m in [repo.get_message(question.id)] if m],
        "thread": repo.thread(chat),
        "read_thread": repo.load_thread(chat).messages,
        "read_tail": repo.load_thread(chat, tail=10).messages,
        "read_tail through": repo.load_thread(chat, tail=1, through=question.id).messages,
        "export": tree.messages,
        "export all": next(iter(transfer.conversation_trees(ann.id))).messages,
    }
    for name, messages in reads.items():
        asked = next(m for m in messages if m.id == question.id)
        assert asked.attachments == question.attachments, name
        assert all(m.attachments == () for m in messages if m.id != question.id), name

    assert repo.attachment_data([sha(PNG), sha(PDF), "0" * 64]) == {
        sha(PNG): PNG.data,
        sha(PDF): PDF.data,
    }
    assert repo.attachment_data([]) == {}


def test_the_files_of_branches_come_with_the_thread(repo: ChatRepository, ann: UserRecord) -> None:
    """Alternatives (an edited question beside the original) carry their files too."""
    chat, question = chat_with(repo, ann, PNG)
    edited = repo.start_reply(
        chat.id,
        parent_id=None,
        user_text="edited",
        model="gpt-4o",
        request_params={},
        settings={},
        attachments=[NOTES],
    )[0]
    chat = reload(repo, chat)
    for thread in (repo.load_thread(chat), repo.load_thread(chat, tail=10)):
        assert thread.messages[0].id == edited.id
        siblings = {m.id: m.attachments for m in thread.alternatives[edited.id]}
        assert siblings == {question.id: question.attachments, edited.id: edited.attachments}


def test_the_same_bytes_are_stored_once(
    repo: ChatRepository, ann: UserRecord, bob: UserRecord, database: Database
) -> None:
    renamed = NewAttachment("again.png", PNG.media_type, PNG.kind, PNG.data, 640, 480)
    chat, first = chat_with(repo, ann, PNG, renamed)
    _, second = send(repo, ann, chat, "and again", (PNG,))
    _, bobs = chat_with(repo, bob, PNG)
    assert blob_hashes(database) == {sha(PNG)}
    assert attachment_rows(database) == 4
    assert [f.name for f in first.attachments] == ["screen.png", "again.png"]
    assert {f.sha256 for f in (*first.attachments, *second.attachments, *bobs.attachments)} == {
        sha(PNG)
    }


def test_an_edited_question_keeps_the_original_files(
    repo: ChatRepository, ann: UserRecord, database: Database
) -> None:
    chat, question = chat_with(repo, ann, PNG, NOTES)
    edited, reply = repo.start_reply(
        chat.id,
        parent_id=question.parent_id,
        user_text="look again",
        model="gpt-4o",
        request_params={},
        settings={},
        attachments=[PDF],
        copy_attachments_from=question.id,
    )
    assert described(edited.attachments) == [
        *described(question.attachments),
        stored(PDF, 2),
    ]
    assert {f.message_id for f in edited.attachments} == {edited.id}
    assert not {f.id for f in edited.attachments} & {f.id for f in question.attachments}
    assert reply.attachments == ()
    assert blob_hashes(database) == {sha(PNG), sha(NOTES), sha(PDF)}
    assert repo.get_message(edited.id) == edited
    assert repo.get_message(question.id) == question  # the original keeps its own

    # Only a message of the same conversation gives its files.
    _, elsewhere = chat_with(repo, ann, PNG)
    stolen = repo.start_reply(
        chat.id,
        parent_id=None,
        user_text="x",
        model="gpt-4o",
        request_params={},
        settings={},
        copy_attachments_from=elsewhere.id,
    )[0]
    assert stolen.attachments == ()
    assert repo.get_message(stolen.id) == stolen


def test_files_belong_to_a_user_message(repo: ChatRepository, ann: UserRecord) -> None:
    chat, question = chat_with(repo, ann, PNG)
    with pytest.raises(ValueError):
        repo.start_reply(
            chat.id,
            parent_id=question.id,
            user_text=None,
            model="gpt-4o",
            request_params={},
            settings={},
            attachments=[NOTES],
        )


def test_only_the_owner_or_the_shared_conversation_reaches_a_file(
    repo: ChatRepository, ann: UserRecord, bob: UserRecord
) -> None:
    chat, question = chat_with(repo, ann, PNG, NOTES)
    bobs_chat, _ = chat_with(repo, bob, PNG)
    notes = question.attachments[1]
    assert repo.attachment_of(ann.id, notes.id) == (notes, NOTES.data)
    assert repo.attachment_of(bob.id, notes.id) is None
    assert repo.attachment_of(ann.id, 10**9) is None
    assert repo.attachment_in(chat.id, notes.id) == (notes, NOTES.data)
    assert repo.attachment_in(bobs_chat.id, notes.id) is None
    assert repo.attachment_in(chat.id, 10**9) is None


def test_deleting_conversations_deletes_the_bytes_no_one_else_carries(
    repo: ChatRepository, ann: UserRecord, bob: UserRecord, database: Database
) -> None:
    """Every way conversations are deleted prunes the blobs left without a row."""
    library = LibraryRepository(database)
    only_png, _ = chat_with(repo, ann, PNG)
    png_and_notes, _ = chat_with(repo, ann, PNG, NOTES)
    bobs_pdf, _ = chat_with(repo, bob, PDF)
    assert blob_hashes(database) == {sha(PNG), sha(NOTES), sha(PDF)}

    assert repo.delete_conversation(ann.id, only_png.id)
    assert blob_hashes(database) == {sha(PNG), sha(NOTES), sha(PDF)}  # still carried
    assert not repo.delete_conversation(bob.id, png_and_notes.id)  # not bob's
    assert library.delete_matching(ann.id) == 1
    assert blob_hashes(database) == {sha(PDF)}
    assert attachment_rows(database) == 1

    temporary, _ = chat_with(repo, bob, NOTES, temporary=True)
    assert library.delete_temporary(bob.id, temporary.id)
    assert blob_hashes(database) == {sha(PDF)}

    chat_with(repo, bob, PNG, temporary=True)
    assert library.purge_temporary(utcnow() + timedelta(seconds=1)) == 1
    assert blob_hashes(database) == {sha(PDF)}

    assert library.delete_not_updated_since(utcnow() + timedelta(seconds=1)) == 1
    assert repo.get_conversation(bob.id, bobs_pdf.id) is None
    assert blob_hashes(database) == set()
    assert attachment_rows(database) == 0


def test_a_blob_an_unrelated_conversation_carries_outlives_a_retention_sweep(
    repo: ChatRepository, ann: UserRecord, database: Database
) -> None:
    old, _ = chat_with(repo, ann, PNG, NOTES)
    with database.session() as session:
        session.execute(
            update(Conversation)
            .where(Conversation.id == old.id)
            .values(updated_at=utcnow() - timedelta(days=40))
        )
    chat_with(repo, ann, NOTES)
    assert LibraryRepository(database).delete_not_updated_since(utcnow() - timedelta(days=30)) == 1
    assert blob_hashes(database) == {sha(NOTES)}


def test_a_copied_shared_conversation_carries_its_files(
    repo: ChatRepository, ann: UserRecord, bob: UserRecord, database: Database
) -> None:
    chat, question = chat_with(repo, ann, PNG, NOTES)
    question_id = question.id
    reply = repo.thread(chat)[-1]
    repo.mark_context_start([reply.id], question_id)
    copy = ShareRepository(database).copy_conversation(chat.id, bob.id, "copy")
    copied_question, copied_reply = repo.thread(copy)
    assert described(copied_question.attachments) == described(question.attachments)
    assert copied_reply.context_start_id == copied_question.id
    assert repo.delete_conversation(ann.id, chat.id)
    assert blob_hashes(database) == {sha(PNG), sha(NOTES)}
    first = copied_question.attachments[0]
    assert repo.attachment_of(bob.id, first.id) == (first, PNG.data)


def test_an_import_writes_its_files(
    repo: ChatRepository, ann: UserRecord, database: Database
) -> None:
    chat_with(repo, ann, PNG)  # the same bytes already stored: one blob still
    now = utcnow()
    imported = ImportedConversation(
        title="imported",
        model="gpt-4o",
        settings={},
        created_at=now,
        updated_at=now,
        messages=[
            ImportedMessage(
                key=0,
                parent_key=None,
                role="user",
                content="see",
                status="complete",
                created_at=now,
                attachments=(PNG, PDF),
            ),
            ImportedMessage(
                key=1,
                parent_key=0,
                role="assistant",
                content="ok",
                status="complete",
                created_at=now,
            ),
        ],
        active_leaf_key=1,
    )
    transfer = TransferRepository(database)
    _, ids = transfer.import_conversations(ann.id, "imports", [imported, imported])
    assert blob_hashes(database) == {sha(PNG), sha(PDF)}
    for conversation_id in ids:
        tree = transfer.conversation_tree(ann.id, conversation_id)
        assert tree is not None
        question, reply = tree.messages
        assert [(f.position, f.name, f.sha256) for f in question.attachments] == [
            (0, "screen.png", sha(PNG)),
            (1, "report.pdf", sha(PDF)),
        ]
        assert reply.attachments == ()
        chat = repo.get_conversation(ann.id, conversation_id)
        assert chat is not None
        assert repo.thread(chat)[0].attachments == question.attachments


def test_the_context_start_is_marked_on_replies(repo: ChatRepository, ann: UserRecord) -> None:
    chat, first = chat_with(repo, ann)
    second, reply = send(repo, ann, chat, "later")
    repo.mark_context_start([reply.id], second.id)
    repo.mark_context_start([], first.id)  # nothing to mark
    chat = reload(repo, chat)
    marked = repo.get_message(reply.id)
    assert marked is not None
    assert marked.context_start_id == second.id
    assert repo.thread(chat)[-1].context_start_id == second.id
    assert repo.load_thread(chat).messages[-1].context_start_id == second.id
    assert repo.load_thread(chat, tail=2).messages[-1].context_start_id == second.id
    assert all(m.context_start_id is None for m in repo.thread(chat)[:-1])


def test_a_thread_without_files_costs_no_extra_query(
    repo: ChatRepository, ann: UserRecord, database: Database
) -> None:
    """Page runs read no attachment table for a conversation without files, and one query
    for one with files, whatever the number of files or messages carrying them."""
    plain = repo.create_conversation(ann.id, "plain", "gpt-4o")
    for number in range(6):
        send(repo, ann, plain, f"question {number}")
    with_files = repo.create_conversation(ann.id, "files", "gpt-4o")
    for number in range(6):
        send(repo, ann, with_files, f"question {number}", (PNG, NOTES) if number % 2 else ())
    plain, with_files = reload(repo, plain), reload(repo, with_files)
    transfer = TransferRepository(database)

    def reads(chat: ConversationRecord) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}
        question = repo.thread(chat)[-2]
        for name, read in {
            "tail": lambda: repo.load_thread(chat, tail=4),
            "tail through": lambda: repo.load_thread(chat, tail=2, through=question.id),
            "thread": lambda: repo.thread(chat),
            "whole thread": lambda: repo.load_thread(chat),
            "message": lambda: repo.get_message(question.id),
            "export": lambda: transfer.conversation_tree(ann.id, chat.id),
        }.items():
            with statements(database) as run:
                read()
            seen[name] = run
        return seen

    without, with_ = reads(plain), reads(with_files)
    for name, run in without.items():
        assert not [s for s in run if "message_attachments" in s], name
    for name, run in with_.items():
        assert len([s for s in run if "message_attachments" in s]) == 1, name
        assert len(run) == len(without[name]) + 1, name


def test_upgrading_from_0009_keeps_the_conversations_and_adds_files(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        migrate(db, "0009")
        rows = populate(db)
        upgrade_to_head(db.engine)
        assert current_revision(db.engine) == HEAD_REVISION
        tables = set(inspect(db.engine).get_table_names())
        assert {"attachment_blobs", "message_attachments"} <= tables

        repo = ChatRepository(db)
        chat = repo.get_conversation(rows.user_id, rows.conversation_id)
        assert chat is not None
        question, reply = repo.thread(chat)
        assert (question.content, reply.content) == ("你好", "hello")
        assert question.attachments == reply.attachments == ()
        assert question.context_start_id is None
        user = UserRepository(db).get_user(rows.user_id)
        asked, _ = send(repo, user, chat, "and this?", (PNG,))
        assert repo.thread(reload(repo, chat))[-2].attachments == asked.attachments

        # Down and up again: the old schema comes back whole, files gone with their tables.
        migrate(db, "0009", down=True)
        assert not {"attachment_blobs", "message_attachments"} & set(
            inspect(db.engine).get_table_names()
        )
        columns = {c["name"] for c in inspect(db.engine).get_columns("messages")}
        assert not {"attachment_count", "context_start_id"} & columns
        upgrade_to_head(db.engine)
        assert [m.content for m in repo.thread(reload(repo, chat))] == [
            "你好",
            "hello",
            "and this?",
            "",
        ]
    finally:
        db.dispose()


def test_a_message_added_without_a_turn_has_no_files(repo: ChatRepository, ann: UserRecord) -> None:
    chat = repo.create_conversation(ann.id, "t", "m")
    added = repo.add_message(chat.id, Role.USER, "q", parent_id=None)
    assert added.attachments == ()
    assert repo.get_message(added.id) == added
