"""Persistence: SQLAlchemy models, Alembic migrations, and one repository of plain records per
kind of data (chats, users, shares, keys, usage, sign-in attempts)."""

from storage.chats import ChatRepository
from storage.db import Database
from storage.keys import KeyRepository
from storage.migrate import upgrade_to_head
from storage.processes import ProcessRepository
from storage.records import (
    AccountRole,
    AttachmentKind,
    AttachmentRecord,
    ConversationPage,
    ConversationRecord,
    ConversationTree,
    Credentials,
    FolderRecord,
    ImportedConversation,
    ImportedMessage,
    MessageRecord,
    MessageStatus,
    NewAttachment,
    PresetRecord,
    QuotaPeriod,
    ReplyOutcome,
    Role,
    SearchHit,
    SearchPage,
    ShareRecord,
    SignInSource,
    SnippetPart,
    Thread,
    UsageRow,
    UserRecord,
)
from storage.search import SearchRepository
from storage.shares import ShareRepository
from storage.signin import SignInAttemptRepository
from storage.transfer import TransferRepository
from storage.usage import UsageLedger
from storage.users import LOCAL_USERNAME, AlreadySetUp, UsernameTaken, UserRepository

__all__ = [
    "LOCAL_USERNAME",
    "AccountRole",
    "AlreadySetUp",
    "AttachmentKind",
    "AttachmentRecord",
    "ChatRepository",
    "ConversationPage",
    "ConversationRecord",
    "ConversationTree",
    "Credentials",
    "Database",
    "FolderRecord",
    "ImportedConversation",
    "ImportedMessage",
    "KeyRepository",
    "MessageRecord",
    "MessageStatus",
    "NewAttachment",
    "PresetRecord",
    "ProcessRepository",
    "QuotaPeriod",
    "ReplyOutcome",
    "Role",
    "SearchHit",
    "SearchPage",
    "SearchRepository",
    "ShareRecord",
    "ShareRepository",
    "SignInAttemptRepository",
    "SignInSource",
    "SnippetPart",
    "Thread",
    "TransferRepository",
    "UsageLedger",
    "UsageRow",
    "UserRecord",
    "UserRepository",
    "UsernameTaken",
    "upgrade_to_head",
]
