"""Organising conversations: folders, the archive, bulk actions, temporary chats and the
team's retention period. Every query is scoped to its owner except the sweeps, which the
process runs for everyone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Delete, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.attachments import prune_unreferenced_blobs
from storage.convert import folder_record
from storage.db import Database, rows_changed
from storage.models import Conversation, Folder, Preset, TeamSetting, utcnow
from storage.records import FolderRecord

RETENTION_KEY = "retention"
# Conversations deleted per transaction by the bulk actions and the sweeps. SQLite has one
# writer at a time, and deleting a message also deletes its search index's entries: at a
# million messages, a thousand 20-message conversations in one transaction held the write
# lock 8.3 s, past the busy timeout every teammate's send waits, and failed them. Twenty at
# a time held it at most 0.7-1.3 s (bench-measured, 3 Dec), for about the same total.
DELETE_BATCH = 20


class FolderNameTaken(ValueError):
    """This person already has a folder of that name."""


class LibraryRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # Folders ----------------------------------------------------------------------------

    def list_folders(self, user_id: int) -> list[FolderRecord]:
        """By name, each with how many listed conversations it holds (archived and temporary
        ones are not counted: they are not shown in it)."""
        listed = (
            select(Conversation.folder_id, func.count().label("n"))
            .where(
                Conversation.user_id == user_id,
                Conversation.archived.is_(False),
                Conversation.temporary.is_(False),
                Conversation.folder_id.is_not(None),
            )
            .group_by(Conversation.folder_id)
            .subquery()
        )
        query = (
            select(Folder, func.coalesce(listed.c.n, 0))
            .outerjoin(listed, listed.c.folder_id == Folder.id)
            .where(Folder.user_id == user_id)
            .order_by(func.lower(Folder.name), Folder.id)
        )
        with self.db.session() as session:
            return [folder_record(row, int(count)) for row, count in session.execute(query)]

    def get_folder(self, user_id: int, folder_id: int) -> FolderRecord | None:
        with self.db.session() as session:
            row = session.scalar(
                select(Folder).where(Folder.id == folder_id, Folder.user_id == user_id)
            )
            return folder_record(row) if row else None

    def create_folder(self, user_id: int, name: str, preset_id: int | None = None) -> FolderRecord:
        try:
            with self.db.session() as session:
                row = Folder(
                    user_id=user_id,
                    name=name,
                    preset_id=self._visible_preset(session, user_id, preset_id),
                )
                session.add(row)
                session.flush()
                return folder_record(row)
        except IntegrityError as error:
            raise FolderNameTaken(name) from error

    def update_folder(
        self, user_id: int, folder_id: int, *, name: str, preset_id: int | None
    ) -> bool:
        """Rename it and set (or clear) its preset. A preset this person cannot see (someone
        else's, unshared) is stored as none."""
        try:
            with self.db.session() as session:
                result = session.execute(
                    update(Folder)
                    .where(Folder.id == folder_id, Folder.user_id == user_id)
                    .values(name=name, preset_id=self._visible_preset(session, user_id, preset_id))
                )
                return rows_changed(result) == 1
        except IntegrityError as error:
            raise FolderNameTaken(name) from error

    def delete_folder(self, user_id: int, folder_id: int) -> bool:
        """Its conversations go back to the history, in the same transaction (the column has
        no foreign key to do it: see Conversation.folder_id)."""
        with self.db.session() as session:
            result = session.execute(
                delete(Folder).where(Folder.id == folder_id, Folder.user_id == user_id)
            )
            if rows_changed(result) != 1:
                return False
            session.execute(
                update(Conversation)
                .where(Conversation.folder_id == folder_id, Conversation.user_id == user_id)
                .values(folder_id=None)
            )
            return True

    def move_conversation(self, user_id: int, conversation_id: str, folder_id: int | None) -> bool:
        """File it in one of this person's folders, or take it out (None). Moving does not
        count as using it: its place among the dates stays."""
        with self.db.session() as session:
            if folder_id is not None and not session.scalar(
                select(Folder.id).where(Folder.id == folder_id, Folder.user_id == user_id)
            ):
                return False
            result = session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
                .values(folder_id=folder_id)
            )
            return rows_changed(result) == 1

    @staticmethod
    def _visible_preset(session: Any, user_id: int, preset_id: int | None) -> int | None:
        if preset_id is None:
            return None
        found: int | None = session.scalar(
            select(Preset.id).where(
                Preset.id == preset_id, (Preset.user_id == user_id) | Preset.shared.is_(True)
            )
        )
        return found

    # Archive and bulk actions ---------------------------------------------------------------

    def set_archived(self, user_id: int, conversation_id: str, archived: bool) -> bool:
        with self.db.session() as session:
            result = session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
                .values(archived=archived)
            )
            return rows_changed(result) == 1

    def count_matching(
        self,
        user_id: int,
        *,
        folder_id: int | None = None,
        before: datetime | None = None,
        archived: bool | None = None,
    ) -> int:
        """How many conversations a bulk action with this scope would touch."""
        where = _scope(user_id, folder_id, before, archived)
        with self.db.session() as session:
            return int(session.scalar(select(func.count()).where(*where)) or 0)

    def archive_matching(
        self, user_id: int, *, folder_id: int | None = None, before: datetime | None = None
    ) -> int:
        where = _scope(user_id, folder_id, before, archived=False)
        with self.db.session() as session:
            return rows_changed(
                session.execute(update(Conversation).where(*where).values(archived=True))
            )

    def delete_matching(
        self, user_id: int, *, folder_id: int | None = None, before: datetime | None = None
    ) -> int:
        """Archived ones included: deleting a folder's conversations leaves none behind."""
        return self._delete_in_batches(_scope(user_id, folder_id, before, archived=None))

    # Temporary chats --------------------------------------------------------------------

    def delete_temporary(self, user_id: int, conversation_id: str) -> bool:
        """Its owner left it. Only a temporary conversation is deleted this way."""
        with self.db.session() as session:
            deleted = _deleted(
                session,
                delete(Conversation).where(
                    Conversation.id == conversation_id,
                    Conversation.user_id == user_id,
                    Conversation.temporary.is_(True),
                ),
            )
            return deleted == 1

    def purge_temporary(self, unused_since: datetime) -> int:
        """Everyone's temporary chats not used since then (their owners never came back)."""
        return self._delete_in_batches(
            [Conversation.temporary.is_(True), Conversation.updated_at < unused_since]
        )

    # Retention --------------------------------------------------------------------------

    def retention_days(self) -> int | None:
        with self.db.session() as session:
            row = session.get(TeamSetting, RETENTION_KEY)
            days = row.value.get("days") if row else None
            return int(days) if isinstance(days, int) and days > 0 else None

    def set_retention_days(self, days: int | None) -> None:
        with self.db.session() as session:
            row = session.get(TeamSetting, RETENTION_KEY)
            if row is None:
                row = TeamSetting(key=RETENTION_KEY)
                session.add(row)
            row.value = {"days": days}
            row.updated_at = utcnow()

    def count_not_updated_since(self, moment: datetime) -> int:
        with self.db.session() as session:
            return int(
                session.scalar(select(func.count()).where(Conversation.updated_at < moment)) or 0
            )

    def delete_not_updated_since(self, moment: datetime) -> int:
        """Everyone's conversations, archived and pinned ones included: a retention period is
        the team's rule, not a suggestion."""
        return self._delete_in_batches([Conversation.updated_at < moment])

    def _delete_in_batches(self, where: list[ColumnElement[bool]]) -> int:
        """Delete the conversations matching `where`, DELETE_BATCH per transaction, so that
        other writers wait a moment between batches rather than the whole deletion. Each
        conversation goes whole (messages and files' rows by cascade); a failure part-way
        leaves the batches already deleted gone and the rest whole, so trying again
        finishes the job. How many it deleted."""
        deleted = 0
        while True:
            with self.db.session() as session:
                batch = select(Conversation.id).where(*where).limit(DELETE_BATCH)
                count = _deleted(session, delete(Conversation).where(Conversation.id.in_(batch)))
            deleted += count
            if count < DELETE_BATCH:
                return deleted


def _deleted(session: Session, statement: Delete) -> int:
    """Run a delete of conversations: their messages and files' rows go by cascade, the
    files' bytes no other message carries in the same transaction. How many it deleted."""
    deleted = rows_changed(session.execute(statement))
    if deleted:
        prune_unreferenced_blobs(session)
    return deleted


def _scope(
    user_id: int, folder_id: int | None, before: datetime | None, archived: bool | None
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        Conversation.user_id == user_id,
        Conversation.temporary.is_(False),
    ]
    if folder_id is not None:
        where.append(Conversation.folder_id == folder_id)
    if before is not None:
        where.append(Conversation.updated_at < before)
    if archived is not None:
        where.append(Conversation.archived.is_(archived))
    return where
