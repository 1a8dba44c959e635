"""Users and their browser sessions. Returns plain records; the password hash leaves only in
Credentials, for the sign-in code."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from storage.convert import as_utc, maybe_utc, user_record
from storage.db import Database, rows_changed
from storage.models import AuthSession, SetupStep, User, utcnow
from storage.records import AccountRole, Credentials, QuotaPeriod, SignInSource, UserRecord

# The one account of single-user mode (ANYCHAT_AUTH=none).
LOCAL_USERNAME = "local"
# The setup_steps row that marks the first administrator as created.
FIRST_ADMIN_STEP = "first_admin"
# Writing last_seen_at on every page run would turn each read into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


class UsernameTaken(ValueError):
    """Another account already has this username, ignoring case."""


class AlreadySetUp(ValueError):
    """The first administrator exists already, or another request is creating it now."""


def _check(value: str | None, allowed: Collection[str | None], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what}: {value!r}")


def _same_username(username: str) -> Any:
    # Both sides go through the database's lower(), so the comparison folds case the same way
    # the stored value is folded (ASCII only on SQLite, full Unicode on PostgreSQL).
    return func.lower(User.username) == func.lower(username)


class UserRepository:
    """Accounts, their sign-in state and their browser sessions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create_user(
        self,
        username: str,
        *,
        display_name: str = "",
        password_hash: str | None = None,
        role: str = AccountRole.MEMBER,
        auth_source: str = SignInSource.LOCAL,
        email: str | None = None,
        oidc_issuer: str | None = None,
        oidc_subject: str | None = None,
    ) -> UserRecord:
        """Store the username as typed; refuse one that differs from an existing one only in
        case, since people type their names inconsistently and would otherwise get two
        accounts. A single sign-on account is created bound to its provider identity."""
        if not username.strip():
            raise ValueError("a username cannot be blank")
        _check(role, set(AccountRole), "role")
        _check(auth_source, set(SignInSource), "auth source")
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
        auth_source: str = SignInSource.LOCAL,
        email: str | None = None,
        role: str = AccountRole.MEMBER,
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
                        User.auth_source == SignInSource.OIDC,
                        User.oidc_issuer.is_(None),
                        User.oidc_subject.is_(None),
                    )
                    .values(oidc_issuer=issuer, oidc_subject=subject, email=email)
                )
                return rows_changed(result) == 1
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
        query = select(func.count(User.id)).where(User.role == AccountRole.ADMIN)
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
                    role=AccountRole.ADMIN,
                )
                session.add(row)
                session.flush()
                return user_record(row)
        except IntegrityError as exc:
            raise AlreadySetUp(username) from exc

    def record_login(self, user_id: int) -> None:
        self._update_user(user_id, last_login_at=utcnow())

    def record_sign_out(self, user_id: int, moment: datetime) -> None:
        self._update_user(user_id, signed_out_at=as_utc(moment))

    def signed_out_at(self, user_id: int) -> datetime | None:
        with self.db.session() as session:
            moment = session.scalar(select(User.signed_out_at).where(User.id == user_id))
            return maybe_utc(moment)

    def set_password_hash(self, user_id: int, password_hash: str | None) -> bool:
        return self._update_user(user_id, password_hash=password_hash)

    def set_role(self, user_id: int, role: str) -> bool:
        _check(role, set(AccountRole), "role")
        return self._update_user(user_id, role=role)

    def set_disabled(self, user_id: int, disabled: bool) -> bool:
        """Disabling signs the user out everywhere at once, in the same transaction."""
        with self.db.session() as session:
            result = session.execute(
                update(User).where(User.id == user_id).values(disabled=disabled)
            )
            if disabled:
                session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
            return rows_changed(result) == 1

    def set_quota(
        self,
        user_id: int,
        tokens: int | None,
        period: str | None,
        *,
        money: Decimal | None = None,
    ) -> bool:
        """The whole quota at once: tokens and money share one period."""
        _check(period, {*QuotaPeriod, None}, "quota period")
        return self._update_user(
            user_id, quota_tokens=tokens, quota_period=period, quota_money=money
        )

    def set_language(self, user_id: int, language: str | None) -> bool:
        return self._update_user(user_id, language=language)

    def _update_user(self, user_id: int, **values: Any) -> bool:
        with self.db.session() as session:
            result = session.execute(update(User).where(User.id == user_id).values(**values))
            return rows_changed(result) == 1

    # Sessions ----------------------------------------------------------------------------

    def create_session(self, user_id: int, token_hash: str, expires_at: datetime) -> None:
        with self.db.session() as session:
            session.add(
                AuthSession(user_id=user_id, token_hash=token_hash, expires_at=as_utc(expires_at))
            )

    def session_user(self, token_hash: str, now: datetime) -> UserRecord | None:
        """The signed-in user for a cookie's token: None for an unknown or expired session
        and for a disabled account, so disabling takes effect on the next page run."""
        now = as_utc(now)
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
            if now - as_utc(auth.last_seen_at) >= LAST_SEEN_RESOLUTION:
                auth.last_seen_at = now
            return user_record(user)

    def delete_session(self, token_hash: str) -> bool:
        with self.db.session() as session:
            result = session.execute(
                delete(AuthSession).where(AuthSession.token_hash == token_hash)
            )
            return rows_changed(result) == 1

    def delete_user_sessions(self, user_id: int) -> int:
        with self.db.session() as session:
            return rows_changed(
                session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
            )

    def purge_expired_sessions(self, now: datetime) -> int:
        with self.db.session() as session:
            return rows_changed(
                session.execute(delete(AuthSession).where(AuthSession.expires_at <= as_utc(now)))
            )
