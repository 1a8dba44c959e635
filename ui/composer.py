"""The chat input and what sits beside it: files, the microphone, and how much of the model's
context the conversation uses.

A recording is not sent: it is transcribed and put back into the input for the person to
read, fix and send. The input can only be filled before it is drawn, so the transcript waits
in the session for the run that follows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.scriptrunner import RerunData
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFile

from chatcore.attachments import IncomingFile
from chatcore.chat.use_cases import ConversationView
from chatcore.errors import AnyChatError
from chatcore.wiring import Services
from storage import MessageRecord, MessageStatus, Role
from ui.actions import CHAT_NOTICE, report
from ui.i18n import _
from ui.text import number, plain

INPUT_KEY = "chat_input"
# Text to put into the input on the next run (a transcript, with what had been typed).
REFILL = "chat_input_refill"
# What the person just sent, kept by the input's callback for the run that sends it.
PENDING = "chat_input_entry"
# The fragment that sends into an open conversation and draws only the new turn
# (chat_page._new_turn), and the conversation whose page run last registered it.
TURN = "new-turn"
TURN_FOR = "new_turn_for"
# What the input takes: checked again on the server, by content, whatever the browser allowed.
FILE_TYPES = (
    *("png", "jpg", "jpeg", "webp", "gif", "pdf"),
    *("txt", "md", "markdown", "csv", "tsv", "json", "jsonl", "yaml", "yml", "xml", "html"),
    *("htm", "log", "ini", "toml", "cfg", "conf", "py", "js", "ts", "tsx", "jsx", "java", "c"),
    *("h", "cpp", "hpp", "cc", "cs", "go", "rs", "rb", "php", "swift", "kt", "scala", "sql"),
    *("sh", "bash", "zsh", "ps1", "r", "lua", "pl", "css", "scss", "tex", "rst"),
)


@dataclass(frozen=True, slots=True)
class Entry:
    """What the person submitted: their text and the files they attached."""

    text: str
    files: Sequence[IncomingFile] = field(default_factory=tuple)


# Sends an entry into the open conversation (its id) from the input's callback; True when
# the new turn's fragment is to follow the reply, False when the whole page is to run.
SendTurn = Callable[["Entry", str], bool]


def draw_input(
    services: Services, user_id: int, has_key: bool, send_turn: SendTurn | None = None
) -> None:
    """The chat input. What it submits is kept by its callback for the run that sends
    (`take_entry`). Into the open conversation, `send_turn` sends it in the callback itself,
    before any run starts, and only the new turn's fragment runs after it: the request
    leaves a rerun sooner, and the browser does not redraw the whole page before the first
    token can show."""
    refill = st.session_state.pop(REFILL, None)
    if refill is not None:
        st.session_state[INPUT_KEY] = refill
    settings = services.settings
    attach = settings.attach_max_files > 0
    st.chat_input(
        _("Message AnyChat") if has_key else _("Set ANYAPI_API_KEY to chat"),
        key=INPUT_KEY,
        disabled=not has_key,
        accept_file="multiple" if attach else False,
        file_type=list(FILE_TYPES) if attach else None,
        accept_audio=has_key and services.voice.offered(),
        max_upload_size=max(1, round(settings.attach_max_file_mb)),
        on_submit=_submitted,
        args=(services, user_id, send_turn),
    )


def take_entry() -> Entry | None:
    """The message submitted since the last run, once: the run that sends it takes it."""
    entry: Entry | None = st.session_state.pop(PENDING, None)
    return entry


def running_alone(key: str) -> bool:
    """Whether this run is the run of the fragment registered under `key` (as opposed to a
    whole page's, or an enclosing fragment's, that calls it on the way)."""
    context = get_script_run_ctx()
    if context is None or not context.fragment_ids_this_run:
        return False
    try:
        ids = context.fragment_storage.resolve_target(key)
    except StreamlitAPIException:
        return False
    return not set(ids).isdisjoint(context.fragment_ids_this_run)


def rerun_fragment(key: str) -> NoReturn:
    """Rerun the fragment registered under `key`, from another fragment's body.

    `st.rerun(key)` does this only from a widget callback (Streamlit 1.67), and the new
    turn's fragment needs it where no callback is: when its reply ends, the conversation's
    fragment is to run, not the whole page with its sidebar. This asks for the rerun as
    `st.rerun(scope="fragment")` does from a body (streamlit.commands.execution_control),
    with that fragment as the queue; Streamlit is pinned, and the browser tests of the new
    turn cover the path. Without a script context or such a fragment, the whole page runs."""
    context = get_script_run_ctx()
    if context is None or context.script_requests is None:
        st.rerun(scope="app")
    try:
        ids = context.fragment_storage.resolve_target(key)
    except StreamlitAPIException:
        st.rerun(scope="app")
    context.script_requests.request_rerun(
        RerunData(
            query_string=context.query_string,
            page_script_hash=context.page_script_hash,
            fragment_id_queue=ids,
            is_fragment_scoped_rerun=True,
            cached_message_hashes=context.cached_message_hashes,
            context_info=context.context_info,
        )
    )
    st.empty()  # a yield point: the runner acts on the request here, before this is sent
    st.rerun(scope="app")  # not reached while Streamlit acts on requests at yield points


def _submitted(services: Services, user_id: int, send_turn: SendTurn | None) -> None:
    """Keeps what was submitted for the run that follows. A recording is transcribed into
    the input instead. A message for the open conversation is sent at once when its page
    registered the new turn's fragment, which alone runs after it; otherwise (a new chat,
    a refusal, several replies) the whole page runs."""
    value = st.session_state.get(INPUT_KEY)
    if value is None:
        return
    if isinstance(value, str):
        st.session_state[PENDING] = Entry(value)
    else:
        audio = getattr(value, "audio", None)
        if audio is not None:
            _transcribe_into_input(services, user_id, value.text, audio)
            return
        files = [
            IncomingFile(upload.name, upload.getvalue(), upload.type or "")
            for upload in value.files
        ]
        st.session_state[PENDING] = Entry(value.text, files)
    conversation = st.query_params.get("c")
    if send_turn and conversation and st.session_state.get(TURN_FOR) == conversation:
        entry = take_entry()
        if entry is not None and send_turn(entry, conversation):
            st.rerun(TURN)


def _transcribe_into_input(
    services: Services, user_id: int, typed: str, audio: UploadedFile
) -> None:
    """The recording's words go into the input, after what was typed, for review; a failure
    is the chat's notice, and the typed text goes back all the same."""
    name = audio.name or "recording.wav"
    media_type = audio.type or "audio/wav"
    try:
        words = services.voice.transcribe(user_id, audio.getvalue(), name, media_type)
    except AnyChatError as error:
        report(CHAT_NOTICE, error)
        words = ""
    st.session_state[REFILL] = " ".join(part for part in (typed.strip(), words) if part)


