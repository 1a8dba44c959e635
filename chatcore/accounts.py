"""Accounts: passwords, sign-in with lockout, sessions, single sign-on users, administration.

No Streamlit here, so tests drive it with a fake clock. The storage layer only keeps rows;
every rule about who may do what, and every security decision, lives in this module.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chatcore.config import ConfigError, Settings
from storage import UserRecord
from storage.accounts import AccountRepository, UsernameTaken

PASSWORD_MIN_CHARS = 10
# Long enough for any passphrase or manager-generated password, short enough that hashing a
# pasted novel cannot be used to tie up the server.
PASSWORD_MAX_CHARS = 1024
USERNAME_MAX_CHARS = 150
# Letters and digits of any script, plus . _ - @ so e-mail addresses work as usernames.
USERNAME_PATTERN = re.compile(r"[\w.@-]+")
ROLES = ("admin", "member")
EXTERNAL_SOURCES = ("oidc", "proxy", "none")

WRONG_CREDENTIALS = "Wrong username or password."
ACCOUNT_DISABLED = "This account is disabled."
ADMINS_ONLY = "Only administrators can do that."
LAST_ADMIN = "At least one active administrator must remain."
MAX_BACKOFF_SECONDS = 4.0

# Default parameters (argon2id, RFC 9106 low-memory profile). Raising them later is safe:
# a stored hash made with older parameters is rehashed at the next successful sign-in.
_hasher = PasswordHasher()


log = logging.getLogger(__name__)


class AccountError(ValueError):
    """Something the person can fix (a weak password, a taken name) or may not do at all;
    the message is written to be shown as is."""


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of one sign-in attempt: a user and a raw token, or an error to show."""

    user: UserRecord | None
    token: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.token is not None


def check_password(password: str) -> None:
    """Refuse passwords too short to resist guessing, or too long to hash cheaply."""
    if len(password) < PASSWORD_MIN_CHARS:
        raise AccountError(f"The password must have at least {PASSWORD_MIN_CHARS} characters.")
    if len(password) > PASSWORD_MAX_CHARS:
        raise AccountError(f"The password must have at most {PASSWORD_MAX_CHARS} characters.")


def check_username(username: str) -> str:
    """The cleaned username, or AccountError: names end up in URLs, logs and CSV reports."""
    name = username.strip()
    if not 1 <= len(name) <= USERNAME_MAX_CHARS:
        raise AccountError(f"A username has 1 to {USERNAME_MAX_CHARS} characters.")
    if not USERNAME_PATTERN.fullmatch(name):
        raise AccountError("A username may contain only letters, digits and . _ - @")
    return name


