"""Model and sampling controls.

Values live in one plain dict in session state; widgets are seeded from it and write back on
change. Streamlit forgets a widget's own state on any page that does not draw it, so the dict,
not the widgets, is what survives a visit to another page.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from chatcore.catalog import ModelList
from chatcore.params import MAX_TOKENS_RANGE, GenerationParams

STORE = "params"
LOADED_FOR = "params_loaded_for"
OPTIONAL_DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 1024}
LABELS = {"temperature": "Temperature", "top_p": "Top P", "max_tokens": "Max tokens"}


def widget_key(field: str) -> str:
    return f"p_{field}"


def _store() -> dict[str, Any]:
    return st.session_state[STORE]


def _seed(field: str) -> str:
    key = widget_key(field)
    if key not in st.session_state:
        st.session_state[key] = _store()[field]
    return key


def _save(field: str) -> None:
    _store()[field] = st.session_state[widget_key(field)]


def _bind(field: str) -> dict[str, Any]:
    """Widget arguments that seed it from the store and write changes back."""
    return {"key": _seed(field), "on_change": _save, "args": (field,)}


def load_params(params: GenerationParams, owner: str | None) -> None:
    """Show a conversation's stored settings in the controls (before they are drawn)."""
    values: dict[str, Any] = {
        "model": params.model,
        "system_prompt": params.system_prompt,
        "stream": params.stream,
    }
    for field, default in OPTIONAL_DEFAULTS.items():
        value = getattr(params, field)
        values[f"{field}_on"] = value is not None
        values[field] = value if value is not None else default
    st.session_state[STORE] = values
    for field in values:
        st.session_state.pop(widget_key(field), None)  # re-seeded from the store when drawn
    st.session_state[LOADED_FOR] = owner


def current_params(default_model: str) -> GenerationParams:
    """The controls' values without drawing them, so a send can start before the sidebar."""
    values = st.session_state.get(STORE, {})

    def optional(field: str) -> Any:
        return values.get(field, OPTIONAL_DEFAULTS[field]) if values.get(f"{field}_on") else None

    max_tokens = optional("max_tokens")
    return GenerationParams(
        model=(values.get("model") or default_model).strip(),
        system_prompt=values.get("system_prompt", ""),
        temperature=optional("temperature"),
        top_p=optional("top_p"),
        max_tokens=int(max_tokens) if max_tokens is not None else None,
        stream=values.get("stream", True),
    )


def _switch(field: str, help_text: str) -> bool:
    return st.toggle(
        LABELS[field],
        **_bind(f"{field}_on"),
        help=help_text,
    )


def _optional_slider(field: str, low: float, high: float, step: float) -> None:
    if _switch(field, f"Off: {LABELS[field].lower()} is not sent."):
        st.slider(
            LABELS[field],
            low,
            high,
            step=step,
            **_bind(field),
            label_visibility="collapsed",
        )
    else:
        st.caption(f"{LABELS[field]}: default (not sent)")


def draw_controls(models: ModelList) -> None:
    """Sidebar controls: model picker, streaming switch, system prompt and sampling."""
    chosen = _store()["model"]
    options = list(models.ids) if chosen in models.ids else [chosen, *models.ids]
    st.selectbox(
        "Model",
        options,
        **_bind("model"),
        accept_new_options=True,
        help="Type to search, or enter any model id AnyAPI serves.",
    )
    if models.error:
        st.caption(models.error)
    st.toggle(
        "Stream replies",
        **_bind("stream"),
        help="Off: wait for the whole reply (non-stream call).",
    )
    with st.expander("System prompt and sampling", expanded=False):
        st.text_area(
            "System prompt",
            **_bind("system_prompt"),
            placeholder="You are a helpful assistant.",
        )
        _optional_slider("temperature", 0.0, 2.0, 0.05)
        _optional_slider("top_p", 0.0, 1.0, 0.01)
        if _switch("max_tokens", "Off: max_tokens is not sent."):
            low, high = MAX_TOKENS_RANGE
            st.number_input(
                "Max tokens",
                low,
                high,
                step=64,
                **_bind("max_tokens"),
                label_visibility="collapsed",
            )
        else:
            st.caption("Max tokens: default (not sent)")
