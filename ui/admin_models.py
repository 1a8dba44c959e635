"""Admin: which models teammates may use, per role and per person.

Every model until an administrator limits a role; a person's own list replaces their role's.
The server refuses any other model (chatcore/team/model_access.py): this section only sets it.
"""

from __future__ import annotations

import streamlit as st

from chatcore.team.model_access import AccessRules
from chatcore.wiring import Services
from storage import AccountRole, UserRecord
from ui.actions import run_action, show_notice
from ui.i18n import N_, _, ngettext
from ui.text import plain

NOTICE = "admin_models"
PERSON = "model_access_person"
ROLE_HEADINGS = {AccountRole.ADMIN: N_("Administrators"), AccountRole.MEMBER: N_("Members")}
FOLLOW_ROLE = "role"
OWN_LIST = "own"
EVERY = "every"


def _options(services: Services, rules: AccessRules) -> list[str]:
    """The catalogue's models and any the setting names (one it no longer lists stays
    visible, so it can be taken off)."""
    listed = set(services.model_list().ids)
    for models in (*rules.roles.values(), *rules.people.values()):
        listed |= models or frozenset()
    return sorted(listed)


def _summary(models: frozenset[str] | None) -> str:
    if models is None:
        return _("All models.")
    return ngettext("{count} model allowed.", "{count} models allowed.", len(models))


def _save_role(services: Services, admin: UserRecord, role: AccountRole) -> None:
    state = st.session_state
    every = bool(state.get(f"model_access_all_{role}"))
    models = None if every else list(state.get(f"model_access_models_{role}", []))
    services.model_access.set_role_models(admin, role, models)


def _save_person(services: Services, admin: UserRecord, user: UserRecord) -> None:
    state = st.session_state
    mode = state.get(f"model_access_mode_{user.id}")
    own = mode == OWN_LIST
    models = list(state.get(f"model_access_person_models_{user.id}", [])) if own else None
    services.model_access.set_person_models(admin, user.id, models, every=mode == EVERY)


def _draw_role(
    services: Services, admin: UserRecord, role: AccountRole, rules: AccessRules
) -> None:
    current = rules.roles.get(role)
    with st.form(f"model_access_{role}"):
        st.markdown(f"**{_(ROLE_HEADINGS[role])}** · {_summary(current)}")
        st.toggle(_("All models"), value=current is None, key=f"model_access_all_{role}")
        st.multiselect(
            _("Allowed models (used when “All models” is off)"),
            _options(services, rules),
            default=sorted(current or ()),
            key=f"model_access_models_{role}",
            accept_new_options=True,
        )
        st.form_submit_button(
            _("Save"),
            key=f"model_access_save_{role}",
            on_click=run_action,
            args=(NOTICE, _save_role, services, admin, role),
            kwargs={"success": _("Model access saved.")},
        )


def _draw_person(
    services: Services, admin: UserRecord, users: list[UserRecord], rules: AccessRules
) -> None:
    by_id = {user.id: user for user in users}
    chosen = st.selectbox(
        _("A person's own list"),
        list(by_id),
        format_func=lambda user_id: by_id[user_id].username,
        index=None,
        placeholder=_("Choose a teammate…"),
        key=PERSON,
    )
    if chosen is None:
        return
    user = by_id[chosen]
    own = rules.people.get(user.id)
    labels = {
        FOLLOW_ROLE: _("The models of their role"),
        OWN_LIST: _("Their own list (replaces their role's)"),
        EVERY: _("Every model, whatever their role's list"),
    }
    mode = FOLLOW_ROLE if user.id not in rules.people else OWN_LIST if own is not None else EVERY
    with st.form(f"model_access_person_{user.id}"):
        st.markdown(f"**{plain(user.username)}** · {_summary(rules.allowed(user))}")
        st.radio(
            _("Models for this person"),
            list(labels),
            index=list(labels).index(mode),
            format_func=labels.__getitem__,
            key=f"model_access_mode_{user.id}",
        )
        st.multiselect(
            _("Their own list"),
            _options(services, rules),
            default=sorted(own or ()),
            key=f"model_access_person_models_{user.id}",
            accept_new_options=True,
        )
        st.form_submit_button(
            _("Save"),
            key=f"model_access_save_person_{user.id}",
            on_click=run_action,
            args=(NOTICE, _save_person, services, admin, user),
            kwargs={"success": _("Model access saved.")},
        )


def draw_model_access(services: Services, admin: UserRecord, users: list[UserRecord]) -> None:
    """`users` is the list the Admin page read at the top of this run."""
    st.subheader(_("Model access"), anchor=False)
    st.caption(
        _(
            "Which models teammates may use. Everyone may use every model until you limit a "
            "role; a person's own list, when set, replaces their role's. The model picker "
            "offers only the allowed models, and any other is refused when sent."
        )
    )
    show_notice(NOTICE)
    rules = services.model_access.settings_view()
    for role in AccountRole:
        _draw_role(services, admin, role, rules)
    _draw_person(services, admin, users, rules)
