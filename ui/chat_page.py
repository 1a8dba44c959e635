"""The chat page: send first (so the request starts at once), then draw everything else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import NoReturn

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chatcore.attachments import IncomingFile
from chatcore.chat.params import GenerationParams
from chatcore.chat.use_cases import ConversationView
from chatcore.errors import AnyChatError, ImagesUnsupported, JsonModeUnmentioned
from chatcore.wiring import Services
from storage import (
    ConversationRecord,
    FolderRecord,
    MessageRecord,
    MessageStatus,
    Role,
    UserRecord,
)
from ui import composer, controls, thread_view
from ui.actions import CHAT_NOTICE, notices_pending, report, show_notice
from ui.advanced import draw_advanced
from ui.auth import signed_in_user
from ui.blanks import NOTICE as BLANKS_NOTICE
from ui.blanks import draw_blanks
from ui.compare import compare_with
from ui.costs import conversation_cost
from ui.history import draw_history, history_changed, open_conversation
from ui.i18n import _, ngettext
from ui.library import (
    NEW_IN_FOLDER,
    draw_conversation_filing,
    draw_new_chat_notes,
    draw_temporary_banner,
    leave_temporary_chat,
    new_chat_options,
    note_open_conversation,
)
from ui.live_view import draw_stop, follow_for
from ui.messages import ACTIONS_FOR, draw_message
from ui.model_choice import allowed_model_list
from ui.presets import draw_presets
from ui.replies import choice_group, draw_choices, draw_generating
from ui.sharing import draw_share_controls, render_shared
from ui.text import plain, say
from ui.tool_calls import call_names
from ui.transfer import draw_export_controls

CONFIRM_DELETE = "confirm_delete_for"
# A send waiting for "Send anyway" (JSON mode unmentioned, images for a text-only model).
JSON_CONFIRM = "json_confirm"
JSON_MODE_QUESTION = JsonModeUnmentioned.code
IMAGES_QUESTION = ImagesUnsupported.code
UNSENT = "chat_unsent"  # a message refused in the input's callback, for the page to hand back
NEW_TURN = "new_turn"  # (question, reply) the new turn's fragment follows
AREA = "conversation-area"  # the fragment with all of the page but the sidebar and the input
AREA_IS_FRAGMENT = "conversation_area_is_fragment"  # as the last page run drew it
TURN_SLICE_SECONDS = 0.3


def _sync_controls(services: Services, view: ConversationView | None) -> None:
    owner = view.conversation.id if view else None
    if controls.LOADED_FOR not in st.session_state:
        controls.load_params(GenerationParams(model=services.settings.default_model), None)
    if view and st.session_state.get(controls.LOADED_FOR) != owner:
        stored = GenerationParams.from_settings(view.conversation.settings, view.conversation.model)
        controls.load_params(stored, owner)


def _open(services: Services, user_id: int, conversation_id: str | None) -> ConversationView | None:
    """Its newest messages, as many as this tab asked for, or the message a link lands on."""
    return thread_view.open_thread(services, user_id, conversation_id)


def _send(
    services: Services,
    user_id: int,
    conversation_id: str | None,
    text: str,
    *,
    files: Sequence[IncomingFile] = (),
    confirmed: frozenset[str] = frozenset(),
) -> ConversationView | None:
    """The view to draw; None while a question (JSON mode unmentioned, images for a text-only
    model) waits for the user's "Send anyway", or when the message was refused (the reason
    becomes the chat's notice; the text is handed back)."""
    try:
        params = controls.current_params(services.settings.default_model)
        folder_id, temporary = new_chat_options()
        sent = services.chat.send(
            user_id,
            conversation_id,
            text,
            params,
            confirmed_json=JSON_MODE_QUESTION in confirmed,
            confirmed_images=IMAGES_QUESTION in confirmed,
            folder_id=folder_id,
            temporary=temporary,
            files=files,
            compare_with=compare_with(),
        )
    except (JsonModeUnmentioned, ImagesUnsupported) as question:
        # A question, not a refusal: kept until the user decides, so the message and its
        # files survive the reruns in between.
        st.session_state[JSON_CONFIRM] = {
            "text": text,
            "files": list(files),
            "conversation": conversation_id,
            "question": question.with_traceback(None),  # its sentence; not its frames
            "confirmed": confirmed | {question.code},
        }
        return None
    except AnyChatError as error:
        report(CHAT_NOTICE, error, sends=True)
        return None
    st.session_state.pop(JSON_CONFIRM, None)
    st.session_state.pop(NEW_IN_FOLDER, None)  # filed; the next New chat is unfiled again
    st.session_state[controls.LOADED_FOR] = sent.conversation.id
    open_conversation(sent.conversation.id)
    return sent


