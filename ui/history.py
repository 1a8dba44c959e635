"""The sidebar's conversation list: pinned first, then by last activity on the reader's calendar
(Today, Yesterday, Previous 7 days, Older), searchable, paginated."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from chatcore.chat.history_groups import (
    OLDER,
    PINNED,
    PREVIOUS_7_DAYS,
    TODAY,
    YESTERDAY,
    group_conversations,
)
from chatcore.wiring import Services
from ui.i18n import N_, _, current
from ui.text import plain

PAGE_SIZE = 20
OFFSET = "history_offset"
SEARCH = "history_search"
GROUP_HEADINGS = {
    PINNED: N_("Pinned"),
    TODAY: N_("Today"),
    YESTERDAY: N_("Yesterday"),
    PREVIOUS_7_DAYS: N_("Previous 7 days"),
    # Translators: the heading of conversations last active more than a week ago.
    OLDER: N_("Older"),
}


def open_conversation(conversation_id: str | None) -> None:
    """Put the conversation in the URL: a reload or a pasted link lands on it."""
    if conversation_id is None:
        st.query_params.pop("c", None)
    else:
        st.query_params["c"] = conversation_id


def _page(delta: int) -> None:
    st.session_state[OFFSET] = max(0, st.session_state.get(OFFSET, 0) + delta)


def _search_changed() -> None:
    st.session_state[OFFSET] = 0


def draw_history(services: Services, user_id: int, open_id: str | None) -> None:
    st.button(
        _("New chat"),
        key="new_chat",
        icon=":material/edit_square:",
        on_click=open_conversation,
        args=(None,),
        width="stretch",
        type="primary",
    )
    st.text_input(
        _("Search chats"),
        key=SEARCH,
        placeholder=_("Search titles"),
        label_visibility="collapsed",
        on_change=_search_changed,
    )
    page = services.chat.list_conversations(
        user_id,
        offset=st.session_state.get(OFFSET, 0),
        limit=PAGE_SIZE,
        search=st.session_state.get(SEARCH, ""),
    )
    if not page.items:
        st.caption(_("No conversations yet.") if not page.offset else _("No more conversations."))
    # Each page groups its own conversations: the list is ordered pinned first, then newest,
    # so a heading continues on the next page where its group does.
    for group in group_conversations(page.items, datetime.now(UTC), current().timezone):
        st.caption(_(GROUP_HEADINGS[group.id]))
        for conversation in group.items:
            st.button(
                plain(conversation.title),
                key=f"open-{conversation.id}",
                on_click=open_conversation,
                args=(conversation.id,),
                type="secondary" if conversation.id == open_id else "tertiary",
                width="stretch",
                icon=":material/push_pin:" if conversation.pinned else None,
            )
    newer, older = st.columns(2)
    if page.offset:
        newer.button(
            # Translators: the previous page of the conversation list (newer conversations).
            _("‹ Newer"),
            key="history_newer",
            on_click=_page,
            args=(-PAGE_SIZE,),
            width="stretch",
        )
    if page.has_more:
        older.button(
            # Translators: the next page of the conversation list (older conversations).
            _("Older ›"),
            key="history_older",
            on_click=_page,
            args=(PAGE_SIZE,),
            width="stretch",
        )
