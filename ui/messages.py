"""Drawing one stored message: its body, what it means (cut off, stopped, failed), and its
actions (branches, copy, edit, regenerate)."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from chatcore.chat.compare import compared_model
from chatcore.chat.params import JSON_MODE
from chatcore.chat.thread import pending_calls
from chatcore.chat.upstream_errors import REPLY_ERRORS, stored_reply_error
from chatcore.team.prices import PriceList
from chatcore.wiring import Services
from storage import AttachmentRecord, MessageRecord, MessageStatus, Role
from ui import controls
from ui.actions import CHAT_NOTICE, run_action
from ui.attachments import FileReader, draw_attachments
from ui.code_block import draw_code, draw_markdown
from ui.compare import compare_with
from ui.costs import money
from ui.i18n import _, ngettext
from ui.text import decimal, number, plain, say
from ui.tool_calls import draw_calls, draw_pending, draw_result

ACTIONS_FOR = "actions_for"  # an older message whose full action row the user opened


def reply_facts(message: MessageRecord, prices: PriceList | None = None) -> str:
    """The caption under a reply: model, tokens, cost (when the model has a price), latencies,
    fingerprint.

    The model id and the fingerprint are the upstream's words: escaped, like titles.
    """
    facts = [plain(message.model or "")]
    if message.total_tokens is not None:
        tokens = {
            "prompt": number(message.prompt_tokens or 0),
            "completion": number(message.completion_tokens or 0),
            "total": number(message.total_tokens),
        }
        # One of n choices: the request's usage was shared out, so this is an estimate.
        shared = message.choice_group is not None and compared_model(message) is None
        if shared:
            facts.append(
                _("≈ {prompt} prompt + {completion} completion = {total} tokens", **tokens)
            )
        else:
            facts.append(_("{prompt} prompt + {completion} completion = {total} tokens", **tokens))
        if prices is not None:  # at today's price; a model without one shows tokens only
            cost = prices.cost(
                message.model or "", message.prompt_tokens or 0, message.completion_tokens or 0
            )
            if cost is not None:
                amount = money(cost, prices.currency)
                # Translators: an estimate, like the tokens of one of n choices.
                facts.append(_("≈ {cost}", cost=amount) if shared else amount)
    if message.first_token_ms is not None:
        facts.append(_("first token {seconds} s", seconds=decimal(message.first_token_ms / 1000)))
    if message.total_ms is not None:
        facts.append(_("total {seconds} s", seconds=decimal(message.total_ms / 1000)))
    if message.system_fingerprint:
        facts.append(_("fingerprint {fingerprint}", fingerprint=plain(message.system_fingerprint)))
    return " · ".join(fact for fact in facts if fact)


def column_facts(message: MessageRecord, prices: PriceList | None = None) -> str:
    """A compared reply's heading: time to its first token, its tokens and their cost (or
    that its model has no price, when the team keeps a price list)."""
    facts = []
    if message.first_token_ms is not None:
        facts.append(_("first token {seconds} s", seconds=decimal(message.first_token_ms / 1000)))
    if message.total_tokens is not None:
        facts.append(ngettext("{count} token", "{count} tokens", message.total_tokens))
        if prices is not None and prices.in_use():
            cost = prices.cost(
                message.model or "", message.prompt_tokens or 0, message.completion_tokens or 0
            )
            facts.append(_("no price set") if cost is None else money(cost, prices.currency))
    return " · ".join(facts)


def json_reply(message: MessageRecord) -> Any | None:
    """The parsed reply when it was asked for in JSON mode and is valid JSON."""
    if (message.request_params or {}).get("response_format") != JSON_MODE:
        return None
    try:
        return json.loads(message.content)
    except ValueError:
        return None


def draw_content(services: Services, message: MessageRecord) -> None:
    parsed = json_reply(message) if message.content else None
    if parsed is not None:
        formatted = json.dumps(parsed, indent=2, ensure_ascii=False)
        draw_code(formatted, "json", f"json-{message.id}", wrap=True)
        with st.expander(_("Raw text")):
            st.text(message.content)
    elif message.content and message.role == Role.USER:
        st.text(message.content)  # what the user typed, exactly: no Markdown reading of `*`
    elif message.content:  # the model's Markdown, with no image that fetches from elsewhere
        draw_markdown(message.content, services.settings.image_hosts, f"code-{message.id}")
    if message.tool_calls:
        draw_calls(message)


def reply_error(message: MessageRecord) -> str:
    """Why a reply failed, in the reader's language; the upstream's own words stay escaped."""
    error = stored_reply_error(message.error, message.error_code, message.error_params)
    if error is None:
        return _("The reply failed.")
    if REPLY_ERRORS.get(error.code) != error.template:
        # A row from before codes were kept (or whose values no longer fit its sentence):
        # its English text as stored, which may quote the upstream.
        return plain(error.message)
    return say(error)


def draw_outcome(
    message: MessageRecord, prices: PriceList | None = None, *, facts: bool = True
) -> None:
    """Captions and alerts that say how a reply ended; with `facts`, its model, tokens, cost
    and times too."""
    if message.status == MessageStatus.STOPPED:
        st.caption(_(":material/stop_circle: Stopped — the reply above is partial."))
    elif message.status == MessageStatus.ERROR:
        error = reply_error(message)
        if message.content:
            st.error(_("The reply above is partial. {error}", error=error), icon=":material/error:")
        else:
            st.error(error, icon=":material/error:")
    elif message.finish_reason == "length":
        st.caption(_(":material/content_cut: Cut off: the reply reached max_tokens."))
        if json_reply(message) is None and (message.request_params or {}).get("response_format"):
            st.caption(_("In JSON mode a cut-off reply is usually incomplete JSON."))
    elif message.finish_reason == "content_filter":
        st.warning(_("The provider's content filter stopped this reply."), icon=":material/shield:")
    elif (
        message.content
        and (message.request_params or {}).get("response_format") == JSON_MODE
        and json_reply(message) is None
    ):
        st.caption(_(":material/warning: JSON mode was on, but this reply is not valid JSON."))
    caption = reply_facts(message, prices) if facts else ""
    if caption:
        st.caption(caption)


def _regenerate_now(services: Services, user_id: int, message_id: int) -> None:
    params = controls.current_params(services.settings.default_model)
    services.chat.regenerate(user_id, message_id, params)


def regenerate(services: Services, user_id: int, message_id: int) -> None:
    """With the settings in the sidebar now, so a changed temperature applies."""
    run_action(CHAT_NOTICE, _regenerate_now, services, user_id, message_id, sends=True)


def _compare_again_now(
    services: Services, user_id: int, message_id: int, models: tuple[str, ...]
) -> None:
    params = controls.current_params(services.settings.default_model)
    services.chat.regenerate(user_id, message_id, params, compare=models)


def compare_again(
    services: Services, user_id: int, message_id: int, models: tuple[str, ...]
) -> None:
    """Every model of a comparison again, with the settings in the sidebar now."""
    run_action(CHAT_NOTICE, _compare_again_now, services, user_id, message_id, models, sends=True)


def _edit_now(services: Services, user_id: int, message_id: int) -> None:
    text = st.session_state.get(f"edit-{message_id}", "")
    params = controls.current_params(services.settings.default_model)
    services.chat.edit(user_id, message_id, text, params, compare_with=compare_with())


def _edit(services: Services, user_id: int, message_id: int) -> None:
    run_action(CHAT_NOTICE, _edit_now, services, user_id, message_id, sends=True)


def switch_to(services: Services, user_id: int, message_id: int) -> None:
    services.chat.switch_branch(user_id, message_id)


def draw_navigator(
    services: Services, user_id: int, message: MessageRecord, alternatives: list[MessageRecord]
) -> None:
    """‹ 2 / 3 › between a message's siblings: other replies, edits, choices."""
    ids = [alternative.id for alternative in alternatives]
    position = ids.index(message.id)
    st.button(
        "",
        key=f"prev-{message.id}",
        icon=":material/chevron_left:",
        type="tertiary",
        disabled=position == 0,
        on_click=switch_to,
        args=(services, user_id, ids[max(position - 1, 0)]),
        help=_("Previous version"),
    )
    st.caption(
        # Translators: which of a message's versions is shown, e.g. "2 / 3".
        _("{position} / {count}", position=number(position + 1), count=number(len(ids))),
        width="content",
    )
    st.button(
        "",
        key=f"next-{message.id}",
        icon=":material/chevron_right:",
        type="tertiary",
        disabled=position == len(ids) - 1,
        on_click=switch_to,
        args=(services, user_id, ids[min(position + 1, len(ids) - 1)]),
        help=_("Next version"),
    )


