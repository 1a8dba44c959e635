"""Accounts, personal keys and quotas, driven through the real repository on SQLite.

SQLite only, on purpose: each sign-in costs a real argon2 hash, and the repository's own tests
already run every query on PostgreSQL too. A fake clock and a recording sleep make throttling
windows, expiry and delays instant and exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from chatcore.config import Settings, load_settings
from chatcore.errors import (
    AccountError,
    ChatInputError,
    ConfigError,
    KeyUnreadable,
    QuotaExceeded,
)
from chatcore.team import accounts
from chatcore.team.accounts import (
    ACCOUNT_DISABLED,
    ADMINS_ONLY,
    ALREADY_SET_UP,
    LAST_ADMIN,
    WRONG_CREDENTIALS,
    WRONG_SETUP_CODE,
    AccountService,
    SignIn,
    check_password,
    new_token,
    verify_password,
)
from chatcore.team.keys import KeyVault, PersonalKeys
from chatcore.team.signin_throttle import MAX_DELAY_SECONDS, SignInThrottle
from chatcore.team.tokens import token_hash
from chatcore.team.usage import CSV_HEADER, check_quota, period_start, remaining, usage_csv
from storage import (
    Database,
    KeyRepository,
    UsageLedger,
    UsageRow,
    UserRecord,
    UserRepository,
    upgrade_to_head,
)
from storage.models import UsageEvent
from storage.signin import SignInAttemptRepository
from tests.support.sql import statements

PASSWORD = "correct horse battery"
OTHER_PASSWORD = "another long passphrase"
SECRET = b"test-server-secret"
HERE = "198.51.100.7"
ELSEWHERE = "203.0.113.9"
TOO_MANY = "Too many attempts from this address; try again in 15 minutes."


class FakeClock:
    """Starts at the real time: the repository stamps some rows (a session's last use) with
    the real clock."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'accounts.db'}")
    upgrade_to_head(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def repo(db: Database) -> UserRepository:
    return UserRepository(db)


@pytest.fixture
def base_settings() -> Settings:
    return replace(load_settings(env={}, secrets={}), secret_key="test-server-secret")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def make_service(
    repo: UserRepository, base_settings: Settings, clock: FakeClock, sleep: RecordingSleep
) -> Callable[..., AccountService]:
    def make(**overrides: Any) -> AccountService:
        settings = replace(base_settings, **overrides)
        throttle = SignInThrottle(
            SignInAttemptRepository(repo.db), settings, secret=SECRET, clock=clock
        )
        return AccountService(repo, settings, throttle, secret=SECRET, clock=clock, sleep=sleep)

    return make


@pytest.fixture
def service(make_service: Callable[..., AccountService]) -> AccountService:
    return make_service()


@pytest.fixture
def admin(service: AccountService) -> UserRecord:
    return service.create_first_admin("root", PASSWORD, service.setup_code())


@pytest.fixture
def member(service: AccountService, admin: UserRecord) -> UserRecord:
    return service.create_user(admin, "bob", PASSWORD)


# --- configuration --------------------------------------------------------------------------


def test_account_settings_have_safe_defaults() -> None:
    settings = load_settings(env={}, secrets={})
    assert settings.auth_mode == "local"
    assert settings.admin_user is None
    assert settings.admin_password is None
    assert settings.proxy_header == "X-Forwarded-User"
    assert settings.session_days == 30.0
    assert settings.signin_limit == 5
    assert settings.signin_window_minutes == 15.0
    assert settings.trusted_proxies == ("127.0.0.1", "::1")


def test_account_settings_are_read_and_checked() -> None:
    settings = load_settings(
        env={"ANYCHAT_AUTH": "Proxy", "ANYCHAT_SESSION_DAYS": "0.5"},
        secrets={
            "ANYCHAT_SIGNIN_LIMIT": 3,
            "ANYCHAT_SIGNIN_WINDOW_MINUTES": 2.5,
            "ANYCHAT_TRUSTED_PROXIES": "10.0.0.0/8, fd00::1",
            "ANYCHAT_PROXY_HEADER": "Remote-User",
        },
    )
    assert settings.auth_mode == "proxy"
    assert settings.session_days == 0.5
    assert (settings.signin_limit, settings.signin_window_minutes) == (3, 2.5)
    assert settings.trusted_proxies == ("10.0.0.0/8", "fd00::1")
    assert settings.proxy_header == "Remote-User"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ANYCHAT_AUTH", "ldap"),
        ("ANYCHAT_SESSION_DAYS", "0"),
        ("ANYCHAT_SIGNIN_LIMIT", "0"),
        ("ANYCHAT_SIGNIN_WINDOW_MINUTES", "0"),
        ("ANYCHAT_TRUSTED_PROXIES", "proxy.intranet.example"),
    ],
)
def test_unusable_account_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env={name: value}, secrets={})


