"""Accounts: passwords, throttled sign-in, sessions, single sign-on users, administration.

No Streamlit here, so tests drive it with a fake clock. The storage layer only keeps rows;
every rule about who may do what, and every security decision, lives in this module.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chatcore.config import Settings
from chatcore.errors import AccountError, ConfigError, Sentence
from chatcore.i18n import AUTO, N_, normalise
from chatcore.team.signin_throttle import SignInThrottle
from chatcore.team.tokens import same_secret, token_hash
from storage import LOCAL_USERNAME, UserRecord
from storage.records import AccountRole, QuotaPeriod, SignInSource
from storage.users import AlreadySetUp, UsernameTaken, UserRepository

PASSWORD_MIN_CHARS = 10
# Long enough for any passphrase or manager-generated password, short enough that hashing a
# pasted novel cannot be used to tie up the server.
PASSWORD_MAX_CHARS = 1024
USERNAME_MAX_CHARS = 150
# Letters and digits of any script, plus . _ - @ so e-mail addresses work as usernames.
USERNAME_PATTERN = re.compile(r"[\w.@-]+")
_USERNAME_UNSAFE = re.compile(r"[^\w.@-]+")
# Sizes of the users table's columns (storage/models.py): claims longer than these are cut or
# refused here, rather than failing the insert on PostgreSQL.
DISPLAY_NAME_MAX_CHARS = 200
EMAIL_MAX_CHARS = 320
OIDC_ISSUER_MAX_CHARS = 500
OIDC_SUBJECT_MAX_CHARS = 255
# "mei", "mei-2", … "mei-100": how many taken names a new single sign-on account may skip.
OIDC_NAME_TRIES = 100
# Sources whose accounts are found by name; single sign-on accounts go through oidc_user.
EXTERNAL_SOURCES = (SignInSource.PROXY, SignInSource.NONE)

WRONG_CREDENTIALS = Sentence("wrong_credentials", N_("Wrong username or password."))
ACCOUNT_DISABLED = Sentence("account_disabled", N_("This account is disabled."))
ADMINS_ONLY = N_("Only administrators can do that.")
LAST_ADMIN = N_("At least one active administrator must remain.")
ALREADY_SET_UP = N_("The first administrator has already been created.")
WRONG_SETUP_CODE = N_("The setup code is wrong; use the one in this server's log.")
# users.quota_money is Numeric(14, 4): ten digits before the point, four after.
MONEY_QUOTA_MAX = 1_000_000_000
MONEY_QUOTA_STEP = Decimal("0.0001")
# 80 random bits: read from the log and pasted once, never guessed.
SETUP_CODE_BYTES = 10
# Expired sessions are deleted at start, then at most this often, by a sign-in: only sign-ins
# add sessions, so between them nothing piles up.
SESSION_PURGE_INTERVAL = timedelta(days=1)

# Default parameters (argon2id, RFC 9106 low-memory profile). Raising them later is safe:
# a stored hash made with older parameters is rehashed at the next successful sign-in.
_hasher = PasswordHasher()


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of one sign-in attempt: a user and a raw token, or an error to show."""

    user: UserRecord | None
    token: str | None
    error: Sentence | None
    # Seconds to hold the answer back (the account's recent failures); the caller waits, so
    # an HTTP route can await it instead of holding a worker thread.
    delay: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.token is not None


def check_password(password: str) -> None:
    """Refuse passwords too short to resist guessing, or too long to hash cheaply."""
    if len(password) < PASSWORD_MIN_CHARS:
        raise AccountError(
            N_("The password must have at least {minimum} characters."),
            code="password_too_short",
            minimum=PASSWORD_MIN_CHARS,
        )
    if len(password) > PASSWORD_MAX_CHARS:
        raise AccountError(
            N_("The password must have at most {limit} characters."),
            code="password_too_long",
            limit=PASSWORD_MAX_CHARS,
        )


