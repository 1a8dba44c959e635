"""One way to run what a button asks for, and to say how it went.

Streamlit runs a widget's callback before the next run draws the page, so whatever the callback
has to say is kept in session state under its area's key (a page, a panel) and drawn by
`show_notice` where that area shows its notices. Pages that act outside a callback (the chat
box) use the same two calls.

Only AnyChatError is caught: it is raised on purpose, with a sentence written for the reader,
and said here in the reader's language (`explain`, from its template and values). Anything else
is a bug, and Streamlit's own error box is the honest way to show one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import streamlit as st

from chatcore.errors import AnyChatError, InvalidParameter
from ui import controls
from ui.i18n import _, explain

T = TypeVar("T")
Kind = Literal["success", "warning", "error"]

# The chat page's area: every action on the open conversation (send, edit, regenerate, tool
# results, sharing) reports above the thread.
CHAT_NOTICE = "chat"

_PREFIX = "notice:"
_ICONS: dict[Kind, str] = {
    "success": ":material/check_circle:",
    "warning": ":material/block:",
    "error": ":material/error:",
}
# What could make a sentence format, link, or fetch something: error sentences quote names a
# proxy or an identity provider chose, and a model's tool names. Ordinary punctuation stays.
_MARKDOWN_ACTIVE = re.compile(r"([\\`*_\[\]<>#|~$])")


@dataclass(frozen=True, slots=True)
class Notice:
    """What an action left to say; `text` is Markdown, ready to draw."""

    kind: Kind
    text: str


def _state_key(key: str) -> str:
    return _PREFIX + key


def notices_pending(except_for: Collection[str] = ()) -> bool:
    """Whether an action left a notice that no run has drawn yet, in an area other than
    those named."""
    drawn_here = {_state_key(key) for key in except_for}
    return any(
        isinstance(key, str) and key.startswith(_PREFIX) and key not in drawn_here
        for key in st.session_state
    )


def notify(key: str, kind: Kind, text: str) -> None:
    """Leave a notice for the area `key`; a later one replaces it."""
    st.session_state[_state_key(key)] = Notice(kind, text)


def run_action(
    key: str,
    action: Callable[..., T],
    *args: Any,
    success: str | None = None,
    sends: bool = False,
    **kwargs: Any,
) -> T | None:
    """Run `action(*args, **kwargs)`; its result, or None when it refused.

    A refusal leaves the error's sentence, in the reader's language, as the area's notice: for
    an action that `sends` a request to the model, a warning "Not sent: …" (nothing was saved
    or sent, and the person's text is still there to fix), and a refused setting is also
    flagged next to its control; for anything else, an error. On success, `success` (Markdown
    the page wrote, in the reader's language, escaping any name in it) becomes the notice.
    """
    try:
        result = action(*args, **kwargs)
    except AnyChatError as error:
        report(key, error, sends=sends)
        return None
    if success is not None:
        notify(key, "success", success)
    return result


def report(key: str, error: AnyChatError, *, sends: bool = False) -> None:
    """Leave `error` as the area's notice, as `run_action` does; for a page that calls a use
    case itself (the chat box, whose send must not wait behind another call)."""
    sentence = _MARKDOWN_ACTIVE.sub(r"\\\1", explain(error))
    if sends:
        if isinstance(error, InvalidParameter):
            controls.flag_error(error)
        notify(key, "warning", _("Not sent: {reason}", reason=sentence))
    else:
        notify(key, "error", sentence)


def show_notice(key: str) -> None:
    """Draw the area's notice, once: the run after this one no longer shows it."""
    notice: Notice | None = st.session_state.pop(_state_key(key), None)
    if notice is None:
        return
    draw = {"success": st.success, "warning": st.warning, "error": st.error}[notice.kind]
    draw(notice.text, icon=_ICONS[notice.kind])
