"""The sidebar's folders, the Archive view, temporary chats and bulk actions, plus the pieces of
a conversation's menu that file or archive it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time

import streamlit as st

from chatcore.chat.library import BulkScope
from chatcore.wiring import Services
from storage import ConversationPage, ConversationRecord, FolderRecord
from ui import controls
from ui.actions import notify, run_action, show_notice
from ui.i18n import _, current, ngettext
from ui.text import plain
from ui.thread_view import LANDING_PARAM

NOTICE = "library"
TEMPORARY = "temporary_chat"  # the switch: the next new chat is temporary
NEW_IN_FOLDER = "new_chat_folder"  # the folder the next new chat is filed in
OPEN_TEMPORARY = "open_temporary_chat"  # the temporary chat on screen, ended when left
ARCHIVE_VIEW = "show_archive"
BULK = "bulk_confirm"  # the bulk action waiting for its confirmation
FOLDER_PAGE = 20


def open_conversation(conversation_id: str | None) -> None:
    """Put the conversation in the URL: a reload or a pasted link lands on it."""
    if conversation_id is None:
        st.query_params.pop("c", None)
    else:
        st.query_params["c"] = conversation_id
    st.query_params.pop(LANDING_PARAM, None)


# New chats: in a folder, temporary -------------------------------------------------------


def new_chat_options() -> tuple[int | None, bool]:
    """What the next new conversation is: the folder it is filed in, and whether it is a
    temporary chat."""
    return st.session_state.get(NEW_IN_FOLDER), bool(st.session_state.get(TEMPORARY))


def _new_chat_in(services: Services, user_id: int, folder: FolderRecord) -> None:
    open_conversation(None)
    st.session_state[NEW_IN_FOLDER] = folder.id
    params = services.library.new_chat_params(user_id, folder.id)
    controls.load_params(params or controls.current_params(services.settings.default_model), None)


def start_new_chat() -> None:
    """The sidebar's New chat: unfiled, in the history."""
    open_conversation(None)
    st.session_state.pop(NEW_IN_FOLDER, None)


def leave_temporary_chat(services: Services, user_id: int, showing: str | None) -> None:
    """A temporary chat ends when its owner opens anything else (another chat, a new one): the
    page remembers which one is on screen, and deletes it once it no longer is."""
    open_temporary = st.session_state.get(OPEN_TEMPORARY)
    if open_temporary and open_temporary != showing:
        services.library.leave_temporary(user_id, open_temporary)
        st.session_state.pop(OPEN_TEMPORARY, None)


def note_open_conversation(conversation: ConversationRecord | None) -> None:
    if conversation is not None and conversation.temporary:
        st.session_state[OPEN_TEMPORARY] = conversation.id


def draw_new_chat_notes(folders: Sequence[FolderRecord]) -> None:
    """Above an empty chat: where the next message will go."""
    folder_id, temporary = new_chat_options()
    if temporary:
        st.info(
            _(
                "Temporary chat: it is not listed, searched or exported, and it is deleted "
                "when you leave it."
            ),
            icon=":material/timer:",
        )
    if folder_id is not None:
        named = {folder.id: folder.name for folder in folders}
        if folder_id in named:
            st.caption(_("New chat in the folder “{name}”.", name=plain(named[folder_id])))
        else:
            st.session_state.pop(NEW_IN_FOLDER, None)


def draw_temporary_banner() -> None:
    st.info(
        _("Temporary chat: deleted when you leave it."),
        icon=":material/timer:",
    )


# The sidebar: folders, archive ------------------------------------------------------------


def draw_folders(
    services: Services,
    user_id: int,
    folders: Sequence[FolderRecord],
    open_id: str | None,
    draw_item: Callable[[ConversationRecord, str | None], None],
    open_pages: Mapping[int, ConversationPage],
) -> None:
    """The folders, each closed until clicked; `open_pages` holds the conversations of
    those open (read by the caller, which compares them after actions)."""
    heading, add = st.columns([0.8, 0.2], vertical_alignment="center")
    heading.caption(_("Folders"))
    with (
        add.container(key="new_folder_menu"),
        st.popover("", icon=":material/create_new_folder:", help=_("New folder")),
        st.form("new_folder", clear_on_submit=True, border=False),
    ):
        st.text_input(_("Folder name"), key="new_folder_name", max_chars=100)
        st.form_submit_button(
            _("Create folder"),
            on_click=run_action,
            args=(NOTICE, _create_folder, services, user_id),
        )
    for folder in folders:
        _draw_folder(services, user_id, folder, open_id, draw_item, open_pages.get(folder.id))
    show_notice(NOTICE)


def folder_panel_key(folder: FolderRecord) -> str:
    """The key of a folder's expander, whose state says whether it is open."""
    return f"folder-{folder.id}"


def _create_folder(services: Services, user_id: int) -> None:
    name = st.session_state.get("new_folder_name", "")
    created = services.library.create_folder(user_id, name)
    notify(NOTICE, "success", _("Folder “{name}” created.", name=plain(created.name)))


