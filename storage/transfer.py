"""Whole conversation trees out (export) and in (import), in a few statements whatever their
number: exports read the messages of many conversations per query, and an import inserts
every message of every conversation in one multi-row INSERT, ids taken beforehand.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from operator import attrgetter
from typing import Any, cast

from sqlalchemy import JSON, Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.attachments import blob_data, files_in_conversations, store_imported_files
from storage.convert import (
    MESSAGE_COLUMNS,
    conversation_record,
    folder_record,
    message_from_row,
    with_files,
)
from storage.db import Database
from storage.models import Conversation, Folder, Message, utcnow
from storage.records import (
    MESSAGE_CONTENT_FIELDS,
    ConversationRecord,
    ConversationTree,
    FolderRecord,
    ImportedConversation,
    ImportedMessage,
    MessageRecord,
)

FOLDER_NAME_MAX = 100  # folders.name
CONVERSATIONS_PER_QUERY = 200  # an IN list every database takes, and bounded memory
# Conversations an import writes per transaction: about a second of SQLite's one write lock.
IMPORT_BATCH = 50
_MESSAGES = cast(Table, Message.__table__)
_CONVERSATIONS = cast(Table, Conversation.__table__)
# The message columns an import writes as given (ids, links and times are set here).
_COPIED = MESSAGE_CONTENT_FIELDS
_JSON_COLUMNS = ("request_params", "error_params", "tool_calls")
_copied_values = attrgetter(*_COPIED)


class TransferRepository:
    """Never a temporary conversation out, never half a conversation in."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # Export ------------------------------------------------------------------------------

    def exportable(self, user_id: int, conversation_id: str) -> ConversationRecord | None:
        """None for a missing conversation, someone else's, and a temporary one alike."""
        with self.db.session() as session:
            row = session.scalar(
                select(Conversation).where(
                    Conversation.id == conversation_id,
                    Conversation.user_id == user_id,
                    Conversation.temporary.is_(False),
                )
            )
            return conversation_record(row) if row else None

    def attachment_data(self, shas: Collection[str]) -> dict[str, bytes]:
        """Exported files' bytes, by content hash."""
        with self.db.session() as session:
            return blob_data(session, shas)

    def conversation_tree(self, user_id: int, conversation_id: str) -> ConversationTree | None:
        """The conversation and all its messages, or None as for `exportable`."""
        conversation = self.exportable(user_id, conversation_id)
        if conversation is None:
            return None
        with self.db.session() as session:
            return self._trees(session, [conversation])[0]

    def conversation_trees(self, user_id: int) -> Iterator[ConversationTree]:
        """Every conversation of the person's but temporary ones, oldest first, read a batch
        of conversations per query so a thousand cost a handful of round trips."""
        with self.db.session() as session:
            rows = session.scalars(
                select(Conversation)
                .where(Conversation.user_id == user_id, Conversation.temporary.is_(False))
                .order_by(Conversation.created_at, Conversation.id)
            )
            conversations = [conversation_record(row) for row in rows]
        for start in range(0, len(conversations), CONVERSATIONS_PER_QUERY):
            batch = conversations[start : start + CONVERSATIONS_PER_QUERY]
            with self.db.session() as session:
                trees = self._trees(session, batch)
            yield from trees

    def _trees(
        self, session: Session, conversations: list[ConversationRecord]
    ) -> list[ConversationTree]:
        # Rows read straight into records through Core: a hundred thousand ORM objects, or
        # mappings, would cost seconds. The batch's files in one more query, if it has any.
        messages: dict[str, list[MessageRecord]] = defaultdict(list)
        ids = [c.id for c in conversations]
        rows = session.execute(
            select(*MESSAGE_COLUMNS)
            .where(_MESSAGES.c.conversation_id.in_(ids))
            .order_by(_MESSAGES.c.conversation_id, _MESSAGES.c.id)
        ).all()
        files = files_in_conversations(session, ids) if with_files(rows) else {}
        for row in rows:
            record = message_from_row(row, files)
            messages[record.conversation_id].append(record)
        return [ConversationTree(c, messages.get(c.id, [])) for c in conversations]

    # Import ------------------------------------------------------------------------------

    def import_conversations(
        self, user_id: int, folder_name: str, conversations: Sequence[ImportedConversation]
    ) -> tuple[FolderRecord, list[str]]:
        """Write `conversations` into a new folder named `folder_name` (or "name (2)"… when
        the person has one by that name already). Returns the folder and the new
        conversations' ids, in order.

        Written IMPORT_BATCH conversations per transaction, each conversation whole within
        one: SQLite has one writer at a time, and a thousand conversations in one
        transaction would hold every teammate's sends (and the heartbeat) past the busy
        timeout. A failure part-way keeps the batches already written, in the import's
        folder; no conversation is ever half-written.
        """
        with self.db.session() as session:
            folder = self._new_folder(session, user_id, folder_name)
            folder_id = folder.id
            ids = self._write_batch(session, user_id, folder_id, conversations[:IMPORT_BATCH])
            written = folder_record(folder)
        for start in range(IMPORT_BATCH, len(conversations), IMPORT_BATCH):
            with self.db.session() as session:
                batch = conversations[start : start + IMPORT_BATCH]
                ids.extend(self._write_batch(session, user_id, folder_id, batch))
        return written, ids

    def _write_batch(
        self,
        session: Session,
        user_id: int,
        folder_id: int,
        conversations: Sequence[ImportedConversation],
    ) -> list[str]:
        """Message ids are taken before anything is written, so every row (its parent, its
        choice group, its conversation's active leaf) is complete as inserted, and a batch
        is two multi-row INSERTs rather than a statement per message. They are handed out in
        each conversation's order, parents first, so ids grow from parent to child and
        siblings keep their order, as they do for messages written one by one."""
        # A write first: on SQLite it takes the one write lock before the ids are read, so
        # no other connection can take them in between (see _allocate_message_ids).
        session.execute(
            update(cast(Table, Folder.__table__))
            .where(Folder.id == folder_id)
            .values(name=Folder.name)
        )
        total = sum(len(conversation.messages) for conversation in conversations)
        fresh = iter(self._allocate_message_ids(session, total))
        ids = [secrets.token_hex(16) for _ in conversations]
        keyed = [{m.key: next(fresh) for m in c.messages} for c in conversations]
        if conversations:
            session.execute(
                insert(_CONVERSATIONS),
                [
                    {
                        "id": ids[index],
                        "user_id": user_id,
                        "title": conversation.title,
                        "model": conversation.model,
                        "settings": conversation.settings,
                        "active_leaf_id": (
                            None
                            if conversation.active_leaf_key is None
                            else keyed[index][conversation.active_leaf_key]
                        ),
                        "pinned": conversation.pinned,
                        "archived": conversation.archived,
                        "folder_id": folder_id,
                        "temporary": False,
                        "created_at": conversation.created_at,
                        "updated_at": conversation.updated_at,
                    }
                    for index, conversation in enumerate(conversations)
                ],
            )
        rows = [
            _message_row(ids[index], keyed[index], message)
            for index, conversation in enumerate(conversations)
            for message in conversation.messages
        ]
        if rows:
            session.execute(_INSERT_MESSAGES, rows)
        files = [
            (keyed[index][message.key], message.attachments)
            for index, conversation in enumerate(conversations)
            for message in conversation.messages
            if message.attachments
        ]
        store_imported_files(session, files)
        return ids

    def _allocate_message_ids(self, session: Session, count: int) -> list[int]:
        """`count` message ids nobody else can take, ascending.

        PostgreSQL: from the table's own sequence, in one round trip. SQLite: after the
        highest id there is, read once this transaction writes (the folder is already
        inserted), when no other connection can write until it ends.
        """
        if count == 0:
            return []
        if session.get_bind().dialect.name == "postgresql":
            taken = session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('messages', 'id')) "
                    "FROM generate_series(1, :count)"
                ),
                {"count": count},
            )
            return sorted(taken)
        highest = session.scalar(select(func.coalesce(func.max(Message.id), 0))) or 0
        return list(range(highest + 1, highest + 1 + count))

    def _new_folder(self, session: Session, user_id: int, name: str) -> Folder:
        """The first free name among "name", "name (2)", "name (3)"…, each within the column's
        100 characters. The unique constraint decides (another tab of this person's may take
        a name meanwhile): INSERT … ON CONFLICT DO NOTHING, and the next name if it did
        nothing. Not a savepoint: pysqlite would commit the folder on its own."""
        taken = set(session.scalars(select(Folder.name).where(Folder.user_id == user_id)))
        folders = cast(Table, Folder.__table__)
        dialect = session.get_bind().dialect.name
        number = 1
        while True:
            suffix = "" if number == 1 else f" ({number})"
            candidate = name[: FOLDER_NAME_MAX - len(suffix)].rstrip() + suffix
            number += 1
            if candidate in taken:
                continue
            values = {"user_id": user_id, "name": candidate, "created_at": utcnow()}
            if dialect == "postgresql":
                statement: Any = postgresql.insert(folders).on_conflict_do_nothing()
            elif dialect == "sqlite":
                statement = sqlite.insert(folders).on_conflict_do_nothing()
            else:
                statement = insert(folders)
            new_id = session.execute(statement.values(values).returning(folders.c.id)).scalar()
            if new_id is None:
                taken.add(candidate)
                continue
            folder = session.get(Folder, new_id)
            assert folder is not None  # inserted just now, in this transaction
            return folder


# None in a JSON column is stored as SQL NULL, as for messages written one by one (the
# column's own type would write the JSON text 'null').
_INSERT_MESSAGES = insert(_MESSAGES).values(
    {name: bindparam(name, type_=JSON(none_as_null=True)) for name in _JSON_COLUMNS}
)


def _message_row(
    conversation_id: str, keyed: dict[int, int], message: ImportedMessage
) -> dict[str, Any]:
    return {
        "id": keyed[message.key],
        "conversation_id": conversation_id,
        "parent_id": None if message.parent_key is None else keyed[message.parent_key],
        "choice_group": (
            None if message.choice_group_key is None else keyed[message.choice_group_key]
        ),
        "created_at": message.created_at,
        "updated_at": message.created_at,
        "attachment_count": len(message.attachments),
        **dict(zip(_COPIED, _copied_values(message), strict=True)),
    }
