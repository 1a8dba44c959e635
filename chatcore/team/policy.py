"""Who may send now, and with which key: checked before anything is saved or sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from chatcore.config import Settings
from chatcore.errors import AccountDisabled, MissingApiKey
from chatcore.i18n import N_
from chatcore.team.keys import PersonalKeys
from chatcore.team.prices import PriceList
from chatcore.team.usage import (
    money_spent,
    period_start,
    refuse_over_money_quota,
    refuse_over_quota,
)
from storage.records import QuotaPeriod
from storage.usage import Admission, Gate, UsageLedger


class AccountPolicy:
    """A disabled account sends nothing; quotas are checked first; a personal key wins.

    Without `prices`, a money quota counts nothing (as if no model had a price)."""

    def __init__(
        self,
        settings: Settings,
        ledger: UsageLedger,
        keys: PersonalKeys,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        prices: PriceList | None = None,
    ) -> None:
        self._settings = settings
        self._prices = prices
        self._ledger = ledger
        self._keys = keys
        self._clock = clock

    def admit(self, user_id: int) -> str | None:
        """Read as the account is now, at every send, in one query (storage/usage.py); a
        second, grouped one only for someone with a money quota."""
        gate = self.gate()
        return gate.decide(
            self._ledger.admission(user_id, day_start=gate.day_start, month_start=gate.month_start)
        )

    def gate(self) -> Gate:
        """`admit`, for a send that reads the account in the transaction writing its message
        (ChatRepository.continue_thread): the same facts, the same decision."""
        now = self._clock()
        return Gate(
            period_start(QuotaPeriod.DAY, now),
            period_start(QuotaPeriod.MONTH, now),
            lambda facts: self._decide(facts, now),
        )

    def _decide(self, facts: Admission | None, now: datetime) -> str | None:
        if facts is None or facts.user.disabled:
            raise AccountDisabled(N_("This account is disabled, so nothing can be sent."))
        refuse_over_quota(facts.user, facts.tokens_used, now)
        self._refuse_over_money_quota(facts, now)
        ciphertext = facts.key_ciphertext
        personal = self._keys.readable(ciphertext) if ciphertext is not None else None
        if personal:
            return personal
        if not self._settings.has_api_key:
            raise MissingApiKey(
                N_(
                    "No API key is configured for the team, and you have no personal key: "
                    "add one on the Account page."
                )
            )
        return None

    def _refuse_over_money_quota(self, facts: Admission, now: datetime) -> None:
        """The period's tokens per model (read with the account) at today's prices; a model
        without one counts nothing."""
        if facts.user.quota_money is None or self._prices is None:
            return
        spent, _unpriced = money_spent(self._prices, facts.model_uses)
        refuse_over_money_quota(facts.user, spent, self._prices.currency, now)
