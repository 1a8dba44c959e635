"""Presets in the sidebar: start a new chat from one, apply one, save the current settings."""

from __future__ import annotations

import streamlit as st

from chatcore.errors import InvalidParameter
from chatcore.wiring import Services
from storage import PresetRecord
from ui import controls
from ui.history import open_conversation

CHOSEN = "preset_chosen"
NOTICE = "preset_notice"


def _label(preset: PresetRecord, user_id: int) -> str:
    if preset.user_id == user_id:
        return f"{preset.name} (shared)" if preset.shared else preset.name
    return f"{preset.name} — by {preset.owner}"


def _load(services: Services, user_id: int, *, new_chat: bool) -> None:
    preset_id = st.session_state.get(CHOSEN)
    params = services.presets.params(user_id, preset_id) if preset_id is not None else None
    if params is None:
        st.session_state[NOTICE] = ("error", "That preset no longer exists.")
        return
    if new_chat:
        open_conversation(None)
        controls.load_params(params, None)
    else:
        # The open conversation takes these settings with its next message.
        controls.load_params(params, st.session_state.get(controls.LOADED_FOR))
    st.session_state[NOTICE] = None


def _save(services: Services, user_id: int) -> None:
    name = st.session_state.get("preset_name", "")
    try:
        params = controls.current_params(services.settings.default_model)
        saved = services.presets.save(
            user_id, name, params, shared=st.session_state.get("preset_shared", False)
        )
    except InvalidParameter as exc:
        st.session_state[NOTICE] = ("error", str(exc))
        return
    st.session_state[CHOSEN] = saved.id
    st.session_state["preset_name"] = ""
    st.session_state[NOTICE] = ("success", f"Saved preset “{saved.name}”.")


def _delete(services: Services, user_id: int) -> None:
    preset_id = st.session_state.get(CHOSEN)
    if preset_id is not None and services.presets.delete(user_id, preset_id):
        st.session_state[CHOSEN] = None
        st.session_state[NOTICE] = ("success", "Preset deleted.")


def draw_presets(services: Services, user_id: int) -> None:
    with st.expander(
        "Presets", icon=":material/bookmarks:", key="presets_panel", on_change="rerun"
    ) as panel:
        if not panel.open:
            return  # drawn only while open, like Advanced
        presets = {preset.id: preset for preset in services.presets.available(user_id)}
        if st.session_state.get(CHOSEN) not in presets:
            st.session_state[CHOSEN] = None
        st.selectbox(
            "Preset",
            list(presets),
            key=CHOSEN,
            format_func=lambda preset_id: _label(presets[preset_id], user_id),
            placeholder="Choose a preset…" if presets else "No presets yet",
        )
        chosen = presets.get(st.session_state[CHOSEN])
        new_col, apply_col, delete_col = st.columns([0.45, 0.35, 0.2])
        new_col.button(
            "Start chat",
            key="preset_new_chat",
            icon=":material/add_comment:",
            disabled=chosen is None,
            on_click=_load,
            args=(services, user_id),
            kwargs={"new_chat": True},
            help="Start a new chat with this preset's settings.",
        )
        apply_col.button(
            "Apply",
            key="preset_apply",
            disabled=chosen is None,
            on_click=_load,
            args=(services, user_id),
            kwargs={"new_chat": False},
            help="Use this preset's settings from the next message on.",
        )
        delete_col.button(
            "",
            key="preset_delete",
            icon=":material/delete:",
            disabled=chosen is None or chosen.user_id != user_id,
            on_click=_delete,
            args=(services, user_id),
            help="Delete this preset (only its owner can).",
        )
        with st.form("save_preset", border=False):
            st.text_input("Save current settings as", key="preset_name", max_chars=100)
            st.checkbox("Share with the team", key="preset_shared")
            st.form_submit_button(
                "Save preset", icon=":material/save:", on_click=_save, args=(services, user_id)
            )
        notice = st.session_state.get(NOTICE)
        if notice:
            kind, text = notice
            (st.error if kind == "error" else st.success)(text)
