"""Persistence: SQLAlchemy models, Alembic migrations, and one repository of plain records per
kind of data (chats, users, shares, keys, usage, sign-in attempts)."""

from storage.chats import ChatRepository
from storage.db import Database
from storage.keys import KeyRepository
from storage.migrate import upgrade_to_head
from storage.processes import ProcessRepository
from storage.records import (
    AccountRole,
    ConversationPage,
    ConversationRecord,
    Credentials,
    FolderRecord,
    MessageRecord,
    MessageStatus,
    PresetRecord,
    QuotaPeriod,
    ReplyOutcome,
    Role,
    ShareRecord,
    SignInSource,
    Thread,
    UsageRow,
    UserRecord,
)
from storage.shares import ShareRepository
from storage.signin import SignInAttemptRepository
from storage.usage import UsageLedger
from storage.users import LOCAL_USERNAME, AlreadySetUp, UsernameTaken, UserRepository

__all__ = [
    "LOCAL_USERNAME",
    "AccountRole",
    "AlreadySetUp",
    "ChatRepository",
    "ConversationPage",
    "ConversationRecord",
    "Credentials",
    "Database",
    "FolderRecord",
    "KeyRepository",
    "MessageRecord",
    "MessageStatus",
    "PresetRecord",
    "ProcessRepository",
    "QuotaPeriod",
    "ReplyOutcome",
    "Role",
    "ShareRecord",
    "ShareRepository",
    "SignInAttemptRepository",
    "SignInSource",
    "Thread",
    "UsageLedger",
    "UsageRow",
    "UserRecord",
    "UserRepository",
    "UsernameTaken",
    "upgrade_to_head",
]