def test_the_admin_password_never_appears_in_repr() -> None:
    settings = load_settings(
        env={"ANYCHAT_ADMIN_USER": "root", "ANYCHAT_ADMIN_PASSWORD": "hunter2-but-longer"},
        secrets={},
    )
    assert settings.admin_password == "hunter2-but-longer"
    assert "hunter2-but-longer" not in repr(settings)
    assert "hunter2-but-longer" not in str(settings)


# --- passwords and tokens -------------------------------------------------------------------


def test_password_policy_bounds() -> None:
    check_password("x" * 10)
    check_password("x" * 1024)
    with pytest.raises(AccountError, match="at least 10"):
        check_password("x" * 9)
    with pytest.raises(AccountError, match="at most 1024"):
        check_password("x" * 1025)


def test_only_an_argon2id_hash_is_stored(
    service: AccountService, repo: UserRepository, db: Database
) -> None:
    service.create_first_admin("root", PASSWORD, service.setup_code())
    credentials = repo.credentials("root")
    assert credentials is not None and credentials.password_hash is not None
    assert credentials.password_hash.startswith("$argon2id$")
    assert PASSWORD not in credentials.password_hash
    with db.engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM users")).one()
    assert not any(PASSWORD in str(value) for value in row)
    assert verify_password(credentials.password_hash, PASSWORD)
    assert not verify_password(credentials.password_hash, OTHER_PASSWORD)
    assert not verify_password("not a hash", PASSWORD)


def test_an_outdated_hash_is_replaced_at_sign_in(
    service: AccountService, repo: UserRepository, admin: UserRecord
) -> None:
    weak = accounts.PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    repo.set_password_hash(admin.id, weak)
    assert service.sign_in("root", PASSWORD).ok
    credentials = repo.credentials("root")
    assert credentials is not None and credentials.password_hash != weak
    assert verify_password(str(credentials.password_hash), PASSWORD)


def test_tokens_are_random_and_hashed_with_sha256() -> None:
    token = new_token()
    assert len(token) >= 43 and token != new_token()
    assert len(token_hash(token)) == 64 and token not in token_hash(token)
    assert token_hash(token) == token_hash(token)


# --- signing in -----------------------------------------------------------------------------


