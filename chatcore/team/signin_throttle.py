"""Sign-in throttling: which attempts are refused unchecked, and how long an answer waits.

Every attempt is counted, before its password is checked, under three keys:

- pair: this name from this client address. Past `signin_limit` attempts in a window that
  address waits for the window to end; the account's owner elsewhere is not affected.
- address: this address, whatever the name. A budget of ADDRESS_BUDGET × the limit stops one
  client from trying a few passwords against every name.
- account: this name from anywhere. It never refuses, or anyone could lock anyone out; it
  only delays the answer, more after each recent failure, which slows a guesser who spreads
  over many addresses.

Each count is one atomic statement in the store, so concurrent guesses cannot all slip under
the limit. The keys are the same whether or not an account has the name, so decisions (and
so answers and timings) never tell which names exist. Keys are stored only as HMAC-SHA-256
under the server secret: plain hashes of IPv4 addresses and common names are reversed by
trying them all, and the table should not list what people mistyped.

Pure policy: counting is the store's (storage/signin.py), time is an injectable clock's.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from chatcore.config import Settings
from chatcore.errors import Sentence
from chatcore.i18n import N_
from storage.records import AttemptCount

# How many times the per-pair limit one address may try in a window, over all names.
ADDRESS_BUDGET = 10
FIRST_DELAY_SECONDS = 0.25
MAX_DELAY_SECONDS = 4.0
# IPv6 hosts usually hold a whole /64: counted per address, each would get a fresh budget.
IPV6_PREFIX = 64


class AttemptStore(Protocol):
    """Where attempts are counted (storage.signin.SignInAttemptRepository)."""

    def count(
        self, key_hash: str, name_hash: str | None, now: datetime, window: timedelta
    ) -> AttemptCount: ...

    def refund(self, key_hash: str) -> None: ...

    def clear(self, key_hashes: Collection[str]) -> None: ...

    def clear_name(self, name_hash: str) -> int: ...

    def purge(self, before: datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to check the password at all, and how long to hold the answer back."""

    allowed: bool
    delay: float = 0.0
    retry_after: float = 0.0

    @property
    def error(self) -> Sentence | None:
        """The refusal as shown, the same for every name; None when allowed."""
        return None if self.allowed else too_many_attempts(self.retry_after)


@dataclass(frozen=True, slots=True)
class Keys:
    """One attempt's keys. Without a client address only the account is counted: a shared
    "unknown address" bucket would let anyone refuse everyone."""

    account: str
    pair: str | None
    address: str | None


def delay_seconds(failures: int) -> float:
    """How long an answer waits after `failures` recent failures on its account: none at
    first, then 0.25 s doubling up to 4 s."""
    if failures <= 0:
        return 0.0
    # The exponent is capped first: a long attack's count would overflow a float.
    return float(min(FIRST_DELAY_SECONDS * 2 ** min(failures - 1, 8), MAX_DELAY_SECONDS))


def too_many_attempts(retry_after: float) -> Sentence:
    """The refusal, with the wait in whole minutes (at least one)."""
    wait = max(1, math.ceil(retry_after / 60))
    if wait == 1:
        return Sentence(
            "too_many_attempts_one_minute",
            N_("Too many attempts from this address; try again in {minutes} minute."),
            {"minutes": wait},
        )
    return Sentence(
        "too_many_attempts",
        N_("Too many attempts from this address; try again in {minutes} minutes."),
        {"minutes": wait},
    )


def address_bucket(address: str) -> str:
    """What an address is counted as: IPv6 by its /64, an IPv4-mapped IPv6 address as the
    IPv4 address, anything else (a name, a unix socket) as given."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


class SignInThrottle:
    """Counts attempts in a store and decides; shared by every sign-in and password check."""

    def __init__(
        self,
        store: AttemptStore,
        settings: Settings,
        *,
        secret: bytes,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._limit = settings.signin_limit
        self._window = timedelta(minutes=settings.signin_window_minutes)
        self._secret = secret
        self._clock = clock

    def _hash(self, *parts: str) -> str:
        # JSON keeps the parts apart whatever they contain (a name may hold any character).
        return hmac.new(self._secret, json.dumps(parts).encode(), hashlib.sha256).hexdigest()

    def keys(self, username: str, address: str | None) -> Keys:
        """Names fold case like the usernames they stand for; addresses are bucketed."""
        name = username.strip().casefold()
        where = address_bucket(address) if address else None
        return Keys(
            account=self._hash("account", name),
            pair=self._hash("pair", name, where) if where else None,
            address=self._hash("address", where) if where else None,
        )

    def attempt(self, username: str, address: str | None) -> Decision:
        """Count one attempt and decide. A refused attempt does not count on the account:
        it checked nothing, and must not lengthen the owner's wait."""
        keys = self.keys(username, address)
        now = self._clock()
        if keys.pair and keys.address:
            counted = (
                (self._store.count(keys.pair, keys.account, now, self._window), self._limit),
                (
                    self._store.count(keys.address, None, now, self._window),
                    self._limit * ADDRESS_BUDGET,
                ),
            )
            waits = [self._left(count, now) for count, budget in counted if count.attempts > budget]
            if waits:
                return Decision(False, retry_after=max(waits))
        account = self._store.count(keys.account, keys.account, now, self._window)
        return Decision(True, delay=delay_seconds(account.attempts - 1))

    def succeeded(self, username: str, address: str | None) -> None:
        """The right password: the name starts afresh from this address and everywhere (its
        delay ends), and the attempt goes back to the address's budget, so a team behind one
        address is limited by its mistakes, not by how often it signs in. Windows that have
        passed are deleted here, which keeps the table about one window long."""
        keys = self.keys(username, address)
        self._store.clear([key for key in (keys.pair, keys.account) if key])
        if keys.address:
            self._store.refund(keys.address)
        self._store.purge(self._clock() - self._window)

    def clear_account(self, username: str) -> int:
        """Forget every attempt on this name, from any address (an administrator's action)."""
        return self._store.clear_name(self.keys(username, None).account)

    def _left(self, count: AttemptCount, now: datetime) -> float:
        # Clamped: a concurrent attempt may have opened the window a moment after `now` was
        # read here, which would otherwise announce a wait longer than the window itself.
        left = (count.window_started_at + self._window - now).total_seconds()
        return min(left, self._window.total_seconds())