def context_start(thread: Sequence[MessageRecord]) -> int | None:
    """Where the newest reply's request began, when older messages were left out to fit."""
    for message in reversed(thread):
        if message.role == Role.ASSISTANT and message.status != MessageStatus.STREAMING:
            return message.context_start_id
    return None


def draw_context_marker() -> None:
    st.caption(
        _(
            "The messages above were not sent with the last question: the conversation is "
            "longer than the model's context, so the oldest messages were left out."
        ),
        help=_("Start a new chat, or choose a model with a larger context, to send them all."),
    )
    st.divider()


def _context_used(thread: Sequence[MessageRecord]) -> int | None:
    """What the last answered request took of the context: its prompt and its reply, as the
    upstream counted them."""
    for message in reversed(thread):
        if message.role == Role.ASSISTANT and message.prompt_tokens is not None:
            return message.prompt_tokens + (message.completion_tokens or 0)
    return None


def draw_context_use(services: Services, view: ConversationView) -> None:
    """Under the input: used / available tokens of the model's context."""
    window = services.chat.context_window(view.conversation.model)
    if window is None:
        return
    used = _context_used(view.thread)
    model = plain(view.conversation.model)
    if used is None:
        text = _("{model}: context of {window} tokens", model=model, window=number(window))
    else:
        text = _(
            "{model}: {used} / {window} tokens of context used",
            model=model,
            used=number(used),
            window=number(window),
        )
    st.bottom.caption(text)
