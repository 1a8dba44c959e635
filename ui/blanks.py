"""The form that fills a system prompt's `{{name}}` blanks (chatcore/chat/blanks.py).

Drawn above the thread whenever the sidebar's system prompt has blanks, however they got
there (a preset loaded, a prompt typed or pasted), so the person sees what is asked before
sending; a send meanwhile is refused by GenerationParams.validate, never sent with a blank.
"""

from __future__ import annotations

import streamlit as st

from chatcore.chat.blanks import blanks, fill
from ui import controls
from ui.actions import run_action, show_notice
from ui.i18n import _, ngettext
from ui.text import plain

NOTICE = "prompt_blanks"
FIELD = "system_prompt"


def _value_key(name: str) -> str:
    return f"prompt_blank:{name}"


def _fill(names: list[str]) -> None:
    prompt = controls.store().get(FIELD, "")
    values = {name: st.session_state.get(_value_key(name), "") for name in names}
    controls.store()[FIELD] = fill(prompt, values)
    controls.refresh(FIELD)  # the sidebar's text area shows the filled prompt
    st.session_state.get(controls.ERRORS, {}).pop(FIELD, None)


def draw_blanks() -> None:
    """One text box per blank, labelled with its name, and "Fill in"; nothing when none."""
    if controls.STORE not in st.session_state:
        return
    controls.absorb_widgets()  # a prompt typed this run, not the one before
    show_notice(NOTICE)
    names = blanks(controls.store().get(FIELD, ""))
    if not names:
        return
    with st.form("prompt_blanks"):
        st.markdown(
            ngettext(
                "**The system prompt has a blank.** Fill it in before you send.",
                "**The system prompt has {count} blanks.** Fill them in before you send.",
                len(names),
            )
        )
        for name in names:
            st.text_input(plain(name), key=_value_key(name))
        st.form_submit_button(
            _("Fill in"),
            icon=":material/edit_note:",
            type="primary",
            on_click=run_action,
            args=(NOTICE, _fill, names),
            kwargs={"success": _("Filled in: the system prompt is ready.")},
        )