def _send_anyway(services: Services, user_id: int) -> None:
    pending = st.session_state.pop(JSON_CONFIRM, None)
    if pending:
        _send(
            services,
            user_id,
            pending["conversation"],
            pending["text"],
            files=pending["files"],
            confirmed=pending["confirmed"],
        )


def _draw_json_confirm(services: Services, user_id: int) -> None:
    pending = st.session_state[JSON_CONFIRM]
    st.warning(say(pending["question"]), icon=":material/data_object:")
    with st.expander(_("Your message (not sent yet)")):
        st.code(pending["text"], language=None, wrap_lines=True)
        files = pending.get("files") or []
        if files:
            names = ", ".join(plain(file.name) for file in files)
            st.caption(
                ngettext(
                    "With {count} file: {names}",
                    "With {count} files: {names}",
                    len(files),
                    names=names,
                )
            )
    with st.container(horizontal=True):
        st.button(
            _("Send anyway"),
            icon=":material/send:",
            type="primary",
            on_click=_send_anyway,
            args=(services, user_id),
        )
        st.button(_("Cancel"), on_click=lambda: st.session_state.pop(JSON_CONFIRM, None))


def _draw_unsent(text: str) -> None:
    # The chat box has already cleared itself: hand the text back so nothing is lost.
    show_notice(CHAT_NOTICE)  # why it was not sent, above the text
    if text.strip():
        with st.expander(_("Your message (not sent)")):
            st.code(text, language=None, wrap_lines=True)


def _close_delete_dialog() -> None:
    st.session_state.pop(CONFIRM_DELETE, None)


def _delete(services: Services, user_id: int, conversation_id: str) -> None:
    services.chat.delete(user_id, conversation_id)
    _close_delete_dialog()
    open_conversation(None)


def _confirm_delete(services: Services, user_id: int, conversation: ConversationRecord) -> None:
    # Opened from session state, not from the button's return value, so the dialog is still
    # drawn on the run its own buttons trigger. Decorated here, not at import, so its title is
    # in the reader's language.
    @st.dialog(_("Delete this conversation?"), on_dismiss=_close_delete_dialog)
    def dialog() -> None:
        st.markdown(
            _(
                "“{title}” and all its messages will be deleted. This cannot be undone.",
                title=plain(conversation.title),
            )
        )
        keep, delete = st.columns(2)
        keep.button(_("Cancel"), width="stretch", on_click=_close_delete_dialog)
        delete.button(
            _("Delete"),
            type="primary",
            width="stretch",
            on_click=_delete,
            args=(services, user_id, conversation.id),
        )

    dialog()


def _rename(services: Services, user_id: int, conversation_id: str) -> None:
    title = st.session_state.get(f"rename-{conversation_id}", "").strip()
    if title:
        services.chat.rename(user_id, conversation_id, title)


MENU_PREFIX = "conversation-menu-"  # + conversation id: the header menu's popover


