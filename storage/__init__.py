"""Persistence: SQLAlchemy models, Alembic migrations and a repository of plain records."""

from storage.accounts import AccountRepository, UsernameTaken
from storage.db import Database
from storage.migrate import upgrade_to_head
from storage.records import (
    ConversationPage,
    ConversationRecord,
    Credentials,
    MessageRecord,
    MessageStatus,
    PresetRecord,
    ReplyOutcome,
    Role,
    ShareRecord,
    Thread,
    UsageRow,
    UserRecord,
)
from storage.repository import LOCAL_USERNAME, ChatRepository

__all__ = [
    "LOCAL_USERNAME",
    "AccountRepository",
    "ChatRepository",
    "ConversationPage",
    "ConversationRecord",
    "Credentials",
    "Database",
    "MessageRecord",
    "MessageStatus",
    "PresetRecord",
    "ReplyOutcome",
    "Role",
    "ShareRecord",
    "Thread",
    "UsageRow",
    "UserRecord",
    "UsernameTaken",
    "upgrade_to_head",
]
