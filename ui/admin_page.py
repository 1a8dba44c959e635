"""Admin: teammates with their usage; create, disable, re-enable, reset, role, quotas."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import streamlit as st

from chatcore.team.usage import period_start
from chatcore.wiring import Services
from storage import UserRecord
from ui.actions import notify, run_action, show_notice
from ui.admin_models import draw_model_access
from ui.admin_prices import draw_prices
from ui.costs import money
from ui.i18n import N_, _, current, ngettext
from ui.text import number, plain

# Success notices name accounts, and a provider or proxy chooses some of those names: each is
# escaped with plain() where it is written.
NOTICE = "admin"
SELECTED = "admin_selected_user"
# Stored values stay as they are ("admin", "day"); a reader sees these, in their language.
ROLE_LABELS = {"admin": N_("administrator"), "member": N_("member")}
PERIOD_LABELS = {"day": N_("per day"), "month": N_("per month")}
QUOTA_LABELS = {"day": N_("{tokens} per day"), "month": N_("{tokens} per month")}
MONEY_QUOTA_LABELS = {"day": N_("{amount} per day"), "month": N_("{amount} per month")}
SOURCE_LABELS = {
    "local": N_("password"),
    "proxy": N_("reverse proxy"),
    "oidc": N_("single sign-on"),
    "none": N_("single-user mode"),
}


def _label(labels: dict[str, str], value: str | None) -> str:
    """A stored value's label in the reader's language; the value itself when it has none."""
    return _(labels[value]) if value in labels else str(value or "")


def _labeller(labels: dict[str, str]) -> Callable[[str], str]:
    """A widget's format_func for stored values: the labels in this run's language (bound now,
    as Streamlit may call it outside the run)."""
    reader = current()
    return lambda value: reader.gettext(labels[value]) if value in labels else value


def _create(services: Services, admin: UserRecord) -> None:
    state = st.session_state
    name = state.get("new_username", "").strip()
    run_action(
        NOTICE,
        services.accounts.create_user,
        admin,
        name,
        state.get("new_password", ""),
        state.get("new_role", "member"),
        success=_("Created {name}.", name=plain(name)),
    )


def _set_quota(services: Services, admin: UserRecord, user: UserRecord) -> None:
    state = st.session_state
    tokens, period = state.get(f"quota_tokens_{user.id}"), state.get(f"quota_period_{user.id}")
    amount = state.get(f"quota_money_{user.id}")
    services.accounts.set_quota(admin, user.id, tokens, period, amount)


def _reset_password(services: Services, admin: UserRecord, user: UserRecord) -> None:
    password = st.session_state.get(f"reset_password_{user.id}", "")
    services.accounts.reset_password(admin, user.id, password)


def _quota(user: UserRecord, currency: str) -> str:
    # A quota stored without a period counts monthly (chatcore/team/usage.py).
    period = user.quota_period or "month"
    limits = []
    if user.quota_tokens is not None:
        template = QUOTA_LABELS.get(period, QUOTA_LABELS["month"])
        limits.append(_(template, tokens=current().format_number(user.quota_tokens)))
    if user.quota_money is not None:
        template = MONEY_QUOTA_LABELS.get(period, MONEY_QUOTA_LABELS["month"])
        limits.append(_(template, amount=money(user.quota_money, currency)))
    return " · ".join(limits) or "—"


def _users_table(services: Services, users: list[UserRecord], now: datetime) -> None:
    month = period_start("month", now)
    reader = current()
    rows = []
    for user in users:
        rows.append(
            {
                _("Username"): user.username,
                _("Role"): _label(ROLE_LABELS, user.role),
                _("Status"): _("disabled") if user.disabled else _("active"),
                _("Sign-in"): _label(SOURCE_LABELS, user.auth_source),
                _("Quota"): _quota(user, services.prices.currency),
                _("Tokens this month"): services.usage.used_since(user.id, month),
                _("Last sign-in"): reader.format_datetime(user.last_login_at, "short")
                if user.last_login_at is not None
                else "—",
            }
        )
    st.dataframe(rows, hide_index=True, width="stretch")


def _seed(key: str, value: float | None) -> None:
    """A widget's first value, when this run has none for it yet."""
    if key not in st.session_state:
        st.session_state[key] = value


