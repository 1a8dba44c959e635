"""The newest turn's replies: one being generated, or several side by side (the n choices of
one request, or the models of a comparison)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chatcore.chat.compare import MAX_COMPARED, columns, compared_model, is_comparison, models_of
from chatcore.chat.thread import pending_calls
from chatcore.wiring import Services
from storage import MessageRecord, MessageStatus, Role
from ui.i18n import _, ngettext
from ui.live_view import draw_stop, follow
from ui.messages import (
    column_facts,
    compare_again,
    draw_body,
    draw_content,
    draw_navigator,
    draw_outcome,
    regenerate,
    switch_to,
)
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
            ticker = draw_stop(services, user_id, [message])
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
    """The last turn's replies at once, n choices of one request or the models of a
    comparison; the picked one continues the thread. A reply that is still being written
    streams in its place, and each shows its final form as soon as it ends."""
    comparison = is_comparison(group)
    shown_columns = columns(group, shown)
    with st.chat_message(Role.ASSISTANT):
        st.caption(_caption(comparison, len(shown_columns)))
        places: Sequence[DeltaGenerator]
        if len(shown_columns) <= (MAX_COMPARED if comparison else SIDE_BY_SIDE_MAX):
            places = st.columns(len(shown_columns), border=True)
        else:
            places = st.tabs(
                [_("Choice {number}", number=number(index + 1)) for index in range(len(group))]
            )
        bodies = []
        for index, (place, choice) in enumerate(zip(places, shown_columns, strict=True)):
            with place:
                st.markdown(_heading(index, choice, picked=choice.id == shown.id))
                bodies.append(st.empty())

        drawn: set[int] = set()

        def draw_final(index: int, choice: MessageRecord) -> None:
            if index in drawn:  # a widget key may appear once per run
                return
            drawn.add(index)
            with bodies[index].container():
                _draw_choice(services, user_id, choice, picked=choice.id == shown.id)

        streaming = [i for i, c in enumerate(shown_columns) if c.status == MessageStatus.STREAMING]
        for index, choice in enumerate(shown_columns):
            if index not in streaming:
                draw_final(index, choice)
        if streaming:
            writing = [shown_columns[index] for index in streaming]

            def finished(position: int) -> None:
                index = streaming[position]
                stored = services.chat.message(user_id, shown_columns[index].id)
                draw_final(index, stored or shown_columns[index])

            footer = st.empty()
            with footer.container():
                ticker = draw_stop(services, user_id, writing)
            follow(services, user_id, writing, [bodies[i] for i in streaming], ticker, finished)
            footer.empty()
            for position in range(len(streaming)):  # a single reply is followed without it
                finished(position)
        with st.container(horizontal=True, gap="small", vertical_alignment="center"):
            if len(alternatives) > len(shown_columns):
                draw_navigator(services, user_id, shown, alternatives)
            _draw_again(services, user_id, shown, group, comparison)  # all have ended


def _caption(comparison: bool, count: int) -> str:
    if comparison:
        return ngettext(
            "{count} model compared. Continue with the reply you prefer; the others stay "
            "available with ‹ ›.",
            "{count} models compared. Continue with the reply you prefer; the others stay "
            "available with ‹ ›.",
            count,
        )
    return ngettext(
        "{count} choice. The selected one continues the conversation; the others "
        "stay available with ‹ ›.",
        "{count} choices. The selected one continues the conversation; the others "
        "stay available with ‹ ›.",
        count,
    )


def _heading(index: int, choice: MessageRecord, *, picked: bool) -> str:
    """A compared reply is headed by the model it was asked of (the upstream's word:
    escaped), a choice by its number."""
    model = compared_model(choice)
    if model is not None:
        name = f"**{plain(model)}**"
        return _("{model} · selected", model=name) if picked else name
    if picked:
        return _("**Choice {number}** · selected", number=number(index + 1))
    return _("**Choice {number}**", number=number(index + 1))


def _draw_again(
    services: Services,
    user_id: int,
    shown: MessageRecord,
    group: list[MessageRecord],
    comparison: bool,
) -> None:
    action: Callable[..., None]
    args: tuple[object, ...]
    if comparison:
        label, hint = _("Compare again"), _("Ask every model of this comparison again")
        action, args = compare_again, (services, user_id, shown.id, models_of(group))
    else:
        label, hint = _("Regenerate all"), _("Ask again for a new set of choices")
        action, args = regenerate, (services, user_id, shown.id)
    st.button(
        label,
        key=f"regen-{shown.id}",
        icon=":material/refresh:",
        type="tertiary",
        help=hint,
        on_click=action,
        args=args,
    )


def _draw_choice(services: Services, user_id: int, choice: MessageRecord, *, picked: bool) -> None:
    compared = compared_model(choice) is not None
    if compared:
        facts = column_facts(choice, services.prices)
        if facts:
            st.caption(facts)
    draw_content(services, choice)
    pending = pending_calls([choice]) if picked else None
    if pending is not None:
        draw_pending(services, user_id, pending)
    if not compared:
        # Translators: {reason} is the API's finish_reason (stop, length, tool_calls...), as is.
        st.caption(_("finish: {reason}", reason=plain(choice.finish_reason or choice.status)))
    draw_outcome(choice, services.prices, facts=not compared)
    with st.container(horizontal=True, gap="small"):
        st.button(
            _("Continue with this") if not picked else _("Selected"),
            key=f"pick-{choice.id}",
            icon=":material/check_circle:" if picked else ":material/arrow_forward:",
            type="primary" if picked else "secondary",
            disabled=picked,
            on_click=switch_to,
            args=(services, user_id, choice.id),
        )
        if compared:
            st.button(
                _("Retry") if choice.status == MessageStatus.ERROR else _("Regenerate"),
                key=f"retry-{choice.id}",
                icon=":material/refresh:",
                type="tertiary",
                help=_("Ask this model again; the other replies stay as they are"),
                on_click=regenerate,
                args=(services, user_id, choice.id),
            )
