"""Accounts: users and their sign-in state, browser sessions, share links, personal API keys
and the token usage ledger. Returns plain records, like the chat repository."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, cast, delete, func, literal_column, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import (
    AuthSession,
    Conversation,
    Message,
    PersonalKey,
    SetupStep,
    Share,
    UsageEvent,
    User,
    utcnow,
)
from storage.records import (
    ConversationRecord,
    Credentials,
    MessageStatus,
    ShareRecord,
    UsageRow,
    UserRecord,
)
from storage.repository import _aware, _conversation

ROLES = ("admin", "member")
AUTH_SOURCES = ("local", "oidc", "proxy", "none")
QUOTA_PERIODS = ("day", "month")
# The setup_steps row that marks the first administrator as created.
FIRST_ADMIN_STEP = "first_admin"
# Writing last_seen_at on every page run would turn each read into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


class UsernameTaken(ValueError):
    """Another account already has this username, ignoring case."""


class AlreadySetUp(ValueError):
    """The first administrator exists already, or another request is creating it now."""


def _utc(value: datetime) -> datetime:
    # SQLite keeps a time's digits but not its zone, so every time sent must already be UTC
    # for stored times to compare correctly.
    return _aware(value).astimezone(UTC)


def _maybe_aware(value: datetime | None) -> datetime | None:
    return _aware(value) if value is not None else None


def user_record(row: User) -> UserRecord:
    """Every field but the password hash, which never leaves storage/accounts.py."""
    return UserRecord(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        disabled=row.disabled,
        auth_source=row.auth_source,
        email=row.email,
        quota_tokens=row.quota_tokens,
        quota_period=row.quota_period,
        last_login_at=_maybe_aware(row.last_login_at),
        created_at=_maybe_aware(row.created_at),
    )


def _check(value: str | None, allowed: Iterable[str | None], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what}: {value!r}")


def _share(row: Share) -> ShareRecord:
    return ShareRecord(
        id=row.id,
        conversation_id=row.conversation_id,
        user_id=row.user_id,
        created_at=_aware(row.created_at),
        revoked_at=_maybe_aware(row.revoked_at),
    )


def _same_username(username: str) -> Any:
    # Both sides go through the database's lower(), so the comparison folds case the same way
    # the stored value is folded (ASCII only on SQLite, full Unicode on PostgreSQL).
    return func.lower(User.username) == func.lower(username)


# Message columns a copy carries over unchanged; ids, links and choice groups are remapped.
_COPIED_MESSAGE_FIELDS = (
    "role",
    "content",
    "status",
    "finish_reason",
    "model",
    "request_params",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "first_token_ms",
    "total_ms",
    "response_id",
    "request_id",
    "error",
    "tool_calls",
    "tool_call_id",
    "system_fingerprint",
    "choice_index",
    "created_at",
    "updated_at",
)


class AccountRepository:
    """Persistence for everything about who is signed in and what they may use."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # Users -------------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        *,
        display_name: str = "",
        password_hash: str | None = None,
        role: str = "member",
        auth_source: str = "local",
        email: str | None = None,
        oidc_issuer: str | None = None,
        oidc_subject: str | None = None,
    ) -> UserRecord:
        """Store the username as typed; refuse one that differs from an existing one only in
        case, since people type their names inconsistently and would otherwise get two
        accounts. A single sign-on account is created bound to its provider identity."""
        if not username.strip():
            raise ValueError("a username cannot be blank")
        _check(role, ROLES, "role")
        _check(auth_source, AUTH_SOURCES, "auth source")
        try:
            with self.db.session() as session:
                if session.scalar(select(User.id).where(_same_username(username))) is not None:
                    raise UsernameTaken(username)
                row = User(
                    username=username,
                    display_name=display_name or username,
                    password_hash=password_hash,
                    role=role,
                    auth_source=auth_source,
                    email=email,
                    oidc_issuer=oidc_issuer,
                    oidc_subject=oidc_subject,
                )
                session.add(row)
                session.flush()
                return user_record(row)
        except IntegrityError as exc:
            # A concurrent create won a unique constraint: the username's, or for a single
            # sign-on account possibly the identity's (the caller looks that up again).
            raise UsernameTaken(username) from exc

    def ensure_user(
        self,
        username: str,
        *,
        display_name: str = "",
        auth_source: str = "local",
        email: str | None = None,
        role: str = "member",
    ) -> UserRecord:
        """The account for a name vouched for elsewhere (a proxy, single-user mode), created
        on its first sign-in. An existing account is returned unchanged. Single sign-on
        accounts are keyed on their provider identity instead: see find_oidc_user."""
        found = self.find_user(username)
        if found is not None:
            return found
        try:
            return self.create_user(
                username,
                display_name=display_name,
                auth_source=auth_source,
                email=email,
                role=role,
            )
        except UsernameTaken:  # two first sign-ins at once: the other one created it
            found = self.find_user(username)
            if found is None:
                raise
            return found

    def get_user(self, user_id: int) -> UserRecord | None:
        with self.db.session() as session:
            row = session.get(User, user_id)
            return user_record(row) if row else None

    def find_user(self, username: str) -> UserRecord | None:
        with self.db.session() as session:
            row = session.scalar(select(User).where(_same_username(username)))
            return user_record(row) if row else None

    def find_oidc_user(self, issuer: str, subject: str) -> UserRecord | None:
        """The account bound to this provider identity; compared exactly, as OIDC requires."""
        with self.db.session() as session:
            row = session.scalar(
                select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)
            )
            return user_record(row) if row else None

    def bind_oidc_identity(
        self, user_id: int, issuer: str, subject: str, *, email: str | None
    ) -> bool:
        """Bind a single sign-on account made before identities were kept to one; False
        when it is already bound (to anyone) or another account holds the identity.

        One conditional update, so of two sign-ins racing for the same account only one
        binds it. The e-mail is replaced too: the old one was stored unverified.
        """
        try:
            with self.db.session() as session:
                result = session.execute(
                    update(User)
                    .where(
                        User.id == user_id,
                        User.auth_source == "oidc",
                        User.oidc_issuer.is_(None),
                        User.oidc_subject.is_(None),
                    )
                    .values(oidc_issuer=issuer, oidc_subject=subject, email=email)
                )
                return result.rowcount == 1
        except IntegrityError:  # a concurrent first sign-in made an account for it
            return False

    def list_users(self) -> list[UserRecord]:
        with self.db.session() as session:
            rows = session.scalars(
                select(User).order_by(func.lower(User.username), User.username, User.id)
            )
            return [user_record(row) for row in rows]

    def count_users(self) -> int:
        with self.db.session() as session:
            return int(session.scalar(select(func.count(User.id))) or 0)

    def count_admins(self, active_only: bool = True) -> int:
        """Lets callers refuse to demote or disable the last admin who can still sign in."""
        query = select(func.count(User.id)).where(User.role == "admin")
        if active_only:
            query = query.where(User.disabled.is_(False))
        with self.db.session() as session:
            return int(session.scalar(query) or 0)

    def credentials(self, username: str) -> Credentials | None:
        with self.db.session() as session:
            row = session.scalar(select(User).where(_same_username(username)))
            if row is None:
                return None
            return Credentials(user=user_record(row), password_hash=row.password_hash)

    def create_first_admin(self, username: str, password_hash: str) -> UserRecord:
        """The installation's first account, a local administrator; AlreadySetUp once one
        was made, or when any account exists.

        The setup_steps row goes in first, in the user's transaction: of concurrent attempts
        exactly one can insert that primary key. SQLite makes the others wait for the write
        lock, PostgreSQL for the winner's commit; then their insert fails. Users are counted
        after that insert, so an install with accounts from before this step is refused too.
        """
        try:
            with self.db.session() as session:
                session.add(SetupStep(step=FIRST_ADMIN_STEP))
                session.flush()
                if session.scalar(select(func.count(User.id))):
                    raise AlreadySetUp(username)
                row = User(
                    username=username,
                    display_name=username,
                    password_hash=password_hash,
                    role="admin",
                )
                session.add(row)
                session.flush()
                return user_record(row)
        except IntegrityError as exc:
            raise AlreadySetUp(username) from exc

    def record_login(self, user_id: int) -> None:
        self._update_user(user_id, last_login_at=utcnow())

    def record_sign_out(self, user_id: int, moment: datetime) -> None:
        self._update_user(user_id, signed_out_at=_utc(moment))

    def signed_out_at(self, user_id: int) -> datetime | None:
        with self.db.session() as session:
            moment = session.scalar(select(User.signed_out_at).where(User.id == user_id))
            return _maybe_aware(moment)

    def set_password_hash(self, user_id: int, password_hash: str | None) -> bool:
        return self._update_user(user_id, password_hash=password_hash)

    def set_role(self, user_id: int, role: str) -> bool:
        _check(role, ROLES, "role")
        return self._update_user(user_id, role=role)

    def set_disabled(self, user_id: int, disabled: bool) -> bool:
        """Disabling signs the user out everywhere at once, in the same transaction."""
        with self.db.session() as session:
            result = session.execute(
                update(User).where(User.id == user_id).values(disabled=disabled)
            )
            if disabled:
                session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
            return result.rowcount == 1

    def set_quota(self, user_id: int, tokens: int | None, period: str | None) -> bool:
        _check(period, (*QUOTA_PERIODS, None), "quota period")
        return self._update_user(user_id, quota_tokens=tokens, quota_period=period)

    def _update_user(self, user_id: int, **values: Any) -> bool:
        with self.db.session() as session:
            result = session.execute(update(User).where(User.id == user_id).values(**values))
            return result.rowcount == 1

    # Sessions ----------------------------------------------------------------------------

    def create_session(self, user_id: int, token_hash: str, expires_at: datetime) -> None:
        with self.db.session() as session:
            session.add(
                AuthSession(user_id=user_id, token_hash=token_hash, expires_at=_utc(expires_at))
            )

    def session_user(self, token_hash: str, now: datetime) -> UserRecord | None:
        """The signed-in user for a cookie's token: None for an unknown or expired session
        and for a disabled account, so disabling takes effect on the next page run."""
        now = _utc(now)
        with self.db.session() as session:
            found = session.execute(
                select(AuthSession, User)
                .join(User, User.id == AuthSession.user_id)
                .where(
                    AuthSession.token_hash == token_hash,
                    AuthSession.expires_at > now,
                    User.disabled.is_(False),
                )
            ).first()
            if found is None:
                return None
            auth, user = found
            if now - _aware(auth.last_seen_at) >= LAST_SEEN_RESOLUTION:
                auth.last_seen_at = now
            return user_record(user)

    def delete_session(self, token_hash: str) -> bool:
        with self.db.session() as session:
            result = session.execute(
                delete(AuthSession).where(AuthSession.token_hash == token_hash)
            )
            return result.rowcount == 1

    def delete_user_sessions(self, user_id: int) -> int:
        with self.db.session() as session:
            return session.execute(
                delete(AuthSession).where(AuthSession.user_id == user_id)
            ).rowcount

    def purge_expired_sessions(self, now: datetime) -> int:
        with self.db.session() as session:
            return session.execute(
                delete(AuthSession).where(AuthSession.expires_at <= _utc(now))
            ).rowcount

    # Shares ------------------------------------------------------------------------------

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
            return _share(row)

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
            return result.rowcount == 1

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
            return [_share(row) for row in rows]

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

        The other branches stay with the original: the copy starts from what was shown. The
        caller has already established the right to read the source (a share link). Raises
        LookupError if the source no longer exists.
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
            parent_id: int | None = None
            for original in path:
                values = {name: getattr(original, name) for name in _COPIED_MESSAGE_FIELDS}
                if values["status"] == MessageStatus.STREAMING:
                    # Nothing will ever finish the copy; keep what had arrived, as stopped.
                    values["status"] = MessageStatus.STOPPED
                message = Message(conversation_id=copy.id, parent_id=parent_id, **values)
                session.add(message)
                session.flush()
                if original.choice_group is not None:
                    # Only this choice comes along; the group id must not point back into the
                    # source conversation, and being in a group marks its tokens as a share.
                    message.choice_group = message.id
                parent_id = message.id
            copy.active_leaf_id = parent_id
            session.flush()
            return _conversation(copy)

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

    # Personal keys -----------------------------------------------------------------------

    def set_personal_key(self, user_id: int, ciphertext: str) -> None:
        with self.db.session() as session:
            row = session.get(PersonalKey, user_id)
            if row is None:
                session.add(PersonalKey(user_id=user_id, ciphertext=ciphertext))
            else:
                row.ciphertext = ciphertext
                row.created_at = utcnow()

    def personal_key(self, user_id: int) -> str | None:
        with self.db.session() as session:
            return session.scalar(
                select(PersonalKey.ciphertext).where(PersonalKey.user_id == user_id)
            )

    def delete_personal_key(self, user_id: int) -> bool:
        with self.db.session() as session:
            result = session.execute(delete(PersonalKey).where(PersonalKey.user_id == user_id))
            return result.rowcount == 1

    def has_personal_key(self, user_id: int) -> bool:
        return self.personal_key(user_id) is not None

    # Usage -------------------------------------------------------------------------------

    def record_usage(
        self,
        user_id: int,
        message_id: int | None,
        model: str,
        prompt: int,
        completion: int,
        total: int,
    ) -> None:
        with self.db.session() as session:
            session.add(
                UsageEvent(
                    user_id=user_id,
                    message_id=message_id,
                    model=model,
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    total_tokens=total,
                )
            )

    def tokens_used(self, user_id: int, since: datetime) -> int:
        """Tokens the user spent from `since` on, deleted conversations included."""
        with self.db.session() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(UsageEvent.total_tokens), 0)).where(
                    UsageEvent.user_id == user_id, UsageEvent.created_at >= _utc(since)
                )
            )
            return int(total or 0)

    def usage(self, since: datetime, user_id: int | None = None) -> list[UsageRow]:
        """Token totals per UTC day, model and user from `since` on (everyone's when
        `user_id` is None), by day, then username, then model."""
        day = self._utc_day(UsageEvent.created_at)
        query = (
            select(
                day,
                UsageEvent.model,
                UsageEvent.user_id,
                User.username,
                func.sum(UsageEvent.prompt_tokens),
                func.sum(UsageEvent.completion_tokens),
                func.sum(UsageEvent.total_tokens),
                func.count(UsageEvent.id),
            )
            .join(User, User.id == UsageEvent.user_id)
            .where(UsageEvent.created_at >= _utc(since))
            .group_by(day, UsageEvent.model, UsageEvent.user_id, User.username)
            .order_by(day, User.username, UsageEvent.model)
        )
        if user_id is not None:
            query = query.where(UsageEvent.user_id == user_id)
        with self.db.session() as session:
            rows = session.execute(query).all()
        return [
            UsageRow(
                day=value if isinstance(value, date) else date.fromisoformat(str(value)),
                model=model,
                user_id=owner,
                username=username,
                prompt_tokens=int(prompt or 0),
                completion_tokens=int(completion or 0),
                total_tokens=int(total or 0),
                replies=int(replies),
            )
            for value, model, owner, username, prompt, completion, total, replies in rows
        ]

    def _utc_day(self, column: Any) -> Any:
        """The UTC calendar day of a stored time, in SQL, so grouping happens in the database.

        SQLite stores UTC digits, so date() suffices; PostgreSQL would otherwise use the
        session's time zone. The zone is a literal, not a parameter: a parameter would be
        bound twice (SELECT and GROUP BY) and PostgreSQL would not see them as one expression.
        """
        dialect = self.db.engine.dialect.name
        if dialect == "sqlite":
            return func.date(column)
        if dialect == "postgresql":
            return cast(func.timezone(literal_column("'UTC'"), column), Date)
        return cast(column, Date)