def _edit_user(services: Services, admin: UserRecord, user: UserRecord) -> None:
    st.subheader(plain(user.username), anchor=False)
    name = plain(user.username)
    role_col, status_col = st.columns(2)
    with role_col:
        new_role = "member" if user.is_admin else "admin"
        st.button(
            _("Make member") if user.is_admin else _("Make administrator"),
            on_click=run_action,
            args=(NOTICE, services.accounts.set_role, admin, user.id, new_role),
            kwargs={
                "success": _("{name} is now a member.", name=name)
                if user.is_admin
                else _("{name} is now an administrator.", name=name)
            },
        )
    with status_col:
        st.button(
            _("Re-enable") if user.disabled else _("Disable (ends their sessions)"),
            on_click=run_action,
            args=(NOTICE, services.accounts.set_disabled, admin, user.id, not user.disabled),
            kwargs={
                "success": _("{name} re-enabled.", name=name)
                if user.disabled
                else _("{name} disabled.", name=name)
            },
        )
    # Created empty and given the stored quota through the session state: Streamlit lets a
    # number input be emptied (the quota lifted) only when it was created without a value.
    _seed(f"quota_tokens_{user.id}", user.quota_tokens)
    _seed(f"quota_money_{user.id}", None if user.quota_money is None else float(user.quota_money))
    with st.form(f"quota-{user.id}"):
        st.number_input(
            _("Token quota (empty: none)"),
            min_value=1,
            value=None,
            step=10_000,
            key=f"quota_tokens_{user.id}",
        )
        st.number_input(
            _("Money quota in {currency} (empty: none)", currency=services.prices.currency),
            min_value=0.0001,
            value=None,
            step=10.0,
            format="%.2f",
            key=f"quota_money_{user.id}",
            help=_(
                "What their replies cost at the price list's prices, in the same period as "
                "the token quota. Replies of models without a price count nothing."
            ),
        )
        st.radio(
            _("Quota period"),
            ["day", "month"],
            index=0 if user.quota_period == "day" else 1,
            format_func=_labeller(PERIOD_LABELS),
            horizontal=True,
            key=f"quota_period_{user.id}",
        )
        st.form_submit_button(
            _("Save quota"),
            on_click=run_action,
            args=(NOTICE, _set_quota, services, admin, user),
            kwargs={"success": _("Quota for {name} saved.", name=name)},
        )
    if user.auth_source == "local":
        with st.form(f"reset-{user.id}", clear_on_submit=True):
            st.text_input(_("New password"), type="password", key=f"reset_password_{user.id}")
            st.form_submit_button(
                _("Reset password (ends their sessions)"),
                on_click=run_action,
                args=(NOTICE, _reset_password, services, admin, user),
                kwargs={"success": _("Password of {name} reset.", name=name)},
            )
        # Sign-ins are throttled, never locked: this forgets the account's recent attempts
        # from every address, so whoever was made to wait may try again at once.
        st.button(
            _("Clear failed sign-in attempts"),
            on_click=run_action,
            args=(NOTICE, services.accounts.clear_sign_in_throttle, admin, user.id),
            kwargs={"success": _("Sign-in attempts for {name} cleared.", name=name)},
        )


def _set_retention(services: Services, admin: UserRecord, days: int | None) -> None:
    removed = services.library.set_retention(admin, days)
    if days is None:
        notify(NOTICE, "success", _("Conversations are kept until their owners delete them."))
    else:
        notify(
            NOTICE,
            "success",
            ngettext(
                "Retention set to {days} days; {count} conversation was deleted.",
                "Retention set to {days} days; {count} conversations were deleted.",
                removed,
                days=days,
            ),
        )


