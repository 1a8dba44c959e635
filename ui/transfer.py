"""Export and import: a conversation's downloads (in its menu), and the Account page's data
section (all conversations as a zip; importing ours or ChatGPT's).

Downloads are built when clicked, not when the page is drawn (Streamlit calls a callable
`data` then, on a thread of its own): a page run never serialises a conversation nobody
downloads. The callables are given the reader's translator now, since that thread has no
session to find it in.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import streamlit as st

from chatcore.chat.transfer_markdown import file_stem
from chatcore.chat.transfer_report import ImportReport
from chatcore.wiring import Services
from storage import ConversationRecord, UserRecord
from ui.actions import run_action, show_notice
from ui.i18n import _, current, ngettext
from ui.text import plain, say

NOTICE = "transfer"
REPORT = "transfer_report"  # the last import's report, drawn once
UPLOADS = "transfer_uploads"  # bumped after an import: a new uploader key empties it
SHOWN_BROKEN = 50  # broken conversations listed by name; the rest are counted


def draw_export_controls(
    services: Services, user_id: int, conversation: ConversationRecord
) -> None:
    """Two downloads for the conversation's menu: Markdown to read, JSON with every branch.
    A temporary chat has none: it is never exported. (Each download checks again, when
    clicked, that the conversation is still this person's and exportable.)"""
    if conversation.temporary:
        st.caption(_("Temporary chats are not exported."))
        return
    conversation_id = conversation.id
    stem = file_stem(conversation.title)
    translate = current()
    st.download_button(
        _("Download as Markdown"),
        data=lambda: services.transfer.export_markdown(
            user_id, conversation_id, translate=translate
        ),
        file_name=f"{stem}.md",
        mime="text/markdown",
        key=f"export-md-{conversation_id}",
        icon=":material/description:",
        on_click="ignore",
    )
    st.download_button(
        _("Download as JSON"),
        data=lambda: services.transfer.export_json_text(user_id, conversation_id),
        file_name=f"{stem}.json",
        mime="application/json",
        key=f"export-json-{conversation_id}",
        icon=":material/data_object:",
        on_click="ignore",
        help=_("Every branch, the settings and the token counts; AnyChat can import it."),
    )


def _upload_key() -> str:
    return f"transfer-upload-{st.session_state.get(UPLOADS, 0)}"


def _import(services: Services, user: UserRecord) -> None:
    upload = st.session_state.get(_upload_key())
    if upload is None:
        return
    report = run_action(
        NOTICE,
        services.transfer.import_file,
        user.id,
        upload.name,
        upload.getvalue(),
        translate=current(),
    )
    if report is not None:
        st.session_state[REPORT] = report
        st.session_state[UPLOADS] = st.session_state.get(UPLOADS, 0) + 1


def _draw_report(report: ImportReport) -> None:
    if report.folder is not None:
        st.success(
            ngettext(
                "Imported {count} conversation into the folder “{folder}”.",
                "Imported {count} conversations into the folder “{folder}”.",
                report.imported,
                folder=plain(report.folder.name),
            ),
            icon=":material/check_circle:",
        )
    if not report.broken:
        return
    if report.folder is None:
        st.error(
            _("Nothing was imported: no conversation in the file could be read."),
            icon=":material/error:",
        )
    else:
        st.warning(
            ngettext(
                "{count} conversation could not be imported:",
                "{count} conversations could not be imported:",
                len(report.broken),
            ),
            icon=":material/warning:",
        )
    lines = []
    for broken in report.broken[:SHOWN_BROKEN]:
        which = (
            _("No. {number}, “{title}”", number=broken.number, title=plain(broken.title))
            if broken.title
            else _("No. {number}", number=broken.number)
        )
        lines.append(f"- {which}: {say(broken.reason)}")
    hidden = len(report.broken) - SHOWN_BROKEN
    if hidden > 0:
        more = ngettext("…and {count} more.", "…and {count} more.", hidden)
        lines.append(f"- {more}")
    st.markdown("\n".join(lines))


def draw_data_section(services: Services, user: UserRecord) -> None:
    """The Account page's "Your conversations": export everything, import a file."""
    st.subheader(_("Your conversations"), anchor=False)
    show_notice(NOTICE)
    report = st.session_state.pop(REPORT, None)
    if isinstance(report, ImportReport):
        _draw_report(report)
    st.write(
        _(
            "Download all your conversations (temporary chats excepted) as a zip of JSON and "
            "Markdown files, or import conversations exported from AnyChat or from ChatGPT."
        )
    )
    translate = current()
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    st.download_button(
        _("Export all conversations"),
        data=lambda: services.transfer.export_all(user.id, translate=translate),
        file_name=f"anychat-conversations-{today}.zip",
        mime="application/zip",
        key="export-all",
        icon=":material/download:",
        on_click="ignore",
    )
    limit = services.settings.import_max_mb
    upload = st.file_uploader(
        _("Import conversations"),
        type=["json", "zip"],
        key=_upload_key(),
        max_upload_size=max(1, math.ceil(limit)),
        help=_(
            "An AnyChat export (a conversation's JSON, or the zip of all of them), or "
            "ChatGPT's data export (its zip, or the conversations.json inside it). Files up "
            "to {limit:g} MB. The conversations go into a new folder.",
            limit=limit,
        ),
    )
    st.button(
        _("Import"),
        type="primary",
        icon=":material/upload:",
        disabled=upload is None,
        on_click=_import,
        args=(services, user),
    )
