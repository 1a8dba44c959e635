"""The project's errors: one root, and under it what a person can fix and what an operator can.

Modelled on openai-python's `_exceptions.py`: callers catch the most specific class first, the
UI catches `AnyChatError` once. Every error carries a stable `code` and its `params` besides
its English sentence, so the interface can say it in the reader's language without parsing text.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AnyChatError(Exception):
    """Root of every error AnyChat raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.params: dict[str, Any] = params

    @property
    def message(self) -> str:
        return str(self)


class UserError(AnyChatError):
    """Something the person can fix, or may not do; nothing was saved or sent."""

    code = "user_error"


class ConfigError(AnyChatError, ValueError):
    """A setting has a value the app cannot use; the message names the variable."""

    code = "config_error"


class InvalidParameter(UserError, ValueError):
    """A request field outside what the API accepts; `field` names the control to point at."""

    code = "invalid_parameter"

    def __init__(self, field: str, message: str, **params: Any) -> None:
        super().__init__(message, field=field, **params)
        self.field = field
