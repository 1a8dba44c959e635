"""Who may send now, and with which key: checked before anything is saved or sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from chatcore.chat.use_cases import ChatInputError
from chatcore.config import Settings
from chatcore.team.keys import PersonalKeys
from chatcore.team.usage import check_quota
from storage.accounts import AccountRepository


class AccountPolicy:
    """A disabled account sends nothing; a quota is checked first; a personal key wins."""

    def __init__(
        self,
        settings: Settings,
        accounts: AccountRepository,
        keys: PersonalKeys,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._accounts = accounts
        self._keys = keys
        self._clock = clock

    def admit(self, user_id: int) -> str | None:
        user = self._accounts.get_user(user_id)
        if user is None or user.disabled:
            raise ChatInputError("This account is disabled, so nothing can be sent.")
        check_quota(self._accounts, user, self._clock())
        personal = self._keys.get(user_id)
        if personal:
            return personal
        if not self._settings.has_api_key:
            raise ChatInputError(
                "No API key is configured for the team, and you have no personal key: "
                "add one on the Account page."
            )
        return None
