"""The sidebar's conversation list: pinned first, then by last activity on the reader's calendar
(Today, Yesterday, Previous 7 days, Older), searchable, paginated."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st

from chatcore.chat.history_groups import (
    OLDER,
    PINNED,
    PREVIOUS_7_DAYS,
    TODAY,
    YESTERDAY,
    HistoryGroup,
    group_conversations,
)
from chatcore.wiring import Services
from storage import ConversationPage, ConversationRecord, FolderRecord
from ui.i18n import N_, _, current
from ui.library import (
    FOLDER_PAGE,
    TEMPORARY,
    archive_open,
    draw_archive,
    draw_archive_switch,
    draw_bulk_confirmation,
    draw_folders,
    folder_panel_key,
    open_conversation,
    start_new_chat,
)
from ui.search import QUERY, draw_search
from ui.text import number, plain

__all__ = ["draw_history", "history_changed", "open_conversation"]

PAGE_SIZE = 20
OFFSET = "history_offset"
# What the list showed when the whole page last drew it (`_shown`): a run of the
# conversation's fragment alone compares it with what the list would show now.
SHOWN = "history_shown"
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


@dataclass(frozen=True, slots=True)
class _Listing:
    """What the list reads: the open folders' conversations, the page of the others, and
    that page under its date headings."""

    folder_pages: dict[int, ConversationPage]
    page: ConversationPage
    groups: list[HistoryGroup[ConversationRecord]]


def _listing(services: Services, user_id: int, folders: Sequence[FolderRecord]) -> _Listing:
    """The reads `draw_history` draws from, and `history_changed` compares."""
    offset = st.session_state.get(OFFSET, 0)
    folder_pages = {
        folder.id: services.chat.list_conversations(user_id, folder_id=folder.id, limit=FOLDER_PAGE)
        for folder in folders
        if not offset and st.session_state.get(folder_panel_key(folder))
    }
    page = services.chat.list_conversations(user_id, offset=offset, limit=PAGE_SIZE)
    # Each page groups its own conversations: the list is ordered pinned first, then newest,
    # so a heading continues on the next page where its group does.
    groups = group_conversations(page.items, datetime.now(UTC), current().timezone)
    return _Listing(folder_pages, page, groups)


def _shown(open_id: str | None, folders: Sequence[FolderRecord], listing: _Listing) -> Hashable:
    """What the list shows, in the terms a reader sees: each conversation's title, pin and
    place (heading, order), the folders, the open one. Not when each was last active: a
    reply in the conversation already at the top of Today changes nothing here."""

    def items(conversations: Sequence[ConversationRecord]) -> tuple[Hashable, ...]:
        return tuple((item.id, item.title, item.pinned) for item in conversations)

    return (
        open_id,
        listing.page.offset,
        listing.page.has_more,
        tuple((folder.id, folder.name, folder.conversations) for folder in folders),
        tuple((folder_id, items(page.items)) for folder_id, page in listing.folder_pages.items()),
        tuple((group.id, items(group.items)) for group in listing.groups),
    )


def history_changed(
    services: Services, user_id: int, folders: Sequence[FolderRecord], open_id: str | None
) -> bool:
    """Whether the list would now show something else than the whole page last drew: after
    an action in the conversation, only then must the whole page (the sidebar) run again.
    Search results and the Archive view are not compared: with either, always."""
    drawn = st.session_state.get(SHOWN)
    if drawn is None or archive_open() or str(st.session_state.get(QUERY) or "").strip():
        return True
    return bool(_shown(open_id, folders, _listing(services, user_id, folders)) != drawn)


def draw_history(
    services: Services, user_id: int, folders: Sequence[FolderRecord], open_id: str | None
) -> None:
    st.session_state.pop(SHOWN, None)  # until the list below is drawn
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
    listing = _listing(services, user_id, folders)
    st.session_state[SHOWN] = _shown(open_id, folders, listing)
    if first_page:
        draw_folders(services, user_id, folders, open_id, _draw_item, listing.folder_pages)
    page = listing.page
    if page.offset and not page.items:
        st.caption(_("No more conversations."))
    elif not page.items and not (first_page and any(folder.conversations for folder in folders)):
        st.caption(_("No conversations yet."))
    for group in listing.groups:
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
