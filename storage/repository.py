"""Queries and writes, each scoped to a user and returning plain records."""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from storage.db import Database
from storage.models import Conversation, Message, User, utcnow
from storage.records import (
    ConversationPage,
    ConversationRecord,
    MessageRecord,
    MessageStatus,
    ReplyOutcome,
    Role,
    UserRecord,
)

LOCAL_USERNAME = "local"


def _aware(value: datetime) -> datetime:
    # SQLite drops the zone on the way back; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _user(row: User) -> UserRecord:
    return UserRecord(id=row.id, username=row.username, display_name=row.display_name)


def _conversation(row: Conversation) -> ConversationRecord:
    return ConversationRecord(
        id=row.id,
        user_id=row.user_id,
        title=row.title,
        model=row.model,
        settings=dict(row.settings or {}),
        active_leaf_id=row.active_leaf_id,
        pinned=row.pinned,
        archived=row.archived,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )


def _message(row: Message) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        conversation_id=row.conversation_id,
        parent_id=row.parent_id,
        role=row.role,
        content=row.content,
        status=row.status,
        created_at=_aware(row.created_at),
        finish_reason=row.finish_reason,
        model=row.model,
        request_params=row.request_params,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        total_tokens=row.total_tokens,
        first_token_ms=row.first_token_ms,
        total_ms=row.total_ms,
        response_id=row.response_id,
        request_id=row.request_id,
        error=row.error,
    )


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ChatRepository:
    """All persistence for users, conversations and messages."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # Users -------------------------------------------------------------------------------

    def ensure_user(self, username: str, display_name: str = "") -> UserRecord:
        with self.db.session() as session:
            row = session.scalar(select(User).where(User.username == username))
            if row is None:
                row = User(username=username, display_name=display_name or username)
                session.add(row)
                session.flush()
            return _user(row)

    # Conversations -----------------------------------------------------------------------

    def create_conversation(
        self, user_id: int, title: str, model: str, settings: dict[str, Any] | None = None
    ) -> ConversationRecord:
        with self.db.session() as session:
            row = Conversation(
                id=secrets.token_hex(16),
                user_id=user_id,
                title=title,
                model=model,
                settings=settings or {},
            )
            session.add(row)
            session.flush()
            return _conversation(row)

    def get_conversation(self, user_id: int, conversation_id: str) -> ConversationRecord | None:
        """None both for a missing id and for someone else's: the caller cannot tell them apart."""
        with self.db.session() as session:
            row = session.scalar(
                select(Conversation).where(
                    Conversation.id == conversation_id, Conversation.user_id == user_id
                )
            )
            return _conversation(row) if row else None

    def list_conversations(
        self, user_id: int, *, offset: int = 0, limit: int = 20, search: str = ""
    ) -> ConversationPage:
        query = select(Conversation).where(
            Conversation.user_id == user_id, Conversation.archived.is_(False)
        )
        if search.strip():
            query = query.where(
                Conversation.title.ilike(_like_pattern(search.strip()), escape="\\")
            )
        query = query.order_by(
            Conversation.pinned.desc(), Conversation.updated_at.desc(), Conversation.id
        )
        with self.db.session() as session:
            rows = list(session.scalars(query.offset(offset).limit(limit + 1)))
        return ConversationPage(
            items=[_conversation(row) for row in rows[:limit]],
            has_more=len(rows) > limit,
            offset=offset,
        )

    def rename_conversation(self, user_id: int, conversation_id: str, title: str) -> bool:
        return self._update_conversation(user_id, conversation_id, title=title)

    def set_pinned(self, user_id: int, conversation_id: str, pinned: bool) -> bool:
        return self._update_conversation(user_id, conversation_id, pinned=pinned)

    def _update_conversation(self, user_id: int, conversation_id: str, **values: Any) -> bool:
        with self.db.session() as session:
            result = session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
                .values(**values)
            )
            return result.rowcount == 1

    def delete_conversation(self, user_id: int, conversation_id: str) -> bool:
        """Messages go with it through ON DELETE CASCADE, in the same statement."""
        with self.db.session() as session:
            result = session.execute(
                delete(Conversation).where(
                    Conversation.id == conversation_id, Conversation.user_id == user_id
                )
            )
            return result.rowcount == 1

    def token_total(self, conversation_id: str) -> int:
        with self.db.session() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(Message.total_tokens), 0)).where(
                    Message.conversation_id == conversation_id
                )
            )
            return int(total or 0)

    # Messages ----------------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        *,
        parent_id: int | None,
        status: MessageStatus = MessageStatus.COMPLETE,
        model: str | None = None,
        request_params: dict[str, Any] | None = None,
    ) -> MessageRecord:
        """Append a message and make it the end of the visible thread."""
        with self.db.session() as session:
            row = Message(
                conversation_id=conversation_id,
                parent_id=parent_id,
                role=role,
                content=content,
                status=status,
                model=model,
                request_params=request_params,
            )
            session.add(row)
            session.flush()
            session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(active_leaf_id=row.id, updated_at=utcnow())
            )
            return _message(row)

    def start_reply(
        self,
        conversation_id: str,
        *,
        parent_id: int | None,
        user_text: str | None,
        model: str,
        request_params: dict[str, Any],
        settings: dict[str, Any],
    ) -> list[MessageRecord]:
        """One transaction for a turn's start: the user's message (if any), the empty reply,
        and the conversation's settings and leaf. Returns the messages added."""
        with self.db.session() as session:
            added: list[Message] = []
            if user_text is not None:
                question = Message(
                    conversation_id=conversation_id,
                    parent_id=parent_id,
                    role=Role.USER,
                    content=user_text,
                    status=MessageStatus.COMPLETE,
                )
                session.add(question)
                session.flush()
                parent_id = question.id
                added.append(question)
            reply = Message(
                conversation_id=conversation_id,
                parent_id=parent_id,
                role=Role.ASSISTANT,
                content="",
                status=MessageStatus.STREAMING,
                model=model,
                request_params=request_params,
            )
            session.add(reply)
            session.flush()
            added.append(reply)
            session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(
                    active_leaf_id=reply.id, model=model, settings=settings, updated_at=utcnow()
                )
            )
            return [_message(row) for row in added]

    def get_message(self, message_id: int) -> MessageRecord | None:
        with self.db.session() as session:
            row = session.get(Message, message_id)
            return _message(row) if row else None

    def thread(self, conversation: ConversationRecord) -> list[MessageRecord]:
        """The visible thread: from the root down to the conversation's active leaf."""
        if conversation.active_leaf_id is None:
            return []
        with self.db.session() as session:
            rows = session.scalars(
                select(Message).where(Message.conversation_id == conversation.id)
            )
            by_id = {row.id: row for row in rows}
            path: list[MessageRecord] = []
            current = by_id.get(conversation.active_leaf_id)
            while current is not None:
                path.append(_message(current))
                current = by_id.get(current.parent_id) if current.parent_id else None
        path.reverse()
        return path

    def save_progress(self, message_id: int, content: str) -> None:
        """Checkpoint a streaming reply so a crash or restart keeps what had arrived."""
        with self.db.session() as session:
            session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(content=content, updated_at=utcnow())
            )

    def finish_reply(self, message_id: int, outcome: ReplyOutcome) -> None:
        with self.db.session() as session:
            row = session.get(Message, message_id)
            if row is None:  # deleted while generating: nothing left to update
                return
            requested_model = row.model
            # ReplyOutcome's fields are named after the columns they fill.
            for name, value in asdict(outcome).items():
                setattr(row, name, value)
            row.model = outcome.model or requested_model  # an error reply names no model
            row.updated_at = utcnow()
            session.execute(
                update(Conversation)
                .where(Conversation.id == row.conversation_id)
                .values(updated_at=utcnow())
            )

    def interrupt_streaming(self, reason: str) -> int:
        """Close replies a previous process was still writing; returns how many there were."""
        with self.db.session() as session:
            result = session.execute(
                update(Message)
                .where(Message.status == MessageStatus.STREAMING)
                .values(status=MessageStatus.ERROR, error=reason, updated_at=utcnow())
            )
            return result.rowcount