def check_username(username: str) -> str:
    """The cleaned username, or AccountError: names end up in URLs, logs and CSV reports."""
    name = username.strip()
    if not 1 <= len(name) <= USERNAME_MAX_CHARS:
        raise AccountError(
            N_("A username has {minimum} to {limit} characters."),
            code="username_length",
            minimum=1,
            limit=USERNAME_MAX_CHARS,
        )
    if not USERNAME_PATTERN.fullmatch(name):
        raise AccountError(
            N_("A username may contain only letters, digits and . _ - @"),
            code="username_characters",
        )
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


def oidc_username(preferred_username: str, email: str | None, subject: str) -> str:
    """The name a new single sign-on account starts from: preferred_username, else the
    verified e-mail address, else a tag made from the subject (which can be long, opaque, or
    personal like an employee number). Characters a username may not hold become "-", so
    the name stays fit for URLs, logs and reports."""
    for claim in (preferred_username, email or ""):
        name = _USERNAME_UNSAFE.sub("-", claim.strip()).strip("-")[:USERNAME_MAX_CHARS]
        if name:
            return name
    return f"user-{hashlib.sha256(subject.encode()).hexdigest()[:10]}"


def _numbered(name: str) -> Iterator[str]:
    """`name`, then `name-2`, `name-3`…, each cut to fit the username column."""
    yield name
    for number in range(2, OIDC_NAME_TRIES + 1):
        suffix = f"-{number}"
        yield name[: USERNAME_MAX_CHARS - len(suffix)] + suffix


