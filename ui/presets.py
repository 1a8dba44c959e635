"""Presets in the sidebar: start a new chat from one, apply one, save the current settings."""

from __future__ import annotations

import streamlit as st

from chatcore.i18n import Translator
from chatcore.wiring import Services
from storage import PresetRecord
from ui import controls
from ui.actions import notify, run_action, show_notice
from ui.history import open_conversation
from ui.i18n import _, current
from ui.text import plain

CHOSEN = "preset_chosen"
NOTICE = "presets"


def _label(preset: PresetRecord, user_id: int, reader: Translator) -> str:
    # With the translator of the run that drew the list: an option may be formatted again
    # outside any run (AppTest does), where the reader's language is not known.
    if preset.user_id == user_id:
        return reader.gettext("{name} (shared)", name=preset.name) if preset.shared else preset.name
    return reader.gettext("{name} — by {owner}", name=preset.name, owner=preset.owner)


def _load(services: Services, user_id: int, *, new_chat: bool) -> None:
    preset_id = st.session_state.get(CHOSEN)
    if preset_id is None:
        return
    params = services.presets.params(user_id, preset_id)
    if new_chat:
        open_conversation(None)
        controls.load_params(params, None)
    else:
        # The open conversation takes these settings with its next message.
        controls.load_params(params, st.session_state.get(controls.LOADED_FOR))


def _save(services: Services, user_id: int) -> None:
    name = st.session_state.get("preset_name", "")
    params = controls.current_params(services.settings.default_model)
    saved = services.presets.save(
        user_id, name, params, shared=st.session_state.get("preset_shared", False)
    )
    st.session_state[CHOSEN] = saved.id
    st.session_state["preset_name"] = ""
    notify(NOTICE, "success", _("Saved preset “{name}”.", name=plain(saved.name)))


def _delete(services: Services, user_id: int) -> None:
    preset_id = st.session_state.get(CHOSEN)
    if preset_id is not None and services.presets.delete(user_id, preset_id):
        st.session_state[CHOSEN] = None
        notify(NOTICE, "success", _("Preset deleted."))


def draw_presets(services: Services, user_id: int) -> None:
    with st.expander(
        _("Presets"), icon=":material/bookmarks:", key="presets_panel", on_change="rerun"
    ) as panel:
        if not panel.open:
            return  # drawn only while open, like Advanced
        presets = {preset.id: preset for preset in services.presets.available(user_id)}
        reader = current()
        if st.session_state.get(CHOSEN) not in presets:
            st.session_state[CHOSEN] = None
        st.selectbox(
            _("Preset"),
            list(presets),
            key=CHOSEN,
            format_func=lambda preset_id: _label(presets[preset_id], user_id, reader),
            placeholder=_("Choose a preset…") if presets else _("No presets yet"),
        )
        chosen = presets.get(st.session_state[CHOSEN])
        new_col, apply_col, delete_col = st.columns([0.45, 0.35, 0.2])
        new_col.button(
            _("Start chat"),
            key="preset_new_chat",
            icon=":material/add_comment:",
            disabled=chosen is None,
            on_click=run_action,
            args=(NOTICE, _load, services, user_id),
            kwargs={"new_chat": True},
            help=_("Start a new chat with this preset's settings."),
        )
        apply_col.button(
            _("Apply"),
            key="preset_apply",
            disabled=chosen is None,
            on_click=run_action,
            args=(NOTICE, _load, services, user_id),
            kwargs={"new_chat": False},
            help=_("Use this preset's settings from the next message on."),
        )
        delete_col.button(
            "",
            key="preset_delete",
            icon=":material/delete:",
            disabled=chosen is None or chosen.user_id != user_id,
            on_click=run_action,
            args=(NOTICE, _delete, services, user_id),
            help=_("Delete this preset (only its owner can)."),
        )
        with st.form("save_preset", border=False):
            st.text_input(_("Save current settings as"), key="preset_name", max_chars=100)
            st.checkbox(_("Share with the team"), key="preset_shared")
            st.form_submit_button(
                _("Save preset"),
                icon=":material/save:",
                on_click=run_action,
                args=(NOTICE, _save, services, user_id),
            )
        show_notice(NOTICE)
