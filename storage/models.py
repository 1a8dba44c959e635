"""ORM tables. One row per message, so a long conversation never rewrites a blob."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[dict[str, Any]]: JSON,
        datetime: DateTime(timezone=True),
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None for accounts that sign in elsewhere (OIDC, a proxy header) and so have no password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Server defaults too: migration 0003 adds these NOT NULL columns to existing users.
    role: Mapped[str] = mapped_column(  # "admin" or "member"
        String(20), default="member", server_default="member"
    )
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Where the account came from: "local", "oidc", "proxy" or "none" (single-user mode).
    auth_source: Mapped[str] = mapped_column(String(20), default="local", server_default="local")
    email: Mapped[str | None] = mapped_column(String(320))
    # Single sign-on accounts are bound to the provider's (issuer, subject) pair: the only
    # claims an OIDC provider promises are unique and stable, unlike preferred_username.
    oidc_issuer: Mapped[str | None] = mapped_column(String(500))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    # When the person last signed out of single sign-on: their tabs opened before then are
    # refused at their next action (Streamlit's identity cookie cannot be revoked server-side).
    signed_out_at: Mapped[datetime | None] = mapped_column()
    # Token budget per period ("day" or "month"); None means unlimited.
    quota_tokens: Mapped[int | None] = mapped_column(Integer)
    quota_period: Mapped[str | None] = mapped_column(String(10))
    # Money budget for the same period, in the installation's currency; None means unlimited.
    quota_money: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    last_login_at: Mapped[datetime | None] = mapped_column()
    # The interface language the person chose ("en", "zh_CN"); None follows their browser.
    language: Mapped[str | None] = mapped_column(String(20))

    # A unique index rather than a constraint: SQLite can add an index in place, while a new
    # constraint would make Alembic copy the users table, and dropping the old copy (foreign
    # keys on) would cascade to every conversation.
    __table_args__ = (Index("uq_users_oidc_identity", "oidc_issuer", "oidc_subject", unique=True),)


class AuthSession(Base):
    """A signed-in browser. Only a hash of the cookie's token is stored, so a leaked
    database cannot be replayed as a login."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_auth_sessions_user", "user_id"),)


class Share(Base):
    """A read-only link to one conversation; revoking keeps the row as a record of it."""

    __tablename__ = "shares"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # The owner who shared it: only they may list or revoke the link.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_shares_conversation", "conversation_id"),)


class PersonalKey(Base):
    """A user's own API key, encrypted by the app before it reaches the database."""

    __tablename__ = "personal_keys"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageEvent(Base):
    """One reply's token counts, the ledger quotas and usage reports read.

    message_id has no foreign key on purpose: the ledger must outlive deleted conversations,
    or deleting a conversation would hand its tokens back to the user's quota.
    """

    __tablename__ = "usage_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    total_tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_usage_events_user_created", "user_id", "created_at"),)


class Conversation(Base):
    __tablename__ = "conversations"

    # A random id, not a counter: it appears in URLs and must not be guessable or enumerable.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The message the visible thread ends at; earlier branches stay reachable through parent_id.
    active_leaf_id: Mapped[int | None] = mapped_column(Integer)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    # The folder (project) it is filed in. No foreign key: SQLite cannot add one to an
    # existing table without copying it (see migration 0004), so deleting a folder clears
    # this column in the same transaction instead (storage/library.py).
    folder_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # Never listed, searched or exported; deleted when its owner leaves it, or after
    # ANYCHAT_TEMPORARY_CHAT_HOURS without use.
    temporary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # The sidebar query: one user's conversations, pinned first, newest first.
        Index("ix_conversations_user_listing", "user_id", "archived", "pinned", "updated_at"),
        # A folder's conversations, newest first.
        Index("ix_conversations_folder", "folder_id", "updated_at"),
        # Retention and the temporary-chat sweep: everyone's conversations by last use.
        Index("ix_conversations_updated", "updated_at"),
    )


class Folder(Base):
    """A person's folder (project) of conversations; its preset, if any, is what a new chat
    started in it begins from."""

    __tablename__ = "folders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    preset_id: Mapped[int | None] = mapped_column(
        ForeignKey("presets.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_folders_user_name"),)


