"""The sidebar's search over the reader's own messages and titles: a box, and while it holds a
query, the conversations found, each opening at the message that matched."""

from __future__ import annotations

import re

import streamlit as st

from chatcore.chat.search import MAX_LIMIT, MAX_QUERY_CHARS
from chatcore.errors import AnyChatError
from chatcore.wiring import Services
from storage import SearchHit, SnippetPart
from ui.i18n import _, current
from ui.library import open_conversation
from ui.text import plain, say
from ui.thread_view import LANDING_PARAM

__all__ = ["draw_search", "marked"]

QUERY = "library_search"
LIMIT = "library_search_limit"
PAGE_SIZE = 20
# CommonMark reads ** as bold only beside a letter-like character where a match begins or ends
# with punctuation ("c++", "(x)"); this invisible non-joiner is one, on either side.
_GUARD = "\u200c"
_WHITESPACE = re.compile(r"\s")


def marked(parts: list[SnippetPart]) -> str:
    """Markdown showing the parts as the text they are, with the matches in bold."""
    pieces = []
    for part in parts:
        shown = plain(_WHITESPACE.sub(" ", part.text))
        pieces.append(f"**{_GUARD}{shown}{_GUARD}**" if part.is_match else shown)
    return "".join(pieces)


def _query_changed() -> None:
    st.session_state.pop(LIMIT, None)


def _show_more() -> None:
    st.session_state[LIMIT] = st.session_state.get(LIMIT, PAGE_SIZE) + PAGE_SIZE


def _open(conversation_id: str, message_id: int | None) -> None:
    """Into the URL, like any opened conversation, with the message to land on."""
    open_conversation(conversation_id)
    if message_id is not None:
        st.query_params[LANDING_PARAM] = str(message_id)


def _draw_hit(hit: SearchHit) -> None:
    title = marked(hit.title_parts) or plain(hit.title)
    st.button(
        title,
        key=f"search-hit-{hit.conversation_id}",
        on_click=_open,
        args=(hit.conversation_id, hit.message_id),
        type="tertiary",
        width="stretch",
    )
    if hit.snippet:
        st.caption(marked(hit.snippet))
    when = current().format_datetime(hit.date, "short")
    if hit.archived:
        st.caption(_(":material/archive: Archived · {when}", when=when))
    else:
        st.caption(when)


def draw_search(services: Services, user_id: int) -> bool:
    """The search box; while it holds a query, its results instead of the conversation list.
    Returns whether a query is shown."""
    query = st.text_input(
        _("Search messages and titles"),
        key=QUERY,
        placeholder=_("Search messages and titles"),
        label_visibility="collapsed",
        max_chars=MAX_QUERY_CHARS,
        on_change=_query_changed,
    )
    if not query.strip():
        return False
    try:
        page = services.search.search(user_id, query, limit=st.session_state.get(LIMIT, PAGE_SIZE))
    except AnyChatError as error:
        st.caption(say(error))
        return True
    if not page.hits:
        st.caption(_("No results."))
    with st.container(key="search_results"):
        for hit in page.hits:
            _draw_hit(hit)
    if page.has_more and len(page.hits) < MAX_LIMIT:
        st.button(_("More results"), key="search_more", on_click=_show_more, width="stretch")
    return True