def _draw_header(
    services: Services, user_id: int, view: ConversationView, folders: Sequence[FolderRecord]
) -> None:
    conversation = view.conversation
    title_col, menu_col = st.columns([0.9, 0.1], vertical_alignment="center")
    title_col.subheader(plain(conversation.title), anchor=False)
    menu = _("Rename, file, archive, export, share or delete")
    with menu_col.popover(
        "",
        icon=":material/more_horiz:",
        help=menu,
        key=f"{MENU_PREFIX}{conversation.id}",
        on_change="rerun",
    ) as opened:
        # Drawn only while open, like each message's Copy: its widgets and the read of
        # the shares cost every page run (the one after each reply among them), for a menu
        # that is closed nearly always.
        if opened.open:
            st.text_input(
                _("Title"),
                value=conversation.title,
                key=f"rename-{conversation.id}",
                on_change=_rename,
                args=(services, user_id, conversation.id),
                max_chars=200,
            )
            st.button(
                _("Unpin") if conversation.pinned else _("Pin to top"),
                icon=":material/push_pin:",
                on_click=services.chat.set_pinned,
                args=(user_id, conversation.id, not conversation.pinned),
            )
            if not conversation.temporary:  # never filed, exported or shared: it ends when left
                draw_conversation_filing(services, user_id, conversation, folders)
                draw_export_controls(services, user_id, conversation)
                draw_share_controls(services, user_id, conversation.id)
            st.button(
                _("Delete conversation"),
                icon=":material/delete:",
                on_click=lambda: st.session_state.update({CONFIRM_DELETE: conversation.id}),
            )
    if st.session_state.get(CONFIRM_DELETE) == conversation.id:
        _confirm_delete(services, user_id, conversation)
    if conversation.temporary:
        draw_temporary_banner()
    elif conversation.archived:
        st.caption(_("Archived: this conversation is not in your chat list."))


def _draw_totals(services: Services, view: ConversationView, slot: DeltaGenerator) -> None:
    # Drawn after the thread, so a reply that just finished is counted.
    total = services.chat.token_total(view.conversation.user_id, view.conversation.id)
    slot.caption(
        ngettext(
            "{model} · {count} token in this conversation (every branch and choice counted)",
            "{model} · {count} tokens in this conversation (every branch and choice counted)",
            total,
            model=plain(view.conversation.model),
        )
        + conversation_cost(services, view.conversation.user_id, view.conversation.id)
    )


def _draw_thread(services: Services, user_id: int, view: ConversationView) -> None:
    thread, hidden = thread_view.visible(view)
    if hidden:
        thread_view.draw_earlier(view, len(thread), hidden)
    names = call_names(thread)
    newest = {message.role: message.id for message in thread}  # last of each role
    opened = st.session_state.get(ACTIONS_FOR)
    context_start = composer.context_start(thread)
    for index, message in enumerate(thread):
        if message.id == context_start:
            composer.draw_context_marker()
        # Around a message landed on, the drawn part may end before the newest message.
        is_last = index == len(thread) - 1 and not view.later
        alternatives = view.alternatives.get(message.id)
        group = choice_group(message, alternatives) if is_last else []
        with thread_view.around(view, message):
            if group:
                draw_choices(services, user_id, message, group, alternatives or [])
            elif message.status == MessageStatus.STREAMING and message.role == Role.ASSISTANT:
                draw_generating(services, user_id, message, alternatives)
            else:
                draw_message(
                    services,
                    user_id,
                    message,
                    is_last=is_last,
                    alternatives=alternatives,
                    function_name=names.get(message.tool_call_id or ""),
                    full_actions=message.id in (newest.get(message.role), opened),
                )
    thread_view.draw_later(view)
    thread_view.scroll_to_landing(view)


@dataclass(frozen=True, slots=True)
class AreaContent:
    """What the conversation's area draws, as the whole page's run found it."""

    view: ConversationView | None
    folders: Sequence[FolderRecord]
    unsent: str | None = None  # a message refused, handed back
    not_found: bool = False  # the link's conversation is not there (deleted, another's)