def _draw_folder(
    services: Services,
    user_id: int,
    folder: FolderRecord,
    open_id: str | None,
    draw_item: Callable[[ConversationRecord, str | None], None],
    page: ConversationPage | None,
) -> None:
    with st.expander(
        f"{plain(folder.name)} · {folder.conversations}",
        icon=":material/folder:",
        key=folder_panel_key(folder),
        on_change="rerun",
    ) as panel:
        if not panel.open:
            return  # its conversations are read only while it is open
        with st.container(horizontal=True):
            st.button(
                _("New chat here"),
                key=f"folder-new-{folder.id}",
                icon=":material/add_comment:",
                on_click=_new_chat_in,
                args=(services, user_id, folder),
            )
            with st.popover("", icon=":material/more_horiz:", help=_("Folder settings")):
                _draw_folder_menu(services, user_id, folder)
        if page is None:  # opened by this run's click: the caller read it closed
            page = services.chat.list_conversations(user_id, folder_id=folder.id, limit=FOLDER_PAGE)
        if not page.items:
            st.caption(_("No conversations in this folder."))
        for conversation in page.items:
            draw_item(conversation, open_id)
        if page.has_more:
            st.caption(_("Only the {count} most recent are listed here.", count=FOLDER_PAGE))


def _draw_folder_menu(services: Services, user_id: int, folder: FolderRecord) -> None:
    presets = {preset.id: preset for preset in services.presets.available(user_id)}
    with st.form(f"folder-edit-{folder.id}", border=False):
        st.text_input(
            _("Folder name"), value=folder.name, key=f"folder-name-{folder.id}", max_chars=100
        )
        st.selectbox(
            _("New chats here start from the preset"),
            [None, *presets],
            index=[None, *presets].index(folder.preset_id) if folder.preset_id in presets else 0,
            format_func=lambda preset_id: (
                _("No preset") if preset_id is None else presets[preset_id].name
            ),
            key=f"folder-preset-{folder.id}",
        )
        st.form_submit_button(
            _("Save"),
            on_click=run_action,
            args=(NOTICE, _update_folder, services, user_id, folder.id),
        )
    st.button(
        _("Archive all in this folder"),
        key=f"folder-archive-{folder.id}",
        icon=":material/archive:",
        on_click=_ask_bulk,
        args=("archive", BulkScope(folder_id=folder.id), folder.name),
    )
    st.button(
        _("Delete all in this folder"),
        key=f"folder-delete-all-{folder.id}",
        icon=":material/delete_sweep:",
        on_click=_ask_bulk,
        args=("delete", BulkScope(folder_id=folder.id), folder.name),
    )
    st.button(
        _("Delete folder (keep its conversations)"),
        key=f"folder-delete-{folder.id}",
        icon=":material/folder_delete:",
        on_click=run_action,
        args=(NOTICE, services.library.delete_folder, user_id, folder.id),
        kwargs={"success": _("Folder “{name}” deleted.", name=plain(folder.name))},
    )


def _update_folder(services: Services, user_id: int, folder_id: int) -> None:
    state = st.session_state
    services.library.update_folder(
        user_id,
        folder_id,
        state.get(f"folder-name-{folder_id}", ""),
        state.get(f"folder-preset-{folder_id}"),
    )
    notify(NOTICE, "success", _("Folder saved."))


def draw_archive_switch() -> None:
    st.button(
        _("Archive"),
        key="open_archive",
        icon=":material/inventory_2:",
        on_click=lambda: st.session_state.update({ARCHIVE_VIEW: True}),
        type="tertiary",
    )


def archive_open() -> bool:
    return bool(st.session_state.get(ARCHIVE_VIEW))


def draw_archive(services: Services, user_id: int, open_id: str | None) -> None:
    """The Archive view, in place of the history: find an archived chat, open or restore it,
    and tidy up by date."""
    st.button(
        _("‹ Back to chats"),
        key="close_archive",
        on_click=lambda: st.session_state.pop(ARCHIVE_VIEW, None),
        type="tertiary",
    )
    st.caption(_("Archive"))
    page = services.chat.list_conversations(user_id, archived=True, limit=100)
    if not page.items:
        st.caption(_("Nothing archived."))
    for conversation in page.items:
        title, restore = st.columns([0.8, 0.2], vertical_alignment="center")
        title.button(
            plain(conversation.title),
            key=f"archived-{conversation.id}",
            on_click=open_conversation,
            args=(conversation.id,),
            type="secondary" if conversation.id == open_id else "tertiary",
            width="stretch",
        )
        restore.button(
            "",
            key=f"restore-{conversation.id}",
            icon=":material/unarchive:",
            help=_("Restore to the chat list"),
            on_click=run_action,
            args=(NOTICE, services.library.archive, user_id, conversation.id, False),
            kwargs={"success": _("Restored.")},
        )
    if page.has_more:
        st.caption(_("Only the {count} most recent are listed here.", count=100))
    _draw_bulk_by_date()
    show_notice(NOTICE)


