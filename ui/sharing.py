"""Sharing a conversation read-only with the team, and opening a shared link."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import streamlit as st

from chatcore.wiring import Services
from storage import AttachmentRecord, MessageRecord, Role, UserRecord
from ui.actions import CHAT_NOTICE, run_action, show_notice
from ui.attachments import FileReader, draw_attachments
from ui.history import open_conversation
from ui.i18n import _, current
from ui.messages import draw_content, draw_outcome
from ui.text import plain

NEW_LINK = "share_new_link"  # the raw link, shown once, right after it is made


def share_url(token: str) -> str:
    """The page's own address with ?share=…, so the link works behind any proxy or sub-path."""
    here = urlsplit(st.context.url or "")
    return urlunsplit((here.scheme, here.netloc, here.path or "/", f"share={token}", ""))


def _create(services: Services, user_id: int, conversation_id: str) -> None:
    made = services.sharing.create(user_id, conversation_id)
    st.session_state[NEW_LINK] = (conversation_id, share_url(made.token))


def _revoke(services: Services, user_id: int, share_id: int) -> None:
    services.sharing.revoke(user_id, share_id)


def draw_share_controls(services: Services, user_id: int, conversation_id: str) -> None:
    """Inside the conversation's menu: make a link, see it once, revoke links."""
    st.button(
        _("Share read-only with the team"),
        icon=":material/share:",
        on_click=run_action,
        args=(CHAT_NOTICE, _create, services, user_id, conversation_id),
    )
    fresh = st.session_state.get(NEW_LINK)
    if fresh and fresh[0] == conversation_id:
        st.caption(_("Copy this link now; it is not shown again."))
        st.code(fresh[1], language=None, wrap_lines=True)
    for share in services.sharing.active(user_id, conversation_id):
        st.button(
            # On the reader's clock, in their language's way of writing a date and time.
            _(
                "Revoke the link made {time}",
                time=current().format_datetime(share.created_at, "short"),
            ),
            key=f"revoke-{share.id}",
            icon=":material/link_off:",
            on_click=_revoke,
            args=(services, user_id, share.id),
        )


def _copy(services: Services, user_id: int, token: str) -> None:
    copy = services.sharing.copy(user_id, token)
    st.query_params.pop("share", None)
    open_conversation(copy.id)


def _shared_files(services: Services, user_id: int, token: str) -> FileReader:
    """Reads a file of the shared conversation, while the link still works."""

    def read(attachment: AttachmentRecord) -> bytes | None:
        found = services.sharing.attachment(user_id, token, attachment.id)
        return found[1] if found else None

    return read


def _draw_read_only(services: Services, message: MessageRecord, files: FileReader) -> None:
    if message.role == Role.TOOL:
        return
    with st.chat_message(message.role):
        draw_content(services, message)
        if message.attachments:
            draw_attachments(message.attachments, files)
        if message.role == Role.ASSISTANT:
            draw_outcome(message)


def render_shared(services: Services, user: UserRecord, token: str) -> None:
    # Opened like an action, so a link revoked meanwhile (also under "Continue as my own
    # copy") is reported the one way, once.
    view = run_action(CHAT_NOTICE, services.sharing.open, token)
    show_notice(CHAT_NOTICE)
    if view is None:
        return
    st.info(_("Shared read-only by a teammate."), icon=":material/group:")
    st.subheader(plain(view.conversation.title), anchor=False)
    files = _shared_files(services, user.id, token)
    for message in view.thread:
        _draw_read_only(services, message, files)
    st.button(
        _("Continue as my own copy"),
        type="primary",
        icon=":material/content_copy:",
        on_click=run_action,
        args=(CHAT_NOTICE, _copy, services, user.id, token),
    )
