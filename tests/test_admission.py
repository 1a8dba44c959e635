"""The send path's admission read in one query (storage/usage.py `admission`) decides exactly
as the separate reads did: the account as it is now, the quota of its own period, its key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chatcore.config import Settings, load_settings
from chatcore.errors import AccountDisabled, MissingApiKey, QuotaExceeded
from chatcore.team.keys import KeyVault, PersonalKeys
from chatcore.team.policy import AccountPolicy
from chatcore.team.usage import check_quota, period_start
from storage import Database, KeyRepository, UsageLedger, UserRepository
from storage.models import UsageEvent
from storage.records import QuotaPeriod

NOW = datetime(2030, 3, 15, 10, 30, tzinfo=UTC)
DAY_START = period_start(QuotaPeriod.DAY, NOW)
MONTH_START = period_start(QuotaPeriod.MONTH, NOW)


def _spend(database: Database, user_id: int, tokens: int, at: datetime) -> None:
    with database.session() as session:
        session.add(
            UsageEvent(
                user_id=user_id,
                message_id=None,
                model="m",
                prompt_tokens=tokens,
                completion_tokens=0,
                total_tokens=tokens,
                created_at=at,
            )
        )


def _admission_used(ledger: UsageLedger, user_id: int) -> int:
    found = ledger.admission(user_id, day_start=DAY_START, month_start=MONTH_START)
    assert found is not None
    return found.tokens_used


def test_admission_sums_the_users_own_period_only(database: Database) -> None:
    users, ledger = UserRepository(database), UsageLedger(database)
    ann, bob = users.create_user("ann"), users.create_user("bob")
    _spend(database, ann.id, 1000, MONTH_START - timedelta(microseconds=1))  # last month
    _spend(database, ann.id, 30, MONTH_START)  # the month's first instant counts
    _spend(database, ann.id, 200, DAY_START - timedelta(microseconds=1))  # this month, not today
    _spend(database, ann.id, 4, DAY_START)
    _spend(database, ann.id, 5, NOW)
    _spend(database, bob.id, 777, NOW)

    assert _admission_used(ledger, ann.id) == 0  # no quota: the ledger is not even summed
    for period, expected in (("day", 9), ("month", 239), (None, 239)):
        users.set_quota(ann.id, 50, period)
        assert _admission_used(ledger, ann.id) == expected, period
        user = users.get_user(ann.id)
        assert user is not None
        since = period_start(QuotaPeriod.DAY if period == "day" else QuotaPeriod.MONTH, NOW)
        assert ledger.tokens_used(ann.id, since) == expected  # as the separate read says


def test_admission_reads_the_account_and_its_key_as_they_are(database: Database) -> None:
    users, ledger, keys = UserRepository(database), UsageLedger(database), KeyRepository(database)
    ann = users.create_user("ann")
    found = ledger.admission(ann.id, day_start=DAY_START, month_start=MONTH_START)
    assert found is not None
    assert (found.user, found.key_ciphertext, found.tokens_used) == (ann, None, 0)

    keys.set_personal_key(ann.id, "ciphertext-1")
    users.set_disabled(ann.id, True)
    found = ledger.admission(ann.id, day_start=DAY_START, month_start=MONTH_START)
    assert found is not None
    assert found.key_ciphertext == "ciphertext-1" and found.user.disabled
    assert ledger.admission(ann.id + 999, day_start=DAY_START, month_start=MONTH_START) is None


def _policy(database: Database, settings: Settings) -> tuple[AccountPolicy, PersonalKeys]:
    keys = PersonalKeys(KeyRepository(database), KeyVault(b"server secret"))
    policy = AccountPolicy(settings, UsageLedger(database), keys, clock=lambda: NOW)
    return policy, keys


@pytest.mark.parametrize("period", ["day", "month"])
def test_the_policy_refuses_as_check_quota_does(database: Database, period: str) -> None:
    settings = replace(load_settings(env={}, secrets={}), api_key="sk-team")
    users, ledger = UserRepository(database), UsageLedger(database)
    policy, _keys = _policy(database, settings)
    ann = users.create_user("ann")
    users.set_quota(ann.id, 100, period)
    _spend(database, ann.id, 99, NOW)
    assert policy.admit(ann.id) is None  # the team's key
    _spend(database, ann.id, 1, NOW)
    user = users.get_user(ann.id)
    assert user is not None
    with pytest.raises(QuotaExceeded) as separate:
        check_quota(ledger, user, NOW)
    with pytest.raises(QuotaExceeded) as combined:
        policy.admit(ann.id)
    assert combined.value.code == separate.value.code
    assert combined.value.params == separate.value.params


def test_the_policy_reads_the_account_at_each_send(database: Database) -> None:
    settings = replace(load_settings(env={}, secrets={}), api_key="")
    users = UserRepository(database)
    policy, keys = _policy(database, settings)
    ann = users.create_user("ann")
    with pytest.raises(MissingApiKey):
        policy.admit(ann.id)
    keys.save(ann.id, "sk-ann-personal")
    assert policy.admit(ann.id) == "sk-ann-personal"
    users.set_disabled(ann.id, True)
    with pytest.raises(AccountDisabled):
        policy.admit(ann.id)
    users.set_disabled(ann.id, False)
    assert policy.admit(ann.id) == "sk-ann-personal"
    with pytest.raises(AccountDisabled):
        policy.admit(ann.id + 999)  # an account deleted meanwhile

    rotated = PersonalKeys(KeyRepository(database), KeyVault(b"another secret"))
    stale = AccountPolicy(settings, UsageLedger(database), rotated, clock=lambda: NOW)
    with pytest.raises(MissingApiKey):  # a key that no longer decrypts is no key
        stale.admit(ann.id)
