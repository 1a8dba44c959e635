"""The collapsed "Advanced" controls: every other request field the API defines.

Text fields (stop, logit bias, seed) are checked as they are typed, and the reason shows under
the field; sending refuses them too, so a bad value is never sent.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import streamlit as st

from chatcore.chat.params import CHOICES_RANGE, parse_logit_bias, parse_seed, parse_stop
from chatcore.errors import InvalidParameter
from chatcore.i18n import Translator
from chatcore.tools.builtin import BUILTIN_TOOLS, builtin_specs
from chatcore.tools.functions import FunctionSpec, validate_function, validate_tools
from ui.actions import run_action, show_notice
from ui.controls import (
    bind,
    optional_number,
    optional_slider,
    refresh,
    show_error,
    store,
)
from ui.i18n import N_, _, current
from ui.text import say

NOT_SENT = N_("default (not sent)")
FUNCTION_PREFIX = "function:"
NEW_TOOL = "new_tool"


def _check_live(field: str, parse: Callable[[str], Any]) -> None:
    try:
        parse(store()[f"{field}_text"])
    except InvalidParameter as exc:
        st.error(say(exc), icon=":material/error:")
    else:
        show_error(field)


def _draw_sampling() -> None:
    optional_number("n", CHOICES_RANGE[0], CHOICES_RANGE[1], 1)
    st.text_area(
        _("Stop sequences"),
        **bind("stop_text"),
        height=68,
        placeholder=_("One per line, up to 4. Write \\n for a newline."),
        help=_("Generation ends before any of these. Empty: not sent."),
    )
    _check_live("stop", parse_stop)
    optional_slider("presence_penalty", -2.0, 2.0, 0.1)
    optional_slider("frequency_penalty", -2.0, 2.0, 0.1)
    st.text_area(
        _("Logit bias"),
        **bind("logit_bias_text"),
        height=68,
        placeholder='{"1734": -100, "42": 5}',  # an example of the API's JSON, not a sentence
        help=_("JSON object: token id → bias from -100 (ban) to 100 (force). Empty: not sent."),
    )
    _check_live("logit_bias", parse_logit_bias)
    st.text_input(
        _("Seed"),
        **bind("seed_text"),
        placeholder=_("Empty: not sent"),
        help=_(
            "Best-effort repeatable sampling; each reply shows the system_fingerprint it "
            "came with, so you can tell when the backend changed."
        ),
    )
    _check_live("seed", parse_seed)
    st.toggle(
        _("JSON mode"),
        **bind("json_mode"),
        # No fields: the braces are shown as they are.
        help=_(
            'Sends response_format {"type": "json_object"}. Ask for JSON in the system '
            "prompt or your message too."
        ),
    )


def _add_tool() -> None:
    spec = validate_function(
        st.session_state.get("new_tool_name", ""),
        st.session_state.get("new_tool_description", ""),
        st.session_state.get("new_tool_parameters", ""),
    )
    existing = [FunctionSpec.from_json(entry) for entry in store()["tools"]]
    validate_tools([*builtin_specs(store()["builtin_tools"]), *existing, spec])
    store()["tools"] = [*store()["tools"], spec.to_json()]
    for key in ("new_tool_name", "new_tool_description", "new_tool_parameters"):
        st.session_state[key] = ""


def _remove_tool(name: str) -> None:
    store()["tools"] = [entry for entry in store()["tools"] if entry["name"] != name]
    if store()["tool_choice"] == FUNCTION_PREFIX + name:
        store()["tool_choice"] = ""
        refresh("tool_choice")


# Option labels are read with the translator of the run that drew them: Streamlit (and AppTest)
# may format an option again outside any run, where the reader's language is not known.
def _tool_label(name: str, reader: Translator) -> str:
    return reader.gettext(BUILTIN_TOOLS[name].label)


def _draw_tool_editor() -> None:
    st.pills(
        _("Built-in tools"),
        list(BUILTIN_TOOLS),
        selection_mode="multi",
        format_func=partial(_tool_label, reader=current()),
        **bind("builtin_tools"),
        help=_("Safe tools AnyChat runs itself when the model calls them, on your click."),
    )
    for entry in store()["tools"]:
        name_col, remove_col = st.columns([0.8, 0.2], vertical_alignment="center")
        name_col.markdown(f"`{entry['name']}`")
        remove_col.button(
            "",
            icon=":material/delete:",
            key=f"remove-tool-{entry['name']}",
            help=_("Remove {name}", name=entry["name"]),
            on_click=_remove_tool,
            args=(entry["name"],),
        )
    with st.form("new_tool", clear_on_submit=False, border=True):
        st.text_input(_("Function name"), key="new_tool_name", placeholder="get_weather")
        st.text_input(_("Description"), key="new_tool_description")
        st.text_area(
            _("Parameters (JSON Schema)"),
            key="new_tool_parameters",
            height=100,
            placeholder='{"type": "object", "properties": {"city": {"type": "string"}}}',
        )
        st.form_submit_button(
            _("Add function"),
            icon=":material/add:",
            on_click=run_action,
            args=(NEW_TOOL, _add_tool),
        )
    show_notice(NEW_TOOL)
    show_error("tools")


def _tool_choice_options() -> list[str]:
    names = [*store()["builtin_tools"], *(entry["name"] for entry in store()["tools"])]
    # "" stands for "not sent": Streamlit reads a None value as "nothing selected yet".
    options = ["", "none", "auto", "required"]
    options += [FUNCTION_PREFIX + name for name in names]
    chosen = store()["tool_choice"]
    if chosen not in options:  # a function since removed: shown, and refused on send
        options.append(chosen)
    return options


def _choice_label(option: str, reader: Translator) -> str:
    if not option:
        return reader.gettext(NOT_SENT)
    if option.startswith(FUNCTION_PREFIX):
        return reader.gettext("call {name}", name=option.removeprefix(FUNCTION_PREFIX))
    return option  # none, auto, required: the API's values, explained in the help


def draw_advanced() -> None:
    # Drawn only while open: a dozen controls and a form would otherwise be sent to the browser
    # on every run, in front of the reply the user is waiting for. Keyed, so it stays open when
    # something drawn above it comes or goes.
    with st.expander(
        _("Advanced"), icon=":material/tune:", key="advanced_panel", on_change="rerun"
    ) as panel:
        if not panel.open:
            return
        _draw_sampling()
        st.divider()
        st.markdown(_("**Tools**"))
        _draw_tool_editor()
        st.selectbox(
            _("Tool choice"),
            _tool_choice_options(),
            format_func=partial(_choice_label, reader=current()),
            **bind("tool_choice"),
            help=_(
                "none: never call; auto: the model decides; required: must call one; "
                "or force one function."
            ),
        )
        show_error("tool_choice")