def _draw_retention(services: Services, admin: UserRecord) -> None:
    """Delete conversations nobody has used for a while: off until an administrator sets it,
    and never set without first seeing how many conversations it removes now."""
    st.subheader(_("Retention"), anchor=False)
    current_days = services.library.retention_days()
    st.caption(
        _("Conversations not used for {days} days are deleted, for everyone.", days=current_days)
        if current_days
        else _("Off: conversations are kept until their owners delete them.")
    )
    days = st.number_input(
        _("Delete conversations not used for (days)"),
        min_value=1,
        max_value=36_500,
        value=current_days or 365,
        step=1,
        key="retention_days",
    )
    would_remove = run_action(NOTICE, services.library.retention_preview, admin, int(days))
    if would_remove is None:
        return
    st.caption(
        ngettext(
            "Set now, this deletes {count} conversation at once, and from then on any that "
            "reaches {days} days without use.",
            "Set now, this deletes {count} conversations at once, and from then on any that "
            "reach {days} days without use.",
            would_remove,
            days=int(days),
        )
    )
    with st.container(horizontal=True):
        st.button(
            _("Set retention"),
            type="primary",
            icon=":material/auto_delete:",
            on_click=run_action,
            args=(NOTICE, _set_retention, services, admin, int(days)),
        )
        if current_days:
            st.button(
                _("Turn retention off"),
                on_click=run_action,
                args=(NOTICE, _set_retention, services, admin, None),
            )


CONTEXT_WINDOWS = "admin_context_windows"
EXAMPLE_WINDOW = "deepseek-chat = 128000"  # a model id and a number: the same in every language


def _set_context_windows(services: Services, admin: UserRecord) -> None:
    text = st.session_state.get(CONTEXT_WINDOWS, "")
    saved = services.model_settings.set_context_overrides(admin, text)
    notify(
        NOTICE,
        "success",
        ngettext(
            "Context window saved for {count} model.",
            "Context windows saved for {count} models.",
            len(saved),
        ),
    )


def _draw_context_windows(services: Services, admin: UserRecord) -> None:
    """Models the built-in table does not know, or knows wrong: their context windows, which
    decide how much of a long conversation is sent."""
    st.subheader(_("Context windows"), anchor=False)
    st.caption(
        _(
            "One model per line, as “model = tokens” (for example “qwen-long = 10000000”). "
            "These win over the built-in table; any other model is taken to have "
            "{default} tokens.",
            default=number(services.settings.default_context_tokens),
        )
    )
    with st.form("context_windows"):
        st.text_area(
            _("Context windows"),
            value=services.model_settings.context_overrides_text(),
            key=CONTEXT_WINDOWS,
            label_visibility="collapsed",
            placeholder=EXAMPLE_WINDOW,
        )
        st.form_submit_button(
            _("Save context windows"),
            icon=":material/save:",
            on_click=run_action,
            args=(NOTICE, _set_context_windows, services, admin),
        )


def render(services: Services, admin: UserRecord) -> None:
    if not admin.is_admin:
        st.error(_("Only administrators can open this page."))
        return
    st.title(_("Admin"), anchor=False)
    # Read like an action: an administrator demoted or disabled meanwhile is told so, once.
    users = run_action(NOTICE, services.accounts.list_users, admin)
    show_notice(NOTICE)
    if users is None:
        return
    _users_table(services, users, datetime.now(UTC))
    by_id = {user.id: user for user in users}
    chosen = st.selectbox(
        _("Manage"),
        list(by_id),
        format_func=lambda user_id: by_id[user_id].username,
        index=None,
        placeholder=_("Choose a teammate…"),
        key=SELECTED,
    )
    if chosen is not None:
        _edit_user(services, admin, by_id[chosen])
    _draw_retention(services, admin)
    _draw_context_windows(services, admin)
    draw_prices(services, admin)
    draw_model_access(services, admin, users)
    if services.settings.auth_mode == "local":
        st.subheader(_("Add a teammate"), anchor=False)
        with st.form("new_user", clear_on_submit=True):
            st.text_input(_("Username"), key="new_username")
            st.text_input(_("Password"), type="password", key="new_password")
            st.radio(
                _("Role"),
                ["member", "admin"],
                format_func=_labeller(ROLE_LABELS),
                horizontal=True,
                key="new_role",
            )
            st.form_submit_button(_("Create"), on_click=_create, args=(services, admin))