def render(services: Services, user: UserRecord) -> None:
    shared = st.query_params.get("share")
    if shared:
        render_shared(services, user, shared)
        return
    requested = st.query_params.get("c")
    has_key = services.can_send(user)
    # Until this run registers the new turn's fragment again (after any reply it follows),
    # a message sent reruns the whole page.
    st.session_state.pop(composer.TURN_FOR, None)
    st.session_state.pop(NEW_TURN, None)  # this run draws the whole thread, that reply too
    composer.draw_input(services, user.id, has_key, partial(_send_turn, services, user.id))
    entry = composer.take_entry()
    text = entry.text if entry else None
    view = None
    if entry:
        # Before anything else is drawn, so the request is on its way while the page renders.
        view = _send(services, user.id, requested, entry.text, files=entry.files)
        if view is not None:
            view = thread_view.after_send(services, user.id, view)
    unsent = st.session_state.pop(UNSENT, None) or (text if entry and view is None else None)
    if view is None:
        view = _open(services, user.id, requested)
    _sync_controls(services, view)
    leave_temporary_chat(services, user.id, view.conversation.id if view else None)
    note_open_conversation(view.conversation if view else None)

    folders = services.library.folders(user.id)  # the sidebar, the menu and the notes share it
    with st.sidebar:
        controls.draw_controls(allowed_model_list(services, user))
        draw_advanced()
        draw_presets(services, user.id)
        st.divider()
        draw_history(services, user.id, folders, view.conversation.id if view else None)
    not_found = bool(requested and view is None and not text)
    content = AreaContent(view, folders, unsent, not_found)
    # A reply this run follows to its end keeps the area out of a fragment: a click in a
    # fragment waits for the run to end, and Stop must not.
    st.session_state[AREA_IS_FRAGMENT] = not _generating(view)
    if st.session_state[AREA_IS_FRAGMENT]:
        _conversation_area(services, user, has_key, content)
    else:
        _draw_area(services, user, has_key, content)


def _generating(view: ConversationView | None) -> bool:
    """Whether the drawn thread holds a reply still being written (choices included)."""
    if view is None:
        return False
    messages = [*view.thread, *(m for group in view.alternatives.values() for m in group)]
    return any(message.status == MessageStatus.STREAMING for message in messages)


def _reread(services: Services, user: UserRecord) -> AreaContent:
    """The area's content for a run of its own, or a whole page's run instead when the page
    around it would change: another person signed in, another conversation open (or this
    one gone), its settings to load into the sidebar, the sidebar's list to redraw, a notice
    for the sidebar (a failed move to a folder)."""
    if signed_in_user(services).id != user.id:
        st.rerun(scope="app")
    requested = st.query_params.get("c")
    view = _open(services, user.id, requested)
    open_id = view.conversation.id if view else None
    folders = services.library.folders(user.id)
    if (
        (requested and view is None)
        or _generating(view)
        or (view is not None and st.session_state.get(controls.LOADED_FOR) != open_id)
        or notices_pending(except_for=(CHAT_NOTICE, BLANKS_NOTICE))
        or history_changed(services, user.id, folders, open_id)
    ):
        st.rerun(scope="app")
    return AreaContent(view, folders)


@st.fragment(key=AREA)
def _conversation_area(
    services: Services, user: UserRecord, has_key: bool, content: AreaContent
) -> None:
    """All of the page but the sidebar and the input. A click in it, and the end of a reply
    the new turn followed, run it alone: the sidebar costs every page run (its list alone a
    third of the drawing), and they change it only now and then; `_reread` runs the whole
    page when they did, or when a reply is being written (the page follows it, see `render`)."""
    if composer.running_alone(AREA):
        content = _reread(services, user)
    _draw_area(services, user, has_key, content)