def _draw_bulk_by_date() -> None:
    with st.expander(_("Tidy up by date"), icon=":material/event:"):
        chosen = st.date_input(_("Last used before"), value=None, key="bulk_before")
        before = (
            datetime.combine(chosen, time.min, tzinfo=current().timezone).astimezone(UTC)
            if isinstance(chosen, date)
            else None
        )
        archive, delete = st.columns(2)
        archive.button(
            _("Archive them"),
            disabled=before is None,
            on_click=_ask_bulk,
            args=("archive", BulkScope(before=before), str(chosen)),
            width="stretch",
        )
        delete.button(
            _("Delete them"),
            disabled=before is None,
            on_click=_ask_bulk,
            args=("delete", BulkScope(before=before), str(chosen)),
            width="stretch",
        )


def _ask_bulk(action: str, scope: BulkScope, what: str) -> None:
    st.session_state[BULK] = (action, scope, what)


def _close_bulk() -> None:
    st.session_state.pop(BULK, None)


def _run_bulk(services: Services, user_id: int) -> None:
    action, scope, _what = st.session_state.pop(BULK)
    if action == "archive":
        done = services.library.archive_all(user_id, scope)
        notify(
            NOTICE,
            "success",
            ngettext("Archived {count} conversation.", "Archived {count} conversations.", done),
        )
    else:
        done = services.library.delete_all(user_id, scope)
        notify(
            NOTICE,
            "success",
            ngettext("Deleted {count} conversation.", "Deleted {count} conversations.", done),
        )


def draw_bulk_confirmation(services: Services, user_id: int) -> None:
    """The confirmation a bulk action waits for, with how many conversations it touches."""
    pending = st.session_state.get(BULK)
    if pending is None:
        return
    action, scope, what = pending
    archive = action == "archive"
    counted = run_action(
        NOTICE,
        services.library.count_bulk_archive if archive else services.library.count_bulk,
        user_id,
        scope,
    )
    if counted is None:
        _close_bulk()
        return
    title = _("Archive these conversations?") if archive else _("Delete these conversations?")

    @st.dialog(title, on_dismiss=_close_bulk)
    def dialog() -> None:
        if scope.folder_id is not None:
            where = _("in the folder “{name}”", name=plain(what))
        else:
            where = _("last used before {day}", day=plain(what))
        if archive:
            st.markdown(
                ngettext(
                    "{count} conversation {where} will be archived. You can restore it "
                    "from the Archive.",
                    "{count} conversations {where} will be archived. You can restore them "
                    "from the Archive.",
                    counted,
                    where=where,
                )
            )
        else:
            st.markdown(
                ngettext(
                    "{count} conversation {where} will be deleted with all its messages. "
                    "This cannot be undone.",
                    "{count} conversations {where} will be deleted with all their messages. "
                    "This cannot be undone.",
                    counted,
                    where=where,
                )
            )
        keep, go = st.columns(2)
        keep.button(_("Cancel"), width="stretch", on_click=_close_bulk)
        go.button(
            _("Archive") if archive else _("Delete"),
            type="primary",
            width="stretch",
            disabled=counted == 0,
            on_click=run_action,
            args=(NOTICE, _run_bulk, services, user_id),
        )

    dialog()


# A conversation's menu ---------------------------------------------------------------------


def draw_conversation_filing(
    services: Services,
    user_id: int,
    conversation: ConversationRecord,
    folders: Sequence[FolderRecord],
) -> None:
    """In the conversation's menu: its folder, and archive or restore."""
    named = {folder.id: folder.name for folder in folders}
    options = [None, *named]
    st.selectbox(
        _("Folder"),
        options,
        index=options.index(conversation.folder_id) if conversation.folder_id in named else 0,
        format_func=lambda folder_id: _("No folder") if folder_id is None else named[folder_id],
        key=f"move-{conversation.id}",
        on_change=_move,
        args=(services, user_id, conversation.id),
    )
    if conversation.archived:
        st.button(
            _("Restore from the archive"),
            icon=":material/unarchive:",
            on_click=run_action,
            args=(NOTICE, services.library.archive, user_id, conversation.id, False),
        )
    else:
        st.button(
            _("Archive"),
            icon=":material/archive:",
            on_click=_archive_and_leave,
            args=(services, user_id, conversation.id),
        )


def _move(services: Services, user_id: int, conversation_id: str) -> None:
    run_action(
        NOTICE,
        services.library.move,
        user_id,
        conversation_id,
        st.session_state.get(f"move-{conversation_id}"),
    )


def _archive_and_leave(services: Services, user_id: int, conversation_id: str) -> None:
    if run_action(NOTICE, services.library.archive, user_id, conversation_id):
        notify(NOTICE, "success", _("Archived. Find it again in the Archive."))
        open_conversation(None)