def _open_actions(message_id: int) -> None:
    st.session_state[ACTIONS_FOR] = message_id


def _more_button(message: MessageRecord) -> None:
    # No tooltip: on every message one would add a component to each rerun's rendering.
    st.button(
        "",
        key=f"more-{message.id}",
        icon=":material/more_horiz:",
        type="tertiary",
        on_click=_open_actions,
        args=(message.id,),
    )


def draw_actions(
    services: Services,
    user_id: int,
    message: MessageRecord,
    alternatives: list[MessageRecord] | None,
    *,
    full: bool,
) -> None:
    """Branch navigation, and copy / edit / regenerate.

    Every widget in the thread costs browser rendering time on each run, in front of the reply
    being waited for: a button on each of 20 messages added ~60 ms to Enter → first token on the
    2-core test machine. So only the newest question and reply carry the full row; older
    questions show one "more" button that opens theirs, and older replies only their branch
    navigator when they have siblings.
    """
    # Older questions get a "more" button (edit is where branches start); older replies none.
    more = not full and message.role == Role.USER
    if not full and not alternatives:
        if more:
            _more_button(message)  # no row container: the common case stays one element
        return
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        if alternatives:
            draw_navigator(services, user_id, message, alternatives)
        if not full:
            if more:
                _more_button(message)
            return
        # Labelled, not tooltipped: a tooltip per button measurably slows every rerun.
        with st.popover(
            _("Copy"),
            icon=":material/content_copy:",
            key=f"copy-{message.id}",
            type="tertiary",
            on_change="rerun",
        ) as copy:
            if copy.open:  # drawn only when opened: every message's text is not sent twice
                st.code(message.content, language="markdown", wrap_lines=True)
                st.caption(_("Copy with the button at the top right of the box."))
        if message.role == Role.USER:
            with st.popover(
                _("Edit"),
                icon=":material/edit:",
                key=f"edit-pop-{message.id}",
                type="tertiary",
                on_change="rerun",
            ) as editor:
                if editor.open:
                    st.text_area(_("Edit message"), value=message.content, key=f"edit-{message.id}")
                    st.button(
                        _("Send as a new branch"),
                        key=f"edit-send-{message.id}",
                        type="primary",
                        icon=":material/send:",
                        on_click=_edit,
                        args=(services, user_id, message.id),
                    )
                    st.caption(_("The original and its replies stay reachable with ‹ ›."))
        elif message.role == Role.ASSISTANT:
            st.button(
                _("Retry") if message.status == MessageStatus.ERROR else _("Regenerate"),
                key=f"regen-{message.id}",
                icon=":material/refresh:",
                type="tertiary",
                on_click=regenerate,
                args=(services, user_id, message.id),
            )