def test_unknown_user_and_wrong_password_look_the_same(
    service: AccountService,
    admin: UserRecord,
    sleep: RecordingSleep,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verified: list[str] = []

    def spy(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return verify_password(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", spy)
    unknown = service.sign_in("nobody", PASSWORD, address=HERE)
    wrong = service.sign_in("root", OTHER_PASSWORD, address=HERE)
    assert unknown == wrong == SignIn(None, None, WRONG_CREDENTIALS, 0.0)
    # Both paths ran one argon2 verification; neither slept (the caller waits out `delay`).
    assert len(verified) == 2 and all(h.startswith("$argon2id$") for h in verified)
    assert sleep.calls == []


def _outcomes(
    service: AccountService, username: str, password: str, address: str, times: int
) -> list[tuple[str | None, float]]:
    results = [service.sign_in(username, password, address=address) for _ in range(times)]
    return [(str(result.error) if result.error else None, result.delay) for result in results]


def test_known_and_unknown_names_get_identical_decisions(
    service: AccountService, admin: UserRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same delays, then the same refusal, for an account and a name that is none; past
    the limit no password is checked at all."""
    checked: list[str] = []

    def spy(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return verify_password(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", spy)
    known = _outcomes(service, "root", OTHER_PASSWORD, HERE, 7)
    unknown = _outcomes(service, "ghost", OTHER_PASSWORD, ELSEWHERE, 7)
    delays = [(WRONG_CREDENTIALS.message, delay) for delay in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert known == unknown == [*delays, (TOO_MANY, 0.0), (TOO_MANY, 0.0)]
    assert len(checked) == 2 * 5
    # Refused even with the right password, and whatever the name's case.
    refused = service.sign_in("ROOT", PASSWORD, address=HERE)
    assert (refused.user, refused.token, str(refused.error), refused.delay) == (
        None,
        None,
        TOO_MANY,
        0.0,
    )
    assert len(checked) == 2 * 5


def test_someone_elses_guesses_never_stop_the_owner(
    service: AccountService, admin: UserRecord
) -> None:
    """Guesses from another address only delay the owner (at most 4 s), never refuse them."""
    assert _outcomes(service, "root", OTHER_PASSWORD, ELSEWHERE, 20)[-1] == (TOO_MANY, 0.0)
    owner = service.sign_in("root", PASSWORD, address=HERE)
    assert owner.ok and owner.user is not None and owner.user.id == admin.id
    assert owner.delay == MAX_DELAY_SECONDS
    # Their success ends the account's delay; the guesser's address stays refused.
    assert service.sign_in("root", PASSWORD, address=HERE).delay == 0.0
    assert service.sign_in("root", PASSWORD, address=ELSEWHERE).error.message == TOO_MANY


def test_the_window_passing_resets_the_counts(
    make_service: Callable[..., AccountService], admin: UserRecord, clock: FakeClock
) -> None:
    """A window is fixed from its first attempt: tries while refused do not extend it, and
    once it has passed the counts (and the delay) start again from nothing."""
    service = make_service(signin_limit=2, signin_window_minutes=10)
    assert _outcomes(service, "root", OTHER_PASSWORD, HERE, 2) == [
        (WRONG_CREDENTIALS.message, 0.0),
        (WRONG_CREDENTIALS.message, 0.25),
    ]
    clock.advance(minutes=5)
    assert service.sign_in("root", PASSWORD, address=HERE).error.message == (
        "Too many attempts from this address; try again in 5 minutes."
    )
    clock.advance(minutes=4, seconds=30)
    assert service.sign_in("root", PASSWORD, address=HERE).error.message == (
        "Too many attempts from this address; try again in 1 minute."
    )
    clock.advance(minutes=1)
    assert _outcomes(service, "root", OTHER_PASSWORD, HERE, 1) == [(WRONG_CREDENTIALS.message, 0.0)]
    result = service.sign_in("root", PASSWORD, address=HERE)
    assert result.ok and result.user is not None and result.user.id == admin.id
    assert result.delay == 0.25


def test_a_successful_sign_in_starts_the_name_afresh(
    service: AccountService, admin: UserRecord
) -> None:
    _outcomes(service, "root", OTHER_PASSWORD, HERE, 4)
    result = service.sign_in("ROOT", PASSWORD, address=HERE)  # usernames ignore case
    assert result.ok and result.user is not None and result.user.last_login_at is not None
    assert result.delay == 2.0  # after four failures
    # The whole limit again, with the delays starting over.
    assert [delay for _, delay in _outcomes(service, "root", OTHER_PASSWORD, HERE, 5)] == [
        0.0,
        0.25,
        0.5,
        1.0,
        2.0,
    ]


def test_disabled_users_cannot_sign_in_and_lose_their_sessions(
    service: AccountService, admin: UserRecord, member: UserRecord
) -> None:
    token = service.sign_in("bob", PASSWORD).token
    assert service.user_for_token(token) is not None
    service.set_disabled(admin, member.id, True)
    assert service.user_for_token(token) is None
    assert service.sign_in("bob", PASSWORD).error == ACCOUNT_DISABLED
    # Only someone who knows the password learns that the account exists.
    assert service.sign_in("bob", OTHER_PASSWORD).error == WRONG_CREDENTIALS
    service.set_disabled(admin, member.id, False)
    assert service.user_for_token(token) is None  # re-enabling does not revive old sessions
    assert service.sign_in("bob", PASSWORD).ok


def test_session_tokens_are_stored_only_hashed(
    service: AccountService, admin: UserRecord, db: Database
) -> None:
    result = service.sign_in("root", PASSWORD)
    assert result.token is not None
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM auth_sessions")).all()
    assert len(rows) == 1
    assert not any(result.token in str(value) for value in rows[0])
    assert token_hash(result.token) in rows[0]
    user = service.user_for_token(result.token)
    assert user is not None and user.id == admin.id


def test_expired_sessions_are_purged_then_at_most_once_a_day(
    make_service: Callable[..., AccountService], clock: FakeClock, db: Database
) -> None:
    service = make_service(session_days=1.0)
    service.create_first_admin("root", PASSWORD, service.setup_code())

    def stored() -> int:
        with db.engine.connect() as connection:
            return connection.scalar(text("SELECT count(*) FROM auth_sessions"))

    assert service.sign_in("root", PASSWORD).ok  # the first sign-in purges: none expired
    clock.advance(hours=12)
    assert service.sign_in("root", PASSWORD).ok
    assert stored() == 2
    clock.advance(hours=12, minutes=1)  # the first session expired, and a day has passed
    assert service.sign_in("root", PASSWORD).ok
    assert stored() == 2
    clock.advance(hours=12)  # the second expired too, but the last purge was 12 h ago
    assert service.sign_in("root", PASSWORD).ok
    assert stored() == 3
    assert service.purge_expired_sessions() == 1
    assert stored() == 2


def test_sign_out_ends_the_session(service: AccountService, admin: UserRecord) -> None:
    first = service.sign_in("root", PASSWORD).token
    second = service.sign_in("root", PASSWORD).token
    service.sign_out(first)
    assert service.user_for_token(first) is None
    assert service.user_for_token(second) is not None  # other browsers stay signed in
    service.sign_out(None)
    assert service.user_for_token(None) is None
    assert service.user_for_token("made-up") is None


def test_sessions_expire(
    make_service: Callable[..., AccountService], admin: UserRecord, clock: FakeClock
) -> None:
    service = make_service(session_days=2)
    token = service.sign_in("root", PASSWORD).token
    clock.advance(days=1, hours=23)
    assert service.user_for_token(token) is not None
    clock.advance(hours=1, seconds=1)
    assert service.user_for_token(token) is None


# --- first administrator --------------------------------------------------------------------


def test_the_first_admin_is_created_once(service: AccountService) -> None:
    code = service.setup_code()
    assert service.needs_first_admin()
    with pytest.raises(AccountError, match="at least 10"):
        service.create_first_admin("root", "short", code)
    with pytest.raises(AccountError, match="letters, digits"):
        service.create_first_admin("root user", PASSWORD, code)
    assert service.needs_first_admin()
    root = service.create_first_admin("root", PASSWORD, code)
    assert root.is_admin and root.auth_source == "local"
    assert not service.needs_first_admin()
    with pytest.raises(AccountError, match=ALREADY_SET_UP):
        service.create_first_admin("mallory", PASSWORD, code)


def test_the_setup_form_needs_this_processs_code(
    make_service: Callable[..., AccountService], repo: UserRepository
) -> None:
    """Only whoever reads the server's log can create the administrator; a wrong code
    changes nothing, and another process's code is a wrong code."""
    service = make_service()
    code = service.setup_code()
    assert code == service.setup_code() and len(code) == 20
    other_process = make_service().setup_code()
    assert other_process != code
    last_changed = code[:-1] + ("1" if code[-1] == "0" else "0")
    wrongs = ["", other_process, code[:-1], code + "0", last_changed, "é" * 20]
    if code.upper() != code:  # an all-digit code (about 1 in 12,000) has no case to change
        wrongs.append(code.upper())
    for wrong in wrongs:
        with pytest.raises(AccountError, match=re.escape(WRONG_SETUP_CODE)):
            service.create_first_admin("root", PASSWORD, wrong)
    assert service.needs_first_admin() and repo.count_users() == 0
    created = service.create_first_admin("root", PASSWORD, f"  {code}\n")  # pasted loosely
    assert created.is_admin and repo.count_users() == 1


def test_the_settings_admin_is_created_once_and_never_overwritten(
    make_service: Callable[..., AccountService],
) -> None:
    assert make_service().bootstrap_from_settings() is None  # nothing configured
    service = make_service(admin_user="ops", admin_password=PASSWORD)
    created = service.bootstrap_from_settings()
    assert created is not None and created.is_admin and created.username == "ops"
    assert service.bootstrap_from_settings() is None

    service.change_own_password(created, PASSWORD, OTHER_PASSWORD)
    restarted = make_service(admin_user="OPS", admin_password=PASSWORD)
    assert restarted.bootstrap_from_settings() is None
    assert restarted.sign_in("ops", OTHER_PASSWORD).ok
    assert restarted.sign_in("ops", PASSWORD).error == WRONG_CREDENTIALS


def test_a_weak_settings_admin_password_is_a_config_error(
    make_service: Callable[..., AccountService],
) -> None:
    with pytest.raises(ConfigError, match="ANYCHAT_ADMIN_PASSWORD"):
        make_service(admin_user="ops", admin_password="short").bootstrap_from_settings()


# --- single sign-on -------------------------------------------------------------------------


def test_the_first_external_user_becomes_admin(service: AccountService) -> None:
    ann = service.oidc_user(
        "https://id.example.test", "s-ann", preferred_username="ann@example.com", display_name="Ann"
    )
    ben = service.external_user("ben", source="proxy", email="ben@example.com")
    assert ann is not None and ann.is_admin and ann.auth_source == "oidc"
    assert ben is not None and not ben.is_admin and ben.auth_source == "proxy"
    again = service.oidc_user("https://id.example.test", "s-ann", preferred_username="Ann")
    assert again is not None and again.id == ann.id
    assert service.external_user("  ", source="proxy") is None
    # An account without a password cannot be signed into with one.
    assert service.sign_in("ben", "").error == WRONG_CREDENTIALS
    service.set_disabled(ann, ben.id, True)
    assert service.external_user("ben", source="proxy") is None


def test_external_users_are_members_once_an_admin_exists(
    service: AccountService, admin: UserRecord
) -> None:
    carol = service.external_user("carol", source="proxy")
    assert carol is not None and not carol.is_admin
    for source in ("local", "oidc"):  # single sign-on goes by (issuer, subject): oidc_user
        with pytest.raises(AccountError, match="Unknown sign-in source"):
            service.external_user("dave", source=source)


def test_a_known_proxy_account_is_found_with_one_read(
    service: AccountService, db: Database, admin: UserRecord
) -> None:
    """The guard asks on every message of a proxy's tab, so a returning person must not
    also cost the count of administrators that only a first sign-in needs."""
    first = service.external_user("carol", source="proxy")
    with statements(db) as seen:
        again = service.external_user("carol", source="proxy")
    assert first is not None and again == first
    assert len(seen) == 1 and seen[0].lstrip().upper().startswith("SELECT")
    assert "count(" not in seen[0].lower()


# --- administration -------------------------------------------------------------------------


def test_members_cannot_administer(
    service: AccountService, admin: UserRecord, member: UserRecord
) -> None:
    attempts: list[Callable[[], object]] = [
        lambda: service.create_user(member, "eve", PASSWORD),
        lambda: service.reset_password(member, admin.id, OTHER_PASSWORD),
        lambda: service.set_role(member, member.id, "admin"),
        lambda: service.set_disabled(member, admin.id, True),
        lambda: service.set_quota(member, member.id, None, None),
        lambda: service.clear_sign_in_throttle(member, member.id),
    ]
    for attempt in attempts:
        with pytest.raises(AccountError, match=ADMINS_ONLY):
            attempt()
    assert service.sign_in("root", PASSWORD).ok


def test_a_stale_admin_record_loses_its_rights(
    service: AccountService, admin: UserRecord, member: UserRecord
) -> None:
    promoted = service.set_role(admin, member.id, "admin")
    service.set_role(admin, member.id, "member")
    with pytest.raises(AccountError, match=ADMINS_ONLY):
        service.create_user(promoted, "eve", PASSWORD)


def test_the_last_active_admin_stays(
    service: AccountService, admin: UserRecord, member: UserRecord
) -> None:
    with pytest.raises(AccountError, match=LAST_ADMIN):
        service.set_role(admin, admin.id, "member")
    with pytest.raises(AccountError, match="your own account"):
        service.set_disabled(admin, admin.id, True)

    second = service.set_role(admin, member.id, "admin")
    service.set_disabled(second, admin.id, True)  # admin is disabled: one active admin left
    with pytest.raises(AccountError, match=LAST_ADMIN):
        service.set_role(second, second.id, "member")
    service.set_disabled(second, admin.id, False)
    demoted = service.set_role(second, second.id, "member")
    assert not demoted.is_admin


def test_admins_create_users_with_checked_names_and_passwords(
    service: AccountService, admin: UserRecord
) -> None:
    created = service.create_user(admin, "wang.wei-2@corp", PASSWORD, role="admin")
    assert created.is_admin and created.auth_source == "local"
    assert service.create_user(admin, "张伟", PASSWORD).username == "张伟"
    with pytest.raises(AccountError, match="taken"):
        service.create_user(admin, "Wang.Wei-2@corp", PASSWORD)
    with pytest.raises(AccountError, match="letters, digits"):
        service.create_user(admin, "bad/name", PASSWORD)
    with pytest.raises(AccountError, match="1 to 150"):
        service.create_user(admin, "x" * 151, PASSWORD)
    with pytest.raises(AccountError, match="at least 10"):
        service.create_user(admin, "frank", "short")
    with pytest.raises(AccountError, match="role"):
        service.create_user(admin, "frank", PASSWORD, role="owner")


def test_a_reset_password_ends_sessions_and_clears_throttling(
    make_service: Callable[..., AccountService], admin: UserRecord, member: UserRecord
) -> None:
    service = make_service(signin_limit=1)
    token = service.sign_in("bob", PASSWORD).token
    service.sign_in("bob", OTHER_PASSWORD, address=HERE)
    assert service.sign_in("bob", PASSWORD, address=HERE).error.message == TOO_MANY
    service.reset_password(admin, member.id, "a brand new passphrase")
    assert service.user_for_token(token) is None
    assert service.sign_in("bob", "a brand new passphrase", address=HERE).ok
    with pytest.raises(AccountError, match="No such user"):
        service.reset_password(admin, 9999, PASSWORD)
    sso = service.external_user("sso-user", source="proxy")
    assert sso is not None
    with pytest.raises(AccountError, match="no password here"):
        service.reset_password(admin, sso.id, PASSWORD)


def test_admins_clear_an_accounts_sign_in_throttling(
    make_service: Callable[..., AccountService], admin: UserRecord, member: UserRecord
) -> None:
    service = make_service(signin_limit=1)
    for name in ("bob", "root"):
        service.sign_in(name, OTHER_PASSWORD, address=HERE)
        assert service.sign_in(name, PASSWORD, address=HERE).error.message == TOO_MANY
    assert service.clear_sign_in_throttle(admin, member.id) == member
    result = service.sign_in("BOB", PASSWORD, address=HERE)
    assert result.ok and result.delay == 0.0
    # Only that account's attempts were forgotten.
    assert service.sign_in("root", PASSWORD, address=HERE).error.message == TOO_MANY


def test_quotas_are_validated(
    service: AccountService, admin: UserRecord, member: UserRecord
) -> None:
    limited = service.set_quota(admin, member.id, 5000, "day")
    assert (limited.quota_tokens, limited.quota_period) == (5000, "day")
    for tokens, period in [(0, "day"), (-5, "month"), (100, None), (100, "week"), (True, "day")]:
        with pytest.raises(AccountError):
            service.set_quota(admin, member.id, tokens, period)
    lifted = service.set_quota(admin, member.id, None, "day")
    assert (lifted.quota_tokens, lifted.quota_period) == (None, None)


def test_changing_ones_own_password(
    service: AccountService, member: UserRecord, sleep: RecordingSleep
) -> None:
    with pytest.raises(AccountError, match="current password is wrong"):
        service.change_own_password(member, OTHER_PASSWORD, "a brand new passphrase")
    assert sleep.calls == []
    with pytest.raises(AccountError, match="at least 10"):
        service.change_own_password(member, PASSWORD, "short")
    assert sleep.calls == [0.25]  # after one failure; the right password then cleared it
    here = service.sign_in("bob", PASSWORD).token
    elsewhere = service.sign_in("bob", PASSWORD).token
    service.change_own_password(member, PASSWORD, "a brand new passphrase", keep_token=here)
    assert service.user_for_token(elsewhere) is None
    assert service.user_for_token(here) is not None
    assert service.sign_in("bob", "a brand new passphrase").ok
    assert service.sign_in("bob", PASSWORD).error == WRONG_CREDENTIALS


def test_a_wrong_current_password_is_throttled_like_a_sign_in(
    make_service: Callable[..., AccountService], member: UserRecord, sleep: RecordingSleep
) -> None:
    service = make_service(signin_limit=2)
    for _ in range(2):
        with pytest.raises(AccountError, match="current password is wrong"):
            service.change_own_password(member, OTHER_PASSWORD, "a new passphrase", address=HERE)
    with pytest.raises(AccountError, match=re.escape(TOO_MANY)):
        service.change_own_password(member, PASSWORD, "a new passphrase", address=HERE)
    # The same keys as signing in: this address waits, the owner elsewhere does not.
    assert service.sign_in("bob", PASSWORD, address=HERE).error.message == TOO_MANY
    assert service.sign_in("bob", PASSWORD, address=ELSEWHERE).ok
    assert sleep.calls == [0.25]


def test_a_password_change_cannot_keep_someone_elses_session(
    service: AccountService, admin: UserRecord, member: UserRecord
) -> None:
    admins_token = service.sign_in("root", PASSWORD).token
    members_token = service.sign_in("bob", PASSWORD).token
    service.change_own_password(member, PASSWORD, OTHER_PASSWORD, keep_token=admins_token)
    assert service.user_for_token(members_token) is None  # all of bob's sessions end
    owner = service.user_for_token(admins_token)
    assert owner is not None and owner.id == admin.id  # untouched, not moved to bob


# --- personal keys --------------------------------------------------------------------------


def test_the_vault_round_trips_and_hides_the_key() -> None:
    vault = KeyVault(b"server secret one")
    secret_key = "sk-live-0123456789abcdef"
    sealed = vault.encrypt(secret_key)
    assert secret_key not in sealed
    assert vault.decrypt(sealed) == secret_key
    assert KeyVault(b"server secret one").decrypt(sealed) == secret_key  # same secret, later
    with pytest.raises(KeyUnreadable, match="server secret"):
        KeyVault(b"server secret two").decrypt(sealed)
    with pytest.raises(KeyUnreadable):
        vault.decrypt("not a token")
    assert "server secret" not in repr(vault)


def test_personal_keys_are_stored_encrypted(member: UserRecord, db: Database) -> None:
    keys = PersonalKeys(KeyRepository(db), KeyVault(b"server secret one"))
    assert not keys.has(member.id) and keys.get(member.id) is None
    keys.save(member.id, "  sk-personal-123456  ")
    assert keys.has(member.id)
    assert keys.get(member.id) == "sk-personal-123456"
    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT ciphertext FROM personal_keys")).scalar_one()
    assert "sk-personal-123456" not in stored

    rotated = PersonalKeys(KeyRepository(db), KeyVault(b"a new server secret"))
    assert rotated.has(member.id) and rotated.get(member.id) is None

    for bad, message in [("   ", "Enter"), ("x" * 501, "500"), ("sk one", "spaces")]:
        with pytest.raises(AccountError, match=message):
            keys.save(member.id, bad)
    assert keys.remove(member.id)
    assert not keys.has(member.id) and not keys.remove(member.id)


# --- quotas and usage -----------------------------------------------------------------------

NOW = datetime(2025, 11, 15, 10, 0, tzinfo=UTC)


def _spend(db: Database, user_id: int, tokens: int, at: datetime) -> None:
    with db.session() as session:
        session.add(
            UsageEvent(
                user_id=user_id,
                message_id=None,
                model="gpt-4o",
                prompt_tokens=tokens // 2,
                completion_tokens=tokens - tokens // 2,
                total_tokens=tokens,
                created_at=at,
            )
        )


def test_period_start_is_utc_midnight_or_the_first() -> None:
    late = datetime(2025, 11, 15, 23, 30, tzinfo=UTC)
    assert period_start("day", late) == datetime(2025, 11, 15, tzinfo=UTC)
    assert period_start("month", late) == datetime(2025, 11, 1, tzinfo=UTC)
    from zoneinfo import ZoneInfo

    tokyo_morning = datetime(2025, 12, 1, 7, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 30 Nov UTC
    assert period_start("month", tokyo_morning) == datetime(2025, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="week"):
        period_start("week", late)


def test_a_daily_quota(
    service: AccountService,
    db: Database,
    admin: UserRecord,
    member: UserRecord,
) -> None:
    ledger = UsageLedger(db)
    assert remaining(ledger, member, NOW) is None
    check_quota(ledger, member, NOW)  # no quota, nothing to check
    limited = service.set_quota(admin, member.id, 5000, "day")
    _spend(db, member.id, 6000, NOW - timedelta(hours=11))  # yesterday evening
    _spend(db, member.id, 4000, NOW - timedelta(hours=9))
    check_quota(ledger, limited, NOW)
    assert remaining(ledger, limited, NOW) == 1000
    _spend(db, member.id, 2345, NOW - timedelta(hours=1))
    assert remaining(ledger, limited, NOW) == 0
    with pytest.raises(QuotaExceeded) as caught:
        check_quota(ledger, limited, NOW)
    assert isinstance(caught.value, ChatInputError)
    assert str(caught.value) == (
        "You have used 6,345 of your 5,000 tokens today; the quota resets at midnight UTC."
    )
    assert remaining(ledger, limited, NOW + timedelta(days=1)) == 5000


def test_a_monthly_quota(
    service: AccountService,
    db: Database,
    admin: UserRecord,
    member: UserRecord,
) -> None:
    ledger = UsageLedger(db)
    limited = service.set_quota(admin, member.id, 10000, "month")
    _spend(db, member.id, 50000, datetime(2025, 10, 31, 23, 59, tzinfo=UTC))  # last month
    _spend(db, member.id, 9999, datetime(2025, 11, 1, 0, 0, tzinfo=UTC))
    check_quota(ledger, limited, NOW)
    _spend(db, member.id, 2346, NOW - timedelta(days=3))
    with pytest.raises(QuotaExceeded) as caught:
        check_quota(ledger, limited, NOW)
    assert str(caught.value) == (
        "You have used 12,345 of your 10,000 tokens this month; "
        "the quota resets on 2025-12-01 (UTC)."
    )
    assert caught.value.code == "quota_exceeded_month"
    assert caught.value.params["reset_date"] == "2025-12-01"
    december = datetime(2025, 12, 20, tzinfo=UTC)
    _spend(db, member.id, 10000, december - timedelta(days=1))
    with pytest.raises(QuotaExceeded, match=r"resets on 2026-01-01 \(UTC\)"):
        check_quota(ledger, limited, december)


def test_usage_csv_is_exact_and_safe() -> None:
    rows = [
        UsageRow(date(2025, 11, 14), "gpt-4o", 2, "张伟", 10, 20, 30, 1),
        UsageRow(date(2025, 11, 15), 'org/model,"v2"', 3, "=HYPERLINK(1)", 1, 2, 3, 2),
    ]
    assert usage_csv(rows) == (
        "day,user,model,replies,prompt_tokens,completion_tokens,total_tokens\r\n"
        "2025-11-14,张伟,gpt-4o,1,10,20,30\r\n"
        '2025-11-15,\'=HYPERLINK(1),"org/model,""v2""",2,1,2,3\r\n'
    )
    assert (
        usage_csv([]) == "day,user,model,replies,prompt_tokens,completion_tokens,total_tokens\r\n"
    )


def test_usage_csv_ends_each_row_with_its_exact_cost_when_asked() -> None:
    rows = [
        UsageRow(date(2025, 11, 14), "gpt-4o", 2, "张伟", 1_000, 2_000, 3_000, 1),
        UsageRow(date(2025, 11, 15), "unpriced", 3, "lin", 1, 2, 3, 2),
    ]
    report = usage_csv([*rows], [*CSV_HEADER, "cost"], [Decimal("0.01250"), None])
    assert report.splitlines() == [
        "day,user,model,replies,prompt_tokens,completion_tokens,total_tokens,cost",
        "2025-11-14,张伟,gpt-4o,1,1000,2000,3000,0.0125",
        "2025-11-15,lin,unpriced,2,1,2,3,",
    ]


def test_usage_csv_reads_the_repository_report(db: Database, admin: UserRecord) -> None:
    _spend(db, admin.id, 30, NOW - timedelta(hours=1))
    _spend(db, admin.id, 10, NOW - timedelta(hours=2))
    report = usage_csv(UsageLedger(db).rows(NOW - timedelta(days=1)))
    assert report.splitlines()[1] == "2025-11-15,root,gpt-4o,2,20,20,40"