class TeamSetting(Base):
    """A setting administrators change in the app rather than in the server's configuration
    (conversation retention), shared by every process through the database."""

    __tablename__ = "team_settings"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="complete")
    finish_reason: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(200))
    request_params: Mapped[dict[str, Any] | None] = mapped_column()
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    total_tokens: Mapped[int | None] = mapped_column(Integer)
    first_token_ms: Mapped[int | None] = mapped_column(Integer)
    total_ms: Mapped[int | None] = mapped_column(Integer)
    response_id: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    # The error's code and values, so each reader sees it in their own language; `error`
    # keeps the English sentence for logs and for rows written before codes existed.
    error_code: Mapped[str | None] = mapped_column(String(60))
    error_params: Mapped[dict[str, Any] | None] = mapped_column()
    # The process generating this reply while it streams (storage/processes.py): only once
    # that process stops beating may another close the reply.
    owner_process: Mapped[str | None] = mapped_column(String(36))
    # An assistant message asking for function calls, and a tool message answering one.
    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column()
    tool_call_id: Mapped[str | None] = mapped_column(String(100))
    system_fingerprint: Mapped[str | None] = mapped_column(String(100))
    # Replies generated by one request with n > 1: the group is the first reply's id, and
    # each reply is one choice. The others stay siblings the user can switch to.
    choice_group: Mapped[int | None] = mapped_column(Integer)
    choice_index: Mapped[int | None] = mapped_column(Integer)
    # A reply whose request left out the thread's oldest messages to fit the model's context:
    # the first message sent. No foreign key: a marker, not a link to keep alive.
    context_start_id: Mapped[int | None] = mapped_column(Integer)
    # How many files a user message carries, so reading a thread looks for attachments only
    # when some message has them.
    attachment_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "id"),
        # A conversation's token total is summed from its messages on every page run: from
        # the index alone, not the rows (9.6 to 2.4 ms at 5,000 messages on SQLite).
        Index("ix_messages_conversation_tokens", "conversation_id", "total_tokens"),
        Index("ix_messages_parent", "parent_id"),
        # The reaper looks for replies whose process stopped half-way (storage/processes.py).
        Index("ix_messages_status", "status"),
    )


class AttachmentBlob(Base):
    """A file's bytes, stored once however many messages carry it (content-addressed): an
    edited question, a copied conversation and a re-sent screenshot share one row. Deleting
    conversations deletes the blobs no message refers to any more (storage/attachments.py)."""

    __tablename__ = "attachment_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageAttachment(Base):
    """A file attached to a user message, as the model and the page see it; its bytes are
    the blob named by `sha256`, read only to be sent or shown."""

    __tablename__ = "message_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # AttachmentKind
    # No cascade: a blob goes only once no row refers to it, and the key keeps it until then.
    sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("attachment_blobs.sha256"), index=True
    )
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int | None] = mapped_column(Integer)
    # What the model reads of a text file or a PDF; None for an image.
    text: Mapped[str | None] = mapped_column(Text)


class AppProcess(Base):
    """An app process sharing this database, alive while it beats (storage/processes.py)."""

    __tablename__ = "processes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(default=utcnow)


class Preset(Base):
    """A named system prompt plus parameters; a shared one is offered to the whole team."""

    __tablename__ = "presets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_presets_user_name"),
        Index("ix_presets_shared", "shared"),
    )


class SignInAttempt(Base):
    """Sign-in attempts counted per throttle key (an account name, a client address, or the
    pair), so guessing is slowed without letting anyone lock someone else out.

    Keys are stored hashed: names that are not accounts are counted like names that are,
    and a leaked table does not list what people mistyped.
    """

    __tablename__ = "signin_attempts"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The hash of the account name the key involves, so an administrator can clear every
    # key of one account at once; None for a key that is a client address alone.
    name_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_signin_attempts_name", "name_hash"),)


class SetupStep(Base):
    """One row per one-time step of an installation (the first administrator), inserted in
    the same transaction as the step: the primary key makes concurrent attempts race for
    one row, so exactly one of them wins on SQLite and PostgreSQL alike."""

    __tablename__ = "setup_steps"

    step: Mapped[str] = mapped_column(String(50), primary_key=True)
    done_at: Mapped[datetime] = mapped_column(default=utcnow)
