"""Single sign-on accounts: found by the provider's (issuer, subject), never by a name alone.

AccountService on the real repository, on SQLite and PostgreSQL (the `database` fixture), since
the binding of old accounts and the race of two first sign-ins rest on the database's unique
constraints and conditional updates.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chatcore.config import load_settings
from chatcore.team.accounts import USERNAME_MAX_CHARS, AccountService, oidc_username
from chatcore.team.signin_throttle import SignInThrottle
from storage import Database, UserRecord, UserRepository
from storage.signin import SignInAttemptRepository

ISSUER = "https://id.example.test"
OTHER_ISSUER = "https://login.other.test/tenant/v2.0"
SECRET = b"test-server-secret"


def make_service(repo: UserRepository) -> AccountService:
    settings = load_settings(env={}, secrets={})
    throttle = SignInThrottle(SignInAttemptRepository(repo.db), settings, secret=SECRET)
    return AccountService(repo, settings, throttle, secret=SECRET)


@pytest.fixture
def repo(database: Database) -> UserRepository:
    return UserRepository(database)


@pytest.fixture
def service(repo: UserRepository) -> AccountService:
    return make_service(repo)


def sign_in(
    service: AccountService,
    subject: str,
    preferred_username: str = "",
    *,
    issuer: str = ISSUER,
    email: str | None = None,
    email_verified: bool = False,
    display_name: str = "",
) -> UserRecord:
    user = service.oidc_user(
        issuer,
        subject,
        preferred_username=preferred_username,
        display_name=display_name,
        email=email,
        email_verified=email_verified,
    )
    assert user is not None
    return user


def test_a_renamed_person_keeps_their_account(service: AccountService) -> None:
    mei = sign_in(
        service,
        "s-1",
        "mei",
        email="mei@example.test",
        email_verified=True,
        display_name="Mei Lin",
    )
    assert (mei.username, mei.display_name, mei.email) == ("mei", "Mei Lin", "mei@example.test")
    assert (mei.auth_source, mei.role) == ("oidc", "admin")  # the install's first account
    renamed = sign_in(service, "s-1", "mei.lin")
    assert renamed == mei  # same account, name and all


def test_a_namesake_gets_an_account_of_their_own(
    service: AccountService, repo: UserRepository
) -> None:
    mei = sign_in(service, "s-1", "mei")
    namesake = sign_in(service, "s-2", "mei")
    shouting = sign_in(service, "s-3", "MEI")
    assert len({mei.id, namesake.id, shouting.id}) == 3
    assert (namesake.username, shouting.username) == ("mei-2", "MEI-3")
    assert not namesake.is_admin and not shouting.is_admin
    assert sign_in(service, "s-2", "mei") == namesake
    assert repo.count_users() == 3


def test_the_same_subject_at_another_issuer_is_another_person(service: AccountService) -> None:
    here = sign_in(service, "s-1", "mei")
    there = sign_in(service, "s-1", "mei", issuer=OTHER_ISSUER)
    assert here.id != there.id
    assert there.username == "mei-2"
    assert sign_in(service, "s-1", issuer=OTHER_ISSUER) == there


def test_only_a_verified_email_is_kept_or_names_anyone(service: AccountService) -> None:
    unverified = sign_in(service, "s-1", email="boss@example.test")
    assert unverified.email is None
    assert unverified.username == oidc_username("", None, "s-1")
    assert unverified.username.startswith("user-") and "s-1" not in unverified.username
    verified = sign_in(service, "s-2", email=" jo@example.test ", email_verified=True)
    assert (verified.username, verified.email) == ("jo@example.test", "jo@example.test")


def test_names_from_claims_are_cleaned_and_fit(service: AccountService) -> None:
    assert sign_in(service, "s-1", " Mei Lin <b>x</b> ").username == "Mei-Lin-b-x-b"
    assert sign_in(service, "s-2", "***").username.startswith("user-")
    long_name = "x" * 300
    first = sign_in(service, "s-3", long_name)
    second = sign_in(service, "s-4", long_name)
    assert first.username == "x" * USERNAME_MAX_CHARS
    assert second.username == "x" * (USERNAME_MAX_CHARS - 2) + "-2"
    assert sign_in(service, "s-5", "ann", display_name="A" * 500).display_name == "A" * 200


def test_an_old_account_is_bound_at_its_owners_next_sign_in_once(
    service: AccountService, repo: UserRepository
) -> None:
    # As the previous code made it: found by name, e-mail taken unverified.
    old = repo.ensure_user("mei", auth_source="oidc", email="typed@anything.test", role="admin")
    mei = sign_in(service, "s-1", "Mei", email="mei@example.test", email_verified=True)
    assert mei.id == old.id and mei.is_admin
    assert mei.email == "mei@example.test"  # the unverified address is gone
    assert sign_in(service, "s-1", "mei-renamed").id == old.id
    late = sign_in(service, "s-2", "mei")  # once bound, the name opens nothing
    assert late.id != old.id and late.username == "mei-2"
    assert sign_in(service, "s-1", "mei", issuer=OTHER_ISSUER).id not in {old.id, late.id}


def test_an_old_account_named_by_email_needs_it_verified(
    service: AccountService, repo: UserRepository
) -> None:
    old = repo.ensure_user("jo@example.test", auth_source="oidc")
    doubtful = sign_in(service, "s-1", email="jo@example.test")
    assert doubtful.id != old.id
    assert sign_in(service, "s-2", email="jo@example.test", email_verified=True).id == old.id


def test_a_local_or_proxy_account_is_never_opened(
    service: AccountService, repo: UserRepository
) -> None:
    local = repo.create_user("admin", password_hash="$argon2id$x", role="admin")
    proxied = repo.create_user("ops", auth_source="proxy")
    claimant = sign_in(service, "s-1", "admin")
    assert claimant.id != local.id
    assert (claimant.username, claimant.auth_source, claimant.role) == (
        "admin-2",
        "oidc",
        "member",
    )
    assert sign_in(service, "s-2", "OPS").id != proxied.id
    assert repo.get_user(local.id) == local and repo.get_user(proxied.id) == proxied


def test_disabled_accounts_and_unusable_identities_get_nothing(
    service: AccountService, repo: UserRepository
) -> None:
    mei = sign_in(service, "s-1", "mei")
    repo.set_disabled(mei.id, True)
    assert service.oidc_user(ISSUER, "s-1", preferred_username="mei") is None
    old = repo.ensure_user("jo", auth_source="oidc")
    repo.set_disabled(old.id, True)
    assert service.oidc_user(ISSUER, "s-2", preferred_username="jo") is None
    for issuer, subject in (("", "s-3"), (ISSUER, ""), ("i" * 501, "s-3"), (ISSUER, "s" * 256)):
        assert service.oidc_user(issuer, subject, preferred_username="ann") is None
    assert repo.count_users() == 2


class RacingRepository(UserRepository):
    """Holds each thread's first identity lookup until every thread has made one, so that
    concurrent first sign-ins all find no account and all try to create it."""

    def __init__(self, db: Database, parties: int) -> None:
        super().__init__(db)
        self._barrier = threading.Barrier(parties)
        self._seen = threading.local()

    def find_oidc_user(self, issuer: str, subject: str) -> UserRecord | None:
        found = super().find_oidc_user(issuer, subject)
        if not getattr(self._seen, "done", False):
            self._seen.done = True
            self._barrier.wait(timeout=10)
        return found


@pytest.mark.parametrize("legacy", [False, True], ids=["new", "legacy"])
def test_concurrent_first_sign_ins_make_one_account(database: Database, legacy: bool) -> None:
    racing = RacingRepository(database, parties=2)
    old = racing.ensure_user("mei", auth_source="oidc") if legacy else None
    service = make_service(racing)
    with ThreadPoolExecutor(2) as pool:
        users = list(pool.map(lambda _: sign_in(service, "s-1", "mei"), range(2)))
    assert users[0].id == users[1].id
    assert racing.count_users() == 1
    assert old is None or users[0].id == old.id
