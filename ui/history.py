"""The sidebar's conversation list: newest first, searchable, paginated."""

from __future__ import annotations

import streamlit as st

from chatcore.wiring import Services
from ui.text import plain

PAGE_SIZE = 20
OFFSET = "history_offset"
SEARCH = "history_search"


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
        "New chat",
        icon=":material/edit_square:",
        on_click=open_conversation,
        args=(None,),
        width="stretch",
        type="primary",
    )
    st.text_input(
        "Search chats",
        key=SEARCH,
        placeholder="Search titles",
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
        st.caption("No conversations yet." if not page.offset else "No more conversations.")
    for conversation in page.items:
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
        newer.button("‹ Newer", on_click=_page, args=(-PAGE_SIZE,), width="stretch")
    if page.has_more:
        older.button("Older ›", on_click=_page, args=(PAGE_SIZE,), width="stretch")
