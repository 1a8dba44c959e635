"""The reader's language on pages: `_()` and `ngettext()` for the sentences a page draws.

Which language: the person's own choice (kept on their account), else their browser's
(`st.context.locale`), else ANYCHAT_LANGUAGE. `activate` decides it once per page run, as
soon as the page knows who is reading, and keeps the decision in the session, where the
callbacks of the next run (which Streamlit runs before the page script) find it too. Errors
are translated here, at the edge, from their templates and values (`explain`).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from chatcore.config import Settings
from chatcore.i18n import N_, Explainable, Translator, resolve_language, translator
from storage import UserRecord

__all__ = ["N_", "_", "activate", "current", "explain", "ngettext"]

_KEY = "anychat_translator"


def _browser_languages() -> list[str]:
    locale = st.context.locale
    return [locale] if locale else []


def activate(settings: Settings, user: UserRecord | None = None) -> Translator:
    """Decide this run's language and time zone (from the account when known)."""
    language = resolve_language(
        user.language if user is not None else None, _browser_languages(), settings.language
    )
    chosen = translator(language, st.context.timezone)
    st.session_state[_KEY] = chosen
    return chosen


def current() -> Translator:
    """The translator `activate` chose for this session; the server default before that."""
    chosen = st.session_state.get(_KEY)
    if isinstance(chosen, Translator):
        return chosen
    return translator()


def _(message: str, **params: Any) -> str:
    """`message` in the reader's language, its `{fields}` filled from `params`."""
    return current().gettext(message, **params)


def ngettext(singular: str, plural: str, count: int, **params: Any) -> str:
    """The plural form for `count` in the reader's language, with `{count}` filled in."""
    return current().ngettext(singular, plural, count, **params)


def explain(error: Explainable) -> str:
    """An error of ours in the reader's language."""
    return current().explain(error)
