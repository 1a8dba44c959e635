"""The sidebar's "Compare with": up to three more models each question also goes to, their
replies side by side (chatcore/chat/compare.py)."""

from __future__ import annotations

import streamlit as st

from chatcore.chat.catalog import ModelList
from chatcore.chat.compare import MAX_COMPARED
from ui.i18n import _

# The choice as a plain list: a widget's own state is forgotten on pages that do not draw it.
COMPARE = "compare_with"
_WIDGET = "compare_with_widget"


def compare_with() -> list[str]:
    """The models chosen to compare with the picker's, for a send or an edit."""
    return list(st.session_state.get(COMPARE, []))


def _save() -> None:
    st.session_state[COMPARE] = list(st.session_state.get(_WIDGET, []))


def draw_compare_picker(models: ModelList, chosen: str, sends_choices: bool) -> None:
    """Offers only the models this teammate may use, never the picker's own. A model that
    left the list (forbidden since, or now the picker's) leaves the choice too; while the
    list is only a fallback (loading, or AnyAPI unreachable) the choice is kept as it is,
    and the server still refuses any model the team does not allow."""
    options = [model for model in models.ids if model != chosen]
    if models.error is not None:
        kept = [model for model in compare_with() if model != chosen]
        options += [model for model in kept if model not in options]
    else:
        kept = [model for model in compare_with() if model in options]
    st.session_state[COMPARE] = kept
    st.session_state[_WIDGET] = kept
    st.multiselect(
        _("Compare with"),
        options,
        key=_WIDGET,
        on_change=_save,
        max_selections=MAX_COMPARED - 1,
        placeholder=_("No other model"),
        help=_(
            "Each message also goes to these models, at the same time and with the same "
            "settings; the replies appear side by side and you continue with the one you pick."
        ),
    )
    if kept and sends_choices:
        st.caption(_("Choices (n) is not sent while comparing: each model gives one reply."))
