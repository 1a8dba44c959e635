"""The project's errors: one root, and under it what a person can fix and what an operator can.

Modelled on openai-python's `_exceptions.py`: callers catch the most specific class first, the
UI catches `AnyChatError` once (ui/actions.py). Every error carries a stable `code` and its
`params` besides its English sentence, so the interface can say it in the reader's language
without parsing text.

One code per sentence, given one way: a raise whose sentence is not its class's names its
own code (`raise AccountError("No such user.", code="no_such_user")`). The families raised with
many sentences (ChatInputError, AccountError, InvalidParameter, ConfigError) always do, and a
class with one main sentence does for its variants (MissingApiKey's "api_key_not_configured",
ConversationNotFound's "share_not_found"). Subclasses exist only for what a caller catches
separately (QuotaExceeded, AccountDisabled, MissingApiKey, ModelNotOffered, ...), never to
carry a code. Each number or name a sentence shows is also a param. tests/test_errors.py holds
the table of codes and reads every raise in the source against it; CalculatorError alone keeps
one code for all its sentences, which go to the model, never to a person.

    AnyChatError
    ├── UserError                       a person can fix it, or may not do it; nothing changed
    │   ├── InvalidParameter            a request field (`field` names the control)
    │   │   └── ModelNotOffered
    │   ├── ChatInputError              a message that cannot be sent as it is
    │   │   ├── JsonModeUnmentioned
    │   │   ├── QuotaExceeded
    │   │   ├── AccountDisabled
    │   │   └── MissingApiKey
    │   ├── ConversationNotFound
    │   ├── PresetNotFound
    │   └── AccountError                passwords, names, administration
    ├── ConfigError                     an operator's setting (the sentence names the variable)
    │   └── KeyUnreadable
    ├── CalculatorError                 a tool call the calculator refuses (read by the model)
    └── StreamTruncated                 a reply stream that ended early (becomes a reply error)

Storage's UsernameTaken and AlreadySetUp stay in storage/: AccountService turns them into
AccountError before anything reaches a page.
"""

from __future__ import annotations

from typing import Any


class AnyChatError(Exception):
    """Root of every error AnyChat raises on purpose.

    `code` is the class's code, or the one given at the raise for classes raised with several
    sentences; `params` are the values the sentence shows.
    """

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
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

    def __init__(self, field: str, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message, code=code, field=field, **params)
        self.field = field


class ModelNotOffered(InvalidParameter):
    """A model the API's list does not name (checked only against a real list, not a fallback)."""

    code = "model_not_offered"

    def __init__(self, model: str) -> None:
        super().__init__(
            "model", f"AnyAPI does not offer “{model}”. Choose a model from the list.", model=model
        )


class ChatInputError(UserError, ValueError):
    """A message that cannot be sent as it is; nothing was saved or sent."""

    code = "chat_input"


class JsonModeUnmentioned(ChatInputError):
    """JSON mode without the word JSON anywhere: sent only once the user confirms."""

    code = "json_mode_unmentioned"


class QuotaExceeded(ChatInputError):
    """The user's token quota for this period is used up; nothing was sent."""

    code = "quota_exceeded"


class AccountDisabled(ChatInputError):
    """A disabled account sends nothing, even from a page it still had open."""

    code = "account_disabled"


class MissingApiKey(ChatInputError):
    """No key to send with: none for the team and none of the teammate's own."""

    code = "missing_api_key"


class ConversationNotFound(UserError, LookupError):
    """Missing, deleted, or someone else's: deliberately indistinguishable."""

    code = "conversation_not_found"


class PresetNotFound(UserError, LookupError):
    """Deleted, or someone else's and not shared."""

    code = "preset_not_found"


class AccountError(UserError, ValueError):
    """Something the person can fix (a weak password, a taken name) or may not do at all;
    the message is written to be shown as is."""

    code = "account_error"


class KeyUnreadable(ConfigError):
    """Stored ciphertext that this server cannot decrypt: the server secret changed."""

    code = "key_unreadable"


class CalculatorError(AnyChatError, ValueError):
    """An expression the calculator refuses. The sentence goes back to the model as the tool's
    result, in English and never to a person, so one code serves every sentence; a ValueError,
    which is what run_builtin reports to the model."""

    code = "calculator_refused"


class StreamTruncated(AnyChatError):
    """The stream ended without a finish_reason: incomplete even though nothing was raised."""

    code = "stream_truncated"

    def __init__(self) -> None:
        super().__init__("The reply stream ended without a finish reason.")
