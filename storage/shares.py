"""Read-only share links, and the copy of a shared conversation a teammate continues."""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.attachments import files_of_messages, store_files
from storage.convert import conversation_record, share_record
from storage.db import Database, rows_changed
from storage.models import Conversation, Message, Share, User, utcnow
from storage.records import (
    MESSAGE_CONTENT_FIELDS,
    ConversationRecord,
    MessageStatus,
    ShareRecord,
)

# Message columns a copy carries over unchanged; ids, links and choice groups are remapped.
_COPIED_MESSAGE_FIELDS = (*MESSAGE_CONTENT_FIELDS, "created_at", "updated_at")


class ShareRepository:
    """Links to a conversation, stored by their token's hash, and copies made through them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create_share(
        self, user_id: int, conversation_id: str, token_hash: str
    ) -> ShareRecord | None:
        """None unless `user_id` owns the conversation: only the owner may publish it."""
        with self.db.session() as session:
            owned = session.scalar(
                select(Conversation.id).where(
                    Conversation.id == conversation_id, Conversation.user_id == user_id
                )
            )
            if owned is None:
                return None
            row = Share(conversation_id=conversation_id, user_id=user_id, token_hash=token_hash)
            session.add(row)
            session.flush()
            return share_record(row)

    def revoke_share(self, user_id: int, share_id: int) -> bool:
        """True when the owner's active link was revoked now; the row stays as a record."""
        with self.db.session() as session:
            result = session.execute(
                update(Share)
                .where(
                    Share.id == share_id,
                    Share.user_id == user_id,
                    Share.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow())
            )
            return rows_changed(result) == 1

    def active_shares(self, user_id: int, conversation_id: str) -> list[ShareRecord]:
        with self.db.session() as session:
            rows = session.scalars(
                select(Share)
                .where(
                    Share.user_id == user_id,
                    Share.conversation_id == conversation_id,
                    Share.revoked_at.is_(None),
                )
                .order_by(Share.id)
            )
            return [share_record(row) for row in rows]

    def shared_conversation(self, token_hash: str) -> str | None:
        """The conversation behind an active link; a disabled owner's links stop working."""
        with self.db.session() as session:
            return session.scalar(
                select(Share.conversation_id)
                .join(User, User.id == Share.user_id)
                .where(
                    Share.token_hash == token_hash,
                    Share.revoked_at.is_(None),
                    User.disabled.is_(False),
                )
            )

    def copy_conversation(
        self, conversation_id: str, to_user_id: int, title: str
    ) -> ConversationRecord:
        """A new conversation for `to_user_id` holding only the visible thread of the source.

        The other branches stay with the original: the copy starts from what was shown. Files
        come along, sharing their bytes with the original's. The caller has already
        established the right to read the source (a share link). Raises LookupError if the
        source no longer exists.
        """
        with self.db.session() as session:
            source = session.get(Conversation, conversation_id)
            if source is None:
                raise LookupError(f"no conversation {conversation_id}")
            path = self._visible_path(session, source)
            copy = Conversation(
                id=secrets.token_hex(16),
                user_id=to_user_id,
                title=title,
                model=source.model,
                settings=dict(source.settings or {}),
            )
            session.add(copy)
            session.flush()
            files = files_of_messages(session, [m.id for m in path if m.attachment_count])
            copied: dict[int, int] = {}
            parent_id: int | None = None
            for original in path:
                values = {name: getattr(original, name) for name in _COPIED_MESSAGE_FIELDS}
                if values["status"] == MessageStatus.STREAMING:
                    # Nothing will ever finish the copy; keep what had arrived, as stopped.
                    values["status"] = MessageStatus.STOPPED
                message = Message(
                    conversation_id=copy.id,
                    parent_id=parent_id,
                    attachment_count=original.attachment_count,
                    # Where a reply's context began, if that message came along too.
                    context_start_id=copied.get(original.context_start_id or 0),
                    **values,
                )
                session.add(message)
                session.flush()
                copied[original.id] = message.id
                if original.id in files:
                    store_files(session, message.id, (), kept=files[original.id])
                if original.choice_group is not None:
                    # Only this choice comes along; the group id must not point back into the
                    # source conversation, and being in a group marks its tokens as a share.
                    message.choice_group = message.id
                parent_id = message.id
            copy.active_leaf_id = parent_id
            session.flush()
            return conversation_record(copy)

    @staticmethod
    def _visible_path(session: Session, conversation: Conversation) -> list[Message]:
        if conversation.active_leaf_id is None:
            return []
        rows = session.scalars(select(Message).where(Message.conversation_id == conversation.id))
        by_id = {row.id: row for row in rows}
        path: list[Message] = []
        current = by_id.get(conversation.active_leaf_id)
        while current is not None:
            path.append(current)
            current = by_id.get(current.parent_id) if current.parent_id is not None else None
        path.reverse()
        return path