def _draw_area(services: Services, user: UserRecord, has_key: bool, content: AreaContent) -> None:
    view, folders = content.view, content.folders
    if not has_key:
        st.info(
            _(
                "No AnyAPI key is configured. Set the `ANYAPI_API_KEY` environment variable "
                "(or `ANYAPI_API_KEY` in `.streamlit/secrets.toml`) and restart AnyChat. "
                "Past conversations stay readable meanwhile."
            ),
            icon=":material/key:",
        )
    if JSON_CONFIRM in st.session_state:
        _draw_json_confirm(services, user.id)
    elif content.unsent:
        _draw_unsent(content.unsent)
    show_notice(CHAT_NOTICE)
    draw_blanks()  # a system prompt's {{name}} blanks, asked before sending
    if content.not_found:
        st.warning(
            _("Conversation not found. It may have been deleted."), icon=":material/search_off:"
        )
    if view is None:
        draw_new_chat_notes(folders)
        st.title(_("What can I help with?"), anchor=False)
        st.caption(_("Replies come from {address}.", address=services.settings.base_url))
        return
    _draw_header(services, user.id, view, folders)
    totals = st.empty()
    _draw_thread(services, user.id, view)
    _draw_totals(services, view, totals)
    composer.draw_context_use(services, view)
    st.session_state[composer.TURN_FOR] = view.conversation.id
    _new_turn(services, user, view.conversation.id)


def _send_turn(
    services: Services, user_id: int, entry: composer.Entry, conversation_id: str
) -> bool:
    """A message into the open conversation, sent from the chat input's callback, before
    any run starts (a rerun costs about 20 ms before the request could leave). True when
    the new turn's fragment is to follow the reply; False for the whole page: a refusal or
    a question to answer first (the text is handed back), or several replies at once."""
    view = _send(services, user_id, conversation_id, entry.text, files=entry.files)
    if view is None:
        st.session_state[UNSENT] = entry.text
        return False
    thread_view.after_send(services, user_id, view)
    reply = view.thread[-1]
    if choice_group(reply, view.alternatives.get(reply.id)):
        return False
    question = next(message for message in reversed(view.thread) if message.role == Role.USER)
    st.session_state[NEW_TURN] = (question, reply)
    return True


@st.fragment(key=composer.TURN)
def _new_turn(services: Services, user: UserRecord, conversation_id: str) -> None:
    """The new turn in the open conversation, sent by the chat input's callback: its
    question and reply drawn below the thread, with nothing else of the page run again.
    Redrawing the page costs the browser about half a second for a 20-message chat, all
    before the first token could show (bench/chat_latency.py). Once the reply has ended,
    the conversation's area runs, as after a click in it: the totals, the new messages'
    actions; the whole page too when the sidebar's list changed (`_reread`).

    A click in a fragment waits for the fragment's run to end, so the reply is followed in
    slices of TURN_SLICE_SECONDS, each a run of its own: a Stop is answered within one.
    Several replies at once (n choices, compared models) are drawn by the page instead.

    In another run (the page's, the area's) there is nothing to do: that run draws it."""
    if not composer.running_alone(composer.TURN):
        return
    # Who is here now, as every page run asks (app.py does not run for a fragment alone).
    if signed_in_user(services).id != user.id:
        st.rerun(scope="app")
    turn: tuple[MessageRecord, MessageRecord] | None = st.session_state.get(NEW_TURN)
    if turn is None or turn[1].conversation_id != conversation_id:
        # A click after the reply ended: shown as it is.
        _after_the_turn()
    question, reply = turn
    draw_message(services, user.id, question, is_last=False, full_actions=False)
    with st.chat_message(Role.ASSISTANT):
        body = st.empty()
        ticker = draw_stop(services, user.id, [reply])
        ended = follow_for(services, user.id, reply, body, ticker, TURN_SLICE_SECONDS)
    if ended:
        st.session_state.pop(NEW_TURN, None)
        _after_the_turn()
    st.rerun(scope="fragment")


def _after_the_turn() -> NoReturn:
    """The conversation's area runs (the whole page instead when the sidebar's list changed,
    see `_reread`), or the whole page when its last run drew the area outside a fragment.

    Whether the list changed is not asked here as well: after most replies it has not (the
    conversation was already at the top), and asking here too cost 2.8 ms on every turn in
    bench/load, where a changed list wastes only the start of the area's run."""
    if st.session_state.get(AREA_IS_FRAGMENT):
        composer.rerun_fragment(AREA)
    st.rerun(scope="app")
