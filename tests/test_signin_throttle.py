"""Sign-in throttling and the one-time first administrator, on SQLite and PostgreSQL.

The policy is driven through its real store with a fake clock; concurrency goes through the
account service with real threads, since a race is exactly what the database must settle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from chatcore.config import Settings, load_settings
from chatcore.errors import AccountError
from chatcore.team import accounts
from chatcore.team.accounts import (
    ALREADY_SET_UP,
    WRONG_CREDENTIALS,
    AccountService,
    verify_password,
)
from chatcore.team.signin_throttle import (
    ADDRESS_BUDGET,
    SignInThrottle,
    address_bucket,
    delay_seconds,
)
from storage import Database, UserRepository
from storage.signin import SignInAttemptRepository

SECRET = b"test-server-secret"
PASSWORD = "correct horse battery"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
Result = TypeVar("Result")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings() -> Settings:
    return load_settings(env={}, secrets={})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database: Database) -> SignInAttemptRepository:
    return SignInAttemptRepository(database)


@pytest.fixture
def make_throttle(
    store: SignInAttemptRepository, settings: Settings, clock: Clock
) -> Callable[..., SignInThrottle]:
    def make(**overrides: Any) -> SignInThrottle:
        return SignInThrottle(store, replace(settings, **overrides), secret=SECRET, clock=clock)

    return make


def _all_at_once(count: int, action: Callable[[int], Result]) -> list[Result]:
    """Run `action(0..count-1)` on `count` threads released together."""
    start = threading.Barrier(count)

    def run(number: int) -> Result:
        start.wait()
        return action(number)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


# --- policy ---------------------------------------------------------------------------------


def test_the_delay_doubles_from_a_quarter_second_to_four() -> None:
    assert [delay_seconds(n) for n in range(7)] == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert delay_seconds(10**6) == 4.0  # a long attack's count must not overflow


def test_addresses_are_counted_per_host() -> None:
    assert address_bucket("198.51.100.7") == "198.51.100.7"
    # One IPv6 host usually holds a /64: every address in it is one client.
    assert address_bucket("2001:db8:1:2:aaaa::1") == address_bucket("[2001:db8:1:2::ffff]")
    assert address_bucket("2001:db8:1:2::1") != address_bucket("2001:db8:1:3::1")
    assert address_bucket("::ffff:198.51.100.7") == "198.51.100.7"
    assert address_bucket("unix-socket") == "unix-socket"


def test_keys_are_keyed_hashes_that_fold_case(
    make_throttle: Callable[..., SignInThrottle],
    store: SignInAttemptRepository,
    settings: Settings,
) -> None:
    throttle = make_throttle()
    keys = throttle.keys(" Root ", "198.51.100.7")
    assert keys == throttle.keys("ROOT", "198.51.100.7")
    assert keys.pair and keys.address and len({keys.account, keys.pair, keys.address}) == 3
    other_secret = SignInThrottle(store, settings, secret=b"other")
    assert other_secret.keys("root", "198.51.100.7").account != keys.account
    without_address = throttle.keys("root", None)
    assert (without_address.account, without_address.pair) == (keys.account, None)


def test_the_table_holds_neither_names_nor_addresses(
    make_throttle: Callable[..., SignInThrottle], database: Database
) -> None:
    make_throttle().attempt("root", "198.51.100.7")
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM signin_attempts")).all()
    assert len(rows) == 3
    assert not any("root" in str(value) or "198.51" in str(value) for row in rows for value in row)


def test_one_address_has_a_budget_over_all_names(
    make_throttle: Callable[..., SignInThrottle],
) -> None:
    throttle = make_throttle(signin_limit=1)
    budget = ADDRESS_BUDGET
    tries = [throttle.attempt(f"name{n}", "198.51.100.7") for n in range(budget + 1)]
    assert [decision.allowed for decision in tries] == [True] * budget + [False]
    assert str(tries[-1].error) == "Too many attempts from this address; try again in 15 minutes."
    assert throttle.attempt("name0", "203.0.113.9").allowed  # another address, the same name


def test_successful_sign_ins_do_not_use_up_the_address(
    make_throttle: Callable[..., SignInThrottle],
) -> None:
    """A team behind one address is limited by its mistakes, not by how often it signs in."""
    throttle = make_throttle(signin_limit=1)
    for number in range(3 * ADDRESS_BUDGET):
        assert throttle.attempt(f"mate{number}", "198.51.100.7").allowed
        throttle.succeeded(f"mate{number}", "198.51.100.7")


def test_a_window_restarts_from_nothing(
    make_throttle: Callable[..., SignInThrottle], clock: Clock, store: SignInAttemptRepository
) -> None:
    throttle = make_throttle(signin_limit=2, signin_window_minutes=10)
    for _ in range(2):
        throttle.attempt("root", "198.51.100.7")
    assert not throttle.attempt("root", "198.51.100.7").allowed
    clock.now += timedelta(minutes=10)
    again = throttle.attempt("root", "198.51.100.7")
    assert again.allowed and again.delay == 0.0
    counted = store.count(throttle.keys("root", None).account, None, clock.now, timedelta(1))
    assert (counted.attempts, counted.window_started_at) == (2, clock.now)


def test_clearing_an_account_forgets_it_from_every_address(
    make_throttle: Callable[..., SignInThrottle], database: Database
) -> None:
    throttle = make_throttle(signin_limit=1)
    for address in ("198.51.100.7", "203.0.113.9"):
        for name in ("bob", "root"):
            throttle.attempt(name, address)
            assert not throttle.attempt(name, address).allowed
    assert throttle.clear_account("BOB") == 3  # two pairs and the account itself
    assert throttle.attempt("bob", "198.51.100.7").allowed
    assert not throttle.attempt("root", "198.51.100.7").allowed


def test_windows_that_passed_are_purged_at_the_next_success(
    make_throttle: Callable[..., SignInThrottle], clock: Clock, database: Database
) -> None:
    throttle = make_throttle()
    throttle.attempt("ghost", "198.51.100.7")
    clock.now += timedelta(minutes=16)
    throttle.attempt("root", "203.0.113.9")
    throttle.succeeded("root", "203.0.113.9")
    with database.engine.connect() as connection:
        left = connection.scalar(text("SELECT count(*) FROM signin_attempts"))
    assert left == 1  # only the second address's own, just refunded


# --- races, through the account service -----------------------------------------------------


@pytest.fixture
def service(database: Database, settings: Settings) -> AccountService:
    throttle = SignInThrottle(SignInAttemptRepository(database), settings, secret=SECRET)
    return AccountService(UserRepository(database), settings, throttle, secret=SECRET)


def test_concurrent_guesses_check_at_most_the_limit(
    service: AccountService, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.create_first_admin("root", PASSWORD, service.setup_code())
    checked: list[str] = []

    def spy(password_hash: str, password: str) -> bool:
        checked.append(password)
        return verify_password(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", spy)
    results = _all_at_once(
        10, lambda n: service.sign_in("root", f"guess number {n}", address="198.51.100.7")
    )
    errors = sorted(str(result.error) for result in results)
    assert len(checked) == 5
    assert errors.count(WRONG_CREDENTIALS.message) == 5
    assert errors.count("Too many attempts from this address; try again in 15 minutes.") == 5


def test_concurrent_setups_make_exactly_one_administrator(
    service: AccountService, database: Database
) -> None:
    code = service.setup_code()

    def create(number: int) -> str:
        try:
            return service.create_first_admin(f"admin{number}", PASSWORD, code).username
        except AccountError as exc:
            return str(exc)

    outcomes = _all_at_once(6, create)
    created = [name for name in outcomes if name.startswith("admin")]
    assert len(created) == 1 and outcomes.count(ALREADY_SET_UP) == 5
    users = UserRepository(database).list_users()
    assert [(user.username, user.role) for user in users] == [(created[0], "admin")]
