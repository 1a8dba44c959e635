"""The newest turn's replies: one being generated, or the n choices of one request side by side."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chatcore.chat.thread import pending_calls
from chatcore.wiring import Services
from storage import MessageRecord, MessageStatus, Role
from ui.i18n import _, ngettext
from ui.live_view import draw_stop, follow
from ui.messages import draw_body, draw_content, draw_navigator, draw_outcome, regenerate, switch_to
from ui.text import number, plain
from ui.tool_calls import draw_pending

SIDE_BY_SIDE_MAX = 3  # more choices than this go in tabs: columns would be too narrow


def draw_generating(
    services: Services,
    user_id: int,
    message: MessageRecord,
    alternatives: list[MessageRecord] | None,
) -> None:
    """Show a reply as it is generated, then its final form."""
    with st.chat_message(Role.ASSISTANT):
        body = st.empty()
        footer = st.empty()
        with footer.container():
            ticker = draw_stop(services, user_id, message)
        follow(services, user_id, [message], [body], ticker)
        final = services.chat.message(user_id, message.id) or message
        footer.empty()
        with body.container():
            draw_body(services, user_id, final, is_last=True, alternatives=alternatives)


def choice_group(
    message: MessageRecord, alternatives: list[MessageRecord] | None
) -> list[MessageRecord]:
    """The choices generated together with `message` (empty unless n > 1)."""
    if message.choice_group is None or not alternatives:
        return []
    group = [alt for alt in alternatives if alt.choice_group == message.choice_group]
    return group if len(group) > 1 else []


def draw_choices(
    services: Services,
    user_id: int,
    shown: MessageRecord,
    group: list[MessageRecord],
    alternatives: list[MessageRecord],
) -> None:
    """All choices of the last turn at once; the picked one continues the thread."""
    with st.chat_message(Role.ASSISTANT):
        st.caption(
            ngettext(
                "{count} choice. The selected one continues the conversation; the others "
                "stay available with ‹ ›.",
                "{count} choices. The selected one continues the conversation; the others "
                "stay available with ‹ ›.",
                len(group),
            )
        )
        places: Sequence[DeltaGenerator]
        if len(group) <= SIDE_BY_SIDE_MAX:
            places = st.columns(len(group), border=True)
        else:
            places = st.tabs(
                [_("Choice {number}", number=number(index + 1)) for index in range(len(group))]
            )
        bodies = []
        for place in places:
            with place:
                bodies.append(st.empty())
        if any(choice.status == MessageStatus.STREAMING for choice in group):
            footer = st.empty()
            with footer.container():
                ticker = draw_stop(services, user_id, group[0])
            follow(services, user_id, group, bodies, ticker)
            footer.empty()
            group = [services.chat.message(user_id, c.id) or c for c in group]
        for index, (body, choice) in enumerate(zip(bodies, group, strict=True)):
            with body.container():
                _draw_choice(services, user_id, index, choice, picked=choice.id == shown.id)
        with st.container(horizontal=True, gap="small", vertical_alignment="center"):
            if len(alternatives) > len(group):
                draw_navigator(services, user_id, shown, alternatives)
            if all(choice.status != MessageStatus.STREAMING for choice in group):
                st.button(
                    _("Regenerate all"),
                    key=f"regen-{shown.id}",
                    icon=":material/refresh:",
                    type="tertiary",
                    help=_("Ask again for a new set of choices"),
                    on_click=regenerate,
                    args=(services, user_id, shown.id),
                )


def _draw_choice(
    services: Services, user_id: int, index: int, choice: MessageRecord, *, picked: bool
) -> None:
    if picked:
        st.markdown(_("**Choice {number}** · selected", number=number(index + 1)))
    else:
        st.markdown(_("**Choice {number}**", number=number(index + 1)))
    draw_content(services, choice)
    pending = pending_calls([choice]) if picked else None
    if pending is not None:
        draw_pending(services, user_id, pending)
    # Translators: {reason} is the API's finish_reason (stop, length, tool_calls...), as is.
    st.caption(_("finish: {reason}", reason=plain(choice.finish_reason or choice.status)))
    draw_outcome(choice, services.prices)
    st.button(
        _("Continue with this") if not picked else _("Selected"),
        key=f"pick-{choice.id}",
        icon=":material/check_circle:" if picked else ":material/arrow_forward:",
        type="primary" if picked else "secondary",
        disabled=picked,
        on_click=switch_to,
        args=(services, user_id, choice.id),
    )
