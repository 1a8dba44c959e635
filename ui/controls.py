"""Model and parameter controls.

Values live in one plain dict in session state; widgets are seeded from it and write back on
change. Streamlit forgets a widget's own state on any page that does not draw it, so the dict,
not the widgets, is what survives a visit to another page.
"""

from __future__ import annotations

from typing import Any, cast

import streamlit as st

from chatcore.chat.catalog import ModelList
from chatcore.chat.params import (
    MAX_TOKENS_RANGE,
    GenerationParams,
    format_stop,
    parse_logit_bias,
    parse_seed,
    parse_stop,
)
from chatcore.errors import InvalidParameter
from ui.compare import draw_compare_picker
from ui.i18n import N_, _
from ui.text import plain, say

STORE = "params"
LOADED_FOR = "params_loaded_for"
ERRORS = "param_errors"
# Optional numbers: a switch says whether they are sent; the value is kept while switched off.
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "max_tokens": 1024,
    "n": 2,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}
LABELS = {
    "temperature": N_("Temperature"),
    "top_p": N_("Top P"),
    "max_tokens": N_("Max tokens"),
    "n": N_("Choices (n)"),
    "presence_penalty": N_("Presence penalty"),
    "frequency_penalty": N_("Frequency penalty"),
}


def widget_key(field: str) -> str:
    return f"p_{field}"


def store() -> dict[str, Any]:
    return cast(dict[str, Any], st.session_state[STORE])


def _seed(field: str) -> str:
    key = widget_key(field)
    if key not in st.session_state:
        st.session_state[key] = store()[field]
    return key


def _save(field: str) -> None:
    store()[field] = st.session_state[widget_key(field)]
    st.session_state.get(ERRORS, {}).pop(_error_field(field), None)


def _error_field(field: str) -> str:
    return field.removesuffix("_on").removesuffix("_text")


def bind(field: str) -> dict[str, Any]:
    """Widget arguments that seed it from the store and write changes back."""
    return {"key": _seed(field), "on_change": _save, "args": (field,)}


def refresh(field: str) -> None:
    """After code changed the store (not the widget), re-seed the widget on its next draw."""
    st.session_state.pop(widget_key(field), None)


def load_params(params: GenerationParams, owner: str | None) -> None:
    """Show a conversation's (or a preset's) settings in the controls, before they are drawn."""
    values: dict[str, Any] = {
        "model": params.model,
        "system_prompt": params.system_prompt,
        "stream": params.stream,
        "stop_text": format_stop(params.stop),
        "logit_bias_text": "" if params.logit_bias is None else _json(params.logit_bias),
        "seed_text": "" if params.seed is None else str(params.seed),
        "json_mode": params.json_mode,
        "tools": [dict(tool) for tool in params.tools],
        "builtin_tools": list(params.builtin_tools),
        "tool_choice": params.tool_choice or "",
    }
    for field, default in OPTIONAL_DEFAULTS.items():
        value = getattr(params, field)
        values[f"{field}_on"] = value is not None
        values[field] = value if value is not None else default
    st.session_state[STORE] = values
    st.session_state[ERRORS] = {}
    for field in values:
        refresh(field)
    st.session_state[LOADED_FOR] = owner


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def absorb_widgets() -> None:
    """Copy every drawn widget's latest value into the store.

    on_change callbacks normally do this, but a click that lands while a previous run is being
    interrupted (a control changed, then Enter at once) can skip its callback; the widget's own
    state is still current, so read it before anything is sent.
    """
    values = st.session_state.get(STORE)
    if values is None:
        return
    for field in values:
        key = widget_key(field)
        if key in st.session_state:
            values[field] = st.session_state[key]


def current_params(default_model: str) -> GenerationParams:
    """The controls' values without drawing them, so a send can start before the sidebar.

    Raises InvalidParameter for text a control holds that cannot be sent (stop sequences,
    logit bias, seed); range checks happen in GenerationParams.validate.
    """
    absorb_widgets()
    values = st.session_state.get(STORE, {})

    def optional(field: str) -> Any:
        return values.get(field, OPTIONAL_DEFAULTS[field]) if values.get(f"{field}_on") else None

    max_tokens, n = optional("max_tokens"), optional("n")
    return GenerationParams(
        model=(values.get("model") or default_model).strip(),
        system_prompt=values.get("system_prompt", ""),
        temperature=optional("temperature"),
        top_p=optional("top_p"),
        max_tokens=int(max_tokens) if max_tokens is not None else None,
        stream=values.get("stream", True),
        n=int(n) if n is not None else None,
        stop=parse_stop(values.get("stop_text", "")),
        presence_penalty=optional("presence_penalty"),
        frequency_penalty=optional("frequency_penalty"),
        logit_bias=parse_logit_bias(values.get("logit_bias_text", "")),
        seed=parse_seed(values.get("seed_text", "")),
        json_mode=values.get("json_mode", False),
        tools=tuple(values.get("tools", ())),
        builtin_tools=tuple(values.get("builtin_tools", ())),
        tool_choice=values.get("tool_choice") or None,
    )


def flag_error(error: InvalidParameter) -> None:
    """Remember a refused value so its control shows why, next to it (said in the reader's
    language when drawn)."""
    st.session_state.setdefault(ERRORS, {})[error.field] = error.with_traceback(None)


def show_error(field: str) -> None:
    error = st.session_state.get(ERRORS, {}).get(field)
    if error:
        st.error(say(error), icon=":material/error:")


def switch(field: str) -> bool:
    # Translators: {field} is the API's own field name (temperature, top_p...), kept as is.
    help_text = _("Off: {field} is not sent.", field=field)
    return st.toggle(_(LABELS[field]), **bind(f"{field}_on"), help=help_text)


def _not_sent(field: str) -> None:
    st.caption(_("{label}: default (not sent)", label=_(LABELS[field])))


def optional_slider(field: str, low: float, high: float, step: float) -> None:
    if switch(field):
        st.slider(
            _(LABELS[field]), low, high, step=step, **bind(field), label_visibility="collapsed"
        )
    else:
        _not_sent(field)
    show_error(field)


def optional_number(field: str, low: int, high: int, step: int) -> None:
    if switch(field):
        st.number_input(
            _(LABELS[field]), low, high, step=step, **bind(field), label_visibility="collapsed"
        )
    else:
        _not_sent(field)
    show_error(field)


def draw_model_picker(models: ModelList) -> None:
    chosen = store()["model"]
    options = list(models.ids) if chosen in models.ids else [chosen, *models.ids]
    st.selectbox(
        _("Model"),
        options,
        **bind("model"),
        accept_new_options=True,
        help=_("Type to search, or enter any model id AnyAPI serves."),
    )
    if models.error:
        st.caption(say(models.error))
    elif chosen not in models.ids:
        st.warning(
            _("AnyAPI does not list “{model}”; choose a model from the list.", model=plain(chosen))
        )
    show_error("model")


def draw_controls(models: ModelList) -> None:
    """Sidebar: the everyday controls in view; everything else in draw_advanced."""
    draw_model_picker(models)
    values = store()
    draw_compare_picker(models, values["model"], bool(values.get("n_on")))
    st.toggle(_("Stream replies"), **bind("stream"), help=_("Off: wait for the whole reply."))
    st.text_area(
        _("System prompt"),
        **bind("system_prompt"),
        placeholder=_("You are a helpful assistant."),
        height=80,
    )
    optional_slider("temperature", 0.0, 2.0, 0.05)
    optional_slider("top_p", 0.0, 1.0, 0.01)
    optional_number("max_tokens", MAX_TOKENS_RANGE[0], MAX_TOKENS_RANGE[1], 64)