def own_files(services: Services, user_id: int) -> FileReader:
    """Reads a file of this person's own messages (anyone else's reads as None)."""

    def read(attachment: AttachmentRecord) -> bytes | None:
        found = services.chat.attachment(user_id, attachment.id)
        return found[1] if found else None

    return read


def draw_message(
    services: Services,
    user_id: int,
    message: MessageRecord,
    *,
    is_last: bool,
    alternatives: list[MessageRecord] | None = None,
    function_name: str | None = None,
    full_actions: bool = True,
) -> None:
    if message.role == Role.TOOL:
        draw_result(message, function_name)
        return
    with st.chat_message(message.role):
        draw_body(
            services,
            user_id,
            message,
            is_last=is_last,
            alternatives=alternatives,
            full_actions=full_actions,
        )


def draw_body(
    services: Services,
    user_id: int,
    message: MessageRecord,
    *,
    is_last: bool,
    alternatives: list[MessageRecord] | None = None,
    full_actions: bool = True,
) -> None:
    draw_content(services, message)
    if message.attachments:
        draw_attachments(message.attachments, own_files(services, user_id))
    if message.role == Role.ASSISTANT:
        if is_last and message.tool_calls:
            pending = pending_calls([message])
            if pending is not None:
                draw_pending(services, user_id, pending)
        draw_outcome(message, services.prices)
    draw_actions(services, user_id, message, alternatives, full=full_actions)
