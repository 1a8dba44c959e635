"""Persistence: SQLAlchemy models, Alembic migrations and a repository of plain records."""

from storage.db import Database
from storage.migrate import upgrade_to_head
from storage.records import (
    ConversationPage,
    ConversationRecord,
    MessageRecord,
    MessageStatus,
    PresetRecord,
    ReplyOutcome,
    Role,
    Thread,
    UserRecord,
)
from storage.repository import LOCAL_USERNAME, ChatRepository

__all__ = [
    "LOCAL_USERNAME",
    "ChatRepository",
    "ConversationPage",
    "ConversationRecord",
    "Database",
    "MessageRecord",
    "MessageStatus",
    "PresetRecord",
    "ReplyOutcome",
    "Role",
    "Thread",
    "UserRecord",
    "upgrade_to_head",
]
