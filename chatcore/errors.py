"""The project's errors: one root, and under it what a person can fix and what an operator can.

Modelled on openai-python's `_exceptions.py`: callers catch the most specific class first, the
UI catches `AnyChatError` once (ui/actions.py). Every error is said in the reader's language at
the edge, never here: it carries its English sentence as a `template` (a msgid, marked with
`N_` where it is written so Babel extracts it) and the values that sentence shows as named
`params`, and a page shows `explain(error)` (ui/i18n.py), which translates the template and
fills it in. `str(error)` is the English sentence, for logs and for the model.

    raise AccountError(
        N_("The password must have at least {minimum} characters."),
        code="password_too_short",
        minimum=PASSWORD_MIN_CHARS,
    )

A template is one whole sentence with str.format NAMED fields, so a translation can put the
values in its own order: never an f-string, never fragments joined around it, a list shown in
it passed as one param holding the joined text. It is formatted only when params are given,
so a literal brace is doubled exactly then (an InvalidParameter always has its `field`).

One code per sentence, given one way: a raise whose sentence is not its class's names its
own code (`raise AccountError(N_("No such user."), code="no_such_user")`). The families raised
with many sentences (ChatInputError, AccountError, InvalidParameter, ConfigError) always do,
and a class with one main sentence does for its variants (MissingApiKey's
"api_key_not_configured", ConversationNotFound's "share_not_found"). Subclasses exist only for
what a caller catches separately (QuotaExceeded, AccountDisabled, MissingApiKey,
ModelNotOffered, ...), never to carry a code. tests/test_errors.py holds the table of codes and
reads every raise in the source against it; CalculatorError alone keeps one code for all its
sentences, which go to the model, never to a person.

A sentence that is kept rather than raised (the model list's "could not load") is a
`Sentence`: the same code, template and params, with nothing to catch. A failed reply's
sentence, stored with its message, is chatcore.chat.upstream_errors.ReplyError.

    AnyChatError
    ├── UserError                       a person can fix it, or may not do it; nothing changed
    │   ├── InvalidParameter            a request field (`field` names the control)
    │   │   └── ModelNotOffered
    │   ├── ChatInputError              a message that cannot be sent as it is
    │   │   ├── JsonModeUnmentioned
    │   │   ├── ImagesUnsupported
    │   │   ├── AttachmentRefused
    │   │   ├── ContextOverflow
    │   │   ├── QuotaExceeded
    │   │   ├── AccountDisabled
    │   │   └── MissingApiKey
    │   ├── ConversationNotFound
    │   ├── PresetNotFound
    │   ├── AccountError                passwords, names, administration
    │   ├── LibraryError                folders, archive, bulk actions, retention
    │   └── SearchError                 a search query that cannot be run as typed
    ├── ConfigError                     an operator's setting (the sentence names the variable)
    │   └── KeyUnreadable
    ├── CalculatorError                 a tool call the calculator refuses (read by the model)
    └── StreamTruncated                 a reply stream that ended early (becomes a reply error)

Storage's UsernameTaken and AlreadySetUp stay in storage/: AccountService turns them into
AccountError before anything reaches a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chatcore.i18n import N_


def _fill(template: str, params: Mapping[str, Any]) -> str:
    """The English sentence: the template filled in when it has values, else as written."""
    return template.format(**params) if params else template


class AnyChatError(Exception):
    """Root of every error AnyChat raises on purpose.

    `template` is the English sentence with named `{fields}` (a msgid), `params` the values
    it shows (and may hold more, such as InvalidParameter's `field`); str() is the sentence
    filled in. `code` is the class's code, or the one given at the raise for classes raised
    with several sentences.
    """

    code: str = "error"

    def __init__(self, template: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(_fill(template, params))
        if code is not None:
            self.code = code
        self.template: str = template
        self.params: dict[str, Any] = params

    @property
    def message(self) -> str:
        """The sentence in English (logs, tests, the model); pages show `explain(error)`."""
        return str(self)


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of ours that is kept, not raised (the model list's failure): said in the
    reader's language with `explain()`, like an error; str() is the English."""

    code: str
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return _fill(self.template, self.params)

    def __str__(self) -> str:
        return self.message


class UserError(AnyChatError):
    """Something the person can fix, or may not do; nothing was saved or sent."""

    code = "user_error"


class ConfigError(AnyChatError, ValueError):
    """A setting has a value the app cannot use; the message names the variable."""

    code = "config_error"


class InvalidParameter(UserError, ValueError):
    """A request field outside what the API accepts; `field` names the control to point at."""

    code = "invalid_parameter"

    def __init__(
        self, field: str, template: str, *, code: str | None = None, **params: Any
    ) -> None:
        super().__init__(template, code=code, field=field, **params)
        self.field = field


class ModelNotOffered(InvalidParameter):
    """A model the API's list does not name (checked only against a real list, not a fallback)."""

    code = "model_not_offered"

    def __init__(self, model: str) -> None:
        super().__init__(
            "model",
            N_("AnyAPI does not offer “{model}”. Choose a model from the list."),
            model=model,
        )


class ChatInputError(UserError, ValueError):
    """A message that cannot be sent as it is; nothing was saved or sent."""

    code = "chat_input"


class JsonModeUnmentioned(ChatInputError):
    """JSON mode without the word JSON anywhere: sent only once the user confirms."""

    code = "json_mode_unmentioned"


class ImagesUnsupported(ChatInputError):
    """Images for a model the model list calls text only: sent only once the user confirms."""

    code = "images_unsupported"


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


class LibraryError(UserError, ValueError):
    """Organising conversations: a folder's name, a folder or conversation that is gone, a
    bulk action or retention setting that cannot be applied as asked."""

    code = "library_error"


class SearchError(UserError, ValueError):
    """A search query that cannot be run as typed: empty, or too long."""

    code = "search_error"


class ImportRefused(UserError, ValueError):
    """A file that cannot be imported at all (too large, not JSON, not a format we read);
    nothing was written. One conversation that cannot be read is not this: it is reported,
    and the others are imported."""

    code = "import_refused"


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
        super().__init__(N_("The reply stream ended without a finish reason."))


class AttachmentRefused(ChatInputError):
    """A file that cannot go with the message as it is (too large, too many, a type we do not
    read, a broken image, an encrypted, broken or scanned PDF): nothing was saved or sent, and
    the page keeps the typed text. Its own class so the page can show it beside the input."""

    code = "attachment_refused"


class ContextOverflow(ChatInputError):
    """Even the system prompt and the newest turn, with room kept for the reply, exceed the
    model's context window: leaving out older messages cannot help, so nothing is sent."""

    code = "context_overflow"


class ModelNotAllowed(InvalidParameter):
    """A model the administrators' allowlist does not give this teammate: refused by the
    server however the request was made, so a page that forgot the picker changes nothing."""

    code = "model_not_allowed"

    def __init__(self, model: str) -> None:
        super().__init__(
            "model",
            N_("Your team does not allow you to use “{model}”. Choose another model."),
            model=model,
        )