def _money_quota(value: Decimal | float | str) -> Decimal:
    """An amount above zero, kept to the ten-thousandth the column stores."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or not 0 < amount <= MONEY_QUOTA_MAX:
        raise AccountError(
            N_("A money quota is an amount above 0 and at most {maximum:,}."),
            code="quota_money_not_amount",
            maximum=MONEY_QUOTA_MAX,
        )
    return max(amount.quantize(MONEY_QUOTA_STEP, rounding=ROUND_HALF_UP), MONEY_QUOTA_STEP)


class AccountService:
    """Sign-in, sessions and account administration on top of a UserRepository."""

    def __init__(
        self,
        repository: UserRepository,
        settings: Settings,
        throttle: SignInThrottle,
        *,
        secret: bytes,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repository
        self._settings = settings
        self._throttle = throttle
        self._secret = secret
        self._clock = clock
        # Only change_own_password sleeps: it runs on the teammate's own script thread.
        self._sleep = sleep
        self._setup_code: str | None = None
        self._setup_lock = threading.Lock()
        self._next_purge: datetime | None = None  # None: due now

    # --- first start -------------------------------------------------------------------

    def needs_first_admin(self) -> bool:
        """True on a fresh install: the first visitor is offered to create the administrator."""
        return self._repo.count_users() == 0

    def setup_code(self) -> str:
        """The one-time code the setup form asks for, printed in the server's log at start,
        so that the administrator is created by whoever runs the server, not by whoever
        finds a fresh install first.

        Made on first use and kept in this process's memory only: several server processes
        each make and print their own (each accepts only its own), and a restart makes a
        new one.
        """
        with self._setup_lock:
            if self._setup_code is None:
                self._setup_code = secrets.token_hex(SETUP_CODE_BYTES)
            return self._setup_code

    def create_first_admin(self, username: str, password: str, setup_code: str) -> UserRecord:
        """The setup form's action. A wrong code changes nothing; once the first
        administrator exists it is refused, even for two forms submitted at the same moment
        (the repository makes the creation itself a one-time step)."""
        name = check_username(username)
        check_password(password)
        if not same_secret(setup_code.strip(), self.setup_code()):
            raise AccountError(WRONG_SETUP_CODE, code="wrong_setup_code")
        if not self.needs_first_admin():
            raise AccountError(ALREADY_SET_UP, code="already_set_up")
        try:
            return self._repo.create_first_admin(name, hash_password(password))
        except AlreadySetUp:
            raise AccountError(ALREADY_SET_UP, code="already_set_up") from None

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
            raise ConfigError(
                N_("ANYCHAT_ADMIN_USER / ANYCHAT_ADMIN_PASSWORD: {detail}"),
                code="admin_setting_invalid",
                reason=exc.code,
                detail=exc.message,
                **exc.params,
            ) from None
        try:
            return self._repo.create_user(
                name, password_hash=hash_password(password), role=AccountRole.ADMIN
            )
        except UsernameTaken:
            return None  # another server process created it at the same moment

    # --- signing in and out ------------------------------------------------------------

    def sign_in(self, username: str, password: str, *, address: str | None = None) -> SignIn:
        """Check a password and open a session; errors never tell whether a username exists.

        The attempt is counted first (see chatcore/signin_throttle.py), for the name and the
        client `address`: past the limit it is refused unchecked. The answer's `delay` is the
        same for a right password, a wrong one and an unknown name, so waiting or giving up
        early tells a guesser nothing; the caller waits it out.
        """
        name = username.strip()
        decision = self._throttle.attempt(name, address)
        if not decision.allowed:
            return SignIn(None, None, decision.error)
        wrong = SignIn(None, None, WRONG_CREDENTIALS, decision.delay)
        credentials = self._repo.credentials(name) if name else None
        if credentials is None or not credentials.password_hash:
            # Unknown, or an account that signs in elsewhere: spend the same time as a wrong
            # password.
            verify_password(_dummy_hash(), password)
            return wrong
        if not verify_password(credentials.password_hash, password):
            return wrong

        user = credentials.user
        # Checked after the password, so only someone who knows it learns the account exists.
        if user.disabled:
            return SignIn(None, None, ACCOUNT_DISABLED, decision.delay)

        self._throttle.succeeded(name, address)
        if needs_rehash(credentials.password_hash):
            self._repo.set_password_hash(user.id, hash_password(password))
        self._repo.record_login(user.id)
        token = new_token()
        expires = self._clock() + timedelta(days=self._settings.session_days)
        self._repo.create_session(user.id, token_hash(token), expires)
        self._purge_if_due()
        return SignIn(self._repo.get_user(user.id) or user, token, None, decision.delay)

    def purge_expired_sessions(self) -> int:
        """Delete the sessions past their expiry; how many. Called once at start, then by
        sign_in when SESSION_PURGE_INTERVAL has passed since the last time."""
        now = self._clock()
        self._next_purge = now + SESSION_PURGE_INTERVAL
        return self._repo.purge_expired_sessions(now)

    def _purge_if_due(self) -> None:
        # Two sign-ins at the same moment may both purge: the delete is idempotent.
        if self._next_purge is None or self._clock() >= self._next_purge:
            self.purge_expired_sessions()

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

    def end_single_sign_on(self, user: UserRecord) -> None:
        """Record that this person signed out of single sign-on. Streamlit's identity cookie
        cannot be revoked on the server, so their tabs opened before now are refused at their
        next action instead (see `still_signed_in`)."""
        self._repo.record_sign_out(user.id, self._clock())

    def still_signed_in(self, user_id: int, since: datetime) -> UserRecord | None:
        """The account behind a single sign-on connection opened at `since`, or None when it
        has been disabled, removed, or signed out of since then."""
        user = self._repo.get_user(user_id)
        if user is None or user.disabled:
            return None
        ended = self._repo.signed_out_at(user_id)
        return None if ended is not None and ended >= since else user

    def sign_out_code(self, token: str) -> str:
        """What a sign-out form must post back: bound to this browser's session and keyed
        with the server secret, so another site can neither read nor forge it, and cannot
        sign a teammate out."""
        message = f"anychat-sign-out:{token_hash(token)}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def check_sign_out_code(self, token: str | None, code: str) -> bool:
        return bool(token) and same_secret(code, self.sign_out_code(token or ""))

    def external_user(
        self,
        username: str,
        *,
        source: str,
        display_name: str = "",
        email: str | None = None,
    ) -> UserRecord | None:
        """The account for someone a reverse proxy vouched for by name; created on first
        sight. None when that account is disabled, belongs to another sign-in source, or when
        the name is missing or unusable.

        Another source's account is never handed out: a proxy naming someone "admin" must not
        open the local account of that name. Single sign-on has its own way in, oidc_user.
        """
        if source not in EXTERNAL_SOURCES:
            raise AccountError(
                N_("Unknown sign-in source {source!r}."),
                code="unknown_sign_in_source",
                source=source,
            )
        name = username.strip()
        if not name or len(name) > USERNAME_MAX_CHARS:
            return None
        # Asked on every message of a proxy's tab: an existing account costs one read; only
        # a first sign-in asks whether the team has an administrator yet.
        user = self._repo.find_user(name) or self._repo.ensure_user(
            name,
            display_name=display_name,
            auth_source=source,
            email=email,
            role=self._new_external_role(),
        )
        if user.auth_source != source:
            log.warning("refused a %s sign-in for an account of another source", source)
            return None
        return None if user.disabled else user

    def oidc_user(
        self,
        issuer: str,
        subject: str,
        *,
        preferred_username: str = "",
        display_name: str = "",
        email: str | None = None,
        email_verified: bool = False,
    ) -> UserRecord | None:
        """The account of the person an OpenID Connect provider signed in, created on first
        sight. None when it is disabled, or when the issuer or subject is missing or too long.

        A person is their (issuer, subject) pair: the only claims OIDC promises are unique
        and never reassigned. preferred_username may be shared, reused or edited by its
        owner, so it only names a new account (with a suffix when taken: a second "mei"
        becomes "mei-2"), and a renamed person keeps their account. The e-mail is kept only
        when the provider says it verified it. No local or proxy account is ever opened.
        """
        if not 0 < len(issuer) <= OIDC_ISSUER_MAX_CHARS:
            return None
        if not 0 < len(subject) <= OIDC_SUBJECT_MAX_CHARS:
            return None
        address = (email or "").strip()
        verified = address if email_verified and 0 < len(address) <= EMAIL_MAX_CHARS else None
        name = preferred_username.strip()
        user = (
            self._repo.find_oidc_user(issuer, subject)
            or self._bind_legacy_oidc_account(issuer, subject, name, verified)
            or self._create_oidc_account(issuer, subject, name, display_name, verified)
        )
        return None if user.disabled else user

    def _bind_legacy_oidc_account(
        self, issuer: str, subject: str, preferred_username: str, email: str | None
    ) -> UserRecord | None:
        """The account an earlier AnyChat made for this name, now bound to this identity.

        Before identities were kept, single sign-on accounts were found by name alone (the
        preferred_username claim, else the e-mail, else the subject). Such an account, of
        source "oidc" and not yet bound, goes to the first sign-in presenting its name, which
        is what the old code trusted anyway, and only once: from then on only its (issuer,
        subject) opens it. An unverified e-mail no longer counts as a name.
        """
        legacy = self._repo.find_user(preferred_username or email or subject)
        if legacy is None or legacy.auth_source != SignInSource.OIDC:
            return None
        if not self._repo.bind_oidc_identity(legacy.id, issuer, subject, email=email):
            return None
        log.info("bound single sign-on account %d to its provider identity", legacy.id)
        return self._repo.get_user(legacy.id)

    def _create_oidc_account(
        self,
        issuer: str,
        subject: str,
        preferred_username: str,
        display_name: str,
        email: str | None,
    ) -> UserRecord:
        """A new account bound to the identity, under the first free name the claims give."""
        role = self._new_external_role()
        for username in _numbered(oidc_username(preferred_username, email, subject)):
            try:
                return self._repo.create_user(
                    username,
                    display_name=display_name.strip()[:DISPLAY_NAME_MAX_CHARS],
                    role=role,
                    auth_source=SignInSource.OIDC,
                    email=email,
                    oidc_issuer=issuer,
                    oidc_subject=subject,
                )
            except UsernameTaken:
                # Someone else's name, or this person's first sign-in in another tab just
                # made the account.
                found = self._repo.find_oidc_user(issuer, subject)
                if found is not None:
                    return found
        raise AccountError(
            N_("No free username is left for this account; ask an administrator."),
            code="no_free_username",
        )

    def _new_external_role(self) -> str:
        """On an install without any administrator the first account made by a proxy or a
        provider becomes one, so an SSO-only team is never left without someone who can
        manage it."""
        no_admin = self._repo.count_admins(active_only=False) == 0
        return AccountRole.ADMIN if no_admin else AccountRole.MEMBER

    def change_own_password(
        self,
        user: UserRecord,
        current: str,
        new: str,
        *,
        keep_token: str | None = None,
        address: str | None = None,
    ) -> None:
        """Change one's own password, proving the current one first, and sign out every other
        browser: a password is usually changed because someone else may know it.

        `keep_token` is the session doing the change, kept signed in; without it every session
        ends. Proving the current password is throttled exactly like signing in with this
        name from the client `address` (the same limit and delay; without an address, the
        account's delay only), so a borrowed, still-open session cannot be used to guess it.
        """
        credentials = self._repo.credentials(user.username)
        if credentials is None or credentials.user.id != user.id:
            raise AccountError(N_("This account no longer exists."), code="account_gone")
        if not credentials.password_hash:
            raise AccountError(
                N_("This account signs in elsewhere and has no password here."),
                code="no_local_password",
            )
        decision = self._throttle.attempt(user.username, address)
        if not decision.allowed:
            wait = max(1, math.ceil(decision.retry_after / 60))
            if wait == 1:
                raise AccountError(
                    N_("Too many attempts from this address; try again in {minutes} minute."),
                    code="too_many_attempts_one_minute",
                    minutes=wait,
                    retry_after=decision.retry_after,
                )
            raise AccountError(
                N_("Too many attempts from this address; try again in {minutes} minutes."),
                code="too_many_attempts",
                minutes=wait,
                retry_after=decision.retry_after,
            )
        if decision.delay:
            self._sleep(decision.delay)
        if not verify_password(credentials.password_hash, current):
            raise AccountError(N_("The current password is wrong."), code="wrong_current_password")
        self._throttle.succeeded(user.username, address)
        check_password(new)
        self._repo.set_password_hash(user.id, hash_password(new))
        keep = self.user_for_token(keep_token) if keep_token else None
        self._repo.delete_user_sessions(user.id)
        if keep is not None and keep.id == user.id and keep_token:
            expires = self._clock() + timedelta(days=self._settings.session_days)
            self._repo.create_session(user.id, token_hash(keep_token), expires)

    def local_user(self) -> UserRecord:
        """The one account of single-user mode (ANYCHAT_AUTH=none); it administers itself."""
        user = self._repo.ensure_user(
            LOCAL_USERNAME,
            display_name="Local user",
            auth_source=SignInSource.NONE,
            role=AccountRole.ADMIN,
        )
        if not user.is_admin:  # a "local" user carried over from before accounts existed
            self._repo.set_role(user.id, AccountRole.ADMIN)
            user = self._repo.get_user(user.id) or user
        return user

    def list_users(self, admin: UserRecord) -> list[UserRecord]:
        """Every account, for the Admin page."""
        self._require_admin(admin)
        return self._repo.list_users()

    # --- administration ----------------------------------------------------------------

    def require_admin(self, admin: UserRecord) -> UserRecord:
        """For other services' administrator-only actions (retention): the same check the
        account actions make, against the account as it is now."""
        return self._require_admin(admin)

    def _require_admin(self, admin: UserRecord) -> UserRecord:
        # Re-read: the record a page holds may predate a demotion or a disabling.
        current = self._repo.get_user(admin.id)
        if current is None or not current.is_admin or current.disabled:
            raise AccountError(ADMINS_ONLY, code="admins_only")
        return current

    def _target(self, user_id: int) -> UserRecord:
        user = self._repo.get_user(user_id)
        if user is None:
            raise AccountError(N_("No such user."), code="no_such_user")
        return user

    def _is_last_active_admin(self, user: UserRecord) -> bool:
        return (
            user.is_admin and not user.disabled and self._repo.count_admins(active_only=True) <= 1
        )

    def create_user(
        self, admin: UserRecord, username: str, password: str, role: str = AccountRole.MEMBER
    ) -> UserRecord:
        """A local account with a first password the administrator hands over."""
        self._require_admin(admin)
        name = check_username(username)
        if role not in set(AccountRole):
            raise AccountError(
                N_("The role must be one of {roles}."),
                code="unknown_role",
                roles=", ".join(AccountRole),
            )
        check_password(password)
        try:
            return self._repo.create_user(name, password_hash=hash_password(password), role=role)
        except UsernameTaken:
            raise AccountError(
                N_("The username {username!r} is taken."), code="username_taken", username=name
            ) from None

    def reset_password(self, admin: UserRecord, user_id: int, password: str) -> UserRecord:
        """Set a forgotten password; ends the user's sessions and clears their sign-in
        throttling, because a reset follows either a forgotten password (often after many
        wrong tries) or a suspected compromise."""
        self._require_admin(admin)
        target = self._target(user_id)
        if target.auth_source != SignInSource.LOCAL:
            raise AccountError(
                N_("{username} signs in through {source} and has no password here."),
                code="signs_in_elsewhere",
                username=target.username,
                source=target.auth_source,
            )
        check_password(password)
        self._repo.set_password_hash(user_id, hash_password(password))
        self._throttle.clear_account(target.username)
        self._repo.delete_user_sessions(user_id)
        return self._target(user_id)

    def set_role(self, admin: UserRecord, user_id: int, role: str) -> UserRecord:
        self._require_admin(admin)
        if role not in set(AccountRole):
            raise AccountError(
                N_("The role must be one of {roles}."),
                code="unknown_role",
                roles=", ".join(AccountRole),
            )
        target = self._target(user_id)
        if role != AccountRole.ADMIN and self._is_last_active_admin(target):
            raise AccountError(LAST_ADMIN, code="last_admin")
        self._repo.set_role(user_id, role)
        return self._target(user_id)

    def set_disabled(self, admin: UserRecord, user_id: int, disabled: bool) -> UserRecord:
        """Disable (which also ends the user's sessions) or re-enable an account."""
        acting = self._require_admin(admin)
        target = self._target(user_id)
        if disabled and target.id == acting.id:
            raise AccountError(N_("You cannot disable your own account."), code="disable_self")
        if disabled and self._is_last_active_admin(target):
            raise AccountError(LAST_ADMIN, code="last_admin")
        self._repo.set_disabled(user_id, disabled)
        return self._target(user_id)

    def set_quota(
        self,
        admin: UserRecord,
        user_id: int,
        tokens: int | None,
        period: str | None,
        money: Decimal | float | str | None = None,
    ) -> UserRecord:
        """Limit a user's tokens, money (in the installation's currency) or both per day or
        month, as the Admin form saves them, together; None lifts that limit."""
        self._require_admin(admin)
        self._target(user_id)
        amount = None if money is None or money == "" else _money_quota(money)
        if tokens is None and amount is None:
            period = None
        else:
            if tokens is not None and (
                isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1
            ):
                raise AccountError(
                    N_("A quota is a whole number of tokens, at least {minimum}."),
                    code="quota_not_whole",
                    minimum=1,
                )
            if period not in set(QuotaPeriod):
                raise AccountError(
                    N_('A quota needs a period: "day" or "month".'), code="quota_period_missing"
                )
        self._repo.set_quota(user_id, tokens, period, money=amount)
        return self._target(user_id)

    def set_language(self, user: UserRecord, language: str | None) -> UserRecord:
        """Keep the person's interface language on their account, for every tab and device;
        None (or "auto") follows each browser's language again."""
        chosen = None if language in (None, AUTO) else normalise(str(language))
        if language not in (None, AUTO) and chosen is None:
            raise AccountError(
                N_("AnyChat has no interface in “{language}”."),
                code="unknown_language",
                language=language,
            )
        self._repo.set_language(user.id, chosen)
        return self._target(user.id)

    def clear_sign_in_throttle(self, admin: UserRecord, user_id: int) -> UserRecord:
        """Forget the account's recent sign-in attempts from every address, so whoever was
        made to wait (its owner after mistyping, say) may try again at once."""
        self._require_admin(admin)
        target = self._target(user_id)
        self._throttle.clear_account(target.username)
        return target
