"""What administrators say about models that the API does not: each one's context window.

The model list (GET /models) gives ids only; AnyAPI's aggregated models are many, and the built-in
table (chatcore/context/windows.py) cannot know them all, so an administrator can set a window
per model. Every process sees a change within ContextWindows' refresh (30 s), this one at once.
"""

from __future__ import annotations

from collections.abc import Callable

from chatcore.chat.outgoing import ContextWindows
from chatcore.context import parse_overrides
from storage import UserRecord
from storage.team_settings import TeamSettingsRepository

CONTEXT_WINDOWS_KEY = "context_windows"


def stored_overrides(store: TeamSettingsRepository) -> dict[str, int]:
    """The administrators' windows by model id; anything malformed in the row is skipped."""
    value = store.value(CONTEXT_WINDOWS_KEY).get("models", {})
    if not isinstance(value, dict):
        return {}
    return {
        str(model): tokens
        for model, tokens in value.items()
        if isinstance(tokens, int) and tokens > 0
    }


class ModelSettings:
    def __init__(
        self,
        store: TeamSettingsRepository,
        windows: ContextWindows,
        *,
        require_admin: Callable[[UserRecord], object],
    ) -> None:
        self._store = store
        self._windows = windows
        self._require_admin = require_admin

    def context_overrides(self) -> dict[str, int]:
        return stored_overrides(self._store)

    def context_overrides_text(self) -> str:
        """The windows as the Admin page's text area shows them: `model = tokens` lines."""
        return "\n".join(
            f"{model} = {tokens}" for model, tokens in sorted(self.context_overrides().items())
        )

    def set_context_overrides(self, admin: UserRecord, text: str) -> dict[str, int]:
        """Replace the windows with those `text` gives; a bad line refuses the whole text."""
        self._require_admin(admin)
        overrides = parse_overrides(text)
        self._store.set_value(CONTEXT_WINDOWS_KEY, {"models": overrides})
        self._windows.forget()
        return overrides

    def context_window(self, model: str) -> int:
        return self._windows.window(model)
