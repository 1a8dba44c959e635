"""Tool calls in a reply, their results, and the inputs that answer calls still waiting."""

from __future__ import annotations

from typing import Any

import streamlit as st

from chatcore.chat.thread import PendingCalls
from chatcore.tools.builtin import BUILTIN_TOOLS
from chatcore.tools.functions import format_arguments
from chatcore.wiring import Services
from storage import MessageRecord
from ui.actions import CHAT_NOTICE, run_action
from ui.code_block import draw_code
from ui.i18n import _
from ui.text import code, plain


def _function(call: dict[str, Any]) -> tuple[str, str]:
    function = call.get("function") or {}
    return str(function.get("name", "")), str(function.get("arguments", ""))


def call_names(thread: list[MessageRecord]) -> dict[str, str]:
    """Which function each call id invoked, so a result can say what it answers."""
    return {
        str(call.get("id")): _function(call)[0]
        for message in thread
        for call in message.tool_calls or []
    }


def draw_calls(message: MessageRecord) -> None:
    """Each call the model asked for: the function's name and its arguments, formatted.

    The model names the function and the call, any way it likes: both are shown as code spans
    they cannot break out of.
    """
    for index, call in enumerate(message.tool_calls or []):
        name, arguments = _function(call)
        st.markdown(_(":material/build: Calls **{name}**", name=code(name)))
        arguments_shown = format_arguments(arguments) or "{}"
        draw_code(arguments_shown, "json", f"call-{message.id}-{index}", wrap=True)


def draw_result(message: MessageRecord, function_name: str | None = None) -> None:
    """A tool message: what went back to the model for one call."""
    with st.chat_message("tool", avatar=":material/output:"):
        call = code(message.tool_call_id or "")
        if function_name:
            st.caption(_("{name} returned (call {call})", name=code(function_name), call=call))
        else:
            st.caption(_("Tool result (call {call})", call=call))
        draw_code(message.content or "", "", f"result-{message.id}", wrap=True)


def _submit(services: Services, user_id: int, conversation_id: str, call_id: str) -> None:
    result = st.session_state.get(f"tool-result-{call_id}", "")
    services.chat.submit_tool_result(user_id, conversation_id, call_id, result)


def draw_pending(services: Services, user_id: int, pending: PendingCalls) -> None:
    """Inputs for calls without a result. Built-in tools run on a click; for the user's own
    functions, the user types the result. The model continues once every call has one."""
    conversation_id = pending.message.conversation_id
    for call in pending.calls:
        call_id = str(call.get("id", ""))
        name = _function(call)[0]
        if name in BUILTIN_TOOLS:
            st.button(
                _(BUILTIN_TOOLS[name].run_label),
                key=f"run-tool-{call_id}",
                icon=":material/play_arrow:",
                type="primary",
                on_click=run_action,
                args=(
                    CHAT_NOTICE,
                    services.chat.run_builtin_tool,
                    user_id,
                    conversation_id,
                    call_id,
                ),
                kwargs={"sends": True},
            )
            continue
        with st.form(f"tool-form-{call_id}", border=True):
            st.text_area(
                _("Result of {name}", name=plain(name)), key=f"tool-result-{call_id}", height=80
            )
            st.form_submit_button(
                _("Send result"),
                icon=":material/send:",
                on_click=run_action,
                args=(CHAT_NOTICE, _submit, services, user_id, conversation_id, call_id),
                kwargs={"sends": True},
            )
