"""Which models each teammate may use: every model (the default), or an allowlist an
administrator sets per role, and per person (a person's own list replaces their role's).

Kept as one team setting, so every process sees a change within REFRESH_SECONDS
(chatcore/shared_setting.py), this one at once. The server checks it at the one gate every
request passes (ChatService.admit), so a page that offers a model it should not, or a request
made without any page, changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatcore.chat.catalog import ModelList
from chatcore.errors import AccountError, ModelNotAllowed
from chatcore.i18n import N_
from chatcore.shared_setting import SharedSetting
from storage import AccountRole, UserRecord
from storage.team_settings import TeamSettingsRepository

log = logging.getLogger(__name__)

MODEL_ACCESS_KEY = "model_access"
# How a person's entry says "every model, whatever their role's list" in the stored setting.
EVERY_MODEL = "*"
# An administrator's change reaches every other process within this long.


@dataclass(frozen=True, slots=True)
class AccessRules:
    """The allowlists; a role or person absent from them is not restricted by them. A
    person's entry replaces their role's: a list, or None for every model (one member
    exempted from a limited role)."""

    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    people: Mapping[int, frozenset[str] | None] = field(default_factory=dict)

    @property
    def restricts_anyone(self) -> bool:
        return bool(self.roles or self.people)

    def allowed(self, user: UserRecord) -> frozenset[str] | None:
        if user.id in self.people:
            return self.people[user.id]
        return self.roles.get(str(user.role))

    def to_value(self) -> dict[str, Any]:
        return {
            "roles": {role: sorted(models) for role, models in self.roles.items()},
            "people": {
                str(person): EVERY_MODEL if models is None else sorted(models)
                for person, models in self.people.items()
            },
        }


def _models(value: object) -> frozenset[str] | None:
    if not isinstance(value, list):
        return None
    return frozenset(item for item in value if isinstance(item, str) and item)


def parse_rules(value: Mapping[str, Any]) -> AccessRules:
    """The stored setting; anything malformed in it is skipped rather than refusing sends."""
    roles_value, people_value = value.get("roles"), value.get("people")
    roles: dict[str, frozenset[str]] = {}
    people: dict[int, frozenset[str] | None] = {}
    if isinstance(roles_value, dict):
        for role, listed in roles_value.items():
            models = _models(listed)
            if role in set(AccountRole) and models is not None:
                roles[str(role)] = models
    if isinstance(people_value, dict):
        for person, listed in people_value.items():
            models = _models(listed)
            if str(person).isdigit() and (models is not None or listed == EVERY_MODEL):
                people[int(person)] = models
    return AccessRules(roles, people)


def clean_models(models: Iterable[str]) -> frozenset[str]:
    return frozenset(model.strip() for model in models if model.strip())


class ModelAccess:
    def __init__(
        self,
        store: TeamSettingsRepository,
        find_user: Callable[[int], UserRecord | None],
        *,
        require_admin: Callable[[UserRecord], object],
    ) -> None:
        self._store = store
        self._find_user = find_user
        self._require_admin = require_admin
        self._rules = SharedSetting(
            lambda: parse_rules(store.value(MODEL_ACCESS_KEY)), AccessRules(), name="model access"
        )

    def rules(self) -> AccessRules:
        """Read at every send: from the database at most every REFRESH_SECONDS."""
        return self._rules.get()

    def forget(self) -> None:
        """Read the setting again at the next use (this process just changed it)."""
        self._rules.forget()

    def allowed(self, user: UserRecord) -> frozenset[str] | None:
        """The models `user` may use; None means every model."""
        return self.rules().allowed(user)

    def check(self, user: UserRecord, model: str) -> None:
        allowed = self.allowed(user)
        if allowed is not None and model not in allowed:
            raise ModelNotAllowed(model)

    def check_user_id(self, user_id: int, model: str) -> None:
        """For the send gate, which knows the id only: while nobody is restricted (the
        default), no account is read at all; otherwise one read by primary key. An account
        that is gone is left to the policy, which refuses it."""
        if not self.rules().restricts_anyone:
            return
        user = self._find_user(user_id)
        if user is not None:
            self.check(user, model)

    def offered(self, models: ModelList, user: UserRecord) -> ModelList:
        """The catalogue's list less what `user` may not use. A fallback list (the catalogue
        failed) stays a fallback, holding the allowed models, so the picker still offers
        them; a real list offers only what AnyAPI lists too."""
        allowed = self.allowed(user)
        if allowed is None:
            return models
        listed = tuple(model for model in models.ids if model in allowed)
        if models.error is None:
            return ModelList(listed)
        return ModelList(listed + tuple(sorted(allowed - set(listed))), models.error)

    def settings_view(self) -> AccessRules:
        """As stored now (not the cache): what the Admin page shows."""
        return parse_rules(self._store.value(MODEL_ACCESS_KEY))

    def set_role_models(
        self, admin: UserRecord, role: str, models: Iterable[str] | None
    ) -> AccessRules:
        """Limit `role` to `models`; None lets it use every model again."""
        self._require_admin(admin)
        if role not in set(AccountRole):
            raise AccountError(
                N_("The role must be one of {roles}."),
                code="unknown_role",
                roles=", ".join(AccountRole),
            )
        current = self.settings_view()
        roles = {name: listed for name, listed in current.roles.items() if name != role}
        if models is not None:
            roles[str(role)] = clean_models(models)
        return self._save(AccessRules(roles, current.people))

    def set_person_models(
        self,
        admin: UserRecord,
        user_id: int,
        models: Iterable[str] | None,
        *,
        every: bool = False,
    ) -> AccessRules:
        """Give one person their own list, which replaces their role's; None: their role's.
        With `every`, every model, however their role is limited."""
        self._require_admin(admin)
        if self._find_user(user_id) is None:
            raise AccountError(N_("No such user."), code="no_such_user")
        current = self.settings_view()
        people = {person: listed for person, listed in current.people.items() if person != user_id}
        if every:
            people[user_id] = None
        elif models is not None:
            people[user_id] = clean_models(models)
        return self._save(AccessRules(current.roles, people))

    def _save(self, rules: AccessRules) -> AccessRules:
        self._store.set_value(MODEL_ACCESS_KEY, rules.to_value())
        self.forget()
        return rules
