"""Model and sampling controls. Their values live in session state under fixed keys."""

from __future__ import annotations

from typing import Any

import streamlit as st

from chatcore.catalog import ModelList
from chatcore.params import MAX_TOKENS_RANGE, GenerationParams

MODEL = "p_model"
SYSTEM = "p_system"
STREAM = "p_stream"
TEMPERATURE = "p_temperature"
TOP_P = "p_top_p"
MAX_TOKENS = "p_max_tokens"
LOADED_FOR = "p_loaded_for"
OPTIONAL = {  # key -> (label, widget default when switched on)
    TEMPERATURE: ("Temperature", 1.0),
    TOP_P: ("Top P", 1.0),
    MAX_TOKENS: ("Max tokens", 1024),
}
WIDGET_KEYS = [MODEL, SYSTEM, STREAM, *OPTIONAL, *(f"{key}_on" for key in OPTIONAL)]


def keep_widget_state() -> None:
    """Streamlit drops a widget's value on pages that do not draw it; re-assigning keeps it."""
    for key in WIDGET_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def load_params(params: GenerationParams, owner: str | None) -> None:
    """Show a conversation's stored settings in the controls (before they are drawn)."""
    st.session_state[MODEL] = params.model
    st.session_state[SYSTEM] = params.system_prompt
    st.session_state[STREAM] = params.stream
    for key, value in (
        (TEMPERATURE, params.temperature),
        (TOP_P, params.top_p),
        (MAX_TOKENS, params.max_tokens),
    ):
        st.session_state[f"{key}_on"] = value is not None
        st.session_state[key] = value if value is not None else OPTIONAL[key][1]
    st.session_state[LOADED_FOR] = owner


def current_params(default_model: str) -> GenerationParams:
    """Read the controls' values without drawing them, so a send can start before the sidebar."""
    state = st.session_state

    def optional(key: str) -> Any:
        return state.get(key, OPTIONAL[key][1]) if state.get(f"{key}_on") else None

    max_tokens = optional(MAX_TOKENS)
    return GenerationParams(
        model=(state.get(MODEL) or default_model).strip(),
        system_prompt=state.get(SYSTEM, ""),
        temperature=optional(TEMPERATURE),
        top_p=optional(TOP_P),
        max_tokens=int(max_tokens) if max_tokens is not None else None,
        stream=state.get(STREAM, True),
    )


def _optional_slider(key: str, low: float, high: float, step: float) -> None:
    label = OPTIONAL[key][0]
    switched_on = st.toggle(label, key=f"{key}_on", help=f"Off: {label.lower()} is not sent.")
    if switched_on:
        st.slider(label, low, high, step=step, key=key, label_visibility="collapsed")
    else:
        st.caption(f"{label}: default (not sent)")


def draw_controls(models: ModelList) -> None:
    """Sidebar controls: model picker, streaming switch, system prompt and sampling."""
    if MODEL in st.session_state and st.session_state[MODEL] not in models.ids:
        options = [st.session_state[MODEL], *models.ids]
    else:
        options = list(models.ids)
    st.selectbox(
        "Model",
        options,
        key=MODEL,
        accept_new_options=True,
        help="Type to search, or enter any model id AnyAPI serves.",
    )
    if models.error:
        st.caption(models.error)
    st.toggle("Stream replies", key=STREAM, help="Off: wait for the whole reply (non-stream call).")
    with st.expander("System prompt and sampling", expanded=False):
        st.text_area("System prompt", key=SYSTEM, placeholder="You are a helpful assistant.")
        _optional_slider(TEMPERATURE, 0.0, 2.0, 0.05)
        _optional_slider(TOP_P, 0.0, 1.0, 0.01)
        switched_on = st.toggle("Max tokens", key=f"{MAX_TOKENS}_on", help="Off: not sent.")
        if switched_on:
            low, high = MAX_TOKENS_RANGE
            st.number_input(
                "Max tokens", low, high, step=64, key=MAX_TOKENS, label_visibility="collapsed"
            )
        else:
            st.caption("Max tokens: default (not sent)")
