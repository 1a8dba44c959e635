"""The sidebar's conversation list: pinned first, then by last activity on the reader's calendar
(Today, Yesterday, Previous 7 days, Older), searchable, paginated."""

from __future__ import annotations

from collections.abc import Sequence
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
from storage import ConversationRecord, FolderRecord
from ui.i18n import N_, _, current
from ui.library import (
    TEMPORARY,
    archive_open,
    draw_archive,
    draw_archive_switch,
    draw_bulk_confirmation,
    draw_folders,
    open_conversation,
    start_new_chat,
)
from ui.search import draw_search
from ui.text import number, plain

__all__ = ["draw_history", "open_conversation"]

PAGE_SIZE = 20
OFFSET = "history_offset"
GROUP_HEADINGS = {
    PINNED: N_("Pinned"),
    TODAY: N_("Today"),
    YESTERDAY: N_("Yesterday"),
    PREVIOUS_7_DAYS: N_("Previous 7 days"),
    # Translators: the heading of conversations last active more than a week ago.
    OLDER: N_("Older"),
}


def _page(delta: int) -> None:
    st.session_state[OFFSET] = max(0, st.session_state.get(OFFSET, 0) + delta)


def _draw_item(conversation: ConversationRecord, open_id: str | None) -> None:
    st.button(
        plain(conversation.title),
        key=f"open-{conversation.id}",
        on_click=open_conversation,
        args=(conversation.id,),
        type="secondary" if conversation.id == open_id else "tertiary",
        width="stretch",
        icon=":material/push_pin:" if conversation.pinned else None,
    )


def draw_history(
    services: Services, user_id: int, folders: Sequence[FolderRecord], open_id: str | None
) -> None:
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button(
            _("New chat"),
            key="new_chat",
            icon=":material/edit_square:",
            on_click=start_new_chat,
            width="stretch",
            type="primary",
        )
        st.toggle(
            _("Temporary"),
            key=TEMPORARY,
            help=_(
                "A temporary chat is never listed, searched or exported, and is deleted when "
                "you leave it (or after {hours} hours).",
                hours=number(services.settings.temporary_chat_hours),
            ),
        )
    draw_bulk_confirmation(services, user_id)
    if archive_open():
        draw_archive(services, user_id, open_id)
        return
    if draw_search(services, user_id):
        return  # the results replace the lists while the box holds a query
    first_page = not st.session_state.get(OFFSET, 0)
    if first_page:
        draw_folders(services, user_id, folders, open_id, _draw_item)
    page = services.chat.list_conversations(
        user_id, offset=st.session_state.get(OFFSET, 0), limit=PAGE_SIZE
    )
    if page.offset and not page.items:
        st.caption(_("No more conversations."))
    elif not page.items and not (first_page and any(folder.conversations for folder in folders)):
        st.caption(_("No conversations yet."))
    # Each page groups its own conversations: the list is ordered pinned first, then newest,
    # so a heading continues on the next page where its group does.
    for group in group_conversations(page.items, datetime.now(UTC), current().timezone):
        st.caption(_(GROUP_HEADINGS[group.id]))
        for conversation in group.items:
            _draw_item(conversation, open_id)
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
    draw_archive_switch()
