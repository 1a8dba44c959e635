"""Which part of a conversation the chat page draws: its newest messages, more of them on
request, or the neighbourhood of a message landed on from a link (`?c=…&m=…`, a search
result), scrolled to and marked for a moment.

Only what is drawn is read (storage/threads.py), so a 5,000-message conversation opens as
fast as a short one. What the reader asked to see is kept per tab, for the open conversation.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cache
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.components import v1 as components

from chatcore.chat.use_cases import ConversationView
from chatcore.errors import ConversationNotFound
from chatcore.wiring import Services
from storage import MessageRecord, Role
from ui.i18n import ngettext

# A long chat shows its tail; the rest is a click away, this many messages at a time. Every
# message drawn is re-sent to the browser on each run, so this bounds the time from Enter to
# the first token in long chats.
RECENT_MESSAGES = 20
EARLIER_STEP = 50
VIEW = "thread_view"  # {"conversation", "recent", "anchor", "above", "mark"}
LANDING_PARAM = "m"
LANDED_KEY = "landed-message"  # Streamlit gives the container the class st-key-landed-message
_SCROLLER = Path(__file__).resolve().parent / "landing"
# Marks the message landed on for a few seconds, then fades. Styles may be inline (CSP).
_MARK_STYLE = """<style>
.st-key-landed-message { border-radius: 0.75rem; animation: anychat-landed 4s ease-out 1; }
@keyframes anychat-landed {
  0%, 50% { box-shadow: 0 0 0 3px rgba(37, 99, 235, 0.55); background: rgba(37, 99, 235, 0.07); }
  100% { box-shadow: 0 0 0 3px rgba(37, 99, 235, 0); background: rgba(37, 99, 235, 0); }
}
</style>"""


def _state(conversation_id: str) -> dict[str, Any]:
    """What this tab shows of `conversation_id`; opening another conversation starts afresh."""
    state: dict[str, Any] | None = st.session_state.get(VIEW)
    if state is None or state.get("conversation") != conversation_id:
        state = {
            "conversation": conversation_id,
            "recent": RECENT_MESSAGES,
            "anchor": None,
            "above": 1,
            "mark": None,
        }
        st.session_state[VIEW] = state
    return state


def _landing_request() -> int | None:
    """The message id in the URL, once: it is taken out, so a reload (or a switch back to
    another branch) does not land there again."""
    raw = st.query_params.get(LANDING_PARAM)
    if raw is None:
        return None
    del st.query_params[LANDING_PARAM]
    # Only a plain id: no "²" (a digit to isdigit, not to int), nothing past the id column.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or int(raw) >= 2**31:
        return None
    return int(raw)


def open_thread(
    services: Services, user_id: int, conversation_id: str | None
) -> ConversationView | None:
    """The open conversation with the part of its thread this tab draws; None if it is not
    this person's (or no longer exists)."""
    if conversation_id is None:
        return None
    state = _state(conversation_id)
    landing = _landing_request()
    try:
        if landing is not None:
            view = services.chat.land(user_id, conversation_id, landing, recent=RECENT_MESSAGES)
            if any(message.id == landing for message in view.thread):
                state.update(recent=RECENT_MESSAGES, anchor=landing, above=1, mark=landing)
            return view
        return services.chat.open(
            user_id,
            conversation_id,
            recent=state["recent"],
            through=state["anchor"],
            above=state["above"],
        )
    except ConversationNotFound:
        return None


def after_send(services: Services, user_id: int, view: ConversationView) -> ConversationView:
    """A message sent continues the newest end: any landing is over. The view a send returns
    holds the thread's last 20 messages; a reader who asked to see more still does."""
    state = _state(view.conversation.id)
    state.update(anchor=None, above=1, mark=None)
    if view.hidden and len(view.thread) < state["recent"]:
        try:
            return services.chat.open(user_id, view.conversation.id, recent=state["recent"])
        except ConversationNotFound:
            return view
    return view


def visible(view: ConversationView) -> tuple[list[MessageRecord], int]:
    """The messages to draw and how many earlier ones are not drawn.

    A view returned by a send holds a few more than this tab draws: they are left out here,
    so the page looks the same before and after the run that sends. The cut never leaves a
    tool result without its call above it."""
    state = _state(view.conversation.id)
    if state["anchor"] is not None:
        return view.thread, view.hidden
    extra = max(0, len(view.thread) - state["recent"])
    while extra > 0 and view.thread[extra].role == Role.TOOL:
        extra -= 1
    return view.thread[extra:], view.hidden + extra


def _show_earlier(conversation_id: str, drawn: int) -> None:
    state = _state(conversation_id)
    if state["anchor"] is not None:
        state["above"] += EARLIER_STEP
        state["mark"] = None
    else:
        state["recent"] = drawn + EARLIER_STEP


def draw_earlier(view: ConversationView, drawn: int, hidden: int) -> None:
    count = min(hidden, EARLIER_STEP)
    st.button(
        ngettext("Show {count} earlier message", "Show {count} earlier messages", count),
        icon=":material/expand_less:",
        on_click=_show_earlier,
        args=(view.conversation.id, drawn),
    )


def _show_latest(conversation_id: str) -> None:
    _state(conversation_id).update(recent=RECENT_MESSAGES, anchor=None, above=1, mark=None)


def draw_later(view: ConversationView) -> None:
    """After the neighbourhood of a message landed on: the way back to the newest messages."""
    if not view.later:
        return
    st.button(
        ngettext(
            "Show the latest ({count} later message)",
            "Show the latest ({count} later messages)",
            view.later,
        ),
        icon=":material/expand_more:",
        on_click=_show_latest,
        args=(view.conversation.id,),
    )


def around(view: ConversationView, message: MessageRecord) -> AbstractContextManager[Any]:
    """Where to draw `message`: the marked container when it is the one landed on."""
    if _state(view.conversation.id)["anchor"] == message.id:
        return st.container(key=LANDED_KEY)
    return nullcontext()


@cache
def _landing_scroller() -> Any:
    """Declared once per process, as Streamlit's components are meant to be, not per run."""
    return components.declare_component("landing", path=str(_SCROLLER))


def scroll_to_landing(view: ConversationView) -> None:
    """On the run that lands: scroll to the message and mark it (once; later runs leave the
    reader's scroll position alone)."""
    state = _state(view.conversation.id)
    if state["mark"] is None or state["mark"] != state["anchor"]:
        return
    state["mark"] = None
    st.html(_MARK_STYLE)
    scroller = _landing_scroller()
    scroller(key=f"landing-{state['anchor']}", default=None)