def hash_password(password: str) -> str:
    """An argon2id hash (salt and parameters included) — the only form a password is kept in."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches; a damaged or foreign hash is a mismatch, not a crash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so that answer costs as much time as a
    # wrong password and response times do not reveal which usernames exist.
    return _hasher.hash(secrets.token_urlsafe(16))


def new_token() -> str:
    """A session token for the browser's cookie: 256 random bits."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps instead of the token, so a leaked copy cannot sign anyone in.

    A plain SHA-256 suffices (no salt, no argon2): the token is random, not guessable, and
    sessions must be found by this value on every page load.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(moment: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; they were written in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def backoff_seconds(failures: int) -> float:
    """The pause after the n-th wrong password in a row: 0.25 s doubling up to 4 s."""
    return min(2 ** (max(failures, 1) - 1) * 0.25, MAX_BACKOFF_SECONDS)


def _minutes(seconds: float) -> str:
    count = max(1, math.ceil(seconds / 60))
    return f"{count} minute" if count == 1 else f"{count} minutes"


class AccountService:
    """Sign-in, sessions and account administration on top of an AccountRepository."""

    def __init__(
        self,
        repository: AccountRepository,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repository
        self._settings = settings
        self._clock = clock
        self._sleep = sleep

    # --- first start -------------------------------------------------------------------

    def needs_first_admin(self) -> bool:
        """True on a fresh install: the first visitor is offered to create the administrator."""
        return self._repo.count_users() == 0

    def create_first_admin(self, username: str, password: str) -> UserRecord:
        """The setup form's action; refused once anyone exists, so it cannot be replayed."""
        name = check_username(username)
        check_password(password)
        if not self.needs_first_admin():
            raise AccountError("The first administrator has already been created.")
        try:
            return self._repo.create_user(name, password_hash=hash_password(password), role="admin")
        except UsernameTaken:
            # Two setup forms submitted at once: the other one won.
            raise AccountError("The first administrator has already been created.") from None

    def bootstrap_from_settings(self) -> UserRecord | None:
        """Create ANYCHAT_ADMIN_USER on first start, for deployments without a setup form.

        Only ever creates: once the account exists its password is its owner's, and
        restarting with the old variable still set must not reset it.
        """
        username = self._settings.admin_user
        password = self._settings.admin_password
        if not username or not password:
            return None
        if self._repo.find_user(username.strip()) is not None:
            return None
        try:
            name = check_username(username)
            check_password(password)
        except AccountError as exc:
            # A configuration mistake: say which variable, at start-up.
            raise ConfigError(f"ANYCHAT_ADMIN_USER / ANYCHAT_ADMIN_PASSWORD: {exc}") from None
        try:
            return self._repo.create_user(name, password_hash=hash_password(password), role="admin")
        except UsernameTaken:
            return None  # another server process created it at the same moment

    # --- signing in and out ------------------------------------------------------------

    def sign_in(self, username: str, password: str) -> SignIn:
        """Check a password and open a session; errors never tell whether a username exists."""
        now = self._clock()
        name = username.strip()
        credentials = self._repo.credentials(name) if name else None
        if credentials is None or not credentials.password_hash:
            # Unknown, or an account that signs in elsewhere: spend the same time as a wrong
            # password, first verification and first pause included.
            verify_password(_dummy_hash(), password)
            self._sleep(backoff_seconds(1))
            return SignIn(None, None, WRONG_CREDENTIALS)

        user = credentials.user
        if credentials.locked_until is not None:
            left = (_utc(credentials.locked_until) - now).total_seconds()
            if left > 0:
                # Not even checked: a locked account must not be a free guessing oracle.
                return SignIn(
                    None,
                    None,
                    f"Too many failed attempts; try again in {_minutes(left)}.",
                )

        if not verify_password(credentials.password_hash, password):
            failures = self._repo.record_failed_login(
                user.id,
                lock_after=self._settings.login_lock_after,
                lock_seconds=self._settings.login_lock_minutes * 60,
            )
            self._sleep(backoff_seconds(failures))
            return SignIn(None, None, WRONG_CREDENTIALS)

        # Checked after the password, so only someone who knows it learns the account exists.
        if user.disabled:
            return SignIn(None, None, ACCOUNT_DISABLED)

        if needs_rehash(credentials.password_hash):
            self._repo.set_password_hash(user.id, hash_password(password))
        self._repo.record_login(user.id)
        token = new_token()
        expires = now + timedelta(days=self._settings.session_days)
        self._repo.create_session(user.id, token_hash(token), expires)
        return SignIn(self._repo.get_user(user.id) or user, token, None)

    def user_for_token(self, token: str | None) -> UserRecord | None:
        """The signed-in user behind a cookie, or None when absent, expired, ended or disabled."""
        if not token:
            return None
        user = self._repo.session_user(token_hash(token), self._clock())
        if user is None or user.disabled:
            return None
        return user

    def sign_out(self, token: str | None) -> None:
        """End this browser's session; the token is worthless afterwards even if copied."""
        if token:
            self._repo.delete_session(token_hash(token))

    def external_user(
        self,
        username: str,
        *,
        source: str,
        display_name: str = "",
        email: str | None = None,
    ) -> UserRecord | None:
        """The account for someone an identity provider or proxy vouched for; created on first
        sight. None when that account is disabled, belongs to another sign-in source, or when
        the name is missing or unusable.

        Another source's account is never handed out: a provider naming someone "admin" must
        not open the local account of that name. On an install without any administrator the
        first such account becomes one, so an SSO-only team is never left without someone who
        can manage it.
        """
        if source not in EXTERNAL_SOURCES:
            raise AccountError(f"Unknown sign-in source {source!r}.")
        name = username.strip()
        if not name or len(name) > USERNAME_MAX_CHARS:
            return None
        role = "admin" if self._repo.count_admins(active_only=False) == 0 else "member"
        user = self._repo.ensure_user(
            name, display_name=display_name, auth_source=source, email=email, role=role
        )
        if user.auth_source != source:
            log.warning("refused a %s sign-in for an account of another source", source)
            return None
        return None if user.disabled else user

    def change_own_password(
        self, user: UserRecord, current: str, new: str, *, keep_token: str | None = None
    ) -> None:
        """Change one's own password, proving the current one first, and sign out every other
        browser: a password is usually changed because someone else may know it.

        `keep_token` is the session doing the change, kept signed in; without it every session
        ends. A wrong current password counts as a failed sign-in (with the same pause and
        lock), so a borrowed, still-open session cannot be used to guess it.
        """
        credentials = self._repo.credentials(user.username)
        if credentials is None or credentials.user.id != user.id:
            raise AccountError("This account no longer exists.")
        if not credentials.password_hash:
            raise AccountError("This account signs in elsewhere and has no password here.")
        if credentials.locked_until is not None:
            left = (_utc(credentials.locked_until) - self._clock()).total_seconds()
            if left > 0:
                raise AccountError(f"Too many failed attempts; try again in {_minutes(left)}.")
        if not verify_password(credentials.password_hash, current):
            failures = self._repo.record_failed_login(
                user.id,
                lock_after=self._settings.login_lock_after,
                lock_seconds=self._settings.login_lock_minutes * 60,
            )
            self._sleep(backoff_seconds(failures))
            raise AccountError("The current password is wrong.")
        check_password(new)
        self._repo.set_password_hash(user.id, hash_password(new))
        keep = self.user_for_token(keep_token) if keep_token else None
        self._repo.delete_user_sessions(user.id)
        if keep is not None and keep.id == user.id and keep_token:
            expires = self._clock() + timedelta(days=self._settings.session_days)
            self._repo.create_session(user.id, token_hash(keep_token), expires)

    # --- administration ----------------------------------------------------------------

    def _require_admin(self, admin: UserRecord) -> UserRecord:
        # Re-read: the record a page holds may predate a demotion or a disabling.
        current = self._repo.get_user(admin.id)
        if current is None or not current.is_admin or current.disabled:
            raise AccountError(ADMINS_ONLY)
        return current

    def _target(self, user_id: int) -> UserRecord:
        user = self._repo.get_user(user_id)
        if user is None:
            raise AccountError("No such user.")
        return user

    def _is_last_active_admin(self, user: UserRecord) -> bool:
        return (
            user.is_admin and not user.disabled and self._repo.count_admins(active_only=True) <= 1
        )

    def create_user(
        self, admin: UserRecord, username: str, password: str, role: str = "member"
    ) -> UserRecord:
        """A local account with a first password the administrator hands over."""
        self._require_admin(admin)
        name = check_username(username)
        if role not in ROLES:
            raise AccountError(f"The role must be one of {', '.join(ROLES)}.")
        check_password(password)
        try:
            return self._repo.create_user(name, password_hash=hash_password(password), role=role)
        except UsernameTaken:
            raise AccountError(f"The username {name!r} is taken.") from None

    def reset_password(self, admin: UserRecord, user_id: int, password: str) -> UserRecord:
        """Set a forgotten password; ends the user's sessions and lifts any lock, because a
        reset usually follows either a lockout or a suspected compromise."""
        self._require_admin(admin)
        target = self._target(user_id)
        if target.auth_source != "local":
            raise AccountError(
                f"{target.username} signs in through {target.auth_source} and has no password here."
            )
        check_password(password)
        self._repo.set_password_hash(user_id, hash_password(password))
        self._repo.unlock(user_id)
        self._repo.delete_user_sessions(user_id)
        return self._target(user_id)

    def set_role(self, admin: UserRecord, user_id: int, role: str) -> UserRecord:
        self._require_admin(admin)
        if role not in ROLES:
            raise AccountError(f"The role must be one of {', '.join(ROLES)}.")
        target = self._target(user_id)
        if role != "admin" and self._is_last_active_admin(target):
            raise AccountError(LAST_ADMIN)
        self._repo.set_role(user_id, role)
        return self._target(user_id)

    def set_disabled(self, admin: UserRecord, user_id: int, disabled: bool) -> UserRecord:
        """Disable (which also ends the user's sessions) or re-enable an account."""
        acting = self._require_admin(admin)
        target = self._target(user_id)
        if disabled and target.id == acting.id:
            raise AccountError("You cannot disable your own account.")
        if disabled and self._is_last_active_admin(target):
            raise AccountError(LAST_ADMIN)
        self._repo.set_disabled(user_id, disabled)
        return self._target(user_id)

    def set_quota(
        self, admin: UserRecord, user_id: int, tokens: int | None, period: str | None
    ) -> UserRecord:
        """Limit a user's tokens per day or month; None lifts the limit."""
        self._require_admin(admin)
        self._target(user_id)
        if tokens is None:
            period = None
        else:
            if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
                raise AccountError("A quota is a whole number of tokens, at least 1.")
            if period not in ("day", "month"):
                raise AccountError('A quota needs a period: "day" or "month".')
        self._repo.set_quota(user_id, tokens, period)
        return self._target(user_id)

    def unlock(self, admin: UserRecord, user_id: int) -> UserRecord:
        """Lift a lock after too many wrong passwords, before it runs out."""
        self._require_admin(admin)
        self._target(user_id)
        self._repo.unlock(user_id)
        return self._target(user_id)
